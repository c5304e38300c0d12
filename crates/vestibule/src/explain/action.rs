//! What the matched rule does and so what the client gets: the action,
//! its filters and backends with their endpoints, and the predicted answer
//! (the redirect's `Location` built as the proxy builds it).

use std::borrow::Cow;

use vestibule_ir::{Listener, PathRewrite, Redirect, Route, RouteAction};
use vestibule_route::rewrite_path;
use vestibule_translate::Translation;

use super::analyze::outcome;
use super::report::{
    ActionReport, BackendReport, DirectReport, EndpointReport, Filters, MirrorReport, Outcome,
};
use super::request::Request;

/// The path and query sent upstream (or into a redirect) when the route
/// rewrites the path, as the proxy builds it; `None` when unchanged.
pub(super) fn rewritten_path(
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
        RouteAction::Forward(forward) => forward.path_rewrite.as_deref(),
        RouteAction::Redirect(redirect) => redirect.path.as_deref(),
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
pub(super) fn action_report(
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
        fault: route.fault.as_deref().cloned(),
        mirrors: Vec::new(),
        cors: route.cors.as_deref().cloned(),
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
        redirect: backend.redirect.as_deref().cloned(),
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
    let location = vestibule_route::redirect_location(
        redirect,
        &request.scheme,
        &request.authority,
        listener.port,
        path_and_query,
    );
    Outcome {
        kind: "redirect".to_owned(),
        status: Some(redirect.status),
        location: Some(location.clone()),
        summary: format!("{} redirect to {location}", redirect.status),
    }
}
