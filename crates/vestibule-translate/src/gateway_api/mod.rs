//! Kubernetes Gateway API → listeners and virtual hosts, with the status
//! of every GatewayClass, Gateway, listener and route parent, as the spec
//! and its conformance suite define them.

mod attach;
mod classes;
mod gateways;
mod grpc;
mod http;
mod listener_tls;
mod listeners;
mod refs;
mod streams;

use std::collections::{BTreeMap, BTreeSet};

use vestibule_api::gateway_api::ParentReference;
use vestibule_api::{Inputs, Resource};
use vestibule_ir::status::{Condition, RouteParentStatus, RouteStatus, Statuses};
use vestibule_ir::Route;

use crate::builder::TableBuilder;
use crate::secrets::SecretStore;
use crate::services::{namespace_labels, Registry};
use crate::GatewayIdentity;
use attach::{attach, status_ref, Outcome};
pub(crate) use gateways::served_gateways;
use gateways::{gateways, ServedGateway};
use http::{Context, Precedence, Problems};
use listeners::{GatewayListener, Protocol, RouteKind};

/// Routes gathered per (listener, host name), merged into virtual hosts
/// and sorted by precedence at the end (see [`assemble`]).
type Gathered = BTreeMap<(usize, String), Vec<(Precedence, Route)>>;

pub(crate) fn translate(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    registry: &Registry<'_>,
    store: &SecretStore<'_>,
    builder: &mut TableBuilder,
    statuses: &mut Statuses,
) {
    let served = classes::served(inputs, identity, statuses);
    let (listeners, gateways) = gateways(inputs, store, &served, builder, statuses);
    let labels = namespace_labels(inputs);
    let mut gathered = Gathered::new();
    let env = Env {
        inputs,
        registry,
        listeners: &listeners,
        gateways: &gateways,
        labels: &labels,
        default_controller: identity.controller_names.first().map_or("", String::as_str),
    };
    // HTTPRoutes and GRPCRoutes in one creation order: of two routes of
    // different kinds on one listener with overlapping hostnames, the older
    // is accepted.
    let mut claims = Claims::new();
    for route in by_creation(&inputs.http_routes, &inputs.grpc_routes) {
        let mut state = State {
            builder: &mut *builder,
            statuses: &mut *statuses,
            gathered: &mut gathered,
            claims: &mut claims,
        };
        let status = match route {
            AnyRoute::Http(route) => attach_route(
                &env,
                route,
                RouteKind::Http,
                &route.spec.parent_refs,
                &route.spec.hostnames,
                &mut state,
                |cx| http::routes(route, cx),
            ),
            AnyRoute::Grpc(route) => attach_route(
                &env,
                route,
                RouteKind::Grpc,
                &route.spec.parent_refs,
                &route.spec.hostnames,
                &mut state,
                |cx| grpc::routes(route, cx),
            ),
        };
        statuses.routes.extend(status);
    }
    assemble(&listeners, gathered, builder);
    streams::translate(&env, builder, statuses);
}

/// One virtual host per host name a route serves on a port. A virtual host
/// `H` is served by the listener of that port whose hostname matches `H`
/// most specifically (listener isolation: a request is never answered by
/// the routes of a less specific listener), and carries every route of
/// that listener whose host name covers `H` (a `*.com` route serves
/// `example.com`, conformance `HTTPRouteMatchingAcrossRoutes`), ordered by
/// [`Precedence`]. Several Gateways listening on one port are equally
/// specific when their hostnames are the same, so their routes merge.
fn assemble(listeners: &[GatewayListener], gathered: Gathered, builder: &mut TableBuilder) {
    let mut hosts: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for (listener, host) in gathered.keys() {
        let names = hosts.entry(listeners[*listener].port).or_default();
        if !names.contains(&host.as_str()) {
            names.push(host);
        }
    }
    for (port, names) in hosts {
        for host in names {
            // Only listeners that serve HTTP: a TLS listener sharing the
            // port with HTTPS ones takes its connections by SNI, never a
            // request's host.
            let covering = |listener: &GatewayListener| {
                listener.port == port
                    && listener.programmed
                    && matches!(listener.protocol, Protocol::Http | Protocol::Https)
                    && listener
                        .hostname
                        .as_deref()
                        .is_none_or(|name| crate::hosts::covers(name, host))
            };
            let best = listeners
                .iter()
                .filter(|l| covering(l))
                .map(|l| specificity(l.hostname.as_deref()))
                .min();
            let mut routes: Vec<(Precedence, &Route)> = Vec::new();
            for ((index, name), entries) in &gathered {
                let listener = &listeners[*index];
                if !covering(listener)
                    || Some(specificity(listener.hostname.as_deref())) != best
                    || !crate::hosts::covers(name, host)
                {
                    continue;
                }
                routes.extend(
                    entries
                        .iter()
                        .map(|(precedence, route)| (precedence.for_host(name), route)),
                );
            }
            routes.sort_by(|a, b| a.0.cmp(&b.0));
            // A route reached under several names (or through several
            // listeners) is kept once, at its best rank.
            let mut kept: Vec<&Route> = Vec::new();
            routes.retain(|(_, route)| {
                let seen = kept.iter().any(|known| {
                    known.name == route.name
                        && known.origin == route.origin
                        && known.matches == route.matches
                });
                if !seen {
                    kept.push(route);
                }
                !seen
            });
            builder.virtual_host(port, host).routes.extend(
                routes
                    .into_iter()
                    .map(|(_, route)| std::sync::Arc::new(route.clone())),
            );
        }
    }
}

