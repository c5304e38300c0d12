//! Why a host is not served where a request went: the other ports that
//! serve it, and every resource that names it but puts no rule on this
//! port's virtual host, with what the translator decided about it (its
//! status) and, for a VirtualService, where its Gateways actually are.

use vestibule_api::Inputs;
use vestibule_ir::status::{Condition, Statuses};
use vestibule_ir::{HostPattern, ListenerProtocol};
use vestibule_route::HostIndex;
use vestibule_translate::Translation;

use super::analyze::protocol;
use super::report::Reason;
use super::sources::{ResourceRef, Sources};

/// Other HTTP listeners whose host index finds `host`.
pub fn host_elsewhere(translation: &Translation, host: &str, port: u16) -> Vec<Reason> {
    translation
        .table
        .listeners
        .iter()
        .filter(|listener| listener.port != port)
        .filter(|listener| {
            matches!(
                listener.protocol,
                ListenerProtocol::Http | ListenerProtocol::Https
            )
        })
        .filter_map(|listener| {
            let vhost = HostIndex::new(&listener.virtual_hosts).find(host)?;
            Some(
                Reason::new(
                    "host_served_on_other_port",
                    format!(
                        "host {host} is served on port {} ({}) by virtual host {}",
                        listener.port,
                        protocol(listener.protocol),
                        listener.virtual_hosts[vhost].name
                    ),
                )
                .serving(vec![listener.port.to_string()]),
            )
        })
        .collect()
}

