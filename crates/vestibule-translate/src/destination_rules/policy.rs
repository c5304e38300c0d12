//! A backend's load balancer from the merged DestinationRule, and what in
//! a rule vestibule reads but does not honour (each a warning naming the
//! field: nothing is ignored silently).

use vestibule_api::istio::{
    ConnectionPoolSettings, LoadBalancerSettings, OutlierDetection, PortTrafficPolicy, Subset,
    TrafficPolicy,
};
use vestibule_api::DestinationRule;
use vestibule_ir::status::Warning;
use vestibule_ir::{LoadBalancer, Warmup};

use crate::duration::parse_duration;

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
/// destination; it falls back to the default, and the rule's status says so
/// (see [`warnings`]). A `consistentHash` ([`consistent_hash`]) takes the
/// place of the balancer where it is valid.
pub(crate) fn load_balancer(settings: Option<&LoadBalancerSettings>) -> LoadBalancer {
    let simple = settings.and_then(|s| s.simple.as_deref()).unwrap_or("");
    match simple.to_ascii_uppercase().as_str() {
        "ROUND_ROBIN" => LoadBalancer::RoundRobin,
        "RANDOM" => LoadBalancer::Random,
        _ => LoadBalancer::LeastRequest,
    }
}

/// What `rule` says that vestibule does not honour, each naming its field.
pub(crate) fn warnings(rule: &DestinationRule) -> Vec<Warning> {
    let mut found = Vec::new();
    if let Some(policy) = &rule.spec.traffic_policy {
        policy_warnings(policy, "trafficPolicy", true, &mut found);
    }
    for (index, subset) in rule.spec.subsets.iter().enumerate() {
        let field = format!("subsets[{index}]");
        if subset.name.is_empty() {
            found.push(Warning::other(format!(
                "{field}.name is empty: no route can name it"
            )));
        }
        if let Some(policy) = &subset.traffic_policy {
            policy_warnings(policy, &format!("{field}.trafficPolicy"), false, &mut found);
        }
    }
    found
}

fn policy_warnings(policy: &TrafficPolicy, field: &str, top_level: bool, found: &mut Vec<Warning>) {
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
            Some(selector) => found.push(Warning::not_applied(format!(
                "{field}.port.number {} is not a port: the entry applies to none",
                selector.number
            ))),
            None => found.push(Warning::not_applied(format!(
                "{field}.port is required: the entry applies to none"
            ))),
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
    found: &mut Vec<Warning>,
) {
    if let Some(pool) = pool {
        found.extend(super::pool::convert(pool, &format!("{field}.connectionPool")).1);
    }
    if let Some(outlier) = outlier {
        found.extend(super::outlier::convert(outlier, &format!("{field}.outlierDetection")).1);
    }
}

/// `warmup` (or the older `warmupDurationSecs`) as Envoy's slow start, and
/// what in it is invalid.
pub(crate) fn warmup(lb: &LoadBalancerSettings, field: &str) -> (Option<Warmup>, Vec<Warning>) {
    let mut found = Vec::new();
    let (duration, field) = match (&lb.warmup, &lb.warmup_duration_secs) {
        (Some(warmup), _) => (
            warmup.duration.as_deref(),
            format!("{field}.warmup.duration"),
        ),
        (None, Some(secs)) => (Some(secs.as_str()), format!("{field}.warmupDurationSecs")),
        (None, None) => return (None, found),
    };
    let duration = match duration.map(parse_duration) {
        Some(Ok(duration)) if !duration.is_zero() => duration,
        Some(Ok(_)) => return (None, found),
        Some(Err(message)) => {
            found.push(Warning::not_applied(format!(
                "{field}: {message}; no slow start"
            )));
            return (None, found);
        }
        None => {
            found.push(Warning::not_applied(format!(
                "{field} is required; no slow start"
            )));
            return (None, found);
        }
    };
    let mut warmup = Warmup {
        duration,
        minimum_percent: 10.0,
        aggression: 1.0,
    };
    if let Some(settings) = &lb.warmup {
        match settings.minimum_percent {
            Some(value) if (0.0..=100.0).contains(&value) => warmup.minimum_percent = value,
            Some(value) => found.push(Warning::not_applied(format!(
                "{field}: minimumPercent {value} is not from 0 to 100; 10 is used"
            ))),
            None => {}
        }
        match settings.aggression {
            Some(value) if value >= 1.0 => warmup.aggression = value,
            Some(value) => found.push(Warning::not_applied(format!(
                "{field}: aggression {value} is below 1; 1 is used"
            ))),
            None => {}
        }
    }
    if lb.consistent_hash.is_some() {
        found.push(Warning::not_applied(format!(
            "{field}: slow start does not apply to consistentHash (as in Envoy); ignored"
        )));
        return (None, found);
    }
    if lb
        .simple
        .as_deref()
        .is_some_and(|simple| simple.eq_ignore_ascii_case("RANDOM"))
    {
        found.push(Warning::not_applied(format!(
            "{field}: slow start applies to ROUND_ROBIN and LEAST_REQUEST only (as in \
             Envoy), not RANDOM; ignored"
        )));
        return (None, found);
    }
    (Some(warmup), found)
}

fn balancer_warnings(lb: &LoadBalancerSettings, field: &str, found: &mut Vec<Warning>) {
    found.extend(warmup(lb, field).1);
    if let Some(hash) = &lb.consistent_hash {
        found.extend(super::hash::convert(hash, &format!("{field}.consistentHash")).1);
        if lb.simple.is_some() {
            found.push(Warning::not_applied(format!(
                "{field}: simple and consistentHash are both set: consistentHash is used"
            )));
        }
    }
    let unhonoured = [("localityLbSetting", lb.locality_lb_setting.is_some())];
    not_honoured(field, &unhonoured, found);
    match lb.simple.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("UNSPECIFIED" | "LEAST_CONN" | "LEAST_REQUEST" | "ROUND_ROBIN" | "RANDOM") => {}
        Some("PASSTHROUGH") => found.push(Warning::not_honoured(format!(
            "{field}.simple PASSTHROUGH needs the original destination address, which a \
             gateway does not have: LEAST_REQUEST is used"
        ))),
        Some(other) => found.push(Warning::not_applied(format!(
            "{field}.simple {other:?} is not ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN, RANDOM or \
             PASSTHROUGH: LEAST_REQUEST is used"
        ))),
    }
}

fn not_honoured(field: &str, fields: &[(&str, bool)], found: &mut Vec<Warning>) {
    for (name, set) in fields {
        if *set {
            found.push(Warning::not_honoured(format!(
                "{field}.{name} is not honoured yet and is ignored"
            )));
        }
    }
}
