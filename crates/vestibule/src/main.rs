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
    raise_malloc_trim_threshold();
    let cli = cli::Cli::parse();
    init_logging();
    match cli.command {
        cli::Command::Validate(args) => validate::run(&args),
        cli::Command::Serve(args) => {
            // One worker: a current-thread runtime (no work-stealing, no
            // cross-thread wakeups); more: Tokio's multi-thread scheduler.
            let mut builder = match args.workers {
                Some(1) => tokio::runtime::Builder::new_current_thread(),
                Some(workers) => {
                    let mut builder = tokio::runtime::Builder::new_multi_thread();
                    builder.worker_threads(workers.max(1));
                    builder
                }
                None => tokio::runtime::Builder::new_multi_thread(),
            };
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

/// glibc's malloc gives the top of its heap back to the kernel whenever
/// more than 128 KiB of it is free, and takes it back (page faults) on the
/// next request: measured, 0.76 page faults and 0.06 `brk` calls per
/// proxied request, a fifth of the proxy's CPU. glibc raises that threshold
/// to twice the size of the largest memory-mapped block freed so far (its
/// "dynamic mmap threshold"), so freeing one 4 MiB block at start makes it
/// 8 MiB, with no `unsafe` and no allocator swap. Elsewhere a no-op.
fn raise_malloc_trim_threshold() {
    let block: Vec<u8> = Vec::with_capacity(4 << 20);
    drop(std::hint::black_box(block));
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
