//! Backends at run time: each cluster's endpoints, each endpoint's active
//! request count and connection pool. These outlive configuration reloads:
//! the registry hands the same `Arc`s to every new snapshot, so pools and
//! least-request counters carry over and pod churn swaps only endpoint lists.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use arc_swap::ArcSwap;
use vestibule_ir::{
    AppProtocol, Backend, BackendKey, ConnectionPool, ConsistentHash, EndpointAddress,
    EndpointTable, OutlierDetection, RouteTable, UpstreamTls, Warmup,
};

use crate::telemetry::destination::DestinationStats;
use crate::telemetry::labels::DestinationLabels;
use crate::upstream::balance::Balancer;
use crate::upstream::circuit::{Circuit, Overflow};
use crate::upstream::dns::DnsCache;
use crate::upstream::hash::Table;
use crate::upstream::outlier::{Health, Outcome, Outlier};
use crate::upstream::pool::{Pool, PoolPolicy, Target};
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
    /// As configured: a cluster whose pool changes is made anew.
    connection_pool: ConnectionPool,
    /// Built from it once; `None` for the default pool.
    pool_policy: Option<Arc<PoolPolicy>>,
    /// Outlier detection, if the cluster has it (a cluster whose settings
    /// change is made anew).
    outlier: Option<Arc<Outlier>>,
    /// Unique among the clusters made: the owner of the endpoint states
    /// made for it when it owns them.
    id: u64,
    /// Consistent hashing, if the cluster has it: the policy and the
    /// table built for the current endpoints.
    hash: Option<(ConsistentHash, ArcSwap<Table>)>,
    /// Slow start for new endpoints, if the cluster has it.
    warmup: Option<Warmup>,
}

/// Numbers the clusters made (from 1: 0 is no owner).
static CLUSTER_IDS: AtomicU64 = AtomicU64::new(1);

impl Cluster {
    /// The current endpoints: one atomic load, no lock.
    pub(crate) fn endpoints(&self) -> arc_swap::Guard<Arc<Vec<Arc<EndpointState>>>> {
        self.endpoints.load()
    }

    /// The cluster's circuit breakers, if it has limits.
    pub(crate) fn circuit(&self) -> Option<&Arc<Circuit>> {
        self.pool_policy.as_ref()?.circuit.as_ref()
    }

    /// Whether the cluster's endpoints are its own rather than shared by
    /// address with other clusters: when its pool or ejections must be
    /// counted apart, as Envoy counts them, per cluster.
    fn owns_endpoints(&self) -> bool {
        self.pool_policy.is_some() || self.outlier.is_some()
    }

    /// The owner its endpoint states carry (0: shared).
    fn owner(&self) -> u64 {
        if self.owns_endpoints() {
            self.id
        } else {
            0
        }
    }

    /// The cluster's consistent-hash policy, if it has one.
    pub(crate) fn hash_policy(&self) -> Option<&ConsistentHash> {
        self.hash.as_ref().map(|(policy, _)| policy)
    }

    /// Picks an endpoint: by `hash` in the cluster's hash table when it
    /// has one and the request a key, else by its balancer (see
    /// [`Balancer::pick`]); either way skipping the ejected ones while
    /// outlier detection says so.
    pub(crate) fn pick(
        &self,
        endpoints: &[Arc<EndpointState>],
        tried: &[usize],
        hash: Option<u64>,
    ) -> Option<Arc<EndpointState>> {
        if let (Some((_, table)), Some(hash)) = (&self.hash, hash) {
            let skip_ejected = self
                .outlier
                .as_ref()
                .is_some_and(|outlier| outlier.skips_ejected(endpoints.len()));
            let table = table.load();
            let healthy =
                |endpoint: &Arc<EndpointState>| !skip_ejected || !endpoint.health.is_ejected();
            let untried = |endpoint: &Arc<EndpointState>| {
                healthy(endpoint) && !tried.contains(&(Arc::as_ptr(endpoint) as usize))
            };
            // All tried: the one the key maps to, tried or not.
            return table
                .pick(hash, untried)
                .or_else(|| table.pick(hash, healthy));
        }
        let picked = self.pick_balanced(endpoints, tried)?;
        match &self.warmup {
            Some(warmup) => Some(self.slow_start(warmup, picked, endpoints, tried)),
            None => Some(picked),
        }
    }

