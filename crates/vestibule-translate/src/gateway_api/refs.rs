//! References between Gateway API objects: ReferenceGrant checks and
//! backend references resolved to backends.

use vestibule_api::gateway_api::ObjectReference;
use vestibule_api::ReferenceGrant;
use vestibule_ir::BackendKey;

use crate::builder::TableBuilder;
use crate::services::{Registry, CLUSTER_DOMAIN};

/// Who refers: `(group, kind, namespace)` of the referring object.
pub(crate) struct From<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
}

/// "A ReferenceGrant in the namespace of the referent allows references
/// from the listed (group, kind, namespace) to the listed (group, kind,
/// name?)." Same-namespace references need no grant.
pub(crate) fn permitted(
    grants: &[ReferenceGrant],
    from: &From<'_>,
    to_group: &str,
    to_kind: &str,
    to_namespace: &str,
    to_name: &str,
) -> bool {
    if from.namespace == to_namespace {
        return true;
    }
    grants
        .iter()
        .filter(|grant| grant.namespace() == to_namespace)
        .any(|grant| {
            grant.spec.from.iter().any(|f| {
                f.group == from.group && f.kind == from.kind && f.namespace == from.namespace
            }) && grant.spec.to.iter().any(|t| {
                t.group == to_group
                    && t.kind == to_kind
                    && t.name.as_deref().is_none_or(|name| name == to_name)
            })
        })
}

/// Why a backend reference could not be used: the `ResolvedRefs` reason
/// and a message.
pub(crate) type RefProblem = (&'static str, String);

/// Resolves a `backendRef` to a backend (registering it), or says why not.
/// `force_h2c` is for GRPCRoute backends, which are always HTTP/2.
pub(crate) fn backend(
    reference: &ObjectReference,
    from: &From<'_>,
    grants: &[ReferenceGrant],
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    force_h2c: bool,
) -> Result<BackendKey, RefProblem> {
    let group = reference.group.as_deref().unwrap_or("");
    let kind = reference.kind.as_deref().unwrap_or("Service");
    if !(group.is_empty() || group == "core") || kind != "Service" {
        return Err((
            "InvalidKind",
            format!(
                "backendRef {group}/{kind} {} is not a Service",
                reference.name
            ),
        ));
    }
    let namespace = reference.namespace.as_deref().unwrap_or(from.namespace);
    if !permitted(grants, from, "", "Service", namespace, &reference.name) {
        return Err((
            "RefNotPermitted",
            format!(
                "no ReferenceGrant in namespace {namespace} allows {} from {} to Service {}",
                from.kind, from.namespace, reference.name
            ),
        ));
    }
    let Some(port) = reference.port.and_then(|port| u16::try_from(port).ok()) else {
        return Err((
            "BackendNotFound",
            format!(
                "backendRef to Service {namespace}/{} needs a port",
                reference.name
            ),
        ));
    };
    let host = format!("{}.{namespace}.{CLUSTER_DOMAIN}", reference.name);
    let mut target = registry
        .resolve(&host, namespace, Some(port))
        .map_err(|error| {
            (
                "BackendNotFound",
                format!("Service {namespace}/{}: {error}", reference.name),
            )
        })?;
    if force_h2c {
        target.protocol = vestibule_ir::AppProtocol::H2c;
    }
    Ok(builder.backend(registry, &target))
}
