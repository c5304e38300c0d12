//! Backends at run time: each cluster's endpoints, each endpoint's active
//! request count and connection pool. These outlive configuration reloads:
//! the registry hands the same `Arc`s to every new snapshot, so pools and
//! least-request counters carry over and pod churn swaps only endpoint lists.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;
use vestibule_ir::{
    AppProtocol, Backend, BackendKey, EndpointAddress, EndpointTable, RouteTable, UpstreamTls,
};

use crate::telemetry::destination::DestinationStats;
use crate::telemetry::labels::DestinationLabels;
use crate::upstream::balance::Balancer;
use crate::upstream::pool::{Pool, Target};
use crate::upstream::tls::Origination;

/// A backend: a service port and its ready endpoints.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub protocol: AppProtocol,
    /// As configured: a cluster whose TLS changes is made anew (new
    /// connections, a new client configuration).
    tls: Option<UpstreamTls>,
    /// Built once, when the cluster is made; its endpoints share it.
    origination: Option<Arc<Origination>>,
    endpoints: ArcSwap<Vec<Arc<EndpointState>>>,
    /// How an endpoint is picked; a cluster whose policy changes is made
    /// anew (its endpoints' states, shared by address, carry over).
    pub(crate) balancer: Balancer,
    /// Istio's request metrics for this destination (they outlive a
    /// cluster made anew).
    pub(crate) stats: Arc<DestinationStats>,
}

impl Cluster {
    /// The current endpoints: one atomic load, no lock.
    pub(crate) fn endpoints(&self) -> arc_swap::Guard<Arc<Vec<Arc<EndpointState>>>> {
        self.endpoints.load()
    }
}

/// One upstream address with its live state.
#[derive(Debug)]
pub(crate) struct EndpointState {
    pub address: EndpointAddress,
    pub protocol: AppProtocol,
    /// TLS origination to this endpoint; `None`: plain text.
    tls: Option<Arc<Origination>>,
    active: AtomicUsize,
    pub(crate) pool: Pool,
}

impl EndpointState {
    fn new(
        address: EndpointAddress,
        protocol: AppProtocol,
        tls: Option<Arc<Origination>>,
    ) -> EndpointState {
        EndpointState {
            address,
            protocol,
            tls,
            active: AtomicUsize::new(0),
            pool: Pool::default(),
        }
    }

    /// Where and how to connect to it.
    pub(crate) fn target(&self) -> Target<'_> {
        Target {
            address: &self.address,
            protocol: self.protocol,
            tls: self.tls.as_deref(),
        }
    }

    pub(crate) fn active_requests(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts a request as active until the guard drops (least request).
    pub(crate) fn start_request(self: &Arc<Self>) -> ActiveRequest {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveRequest {
            endpoint: Arc::clone(self),
        }
    }
}

/// Keeps an endpoint's active request count up while a request is in flight.
#[derive(Debug)]
pub(crate) struct ActiveRequest {
    endpoint: Arc<EndpointState>,
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.endpoint.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Endpoints with the same address but another protocol or TLS set-up are
/// distinct: their pooled connections cannot serve each other.
type EndpointId = (EndpointAddress, AppProtocol, Option<UpstreamTls>);

/// Owns clusters across reloads. Only the control plane touches its locks.
#[derive(Debug, Default)]
pub(crate) struct ClusterRegistry {
    clusters: Mutex<HashMap<BackendKey, Arc<Cluster>>>,
    endpoints: Mutex<HashMap<EndpointId, Weak<EndpointState>>>,
}

impl ClusterRegistry {
    /// Requests in flight per cluster, by its name, for a scrape.
    pub(crate) fn active_requests(&self) -> Vec<(String, usize)> {
        let clusters = self.clusters.lock().expect("cluster registry poisoned");
        clusters
            .values()
            .map(|cluster| {
                let active = cluster
                    .endpoints()
                    .iter()
                    .map(|e| e.active_requests())
                    .sum();
                (cluster.stats.labels.cluster.clone(), active)
            })
            .collect()
    }

    /// Every current destination's metrics, for a scrape.
    pub(crate) fn destination_stats(&self) -> Vec<Arc<DestinationStats>> {
        let clusters = self.clusters.lock().expect("cluster registry poisoned");
        clusters
            .values()
            .map(|cluster| Arc::clone(&cluster.stats))
            .collect()
    }

    /// Brings every cluster of `table` up to date with `endpoints` and
    /// returns them by key. Clusters no longer named are forgotten (their
    /// in-flight requests keep their `Arc`s).
    pub(crate) fn sync(
        &self,
        table: &RouteTable,
        endpoints: &EndpointTable,
    ) -> HashMap<BackendKey, Arc<Cluster>> {
        let mut clusters = self.clusters.lock().expect("cluster registry poisoned");
        let mut states = self.endpoints.lock().expect("endpoint registry poisoned");
        let mut current = HashMap::with_capacity(table.backends.len());
        for (key, backend) in &table.backends {
            let cluster = match clusters.get(key) {
                Some(cluster)
                    if cluster.protocol == backend.protocol
                        && cluster.tls == backend.tls
                        && cluster.balancer.policy() == backend.load_balancer =>
                {
                    Arc::clone(cluster)
                }
                // Made anew; its metrics carry over while its labels hold.
                old => {
                    let labels = DestinationLabels::of(key, backend);
                    let stats = old
                        .map(|cluster| &cluster.stats)
                        .filter(|stats| stats.labels == labels)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(DestinationStats::new(labels)));
                    Arc::new(Cluster::new(backend, stats))
                }
            };
            let wanted = endpoints
                .backends
                .get(key)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let list: Vec<Arc<EndpointState>> = wanted
                .iter()
                .map(|endpoint| endpoint_state(&mut states, &cluster, &endpoint.address))
                .collect();
            if !same_endpoints(&cluster.endpoints.load(), &list) {
                cluster.endpoints.store(Arc::new(list));
            }
            current.insert(key.clone(), cluster);
        }
        states.retain(|_, state| state.strong_count() > 0);
        *clusters = current.clone();
        current
    }
}

impl Cluster {
    fn new(backend: &Backend, stats: Arc<DestinationStats>) -> Cluster {
        Cluster {
            stats,
            protocol: backend.protocol,
            tls: backend.tls.clone(),
            origination: backend
                .tls
                .as_ref()
                .map(|tls| Arc::new(Origination::new(tls, &backend.host))),
            endpoints: ArcSwap::from_pointee(Vec::new()),
            balancer: Balancer::new(backend.load_balancer),
        }
    }
}

fn endpoint_state(
    states: &mut HashMap<EndpointId, Weak<EndpointState>>,
    cluster: &Cluster,
    address: &EndpointAddress,
) -> Arc<EndpointState> {
    let id = (address.clone(), cluster.protocol, cluster.tls.clone());
    if let Some(state) = states.get(&id).and_then(Weak::upgrade) {
        return state;
    }
    let state = Arc::new(EndpointState::new(
        address.clone(),
        cluster.protocol,
        cluster.origination.clone(),
    ));
    states.insert(id, Arc::downgrade(&state));
    state
}

fn same_endpoints(old: &[Arc<EndpointState>], new: &[Arc<EndpointState>]) -> bool {
    old.len() == new.len() && old.iter().zip(new).all(|(a, b)| Arc::ptr_eq(a, b))
}
