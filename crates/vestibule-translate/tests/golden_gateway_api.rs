//! Golden translation tests for the Kubernetes Gateway API translator.
//!
//! Each `tests/golden/gateway_api/<case>.yaml` is one case: a `#` comment
//! saying which semantic it pins (and which conformance tests it stands for)
//! and what the outcome must be, then the manifests. The test loads the file,
//! translates it for the default gateway identity, snapshots the whole
//! `Translation` as YAML
//! (`tests/snapshots/golden_gateway_api__gateway_api@<case>.yaml.snap`) and
//! runs the case's check from [`CHECKS`], which asserts the decisive fact in
//! Rust. Every case also checks that each Gateway API condition carries its
//! resource's `metadata.generation` as `observedGeneration`.
//!
//! To review changed snapshots: `INSTA_UPDATE=always cargo test -p
//! vestibule-translate --test golden_gateway_api`, then read the `.snap` diffs.

use std::path::Path;
use std::time::Duration;

use vestibule_api::Inputs;
use vestibule_ir::status::{
    Condition, GatewayStatus, ListenerStatus, ParentReference, RouteParentStatus, RouteStatus,
};
use vestibule_ir::{
    AppProtocol, HeaderMatch, Mirror, PathMatch, PathRewrite, QueryMatch, Redirect, Route,
    RouteAction, StringMatcher,
};
use vestibule_translate::Translation;

mod golden_support;
use golden_support::{backends, listener, route, route_names, run_case, vhost};

type Check = fn(&Translation);

/// Case name (file stem) → the decisive assertions of that case.
const CHECKS: &[(&str, Check)] = &[
    ("classes", classes),
    ("listener_hostnames", listener_hostnames),
    ("hostname_intersection", hostname_intersection),
    ("matching_across_routes", matching_across_routes),
    ("allowed_routes_namespaces", allowed_routes_namespaces),
    ("allowed_routes_kinds", allowed_routes_kinds),
    ("listener_conflicts", listener_conflicts),
    ("https_certificates", https_certificates),
    ("parent_refs", parent_refs),
    ("match_types", match_types),
    ("unsupported_values", unsupported_values),
    ("precedence", precedence),
    ("header_modifiers", header_modifiers),
    ("redirects", redirects),
    ("url_rewrite", url_rewrite),
    ("mirrors_and_cors", mirrors_and_cors),
    ("backend_weights", backend_weights),
    ("invalid_backends", invalid_backends),
    ("reference_grants", reference_grants),
    ("timeouts_and_retry", timeouts_and_retry),
    ("grpc_methods", grpc_methods),
    ("seed_003", seed_003),
    ("attached_routes", attached_routes),
    ("http_grpc_conflict", http_grpc_conflict),
    ("partially_invalid", partially_invalid),
];

/// TLS and TCP cases: checks in `golden/gateway_api_tls_checks.rs`.
#[path = "golden/gateway_api_tls_checks.rs"]
mod gateway_api_tls_checks;

/// Status shape cases: checks in `golden/gateway_api_status_checks.rs`.
#[path = "golden/gateway_api_status_checks.rs"]
mod gateway_api_status_checks;

/// Upstream TLS cases: checks in `golden/upstream_tls_checks.rs`.
#[path = "golden/upstream_tls_checks.rs"]
mod upstream_tls_checks;

#[test]
fn gateway_api() {
    insta::glob!("golden/gateway_api/*.yaml", |path| {
        let (inputs, translation) = run_case(path);
        insta::assert_yaml_snapshot!(translation);
        observed_generations(&inputs, &translation);
        let name = case_name(path);
        let check = CHECKS
            .iter()
            .chain(gateway_api_tls_checks::CHECKS)
            .chain(gateway_api_status_checks::CHECKS)
            .chain(upstream_tls_checks::GATEWAY_API)
            .find(|(case, _)| *case == name)
            .map(|(_, check)| *check)
            .unwrap_or_else(|| panic!("case {name} has no entry in CHECKS"));
        check(&translation);
    });
}

#[test]
fn every_check_has_a_case_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/gateway_api");
    for (name, _) in CHECKS
        .iter()
        .chain(gateway_api_tls_checks::CHECKS)
        .chain(gateway_api_status_checks::CHECKS)
        .chain(upstream_tls_checks::GATEWAY_API)
    {
        let file = dir.join(format!("{name}.yaml"));
        assert!(
            file.is_file(),
            "CHECKS names {name} but {} is missing",
            file.display()
        );
    }
}

fn case_name(path: &Path) -> String {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .expect("case file name is UTF-8")
        .to_owned()
}

/// "observedGeneration MUST be set on every condition": each condition of a
/// GatewayClass, Gateway, listener and route parent carries the generation
/// of its own resource.
fn observed_generations(inputs: &Inputs, t: &Translation) {
    let check = |what: &str, conditions: &[Condition], generation: i64| {
        assert!(!conditions.is_empty(), "{what} has no conditions");
        for condition in conditions {
            assert_eq!(
                condition.observed_generation, generation,
                "{what}: condition {} has observedGeneration {}, want {generation}",
                condition.kind, condition.observed_generation
            );
        }
    };
    for class in &t.statuses.gateway_classes {
        let resource = inputs
            .gateway_classes
            .iter()
            .find(|c| c.name() == class.name)
            .expect("a status for a declared class");
        check(
            &format!("GatewayClass {}", class.name),
            &class.conditions,
            resource.meta.generation,
        );
    }
    for gateway in t
        .statuses
        .gateways
        .iter()
        .filter(|g| g.api_group == "gateway.networking.k8s.io")
    {
        let resource = inputs
            .kube_gateways
            .iter()
            .find(|g| g.namespace() == gateway.namespace && g.name() == gateway.name)
            .expect("a status for a declared Gateway");
        let what = format!("Gateway {}/{}", gateway.namespace, gateway.name);
        check(&what, &gateway.conditions, resource.meta.generation);
        for listener in &gateway.listeners {
            check(
                &format!("{what} listener {}", listener.name),
                &listener.conditions,
                resource.meta.generation,
            );
        }
    }
    for route in &t.statuses.routes {
        let generation = match route.kind.as_str() {
            "HTTPRoute" => inputs
                .http_routes
                .iter()
                .find(|r| r.namespace() == route.namespace && r.name() == route.name)
                .map(|r| r.meta.generation),
            "GRPCRoute" => inputs
                .grpc_routes
                .iter()
                .find(|r| r.namespace() == route.namespace && r.name() == route.name)
                .map(|r| r.meta.generation),
            _ => continue,
        }
        .expect("a status for a declared route");
        for parent in &route.parents {
            check(
                &format!(
                    "{} {}/{} parent {}",
                    route.kind,
                    route.namespace,
                    route.name,
                    ref_key(&parent.parent_ref)
                ),
                &parent.conditions,
                generation,
            );
        }
    }
}

