use std::net::SocketAddr;

use serde::Serialize;

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
}

/// How vestibule speaks to a backend.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AppProtocol {
    Http1,
    /// HTTP/2 over cleartext with prior knowledge (`kubernetes.io/h2c`, gRPC).
    H2c,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancer {
    /// Istio's default: least request with two random choices.
    #[default]
    LeastRequest,
    RoundRobin,
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
