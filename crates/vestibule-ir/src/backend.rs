use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::tls::{CertifiedKey, Pem};

/// Names a backend. Istio's cluster naming, which users know from Envoy:
/// `outbound|8000||httpbin.default.svc.cluster.local`.
pub type BackendKey = String;

/// An upstream service port: where requests go after a route picked it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Backend {
    pub key: BackendKey,
    /// The service host (`httpbin.default.svc.cluster.local`, or a ServiceEntry host).
    pub host: String,
    pub port: u16,
    pub protocol: AppProtocol,
    pub load_balancer: LoadBalancer,
    /// Istio `consistentHash`: when set, it picks the endpoint instead of
    /// `load_balancer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent_hash: Option<ConsistentHash>,
    /// Slow start for endpoints new to the backend (Istio `warmup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Warmup>,
    /// TLS origination: connections to this backend's endpoints speak TLS
    /// (Istio DestinationRule `tls`, Gateway API BackendTLSPolicy).
    /// `None`: plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<UpstreamTls>,
    /// A DestinationRule subset: the backend keeps only the host's
    /// endpoints whose labels match. Carried here (not only applied to
    /// the endpoints) so that an endpoint-only update selects the same ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<BackendSubset>,
    /// Limits on connections and requests (Istio `connectionPool`).
    #[serde(skip_serializing_if = "ConnectionPool::is_default")]
    pub connection_pool: ConnectionPool,
    /// When endpoints that keep failing are ejected (Istio `outlierDetection`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
}

/// Istio `connectionPool`, as Envoy applies it: per cluster (every
/// endpoint of the backend together) unless said otherwise. `None`: no
/// limit, or the gateway's default.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, Hash)]
pub struct ConnectionPool {
    /// Connections open to all endpoints (`tcp.maxConnections`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Requests waiting for a connection (`http.http1MaxPendingRequests`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pending_requests: Option<u32>,
    /// Requests in flight to all endpoints (`http.http2MaxRequests`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    /// Retries in flight to all endpoints (`http.maxRetries`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Requests one connection carries before it closes
    /// (`http.maxRequestsPerConnection`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<u32>,
    /// `tcp.connectTimeout`; `None`: the gateway's (10 s, as Istio's).
    #[serde(
        with = "crate::route::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
    /// An idle upstream HTTP connection is closed after this
    /// (`http.idleTimeout`; Istio's default is an hour).
    #[serde(
        with = "crate::route::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<Duration>,
    /// A TCP route's connection that moves nothing for this is closed
    /// (`tcp.idleTimeout`; the gateway's idle timeout otherwise).
    #[serde(
        with = "crate::route::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub tcp_idle_timeout: Option<Duration>,
    /// A connection is closed once this old, after its request in flight
    /// (`tcp.maxConnectionDuration`).
    #[serde(
        with = "crate::route::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_connection_duration: Option<Duration>,
    /// SO_KEEPALIVE on every upstream socket (`tcp.tcpKeepalive`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<TcpKeepalive>,
}

impl ConnectionPool {
    pub fn is_default(&self) -> bool {
        *self == ConnectionPool::default()
    }

    /// Whether a circuit breaker (a limit counted across the cluster) is
    /// set: then the cluster counts its connections and requests.
    pub fn limits(&self) -> bool {
        self.max_connections.is_some()
            || self.max_pending_requests.is_some()
            || self.max_requests.is_some()
            || self.max_retries.is_some()
    }
}

/// TCP keepalive probes: `None` leaves the system's value.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, Hash)]
pub struct TcpKeepalive {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<u32>,
    #[serde(
        with = "crate::route::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub time: Option<Duration>,
    #[serde(
        with = "crate::route::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
}

