//! The walk a request takes through the routing table, step by step as the
//! proxy's request path takes it (`vestibule-proxy` `request::route`):
//! listener by port, TLS server by SNI, `normalize_host`, the listener's
//! [`HostIndex`], `httpsRedirect`, `normalize_path`, then [`select`] over
//! the virtual host's routes. Every routing decision is made by the
//! `vestibule-route` functions the proxy calls; [`explain_match`] only adds
//! why each other rule did not match.

use std::borrow::Cow;

use vestibule_ir::{
    DerivePort, HostPattern, Listener, ListenerProtocol, PathRewrite, Redirect, Route, RouteAction,
    VirtualHost,
};
use vestibule_route::{
    describe_match, explain_match, is_catch_all, normalize_host, normalize_path, rewrite_path,
    select, HostIndex, MatchExplanation, RequestView,
};
use vestibule_translate::Translation;

use super::report::{
    ActionReport, BackendReport, Candidate, DirectReport, EndpointReport, FailureReport, Filters,
    ListenerReport, MirrorReport, Outcome, Reason, Report, RouteReport, VirtualHostReport,
};
use super::request::Request;
use super::sources::{ResourceRef, Sources};
use super::why;

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
    let rewritten = rewritten_path(route, selected.matched, &normalized, request);
    let (action, result) = action_report(request, listener, route, translation, rewritten);
    report.action = Some(action);
    report.outcome = result;
    report.route = Some(matched_rule);
    report
}

