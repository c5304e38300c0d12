//! The data plane: listeners, the HTTP request path, upstream pools, load
//! balancing and retries. It serves a `vestibule_ir::RouteTable` and knows
//! nothing of where it came from (no translator, no Kubernetes).
// Denied, not forbidden: one function, `conn::sockopt::set_defer_accept`,
// allows it, for the one socket option safe Rust cannot set (its module
// says why it is worth it).
#![deny(unsafe_code)]

mod body;
mod conn;
mod error;
mod flags;
#[doc(hidden)]
pub mod fuzzing {
    //! Parser entry points for fuzzing (see `h1::fuzzing`).
    pub use crate::h1::fuzzing::{chunked, request_head, response_head};
}
mod h1;
mod idle;
mod request;
mod server;
mod snapshot;
mod stats;
mod telemetry;
mod upstream;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::HeaderValue;
use vestibule_ir::{EndpointTable, RouteTable};

pub use conn::{ListenerState, WorkerConnections};
pub use error::{ProxyError, TlsFailure};
pub use flags::Flags;
pub use snapshot::Snapshot;
pub use stats::{RouteStats, StatsKey, StatsRegistry};
pub use telemetry::access_log::{AccessLogConfig, Encoding as AccessLogEncoding};
pub use telemetry::destination::{
    DestinationStats, HistogramReading, SeriesKey, SeriesReading, TcpOutcome, TcpReading,
    UpstreamCounters, DURATION_BOUNDS, SIZE_BOUNDS,
};
pub use telemetry::labels::DestinationLabels;
pub use telemetry::traces::TracingConfig;

/// Settings of the data plane that do not come from the routing table.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The `server` header on every response.
    pub server_name: String,
    pub bind_address: IpAddr,
    /// Listener port → local port to bind (0 picks a free one).
    pub port_map: HashMap<u16, u16>,
    /// Istio's default `connectTimeout`.
    pub connect_timeout: Duration,
    /// How long connections may take to finish when a listener goes away.
    pub drain_timeout: Duration,
    /// Bounds the wait for a request's headers: from accept for a
    /// connection's first request, from the first byte for the next ones.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit with no request in flight
    /// (Envoy's and Istio's default: one hour).
    pub idle_timeout: Duration,
    /// Request heads: bytes (request line and headers) and header count.
    pub head_limits: HeadLimits,
    /// Open client connections, over all listeners; more are refused.
    pub max_connections: usize,
    /// Open client connections per listener port (`None`: only the overall
    /// bound applies).
    pub max_connections_per_listener: Option<usize>,
    pub http2: Http2Limits,
    /// How long a request's stream may move nothing (no request body
    /// bytes, no response bytes) before it ends: Envoy's
    /// `stream_idle_timeout`. `None`: no limit.
    pub stream_idle_timeout: Option<Duration>,
    /// Istio's `accessLogFile`/`accessLogEncoding` (an Istio Telemetry in
    /// the configuration may turn the log on or off over them).
    pub access_log: AccessLogConfig,
    /// Where spans go and how many (an Istio Telemetry may change the
    /// sampling over it).
    pub tracing: TracingConfig,
    /// Worker threads that accept and serve connections, each with its own
    /// listening socket per port (`conn::Workers`); 0: the listeners run
    /// on the runtime that publishes.
    pub workers: usize,
}

/// How large a request head may be (Envoy's `max_request_headers_kb` and
/// `max_headers_count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    pub bytes: usize,
    pub count: usize,
}

impl HeadLimits {
    /// The most header lines a request may be configured to carry.
    pub const MAX_COUNT: usize = h1::MAX_REQUEST_HEADER_SLOTS;
}

impl Default for HeadLimits {
    fn default() -> HeadLimits {
        HeadLimits {
            bytes: 60 * 1024,
            count: 100,
        }
    }
}

/// HTTP/2 server settings (Envoy's edge-proxy recommendations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Limits {
    pub max_concurrent_streams: u32,
    pub initial_stream_window: u32,
    pub initial_connection_window: u32,
}

impl Http2Limits {
    /// Streams one connection can run at once (its slots).
    pub const MAX_CONCURRENT_STREAMS: u32 = server::h2::MAX_STREAM_SLOTS as u32;
}

