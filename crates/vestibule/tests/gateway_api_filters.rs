//! Gateway API end to end: the requests and expectations of the conformance
//! suite's filter tests (HTTPRouteRequestHeaderModifier,
//! ...ResponseHeaderModifier, ...RedirectHostAndStatus, ...RedirectPath,
//! ...RedirectPort, ...RedirectScheme, ...RedirectPortAndScheme,
//! ...RewritePath, ...RewriteHost, ...RequestMirror, ...RequestMultipleMirrors,
//! ...RequestPercentageMirror, ...CORS, ...TimeoutRequest, HTTPRoute303Redirect,
//! HTTPRoute307Redirect, HTTPRoute308Redirect,
//! ...TimeoutBackendRequest, ...Retry, ...RetryConnectionError) and their
//! status.

mod gateway_api_support;
mod support;

use std::time::{Duration, Instant};

use gateway_api_support::{
    accepted_and_resolved, backend, get, get_with, http_route_conditions, send, start,
};
use support::{service, ConfigDir, Recorder};

const GATEWAY: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: infra
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: same-namespace
  namespace: infra
spec:
  gatewayClassName: vestibule
  listeners:
  - name: http
    port: 80
    protocol: HTTP
  - name: http-8080
    port: 8080
    protocol: HTTP
"#;

fn route(name: &str, rules: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: infra\nspec:\n  parentRefs:\n  - name: same-namespace\n    sectionName: http\n  rules:\n{rules}"
    )
}

fn recorder_service(config: &ConfigDir, name: &str, recorder: &Recorder) {
    config.write(
        &format!("svc-{name}.yaml"),
        &service(name, "infra", 8080, &[recorder.address]),
    );
}

fn assert_route_ok(status: &serde_json::Value, name: &str) {
    assert_eq!(
        http_route_conditions(status, "infra", name, "infra/same-namespace/http"),
        accepted_and_resolved(),
        "{name}"
    );
}

#[tokio::test]
async fn request_and_response_header_modifiers() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    backend(&config, "infra", "infra-backend-v1").await;
    let to = "    backendRefs: [{name: infra-backend-v1, port: 8080}]\n";
    let rule = |path: &str, filter: &str| {
        format!("  - matches: [{{path: {{type: PathPrefix, value: {path}}}}}]\n    filters:\n{filter}{to}")
    };
    let rules = [
        rule(
            "/anything/set",
            "    - type: RequestHeaderModifier\n      requestHeaderModifier:\n        set: [{name: X-Header-Set, value: set-overwrites-values}]\n",
        ),
        rule(
            "/anything/add",
            "    - type: RequestHeaderModifier\n      requestHeaderModifier:\n        add: [{name: X-Header-Add, value: add-appends-values}]\n",
        ),
        rule(
            "/anything/remove",
            "    - type: RequestHeaderModifier\n      requestHeaderModifier:\n        remove: [X-Header-Remove]\n",
        ),
        rule(
            "/anything/multiple",
            "    - type: RequestHeaderModifier\n      requestHeaderModifier:\n        set: [{name: X-Header-Set-1, value: header-set-1}, {name: X-Header-Set-2, value: header-set-2}]\n        add: [{name: X-Header-Add-1, value: header-add-1}, {name: X-Header-Add-2, value: header-add-2}]\n        remove: [X-Header-Remove-1, X-Header-Remove-2]\n",
        ),
        rule(
            "/response-headers",
            "    - type: ResponseHeaderModifier\n      responseHeaderModifier:\n        set: [{name: X-Header-Set, value: set-overwrites-values}]\n        add: [{name: X-Header-Add, value: add-appends-values}]\n        remove: [X-Header-Remove]\n",
        ),
    ]
    .concat();
    config.write("route.yaml", &route("header-modifiers", &rules));
    let gateway = start(&config, &[80, 8080]).await;
    let address = gateway.listener(80).await;
    let host = "example.com";

    let answer = get_with(
        address,
        host,
        "/anything/set",
        &[("Some-Other-Header", "val")],
    )
    .await;
    assert_eq!(
        answer.echoed_header("X-Header-Set").as_deref(),
        Some("set-overwrites-values")
    );
    assert_eq!(
        answer.echoed_header("Some-Other-Header").as_deref(),
        Some("val")
    );
    let answer = get_with(
        address,
        host,
        "/anything/set",
        &[("X-Header-Set", "some-other-value")],
    )
    .await;
    assert_eq!(
        answer.echoed_header("X-Header-Set").as_deref(),
        Some("set-overwrites-values"),
        "set overwrites"
    );
    let answer = get(address, host, "/anything/add").await;
    assert_eq!(
        answer.echoed_header("X-Header-Add").as_deref(),
        Some("add-appends-values")
    );
    let answer = get_with(
        address,
        host,
        "/anything/add",
        &[("x-header-add", "some-other-value")],
    )
    .await;
    assert_eq!(
        answer.echoed_header("X-Header-Add").as_deref(),
        Some("some-other-value,add-appends-values"),
        "add appends"
    );
    let answer = get_with(
        address,
        host,
        "/anything/remove",
        &[("X-Header-Remove", "val")],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.echoed_header("X-Header-Remove"), None);
    let answer = get_with(
        address,
        host,
        "/anything/multiple",
        &[
            ("x-header-set-2", "header-set-2-old"),
            ("x-header-add-2", "header-add-2-old"),
            ("x-header-remove-1", "val"),
            ("x-header-remove-2", "val"),
            ("x-header-keep", "kept"),
        ],
    )
    .await;
    for (name, value) in [
        ("X-Header-Set-1", Some("header-set-1")),
        ("X-Header-Set-2", Some("header-set-2")),
        ("X-Header-Add-1", Some("header-add-1")),
        ("X-Header-Add-2", Some("header-add-2-old,header-add-2")),
        ("X-Header-Remove-1", None),
        ("X-Header-Remove-2", None),
        ("X-Header-Keep", Some("kept")),
    ] {
        assert_eq!(answer.echoed_header(name).as_deref(), value, "{name}");
    }

    // ResponseHeaderModifier: httpbin sets the headers it is asked to.
    let answer = get(
        address,
        host,
        "/response-headers?X-Header-Set=original&X-Header-Add=original&X-Header-Remove=gone&X-Header-Keep=kept",
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-header-set"), Some("set-overwrites-values"));
    let added: Vec<&str> = answer
        .headers
        .get_all("x-header-add")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        added.join(","),
        "original,add-appends-values",
        "add appends to the backend's value"
    );
    assert_eq!(answer.header("x-header-remove"), None);
    assert_eq!(answer.header("x-header-keep"), Some("kept"));

    assert_route_ok(&gateway.status().await, "header-modifiers");
}

