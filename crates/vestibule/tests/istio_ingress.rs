//! The seeds' Istio ingress walkthroughs, end to end: real gateway process,
//! real httpbin backend, real clients.

mod support;

use std::time::{Duration, Instant};

use support::{
    curl, get, httpbin, service, ConfigDir, Gateway, HOST, SEED_GATEWAY, SEED_VIRTUAL_SERVICE,
};

async fn seed_gateway() -> (ConfigDir, Gateway) {
    let backend = httpbin("httpbin").await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", SEED_VIRTUAL_SERVICE);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    (config, gateway)
}

#[tokio::test]
async fn status_200_is_served_with_a_server_header() {
    let (_config, gateway) = seed_gateway().await;
    let address = gateway.listener(80).await;
    let url = format!("http://{address}/status/200");
    let head = curl(&["-I", "-HHost:httpbin.example.com", &url]).await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("\nserver: vestibule"),
        "{head}"
    );
    assert!(head.contains("x-envoy-upstream-service-time:"), "{head}");
}

#[tokio::test]
async fn delay_answers_after_the_delay() {
    let (_config, gateway) = seed_gateway().await;
    let address = gateway.listener(80).await;
    let started = Instant::now();
    let (status, _, _) = get(address, HOST, "/delay/1").await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn unexposed_paths_and_unknown_hosts_get_an_empty_404() {
    let (_config, gateway) = seed_gateway().await;
    let address = gateway.listener(80).await;
    let url = format!("http://{address}/headers");
    let head = curl(&["-I", "-HHost:httpbin.example.com", &url]).await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found"), "{head}");
    let (status, headers, body) = get(address, HOST, "/headers").await;
    assert_eq!(status, 404);
    assert!(body.is_empty());
    assert_eq!(headers["content-length"], "0");
    let (status, _, body) = get(address, "other.example.com", "/status/200").await;
    assert_eq!(status, 404);
    assert!(body.is_empty());
}

#[tokio::test]
async fn host_matching_ignores_case_port_and_trailing_dot() {
    let (_config, gateway) = seed_gateway().await;
    let address = gateway.listener(80).await;
    for host in [
        "HTTPBIN.example.COM",
        "httpbin.example.com:80",
        "httpbin.example.com.",
        "httpbin.example.com.:8080",
    ] {
        let (status, _, _) = get(address, host, "/status/200").await;
        assert_eq!(status, 200, "host {host}");
    }
}

#[tokio::test]
async fn paths_are_normalized_before_matching_and_forwarding() {
    let (_config, gateway) = seed_gateway().await;
    let address = gateway.listener(80).await;
    // `/headers/../status/201` is `/status/201` once dot segments are removed.
    let (status, _, _) = get(address, HOST, "/headers/../status/201").await;
    assert_eq!(status, 201);
    let (status, _, _) = get(address, HOST, "//status//202").await;
    assert_eq!(status, 202);
    // `/status/../headers` normalizes to `/headers`, which is not exposed.
    let (status, _, _) = get(address, HOST, "/status/../headers").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served_on_the_same_port() {
    let (_config, gateway) = seed_gateway().await;
    let address = gateway.listener(80).await;
    let url = format!("http://{address}/status/200");
    let out = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        "-HHost:httpbin.example.com",
        &url,
    ])
    .await;
    assert_eq!(out, "2 200");
}

const BROWSER: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "*"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /headers
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"#;

#[tokio::test]
async fn browser_variant_serves_any_host_and_shows_the_request_headers() {
    let backend = httpbin("httpbin").await;
    let config = ConfigDir::new();
    config.write("browser.yaml", BROWSER);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    let body = curl(&[&format!("http://{address}/headers")]).await;
    let json: serde_json::Value = serde_json::from_str(&body).expect(&body);
    let headers = &json["headers"];
    assert_eq!(headers["Host"], address.to_string());
    assert_eq!(headers["X-Forwarded-For"], "127.0.0.1");
    assert_eq!(headers["X-Forwarded-Proto"], "http");
    assert_eq!(
        headers["X-Request-Id"].as_str().map(str::len),
        Some(36),
        "{json}"
    );
    assert!(headers["User-Agent"].as_str().unwrap().starts_with("curl/"));
}

const OCTOPUS: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: default-gateway
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  servers:
  - hosts:
    - '*'
    port:
      name: http
      number: 80
      protocol: HTTP
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: proxy
spec:
  gateways:
  - istio-system/default-gateway
  hosts:
  - "*"
  http:
  - route:
    - destination:
        host: proxy
"#;

#[tokio::test]
async fn octopus_cross_namespace_gateway_and_portless_destination() {
    let backend = httpbin("proxy").await;
    let config = ConfigDir::new();
    config.write("octopus.yaml", OCTOPUS);
    config.write("proxy.yaml", &service("proxy", "default", 80, &[backend]));
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    let (status, headers, _) = get(address, "anything.example.org", "/get").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-httpbin-name"], "proxy");
}

fn vs_with_gateways(name: &str, gateways: &str, prefix: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n  name: {name}\nspec:\n  hosts: [httpbin.example.com]\n  gateways: {gateways}\n  http:\n  - match:\n    - uri:\n        prefix: {prefix}\n    route:\n    - destination:\n        host: httpbin\n        port:\n          number: 8000\n"
    )
}

#[tokio::test]
async fn mesh_in_gateways_changes_nothing_and_mesh_only_is_not_served() {
    let backend = httpbin("httpbin").await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    config.write(
        "with-mesh.yaml",
        &vs_with_gateways("with-mesh", "[httpbin-gateway, mesh]", "/status"),
    );
    config.write(
        "mesh-only.yaml",
        &vs_with_gateways("mesh-only", "[mesh]", "/get"),
    );
    config.write(
        "no-gateways.yaml",
        &vs_with_gateways("no-gateways", "[]", "/ip"),
    );
    config.write(
        "other-gateway.yaml",
        &vs_with_gateways("other", "[other-gateway]", "/uuid"),
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    assert_eq!(get(address, HOST, "/status/200").await.0, 200);
    for path in ["/get", "/ip", "/uuid"] {
        assert_eq!(
            get(address, HOST, path).await.0,
            404,
            "{path} must not be served"
        );
    }
    let status = gateway.status().await;
    let reasons: Vec<(String, String)> = status["virtualServices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|vs| {
            (
                vs["name"].as_str().unwrap().to_owned(),
                vs["conditions"][0]["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("with-mesh".into(), "Accepted".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("mesh-only".into(), "MeshOnly".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("other".into(), "NoMatchingGateway".into())),
        "{reasons:?}"
    );
}
