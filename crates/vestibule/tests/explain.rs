//! `vestibule explain`: the real binary on the repository's examples (the
//! seeds) and on small configurations, asserting on its JSON report; and
//! one cross-check against `vestibule serve` on the same configuration.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{service, ConfigDir, Gateway, SEED_GATEWAY};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> PathBuf {
    repository().join("examples").join(name)
}

/// Runs `vestibule explain --config CONFIG ARGS...` and returns its stdout.
fn explain_text(config: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("explain")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run vestibule explain");
    assert!(
        output.status.success(),
        "explain failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The JSON report of `vestibule explain`.
fn explain(config: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let text = explain_text(config, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn reasons<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["reasons"]
        .as_array()
        .map(|reasons| reasons.iter().filter(|r| r["code"] == code).collect())
        .unwrap_or_default()
}

fn ends_with(value: &Value, suffix: &str) -> bool {
    value.as_str().is_some_and(|text| text.ends_with(suffix))
}

#[test]
fn seed_request_names_the_virtual_service_rule_file_line_and_backend() {
    let report = explain(
        &example("httpbin"),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/status/200",
        ],
    );
    assert_eq!(report["outcome"]["kind"], "forward", "{report:#}");
    assert_eq!(report["listener"]["port"], 80);
    assert_eq!(report["listener"]["protocol"], "HTTP");
    assert_eq!(
        report["listener"]["resources"][0]["name"],
        "httpbin-gateway"
    );
    assert_eq!(report["virtual_host"]["name"], "httpbin.example.com:80");
    let route = &report["route"];
    assert_eq!(route["resource"]["kind"], "VirtualService");
    assert_eq!(route["resource"]["namespace"], "default");
    assert_eq!(route["resource"]["name"], "httpbin");
    // The match entry `- uri: {prefix: /status}` of spec.http[0].
    assert_eq!(route["field"], "spec.http[0].match[0]");
    assert!(
        ends_with(&route["source"], "virtualservice.yaml:13"),
        "{route:#}"
    );
    assert!(ends_with(
        &route["resource_source"],
        "virtualservice.yaml:2"
    ));
    assert_eq!(route["matched"], "path prefix /status");
    let backend = &report["action"]["backends"][0];
    assert_eq!(
        backend["key"],
        "outbound|8000||httpbin.default.svc.cluster.local"
    );
    assert_eq!(backend["percent"], 100.0);
    assert_eq!(backend["endpoints"][0]["address"], "127.0.0.1:18080");

    // The other match entry of the same rule has its own line.
    let report = explain(
        &example("httpbin"),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/delay/1",
        ],
    );
    assert_eq!(report["route"]["field"], "spec.http[0].match[1]");
    assert!(ends_with(
        &report["route"]["source"],
        "virtualservice.yaml:15"
    ));
}

#[test]
fn a_host_not_served_on_the_port_lists_the_hosts_that_are() {
    let report = explain(
        &example("httpbin"),
        &[
            "-H",
            "Host: nope.example.com",
            "http://127.0.0.1/status/200",
        ],
    );
    assert_eq!(report["outcome"]["status"], 404, "{report:#}");
    let reason = reasons(&report, "host_not_served");
    assert_eq!(reason.len(), 1, "{report:#}");
    assert_eq!(
        reason[0]["served"],
        serde_json::json!(["httpbin.example.com"])
    );
    assert!(report["route"].is_null());
    assert_eq!(reasons(&report, "host_unknown").len(), 1);

    // The URL's port goes through --port-map to the listener, as serve binds it.
    let report = explain(
        &example("httpbin"),
        &[
            "--port-map",
            "80=8080",
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1:8080/status/200",
        ],
    );
    assert_eq!(report["listener"]["port"], 80);
    assert_eq!(report["outcome"]["kind"], "forward");
    // No listener at all on another port.
    let report = explain(
        &example("httpbin"),
        &["-H", "Host: httpbin.example.com", "http://127.0.0.1:9090/"],
    );
    assert_eq!(report["outcome"]["kind"], "no_listener");
    assert_eq!(reasons(&report, "no_listener")[0]["served"][0], "80 (HTTP)");
}

/// Gateways and VirtualServices for [`virtual_service_bound_elsewhere_says_where`].
const BOUND_ELSEWHERE: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge-gateway
spec:
  selector:
    app: edge
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [edge.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: edge
spec:
  hosts: [edge.example.com]
  gateways: [edge-gateway]
  http:
  - route:
    - destination: {host: httpbin, port: {number: 8000}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: admin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 8080, name: http-admin, protocol: HTTP}
    hosts: [admin.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: admin
spec:
  hosts: [admin.example.com]
  gateways: [admin-gateway]
  http:
  - route:
    - destination: {host: httpbin, port: {number: 8000}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: mesh-only
spec:
  hosts: [mesh.example.com]
  http:
  - route:
    - destination: {host: httpbin, port: {number: 8000}}
"#;

#[test]
fn virtual_service_bound_elsewhere_says_where() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", support::SEED_VIRTUAL_SERVICE);
    config.write("elsewhere.yaml", BOUND_ELSEWHERE);
    config.write(
        "httpbin.yaml",
        &service(
            "httpbin",
            "default",
            8000,
            &["127.0.0.1:18080".parse().unwrap()],
        ),
    );

    // Bound to a Gateway that does not select this gateway.
    let report = explain(
        config.path(),
        &["-H", "Host: edge.example.com", "http://127.0.0.1/"],
    );
    assert_eq!(report["outcome"]["status"], 404, "{report:#}");
    assert_eq!(reasons(&report, "host_not_served").len(), 1);
    let bound = reasons(&report, "bound_elsewhere");
    assert_eq!(bound.len(), 1, "{report:#}");
    assert_eq!(bound[0]["resource"]["kind"], "VirtualService");
    assert_eq!(bound[0]["resource"]["name"], "edge");
    assert!(ends_with(
        &bound[0]["resource"]["source"],
        "elsewhere.yaml:13"
    ));
    let message = bound[0]["message"].as_str().unwrap();
    assert!(
        message.contains("Gateway default/edge-gateway"),
        "{message}"
    );
    assert!(message.contains("NotSelected"), "{message}");

    // Bound to a selected Gateway whose server is on another port.
    let report = explain(
        config.path(),
        &["-H", "Host: admin.example.com", "http://127.0.0.1/"],
    );
    let message = reasons(&report, "bound_elsewhere")[0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("no server on port 80 (its ports: 8080)"),
        "{message}"
    );
    let other = reasons(&report, "host_served_on_other_port");
    assert_eq!(other[0]["served"][0], "8080", "{report:#}");

    // Bound to no gateway at all: a mesh-only VirtualService.
    let report = explain(
        config.path(),
        &["-H", "Host: mesh.example.com", "http://127.0.0.1/"],
    );
    let message = reasons(&report, "bound_elsewhere")[0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("binds no ingress gateway"), "{message}");
}

#[test]
fn a_path_mismatch_names_the_nearest_rule_and_the_condition() {
    let report = explain(
        &example("httpbin"),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/headers",
        ],
    );
    assert_eq!(report["outcome"]["kind"], "no_route", "{report:#}");
    assert_eq!(report["outcome"]["status"], 404);
    assert_eq!(report["virtual_host"]["name"], "httpbin.example.com:80");
    let nearest = &report["candidates"][0];
    assert_eq!(nearest["route"]["index"], 0);
    assert_eq!(nearest["route"]["resource"]["name"], "httpbin");
    assert!(ends_with(
        &nearest["route"]["source"],
        "virtualservice.yaml:13"
    ));
    assert_eq!(nearest["failures"][0]["kind"], "path");
    assert_eq!(
        nearest["failures"][0]["message"],
        "path /headers does not match prefix /status"
    );
    let reason = &reasons(&report, "no_rule_matched")[0];
    assert!(reason["message"]
        .as_str()
        .unwrap()
        .contains("nearest is rule 0 of VirtualService default/httpbin"));
}

const HEADER_RULES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [httpbin.example.com]
  gateways: [httpbin-gateway]
  http:
  - match:
    - uri: {prefix: /admin}
      method: {exact: POST}
    route:
    - destination: {host: httpbin, port: {number: 8000}}
  - match:
    - headers:
        end-user: {exact: jason}
      uri: {prefix: /reviews}
    route:
    - destination: {host: httpbin, port: {number: 8000}}
"#;

#[test]
fn a_missing_header_is_the_condition_that_failed() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", HEADER_RULES);
    config.write(
        "httpbin.yaml",
        &service(
            "httpbin",
            "default",
            8000,
            &["127.0.0.1:18080".parse().unwrap()],
        ),
    );
    let report = explain(
        config.path(),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/reviews/1",
        ],
    );
    assert_eq!(report["outcome"]["status"], 404, "{report:#}");
    // The header rule fails one condition (the header), the /admin rule two.
    let nearest = &report["candidates"][0];
    assert_eq!(nearest["route"]["index"], 1);
    assert_eq!(nearest["route"]["field"], "spec.http[1].match[0]");
    assert_eq!(nearest["failures"].as_array().unwrap().len(), 1);
    assert_eq!(nearest["failures"][0]["kind"], "header");
    assert_eq!(
        nearest["failures"][0]["message"],
        "header end-user is missing (wanted exact \"jason\")"
    );
    assert_eq!(
        report["candidates"][1]["failures"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // With the header, the rule matches; with a wrong value it says which.
    let report = explain(
        config.path(),
        &[
            "-H",
            "Host: httpbin.example.com",
            "-H",
            "end-user: jason",
            "http://127.0.0.1/reviews/1",
        ],
    );
    assert_eq!(report["route"]["index"], 1, "{report:#}");
    let report = explain(
        config.path(),
        &[
            "-H",
            "Host: httpbin.example.com",
            "--header",
            "end-user: bob",
            "http://127.0.0.1/reviews/1",
        ],
    );
    assert_eq!(
        report["candidates"][0]["failures"][0]["message"],
        "header end-user is \"bob\", wanted exact \"jason\""
    );
    // The method condition of the first rule.
    let report = explain(
        config.path(),
        &[
            "-H",
            "Host: httpbin.example.com",
            "-X",
            "GET",
            "http://127.0.0.1/admin",
        ],
    );
    assert_eq!(report["candidates"][0]["route"]["index"], 0, "{report:#}");
    assert_eq!(report["candidates"][0]["failures"][0]["kind"], "method");
}

const CATCH_ALL_FIRST: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: site
spec:
  hosts: [httpbin.example.com]
  gateways: [httpbin-gateway]
  http:
  - match:
    - uri: {regex: "/.*"}
    route:
    - destination: {host: httpbin, port: {number: 8000}}
  - match:
    - uri: {prefix: /api}
    route:
    - destination: {host: api, port: {number: 8000}}
"#;

/// Istio moves a rule that matches everything by its own test (no match,
/// prefix `/`, regex `.*`) after the others; a regex `/.*` is not moved,
/// and shadows what follows it.
#[test]
fn a_catch_all_shadows_the_rules_after_it() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", CATCH_ALL_FIRST);
    config.write(
        "httpbin.yaml",
        &service(
            "httpbin",
            "default",
            8000,
            &["127.0.0.1:18080".parse().unwrap()],
        ),
    );
    config.write(
        "api.yaml",
        &service(
            "api",
            "default",
            8000,
            &["127.0.0.1:18081".parse().unwrap()],
        ),
    );
    let report = explain(
        config.path(),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/api/users",
        ],
    );
    let route = &report["route"];
    assert_eq!(route["index"], 0, "{report:#}");
    assert_eq!(route["catch_all"], true);
    assert_eq!(route["field"], "spec.http[0].match[0]");
    assert_eq!(route["matched"], "path regex /.*");
    assert_eq!(
        report["action"]["backends"][0]["key"],
        "outbound|8000||httpbin.default.svc.cluster.local"
    );
    assert_eq!(report["shadowed"][0]["index"], 1);
    assert_eq!(report["shadowed"][0]["field"], "spec.http[1].match[0]");
    assert_eq!(reasons(&report, "catch_all").len(), 1);
    let shadowed = reasons(&report, "shadowed");
    assert!(shadowed[0]["message"]
        .as_str()
        .unwrap()
        .contains("rule 1 (path prefix /api) also matches, but rule 0 comes first"));
}