/// Each `(path, status, Location)`; the Location never carries the local
/// bind port, only the listener's (`:8080` when not the default).
async fn expect_redirects(address: std::net::SocketAddr, host: &str, cases: &[(&str, u16, &str)]) {
    for (path, status, location) in cases {
        let answer = get(address, host, path).await;
        assert_eq!(
            (answer.status, answer.location()),
            (*status, Some(*location)),
            "{host}{path}"
        );
        assert!(answer.backend().is_none(), "a redirect is answered locally");
    }
}

#[tokio::test]
async fn redirects() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    let rules = |prefix: &str| -> String {
        let redirect = |path: &str, filter: &str| {
            format!(
                "  - matches: [{{path: {{type: PathPrefix, value: {prefix}{path}}}}}]\n    filters: [{{type: RequestRedirect, requestRedirect: {filter}}}]\n"
            )
        };
        [
            redirect("/hostname-redirect", "{hostname: example.org}"),
            redirect("/host-and-status", "{hostname: example.org, statusCode: 301}"),
            redirect("/full-path-and-host", "{hostname: example.org, path: {type: ReplaceFullPath, replaceFullPath: /replacement-full}}"),
            redirect("/full-path", "{path: {type: ReplaceFullPath, replaceFullPath: /replacement-full}}"),
            redirect("/prefix-and-status", "{statusCode: 301, path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}"),
            redirect("/prefix", "{path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}"),
            redirect("/strip", "{path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}"),
            redirect("/port", "{port: 8083}"),
            redirect("/port-and-host", "{hostname: example.org, port: 8083}"),
            redirect("/scheme", "{scheme: https}"),
            redirect("/scheme-and-host", "{scheme: https, hostname: example.org}"),
            redirect("/scheme-nil-and-port-nil", "{hostname: example.org}"),
            redirect("/scheme-nil-and-port-80", "{hostname: example.org, port: 80}"),
            redirect("/scheme-nil-and-port-8080", "{hostname: example.org, port: 8080}"),
            redirect("/scheme-https-and-port-nil", "{scheme: https, hostname: example.org}"),
            redirect("/scheme-https-and-port-443", "{scheme: https, port: 443, hostname: example.org}"),
            redirect("/scheme-https-and-port-8443", "{scheme: https, port: 8443, hostname: example.org}"),
            redirect("/status-308", "{statusCode: 308}"),
            redirect("/status-307", "{statusCode: 307}"),
            redirect("/status-303", "{statusCode: 303, scheme: https}"),
        ]
        .concat()
    };
    let routes = format!(
        "{}---\n{}",
        route("redirects", &rules("")),
        route("redirects-8080", &rules(""))
            .replace("sectionName: http\n", "sectionName: http-8080\n")
    );
    config.write("routes.yaml", &routes);
    let gateway = start(&config, &[80, 8080]).await;
    let address = gateway.listener(80).await;
    let host = "example.com";
    // HTTPRouteRedirectHostAndStatus.
    expect_redirects(
        address,
        host,
        &[
            (
                "/hostname-redirect",
                302,
                "http://example.org/hostname-redirect",
            ),
            (
                "/host-and-status",
                301,
                "http://example.org/host-and-status",
            ),
        ],
    )
    .await;
    // HTTPRouteRedirectPath.
    expect_redirects(
        address,
        host,
        &[
            (
                "/full-path-and-host",
                302,
                "http://example.org/replacement-full",
            ),
            (
                "/full-path/with/more",
                302,
                "http://example.com/replacement-full",
            ),
            (
                "/prefix-and-status/one",
                301,
                "http://example.com/replacement-prefix/one",
            ),
            (
                "/prefix/one",
                302,
                "http://example.com/replacement-prefix/one",
            ),
            ("/prefix", 302, "http://example.com/replacement-prefix"),
            ("/prefix/", 302, "http://example.com/replacement-prefix/"),
            (
                "/prefix/one?q=1",
                302,
                "http://example.com/replacement-prefix/one?q=1",
            ),
            ("/strip/one", 302, "http://example.com/one"),
            ("/strip", 302, "http://example.com/"),
        ],
    )
    .await;
    // HTTPRouteRedirectPort, ...Scheme, ...PortAndScheme on the port-80 listener.
    expect_redirects(
        address,
        host,
        &[
            ("/port", 302, "http://example.com:8083/port"),
            (
                "/port-and-host",
                302,
                "http://example.org:8083/port-and-host",
            ),
            ("/scheme", 302, "https://example.com/scheme"),
            (
                "/scheme-and-host",
                302,
                "https://example.org/scheme-and-host",
            ),
            (
                "/scheme-nil-and-port-nil",
                302,
                "http://example.org/scheme-nil-and-port-nil",
            ),
            (
                "/scheme-nil-and-port-80",
                302,
                "http://example.org/scheme-nil-and-port-80",
            ),
            (
                "/scheme-nil-and-port-8080",
                302,
                "http://example.org:8080/scheme-nil-and-port-8080",
            ),
            (
                "/scheme-https-and-port-nil",
                302,
                "https://example.org/scheme-https-and-port-nil",
            ),
            (
                "/scheme-https-and-port-443",
                302,
                "https://example.org/scheme-https-and-port-443",
            ),
            (
                "/scheme-https-and-port-8443",
                302,
                "https://example.org:8443/scheme-https-and-port-8443",
            ),
            ("/status-308", 308, "http://example.com/status-308"),
            ("/status-307", 307, "http://example.com/status-307"),
            ("/status-303", 303, "https://example.com/status-303"),
        ],
    )
    .await;
    // The same on the 8080 listener: no port → the listener's port.
    let address = gateway.listener(8080).await;
    expect_redirects(
        address,
        "example.com:8080",
        &[
            (
                "/scheme-nil-and-port-nil",
                302,
                "http://example.org:8080/scheme-nil-and-port-nil",
            ),
            (
                "/scheme-nil-and-port-80",
                302,
                "http://example.org/scheme-nil-and-port-80",
            ),
            (
                "/scheme-https-and-port-nil",
                302,
                "https://example.org/scheme-https-and-port-nil",
            ),
            (
                "/hostname-redirect",
                302,
                "http://example.org:8080/hostname-redirect",
            ),
            (
                "/full-path/x",
                302,
                "http://example.com:8080/replacement-full",
            ),
        ],
    )
    .await;
    let status = gateway.status().await;
    assert_route_ok(&status, "redirects");
    assert_eq!(
        http_route_conditions(
            &status,
            "infra",
            "redirects-8080",
            "infra/same-namespace/http-8080"
        ),
        accepted_and_resolved()
    );
}

