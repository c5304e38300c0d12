//! Istio `Gateway` + `VirtualService` → listeners and virtual hosts, merged
//! the way Istio builds a gateway's route configuration
//! (`pilot/pkg/networking/core/gateway.go`):
//! - all plain-text HTTP servers on one port share one route table;
//! - HTTPS and TLS servers are TLS servers of their port, picked by SNI; a
//!   later server repeating a host of an earlier one on the port is dropped;
//!   HTTPS servers carry `http` routes as HTTP servers do;
//! - `tls` routes (passthrough, by SNI) and `tcp` routes (TCP servers and
//!   terminating TLS servers) become connection routes (`streams`);
//! - one virtual host per host in (server hosts ∩ VirtualService hosts);
//! - several VirtualServices for one host are concatenated oldest first,
//!   then every catch-all route moves to the end; the first match wins;
//! - a VirtualService without hosts is a delegate, served only through the
//!   VirtualServices that delegate to it (see [`delegates`]);
//! - a VirtualService not exported to the gateway's namespace is not
//!   applied.

mod bound;
mod delegates;
mod faults;
mod gateway;
mod matches;
mod memo;
mod retries;
mod rules;
mod streams;
mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;

use vestibule_api::{Inputs, VirtualService};
use vestibule_ir::status::{Condition, ResourceStatus, Statuses, Warning};
use vestibule_ir::{PathMatch, Route};

use crate::builder::TableBuilder;
use crate::secrets::SecretStore;
use crate::services::Registry;
use crate::GatewayIdentity;
use bound::{Bound, Placement};
use gateway::{GatewayKey, GatewayServer};
pub(crate) use memo::{Bindings, Memo};
use rules::{CandidateRoute, Rule};

pub(crate) fn translate(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    registry: &Registry<'_>,
    store: &SecretStore<'_>,
    builder: &mut TableBuilder,
    statuses: &mut Statuses,
    memo: &mut Memo,
) {
    let servers = selected_servers(inputs, identity, store, builder, statuses);
    let delegates = delegates::Index::new(inputs, identity, registry);
    let context = Context {
        identity,
        servers: &servers,
        registry,
        delegates: &delegates,
    };
    let mut attached = Attached::new();
    for vs in crate::by_creation(&inputs.virtual_services) {
        let status = if vs.spec.hosts.is_empty() {
            Arc::new(delegates.status(vs))
        } else {
            let mut status = bind_or_replay(vs, &context, builder, &mut attached, memo);
            let hosted = delegates.hosted_warnings(vs);
            if !hosted.is_empty() {
                Arc::make_mut(&mut status).warnings.extend(hosted);
            }
            status
        };
        statuses.virtual_services.push(status);
    }
    for ((gateway, index), count) in attached {
        let status = statuses.gateways.iter_mut().find(|s| {
            s.api_group == "networking.istio.io"
                && (s.namespace.as_str(), s.name.as_str())
                    == (gateway.0.as_str(), gateway.1.as_str())
        });
        if let Some(listener) = status.and_then(|status| status.listeners.get_mut(index)) {
            listener.attached_routes = count;
        }
    }
    builder.arrange_routes(move_catch_alls_last);
}

/// Servers of the Gateways that select this workload, with a status for
/// every Gateway. Declares their listener ports and TLS servers.
fn selected_servers(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    store: &SecretStore<'_>,
    builder: &mut TableBuilder,
    statuses: &mut Statuses,
) -> Vec<GatewayServer> {
    let mut servers = Vec::new();
    for gateway in crate::by_creation(&inputs.gateways) {
        let selected = gateway::selects(gateway, identity);
        let mut status = gateway::new_status(gateway, selected);
        if selected {
            for server in gateway::servers(gateway, identity, store, &mut status) {
                match declare(&server, builder) {
                    Ok(()) => servers.push(server),
                    Err((reason, message)) => {
                        let listener = &mut status.listeners[server.status_index];
                        listener.conditions =
                            vec![Condition::new("Accepted", false, reason, message)
                                .at_generation(gateway.meta.generation)];
                    }
                }
            }
        }
        statuses.gateways.push(status);
    }
    servers
}

