//! Gateway API end to end: the requests and expectations of the
//! conformance suite's routing tests (HTTPRouteSimpleSameNamespace,
//! ...CrossNamespace, ...ExactPathMatching, ...Matching, ...HeaderMatching,
//! ...QueryParamMatching, ...MethodMatching, ...MatchingAcrossRoutes,
//! ...HostnameIntersection, ...ListenerHostnameMatching,
//! ...ListenerPortMatching, ...MultipleGateways, ...DisallowedKind,
//! GatewayWithAttachedRoutes, GatewayHTTPListenerIsolation), with our own
//! manifests, the real gateway binary and named httpbin backends, plus the
//! status the suite checks for each.

mod gateway_api_support;
mod support;

use gateway_api_support::{
    accepted_and_resolved, assert_gateway_ready, attached_routes, backend, get, get_with,
    http_route_conditions, pair, route_condition, send, start, Answer,
};
use support::ConfigDir;

const V1: &str = "infra-backend-v1.infra";
const V2: &str = "infra-backend-v2.infra";
const V3: &str = "infra-backend-v3.infra";

/// The suite's base: namespaces `infra` and `web-backend` (labelled for the
/// Selector gateway), the Gateway `infra/same-namespace` on port 80 (routes
/// from `infra` only), three infra backends and a web backend.
async fn infrastructure(config: &ConfigDir) {
    config.write(
        "namespaces.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: infra\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: web-backend\n  labels:\n    gateway-conformance: web-backend\n",
    );
    config.write(
        "gateway.yaml",
        r#"
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
    allowedRoutes:
      namespaces:
        from: Same
"#,
    );
    for name in ["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"] {
        backend(config, "infra", name).await;
    }
    backend(config, "web-backend", "web-backend").await;
}

/// `(host or method, path, request headers, backend expected)`.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Option<&'a str>);

fn served_by(answer: &Answer) -> Option<&str> {
    assert!(
        answer.status != 404 || answer.backend().is_some() || answer.body.is_empty(),
        "a gateway 404 has an empty body"
    );
    answer.backend()
}

/// Sends each `(host, path, headers)` and asserts which backend answered
/// (`None`: the gateway answered 404 itself).
async fn expect_backends(address: std::net::SocketAddr, cases: &[Case<'_>]) {
    for (host, path, headers, expected) in cases {
        let answer = get_with(address, host, path, headers).await;
        assert_eq!(
            served_by(&answer),
            *expected,
            "{host}{path} {headers:?}: status {}",
            answer.status
        );
        if expected.is_none() {
            assert_eq!(answer.status, 404, "{host}{path} {headers:?}");
        }
    }
}

#[tokio::test]
async fn simple_same_namespace() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    config.write(
        "route.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: gateway-conformance-infra-test
  namespace: infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs:
    - name: infra-backend-v1
      port: 8080
"#,
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    let answer = get(address, "example.com", "/anything/simple").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.backend(), Some(V1));
    assert_eq!(answer.echoed_url(), "http://example.com/anything/simple");
    let status = gateway.status().await;
    assert_gateway_ready(&status, "infra", "same-namespace");
    assert_eq!(
        http_route_conditions(
            &status,
            "infra",
            "gateway-conformance-infra-test",
            "infra/same-namespace"
        ),
        accepted_and_resolved()
    );
    assert_eq!(
        attached_routes(&status, "infra", "same-namespace", "http"),
        1
    );
}