#[test]
fn a_gateway_api_http_route_rule_and_its_filters() {
    let report = explain(
        &example("gateway-api"),
        &["-H", "Host: httpbin.example.com", "http://127.0.0.1/get"],
    );
    let route = &report["route"];
    assert_eq!(route["resource"]["kind"], "HTTPRoute", "{report:#}");
    assert_eq!(route["resource"]["name"], "http");
    assert_eq!(route["field"], "spec.rules[0]");
    assert!(ends_with(&route["source"], "gateway.yaml:39"));
    assert_eq!(report["listener"]["resources"][0]["name"], "gateway");
    assert_eq!(
        report["action"]["filters"]["request_headers"]["add"][0],
        serde_json::json!(["my-added-header", "added-value"])
    );
    // The seed's 404: /headers is not under /get.
    let report = explain(
        &example("gateway-api"),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/headers",
        ],
    );
    assert_eq!(report["outcome"]["status"], 404);
    assert_eq!(report["candidates"][0]["failures"][0]["kind"], "path");
}

#[test]
fn an_ingress_path_rule() {
    let report = explain(
        &example("ingress"),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/status/200",
        ],
    );
    let route = &report["route"];
    assert_eq!(route["resource"]["kind"], "Ingress", "{report:#}");
    assert_eq!(route["resource"]["name"], "ingress");
    assert_eq!(route["field"], "spec.rules[0].http.paths[0]");
    assert!(ends_with(&route["source"], "ingress.yaml:20"));
    assert_eq!(
        report["action"]["backends"][0]["key"],
        "outbound|8000||httpbin.default.svc.cluster.local"
    );
}

