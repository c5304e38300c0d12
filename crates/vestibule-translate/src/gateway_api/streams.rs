//! TLSRoute and TCPRoute → connection routes of TLS and TCP listeners,
//! with their parent statuses and the listeners' `attachedRoutes`.
//! - A TLSRoute attaches to TLS listeners (Passthrough, and Terminate); its
//!   `hostnames` meet the listener's hostname and become the SNI names it
//!   takes. On one port, more specific names go first (exact, then longer
//!   wildcards, then every name), then older routes.
//! - A TCPRoute attaches to TCP listeners by port alone; the first route of
//!   a listener takes its connections.
//! - Backends: every rule's weighted `backendRefs` (a TCPRoute's first
//!   rule's), resolved as HTTPRoute backends are; a share whose reference
//!   cannot be used refuses its connections (`ResolvedRefs=False`).

use std::collections::BTreeSet;

use vestibule_api::gateway_api::{L4RouteSpec, GROUP};
use vestibule_api::Resource;
use vestibule_ir::status::{Condition, RouteStatus, Statuses};
use vestibule_ir::{HostPattern, RouteOrigin, StreamRoute, WeightedBackend};

use super::attach::{attach, Attachment, Outcome};
use super::listeners::RouteKind;
use super::refs::{self, From, RefProblem};
use super::Env;
use crate::builder::{stream_share, TableBuilder};

pub(super) fn translate(env: &Env<'_, '_>, builder: &mut TableBuilder, statuses: &mut Statuses) {
    let mut placed: Vec<Placed> = Vec::new();
    let routes = crate::by_creation(&env.inputs.tls_routes)
        .into_iter()
        .map(|route| (route, RouteKind::Tls))
        .chain(
            crate::by_creation(&env.inputs.tcp_routes)
                .into_iter()
                .map(|route| (route, RouteKind::Tcp)),
        );
    for (route, kind) in routes {
        if let Some(status) = attach_route(env, route, kind, builder, statuses, &mut placed) {
            statuses.routes.push(status);
        }
    }
    // Stable: routes of equal rank keep their creation order.
    placed.sort_by_key(|p| (p.port, rank(&p.route.server_names)));
    for Placed { port, route } in placed {
        builder.stream_route(port, route);
    }
}

struct Placed {
    port: u16,
    route: StreamRoute,
}

/// Exact SNI names first (they cannot overlap), then wildcards, longest
/// first, then every name.
fn rank(names: &[HostPattern]) -> (u8, std::cmp::Reverse<usize>) {
    match names.first() {
        Some(HostPattern::Exact(_)) => (0, std::cmp::Reverse(0)),
        Some(HostPattern::Suffix(suffix) | HostPattern::SingleLabel(suffix)) => {
            (1, std::cmp::Reverse(suffix.len()))
        }
        Some(HostPattern::Any) | None => (2, std::cmp::Reverse(0)),
    }
}

fn attach_route(
    env: &Env<'_, '_>,
    route: &Resource<L4RouteSpec>,
    kind: RouteKind,
    builder: &mut TableBuilder,
    statuses: &mut Statuses,
    placed: &mut Vec<Placed>,
) -> Option<RouteStatus> {
    // A TCP connection has no SNI: TCPRoutes have no hostnames.
    let hostnames: &[String] = match kind {
        RouteKind::Tls => &route.spec.hostnames,
        _ => &[],
    };
    let mut parents = Vec::new();
    let mut attached: Vec<Attachment> = Vec::new();
    for (index, parent) in route.spec.parent_refs.iter().enumerate() {
        let outcome = attach(
            kind,
            route.namespace(),
            hostnames,
            parent,
            env.listeners,
            env.gateways,
            env.labels,
        );
        match outcome {
            Outcome::NotOurs => {}
            Outcome::Rejected(condition) => parents.push((index, Some(condition))),
            Outcome::Attached(attachments) => {
                parents.push((index, None));
                attached.extend(attachments);
            }
        }
    }
    if parents.is_empty() {
        return None;
    }
    let mut problem = None;
    if !attached.is_empty() {
        let backends = backends(env, route, kind, builder, &mut problem);
        place(env, route, kind, &attached, &backends, statuses, placed);
    }
    Some(status(env, route, kind, parents, problem))
}