/// Every resource naming `host` that does not contribute rules to the
/// virtual host the request reached (`contributing`), and why.
pub fn host_resources(
    translation: &Translation,
    sources: &Sources<'_>,
    host: &str,
    port: u16,
    contributing: &[ResourceRef],
) -> Vec<Reason> {
    let inputs = sources.inputs();
    let statuses = &translation.statuses;
    let contributes = |kind: &str, namespace: &str, name: &str| {
        contributing
            .iter()
            .any(|r| r.kind == kind && r.namespace == namespace && r.name == name)
    };
    let mut reasons = Vec::new();
    for vs in &inputs.virtual_services {
        if !names_host(&vs.spec.hosts, host)
            || contributes("VirtualService", vs.namespace(), vs.name())
        {
            continue;
        }
        let reference = sources.reference("VirtualService", vs.namespace(), vs.name());
        let status = statuses
            .virtual_services
            .iter()
            .find(|s| s.namespace == vs.namespace() && s.name == vs.name());
        let refused = status.and_then(|s| not_accepted(&s.conditions));
        let gateway_problems = vs_gateways(inputs, statuses, sources, vs, host, port);
        let code = if gateway_problems.is_empty() {
            "not_served"
        } else {
            "bound_elsewhere"
        };
        let mut message = format!("{reference} names host {host}");
        match refused {
            Some(condition) => message.push_str(&format!(
                " but is not served ({}: {})",
                condition.reason, condition.message
            )),
            None => message.push_str(&format!(" but puts no rule on port {port} for it")),
        }
        if !gateway_problems.is_empty() {
            message.push_str(": ");
            message.push_str(&gateway_problems.join("; "));
        } else if refused.is_none() {
            message.push_str(
                ": its rules are limited to other gateways or ports (match.gateways, match.port) or were dropped (see validate)",
            );
        }
        if let Some(status) = status {
            for warning in &status.warnings {
                message.push_str(&format!("; warning: {warning}"));
            }
        }
        reasons.push(Reason::new(code, message).about(reference));
    }
    for ingress in &inputs.ingresses {
        let hosts: Vec<String> = ingress
            .spec
            .rules
            .iter()
            .map(|rule| rule.host.clone().unwrap_or_else(|| "*".to_owned()))
            .collect();
        if !names_host(&hosts, host) || contributes("Ingress", ingress.namespace(), ingress.name())
        {
            continue;
        }
        let reference = sources.reference("Ingress", ingress.namespace(), ingress.name());
        let status = statuses
            .ingresses
            .iter()
            .find(|s| s.namespace == ingress.namespace() && s.name == ingress.name());
        let message = match status.and_then(|s| not_accepted(&s.conditions)) {
            Some(condition) => format!(
                "{reference} names host {host} but is not served ({}: {})",
                condition.reason, condition.message
            ),
            None => format!("{reference} names host {host} but serves it on other ports"),
        };
        reasons.push(Reason::new("not_served", message).about(reference));
    }
    let routes = inputs
        .http_routes
        .iter()
        .map(|r| ("HTTPRoute", r.namespace(), r.name(), &r.spec.hostnames))
        .chain(
            inputs
                .grpc_routes
                .iter()
                .map(|r| ("GRPCRoute", r.namespace(), r.name(), &r.spec.hostnames)),
        );
    for (kind, namespace, name, hostnames) in routes {
        let matches_host = hostnames.is_empty() || names_host(hostnames, host);
        if !matches_host || contributes(kind, namespace, name) {
            continue;
        }
        let reference = sources.reference(kind, namespace, name);
        let status = statuses
            .routes
            .iter()
            .find(|s| s.kind == kind && s.namespace == namespace && s.name == name);
        let parents: Vec<String> = status
            .map(|s| {
                s.parents
                    .iter()
                    .map(|parent| {
                        let gateway = format!(
                            "Gateway {}/{}{}",
                            parent.parent_ref.namespace,
                            parent.parent_ref.name,
                            parent
                                .parent_ref
                                .section_name
                                .as_deref()
                                .map(|s| format!(" section {s}"))
                                .unwrap_or_default()
                        );
                        match not_accepted(&parent.conditions) {
                            Some(c) => {
                                format!("not accepted by {gateway} ({}: {})", c.reason, c.message)
                            }
                            None => format!("attached to {gateway}, on other ports"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let message = if parents.is_empty() {
            format!("{reference} names host {host} but none of its parentRefs is a Gateway this gateway serves")
        } else {
            format!(
                "{reference} names host {host} but is {}",
                parents.join("; ")
            )
        };
        reasons.push(Reason::new("bound_elsewhere", message).about(reference));
    }
    if contributing.is_empty() {
        reasons.extend(gateways_without_routes(
            inputs, statuses, sources, host, port,
        ));
    }
    reasons
}

/// Istio Gateways that list `host`: not selecting this gateway, or
/// selecting it with no VirtualService routing the host.
fn gateways_without_routes(
    inputs: &Inputs,
    statuses: &Statuses,
    sources: &Sources<'_>,
    host: &str,
    port: u16,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    for gateway in &inputs.gateways {
        let servers: Vec<_> = gateway
            .spec
            .servers
            .iter()
            .filter(|server| names_host(&server_hosts(&server.hosts), host))
            .collect();
        if servers.is_empty() {
            continue;
        }
        let reference = sources.reference("Gateway", gateway.namespace(), gateway.name());
        match gateway_refusal(statuses, gateway.namespace(), gateway.name()) {
            Some(condition) => reasons.push(
                Reason::new(
                    "not_served",
                    format!(
                        "{reference} lists host {host} but is not served ({}: {})",
                        condition.reason, condition.message
                    ),
                )
                .about(reference),
            ),
            None if servers.iter().any(|s| s.port.number == u32::from(port)) => reasons.push(
                Reason::new(
                    "no_virtual_service",
                    format!(
                        "{reference} serves host {host} on port {port}, but no VirtualService bound to it routes that host"
                    ),
                )
                .about(reference),
            ),
            None => {}
        }
    }
    reasons
}

/// What keeps a VirtualService's Gateways from serving `host` on `port`:
/// one line per Gateway it names (none when some Gateway serves it there).
fn vs_gateways(
    inputs: &Inputs,
    statuses: &Statuses,
    sources: &Sources<'_>,
    vs: &vestibule_api::VirtualService,
    host: &str,
    port: u16,
) -> Vec<String> {
    let named: Vec<&String> = vs.spec.gateways.iter().filter(|g| *g != "mesh").collect();
    if named.is_empty() {
        return vec![
            "it binds no ingress gateway (`gateways` is empty or only `mesh`, so it applies to sidecars only)"
                .to_owned(),
        ];
    }
    let mut problems = Vec::new();
    for name in named {
        let (namespace, gateway_name) = gateway_key(name, vs.namespace());
        let Some(gateway) = inputs
            .gateways
            .iter()
            .find(|g| g.namespace() == namespace && g.name() == gateway_name)
        else {
            problems.push(format!(
                "it is bound to Gateway {namespace}/{gateway_name}, which does not exist"
            ));
            continue;
        };
        let reference = sources.reference("Gateway", &namespace, &gateway_name);
        if let Some(condition) = gateway_refusal(statuses, &namespace, &gateway_name) {
            problems.push(format!(
                "it is bound to {reference}, which is not served here ({}: {})",
                condition.reason, condition.message
            ));
            continue;
        }
        let on_port: Vec<_> = gateway
            .spec
            .servers
            .iter()
            .filter(|s| s.port.number == u32::from(port))
            .collect();
        if on_port.is_empty() {
            let ports: Vec<String> = gateway
                .spec
                .servers
                .iter()
                .map(|s| s.port.number.to_string())
                .collect();
            problems.push(format!(
                "it is bound to {reference}, which has no server on port {port} (its ports: {})",
                ports.join(", ")
            ));
            continue;
        }
        let hosts: Vec<String> = on_port
            .iter()
            .flat_map(|s| server_hosts(&s.hosts))
            .collect();
        if !names_host(&hosts, host) {
            problems.push(format!(
                "it is bound to {reference}, whose server on port {port} serves hosts {} but not {host}",
                hosts.join(", ")
            ));
            continue;
        }
        // This Gateway serves the host on this port: no problem here.
        return Vec::new();
    }
    problems
}

/// An Istio gateway reference: `name` (the VirtualService's namespace),
/// `namespace/name`, or `name.namespace.svc.cluster.local`.
fn gateway_key(reference: &str, namespace: &str) -> (String, String) {
    if let Some((namespace, name)) = reference.split_once('/') {
        return (namespace.to_owned(), name.to_owned());
    }
    match reference.split_once('.') {
        Some((name, rest)) => {
            let namespace = rest.split('.').next().unwrap_or(namespace);
            (namespace.to_owned(), name.to_owned())
        }
        None => (namespace.to_owned(), reference.to_owned()),
    }
}

/// The Accepted=False condition of an Istio Gateway, if it has one.
fn gateway_refusal<'s>(
    statuses: &'s Statuses,
    namespace: &str,
    name: &str,
) -> Option<&'s Condition> {
    statuses
        .gateways
        .iter()
        .find(|s| {
            s.api_group == "networking.istio.io" && s.namespace == namespace && s.name == name
        })
        .and_then(|s| not_accepted(&s.conditions))
}

fn not_accepted(conditions: &[Condition]) -> Option<&Condition> {
    conditions
        .iter()
        .find(|c| c.kind == "Accepted" && !c.is_true())
}

/// Server hosts without their `namespace/` part.
fn server_hosts(hosts: &[String]) -> Vec<String> {
    hosts
        .iter()
        .map(|h| h.split_once('/').map_or(h.as_str(), |(_, h)| h).to_owned())
        .collect()
}

/// Whether one of `patterns` (`a.example.com`, `*.example.com`, `*`) covers `host`.
fn names_host(patterns: &[String], host: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| HostPattern::parse(pattern, false).matches(host))
}
