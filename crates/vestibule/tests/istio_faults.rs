//! Istio fault injection end to end (the "Injecting an HTTP delay/abort
//! fault" task): delays before the upstream call and outside the route
//! timeout, aborts answered with Envoy's fault filter reply without
//! contacting the backend, shares within a binomial bound, an unset
//! percentage injecting nothing, and gRPC aborts to a real gRPC client.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{get, service, ConfigDir, Gateway, Recorder, HOST, SEED_GATEWAY};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const FAULTS: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: faults
spec:
  hosts: [httpbin.example.com]
  gateways: [httpbin-gateway]
  http:
  - match: [{uri: {prefix: /delay}}]
    timeout: 200ms
    fault:
      delay: {fixedDelay: 600ms, percentage: {value: 100}}
    route: [{destination: {host: app, port: {number: 8000}}}]
  - match: [{uri: {prefix: /abort}}]
    fault:
      abort: {httpStatus: 418, percentage: {value: 100}}
    route: [{destination: {host: app, port: {number: 8000}}}]
  - match: [{uri: {prefix: /half}}]
    fault:
      abort: {httpStatus: 503, percentage: {value: 50}}
    route: [{destination: {host: app, port: {number: 8000}}}]
  - match: [{uri: {prefix: /unset}}]
    fault:
      delay: {fixedDelay: 2s}
      abort: {httpStatus: 500}
    route: [{destination: {host: app, port: {number: 8000}}}]
  - route: [{destination: {host: app, port: {number: 8000}}}]
"#;

async fn start() -> (ConfigDir, Gateway, Recorder, SocketAddr) {
    let app = Recorder::start(|_| 200).await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("vs.yaml", FAULTS);
    config.write("app.yaml", &service("app", "default", 8000, &[app.address]));
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    (config, gateway, app, address)
}

/// The delay is spent before the router starts the route timeout (Envoy's
/// fault filter sits before the router): a 600 ms delay on a route with a
/// 200 ms timeout still reaches the backend and answers 200.
#[tokio::test]
async fn a_delay_at_100_percent_comes_before_the_upstream_and_outside_the_route_timeout() {
    let (_config, _gateway, app, address) = start().await;
    for _ in 0..3 {
        let started = Instant::now();
        let (status, _, _) = get(address, HOST, "/delay").await;
        let elapsed = started.elapsed();
        assert_eq!(status, 200, "the delay does not count against the timeout");
        assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
    }
    assert_eq!(app.seen().len(), 3);
    // A route without a fault is not delayed.
    let started = Instant::now();
    assert_eq!(get(address, HOST, "/other").await.0, 200);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn an_abort_at_100_percent_answers_as_envoys_fault_filter_and_skips_the_backend() {
    let (_config, _gateway, app, address) = start().await;
    for _ in 0..5 {
        let (status, headers, body) = get(address, HOST, "/abort").await;
        assert_eq!(status, 418);
        assert_eq!(&body[..], b"fault filter abort");
        assert_eq!(headers["content-type"], "text/plain");
    }
    assert!(app.seen().is_empty(), "{:?}", app.seen());
}

/// 200 draws at 50 %: the aborted count is Binomial(200, 0.5), mean 100,
/// sigma √50 ≈ 7.1; 3 sigma is ±21.
#[tokio::test]
async fn an_abort_at_50_percent_aborts_half_within_three_sigma() {
    let (_config, _gateway, app, address) = start().await;
    let mut aborted = 0;
    for _ in 0..200 {
        let (status, _, body) = get(address, HOST, "/half").await;
        match status.as_u16() {
            503 => {
                assert_eq!(&body[..], b"fault filter abort");
                aborted += 1;
            }
            200 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((79..=121).contains(&aborted), "aborted {aborted} of 200");
    assert_eq!(
        app.seen().len(),
        200 - aborted,
        "aborted requests never reach the backend"
    );
}

/// istio/api: "If left unspecified, no request will be delayed / aborted."
#[tokio::test]
async fn an_unset_percentage_injects_nothing() {
    let (_config, _gateway, app, address) = start().await;
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(get(address, HOST, "/unset").await.0, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no request was delayed by 2 s: {:?}",
        started.elapsed()
    );
    assert_eq!(app.seen().len(), 20);
}

/// Debian's python3 with python3-grpcio (scripts/test installs it).
const PYTHON: &str = "/usr/bin/python3";

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/grpc_peer.py")
}

async fn grpc_server(name: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(PYTHON)
        .arg(peer_script())
        .args(["serve", name])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 with grpcio");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("gRPC server started")
        .unwrap()
        .expect("port line");
    let port: u16 = line.strip_prefix("port ").unwrap().parse().unwrap();
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// One call of `/echo.Echo/<method>` with the real client; its summary line.
async fn call(target: SocketAddr, method: &str, payload: &str) -> String {
    let output = Command::new(PYTHON)
        .arg(peer_script())
        .args(["call", &target.to_string(), method, payload, "10"])
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

const GRPC_FAULTS: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: grpc-gateway
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: grpc, protocol: GRPC}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: echo
spec:
  hosts: ["*"]
  gateways: [grpc-gateway]
  http:
  - match: [{uri: {exact: /echo.Echo/Unary}}]
    fault:
      abort: {grpcStatus: RESOURCE_EXHAUSTED, percentage: {value: 100}}
    route: [{destination: {host: echo, port: {number: 9000}}}]
  - match: [{uri: {exact: /echo.Echo/Fail}}]
    fault:
      abort: {httpStatus: 403, percentage: {value: 100}}
    route: [{destination: {host: echo, port: {number: 9000}}}]
  - route: [{destination: {host: echo, port: {number: 9000}}}]
"#;

/// Envoy answers a gRPC request's abort trailers-only: the configured
/// grpc-status, or the HTTP status mapped (403 → PERMISSION_DENIED), with
/// "fault filter abort" as the message.
#[tokio::test]
async fn grpc_aborts_reach_a_real_grpc_client_as_statuses() {
    let (_server, backend) = grpc_server("echo-v1").await;
    let config = ConfigDir::new();
    config.write(
        "echo.yaml",
        &service("echo", "default", 9000, &[backend]).replace("- name: http\n", "- name: grpc\n"),
    );
    config.write("routes.yaml", GRPC_FAULTS);
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    assert_eq!(
        call(address, "Unary", "x").await,
        "code=RESOURCE_EXHAUSTED details=fault filter abort reply= trailers="
    );
    assert_eq!(
        call(address, "Fail", "x").await,
        "code=PERMISSION_DENIED details=fault filter abort reply= trailers="
    );
    // The route without a fault reaches the server.
    let stream = call(address, "Stream", "2").await;
    assert_eq!(
        stream,
        "code=OK details= reply=0,1 trailers=x-served-by=echo-v1,x-count=2"
    );
}