#[tokio::test]
async fn cross_namespace_attachment_follows_allowed_routes() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    config.write(
        "selector-gateway.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: backend-namespaces
  namespace: infra
spec:
  gatewayClassName: vestibule
  listeners:
  - name: http
    port: 8080
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            gateway-conformance: web-backend
"#,
    );
    config.write(
        "routes.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: cross-namespace
  namespace: web-backend
spec:
  parentRefs:
  - name: backend-namespaces
    namespace: infra
  rules:
  - backendRefs:
    - name: web-backend
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: invalid-cross-namespace-parent-ref
  namespace: web-backend
spec:
  parentRefs:
  - name: same-namespace
    namespace: infra
  rules:
  - backendRefs:
    - name: web-backend
      port: 8080
"#,
    );
    let gateway = start(&config, &[80, 8080]).await;
    // HTTPRouteCrossNamespace: the Selector listener admits web-backend.
    let answer = get(gateway.listener(8080).await, "example.com", "/").await;
    assert_eq!(answer.backend(), Some("web-backend.web-backend"));
    // HTTPRouteInvalidCrossNamespaceParentRef: `Same` refuses it; no traffic.
    let answer = get(gateway.listener(80).await, "example.com", "/").await;
    assert_eq!((answer.status, answer.backend()), (404, None));
    let status = gateway.status().await;
    assert_eq!(
        http_route_conditions(
            &status,
            "web-backend",
            "cross-namespace",
            "infra/backend-namespaces"
        ),
        accepted_and_resolved()
    );
    assert_eq!(
        route_condition(
            &status,
            (
                "HTTPRoute",
                "web-backend",
                "invalid-cross-namespace-parent-ref"
            ),
            "infra/same-namespace",
            "Accepted"
        ),
        pair("False", "NotAllowedByListeners")
    );
    assert_eq!(
        attached_routes(&status, "infra", "same-namespace", "http"),
        0
    );
    assert_eq!(
        attached_routes(&status, "infra", "backend-namespaces", "http"),
        1
    );
}