#[tokio::test]
async fn rewrite_path_and_host() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    let recorder = Recorder::start(|_| 200).await;
    recorder_service(&config, "recorder", &recorder);
    let to = "    backendRefs: [{name: recorder, port: 8080}]\n";
    let rewrite = |path: &str, filter: &str| {
        format!(
            "  - matches: [{{path: {{type: PathPrefix, value: {path}}}}}]\n    filters: [{{type: URLRewrite, urlRewrite: {filter}}}]\n{to}"
        )
    };
    let rules = [
        rewrite("/prefix/one", "{path: {type: ReplacePrefixMatch, replacePrefixMatch: /one}}"),
        rewrite("/full/one", "{path: {type: ReplaceFullPath, replaceFullPath: /one}}"),
        rewrite("/full/rest", "{path: {type: ReplaceFullPath, replaceFullPath: /rest}}"),
        rewrite("/strip-prefix", "{path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}"),
        rewrite("/strip-empty", "{path: {type: ReplacePrefixMatch, replacePrefixMatch: \"\"}}"),
        rewrite("/slash/", "{path: {type: ReplacePrefixMatch, replacePrefixMatch: /xyz/}}"),
        rewrite("/rewrite-host", "{hostname: one.example.org}"),
        rewrite("/rewrite-both", "{hostname: two.example.org, path: {type: ReplacePrefixMatch, replacePrefixMatch: /xyz}}"),
    ]
    .concat();
    config.write("route.yaml", &route("rewrite", &rules));
    let gateway = start(&config, &[80, 8080]).await;
    let address = gateway.listener(80).await;
    let cases = [
        ("/prefix/one/two", "/one/two", "example.com"),
        ("/prefix/one", "/one", "example.com"),
        ("/prefix/one/", "/one/", "example.com"),
        ("/full/one/two", "/one", "example.com"),
        ("/full/rest?param=1", "/rest", "example.com"),
        ("/strip-prefix/three", "/three", "example.com"),
        ("/strip-prefix", "/", "example.com"),
        ("/strip-empty/three", "/three", "example.com"),
        ("/strip-empty", "/", "example.com"),
        ("/slash/bar", "/xyz/bar", "example.com"),
        (
            "/rewrite-host/path",
            "/rewrite-host/path",
            "one.example.org",
        ),
        ("/rewrite-both/path", "/xyz/path", "two.example.org"),
    ];
    for (index, (path, upstream_path, upstream_host)) in cases.iter().enumerate() {
        let answer = get(address, "example.com", path).await;
        assert_eq!(answer.status, 200, "{path}");
        let seen = recorder.seen();
        let last = &seen[index];
        assert_eq!(
            (last.path.as_str(), last.host.as_str()),
            (*upstream_path, *upstream_host),
            "{path}"
        );
    }
    assert_route_ok(&gateway.status().await, "rewrite");
}