/// Istio `outlierDetection` with its defaults filled in. A threshold of 0
/// is off.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct OutlierDetection {
    /// Consecutive 5xx answers that eject an endpoint (Istio's default: 5).
    /// Unless local-origin errors are split, a connect failure, reset or
    /// timeout counts as a 503.
    pub consecutive_5xx: u32,
    /// Consecutive 502, 503 or 504 answers (default: off).
    pub consecutive_gateway_errors: u32,
    /// Consecutive connect failures, resets and timeouts, counted apart
    /// from answers when `split_local_origin_errors` (default: 5).
    pub consecutive_local_origin_failures: u32,
    pub split_local_origin_errors: bool,
    /// How often ejections are reconsidered (default: 10 s).
    #[serde(with = "crate::route::duration")]
    pub interval: Duration,
    /// An ejection lasts this times the endpoint's ejection count
    /// (default: 30 s), at most 300 s or this, whichever is longer.
    #[serde(with = "crate::route::duration")]
    pub base_ejection_time: Duration,
    /// At most this share of the endpoints is ejected at once (default:
    /// 10 %), though always at least one may be.
    pub max_ejection_percent: u32,
    /// Below this share of healthy endpoints, balancing ignores ejections
    /// (Envoy's panic threshold; Istio's default: 0, never).
    pub min_health_percent: u32,
}

impl Default for OutlierDetection {
    fn default() -> OutlierDetection {
        OutlierDetection {
            consecutive_5xx: 5,
            consecutive_gateway_errors: 0,
            consecutive_local_origin_failures: 5,
            split_local_origin_errors: false,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_percent: 10,
            min_health_percent: 0,
        }
    }
}

/// The subset a route destination named (`outbound|9080|v2|reviews...`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BackendSubset {
    pub name: String,
    /// The labels an endpoint must carry (all of them). `None`: no
    /// DestinationRule visible to the gateway defines the subset, so the
    /// backend has no endpoints (Istio drops such a cluster: 503).
    pub labels: Option<BTreeMap<String, String>>,
}

impl BackendSubset {
    /// Whether an endpoint with `labels` belongs to the subset.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.as_ref().is_some_and(|wanted| {
            wanted
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
        })
    }
}

/// How vestibule originates TLS to a backend: the name it asks for, how it
/// checks the certificate it gets, and what it presents of its own.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct UpstreamTls {
    /// The SNI sent in the ClientHello. `None`: none is sent, and the
    /// certificate is checked against the backend's host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    pub verify: UpstreamVerify,
    /// The server certificate must carry one of these SANs (DNS or URI,
    /// exact). Empty: it must be valid for the SNI (or the host).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// Presented when the server asks (Istio MUTUAL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<CertifiedKey>,
    /// ALPN protocols offered, in preference order: `h2` for HTTP/2
    /// backends, `http/1.1` for the others.
    pub alpn: Vec<String>,
}

/// What the server certificate chain is checked against.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamVerify {
    /// These CA certificates (PEM), from `source` (`namespace/name` of a
    /// Secret or ConfigMap).
    Ca { pem: Pem, source: String },
    /// The operating system's trust store.
    SystemRoots,
    /// Nothing is checked (Istio `insecureSkipVerify`).
    InsecureSkipVerify,
}

/// How vestibule speaks to a backend.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AppProtocol {
    Http1,
    /// HTTP/2 (`kubernetes.io/h2c`, gRPC): over clear text with prior
    /// knowledge, or, when the backend has `tls`, by ALPN `h2`.
    H2c,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancer {
    /// Istio's default (and `LEAST_CONN`, `LEAST_REQUEST`): least request
    /// with two random choices.
    #[default]
    LeastRequest,
    /// Every endpoint in turn.
    RoundRobin,
    /// Uniformly at random.
    Random,
}

/// Envoy's slow start: an endpoint younger than `duration` is picked with
/// its share scaled by `max(minimum_percent / 100, (age / duration) ^ (1 /
/// aggression))`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Warmup {
    #[serde(with = "crate::route::duration")]
    pub duration: Duration,
    /// Istio's default: 10.
    pub minimum_percent: f64,
    /// Istio's default: 1 (linear).
    pub aggression: f64,
}

