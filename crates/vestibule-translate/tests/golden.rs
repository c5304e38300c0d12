//! Golden translation tests for the Istio translator.
//!
//! Each `tests/golden/istio/<case>.yaml` is one case: a `#` comment saying which
//! semantic it pins and what the outcome must be, then the manifests. The test
//! loads the file, translates it for the default gateway identity
//! (`istio=ingressgateway` in `istio-system`), snapshots the whole `Translation`
//! as YAML (`tests/snapshots/golden__istio@<case>.yaml.snap`) and runs the
//! case's check from [`CHECKS`], which asserts the decisive fact in Rust so the
//! semantic does not depend on a reviewer reading the snapshot.
//!
//! To review changed snapshots: `INSTA_UPDATE=always cargo test -p
//! vestibule-translate --test golden`, then read the `.snap` diffs.

use std::path::Path;
use std::time::Duration;

use vestibule_ir::status::{Condition, GatewayStatus, ResourceStatus, Warning};
use vestibule_ir::{
    HeaderEdits, HeaderMatch, HeaderMutations, PathMatch, PathRewrite, QueryMatch, Route,
    RouteAction, StringMatcher,
};
use vestibule_translate::Translation;

mod golden_support;
use golden_support::{backends, listener, route, route_names, run_case, vhost};

type Check = fn(&Translation);

/// Case name (file stem) → the decisive assertions of that case.
const CHECKS: &[(&str, Check)] = &[
    ("seed_httpbin", seed_httpbin),
    ("browser_star", browser_star),
    ("seed_octopus", seed_octopus),
    ("gateways_with_mesh", gateways_with_mesh),
    ("selector_mismatch", selector_mismatch),
    ("server_host_namespaces", server_host_namespaces),
    ("host_intersection", host_intersection),
    ("merge_by_creation_time", merge_by_creation_time),
    ("first_match_order", first_match_order),
    ("match_kinds", match_kinds),
    ("match_gateways_and_port", match_gateways_and_port),
    ("invalid_regex", invalid_regex),
    ("weights", weights),
    ("unknown_destination", unknown_destination),
    ("destination_forms", destination_forms),
    ("port_required", port_required),
    ("endpoint_resolution", endpoint_resolution),
    ("retries_and_timeouts", retries_and_timeouts),
    ("redirect_and_direct_response", redirect_and_direct_response),
    ("headers_ops", headers_ops),
    (
        "protocol_conflict_and_unsupported",
        protocol_conflict_and_unsupported,
    ),
    ("same_port_two_gateways", same_port_two_gateways),
];

/// Istio HTTPS, TLS and TCP cases: checks in `golden/istio_tls_checks.rs`.
#[path = "golden/istio_tls_checks.rs"]
mod istio_tls_checks;

/// VirtualService feature cases: checks in `golden/istio_vs_checks.rs`.
#[path = "golden/istio_vs_checks.rs"]
mod istio_vs_checks;

/// VirtualService delegation and exportTo: `golden/istio_delegate_checks.rs`.
#[path = "golden/istio_delegate_checks.rs"]
mod istio_delegate_checks;

/// DestinationRule subsets and load balancing: `golden/destination_rule_checks.rs`.
#[path = "golden/destination_rule_checks.rs"]
mod destination_rule_checks;

/// Upstream TLS cases: checks in `golden/upstream_tls_checks.rs`.
#[path = "golden/upstream_tls_checks.rs"]
mod upstream_tls_checks;

#[test]
fn istio() {
    insta::glob!("golden/istio/*.yaml", |path| {
        let translation = run_case(path).1;
        insta::assert_yaml_snapshot!(translation);
        let name = case_name(path);
        let check = CHECKS
            .iter()
            .chain(istio_tls_checks::CHECKS)
            .chain(istio_vs_checks::CHECKS)
            .chain(istio_delegate_checks::CHECKS)
            .chain(upstream_tls_checks::ISTIO)
            .chain(destination_rule_checks::CHECKS)
            .find(|(case, _)| *case == name)
            .map(|(_, check)| *check)
            .unwrap_or_else(|| panic!("case {name} has no entry in CHECKS"));
        check(&translation);
    });
}

