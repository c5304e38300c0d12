//! The routing table: what every configuration API translates into and what
//! the data plane serves. Plain data (`Serialize`), no I/O, no Kubernetes
//! types. Regexes are compiled here, at translation time, so the request path
//! never compiles one.
#![forbid(unsafe_code)]

mod backend;
mod host;
mod pattern;
mod route;
mod shrink;
pub mod status;
mod tls;

use serde::Serialize;

pub use backend::{
    AppProtocol, Backend, BackendKey, BackendSubset, ConnectionPool, ConsistentHash, Endpoint,
    EndpointAddress, HashKey, HashTable, LoadBalancer, OutlierDetection, TcpKeepalive, UpstreamTls,
    UpstreamVerify, Warmup,
};
pub use host::HostPattern;
pub use pattern::{Pattern, PatternError};
pub use route::{
    AbortStatus, CorsPolicy, DerivePort, DirectResponse, FaultAbort, FaultDelay, FaultInjection,
    Forward, HeaderEdits, HeaderMatch, HeaderMutations, Mirror, PathMatch, PathRewrite, QueryMatch,
    Redirect, RetryOn, RetryPolicy, Route, RouteAction, RouteMatch, RouteOrigin, StringMatcher,
    WeightedBackend,
};
pub use tls::{
    CertifiedKey, CipherSuite, ClientValidation, Pem, StreamRoute, TlsServer, TlsTermination,
    TlsVersion,
};

/// Everything the data plane serves, as one immutable value.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RouteTable {
    /// Sorted by port.
    pub listeners: Vec<Listener>,
    /// Every backend a route names, by key.
    pub backends: std::collections::BTreeMap<BackendKey, Backend>,
    /// Istio Telemetry `accessLogging`: `Some(on)` when a Telemetry that
    /// applies to this gateway decides; `None`: the command line does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_logging: Option<bool>,
    /// Istio Telemetry `tracing`: what a Telemetry that applies to this
    /// gateway decides; `None`: the command line does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingPolicy>,
}

/// Istio Telemetry `tracing[]` at this gateway.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct TracingPolicy {
    /// `randomSamplingPercentage` (0–100); `None`: the command line's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<f64>,
    /// `disableSpanReporting`: spans are made and propagated, not sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable_reporting: bool,
}

/// Ready endpoints per backend. Kept apart from the routes because endpoints
/// change far more often (pod churn must not rebuild the route table).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct EndpointTable {
    pub backends: std::collections::BTreeMap<BackendKey, Vec<Endpoint>>,
}

/// One listening port. `port` is the port the configuration names (the
/// gateway Service port, e.g. 80); the process binds the local port that
/// `--port-map` maps it to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Listener {
    /// `http.80`, as Istio names the route table of a plain-text port.
    pub name: String,
    pub port: u16,
    pub protocol: ListenerProtocol,
    /// HTTPS and TLS: the servers a connection's SNI picks among. Empty
    /// for HTTP and TCP.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_servers: Vec<TlsServer>,
    /// Virtual hosts in the order they were declared; the data plane picks
    /// exactly one per request (exact > longest wildcard suffix > `*`).
    pub virtual_hosts: Vec<VirtualHost>,
    /// TCP and TLS: routes for whole connections, in order; the first whose
    /// SNI names match takes the connection.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stream_routes: Vec<StreamRoute>,
}

/// What is spoken on a listener.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ListenerProtocol {
    /// HTTP/1.1 and h2c (prior knowledge) on one port.
    Http,
    /// TLS-terminated HTTP/1.1 and HTTP/2 (ALPN).
    Https,
    /// TLS passthrough or termination routed by SNI to TCP backends.
    Tls,
    /// Opaque TCP.
    Tcp,
}

impl ListenerProtocol {
    /// Whether a client sends the first bytes (an HTTP request, a TLS
    /// ClientHello), so its connection can wait for them before it is
    /// accepted. Opaque TCP may carry a protocol whose server speaks first.
    pub fn client_speaks_first(self) -> bool {
        !matches!(self, ListenerProtocol::Tcp)
    }
}

/// A set of host names and the ordered routes that serve them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VirtualHost {
    pub name: String,
    pub domains: Vec<HostPattern>,
    /// Ordered: the first route whose match accepts the request wins.
    pub routes: Vec<std::sync::Arc<Route>>,
    /// Istio `httpsRedirect`: a plain-text request gets 301 to `https://`
    /// instead of being routed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_tls: bool,
}