#[tokio::test]
async fn request_mirrors_single_multiple_and_percentage() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    let app = Recorder::start(|_| 200).await;
    let mirror_a = Recorder::start(|_| 500).await;
    let mirror_b = Recorder::start(|_| 200).await;
    let sampled = Recorder::start(|_| 200).await;
    let fraction = Recorder::start(|_| 200).await;
    for (name, recorder) in [
        ("app", &app),
        ("mirror-a", &mirror_a),
        ("mirror-b", &mirror_b),
        ("sampled", &sampled),
        ("fraction", &fraction),
    ] {
        recorder_service(&config, name, recorder);
    }
    let mirror = |name: &str, extra: &str| {
        format!("    - {{type: RequestMirror, requestMirror: {{backendRef: {{name: {name}, port: 8080}}{extra}}}}}\n")
    };
    let rules = format!(
        "  - matches: [{{path: {{type: PathPrefix, value: /mirror}}}}]\n    filters:\n{}    backendRefs: [{{name: app, port: 8080}}]\n  - matches: [{{path: {{type: PathPrefix, value: /multi-mirror}}}}]\n    filters:\n{}{}    backendRefs: [{{name: app, port: 8080}}]\n  - matches: [{{path: {{type: PathPrefix, value: /percent-mirror}}}}]\n    filters:\n{}    backendRefs: [{{name: app, port: 8080}}]\n  - matches: [{{path: {{type: PathPrefix, value: /fraction-mirror}}}}]\n    filters:\n{}    backendRefs: [{{name: app, port: 8080}}]\n",
        mirror("mirror-a", ""),
        mirror("mirror-a", ""),
        mirror("mirror-b", ""),
        mirror("sampled", ", percent: 20"),
        mirror("fraction", ", fraction: {numerator: 1, denominator: 2}"),
    );
    config.write("route.yaml", &route("mirrors", &rules));
    let gateway = start(&config, &[80, 8080]).await;
    let address = gateway.listener(80).await;
    // HTTPRouteRequestMirror: the copy goes out, its 500 does not matter.
    for index in 0..3 {
        let answer = send(
            address,
            "POST",
            "example.com",
            &format!("/mirror/{index}"),
            &[],
        )
        .await;
        assert_eq!(answer.status, 200);
    }
    // HTTPRouteRequestMultipleMirrors.
    for index in 0..3 {
        let answer = get(address, "example.com", &format!("/multi-mirror/{index}")).await;
        assert_eq!(answer.status, 200);
    }
    // HTTPRouteRequestPercentageMirror: percent 20 and fraction 1/2.
    let total = 400;
    for _ in 0..total {
        assert_eq!(
            get(address, "example.com", "/percent-mirror").await.status,
            200
        );
        assert_eq!(
            get(address, "example.com", "/fraction-mirror").await.status,
            200
        );
    }
    // Mirrors are sent in the background: wait for the copies (a fixed
    // pause was too short on a loaded machine).
    for _ in 0..250 {
        if mirror_a.seen().len() >= 6 && mirror_b.seen().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let a = mirror_a.seen();
    assert_eq!(a.len(), 6, "{a:?}");
    assert_eq!(
        (a[0].method.as_str(), a[0].path.as_str()),
        ("POST", "/mirror/0")
    );
    assert!(
        a.iter().all(|seen| seen.host == "example.com-shadow"),
        "{a:?}"
    );
    let b = mirror_b.seen();
    assert_eq!(b.len(), 3, "{b:?}");
    assert!(b.iter().all(|seen| seen.path.starts_with("/multi-mirror/")));
    assert_eq!(app.seen().len(), 6 + 2 * total);
    let within = |count: usize, share: f64| {
        let expected = total as f64 * share;
        (count as f64 - expected).abs() <= total as f64 * 0.1
    };
    let sampled = sampled.seen().len();
    assert!(
        within(sampled, 0.2),
        "percent 20 mirrored {sampled} of {total}"
    );
    let halves = fraction.seen().len();
    assert!(
        within(halves, 0.5),
        "fraction 1/2 mirrored {halves} of {total}"
    );
    assert_route_ok(&gateway.status().await, "mirrors");
}

