//! The immutable value the request path reads: per listener, the host index
//! and, per route, everything pre-computed (weighted targets with their
//! clusters, header names and values parsed, counters). Built by the control
//! plane, swapped in atomically.

mod route;

use std::collections::HashMap;
use std::sync::Arc;

use vestibule_ir::{BackendKey, Listener, ListenerProtocol, Route, RouteTable};
use vestibule_route::HostIndex;

use crate::conn::tcp::StreamRouteRuntime;
use crate::conn::tls::TlsServers;
use crate::stats::{RouteStats, StatsRegistry};
use crate::upstream::clusters::Cluster;

pub(crate) use route::{RouteRuntime, Target};

pub struct Snapshot {
    pub generation: u64,
    /// By port; a gateway has a handful, so a scan beats hashing.
    listeners: Vec<(u16, ListenerRuntime)>,
}

pub(crate) struct ListenerRuntime {
    /// The published table (shared, not copied) and this listener's index in it.
    table: Arc<RouteTable>,
    index: usize,
    pub hosts: HostIndex,
    /// Every virtual host's routes, one after the other (one vector per
    /// virtual host cost an allocation each: 10,000 of them with 10,000
    /// host routes).
    routes: Vec<RouteRuntime>,
    /// Where each virtual host's routes start in `routes`.
    starts: Vec<u32>,
    pub unrouted: Arc<RouteStats>,
    /// HTTPS and TLS: the servers a connection's SNI picks among.
    pub tls: Option<TlsServers>,
    /// TCP and TLS: the connection routes.
    pub streams: Vec<StreamRouteRuntime>,
}

impl ListenerRuntime {
    pub(crate) fn listener(&self) -> &Listener {
        &self.table.listeners[self.index]
    }

    /// The runtime of route `route` of virtual host `vhost`.
    pub(crate) fn route(&self, vhost: usize, route: usize) -> &RouteRuntime {
        &self.routes[self.starts[vhost] as usize + route]
    }

    /// This listener's runtime for `table`; the routes `previous` (the
    /// same listener's runtime in the snapshot being replaced) already had
    /// are taken from it rather than compiled again.
    fn build(
        table: &Arc<RouteTable>,
        index: usize,
        clusters: &HashMap<BackendKey, Arc<Cluster>>,
        stats: &StatsRegistry,
        previous: Option<&ListenerRuntime>,
    ) -> ListenerRuntime {
        let listener = &table.listeners[index];
        let count = listener.virtual_hosts.iter().map(|v| v.routes.len()).sum();
        let mut routes = Vec::with_capacity(count);
        let mut starts = Vec::with_capacity(listener.virtual_hosts.len());
        let previous = previous
            .filter(|previous| previous.listener().name == listener.name)
            .map(Previous::new);
        let mut counters = stats.listener(&listener.name);
        for vhost in &listener.virtual_hosts {
            starts.push(u32::try_from(routes.len()).expect("fewer than 2^32 routes"));
            for route in &vhost.routes {
                let kept = previous
                    .as_ref()
                    .and_then(|previous| previous.runtime(route, clusters));
                routes.push(kept.unwrap_or_else(|| {
                    RouteRuntime::new(route, clusters, counters.route(&route.name))
                }));
            }
        }
        let unrouted = counters.route("");
        drop(counters);
        ListenerRuntime {
            hosts: HostIndex::new(&listener.virtual_hosts),
            routes,
            starts,
            unrouted,
            tls: TlsServers::build(listener),
            streams: StreamRouteRuntime::build(listener, clusters),
            table: Arc::clone(table),
            index,
        }
    }
}

/// The runtimes of the listener's last snapshot, by the route each was
/// made from. A route the new table shares with the last one (`Arc`: a
/// reload that bound its VirtualService again reuses the same route) has
/// the same runtime, its clusters permitting: a change of one route among
/// 10,000 compiles one, not 10,000.
struct Previous<'a> {
    runtime: &'a ListenerRuntime,
    /// Route address to its runtime's place in `runtime.routes`. The old
    /// table, alive while this is, holds every route it names, so an
    /// address cannot have been reused for another route.
    by_route: rustc_hash::FxHashMap<*const Route, u32>,
}

impl<'a> Previous<'a> {
    fn new(runtime: &'a ListenerRuntime) -> Previous<'a> {
        let routes = runtime
            .listener()
            .virtual_hosts
            .iter()
            .flat_map(|v| &v.routes);
        let mut by_route = rustc_hash::FxHashMap::default();
        by_route.reserve(runtime.routes.len());
        for (place, route) in (0u32..).zip(routes) {
            by_route.entry(Arc::as_ptr(route)).or_insert(place);
        }
        Previous { runtime, by_route }
    }

    /// `route`'s runtime, when the last snapshot made one from this very
    /// route and the clusters it names are still the same.
    fn runtime(
        &self,
        route: &Arc<Route>,
        clusters: &HashMap<BackendKey, Arc<Cluster>>,
    ) -> Option<RouteRuntime> {
        let place = *self.by_route.get(&Arc::as_ptr(route))?;
        self.runtime.routes[place as usize].reuse(route, clusters)
    }
}

impl Snapshot {
    pub fn empty() -> Snapshot {
        Snapshot {
            generation: 0,
            listeners: Vec::new(),
        }
    }

    pub(crate) fn listener(&self, port: u16) -> Option<&ListenerRuntime> {
        self.listeners
            .iter()
            .find(|(listener_port, _)| *listener_port == port)
            .map(|(_, listener)| listener)
    }

    /// The snapshot of `table`, reusing what `previous` (the one it
    /// replaces) compiled of the routes the two share.
    pub(crate) fn build(
        generation: u64,
        table: &Arc<RouteTable>,
        clusters: &HashMap<BackendKey, Arc<Cluster>>,
        stats: &StatsRegistry,
        previous: &Snapshot,
    ) -> Snapshot {
        let listeners = table
            .listeners
            .iter()
            .enumerate()
            .map(|(index, listener)| {
                let previous = previous.listener(listener.port);
                let runtime = ListenerRuntime::build(table, index, clusters, stats, previous);
                (listener.port, runtime)
            })
            .collect();
        Snapshot {
            generation,
            listeners,
        }
    }

    /// The configured listener ports and what each speaks.
    pub fn ports(&self) -> Vec<(u16, ListenerProtocol)> {
        let mut ports: Vec<(u16, ListenerProtocol)> = self
            .listeners
            .iter()
            .map(|(port, listener)| (*port, listener.listener().protocol))
            .collect();
        ports.sort_unstable();
        ports
    }
}
