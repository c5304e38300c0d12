//! Istio DestinationRule `trafficPolicy.tls` at a gateway. The rule's
//! `host` is read in the rule's namespace (`reviews` in `default` is
//! `reviews.default.svc.cluster.local`), or is a ServiceEntry host or a
//! wildcard. `credentialName` names a Secret in the gateway workload's
//! namespace, where Istio's gateway SDS looks for it.
//!
//! SNI: `sni` when set, else the destination host. (Istio's auto-SNI sends
//! the request's authority instead, which would need a connection pool per
//! authority; the destination host is what a ServiceEntry for an external
//! API names, and what its certificate covers.) The certificate is checked
//! against `subjectAltNames` when given, else against the SNI (Istio's
//! auto-SAN validation); with no CA at all, against the system roots
//! (`VERIFY_CERTIFICATE_AT_CLIENT`, on by default since Istio 1.20).

use std::collections::HashMap;

use vestibule_api::istio::ClientTlsSettings;
use vestibule_api::DestinationRule;
use vestibule_ir::status::{Condition, ResourceStatus, Statuses, Warning};
use vestibule_ir::{UpstreamTls, UpstreamVerify};

use super::{Context, Decision, HostRules};

/// DestinationRule decisions by host.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    exact: HashMap<String, HostRules>,
    /// `*.example.com` as `.example.com` (`*` as the empty suffix), longest
    /// first: the most specific wins.
    wildcards: Vec<(String, HostRules)>,
}

/// The decision for `host`:`port`: an exact rule, else the longest
/// wildcard that covers the host.
pub(crate) fn lookup<'r>(rules: &'r Rules, host: &str, port: u16) -> Option<&'r Decision> {
    if let Some(found) = rules.exact.get(host) {
        return found.decision(port);
    }
    rules
        .wildcards
        .iter()
        .find(|(suffix, _)| host.ends_with(suffix.as_str()))
        .and_then(|(_, found)| found.decision(port))
}

/// Reads every DestinationRule with a `tls` setting, oldest first: the
/// first rule for a host is the one applied (a later one is noted).
pub(crate) fn destination_rules(cx: &Context<'_>, statuses: &mut Statuses) -> Rules {
    let mut rules = Rules::default();
    let mut owners: HashMap<String, String> = HashMap::new();
    for rule in crate::by_creation(&cx.inputs.destination_rules) {
        let Some(policy) = &rule.spec.traffic_policy else {
            continue;
        };
        if policy.tls.is_none() && policy.port_level_settings.iter().all(|p| p.tls.is_none()) {
            continue;
        }
        let mut status = ResourceStatus {
            namespace: rule.namespace().to_owned(),
            name: rule.name().to_owned(),
            source: rule.source.to_string(),
            conditions: Vec::new(),
            warnings: Vec::new(),
        };
        let host = host_key(cx, rule);
        let this = format!("{}/{}", rule.namespace(), rule.name());
        if let Some(owner) = owners.get(&host) {
            status.conditions.push(
                Condition::new(
                    "Accepted",
                    false,
                    "Conflicted",
                    format!("host {host:?} already has TLS settings from DestinationRule {owner}"),
                )
                .at_generation(rule.meta.generation),
            );
            statuses.destination_rules.push(status);
            continue;
        }
        owners.insert(host.clone(), this);
        let mut found = HostRules::default();
        if let Some(tls) = &policy.tls {
            found.default = Some(decide(cx, tls, "trafficPolicy.tls", &mut status));
        }
        for (index, port) in policy.port_level_settings.iter().enumerate() {
            let (Some(tls), Some(selector)) = (&port.tls, &port.port) else {
                continue;
            };
            let field = format!("trafficPolicy.portLevelSettings[{index}].tls");
            let decision = decide(cx, tls, &field, &mut status);
            match u16::try_from(selector.number) {
                Ok(number) if number > 0 => {
                    found.ports.insert(number, decision);
                }
                _ => status.warnings.push(Warning::not_applied(format!(
                    "trafficPolicy.portLevelSettings[{index}].port.number {} is not a port",
                    selector.number
                ))),
            }
        }
        let accepted = status.warnings.is_empty();
        status.conditions.push(
            Condition::new(
                "Accepted",
                accepted,
                if accepted { "Accepted" } else { "Invalid" },
                if accepted {
                    String::new()
                } else {
                    "TLS settings not applied (see warnings): requests to the host get 503"
                        .to_owned()
                },
            )
            .at_generation(rule.meta.generation),
        );
        statuses.destination_rules.push(status);
        match host.strip_prefix('*') {
            Some(suffix) => rules.wildcards.push((suffix.to_owned(), found)),
            None => {
                rules.exact.insert(host, found);
            }
        }
    }
    rules
        .wildcards
        .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
    rules
}