/// Declares a server's port and TLS server, or says why it is dropped: its
/// port already speaks another protocol, or (Istio "duplicate host names")
/// one of its SNI names is already served on the port by an earlier server.
fn declare(
    server: &GatewayServer,
    builder: &mut TableBuilder,
) -> Result<(), (&'static str, String)> {
    let port = server.port;
    if let Some(tls) = &server.tls {
        let taken = builder.sni_taken(port, &tls.server_names);
        if let Some((host, earlier)) = taken {
            return Err((
                "DuplicateHost",
                format!("host {host} is already served on port {port} by TLS server {earlier}"),
            ));
        }
    }
    if !builder.listener(port, server.protocol) {
        return Err((
            "ProtocolConflict",
            format!("port {port} is already used with another protocol"),
        ));
    }
    if let Some(tls) = &server.tls {
        builder.tls_server(port, tls.clone());
    }
    Ok(())
}

/// What binding a VirtualService looks at besides the VirtualService.
struct Context<'c, 'a> {
    identity: &'c GatewayIdentity,
    servers: &'c [GatewayServer],
    registry: &'c Registry<'a>,
    delegates: &'c delegates::Index<'a>,
}

/// Per Gateway listener (by Gateway and status index), how many
/// VirtualServices are attached to it.
type Attached<'c> = BTreeMap<(&'c GatewayKey, usize), u32>;

/// Counts one VirtualService attached to each listener of `indices` (of
/// `servers`), once per listener; `indices` is left with one server per
/// listener, for the same count again.
fn attach<'c>(indices: &mut Vec<usize>, servers: &'c [GatewayServer], attached: &mut Attached<'c>) {
    let listener = |index: &usize| {
        let server = &servers[*index];
        (&server.gateway, server.status_index)
    };
    indices.sort_by(|a, b| listener(a).cmp(&listener(b)));
    indices.dedup_by(|a, b| listener(a) == listener(b));
    for index in indices.iter() {
        *attached.entry(listener(index)).or_default() += 1;
    }
}

/// Binds `vs`, or adds again what its last binding added when `memo` has
/// one for it; keeps the binding in `memo` for the next translation.
fn bind_or_replay<'c>(
    vs: &VirtualService,
    context: &Context<'c, '_>,
    builder: &mut TableBuilder,
    attached: &mut Attached<'c>,
    memo: &mut Memo,
) -> Arc<ResourceStatus> {
    if let Some(status) = memo.replay(vs, context.servers, builder, attached) {
        return status;
    }
    memo.count_bound();
    if !memo.keeps() {
        return Arc::new(bind_virtual_service(vs, context, builder, attached, None));
    }
    let mut bound = Bound::new();
    let status = Arc::new(bind_virtual_service(
        vs,
        context,
        builder,
        attached,
        Some(&mut bound),
    ));
    bound.status = Arc::clone(&status);
    memo.keep(vs, bound);
    status
}