impl Warmup {
    /// The share of its weight an endpoint `age` old gets.
    pub fn factor(&self, age: Duration) -> f64 {
        if age >= self.duration {
            return 1.0;
        }
        let time = age.as_secs_f64() / self.duration.as_secs_f64();
        time.powf(1.0 / self.aggression)
            .max(self.minimum_percent / 100.0)
            .min(1.0)
    }
}

#[cfg(test)]
mod warmup_tests {
    use super::*;

    #[test]
    fn the_factor_rises_from_the_minimum_to_one() {
        let linear = Warmup {
            duration: Duration::from_secs(10),
            minimum_percent: 10.0,
            aggression: 1.0,
        };
        assert_eq!(linear.factor(Duration::ZERO), 0.1);
        assert_eq!(linear.factor(Duration::from_secs(5)), 0.5);
        assert_eq!(linear.factor(Duration::from_secs(10)), 1.0);
        assert_eq!(linear.factor(Duration::from_secs(60)), 1.0);
        let aggressive = Warmup {
            aggression: 2.0,
            ..linear
        };
        // (0.25)^(1/2): a higher aggression ramps up sooner.
        assert_eq!(aggressive.factor(Duration::from_millis(2500)), 0.5);
    }
}

/// Istio `loadBalancer.consistentHash`: what of a request is hashed, and
/// the table the hash picks an endpoint from. Requests with the same key
/// go to the same endpoint while the endpoints stay the same (and most
/// still do when one comes or goes).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct ConsistentHash {
    pub key: HashKey,
    pub table: HashTable,
}

/// What is hashed. A request without it is balanced at random.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum HashKey {
    /// A request header's value (`httpHeaderName`; the name lowercase).
    Header(String),
    /// A cookie's value (`httpCookie`). With a `ttl`, a request without
    /// the cookie gets one (Set-Cookie on its response: `Max-Age` the
    /// ttl, a session cookie if it is zero); without, none is made.
    Cookie {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        #[serde(
            with = "crate::route::opt_duration",
            skip_serializing_if = "Option::is_none"
        )]
        ttl: Option<Duration>,
    },
    /// The client's IP address (`useSourceIp`).
    SourceIp,
    /// A query parameter's value (`httpQueryParameterName`).
    QueryParameter(String),
}

/// Envoy's hash tables.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum HashTable {
    /// Ketama: each endpoint at many points of a ring of at least this
    /// many entries (`ringHash.minimumRingSize`; Istio's default 1024).
    Ring { minimum_size: u64 },
    /// Maglev's lookup table of this (prime) size (Envoy's default 65537).
    Maglev { table_size: u64 },
}

impl HashTable {
    /// Envoy's default Maglev table size.
    pub const DEFAULT_MAGLEV_SIZE: u64 = 65_537;
    /// Envoy's largest Maglev table.
    pub const MAX_MAGLEV_SIZE: u64 = 5_000_011;

    /// Whether `size` can be a Maglev table's: a prime (so that every
    /// endpoint's permutation reaches every entry) no larger than Envoy's
    /// bound.
    pub fn valid_maglev_size(size: u64) -> bool {
        (2..=Self::MAX_MAGLEV_SIZE).contains(&size)
            && (2..)
                .take_while(|d| d * d <= size)
                .all(|d| !size.is_multiple_of(d))
    }
}

/// One ready endpoint of a backend.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub address: EndpointAddress,
    /// Relative weight among the backend's endpoints (ServiceEntry `weight`).
    pub weight: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EndpointAddress {
    Socket(SocketAddr),
    /// Resolved by DNS when a connection is made (ServiceEntry `resolution: DNS`).
    Dns {
        host: String,
        port: u16,
    },
}

impl std::fmt::Display for EndpointAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointAddress::Socket(address) => address.fmt(f),
            EndpointAddress::Dns { host, port } => write!(f, "{host}:{port}"),
        }
    }
}
