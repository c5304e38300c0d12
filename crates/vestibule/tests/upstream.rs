//! Upstream behaviour: Istio's default retries, the 503s Envoy gives, load
//! balancing over endpoints, the headers a proxy adds and removes, and h2c
//! upstreams.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;

use support::{
    get, get_with, httpbin, service, Client, ConfigDir, Gateway, HOST, SEED_GATEWAY,
    SEED_VIRTUAL_SERVICE,
};

/// A local address nothing listens on (bound, then released).
fn dead_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

async fn gateway_with(backends: &[SocketAddr], virtual_service: &str) -> (ConfigDir, Gateway) {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", virtual_service);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, backends),
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    (config, gateway)
}

#[tokio::test]
async fn connect_failures_are_retried_on_another_endpoint() {
    let live = httpbin("live").await;
    let (_config, gateway) = gateway_with(&[dead_address(), live], SEED_VIRTUAL_SERVICE).await;
    let address = gateway.listener(80).await;
    for _ in 0..20 {
        let (status, headers, _) = get(address, HOST, "/status/200").await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-httpbin-name"], "live");
    }
}

#[tokio::test]
async fn retries_can_be_disabled() {
    let live = httpbin("live").await;
    let no_retries = SEED_VIRTUAL_SERVICE.replace(
        "    route:\n",
        "    retries:\n      attempts: 0\n    route:\n",
    );
    let (_config, gateway) = gateway_with(&[dead_address(), live], &no_retries).await;
    let address = gateway.listener(80).await;
    let mut failures = 0;
    for _ in 0..30 {
        if get(address, HOST, "/status/200").await.0 == 503 {
            failures += 1;
        }
    }
    assert!(
        failures > 0,
        "with retries off, some requests must hit the dead endpoint"
    );
}

#[tokio::test]
async fn no_endpoints_is_503_no_healthy_upstream() {
    let (_config, gateway) = gateway_with(&[], SEED_VIRTUAL_SERVICE).await;
    let address = gateway.listener(80).await;
    let (status, _, body) = get(address, HOST, "/status/200").await;
    assert_eq!(status, 503);
    assert_eq!(body, "no healthy upstream");
}

#[tokio::test]
async fn unreachable_endpoints_are_503_upstream_connect_error() {
    let (_config, gateway) = gateway_with(&[dead_address()], SEED_VIRTUAL_SERVICE).await;
    let address = gateway.listener(80).await;
    let (status, _, body) = get(address, HOST, "/status/200").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
    );
}

#[tokio::test]
async fn requests_spread_over_endpoints() {
    let (a, b) = (httpbin("a").await, httpbin("b").await);
    let (_config, gateway) = gateway_with(&[a, b], SEED_VIRTUAL_SERVICE).await;
    let address = gateway.listener(80).await;
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut client = Client::connect(address).await;
    for _ in 0..200 {
        let (_, headers, _) = client.get(HOST, "/status/200").await;
        *seen
            .entry(headers["x-httpbin-name"].to_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(seen["a"] > 40 && seen["b"] > 40, "{seen:?}");
}

#[tokio::test]
async fn request_ids_are_kept_or_generated_and_hop_by_hop_headers_dropped() {
    let backend = httpbin("httpbin").await;
    let exposing = SEED_VIRTUAL_SERVICE.replace("prefix: /delay", "prefix: /headers");
    let (_config, gateway) = gateway_with(&[backend], &exposing).await;
    let address = gateway.listener(80).await;
    let (_, _, body) = get_with(
        address,
        HOST,
        "/headers",
        &[
            ("x-request-id", "my-id"),
            ("x-forwarded-for", "203.0.113.7"),
            ("connection", "x-secret"),
            ("x-secret", "hop"),
            ("keep-alive", "timeout=5"),
            ("x-envoy-retry-on", "5xx"),
        ],
    )
    .await;
    let headers = &serde_json::from_slice::<serde_json::Value>(&body).unwrap()["headers"];
    assert_eq!(headers["X-Request-Id"], "my-id");
    assert_eq!(headers["X-Forwarded-For"], "203.0.113.7,127.0.0.1");
    assert!(headers.get("X-Secret").is_none(), "{headers}");
    assert!(headers.get("Keep-Alive").is_none(), "{headers}");
    assert!(headers.get("X-Envoy-Retry-On").is_none(), "{headers}");
}

#[tokio::test]
async fn upstream_server_header_is_overwritten() {
    let backend = httpbin("httpbin").await;
    let (_config, gateway) = gateway_with(&[backend], SEED_VIRTUAL_SERVICE).await;
    let address = gateway.listener(80).await;
    let (_, headers, _) = get(address, HOST, "/status/200").await;
    assert_eq!(headers["server"], "vestibule");
    assert!(headers["x-envoy-upstream-service-time"]
        .to_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
}

#[tokio::test]
async fn h2c_upstreams_are_spoken_to_over_http2() {
    let backend = httpbin("h2").await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write(
        "virtualservice.yaml",
        &SEED_VIRTUAL_SERVICE.replace("prefix: /delay", "prefix: /get"),
    );
    let h2_service = service("httpbin", "default", 8000, &[backend]).replace(
        "  - name: http\n    port: 8000\n",
        "  - name: http\n    port: 8000\n    appProtocol: kubernetes.io/h2c\n",
    );
    config.write("httpbin.yaml", &h2_service);
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    let (status, _, body) = get(address, HOST, "/get").await;
    assert_eq!(status, 200);
    // httpbin reports the URL it saw; over HTTP/2 the authority comes from :authority.
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["headers"]["Host"], HOST, "{json}");
    let dump = gateway.admin_get("/config_dump").await.1;
    assert!(dump.contains("\"protocol\": \"h2c\""), "{dump}");
}

#[tokio::test]
async fn service_entry_static_endpoints_are_routable() {
    let backend = httpbin("external").await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write(
        "virtualservice.yaml",
        &SEED_VIRTUAL_SERVICE.replace("host: httpbin", "host: api.external.example"),
    );
    config.write(
        "entry.yaml",
        &format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: external\nspec:\n  hosts: [api.external.example]\n  ports:\n  - number: 8000\n    name: http\n    protocol: HTTP\n  resolution: STATIC\n  endpoints:\n  - address: 127.0.0.1\n    ports:\n      http: {}\n",
            backend.port()
        ),
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    let (status, headers, _) = get(address, HOST, "/status/200").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-httpbin-name"], "external");
}
