//! `GET /routes`: every route the applied configuration serves, by
//! listener, with the resource it came from (`file:line`) and its figures:
//! requests by response code (the data plane's per-route counters, as
//! `vestibule_requests_total`) and their durations (each route's histogram,
//! on Istio's duration bounds). Every figure is cumulative:
//! the admin page takes rates from two readings and their `sampledAtMs`.
//!
//! A route here is what the data plane counts as one: a name on a listener.
//! The translator makes one IR route per `match` entry of a rule (and one
//! per virtual host), all of one name: they are shown, and counted, as one.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;
use vestibule_ir::{HostPattern, Listener, Route, RouteAction, StreamRoute, WeightedBackend};
use vestibule_proxy::{ListenerState, DURATION_BOUNDS};

use super::matches;
use crate::state::ControlState;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Routes {
    pub generation: u64,
    /// Milliseconds on a clock that only moves forward (from the first
    /// reading): what rates are taken over.
    pub sampled_at_ms: u64,
    /// The upper bounds (ms) of the latency buckets.
    pub latency_bounds_ms: &'static [f64],
    pub listeners: Vec<ListenerRoutes>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerRoutes {
    pub name: String,
    pub port: u16,
    pub protocol: vestibule_ir::ListenerProtocol,
    /// Where it is bound (or why not) and its connection figures, as
    /// `/status` shows them.
    pub state: Option<ListenerState>,
    /// Requests that matched no route.
    pub unmatched: Requests,
    pub routes: Vec<RouteFigures>,
}

#[derive(Debug, Default, Serialize)]
pub struct Requests {
    pub total: u64,
    /// By response code; `other` past the codes a route tracks.
    pub codes: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteFigures {
    pub name: String,
    /// `Istio`, `Gateway API` or `Ingress`.
    pub api: &'static str,
    pub kind: String,
    pub namespace: String,
    pub resource: String,
    /// `file:line` of the resource; empty for objects of the Kubernetes API.
    pub source: String,
    /// The virtual hosts' domains (HTTP) or the SNI names (TLS).
    pub hosts: Vec<String>,
    /// Its alternatives, each in a few words (`prefix /status`).
    pub matches: Vec<String>,
    /// What it does: the backends' clusters, or a redirect or direct response.
    pub action: String,
    /// HTTP routes; `None` for TCP and TLS routes.
    pub requests: Option<Requests>,
    /// TCP and TLS routes: connections opened to its backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    /// Its requests' durations; `None` for TCP and TLS routes.
    pub latency: Option<Latency>,
}

/// A route's request durations.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub count: u64,
    pub sum_micros: u64,
    /// Cumulative, per bound of `latencyBoundsMs`.
    pub buckets: Vec<u64>,
}

/// The figures of every route of the applied configuration.
pub fn routes(state: &ControlState) -> Routes {
    static START: OnceLock<Instant> = OnceLock::new();
    let sampled_at_ms = START.get_or_init(Instant::now).elapsed().as_millis();
    let applied = state.applied.load_full();
    let figures = Figures::read(state, applied.as_deref());
    let listeners = applied.as_ref().map_or_else(Vec::new, |applied| {
        let states = state.data_plane.listeners();
        applied
            .translation
            .table
            .listeners
            .iter()
            .map(|listener| figures.listener(listener, &states))
            .collect()
    });
    Routes {
        generation: state.generation(),
        sampled_at_ms: u64::try_from(sampled_at_ms).unwrap_or(u64::MAX),
        latency_bounds_ms: &DURATION_BOUNDS,
        listeners,
    }
}

/// What the data plane counted, and where each resource was written.
struct Figures {
    /// By `(listener, route)`.
    requests: HashMap<(String, String), Vec<(u16, u64)>>,
    /// By `(listener, route)`.
    latency: HashMap<(String, String), Latency>,
    connections: HashMap<String, u64>,
    /// `file:line` by `(kind, namespace, name)`.
    sources: HashMap<(String, String, String), String>,
}

impl Figures {
    fn read(state: &ControlState, applied: Option<&crate::config::Applied>) -> Figures {
        let stats = state.data_plane.stats();
        let requests = stats.collect().into_iter().collect();
        let latency = stats
            .latencies()
            .into_iter()
            .map(|(key, reading)| {
                let latency = Latency {
                    count: reading.count,
                    sum_micros: reading.sum,
                    buckets: reading.cumulative.to_vec(),
                };
                (key, latency)
            })
            .collect();
        let connections = state
            .data_plane
            .destination_stats()
            .iter()
            .map(|stats| {
                let opened = stats.read_tcp().iter().map(|reading| reading.opened).sum();
                (stats.labels.cluster.clone(), opened)
            })
            .collect();
        let sources = applied.map_or_else(Default::default, |applied| {
            sources(&applied.translation.statuses)
        });
        Figures {
            requests,
            latency,
            connections,
            sources,
        }
    }

    fn listener(&self, listener: &Listener, states: &[ListenerState]) -> ListenerRoutes {
        let mut routes: Vec<RouteFigures> = named(listener)
            .into_iter()
            .map(|group| self.http_route(&listener.name, &group))
            .collect();
        routes.extend(
            listener
                .stream_routes
                .iter()
                .map(|route| self.stream(route)),
        );
        ListenerRoutes {
            name: listener.name.clone(),
            port: listener.port,
            protocol: listener.protocol,
            state: states
                .iter()
                .find(|state| state.port == listener.port)
                .cloned(),
            unmatched: self.requests(&listener.name, ""),
            routes,
        }
    }

    fn requests(&self, listener: &str, route: &str) -> Requests {
        let codes = self
            .requests
            .get(&(listener.to_owned(), route.to_owned()))
            .map_or(&[][..], Vec::as_slice);
        Requests {
            total: codes.iter().map(|(_, count)| count).sum(),
            codes: codes
                .iter()
                .map(|(code, count)| {
                    let code = if *code == 0 {
                        "other".to_owned()
                    } else {
                        code.to_string()
                    };
                    (code, *count)
                })
                .collect(),
        }
    }

    fn http_route(&self, listener: &str, group: &[(&Route, &[HostPattern])]) -> RouteFigures {
        let (first, _) = group[0];
        let mut hosts: Vec<String> = Vec::new();
        let mut conditions: Vec<String> = Vec::new();
        let mut actions: Vec<String> = Vec::new();
        for (route, domains) in group {
            push_new(&mut hosts, domains.iter().map(ToString::to_string));
            if route.matches.is_empty() {
                push_new(&mut conditions, ["any".to_owned()]);
            }
            push_new(&mut conditions, route.matches.iter().map(matches::describe));
            let action = match &route.action {
                RouteAction::Forward(forward) => clusters(&forward.backends),
                RouteAction::Redirect(redirect) => format!("redirect {}", redirect.status),
                RouteAction::DirectResponse(direct) => {
                    format!("direct response {}", direct.status)
                }
            };
            push_new(&mut actions, [action]);
        }
        let origin = &first.origin;
        RouteFigures {
            name: first.name.clone(),
            api: api(origin.kind),
            kind: origin.kind.to_owned(),
            namespace: origin.namespace.clone(),
            resource: origin.name.clone(),
            source: self.source(origin.kind, &origin.namespace, &origin.name),
            hosts,
            matches: conditions,
            action: actions.join("; "),
            requests: Some(self.requests(listener, &first.name)),
            connections: None,
            latency: self
                .latency
                .get(&(listener.to_owned(), first.name.clone()))
                .cloned(),
        }
    }

    fn stream(&self, route: &StreamRoute) -> RouteFigures {
        let backends = keys(&route.backends);
        let origin = &route.origin;
        RouteFigures {
            name: route.name.clone(),
            api: api(origin.kind),
            kind: origin.kind.to_owned(),
            namespace: origin.namespace.clone(),
            resource: origin.name.clone(),
            source: self.source(origin.kind, &origin.namespace, &origin.name),
            hosts: route.server_names.iter().map(ToString::to_string).collect(),
            matches: Vec::new(),
            action: clusters(&route.backends),
            requests: None,
            connections: Some(
                backends
                    .iter()
                    .filter_map(|key| self.connections.get(*key))
                    .sum(),
            ),
            latency: None,
        }
    }

    fn source(&self, kind: &str, namespace: &str, name: &str) -> String {
        self.sources
            .get(&(kind.to_owned(), namespace.to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

/// The API a route's resource belongs to.
fn api(kind: &str) -> &'static str {
    match kind {
        "VirtualService" => "Istio",
        "Ingress" => "Ingress",
        _ => "Gateway API",
    }
}

/// The backends' clusters, with their weights when there are several;
/// an unresolved reference as `(invalid)`.
fn clusters(backends: &[WeightedBackend]) -> String {
    let names: Vec<String> = backends
        .iter()
        .map(|backend| {
            let key = backend.backend.as_deref().unwrap_or("(invalid)");
            if backends.len() > 1 {
                format!("{key} ({})", backend.weight)
            } else {
                key.to_owned()
            }
        })
        .collect();
    names.join(", ")
}

fn keys(backends: &[WeightedBackend]) -> Vec<&str> {
    let mut keys: Vec<&str> = backends
        .iter()
        .filter_map(|backend| backend.backend.as_deref())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The IR routes of one name on a listener, each with its virtual host's
/// domains.
type Named<'a> = Vec<(&'a Route, &'a [HostPattern])>;

/// The HTTP routes of a listener by name, in the order of their first
/// appearance.
fn named(listener: &Listener) -> Vec<Named<'_>> {
    let mut groups: Vec<Named<'_>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for vhost in &listener.virtual_hosts {
        for route in &vhost.routes {
            let position = *index.entry(route.name.as_str()).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[position].push((route, &vhost.domains));
        }
    }
    groups
}

fn push_new(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// `file:line` of every route resource, from the statuses.
fn sources(statuses: &vestibule_ir::status::Statuses) -> HashMap<(String, String, String), String> {
    let key = |kind: &str, namespace: &str, name: &str| {
        (kind.to_owned(), namespace.to_owned(), name.to_owned())
    };
    let mut sources = HashMap::new();
    let virtual_services = statuses
        .virtual_services
        .iter()
        .map(|s| ("VirtualService", &**s));
    let ingresses = statuses.ingresses.iter().map(|s| ("Ingress", s));
    for (kind, status) in virtual_services.chain(ingresses) {
        sources.insert(
            key(kind, &status.namespace, &status.name),
            status.source.clone(),
        );
    }
    for route in &statuses.routes {
        sources.insert(
            key(&route.kind, &route.namespace, &route.name),
            route.source.clone(),
        );
    }
    sources
}
