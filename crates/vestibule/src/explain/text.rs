//! The report in plain text: one labelled line per step, then why.

use std::fmt::Write;

use vestibule_ir::{HeaderMutations, RetryOn};

use super::report::{ActionReport, BackendReport, Report, RouteReport};

/// How many of the rules that did not match are listed.
const CANDIDATES_SHOWN: usize = 5;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let request = &report.request;
    let mut line = |label: &str, text: &str| {
        let _ = writeln!(out, "{label:<9} {text}");
    };
    line(
        "request",
        &format!(
            "{} {}://{}{}",
            request.method, request.scheme, request.authority, request.target
        ),
    );
    line(
        "",
        &format!("port {} ({})", request.port, request.port_origin),
    );
    if let Some(listener) = &report.listener {
        let from = refs(listener.resources.iter().map(ToString::to_string));
        line(
            "listener",
            &format!(
                "{} {} ({}){}",
                listener.port,
                listener.protocol,
                listener.name,
                from.map(|f| format!(", opened by {f}")).unwrap_or_default()
            ),
        );
    }
    if let Some(vhost) = &report.virtual_host {
        line(
            "vhost",
            &format!(
                "{} (domains: {}) for host {}{}",
                vhost.name,
                vhost.domains.join(", "),
                vhost.host,
                if vhost.https_redirect {
                    ", httpsRedirect"
                } else {
                    ""
                }
            ),
        );
        if let Some(from) = refs(vhost.resources.iter().map(ToString::to_string)) {
            line("", &format!("{} rule(s) from {from}", vhost.routes));
        }
    }
    if let Some(route) = &report.route {
        line("rule", &route_line(route));
        if let Some(matched) = &route.matched {
            line("", &format!("matched: {matched}"));
        }
    }
    if let Some(action) = &report.action {
        for (index, text) in action_lines(action).iter().enumerate() {
            line(if index == 0 { "action" } else { "" }, text);
        }
    }
    line("result", &report.outcome.summary);
    if !report.reasons.is_empty() {
        let _ = writeln!(out, "\nwhy:");
        for reason in &report.reasons {
            let _ = writeln!(out, "  - {}", reason.message);
        }
    }
    if !report.candidates.is_empty() {
        let _ = writeln!(out, "\nrules of the virtual host, nearest first:");
        for candidate in report.candidates.iter().take(CANDIDATES_SHOWN) {
            let _ = writeln!(out, "  {}", route_line(&candidate.route));
            let _ = writeln!(
                out,
                "      when: {}",
                candidate.route.matches.join("  OR  ")
            );
            for failure in &candidate.failures {
                let _ = writeln!(out, "      x {}", failure.message);
            }
        }
        if report.candidates.len() > CANDIDATES_SHOWN {
            let _ = writeln!(
                out,
                "  ... and {} more (--output json lists them all)",
                report.candidates.len() - CANDIDATES_SHOWN
            );
        }
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for note in &report.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out
}

fn refs(items: impl Iterator<Item = String>) -> Option<String> {
    let items: Vec<String> = items.collect();
    (!items.is_empty()).then(|| items.join(", "))
}

fn route_line(route: &RouteReport) -> String {
    let resource = &route.resource;
    let mut text = format!(
        "#{} {} of {} {}/{}",
        route.index, route.name, resource.kind, resource.namespace, resource.name
    );
    if !route.rule.source.is_empty() {
        let _ = write!(text, " at {}", route.rule.source);
    }
    if let Some(field) = &route.rule.field {
        let _ = write!(text, " ({field})");
    }
    if route.catch_all {
        text.push_str(" [catch-all]");
    }
    text
}

