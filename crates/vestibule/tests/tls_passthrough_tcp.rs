//! Istio's "Ingress Gateway without TLS Termination" (SNI passthrough to a
//! TLS backend) and "TCP Traffic Shifting" (weighted TCP routes), end to
//! end: curl and raw sockets through the real gateway to real backends.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::l4::{tcp_echo, tls_backend};
use support::pki::{self, Ca};
use support::{service, ConfigDir, Gateway};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

async fn curl(args: &[&str]) -> String {
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .await
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const PASSTHROUGH: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: mygateway
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: PASSTHROUGH}
    hosts: ["nginx.example.com", "other.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: nginx
spec:
  hosts: ["nginx.example.com"]
  gateways: ["mygateway"]
  tls:
  - match:
    - port: 443
      sniHosts: ["nginx.example.com"]
    route:
    - destination: {host: my-nginx, port: {number: 443}}
"#;

#[tokio::test]
async fn passthrough_forwards_the_tls_stream_to_the_backend_by_sni() {
    let ca = Ca::new("nginx root");
    let nginx = tls_backend("nginx", &ca.server(&["nginx.example.com"])).await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", PASSTHROUGH);
    config.write("nginx.yaml", &service("my-nginx", "default", 443, &[nginx]));
    let gateway = Gateway::start(config.path(), &[443], &[]).await;
    let address = gateway.listener(443).await;
    let files = tempfile::tempdir().unwrap();
    let ca_file = pki::file(&files, "ca.crt", &ca.pem());
    // The backend's certificate verifies: the gateway did not terminate.
    let resolve = format!("nginx.example.com:{}:127.0.0.1", address.port());
    let url = format!("https://nginx.example.com:{}/", address.port());
    let out = curl(&["--resolve", &resolve, "--cacert", &ca_file, &url]).await;
    assert_eq!(out, "hello from nginx");
    // An SNI the gateway's server takes but no route does: closed.
    let resolve = format!("other.example.com:{}:127.0.0.1", address.port());
    let url = format!("https://other.example.com:{}/", address.port());
    let out = curl(&["--resolve", &resolve, "--cacert", &ca_file, &url]).await;
    assert!(!out.contains("hello"), "{out}");
}

const TCP_SHIFT: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: tcp-echo-gateway
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tcp-echo
spec:
  hosts: ["*"]
  gateways: [tcp-echo-gateway]
  tcp:
  - match:
    - port: 31400
    route:
    - destination: {host: tcp-echo-v1, port: {number: 9000}}
      weight: WEIGHT_ONE
    - destination: {host: tcp-echo-v2, port: {number: 9000}}
      weight: WEIGHT_TWO
"#;

async fn tcp_gateway(one: u32, two: u32) -> (ConfigDir, Gateway) {
    let v1 = tcp_echo("one").await;
    let v2 = tcp_echo("two").await;
    let config = ConfigDir::new();
    config.write("v1.yaml", &service("tcp-echo-v1", "default", 9000, &[v1]));
    config.write("v2.yaml", &service("tcp-echo-v2", "default", 9000, &[v2]));
    config.write(
        "gateway.yaml",
        &TCP_SHIFT
            .replace("WEIGHT_ONE", &one.to_string())
            .replace("WEIGHT_TWO", &two.to_string()),
    );
    let gateway = Gateway::start(config.path(), &[31400], &[]).await;
    (config, gateway)
}

/// Sends one line, half-closes, and reads everything back.
async fn echo(address: SocketAddr, line: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .expect("answer in time")
        .unwrap();
    answer
}

#[tokio::test]
async fn tcp_routes_split_connections_by_weight_and_half_close() {
    let (_config, gateway) = tcp_gateway(80, 20).await;
    let address = gateway.listener(31400).await;
    let mut ones = 0;
    let connections = 200;
    for n in 0..connections {
        let answer = echo(address, &format!("hello {n}")).await;
        // Both halves close on their own: the reply after the client's
        // half-close still arrives.
        match answer.as_str() {
            a if a == format!("one hello {n}\none bye\n") => ones += 1,
            a if a == format!("two hello {n}\ntwo bye\n") => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    // 80 % ± a wide margin (binomial, n = 200: σ ≈ 5.7).
    assert!(
        (130..=185).contains(&ones),
        "{ones} of {connections} went to v1"
    );
}

#[tokio::test]
async fn all_weight_on_one_version_sends_every_connection_there() {
    let (_config, gateway) = tcp_gateway(0, 100).await;
    let address = gateway.listener(31400).await;
    for n in 0..20 {
        assert_eq!(
            echo(address, "x").await,
            "two x\ntwo bye\n",
            "connection {n}"
        );
    }
    // Istio's TCP metrics: 20 connections, 2 bytes in and 14 out each.
    let (_, metrics) = gateway.admin_get("/metrics").await;
    for (name, value) in [
        ("istio_tcp_connections_opened_total", 20),
        ("istio_tcp_connections_closed_total", 20),
        ("istio_tcp_received_bytes_total", 40),
        ("istio_tcp_sent_bytes_total", 280),
    ] {
        let line = metrics
            .lines()
            .find(|line| {
                line.starts_with(&format!("{name}{{"))
                    && line
                        .contains("destination_service=\"tcp-echo-v2.default.svc.cluster.local\"")
            })
            .unwrap_or_else(|| panic!("no {name} series for v2:\n{metrics}"));
        assert!(line.contains("request_protocol=\"tcp\""), "{line}");
        assert!(line.contains("response_flags=\"-\""), "{line}");
        assert!(line.ends_with(&format!(" {value}")), "{line}");
    }
}

#[tokio::test]
async fn a_tcp_route_to_a_closed_port_closes_the_connection() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let config = ConfigDir::new();
    one_backend_config(&config, closed, "TCP");
    let gateway = Gateway::start(config.path(), &[31400], &[]).await;
    let address = gateway.listener(31400).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"x\n").await.unwrap();
    let mut answer = Vec::new();
    // Closed with nothing sent back: EOF, or a reset (the gateway closes
    // with the client's line unread).
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("closed in time");
    assert!(read.is_ok() || read.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset));
    assert!(answer.is_empty());
    let (_, metrics) = gateway.admin_get("/metrics").await;
    assert!(
        metrics.contains("vestibule_upstream_stream_connect_failures_total 1"),
        "{metrics}"
    );
    let failed = metrics
        .lines()
        .find(|line| {
            line.starts_with("istio_tcp_connections_opened_total{")
                && line.contains("response_flags=\"UF\"")
        })
        .unwrap_or_else(|| panic!("no UF series:\n{metrics}"));
    assert!(failed.ends_with(" 1"), "{failed}");
}

