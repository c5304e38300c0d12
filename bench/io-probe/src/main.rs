//! One minimal HTTP/1.1 keep-alive proxy on three I/O layers, so that the
//! I/O layer is the only difference between them:
//!
//! - `tokio`: Tokio's current-thread runtime on epoll (readiness: a ready
//!   event, then a `recvfrom` or `sendto` per read or write), as vestibule;
//! - `uring`: monoio on io_uring (completion: reads and writes are queued
//!   and the kernel is entered once for a batch of them);
//! - `uring-defer`: the same, with the kernel's completion work deferred
//!   until the thread asks for completions (`IORING_SETUP_DEFER_TASKRUN`);
//! - `monoio-epoll`: monoio's epoll driver, to tell the runtime's part
//!   from io_uring's.
//!
//! Each client connection gets its own upstream connection, opened on its
//! first request and kept. Requests are routed by host and path prefix
//! ([`http`]), forwarded as they came, and answered with the upstream's
//! bytes as they came: no header is rewritten, which vestibule does, so
//! the figures are the I/O layer's and a floor for a proxy's work.
//!
//!     io-probe --io tokio|uring|uring-defer|monoio-epoll --listen 127.0.0.1:8080 \
//!         --upstream 127.0.0.1:9000 --host bench.example [--prefix /status]

mod http;
mod monoio_io;
mod tokio_io;

use std::net::SocketAddr;
use std::process::exit;

pub use http::Routes;

pub struct Args {
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
    pub routes: Routes,
}

fn usage(problem: &str) -> ! {
    eprintln!("io-probe: {problem}");
    eprintln!(
        "usage: io-probe --io tokio|uring|uring-defer|monoio-epoll --listen ADDR --upstream ADDR \
         --host NAME [--host NAME ...] [--prefix /status]"
    );
    exit(2)
}

fn main() {
    let (mut io, mut listen, mut upstream, mut hosts) = (None, None, None, Vec::new());
    let mut prefix = "/status".to_string();
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let addr = |v: &str| {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not an address")))
        };
        match flag.as_str() {
            "--io" => io = Some(value),
            "--listen" => listen = Some(addr(&value)),
            "--upstream" => upstream = Some(addr(&value)),
            "--host" => hosts.push(value),
            "--prefix" => prefix = value,
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    let args = Args {
        listen: listen.unwrap_or_else(|| usage("--listen is required")),
        upstream: upstream.unwrap_or_else(|| usage("--upstream is required")),
        routes: Routes::new(hosts, &prefix),
    };
    let result = match io.as_deref() {
        Some("tokio") => tokio_io::run(args),
        Some("uring") => monoio_io::run_uring(args),
        Some("uring-defer") => monoio_io::run_uring_deferred(args),
        Some("monoio-epoll") => monoio_io::run_epoll(args),
        _ => usage("--io: tokio, uring, uring-defer or monoio-epoll"),
    };
    if let Err(error) = result {
        eprintln!("io-probe: {error}");
        exit(1)
    }
}
