//! Istio Gateways, VirtualServices and DestinationRules:
//! - IST0101 ReferencedResourceNotFound: a gateway, a destination's host
//!   (no Service, no ServiceEntry), its port, or its subset, that nothing
//!   defines (errors, as istioctl reports them);
//! - IST0132 VirtualServiceHostNotFoundInGateway: a host none of the bound
//!   gateways' servers serve;
//! - IST0131 VirtualServiceIneffectiveMatch: a rule an earlier rule's
//!   prefix always takes first;
//! - VST0001: a Gateway of this gateway that no VirtualService binds (its
//!   servers answer 404 to everything);
//! - VST0002 (info): a host that several VirtualServices bound to one
//!   gateway share (Istio merges them, oldest first: legitimate, but the
//!   order is worth knowing).

use std::collections::BTreeMap;

use vestibule_api::istio::HttpRoute;
use vestibule_api::{Inputs, IstioGateway, VirtualService};
use vestibule_translate::GatewayIdentity;

use super::{Finding, Level};

pub(super) fn analyze(inputs: &Inputs, identity: &GatewayIdentity) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut hosts: BTreeMap<(String, String, String), Vec<&VirtualService>> = BTreeMap::new();
    for vs in &inputs.virtual_services {
        let mut bound = Vec::new();
        for reference in &vs.spec.gateways {
            if reference == "mesh" {
                continue;
            }
            let (namespace, name) = gateway_key(reference, vs.namespace());
            match find_gateway(inputs, &namespace, &name) {
                Some(gateway) => bound.push(gateway),
                None => findings.push(Finding::about(
                    "IST0101",
                    Level::Error,
                    "VirtualService",
                    vs,
                    format!("Referenced gateway not found: \"{reference}\""),
                )),
            }
        }
        for host in &vs.spec.hosts {
            let served = bound.iter().any(|gateway| serves(gateway, host));
            if !bound.is_empty() && !served {
                findings.push(Finding::about(
                    "IST0132",
                    Level::Warning,
                    "VirtualService",
                    vs,
                    format!("one or more host [{host}] defined in VirtualService {}/{} not found in Gateway {}.", vs.namespace(), vs.name(), names(&bound)),
                ));
            }
            for gateway in &bound {
                let key = (
                    gateway.namespace().to_owned(),
                    gateway.name().to_owned(),
                    host.to_ascii_lowercase(),
                );
                hosts.entry(key).or_default().push(vs);
            }
        }
        destinations(inputs, vs, &mut findings);
        subsets(inputs, vs, &mut findings);
        ineffective(vs, &mut findings);
    }
    for ((namespace, name, host), services) in &hosts {
        if services.len() > 1 {
            for vs in services {
                let others: Vec<String> = services
                    .iter()
                    .filter(|other| {
                        other.namespace() != vs.namespace() || other.name() != vs.name()
                    })
                    .map(|other| format!("{}/{}", other.namespace(), other.name()))
                    .collect();
                findings.push(Finding::about(
                    "VST0002",
                    Level::Info,
                    "VirtualService",
                    vs,
                    format!("host {host} on Gateway {namespace}/{name} is also in {}: their rules are merged, the oldest resource's first", others.join(", ")),
                ));
            }
        }
    }
    for gateway in &inputs.gateways {
        let ours = gateway.spec.selector.as_ref().is_none_or(|selector| {
            selector
                .iter()
                .all(|(key, value)| identity.labels.get(key) == Some(value))
        });
        let unbound = !inputs.virtual_services.iter().any(|vs| {
            vs.spec.gateways.iter().any(|reference| {
                gateway_key(reference, vs.namespace())
                    == (gateway.namespace().to_owned(), gateway.name().to_owned())
            })
        });
        if ours && unbound {
            findings.push(Finding::about(
                "VST0001",
                Level::Warning,
                "Gateway",
                gateway,
                "no VirtualService binds this Gateway: its servers answer every request with 404"
                    .to_owned(),
            ));
        }
    }
    findings
}

/// `name` is in the VirtualService's namespace; `namespace/name` names it.
fn gateway_key(reference: &str, namespace: &str) -> (String, String) {
    match reference.split_once('/') {
        Some((namespace, name)) => (namespace.to_owned(), name.to_owned()),
        None => (namespace.to_owned(), reference.to_owned()),
    }
}

fn find_gateway<'a>(inputs: &'a Inputs, namespace: &str, name: &str) -> Option<&'a IstioGateway> {
    inputs
        .gateways
        .iter()
        .find(|gateway| gateway.namespace() == namespace && gateway.name() == name)
}

fn names(gateways: &[&IstioGateway]) -> String {
    let names: Vec<String> = gateways
        .iter()
        .map(|g| format!("{}/{}", g.namespace(), g.name()))
        .collect();
    names.join(", ")
}

/// Whether one of the gateway's servers takes `host` (a server host may
/// carry a `namespace/` prefix, and be a wildcard).
fn serves(gateway: &IstioGateway, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    gateway
        .spec
        .servers
        .iter()
        .flat_map(|server| &server.hosts)
        .any(|served| {
            let served = served
                .rsplit_once('/')
                .map_or(served.as_str(), |(_, host)| host)
                .to_ascii_lowercase();
            served == "*"
                || served == host
                || served
                    .strip_prefix('*')
                    .is_some_and(|suffix| host.ends_with(suffix) && host.len() > suffix.len())
        })
}

