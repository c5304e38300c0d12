//! Gateway API end to end: the requests and expectations of the conformance
//! suite's backend tests (HTTPRouteWeight, HTTPRouteReferenceGrant and its
//! revocation, HTTPRouteInvalidReferenceGrant,
//! HTTPRoutePartiallyInvalidViaInvalidReferenceGrant,
//! HTTPRouteInvalidCrossNamespaceBackendRef,
//! HTTPRouteInvalidBackendRefUnknownKind, HTTPRouteInvalidNonExistentBackendRef,
//! HTTPRouteNoBackendRefs, HTTPRouteServiceTypes, HTTPRouteBackendProtocolH2C,
//! HTTPRouteBackendProtocolWebSocket, HTTPRouteRequestHeaderModifierBackendWeights,
//! HTTPRouteBackendRequestHeaderModifier)
//! and GRPCRoute (GRPCExactMethodMatching, GRPCRouteHeaderMatching,
//! GRPCRouteWeight, GRPCRouteListenerHostnameMatching,
//! GRPCRouteRequestHeaderModifier) against an
//! HTTP/2-only (h2c) backend, with their status.

mod gateway_api_support;
mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use gateway_api_support::{
    accepted_and_resolved, backend, get, http_route_conditions, pair, route_condition, start,
};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{curl, service, Client, ConfigDir};

const INFRA: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: infra
---
apiVersion: v1
kind: Namespace
metadata:
  name: web-backend
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
"#;

const PARENT: &str = "infra/same-namespace";

fn route(name: &str, rules: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: infra\nspec:\n  parentRefs:\n  - name: same-namespace\n  rules:\n{rules}"
    )
}

