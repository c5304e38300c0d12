//! TLS origination end to end: the real gateway connecting to HTTPS
//! backends as an Istio DestinationRule or a Gateway API BackendTLSPolicy
//! says (SNI, CA, client certificate, ALPN h2), and a handshake that fails
//! answered with Envoy's 503.

mod support;

use std::net::SocketAddr;

use support::https_backend::https_backend;
use support::pki::{generic_secret, tls_secret, yaml_block, Ca};
use support::{get, service, ConfigDir, Gateway};

const TLS_ERROR: &str = "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS_error:";

/// An Istio Gateway and VirtualService sending secure.example.com to
/// Service `secure` port 443.
const ISTIO_ROUTES: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["secure.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure}
spec:
  hosts: ["secure.example.com"]
  gateways: [gw]
  http:
  - route:
    - destination: {host: secure, port: {number: 443}}
"#;

fn destination_rule(tls: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: secure}}\nspec:\n  host: secure\n  trafficPolicy:\n    tls: {tls}\n"
    )
}

/// The gateway with Istio routes to `backend` behind `rule`, and `extra`
/// manifests (Secrets).
async fn istio_gateway(
    backend: SocketAddr,
    rule: &str,
    extra: &[String],
    h2: bool,
) -> (ConfigDir, Gateway) {
    let config = ConfigDir::new();
    config.write("routes.yaml", ISTIO_ROUTES);
    let mut secure = service("secure", "default", 443, &[backend]);
    if h2 {
        secure = secure.replace(
            "  - name: http\n    port: 443\n",
            "  - name: http\n    appProtocol: kubernetes.io/h2c\n    port: 443\n",
        );
    }
    config.write("secure.yaml", &secure);
    config.write("rule.yaml", rule);
    for (index, manifest) in extra.iter().enumerate() {
        config.write(&format!("extra-{index}.yaml"), manifest);
    }
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    (config, gateway)
}

#[tokio::test]
async fn dr_simple_verifies_with_the_secret_ca_and_sends_the_sni() {
    let ca = Ca::new("upstream ca");
    let backend = https_backend(&ca.server(&["secure.internal"]), None).await;
    let rule =
        destination_rule("{mode: SIMPLE, credentialName: upstream-ca, sni: secure.internal}");
    let secret = generic_secret("upstream-ca", "istio-system", &[("ca.crt", &ca.pem())]);
    let (_config, gateway) = istio_gateway(backend, &rule, &[secret], false).await;
    let address = gateway.listener(80).await;
    for _ in 0..2 {
        let (status, _, body) = get(address, "secure.example.com", "/").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            String::from_utf8_lossy(&body),
            "sni=secure.internal alpn=http/1.1 version=HTTP/1.1 client=none"
        );
    }
}

#[tokio::test]
async fn dr_simple_with_another_ca_is_a_503_naming_the_tls_error() {
    let ca = Ca::new("upstream ca");
    let other = Ca::new("another ca");
    let backend = https_backend(&ca.server(&["secure.internal"]), None).await;
    let rule =
        destination_rule("{mode: SIMPLE, credentialName: upstream-ca, sni: secure.internal}");
    let secret = generic_secret("upstream-ca", "istio-system", &[("ca.crt", &other.pem())]);
    let (_config, gateway) = istio_gateway(backend, &rule, &[secret], false).await;
    let (status, _, body) = get(gateway.listener(80).await, "secure.example.com", "/").await;
    assert_eq!(status, 503);
    let body = String::from_utf8_lossy(&body);
    assert!(body.starts_with(TLS_ERROR), "{body}");
    assert!(body.contains("CERTIFICATE_VERIFY_FAILED"), "{body}");
}

#[tokio::test]
async fn dr_simple_without_sni_checks_the_certificate_for_the_service_host() {
    let ca = Ca::new("upstream ca");
    let backend = https_backend(&ca.server(&["secure.default.svc.cluster.local"]), None).await;
    let rule = destination_rule("{mode: SIMPLE, credentialName: upstream-ca}");
    let secret = generic_secret("upstream-ca", "istio-system", &[("ca.crt", &ca.pem())]);
    let (_config, gateway) = istio_gateway(backend, &rule, &[secret], false).await;
    let (status, _, body) = get(gateway.listener(80).await, "secure.example.com", "/").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).starts_with("sni=secure.default.svc.cluster.local "));
}