    /// Envoy's slow start, by sampling: an endpoint in its warmup keeps
    /// its pick with the probability its age gives it (see
    /// [`Warmup::factor`]); otherwise the balancer picks again, avoiding
    /// it, and that pick stands.
    fn slow_start(
        &self,
        warmup: &Warmup,
        picked: Arc<EndpointState>,
        endpoints: &[Arc<EndpointState>],
        tried: &[usize],
    ) -> Arc<EndpointState> {
        let factor = warmup.factor(picked.added.elapsed());
        if factor >= 1.0 || fastrand::f64() < factor {
            return picked;
        }
        let mut avoid: smallvec::SmallVec<[usize; 4]> = tried.iter().copied().collect();
        avoid.push(Arc::as_ptr(&picked) as usize);
        self.pick_balanced(endpoints, &avoid).unwrap_or(picked)
    }

    /// The balancer's pick, without the ejected endpoints while outlier
    /// detection says so.
    fn pick_balanced(
        &self,
        endpoints: &[Arc<EndpointState>],
        tried: &[usize],
    ) -> Option<Arc<EndpointState>> {
        match &self.outlier {
            Some(outlier) if outlier.skips_ejected(endpoints.len()) => {
                // Rare (while an endpoint is out): the list without it.
                let healthy: Vec<Arc<EndpointState>> = endpoints
                    .iter()
                    .filter(|endpoint| !endpoint.health.is_ejected())
                    .cloned()
                    .collect();
                self.balancer.pick(&healthy, tried)
            }
            _ => self.balancer.pick(endpoints, tried),
        }
    }

    /// Counts how an attempt on `endpoint` went, for outlier detection.
    pub(crate) fn record(&self, endpoint: &Arc<EndpointState>, outcome: Outcome) {
        if let Some(outlier) = &self.outlier {
            outlier.record(endpoint, outcome, self.endpoints().len());
        }
    }

    /// Whether attempts' outcomes are counted (then the attempt keeps its
    /// endpoint).
    pub(crate) fn detects_outliers(&self) -> bool {
        self.outlier.is_some()
    }
}

/// One upstream address with its live state.
#[derive(Debug)]
pub(crate) struct EndpointState {
    pub address: EndpointAddress,
    /// `address` as the access log writes it (formatted once, not per
    /// request).
    pub text: Box<str>,
    pub protocol: AppProtocol,
    /// TLS origination to this endpoint; `None`: plain text.
    tls: Option<Arc<Origination>>,
    active: AtomicUsize,
    pub(crate) pool: Pool,
    /// Its cluster's pool policy, when the cluster owns its endpoints.
    pub(crate) policy: Option<Arc<PoolPolicy>>,
    /// Its run of failures and ejection (outlier detection).
    pub(crate) health: Health,
    /// The cluster that owns it (0: shared by every cluster of its address).
    owner: u64,
    /// Its name's addresses, for a DNS endpoint.
    dns: Option<DnsCache>,
    /// When it was first seen (slow start counts from here).
    added: Instant,
}

impl EndpointState {
    fn new(address: EndpointAddress, cluster: &Cluster) -> EndpointState {
        let policy = cluster.pool_policy.clone();
        let limited = policy.as_ref().is_some_and(|p| p.circuit.is_some());
        let dns = matches!(address, EndpointAddress::Dns { .. }).then(DnsCache::default);
        EndpointState {
            text: address.to_string().into_boxed_str(),
            address,
            protocol: cluster.protocol,
            tls: cluster.origination.clone(),
            active: AtomicUsize::new(0),
            pool: if limited {
                Pool::limited()
            } else {
                Pool::default()
            },
            policy,
            health: Health::default(),
            owner: cluster.owner(),
            dns,
            added: Instant::now(),
        }
    }