/// Which backends answered `count` keep-alive requests.
async fn distribution(
    address: SocketAddr,
    host: &str,
    path: &str,
    count: usize,
) -> BTreeMap<String, usize> {
    let mut client = Client::connect(address).await;
    let mut seen = BTreeMap::new();
    for _ in 0..count {
        let (status, headers, _) = client.get(host, path).await;
        let who = headers
            .get("x-httpbin-name")
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| format!("status {}", status.as_u16()), ToOwned::to_owned);
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

fn share(seen: &BTreeMap<String, usize>, who: &str) -> usize {
    seen.get(who).copied().unwrap_or(0)
}

/// `count` out of `total` is within ±10 percentage points of `expected`.
fn within(count: usize, total: usize, expected: f64) -> bool {
    (count as f64 / total as f64 - expected).abs() <= 0.10
}

#[tokio::test]
async fn weighted_backends_split_traffic() {
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    for name in ["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"] {
        backend(&config, "infra", name).await;
    }
    config.write(
        "route.yaml",
        &route(
            "weighted-backends",
            r#"
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs:
    - {name: infra-backend-v1, port: 8080, weight: 70}
    - {name: infra-backend-v2, port: 8080, weight: 30}
    - {name: infra-backend-v3, port: 8080, weight: 0}
  - matches: [{path: {type: PathPrefix, value: /zero}}]
    backendRefs:
    - {name: infra-backend-v1, port: 8080, weight: 0}
    - {name: infra-backend-v2, port: 8080, weight: 0}
"#,
        ),
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    let total = 500;
    let seen = distribution(address, "example.com", "/", total).await;
    assert_eq!(
        share(&seen, "infra-backend-v3.infra"),
        0,
        "weight 0: {seen:?}"
    );
    assert_eq!(
        share(&seen, "infra-backend-v1.infra") + share(&seen, "infra-backend-v2.infra"),
        total,
        "{seen:?}"
    );
    assert!(
        within(share(&seen, "infra-backend-v1.infra"), total, 0.7),
        "{seen:?}"
    );
    assert!(
        within(share(&seen, "infra-backend-v2.infra"), total, 0.3),
        "{seen:?}"
    );
    // HTTPRouteAllBackendsWeightZero: nothing to send to → 500.
    let answer = get(address, "example.com", "/zero").await;
    assert_eq!((answer.status, answer.backend()), (500, None));
    assert_eq!(
        http_route_conditions(
            &gateway.status().await,
            "infra",
            "weighted-backends",
            PARENT
        ),
        accepted_and_resolved()
    );
}

const GRANT: &str = r#"
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: reference-grant
  namespace: web-backend
spec:
  from:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    namespace: infra
  to:
  - group: ""
    kind: Service
    name: web-backend
"#;

#[tokio::test]
async fn reference_grant_permits_and_its_removal_revokes() {
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    backend(&config, "infra", "infra-backend-v1").await;
    backend(&config, "web-backend", "web-backend").await;
    backend(&config, "web-backend", "other-backend").await;
    config.write("grant.yaml", GRANT);
    config.write(
        "routes.yaml",
        &[
            route(
                "reference-grant",
                "  - matches: [{path: {type: PathPrefix, value: /granted}}]\n    backendRefs: [{name: web-backend, namespace: web-backend, port: 8080}]\n",
            ),
            route(
                "invalid-reference-grant",
                "  - matches: [{path: {type: PathPrefix, value: /not-granted}}]\n    backendRefs: [{name: other-backend, namespace: web-backend, port: 8080}]\n",
            ),
            route(
                "partially-invalid",
                "  - matches: [{path: {type: PathPrefix, value: /invalid}}]\n    backendRefs: [{name: other-backend, namespace: web-backend, port: 8080}]\n  - matches: [{path: {type: PathPrefix, value: /valid}}]\n    backendRefs: [{name: infra-backend-v1, port: 8080}]\n",
            ),
        ]
        .join("---\n"),
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    // HTTPRouteReferenceGrant.
    let answer = get(address, "example.com", "/granted").await;
    assert_eq!(answer.backend(), Some("web-backend.web-backend"));
    // HTTPRouteInvalidReferenceGrant: the grant names another Service.
    let answer = get(address, "example.com", "/not-granted").await;
    assert_eq!((answer.status, answer.backend()), (500, None));
    // HTTPRoutePartiallyInvalidViaInvalidReferenceGrant.
    let answer = get(address, "example.com", "/invalid").await;
    assert_eq!((answer.status, answer.backend()), (500, None));
    let answer = get(address, "example.com", "/valid").await;
    assert_eq!(answer.backend(), Some("infra-backend-v1.infra"));
    let status = gateway.status().await;
    assert_eq!(
        http_route_conditions(&status, "infra", "reference-grant", PARENT),
        accepted_and_resolved()
    );
    for name in ["invalid-reference-grant", "partially-invalid"] {
        assert_eq!(
            http_route_conditions(&status, "infra", name, PARENT),
            [pair("True", "Accepted"), pair("False", "RefNotPermitted")],
            "{name}"
        );
    }

    // Revoke: remove the grant; on the next reload the backend answers 500.
    let generation = gateway.generation().await;
    config.remove("grant.yaml");
    gateway.wait_generation(generation + 1).await;
    let answer = get(address, "example.com", "/granted").await;
    assert_eq!((answer.status, answer.backend()), (500, None), "revoked");
    assert_eq!(
        http_route_conditions(&gateway.status().await, "infra", "reference-grant", PARENT),
        [pair("True", "Accepted"), pair("False", "RefNotPermitted")]
    );
    // And granted again.
    let generation = gateway.generation().await;
    config.write("grant.yaml", GRANT);
    gateway.wait_generation(generation + 1).await;
    let answer = get(address, "example.com", "/granted").await;
    assert_eq!(answer.backend(), Some("web-backend.web-backend"));
}

#[tokio::test]
async fn invalid_backend_refs_answer_500_and_say_why() {
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    backend(&config, "infra", "infra-backend-v1").await;
    backend(&config, "web-backend", "web-backend").await;
    config.write(
        "no-endpoints.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: no-endpoints\n  namespace: infra\nspec:\n  ports:\n  - name: http\n    port: 8080\n",
    );
    config.write(
        "routes.yaml",
        &[
            route(
                "invalid-cross-namespace-backend-ref",
                "  - matches: [{path: {type: PathPrefix, value: /cross}}]\n    backendRefs: [{name: web-backend, namespace: web-backend, port: 8080}]\n",
            ),
            route(
                "invalid-backend-ref-unknown-kind",
                "  - matches: [{path: {type: PathPrefix, value: /unknown-kind}}]\n    backendRefs: [{group: unknownkind.example.com, kind: NonExistent, name: infra-backend-v1, port: 8080}]\n",
            ),
            route(
                "invalid-nonexistent-backend-ref",
                "  - matches: [{path: {type: PathPrefix, value: /nonexistent}}]\n    backendRefs: [{name: nonexistent, port: 8080}]\n",
            ),
            route(
                "no-backend-refs",
                "  - matches: [{path: {type: PathPrefix, value: /no-backends}}]\n",
            ),
            route(
                "half-invalid",
                "  - matches: [{path: {type: PathPrefix, value: /half}}]\n    backendRefs:\n    - {name: infra-backend-v1, port: 8080}\n    - {name: nonexistent, port: 8080}\n",
            ),
            route(
                "no-ready-endpoints",
                "  - matches: [{path: {type: PathPrefix, value: /no-endpoints}}]\n    backendRefs: [{name: no-endpoints, port: 8080}]\n",
            ),
        ]
        .join("---\n"),
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    for path in ["/cross", "/unknown-kind", "/nonexistent", "/no-backends"] {
        let answer = get(address, "example.com", path).await;
        assert_eq!((answer.status, answer.backend()), (500, None), "{path}");
    }
    let answer = get(address, "example.com", "/no-endpoints").await;
    assert_eq!((answer.status, answer.backend()), (503, None));
    // Only the invalid share of a split answers 500.
    let total = 200;
    let seen = distribution(address, "example.com", "/half", total).await;
    assert_eq!(
        share(&seen, "infra-backend-v1.infra") + share(&seen, "status 500"),
        total,
        "{seen:?}"
    );
    assert!(within(share(&seen, "status 500"), total, 0.5), "{seen:?}");

    let status = gateway.status().await;
    for (name, reason) in [
        ("invalid-cross-namespace-backend-ref", "RefNotPermitted"),
        ("invalid-backend-ref-unknown-kind", "InvalidKind"),
        ("invalid-nonexistent-backend-ref", "BackendNotFound"),
        ("half-invalid", "BackendNotFound"),
    ] {
        assert_eq!(
            http_route_conditions(&status, "infra", name, PARENT),
            [pair("True", "Accepted"), pair("False", reason)],
            "{name}"
        );
    }
    for name in ["no-backend-refs", "no-ready-endpoints"] {
        assert_eq!(
            http_route_conditions(&status, "infra", name, PARENT),
            accepted_and_resolved(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn service_types_and_h2c_backend_protocol() {
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    let plain = support::httpbin("cluster-ip.infra").await;
    let headless = support::httpbin("headless.infra").await;
    let h2c = H2Backend::start("h2c-only").await;
    config.write(
        "cluster-ip.yaml",
        &service("cluster-ip", "infra", 8080, &[plain]),
    );
    config.write(
        "headless.yaml",
        &service("headless", "infra", 8080, &[headless])
            .replace("spec:\n  ports:", "spec:\n  clusterIP: None\n  ports:"),
    );
    config.write(
        "h2c.yaml",
        &service("h2c", "infra", 8080, &[h2c.address]).replace(
            "  - name: http\n    port: 8080\n",
            "  - name: http\n    port: 8080\n    appProtocol: kubernetes.io/h2c\n",
        ),
    );
    config.write(
        "route.yaml",
        &route(
            "service-types",
            "  - matches: [{path: {type: PathPrefix, value: /cluster-ip}}]\n    backendRefs: [{name: cluster-ip, port: 8080}]\n  - matches: [{path: {type: PathPrefix, value: /headless}}]\n    backendRefs: [{name: headless, port: 8080}]\n  - matches: [{path: {type: PathPrefix, value: /h2c}}]\n    backendRefs: [{name: h2c, port: 8080}]\n",
        ),
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    assert_eq!(
        get(address, "example.com", "/cluster-ip").await.backend(),
        Some("cluster-ip.infra")
    );
    assert_eq!(
        get(address, "example.com", "/headless").await.backend(),
        Some("headless.infra")
    );
    // HTTPRouteBackendProtocolH2C: an HTTP/1.1 client, an h2c-only backend.
    let answer = get(address, "example.com", "/h2c/path").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-backend"), Some("h2c-only"));
    assert_eq!(answer.header("x-path"), Some("/h2c/path"));
    assert_eq!(
        http_route_conditions(&gateway.status().await, "infra", "service-types", PARENT),
        accepted_and_resolved()
    );
}

// === GRPCRoute ===

/// An HTTP/2-only (prior knowledge) backend answering every call with
/// `grpc-status: 0`, its name in `x-backend`, the path in `x-path` and the
/// request's `my-header` in `x-seen-my-header`.
/// Speaking HTTP/1.1 to it fails, so an answer proves h2c upstream.
struct H2Backend {
    address: SocketAddr,
}

impl H2Backend {
    async fn start(name: &'static str) -> H2Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let service = hyper::service::service_fn(
                    move |request: Request<hyper::body::Incoming>| async move {
                        let content_type = request
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let path = request.uri().path().to_owned();
                        let seen: Vec<&str> = request
                            .headers()
                            .get_all("my-header")
                            .iter()
                            .filter_map(|v| v.to_str().ok())
                            .collect();
                        let seen = seen.join(",");
                        let _ = request.into_body().collect().await;
                        let response = Response::builder()
                            .header("content-type", "application/grpc")
                            .header("grpc-status", "0")
                            .header("x-backend", name)
                            .header("x-path", path)
                            .header("x-request-content-type", content_type)
                            .header("x-seen-my-header", seen)
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        H2Backend { address }
    }
}

/// A gRPC-style call: HTTP/2 prior knowledge POST `/service/Method` with
/// `content-type: application/grpc`. Returns the status and `x-backend`.
async fn grpc_call(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>) {
    let (status, response_headers) = grpc_call_headers(sender, authority, path, headers).await;
    let backend = response_headers
        .get("x-backend")
        .and_then(|v| v.to_str().ok())
        .map(ToOwned::to_owned);
    (status, backend)
}

/// [`grpc_call`], returning every response header.
async fn grpc_call_headers(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap) {
    let mut builder = Request::post(format!("http://{authority}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    // An empty message: compressed-flag 0, length 0.
    let request = builder
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap();
    let response = sender.send_request(request).await.expect("h2 request");
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let _ = body.collect().await;
    (status, parts.headers)
}

async fn h2_client(address: SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    sender
}

#[tokio::test]
async fn grpc_routes_match_methods_headers_weights_and_hostnames_over_h2c() {
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    let mut backends = Vec::new();
    for name in ["grpc-v1", "grpc-v2", "grpc-v3"] {
        let h2 = H2Backend::start(name).await;
        // No appProtocol: a GRPCRoute backend is spoken to over h2c anyway.
        config.write(
            &format!("{name}.yaml"),
            &service(name, "infra", 8080, &[h2.address]),
        );
        backends.push(h2);
    }
    config.write(
        "grpc.yaml",
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: grpc-hostnames
  namespace: infra
spec:
  gatewayClassName: vestibule
  listeners:
  - {name: listener-1, port: 8080, protocol: HTTP, hostname: bar.com}
  - {name: listener-2, port: 8080, protocol: HTTP, hostname: foo.bar.com}
  - {name: listener-3, port: 8080, protocol: HTTP, hostname: "*.bar.com"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: exact-matching
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [grpc.example.com]
  rules:
  - matches:
    - method: {service: gateway_api_conformance.echo_basic.grpcecho.GrpcEcho, method: Echo}
    backendRefs: [{name: grpc-v1, port: 8080}]
  - matches:
    - method: {service: gateway_api_conformance.echo_basic.grpcecho.GrpcEcho, method: EchoTwo}
    backendRefs: [{name: grpc-v2, port: 8080}]
  - matches:
    - method: {service: other.Service}
    backendRefs: [{name: grpc-v3, port: 8080}]
  - matches:
    - method: {type: RegularExpression, service: "regex\\..*", method: "Get.*"}
    backendRefs: [{name: grpc-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: header-matching
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [headers.example.com]
  rules:
  - matches: [{headers: [{name: version, value: one}]}]
    backendRefs: [{name: grpc-v1, port: 8080}]
  - matches: [{headers: [{name: version, value: two}]}]
    backendRefs: [{name: grpc-v2, port: 8080}]
  - matches: [{headers: [{name: version, value: two}, {name: color, value: orange}]}]
    backendRefs: [{name: grpc-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: weighted
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [weights.example.com]
  rules:
  - backendRefs:
    - {name: grpc-v1, port: 8080, weight: 70}
    - {name: grpc-v2, port: 8080, weight: 30}
    - {name: grpc-v3, port: 8080, weight: 0}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: request-header-modifier
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [modifier.example.com]
  rules:
  - matches: [{method: {service: svc.Modify, method: Set}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: my-header, value: set-by-gateway}]}
    backendRefs: [{name: grpc-v1, port: 8080}]
  - matches: [{method: {service: svc.Modify, method: Add}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {add: [{name: my-header, value: added}]}
    backendRefs: [{name: grpc-v1, port: 8080}]
  - matches: [{method: {service: svc.Modify, method: Remove}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {remove: [my-header]}
    backendRefs: [{name: grpc-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: backend-v1, namespace: infra}
spec:
  parentRefs: [{name: grpc-hostnames, sectionName: listener-1}]
  rules: [{backendRefs: [{name: grpc-v1, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: backend-v2, namespace: infra}
spec:
  parentRefs: [{name: grpc-hostnames, sectionName: listener-2}]
  rules: [{backendRefs: [{name: grpc-v2, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: backend-v3, namespace: infra}
spec:
  parentRefs: [{name: grpc-hostnames, sectionName: listener-3}]
  rules: [{backendRefs: [{name: grpc-v3, port: 8080}]}]
"#,
    );
    let gateway = start(&config, &[80, 8080]).await;
    let address = gateway.listener(80).await;
    let echo = "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

    // A real client: curl over HTTP/2 prior knowledge.
    let out = curl(&[
        "--http2-prior-knowledge",
        "-X",
        "POST",
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-H",
        "Host: grpc.example.com",
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("http://{address}{echo}/Echo"),
    ])
    .await
    .to_ascii_lowercase();
    assert!(out.starts_with("http/2 200"), "{out}");
    assert!(out.contains("x-backend: grpc-v1"), "{out}");
    assert!(out.contains("grpc-status: 0"), "{out}");
    assert!(
        out.contains(&format!("x-path: {}/echo", echo.to_ascii_lowercase())),
        "{out}"
    );

    // GRPCExactMethodMatching and friends.
    let mut client = h2_client(address).await;
    for (path, expected) in [
        (format!("{echo}/Echo"), Some("grpc-v1")),
        (format!("{echo}/EchoTwo"), Some("grpc-v2")),
        (format!("{echo}/EchoThree"), None),
        ("/other.Service/Anything".to_owned(), Some("grpc-v3")),
        ("/other.ServiceX/Anything".to_owned(), None),
        ("/regex.Things/GetThing".to_owned(), Some("grpc-v2")),
        ("/regex.Things/PutThing".to_owned(), None),
    ] {
        let (status, headers) =
            grpc_call_headers(&mut client, "grpc.example.com", &path, &[]).await;
        let backend = headers.get("x-backend").and_then(|v| v.to_str().ok());
        assert_eq!(backend, expected, "{path}");
        assert_eq!(status, 200, "{path}");
        // No route: Envoy's 404 in gRPC's terms, UNIMPLEMENTED.
        let grpc_status = headers.get("grpc-status").and_then(|v| v.to_str().ok());
        assert_eq!(
            grpc_status,
            Some(if expected.is_some() { "0" } else { "12" }),
            "{path}"
        );
    }

    // GRPCRouteHeaderMatching.
    for (headers, expected) in [
        (&[("version", "one")][..], Some("grpc-v1")),
        (&[("version", "two")][..], Some("grpc-v2")),
        (
            &[("version", "two"), ("color", "orange")][..],
            Some("grpc-v1"),
        ),
        (&[("color", "orange")][..], None),
        (&[("version", "three")][..], None),
    ] {
        let (_, backend) = grpc_call(
            &mut client,
            "headers.example.com",
            &format!("{echo}/Echo"),
            headers,
        )
        .await;
        assert_eq!(backend.as_deref(), expected, "{headers:?}");
    }

    // GRPCRouteRequestHeaderModifier.
    for (method, expected) in [
        ("Set", "set-by-gateway"),
        ("Add", "from-client,added"),
        ("Remove", ""),
    ] {
        let (status, headers) = grpc_call_headers(
            &mut client,
            "modifier.example.com",
            &format!("/svc.Modify/{method}"),
            &[("my-header", "from-client")],
        )
        .await;
        assert_eq!(status, 200, "{method}");
        let seen = headers
            .get("x-seen-my-header")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(seen.as_deref(), Some(expected), "{method}");
    }

    // GRPCRouteWeight.
    let total = 500;
    let mut seen: BTreeMap<Option<String>, usize> = BTreeMap::new();
    for _ in 0..total {
        let (_, backend) = grpc_call(
            &mut client,
            "weights.example.com",
            &format!("{echo}/Echo"),
            &[],
        )
        .await;
        *seen.entry(backend).or_insert(0) += 1;
    }
    let count = |name: &str| seen.get(&Some(name.to_owned())).copied().unwrap_or(0);
    assert_eq!(count("grpc-v3"), 0, "{seen:?}");
    assert_eq!(count("grpc-v1") + count("grpc-v2"), total, "{seen:?}");
    assert!(within(count("grpc-v1"), total, 0.7), "{seen:?}");

    // GRPCRouteListenerHostnameMatching.
    let mut client = h2_client(gateway.listener(8080).await).await;
    for (host, expected) in [
        ("bar.com", Some("grpc-v1")),
        ("foo.bar.com", Some("grpc-v2")),
        ("baz.bar.com", Some("grpc-v3")),
        ("multiple.prefixes.bar.com", Some("grpc-v3")),
        ("foo.com", None),
    ] {
        let (_, backend) = grpc_call(&mut client, host, &format!("{echo}/Echo"), &[]).await;
        assert_eq!(backend.as_deref(), expected, "{host}");
    }

    let status = gateway.status().await;
    for name in [
        "exact-matching",
        "header-matching",
        "weighted",
        "request-header-modifier",
    ] {
        let route = ("GRPCRoute", "infra", name);
        assert_eq!(
            [
                route_condition(&status, route, PARENT, "Accepted"),
                route_condition(&status, route, PARENT, "ResolvedRefs"),
            ],
            accepted_and_resolved(),
            "{name}"
        );
    }
    assert_eq!(
        route_condition(
            &status,
            ("GRPCRoute", "infra", "backend-v2"),
            "infra/grpc-hostnames/listener-2",
            "Accepted"
        ),
        pair("True", "Accepted")
    );
    drop(backends);
}

#[tokio::test]
async fn per_backend_request_header_modifiers_with_weights() {
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    for name in ["infra-backend-v1", "infra-backend-v2"] {
        backend(&config, "infra", name).await;
    }
    config.write(
        "route.yaml",
        &route(
            "backend-header-modifiers",
            r#"
  - matches: [{path: {type: PathPrefix, value: /anything}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: rule-header, value: rule}]}
    backendRefs:
    - name: infra-backend-v1
      port: 8080
      weight: 50
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier:
          set: [{name: backend-header, value: v1}]
          add: [{name: added-header, value: v1-added}]
          remove: [removed-header]
    - name: infra-backend-v2
      port: 8080
      weight: 50
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {set: [{name: backend-header, value: v2}]}
"#,
        ),
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    let mut seen = BTreeMap::new();
    for _ in 0..60 {
        let answer = gateway_api_support::get_with(
            address,
            "example.com",
            "/anything/x",
            &[("removed-header", "gone"), ("added-header", "client")],
        )
        .await;
        let who = answer.backend().expect("a backend").to_owned();
        let expected_backend = if who.starts_with("infra-backend-v1") {
            "v1"
        } else {
            "v2"
        };
        assert_eq!(
            answer.echoed_header("backend-header").as_deref(),
            Some(expected_backend),
            "{who}"
        );
        assert_eq!(answer.echoed_header("rule-header").as_deref(), Some("rule"));
        if expected_backend == "v1" {
            assert_eq!(answer.echoed_header("removed-header"), None);
            assert_eq!(
                answer.echoed_header("added-header").as_deref(),
                Some("client,v1-added")
            );
        } else {
            assert_eq!(
                answer.echoed_header("removed-header").as_deref(),
                Some("gone")
            );
            assert_eq!(
                answer.echoed_header("added-header").as_deref(),
                Some("client")
            );
        }
        *seen.entry(who).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 2, "both backends get traffic: {seen:?}");
    assert_eq!(
        http_route_conditions(
            &gateway.status().await,
            "infra",
            "backend-header-modifiers",
            PARENT
        ),
        accepted_and_resolved()
    );
}

/// A WebSocket server that echoes every text message, prefixed.
async fn websocket_echo() -> SocketAddr {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        let _ = socket.send(Message::text(format!("echo: {text}"))).await;
                    }
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn websocket_backend_protocol() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    let echo = websocket_echo().await;
    config.write(
        "ws.yaml",
        &service("ws-backend", "infra", 8080, &[echo]).replace(
            "  - name: http\n    port: 8080\n",
            "  - name: http\n    port: 8080\n    appProtocol: kubernetes.io/ws\n",
        ),
    );
    config.write(
        "route.yaml",
        &route(
            "websocket",
            "  - matches: [{path: {type: PathPrefix, value: /ws}}]\n    backendRefs: [{name: ws-backend, port: 8080}]\n",
        ),
    );
    let gateway = start(&config, &[80]).await;
    let address = gateway.listener(80).await;
    let mut request = format!("ws://{address}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("host", "example.com".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(response.status(), 101);
    socket.send(Message::text("hello")).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply, Message::text("echo: hello"));
    socket.close(None).await.unwrap();
    assert_eq!(
        http_route_conditions(&gateway.status().await, "infra", "websocket", PARENT),
        accepted_and_resolved()
    );
}
