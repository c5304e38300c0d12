//! Gateway API HTTPS, TLS and TCP listeners end to end, as the conformance
//! tests HTTPRouteHTTPSListener, TLSRouteSimpleSameNamespace and
//! TCPRouteWeightedRouting exercise them, with real clients.

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
metadata:
  name: same-namespace
  namespace: infra
spec:
  gatewayClassName: vestibule
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: example.org
    tls:
      certificateRefs: [{name: tls-validity-checks-certificate}]
  - name: https-second
    port: 443
    protocol: HTTPS
    hostname: second-example.org
    tls:
      certificateRefs: [{name: second-certificate}]
  - name: tls
    port: 8443
    protocol: TLS
    tls: {mode: Passthrough}
  - name: tcp
    port: 9000
    protocol: TCP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: https-route
  namespace: infra
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [example.org, second-example.org]
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: gateway-conformance-infra-test
  namespace: infra
spec:
  parentRefs: [{name: same-namespace, sectionName: tls}]
  hostnames: [abc.example.com]
  rules:
  - backendRefs: [{name: tls-backend, port: 443}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata:
  name: tcp-weighted
  namespace: infra
spec:
  parentRefs: [{name: same-namespace, sectionName: tcp}]
  rules:
  - backendRefs:
    - {name: tcp-v1, port: 9000, weight: 0}
    - {name: tcp-v2, port: 9000, weight: 1}
"#;

struct Setup {
    _config: ConfigDir,
    _files: tempfile::TempDir,
    gateway: support::Gateway,
    ca_file: String,
}

async fn setup() -> Setup {
    let config = ConfigDir::new();
    config.write(
        "namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: infra\n",
    );
    backend(&config, "infra", "infra-backend-v1").await;
    let ca = Ca::new("conformance root");
    config.write(
        "certificates.yaml",
        &[
            pki::tls_secret(
                "tls-validity-checks-certificate",
                "infra",
                &ca.server(&["example.org"]),
                None,
            ),
            pki::tls_secret(
                "second-certificate",
                "infra",
                &ca.server(&["second-example.org"]),
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
    let v1 = tcp_echo("one").await;
    let v2 = tcp_echo("two").await;
    config.write("tcp-v1.yaml", &service("tcp-v1", "infra", 9000, &[v1]));
    config.write("tcp-v2.yaml", &service("tcp-v2", "infra", 9000, &[v2]));
    config.write("gateway.yaml", GATEWAY);
    let gateway = start(&config, &[443, 8443, 9000]).await;
    let files = tempfile::tempdir().unwrap();
    let ca_file = pki::file(&files, "ca.crt", &ca.pem());
    Setup {
        _config: config,
        _files: files,
        gateway,
        ca_file,
    }
}

impl Setup {
    /// curl over TLS to `port` with SNI `sni`; `-i` output.
    async fn curl(&self, port: u16, sni: &str, extra: &[&str]) -> String {
        let address = self.gateway.listener(port).await;
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
async fn https_listeners_terminate_by_hostname_and_refuse_misdirected_requests() {
    let setup = setup().await;
    for host in ["example.org", "second-example.org"] {
        for version in ["--http1.1", "--http2"] {
            let out = setup.curl(443, host, &[version]).await;
            assert!(out.starts_with("HTTP/"), "{host} {version}: {out}");
            assert!(out.contains(" 200"), "{host} {version}: {out}");
            assert!(
                out.contains("x-httpbin-name: infra-backend-v1.infra"),
                "{host} {version}: {out}"
            );
        }
    }
    // A connection made for example.org asked for second-example.org: the
    // certificate it got does not cover that name.
    for version in ["--http1.1", "--http2"] {
        let out = setup
            .curl(
                443,
                "example.org",
                &[version, "-H", "Host: second-example.org"],
            )
            .await;
        let status = out.split_whitespace().nth(1);
        assert_eq!(status, Some("421"), "{version}: {out}");
    }
    let status = setup.gateway.status().await;
    let gateway = gateway_status(&status, "infra", "same-namespace");
    for name in ["https", "https-second", "tls", "tcp"] {
        let listener = listener_status(gateway, name);
        assert_eq!(
            condition(&listener["conditions"], "Programmed").0,
            "True",
            "{name}"
        );
        assert_eq!(listener["attachedRoutes"], 1, "{name}");
    }
}

#[tokio::test]
async fn tls_routes_pass_the_stream_through_by_sni() {
    let setup = setup().await;
    let out = setup.curl(8443, "abc.example.com", &[]).await;
    assert!(out.ends_with("hello from tls-backend"), "{out}");
    let other = setup.curl(8443, "xyz.example.com", &[]).await;
    assert!(!other.contains("hello"), "{other}");
}

#[tokio::test]
async fn tcp_routes_send_every_connection_to_the_weighted_backend() {
    let setup = setup().await;
    let address = setup.gateway.listener(9000).await;
    for n in 0..10 {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(format!("{n}\n").as_bytes()).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
            .await
            .expect("in time")
            .unwrap();
        assert_eq!(answer, format!("two {n}\ntwo bye\n"));
    }
}

/// A Gateway whose `spec.tls.frontend.default` validates client
/// certificates with a ConfigMap CA (`mode` when given), in front of
/// infra-backend-v1; and the CA that signs accepted client certificates.
async fn mtls_setup(mode: Option<&str>) -> (Setup, Ca) {
    let config = ConfigDir::new();
    config.write(
        "namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: infra\n",
    );
    backend(&config, "infra", "infra-backend-v1").await;
    let ca = Ca::new("server root");
    let clients = Ca::new("client root");
    config.write(
        "certificate.yaml",
        &pki::tls_secret(
            "server-cert",
            "infra",
            &ca.server(&["mtls.example.org"]),
            None,
        ),
    );
    let indented: String = clients
        .pem()
        .lines()
        .map(|line| format!("    {line}\n"))
        .collect();
    config.write(
        "client-ca.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: client-ca\n  namespace: infra\ndata:\n  ca.crt: |\n{indented}"
        ),
    );
    let mode = mode.map_or(String::new(), |mode| format!("\n          mode: {mode}"));
    config.write("gateway.yaml", &MTLS_GATEWAY.replace("MODE", &mode));
    let gateway = start(&config, &[443]).await;
    let files = tempfile::tempdir().unwrap();
    let setup = Setup {
        _config: config,
        ca_file: pki::file(&files, "ca.crt", &ca.pem()),
        _files: files,
        gateway,
    };
    (setup, clients)
}

const MTLS_GATEWAY: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: mtls, namespace: infra}
spec:
  gatewayClassName: vestibule
  tls:
    frontend:
      default:
        validation:
          caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]MODE
  listeners:
  - name: strict
    port: 443
    protocol: HTTPS
    hostname: mtls.example.org
    tls: {certificateRefs: [{name: server-cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mtls, namespace: infra}
spec:
  parentRefs: [{name: mtls}]
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
"#;

impl Setup {
    /// curl to the mTLS listener with `leaf` as the client certificate.
    async fn curl_as(&self, leaf: Option<&pki::Leaf>) -> String {
        let Some(leaf) = leaf else {
            return self.curl(443, "mtls.example.org", &[]).await;
        };
        let cert = pki::file(&self._files, "client.crt", &leaf.cert);
        let key = pki::file(&self._files, "client.key", &leaf.key);
        self.curl(443, "mtls.example.org", &["--cert", &cert, "--key", &key])
            .await
    }
}

/// GatewayFrontendClientCertificateValidation: `spec.tls.frontend.default`
/// with a ConfigMap CA requires a client certificate from that CA.
#[tokio::test]
async fn frontend_validation_requires_a_client_certificate_from_the_ca() {
    let (setup, clients) = mtls_setup(None).await;
    let without = setup.curl_as(None).await;
    assert!(!without.contains(" 200"), "{without}");
    let stranger = Ca::new("stranger").client(&["client.example.org"]);
    let refused = setup.curl_as(Some(&stranger)).await;
    assert!(!refused.contains(" 200"), "{refused}");
    let with = setup
        .curl_as(Some(&clients.client(&["client.example.org"])))
        .await;
    assert!(with.contains(" 200"), "{with}");
    assert!(
        with.contains("x-httpbin-name: infra-backend-v1.infra"),
        "{with}"
    );
}

/// GatewayFrontendClientCertificateValidationInsecureFallback: with
/// `AllowInsecureFallback` a client without a certificate, or with one the
/// CA did not sign, is served too.
#[tokio::test]
async fn insecure_fallback_serves_clients_without_a_valid_certificate() {
    let (setup, clients) = mtls_setup(Some("AllowInsecureFallback")).await;
    let stranger = Ca::new("stranger").client(&["client.example.org"]);
    let valid = clients.client(&["client.example.org"]);
    for (who, leaf) in [
        ("none", None),
        ("stranger", Some(&stranger)),
        ("valid", Some(&valid)),
    ] {
        let out = setup.curl_as(leaf).await;
        assert!(out.contains(" 200"), "{who}: {out}");
    }
}

/// The Gateway says its validation is weakened: condition
/// `InsecureFrontendValidationMode=True/ConfigurationChanged` with
/// `AllowInsecureFallback`, none with the default mode.
#[tokio::test]
async fn insecure_fallback_shows_on_the_gateway() {
    for (mode, expected) in [
        (Some("AllowInsecureFallback"), Some("ConfigurationChanged")),
        (None, None),
    ] {
        let (setup, _) = mtls_setup(mode).await;
        let status = setup.gateway.status().await;
        let gateway = gateway_status(&status, "infra", "mtls");
        let found = gateway["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .find(|c| c["type"] == "InsecureFrontendValidationMode");
        match expected {
            Some(reason) => {
                let condition = found.unwrap_or_else(|| panic!("{mode:?}: {gateway:#}"));
                assert_eq!(condition["status"], "True", "{mode:?}");
                assert_eq!(condition["reason"], reason, "{mode:?}");
            }
            None => assert!(found.is_none(), "{mode:?}: {gateway:#}"),
        }
    }
}
