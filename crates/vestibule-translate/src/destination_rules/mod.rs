//! Istio DestinationRule subsets and load balancing, applied to the
//! backends the routes produced (after every route is known, before
//! upstream TLS, which may still empty a backend).
//!
//! A route destination with `subset: v2` got its own backend
//! (`outbound|9080|v2|reviews.default.svc.cluster.local`, Istio's cluster
//! name). Here it gets the subset's labels from the merged rule for its
//! host (see [`index`]), and with them its endpoints: those of the host
//! whose labels match. The labels stay on the backend, so that an
//! endpoint-only update ([`crate::endpoints`], [`resolve_endpoints`])
//! selects the same endpoints a full translation does. A subset that no
//! visible rule defines keeps no endpoints (Istio builds no cluster for it
//! and the route answers 503) and the VirtualService's status names it.
//!
//! Every backend, with or without a subset, gets the load balancer, the
//! connection pool and the outlier detection the merged rule asks for (see
//! [`policy`], [`pool`], [`outlier`]).

mod hash;
mod index;
mod outlier;
mod policy;
mod pool;
mod unknown_subsets;

use std::collections::{BTreeMap, BTreeSet};

use vestibule_api::Inputs;
use vestibule_ir::status::{Condition, ResourceStatus, Statuses, Warning};
use vestibule_ir::{Backend, Endpoint, EndpointTable, RouteTable};

use crate::services::Registry;
use crate::GatewayIdentity;

/// What the DestinationRules said about themselves, to be put on their
/// status once upstream TLS has put its own ([`Report::into_statuses`]).
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// `(namespace, name)` → warnings, for every DestinationRule.
    warnings: BTreeMap<(String, String), Vec<Warning>>,
}

/// Sets each backend's load balancer and each subset backend's labels and
/// endpoints; notes on the VirtualServices the subsets no rule defines.
pub(crate) fn apply(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    registry: &Registry<'_>,
    table: &mut RouteTable,
    endpoints: &mut EndpointTable,
    statuses: &mut Statuses,
) -> Report {
    let index = index::Index::new(inputs, registry, &identity.namespace);
    for backend in table.backends.values_mut() {
        let merged = index.lookup(&backend.host).unwrap_or_default();
        let mut subset_rule = None;
        if let Some(subset) = &mut backend.subset {
            subset_rule = merged.subset(&subset.name);
            subset.labels = subset_rule.map(|s| s.labels.clone());
            endpoints
                .backends
                .insert(backend.key.clone(), resolve_endpoints(registry, backend));
        }
        let port = backend.port;
        let settings = policy::load_balancer_settings(merged.policy, subset_rule, port);
        backend.load_balancer = policy::load_balancer(settings);
        backend.warmup = settings.and_then(|lb| policy::warmup(lb, "").0);
        backend.consistent_hash = settings
            .and_then(|s| s.consistent_hash.as_ref())
            .and_then(|hash| hash::convert(hash, "").0);
        let pool = policy::connection_pool_settings(merged.policy, subset_rule, port);
        backend.connection_pool = pool.map(|p| pool::convert(p, "").0).unwrap_or_default();
        backend.protocol = pool::protocol(pool, backend.protocol);
        backend.outlier_detection = policy::outlier_settings(merged.policy, subset_rule, port)
            .map(|settings| outlier::convert(settings, "").0);
    }
    unknown_subsets::report(inputs, registry, table, statuses);
    let mut report = Report::default();
    for rule in &inputs.destination_rules {
        let mut warnings = policy::warnings(rule);
        if !index::exported_to(rule, &identity.namespace) {
            warnings.push(Warning::not_applied(
                crate::visibility::not_exported_to_gateway(
                    &rule.spec.export_to,
                    &identity.namespace,
                ),
            ));
        }
        report.warnings.insert(
            (rule.namespace().to_owned(), rule.name().to_owned()),
            warnings,
        );
    }
    for group in index.groups() {
        merge_warnings(&group, &mut report);
    }
    report
}

/// Istio merges the rules of one host and namespace; what a later rule
/// loses in the merge is said on its status.
fn merge_warnings(group: &[&vestibule_api::DestinationRule], report: &mut Report) {
    let mut defined: BTreeMap<&str, String> = BTreeMap::new();
    let mut policy_from: Option<String> = None;
    for rule in group {
        let key = (rule.namespace().to_owned(), rule.name().to_owned());
        let this = format!("{}/{}", rule.namespace(), rule.name());
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        for (index, subset) in rule.spec.subsets.iter().enumerate() {
            if !seen.insert(subset.name.as_str()) {
                found.push(Warning::not_applied(format!(
                    "subsets[{index}]: subset {:?} is defined twice in this rule: the first applies",
                    subset.name
                )));
                continue;
            }
            match defined.get(subset.name.as_str()) {
                Some(owner) => found.push(Warning::not_applied(format!(
                    "subsets[{index}]: subset {:?} is already defined by the older \
                     DestinationRule {owner} for the same host: ignored",
                    subset.name
                ))),
                None => {
                    defined.insert(&subset.name, this.clone());
                }
            }
        }
        if rule.spec.traffic_policy.is_some() {
            match &policy_from {
                Some(owner) => found.push(Warning::not_applied(format!(
                    "trafficPolicy: the older DestinationRule {owner} for the same host \
                     already has one, which applies instead"
                ))),
                None => policy_from = Some(this.clone()),
            }
        }
        report.warnings.entry(key).or_default().extend(found);
    }
}

impl Report {
    /// Adds the warnings to the DestinationRules' statuses (made by
    /// upstream TLS for the rules with `tls`; made here, accepted, for the
    /// others).
    pub(crate) fn into_statuses(self, inputs: &Inputs, statuses: &mut Statuses) {
        for rule in crate::by_creation(&inputs.destination_rules) {
            let key = (rule.namespace().to_owned(), rule.name().to_owned());
            let warnings = self.warnings.get(&key).cloned().unwrap_or_default();
            let existing = statuses
                .destination_rules
                .iter_mut()
                .find(|s| s.namespace == key.0 && s.name == key.1);
            match existing {
                Some(status) => status.warnings.extend(warnings),
                None => statuses.destination_rules.push(ResourceStatus {
                    namespace: key.0,
                    name: key.1,
                    source: rule.source.to_string(),
                    conditions: vec![Condition::new("Accepted", true, "Accepted", "")
                        .at_generation(rule.meta.generation)],
                    warnings,
                }),
            }
        }
    }
}

/// The endpoints of `backend` in `registry`: its service port's ready
/// endpoints, only those of its subset when it has one. What a full
/// translation gives and what an endpoint-only update recomputes.
pub(crate) fn resolve_endpoints(registry: &Registry<'_>, backend: &Backend) -> Vec<Endpoint> {
    registry
        .resolve(&backend.host, "", Some(backend.port))
        .map(|target| registry.subset_endpoints(&target, backend.subset.as_ref()))
        .unwrap_or_default()
}