// === Lookup helpers ===

fn listener_ports(t: &Translation) -> Vec<u16> {
    t.table.listeners.iter().map(|l| l.port).collect()
}

/// Domains of every virtual host of the listener on `port`, sorted.
fn vhost_domains(t: &Translation, port: u16) -> Vec<String> {
    let mut domains: Vec<String> = listener(t, port)
        .virtual_hosts
        .iter()
        .flat_map(|v| v.domains.iter().map(ToString::to_string))
        .collect();
    domains.sort();
    domains
}

fn redirect(route: &Route) -> &Redirect {
    match &route.action {
        RouteAction::Redirect(redirect) => redirect,
        other => panic!("route {} does not redirect: {other:?}", route.name),
    }
}

fn direct_status(route: &Route) -> u16 {
    match &route.action {
        RouteAction::DirectResponse(direct) => direct.status,
        other => panic!("route {} is not a direct response: {other:?}", route.name),
    }
}

fn path(route: &Route) -> &PathMatch {
    route.matches[0].path.as_ref().expect("a path match")
}

fn segment(value: &str) -> PathMatch {
    PathMatch::SegmentPrefix {
        value: value.to_owned(),
    }
}

fn service(name: &str, namespace: &str, port: u16) -> String {
    format!("outbound|{port}||{name}.{namespace}.svc.cluster.local")
}

fn gateway<'t>(t: &'t Translation, namespace: &str, name: &str) -> &'t GatewayStatus {
    t.statuses
        .gateways
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)
        .unwrap_or_else(|| panic!("no status for Gateway {namespace}/{name}"))
}

fn has_gateway(t: &Translation, namespace: &str, name: &str) -> bool {
    t.statuses
        .gateways
        .iter()
        .any(|s| s.namespace == namespace && s.name == name)
}

fn gw_listener<'t>(gateway: &'t GatewayStatus, name: &str) -> &'t ListenerStatus {
    gateway
        .listeners
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no listener {name} in Gateway {}", gateway.name))
}

fn route_status<'t>(
    t: &'t Translation,
    kind: &str,
    namespace: &str,
    name: &str,
) -> &'t RouteStatus {
    t.statuses
        .routes
        .iter()
        .find(|s| s.kind == kind && s.namespace == namespace && s.name == name)
        .unwrap_or_else(|| panic!("no status for {kind} {namespace}/{name}"))
}

fn http_route<'t>(t: &'t Translation, namespace: &str, name: &str) -> &'t RouteStatus {
    route_status(t, "HTTPRoute", namespace, name)
}

fn has_route_status(t: &Translation, namespace: &str, name: &str) -> bool {
    t.statuses
        .routes
        .iter()
        .any(|s| s.namespace == namespace && s.name == name)
}

/// The parent of `status` whose reference reads `namespace/name[/section][:port]`
/// ([`ref_key`]).
fn parent<'t>(status: &'t RouteStatus, parent_ref: &str) -> &'t RouteParentStatus {
    status
        .parents
        .iter()
        .find(|p| ref_key(&p.parent_ref) == parent_ref)
        .unwrap_or_else(|| {
            let known: Vec<_> = status
                .parents
                .iter()
                .map(|p| ref_key(&p.parent_ref))
                .collect();
            panic!("{} has no parent {parent_ref}: {known:?}", status.name)
        })
}

/// `namespace/name[/section][:port]` of a Gateway reference; any other
/// group or kind is spelled out in front (`group/Kind namespace/name`).
fn ref_key(parent_ref: &ParentReference) -> String {
    let mut key = format!("{}/{}", parent_ref.namespace, parent_ref.name);
    if parent_ref.group != "gateway.networking.k8s.io" || parent_ref.kind != "Gateway" {
        key = format!("{}/{} {key}", parent_ref.group, parent_ref.kind);
    }
    if let Some(section) = &parent_ref.section_name {
        key.push('/');
        key.push_str(section);
    }
    if let Some(port) = parent_ref.port {
        key.push(':');
        key.push_str(&port.to_string());
    }
    key
}

fn condition<'c>(conditions: &'c [Condition], kind: &str) -> &'c Condition {
    conditions
        .iter()
        .find(|c| c.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} condition in {conditions:?}"))
}

/// `(status, reason)` of the condition `kind`.
fn cond<'c>(conditions: &'c [Condition], kind: &str) -> (&'c str, &'c str) {
    let condition = condition(conditions, kind);
    (condition.status, condition.reason)
}

/// `(status, reason)` of Accepted and ResolvedRefs on the only parent.
fn route_conditions(status: &RouteStatus) -> [(&str, &str); 2] {
    assert_eq!(status.parents.len(), 1, "{}: one parent", status.name);
    let conditions = &status.parents[0].conditions;
    [
        cond(conditions, "Accepted"),
        cond(conditions, "ResolvedRefs"),
    ]
}

const ACCEPTED: (&str, &str) = ("True", "Accepted");
const RESOLVED: (&str, &str) = ("True", "ResolvedRefs");
const PROGRAMMED: (&str, &str) = ("True", "Programmed");

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// === Checks, one per case ===