fn action_lines(action: &ActionReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(direct) = &action.direct_response {
        lines.push(format!(
            "direct response {} body {:?}",
            direct.status, direct.body
        ));
    }
    if let Some(redirect) = &action.redirect {
        lines.push(format!("redirect {}", redirect.status));
    }
    if action.kind == "forward" {
        lines.push("forward".to_owned());
        for backend in &action.backends {
            lines.extend(backend_lines(backend));
        }
    }
    let filters = &action.filters;
    if let Some(rewrite) = &filters.path_rewrite {
        lines.push(format!(
            "path rewrite: {rewrite} -> {}",
            filters.rewritten_path.as_deref().unwrap_or_default()
        ));
    }
    if let Some(host) = &filters.host_rewrite {
        lines.push(format!("host rewrite: {host}"));
    }
    lines.extend(mutation_lines("request headers", &filters.request_headers));
    lines.extend(mutation_lines(
        "response headers",
        &filters.response_headers,
    ));
    if let Some(timeout) = &filters.timeout {
        lines.push(format!("timeout {timeout}"));
    }
    if let Some(retry) = &filters.retry {
        let mut text = format!(
            "retries {} on {}",
            retry.attempts,
            retry_on(&retry.retry_on)
        );
        if let Some(per_try) = retry.per_try_timeout {
            let _ = write!(text, ", per try {}s", per_try.as_secs_f64());
        }
        lines.push(text);
    }
    if let Some(fault) = &filters.fault {
        if let Some(delay) = &fault.delay {
            lines.push(format!(
                "fault: delay {}s for {}% of requests",
                delay.fixed.as_secs_f64(),
                delay.percent
            ));
        }
        if let Some(abort) = &fault.abort {
            lines.push(format!(
                "fault: abort {:?} for {}% of requests",
                abort.status, abort.percent
            ));
        }
    }
    for mirror in &filters.mirrors {
        lines.push(format!(
            "mirror {}% to {}",
            mirror.percent,
            mirror.backend.as_deref().unwrap_or("(unresolved)")
        ));
    }
    if filters.cors.is_some() {
        lines.push("CORS policy applies".to_owned());
    }
    lines
}

fn backend_lines(backend: &BackendReport) -> Vec<String> {
    let mut lines = Vec::new();
    let name = backend
        .key
        .as_deref()
        .unwrap_or("(unresolved reference: 500)");
    let mut text = format!(
        "  backend {name} weight {} ({}%)",
        backend.weight, backend.percent
    );
    if let Some(subset) = &backend.subset {
        let _ = write!(text, ", subset {}", subset.name);
        if let Some(labels) = &subset.labels {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = write!(text, " {{{}}}", labels.join(","));
        }
    }
    if let Some(balancer) = &backend.load_balancer {
        let name = match balancer {
            vestibule_ir::LoadBalancer::LeastRequest => "least request",
            vestibule_ir::LoadBalancer::RoundRobin => "round robin",
            vestibule_ir::LoadBalancer::Random => "random",
        };
        let _ = write!(text, ", {name}");
    }
    if backend.upstream_tls {
        text.push_str(", TLS upstream");
    }
    lines.push(text);
    if backend.key.is_some() {
        if backend.endpoints.is_empty() {
            lines.push("    endpoints: none ready (503 no healthy upstream)".to_owned());
        } else {
            let endpoints: Vec<String> = backend
                .endpoints
                .iter()
                .map(|e| {
                    if e.weight == 1 {
                        e.address.clone()
                    } else {
                        format!("{} (weight {})", e.address, e.weight)
                    }
                })
                .collect();
            lines.push(format!("    endpoints: {}", endpoints.join(", ")));
        }
    }
    if let Some(redirect) = &backend.redirect {
        lines.push(format!("    redirect {}", redirect.status));
    }
    lines.extend(
        mutation_lines("request headers", &backend.request_headers)
            .into_iter()
            .map(|l| format!("    {l}")),
    );
    lines.extend(
        mutation_lines("response headers", &backend.response_headers)
            .into_iter()
            .map(|l| format!("    {l}")),
    );
    lines
}

fn mutation_lines(what: &str, mutations: &HeaderMutations) -> Vec<String> {
    let mut lines = Vec::new();
    let pairs = |list: &[(String, String)]| {
        list.iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !mutations.remove().is_empty() {
        lines.push(format!("{what}: remove {}", mutations.remove().join(", ")));
    }
    if !mutations.set().is_empty() {
        lines.push(format!("{what}: set {}", pairs(mutations.set())));
    }
    if !mutations.add().is_empty() {
        lines.push(format!("{what}: add {}", pairs(mutations.add())));
    }
    lines
}

fn retry_on(on: &RetryOn) -> String {
    let names = [
        (on.connect_failure, "connect-failure"),
        (on.refused_stream, "refused-stream"),
        (on.unavailable, "unavailable"),
        (on.cancelled, "cancelled"),
        (on.server_errors, "5xx"),
        (on.gateway_errors, "gateway-error"),
        (on.reset, "reset"),
        (on.retriable_status_codes, "retriable-status-codes"),
        (on.retriable_4xx, "retriable-4xx"),
        (on.envoy_ratelimited, "envoy-ratelimited"),
        (on.deadline_exceeded, "deadline-exceeded"),
        (on.internal, "internal"),
        (on.resource_exhausted, "resource-exhausted"),
    ];
    names
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}
