//! Istio's "Secure Gateways" task, end to end: HTTPS termination with
//! certificates from Secrets, SNI, HTTP/2 over TLS, mutual TLS, protocol
//! versions, rotation and `httpsRedirect` — against real curl and openssl.

mod support;

use std::time::Duration;

use support::pki::{self, Ca};
use support::{httpbin, service, ConfigDir, Gateway};

const HTTPBIN_VS: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: ["httpbin.example.com"]
  gateways: ["mygateway"]
  http:
  - match:
    - uri: {prefix: /status}
    - uri: {prefix: /delay}
    route:
    - destination: {port: {number: 8000}, host: httpbin}
"#;

fn gateway_yaml(mode: &str, credential: &str, hosts: &[&str]) -> String {
    let hosts: Vec<String> = hosts.iter().map(|host| format!("\"{host}\"")).collect();
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: mygateway
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    tls: {{mode: {mode}, credentialName: {credential}}}
    hosts: [{}]
"#,
        hosts.join(", ")
    )
}

struct Setup {
    _config: ConfigDir,
    files: tempfile::TempDir,
    gateway: Gateway,
    ca: Ca,
    ca_file: String,
}

impl Setup {
    async fn simple() -> Setup {
        Setup::start("SIMPLE", None).await
    }

    async fn start(mode: &str, client_ca: Option<&Ca>) -> Setup {
        let backend = httpbin("httpbin").await;
        let ca = Ca::new("example Inc. root");
        let leaf = ca.server(&["httpbin.example.com"]);
        let config = ConfigDir::new();
        config.write(
            "httpbin.yaml",
            &service("httpbin", "default", 8000, &[backend]),
        );
        config.write("vs.yaml", HTTPBIN_VS);
        config.write(
            "gateway.yaml",
            &gateway_yaml(mode, "httpbin-credential", &["httpbin.example.com"]),
        );
        config.write(
            "secret.yaml",
            &pki::tls_secret(
                "httpbin-credential",
                "istio-system",
                &leaf,
                client_ca.map(|ca| ca.pem()).as_deref(),
            ),
        );
        let gateway = Gateway::start(config.path(), &[443], &[]).await;
        let files = tempfile::tempdir().unwrap();
        let ca_file = pki::file(&files, "ca.crt", &ca.pem());
        Setup {
            _config: config,
            files,
            gateway,
            ca,
            ca_file,
        }
    }

    async fn curl(&self, host: &str, path: &str, extra: &[&str]) -> String {
        let address = self.gateway.listener(443).await;
        let resolve = format!("{host}:{}:127.0.0.1", address.port());
        let url = format!("https://{host}:{}{path}", address.port());
        let mut args = vec![
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
            "--resolve",
            &resolve,
            "--cacert",
            &self.ca_file,
        ];
        args.extend_from_slice(extra);
        args.push(&url);
        run("curl", &args).await
    }

    /// `GET /status/418` for httpbin.example.com, presenting `client`'s
    /// certificate when given; curl's `code version` or its error.
    async fn teapot_as(&self, client: Option<&pki::Leaf>) -> String {
        let Some(client) = client else {
            return self.curl("httpbin.example.com", "/status/418", &[]).await;
        };
        // Each certificate in files of its own (a test presents several).
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cert = pki::file(&self.files, &format!("client{n}.crt"), &client.cert);
        let key = pki::file(&self.files, &format!("client{n}.key"), &client.key);
        self.curl(
            "httpbin.example.com",
            "/status/418",
            &["--cert", &cert, "--key", &key],
        )
        .await
    }

    /// `openssl s_client` with `args`; returns stdout and stderr.
    async fn s_client(&self, args: &[&str]) -> String {
        let address = self.gateway.listener(443).await;
        let connect = format!("127.0.0.1:{}", address.port());
        let mut all = vec!["s_client", "-connect", &connect, "-CAfile", &self.ca_file];
        all.extend_from_slice(args);
        run("openssl", &all).await
    }
}