fn classes(t: &Translation) {
    let classes: Vec<&str> = t
        .statuses
        .gateway_classes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(classes, ["ours", "istio-too"]);
    for class in &t.statuses.gateway_classes {
        assert_eq!(cond(&class.conditions, "Accepted"), ACCEPTED);
        assert_eq!(
            cond(&class.conditions, "SupportedVersion"),
            ("True", "SupportedVersion")
        );
    }
    for name in ["on-ours", "on-implicit-istio", "on-istio-too"] {
        let status = gateway(t, "default", name);
        assert_eq!(cond(&status.conditions, "Accepted"), ACCEPTED, "{name}");
        assert_eq!(cond(&status.conditions, "Programmed"), PROGRAMMED, "{name}");
    }
    for name in ["on-theirs", "on-overridden-vestibule", "on-unknown"] {
        assert!(!has_gateway(t, "default", name), "{name} is not ours");
    }
    assert_eq!(listener_ports(t), [8001, 8002, 8003]);
}

fn listener_hostnames(t: &Translation) {
    let only = |domain: &str, expected: &[&str]| {
        assert_eq!(
            route_names(vhost(t, 80, domain)),
            expected,
            "vhost {domain}"
        );
    };
    only("bar.com", &["default.backend-v1.0"]);
    only("foo.bar.com", &["default.backend-v2.0"]);
    only("*.bar.com", &["default.backend-v3.0"]);
    only("*", &["default.attaches-to-empty-hostname.0"]);
    only(
        "*.example.com",
        &["default.attaches-to-wildcard-example-com.0"],
    );
    only(
        "*.foo.example.com",
        &["default.attaches-to-wildcard-foo-example-com.0"],
    );
    only(
        "abc.foo.example.com",
        &["default.attaches-to-abc-foo-example-com.0"],
    );
    for listener in &gateway(t, "default", "hosts").listeners {
        assert_eq!(listener.attached_routes, 1, "listener {}", listener.name);
    }
}

fn hostname_intersection(t: &Translation) {
    assert_eq!(
        vhost_domains(t, 80),
        [
            "*.anotherwildcard.io",
            "*.bar.wildcard.io",
            "bar.wildcard.io",
            "foo.wildcard.io",
            "very.specific.com",
        ]
    );
    let paths = |domain: &str| -> Vec<PathMatch> {
        vhost(t, 80, domain)
            .routes
            .iter()
            .map(|route| path(route))
            .cloned()
            .collect()
    };
    assert_eq!(paths("very.specific.com"), [segment("/s1"), segment("/s3")]);
    assert_eq!(paths("foo.wildcard.io"), [segment("/s2")]);
    assert_eq!(paths("bar.wildcard.io"), [segment("/s2")]);
    assert_eq!(paths("*.anotherwildcard.io"), [segment("/s2")]);
    assert_eq!(paths("*.bar.wildcard.io"), [segment("/s4")]);
    assert_eq!(
        route_conditions(http_route(t, "default", "no-intersecting-hosts"))[0],
        ("False", "NoMatchingListenerHostname")
    );
    for name in [
        "specific-host-matches-listener-specific-host",
        "specific-host-matches-listener-wildcard-host",
        "wildcard-host-matches-listener-specific-host",
        "wildcard-host-matches-listener-wildcard-host",
    ] {
        assert_eq!(
            route_conditions(http_route(t, "default", name)),
            [ACCEPTED, RESOLVED],
            "{name}"
        );
    }
    let status = gateway(t, "default", "intersection");
    assert_eq!(gw_listener(status, "listener-1").attached_routes, 2);
    assert_eq!(gw_listener(status, "listener-2").attached_routes, 2);
    assert_eq!(gw_listener(status, "listener-3").attached_routes, 1);
}

fn matching_across_routes(t: &Translation) {
    let describe = |route: &Route| {
        let header = route.matches[0]
            .headers
            .first()
            .map(|h| format!(" {}", h.name))
            .unwrap_or_default();
        let PathMatch::SegmentPrefix { value } = path(route) else {
            panic!("{}: a PathPrefix", route.name)
        };
        format!("{} {value}{header}", route.origin.name)
    };
    let order = |domain: &str| -> Vec<String> {
        vhost(t, 80, domain)
            .routes
            .iter()
            .map(|route| describe(route))
            .collect()
    };
    assert_eq!(
        order("example.com"),
        [
            "matching-part2 /v2",
            "matching-part1 / version",
            "matching-part2 / version",
            "matching-part1 /",
        ]
    );
    let example = vhost(t, 80, "example.com");
    assert_eq!(
        example.routes[1].matches[0].headers[0].matcher,
        Some(StringMatcher::Exact("one".into()))
    );
    assert_eq!(
        backends(&example.routes[0]),
        [(service("v2", "default", 8080).as_str(), 1)]
    );
    assert_eq!(
        order("example.net"),
        ["matching-part1 / version", "matching-part1 /"]
    );
    assert_eq!(
        order("*.com"),
        ["matching-part2 /v2", "matching-part2 / version"]
    );
}

fn allowed_routes_namespaces(t: &Translation) {
    let status = gateway(t, "infra", "gw");
    let attached = |name: &str| gw_listener(status, name).attached_routes;
    assert_eq!(attached("same"), 1, "infra/local only");
    assert_eq!(attached("all"), 4, "every namespace");
    assert_eq!(attached("selected"), 1, "app/web only");
    assert_eq!(attached("none"), 0);
    assert_eq!(route_names(vhost(t, 8001, "*")), ["infra.local.0"]);
    assert_eq!(route_names(vhost(t, 8003, "*")), ["app.web.0"]);
    assert_eq!(
        cond(
            &parent(http_route(t, "app", "web"), "infra/gw").conditions,
            "Accepted"
        ),
        ACCEPTED
    );
    for (namespace, parent_ref) in [
        ("app", "infra/gw/same"),
        ("app", "infra/gw/none"),
        ("other", "infra/gw/selected"),
    ] {
        assert_eq!(
            cond(
                &parent(http_route(t, namespace, "web"), parent_ref).conditions,
                "Accepted"
            ),
            ("False", "NotAllowedByListeners"),
            "{namespace} via {parent_ref}"
        );
    }
}