/// A Kubernetes Service host in full (`name` and `name.namespace` are
/// relative to `namespace`).
fn full_host(host: &str, namespace: &str) -> String {
    let host = host.to_ascii_lowercase();
    match host.matches('.').count() {
        0 => format!("{host}.{namespace}.svc.cluster.local"),
        1 => format!("{host}.svc.cluster.local"),
        _ => host,
    }
}

/// IST0101 for a destination whose host no Service or ServiceEntry
/// defines, or whose port the Service does not have (istioctl's
/// "Referenced host not found" and "Referenced host:port not found").
fn destinations(inputs: &Inputs, vs: &VirtualService, findings: &mut Vec<Finding>) {
    let destinations = vs.spec.http.iter().flat_map(|rule| {
        rule.route
            .iter()
            .map(|route| &route.destination)
            .chain(rule.mirror.as_deref())
            .chain(rule.mirrors.iter().map(|mirror| &mirror.destination))
    });
    for destination in destinations {
        let host = full_host(&destination.host, vs.namespace());
        let port = destination.port.as_ref().map(|port| i64::from(port.number));
        let message = match known_ports(inputs, &host) {
            None => format!("Referenced host not found: \"{}\"", destination.host),
            Some(ports) => match port {
                Some(port) if !ports.is_empty() && !ports.contains(&port) => format!(
                    "Referenced host:port not found: \"{}:{port}\"",
                    destination.host
                ),
                _ => continue,
            },
        };
        findings.push(Finding::about(
            "IST0101",
            Level::Error,
            "VirtualService",
            vs,
            message,
        ));
    }
}

/// The ports of the Service or ServiceEntry that defines `host` (empty:
/// any port), `None` when nothing does.
fn known_ports(inputs: &Inputs, host: &str) -> Option<Vec<i64>> {
    let service = inputs
        .services
        .iter()
        .find(|service| full_host(service.name(), service.namespace()) == host);
    if let Some(service) = service {
        return Some(service.spec.ports.iter().map(|port| port.port).collect());
    }
    let entry = inputs.service_entries.iter().find(|entry| {
        entry.spec.hosts.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            match pattern.strip_prefix('*') {
                Some(suffix) => host.ends_with(suffix),
                None => pattern == host,
            }
        })
    })?;
    Some(
        entry
            .spec
            .ports
            .iter()
            .map(|port| i64::from(port.number))
            .collect(),
    )
}

/// IST0101 for a destination subset no DestinationRule for its host defines.
fn subsets(inputs: &Inputs, vs: &VirtualService, findings: &mut Vec<Finding>) {
    let destinations = vs.spec.http.iter().flat_map(|rule| {
        rule.route
            .iter()
            .map(|route| &route.destination)
            .chain(rule.mirror.as_deref())
    });
    for destination in destinations {
        let Some(subset) = &destination.subset else {
            continue;
        };
        let host = full_host(&destination.host, vs.namespace());
        let defined = inputs.destination_rules.iter().any(|rule| {
            full_host(&rule.spec.host, rule.namespace()) == host
                && rule.spec.subsets.iter().any(|s| &s.name == subset)
        });
        if !defined {
            findings.push(Finding::about(
                "IST0101",
                Level::Error,
                "VirtualService",
                vs,
                format!(
                    "Referenced host+subset in destinationrule not found: \"{}+{subset}\"",
                    destination.host
                ),
            ));
        }
    }
}

/// IST0131 for a rule whose every match an earlier rule's lone prefix
/// match (no other condition) already takes.
fn ineffective(vs: &VirtualService, findings: &mut Vec<Finding>) {
    let lone_prefix = |rule: &HttpRoute| -> Option<String> {
        let [only] = rule.matches.as_slice() else {
            return None;
        };
        let plain = only.headers.is_empty()
            && only.without_headers.is_empty()
            && only.query_params.is_empty()
            && only.port.is_none()
            && only.gateways.is_empty()
            && !only.ignore_uri_case
            && only.method.is_none()
            && only.authority.is_none()
            && only.scheme.is_none();
        plain.then(|| only.uri.as_ref()?.prefix.clone()).flatten()
    };
    for (index, rule) in vs.spec.http.iter().enumerate() {
        let Some(taken) = vs.spec.http[..index].iter().find_map(|earlier| {
            let prefix = lone_prefix(earlier)?;
            let covered = !rule.matches.is_empty()
                && rule.matches.iter().all(|m| {
                    m.uri.as_ref().is_some_and(|uri| {
                        uri.prefix
                            .as_deref()
                            .or(uri.exact.as_deref())
                            .is_some_and(|path| path.starts_with(&prefix))
                    })
                });
            covered.then_some(prefix)
        }) else {
            continue;
        };
        findings.push(Finding::about(
            "IST0131",
            Level::Info,
            "VirtualService",
            vs,
            format!("VirtualService rule #{index} match is not used: an earlier rule's prefix {taken:?} takes every request it would"),
        ));
    }
}
