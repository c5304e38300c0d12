//! The immutable value the request path reads: per listener, the host index
//! and, per route, everything pre-computed (weighted targets with their
//! clusters, header names and values parsed, counters). Built by the control
//! plane, swapped in atomically.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use vestibule_ir::{BackendKey, HeaderMutations, Listener, Route, RouteAction, RouteTable};
use vestibule_route::HostIndex;

use crate::conn::tcp::StreamRouteRuntime;
use crate::conn::tls::TlsServers;
use crate::request::cors::CompiledCors;
use crate::request::fault::CompiledFault;
use crate::stats::{RouteStats, StatsRegistry};
use crate::upstream::clusters::Cluster;

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
    /// `[virtual host][route]`, parallel to `listener.virtual_hosts`.
    pub routes: Vec<Vec<RouteRuntime>>,
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
}

pub(crate) struct RouteRuntime {
    pub stats: Arc<RouteStats>,
    pub request_headers: CompiledMutations,
    pub response_headers: CompiledMutations,
    pub host_rewrite: Option<HeaderValue>,
    pub targets: Vec<Target>,
    total_weight: u32,
    pub mirrors: Vec<MirrorTarget>,
    pub cors: Option<CompiledCors>,
    /// Istio `fault`; `None` for almost every route.
    pub fault: Option<CompiledFault>,
    /// A direct response's body, shared rather than copied per request.
    pub direct_body: bytes::Bytes,
}

/// A cluster that gets a copy of `percent` % of the requests.
pub(crate) struct MirrorTarget {
    pub cluster: Arc<Cluster>,
    pub percent: f64,
}

impl MirrorTarget {
    pub(crate) fn roll(&self) -> bool {
        self.percent >= 100.0 || fastrand::f64() * 100.0 < self.percent
    }
}

/// One weighted backend of a forwarding route.
pub(crate) struct Target {
    /// `None`: the reference is invalid; requests that pick it get 500.
    pub cluster: Option<Arc<Cluster>>,
    pub request_headers: CompiledMutations,
    pub response_headers: CompiledMutations,
    /// Per-backend URLRewrite and RequestRedirect (Gateway API).
    pub path_rewrite: Option<vestibule_ir::PathRewrite>,
    pub host_rewrite: Option<HeaderValue>,
    pub redirect: Option<vestibule_ir::Redirect>,
    /// Cumulative weight up to and including this target.
    until: u32,
}

/// Header edits with names and values already parsed.
#[derive(Default)]
pub(crate) struct CompiledMutations {
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub add: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

impl CompiledMutations {
    fn new(mutations: &HeaderMutations) -> CompiledMutations {
        let pairs = |list: &[(String, String)]| {
            list.iter()
                .filter_map(|(name, value)| {
                    Some((
                        HeaderName::from_bytes(name.as_bytes()).ok()?,
                        HeaderValue::from_str(value).ok()?,
                    ))
                })
                .collect()
        };
        CompiledMutations {
            set: pairs(&mutations.set),
            add: pairs(&mutations.add),
            remove: mutations
                .remove
                .iter()
                .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
                .collect(),
        }
    }

    /// Remove, then set (overwrite), then add (append).
    pub(crate) fn apply(&self, headers: &mut http::HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

impl RouteRuntime {
    fn new(
        listener: &str,
        route: &Route,
        clusters: &HashMap<BackendKey, Arc<Cluster>>,
        stats: &StatsRegistry,
    ) -> RouteRuntime {
        let mut targets = Vec::new();
        let mut total_weight = 0u32;
        let mut host_rewrite = None;
        let mut mirrors = Vec::new();
        if let RouteAction::Forward(forward) = &route.action {
            mirrors = forward
                .mirrors
                .iter()
                .filter_map(|mirror| {
                    Some(MirrorTarget {
                        cluster: clusters.get(mirror.backend.as_ref()?)?.clone(),
                        percent: mirror.percent,
                    })
                })
                .filter(|mirror| mirror.percent > 0.0)
                .collect();
            for backend in &forward.backends {
                total_weight = total_weight.saturating_add(backend.weight);
                targets.push(Target {
                    cluster: backend
                        .backend
                        .as_ref()
                        .and_then(|key| clusters.get(key).cloned()),
                    request_headers: CompiledMutations::new(&backend.request_headers),
                    response_headers: CompiledMutations::new(&backend.response_headers),
                    path_rewrite: backend.path_rewrite.clone(),
                    host_rewrite: backend
                        .host_rewrite
                        .as_deref()
                        .and_then(|host| HeaderValue::from_str(host).ok()),
                    redirect: backend.redirect.clone(),
                    until: total_weight,
                });
            }
            host_rewrite = forward
                .host_rewrite
                .as_deref()
                .and_then(|host| HeaderValue::from_str(host).ok());
        }
        RouteRuntime {
            stats: stats.route(listener, &route.name),
            request_headers: CompiledMutations::new(&route.request_headers),
            response_headers: CompiledMutations::new(&route.response_headers),
            host_rewrite,
            targets,
            total_weight,
            mirrors,
            cors: route.cors.as_ref().map(CompiledCors::new),
            fault: route.fault.as_ref().map(CompiledFault::new),
            direct_body: match &route.action {
                RouteAction::DirectResponse(direct) => bytes::Bytes::from(direct.body.clone()),
                _ => bytes::Bytes::new(),
            },
        }
    }

    /// A target chosen at random in proportion to the weights, by index.
    pub(crate) fn pick_target(&self) -> Option<usize> {
        match self.targets.len() {
            0 => None,
            // A lone backend of weight 0 gets no traffic: 500.
            _ if self.total_weight == 0 => None,
            1 => Some(0),
            _ => {
                let point = fastrand::u32(..self.total_weight);
                self.targets.iter().position(|target| point < target.until)
            }
        }
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

    pub(crate) fn build(
        generation: u64,
        table: &Arc<RouteTable>,
        clusters: &HashMap<BackendKey, Arc<Cluster>>,
        stats: &StatsRegistry,
    ) -> Snapshot {
        let listeners = table
            .listeners
            .iter()
            .enumerate()
            .map(|(index, listener)| {
                let routes = listener
                    .virtual_hosts
                    .iter()
                    .map(|vhost| {
                        vhost
                            .routes
                            .iter()
                            .map(|route| RouteRuntime::new(&listener.name, route, clusters, stats))
                            .collect()
                    })
                    .collect();
                let runtime = ListenerRuntime {
                    hosts: HostIndex::new(&listener.virtual_hosts),
                    routes,
                    unrouted: stats.route(&listener.name, ""),
                    tls: TlsServers::build(listener),
                    streams: StreamRouteRuntime::build(listener, clusters),
                    table: Arc::clone(table),
                    index,
                };
                (listener.port, runtime)
            })
            .collect();
        Snapshot {
            generation,
            listeners,
        }
    }

    /// The configured listener ports.
    pub fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.listeners.iter().map(|(port, _)| *port).collect();
        ports.sort_unstable();
        ports
    }
}
