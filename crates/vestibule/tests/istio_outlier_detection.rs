//! DestinationRule `outlierDetection`, end to end: the real gateway
//! process in front of recording backends whose answers are scripted, so
//! that which endpoint served each request, and when one was ejected and
//! came back, can be read off the answers.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{Client, ConfigDir, Gateway, Recorder};

const HOST: &str = "app.example.com";

/// The gateway routing `HOST` to `app` (port 80) at `backends`, with no
/// retries (Istio's default would retry a 503 elsewhere and hide it) and
/// the DestinationRule `trafficPolicy` `policy`.
async fn start(backends: &[SocketAddr], policy: &str) -> (ConfigDir, Gateway, SocketAddr) {
    let config = ConfigDir::new();
    config.write(
        "gateway.yaml",
        &support::istio_host(
            HOST,
            "  - route:\n    - destination: {host: app, port: {number: 80}}\n    retries: {attempts: 0}\n",
        ),
    );
    config.write(
        "service.yaml",
        &support::service("app", "default", 80, backends),
    );
    config.write(
        "destinationrule.yaml",
        &format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: app}}\nspec:\n  host: app\n  trafficPolicy:\n    loadBalancer: {{simple: ROUND_ROBIN}}\n{policy}"
        ),
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    (config, gateway, address)
}

/// `count` requests on one connection: each answer's status and body.
async fn statuses(address: SocketAddr, count: usize) -> Vec<(u16, String)> {
    let mut client = Client::connect(address).await;
    let mut seen = Vec::new();
    for _ in 0..count {
        let (status, _, body) = client.get(HOST, "/").await;
        seen.push((status.as_u16(), String::from_utf8_lossy(&body).into_owned()));
    }
    seen
}

fn ejections(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|line| line.starts_with("envoy_cluster_outlier_detection_ejections_enforced_total{"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no ejection count in:\n{metrics}"))
}

/// A failing endpoint beside a healthy one: its first 503 ejects it
/// (`consecutive5xxErrors: 1`), every request then goes to the healthy
/// one; after `baseEjectionTime` it is back, fails again, and is ejected
/// again.
#[tokio::test]
async fn a_failing_endpoint_is_ejected_and_returns_after_its_time() {
    let failing = Recorder::start(|_| 503).await;
    let healthy = Recorder::start(|_| 200).await;
    let policy = "    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1s, maxEjectionPercent: 100}\n";
    let (_config, gateway, address) = start(&[failing.address, healthy.address], policy).await;
    let first = statuses(address, 10).await;
    let failed = first.iter().filter(|(status, _)| *status == 503).count();
    assert_eq!(failed, 1, "ejected after its first 503: {first:?}");
    assert_eq!(failing.seen().len(), 1);
    assert_eq!(ejections(&gateway.admin_get("/metrics").await.1), 1);

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let after = statuses(address, 6).await;
    let failed = after.iter().filter(|(status, _)| *status == 503).count();
    assert_eq!(
        failed, 1,
        "back after a second, and ejected again: {after:?}"
    );
    assert_eq!(failing.seen().len(), 2);
    assert_eq!(ejections(&gateway.admin_get("/metrics").await.1), 2);
}

/// The only endpoint may be ejected (at least one always may): then
/// nothing is healthy and the answer is Envoy's `no healthy upstream`.
/// With `minHealthPercent: 50`, below half healthy the ejection is
/// ignored (Envoy's panic threshold) and the endpoint still serves.
#[tokio::test]
async fn the_last_endpoint_may_be_ejected_unless_below_min_health() {
    let failing = Recorder::start(|_| 500).await;
    let policy = "    outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 30s}\n";
    let (_config, _gateway, address) = start(&[failing.address], policy).await;
    let seen = statuses(address, 3).await;
    assert_eq!(seen[0], (500, "recorded".to_owned()));
    assert_eq!(seen[1], (503, "no healthy upstream".to_owned()), "{seen:?}");
    assert_eq!(seen[2], (503, "no healthy upstream".to_owned()), "{seen:?}");

    let failing = Recorder::start(|_| 500).await;
    let policy = "    outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 30s, minHealthPercent: 50}\n";
    let (_config, _gateway, address) = start(&[failing.address], policy).await;
    let seen = statuses(address, 3).await;
    assert!(seen.iter().all(|(status, _)| *status == 500), "{seen:?}");
    assert_eq!(failing.seen().len(), 3);
}

/// `maxEjectionPercent: 50` of two failing endpoints ejects one: the
/// other keeps being tried.
#[tokio::test]
async fn max_ejection_percent_keeps_some_endpoints_in() {
    let a = Recorder::start(|_| 503).await;
    let b = Recorder::start(|_| 503).await;
    let policy = "    outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 30s, maxEjectionPercent: 50}\n";
    let (_config, gateway, address) = start(&[a.address, b.address], policy).await;
    let seen = statuses(address, 6).await;
    assert!(seen.iter().all(|(_, body)| body == "recorded"), "{seen:?}");
    let (a, b) = (a.seen().len(), b.seen().len());
    assert!(
        a.min(b) == 1 && a + b == 6,
        "one ejected after one try: {a} {b}"
    );
    assert_eq!(ejections(&gateway.admin_get("/metrics").await.1), 1);
}

/// `consecutiveGatewayErrors: 2` with 5xx counting off: a 500 resets the
/// run (it is no gateway error), two 502s in a row eject.
#[tokio::test]
async fn gateway_errors_are_counted_apart() {
    // Answers, in order: 502, 500, 502, 502, then 200 (never reached).
    let failing = Recorder::start(|n| [502, 500, 502, 502].get(n).copied().unwrap_or(200)).await;
    let healthy = Recorder::start(|_| 200).await;
    let policy = "    outlierDetection: {consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, baseEjectionTime: 30s, maxEjectionPercent: 100}\n";
    let (_config, _gateway, address) = start(&[failing.address, healthy.address], policy).await;
    let seen = statuses(address, 12).await;
    let from_failing: Vec<u16> = seen.iter().map(|s| s.0).filter(|s| *s != 200).collect();
    assert_eq!(from_failing, [502, 500, 502, 502], "{seen:?}");
    assert_eq!(
        failing.seen().len(),
        4,
        "ejected after the second 502 in a row"
    );
}