/// Istio's TLS server in SIMPLE mode with a `tcp` route: the gateway
/// terminates TLS and proxies the decrypted stream (Gateway API: a TLS
/// listener in Terminate mode).
#[tokio::test]
async fn a_terminating_tls_server_proxies_the_decrypted_stream() {
    let v1 = tcp_echo("one").await;
    let ca = Ca::new("tls root");
    let config = ConfigDir::new();
    config.write("v1.yaml", &service("tcp-echo-v1", "default", 9000, &[v1]));
    config.write(
        "secret.yaml",
        &pki::tls_secret(
            "echo-credential",
            "istio-system",
            &ca.server(&["echo.example.com"]),
            None,
        ),
    );
    config.write(
        "gateway.yaml",
        r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: tls-echo
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 31443, name: tls, protocol: TLS}
    tls: {mode: SIMPLE, credentialName: echo-credential}
    hosts: ["echo.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tls-echo
spec:
  hosts: ["echo.example.com"]
  gateways: [tls-echo]
  tcp:
  - route:
    - destination: {host: tcp-echo-v1, port: {number: 9000}}
"#,
    );
    let gateway = Gateway::start(config.path(), &[31443], &[]).await;
    let address = gateway.listener(31443).await;
    let mut stream = support::tls_client::handshake(address, "echo.example.com", &ca.pem()).await;
    stream.write_all(b"over tls\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .expect("in time")
        .ok();
    assert_eq!(answer, "one over tls\none bye\n");
}

/// A TCP route to a backend whose DestinationRule asks for TLS: the
/// gateway originates TLS (SNI, CA from the Secret) under the client's
/// plain TCP, never sending the bytes in the clear.
#[tokio::test]
async fn tcp_routes_originate_tls_when_the_destination_rule_asks() {
    let ca = Ca::new("backend root");
    let nginx = tls_backend("nginx", &ca.server(&["my-nginx.default.svc.cluster.local"])).await;
    let config = ConfigDir::new();
    config.write("nginx.yaml", &service("my-nginx", "default", 443, &[nginx]));
    config.write(
        "ca.yaml",
        &pki::generic_secret("nginx-ca", "istio-system", &[("ca.crt", &ca.pem())]),
    );
    config.write(
        "gateway.yaml",
        r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: tcp-gateway
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: to-nginx
spec:
  hosts: ["*"]
  gateways: [tcp-gateway]
  tcp:
  - route:
    - destination: {host: my-nginx, port: {number: 443}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: my-nginx
spec:
  host: my-nginx
  trafficPolicy:
    tls: {mode: SIMPLE, credentialName: nginx-ca}
"#,
    );
    let gateway = Gateway::start(config.path(), &[31400], &[]).await;
    let address = gateway.listener(31400).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: my-nginx\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .expect("in time")
        .ok();
    assert!(answer.ends_with("hello from nginx"), "{answer:?}");
}

/// A backend that speaks first, as SMTP and MySQL servers do.
async fn greeter() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.write_all(b"220 greeter ready\r\n").await;
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest).await;
            });
        }
    });
    address
}

