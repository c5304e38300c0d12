//! The data plane: listeners, the HTTP request path, upstream pools, load
//! balancing and retries. It serves a `vestibule_ir::RouteTable` and knows
//! nothing of where it came from (no translator, no Kubernetes).
#![forbid(unsafe_code)]

mod balance;
mod body;
mod clusters;
mod cors;
mod error;
mod forward;
mod h1;
mod handler;
mod headers;
mod http2;
mod listeners;
mod pool;
mod request_body;
mod snapshot;
mod stats;
mod upgrade;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::HeaderValue;
use vestibule_ir::{EndpointTable, RouteTable};

pub use body::ResponseBody;
pub use error::ProxyError;
pub use listeners::ListenerState;
pub use snapshot::Snapshot;
pub use stats::{RouteStats, StatsKey, StatsRegistry};

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
    /// Bounds the wait for a request's headers once its first byte arrived.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit with no request in flight
    /// (Envoy's and Istio's default: one hour).
    pub idle_timeout: Duration,
}

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            server_name: "vestibule".to_owned(),
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_map: HashMap::new(),
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(3600),
        }
    }
}

/// State the request path reads.
pub(crate) struct Shared {
    snapshot: ArcSwap<Snapshot>,
    config: ProxyConfig,
    server_header: HeaderValue,
}

/// The running data plane. `publish` swaps in a new routing table.
pub struct DataPlane {
    shared: Arc<Shared>,
    clusters: clusters::ClusterRegistry,
    stats: StatsRegistry,
    listeners: listeners::Listeners,
}

/// Why the data plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid server name {0:?}: not a valid header value")]
    ServerName(String),
}

impl DataPlane {
    pub fn new(config: ProxyConfig) -> Result<DataPlane, ConfigError> {
        let server_header = HeaderValue::from_str(&config.server_name)
            .map_err(|_| ConfigError::ServerName(config.server_name.clone()))?;
        Ok(DataPlane {
            shared: Arc::new(Shared {
                snapshot: ArcSwap::from_pointee(Snapshot::empty()),
                config,
                server_header,
            }),
            clusters: clusters::ClusterRegistry::default(),
            stats: StatsRegistry::default(),
            listeners: listeners::Listeners::default(),
        })
    }

    /// Builds the snapshot for `table` (indexes, compiled routes) off the
    /// request path, swaps it in atomically, then binds and unbinds
    /// listeners to match. Must run inside a Tokio runtime.
    pub fn publish(&self, generation: u64, table: &Arc<RouteTable>, endpoints: &EndpointTable) {
        let clusters = self.clusters.sync(table, endpoints);
        let snapshot = Snapshot::build(generation, table, &clusters, &self.stats);
        let ports = snapshot.ports();
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

    /// Stops accepting and drains every connection (bounded by the drain
    /// timeout of each listener).
    pub async fn shutdown(&self) {
        self.listeners.shutdown().await;
    }
}

#[cfg(test)]
impl Shared {
    pub(crate) fn for_tests() -> Shared {
        Shared {
            snapshot: ArcSwap::from_pointee(Snapshot::empty()),
            config: ProxyConfig::default(),
            server_header: HeaderValue::from_static("vestibule"),
        }
    }
}