/// The rule's host as the backends name theirs: a registry host, or the
/// wildcard as written (lower-case).
fn host_key(cx: &Context<'_>, rule: &DestinationRule) -> String {
    let host = rule.spec.host.trim_end_matches('.').to_ascii_lowercase();
    if host.starts_with('*') {
        host
    } else {
        cx.registry.fqdn(&host, rule.namespace())
    }
}

/// One `ClientTLSSettings`; a problem is a warning on the rule and a
/// refusal (fail closed).
fn decide(
    cx: &Context<'_>,
    tls: &ClientTlsSettings,
    field: &str,
    status: &mut ResourceStatus,
) -> Decision {
    match settings(cx, tls) {
        Ok(decision) => decision,
        Err(reason) => {
            status
                .warnings
                .push(Warning::not_applied(format!("{field}: {reason}")));
            Decision::Refused
        }
    }
}

fn settings(cx: &Context<'_>, tls: &ClientTlsSettings) -> Result<Decision, String> {
    let mode = tls
        .mode
        .as_deref()
        .unwrap_or("DISABLE")
        .to_ascii_uppercase();
    let mutual = match mode.as_str() {
        "DISABLE" => return Ok(Decision::Plain),
        "SIMPLE" => false,
        "MUTUAL" => true,
        "ISTIO_MUTUAL" => {
            return Err(
                "mode ISTIO_MUTUAL needs the mesh's workload certificates, which a \
                 gateway outside the mesh does not have; use SIMPLE or MUTUAL with credentialName"
                    .to_owned(),
            )
        }
        other => {
            return Err(format!(
                "mode {other:?} is not DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL"
            ))
        }
    };
    let paths = [
        ("clientCertificate", &tls.client_certificate),
        ("privateKey", &tls.private_key),
        ("caCertificates", &tls.ca_certificates),
        ("caCrl", &tls.ca_crl),
    ];
    if let Some((name, _)) = paths.iter().find(|(_, value)| value.is_some()) {
        return Err(format!(
            "{name} is a file path, which only sidecars read; a gateway takes credentialName \
             (a Secret in {})",
            cx.identity.namespace
        ));
    }
    let namespace = cx.identity.namespace.as_str();
    let credential = tls
        .credential_name
        .as_deref()
        .filter(|name| !name.is_empty());
    let client_certificate = match (mutual, credential) {
        (false, _) => None,
        (true, Some(name)) => Some(
            cx.store
                .certified_key(namespace, name)
                .map_err(|error| format!("credentialName: {error}"))?,
        ),
        (true, None) => {
            return Err(format!(
                "mode MUTUAL needs credentialName: a Secret in {namespace} with the client \
                 certificate and key"
            ))
        }
    };
    let verify = if tls.insecure_skip_verify == Some(true) {
        UpstreamVerify::InsecureSkipVerify
    } else {
        match credential {
            None => UpstreamVerify::SystemRoots,
            Some(name) => match cx.store.credential_ca(namespace, name) {
                Ok(Some(ca)) => UpstreamVerify::Ca {
                    pem: ca.pem,
                    source: ca.source,
                },
                // The client certificate's Secret need not carry a CA.
                Ok(None) if mutual => UpstreamVerify::SystemRoots,
                Ok(None) => {
                    return Err(format!(
                        "credentialName: Secret {namespace}/{name} has no CA certificate \
                         (ca.crt or cacert, here or in {name}-cacert)"
                    ))
                }
                Err(error) => return Err(format!("credentialName: {error}")),
            },
        }
    };
    Ok(Decision::Tls(UpstreamTls {
        sni: tls.sni.clone().filter(|sni| !sni.is_empty()),
        verify,
        subject_alt_names: tls.subject_alt_names.clone(),
        client_certificate,
        alpn: Vec::new(),
    }))
}
