//! vestibule: an ingress gateway that serves Istio `Gateway` +
//! `VirtualService`, Kubernetes `Ingress` and Gateway API configuration.
#![forbid(unsafe_code)]
// A binary has no public API: `pub` here only means "used by sibling modules".
#![allow(unreachable_pub)]

mod admin;
mod cli;
mod config;
mod metrics;
mod serve;
mod state;
mod validate;
mod watch;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging();
    match cli.command {
        cli::Command::Validate(args) => validate::run(&args),
        cli::Command::Serve(args) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(workers) = args.workers {
                builder.worker_threads(workers.max(1));
            }
            let runtime = match builder.enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("vestibule: cannot start the runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("vestibule: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default `info`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
