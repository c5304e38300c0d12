use std::collections::BTreeMap;
use std::net::SocketAddr;

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
