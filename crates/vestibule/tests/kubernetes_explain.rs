//! `vestibule explain --admin` against a Kubernetes-mode gateway (the real
//! binary watching `fake-apiserver`): its `/config/sources` gives the
//! objects it translated, one YAML document each, Secrets withheld, and
//! explain reads them to the same answer `explain --config` gives on the
//! manifests they were applied from.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use http::StatusCode;
use serde_json::Value;
use support::{get, pki, ConfigDir, Gateway, HOST};

/// An Istio Gateway (HTTP, and HTTPS with a Secret) and its VirtualService,
/// and a Gateway API Gateway of the same namespace and name with its
/// HTTPRoute on another host: the two `Gateway`s' documents must not be
/// taken for each other.
const ROUTES: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
  namespace: default
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: httpbin-credential}
    hosts: ["httpbin.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
  namespace: default
spec:
  hosts: ["httpbin.example.com"]
  gateways: [httpbin-gateway]
  http:
  - match:
    - headers:
        x-canary: {exact: "yes"}
    route:
    - destination: {host: httpbin, port: {number: 8000}}
  - match:
    - uri: {prefix: /status}
    route:
    - destination: {host: httpbin, port: {number: 8000}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: istio
spec:
  controllerName: istio.io/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
  namespace: default
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    hostname: "api.example.com"
    port: 80
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api
  namespace: default
spec:
  parentRefs:
  - name: httpbin-gateway
  hostnames: ["api.example.com"]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /get}
    backendRefs:
    - name: httpbin
      port: 8000
"#;

/// The requests explained: a rule that matches, a 404 and its nearest
/// rules, a Gateway API route.
const REQUESTS: &[(&str, &str)] = &[
    (HOST, "/status/200"),
    (HOST, "/headers"),
    ("api.example.com", "/get"),
];

/// Runs `vestibule explain SOURCE... --output json -H 'Host: HOST' URL`.
fn explain(source: &[&str], host: &str, path: &str) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("explain")
        .args(source)
        .args(["--output", "json", "-H", &format!("Host: {host}")])
        .arg(format!("http://127.0.0.1{path}"))
        .output()
        .expect("run vestibule explain");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

/// `report` with every `file:line` that starts with one of `prefixes`
/// written `<source>`: what may differ between the two sources.
fn without_sources(report: &Value, prefixes: &[&str]) -> Value {
    match report {
        Value::String(text) => Value::String(mask(text, prefixes)),
        Value::Array(items) => items.iter().map(|v| without_sources(v, prefixes)).collect(),
        Value::Object(fields) => fields
            .iter()
            .map(|(key, v)| (key.clone(), without_sources(v, prefixes)))
            .collect(),
        other => other.clone(),
    }
}

fn mask(text: &str, prefixes: &[&str]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some((at, prefix)) = prefixes
        .iter()
        .filter_map(|prefix| rest.find(prefix).map(|at| (at, prefix)))
        .min()
    {
        out.push_str(&rest[..at]);
        out.push_str("<source>");
        rest = &rest[at + prefix.len()..];
        let end = rest.find([' ', ')', '"', ',']).unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Line `line` (1-based) of the document `path` of `/config/sources`.
fn line_of<'a>(sources: &'a Value, path: &str, line: usize) -> &'a str {
    let file = sources["files"]
        .as_array()
        .and_then(|files| files.iter().find(|file| file["path"] == path))
        .unwrap_or_else(|| panic!("no document {path}"));
    file["text"]
        .as_str()
        .and_then(|text| text.lines().nth(line - 1))
        .unwrap_or_else(|| panic!("{path} has no line {line}"))
}

async fn wait_for_endpoint(gateway: &Gateway, listener: SocketAddr, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let (status, headers, _) = get(listener, HOST, "/status/200").await;
        if status == StatusCode::OK && headers.get("x-httpbin-name").is_some_and(|n| n == name) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("traffic never reached {name}; log:\n{}", gateway.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_by_the_admin_address_reads_the_objects_the_gateway_translated() {
    let fake = FakeApiServer::start().await;
    fake.register_istio();
    fake.register_gateway_api();
    let backend = support::httpbin("first").await;
    let service = support::service("httpbin", "default", 8000, &[backend]);
    let ca = pki::Ca::new("example Inc. root");
    let leaf = ca.server(&[HOST]);
    // The gateway's identity is its own: its namespace (where Istio
    // looks credentials up) is `edge`, not the default.
    let secret = pki::tls_secret("httpbin-credential", "edge", &leaf, None);
    let manifests = [
        ("service.yaml", service.as_str()),
        ("routes.yaml", ROUTES),
        ("secret.yaml", secret.as_str()),
    ];
    let config = ConfigDir::new();
    for (name, text) in manifests {
        fake.apply_yaml(text);
        config.write(name, text);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = fake.write_kubeconfig(dir.path());
    let gateway =
        Gateway::start_kubernetes(&kubeconfig, &[80, 443], &["--namespace", "edge"]).await;
    gateway.wait_ready().await;
    let config_path = config.path().display().to_string();
    let admin = gateway.admin.to_string();
    let prefixes = ["kubernetes:".to_owned(), format!("{config_path}/")];
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();

    // The objects, one document each, named by namespace, kind and group;
    // the Secret withheld, its data nowhere.
    let (status, body) = gateway.admin_get("/config/sources").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sources: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(sources["secretsWithheld"], 1, "{sources:#}");
    assert_eq!(sources["identity"]["namespace"], "edge");
    for path in [
        "kubernetes:default/Service/httpbin",
        "kubernetes:default/EndpointSlice.discovery.k8s.io/httpbin-0",
        "kubernetes:default/Gateway.networking.istio.io/httpbin-gateway",
        "kubernetes:default/Gateway.gateway.networking.k8s.io/httpbin-gateway",
        "kubernetes:GatewayClass.gateway.networking.k8s.io/istio",
    ] {
        assert!(line_of(&sources, path, 1).starts_with("apiVersion: "));
    }
    assert!(!body.contains("Secret"), "{body}");
    assert!(!body.contains("PRIVATE KEY"), "{body}");

    // The same answers as --config on the manifests, the sources aside.
    for (host, path) in REQUESTS {
        let by_admin = explain(&["--admin", &admin], host, path);
        let by_files = explain(
            &["--config", &config_path, "--namespace", "edge"],
            host,
            path,
        );
        assert_eq!(
            without_sources(&by_admin, &prefixes),
            without_sources(&by_files, &prefixes),
            "{host}{path}: --admin {by_admin:#}\n--config {by_files:#}"
        );
    }

    // The rule is placed at its line of the object's document.
    let report = explain(&["--admin", &admin], HOST, "/status/200");
    assert_eq!(report["outcome"]["kind"], "forward", "{report:#}");
    let source = report["route"]["source"].as_str().expect("a source");
    let (path, line) = source.rsplit_once(':').expect("path:line");
    assert_eq!(
        path,
        "kubernetes:default/VirtualService.networking.istio.io/httpbin"
    );
    let line: usize = line.parse().expect("a line");
    assert_eq!(line_of(&sources, path, line).trim(), "- uri:", "{report:#}");

    // An endpoint change (no new generation) is what explain sees too.
    let listener = gateway.listener(80).await;
    let moved = support::httpbin("moved").await;
    fake.apply_yaml(&support::service("httpbin", "default", 8000, &[moved]));
    wait_for_endpoint(&gateway, listener, "moved").await;
    let report = explain(&["--admin", &admin], HOST, "/status/200");
    assert_eq!(
        report["action"]["backends"][0]["endpoints"][0]["address"],
        moved.to_string(),
        "{report:#}"
    );
    fake.assert_clean();
}