fn allowed_routes_kinds(t: &Translation) {
    let status = gateway(t, "default", "kinds");
    // Kinds by name; each in the Gateway API group.
    let kinds = |name: &str| -> Vec<String> {
        gw_listener(status, name)
            .supported_kinds
            .iter()
            .map(|kind| {
                assert_eq!(kind.group, "gateway.networking.k8s.io", "{name}");
                kind.kind.clone()
            })
            .collect()
    };
    let refs = |name: &str| {
        let listener = gw_listener(status, name);
        let (s, r) = cond(&listener.conditions, "ResolvedRefs");
        (s.to_owned(), r.to_owned())
    };
    assert_eq!(kinds("default-kinds"), strings(&["HTTPRoute", "GRPCRoute"]));
    assert_eq!(kinds("grpc-only"), strings(&["GRPCRoute"]));
    assert_eq!(kinds("mixed"), strings(&["HTTPRoute"]));
    assert!(kinds("only-invalid").is_empty());
    let ok = ("True".to_owned(), "ResolvedRefs".to_owned());
    let invalid = ("False".to_owned(), "InvalidRouteKinds".to_owned());
    assert_eq!(refs("default-kinds"), ok);
    assert_eq!(refs("grpc-only"), ok);
    assert_eq!(refs("mixed"), invalid);
    assert_eq!(refs("only-invalid"), invalid);
    for name in ["to-grpc-only", "to-only-invalid"] {
        assert_eq!(
            route_conditions(http_route(t, "default", name))[0],
            ("False", "NotAllowedByListeners"),
            "{name}"
        );
    }
    assert_eq!(
        route_conditions(http_route(t, "default", "to-mixed"))[0],
        ACCEPTED
    );
    assert_eq!(
        cond(&gw_listener(status, "mixed").conditions, "Programmed"),
        PROGRAMMED,
        "the valid kinds of a listener are still served"
    );
    assert_eq!(route_names(vhost(t, 8003, "*")), ["default.to-mixed.0"]);
    assert_eq!(gw_listener(status, "default-kinds").attached_routes, 1);
    assert_eq!(gw_listener(status, "grpc-only").attached_routes, 1);
    assert_eq!(gw_listener(status, "mixed").attached_routes, 1);
    assert_eq!(gw_listener(status, "only-invalid").attached_routes, 0);
}

fn listener_conflicts(t: &Translation) {
    let status = gateway(t, "default", "conflicts");
    for (name, reason) in [
        ("dup-a", "HostnameConflict"),
        ("dup-b", "HostnameConflict"),
        ("plain", "ProtocolConflict"),
        ("raw", "ProtocolConflict"),
    ] {
        let conditions = &gw_listener(status, name).conditions;
        assert_eq!(cond(conditions, "Conflicted"), ("True", reason), "{name}");
        assert_eq!(cond(conditions, "Programmed").0, "False", "{name}");
    }
    let web = &gw_listener(status, "web").conditions;
    assert_eq!(cond(web, "Conflicted"), ("False", "NoConflicts"));
    assert_eq!(cond(web, "Programmed"), PROGRAMMED);
    assert_eq!(
        cond(&gw_listener(status, "udp").conditions, "Accepted"),
        ("False", "UnsupportedProtocol")
    );
    assert_eq!(
        cond(&status.conditions, "Accepted"),
        ("True", "ListenersNotValid")
    );
    assert_eq!(cond(&status.conditions, "Programmed"), PROGRAMMED);
    assert_eq!(listener_ports(t), [80]);
    assert_eq!(vhost_domains(t, 80), ["web.example.com"]);
    assert_eq!(
        route_names(vhost(t, 80, "web.example.com")),
        ["default.app.0"]
    );
    assert_eq!(gw_listener(status, "web").attached_routes, 1);
    assert_eq!(
        route_conditions(http_route(t, "default", "to-dup"))[0],
        ("False", "NotAllowedByListeners")
    );
    let only_invalid = gateway(t, "default", "only-invalid");
    assert_eq!(
        cond(&only_invalid.conditions, "Accepted"),
        ("False", "ListenersNotValid")
    );
    assert_eq!(cond(&only_invalid.conditions, "Programmed").0, "False");
    let invalid = gw_listener(only_invalid, "invalid");
    assert_eq!(
        cond(&invalid.conditions, "Accepted"),
        ("False", "UnsupportedProtocol")
    );
    assert!(invalid.supported_kinds.is_empty());
}

fn https_certificates(t: &Translation) {
    let status = gateway(t, "default", "tls");
    let listener = |name: &str| &gw_listener(status, name).conditions;
    for (name, reason) in [
        ("no-refs", "InvalidCertificateRef"),
        ("missing-secret", "InvalidCertificateRef"),
        ("not-a-secret", "InvalidCertificateRef"),
        ("malformed", "InvalidCertificateRef"),
        ("mismatched", "InvalidCertificateRef"),
        ("wrong-group", "InvalidCertificateRef"),
        ("wrong-grant", "RefNotPermitted"),
        ("missing-grant", "RefNotPermitted"),
    ] {
        assert_eq!(
            cond(listener(name), "ResolvedRefs"),
            ("False", reason),
            "{name}"
        );
        assert_eq!(
            cond(listener(name), "Programmed"),
            ("False", "Invalid"),
            "{name}"
        );
    }
    for name in ["granted", "local"] {
        assert_eq!(cond(listener(name), "ResolvedRefs"), RESOLVED, "{name}");
        assert_eq!(cond(listener(name), "Accepted"), ACCEPTED, "{name}");
        assert_eq!(cond(listener(name), "Programmed"), PROGRAMMED, "{name}");
    }
    assert_eq!(
        listener("malformed")
            .iter()
            .find(|c| c.kind == "ResolvedRefs")
            .map(|c| c.message.as_str()),
        Some("Secret default/malformed-cert: tls.crt holds no PEM certificate")
    );
    assert_eq!(
        listener("mismatched").iter().find(|c| c.kind == "ResolvedRefs").map(|c| c.message.as_str()),
        Some("Secret default/mismatched-cert: the private key does not match the certificate in tls.crt")
    );
    assert_eq!(cond(listener("http"), "Programmed"), PROGRAMMED);
    assert_eq!(listener_ports(t), [80, 443]);
    let https = golden_support::listener(t, 443);
    let servers: Vec<(&str, Vec<String>, u16)> = https
        .tls_servers
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.server_names.iter().map(ToString::to_string).collect(),
                s.misdirected_status,
            )
        })
        .collect();
    assert_eq!(
        servers,
        [
            (
                "https.443.granted.tls.default",
                vec!["e.example.com".to_owned()],
                421
            ),
            (
                "https.443.local.tls.default",
                vec!["f.example.com".to_owned()],
                421
            ),
        ]
    );
    let termination = https.tls_servers[0]
        .termination
        .as_ref()
        .expect("terminates");
    assert_eq!(
        termination.certificates[0].source,
        "granted-certs/remote-cert"
    );
    assert_eq!(gw_listener(status, "granted").attached_routes, 1);
    assert_eq!(
        route_names(vhost(t, 443, "e.example.com")),
        ["default.app.0"]
    );
    assert_eq!(
        route_conditions(http_route(t, "default", "app")),
        [ACCEPTED, RESOLVED]
    );
}

