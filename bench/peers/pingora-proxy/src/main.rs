//! A minimal reverse proxy on Pingora: bench/run's Pingora peer.
//!
//! It does the job every proxy of the benchmark is configured for: a request
//! whose host is one of the listed hosts and whose path starts with the
//! prefix goes to the one upstream, over pooled keep-alive HTTP/1.1
//! connections; anything else gets a 404 made here. HTTP/1.1 and h2c (prior
//! knowledge) on the same port; no TLS, no access log.
//!
//!     pingora-proxy-bench --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000 \
//!         --hosts hosts.txt --prefix /status --threads 1 --run-dir /tmp/p
//!
//! `--hosts` is a file with one host a line; `--listen` may be repeated;
//! `--run-dir` takes the pid file and the upgrade socket, so that several
//! instances can run at once.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::exit;

use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::http::ResponseHeader;
use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::upstreams::peer::HttpPeer;
use pingora::Result;

struct Args {
    listen: Vec<String>,
    upstream: String,
    hosts: PathBuf,
    prefix: String,
    threads: usize,
    run_dir: PathBuf,
}

fn usage(problem: &str) -> ! {
    eprintln!("pingora-proxy-bench: {problem}");
    eprintln!(
        "usage: pingora-proxy-bench --listen ADDR [--listen ADDR ...] --upstream ADDR \
         --hosts FILE [--prefix /status] [--threads 1] --run-dir DIR"
    );
    exit(2)
}

fn parse_args() -> Args {
    let (mut listen, mut upstream, mut hosts, mut run_dir) = (Vec::new(), None, None, None);
    let (mut prefix, mut threads) = ("/status".to_string(), 1);
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => listen.push(value),
            "--upstream" => upstream = Some(value),
            "--hosts" => hosts = Some(PathBuf::from(value)),
            "--prefix" => prefix = value,
            "--threads" => threads = value.parse().unwrap_or_else(|_| usage("--threads: a number")),
            "--run-dir" => run_dir = Some(PathBuf::from(value)),
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    if listen.is_empty() {
        usage("no --listen");
    }
    Args {
        listen,
        upstream: upstream.unwrap_or_else(|| usage("no --upstream")),
        hosts: hosts.unwrap_or_else(|| usage("no --hosts")),
        prefix,
        threads,
        run_dir: run_dir.unwrap_or_else(|| usage("no --run-dir")),
    }
}

/// The routing table: a set of hosts and one path prefix, all to one peer.
struct Bench {
    hosts: HashSet<String>,
    prefix: String,
    upstream: HttpPeer,
}

impl Bench {
    /// The request's host without its port: the URI's authority (HTTP/2's
    /// `:authority`), else the Host header (HTTP/1.1).
    fn host_of(session: &Session) -> Option<&str> {
        let req = session.req_header();
        let host = match req.uri.host() {
            Some(host) => host,
            None => req.headers.get("host")?.to_str().ok()?,
        };
        Some(host.rsplit_once(':').map_or(host, |(name, _port)| name))
    }

    fn routes(&self, session: &Session) -> bool {
        if !session.req_header().uri.path().starts_with(&self.prefix) {
            return false;
        }
        match Self::host_of(session) {
            // Host names are case-insensitive; the table holds them lower-cased.
            Some(host) if host.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.hosts.contains(&host.to_ascii_lowercase())
            }
            Some(host) => self.hosts.contains(host),
            None => false,
        }
    }
}

#[async_trait]
impl ProxyHttp for Bench {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut Self::CTX) -> Result<bool> {
        if self.routes(session) {
            return Ok(false);
        }
        // Not `respond_error`: that closes the client's connection, which
        // none of the other proxies does for a 404.
        let mut not_found = ResponseHeader::build(404, Some(1))?;
        not_found.insert_header("content-length", "0")?;
        session.write_response_header(Box::new(not_found), true).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Self::CTX) -> Result<Box<HttpPeer>> {
        // The same peer every time: Pingora pools its connections by the
        // peer's address and options, so they are reused across requests.
        Ok(Box::new(self.upstream.clone()))
    }
}

fn read_hosts(path: &PathBuf) -> HashSet<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| usage(&format!("{}: {error}", path.display())));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn main() {
    let args = parse_args();
    let run_dir = args.run_dir.display();
    let conf = ServerConf {
        threads: args.threads,
        // With one thread there is nothing to steal: Pingora then runs the
        // service on a current-thread runtime (its no-steal runtime) instead
        // of a one-worker multi-thread one. (The two served the same rate in
        // a smoke run here; this is the simpler of them.)
        work_stealing: args.threads > 1,
        pid_file: format!("{run_dir}/pingora.pid"),
        upgrade_sock: format!("{run_dir}/upgrade.sock"),
        // bench/run stops a proxy with SIGTERM and kills it 5 s later:
        // finish at once rather than wait out Pingora's default grace period.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let upstream_addr: std::net::SocketAddr =
        args.upstream.parse().unwrap_or_else(|_| usage("--upstream: an IP:port"));
    let bench = Bench {
        hosts: read_hosts(&args.hosts),
        prefix: args.prefix,
        upstream: HttpPeer::new(upstream_addr, false, String::new()),
    };
    let mut service = http_proxy_service(&server.configuration, bench);
    // h2c: the connection's first bytes are peeked; an HTTP/2 preface goes
    // to the HTTP/2 server, anything else is HTTP/1.1.
    let mut options = HttpServerOptions::default();
    options.h2c = true;
    if let Some(proxy) = service.app_logic_mut() {
        proxy.server_options = Some(options);
    }
    for addr in &args.listen {
        service.add_tcp(addr);
    }
    service.threads = Some(args.threads);
    server.add_service(service);
    server.run_forever();
}
