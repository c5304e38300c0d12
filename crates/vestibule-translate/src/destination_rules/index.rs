//! Which DestinationRules apply to a host, as Istio decides it for a
//! gateway: only rules exported to the gateway's namespace count; the
//! rule's `host` is read in the rule's namespace; an exact host beats a
//! wildcard, a longer wildcard a shorter one; the gateway's own namespace
//! beats the service's, which beats any other; and the rules of the chosen
//! namespace for the chosen host are merged, oldest first, as Istio's
//! `mergeDestinationRule` does: subsets are unioned by name (the first
//! definition of a name wins), and the first rule that has a top-level
//! `trafficPolicy` gives it whole (policies are never merged field by
//! field).

use std::collections::HashMap;

use vestibule_api::istio::{Subset, TrafficPolicy};
use vestibule_api::{DestinationRule, Inputs};

use crate::services::{Registry, CLUSTER_DOMAIN};

/// The visible DestinationRules, by host.
pub(crate) struct Index<'a> {
    gateway_namespace: &'a str,
    exact: HashMap<String, Vec<&'a DestinationRule>>,
    /// `*.example.com` as `.example.com` (`*` as ""), longest first.
    wildcards: Vec<(String, Vec<&'a DestinationRule>)>,
}

/// The DestinationRules for one host merged into one.
#[derive(Default)]
pub(crate) struct Merged<'a> {
    /// `(subset, the rule that defined it)`, first definition of a name only.
    pub subsets: Vec<(&'a Subset, &'a DestinationRule)>,
    /// The oldest top-level policy.
    pub policy: Option<&'a TrafficPolicy>,
}

impl<'a> Merged<'a> {
    pub(crate) fn subset(&self, name: &str) -> Option<&'a Subset> {
        self.subsets
            .iter()
            .find(|(subset, _)| subset.name == name)
            .map(|(subset, _)| *subset)
    }
}

impl<'a> Index<'a> {
    pub(crate) fn new(
        inputs: &'a Inputs,
        registry: &Registry<'_>,
        gateway_namespace: &'a str,
    ) -> Index<'a> {
        let mut exact: HashMap<String, Vec<&'a DestinationRule>> = HashMap::new();
        let mut wildcards: HashMap<String, Vec<&'a DestinationRule>> = HashMap::new();
        for rule in crate::by_creation(&inputs.destination_rules) {
            if !exported_to(rule, gateway_namespace) {
                continue;
            }
            let host = host_key(registry, rule);
            match host.strip_prefix('*') {
                Some(suffix) => wildcards.entry(suffix.to_owned()).or_default().push(rule),
                None => exact.entry(host).or_default().push(rule),
            }
        }
        let mut wildcards: Vec<_> = wildcards.into_iter().collect();
        wildcards.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Index {
            gateway_namespace,
            exact,
            wildcards,
        }
    }

    /// The merged rule for `host` (a registry host), if any applies.
    pub(crate) fn lookup(&self, host: &str) -> Option<Merged<'a>> {
        let rules = self.exact.get(host).or_else(|| {
            self.wildcards
                .iter()
                .find(|(suffix, _)| host.ends_with(suffix.as_str()))
                .map(|(_, rules)| rules)
        })?;
        let service_namespace = service_namespace(host);
        let in_namespace = |namespace: &str| {
            rules
                .iter()
                .filter(|rule| rule.namespace() == namespace)
                .copied()
                .collect::<Vec<_>>()
        };
        let mut chosen = in_namespace(self.gateway_namespace);
        if chosen.is_empty() {
            if let Some(namespace) = service_namespace {
                chosen = in_namespace(namespace);
            }
        }
        if chosen.is_empty() {
            chosen = rules.clone();
        }
        let mut merged = Merged::default();
        for rule in chosen {
            for subset in &rule.spec.subsets {
                if merged.subset(&subset.name).is_none() {
                    merged.subsets.push((subset, rule));
                }
            }
            if merged.policy.is_none() {
                merged.policy = rule.spec.traffic_policy.as_ref();
            }
        }
        Some(merged)
    }

    /// Every rule that takes part in some merge, with the rules merged
    /// before it for the same host and namespace (for the status of the
    /// later ones: duplicate subsets, a policy that loses).
    pub(crate) fn groups(&self) -> impl Iterator<Item = Vec<&'a DestinationRule>> + '_ {
        self.exact
            .values()
            .chain(self.wildcards.iter().map(|(_, rules)| rules))
            .flat_map(|rules| {
                let mut by_namespace: Vec<(&str, Vec<&'a DestinationRule>)> = Vec::new();
                for rule in rules {
                    let namespace = rule.namespace();
                    match by_namespace.iter_mut().find(|(ns, _)| *ns == namespace) {
                        Some((_, group)) => group.push(*rule),
                        None => by_namespace.push((namespace, vec![*rule])),
                    }
                }
                by_namespace.into_iter().map(|(_, group)| group)
            })
    }
}

/// Whether the rule is exported to the gateway's `namespace` (Istio
/// `exportTo`, as for every kind: [`crate::visibility::exported_to`]).
pub(crate) fn exported_to(rule: &DestinationRule, namespace: &str) -> bool {
    crate::visibility::exported_to(&rule.spec.export_to, rule.namespace(), namespace)
}

/// The rule's host as backends name theirs: a registry host, or the
/// wildcard as written (lower-case).
pub(crate) fn host_key(registry: &Registry<'_>, rule: &DestinationRule) -> String {
    let host = rule.spec.host.trim_end_matches('.').to_ascii_lowercase();
    if host.starts_with('*') {
        host
    } else {
        registry.fqdn(&host, rule.namespace())
    }
}

/// The namespace of a Kubernetes Service host (`reviews.default.svc.cluster.local`).
fn service_namespace(host: &str) -> Option<&str> {
    let name = host.strip_suffix(CLUSTER_DOMAIN)?.strip_suffix('.')?;
    let (_, namespace) = name.split_once('.')?;
    (!namespace.contains('.')).then_some(namespace)
}