fn parent_refs(t: &Translation) {
    let status = gateway(t, "default", "gw");
    assert_eq!(
        gw_listener(status, "a").attached_routes,
        3,
        "by-section, everywhere, mixed"
    );
    assert_eq!(
        gw_listener(status, "b").attached_routes,
        2,
        "by-port, everywhere"
    );
    assert_eq!(
        gw_listener(status, "c").attached_routes,
        3,
        "by-port, by-both, everywhere"
    );
    let paths = |port: u16, domain: &str| -> Vec<PathMatch> {
        vhost(t, port, domain)
            .routes
            .iter()
            .map(|route| path(route))
            .cloned()
            .collect()
    };
    assert_eq!(
        paths(8001, "*"),
        [
            segment("/by-section"),
            segment("/everywhere"),
            segment("/mixed")
        ]
    );
    assert_eq!(
        paths(8002, "b.example.com"),
        [segment("/everywhere"), segment("/by-port")]
    );
    assert_eq!(
        paths(8002, "c.example.com"),
        [
            segment("/everywhere"),
            segment("/by-both"),
            segment("/by-port")
        ]
    );
    for name in ["by-section", "by-port", "by-both", "everywhere"] {
        assert_eq!(
            route_conditions(http_route(t, "default", name)),
            [ACCEPTED, RESOLVED],
            "{name}"
        );
    }
    for name in ["bad-section", "bad-port", "section-port-disagree"] {
        assert_eq!(
            route_conditions(http_route(t, "default", name))[0],
            ("False", "NoMatchingParent"),
            "{name}"
        );
    }
    assert_eq!(
        route_conditions(http_route(t, "elsewhere", "other-namespace"))[0],
        ("False", "NotAllowedByListeners")
    );
    assert!(!has_route_status(t, "default", "unserved"));
    let mesh = http_route(t, "default", "mesh");
    assert_eq!(route_conditions(mesh)[0], ("False", "NoMatchingParent"));
    assert!(
        condition(&mesh.parents[0].conditions, "Accepted")
            .message
            .contains("mesh"),
        "the status says mesh parents are not served"
    );
    let mixed = http_route(t, "default", "mixed");
    assert_eq!(
        cond(&parent(mixed, "default/gw/a").conditions, "Accepted"),
        ACCEPTED
    );
    assert_eq!(
        cond(&parent(mixed, "default/gw/z").conditions, "Accepted"),
        ("False", "NoMatchingParent")
    );
    assert_eq!(
        http_route(t, "default", "by-section").parents[0].conditions[0].observed_generation,
        2
    );
}

fn match_types(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    assert_eq!(vhost.routes.len(), 7, "one IR route per match");
    let matches: Vec<_> = vhost.routes.iter().map(|r| r.matches[0].clone()).collect();
    assert_eq!(
        matches[0].path,
        Some(PathMatch::Exact {
            value: "/exact".into(),
            ignore_case: false
        })
    );
    match &matches[1].path {
        Some(PathMatch::Regex { pattern }) => {
            assert_eq!(pattern.as_str(), "/items/[0-9]+");
            assert!(pattern.is_match("/items/42"));
            assert!(!pattern.is_match("/items/42/x"), "anchored");
        }
        other => panic!("regex expected: {other:?}"),
    }
    assert_eq!(matches[2].path, Some(segment("/prefix")));
    assert_eq!(matches[3].method, Some(StringMatcher::Exact("POST".into())));
    assert_eq!(matches[3].path, Some(segment("/")));
    let regex = |source: &str| StringMatcher::Regex(vestibule_ir::Pattern::new(source).unwrap());
    assert_eq!(
        matches[4].headers,
        [
            HeaderMatch {
                name: "x-version".into(),
                matcher: Some(StringMatcher::Exact("1".into())),
                invert: false
            },
            HeaderMatch {
                name: "x-regex".into(),
                matcher: Some(regex("v[0-9]+")),
                invert: false
            },
        ]
    );
    assert_eq!(
        matches[5].query_params,
        [
            QueryMatch {
                name: "animal".into(),
                matcher: Some(StringMatcher::Exact("whale".into()))
            },
            QueryMatch {
                name: "ANIMAL".into(),
                matcher: Some(regex("W.*"))
            },
        ]
    );
    assert_eq!(matches[6].path, Some(segment("/")));
    assert!(matches[6].headers.is_empty() && matches[6].method.is_none());
}

fn unsupported_values(t: &Translation) {
    for (name, needle) in [
        ("bad-path-type", "Glob"),
        ("bad-filter", "Teleport"),
        ("bad-regex", "regex"),
    ] {
        let status = http_route(t, "default", name);
        let accepted = condition(&status.parents[0].conditions, "Accepted");
        assert_eq!(
            (accepted.status, accepted.reason),
            ("False", "UnsupportedValue"),
            "{name}"
        );
        assert!(
            accepted.message.contains(needle),
            "{name}: {}",
            accepted.message
        );
    }
    assert_eq!(route_names(vhost(t, 80, "*")), ["default.good.0"]);
    assert_eq!(
        gateway(t, "default", "gw").listeners[0].attached_routes,
        1,
        "rejected routes are not counted"
    );
}