#[tokio::test]
async fn dr_mutual_presents_the_client_certificate_the_backend_requires() {
    let ca = Ca::new("upstream ca");
    let backend = https_backend(&ca.server(&["secure.internal"]), Some(&ca.pem())).await;
    let rule =
        destination_rule("{mode: MUTUAL, credentialName: client-cert, sni: secure.internal}");
    let client = ca.client(&["gateway.example.com"]);
    let secret = tls_secret("client-cert", "istio-system", &client, Some(&ca.pem()));
    let (_config, gateway) = istio_gateway(backend, &rule, &[secret], false).await;
    let (status, _, body) = get(gateway.listener(80).await, "secure.example.com", "/").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).ends_with("client=verified"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

#[tokio::test]
async fn dr_simple_to_an_h2c_service_speaks_h2_by_alpn() {
    let ca = Ca::new("upstream ca");
    let backend = https_backend(&ca.server(&["secure.internal"]), None).await;
    let rule =
        destination_rule("{mode: SIMPLE, credentialName: upstream-ca, sni: secure.internal}");
    let secret = generic_secret("upstream-ca", "istio-system", &[("ca.crt", &ca.pem())]);
    let (_config, gateway) = istio_gateway(backend, &rule, &[secret], true).await;
    let (status, _, body) = get(gateway.listener(80).await, "secure.example.com", "/").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        String::from_utf8_lossy(&body),
        "sni=secure.internal alpn=h2 version=HTTP/2.0 client=none"
    );
}

#[tokio::test]
async fn dr_istio_mutual_is_refused_with_a_reason_and_no_plain_text() {
    let ca = Ca::new("upstream ca");
    let backend = https_backend(&ca.server(&["secure.internal"]), None).await;
    let rule = destination_rule("{mode: ISTIO_MUTUAL}");
    let (_config, gateway) = istio_gateway(backend, &rule, &[], false).await;
    let (status, _, _) = get(gateway.listener(80).await, "secure.example.com", "/").await;
    assert_eq!(status, 503);
    let status = gateway.status().await;
    let text = status.to_string();
    assert!(text.contains("ISTIO_MUTUAL needs the mesh"), "{text}");
}

/// A Gateway API Gateway and HTTPRoute to Service `secure` port 443, the
/// CA ConfigMap, and a BackendTLSPolicy for `hostname`.
fn gateway_api(ca: &Ca, hostname: &str) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: vestibule
  listeners:
  - {{name: http, port: 80, protocol: HTTP}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: secure}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [secure.example.com]
  rules:
  - backendRefs: [{{name: secure, port: 443}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: secure-ca}}
data:
  ca.crt: {}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {{name: secure}}
spec:
  targetRefs: [{{group: "", kind: Service, name: secure}}]
  validation:
    caCertificateRefs: [{{group: "", kind: ConfigMap, name: secure-ca}}]
    hostname: {hostname}
"#,
        yaml_block(&ca.pem())
    )
}

async fn policy_gateway(backend: SocketAddr, manifests: &str) -> (ConfigDir, Gateway) {
    let config = ConfigDir::new();
    config.write(
        "secure.yaml",
        &service("secure", "default", 443, &[backend]),
    );
    config.write("gateway.yaml", manifests);
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    (config, gateway)
}

#[tokio::test]
async fn backend_tls_policy_verifies_the_hostname_with_the_configmap_ca() {
    let ca = Ca::new("upstream ca");
    let backend = https_backend(&ca.server(&["secure.internal"]), None).await;
    let (_config, gateway) = policy_gateway(backend, &gateway_api(&ca, "secure.internal")).await;
    let (status, _, body) = get(gateway.listener(80).await, "secure.example.com", "/").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        String::from_utf8_lossy(&body),
        "sni=secure.internal alpn=http/1.1 version=HTTP/1.1 client=none"
    );
    let status = gateway.status().await;
    let policy = &status["policies"][0];
    assert_eq!(policy["name"], "secure", "{status}");
    let conditions = &policy["ancestors"][0]["conditions"];
    assert_eq!(conditions[0]["type"], "Accepted", "{policy}");
    assert_eq!(conditions[0]["status"], "True", "{policy}");
}

#[tokio::test]
async fn backend_tls_policy_with_another_hostname_is_a_503() {
    let ca = Ca::new("upstream ca");
    let backend = https_backend(&ca.server(&["secure.internal"]), None).await;
    let (_config, gateway) = policy_gateway(backend, &gateway_api(&ca, "wrong.internal")).await;
    let (status, _, body) = get(gateway.listener(80).await, "secure.example.com", "/").await;
    assert_eq!(status, 503);
    let body = String::from_utf8_lossy(&body);
    assert!(body.starts_with(TLS_ERROR), "{body}");
}
