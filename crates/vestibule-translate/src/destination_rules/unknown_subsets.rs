//! A VirtualService destination naming a subset that no DestinationRule
//! visible to the gateway defines: Istio builds no cluster for it, so the
//! route answers 503 (`NR`/`UH`); the backend here has no endpoints, which
//! answers the same, and the VirtualService's status names the subset.

use std::collections::HashMap;

use vestibule_api::istio::Destination;
use vestibule_api::{Inputs, VirtualService};
use vestibule_ir::status::{Statuses, Warning};
use vestibule_ir::RouteTable;

use crate::services::Registry;

pub(super) fn report(
    inputs: &Inputs,
    registry: &Registry<'_>,
    table: &RouteTable,
    statuses: &mut Statuses,
) {
    // Warnings first, statuses after: a lookup per VirtualService in the
    // list of statuses would make ten thousand of them quadratic.
    let mut found = Vec::new();
    for vs in &inputs.virtual_services {
        for (field, destination) in destinations(vs) {
            if let Some(warning) = undefined(registry, table, vs, destination, &field) {
                found.push((vs.namespace(), vs.name(), warning));
            }
        }
    }
    if found.is_empty() {
        return;
    }
    let index: HashMap<(&str, &str), usize> = statuses
        .virtual_services
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.namespace.as_str(), s.name.as_str()), i))
        .collect();
    let found: Vec<(usize, Warning)> = found
        .into_iter()
        .filter_map(|(namespace, name, warning)| Some((*index.get(&(namespace, name))?, warning)))
        .collect();
    for (i, warning) in found {
        let warnings = &mut std::sync::Arc::make_mut(&mut statuses.virtual_services[i]).warnings;
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }
}

/// Every route destination of `vs` that names a subset, with the field
/// that holds it (named only for those: most destinations name none).
fn destinations<'v>(vs: &'v VirtualService) -> Vec<(String, &'v Destination)> {
    let mut found = Vec::new();
    let mut add = |kind: &str, i: usize, j: usize, destination: &'v Destination| {
        if destination.subset.as_deref().is_some_and(|s| !s.is_empty()) {
            found.push((format!("{kind}[{i}].route[{j}]"), destination));
        }
    };
    for (i, rule) in vs.spec.http.iter().enumerate() {
        for (j, route) in rule.route.iter().enumerate() {
            add("http", i, j, &route.destination);
        }
    }
    for (i, rule) in vs.spec.tls.iter().enumerate() {
        for (j, route) in rule.route.iter().enumerate() {
            add("tls", i, j, &route.destination);
        }
    }
    for (i, rule) in vs.spec.tcp.iter().enumerate() {
        for (j, route) in rule.route.iter().enumerate() {
            add("tcp", i, j, &route.destination);
        }
    }
    found
}

/// The warning for `destination` when its subset backend exists and no
/// rule defined the subset.
fn undefined(
    registry: &Registry<'_>,
    table: &RouteTable,
    vs: &VirtualService,
    destination: &Destination,
    field: &str,
) -> Option<Warning> {
    let subset = destination.subset.as_deref().filter(|s| !s.is_empty())?;
    let port = destination
        .port
        .as_ref()
        .and_then(|port| u16::try_from(port.number).ok())
        .filter(|port| *port != 0);
    let target = registry
        .resolve(&destination.host, vs.namespace(), port)
        .ok()?;
    let key = format!("outbound|{}|{subset}|{}", target.port, target.host);
    let backend = table.backends.get(&key)?;
    let labels = backend.subset.as_ref().map(|s| s.labels.as_ref());
    (labels == Some(None)).then(|| {
        Warning::other(format!(
            "{field}.destination.subset: no DestinationRule visible to the gateway defines \
             subset {subset:?} of host {:?}: requests get 503",
            target.host
        ))
    })
}