fn precedence(t: &Translation) {
    assert_eq!(
        route_names(vhost(t, 80, "*")),
        [
            "default.exact.0",
            "default.long.0",
            "default.old.0",
            "default.old.1",
            "default.new.0",
            "a-ns.zzz.0",
            "b-ns.aaa.0",
            "default.old.2",
            "default.new.1",
            "default.new.2",
        ]
    );
}

fn header_modifiers(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let request = &route(vhost, "default.headers.0").request_headers;
    assert_eq!(
        request.set(),
        pairs(&[("x-header-set", "set-overwrites-values")])
    );
    assert_eq!(request.add(), pairs(&[("x-header-add", "header-val-1")]));
    assert_eq!(request.remove(), strings(&["x-header-remove"]));
    let response = &route(vhost, "default.headers.1").response_headers;
    assert_eq!(
        response.set(),
        pairs(&[("x-header-set", "set-overwrites-values")])
    );
    assert_eq!(
        response.add(),
        pairs(&[("x-header-add", "add-appends-values")])
    );
    assert_eq!(response.remove(), strings(&["x-header-remove"]));
    let RouteAction::Forward(forward) = &route(vhost, "default.headers.2").action else {
        panic!("per-backend rule forwards");
    };
    let per_backend: Vec<_> = forward
        .backends
        .iter()
        .map(|b| b.request_headers.set().to_vec())
        .collect();
    assert_eq!(
        per_backend,
        [pairs(&[("backend", "v1")]), pairs(&[("backend", "v2")])]
    );
}

fn redirects(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let get = |rule: &str| redirect(route(vhost, &format!("default.redirects.{rule}"))).clone();
    let base = Redirect {
        scheme: None,
        host: None,
        port: None,
        derive_port: None,
        path: None,
        status: 302,
    };
    assert_eq!(
        get("host-only"),
        Redirect {
            host: Some("example.org".into()),
            ..base.clone()
        }
    );
    assert_eq!(
        get("host-301"),
        Redirect {
            host: Some("example.org".into()),
            status: 301,
            ..base.clone()
        }
    );
    assert_eq!(
        get("full-path"),
        Redirect {
            path: Some(Box::new(PathRewrite::Full("/demo".into()))),
            ..base.clone()
        }
    );
    assert_eq!(
        get("prefix-path"),
        Redirect {
            path: Some(Box::new(PathRewrite::Prefix("/replacement-prefix".into()))),
            ..base.clone()
        }
    );
    assert_eq!(
        get("port-8083"),
        Redirect {
            port: Some(8083),
            ..base.clone()
        }
    );
    assert_eq!(
        get("https"),
        Redirect {
            scheme: Some("https".into()),
            ..base.clone()
        }
    );
    assert_eq!(
        get("https-8443"),
        Redirect {
            scheme: Some("https".into()),
            port: Some(8443),
            host: Some("example.org".into()),
            ..base.clone()
        }
    );
    assert_eq!(
        get("http-80"),
        Redirect {
            scheme: Some("http".into()),
            port: Some(80),
            host: Some("example.org".into()),
            ..base.clone()
        }
    );
    assert_eq!(get("code-308").status, 308);
}

fn url_rewrite(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let forward = |rule: &str| match &route(vhost, &format!("default.rewrite.{rule}")).action {
        RouteAction::Forward(forward) => forward.clone(),
        other => panic!("{rule}: {other:?}"),
    };
    let web = service("web", "default", 8080);
    let host = forward("host");
    assert_eq!(host.host_rewrite.as_deref(), Some("one.example.org"));
    assert_eq!(host.path_rewrite, None);
    assert_eq!(host.backends[0].backend.as_deref(), Some(web.as_str()));
    assert_eq!(
        forward("full").path_rewrite.as_deref(),
        Some(&PathRewrite::Full("/one".into()))
    );
    assert_eq!(
        forward("prefix").path_rewrite.as_deref(),
        Some(&PathRewrite::Prefix("/one".into()))
    );
    assert_eq!(
        path(route(vhost, "default.rewrite.prefix")),
        &segment("/prefix/one")
    );
    assert_eq!(
        forward("strip").path_rewrite.as_deref(),
        Some(&PathRewrite::Prefix(String::new()))
    );
    let both = forward("both");
    assert_eq!(both.host_rewrite.as_deref(), Some("two.example.org"));
    assert_eq!(
        both.path_rewrite.as_deref(),
        Some(&PathRewrite::Prefix("/xyz".into()))
    );
}

fn mirrors_and_cors(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let mirrors = |rule: &str| -> Vec<Mirror> {
        match &route(vhost, &format!("default.mirror.{rule}")).action {
            RouteAction::Forward(forward) => forward.mirrors.clone(),
            other => panic!("{rule}: {other:?}"),
        }
    };
    let mirror = |name: Option<&str>, percent: f64| Mirror {
        backend: name.map(|n| service(n, "default", 8080)),
        percent,
    };
    assert_eq!(
        mirrors("multi"),
        [mirror(Some("v2"), 100.0), mirror(Some("v3"), 100.0)]
    );
    assert_eq!(mirrors("percent"), [mirror(Some("v2"), 20.0)]);
    assert_eq!(
        mirrors("fraction"),
        [mirror(Some("v2"), 50.0), mirror(Some("v3"), 25.0)]
    );
    assert_eq!(mirrors("denied"), [mirror(None, 100.0)]);
    assert_eq!(
        route_conditions(http_route(t, "default", "mirror")),
        [ACCEPTED, ("False", "RefNotPermitted")]
    );
    let policy = route(vhost, "default.cors.0")
        .cors
        .clone()
        .expect("a CORS policy");
    assert!(!policy.allow_any_origin);
    assert_eq!(policy.allow_origins.len(), 2);
    assert_eq!(
        policy.allow_origins[0],
        StringMatcher::Exact("https://www.foo.com".into())
    );
    let StringMatcher::Regex(wildcard) = &policy.allow_origins[1] else {
        panic!("a wildcard origin is a pattern");
    };
    assert!(wildcard.is_match("https://a.b.bar.com"));
    assert!(!wildcard.is_match("https://bar.com"));
    assert!(!wildcard.is_match("http://a.bar.com"));
    assert_eq!(policy.allow_methods, strings(&["GET", "OPTIONS"]));
    assert_eq!(policy.allow_headers, strings(&["x-header-1"]));
    assert_eq!(policy.expose_headers, strings(&["x-header-3"]));
    assert_eq!(policy.max_age_seconds, Some(3600));
    assert!(policy.allow_credentials);
    assert!(!policy.forward_unmatched_preflights);
    let any = route(vhost, "default.cors.1")
        .cors
        .clone()
        .expect("a CORS policy");
    assert!(any.allow_any_origin);
}