/// Orders listener hostnames from the most specific: exact names, then
/// wildcards by length, then none.
fn specificity(hostname: Option<&str>) -> (u8, std::cmp::Reverse<usize>) {
    match hostname {
        None => (2, std::cmp::Reverse(0)),
        Some(name) if name.starts_with('*') => (1, std::cmp::Reverse(name.len())),
        Some(name) => (0, std::cmp::Reverse(name.len())),
    }
}

enum AnyRoute<'a> {
    Http(&'a vestibule_api::HttpRoute),
    Grpc(&'a vestibule_api::GrpcRoute),
}

/// HTTPRoutes then GRPCRoutes, oldest first, then by `{namespace}/{name}`
/// (the order [`crate::by_creation`] gives each kind).
fn by_creation<'a>(
    http: &'a [vestibule_api::HttpRoute],
    grpc: &'a [vestibule_api::GrpcRoute],
) -> Vec<AnyRoute<'a>> {
    // Borrowed keys: a key built per comparison allocated three strings
    // each time, O(n log n) of them.
    let key = |route: &AnyRoute<'a>| -> (&'a str, &'a str, &'a str) {
        let meta = match route {
            AnyRoute::Http(r) => &r.meta,
            AnyRoute::Grpc(r) => &r.meta,
        };
        (
            meta.creation_timestamp.as_deref().unwrap_or(""),
            &meta.namespace,
            &meta.name,
        )
    };
    let mut all: Vec<AnyRoute<'a>> = crate::by_creation(http)
        .into_iter()
        .map(AnyRoute::Http)
        .chain(crate::by_creation(grpc).into_iter().map(AnyRoute::Grpc))
        .collect();
    // Two sorted runs: the stable sort merges them.
    all.sort_by(|a, b| key(a).cmp(&key(b)));
    all
}

/// Host names served per listener by accepted routes, with their kind.
type Claims = Vec<(usize, String, RouteKind)>;

/// What attaching routes accumulates.
struct State<'s> {
    builder: &'s mut TableBuilder,
    statuses: &'s mut Statuses,
    gathered: &'s mut Gathered,
    claims: &'s mut Claims,
}

struct Env<'a, 'r> {
    inputs: &'a Inputs,
    registry: &'a Registry<'r>,
    listeners: &'a [GatewayListener],
    gateways: &'a [ServedGateway],
    labels: &'a BTreeMap<&'a str, &'a BTreeMap<String, String>>,
    /// The writer of the status of a parentRef that names no Gateway this
    /// gateway serves (a Service parent, refused).
    default_controller: &'a str,
}

impl Env<'_, '_> {
    /// The status entry of one parentRef of a route in `namespace`: the
    /// reference, and its Gateway's class controller as the writer.
    fn parent_status(
        &self,
        parent: &ParentReference,
        namespace: &str,
        conditions: Vec<Condition>,
    ) -> RouteParentStatus {
        let parent_ref = status_ref(parent, namespace);
        let controller = self
            .gateways
            .iter()
            .find(|g| g.namespace == parent_ref.namespace && g.name == parent_ref.name)
            .map_or(self.default_controller, |g| g.controller.as_str());
        RouteParentStatus {
            parent_ref,
            controller_name: controller.to_owned(),
            conditions,
        }
    }
}