    /// Where and how to connect to it.
    pub(crate) fn target(&self) -> Target<'_> {
        Target {
            address: &self.address,
            protocol: self.protocol,
            tls: self.tls.as_deref(),
            policy: self.policy.as_deref(),
            dns: self.dns.as_ref(),
        }
    }

    fn circuit(&self) -> Option<&Circuit> {
        self.policy.as_ref()?.circuit.as_deref()
    }

    pub(crate) fn active_requests(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts a request as active until the guard drops (least request,
    /// and the cluster's request limit, which may refuse it).
    pub(crate) fn start_request(self: &Arc<Self>) -> Result<ActiveRequest, Overflow> {
        if let Some(circuit) = self.circuit() {
            circuit.start_request()?;
        }
        self.active.fetch_add(1, Ordering::Relaxed);
        Ok(ActiveRequest {
            endpoint: Arc::clone(self),
        })
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
        if let Some(circuit) = self.endpoint.circuit() {
            circuit.end_request();
        }
    }
}

/// Endpoints with the same address but another protocol or TLS set-up are
/// distinct: their pooled connections cannot serve each other. A cluster
/// that owns its endpoints adds its name.
type EndpointId = (
    EndpointAddress,
    AppProtocol,
    Option<UpstreamTls>,
    Option<BackendKey>,
);

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
                        && cluster.balancer.policy() == backend.load_balancer
                        && cluster.connection_pool == backend.connection_pool
                        && cluster.outlier.as_ref().map(|o| o.config())
                            == backend.outlier_detection.as_ref()
                        && cluster.hash_policy() == backend.consistent_hash.as_ref()
                        && cluster.warmup == backend.warmup =>
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
                .map(|endpoint| endpoint_state(&mut states, key, &cluster, &endpoint.address))
                .collect();
            if !same_endpoints(&cluster.endpoints.load(), &list) {
                if let Some((policy, table)) = &cluster.hash {
                    table.store(Arc::new(Table::build(policy.table, &list)));
                }
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
        let circuit = Circuit::new(&backend.connection_pool, Arc::clone(&stats)).map(Arc::new);
        let outlier = backend
            .outlier_detection
            .as_ref()
            .map(|config: &OutlierDetection| Arc::new(Outlier::new(config, Arc::clone(&stats))));
        let hash = backend.consistent_hash.clone().map(|policy| {
            let empty = Table::build(policy.table, &[]);
            (policy, ArcSwap::from_pointee(empty))
        });
        Cluster {
            warmup: backend.warmup.clone(),
            hash,
            outlier,
            id: CLUSTER_IDS.fetch_add(1, Ordering::Relaxed),
            pool_policy: PoolPolicy::new(&backend.connection_pool, circuit).map(Arc::new),
            connection_pool: backend.connection_pool.clone(),
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
    key: &BackendKey,
    cluster: &Cluster,
    address: &EndpointAddress,
) -> Arc<EndpointState> {
    let owner = cluster.owns_endpoints().then(|| key.clone());
    let id = (
        address.clone(),
        cluster.protocol,
        cluster.tls.clone(),
        owner,
    );
    if let Some(state) = states.get(&id).and_then(Weak::upgrade) {
        // A cluster made anew with the same name shares no state with the
        // old one (its pool's counts, its ejections).
        if state.owner == cluster.owner() {
            return state;
        }
    }
    let state = Arc::new(EndpointState::new(address.clone(), cluster));
    states.insert(id, Arc::downgrade(&state));
    state
}

fn same_endpoints(old: &[Arc<EndpointState>], new: &[Arc<EndpointState>]) -> bool {
    old.len() == new.len() && old.iter().zip(new).all(|(a, b)| Arc::ptr_eq(a, b))
}
