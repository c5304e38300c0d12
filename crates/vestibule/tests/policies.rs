//! Route policies end to end: mirroring, CORS, retries on responses.

mod support;

use std::time::Duration;

use support::{get, get_with, service, ConfigDir, Gateway, Recorder, HOST, SEED_GATEWAY};

fn virtual_service(rule_extra: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: app\nspec:\n  hosts: [httpbin.example.com]\n  gateways: [httpbin-gateway]\n  http:\n  - match:\n    - uri:\n        prefix: /\n{rule_extra}    route:\n    - destination:\n        host: app\n        port:\n          number: 8000\n"
    )
}

async fn start(backends: &[(&str, std::net::SocketAddr)], vs: &str) -> (ConfigDir, Gateway) {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("vs.yaml", vs);
    for (name, address) in backends {
        config.write(
            &format!("{name}.yaml"),
            &service(name, "default", 8000, &[*address]),
        );
    }
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    (config, gateway)
}

#[tokio::test]
async fn mirrors_get_a_copy_with_the_shadow_authority() {
    let app = Recorder::start(|_| 200).await;
    let shadow = Recorder::start(|_| 500).await;
    let vs =
        virtual_service("    mirror:\n      host: shadow\n      port:\n        number: 8000\n");
    let (_config, gateway) = start(&[("app", app.address), ("shadow", shadow.address)], &vs).await;
    let address = gateway.listener(80).await;
    for index in 0..5 {
        let (status, _, _) = get(address, HOST, &format!("/item/{index}")).await;
        assert_eq!(status, 200, "the mirror's answer must not matter");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let copies = shadow.seen();
    assert_eq!(copies.len(), 5, "{copies:?}");
    assert!(
        copies
            .iter()
            .all(|seen| seen.host == "httpbin.example.com-shadow"),
        "{copies:?}"
    );
    // Mirrors are fire-and-forget, so they may arrive out of order:
    // each request is mirrored exactly once.
    let mut paths: Vec<&str> = copies.iter().map(|seen| seen.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["/item/0", "/item/1", "/item/2", "/item/3", "/item/4"]
    );
    assert_eq!(app.seen().len(), 5);
}

#[tokio::test]
async fn mirror_percentage_samples_requests() {
    let app = Recorder::start(|_| 200).await;
    let shadow = Recorder::start(|_| 200).await;
    let vs = virtual_service(
        "    mirror:\n      host: shadow\n      port:\n        number: 8000\n    mirrorPercentage:\n      value: 0\n",
    );
    let (_config, gateway) = start(&[("app", app.address), ("shadow", shadow.address)], &vs).await;
    let address = gateway.listener(80).await;
    for _ in 0..10 {
        assert_eq!(get(address, HOST, "/").await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(shadow.seen().is_empty(), "0 % mirrors nothing");
}

const CORS: &str = "    corsPolicy:\n      allowOrigins:\n      - exact: https://app.example.com\n      - prefix: https://dev.\n      allowMethods: [GET, POST]\n      allowHeaders: [x-custom]\n      exposeHeaders: [x-exposed]\n      maxAge: 24h\n      allowCredentials: true\n";

#[tokio::test]
async fn cors_preflights_are_answered_and_responses_decorated() {
    let app = Recorder::start(|_| 200).await;
    let (_config, gateway) = start(&[("app", app.address)], &virtual_service(CORS)).await;
    let address = gateway.listener(80).await;

    let out = support::curl(&[
        "-i",
        "-X",
        "OPTIONS",
        "-H",
        "Host: httpbin.example.com",
        "-H",
        "Origin: https://app.example.com",
        "-H",
        "Access-Control-Request-Method: POST",
        &format!("http://{address}/api"),
    ])
    .await
    .to_ascii_lowercase();
    assert!(out.starts_with("http/1.1 200"), "{out}");
    assert!(
        out.contains("access-control-allow-origin: https://app.example.com"),
        "{out}"
    );
    assert!(
        out.contains("access-control-allow-methods: get,post"),
        "{out}"
    );
    assert!(
        out.contains("access-control-allow-headers: x-custom"),
        "{out}"
    );
    assert!(out.contains("access-control-max-age: 86400"), "{out}");
    assert!(
        out.contains("access-control-allow-credentials: true"),
        "{out}"
    );
    assert!(
        app.seen().is_empty(),
        "an allowed preflight is answered at the gateway"
    );

    let (status, headers, _) = get_with(
        address,
        HOST,
        "/api",
        &[("origin", "https://dev.example.com")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://dev.example.com"
    );
    assert_eq!(headers["access-control-expose-headers"], "x-exposed");

    let (_, headers, _) = get_with(
        address,
        HOST,
        "/api",
        &[("origin", "https://evil.example.org")],
    )
    .await;
    assert!(headers.get("access-control-allow-origin").is_none());

    // Istio forwards preflights from origins it does not allow.
    let before = app.seen().len();
    let out = support::curl(&[
        "-i",
        "-X",
        "OPTIONS",
        "-H",
        "Host: httpbin.example.com",
        "-H",
        "Origin: https://evil.example.org",
        "-H",
        "Access-Control-Request-Method: POST",
        &format!("http://{address}/api"),
    ])
    .await
    .to_ascii_lowercase();
    assert!(!out.contains("access-control-allow-origin"), "{out}");
    let seen = app.seen();
    assert_eq!(seen.len(), before + 1, "{seen:?}");
    assert_eq!(seen[before].method, "OPTIONS");
}

#[tokio::test]
async fn retry_on_5xx_replays_bodyless_requests() {
    // Fails twice, then succeeds.
    let app = Recorder::start(|index| if index < 2 { 503 } else { 200 }).await;
    let vs = virtual_service("    retries:\n      attempts: 3\n      retryOn: 5xx\n");
    let (_config, gateway) = start(&[("app", app.address)], &vs).await;
    let address = gateway.listener(80).await;
    let (status, _, _) = get(address, HOST, "/flaky").await;
    assert_eq!(status, 200);
    assert_eq!(app.seen().len(), 3);
}

#[tokio::test]
async fn by_default_a_503_response_is_not_retried() {
    let app = Recorder::start(|_| 503).await;
    let (_config, gateway) = start(&[("app", app.address)], &virtual_service("")).await;
    let address = gateway.listener(80).await;
    assert_eq!(get(address, HOST, "/").await.0, 503);
    assert_eq!(
        app.seen().len(),
        1,
        "Istio excludes 503 from its default retries"
    );
}
