//! vestibule: an ingress gateway that serves Istio `Gateway` +
//! `VirtualService`, Kubernetes `Ingress` and Gateway API configuration.
#![forbid(unsafe_code)]
// A binary has no public API: `pub` here only means "used by sibling modules".
#![allow(unreachable_pub)]

mod admin;
mod analyze;
mod cli;
mod config;
mod control;
mod explain;
mod kube;
mod memory;
mod metrics;
mod reloads;
mod serve;
mod state;
mod validate;
mod watch;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, measured against glibc's malloc (docs/benchmarks.md): glibc
/// gave the top of its heap back to the kernel whenever 128 KiB of it was
/// free and faulted it back in on the next request (0.76 page faults per
/// proxied request); and its 128-byte-aligned allocations (Tokio's task
/// cells and I/O registrations) waste space: 1,040 bytes per idle keep-alive
/// connection with glibc, 706 with jemalloc, whose size classes are
/// naturally aligned. Its options are compiled in from
/// `.cargo/config.toml` (a larger thread cache for small size classes).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging();
    match cli.command {
        cli::Command::Validate(args) => validate::run(&args),
        cli::Command::Explain(args) => explain::run(&args),
        cli::Command::Serve(args) => {
            // The control plane (loading, translation, the admin API, the
            // watches) runs on this thread; traffic on the data plane's
            // worker threads, each with its own runtime (serve::proxy_config).
            let mut builder = tokio::runtime::Builder::new_current_thread();
            let runtime = match builder.enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("vestibule: cannot start the runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("vestibule: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default `info`. Colours only
/// on a terminal: a file or a log collector gets plain `key=value` text.
fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
