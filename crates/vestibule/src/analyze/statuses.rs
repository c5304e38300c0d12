//! What the translator's statuses (the ones Kubernetes mode writes for the
//! Gateway API, and `/status` shows for Istio's Gateways) say is wrong, as
//! findings a file-mode user sees before applying:
//! - VST0101 (error): a route's or a listener's references that resolve to
//!   nothing (a Service, a Secret, a cross-namespace reference with no
//!   ReferenceGrant): `ResolvedRefs` False;
//! - VST0102 (warning): a route a parent Gateway did not accept (no
//!   listener for its hostname, kind or namespace): `Accepted` False;
//! - VST0103 (warning): a Gateway or listener not accepted or not
//!   programmed (its conditions False): a Gateway API listener, or an
//!   Istio Gateway's server (a missing or invalid `credentialName`
//!   Secret, a duplicate host, a protocol conflict).

use vestibule_ir::status::{Condition, Statuses};

use super::{Finding, Level};

pub(super) fn analyze(statuses: &Statuses) -> Vec<Finding> {
    let mut findings = Vec::new();
    for route in &statuses.routes {
        for parent in &route.parents {
            for condition in parent.conditions.iter().filter(|c| !c.is_true()) {
                let (code, level) = match condition.kind {
                    "ResolvedRefs" => ("VST0101", Level::Error),
                    "Accepted" => ("VST0102", Level::Warning),
                    _ => continue,
                };
                findings.push(Finding {
                    code,
                    level,
                    kind: leak_kind(&route.kind),
                    namespace: route.namespace.clone(),
                    name: route.name.clone(),
                    source: route.source.clone(),
                    message: format!(
                        "{} for parent {}/{}: {}",
                        describe(condition),
                        parent.parent_ref.namespace,
                        parent.parent_ref.name,
                        condition.message
                    ),
                });
            }
        }
    }
    for gateway in &statuses.gateways {
        let listeners = gateway.listeners.iter().flat_map(|listener| {
            listener
                .conditions
                .iter()
                .map(move |condition| (Some(listener.name.as_str()), condition))
        });
        let own = gateway.conditions.iter().map(|condition| (None, condition));
        for (listener, condition) in own.chain(listeners).filter(|(_, c)| !c.is_true()) {
            let (code, level) = match condition.kind {
                "ResolvedRefs" => ("VST0101", Level::Error),
                "Accepted" | "Programmed" => ("VST0103", Level::Warning),
                _ => continue,
            };
            let place = listener.map_or_else(String::new, |name| format!("listener {name}: "));
            findings.push(Finding {
                code,
                level,
                kind: "Gateway",
                namespace: gateway.namespace.clone(),
                name: gateway.name.clone(),
                source: gateway.source.clone(),
                message: format!("{place}{}: {}", describe(condition), condition.message),
            });
        }
    }
    findings
}

fn describe(condition: &Condition) -> String {
    format!(
        "{} {} ({})",
        condition.kind, condition.status, condition.reason
    )
}

/// Route kinds are a handful of names; a finding's kind is static text.
fn leak_kind(kind: &str) -> &'static str {
    match kind {
        "HTTPRoute" => "HTTPRoute",
        "GRPCRoute" => "GRPCRoute",
        "TLSRoute" => "TLSRoute",
        "TCPRoute" => "TCPRoute",
        _ => "Route",
    }
}