fn backend_weights(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let (v1, v2, v3) = (
        service("v1", "default", 8080),
        service("v2", "default", 8080),
        service("v3", "default", 8080),
    );
    assert_eq!(
        backends(route(vhost, "default.weights.split")),
        [(v1.as_str(), 70), (v2.as_str(), 30), (v3.as_str(), 0)]
    );
    assert_eq!(
        backends(route(vhost, "default.weights.default-weight")),
        [(v1.as_str(), 1), (v2.as_str(), 1)]
    );
    assert_eq!(
        backends(route(vhost, "default.weights.all-zero")),
        [(v1.as_str(), 0)]
    );
    assert_eq!(
        direct_status(route(vhost, "default.weights.no-backends")),
        500
    );
    assert_eq!(
        route_conditions(http_route(t, "default", "weights")),
        [ACCEPTED, RESOLVED]
    );
}

fn invalid_backends(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let web = service("web", "default", 8080);
    for (name, reason) in [
        ("unknown-kind", "InvalidKind"),
        ("cross-ns", "RefNotPermitted"),
        ("missing", "BackendNotFound"),
        ("unknown-port", "BackendNotFound"),
    ] {
        assert_eq!(
            route_conditions(http_route(t, "default", name)),
            [ACCEPTED, ("False", reason)],
            "{name}"
        );
        assert_eq!(
            backends(route(vhost, &format!("default.{name}.0"))),
            [("<none>", 1)],
            "{name}"
        );
    }
    assert_eq!(
        route_conditions(http_route(t, "default", "partially")),
        [ACCEPTED, ("False", "RefNotPermitted")]
    );
    assert_eq!(
        backends(route(vhost, "default.partially.0")),
        [("<none>", 1)]
    );
    assert_eq!(
        backends(route(vhost, "default.partially.1")),
        [(web.as_str(), 1)]
    );
    assert_eq!(
        route_conditions(http_route(t, "default", "split")),
        [ACCEPTED, ("False", "InvalidKind")]
    );
    assert_eq!(
        backends(route(vhost, "default.split.0")),
        [(web.as_str(), 1), ("<none>", 1)]
    );
}

fn reference_grants(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    assert_eq!(
        route_conditions(http_route(t, "default", "granted")),
        [ACCEPTED, RESOLVED]
    );
    assert_eq!(
        backends(route(vhost, "default.granted.0")),
        [(service("web", "backends", 8080).as_str(), 1)]
    );
    assert_eq!(
        route_conditions(http_route(t, "default", "all-in-namespace")),
        [ACCEPTED, RESOLVED]
    );
    assert_eq!(
        backends(route(vhost, "default.all-in-namespace.0")),
        [(service("web2", "shared", 8080).as_str(), 1)]
    );
    for (namespace, name) in [("default", "wrong-name"), ("third", "wrong-from-ns")] {
        assert_eq!(
            route_conditions(http_route(t, namespace, name)),
            [ACCEPTED, ("False", "RefNotPermitted")],
            "{namespace}/{name}"
        );
        assert_eq!(
            backends(route(vhost, &format!("{namespace}.{name}.0"))),
            [("<none>", 1)]
        );
    }
    assert_eq!(
        route_conditions(route_status(t, "GRPCRoute", "default", "grpc-not-granted")),
        [ACCEPTED, ("False", "RefNotPermitted")]
    );
}

fn timeouts_and_retry(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let both = route(vhost, "default.timeouts.both");
    assert_eq!(both.timeout, Some(Duration::from_secs(1)));
    assert_eq!(both.retry.per_try_timeout, Some(Duration::from_millis(500)));
    assert_eq!(route(vhost, "default.timeouts.disabled").timeout, None);
    let retry = &route(vhost, "default.timeouts.retry").retry;
    assert_eq!(retry.attempts, 3);
    assert_eq!(retry.retriable_status_codes, [500, 502]);
    assert!(retry.retry_on.retriable_status_codes && retry.retry_on.connect_failure);
    assert!(retry.retry_on.reset, "connection errors are retried");
    assert_eq!(retry.backoff, Some(Duration::from_millis(100)));
    assert_eq!(
        route(vhost, "default.timeouts.default-retry").retry,
        vestibule_ir::RetryPolicy::istio_default()
    );
    let bad = http_route(t, "default", "bad");
    assert_eq!(route_conditions(bad)[0], ("False", "UnsupportedValue"));
    assert!(!route_names(vhost)
        .iter()
        .any(|n| n.starts_with("default.bad")));
}

fn grpc_methods(t: &Translation) {
    let vhost = vhost(t, 80, "grpc.example.com");
    let describe = |route: &Route| {
        let path = match path(route) {
            PathMatch::Exact { value, .. } => format!("exact {value}"),
            PathMatch::Prefix { value, .. } => format!("prefix {value}"),
            PathMatch::Regex { pattern } => format!("regex {}", pattern.as_str()),
            PathMatch::SegmentPrefix { value } => format!("segment {value}"),
        };
        let header = route.matches[0]
            .headers
            .first()
            .map(|h| format!(" +{}", h.name))
            .unwrap_or_default();
        let backend = backends(route)[0]
            .0
            .split('|')
            .next_back()
            .unwrap_or_default()
            .to_owned();
        format!(
            "{path}{header} -> {}",
            backend.split('.').next().unwrap_or_default()
        )
    };
    let order: Vec<String> = vhost.routes.iter().map(|route| describe(route)).collect();
    assert_eq!(
        order,
        [
            "exact /grpc.testing.TestService/UnaryCall -> v1",
            "prefix /grpc.testing.Other/ -> v2",
            r"regex /grpc\.testing\..*/Stream.* -> v3",
            "regex /[^/]+/Other -> v2",
            "prefix / +x-tenant -> v3",
            "prefix / -> v1",
        ]
    );
    assert_eq!(vhost.routes[0].name, "default.methods.unary");
    let PathMatch::Regex { pattern } = path(&vhost.routes[3]) else {
        panic!("method-only is a regex");
    };
    assert!(pattern.is_match("/any.Service/Other"));
    assert!(!pattern.is_match("/any.Service/OtherMethod"));
    let backend = |key: &str| {
        t.table
            .backends
            .get(key)
            .unwrap_or_else(|| panic!("no backend {key}"))
    };
    assert_eq!(
        backend("outbound|8080|h2c|v1.default.svc.cluster.local").protocol,
        AppProtocol::H2c
    );
    assert_eq!(
        backend(&service("v3", "default", 8080)).protocol,
        AppProtocol::H2c
    );
    assert_eq!(
        route_conditions(route_status(t, "GRPCRoute", "default", "methods")),
        [ACCEPTED, RESOLVED]
    );
}

