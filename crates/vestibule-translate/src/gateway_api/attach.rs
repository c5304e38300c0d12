//! Route attachment: which listeners of which Gateways a route's
//! `parentRefs` attach it to, and under which host names.

use std::collections::BTreeMap;

use vestibule_api::gateway_api::{ParentReference, GROUP};
use vestibule_ir::status::{self, Condition};

use super::listeners::{GatewayListener, RouteKind};
use super::ServedGateway;

/// One listener a route attached to, with the hosts it serves there.
pub(crate) struct Attachment {
    pub listener: usize,
    /// Lower-case host names (`*` for every host).
    pub hostnames: Vec<String>,
}

/// The parent a reference names, as status echoes it: as written, with
/// group, kind and namespace defaulted.
pub(crate) fn status_ref(
    parent: &ParentReference,
    route_namespace: &str,
) -> status::ParentReference {
    status::ParentReference {
        group: parent.group.clone().unwrap_or_else(|| GROUP.to_owned()),
        kind: parent.kind.clone().unwrap_or_else(|| "Gateway".to_owned()),
        namespace: parent
            .namespace
            .clone()
            .unwrap_or_else(|| route_namespace.to_owned()),
        name: parent.name.clone(),
        section_name: parent.section_name.clone(),
        port: parent.port,
    }
}

/// The outcome for one parentRef: the attachments, or the `Accepted=False`
/// condition (`None` when the parent is not a Gateway this controller
/// serves, so no status is written for it).
pub(crate) enum Outcome {
    Attached(Vec<Attachment>),
    Rejected(Condition),
    NotOurs,
}

/// Attaches a route of `kind` in `namespace` with `hostnames` through one
/// parentRef.
pub(crate) fn attach(
    kind: RouteKind,
    namespace: &str,
    hostnames: &[String],
    parent: &ParentReference,
    listeners: &[GatewayListener],
    gateways: &[ServedGateway],
    namespace_labels: &BTreeMap<&str, &BTreeMap<String, String>>,
) -> Outcome {
    let parent_kind = parent.kind.as_deref().unwrap_or("Gateway");
    let parent_group = parent.group.as_deref().unwrap_or(GROUP);
    if parent_kind != "Gateway" || parent_group != GROUP {
        return Outcome::Rejected(Condition::new(
            "Accepted",
            false,
            "NoMatchingParent",
            format!("{parent_group}/{parent_kind} parents (mesh traffic) are not served by an ingress gateway"),
        ));
    }
    let gateway_namespace = parent.namespace.as_deref().unwrap_or(namespace);
    let ours = gateways
        .iter()
        .any(|g| g.namespace == gateway_namespace && g.name == parent.name);
    if !ours {
        return Outcome::NotOurs;
    }
    let candidates: Vec<(usize, &GatewayListener)> = listeners
        .iter()
        .enumerate()
        .filter(|(_, l)| l.gateway_namespace == gateway_namespace && l.gateway_name == parent.name)
        .filter(|(_, l)| parent.section_name.as_ref().is_none_or(|s| *s == l.name))
        .filter(|(_, l)| parent.port.is_none_or(|p| i64::from(l.port) == p))
        .collect();
    if candidates.is_empty() {
        return Outcome::Rejected(Condition::new(
            "Accepted",
            false,
            "NoMatchingParent",
            "no listener matches the parentRef's sectionName and port",
        ));
    }
    let allowed: Vec<(usize, &GatewayListener)> = candidates
        .into_iter()
        .filter(|(_, l)| l.usable)
        .filter(|(_, l)| l.kinds.contains(&kind) && l.admits_namespace(namespace, namespace_labels))
        .collect();
    if allowed.is_empty() {
        return Outcome::Rejected(Condition::new(
            "Accepted",
            false,
            "NotAllowedByListeners",
            format!(
                "no listener allows {} from namespace {namespace}",
                kind.name()
            ),
        ));
    }
    let attachments: Vec<Attachment> = allowed
        .into_iter()
        .filter_map(|(index, listener)| {
            let hostnames = intersect(listener.hostname.as_deref(), hostnames);
            (!hostnames.is_empty()).then_some(Attachment {
                listener: index,
                hostnames,
            })
        })
        .collect();
    if attachments.is_empty() {
        return Outcome::Rejected(Condition::new(
            "Accepted",
            false,
            "NoMatchingListenerHostname",
            "no route hostname matches a listener hostname",
        ));
    }
    Outcome::Attached(attachments)
}

/// The hosts a route serves on a listener: "route hostnames that do not
/// match the listener hostname are ignored"; no route hostnames inherit
/// the listener's; the more specific of two matching names is used.
fn intersect(listener: Option<&str>, route: &[String]) -> Vec<String> {
    let route: Vec<String> = route
        .iter()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    match (listener, route.is_empty()) {
        (None, true) => vec!["*".to_owned()],
        (None, false) => route,
        (Some(listener), true) => vec![listener.to_owned()],
        (Some(listener), false) => route
            .iter()
            .filter_map(|host| crate::hosts::intersect(listener, host))
            .collect(),
    }
}
