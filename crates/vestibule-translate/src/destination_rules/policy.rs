//! A backend's load balancer from the merged DestinationRule, and what in
//! a rule vestibule reads but does not honour (each a warning naming the
//! field: nothing is ignored silently).

use vestibule_api::istio::{
    ConnectionPoolSettings, LoadBalancerSettings, OutlierDetection, PortTrafficPolicy, Subset,
    TrafficPolicy,
};
use vestibule_api::DestinationRule;
use vestibule_ir::LoadBalancer;

/// The settings of one kind (`loadBalancer`, `connectionPool`,
/// `outlierDetection`) that apply to `port` of a backend, as Istio merges
/// them (`MergeTrafficPolicy`): the subset's policy overrides the rule's
/// field by field; a port-level entry matching `port` replaces its
/// policy's settings whole, even with nothing (port-level settings do not
/// inherit: an entry without the field means the default).
fn most_specific<'a, T>(
    policy: Option<&'a TrafficPolicy>,
    subset: Option<&'a Subset>,
    port: u16,
    of_policy: fn(&TrafficPolicy) -> Option<&T>,
    of_port: fn(&PortTrafficPolicy) -> Option<&T>,
) -> Option<&'a T> {
    let level = |policy: &'a TrafficPolicy| -> Option<Option<&'a T>> {
        let port_level = policy
            .port_level_settings
            .iter()
            .find(|p| p.port.as_ref().is_some_and(|s| s.number == u32::from(port)));
        match port_level {
            Some(entry) => Some(of_port(entry)),
            None => of_policy(policy).map(Some),
        }
    };
    subset
        .and_then(|s| s.traffic_policy.as_ref())
        .and_then(level)
        .or_else(|| policy.and_then(level))
        .flatten()
}

/// The `loadBalancer` settings that apply to `port` of a backend.
pub(crate) fn load_balancer_settings<'a>(
    policy: Option<&'a TrafficPolicy>,
    subset: Option<&'a Subset>,
    port: u16,
) -> Option<&'a LoadBalancerSettings> {
    most_specific(
        policy,
        subset,
        port,
        |p| p.load_balancer.as_ref(),
        |p| p.load_balancer.as_ref(),
    )
}

/// The `connectionPool` settings that apply to `port` of a backend.
pub(crate) fn connection_pool_settings<'a>(
    policy: Option<&'a TrafficPolicy>,
    subset: Option<&'a Subset>,
    port: u16,
) -> Option<&'a ConnectionPoolSettings> {
    most_specific(
        policy,
        subset,
        port,
        |p| p.connection_pool.as_ref(),
        |p| p.connection_pool.as_ref(),
    )
}

/// The `outlierDetection` settings that apply to `port` of a backend.
pub(crate) fn outlier_settings<'a>(
    policy: Option<&'a TrafficPolicy>,
    subset: Option<&'a Subset>,
    port: u16,
) -> Option<&'a OutlierDetection> {
    most_specific(
        policy,
        subset,
        port,
        |p| p.outlier_detection.as_ref(),
        |p| p.outlier_detection.as_ref(),
    )
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
    settings_warnings(
        policy.connection_pool.as_ref(),
        policy.outlier_detection.as_ref(),
        field,
        found,
    );
    let unhonoured = [
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
        settings_warnings(
            port.connection_pool.as_ref(),
            port.outlier_detection.as_ref(),
            &field,
            found,
        );
        let unhonoured = [("tls", !top_level && port.tls.is_some())];
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

/// What in a policy's `connectionPool` and `outlierDetection` is invalid
/// or not honoured.
fn settings_warnings(
    pool: Option<&ConnectionPoolSettings>,
    outlier: Option<&OutlierDetection>,
    field: &str,
    found: &mut Vec<String>,
) {
    if let Some(pool) = pool {
        found.extend(super::pool::convert(pool, &format!("{field}.connectionPool")).1);
    }
    if let Some(outlier) = outlier {
        found.extend(super::outlier::convert(outlier, &format!("{field}.outlierDetection")).1);
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