#[test]
fn https_redirect_and_redirect_locations() {
    let config = ConfigDir::new();
    config.write(
        "gateway.yaml",
        r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [secure.example.com]
    tls: {httpsRedirect: true}
  - port: {number: 80, name: http2, protocol: HTTP}
    hosts: [httpbin.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: moves
spec:
  hosts: [secure.example.com, httpbin.example.com]
  gateways: [httpbin-gateway]
  http:
  - match:
    - uri: {prefix: /old}
    redirect: {uri: /new, redirectCode: 302}
  - directResponse: {status: 418, body: {string: teapot}}
"#,
    );
    let report = explain(
        config.path(),
        &["-H", "Host: secure.example.com", "http://127.0.0.1/a?b=1"],
    );
    assert_eq!(report["outcome"]["kind"], "https_redirect", "{report:#}");
    assert_eq!(report["outcome"]["status"], 301);
    assert_eq!(
        report["outcome"]["location"],
        "https://secure.example.com/a?b=1"
    );
    let report = explain(
        config.path(),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/old/x?q",
        ],
    );
    assert_eq!(report["outcome"]["status"], 302, "{report:#}");
    assert_eq!(
        report["outcome"]["location"],
        "http://httpbin.example.com/new?q"
    );
    let report = explain(
        config.path(),
        &["-H", "Host: httpbin.example.com", "http://127.0.0.1/other"],
    );
    assert_eq!(report["outcome"]["status"], 418);
    assert_eq!(report["action"]["direct_response"]["body"], "teapot");
}

