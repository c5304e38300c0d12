//! Gateway API: an HTTPS listener and TLS listeners on one port (the
//! spec's compatible listeners), each connection reaching the listener its
//! SNI names, with real clients: curl over HTTP/1.1 and HTTP/2 to the HTTPS
//! hostname, curl through the passthrough listener to a TLS backend that
//! terminates itself, and a TLS client through the terminating listener to
//! tcp-echo.

mod gateway_api_support;
mod support;

use std::time::Duration;

use gateway_api_support::{backend, condition, gateway_status, listener_status, start};
use support::l4::{tcp_echo, tls_backend};
use support::pki::{self, Ca};
use support::{service, ConfigDir};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const GATEWAY: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra}
spec:
  gatewayClassName: vestibule
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: web.example.org
    tls: {certificateRefs: [{name: web-cert}]}
  - name: passthrough
    port: 443
    protocol: TLS
    hostname: abc.example.com
    tls: {mode: Passthrough}
  - name: terminate
    port: 443
    protocol: TLS
    hostname: echo.example.org
    tls: {mode: Terminate, certificateRefs: [{name: echo-cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: infra}
spec:
  parentRefs: [{name: shared, sectionName: https}]
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: passthrough, namespace: infra}
spec:
  parentRefs: [{name: shared, sectionName: passthrough}]
  hostnames: [abc.example.com]
  rules:
  - backendRefs: [{name: tls-backend, port: 443}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: echo, namespace: infra}
spec:
  parentRefs: [{name: shared, sectionName: terminate}]
  rules:
  - backendRefs: [{name: tcp-echo, port: 9000}]
"#;

struct Setup {
    _config: ConfigDir,
    _files: tempfile::TempDir,
    gateway: support::Gateway,
    ca: Ca,
    ca_file: String,
}

async fn setup() -> Setup {
    let config = ConfigDir::new();
    config.write(
        "namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: infra\n",
    );
    backend(&config, "infra", "infra-backend-v1").await;
    let ca = Ca::new("shared port root");
    config.write(
        "certificates.yaml",
        &[
            pki::tls_secret("web-cert", "infra", &ca.server(&["web.example.org"]), None),
            pki::tls_secret(
                "echo-cert",
                "infra",
                &ca.server(&["echo.example.org"]),
                None,
            ),
        ]
        .join("---\n"),
    );
    let passthrough = tls_backend("tls-backend", &ca.server(&["abc.example.com"])).await;
    config.write(
        "tls-backend.yaml",
        &service("tls-backend", "infra", 443, &[passthrough]),
    );
    let echo = tcp_echo("echo").await;
    config.write(
        "tcp-echo.yaml",
        &service("tcp-echo", "infra", 9000, &[echo]),
    );
    config.write("gateway.yaml", GATEWAY);
    let gateway = start(&config, &[443]).await;
    let files = tempfile::tempdir().unwrap();
    let ca_file = pki::file(&files, "ca.crt", &ca.pem());
    Setup {
        _config: config,
        _files: files,
        gateway,
        ca,
        ca_file,
    }
}

impl Setup {
    /// curl over TLS to port 443 with SNI `sni`; `-i` output.
    async fn curl(&self, sni: &str, extra: &[&str]) -> String {
        let address = self.gateway.listener(443).await;
        let resolve = format!("{sni}:{}:127.0.0.1", address.port());
        let url = format!("https://{sni}:{}/get", address.port());
        let mut args = vec![
            "-sS",
            "-i",
            "--resolve",
            &resolve,
            "--cacert",
            &self.ca_file,
        ];
        args.extend_from_slice(extra);
        args.push(&url);
        support::curl(&args).await
    }
}

#[tokio::test]
async fn https_sni_is_terminated_into_http() {
    let setup = setup().await;
    for version in ["--http1.1", "--http2"] {
        let out = setup.curl("web.example.org", &[version]).await;
        let status = out.split_whitespace().nth(1);
        assert_eq!(status, Some("200"), "{version}: {out}");
        assert!(
            out.contains("x-httpbin-name: infra-backend-v1.infra"),
            "{version}: {out}"
        );
        // The ALPN protocol curl asked for is the one it got.
        let wanted = if version == "--http2" {
            "HTTP/2"
        } else {
            "HTTP/1.1"
        };
        assert!(out.starts_with(wanted), "{version}: {out}");
    }
    // A connection made for web.example.org asking for another listener's
    // host: its certificate does not cover that name.
    let out = setup
        .curl("web.example.org", &["-H", "Host: echo.example.org"])
        .await;
    assert_eq!(out.split_whitespace().nth(1), Some("421"), "{out}");
}

#[tokio::test]
async fn passthrough_sni_reaches_the_backend_that_terminates() {
    let setup = setup().await;
    // curl verifies the backend's own certificate for abc.example.com: the
    // gateway did not answer the handshake.
    let out = setup.curl("abc.example.com", &[]).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("hello from tls-backend"), "{out}");
}

#[tokio::test]
async fn terminate_sni_is_proxied_as_a_connection() {
    let setup = setup().await;
    let address = setup.gateway.listener(443).await;
    let mut stream =
        support::tls_client::handshake(address, "echo.example.org", &setup.ca.pem()).await;
    stream.write_all(b"ping\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(answer, "echo ping\necho bye\n");
}

#[tokio::test]
async fn an_sni_no_listener_names_gets_no_answer() {
    let setup = setup().await;
    let out = setup.curl("other.example.org", &[]).await;
    assert!(!out.contains("HTTP/"), "{out}");
}

#[tokio::test]
async fn every_listener_on_the_shared_port_is_programmed() {
    let setup = setup().await;
    let status = setup.gateway.status().await;
    let gateway = gateway_status(&status, "infra", "shared");
    for name in ["https", "passthrough", "terminate"] {
        let listener = listener_status(gateway, name);
        let conditions = &listener["conditions"];
        assert_eq!(condition(conditions, "Accepted").0, "True", "{name}");
        assert_eq!(condition(conditions, "Programmed").0, "True", "{name}");
        assert_eq!(
            condition(conditions, "Conflicted"),
            ("False".to_owned(), "NoConflicts".to_owned()),
            "{name}"
        );
        assert_eq!(listener["attachedRoutes"], 1, "{name}");
    }
}
