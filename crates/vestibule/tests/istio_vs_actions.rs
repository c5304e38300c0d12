//! VirtualService actions end to end: mirroring shares (`mirrors[].percentage`
//! and the old `mirror` + `mirrorPercentage`), a mirror that never answers
//! not holding the request up, redirects with `prefixRewrite` and
//! `derivePort`, `directResponse.body.bytes`, `x-envoy-attempt-count` on
//! every try, and a match naming only `mesh` not served at the gateway.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::{get, service, ConfigDir, Gateway, Recorder, HOST, SEED_GATEWAY};

const ROUTES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: actions
spec:
  hosts: [httpbin.example.com]
  gateways: [httpbin-gateway]
  http:
  - match: [{uri: {prefix: /mirror-half}}]
    mirrors:
    - destination: {host: shadow, port: {number: 8000}}
      percentage: {value: 50}
    route: [{destination: {host: app, port: {number: 8000}}}]
  - match: [{uri: {prefix: /mirror-all}}]
    mirrors:
    - destination: {host: shadow, port: {number: 8000}}
    route: [{destination: {host: app, port: {number: 8000}}}]
  - match: [{uri: {prefix: /mirror-old}}]
    mirror: {host: shadow, port: {number: 8000}}
    mirrorPercentage: {value: 25}
    route: [{destination: {host: app, port: {number: 8000}}}]
  - match: [{uri: {prefix: /mirror-stuck}}]
    mirrors:
    - destination: {host: stuck, port: {number: 8000}}
    route: [{destination: {host: app, port: {number: 8000}}}]
  - match: [{uri: {prefix: /old/}}]
    redirect: {prefixRewrite: /new/}
  - match: [{uri: {prefix: /to-https-request-port}}]
    redirect: {scheme: https, derivePort: FROM_REQUEST_PORT}
  - match: [{uri: {prefix: /to-https-default-port}}]
    redirect: {scheme: https, derivePort: FROM_PROTOCOL_DEFAULT}
  - match: [{uri: {exact: /bytes}}]
    directResponse:
      status: 503
      body: {bytes: "AP9mYXVsdAo="}
  - match: [{uri: {prefix: /flaky}}]
    retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: flaky, port: {number: 8000}}}]
  - match: [{uri: {prefix: /mesh-only}, gateways: [mesh]}]
    directResponse: {status: 200, body: {string: "mesh rule"}}
  - route: [{destination: {host: app, port: {number: 8000}}}]
"#;

struct Setup {
    _config: ConfigDir,
    _gateway: Gateway,
    app: Recorder,
    shadow: Recorder,
    flaky: Recorder,
    address: SocketAddr,
}

/// A backend that accepts connections and never answers.
async fn stuck() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    address
}

async fn start() -> Setup {
    let app = Recorder::start(|_| 200).await;
    let shadow = Recorder::start(|_| 200).await;
    // Fails the first two tries of every request of the test (one request).
    let flaky = Recorder::start(|n| if n < 2 { 503 } else { 200 }).await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("vs.yaml", ROUTES);
    for (name, address) in [
        ("app", app.address),
        ("shadow", shadow.address),
        ("flaky", flaky.address),
        ("stuck", stuck().await),
    ] {
        config.write(
            &format!("{name}.yaml"),
            &service(name, "default", 8000, &[address]),
        );
    }
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    Setup {
        _config: config,
        _gateway: gateway,
        app,
        shadow,
        flaky,
        address,
    }
}

/// The shadow's count of copies of `path`, once the fire-and-forget copies
/// have landed.
async fn copies(shadow: &Recorder, path: &str) -> usize {
    tokio::time::sleep(Duration::from_millis(300)).await;
    shadow
        .seen()
        .iter()
        .filter(|seen| seen.path == path)
        .count()
}

/// 200 requests each: mirrored counts within 3 sigma of Binomial(200, p)
/// (50 %: 100 ± 21; 25 %: 50 ± 18.4); an unset percentage mirrors all.
#[tokio::test]
async fn mirrors_receive_their_share_with_the_shadow_authority() {
    let s = start().await;
    for (path, requests) in [
        ("/mirror-half", 200),
        ("/mirror-old", 200),
        ("/mirror-all", 20),
    ] {
        for _ in 0..requests {
            assert_eq!(get(s.address, HOST, path).await.0, 200);
        }
    }
    let half = copies(&s.shadow, "/mirror-half").await;
    assert!((79..=121).contains(&half), "50 %: {half} of 200");
    let old = copies(&s.shadow, "/mirror-old").await;
    assert!((32..=68).contains(&old), "25 %: {old} of 200");
    assert_eq!(copies(&s.shadow, "/mirror-all").await, 20);
    assert!(
        s.shadow
            .seen()
            .iter()
            .all(|seen| seen.host == "httpbin.example.com-shadow"),
        "Envoy's -shadow suffix on the authority"
    );
    assert_eq!(s.app.seen().len(), 420, "every request reached the primary");
}

#[tokio::test]
async fn a_mirror_that_never_answers_does_not_hold_up_the_request() {
    let s = start().await;
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(s.address, HOST, "/mirror-stuck").await.0, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.app.seen().len(), 5);
}

#[tokio::test]
async fn redirects_rewrite_the_prefix_and_derive_the_port() {
    let s = start().await;
    let (status, headers, _) = get(s.address, HOST, "/old/page?q=1").await;
    assert_eq!(status, 301);
    assert_eq!(
        headers["location"],
        "http://httpbin.example.com/new/page?q=1"
    );
    // FROM_REQUEST_PORT: the listener's port (80), kept although the scheme
    // changes (Istio sets Envoy's port_redirect to it).
    let (status, headers, _) = get(s.address, HOST, "/to-https-request-port").await;
    assert_eq!(status, 301);
    assert_eq!(
        headers["location"],
        "https://httpbin.example.com:80/to-https-request-port"
    );
    // FROM_PROTOCOL_DEFAULT: https's 443, left out.
    let (_, headers, _) = get(s.address, HOST, "/to-https-default-port").await;
    assert_eq!(
        headers["location"],
        "https://httpbin.example.com/to-https-default-port"
    );
}

#[tokio::test]
async fn a_direct_response_sends_the_decoded_bytes() {
    let s = start().await;
    let (status, headers, body) = get(s.address, HOST, "/bytes").await;
    assert_eq!(status, 503);
    assert_eq!(&body[..], b"\x00\xfffault\n");
    assert_eq!(headers["content-length"], "8");
}

#[tokio::test]
async fn every_try_carries_its_attempt_count() {
    let s = start().await;
    let (status, _, _) = get(s.address, HOST, "/flaky").await;
    assert_eq!(status, 200, "two failures then a success");
    let counts: Vec<String> = s
        .flaky
        .seen()
        .iter()
        .map(|seen| {
            seen.headers["x-envoy-attempt-count"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(counts, ["1", "2", "3"]);
    // A request that succeeds at once says 1.
    assert_eq!(get(s.address, HOST, "/plain").await.0, 200);
    let plain = s.app.seen();
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].headers["x-envoy-attempt-count"], "1");
}

/// A match naming only `mesh` is for sidecars: at the gateway the request
/// falls through to the next rule.
#[tokio::test]
async fn a_match_naming_only_mesh_is_not_served_at_the_gateway() {
    let s = start().await;
    let (status, _, body) = get(s.address, HOST, "/mesh-only").await;
    assert_eq!(status, 200);
    assert_eq!(
        &body[..],
        b"recorded",
        "served by the catch-all, not the mesh rule"
    );
    assert_eq!(s.app.seen().len(), 1);
}
