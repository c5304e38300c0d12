//! Ingress rule hosts, and how the gathered routes become virtual hosts.
//!
//! The data plane picks exactly one virtual host per request (exact >
//! longest wildcard > `*`) and serves the first matching route in it. An
//! Ingress request, however, "matches a rule" when both its host and its
//! path do ("Both the host and path must match the content of an incoming
//! request before the load balancer directs traffic to the referenced
//! Service"), and `defaultBackend` takes "requests that don't match any
//! rule". So each Ingress virtual host carries, in this order:
//! 1. the rules of its own host, by path precedence;
//! 2. for an exact host, the rules of the one-label wildcard covering it;
//! 3. the rules without host ("If the host is unspecified, the Ingress
//!    routes all traffic based on the specified IngressRuleValue");
//! 4. the default backend, if any Ingress has one.
//!
//! Istio has no such fall-through (one VirtualService per host, 404 when
//! its paths miss) and ignores `defaultBackend`; vestibule follows the
//! spec. A more specific host still wins over a longer path of a less
//! specific one: "Incoming requests are first evaluated for a host match,
//! then routed to the backend associated with the matching IngressRuleValue".

use std::collections::BTreeSet;

use vestibule_ir::{HostPattern, Route};

use super::paths::Rank;
use crate::builder::TableBuilder;

/// Routes of every served Ingress, in gathering order (oldest Ingress,
/// then namespace/name, then rule and path order).
#[derive(Default, Clone)]
pub(crate) struct Gathered {
    pub rules: Vec<(HostPattern, Rank, Route)>,
    /// The default backend's route and the Ingress (`namespace/name`) it
    /// comes from.
    pub default: Option<(String, Route)>,
}

/// Parses `rules[].host`: "host can be "precise" which is a domain name
/// without the terminating dot of a network host (e.g. "foo.bar.com") or
/// "wildcard", which is a domain name prefixed with a single wildcard label
/// (e.g. "*.foo.com"). The wildcard character '*' must appear by itself as
/// the first DNS label and matches only a single label. You cannot have a
/// wildcard label by itself (e.g. Host == "*")." IPs and ports are not
/// allowed either. An unset or empty host matches every host.
pub(crate) fn parse(host: Option<&str>) -> Result<HostPattern, String> {
    let host = host.unwrap_or("");
    if host.is_empty() {
        return Ok(HostPattern::Any);
    }
    let rest = host.strip_prefix("*.").unwrap_or(host);
    if host == "*" || rest.is_empty() || rest.contains('*') {
        return Err(format!(
            "host {host:?}: a wildcard must be a whole first label followed by a domain \
             (`*.foo.com`)"
        ));
    }
    if host.contains(':') || host.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "host {host:?}: IP addresses and ports are not allowed"
        ));
    }
    Ok(HostPattern::parse(host, true))
}

/// Creates the virtual hosts of `gathered` on `port` (declared already).
pub(crate) fn place(builder: &mut TableBuilder, port: u16, mut gathered: Gathered) {
    gathered.rules.sort_by_key(|(_, rank, _)| *rank);
    let mut patterns: BTreeSet<HostPattern> = gathered
        .rules
        .iter()
        .map(|(pattern, _, _)| pattern.clone())
        .collect();
    if gathered.default.is_some() {
        patterns.insert(HostPattern::Any);
    }
    for pattern in patterns {
        let routes = routes_for(&pattern, &gathered);
        builder
            .virtual_host_pattern(port, pattern)
            .routes
            .extend(routes.into_iter().map(std::sync::Arc::new));
    }
}

/// The routes of one virtual host, in the order the module doc gives.
fn routes_for(pattern: &HostPattern, gathered: &Gathered) -> Vec<Route> {
    let mut routes = rules_where(gathered, |host| host == pattern);
    if let HostPattern::Exact(name) = pattern {
        routes.extend(rules_where(gathered, |host| {
            matches!(host, HostPattern::SingleLabel(_)) && host.matches(name)
        }));
    }
    if *pattern != HostPattern::Any {
        routes.extend(rules_where(gathered, |host| *host == HostPattern::Any));
    }
    routes.extend(gathered.default.iter().map(|(_, route)| route.clone()));
    routes
}

fn rules_where(gathered: &Gathered, wanted: impl Fn(&HostPattern) -> bool) -> Vec<Route> {
    gathered
        .rules
        .iter()
        .filter(|(host, _, _)| wanted(host))
        .map(|(_, _, route)| route.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_exact_one_label_wildcards_or_every_host() {
        assert_eq!(parse(None), Ok(HostPattern::Any));
        assert_eq!(parse(Some("")), Ok(HostPattern::Any));
        assert_eq!(
            parse(Some("Foo.Bar.com")),
            Ok(HostPattern::Exact("foo.bar.com".to_owned()))
        );
        assert_eq!(
            parse(Some("*.foo.com")),
            Ok(HostPattern::SingleLabel(".foo.com".to_owned()))
        );
    }

    #[test]
    fn lone_stars_inner_stars_ips_and_ports_are_refused() {
        for host in [
            "*",
            "*.",
            "a.*.com",
            "foo*.com",
            "10.0.0.1",
            "foo.com:80",
            "::1",
        ] {
            assert!(parse(Some(host)).is_err(), "{host}");
        }
    }
}