#[test]
fn every_check_has_a_case_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/istio");
    for (name, _) in CHECKS
        .iter()
        .chain(istio_tls_checks::CHECKS)
        .chain(istio_vs_checks::CHECKS)
        .chain(istio_delegate_checks::CHECKS)
        .chain(upstream_tls_checks::ISTIO)
        .chain(destination_rule_checks::CHECKS)
    {
        let file = dir.join(format!("{name}.yaml"));
        assert!(
            file.is_file(),
            "CHECKS names {name} but {} is missing",
            file.display()
        );
    }
}

/// Kubernetes Ingress cases: `tests/golden/ingress/<case>.yaml`, snapshots
/// `golden__ingress@<case>.yaml.snap`, checks in `golden/ingress_checks.rs`.
#[path = "golden/ingress_checks.rs"]
mod ingress_checks;

#[test]
fn ingress() {
    insta::glob!("golden/ingress/*.yaml", |path| {
        let translation = run_case(path).1;
        insta::assert_yaml_snapshot!(translation);
        let name = case_name(path);
        let check = ingress_checks::CHECKS
            .iter()
            .find(|(case, _)| *case == name)
            .map(|(_, check)| *check)
            .unwrap_or_else(|| panic!("ingress case {name} has no entry in CHECKS"));
        check(&translation);
    });
}

#[test]
fn every_ingress_check_has_a_case_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ingress");
    for (name, _) in ingress_checks::CHECKS {
        let file = dir.join(format!("{name}.yaml"));
        assert!(
            file.is_file(),
            "ingress CHECKS names {name} but {} is missing",
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

// === Lookup helpers ===

fn listener_names(t: &Translation) -> Vec<&str> {
    t.table.listeners.iter().map(|l| l.name.as_str()).collect()
}

/// `domain:port` of every virtual host of the listener on `port`, in order.
fn vhost_names(t: &Translation, port: u16) -> Vec<&str> {
    listener(t, port)
        .virtual_hosts
        .iter()
        .map(|v| v.name.as_str())
        .collect()
}

fn endpoints(t: &Translation, backend: &str) -> Vec<String> {
    t.endpoints
        .backends
        .get(backend)
        .unwrap_or_else(|| panic!("no endpoint entry for {backend}"))
        .iter()
        .map(|e| e.address.to_string())
        .collect()
}

fn vs<'t>(t: &'t Translation, namespace: &str, name: &str) -> &'t ResourceStatus {
    t.statuses
        .virtual_services
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)
        .unwrap_or_else(|| panic!("no status for VirtualService {namespace}/{name}"))
}

fn gateway<'t>(t: &'t Translation, namespace: &str, name: &str) -> &'t GatewayStatus {
    t.statuses
        .gateways
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)
        .unwrap_or_else(|| panic!("no status for Gateway {namespace}/{name}"))
}

fn accepted(conditions: &[Condition]) -> &Condition {
    conditions
        .iter()
        .find(|c| c.kind == "Accepted")
        .expect("an Accepted condition")
}

/// `(status, reason)` of the Accepted condition.
fn acceptance(conditions: &[Condition]) -> (&str, &str) {
    let condition = accepted(conditions);
    (condition.status, condition.reason)
}

fn path(route: &Route) -> &PathMatch {
    route.matches[0].path.as_ref().expect("a path match")
}