#[tokio::test]
async fn cors_filter() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    backend(&config, "infra", "infra-backend-v1").await;
    config.write(
        "route.yaml",
        &route(
            "cors",
            r#"
  - matches: [{path: {type: PathPrefix, value: /}}]
    filters:
    - type: CORS
      cors:
        allowOrigins: ["https://www.foo.com", "https://*.bar.com"]
        allowMethods: [GET, OPTIONS]
        allowHeaders: [x-header-1, x-header-2]
        exposeHeaders: [x-header-3, x-header-4]
        allowCredentials: true
        maxAge: 3600
    backendRefs: [{name: infra-backend-v1, port: 8080}]
"#,
        ),
    );
    let gateway = start(&config, &[80, 8080]).await;
    let address = gateway.listener(80).await;
    let preflight = |origin: &'static str| async move {
        let headers = [
            ("origin", origin),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-header-1"),
        ];
        send(address, "OPTIONS", "example.com", "/", &headers).await
    };
    for origin in ["https://www.foo.com", "https://a.b.bar.com"] {
        let answer = preflight(origin).await;
        assert!(
            matches!(answer.status, 200 | 204),
            "{origin}: {}",
            answer.status
        );
        assert_eq!(answer.header("access-control-allow-origin"), Some(origin));
        assert_eq!(
            answer.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(answer.header("access-control-max-age"), Some("3600"));
        let methods = answer
            .header("access-control-allow-methods")
            .unwrap_or_default()
            .to_ascii_uppercase();
        assert!(methods.contains("GET"), "{methods}");
        assert!(
            answer.backend().is_none(),
            "the preflight is answered locally"
        );
    }
    for origin in ["https://foo.com", "http://www.foo.com", "https://bar.com"] {
        let answer = preflight(origin).await;
        assert_eq!(
            answer.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
    }
    let answer = get_with(
        address,
        "example.com",
        "/get",
        &[("origin", "https://www.foo.com")],
    )
    .await;
    assert_eq!(answer.backend(), Some("infra-backend-v1.infra"));
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://www.foo.com")
    );
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_owned();
    assert!(
        exposed.contains("x-header-3") && exposed.contains("x-header-4"),
        "{exposed}"
    );
    assert_route_ok(&gateway.status().await, "cors");
}