/// `TCP_SHIFT` on a server of `protocol`, both versions at `backend`.
fn one_backend_config(config: &ConfigDir, backend: SocketAddr, protocol: &str) {
    for name in ["tcp-echo-v1", "tcp-echo-v2"] {
        config.write(
            &format!("{name}.yaml"),
            &service(name, "default", 9000, &[backend]),
        );
    }
    config.write(
        "gateway.yaml",
        &TCP_SHIFT
            .replace("protocol: TCP", &format!("protocol: {protocol}"))
            .replace("WEIGHT_ONE", "50")
            .replace("WEIGHT_TWO", "50"),
    );
}

/// Connects and, sending nothing, reads the backend's greeting: well
/// inside the second a deferred accept would hold the connection.
async fn assert_greeted_at_once(address: SocketAddr) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut greeting = [0; 19];
    tokio::time::timeout(Duration::from_millis(500), stream.read_exact(&mut greeting))
        .await
        .expect("the greeting came at once")
        .unwrap();
    assert_eq!(&greeting, b"220 greeter ready\r\n");
}

/// Connections the listener on `port` has accepted (its status).
async fn accepted(gateway: &Gateway, port: u16) -> u64 {
    let status = gateway.status().await;
    status["listeners"]
        .as_array()
        .and_then(|listeners| listeners.iter().find(|l| l["port"] == port))
        .and_then(|l| l["acceptedConnections"].as_u64())
        .unwrap_or_else(|| panic!("no count for listener {port}: {status:#}"))
}

/// A TCP listener hands a connection over as soon as it is made: the
/// protocol behind it may have the server speak first, so the gateway
/// connects upstream before the client has sent anything. (HTTP and TLS
/// listeners wait for the client's first bytes: `TCP_DEFER_ACCEPT`.)
#[tokio::test]
async fn a_server_that_speaks_first_greets_a_silent_client_at_once() {
    let config = ConfigDir::new();
    one_backend_config(&config, greeter().await, "TCP");
    let gateway = Gateway::start(config.path(), &[31400], &[]).await;
    assert_greeted_at_once(gateway.listener(31400).await).await;
}

/// A port that changes from HTTP (accepting deferred) to TCP stops
/// deferring on the reload, without being bound again.
#[tokio::test]
async fn a_port_turned_from_http_to_tcp_stops_waiting_for_the_client() {
    let config = ConfigDir::new();
    let backend = greeter().await;
    one_backend_config(&config, backend, "HTTP");
    let gateway = Gateway::start(config.path(), &[31400], &[]).await;
    let address = gateway.listener(31400).await;
    // Deferred: a connection that has sent nothing is not accepted yet.
    let _held = TcpStream::connect(address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        accepted(&gateway, 31400).await,
        0,
        "a silent connection was accepted"
    );
    let generation = gateway.generation().await;
    one_backend_config(&config, backend, "TCP");
    gateway.wait_generation(generation + 1).await;
    assert_eq!(gateway.listener(31400).await, address, "bound again");
    assert_greeted_at_once(address).await;
}
