//! Gateway API BackendTLSPolicy: TLS to the Services it targets (a port of
//! one, by `sectionName`), verified against CA ConfigMaps or the system
//! roots, for `validation.hostname` (also the SNI) or, when given, the
//! `subjectAltNames`. Status per ancestor: the Gateways whose HTTPRoutes
//! and GRPCRoutes send traffic to a target.
//!
//! Of two policies for the same port, the older applies; the newer is
//! `Accepted=False, Conflicted`. A policy whose CA references all fail is
//! `Accepted=False, NoValidCACertificate` and `ResolvedRefs=False`, and
//! its targets get no traffic (503) rather than unverified TLS.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use vestibule_api::gateway_api::{BackendTlsPolicyValidation, ObjectReference};
use vestibule_api::BackendTlsPolicy;
use vestibule_ir::status::{
    Condition, ParentReference, PolicyAncestorStatus, PolicyStatus, Statuses,
};
use vestibule_ir::{Pem, UpstreamTls, UpstreamVerify};

use super::{Context, Decision};
use crate::services::CLUSTER_DOMAIN;

/// Decisions by (service host, port).
pub(crate) type Policies = HashMap<(String, u16), Decision>;

/// A problem that makes a policy not accepted: reason and message, and
/// the `ResolvedRefs` failure when a reference caused it.
struct Rejection {
    reason: &'static str,
    message: String,
    refs: Option<(&'static str, String)>,
}

pub(crate) fn backend_tls_policies(cx: &Context<'_>, statuses: &mut Statuses) -> Policies {
    let mut policies = Policies::new();
    // Ancestors are the Gateways this controller serves.
    let served = crate::gateway_api::served_gateways(cx.inputs, cx.identity);
    for policy in crate::by_creation(&cx.inputs.backend_tls_policies) {
        let ports = target_ports(cx, policy);
        let outcome = match validation(cx, policy) {
            Ok(tls) => {
                let taken = ports.iter().find(|port| policies.contains_key(*port));
                match taken {
                    Some((host, port)) => Err(Rejection {
                        reason: "Conflicted",
                        message: format!("{host}:{port} already has an older BackendTLSPolicy"),
                        refs: None,
                    }),
                    None => Ok(tls),
                }
            }
            Err(rejection) => Err(rejection),
        };
        let decision = match &outcome {
            Ok(tls) => Some(Decision::Tls(tls.clone())),
            // A conflicted policy leaves the older one in force.
            Err(rejection) if rejection.reason == "Conflicted" => None,
            Err(_) => Some(Decision::Refused),
        };
        if let Some(decision) = decision {
            for port in &ports {
                policies
                    .entry(port.clone())
                    .or_insert_with(|| decision.clone());
            }
        }
        statuses
            .policies
            .push(status(cx, policy, &outcome.map(|_| ()), &served));
    }
    policies
}

/// The (host, port) pairs a policy's Service targets name: every port of
/// the Service, or the one `sectionName` names.
fn target_ports(cx: &Context<'_>, policy: &BackendTlsPolicy) -> Vec<(String, u16)> {
    let namespace = policy.namespace();
    let mut ports = Vec::new();
    for target in &policy.spec.target_refs {
        if !target.group.is_empty() || target.kind != "Service" {
            continue;
        }
        let Some(service) = cx
            .inputs
            .services
            .iter()
            .find(|s| s.namespace() == namespace && s.name() == target.name)
        else {
            continue;
        };
        let host = format!("{}.{namespace}.{CLUSTER_DOMAIN}", target.name);
        for port in &service.spec.ports {
            if target
                .section_name
                .as_ref()
                .is_some_and(|section| *section != port.name)
            {
                continue;
            }
            if let Ok(number) = u16::try_from(port.port) {
                ports.push((host.clone(), number));
            }
        }
    }
    ports
}

/// The TLS a policy asks for, or why it is not accepted.
fn validation(cx: &Context<'_>, policy: &BackendTlsPolicy) -> Result<UpstreamTls, Rejection> {
    let spec: &BackendTlsPolicyValidation = &policy.spec.validation;
    let invalid = |message: String| Rejection {
        reason: "Invalid",
        message,
        refs: None,
    };
    let hostname = spec.hostname.trim().to_ascii_lowercase();
    if hostname.is_empty() || hostname.contains('*') {
        return Err(invalid(
            "validation.hostname must be a host name without wildcards".to_owned(),
        ));
    }
    let verify = match (
        spec.ca_certificate_refs.is_empty(),
        spec.well_known_ca_certificates.as_deref(),
    ) {
        (true, Some("System")) => UpstreamVerify::SystemRoots,
        (true, Some(other)) => {
            return Err(invalid(format!(
                "validation.wellKnownCACertificates {other:?} is not supported (only System)"
            )))
        }
        (true, None) => {
            return Err(invalid(
                "validation needs caCertificateRefs or wellKnownCACertificates".to_owned(),
            ))
        }
        (false, Some(_)) => {
            return Err(invalid(
                "validation.caCertificateRefs and wellKnownCACertificates are exclusive".to_owned(),
            ))
        }
        (false, None) => ca_bundle(cx, policy.namespace(), &spec.ca_certificate_refs)?,
    };
    let mut subject_alt_names = Vec::new();
    for (index, san) in spec.subject_alt_names.iter().enumerate() {
        let value = match san.kind.as_str() {
            "Hostname" => san.hostname.clone(),
            "URI" => san.uri.clone(),
            _ => None,
        };
        match value.filter(|value| !value.is_empty()) {
            Some(value) => subject_alt_names.push(value),
            None => {
                return Err(invalid(format!(
                    "validation.subjectAltNames[{index}]: type {:?} needs its value",
                    san.kind
                )))
            }
        }
    }
    Ok(UpstreamTls {
        sni: Some(hostname),
        verify,
        subject_alt_names,
        client_certificate: None,
        alpn: Vec::new(),
    })
}

/// The CA certificates of every valid reference, as one bundle. The
/// spec: some invalid → `ResolvedRefs=False` but the valid ones apply; all
/// invalid → not accepted either.
fn ca_bundle(
    cx: &Context<'_>,
    namespace: &str,
    refs: &[ObjectReference],
) -> Result<UpstreamVerify, Rejection> {
    let mut pem = String::new();
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    let mut reason = "InvalidCACertificateRef";
    for reference in refs {
        let group = reference.group.as_deref().unwrap_or("");
        let kind = reference.kind.as_deref().unwrap_or("");
        if !group.is_empty() || kind != "ConfigMap" {
            reason = "InvalidKind";
            problems.push(format!("{kind} {:?} is not a ConfigMap", reference.name));
            continue;
        }
        match cx.store.config_map_ca(namespace, &reference.name) {
            Ok(ca) => {
                pem.push_str(&ca.pem.0);
                if !pem.ends_with('\n') {
                    pem.push('\n');
                }
                sources.push(ca.source);
            }
            Err(error) => problems.push(error.to_string()),
        }
    }
    if sources.is_empty() {
        return Err(Rejection {
            reason: "NoValidCACertificate",
            message: problems.join("; "),
            refs: Some((reason, problems.join("; "))),
        });
    }
    Ok(UpstreamVerify::Ca {
        pem: Pem(pem.into()),
        source: sources.join(","),
    })
}

/// The policy's status: the same conditions under every ancestor Gateway.
fn status(
    cx: &Context<'_>,
    policy: &BackendTlsPolicy,
    outcome: &Result<(), Rejection>,
    served: &BTreeMap<(String, String), String>,
) -> PolicyStatus {
    let generation = policy.meta.generation;
    let conditions = match outcome {
        Ok(()) => vec![
            Condition::new("Accepted", true, "Accepted", ""),
            Condition::new("ResolvedRefs", true, "ResolvedRefs", ""),
        ],
        Err(rejection) => {
            let resolved = match &rejection.refs {
                Some((reason, message)) => {
                    Condition::new("ResolvedRefs", false, reason, message.clone())
                }
                None => Condition::new("ResolvedRefs", true, "ResolvedRefs", ""),
            };
            vec![
                Condition::new(
                    "Accepted",
                    false,
                    rejection.reason,
                    rejection.message.clone(),
                ),
                resolved,
            ]
        }
    };
    let conditions: Vec<Condition> = conditions
        .into_iter()
        .map(|condition| condition.at_generation(generation))
        .collect();
    PolicyStatus {
        kind: "BackendTLSPolicy".to_owned(),
        namespace: policy.namespace().to_owned(),
        name: policy.name().to_owned(),
        source: policy.source.to_string(),
        ancestors: ancestors(cx, policy)
            .into_iter()
            .filter_map(|gateway| {
                let controller = served.get(&gateway)?;
                Some(PolicyAncestorStatus {
                    ancestor_ref: ParentReference::gateway(&gateway.0, &gateway.1),
                    controller_name: controller.clone(),
                    conditions: conditions.clone(),
                })
            })
            .collect(),
    }
}

/// `(namespace, name)` of the Gateways with an HTTPRoute or GRPCRoute
/// that sends to one of the policy's target Services.
fn ancestors(cx: &Context<'_>, policy: &BackendTlsPolicy) -> BTreeSet<(String, String)> {
    let namespace = policy.namespace();
    let targeted = |backend_namespace: &str, name: &str| {
        backend_namespace == namespace
            && policy
                .spec
                .target_refs
                .iter()
                .any(|target| target.kind == "Service" && target.name == name)
    };
    let mut found = BTreeSet::new();
    let http = cx.inputs.http_routes.iter().map(|route| {
        let refs: Vec<ObjectReference> = route
            .spec
            .rules
            .iter()
            .flat_map(|rule| rule.backend_refs.iter().map(|b| b.reference()))
            .collect();
        (route.namespace(), &route.spec.parent_refs, refs)
    });
    let grpc = cx.inputs.grpc_routes.iter().map(|route| {
        let refs: Vec<ObjectReference> = route
            .spec
            .rules
            .iter()
            .flat_map(|rule| rule.backend_refs.iter().map(|b| b.reference()))
            .collect();
        (route.namespace(), &route.spec.parent_refs, refs)
    });
    for (route_namespace, parents, refs) in http.chain(grpc) {
        let sends = refs.iter().any(|reference| {
            let kind = reference.kind.as_deref().unwrap_or("Service");
            let group = reference.group.as_deref().unwrap_or("");
            kind == "Service"
                && group.is_empty()
                && targeted(
                    reference.namespace.as_deref().unwrap_or(route_namespace),
                    &reference.name,
                )
        });
        if !sends {
            continue;
        }
        for parent in parents {
            if parent.kind.as_deref().is_some_and(|kind| kind != "Gateway") {
                continue;
            }
            let gateway_namespace = parent.namespace.as_deref().unwrap_or(route_namespace);
            found.insert((gateway_namespace.to_owned(), parent.name.clone()));
        }
    }
    found
}
