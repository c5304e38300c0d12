//! The walk a request takes through the routing table, step by step as the
//! proxy's request path takes it (`vestibule-proxy` `request::route`):
//! listener by port, TLS server by SNI, `normalize_host`, the listener's
//! [`HostIndex`], `httpsRedirect`, `normalize_path`, then [`select`] over
//! the virtual host's routes. Every routing decision is made by the
//! `vestibule-route` functions the proxy calls; [`explain_match`] only adds
//! why each other rule did not match.

use vestibule_ir::{HostPattern, Listener, ListenerProtocol, Route, VirtualHost};
use vestibule_route::{
    describe_match, explain_match, is_catch_all, normalize_host, normalize_path, select, HostIndex,
    MatchExplanation, RequestView,
};
use vestibule_translate::Translation;

use super::report::{
    Candidate, FailureReport, ListenerReport, Outcome, Reason, Report, RouteReport,
    VirtualHostReport,
};
use super::request::Request;
use super::sources::{ResourceRef, Sources};
use super::{action, why};

/// Explains `request` against `translation`.
pub fn explain(request: &Request, translation: &Translation, sources: &Sources<'_>) -> Report {
    let mut report = Report {
        request: request.summary(),
        outcome: outcome("no_route", Some(404), "404 Not Found"),
        listener: None,
        virtual_host: None,
        route: None,
        action: None,
        shadowed: Vec::new(),
        candidates: Vec::new(),
        reasons: Vec::new(),
        notes: Vec::new(),
    };
    let table = &translation.table;
    let host = normalize_host(&request.authority);
    let Some(listener) = table.listeners.iter().find(|l| l.port == request.port) else {
        let ports: Vec<String> = table
            .listeners
            .iter()
            .map(|l| format!("{} ({})", l.port, protocol(l.protocol)))
            .collect();
        report.outcome = outcome(
            "no_listener",
            None,
            format!(
                "no listener on port {}: the connection is refused",
                request.port
            ),
        );
        report.reasons.push(
            Reason::new(
                "no_listener",
                format!(
                    "nothing configures port {} (ports served: {})",
                    request.port,
                    list_or_none(&ports)
                ),
            )
            .serving(ports),
        );
        if let Some(host) = &host {
            report
                .reasons
                .extend(why::host_elsewhere(translation, host, request.port));
            report.reasons.extend(why::host_resources(
                translation,
                sources,
                host,
                request.port,
                &[],
            ));
        }
        return report;
    };
    report.listener = Some(listener_report(listener, translation, sources));
    if let Some(stop) = protocol_mismatch(request, listener) {
        report.outcome = stop;
        return report;
    }
    let Some(host) = host else {
        report.outcome = outcome(
            "bad_request",
            Some(400),
            format!("400 Bad Request: invalid host {:?}", request.authority),
        );
        return report;
    };
    if request.tls() {
        if let Some(stop) = tls_check(request, listener, &host, &mut report.notes) {
            report.outcome = stop;
            return report;
        }
    }
    let index = HostIndex::new(&listener.virtual_hosts);
    let Some(vhost_index) = index.find(&host) else {
        let served: Vec<String> = listener
            .virtual_hosts
            .iter()
            .flat_map(|vhost| vhost.domains.iter().map(HostPattern::to_string))
            .collect();
        report.outcome = outcome(
            "no_route",
            Some(404),
            format!(
                "404 Not Found: host {host} is not served on port {}",
                listener.port
            ),
        );
        report.reasons.push(
            Reason::new(
                "host_not_served",
                format!(
                    "host {host} is not served on port {} (hosts served there: {})",
                    listener.port,
                    list_or_none(&served)
                ),
            )
            .serving(served),
        );
        report
            .reasons
            .extend(why::host_elsewhere(translation, &host, listener.port));
        let named = why::host_resources(translation, sources, &host, listener.port, &[]);
        if named.is_empty() {
            report.reasons.push(Reason::new(
                "host_unknown",
                format!("no Gateway, VirtualService, Ingress or route names host {host}"),
            ));
        }
        report.reasons.extend(named);
        return report;
    };
    let vhost = &listener.virtual_hosts[vhost_index];
    let vhost_report = vhost_report(vhost, &host, sources);
    let contributing = vhost_report.resources.clone();
    report.virtual_host = Some(vhost_report);
    // Resources that name the host but put no rule here: bound elsewhere,
    // not served, or on another port.
    let related = why::host_resources(translation, sources, &host, listener.port, &contributing);
    if !request.tls() && vhost.require_tls {
        let location = format!("https://{}{}", request.authority, request.target);
        report.outcome = Outcome {
            kind: "https_redirect".to_owned(),
            status: Some(301),
            location: Some(location.clone()),
            summary: format!("301 Moved Permanently to {location}: the server has httpsRedirect"),
        };
        report.reasons.extend(related);
        return report;
    }
    let Ok(normalized) = normalize_path(&request.target) else {
        report.outcome = outcome(
            "bad_request",
            Some(400),
            format!("400 Bad Request: invalid path {:?}", request.target),
        );
        return report;
    };
    if normalized.path != request.target.split('?').next().unwrap_or_default() {
        report.notes.push(format!(
            "the path is matched as normalized: {}",
            normalized.path
        ));
    }
    let view = RequestView::new(
        &request.method,
        &request.scheme,
        &request.authority,
        &normalized.path,
        normalized.query,
        &request.headers,
    );
    let explained: Vec<MatchExplanation<'_>> = vhost
        .routes
        .iter()
        .map(|route| explain_match(route, &view))
        .collect();
    let selected = select(&vhost.routes, &view);
    let first = explained.iter().position(MatchExplanation::accepts);
    if first != selected.map(|s| s.route_index) {
        // Cannot happen (the same functions decide both); said rather than hidden.
        report.notes.push(format!(
            "internal: explain found rule {first:?} but the router selects {:?}",
            selected.map(|s| s.route_index)
        ));
    }
    let Some(selected) = selected else {
        no_rule_matched(&mut report, vhost, &explained, sources);
        report.reasons.extend(related);
        return report;
    };
    let route = selected.route;
    let mut matched_rule = route_report(selected.route_index, route, sources);
    matched_rule.matched = Some(
        selected
            .matched
            .map_or_else(|| "any request".to_owned(), describe_match),
    );
    report.shadowed = explained
        .iter()
        .enumerate()
        .skip(selected.route_index + 1)
        .filter(|(_, explanation)| explanation.accepts())
        .map(|(index, _)| route_report(index, &vhost.routes[index], sources))
        .collect();
    if matched_rule.catch_all && selected.route_index + 1 < vhost.routes.len() {
        let after = vhost.routes.len() - selected.route_index - 1;
        report.reasons.push(
            Reason::new(
                "catch_all",
                format!(
                    "rule {} is a catch-all ({}): the {after} rule(s) after it in this virtual host never match",
                    selected.route_index,
                    matched_rule.matched.as_deref().unwrap_or("any request")
                ),
            )
            .about(matched_rule.resource.clone()),
        );
    }
    for shadowed in &report.shadowed {
        report.reasons.push(
            Reason::new(
                "shadowed",
                format!(
                    "rule {} ({}) also matches, but rule {} comes first",
                    shadowed.index,
                    shadowed.matches.join(" or "),
                    selected.route_index
                ),
            )
            .about(shadowed.resource.clone()),
        );
    }
    report.reasons.extend(related);
    let rewritten = action::rewritten_path(route, selected.matched, &normalized, request);
    let (action, result) = action::action_report(request, listener, route, translation, rewritten);
    report.action = Some(action);
    report.outcome = result;
    report.route = Some(matched_rule);
    report
}