#[tokio::test]
async fn request_and_backend_request_timeouts_answer_504() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    backend(&config, "infra", "infra-backend-v1").await;
    config.write(
        "route.yaml",
        &route(
            "timeouts",
            r#"
  - matches: [{path: {type: PathPrefix, value: /request-timeout}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /delay}}
    timeouts: {request: 500ms}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /backend-timeout}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /delay}}
    timeouts: {request: 5s, backendRequest: 300ms}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /delay}}]
    timeouts: {request: 0s}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
"#,
        ),
    );
    let gateway = start(&config, &[80, 8080]).await;
    let address = gateway.listener(80).await;
    // HTTPRouteTimeoutRequest.
    let started = Instant::now();
    let answer = get(address, "example.com", "/request-timeout/2").await;
    assert_eq!(answer.status, 504);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let answer = get(address, "example.com", "/request-timeout/0").await;
    assert_eq!(answer.status, 200, "within the timeout");
    // HTTPRouteTimeoutBackendRequest.
    let started = Instant::now();
    let answer = get(address, "example.com", "/backend-timeout/2").await;
    assert_eq!(answer.status, 504);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // `0s` disables the timeout.
    let answer = get(address, "example.com", "/delay/1").await;
    assert_eq!(answer.status, 200);
    assert_route_ok(&gateway.status().await, "timeouts");
}

#[tokio::test]
async fn retry_on_configured_codes() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    // The first two tries of each request fail; the third succeeds.
    let flaky = Recorder::start(|index| if index % 3 == 2 { 200 } else { 500 }).await;
    let never = Recorder::start(|_| 503).await;
    recorder_service(&config, "flaky", &flaky);
    recorder_service(&config, "never", &never);
    config.write(
        "route.yaml",
        &route(
            "retry",
            r#"
  - matches: [{path: {type: PathPrefix, value: /flaky}}]
    retry: {codes: [500], attempts: 2, backoff: 10ms}
    backendRefs: [{name: flaky, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /never}}]
    retry: {codes: [500], attempts: 2, backoff: 10ms}
    backendRefs: [{name: never, port: 8080}]
"#,
        ),
    );
    let gateway = start(&config, &[80, 8080]).await;
    let address = gateway.listener(80).await;
    let answer = get(address, "example.com", "/flaky").await;
    assert_eq!(answer.status, 200);
    assert_eq!(flaky.seen().len(), 3, "two retries");
    let answer = get(address, "example.com", "/never").await;
    assert_eq!(answer.status, 503, "503 is not among the codes");
    assert_eq!(never.seen().len(), 1);
    assert_route_ok(&gateway.status().await, "retry");
}

/// A backend whose first `failures` connections are closed as soon as a
/// request arrives (no response), then answers 200.
async fn dropping_backend(
    failures: usize,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let requests = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = std::sync::Arc::clone(&counter);
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 4096];
                loop {
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    if counter.fetch_add(1, Ordering::SeqCst) < failures {
                        // Drop the connection with the request unanswered.
                        return;
                    }
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, requests)
}

#[tokio::test]
async fn retry_on_connection_errors() {
    use std::sync::atomic::Ordering;
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    let (address, requests) = dropping_backend(2).await;
    config.write(
        "svc-dropping.yaml",
        &service("dropping", "infra", 8080, &[address]),
    );
    config.write(
        "route.yaml",
        &route(
            "retry-connection",
            r#"
  - matches: [{path: {type: PathPrefix, value: /}}]
    retry: {codes: [500], attempts: 2, backoff: 10ms}
    backendRefs: [{name: dropping, port: 8080}]
"#,
        ),
    );
    let gateway = start(&config, &[80, 8080]).await;
    let answer = get(gateway.listener(80).await, "example.com", "/close").await;
    assert_eq!(answer.status, 200, "two resets, then an answer");
    assert_eq!(requests.load(Ordering::SeqCst), 3);
    assert_route_ok(&gateway.status().await, "retry-connection");
}