#[test]
fn the_text_output_reads_as_a_walk_through() {
    let text = explain_text(
        &example("httpbin"),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/status/200",
        ],
    );
    for expected in [
        "request   GET http://httpbin.example.com/status/200",
        "listener  80 HTTP (http.80), opened by Gateway default/httpbin-gateway",
        "vhost     httpbin.example.com:80",
        "rule      #0 default.httpbin.0 of VirtualService default/httpbin at ",
        "virtualservice.yaml:13 (spec.http[0].match[0])",
        "matched: path prefix /status",
        "action    forward",
        "backend outbound|8000||httpbin.default.svc.cluster.local weight 1 (100%)",
        "endpoints: 127.0.0.1:18080",
        "result    forwarded to outbound|8000||httpbin.default.svc.cluster.local",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let text = explain_text(
        &example("httpbin"),
        &[
            "-H",
            "Host: httpbin.example.com",
            "http://127.0.0.1/headers",
        ],
    );
    for expected in [
        "result    404 Not Found: no rule of virtual host httpbin.example.com:80 matches",
        "why:",
        "rules of the virtual host, nearest first:",
        "x path /headers does not match prefix /status",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

/// A request: host, path, extra headers.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// Two named httpbin backends, header routing, a direct response and a
/// redirect: explain's prediction for each request is what `serve` does.
#[tokio::test]
async fn explain_predicts_what_serve_answers() {
    let a = support::httpbin("a").await;
    let b = support::httpbin("b").await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write(
        "virtualservice.yaml",
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: [httpbin.example.com]
  gateways: [httpbin-gateway]
  http:
  - match:
    - headers: {x-version: {exact: v2}}
    route:
    - destination: {host: httpbin-b, port: {number: 8000}}
  - match:
    - uri: {prefix: /status}
    - uri: {prefix: /get}
    route:
    - destination: {host: httpbin-a, port: {number: 8000}}
  - match:
    - uri: {exact: /teapot}
    directResponse: {status: 418, body: {string: short and stout}}
  - match:
    - uri: {prefix: /old}
    redirect: {uri: /get}
"#,
    );
    config.write("a.yaml", &service("httpbin-a", "default", 8000, &[a]));
    config.write("b.yaml", &service("httpbin-b", "default", 8000, &[b]));
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    let names = [(a, "a"), (b, "b")];
    let cases: [Case; 7] = [
        ("httpbin.example.com", "/get", &[]),
        ("httpbin.example.com", "/status/200", &[]),
        ("httpbin.example.com", "/anything", &[("x-version", "v2")]),
        ("httpbin.example.com", "/headers", &[]),
        ("httpbin.example.com", "/teapot", &[]),
        ("httpbin.example.com", "/old/x", &[]),
        ("other.example.com", "/get", &[]),
    ];
    for (host, path, headers) in cases {
        let url = format!("http://127.0.0.1:{}{path}", address.port());
        let host_header = format!("Host: {host}");
        let port_map = format!("80={}", address.port());
        let mut args = vec!["--port-map", &port_map, "-H", &host_header];
        let extra: Vec<String> = headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        for header in &extra {
            args.extend(["-H", header.as_str()]);
        }
        args.push(&url);
        let report = explain(config.path(), &args);
        let (status, response_headers, _) = support::get_with(address, host, path, headers).await;
        let what = format!("{host}{path} {headers:?}: {:#}", report["outcome"]);
        match report["outcome"]["status"].as_u64() {
            Some(predicted) => assert_eq!(u64::from(status.as_u16()), predicted, "{what}"),
            None => {
                assert_eq!(report["outcome"]["kind"], "forward", "{what}");
                assert_eq!(status.as_u16(), 200, "{what}");
                // The backend that answered is the one explain named.
                let endpoint: SocketAddr = report["action"]["backends"][0]["endpoints"][0]
                    ["address"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let expected = names.iter().find(|(addr, _)| *addr == endpoint).unwrap().1;
                assert_eq!(
                    response_headers["x-httpbin-name"].to_str().unwrap(),
                    expected,
                    "{what}"
                );
            }
        }
        if let Some(location) = report["outcome"]["location"].as_str() {
            assert_eq!(
                response_headers["location"].to_str().unwrap(),
                location,
                "{what}"
            );
        }
    }
}

/// `explain --admin ADDR` explains against what a running gateway serves:
/// the same report as `--config` on its files, the rule placed at its
/// file and line, and the gateway's own identity (here a non-default
/// namespace its Gateway is in).
#[tokio::test]
async fn explain_against_a_running_gateway_by_its_admin_address() {
    let backend = support::httpbin("a").await;
    let config = ConfigDir::new();
    config.write(
        "gateway.yaml",
        &SEED_GATEWAY.replace(
            "name: httpbin-gateway",
            "name: httpbin-gateway\n  namespace: edge",
        ),
    );
    config.write(
        "virtualservice.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: httpbin}\nspec:\n  hosts: [httpbin.example.com]\n  gateways: [edge/httpbin-gateway]\n  http:\n  - match: [{uri: {prefix: /get}}]\n    route: [{destination: {host: httpbin, port: {number: 8000}}}]\n",
    );
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80], &["--namespace", "edge"]).await;
    let admin = gateway.admin.to_string();
    let args = ["-H", "Host: httpbin.example.com", "http://127.0.0.1/get"];
    let run = |source: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
            .arg("explain")
            .args(source)
            .args(["--output", "json"])
            .args(args)
            .output()
            .expect("run vestibule explain");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).expect("JSON report")
    };
    let by_admin = run(&["--admin", &admin]);
    assert_eq!(by_admin["outcome"]["kind"], "forward", "{by_admin:#}");
    assert!(
        ends_with(&by_admin["route"]["source"], "virtualservice.yaml:8"),
        "{by_admin:#}"
    );
    let path = config.path().display().to_string();
    let by_files = run(&["--config", &path, "--namespace", "edge"]);
    assert_eq!(by_admin, by_files);

    // An address with nothing behind it is a clear failure.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(["explain", "--admin", "127.0.0.1:9"])
        .args(args)
        .output()
        .expect("run vestibule explain");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("127.0.0.1:9: connect"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
