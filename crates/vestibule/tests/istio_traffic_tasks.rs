//! Istio traffic-management tasks not covered by a file of their own:
//! "Request Timeouts" (504 while the backend is slower than the route's
//! timeout), rewrites of the path and authority, and a fault delay at 50 %.
//! The real gateway process before httpbin.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::{httpbin, Client, ConfigDir, Gateway};

const HOST: &str = "bookinfo.example.com";

/// The `http` rules of the tasks, for `HOST`.
const RULES: &str = r#"  - match: [{uri: {prefix: /timeout}}]
    rewrite: {uri: /delay}
    timeout: 500ms
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
  - match: [{uri: {prefix: /v1/api/}}]
    rewrite: {uri: /, authority: httpbin.internal}
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
  - match: [{uri: {exact: /half-delayed}}]
    rewrite: {uri: /get}
    fault:
      delay: {fixedDelay: 1s, percentage: {value: 50}}
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
"#;

async fn start() -> (ConfigDir, Gateway, SocketAddr) {
    let backend = httpbin("httpbin").await;
    let config = ConfigDir::new();
    config.write("routes.yaml", &support::istio_host(HOST, RULES));
    config.write(
        "httpbin.yaml",
        &support::service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    (config, gateway, address)
}

/// "Request Timeouts": with `timeout: 500ms`, a backend that takes 2 s is
/// answered 504 `upstream request timeout` after the half second; one
/// that answers in time is served.
#[tokio::test]
async fn a_route_timeout_answers_504_while_the_backend_is_slow() {
    let (_config, _gateway, address) = start().await;
    let mut client = Client::connect(address).await;
    let started = Instant::now();
    let (status, _, body) = client.get(HOST, "/timeout/2").await;
    let took = started.elapsed();
    assert_eq!(status, 504);
    assert_eq!(&body[..], b"upstream request timeout");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    let (status, _, _) = client.get(HOST, "/timeout/0").await;
    assert_eq!(status, 200);
}

/// `rewrite.uri` replaces the matched prefix, `rewrite.authority` the
/// Host the backend sees.
#[tokio::test]
async fn rewrites_replace_the_prefix_and_the_authority() {
    let (_config, _gateway, address) = start().await;
    let (status, _, body) = Client::connect(address)
        .await
        .get(HOST, "/v1/api/anything/reviews?id=7")
        .await;
    assert_eq!(status, 200);
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        seen["url"], "http://httpbin.internal/anything/reviews?id=7",
        "{seen}"
    );
    assert_eq!(seen["headers"]["Host"], "httpbin.internal", "{seen}");
}

/// A delay at 50 % delays about half the requests (within 3 sigma of a
/// binomial), each by the whole delay.
#[tokio::test]
async fn a_delay_at_50_percent_delays_about_half() {
    let (_config, _gateway, address) = start().await;
    let requests = 80;
    let tasks: Vec<_> = (0..requests)
        .map(|_| {
            tokio::spawn(async move {
                let started = Instant::now();
                let (status, _, _) = Client::connect(address)
                    .await
                    .get(HOST, "/half-delayed")
                    .await;
                assert_eq!(status, 200);
                started.elapsed()
            })
        })
        .collect();
    let mut delayed = 0;
    for task in tasks {
        let took = task.await.unwrap();
        assert!(
            took < Duration::from_millis(800) || took >= Duration::from_millis(1000),
            "delayed by part of the delay: {took:?}"
        );
        delayed += usize::from(took >= Duration::from_millis(1000));
    }
    let (mean, sigma) = (40.0, (80.0f64 * 0.25).sqrt());
    assert!(
        (delayed as f64 - mean).abs() <= 3.0 * sigma,
        "{delayed} of {requests} delayed"
    );
}