pub(super) fn outcome(kind: &str, status: Option<u16>, summary: impl Into<String>) -> Outcome {
    Outcome {
        kind: kind.to_owned(),
        status,
        location: None,
        summary: summary.into(),
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

pub fn protocol(protocol: ListenerProtocol) -> &'static str {
    match protocol {
        ListenerProtocol::Http => "HTTP",
        ListenerProtocol::Https => "HTTPS",
        ListenerProtocol::Tls => "TLS",
        ListenerProtocol::Tcp => "TCP",
    }
}

/// A plain-text request to a TLS port, TLS to a plain-text one, or HTTP to
/// a TCP or TLS (passthrough) listener: no HTTP routing happens.
fn protocol_mismatch(request: &Request, listener: &Listener) -> Option<Outcome> {
    let port = listener.port;
    let serves_http_over_tls = listener.protocol == ListenerProtocol::Tls
        && listener.tls_servers.iter().any(|server| server.serves_http);
    match (listener.protocol, request.tls()) {
        (ListenerProtocol::Http, false) | (ListenerProtocol::Https, true) => None,
        (ListenerProtocol::Tls, true) if serves_http_over_tls => None,
        (ListenerProtocol::Http, true) => Some(outcome(
            "tls_mismatch",
            None,
            format!("port {port} is plain-text HTTP: an https:// request fails its TLS handshake"),
        )),
        (ListenerProtocol::Https, false) => Some(outcome(
            "tls_mismatch",
            None,
            format!("port {port} is HTTPS: a plain-text http:// request is not understood there"),
        )),
        (ListenerProtocol::Tls | ListenerProtocol::Tcp, _) => Some(outcome(
            "not_http",
            None,
            format!(
                "port {port} is a {} listener: connections go to its stream routes by SNI, not through HTTP routing",
                protocol(listener.protocol)
            ),
        )),
    }
}

/// The TLS server curl's SNI picks (exact name, longest wildcard, then the
/// default, as the proxy's `TlsServers::pick` does) and whether its names
/// cover the `Host` (else the gateway answers 421, or 404 for Istio).
fn tls_check(
    request: &Request,
    listener: &Listener,
    host: &str,
    notes: &mut Vec<String>,
) -> Option<Outcome> {
    let sni = request.sni().map(|sni| sni.to_ascii_lowercase());
    let servers = &listener.tls_servers;
    let by_name = sni.as_deref().and_then(|sni| {
        servers
            .iter()
            .position(|s| s.server_names.contains(&HostPattern::Exact(sni.to_owned())))
            .or_else(|| {
                let mut wildcards: Vec<(usize, &HostPattern)> = servers
                    .iter()
                    .enumerate()
                    .flat_map(|(i, s)| s.server_names.iter().map(move |name| (i, name)))
                    .filter(|(_, name)| {
                        matches!(name, HostPattern::Suffix(_) | HostPattern::SingleLabel(_))
                    })
                    .collect();
                wildcards.sort_by_key(|(_, name)| match name {
                    HostPattern::Suffix(s) | HostPattern::SingleLabel(s) => {
                        std::cmp::Reverse(s.len())
                    }
                    _ => std::cmp::Reverse(0),
                });
                wildcards
                    .into_iter()
                    .find(|(_, name)| name.matches(sni))
                    .map(|(i, _)| i)
            })
    });
    let picked = by_name.or_else(|| {
        servers
            .iter()
            .position(|s| s.server_names.is_empty() || s.server_names.contains(&HostPattern::Any))
    });
    let Some(server) = picked.map(|i| &servers[i]) else {
        return Some(outcome(
            "tls_no_server",
            None,
            format!(
                "no TLS server on port {} takes SNI {}: the handshake fails",
                listener.port,
                sni.as_deref().unwrap_or("(none)")
            ),
        ));
    };
    notes.push(format!(
        "TLS: SNI {} picks server {}",
        sni.as_deref()
            .unwrap_or("(none: the URL host is an address)"),
        server.name
    ));
    let covered =
        server.server_names.is_empty() || server.server_names.iter().any(|n| n.matches(host));
    if covered {
        return None;
    }
    let names: Vec<String> = server
        .server_names
        .iter()
        .map(ToString::to_string)
        .collect();
    let status = server.misdirected_status;
    Some(outcome(
        "misdirected",
        Some(status),
        format!(
            "{status}: Host {host} is not among the names of the TLS server the SNI picked ({}); send the host as SNI (curl --resolve or --connect-to)",
            names.join(", ")
        ),
    ))
}

/// The resources that open a listener's port.
fn listener_report(
    listener: &Listener,
    translation: &Translation,
    sources: &Sources<'_>,
) -> ListenerReport {
    let inputs = sources.inputs();
    let mut resources = Vec::new();
    let accepted = |kind_group: &str, namespace: &str, name: &str| {
        translation.statuses.gateways.iter().any(|status| {
            status.api_group == kind_group
                && status.namespace == namespace
                && status.name == name
                && status
                    .conditions
                    .iter()
                    .any(|c| c.kind == "Accepted" && c.is_true())
        })
    };
    for gateway in &inputs.gateways {
        let on_port = gateway
            .spec
            .servers
            .iter()
            .any(|server| server.port.number == u32::from(listener.port));
        if on_port && accepted("networking.istio.io", gateway.namespace(), gateway.name()) {
            resources.push(sources.reference("Gateway", gateway.namespace(), gateway.name()));
        }
    }
    for gateway in &inputs.kube_gateways {
        let on_port = gateway
            .spec
            .listeners
            .iter()
            .any(|l| l.port == i64::from(listener.port));
        if on_port {
            let mut reference =
                sources.reference("KubeGateway", gateway.namespace(), gateway.name());
            reference.kind = "Gateway".to_owned();
            resources.push(reference);
        }
    }
    let ingress_routes = listener
        .virtual_hosts
        .iter()
        .flat_map(|vhost| &vhost.routes)
        .any(|route| route.origin.kind == "Ingress");
    if ingress_routes && resources.is_empty() {
        resources.extend(
            listener
                .virtual_hosts
                .iter()
                .flat_map(|vhost| &vhost.routes)
                .filter(|route| route.origin.kind == "Ingress")
                .map(|route| {
                    sources.reference("Ingress", &route.origin.namespace, &route.origin.name)
                }),
        );
        resources.dedup();
    }
    ListenerReport {
        port: listener.port,
        protocol: protocol(listener.protocol).to_owned(),
        name: listener.name.clone(),
        resources,
    }
}

fn vhost_report(vhost: &VirtualHost, host: &str, sources: &Sources<'_>) -> VirtualHostReport {
    let mut resources: Vec<ResourceRef> = Vec::new();
    for route in &vhost.routes {
        let origin = &route.origin;
        let reference = sources.reference(origin.kind, &origin.namespace, &origin.name);
        if !resources.contains(&reference) {
            resources.push(reference);
        }
    }
    VirtualHostReport {
        name: vhost.name.clone(),
        domains: vhost.domains.iter().map(ToString::to_string).collect(),
        host: host.to_owned(),
        https_redirect: vhost.require_tls,
        resources,
        routes: vhost.routes.len(),
    }
}

pub fn route_report(index: usize, route: &Route, sources: &Sources<'_>) -> RouteReport {
    let origin = &route.origin;
    let rule = sources.rule(route);
    RouteReport {
        index,
        name: route.name.clone(),
        resource: ResourceRef::new(
            origin.kind,
            &origin.namespace,
            &origin.name,
            rule.source.clone(),
        ),
        rule,
        matches: if route.matches.is_empty() {
            vec!["any request".to_owned()]
        } else {
            route.matches.iter().map(describe_match).collect()
        },
        matched: None,
        catch_all: is_catch_all(route),
    }
}

/// No rule of the virtual host takes the request: every rule, nearest first.
fn no_rule_matched(
    report: &mut Report,
    vhost: &VirtualHost,
    explained: &[MatchExplanation<'_>],
    sources: &Sources<'_>,
) {
    let mut candidates: Vec<(usize, Candidate)> = explained
        .iter()
        .enumerate()
        .map(|(index, explanation)| {
            let failures = explanation
                .nearest()
                .map(|nearest| {
                    nearest
                        .failures
                        .iter()
                        .map(|failure| FailureReport {
                            kind: failure.kind().to_owned(),
                            condition: failure.condition(),
                            message: failure.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let candidate = Candidate {
                route: route_report(index, &vhost.routes[index], sources),
                failures,
            };
            (candidate.failures.len(), candidate)
        })
        .collect();
    // Fewest failed conditions first; a path that matched counts as nearer.
    candidates.sort_by_key(|(count, candidate)| {
        let path_failed = candidate.failures.iter().any(|f| f.kind == "path");
        (*count, path_failed)
    });
    report.candidates = candidates
        .into_iter()
        .map(|(_, candidate)| candidate)
        .collect();
    report.outcome = outcome(
        "no_route",
        Some(404),
        format!(
            "404 Not Found: no rule of virtual host {} matches",
            vhost.name
        ),
    );
    let message = match report.candidates.first() {
        Some(nearest) => format!(
            "no rule matched; the nearest is rule {} of {}: {}",
            nearest.route.index,
            nearest.route.resource,
            nearest
                .failures
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        None => format!("virtual host {} has no rules", vhost.name),
    };
    let mut reason = Reason::new("no_rule_matched", message);
    if let Some(nearest) = report.candidates.first() {
        reason = reason.about(nearest.route.resource.clone());
    }
    report.reasons.push(reason);
}