/// Binds `vs`; what it adds is also noted in `record`, when given.
fn bind_virtual_service<'c>(
    vs: &VirtualService,
    context: &Context<'c, '_>,
    builder: &mut TableBuilder,
    attached: &mut Attached<'c>,
    mut record: Option<&mut Bound>,
) -> ResourceStatus {
    let Context {
        identity,
        servers,
        registry,
        delegates,
    } = *context;
    let mut status = ResourceStatus {
        namespace: vs.namespace().to_owned(),
        name: vs.name().to_owned(),
        source: vs.source.to_string(),
        conditions: Vec::new(),
        warnings: Vec::new(),
    };
    let generation = vs.meta.generation;
    let gateways: Vec<GatewayKey> = vs
        .spec
        .gateways
        .iter()
        .filter_map(|gateway| rules::gateway_key(gateway, vs.namespace()))
        .collect();
    // Backends are added to lent ones until the whole VirtualService is
    // known to be valid: a rejected one must not leave backends behind.
    let mut scratch = builder.lend_backends(record.is_some());
    let mut delegation = Vec::new();
    let converted = delegates::expand(vs, delegates, registry, &mut delegation).and_then(|rules| {
        let http = rules::convert(vs, &rules, identity, registry, &mut scratch)?;
        let streams = streams::convert(vs, &gateways, servers, registry, &mut scratch)?;
        Ok((rules, http, streams))
    });
    let refused = converted
        .is_ok()
        .then(|| not_exported(vs, identity))
        .flatten();
    // A VirtualService with only tls or tcp rules binds no virtual host.
    let binds_http = !vs.spec.http.is_empty() || (vs.spec.tls.is_empty() && vs.spec.tcp.is_empty());
    let bindings = match &converted {
        Ok((rules, _, _)) if binds_http && refused.is_none() => {
            bindings(vs, rules, &gateways, servers)
        }
        _ => Vec::new(),
    };
    let unbound = bindings.is_empty()
        && converted
            .as_ref()
            .is_ok_and(|(_, _, s)| s.placed.is_empty());
    let accepted = converted.is_ok() && refused.is_none() && !unbound;
    let used = builder.restore_backends(scratch, accepted);
    if let Some(message) = refused {
        status.conditions.push(
            Condition::new("Accepted", false, "NotExported", message.clone())
                .at_generation(generation),
        );
        status.warnings.push(Warning::not_applied(message));
        return status;
    }
    if unbound {
        status
            .conditions
            .push(not_bound(&gateways).at_generation(generation));
        return status;
    }
    let (converted, streams) = match converted {
        Ok((_, converted, streams)) => (converted, streams),
        Err((field, message)) => {
            status.conditions.push(
                Condition::new("Accepted", false, "Invalid", format!("{field}: {message}"))
                    .at_generation(generation),
            );
            return status;
        }
    };
    status.warnings = delegation;
    status.warnings.extend(converted.warnings);
    status.warnings.extend(streams.warnings);
    if let Some(record) = record.as_deref_mut() {
        record.backends = used;
    }
    let mut counted = Vec::new();
    let mut count = |index: usize| counted.push(index);
    let mut candidates = converted.routes;
    let last = bindings.len().saturating_sub(1);
    for (position, binding) in bindings.iter().enumerate() {
        let bound: Vec<&GatewayServer> = binding
            .servers
            .iter()
            .map(|&index| &servers[index])
            .collect();
        binding.servers.iter().for_each(|&index| count(index));
        let admitted = |candidate: &CandidateRoute| admits(candidate, &gateways, &bound);
        // The last binding takes the routes; the others get copies.
        let routes = if position == last {
            std::mem::take(&mut candidates)
                .into_iter()
                .filter(|candidate| admitted(candidate))
                .map(|candidate| candidate.route)
                .collect()
        } else {
            candidates
                .iter()
                .filter(|candidate| admitted(candidate))
                .map(|candidate| candidate.route.clone())
                .collect()
        };
        place_http(binding, &bound, routes, builder, record.as_deref_mut());
    }
    for placed in streams.placed {
        placed.servers.iter().for_each(|&index| count(index));
        if let Some(record) = record.as_deref_mut() {
            record.streams.push((placed.port, placed.route.clone()));
        }
        builder.stream_route(placed.port, placed.route);
    }
    attach(&mut counted, servers, attached);
    if let Some(record) = record {
        record.servers = counted;
    }
    status
        .conditions
        .push(Condition::new("Accepted", true, "Accepted", "").at_generation(generation));
    status
}

/// Adds the routes a binding gets to its virtual host, which requires TLS
/// when a server offering it has `httpsRedirect`; notes them in `record`.
fn place_http(
    binding: &Binding,
    bound: &[&GatewayServer],
    routes: Vec<Route>,
    builder: &mut TableBuilder,
    record: Option<&mut Bound>,
) {
    let require_tls = bound.iter().any(|server| server.https_redirect);
    // Shared with `record`: shrunk now, as it will not be alone later.
    let routes: Vec<Arc<Route>> = routes
        .into_iter()
        .map(|mut route| {
            route.shrink_to_fit();
            Arc::new(route)
        })
        .collect();
    let vhost = builder.virtual_host(binding.port, &binding.domain);
    if let Some(record) = record {
        record.http.push(Placement {
            port: binding.port,
            domain: vhost.domains[0].clone(),
            name: vhost.name.as_str().into(),
            routes: routes.clone(),
            require_tls,
        });
    }
    if vhost.routes.is_empty() {
        // Taken at its length, not extended into room for four.
        vhost.routes = routes;
    } else {
        vhost.routes.extend(routes);
    }
    vhost.require_tls |= require_tls;
}

/// Why the gateway does not see `vs`: it is not exported to the gateway's
/// namespace (Istio `exportTo`).
fn not_exported(vs: &VirtualService, identity: &GatewayIdentity) -> Option<String> {
    let export_to = &vs.spec.export_to;
    let namespace = &identity.namespace;
    (!crate::visibility::exported_to(export_to, vs.namespace(), namespace))
        .then(|| crate::visibility::not_exported_to_gateway(export_to, namespace))
}

