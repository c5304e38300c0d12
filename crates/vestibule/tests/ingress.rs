//! Kubernetes Ingress end to end: seed 001 verbatim (the v1beta1 manifest,
//! then the IngressClass variant, then pathType Exact/Prefix), and the
//! Ingress semantics clients observe: one-label host wildcards, path
//! precedence, the default backend, named ports and ignored classes. A
//! real gateway process, real httpbin backends (each answering with
//! `x-httpbin-name`, so a test sees which backend served), real clients.

mod support;

use std::net::SocketAddr;
use std::process::Command;

use http::StatusCode;
use support::{curl, get, httpbin, service, ConfigDir, Gateway, HOST};

/// Seed 001's Ingress, verbatim.
const SEED_INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1beta1
kind: Ingress
metadata:
  annotations:
    kubernetes.io/ingress.class: istio
  name: ingress
spec:
  rules:
  - host: httpbin.example.com
    http:
      paths:
      - path: /status/*
        backend:
          serviceName: httpbin
          servicePort: 8000
"#;

/// Seed 001's IngressClass, verbatim.
const SEED_INGRESS_CLASS: &str = r#"
apiVersion: networking.k8s.io/v1beta1
kind: IngressClass
metadata:
  name: istio-test
spec:
  controller: istio.io/ingress-controller
"#;

/// Starts one named httpbin per name, each behind a Service of that name
/// (port `http` 8000), and writes the Services into `config`.
async fn backends(config: &ConfigDir, names: &[&str]) {
    for name in names {
        let address = httpbin(name).await;
        config.write(
            &format!("service-{name}.yaml"),
            &service(name, "default", 8000, &[address]),
        );
    }
}

/// Starts the gateway on `config` with listener port 80 mapped.
async fn start(config: &ConfigDir, extra: &[&str]) -> (Gateway, SocketAddr) {
    let gateway = Gateway::start(config.path(), &[80], extra).await;
    let address = gateway.listener(80).await;
    (gateway, address)
}

/// Which backend answered (`None`: the gateway answered itself), and the status.
async fn served_by(address: SocketAddr, host: &str, path: &str) -> (StatusCode, Option<String>) {
    let (status, headers, _) = get(address, host, path).await;
    let name = headers
        .get("x-httpbin-name")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, name)
}

async fn assert_served_by(address: SocketAddr, host: &str, path: &str, backend: &str) {
    let (status, name) = served_by(address, host, path).await;
    assert_eq!(name.as_deref(), Some(backend), "{host}{path}: {status}");
}

async fn assert_not_routed(address: SocketAddr, host: &str, path: &str) {
    let (status, name) = served_by(address, host, path).await;
    assert_eq!(
        (status, name),
        (StatusCode::NOT_FOUND, None),
        "{host}{path}"
    );
}

/// The `(status, reason, message)` of an Ingress's Accepted condition in `/status`.
async fn acceptance(gateway: &Gateway, name: &str) -> (String, String, String) {
    let status = gateway.status().await;
    let ingress = status["ingresses"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("no status for Ingress {name}: {status:#}"))
        .clone();
    let condition = &ingress["conditions"][0];
    let text = |key: &str| condition[key].as_str().unwrap_or_default().to_owned();
    (text("status"), text("reason"), text("message"))
}

fn v1_ingress(name: &str, meta: &str, spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n{meta}spec:\n{spec}"
    )
}

const ISTIO_CLASS: &str = "  annotations:\n    kubernetes.io/ingress.class: istio\n";

/// One rule: `host` (empty: none), and `(path, pathType, service, port)` paths.
fn rule(host: &str, paths: &[(&str, &str, &str, &str)]) -> String {
    let mut text = if host.is_empty() {
        "  - http:\n".to_owned()
    } else {
        format!("  - host: \"{host}\"\n    http:\n")
    };
    text.push_str("      paths:\n");
    for (path, path_type, service, port) in paths {
        text.push_str(&format!(
            "      - path: {path}\n        pathType: {path_type}\n        backend:\n          service:\n            name: {service}\n            port:\n              {port}\n"
        ));
    }
    text
}

// === Seed 001 ===

#[tokio::test]
async fn seed_001_v1beta1_ingress_serves_status_and_404s_the_rest() {
    let config = ConfigDir::new();
    backends(&config, &["httpbin"]).await;
    config.write("ingress.yaml", SEED_INGRESS);
    let (gateway, address) = start(&config, &[]).await;
    let url = |path: &str| format!("http://{address}{path}");
    let head = curl(&["-I", "-HHost:httpbin.example.com", &url("/status/200")]).await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("x-envoy-upstream-service-time:"), "{head}");
    let head = curl(&["-I", "-HHost:httpbin.example.com", &url("/headers")]).await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found"), "{head}");
    let (status, reason, _) = acceptance(&gateway, "ingress").await;
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Accepted"));
    // Other hosts have no rule: 404 from the gateway.
    assert_not_routed(address, "other.example.com", "/status/200").await;
}

#[tokio::test]
async fn seed_001_ingress_class_variant_is_served_through_the_class() {
    let config = ConfigDir::new();
    backends(&config, &["httpbin"]).await;
    config.write("ingressclass.yaml", SEED_INGRESS_CLASS);
    let by_class = SEED_INGRESS
        .replace(
            "  annotations:\n    kubernetes.io/ingress.class: istio\n",
            "",
        )
        .replace("spec:\n", "spec:\n  ingressClassName: istio-test\n");
    assert!(!by_class.contains("annotations"), "{by_class}");
    config.write("ingress.yaml", &by_class);
    let (gateway, address) = start(&config, &[]).await;
    let url = format!("http://{address}/status/200");
    let head = curl(&["-I", "-HHost:httpbin.example.com", &url]).await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let (status, _, message) = acceptance(&gateway, "ingress").await;
    assert_eq!(status, "True");
    assert!(message.contains("istio-test"), "{message}");
    assert_not_routed(address, HOST, "/headers").await;
}

#[tokio::test]
async fn seed_001_path_types_exact_and_prefix() {
    let config = ConfigDir::new();
    backends(&config, &["exact", "prefix"]).await;
    let rules = rule(
        HOST,
        &[
            ("/status/200", "Exact", "exact", "number: 8000"),
            ("/status/", "Prefix", "prefix", "number: 8000"),
        ],
    );
    config.write(
        "ingress.yaml",
        &v1_ingress("paths", ISTIO_CLASS, &format!("  rules:\n{rules}")),
    );
    let (_gateway, address) = start(&config, &[]).await;
    // Exact: the path exactly, case-sensitive, no trailing slash.
    assert_served_by(address, HOST, "/status/200", "exact").await;
    assert_served_by(address, HOST, "/status/200/", "prefix").await;
    // Prefix: element-wise, trailing slash ignored on both sides.
    assert_served_by(address, HOST, "/status/201", "prefix").await;
    assert_served_by(address, HOST, "/status", "prefix").await;
    assert_served_by(address, HOST, "/status/", "prefix").await;
    assert_not_routed(address, HOST, "/statusx").await;
    assert_not_routed(address, HOST, "/STATUS/200").await;
}

// === Hosts ===

#[tokio::test]
async fn wildcard_hosts_match_exactly_one_label() {
    let config = ConfigDir::new();
    backends(&config, &["wildcard", "exact"]).await;
    let rules = [
        rule("*.foo.com", &[("/", "Prefix", "wildcard", "number: 8000")]),
        rule("foo.bar.com", &[("/", "Prefix", "exact", "number: 8000")]),
    ]
    .concat();
    config.write(
        "ingress.yaml",
        &v1_ingress("hosts", ISTIO_CLASS, &format!("  rules:\n{rules}")),
    );
    let (_gateway, address) = start(&config, &[]).await;
    assert_served_by(address, "a.foo.com", "/get", "wildcard").await;
    assert_served_by(address, "A.Foo.com:80", "/get", "wildcard").await;
    assert_not_routed(address, "b.a.foo.com", "/get").await;
    assert_not_routed(address, "foo.com", "/get").await;
    assert_served_by(address, "foo.bar.com", "/get", "exact").await;
    assert_not_routed(address, "subdomain.bar.com", "/get").await;
}

// === Precedence ===

#[tokio::test]
async fn longest_path_wins_then_exact_then_the_oldest_ingress() {
    let config = ConfigDir::new();
    backends(&config, &["a", "b", "c"]).await;
    let older = rule(
        "p.example.com",
        &[
            ("/aaa", "Prefix", "a", "number: 8000"),
            ("/foo", "Prefix", "a", "number: 8000"),
        ],
    );
    let newer = rule(
        "p.example.com",
        &[
            ("/aaa/bbb", "Prefix", "b", "number: 8000"),
            ("/aaa", "Exact", "b", "number: 8000"),
            ("/foo", "Prefix", "c", "number: 8000"),
        ],
    );
    let created = |time: &str| format!("  creationTimestamp: \"{time}\"\n{ISTIO_CLASS}");
    // The newer one is written first: file order must not matter.
    config.write(
        "newer.yaml",
        &v1_ingress(
            "newer",
            &created("2024-02-01T00:00:00Z"),
            &format!("  rules:\n{newer}"),
        ),
    );
    config.write(
        "older.yaml",
        &v1_ingress(
            "older",
            &created("2024-01-01T00:00:00Z"),
            &format!("  rules:\n{older}"),
        ),
    );
    let (_gateway, address) = start(&config, &[]).await;
    let host = "p.example.com";
    assert_served_by(address, host, "/aaa/bbb/ccc", "b").await;
    assert_served_by(address, host, "/aaa/ccc", "a").await;
    assert_served_by(address, host, "/aaa", "b").await;
    assert_served_by(address, host, "/aaa/", "a").await;
    assert_served_by(address, host, "/foo/x", "a").await;
    assert_not_routed(address, host, "/aaaccc").await;
}

// === Default backend ===

#[tokio::test]
async fn default_backend_serves_requests_that_match_no_rule() {
    let config = ConfigDir::new();
    backends(&config, &["app", "fallback"]).await;
    let rules = rule(
        "site.example.com",
        &[("/app", "Prefix", "app", "number: 8000")],
    );
    config.write(
        "site.yaml",
        &v1_ingress("site", ISTIO_CLASS, &format!("  rules:\n{rules}")),
    );
    config.write(
        "fallback.yaml",
        &v1_ingress(
            "fallback",
            ISTIO_CLASS,
            "  defaultBackend:\n    service:\n      name: fallback\n      port:\n        number: 8000\n",
        ),
    );
    let (_gateway, address) = start(&config, &[]).await;
    assert_served_by(address, "site.example.com", "/app/x", "app").await;
    // A host with rules whose paths all miss: no rule matches either.
    assert_served_by(address, "site.example.com", "/other", "fallback").await;
    assert_served_by(address, "unknown.example.com", "/", "fallback").await;
    assert_served_by(address, "my-host", "/sub-path", "fallback").await;
}

// === Backends ===

#[tokio::test]
async fn named_ports_resolve_through_the_service_or_drop_the_path() {
    let config = ConfigDir::new();
    backends(&config, &["httpbin"]).await;
    let rules = rule(
        HOST,
        &[
            ("/v1", "Prefix", "httpbin", "name: http"),
            ("/unknown", "Prefix", "httpbin", "name: nope"),
        ],
    );
    config.write(
        "v1.yaml",
        &v1_ingress("v1", ISTIO_CLASS, &format!("  rules:\n{rules}")),
    );
    let v1beta1 = SEED_INGRESS
        .replace("name: ingress", "name: v1beta1")
        .replace("servicePort: 8000", "servicePort: http");
    config.write("v1beta1.yaml", &v1beta1);
    let (gateway, address) = start(&config, &[]).await;
    assert_served_by(address, HOST, "/v1/get", "httpbin").await;
    assert_served_by(address, HOST, "/status/200", "httpbin").await;
    assert_not_routed(address, HOST, "/unknown").await;
    let status = gateway.status().await;
    let warnings = status["ingresses"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["name"] == "v1"))
        .map(|ingress| ingress["warnings"].to_string())
        .unwrap_or_default();
    assert!(
        warnings.contains("has no port named \\\"nope\\\"; path dropped"),
        "{warnings}"
    );
}

// === Classes ===

const NGINX_CLASS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
spec:
  controller: k8s.io/ingress-nginx
"#;

/// Four Ingresses that are not ours and one that is, each on its own host.
fn classes(config: &ConfigDir) {
    config.write("nginx-class.yaml", NGINX_CLASS);
    let spec = |host: &str, class: &str| {
        let rules = rule(host, &[("/", "Prefix", "httpbin", "number: 8000")]);
        format!("{class}  rules:\n{rules}")
    };
    let nginx_annotation = "  annotations:\n    kubernetes.io/ingress.class: nginx\n";
    let cases = [
        ("annotation", nginx_annotation, spec("a.example.com", "")),
        (
            "missing-class",
            "",
            spec("b.example.com", "  ingressClassName: missing\n"),
        ),
        (
            "foreign",
            "",
            spec("c.example.com", "  ingressClassName: nginx\n"),
        ),
        ("no-class", "", spec("d.example.com", "")),
        ("ours", ISTIO_CLASS, spec("e.example.com", "")),
    ];
    for (name, meta, spec) in cases {
        config.write(&format!("{name}.yaml"), &v1_ingress(name, meta, &spec));
    }
}

#[tokio::test]
async fn ingresses_of_other_classes_are_ignored_and_say_why() {
    let config = ConfigDir::new();
    backends(&config, &["httpbin"]).await;
    classes(&config);
    let (gateway, address) = start(&config, &[]).await;
    assert_served_by(address, "e.example.com", "/get", "httpbin").await;
    for host in ["a", "b", "c", "d"] {
        assert_not_routed(address, &format!("{host}.example.com"), "/get").await;
    }
    for name in ["annotation", "missing-class", "foreign", "no-class"] {
        let (status, reason, message) = acceptance(&gateway, name).await;
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "IgnoredClass")
        );
        assert!(!message.is_empty(), "{name}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("validate")
        .arg(config.path())
        .output()
        .expect("run validate");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for name in ["annotation", "missing-class", "foreign", "no-class"] {
        assert!(
            stdout.contains(&format!(
                "Ingress default/{name}: not served (IgnoredClass)"
            )),
            "{stdout}"
        );
    }
    assert!(!stdout.contains("Ingress default/ours"), "{stdout}");
}

#[tokio::test]
async fn the_ingress_class_flag_and_the_default_class_select_ingresses() {
    let config = ConfigDir::new();
    backends(&config, &["httpbin"]).await;
    let custom = SEED_INGRESS.replace("ingress.class: istio", "ingress.class: custom");
    config.write("custom.yaml", &custom);
    let default_class = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: vestibule
  annotations:
    ingressclass.kubernetes.io/is-default-class: "true"
spec:
  controller: vestibule.io/ingress-controller
"#;
    config.write("class.yaml", default_class);
    let rules = rule(
        "classless.example.com",
        &[("/", "Prefix", "httpbin", "number: 8000")],
    );
    config.write(
        "classless.yaml",
        &v1_ingress("classless", "", &format!("  rules:\n{rules}")),
    );
    let (_gateway, address) = start(&config, &["--ingress-class", "custom"]).await;
    assert_served_by(address, HOST, "/status/200", "httpbin").await;
    assert_served_by(address, "classless.example.com", "/get", "httpbin").await;
}

#[tokio::test]
async fn port_80_opens_only_while_an_ingress_is_ours() {
    let config = ConfigDir::new();
    backends(&config, &["httpbin"]).await;
    let ignored = SEED_INGRESS.replace("ingress.class: istio", "ingress.class: nginx");
    config.write("ingress.yaml", &ignored);
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let status = gateway.status().await;
    let bound = status["listeners"].as_array().is_some_and(|all| {
        all.iter()
            .any(|l| l["port"] == 80 && l["address"].is_string())
    });
    assert!(!bound, "{status:#}");
    let generation = gateway.generation().await;
    config.write("ingress.yaml", SEED_INGRESS);
    gateway.wait_generation(generation + 1).await;
    let address = gateway.listener(80).await;
    assert_served_by(address, HOST, "/status/200", "httpbin").await;
}

/// Seed 001's "TLS" note: `spec.tls` with a Secret in the gateway's own
/// namespace (`istio-system`); the hosts are served over HTTPS on 443 with
/// the same rules as on 80.
#[tokio::test]
async fn tls_hosts_are_served_over_https_with_the_secret_from_the_gateway_namespace() {
    let config = ConfigDir::new();
    backends(&config, &["httpbin"]).await;
    let ca = support::pki::Ca::new("ingress root");
    config.write(
        "secret.yaml",
        &support::pki::tls_secret(
            "httpbin-tls",
            "istio-system",
            &ca.server(&["httpbin.example.com"]),
            None,
        ),
    );
    config.write(
        "ingress.yaml",
        &format!(
            "{}  tls:\n  - hosts: [httpbin.example.com]\n    secretName: httpbin-tls\n",
            SEED_INGRESS
        ),
    );
    let gateway = Gateway::start(config.path(), &[80, 443], &[]).await;
    let https = gateway.listener(443).await;
    let files = tempfile::tempdir().unwrap();
    let ca_file = support::pki::file(&files, "ca.crt", &ca.pem());
    let resolve = format!("httpbin.example.com:{}:127.0.0.1", https.port());
    let url = |path: &str| format!("https://httpbin.example.com:{}{path}", https.port());
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--resolve",
        &resolve,
        "--cacert",
        &ca_file,
        &url("/status/418"),
    ])
    .await;
    assert_eq!(out, "418");
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--resolve",
        &resolve,
        "--cacert",
        &ca_file,
        &url("/headers"),
    ])
    .await;
    assert_eq!(out, "404");
    // Plain text on 80 keeps serving the same rules.
    let plain = gateway.listener(80).await;
    assert_served_by(plain, HOST, "/status/200", "httpbin").await;
}