fn outcome(kind: &str, status: Option<u16>, summary: impl Into<String>) -> Outcome {
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
        let reference = sources.reference(&origin.kind, &origin.namespace, &origin.name);
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
            &origin.kind,
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

/// The path and query sent upstream (or into a redirect) when the route
/// rewrites the path, as the proxy builds it; `None` when unchanged.
fn rewritten_path(
    route: &Route,
    matched: Option<&vestibule_ir::RouteMatch>,
    normalized: &vestibule_route::NormalizedPath<'_>,
    request: &Request,
) -> Option<(String, Option<String>)> {
    let matched_path = matched.and_then(|m| m.path.as_ref());
    let apply = |rewrite: &PathRewrite| {
        let path = rewrite_path(&normalized.path, matched_path, rewrite);
        match normalized.query {
            Some(query) => format!("{path}?{query}"),
            None => path,
        }
    };
    let unchanged = || match &normalized.path {
        Cow::Borrowed(_) => request.target.clone(),
        Cow::Owned(path) => match normalized.query {
            Some(query) => format!("{path}?{query}"),
            None => path.clone(),
        },
    };
    let route_rewrite = match &route.action {
        RouteAction::Forward(forward) => forward.path_rewrite.as_ref(),
        RouteAction::Redirect(redirect) => redirect.path.as_ref(),
        RouteAction::DirectResponse(_) => None,
    };
    let path = route_rewrite.map_or_else(unchanged, apply);
    Some((path, route_rewrite.map(describe_rewrite)))
}

fn describe_rewrite(rewrite: &PathRewrite) -> String {
    match rewrite {
        PathRewrite::Full(path) => format!("replace the path with {path}"),
        PathRewrite::Prefix(prefix) => format!("replace the matched prefix with {prefix}"),
        PathRewrite::Regex {
            pattern,
            substitution,
        } => format!("replace {:?} with {substitution:?}", pattern.as_str()),
    }
}

/// What the rule does, and so what the client gets.
fn action_report(
    request: &Request,
    listener: &Listener,
    route: &Route,
    translation: &Translation,
    rewritten: Option<(String, Option<String>)>,
) -> (ActionReport, Outcome) {
    let (path, rewrite) = rewritten.unwrap_or_else(|| (request.target.clone(), None));
    let mut filters = Filters {
        request_headers: route.request_headers.clone(),
        response_headers: route.response_headers.clone(),
        rewritten_path: rewrite.as_ref().map(|_| path.clone()),
        path_rewrite: rewrite,
        host_rewrite: None,
        timeout: route
            .timeout
            .map(|timeout| format!("{}s", timeout.as_secs_f64())),
        retry: None,
        fault: route.fault.clone(),
        mirrors: Vec::new(),
        cors: route.cors.clone(),
    };
    let mut action = ActionReport {
        kind: String::new(),
        backends: Vec::new(),
        redirect: None,
        direct_response: None,
        filters: Filters::default(),
    };
    let mut result = match &route.action {
        RouteAction::DirectResponse(direct) => {
            action.kind = "direct_response".to_owned();
            let body = String::from_utf8_lossy(&direct.body).into_owned();
            action.direct_response = Some(DirectReport {
                status: direct.status,
                body: body.clone(),
            });
            outcome(
                "direct_response",
                Some(direct.status),
                format!("{} direct response: {body:?}", direct.status),
            )
        }
        RouteAction::Redirect(redirect) => {
            action.kind = "redirect".to_owned();
            action.redirect = Some(redirect.clone());
            redirect_outcome(request, listener, redirect, &path)
        }
        RouteAction::Forward(forward) => {
            action.kind = "forward".to_owned();
            filters.host_rewrite = forward.host_rewrite.clone();
            filters.retry = Some(route.retry.clone()).filter(|retry| retry.attempts > 0);
            filters.mirrors = forward
                .mirrors
                .iter()
                .map(|mirror| MirrorReport {
                    backend: mirror.backend.clone(),
                    percent: mirror.percent,
                })
                .collect();
            let total: u32 = forward.backends.iter().map(|b| b.weight).sum();
            action.backends = forward
                .backends
                .iter()
                .map(|backend| backend_report(backend, total, translation))
                .collect();
            forward_outcome(request, listener, &action.backends, total, &path)
        }
    };
    if let Some(abort) = route.fault.as_ref().and_then(|f| f.abort.as_ref()) {
        if abort.percent >= 100.0 {
            let status = match abort.status {
                vestibule_ir::AbortStatus::Http(status) => status,
                vestibule_ir::AbortStatus::Grpc(_) => 200,
            };
            result = outcome(
                "fault_abort",
                Some(status),
                format!("{status}: the rule's fault injection aborts every request"),
            );
        }
    }
    action.filters = filters;
    (action, result)
}

fn backend_report(
    backend: &vestibule_ir::WeightedBackend,
    total: u32,
    translation: &Translation,
) -> BackendReport {
    let resolved = backend
        .backend
        .as_ref()
        .and_then(|key| translation.table.backends.get(key));
    let endpoints = backend
        .backend
        .as_ref()
        .and_then(|key| translation.endpoints.backends.get(key))
        .map(|endpoints| {
            endpoints
                .iter()
                .map(|endpoint| EndpointReport {
                    address: endpoint.address.to_string(),
                    weight: endpoint.weight,
                })
                .collect()
        })
        .unwrap_or_default();
    BackendReport {
        key: backend.backend.clone(),
        weight: backend.weight,
        percent: if total == 0 {
            0.0
        } else {
            (f64::from(backend.weight) * 1000.0 / f64::from(total)).round() / 10.0
        },
        host: resolved.map(|b| b.host.clone()),
        port: resolved.map(|b| b.port),
        protocol: resolved.map(|b| {
            match b.protocol {
                vestibule_ir::AppProtocol::Http1 => "http1",
                vestibule_ir::AppProtocol::H2c => "h2c",
            }
            .to_owned()
        }),
        subset: resolved.and_then(|b| b.subset.clone()),
        load_balancer: resolved.map(|b| b.load_balancer),
        upstream_tls: resolved.is_some_and(|b| b.tls.is_some()),
        endpoints,
        request_headers: backend.request_headers.clone(),
        response_headers: backend.response_headers.clone(),
        redirect: backend.redirect.clone(),
    }
}

fn forward_outcome(
    request: &Request,
    listener: &Listener,
    backends: &[BackendReport],
    total: u32,
    path: &str,
) -> Outcome {
    if backends.is_empty() || total == 0 {
        return outcome(
            "invalid_backend",
            Some(500),
            "500: the rule has no backend with a weight",
        );
    }
    let live: Vec<&BackendReport> = backends.iter().filter(|b| b.weight > 0).collect();
    if let [only] = live.as_slice() {
        if let Some(redirect) = &only.redirect {
            return redirect_outcome(request, listener, redirect, path);
        }
        let Some(key) = &only.key else {
            return outcome(
                "invalid_backend",
                Some(500),
                "500: the backend reference did not resolve",
            );
        };
        if only.endpoints.is_empty() {
            return outcome(
                "no_endpoints",
                Some(503),
                format!("503 no healthy upstream: {key} has no ready endpoints"),
            );
        }
        return outcome(
            "forward",
            None,
            format!("forwarded to {key} ({} endpoint(s))", only.endpoints.len()),
        );
    }
    let shares: Vec<String> = live
        .iter()
        .map(|b| {
            let name = b.key.as_deref().unwrap_or("(unresolved: 500)");
            let empty = if b.key.is_some() && b.endpoints.is_empty() {
                ", no endpoints: 503"
            } else {
                ""
            };
            format!("{name} {}%{empty}", b.percent)
        })
        .collect();
    outcome(
        "forward",
        None,
        format!("forwarded to one of: {}", shares.join(", ")),
    )
}

/// The redirect's `Location`, built as the proxy builds it.
fn redirect_outcome(
    request: &Request,
    listener: &Listener,
    redirect: &Redirect,
    path_and_query: &str,
) -> Outcome {
    let default_port = |scheme: &str| {
        if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        }
    };
    let scheme = redirect.scheme.as_deref().unwrap_or(&request.scheme);
    let host = match &redirect.host {
        Some(host) => host.clone(),
        None => host_without_port(&request.authority).to_owned(),
    };
    let port = match (redirect.port, redirect.derive_port) {
        (Some(port), _) => port,
        (None, Some(DerivePort::FromRequestPort)) => listener.port,
        (None, Some(DerivePort::FromProtocolDefault)) => default_port(scheme),
        (None, None) if redirect.scheme.is_some() => default_port(scheme),
        (None, None) => listener.port,
    };
    let location = if port == default_port(scheme) {
        format!("{scheme}://{host}{path_and_query}")
    } else {
        format!("{scheme}://{host}:{port}{path_and_query}")
    };
    Outcome {
        kind: "redirect".to_owned(),
        status: Some(redirect.status),
        location: Some(location.clone()),
        summary: format!("{} redirect to {location}", redirect.status),
    }
}

fn host_without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(host, _)| &authority[..host.len() + 1]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}
