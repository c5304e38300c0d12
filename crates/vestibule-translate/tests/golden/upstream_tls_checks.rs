//! Checks of the upstream TLS golden cases (DestinationRule `tls` in
//! `golden/istio/upstream_tls.yaml`, BackendTLSPolicy in
//! `golden/gateway_api/backend_tls_policy.yaml`).
// Included by both golden test binaries, each using one half.
#![allow(dead_code)]

use vestibule_ir::status::{Condition, ParentReference, ResourceStatus};
use vestibule_ir::{Backend, UpstreamTls, UpstreamVerify};
use vestibule_translate::Translation;

use super::Check;

pub(crate) const ISTIO: &[(&str, Check)] = &[("upstream_tls", destination_rules)];
pub(crate) const GATEWAY_API: &[(&str, Check)] = &[("backend_tls_policy", backend_tls_policies)];

fn backend<'t>(t: &'t Translation, key: &str) -> &'t Backend {
    t.table.backends.get(key).unwrap_or_else(|| {
        let keys: Vec<&String> = t.table.backends.keys().collect();
        panic!("no backend {key}: {keys:?}")
    })
}

fn tls<'t>(t: &'t Translation, key: &str) -> &'t UpstreamTls {
    backend(t, key)
        .tls
        .as_ref()
        .unwrap_or_else(|| panic!("{key} has no TLS"))
}

fn ca_source(tls: &UpstreamTls) -> &str {
    match &tls.verify {
        UpstreamVerify::Ca { source, .. } => source,
        other => panic!("not verified by a CA: {other:?}"),
    }
}

fn rule<'t>(t: &'t Translation, name: &str) -> &'t ResourceStatus {
    t.statuses
        .destination_rules
        .iter()
        .find(|status| status.name == name)
        .unwrap_or_else(|| panic!("no status for DestinationRule {name}"))
}

fn accepted(status: &ResourceStatus) -> &Condition {
    status
        .conditions
        .iter()
        .find(|c| c.kind == "Accepted")
        .expect("an Accepted condition")
}

fn destination_rules(t: &Translation) {
    let secure = tls(t, "outbound|443||secure.default.svc.cluster.local");
    assert_eq!(secure.sni.as_deref(), Some("secure.internal"));
    assert_eq!(ca_source(secure), "istio-system/api-ca");
    assert_eq!(
        secure.subject_alt_names,
        ["secure.internal", "spiffe://example/secure"]
    );
    assert_eq!(secure.alpn, ["http/1.1"]);
    assert!(secure.client_certificate.is_none());

    let public = tls(t, "outbound|443||public.default.svc.cluster.local");
    assert_eq!(public.verify, UpstreamVerify::SystemRoots);
    assert_eq!(
        public.sni.as_deref(),
        Some("public.default.svc.cluster.local"),
        "no sni: the destination host"
    );

    let mtls = tls(t, "outbound|443||mtls.default.svc.cluster.local");
    assert_eq!(
        mtls.client_certificate.as_ref().map(|c| c.source.as_str()),
        Some("istio-system/client-cert")
    );
    assert_eq!(ca_source(mtls), "istio-system/client-cert");

    let grpc = tls(t, "outbound|9443||grpc.default.svc.cluster.local");
    assert_eq!(grpc.alpn, ["h2"]);
    assert_eq!(grpc.verify, UpstreamVerify::InsecureSkipVerify);

    assert!(backend(t, "outbound|8443||ports.default.svc.cluster.local")
        .tls
        .is_some());
    assert!(backend(t, "outbound|8080||ports.default.svc.cluster.local")
        .tls
        .is_none());
    assert_eq!(
        tls(t, "outbound|443||api.example.com").verify,
        UpstreamVerify::SystemRoots
    );

    for refused in ["mesh", "paths"] {
        let key = format!("outbound|80||{refused}.default.svc.cluster.local");
        assert!(backend(t, &key).tls.is_none());
        assert_eq!(
            t.endpoints.backends.get(&key).map(Vec::len),
            Some(0),
            "{refused}: fails closed"
        );
        let status = rule(t, refused);
        assert!(!accepted(status).is_true());
        assert_eq!(status.warnings.len(), 1, "{:?}", status.warnings);
    }
    assert!(rule(t, "mesh").warnings[0].message.contains("ISTIO_MUTUAL"));
    assert!(rule(t, "paths").warnings[0]
        .message
        .contains("clientCertificate is a file path"));
    assert_eq!(accepted(rule(t, "late")).reason, "Conflicted");
    for ok in ["secure", "public", "mtls", "grpc", "ports", "api"] {
        assert!(accepted(rule(t, ok)).is_true(), "{ok}");
    }
}

fn policy_conditions<'t>(t: &'t Translation, name: &str) -> &'t [Condition] {
    let policy = t
        .statuses
        .policies
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no status for BackendTLSPolicy {name}"));
    assert_eq!(policy.ancestors.len(), 1, "{name}: one ancestor");
    assert_eq!(
        policy.ancestors[0].ancestor_ref,
        ParentReference::gateway("default", "gw"),
        "{name}"
    );
    assert_eq!(
        policy.ancestors[0].controller_name, "vestibule.io/gateway-controller",
        "{name}"
    );
    &policy.ancestors[0].conditions
}

fn condition<'c>(conditions: &'c [Condition], kind: &str) -> &'c Condition {
    conditions
        .iter()
        .find(|c| c.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} condition"))
}

fn backend_tls_policies(t: &Translation) {
    let secure = tls(t, "outbound|443||secure.default.svc.cluster.local");
    assert_eq!(secure.sni.as_deref(), Some("secure.internal"));
    assert_eq!(ca_source(secure), "default/secure-ca");
    assert_eq!(
        secure.subject_alt_names,
        ["secure.internal", "spiffe://example/secure"]
    );
    assert_eq!(secure.alpn, ["http/1.1"]);
    let conditions = policy_conditions(t, "secure");
    assert!(condition(conditions, "Accepted").is_true());
    assert!(condition(conditions, "ResolvedRefs").is_true());
    assert_eq!(condition(conditions, "Accepted").observed_generation, 2);

    let grpc = tls(t, "outbound|9443||multi.default.svc.cluster.local");
    assert_eq!(grpc.verify, UpstreamVerify::SystemRoots);
    assert_eq!(grpc.alpn, ["h2"]);
    assert!(backend(t, "outbound|8080||multi.default.svc.cluster.local")
        .tls
        .is_none());

    let broken = "outbound|443||broken.default.svc.cluster.local";
    assert!(backend(t, broken).tls.is_none());
    assert_eq!(t.endpoints.backends.get(broken).map(Vec::len), Some(0));
    let missing = policy_conditions(t, "missing-ca");
    assert_eq!(
        condition(missing, "Accepted").reason,
        "NoValidCACertificate"
    );
    assert_eq!(
        condition(missing, "ResolvedRefs").reason,
        "InvalidCACertificateRef"
    );
    assert_eq!(
        condition(policy_conditions(t, "second"), "Accepted").reason,
        "Conflicted"
    );
    assert_eq!(
        condition(policy_conditions(t, "no-hostname"), "Accepted").reason,
        "Invalid"
    );
}