impl Default for Http2Limits {
    fn default() -> Http2Limits {
        Http2Limits {
            max_concurrent_streams: 100,
            initial_stream_window: 64 * 1024,
            initial_connection_window: 1024 * 1024,
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            server_name: "vestibule".to_owned(),
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_map: HashMap::new(),
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            // Envoy's edge-proxy recommendation (`request_headers_timeout`).
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(3600),
            head_limits: HeadLimits::default(),
            // Envoy's edge-proxy example (`global_downstream_max_connections`).
            max_connections: 50_000,
            max_connections_per_listener: None,
            http2: Http2Limits::default(),
            // Envoy's default and edge-proxy recommendation.
            stream_idle_timeout: Some(Duration::from_secs(300)),
            access_log: AccessLogConfig::default(),
            tracing: TracingConfig::default(),
            workers: 0,
        }
    }
}

/// State the request path reads.
pub(crate) struct Shared {
    snapshot: ArcSwap<Snapshot>,
    config: ProxyConfig,
    server_header: HeaderValue,
    counters: Counters,
    telemetry: telemetry::Telemetry,
}

/// Connection and protocol-error figures of the data plane, for metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Client connections refused because a connection limit was reached.
    pub connections_refused: AtomicU64,
    /// Requests answered with a local reply because the client broke the
    /// protocol (malformed heads or bodies, forbidden framing).
    pub downstream_protocol_errors: AtomicU64,
    /// TLS and HTTPS connections closed before a handshake completed (no
    /// ClientHello, no server for its SNI, a refused client certificate).
    pub tls_handshake_failures: AtomicU64,
    /// TCP and TLS connections whose upstream connection failed.
    pub stream_connect_failures: AtomicU64,
}

/// The running data plane. `publish` swaps in a new routing table.
pub struct DataPlane {
    shared: Arc<Shared>,
    clusters: upstream::clusters::ClusterRegistry,
    stats: StatsRegistry,
    listeners: conn::Listeners,
}

/// Why the data plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid server name {0:?}: not a valid header value")]
    ServerName(String),
    #[error("{0}")]
    Limit(String),
    #[error("access log {path}: {source}")]
    AccessLog {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("tracing: {0}")]
    Tracing(String),
    #[error("starting the worker threads: {0}")]
    Workers(std::io::Error),
}

impl DataPlane {
    pub fn new(config: ProxyConfig) -> Result<DataPlane, ConfigError> {
        let server_header = HeaderValue::from_str(&config.server_name)
            .map_err(|_| ConfigError::ServerName(config.server_name.clone()))?;
        check_limits(&config)?;
        conn::tls::install_provider();
        let tracing = telemetry::traces::Tracing::new(config.tracing.clone())
            .map_err(ConfigError::Tracing)?;
        let telemetry =
            telemetry::Telemetry::new(config.access_log.clone(), tracing).map_err(|source| {
                ConfigError::AccessLog {
                    path: config.access_log.path.clone(),
                    source,
                }
            })?;
        idle::set_limit(config.stream_idle_timeout);
        idle::start_sweeper();
        let workers = match config.workers {
            0 => None,
            count => Some(conn::Workers::start(count).map_err(ConfigError::Workers)?),
        };
        Ok(DataPlane {
            shared: Arc::new(Shared {
                snapshot: ArcSwap::from_pointee(Snapshot::empty()),
                config,
                server_header,
                counters: Counters::default(),
                telemetry,
            }),
            clusters: upstream::clusters::ClusterRegistry::default(),
            stats: StatsRegistry::default(),
            listeners: conn::Listeners::new(workers),
        })
    }

    /// Builds the snapshot for `table` (indexes, compiled routes) off the
    /// request path, swaps it in atomically, then binds and unbinds
    /// listeners to match. Must run inside a Tokio runtime.
    pub fn publish(&self, generation: u64, table: &Arc<RouteTable>, endpoints: &EndpointTable) {
        let clusters = self.clusters.sync(table, endpoints);
        let previous = self.shared.snapshot.load();
        let snapshot = Snapshot::build(generation, table, &clusters, &self.stats, &previous);
        drop(previous);
        let ports = snapshot.ports();
        if let Err(error) = self.shared.telemetry.switch(table.access_logging) {
            let path = self.shared.config.access_log.path.display();
            tracing::error!(%path, %error, "access log not opened; it stays off");
        }
        match (&self.shared.telemetry.tracing, table.tracing) {
            (Some(tracer), decided) => tracer.switch(decided),
            // Said, not ignored silently: spans need a collector.
            (None, Some(_)) => tracing::warn!(
                "an Istio Telemetry sets tracing, but tracing is off: \
                 --tracing-otlp-endpoint names no collector"
            ),
            (None, None) => {}
        }
        self.shared.snapshot.store(Arc::new(snapshot));
        self.listeners.reconcile(&self.shared, &ports);
    }

