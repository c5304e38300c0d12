//! gRPC through the gateway with a real gRPC client and server (grpcio's C
//! core, `support/grpc_peer.py`): unary and server-streaming calls with
//! trailers end to end, the client's deadline, and the errors the gateway
//! itself makes, in gRPC's terms as Envoy sends them.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{service, ConfigDir, Gateway};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Debian's python3 with python3-grpcio (scripts/test installs it).
const PYTHON: &str = "/usr/bin/python3";

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/grpc_peer.py")
}

/// A gRPC server named `name`; the child must be kept alive.
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

/// An HTTP/2 (prior knowledge) backend that ignores `grpc-timeout` and
/// answers after 3 s: only the gateway can end a call to it sooner.
async fn sleeper() -> SocketAddr {
    use http_body_util::BodyExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(
                |request: http::Request<hyper::body::Incoming>| async move {
                    let _ = request.into_body().collect().await;
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    let response = http::Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "0")
                        .body(http_body_util::Empty::<bytes::Bytes>::new())
                        .unwrap();
                    Ok::<_, std::convert::Infallible>(response)
                },
            );
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    address
}

/// One call with the real client; its one-line summary.
async fn call(target: SocketAddr, method: &str, payload: &str, timeout: &str) -> String {
    let output = Command::new(PYTHON)
        .arg(peer_script())
        .args(["call", &target.to_string(), method, payload, timeout])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        !stdout.is_empty(),
        "client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

const ROUTES: &str = r#"
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
  - match:
    - uri: {prefix: /echo.Echo/Slow}
    timeout: 1s
    route:
    - destination: {host: echo, port: {number: 9000}}
  - match:
    - uri: {prefix: /echo.Echo/}
    route:
    - destination: {host: echo, port: {number: 9000}}
  - match:
    - uri: {prefix: /sleep.Sleep/}
    route:
    - destination: {host: sleeper, port: {number: 9000}}
  - match:
    - uri: {prefix: /down.Down/}
    route:
    - destination: {host: nobody, port: {number: 9000}}
"#;

async fn setup() -> (ConfigDir, Gateway, Child, SocketAddr) {
    let (server, address) = grpc_server("echo-v1").await;
    let config = ConfigDir::new();
    config.write(
        "echo.yaml",
        &service("echo", "default", 9000, &[address]).replace("- name: http\n", "- name: grpc\n"),
    );
    config.write(
        "nobody.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: nobody\nspec:\n  ports:\n  - name: grpc\n    port: 9000\n",
    );
    let sleeper = sleeper().await;
    config.write(
        "sleeper.yaml",
        &service("sleeper", "default", 9000, &[sleeper])
            .replace("- name: http\n", "- name: grpc\n"),
    );
    config.write("routes.yaml", ROUTES);
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let listener = gateway.listener(80).await;
    (config, gateway, server, listener)
}

#[tokio::test]
async fn unary_and_streaming_calls_pass_with_their_trailers() {
    let (_config, _gateway, _server, address) = setup().await;
    let unary = call(address, "Unary", "hello", "10").await;
    assert_eq!(
        unary,
        "code=OK details= reply=hello trailers=x-served-by=echo-v1"
    );
    let stream = call(address, "Stream", "4", "10").await;
    assert_eq!(
        stream,
        "code=OK details= reply=0,1,2,3 trailers=x-served-by=echo-v1,x-count=4"
    );
    // An application error travels in the upstream's trailers untouched.
    let failed = call(address, "Fail", "x", "10").await;
    assert_eq!(
        failed,
        "code=NOT_FOUND details=no such thing: x reply= trailers="
    );
}

#[tokio::test]
async fn gateway_errors_are_grpc_statuses_as_envoy_sends_them() {
    let (_config, _gateway, _server, address) = setup().await;
    // No route: 404 → UNIMPLEMENTED.
    let unrouted = call(address, "Missing", "x", "10").await;
    assert!(unrouted.starts_with("code=UNIMPLEMENTED "), "{unrouted}");
    // A path no route takes at all.
    let no_route = call_path(address, "/other.Service/Method").await;
    assert!(no_route.starts_with("code=UNIMPLEMENTED "), "{no_route}");
    // No endpoints: 503 → UNAVAILABLE, with Envoy's text.
    let down = call_path(address, "/down.Down/Call").await;
    assert_eq!(
        down,
        "code=UNAVAILABLE details=no healthy upstream reply= trailers="
    );
    // The route's 1 s timeout: 504 → UNAVAILABLE, "upstream request timeout".
    let started = Instant::now();
    let slow = call(address, "Slow", "x", "10").await;
    assert_eq!(
        slow,
        "code=UNAVAILABLE details=upstream request timeout reply= trailers="
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_clients_grpc_timeout_bounds_the_upstream_call() {
    let (_config, _gateway, _server, address) = setup().await;
    // The real client with a 0.5 s deadline: the call ends at it. The
    // client's own timer and the gateway's (from the `grpc-timeout` the
    // client sent: what was left of the 0.5 s) run out together; the client
    // reads DEADLINE_EXCEEDED when its timer is first (usually), the
    // gateway's UNAVAILABLE when the gateway's answer is (on a loaded
    // machine, where the client's timer fires late): Envoy's race too.
    let started = Instant::now();
    let slow = call(address, "Slow", "x", "0.5").await;
    assert!(
        slow.starts_with("code=DEADLINE_EXCEEDED ")
            || slow.starts_with("code=UNAVAILABLE details=upstream request timeout "),
        "{slow}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // A client that sends `grpc-timeout: 300m` and waits, to a backend
    // that ignores deadlines: the gateway gives up upstream at 300 ms
    // (no route timeout here) and says so.
    let started = Instant::now();
    let answer = call_path_with(address, "/sleep.Sleep/Call", &[("grpc-timeout", "300m")]).await;
    let elapsed = started.elapsed();
    assert_eq!(
        answer,
        "code=UNAVAILABLE details=upstream request timeout reply= trailers="
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(900),
        "{elapsed:?}"
    );
}

/// A call to any path (the client takes the method from `/echo.Echo/`;
/// this one goes through a tiny HTTP/2 client instead).
async fn call_path(address: SocketAddr, path: &str) -> String {
    call_path_with(address, path, &[]).await
}

async fn call_path_with(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> String {
    use bytes::Bytes;
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut client, connection) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::post(format!("http://grpc.example.com{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(()).unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    send.send_data(Bytes::from_static(&[0, 0, 0, 0, 1, b'x']), true)
        .unwrap();
    let response = response.await.unwrap();
    let (head, mut body) = response.into_parts();
    assert_eq!(head.status, 200, "gRPC answers are HTTP 200");
    assert_eq!(head.headers["content-type"], "application/grpc");
    assert!(body.data().await.is_none(), "trailers-only: no body");
    let status: u8 = head.headers["grpc-status"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let name = match status {
        12 => "UNIMPLEMENTED",
        14 => "UNAVAILABLE",
        other => panic!("grpc-status {other}"),
    };
    let details = head
        .headers
        .get("grpc-message")
        .map_or("None".to_owned(), |m| m.to_str().unwrap().to_owned());
    format!("code={name} details={details} reply= trailers=")
}

/// Istio's metrics count gRPC calls as `grpc`, with the call's status: from
/// the upstream's trailers, or from the gateway's own trailers-only answer.
#[tokio::test]
async fn istio_metrics_carry_the_grpc_status() {
    let (_config, gateway, _server, address) = setup().await;
    assert!(call(address, "Unary", "hello", "10")
        .await
        .starts_with("code=OK "));
    assert!(call(address, "Fail", "x", "10")
        .await
        .starts_with("code=NOT_FOUND "));
    let down = call_path(address, "/down.Down/Call").await;
    assert!(down.starts_with("code=UNAVAILABLE "), "{down}");
    let (_, metrics) = gateway.admin_get("/metrics").await;
    let count = |needles: &[&str]| -> Vec<String> {
        metrics
            .lines()
            .filter(|line| line.starts_with("istio_requests_total{"))
            .filter(|line| line.contains("request_protocol=\"grpc\""))
            .filter(|line| needles.iter().all(|needle| line.contains(needle)))
            .map(str::to_owned)
            .collect()
    };
    let ok = count(&[
        "destination_service=\"echo.default.svc.cluster.local\"",
        "response_code=\"200\"",
        "grpc_response_status=\"0\"",
    ]);
    assert_eq!(ok.len(), 1, "{metrics}");
    assert!(ok[0].ends_with(" 1"), "{}", ok[0]);
    let not_found = count(&["grpc_response_status=\"5\"", "response_flags=\"-\""]);
    assert_eq!(not_found.len(), 1, "{metrics}");
    assert!(not_found[0].ends_with(" 1"), "{}", not_found[0]);
    let unavailable = count(&[
        "destination_service=\"nobody.default.svc.cluster.local\"",
        "grpc_response_status=\"14\"",
        "response_flags=\"UH\"",
    ]);
    assert_eq!(unavailable.len(), 1, "{metrics}");
    assert!(unavailable[0].ends_with(" 1"), "{}", unavailable[0]);
}