/// Attaches one route through each of its parentRefs, converts it once if
/// it attached anywhere, and returns its status (`None` when no parent is
/// ours).
fn attach_route<S>(
    env: &Env<'_, '_>,
    route: &Resource<S>,
    kind: RouteKind,
    parents: &[ParentReference],
    hostnames: &[String],
    state: &mut State<'_>,
    convert: impl FnOnce(&mut Context<'_, '_>) -> Vec<(Precedence, Route)>,
) -> Option<RouteStatus> {
    let generation = route.meta.generation;
    let mut parent_statuses = Vec::new();
    let mut attached: Vec<(usize, attach::Attachment)> = Vec::new();
    for (parent_index, parent) in parents.iter().enumerate() {
        match attach(
            kind,
            route.namespace(),
            hostnames,
            parent,
            env.listeners,
            env.gateways,
            env.labels,
        ) {
            Outcome::NotOurs => {}
            Outcome::Rejected(condition) => parent_statuses.push((parent_index, Some(condition))),
            Outcome::Attached(attachments) => match other_kind(state.claims, kind, &attachments) {
                Some(condition) => parent_statuses.push((parent_index, Some(condition))),
                None => {
                    parent_statuses.push((parent_index, None));
                    attached.extend(attachments.into_iter().map(|a| (parent_index, a)));
                }
            },
        }
    }
    if parent_statuses.is_empty() {
        return None;
    }
    let mut problems = Problems::default();
    let routes = if attached.is_empty() {
        Vec::new()
    } else {
        let mut cx = Context {
            grants: &env.inputs.reference_grants,
            registry: env.registry,
            builder: state.builder,
            problems: &mut problems,
            kind: kind.name(),
            namespace: route.namespace(),
            force_h2c: kind == RouteKind::Grpc,
        };
        convert(&mut cx)
    };
    // Rules with unsupported values were dropped; the route stands if any
    // rule is left.
    let accepted = problems.unsupported.is_none() || problems.valid_rules > 0;
    if accepted {
        place(env, &attached, &routes, state.gathered, state.statuses);
        for (_, attachment) in &attached {
            for host in &attachment.hostnames {
                state.claims.push((attachment.listener, host.clone(), kind));
            }
        }
    }
    let partially_invalid = match &problems.unsupported {
        Some(message) if accepted => Some(Condition::new(
            "PartiallyInvalid",
            true,
            "UnsupportedValue",
            format!(
                "{} of {} rules dropped: {message}",
                problems.dropped_rules,
                problems.dropped_rules + problems.valid_rules
            ),
        )),
        _ => None,
    };
    let resolved = match &problems.refs {
        Some((reason, message)) => Condition::new("ResolvedRefs", false, reason, message.clone()),
        None => Condition::new("ResolvedRefs", true, "ResolvedRefs", ""),
    };
    let parents = parent_statuses
        .into_iter()
        .map(|(index, rejected)| {
            let accepted_condition = match (rejected, &problems.unsupported) {
                (Some(condition), _) => condition,
                (None, Some(message)) if !accepted => {
                    Condition::new("Accepted", false, "UnsupportedValue", message.clone())
                }
                (None, _) => Condition::new("Accepted", true, "Accepted", ""),
            };
            let mut conditions = vec![
                accepted_condition.at_generation(generation),
                resolved.clone().at_generation(generation),
            ];
            if let Some(partially_invalid) = &partially_invalid {
                conditions.push(partially_invalid.clone().at_generation(generation));
            }
            env.parent_status(&parents[index], route.namespace(), conditions)
        })
        .collect();
    Some(RouteStatus {
        kind: kind.name().to_owned(),
        namespace: route.namespace().to_owned(),
        name: route.name().to_owned(),
        source: route.source.to_string(),
        parents,
    })
}

/// "If a Route (A) of type HTTPRoute or GRPCRoute is attached to a Listener
/// and that listener already has another Route (B) of the other type
/// attached and the intersection of the hostnames of A and B is non-empty,
/// then the implementation MUST accept exactly one of these two routes"
/// (the older; routes are attached oldest first): the refusal for A's
/// parentRef, or `None`.
fn other_kind(
    claims: &Claims,
    kind: RouteKind,
    attachments: &[attach::Attachment],
) -> Option<Condition> {
    let clash = attachments.iter().find_map(|attachment| {
        claims.iter().find_map(|(listener, claimed, claimed_kind)| {
            let overlaps = *listener == attachment.listener
                && *claimed_kind != kind
                && attachment
                    .hostnames
                    .iter()
                    .any(|host| crate::hosts::intersect(host, claimed).is_some());
            overlaps.then_some((claimed, *claimed_kind))
        })
    })?;
    let (host, other) = clash;
    Some(Condition::new(
        "Accepted",
        false,
        "NotAllowedByListeners",
        format!(
            "an older {} serves the overlapping host name {host} on this listener",
            other.name()
        ),
    ))
}

/// Puts a route's IR routes under each (port, host) it attached to, once,
/// and counts it on each listener it attached to.
fn place(
    env: &Env<'_, '_>,
    attached: &[(usize, attach::Attachment)],
    routes: &[(Precedence, Route)],
    gathered: &mut Gathered,
    statuses: &mut Statuses,
) {
    let mut counted = BTreeSet::new();
    let mut placed = BTreeSet::new();
    for (_, attachment) in attached {
        let listener = &env.listeners[attachment.listener];
        if counted.insert(attachment.listener) {
            let status =
                &mut statuses.gateways[listener.status].listeners[listener.status_listener];
            status.attached_routes += 1;
        }
        if !listener.programmed {
            continue;
        }
        for host in &attachment.hostnames {
            if placed.insert((attachment.listener, host.clone())) {
                gathered
                    .entry((attachment.listener, host.clone()))
                    .or_default()
                    .extend(routes.iter().cloned());
            }
        }
    }
}