#[tokio::test]
async fn exact_path_and_prefix_and_header_matching() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    config.write(
        "routes.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: exact-matching
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [exact.example.com]
  rules:
  - matches: [{path: {type: Exact, value: /one}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: Exact, value: /two}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: matching
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [matching.example.com]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /}
      headers: [{name: version, value: one}]
    - path: {type: PathPrefix, value: /}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /v2}
    - headers: [{name: version, value: two}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: header-matching
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [headers.example.com]
  rules:
  - matches: [{headers: [{name: version, value: one}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: version, value: two}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{headers: [{name: version, value: two}, {name: color, value: orange}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: color, value: blue}]}, {headers: [{name: color, value: green}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: color, value: red}]}, {headers: [{name: color, value: yellow}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{headers: [{type: RegularExpression, name: x-build, value: "v[0-9]+"}]}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
"#,
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    let none: &[(&str, &str)] = &[];
    // HTTPRouteExactPathMatching.
    let exact = "exact.example.com";
    expect_backends(
        address,
        &[
            (exact, "/one", none, Some(V1)),
            (exact, "/two", none, Some(V2)),
            (exact, "/", none, None),
            (exact, "/one/example", none, None),
            (exact, "/two/", none, None),
            (exact, "/onetwo", none, None),
        ],
    )
    .await;
    // HTTPRouteMatching: PathPrefix is segment-wise.
    let matching = "matching.example.com";
    expect_backends(
        address,
        &[
            (matching, "/", none, Some(V1)),
            (matching, "/example", none, Some(V1)),
            (matching, "/", &[("version", "one")], Some(V1)),
            (matching, "/v2", &[("version", "one")], Some(V2)),
            (matching, "/v2", none, Some(V2)),
            (matching, "/v2/example", none, Some(V2)),
            (matching, "/v2/", none, Some(V2)),
            (matching, "/v2example", none, Some(V1)),
            (matching, "/foo/v2/example", none, Some(V1)),
            (matching, "/", &[("version", "two")], Some(V2)),
        ],
    )
    .await;
    // HTTPRouteHeaderMatching: names case-insensitive, values exact; the
    // match with more headers wins; RegularExpression values.
    let headers = "headers.example.com";
    expect_backends(
        address,
        &[
            (headers, "/", &[("Version", "one")], Some(V1)),
            (headers, "/", &[("version", "two")], Some(V2)),
            (
                headers,
                "/",
                &[("version", "two"), ("color", "orange")],
                Some(V1),
            ),
            (headers, "/", &[("color", "blue")], Some(V1)),
            (headers, "/", &[("color", "green")], Some(V1)),
            (headers, "/", &[("color", "red")], Some(V2)),
            (headers, "/", &[("color", "yellow")], Some(V2)),
            (headers, "/", &[("x-build", "v42")], Some(V3)),
            (headers, "/", &[("x-build", "v42-beta")], None),
            (headers, "/", &[("version", "ONE")], None),
            (headers, "/", &[("color", "purple")], None),
            (headers, "/", none, None),
        ],
    )
    .await;
    let status = gateway.status().await;
    for name in ["exact-matching", "matching", "header-matching"] {
        assert_eq!(
            http_route_conditions(&status, "infra", name, "infra/same-namespace"),
            accepted_and_resolved(),
            "{name}"
        );
    }
    assert_eq!(
        attached_routes(&status, "infra", "same-namespace", "http"),
        3
    );
}

#[tokio::test]
async fn query_param_matching() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    config.write(
        "route.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: query-param-matching
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{queryParams: [{name: animal, value: whale}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{queryParams: [{name: animal, value: dolphin}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches:
    - queryParams: [{name: animal, value: dolphin}, {name: color, value: blue}]
    - queryParams: [{name: ANIMAL, value: Whale}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path1}
      queryParams: [{name: animal, value: whale}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - headers: [{name: version, value: one}]
      queryParams: [{name: animal, value: whale}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path2}
      headers: [{name: version, value: two}]
      queryParams: [{name: animal, value: whale}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path3}
      queryParams: [{name: animal, value: shark}]
    - path: {type: PathPrefix, value: /path4}
      headers: [{name: version, value: three}]
      queryParams: [{name: animal, value: kraken}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path5}
      queryParams: [{name: animal, value: hydra}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - headers: [{name: version, value: four}]
      queryParams: [{name: animal, value: hydra}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
"#,
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    let host = "example.com";
    let none: &[(&str, &str)] = &[];
    expect_backends(
        address,
        &[
            (host, "/?animal=whale", none, Some(V1)),
            (host, "/?animal=dolphin", none, Some(V2)),
            (host, "/?animal=dolphin&color=blue", none, Some(V3)),
            (host, "/?ANIMAL=Whale", none, Some(V3)),
            (host, "/?animal=whale&otherparam=irrelevant", none, Some(V1)),
            (host, "/?animal=dolphin&color=yellow", none, Some(V2)),
            (host, "/?color=blue", none, None),
            (host, "/?animal=dog", none, None),
            (host, "/?animal=whaledolphin", none, None),
            (host, "/", none, None),
            (host, "/path1?animal=whale", none, Some(V1)),
            (host, "/?animal=whale", &[("version", "one")], Some(V2)),
            (host, "/path2?animal=whale", &[("version", "two")], Some(V3)),
            (host, "/path3?animal=shark", none, Some(V1)),
            (
                host,
                "/path4?animal=kraken",
                &[("version", "three")],
                Some(V1),
            ),
            (host, "/?animal=shark", none, None),
            (host, "/path4?animal=kraken", none, None),
            (host, "/path5?animal=hydra", none, Some(V1)),
            (host, "/?animal=hydra", &[("version", "four")], Some(V3)),
        ],
    )
    .await;
    let status = gateway.status().await;
    assert_eq!(
        http_route_conditions(
            &status,
            "infra",
            "query-param-matching",
            "infra/same-namespace"
        ),
        accepted_and_resolved()
    );
}

#[tokio::test]
async fn method_matching() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    config.write(
        "route.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: method-matching
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{method: POST}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: GET}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path1}
      method: GET
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - headers: [{name: version, value: one}]
      method: PUT
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path2}
      headers: [{name: version, value: two}]
      method: POST
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path3}
      method: PATCH
    - path: {type: PathPrefix, value: /path4}
      headers: [{name: version, value: three}]
      method: DELETE
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path5}
      method: PATCH
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path5}
      headers: [{name: version, value: four}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
"#,
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    let cases: &[Case<'_>] = &[
        ("POST", "/", &[], Some(V1)),
        ("GET", "/", &[], Some(V2)),
        ("HEAD", "/", &[], None),
        ("GET", "/path1", &[], Some(V1)),
        ("PUT", "/", &[("version", "one")], Some(V2)),
        ("POST", "/path2", &[("version", "two")], Some(V3)),
        ("PATCH", "/path3", &[], Some(V1)),
        ("DELETE", "/path4", &[("version", "three")], Some(V1)),
        ("PUT", "/path1", &[], None),
        ("PUT", "/", &[("version", "two")], None),
        ("DELETE", "/path4", &[], None),
        // A method match outranks a header match of the same path.
        ("PATCH", "/path5", &[("version", "four")], Some(V1)),
    ];
    for (method, path, headers, expected) in cases {
        let answer = send(address, method, "example.com", path, headers).await;
        assert_eq!(
            answer.backend(),
            *expected,
            "{method} {path} {headers:?}: {}",
            answer.status
        );
        if expected.is_none() {
            assert_eq!(answer.status, 404, "{method} {path}");
        }
    }
    let status = gateway.status().await;
    assert_eq!(
        http_route_conditions(&status, "infra", "method-matching", "infra/same-namespace"),
        accepted_and_resolved()
    );
}

#[tokio::test]
async fn matching_across_routes_and_path_match_order() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    config.write(
        "routes.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: HTTPRoute
metadata:
  name: matching-part1
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [example.com, example.net]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /}
    - headers: [{name: version, value: one}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: HTTPRoute
metadata:
  name: matching-part2
  namespace: infra
spec:
  hostnames: ["*.com"]
  parentRefs: [{name: same-namespace}]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /v2}
    - headers: [{name: version, value: two}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: path-match-order
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [order.example.org]
  rules:
  - matches: [{path: {type: PathPrefix, value: /match}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /match}, headers: [{name: header, value: value}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /match/prefix/one}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: Exact, value: /match/exact/one}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /match/exact}, method: POST}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /match/exact}, queryParams: [{name: q, value: "1"}]}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: path-matching-order
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [pmo.example.org]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /match/prefix}
    - path: {type: Exact, value: /match}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /match/prefix/one}
    - path: {type: Exact, value: /match/exact}
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /match}
    - path: {type: Exact, value: /match/exact/one}
    backendRefs: [{name: infra-backend-v3, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: older
  namespace: infra
  creationTimestamp: "2024-01-01T00:00:00Z"
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [age.example.org]
  rules:
  - matches: [{path: {type: PathPrefix, value: /same}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: a-newer
  namespace: infra
  creationTimestamp: "2024-06-01T00:00:00Z"
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [age.example.org]
  rules:
  - matches: [{path: {type: PathPrefix, value: /same}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
"#,
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    let none: &[(&str, &str)] = &[];
    // HTTPRouteMatchingAcrossRoutes, its eight requests.
    expect_backends(
        address,
        &[
            ("example.com", "/", none, Some(V1)),
            ("example.com", "/example", none, Some(V1)),
            ("example.net", "/example", none, Some(V1)),
            ("example.com", "/example", &[("Version", "one")], Some(V1)),
            ("example.com", "/v2", none, Some(V2)),
            ("example.net", "/v2", none, Some(V1)),
            ("example.com", "/v2/example", none, Some(V2)),
            ("example.com", "/", &[("Version", "two")], Some(V2)),
            ("other.com", "/v2", none, Some(V2)),
            ("other.com", "/", none, None),
        ],
    )
    .await;
    // HTTPRoutePathMatchOrder: the six requests of the suite.
    let pmo = "pmo.example.org";
    expect_backends(
        address,
        &[
            (pmo, "/match/exact/one", none, Some(V3)),
            (pmo, "/match/exact", none, Some(V2)),
            (pmo, "/match", none, Some(V1)),
            (pmo, "/match/prefix/one/any", none, Some(V2)),
            (pmo, "/match/prefix/any", none, Some(V1)),
            (pmo, "/match/any", none, Some(V3)),
        ],
    )
    .await;
    // More of the precedence order inside one route.
    let order = "order.example.org";
    expect_backends(
        address,
        &[
            (order, "/match/exact/one", none, Some(V1)),
            (order, "/match/prefix/one/x", none, Some(V3)),
            (order, "/match/exact?q=1", none, Some(V3)),
            (order, "/match", &[("header", "value")], Some(V2)),
            (order, "/match/other", none, Some(V1)),
        ],
    )
    .await;
    let answer = send(address, "POST", order, "/match/exact/two?q=1", &[]).await;
    assert_eq!(answer.backend(), Some(V2), "method beats query params");
    // Ties go to the oldest route, whatever the names.
    expect_backends(address, &[("age.example.org", "/same", none, Some(V1))]).await;
    let status = gateway.status().await;
    for name in [
        "matching-part1",
        "matching-part2",
        "path-match-order",
        "path-matching-order",
    ] {
        assert_eq!(
            http_route_conditions(&status, "infra", name, "infra/same-namespace"),
            accepted_and_resolved(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn hostname_intersection() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    config.write(
        "routes.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httproute-hostname-intersection
  namespace: infra
spec:
  gatewayClassName: vestibule
  listeners:
  - {name: listener-1, port: 80, protocol: HTTP, hostname: very.specific.com}
  - {name: listener-2, port: 80, protocol: HTTP, hostname: "*.wildcard.io"}
  - {name: listener-3, port: 80, protocol: HTTP, hostname: "*.anotherwildcard.io"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: specific-host-matches-listener-specific-host, namespace: infra}
spec:
  parentRefs: [{name: httproute-hostname-intersection}]
  hostnames: [non.matching.com, "*.nonmatchingwildcard.io", very.specific.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /s1}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: specific-host-matches-listener-wildcard-host, namespace: infra}
spec:
  parentRefs: [{name: httproute-hostname-intersection}]
  hostnames: [non.matching.com, wildcard.io, foo.wildcard.io, bar.wildcard.io, "*.anotherwildcard.io"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /s2}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wildcard-host-matches-listener-specific-host, namespace: infra}
spec:
  parentRefs: [{name: httproute-hostname-intersection}]
  hostnames: [non.matching.com, "*.specific.com"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /s3}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wildcard-host-matches-listener-wildcard-host, namespace: infra}
spec:
  parentRefs: [{name: httproute-hostname-intersection}]
  hostnames: ["*.bar.wildcard.io"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /s4}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: no-intersecting-hosts, namespace: infra}
spec:
  parentRefs: [{name: httproute-hostname-intersection}]
  hostnames: [specific.but.wrong.com, wildcard.io]
  rules:
  - matches: [{path: {type: PathPrefix, value: /s5}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
"#,
    );
    // The Gateway `same-namespace` also listens on 80 but has no routes.
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    let none: &[(&str, &str)] = &[];
    expect_backends(
        address,
        &[
            ("very.specific.com", "/s1", none, Some(V1)),
            ("non.matching.com", "/s1", none, None),
            ("foo.nonmatchingwildcard.io", "/s1", none, None),
            ("foo.wildcard.io", "/s2", none, Some(V2)),
            ("bar.wildcard.io", "/s2", none, Some(V2)),
            ("foo.bar.wildcard.io", "/s2", none, None),
            ("wildcard.io", "/s2", none, None),
            ("foo.anotherwildcard.io", "/s2", none, Some(V2)),
            ("very.specific.com", "/s3", none, Some(V3)),
            ("non.matching.com", "/s3", none, None),
            ("foo.bar.wildcard.io", "/s4", none, Some(V1)),
            ("bar.wildcard.io", "/s4", none, None),
            ("specific.but.wrong.com", "/s5", none, None),
            ("wildcard.io", "/s5", none, None),
            // The port in Host is ignored.
            ("very.specific.com:80", "/s1", none, Some(V1)),
        ],
    )
    .await;
    let status = gateway.status().await;
    let parent = "infra/httproute-hostname-intersection";
    for name in [
        "specific-host-matches-listener-specific-host",
        "specific-host-matches-listener-wildcard-host",
        "wildcard-host-matches-listener-specific-host",
        "wildcard-host-matches-listener-wildcard-host",
    ] {
        assert_eq!(
            http_route_conditions(&status, "infra", name, parent),
            accepted_and_resolved(),
            "{name}"
        );
    }
    assert_eq!(
        route_condition(
            &status,
            ("HTTPRoute", "infra", "no-intersecting-hosts"),
            parent,
            "Accepted"
        ),
        pair("False", "NoMatchingListenerHostname")
    );
}

#[tokio::test]
async fn listener_hostname_matching_and_isolation() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    let mut manifests = String::from(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httproute-listener-hostname-matching
  namespace: infra
spec:
  gatewayClassName: vestibule
  listeners:
  - {name: listener-1, port: 8080, protocol: HTTP, hostname: bar.com}
  - {name: listener-2, port: 8080, protocol: HTTP, hostname: foo.bar.com}
  - {name: listener-3, port: 8080, protocol: HTTP, hostname: "*.bar.com"}
  - {name: listener-4, port: 8080, protocol: HTTP, hostname: "*.foo.com"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: http-listener-isolation
  namespace: infra
spec:
  gatewayClassName: vestibule
  listeners:
  - {name: empty-hostname, port: 8081, protocol: HTTP}
  - {name: wildcard-example-com, port: 8081, protocol: HTTP, hostname: "*.example.com"}
  - {name: wildcard-foo-example-com, port: 8081, protocol: HTTP, hostname: "*.foo.example.com"}
  - {name: abc-foo-example-com, port: 8081, protocol: HTTP, hostname: abc.foo.example.com}
"#,
    );
    for (name, listener, backend) in [
        ("backend-v1", "listener-1", "infra-backend-v1"),
        ("backend-v2", "listener-2", "infra-backend-v2"),
        ("backend-v3", "listener-3", "infra-backend-v3"),
        ("backend-v3-foo", "listener-4", "infra-backend-v3"),
    ] {
        manifests.push_str(&format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: infra\nspec:\n  parentRefs:\n  - name: httproute-listener-hostname-matching\n    sectionName: {listener}\n  rules:\n  - backendRefs:\n    - name: {backend}\n      port: 8080\n"
        ));
    }
    for listener in [
        "empty-hostname",
        "wildcard-example-com",
        "wildcard-foo-example-com",
        "abc-foo-example-com",
    ] {
        manifests.push_str(&format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: attaches-to-{listener}\n  namespace: infra\nspec:\n  parentRefs:\n  - name: http-listener-isolation\n    sectionName: {listener}\n  rules:\n  - matches:\n    - path:\n        type: PathPrefix\n        value: /{listener}\n    backendRefs:\n    - name: infra-backend-v1\n      port: 8080\n"
        ));
    }
    config.write("listeners.yaml", &manifests);
    let gateway = start(&config, &[80, 8080, 8081]).await;
    let none: &[(&str, &str)] = &[];
    // HTTPRouteListenerHostnameMatching.
    expect_backends(
        gateway.listener(8080).await,
        &[
            ("bar.com", "/", none, Some(V1)),
            ("foo.bar.com", "/", none, Some(V2)),
            ("baz.bar.com", "/", none, Some(V3)),
            ("boo.bar.com", "/", none, Some(V3)),
            ("multiple.prefixes.bar.com", "/", none, Some(V3)),
            ("multiple.prefixes.foo.com", "/", none, Some(V3)),
            ("foo.com", "/", none, None),
            ("no.matching.host", "/", none, None),
        ],
    )
    .await;
    // GatewayHTTPListenerIsolation: only the most specific listener serves.
    let isolation = gateway.listener(8081).await;
    let cases = [
        ("bar.com", "empty-hostname"),
        ("bar.example.com", "wildcard-example-com"),
        ("bar.foo.example.com", "wildcard-foo-example-com"),
        ("abc.foo.example.com", "abc-foo-example-com"),
    ];
    for (host, owner) in cases {
        for (_, listener) in cases {
            let answer = get(isolation, host, &format!("/{listener}")).await;
            let expected = (listener == owner).then_some(V1);
            assert_eq!(answer.backend(), expected, "{host}/{listener}");
        }
    }
    let status = gateway.status().await;
    for listener in ["listener-1", "listener-2", "listener-3", "listener-4"] {
        assert_eq!(
            attached_routes(
                &status,
                "infra",
                "httproute-listener-hostname-matching",
                listener
            ),
            1,
            "{listener}"
        );
    }
    assert_eq!(
        http_route_conditions(
            &status,
            "infra",
            "backend-v1",
            "infra/httproute-listener-hostname-matching/listener-1"
        ),
        accepted_and_resolved()
    );
}

#[tokio::test]
async fn listener_port_matching_and_parent_ref_failures() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    config.write(
        "routes.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httproute-listener-port-matching
  namespace: infra
spec:
  gatewayClassName: vestibule
  listeners:
  - {name: http-80, port: 8000, protocol: HTTP, hostname: foo.example.com}
  - {name: http-8080, port: 8090, protocol: HTTP, hostname: foo.example.com}
  - {name: http-8090-bar, port: 8091, protocol: HTTP, hostname: bar.example.com}
  - {name: http-8090-baz, port: 8091, protocol: HTTP, hostname: baz.example.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: listener-8000, namespace: infra}
spec:
  parentRefs: [{name: httproute-listener-port-matching, port: 8000}]
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: listener-8090, namespace: infra}
spec:
  parentRefs: [{name: httproute-listener-port-matching, port: 8090}]
  rules:
  - backendRefs: [{name: infra-backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: listener-8091, namespace: infra}
spec:
  parentRefs: [{name: httproute-listener-port-matching, port: 8091}]
  rules:
  - backendRefs: [{name: infra-backend-v3, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: section-and-port, namespace: infra}
spec:
  parentRefs: [{name: httproute-listener-port-matching, sectionName: http-8090-baz, port: 8091}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /both}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: port-not-matching, namespace: infra}
spec:
  parentRefs: [{name: httproute-listener-port-matching, port: 9999}]
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: section-not-matching-port, namespace: infra}
spec:
  parentRefs: [{name: httproute-listener-port-matching, sectionName: http-80, port: 8091}]
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: section-not-matching, namespace: infra}
spec:
  parentRefs: [{name: httproute-listener-port-matching, sectionName: nope}]
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
"#,
    );
    let gateway = start(&config, &[80, 8000, 8090, 8091]).await;
    let none: &[(&str, &str)] = &[];
    expect_backends(
        gateway.listener(8000).await,
        &[
            ("foo.example.com", "/", none, Some(V1)),
            ("bar.example.com", "/", none, None),
        ],
    )
    .await;
    expect_backends(
        gateway.listener(8090).await,
        &[("foo.example.com", "/", none, Some(V2))],
    )
    .await;
    expect_backends(
        gateway.listener(8091).await,
        &[
            ("bar.example.com", "/", none, Some(V3)),
            ("baz.example.com", "/", none, Some(V3)),
            ("baz.example.com", "/both", none, Some(V1)),
            ("bar.example.com", "/both", none, Some(V3)),
            ("foo.example.com", "/", none, None),
        ],
    )
    .await;
    let status = gateway.status().await;
    let gw = "httproute-listener-port-matching";
    assert_eq!(
        http_route_conditions(
            &status,
            "infra",
            "listener-8000",
            &format!("infra/{gw}:8000")
        ),
        accepted_and_resolved()
    );
    assert_eq!(attached_routes(&status, "infra", gw, "http-8090-bar"), 1);
    assert_eq!(attached_routes(&status, "infra", gw, "http-8090-baz"), 2);
    for (name, parent) in [
        ("port-not-matching", format!("infra/{gw}:9999")),
        (
            "section-not-matching-port",
            format!("infra/{gw}/http-80:8091"),
        ),
        ("section-not-matching", format!("infra/{gw}/nope")),
    ] {
        assert_eq!(
            route_condition(&status, ("HTTPRoute", "infra", name), &parent, "Accepted"),
            pair("False", "NoMatchingParent"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn multiple_gateways_attached_routes_and_disallowed_kind() {
    let config = ConfigDir::new();
    infrastructure(&config).await;
    config.write(
        "more.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: all-namespaces
  namespace: infra
spec:
  gatewayClassName: vestibule
  listeners:
  - name: http
    port: 8080
    protocol: HTTP
    allowedRoutes: {namespaces: {from: All}}
  - name: grpc-only
    port: 8081
    protocol: HTTP
    allowedRoutes: {kinds: [{kind: GRPCRoute}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: multiple-gateways-shared-route, namespace: infra}
spec:
  parentRefs: [{name: same-namespace}, {name: all-namespaces, sectionName: http}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /shared}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: same-namespace-dedicated-route, namespace: infra}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - backendRefs: [{name: infra-backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: all-namespaces-dedicated-route, namespace: web-backend}
spec:
  parentRefs: [{name: all-namespaces, namespace: infra, sectionName: http}]
  rules:
  - backendRefs: [{name: web-backend, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: disallowed-kind, namespace: infra}
spec:
  parentRefs: [{name: all-namespaces, sectionName: grpc-only}]
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
"#,
    );
    let gateway = start(&config, &[80, 8080, 8081]).await;
    let none: &[(&str, &str)] = &[];
    // HTTPRouteMultipleGateways (each Gateway on its own port in file mode).
    expect_backends(
        gateway.listener(80).await,
        &[
            ("example.com", "/shared", none, Some(V1)),
            ("example.com", "/", none, Some(V2)),
        ],
    )
    .await;
    expect_backends(
        gateway.listener(8080).await,
        &[
            ("example.com", "/shared", none, Some(V1)),
            ("example.com", "/", none, Some("web-backend.web-backend")),
        ],
    )
    .await;
    // HTTPRouteDisallowedKind: no traffic, NotAllowedByListeners.
    expect_backends(
        gateway.listener(8081).await,
        &[("example.com", "/", none, None)],
    )
    .await;
    let status = gateway.status().await;
    assert_eq!(
        route_condition(
            &status,
            ("HTTPRoute", "infra", "disallowed-kind"),
            "infra/all-namespaces/grpc-only",
            "Accepted"
        ),
        pair("False", "NotAllowedByListeners")
    );
    // GatewayWithAttachedRoutes.
    assert_eq!(
        attached_routes(&status, "infra", "same-namespace", "http"),
        2
    );
    assert_eq!(
        attached_routes(&status, "infra", "all-namespaces", "http"),
        2
    );
    assert_eq!(
        attached_routes(&status, "infra", "all-namespaces", "grpc-only"),
        0
    );
    for parent in ["infra/same-namespace", "infra/all-namespaces/http"] {
        assert_eq!(
            http_route_conditions(&status, "infra", "multiple-gateways-shared-route", parent),
            accepted_and_resolved(),
            "{parent}"
        );
    }
}

/// Seed 003's walkthrough verbatim: the v1alpha2 manifests from one file,
/// the Gateway programmed, `/get` shows the added header, `/headers` is 404.
#[tokio::test]
async fn seed_003_walkthrough() {
    let config = ConfigDir::new();
    let address = support::httpbin("httpbin").await;
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gateway-api/gateway.yaml"
    ))
    .expect("example");
    config.write("gateway.yaml", &example);
    config.write(
        "httpbin.yaml",
        &support::service("httpbin", "default", 8000, &[address]),
    );
    let gateway = start(&config, &[80]).await;
    let status = gateway.status().await;
    assert_gateway_ready(&status, "istio-ingress", "gateway");
    assert_eq!(
        http_route_conditions(&status, "default", "http", "istio-ingress/gateway"),
        accepted_and_resolved()
    );
    let listener = gateway.listener(80).await;
    let answer = get(listener, "httpbin.example.com", "/get").await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.echoed_header("my-added-header").as_deref(),
        Some("added-value")
    );
    let answer = get(listener, "httpbin.example.com", "/headers").await;
    assert_eq!((answer.status, answer.backend()), (404, None));
}