    /// Updates endpoints only (the route table is unchanged).
    pub fn update_endpoints(&self, table: &RouteTable, endpoints: &EndpointTable) {
        self.clusters.sync(table, endpoints);
    }

    pub fn generation(&self) -> u64 {
        self.shared.snapshot.load().generation
    }

    pub fn listeners(&self) -> Vec<ListenerState> {
        self.listeners.states()
    }

    pub fn stats(&self) -> &StatsRegistry {
        &self.stats
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Istio's request metrics, per destination (and one for requests that
    /// reached none).
    pub fn destination_stats(&self) -> Vec<Arc<DestinationStats>> {
        let mut stats = self.clusters.destination_stats();
        stats.push(Arc::clone(&self.shared.telemetry.unknown));
        stats
    }

    /// Requests in flight per cluster (`outbound|PORT|SUBSET|HOST`).
    pub fn active_requests(&self) -> Vec<(String, usize)> {
        self.clusters.active_requests()
    }

    /// Access log lines dropped because the writer fell behind (`None`:
    /// no access log).
    pub fn access_log_dropped(&self) -> Option<u64> {
        self.shared.telemetry.started_log().map(|log| log.dropped())
    }

    /// Client connections open now, over every listener.
    pub fn open_connections(&self) -> usize {
        conn::OPEN_CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops accepting and drains every connection (bounded by the drain
    /// timeout of each listener).
    pub async fn shutdown(&self) {
        self.listeners.shutdown().await;
        if let Some(log) = self.shared.telemetry.started_log() {
            log.flush().await;
        }
        let shared = Arc::clone(&self.shared);
        // The exporter's flush waits on the runtime: from a thread of its own.
        let flushed = tokio::task::spawn_blocking(move || {
            if let Some(tracer) = &shared.telemetry.tracing {
                tracer.flush();
            }
        });
        let _ = flushed.await;
    }
}

/// Limits outside what the protocol stacks accept are refused at start.
fn check_limits(config: &ProxyConfig) -> Result<(), ConfigError> {
    let head = config.head_limits;
    if head.bytes < 1024 || head.bytes > 8 * 1024 * 1024 {
        return Err(ConfigError::Limit(format!(
            "request headers limit {} bytes: must be between 1 KiB and 8 MiB",
            head.bytes
        )));
    }
    if head.count == 0 || head.count > HeadLimits::MAX_COUNT {
        return Err(ConfigError::Limit(format!(
            "request header count limit {}: must be between 1 and {}",
            head.count,
            HeadLimits::MAX_COUNT
        )));
    }
    let h2 = config.http2;
    if h2.max_concurrent_streams == 0
        || h2.max_concurrent_streams > Http2Limits::MAX_CONCURRENT_STREAMS
    {
        return Err(ConfigError::Limit(format!(
            "HTTP/2 concurrent streams {}: must be between 1 and {}",
            h2.max_concurrent_streams,
            Http2Limits::MAX_CONCURRENT_STREAMS
        )));
    }
    // RFC 9113 §6.9.2: windows are at least the initial 65,535 and at
    // most 2^31-1.
    for (what, window) in [
        ("stream", h2.initial_stream_window),
        ("connection", h2.initial_connection_window),
    ] {
        if !(65_535..=0x7fff_ffff).contains(&window) {
            return Err(ConfigError::Limit(format!(
                "HTTP/2 initial {what} window {window}: must be between 65535 and 2147483647"
            )));
        }
    }
    if config.max_connections == 0 || config.max_connections_per_listener == Some(0) {
        return Err(ConfigError::Limit(
            "connection limits must be at least 1".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
impl Shared {
    pub(crate) fn for_tests() -> Shared {
        Shared {
            snapshot: ArcSwap::from_pointee(Snapshot::empty()),
            config: ProxyConfig::default(),
            server_header: HeaderValue::from_static("vestibule"),
            counters: Counters::default(),
            telemetry: telemetry::Telemetry::new(AccessLogConfig::default(), None)
                .expect("an access log that is off opens nothing"),
        }
    }
}

/// What unit tests of several modules share.
#[cfg(test)]
pub(crate) mod test_support {
    use http::{HeaderMap, HeaderName, HeaderValue};

    /// A header map of static names and values.
    pub(crate) fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }
}