/// Why a VirtualService binds no server.
fn not_bound(gateways: &[GatewayKey]) -> Condition {
    if gateways.is_empty() {
        Condition::new(
            "Accepted",
            false,
            "MeshOnly",
            "binds no ingress gateway (gateways is empty or only `mesh`)",
        )
    } else {
        Condition::new(
            "Accepted",
            false,
            "NoMatchingGateway",
            "no server of a Gateway it names, selected by this workload, has a matching host",
        )
    }
}

struct Binding {
    port: u16,
    domain: String,
    /// Every server on `port` that offers `domain` to the VirtualService.
    servers: Vec<usize>,
}

/// The (port, domain) pairs a VirtualService is served on: servers of the
/// Gateways it names (at VirtualService or match level) whose hosts admit
/// its namespace, one domain per intersecting host pair. A domain is bound
/// once per port even when several servers (of several Gateways) offer it;
/// the binding keeps all of them, as Istio appends the routes each server's
/// Gateway gets to the one virtual host.
fn bindings(
    vs: &VirtualService,
    rules: &[Rule<'_>],
    gateways: &[GatewayKey],
    servers: &[GatewayServer],
) -> Vec<Binding> {
    let match_gateways: Vec<GatewayKey> = rules
        .iter()
        .flat_map(|rule| &rule.rule.matches)
        .flat_map(|m| &m.gateways)
        .filter_map(|gateway| rules::gateway_key(gateway, vs.namespace()))
        .collect();
    let mut found: Vec<Binding> = Vec::new();
    for (index, server) in servers.iter().enumerate() {
        if !server.serves_http() {
            continue;
        }
        if !gateways.contains(&server.gateway) && !match_gateways.contains(&server.gateway) {
            continue;
        }
        for server_host in server.hosts_for(vs.namespace()) {
            for vs_host in &vs.spec.hosts {
                let Some(domain) = crate::hosts::intersect(server_host, vs_host) else {
                    continue;
                };
                let same = |b: &&mut Binding| b.port == server.port && b.domain == domain;
                match found.iter_mut().find(same) {
                    Some(binding) if binding.servers.contains(&index) => {}
                    Some(binding) => binding.servers.push(index),
                    None => found.push(Binding {
                        port: server.port,
                        domain,
                        servers: vec![index],
                    }),
                }
            }
        }
    }
    found
}

/// Whether a binding gets a route (the routes it gets keep rule order):
/// one of its servers admits it, i.e. the route's match-level `gateways`
/// (or else the VirtualService's) include the server's Gateway, and its
/// match-level `port` (if any) is the server's port.
fn admits(candidate: &CandidateRoute, gateways: &[GatewayKey], servers: &[&GatewayServer]) -> bool {
    let names = candidate.gateways.as_deref().unwrap_or(gateways);
    servers.iter().any(|server| {
        names.contains(&server.gateway)
            && candidate
                .port
                .is_none_or(|port| port == u32::from(server.port))
    })
}

/// Istio `SortVHostRoutes`: catch-all routes (path prefix `/` or regex `*`
/// with no header or query conditions, or no match at all) go last, in
/// their relative order, so a merged VirtualService's catch-all cannot
/// shadow another's specific routes.
fn move_catch_alls_last(routes: &mut Vec<Arc<Route>>) {
    // Most virtual hosts are in order already (no catch-all, or only at
    // the end): then nothing moves, and no vector is built.
    let first = routes.iter().position(|route| is_catch_all(route));
    if first.is_none_or(|first| routes[first..].iter().all(|route| is_catch_all(route))) {
        return;
    }
    let (specific, catch_alls): (Vec<_>, Vec<_>) = std::mem::take(routes)
        .into_iter()
        .partition(|route| !is_catch_all(route));
    routes.extend(specific);
    routes.extend(catch_alls);
}

fn is_catch_all(route: &Route) -> bool {
    let Some(first) = route.matches.first() else {
        return true;
    };
    let catch_all_path = match &first.path {
        None => true,
        Some(PathMatch::Prefix { value, .. }) => value == "/",
        Some(PathMatch::SegmentPrefix { value }) => value == "/",
        Some(PathMatch::Regex { pattern }) => pattern.as_str() == "*" || pattern.as_str() == ".*",
        Some(PathMatch::Exact { .. }) => false,
    };
    let only_path = first.method.is_none()
        && first.scheme.is_none()
        && first.authority.is_none()
        && first.headers.is_empty()
        && first.query_params.is_empty();
    route.matches.len() == 1 && catch_all_path && only_path
}