fn seed_003(t: &Translation) {
    assert_eq!(listener_ports(t), [80]);
    assert_eq!(vhost_domains(t, 80), ["httpbin.example.com"]);
    let vhost = vhost(t, 80, "httpbin.example.com");
    assert_eq!(vhost.routes.len(), 1);
    let route = &vhost.routes[0];
    assert_eq!(path(route), &segment("/get"));
    assert_eq!(
        route.request_headers.add(),
        pairs(&[("my-added-header", "added-value")])
    );
    assert_eq!(
        backends(route),
        [(service("httpbin", "default", 8000).as_str(), 1)]
    );
    let status = gateway(t, "istio-ingress", "gateway");
    assert_eq!(cond(&status.conditions, "Accepted"), ACCEPTED);
    assert_eq!(cond(&status.conditions, "Programmed"), PROGRAMMED);
    assert_eq!(status.listeners[0].attached_routes, 1);
    let route = http_route(t, "default", "http");
    assert_eq!(
        ref_key(&route.parents[0].parent_ref),
        "istio-ingress/gateway"
    );
    assert_eq!(route_conditions(route), [ACCEPTED, RESOLVED]);
}

fn attached_routes(t: &Translation) {
    let one = gateway(t, "default", "one");
    assert_eq!(gw_listener(one, "http").attached_routes, 3);
    assert_eq!(gw_listener(one, "restricted").attached_routes, 0);
    let two = gateway(t, "default", "two");
    assert_eq!(gw_listener(two, "http").attached_routes, 1);
    assert_eq!(
        route_names(vhost(t, 80, "*")),
        ["default.broken.0", "default.a.0", "default.b.0"]
    );
    assert_eq!(
        route_conditions(http_route(t, "default", "broken")),
        [ACCEPTED, ("False", "BackendNotFound")]
    );
    let b = http_route(t, "default", "b");
    assert_eq!(b.parents.len(), 2);
    for p in &b.parents {
        assert_eq!(
            cond(&p.conditions, "Accepted"),
            ACCEPTED,
            "{}",
            ref_key(&p.parent_ref)
        );
    }
}

fn http_grpc_conflict(t: &Translation) {
    let accepted =
        |kind: &str, name: &str| route_conditions(route_status(t, kind, "default", name))[0];
    assert_eq!(accepted("HTTPRoute", "old-http"), ACCEPTED);
    assert_eq!(accepted("GRPCRoute", "old-grpc"), ACCEPTED);
    assert_eq!(accepted("GRPCRoute", "other-grpc"), ACCEPTED);
    assert_eq!(
        accepted("GRPCRoute", "new-grpc"),
        ("False", "NotAllowedByListeners")
    );
    assert_eq!(
        accepted("HTTPRoute", "new-http"),
        ("False", "NotAllowedByListeners")
    );
    let refusal = condition(
        &route_status(t, "GRPCRoute", "default", "new-grpc").parents[0].conditions,
        "Accepted",
    );
    assert!(refusal.message.contains("HTTPRoute"), "{}", refusal.message);
    assert_eq!(
        vhost_domains(t, 80),
        ["*.rpc.example.com", "api.example.com", "grpc.example.com"]
    );
    assert_eq!(
        route_names(vhost(t, 80, "api.example.com")),
        ["default.old-http.0"]
    );
    assert_eq!(
        route_names(vhost(t, 80, "*.rpc.example.com")),
        ["default.old-grpc.0"]
    );
    assert_eq!(gateway(t, "default", "gw").listeners[0].attached_routes, 3);
}

fn partially_invalid(t: &Translation) {
    let mixed = &http_route(t, "default", "mixed").parents[0].conditions;
    assert_eq!(cond(mixed, "Accepted"), ACCEPTED);
    assert_eq!(
        cond(mixed, "PartiallyInvalid"),
        ("True", "UnsupportedValue")
    );
    let message = &condition(mixed, "PartiallyInvalid").message;
    assert!(message.contains("1 of 2 rules dropped"), "{message}");
    assert!(message.contains("Glob"), "{message}");
    assert_eq!(route_names(vhost(t, 80, "*")), ["default.mixed.1"]);
    let all_bad = &http_route(t, "default", "all-bad").parents[0].conditions;
    assert_eq!(cond(all_bad, "Accepted"), ("False", "UnsupportedValue"));
    assert!(!all_bad.iter().any(|c| c.kind == "PartiallyInvalid"));
    let rpc = &route_status(t, "GRPCRoute", "default", "rpc").parents[0].conditions;
    assert_eq!(cond(rpc, "Accepted"), ACCEPTED);
    assert_eq!(cond(rpc, "PartiallyInvalid"), ("True", "UnsupportedValue"));
    assert_eq!(
        route_names(vhost(t, 8080, "rpc.example.com")),
        ["default.rpc.1"]
    );
    let missing = vhost(t, 8080, "missing.example.com");
    assert_eq!(direct_status(&missing.routes[0]), 503);
    assert_eq!(
        route_conditions(route_status(t, "GRPCRoute", "default", "rpc-missing")),
        [ACCEPTED, ("False", "BackendNotFound")]
    );
}
