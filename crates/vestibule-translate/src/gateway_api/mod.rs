//! Kubernetes Gateway API → listeners and virtual hosts, with the status
//! of every GatewayClass, Gateway, listener and route parent, as the spec
//! and its conformance suite define them.

mod attach;
mod classes;
mod grpc;
mod http;
mod listeners;
mod refs;

use std::collections::{BTreeMap, BTreeSet};

use vestibule_api::gateway_api::{ParentReference, GROUP};
use vestibule_api::{Inputs, KubeGateway, Resource};
use vestibule_ir::status::{Condition, GatewayStatus, ParentStatus, RouteStatus, Statuses};
use vestibule_ir::{ListenerProtocol, Route};

use crate::builder::TableBuilder;
use crate::services::{namespace_labels, Registry};
use crate::GatewayIdentity;
use attach::{attach, parent_key, Outcome};
use http::{Context, Precedence, Problems};
use listeners::{GatewayListener, Protocol, RouteKind};

/// Routes gathered per (port, host), sorted by precedence at the end.
type Gathered = BTreeMap<(u16, String), Vec<(Precedence, Route)>>;

pub(crate) fn translate(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    statuses: &mut Statuses,
) {
    let served = classes::served(inputs, identity, statuses);
    let (listeners, gateways) = gateways(inputs, &served, builder, statuses);
    let labels = namespace_labels(inputs);
    let mut gathered = Gathered::new();
    let env = Env {
        inputs,
        registry,
        listeners: &listeners,
        gateways: &gateways,
        labels: &labels,
    };
    for route in crate::by_creation(&inputs.http_routes) {
        let status = attach_route(
            &env,
            route,
            RouteKind::Http,
            &route.spec.parent_refs,
            &route.spec.hostnames,
            builder,
            statuses,
            &mut gathered,
            |cx| http::routes(route, cx),
        );
        statuses.routes.extend(status);
    }
    for route in crate::by_creation(&inputs.grpc_routes) {
        let status = attach_route(
            &env,
            route,
            RouteKind::Grpc,
            &route.spec.parent_refs,
            &route.spec.hostnames,
            builder,
            statuses,
            &mut gathered,
            |cx| grpc::routes(route, cx),
        );
        statuses.routes.extend(status);
    }
    for ((port, host), mut routes) in gathered {
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        builder
            .virtual_host(port, &host)
            .routes
            .extend(routes.into_iter().map(|(_, route)| route));
    }
}

struct Env<'a, 'r> {
    inputs: &'a Inputs,
    registry: &'a Registry<'r>,
    listeners: &'a [GatewayListener],
    gateways: &'a [(String, String)],
    labels: &'a BTreeMap<&'a str, &'a BTreeMap<String, String>>,
}

/// Gateways of served classes: their listeners (HTTP ones declared on the
/// table) and their status.
fn gateways(
    inputs: &Inputs,
    served: &BTreeSet<String>,
    builder: &mut TableBuilder,
    statuses: &mut Statuses,
) -> (Vec<GatewayListener>, Vec<(String, String)>) {
    let mut all = Vec::new();
    let mut keys = Vec::new();
    for gateway in crate::by_creation(&inputs.kube_gateways) {
        if !served.contains(&gateway.spec.gateway_class_name) {
            continue;
        }
        let index = statuses.gateways.len();
        let mut status = new_status(gateway);
        let found = listeners::listeners(inputs, gateway, index, &mut status);
        for listener in &found {
            if listener.programmed && listener.protocol == Protocol::Http {
                builder.listener(listener.port, ListenerProtocol::Http);
            }
        }
        status.conditions = gateway_conditions(gateway, &found);
        statuses.gateways.push(status);
        keys.push((gateway.namespace().to_owned(), gateway.name().to_owned()));
        all.extend(found);
    }
    (all, keys)
}

fn new_status(gateway: &KubeGateway) -> GatewayStatus {
    GatewayStatus {
        kind: "Gateway".to_owned(),
        api_group: GROUP.to_owned(),
        namespace: gateway.namespace().to_owned(),
        name: gateway.name().to_owned(),
        conditions: Vec::new(),
        listeners: Vec::new(),
        addresses: gateway
            .spec
            .addresses
            .iter()
            .map(|a| a.value.clone())
            .collect(),
    }
}

fn gateway_conditions(gateway: &KubeGateway, listeners: &[GatewayListener]) -> Vec<Condition> {
    let generation = gateway.meta.generation;
    let declared = gateway.spec.listeners.len();
    let valid = listeners.iter().filter(|l| l.usable).count();
    let accepted = if declared > 0 && valid == 0 {
        Condition::new(
            "Accepted",
            false,
            "ListenersNotValid",
            "no listener is valid",
        )
    } else if valid < declared {
        Condition::new(
            "Accepted",
            true,
            "ListenersNotValid",
            "some listeners are not valid",
        )
    } else {
        Condition::new("Accepted", true, "Accepted", "")
    };
    let programmed = if listeners.iter().any(|l| l.programmed) {
        Condition::new("Programmed", true, "Programmed", "")
    } else {
        Condition::new("Programmed", false, "Invalid", "no listener is programmed")
    };
    vec![
        accepted.at_generation(generation),
        programmed.at_generation(generation),
    ]
}

/// Attaches one route through each of its parentRefs, converts it once if
/// it attached anywhere, and returns its status (`None` when no parent is
/// ours).
#[allow(clippy::too_many_arguments)]
fn attach_route<S>(
    env: &Env<'_, '_>,
    route: &Resource<S>,
    kind: RouteKind,
    parents: &[ParentReference],
    hostnames: &[String],
    builder: &mut TableBuilder,
    statuses: &mut Statuses,
    gathered: &mut Gathered,
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
            Outcome::Attached(attachments) => {
                parent_statuses.push((parent_index, None));
                attached.extend(attachments.into_iter().map(|a| (parent_index, a)));
            }
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
            builder,
            problems: &mut problems,
            kind: kind.name(),
            namespace: route.namespace(),
            force_h2c: kind == RouteKind::Grpc,
        };
        convert(&mut cx)
    };
    let accepted = problems.unsupported.is_none();
    if accepted {
        place(env, &attached, &routes, gathered, statuses);
    }
    let resolved = match &problems.refs {
        Some((reason, message)) => Condition::new("ResolvedRefs", false, reason, message.clone()),
        None => Condition::new("ResolvedRefs", true, "ResolvedRefs", ""),
    };
    let parents = parent_statuses
        .into_iter()
        .map(|(index, rejected)| {
            let accepted_condition = match (rejected, &problems.unsupported) {
                (Some(condition), _) => condition,
                (None, Some(message)) => {
                    Condition::new("Accepted", false, "UnsupportedValue", message.clone())
                }
                (None, None) => Condition::new("Accepted", true, "Accepted", ""),
            };
            ParentStatus {
                parent_ref: parent_key(&parents[index], route.namespace()),
                conditions: vec![
                    accepted_condition.at_generation(generation),
                    resolved.clone().at_generation(generation),
                ],
            }
        })
        .collect();
    Some(RouteStatus {
        kind: kind.name().to_owned(),
        namespace: route.namespace().to_owned(),
        name: route.name().to_owned(),
        parents,
    })
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
            if placed.insert((listener.port, host.clone())) {
                gathered
                    .entry((listener.port, host.clone()))
                    .or_default()
                    .extend(routes.iter().cloned());
            }
        }
    }
}
