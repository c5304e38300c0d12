//! Checks of the VirtualService feature cases (faults, redirect and direct
//! response forms, retryOn names, match-level scoping), in the style of
//! [`super::CHECKS`].

use std::time::Duration;

use vestibule_ir::{
    AbortStatus, DerivePort, FaultAbort, FaultDelay, FaultInjection, PathRewrite, Redirect,
    RetryOn, Route, RouteAction,
};
use vestibule_translate::Translation;

use super::{acceptance, accepted, route, route_names, vhost, vs, Check};

pub(crate) const CHECKS: &[(&str, Check)] = &[
    ("fault_injection", fault_injection),
    (
        "redirect_prefix_derive_and_bytes",
        redirect_prefix_derive_and_bytes,
    ),
    ("retry_on_names", retry_on_names),
    (
        "match_mesh_only_and_source_labels",
        match_mesh_only_and_source_labels,
    ),
];

/// Asserts the VirtualService is refused as Invalid with a message that
/// starts with `field`.
fn invalid(t: &Translation, name: &str, field: &str) {
    let status = vs(t, "default", name);
    assert_eq!(
        acceptance(&status.conditions),
        ("False", "Invalid"),
        "{name}"
    );
    let message = &accepted(&status.conditions).message;
    assert!(
        message.starts_with(&format!("{field}:")),
        "{name}: {message}"
    );
}

fn fault_injection(t: &Translation) {
    let vhost = vhost(t, 80, "faults.example.com");
    assert_eq!(
        route(vhost, "both").fault.as_deref().cloned(),
        Some(FaultInjection {
            delay: Some(FaultDelay {
                fixed: Duration::from_secs(5),
                percent: 100.0
            }),
            abort: Some(FaultAbort {
                status: AbortStatus::Http(503),
                percent: 50.0
            }),
        })
    );
    assert_eq!(
        route(vhost, "unset-percent").fault.as_deref().cloned(),
        None,
        "an unset percentage injects nothing"
    );
    assert_eq!(
        route(vhost, "grpc")
            .fault
            .as_ref()
            .and_then(|f| f.abort.clone()),
        Some(FaultAbort {
            status: AbortStatus::Grpc(14),
            percent: 100.0
        })
    );
    assert_eq!(
        route(vhost, "legacy")
            .fault
            .as_ref()
            .and_then(|f| f.delay.clone()),
        Some(FaultDelay {
            fixed: Duration::from_millis(100),
            percent: 30.0
        })
    );
    assert_eq!(route(vhost, "exponential").fault, None);
    let status = vs(t, "default", "faults");
    assert_eq!(acceptance(&status.conditions), ("True", "Accepted"));
    assert_eq!(status.warnings.len(), 1, "{:?}", status.warnings);
    assert!(
        status.warnings[0]
            .message
            .starts_with("spec.http[4].fault.delay.exponentialDelay"),
        "{:?}",
        status.warnings
    );
    invalid(t, "bad-status", "spec.http[0].fault.abort.httpStatus");
    invalid(t, "bad-grpc", "spec.http[0].fault.abort.grpcStatus");
}

fn redirect_of(route: &Route) -> &Redirect {
    match &route.action {
        RouteAction::Redirect(redirect) => redirect,
        other => panic!("{}: not a redirect: {other:?}", route.name),
    }
}

fn body_of(route: &Route) -> (u16, &[u8]) {
    match &route.action {
        RouteAction::DirectResponse(direct) => (direct.status, direct.body.as_slice()),
        other => panic!("{}: not a direct response: {other:?}", route.name),
    }
}

fn redirect_prefix_derive_and_bytes(t: &Translation) {
    let vhost = vhost(t, 80, "actions.example.com");
    let prefix = redirect_of(route(vhost, "prefix"));
    assert_eq!(
        prefix.path.as_deref(),
        Some(&PathRewrite::Prefix("/new/".into()))
    );
    assert_eq!((prefix.port, prefix.derive_port), (None, None));
    let from_request = redirect_of(route(vhost, "from-request"));
    assert_eq!(
        (from_request.port, from_request.derive_port),
        (None, Some(DerivePort::FromRequestPort))
    );
    assert_eq!(from_request.scheme.as_deref(), Some("https"));
    assert_eq!(
        redirect_of(route(vhost, "from-default")).derive_port,
        Some(DerivePort::FromProtocolDefault)
    );
    assert_eq!(body_of(route(vhost, "bytes")), (503, &b"unknown error"[..]));
    assert_eq!(body_of(route(vhost, "binary")), (200, &[0x00, 0xff][..]));
    invalid(t, "both-paths", "spec.http[0].redirect");
    invalid(t, "bad-base64", "spec.http[0].directResponse.body.bytes");
    invalid(t, "bad-derive", "spec.http[0].redirect.derivePort");
}

fn retry_on_names(t: &Translation) {
    let vhost = vhost(t, 80, "retries.example.com");
    let http = &route(vhost, "http-names").retry;
    assert_eq!(
        http.retry_on,
        RetryOn {
            server_errors: true,
            gateway_errors: true,
            reset: true,
            connect_failure: true,
            refused_stream: true,
            retriable_4xx: true,
            envoy_ratelimited: true,
            retriable_status_codes: true,
            ..RetryOn::default()
        }
    );
    assert_eq!(http.retriable_status_codes, [409]);
    assert_eq!(
        route(vhost, "grpc-names").retry.retry_on,
        RetryOn {
            cancelled: true,
            deadline_exceeded: true,
            internal: true,
            resource_exhausted: true,
            unavailable: true,
            ..RetryOn::default()
        }
    );
    invalid(t, "unknown-name", "spec.http[0].retries.retryOn");
    let message = &accepted(&vs(t, "default", "unknown-name").conditions).message;
    assert!(message.contains("\"sometimes\""), "{message}");
}

fn match_mesh_only_and_source_labels(t: &Translation) {
    let vhost = vhost(t, 80, "scoped.example.com");
    assert_eq!(
        route_names(vhost),
        ["gw-and-mesh", "own-labels", "labels-and-gw", "fallback"]
    );
    let warnings = &vs(t, "default", "scoped").warnings;
    let fields: Vec<&str> = warnings
        .iter()
        .map(|w| {
            w.message
                .split_once(':')
                .map_or(w.message.as_str(), |(field, _)| field)
        })
        .collect();
    assert_eq!(
        fields,
        [
            "spec.http[2].match[0].sourceLabels/sourceNamespace select proxies, not clients (as in Istio)",
            "spec.http[3].match[0].sourceLabels/sourceNamespace select proxies, not clients (as in Istio)",
            "spec.http[4].match[0].sourceLabels/sourceNamespace select proxies, not clients (as in Istio)",
            "spec.http[5].match[0].sourceLabels/sourceNamespace select proxies, not clients (as in Istio)",
        ],
        "{warnings:?}"
    );
    assert!(warnings[1].message.contains("not served"), "{warnings:?}");
    assert!(warnings[2].message.contains("not served"), "{warnings:?}");
}