/// The weighted backends of the route's rules.
fn backends(
    env: &Env<'_, '_>,
    route: &Resource<L4RouteSpec>,
    kind: RouteKind,
    builder: &mut TableBuilder,
    problem: &mut Option<RefProblem>,
) -> Vec<WeightedBackend> {
    let rules = match kind {
        RouteKind::Tcp => &route.spec.rules[..route.spec.rules.len().min(1)],
        _ => &route.spec.rules[..],
    };
    let from = From {
        group: GROUP,
        kind: kind.name(),
        namespace: route.namespace(),
    };
    let mut shares = Vec::new();
    for backend_ref in rules.iter().flat_map(|rule| &rule.backend_refs) {
        let weight = u32::try_from(backend_ref.weight.unwrap_or(1)).unwrap_or(0);
        let key = refs::backend(
            &backend_ref.reference(),
            &from,
            &env.inputs.reference_grants,
            env.registry,
            builder,
            false,
        );
        let key = key.map_err(|found| problem.get_or_insert(found)).ok();
        shares.push(stream_share(key, weight));
    }
    // "If there are no backendRefs, or all weights are 0, the connection
    // MUST be rejected."
    if shares.iter().all(|share| share.weight == 0) {
        return vec![stream_share(None, 1)];
    }
    shares
}

/// One connection route per (port, SNI name) the route is served under,
/// once; each listener it attached to counts it.
fn place(
    env: &Env<'_, '_>,
    route: &Resource<L4RouteSpec>,
    kind: RouteKind,
    attached: &[Attachment],
    backends: &[WeightedBackend],
    statuses: &mut Statuses,
    placed: &mut Vec<Placed>,
) {
    let mut counted = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for attachment in attached {
        let listener = &env.listeners[attachment.listener];
        if counted.insert(attachment.listener) {
            statuses.gateways[listener.status].listeners[listener.status_listener]
                .attached_routes += 1;
        }
        if !listener.programmed {
            continue;
        }
        let names: Vec<&str> = match kind {
            RouteKind::Tls => attachment.hostnames.iter().map(String::as_str).collect(),
            _ => vec!["*"],
        };
        for name in names {
            if !seen.insert((listener.port, name.to_owned())) {
                continue;
            }
            let pattern = HostPattern::parse(name, false);
            placed.push(Placed {
                port: listener.port,
                route: StreamRoute {
                    name: format!("{}.{}", route.namespace(), route.name()),
                    origin: RouteOrigin {
                        kind: kind.name(),
                        namespace: route.namespace().to_owned(),
                        name: route.name().to_owned(),
                    },
                    server_names: if pattern == HostPattern::Any {
                        Vec::new()
                    } else {
                        vec![pattern]
                    },
                    backends: backends.to_vec(),
                },
            });
        }
    }
}

fn status(
    env: &Env<'_, '_>,
    route: &Resource<L4RouteSpec>,
    kind: RouteKind,
    parents: Vec<(usize, Option<Condition>)>,
    problem: Option<RefProblem>,
) -> RouteStatus {
    let generation = route.meta.generation;
    let resolved = match problem {
        Some((reason, message)) => Condition::new("ResolvedRefs", false, reason, message),
        None => Condition::new("ResolvedRefs", true, "ResolvedRefs", ""),
    };
    RouteStatus {
        kind: kind.name().to_owned(),
        namespace: route.namespace().to_owned(),
        name: route.name().to_owned(),
        source: route.source.to_string(),
        parents: parents
            .into_iter()
            .map(|(index, rejected)| {
                let conditions = vec![
                    rejected
                        .unwrap_or_else(|| Condition::new("Accepted", true, "Accepted", ""))
                        .at_generation(generation),
                    resolved.clone().at_generation(generation),
                ];
                env.parent_status(
                    &route.spec.parent_refs[index],
                    route.namespace(),
                    conditions,
                )
            })
            .collect(),
    }
}
