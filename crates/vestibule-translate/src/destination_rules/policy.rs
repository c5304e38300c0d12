//! A backend's load balancer from the merged DestinationRule, and what in
//! a rule vestibule reads but does not honour (each a warning naming the
//! field: nothing is ignored silently).

use vestibule_api::istio::{LoadBalancerSettings, Subset, TrafficPolicy};
use vestibule_api::DestinationRule;
use vestibule_ir::LoadBalancer;

/// The `loadBalancer` settings that apply to `port` of a backend, most
/// specific first: the subset's port-level entry, the subset's policy, the
/// rule's port-level entry, the rule's policy. A matching port-level entry
/// replaces the policy it belongs to whole (Istio: port-level settings do
/// not inherit; an entry without `loadBalancer` means the default).
pub(crate) fn load_balancer_settings<'a>(
    policy: Option<&'a TrafficPolicy>,
    subset: Option<&'a Subset>,
    port: u16,
) -> Option<&'a LoadBalancerSettings> {
    let level = |policy: &'a TrafficPolicy| -> Option<Option<&'a LoadBalancerSettings>> {
        let port_level = policy
            .port_level_settings
            .iter()
            .find(|p| p.port.as_ref().is_some_and(|s| s.number == u32::from(port)));
        match port_level {
            Some(entry) => Some(entry.load_balancer.as_ref()),
            None => policy.load_balancer.as_ref().map(Some),
        }
    };
    subset
        .and_then(|s| s.traffic_policy.as_ref())
        .and_then(level)
        .or_else(|| policy.and_then(level))
        .flatten()
}

/// The balancer `settings` ask for. `PASSTHROUGH` (send to the original
/// destination address) has no meaning at a gateway, which has no original
/// destination; it and `consistentHash` (not honoured yet) fall back to the
/// default, and the rule's status says so (see [`warnings`]).
pub(crate) fn load_balancer(settings: Option<&LoadBalancerSettings>) -> LoadBalancer {
    let simple = settings.and_then(|s| s.simple.as_deref()).unwrap_or("");
    match simple.to_ascii_uppercase().as_str() {
        "ROUND_ROBIN" => LoadBalancer::RoundRobin,
        "RANDOM" => LoadBalancer::Random,
        _ => LoadBalancer::LeastRequest,
    }
}

/// What `rule` says that vestibule does not honour, each naming its field.
pub(crate) fn warnings(rule: &DestinationRule) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(policy) = &rule.spec.traffic_policy {
        policy_warnings(policy, "trafficPolicy", true, &mut found);
    }
    for (index, subset) in rule.spec.subsets.iter().enumerate() {
        let field = format!("subsets[{index}]");
        if subset.name.is_empty() {
            found.push(format!("{field}.name is empty: no route can name it"));
        }
        if let Some(policy) = &subset.traffic_policy {
            policy_warnings(policy, &format!("{field}.trafficPolicy"), false, &mut found);
        }
    }
    found
}

fn policy_warnings(policy: &TrafficPolicy, field: &str, top_level: bool, found: &mut Vec<String>) {
    let unhonoured = [
        ("connectionPool", policy.connection_pool.is_some()),
        ("outlierDetection", policy.outlier_detection.is_some()),
        ("tunnel", policy.tunnel.is_some()),
        ("proxyProtocol", policy.proxy_protocol.is_some()),
        ("retryBudget", policy.retry_budget.is_some()),
        // Upstream TLS is per host and port; a subset's own is not applied.
        ("tls", !top_level && policy.tls.is_some()),
    ];
    not_honoured(field, &unhonoured, found);
    if let Some(lb) = &policy.load_balancer {
        balancer_warnings(lb, &format!("{field}.loadBalancer"), found);
    }
    for (index, port) in policy.port_level_settings.iter().enumerate() {
        let field = format!("{field}.portLevelSettings[{index}]");
        let unhonoured = [
            ("connectionPool", port.connection_pool.is_some()),
            ("outlierDetection", port.outlier_detection.is_some()),
            ("tls", !top_level && port.tls.is_some()),
        ];
        not_honoured(&field, &unhonoured, found);
        match &port.port {
            Some(selector) if (1..=65535).contains(&selector.number) => {}
            Some(selector) => found.push(format!(
                "{field}.port.number {} is not a port: the entry applies to none",
                selector.number
            )),
            None => found.push(format!(
                "{field}.port is required: the entry applies to none"
            )),
        }
        if let Some(lb) = &port.load_balancer {
            balancer_warnings(lb, &format!("{field}.loadBalancer"), found);
        }
    }
}

fn balancer_warnings(lb: &LoadBalancerSettings, field: &str, found: &mut Vec<String>) {
    let unhonoured = [
        ("consistentHash", lb.consistent_hash.is_some()),
        ("localityLbSetting", lb.locality_lb_setting.is_some()),
        ("warmupDurationSecs", lb.warmup_duration_secs.is_some()),
        ("warmup", lb.warmup.is_some()),
    ];
    not_honoured(field, &unhonoured, found);
    match lb.simple.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("UNSPECIFIED" | "LEAST_CONN" | "LEAST_REQUEST" | "ROUND_ROBIN" | "RANDOM") => {}
        Some("PASSTHROUGH") => found.push(format!(
            "{field}.simple PASSTHROUGH needs the original destination address, which a \
             gateway does not have: LEAST_REQUEST is used"
        )),
        Some(other) => found.push(format!(
            "{field}.simple {other:?} is not ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN, RANDOM or \
             PASSTHROUGH: LEAST_REQUEST is used"
        )),
    }
}

fn not_honoured(field: &str, fields: &[(&str, bool)], found: &mut Vec<String>) {
    for (name, set) in fields {
        if *set {
            found.push(format!("{field}.{name} is not honoured yet and is ignored"));
        }
    }
}