fn prefix(value: &str) -> PathMatch {
    PathMatch::Prefix {
        value: value.to_owned(),
        ignore_case: false,
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

const HTTPBIN: &str = "outbound|8000||httpbin.default.svc.cluster.local";

// === Checks, one per case ===

fn seed_httpbin(t: &Translation) {
    assert_eq!(listener_names(t), ["http.80"]);
    assert_eq!(vhost_names(t, 80), ["httpbin.example.com:80"]);
    let vhost = vhost(t, 80, "httpbin.example.com");
    let paths: Vec<_> = vhost
        .routes
        .iter()
        .map(|route| path(route))
        .cloned()
        .collect();
    assert_eq!(paths, [prefix("/status"), prefix("/delay")]);
    for route in &vhost.routes {
        assert_eq!(backends(route), [(HTTPBIN, 1)]);
    }
    assert_eq!(endpoints(t, HTTPBIN), ["127.0.0.1:8080"]);
    assert_eq!(
        acceptance(&vs(t, "default", "httpbin").conditions),
        ("True", "Accepted")
    );
}

fn browser_star(t: &Translation) {
    assert_eq!(vhost_names(t, 80), ["*:80"]);
    let vhost = vhost(t, 80, "*");
    assert_eq!(vhost.routes.len(), 1);
    assert_eq!(path(&vhost.routes[0]), &prefix("/headers"));
}

fn seed_octopus(t: &Translation) {
    assert_eq!(
        acceptance(&vs(t, "default", "proxy").conditions),
        ("True", "Accepted")
    );
    let vhost = vhost(t, 80, "*");
    assert_eq!(route_names(vhost), ["default.proxy.0"]);
    let key = "outbound|80||proxy.default.svc.cluster.local";
    assert_eq!(backends(&vhost.routes[0]), [(key, 1)]);
    assert_eq!(endpoints(t, key), ["127.0.0.1:3128"]);
    let listener = &gateway(t, "istio-system", "default-gateway").listeners[0];
    assert_eq!(listener.attached_routes, 1);
}

fn gateways_with_mesh(t: &Translation) {
    assert_eq!(
        route_names(vhost(t, 80, "httpbin.example.com")),
        ["with-mesh", "without-mesh"]
    );
    for name in ["with-mesh", "without-mesh"] {
        assert_eq!(
            acceptance(&vs(t, "default", name).conditions),
            ("True", "Accepted")
        );
    }
    for name in ["mesh-only", "no-gateways"] {
        assert_eq!(
            acceptance(&vs(t, "default", name).conditions),
            ("False", "MeshOnly")
        );
    }
    assert_eq!(
        gateway(t, "default", "httpbin-gateway").listeners[0].attached_routes,
        2
    );
}

fn selector_mismatch(t: &Translation) {
    for name in ["other-gateway", "strict-gateway"] {
        let status = gateway(t, "default", name);
        assert_eq!(acceptance(&status.conditions), ("False", "NotSelected"));
        assert!(status.listeners.is_empty());
    }
    assert_eq!(
        acceptance(&gateway(t, "default", "open-gateway").conditions),
        ("True", "Accepted")
    );
    assert_eq!(vhost_names(t, 80), ["open.example.com:80"]);
    for name in ["other", "strict"] {
        assert_eq!(
            acceptance(&vs(t, "default", name).conditions),
            ("False", "NoMatchingGateway")
        );
    }
    assert_eq!(
        acceptance(&vs(t, "default", "open").conditions),
        ("True", "Accepted")
    );
}

fn server_host_namespaces(t: &Translation) {
    assert_eq!(route_names(vhost(t, 80, "shop.example.com")), ["prod-shop"]);
    assert_eq!(
        route_names(vhost(t, 80, "internal.example.com")),
        ["system-internal"]
    );
    assert_eq!(
        route_names(vhost(t, 80, "open.example.com")),
        ["default-open"]
    );
    for (namespace, name) in [
        ("prod", "shop"),
        ("istio-system", "internal"),
        ("default", "open"),
    ] {
        assert_eq!(
            acceptance(&vs(t, namespace, name).conditions),
            ("True", "Accepted")
        );
    }
    for name in ["shop", "internal"] {
        assert_eq!(
            acceptance(&vs(t, "default", name).conditions),
            ("False", "NoMatchingGateway")
        );
    }
    assert_eq!(
        gateway(t, "istio-system", "shared").listeners[0].attached_routes,
        3
    );
}

fn host_intersection(t: &Translation) {
    assert_eq!(
        vhost_names(t, 80),
        ["httpbin.example.com:80", "*.api.example.com:80"]
    );
    assert_eq!(route_names(vhost(t, 80, "httpbin.example.com")), ["exact"]);
    assert_eq!(route_names(vhost(t, 80, "*.api.example.com")), ["deeper"]);
    assert_eq!(vhost_names(t, 8080), ["httpbin.example.com:8080"]);
    assert_eq!(route_names(vhost(t, 8080, "httpbin.example.com")), ["star"]);
    for name in ["disjoint", "apex"] {
        assert_eq!(
            acceptance(&vs(t, "default", name).conditions),
            ("False", "NoMatchingGateway")
        );
    }
}

fn merge_by_creation_time(t: &Translation) {
    assert_eq!(
        route_names(vhost(t, 80, "merge.example.com")),
        ["old-specific", "new-specific", "old-catch-all"]
    );
}

fn first_match_order(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    assert_eq!(
        route_names(vhost),
        [
            "api-prefix",
            "users-exact",
            "v2.regex",
            "v2.by-header",
            "legacy"
        ]
    );
    assert_eq!(path(&vhost.routes[0]), &prefix("/api"));
    assert!(
        matches!(path(&vhost.routes[1]), PathMatch::Exact { value, .. } if value == "/api/users")
    );
}

fn match_kinds(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    assert_eq!(
        route_names(vhost),
        [
            "uri-exact",
            "uri-prefix",
            "uri-regex",
            "ignore-case",
            "ignore-case-pfx",
            "method",
            "scheme",
            "authority",
            "headers",
            "query",
            "without"
        ]
    );
    let only = |name: &str| {
        let route = route(vhost, name);
        assert_eq!(route.matches.len(), 1, "{name}: one match");
        route.matches[0].clone()
    };
    assert_eq!(
        only("uri-exact").path,
        Some(PathMatch::Exact {
            value: "/exact".into(),
            ignore_case: false
        })
    );
    assert_eq!(only("uri-prefix").path, Some(prefix("/prefix")));
    match only("uri-regex").path {
        Some(PathMatch::Regex { pattern }) => {
            assert_eq!(pattern.as_str(), "/items/[0-9]+");
            assert!(pattern.is_match("/items/42"));
            assert!(
                !pattern.is_match("/items/42/x"),
                "regexes match the whole path"
            );
        }
        other => panic!("uri-regex: {other:?}"),
    }
    assert_eq!(
        only("ignore-case").path,
        Some(PathMatch::Exact {
            value: "/CaseLess".into(),
            ignore_case: true
        })
    );
    assert_eq!(
        only("ignore-case-pfx").path,
        Some(PathMatch::Prefix {
            value: "/Mixed".into(),
            ignore_case: true
        })
    );
    let method = only("method");
    assert_eq!(
        (method.path, method.method),
        (None, Some(StringMatcher::Exact("POST".into())))
    );
    assert_eq!(
        only("scheme").scheme,
        Some(StringMatcher::Exact("https".into()))
    );
    assert_eq!(
        only("authority").authority,
        Some(StringMatcher::Prefix("api.example.com".into()))
    );

    let header = |name: &str, matcher: Option<StringMatcher>, invert: bool| HeaderMatch {
        name: name.to_owned(),
        matcher,
        invert,
    };
    let regex = |source: &str| StringMatcher::Regex(vestibule_ir::Pattern::new(source).unwrap());
    assert_eq!(
        only("headers").headers,
        [
            header("x-exact", Some(StringMatcher::Exact("a".into())), false),
            header("x-prefix", Some(StringMatcher::Prefix("b".into())), false),
            header("x-present", None, false),
            header("x-regex", Some(regex("c+")), false),
            header("x-star", None, false),
        ]
    );
    let query = |name: &str, matcher: Option<StringMatcher>| QueryMatch {
        name: name.to_owned(),
        matcher,
    };
    assert_eq!(
        only("query").query_params,
        [
            query("q-empty", Some(StringMatcher::Exact(String::new()))),
            query("q-exact", Some(StringMatcher::Exact("1".into()))),
            query("q-prefix", Some(StringMatcher::Prefix("ab".into()))),
            query("q-present", None),
            query("q-regex", Some(regex("[0-9]+"))),
        ]
    );
    assert_eq!(
        only("without").headers,
        [
            header("x-debug", None, true),
            header("x-env", Some(StringMatcher::Exact("prod".into())), true),
        ]
    );
}

fn match_gateways_and_port(t: &Translation) {
    let mut on_80 = route_names(vhost(t, 80, "app.example.com"));
    on_80.sort_unstable();
    assert_eq!(on_80, ["api", "partner", "web"]);
    assert_eq!(
        route_names(vhost(t, 8080, "app.example.com")),
        ["admin", "api"]
    );
    for name in ["public", "partner", "internal"] {
        assert_eq!(
            gateway(t, "default", name).listeners[0].attached_routes,
            1,
            "gateway {name} serves the VirtualService"
        );
    }
}

fn invalid_regex(t: &Translation) {
    let broken = accepted(&vs(t, "default", "broken").conditions);
    assert_eq!((broken.status, broken.reason), ("False", "Invalid"));
    assert!(
        broken
            .message
            .starts_with("spec.http[0].match[0].uri.regex: "),
        "message names the field: {}",
        broken.message
    );
    assert_eq!(
        acceptance(&vs(t, "default", "healthy").conditions),
        ("True", "Accepted")
    );
    assert_eq!(route_names(vhost(t, 80, "*")), ["healthy"]);
    let keys: Vec<&str> = t.table.backends.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [HTTPBIN],
        "a rejected VirtualService registers no backend"
    );
    assert_eq!(t.endpoints.backends.len(), 1);
}

fn weights(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let stable = "outbound|8000||stable.default.svc.cluster.local";
    let canary = "outbound|8000||canary.default.svc.cluster.local";
    assert_eq!(
        backends(route(vhost, "split")),
        [(stable, 90), (canary, 10)]
    );
    assert_eq!(backends(route(vhost, "drop-zero")), [(stable, 100)]);
    assert_eq!(backends(route(vhost, "single")), [(stable, 1)]);
}

fn unknown_destination(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let ghost = "outbound|0||nope.default.svc.cluster.local";
    let wrong_port = "outbound|9999||httpbin.default.svc.cluster.local";
    assert_eq!(backends(route(vhost, "ghost")), [(ghost, 1)]);
    assert_eq!(backends(route(vhost, "wrong-port")), [(wrong_port, 1)]);
    assert_eq!(backends(route(vhost, "fine")), [(HTTPBIN, 1)]);
    assert!(endpoints(t, ghost).is_empty());
    assert!(endpoints(t, wrong_port).is_empty());
    assert_eq!(endpoints(t, HTTPBIN), ["127.0.0.1:8080"]);
    let status = vs(t, "default", "dangling");
    assert_eq!(acceptance(&status.conditions), ("True", "Accepted"));
    assert_eq!(
        status.warnings,
        [
            Warning::other(
                r#"spec.http[0].route[0].destination: referenced service "nope" not found"#
            ),
            Warning::other(
                r#"spec.http[1].route[0].destination: service "httpbin.default.svc.cluster.local" has no port 9999"#
            ),
        ]
    );
}

fn destination_forms(t: &Translation) {
    let vhost = vhost(t, 80, "forms.example.com");
    for name in ["short", "ns", "svc", "fqdn"] {
        assert_eq!(backends(route(vhost, name)), [(HTTPBIN, 1)], "route {name}");
    }
    let static_key = "outbound|80||static.internal";
    assert_eq!(backends(route(vhost, "static")), [(static_key, 1)]);
    assert_eq!(endpoints(t, static_key), ["127.0.0.1:8090", "127.0.0.2:80"]);
    let dns_key = "outbound|80||httpbin.org";
    assert_eq!(backends(route(vhost, "dns")), [(dns_key, 1)]);
    assert_eq!(
        t.endpoints.backends[dns_key][0].address,
        vestibule_ir::EndpointAddress::Dns {
            host: "httpbin.org".into(),
            port: 80
        }
    );
    let elsewhere = vs(t, "apps", "elsewhere");
    assert_eq!(
        elsewhere.warnings,
        [Warning::other(
            r#"spec.http[0].route[0].destination: referenced service "httpbin" not found"#
        )]
    );
    let key = "outbound|0||httpbin.apps.svc.cluster.local";
    assert_eq!(
        backends(&self::vhost(t, 80, "elsewhere.example.com").routes[0]),
        [(key, 1)]
    );
    assert!(endpoints(t, key).is_empty());
}

fn port_required(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let ambiguous = "outbound|0||multi.default.svc.cluster.local";
    assert_eq!(backends(route(vhost, "ambiguous")), [(ambiguous, 1)]);
    assert!(endpoints(t, ambiguous).is_empty());
    assert_eq!(
        vs(t, "default", "multi").warnings,
        [Warning::other(
            r#"spec.http[0].route[0].destination: destination port required: service "multi.default.svc.cluster.local" has 2 ports"#
        )]
    );
    let admin = "outbound|9000||multi.default.svc.cluster.local";
    assert_eq!(backends(route(vhost, "admin")), [(admin, 1)]);
    assert_eq!(endpoints(t, admin), ["127.0.0.1:9090"]);
}

fn endpoint_resolution(t: &Translation) {
    let of = |service: &str, port: u16| {
        endpoints(
            t,
            &format!("outbound|{port}||{service}.default.svc.cluster.local"),
        )
    };
    assert_eq!(of("named", 8000), ["127.0.0.1:9090"]);
    assert_eq!(of("unnamed", 80), ["127.0.0.1:8081"]);
    assert_eq!(
        of("readiness", 8000),
        ["127.0.0.1:8080", "127.0.0.3:8080", "127.0.0.4:8080"]
    );
    assert_eq!(of("legacy", 8000), ["127.0.0.5:8082"]);
    assert_eq!(of("sliced", 8000), ["127.0.0.7:8080"]);
    assert!(of("empty", 8000).is_empty());
}

fn retries_and_timeouts(t: &Translation) {
    let vhost = vhost(t, 80, "*");
    let default = &route(vhost, "default").retry;
    assert_eq!(default.attempts, 2);
    let on = default.retry_on;
    assert!(on.connect_failure && on.refused_stream && on.unavailable && on.cancelled);
    assert!(!on.server_errors && !on.gateway_errors && !on.reset && !on.retriable_status_codes);
    assert!(default.retriable_status_codes.is_empty());
    assert_eq!(route(vhost, "default").timeout, None);

    let disabled = &route(vhost, "disabled").retry;
    assert_eq!(disabled.attempts, 0);
    assert_eq!(disabled.retry_on, vestibule_ir::RetryOn::default());

    let custom = &route(vhost, "custom").retry;
    assert_eq!(custom.attempts, 3);
    assert_eq!(
        custom.retry_on,
        vestibule_ir::RetryOn {
            server_errors: true,
            retriable_status_codes: true,
            ..Default::default()
        }
    );
    assert_eq!(custom.retriable_status_codes, [503]);
    assert_eq!(custom.per_try_timeout, Some(Duration::from_secs(2)));

    let attempts_only = &route(vhost, "attempts-only").retry;
    assert_eq!(attempts_only.attempts, 5);
    assert_eq!(attempts_only.retry_on, default.retry_on);

    assert_eq!(
        route(vhost, "timeout").timeout,
        Some(Duration::from_millis(1500))
    );
    assert_eq!(route(vhost, "timeout").retry, *default);
    assert_eq!(route(vhost, "zero-timeout").timeout, None);
}

fn redirect_and_direct_response(t: &Translation) {
    let vhost = vhost(t, 80, "actions.example.com");
    assert_eq!(
        route_names(vhost),
        ["moved-path", "moved-host", "teapot", "empty-body"]
    );
    match &route(vhost, "moved-path").action {
        RouteAction::Redirect(redirect) => {
            assert_eq!(redirect.status, 301);
            assert_eq!(
                redirect.path.as_deref(),
                Some(&PathRewrite::Full("/new".into()))
            );
            assert_eq!(
                (&redirect.scheme, &redirect.host, redirect.port),
                (&None, &None, None)
            );
        }
        other => panic!("moved-path: {other:?}"),
    }
    match &route(vhost, "moved-host").action {
        RouteAction::Redirect(redirect) => {
            assert_eq!(redirect.status, 308);
            assert_eq!(redirect.scheme.as_deref(), Some("https"));
            assert_eq!(redirect.host.as_deref(), Some("new.example.com"));
            assert_eq!(redirect.port, Some(8443));
            assert_eq!(redirect.path, None);
        }
        other => panic!("moved-host: {other:?}"),
    }
    match &route(vhost, "teapot").action {
        RouteAction::DirectResponse(response) => {
            assert_eq!(
                (response.status, response.body.as_slice()),
                (418, &b"I'm a teapot"[..])
            );
        }
        other => panic!("teapot: {other:?}"),
    }
    match &route(vhost, "empty-body").action {
        RouteAction::DirectResponse(response) => {
            assert_eq!((response.status, response.body.as_slice()), (204, &b""[..]));
        }
        other => panic!("empty-body: {other:?}"),
    }
    let conflict = accepted(&vs(t, "default", "conflict").conditions);
    assert_eq!((conflict.status, conflict.reason), ("False", "Invalid"));
    assert_eq!(
        conflict.message,
        "spec.http[0]: only one of route, redirect, directResponse or delegate may be set"
    );
    assert!(
        t.table.backends.is_empty(),
        "the rejected VirtualService adds no backend"
    );
}

fn headers_ops(t: &Translation) {
    let route = route(vhost(t, 80, "*"), "headers");
    assert_eq!(
        route.request_headers,
        HeaderMutations::from(HeaderEdits {
            set: pairs(&[("x-rule-set", "a")]),
            add: pairs(&[("x-rule-add", "b")]),
            remove: strings(&["x-rule-remove"]),
        })
    );
    assert_eq!(
        route.response_headers,
        HeaderMutations::from(HeaderEdits {
            set: pairs(&[("x-rule-resp-set", "c")]),
            add: pairs(&[("x-rule-resp-add", "d")]),
            remove: strings(&["server"]),
        })
    );
    let RouteAction::Forward(forward) = &route.action else {
        panic!("headers route forwards");
    };
    let [v1, v2] = forward.backends.as_slice() else {
        panic!("two backends: {:?}", forward.backends);
    };
    assert_eq!((v1.weight, v2.weight), (50, 50));
    assert_eq!(
        v1.request_headers,
        HeaderMutations::from(HeaderEdits {
            set: pairs(&[("x-backend", "v1")]),
            ..Default::default()
        })
    );
    assert_eq!(
        v1.response_headers,
        HeaderMutations::from(HeaderEdits {
            remove: strings(&["x-internal"]),
            ..Default::default()
        })
    );
    assert_eq!(
        v2.request_headers,
        HeaderMutations::from(HeaderEdits {
            add: pairs(&[("x-backend", "v2")]),
            ..Default::default()
        })
    );
    assert_eq!(
        v2.response_headers,
        HeaderMutations::from(HeaderEdits {
            set: pairs(&[("x-served-by", "v2")]),
            ..Default::default()
        })
    );
}

fn protocol_conflict_and_unsupported(t: &Translation) {
    assert_eq!(listener_names(t), ["http.80", "tcp.31400"]);
    assert!(listener(t, 31400).stream_routes.is_empty());
    assert_eq!(route_names(vhost(t, 80, "*")), ["httpbin"]);
    let mixed = gateway(t, "default", "mixed");
    let reasons: Vec<(&str, &str)> = mixed
        .listeners
        .iter()
        .map(|l| (l.name.as_str(), accepted(&l.conditions).reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ("http", "Accepted"),
            ("https", "InvalidTLSConfig"),
            ("tcp", "Accepted"),
            ("udp", "UnsupportedProtocol")
        ]
    );
    assert_eq!(
        accepted(&mixed.listeners[1].conditions).message,
        "Secret istio-system/example-cert does not exist"
    );
    assert_eq!(mixed.listeners[0].attached_routes, 1);
    let squatter = gateway(t, "default", "squatter");
    assert_eq!(
        acceptance(&squatter.listeners[0].conditions),
        ("False", "ProtocolConflict")
    );
    assert_eq!(
        acceptance(&vs(t, "default", "httpbin").conditions),
        ("True", "Accepted")
    );
}

fn same_port_two_gateways(t: &Translation) {
    assert_eq!(listener_names(t), ["http.80"]);
    assert_eq!(vhost_names(t, 80), ["a.example.com:80", "b.example.com:80"]);
    assert_eq!(route_names(vhost(t, 80, "a.example.com")), ["a"]);
    assert_eq!(route_names(vhost(t, 80, "b.example.com")), ["b"]);
    for name in ["gw-a", "gw-b"] {
        let status = gateway(t, "default", name);
        assert_eq!(acceptance(&status.conditions), ("True", "Accepted"));
        assert_eq!(status.listeners[0].attached_routes, 1);
    }
}