/// Runs a command with no input; stdout and stderr together.
async fn run(program: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), output)
        .await
        .expect("command timed out")
        .expect("command runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Whether `openssl s_client` completed a handshake with a verified
/// certificate (it prints "Verify return code: 0" even when none came).
fn handshake_done(out: &str) -> bool {
    out.contains("Verify return code: 0 (ok)") && !out.contains("Cipher is (NONE)")
}

#[tokio::test]
async fn https_is_terminated_with_the_secrets_certificate() {
    let setup = Setup::simple().await;
    let out = setup
        .curl("httpbin.example.com", "/status/418", &["--http1.1"])
        .await;
    assert_eq!(out, "418 1.1", "{out}");
}

#[tokio::test]
async fn http2_over_tls_is_chosen_by_alpn() {
    let setup = Setup::simple().await;
    let out = setup
        .curl("httpbin.example.com", "/status/418", &["--http2"])
        .await;
    assert_eq!(out, "418 2", "{out}");
}

#[tokio::test]
async fn a_host_the_server_does_not_cover_is_not_routed() {
    let setup = Setup::simple().await;
    // SNI httpbin.example.com, Host other.example.com: Istio's route
    // table for this server has no such host.
    let out = setup
        .curl(
            "httpbin.example.com",
            "/status/200",
            &["-H", "Host: other.example.com"],
        )
        .await;
    assert!(out.starts_with("404"), "{out}");
}

#[tokio::test]
async fn an_unknown_sni_gets_no_handshake() {
    let setup = Setup::simple().await;
    let out = setup
        .s_client(&["-servername", "unknown.example.com"])
        .await;
    assert!(!handshake_done(&out), "{out}");
    assert!(out.contains("no peer certificate available"), "{out}");
    // Counted as the gateway's task ends the connection, which may be just
    // after the client has gone.
    let failed = "vestibule_downstream_tls_handshake_failures_total 1";
    let metrics = setup
        .gateway
        .metrics_when(|metrics| metrics.contains(failed))
        .await;
    assert!(metrics.contains(failed), "{metrics}");
    let known = setup
        .s_client(&["-servername", "httpbin.example.com"])
        .await;
    assert!(handshake_done(&known), "{known}");
    // The HTTPS listener's own figures, by Envoy's names: one completed,
    // one failed.
    let port = setup.gateway.listener(443).await.port();
    let samples = [
        "envoy_listener_ssl_handshake_total",
        "envoy_listener_ssl_connection_error_total",
    ]
    .map(|name| format!("{name}{{listener_address=\"127.0.0.1_{port}\"}} 1"));
    let metrics = setup
        .gateway
        .metrics_when(|metrics| samples.iter().all(|sample| metrics.contains(sample)))
        .await;
    for sample in samples {
        assert!(metrics.contains(&sample), "{sample} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn tls_1_1_is_refused_and_1_2_and_1_3_are_served() {
    let setup = Setup::simple().await;
    let old = setup
        .s_client(&[
            "-servername",
            "httpbin.example.com",
            "-tls1_1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ])
        .await;
    assert!(!handshake_done(&old), "{old}");
    for version in ["-tls1_2", "-tls1_3"] {
        let out = setup
            .s_client(&["-servername", "httpbin.example.com", version])
            .await;
        assert!(handshake_done(&out), "{version}: {out}");
    }
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let client_ca = Ca::new("client root");
    let setup = Setup::start("MUTUAL", Some(&client_ca)).await;
    let without = setup.teapot_as(None).await;
    assert!(!without.starts_with("418"), "{without}");
    let with = setup
        .teapot_as(Some(&client_ca.client(&["client.example.com"])))
        .await;
    assert_eq!(with, "418 2", "{with}");
    // A certificate from another CA is refused.
    let stranger = Ca::new("stranger").client(&["client.example.com"]);
    let refused = setup.teapot_as(Some(&stranger)).await;
    assert!(!refused.starts_with("418"), "{refused}");
}

#[tokio::test]
async fn optional_mutual_lets_clients_without_a_certificate_in() {
    let client_ca = Ca::new("client root");
    let setup = Setup::start("OPTIONAL_MUTUAL", Some(&client_ca)).await;
    let without = setup.teapot_as(None).await;
    assert_eq!(without, "418 2", "{without}");
}

#[tokio::test]
async fn a_changed_secret_serves_new_handshakes_and_keeps_open_connections() {
    let mut setup = Setup::simple().await;
    let address = setup.gateway.listener(443).await;
    // An open HTTP/1.1 connection over TLS, trusting the first CA.
    let mut open =
        support::tls_client::connect(address, "httpbin.example.com", &setup.ca.pem()).await;
    assert_eq!(open.get("httpbin.example.com", "/status/200").await, 200);
    let generation = setup.gateway.generation().await;
    let rotated = Ca::new("rotated root");
    setup._config.write(
        "secret.yaml",
        &pki::tls_secret(
            "httpbin-credential",
            "istio-system",
            &rotated.server(&["httpbin.example.com"]),
            None,
        ),
    );
    setup.gateway.wait_generation(generation + 1).await;
    // New handshakes get the new certificate: the old CA no longer verifies it.
    let old_ca = setup.curl("httpbin.example.com", "/status/200", &[]).await;
    assert!(!old_ca.starts_with("200"), "{old_ca}");
    setup.ca_file = pki::file(&setup.files, "rotated.crt", &rotated.pem());
    let new_ca = setup.curl("httpbin.example.com", "/status/200", &[]).await;
    assert!(new_ca.starts_with("200"), "{new_ca}");
    // The connection opened before keeps working.
    assert_eq!(open.get("httpbin.example.com", "/status/200").await, 200);
}

#[tokio::test]
async fn https_redirect_answers_plain_text_with_301_to_https() {
    let backend = httpbin("httpbin").await;
    let config = ConfigDir::new();
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    config.write("vs.yaml", HTTPBIN_VS);
    config.write(
        "gateway.yaml",
        r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: mygateway
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
    tls: {httpsRedirect: true}
"#,
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    let (status, headers, _) =
        support::get(address, "httpbin.example.com", "/status/200?x=1").await;
    assert_eq!(status, 301);
    assert_eq!(
        headers["location"],
        "https://httpbin.example.com/status/200?x=1"
    );
}

/// `subjectAltNames` narrows MUTUAL to client certificates carrying one of
/// the names (Envoy's `match_typed_subject_alt_names`), and
/// `verifyCertificateHash` to listed certificates.
#[tokio::test]
async fn mutual_tls_checks_the_client_certificates_names_and_hash() {
    let backend = httpbin("httpbin").await;
    let server_ca = Ca::new("example Inc. root");
    let client_ca = Ca::new("client root");
    let allowed = client_ca.client(&["spiffe://example.com/allowed", "allowed.example.com"]);
    let other = client_ca.client(&["other.example.com"]);
    let config = ConfigDir::new();
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    config.write("vs.yaml", HTTPBIN_VS);
    config.write(
        "secret.yaml",
        &pki::tls_secret(
            "httpbin-credential",
            "istio-system",
            &server_ca.server(&["httpbin.example.com"]),
            Some(&client_ca.pem()),
        ),
    );
    config.write(
        "gateway.yaml",
        &gateway_yaml("MUTUAL", "httpbin-credential", &["httpbin.example.com"]).replace(
            "credentialName: httpbin-credential}",
            "credentialName: httpbin-credential, subjectAltNames: [allowed.example.com]}",
        ),
    );
    let gateway = Gateway::start(config.path(), &[443], &[]).await;
    let files = tempfile::tempdir().unwrap();
    let setup = Setup {
        _config: config,
        ca_file: pki::file(&files, "ca.crt", &server_ca.pem()),
        files,
        gateway,
        ca: server_ca,
    };
    let out = setup.teapot_as(Some(&allowed)).await;
    assert!(out.starts_with("418"), "{out}");
    let out = setup.teapot_as(Some(&other)).await;
    assert!(!out.starts_with("418"), "{out}");

    // Now by hash: only `other`'s certificate (colon-separated upper-case
    // hex, as Istio's examples write it).
    use rustls::pki_types::pem::PemObject as _;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(other.cert.as_bytes()).unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
    let hash: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    let generation = setup.gateway.generation().await;
    setup._config.write(
        "gateway.yaml",
        &gateway_yaml("MUTUAL", "httpbin-credential", &["httpbin.example.com"]).replace(
            "credentialName: httpbin-credential}",
            &format!(
                "credentialName: httpbin-credential, verifyCertificateHash: [\"{}\"]}}",
                hash.join(":")
            ),
        ),
    );
    setup.gateway.wait_generation(generation + 1).await;
    let out = setup.teapot_as(Some(&other)).await;
    assert!(out.starts_with("418"), "{out}");
    let out = setup.teapot_as(Some(&allowed)).await;
    assert!(!out.starts_with("418"), "{out}");
}
