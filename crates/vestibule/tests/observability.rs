//! The access log (Istio's default text format and its JSON encoding) and
//! Istio's standard metrics, end to end with curl: each field of a line,
//! Envoy's response flags and details for the ways a request ends, and the
//! series `istio_requests_total` and its histograms count them in.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use support::{curl, service, ConfigDir, Gateway, Recorder, HOST, SEED_GATEWAY};

const ROUTES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: [httpbin.example.com]
  gateways: [httpbin-gateway]
  http:
  - name: empty
    match: [{uri: {prefix: /empty}}]
    route: [{destination: {host: empty, port: {number: 8000}}}]
  - name: down
    match: [{uri: {prefix: /down}}]
    retries: {attempts: 2, retryOn: connect-failure}
    route: [{destination: {host: down, port: {number: 8000}}}]
  - name: abort
    match: [{uri: {prefix: /abort}}]
    fault:
      abort: {httpStatus: 418, percentage: {value: 100}}
    route: [{destination: {host: app, port: {number: 8000}}}]
  - name: app
    match: [{uri: {prefix: /app}}]
    route: [{destination: {host: app, port: {number: 8000}}}]
"#;

/// A Service with no endpoints (503 `no healthy upstream`).
const EMPTY_SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  ports: [{name: http, port: 8000}]
"#;

struct Setup {
    _config: ConfigDir,
    gateway: Gateway,
    app: Recorder,
    address: SocketAddr,
    log: PathBuf,
}

async fn start(encoding: &str) -> Setup {
    let app = Recorder::start(|_| 200).await;
    // A port nothing listens on: connections are refused.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("vs.yaml", ROUTES);
    config.write("app.yaml", &service("app", "default", 8000, &[app.address]));
    config.write("down.yaml", &service("down", "default", 8000, &[down]));
    config.write("empty.yaml", EMPTY_SERVICE);
    let log = config.path().join("logs").join("access.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let log_arg = log.display().to_string();
    let gateway = Gateway::start(
        config.path(),
        &[80],
        &[
            "--access-log-file",
            &log_arg,
            "--access-log-encoding",
            encoding,
            "--labels",
            "app=istio-ingressgateway,istio=ingressgateway",
        ],
    )
    .await;
    let address = gateway.listener(80).await;
    Setup {
        _config: config,
        gateway,
        app,
        address,
        log,
    }
}

/// curl with the gateway's address for the seed's host; `-w` gives the status.
async fn request(address: SocketAddr, path: &str, extra: &[&str]) -> String {
    let url = format!("http://{HOST}:{}{path}", address.port());
    let resolve = format!("{HOST}:{}:127.0.0.1", address.port());
    let mut args = vec![
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args).await
}

/// Waits for `count` lines in the log (each worker hands its lines over in
/// batches: requests on different connections, which may be served by
/// different workers, are not in the order they were made, as in nginx's
/// buffered log).
async fn lines(log: &PathBuf, count: usize) -> Vec<String> {
    for _ in 0..200 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= count {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "fewer than {count} lines in the access log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Splits a text line into Istio's fields: quoted ones whole, the rest by
/// spaces.
fn fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let (field, tail) = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').expect("closing quote");
            (&quoted[..end], &quoted[end + 1..])
        } else if let Some(bracketed) = rest.strip_prefix('[') {
            let end = bracketed.find(']').expect("closing bracket");
            (&bracketed[..end], &bracketed[end + 1..])
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        fields.push(field.to_owned());
        rest = tail;
    }
    fields
}

#[tokio::test]
async fn the_text_log_has_istios_default_fields_for_a_forwarded_request() {
    let setup = start("text").await;
    let status = request(
        setup.address,
        "/app/x?q=1",
        &[
            "-A",
            "curl-test",
            "-H",
            "x-request-id: rid-1",
            "-H",
            "x-forwarded-for: 10.9.9.9",
        ],
    )
    .await;
    assert_eq!(status, "200");
    let lines = lines(&setup.log, 1).await;
    let f = fields(&lines[0]);
    // [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS DETAILS TERMINATION
    // "TRANSPORT_FAILURE" RECEIVED SENT DURATION UPSTREAM_TIME "XFF" "UA"
    // "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST" CLUSTER UPSTREAM_LOCAL
    // DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE SNI ROUTE
    assert_eq!(f.len(), 22, "{f:?}");
    assert!(
        f[0].ends_with('Z') && f[0].len() == 24,
        "start time {:?}",
        f[0]
    );
    assert_eq!(f[1], "GET /app/x?q=1 HTTP/1.1");
    assert_eq!(&f[2..6], ["200", "-", "via_upstream", "-"]);
    assert_eq!(f[6], "-");
    assert_eq!(f[7], "0", "bytes received");
    assert_eq!(f[8], "8", "bytes sent: `recorded`");
    assert!(f[9].parse::<u64>().is_ok(), "duration {:?}", f[9]);
    assert!(
        f[10].parse::<u64>().is_ok(),
        "upstream service time {:?}",
        f[10]
    );
    assert_eq!(
        f[11], "10.9.9.9,127.0.0.1",
        "x-forwarded-for as sent upstream"
    );
    assert_eq!(f[12], "curl-test");
    assert_eq!(f[13], "rid-1");
    assert_eq!(f[14], format!("{HOST}:{}", setup.address.port()));
    assert_eq!(f[15], setup.app.address.to_string(), "upstream host");
    assert_eq!(f[16], "outbound|8000||app.default.svc.cluster.local");
    let upstream_end = setup.app.seen()[0].peer.to_string();
    assert_eq!(f[17], upstream_end, "upstream local address");
    assert_eq!(f[18], setup.address.to_string(), "downstream local address");
    assert!(
        f[19].starts_with("127.0.0.1:"),
        "downstream remote {:?}",
        f[19]
    );
    assert_eq!(f[20], "-", "no SNI on plain text");
    assert_eq!(f[21], "app", "route name");
}

#[tokio::test]
async fn local_replies_carry_envoys_flags_and_details() {
    let setup = start("text").await;
    assert_eq!(request(setup.address, "/nowhere", &[]).await, "404");
    assert_eq!(request(setup.address, "/empty", &[]).await, "503");
    assert_eq!(request(setup.address, "/down", &[]).await, "503");
    assert_eq!(request(setup.address, "/abort", &[]).await, "418");
    let mut lines = lines(&setup.log, 4).await;
    // In the order the requests were made (they came on four connections).
    let made = ["/nowhere ", "/empty ", "/down ", "/abort "];
    lines.sort_by_key(|line| made.iter().position(|path| line.contains(path)));
    let outcome = |line: &str| {
        let f = fields(line);
        (f[1].clone(), f[2].clone(), f[3].clone(), f[4].clone())
    };
    let outcomes: Vec<_> = lines.iter().map(|line| outcome(line)).collect();
    assert_eq!(
        outcomes,
        [
            (
                "GET /nowhere HTTP/1.1".into(),
                "404".into(),
                "NR".into(),
                "route_not_found".into()
            ),
            (
                "GET /empty HTTP/1.1".into(),
                "503".into(),
                "UH".into(),
                "no_healthy_upstream".into()
            ),
            (
                "GET /down HTTP/1.1".into(),
                "503".into(),
                "UF,URX".into(),
                "upstream_reset_before_response_started{connection_failure}".into()
            ),
            (
                "GET /abort HTTP/1.1".into(),
                "418".into(),
                "FI".into(),
                "fault_filter_abort".into()
            ),
        ]
    );
    // The refused endpoint is the upstream host of the failed attempts.
    let down = fields(&lines[2]);
    assert!(down[15].starts_with("127.0.0.1:"), "{down:?}");
    assert_eq!(down[16], "outbound|8000||down.default.svc.cluster.local");
    assert!(setup.app.seen().is_empty(), "nothing reached the app");
    // Envoy's cluster figures: three attempts (two retries), each refused.
    let (_, metrics) = setup.gateway.admin_get("/metrics").await;
    for (name, value) in [
        ("envoy_cluster_upstream_rq_total", 3),
        ("envoy_cluster_upstream_cx_connect_fail_total", 3),
        ("envoy_cluster_upstream_rq_retry_total", 2),
        ("envoy_cluster_upstream_rq_timeout_total", 0),
        ("envoy_cluster_upstream_rq_active", 0),
    ] {
        let line = format!(
            "{name}{{cluster_name=\"outbound|8000||down.default.svc.cluster.local\"}} {value}"
        );
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn the_json_log_has_the_same_fields_typed() {
    let setup = start("json").await;
    let status = request(
        setup.address,
        "/app/posted",
        &["--http2-prior-knowledge", "-d", "hello=world"],
    )
    .await;
    assert_eq!(status, "200");
    assert_eq!(request(setup.address, "/nowhere", &[]).await, "404");
    let lines: Vec<serde_json::Value> = lines(&setup.log, 2)
        .await
        .iter()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    // The two requests came on two connections: find each by its path.
    let line = |path: &str| {
        lines
            .iter()
            .find(|line| line["path"] == path)
            .unwrap_or_else(|| panic!("no line for {path}: {lines:?}"))
            .clone()
    };
    assert_eq!(lines.len(), 2, "{lines:?}");
    let posted = line("/app/posted");
    assert_eq!(posted["method"], "POST");
    assert_eq!(posted["path"], "/app/posted");
    assert_eq!(posted["protocol"], "HTTP/2");
    assert_eq!(posted["response_code"], 200);
    assert_eq!(posted["response_flags"], "-");
    assert_eq!(posted["bytes_received"], 11);
    assert_eq!(posted["bytes_sent"], 8);
    assert!(posted["duration"].is_u64());
    assert_eq!(
        posted["upstream_cluster"],
        "outbound|8000||app.default.svc.cluster.local"
    );
    assert_eq!(posted["upstream_host"], setup.app.address.to_string());
    let upstream_end = setup.app.seen().last().unwrap().peer.to_string();
    assert_eq!(posted["upstream_local_address"], upstream_end);
    assert_eq!(posted["route_name"], "app");
    assert!(posted["request_id"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
    let missed = line("/nowhere");
    assert_eq!(missed["response_code"], 404);
    assert_eq!(missed["response_flags"], "NR");
    assert_eq!(missed["upstream_host"], serde_json::Value::Null);
    assert_eq!(missed["upstream_local_address"], serde_json::Value::Null);
    assert_eq!(missed["route_name"], serde_json::Value::Null);
}

/// `istio_requests_total` and its histograms, with Istio's labels.
#[tokio::test]
async fn istio_metrics_count_requests_by_destination_and_outcome() {
    let setup = start("text").await;
    for _ in 0..3 {
        assert_eq!(request(setup.address, "/app", &[]).await, "200");
    }
    assert_eq!(request(setup.address, "/nowhere", &[]).await, "404");
    assert_eq!(request(setup.address, "/empty", &[]).await, "503");
    // The last request counted, in the counter and the histograms.
    let metrics = setup
        .gateway
        .metrics_when(|metrics| {
            ["istio_requests_total{", "istio_response_bytes_count{"]
                .iter()
                .all(|series| {
                    metrics.lines().any(|line| {
                        line.starts_with(series) && line.contains("response_code=\"503\"")
                    })
                })
        })
        .await;
    let series = |name: &str, needles: &[&str]| -> Vec<String> {
        metrics
            .lines()
            .filter(|line| line.starts_with(name))
            .filter(|line| needles.iter().all(|needle| line.contains(needle)))
            .map(str::to_owned)
            .collect()
    };
    let ok = series(
        "istio_requests_total{",
        &[
            "reporter=\"source\"",
            "source_workload=\"istio-ingressgateway\"",
            "source_workload_namespace=\"istio-system\"",
            "destination_service=\"app.default.svc.cluster.local\"",
            "destination_service_name=\"app\"",
            "destination_service_namespace=\"default\"",
            "request_protocol=\"http\"",
            "response_code=\"200\"",
            "response_flags=\"-\"",
        ],
    );
    assert_eq!(ok.len(), 1, "{metrics}");
    assert!(ok[0].ends_with(" 3"), "{}", ok[0]);
    let missed = series(
        "istio_requests_total{",
        &[
            "destination_service=\"unknown\"",
            "response_code=\"404\"",
            "response_flags=\"NR\"",
        ],
    );
    assert_eq!(missed.len(), 1, "{metrics}");
    assert!(missed[0].ends_with(" 1"));
    let unhealthy = series(
        "istio_requests_total{",
        &[
            "destination_service=\"empty.default.svc.cluster.local\"",
            "response_flags=\"UH\"",
        ],
    );
    assert_eq!(unhealthy.len(), 1, "{metrics}");
    // Histograms: every bucket line, `+Inf` equal to the count; 8-byte
    // bodies fall in le="10".
    let inf = series(
        "istio_request_duration_milliseconds_bucket{",
        &["destination_service_name=\"app\"", "le=\"+Inf\""],
    );
    assert_eq!(inf.len(), 1, "{metrics}");
    assert!(inf[0].ends_with(" 3"));
    let duration_buckets = series(
        "istio_request_duration_milliseconds_bucket{",
        &["destination_service_name=\"app\""],
    );
    assert_eq!(duration_buckets.len(), 20, "19 bounds and +Inf");
    let ten = series(
        "istio_response_bytes_bucket{",
        &["destination_service_name=\"app\"", "le=\"10.0\""],
    );
    assert_eq!(ten.len(), 1, "{metrics}");
    assert!(ten[0].ends_with(" 3"), "{}", ten[0]);
    let one = series(
        "istio_response_bytes_bucket{",
        &["destination_service_name=\"app\"", "le=\"1.0\""],
    );
    assert!(one[0].ends_with(" 0"), "{}", one[0]);
    let sum = series(
        "istio_response_bytes_sum{",
        &["destination_service_name=\"app\""],
    );
    assert!(sum[0].ends_with(" 24.0"), "{}", sum[0]);
    // Envoy's listener figures: five connections (curl, one each).
    let listener = format!("listener_address=\"127.0.0.1_{}\"", setup.address.port());
    assert!(
        metrics.contains(&format!(
            "envoy_listener_downstream_cx_total{{{listener}}} 5"
        )),
        "{metrics}"
    );
    // curl has closed all five: the listener's open count falls to 0.
    let closed = format!("envoy_listener_downstream_cx_active{{{listener}}} 0");
    let mut seen = String::new();
    for _ in 0..100 {
        seen = setup.gateway.admin_get("/metrics").await.1;
        if seen.contains(&closed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen.contains(&closed), "{closed} missing:\n{seen}");
    let status = setup.gateway.status().await;
    let bound = status["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["port"] == 80)
        .expect("listener 80");
    assert_eq!(bound["acceptedConnections"], 5, "{bound}");
    // Prometheus' text format by default: families named as their samples.
    assert!(metrics.contains("# TYPE istio_requests_total counter"));
    assert!(!metrics.contains("# EOF"));
    // OpenMetrics when the scraper asks for it.
    let url = format!("http://{}/metrics", setup.gateway.admin);
    let openmetrics = curl(&[
        "-H",
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        "-D",
        "-",
        &url,
    ])
    .await;
    assert!(
        openmetrics.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{openmetrics}"
    );
    assert!(openmetrics.contains("# TYPE istio_requests counter"));
    assert!(openmetrics.trim_end().ends_with("# EOF"));
}

/// `/metrics` read back by Prometheus' own parsers (Debian's
/// `python3-prometheus-client`, which scripts/test installs), in the text
/// format and in OpenMetrics, as a scraper takes them: a format error fails
/// the parser, and Istio's families must come out with their types, labels
/// and values.
#[tokio::test]
async fn istio_metrics_parse_with_prometheus_parsers() {
    let setup = start("text").await;
    for _ in 0..3 {
        assert_eq!(request(setup.address, "/app", &[]).await, "200");
    }
    // Every series below counts the three (the parsers then read them).
    let counted = |metrics: &str| {
        let series = [
            "istio_requests_total{",
            "istio_request_duration_milliseconds_count{",
            "istio_request_bytes_count{",
            "istio_response_bytes_count{",
        ];
        series.iter().all(|series| {
            metrics.lines().any(|line| {
                line.starts_with(series)
                    && line.contains("reporter=\"source\"")
                    && line.contains("response_code=\"200\"")
                    && line.ends_with(" 3")
            })
        })
    };
    let text = setup.gateway.metrics_when(counted).await;
    let url = format!("http://{}/metrics", setup.gateway.admin);
    let open = curl(&[
        "-H",
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        &url,
    ])
    .await;
    for (format, all) in [
        ("text", prometheus_parse(&text, "text")),
        ("openmetrics", prometheus_parse(&open, "openmetrics")),
    ] {
        let ok = [("reporter", "source"), ("response_code", "200")];
        let requests = samples(&all, "istio_requests_total", &ok);
        assert_eq!(requests.len(), 1, "{format}: {requests:?}");
        assert_eq!(requests[0]["value"], 3.0, "{format}");
        for family in [
            "istio_request_duration_milliseconds",
            "istio_request_bytes",
            "istio_response_bytes",
        ] {
            let kind = all.iter().find(|s| s["family"] == family);
            assert_eq!(
                kind.map(|s| s["type"].clone()),
                Some("histogram".into()),
                "{format}: {family}"
            );
            let count = samples(&all, &format!("{family}_count"), &ok);
            assert_eq!(count.len(), 1, "{format}: {family}");
            assert_eq!(count[0]["value"], 3.0, "{format}: {family}");
            let inf = [ok[0], ok[1], ("le", "+Inf")];
            let bucket = samples(&all, &format!("{family}_bucket"), &inf);
            assert_eq!(bucket.len(), 1, "{format}: {family}");
            assert_eq!(bucket[0]["value"], 3.0, "{format}: {family}");
        }
    }
}

/// Every sample of `text` as Prometheus' parser for `format` reads it:
/// family, type, sample name, labels, value.
fn prometheus_parse(text: &str, format: &str) -> Vec<serde_json::Value> {
    use std::io::Write as _;
    let module = match format {
        "openmetrics" => "prometheus_client.openmetrics.parser",
        _ => "prometheus_client.parser",
    };
    let script = format!(
        "import json, sys\n\
         from {module} import text_string_to_metric_families as parse\n\
         print(json.dumps([{{'family': f.name, 'type': f.type, 'name': s.name, \
         'labels': s.labels, 'value': s.value}} \
         for f in parse(sys.stdin.read()) for s in f.samples]))\n"
    );
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).expect("write");
    drop(stdin);
    let output = child.wait_with_output().expect("parser");
    assert!(
        output.status.success(),
        "the {format} parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

/// The samples named `name` whose labels include every pair.
fn samples<'s>(
    all: &'s [serde_json::Value],
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'s serde_json::Value> {
    all.iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .collect()
}

const MESH_ACCESS_LOG: &str = r#"
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  accessLogging:
  - providers:
    - name: envoy
"#;

const GATEWAY_LOG_OFF: &str = r#"
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: no-gateway-log
  namespace: istio-system
spec:
  selector:
    matchLabels: {istio: ingressgateway}
  accessLogging:
  - providers: [{name: envoy}, {name: otel}]
    disabled: true
"#;

/// Istio's Telemetry turns the access log on (the `envoy` provider: the
/// process's standard output) with no flag given, and a more specific one
/// (selecting the gateway's labels) turns it off again, on reload.
#[tokio::test]
async fn istio_telemetry_turns_the_access_log_on_and_off() {
    let app = Recorder::start(|_| 200).await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("vs.yaml", ROUTES);
    config.write("app.yaml", &service("app", "default", 8000, &[app.address]));
    config.write("telemetry.yaml", MESH_ACCESS_LOG);
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    assert_eq!(request(address, "/app/on", &[]).await, "200");
    let logged = |gateway: &Gateway, path: &str| {
        gateway
            .stdout()
            .lines()
            .any(|line| line.contains(&format!("\"GET {path} HTTP/1.1\" 200")))
    };
    let mut seen = false;
    for _ in 0..200 {
        seen = logged(&gateway, "/app/on");
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(seen, "no access log line on stdout:\n{}", gateway.stdout());

    let generation = gateway.generation().await;
    config.write("off.yaml", GATEWAY_LOG_OFF);
    gateway.wait_generation(generation + 1).await;
    assert_eq!(request(address, "/app/off", &[]).await, "200");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!logged(&gateway, "/app/off"), "{}", gateway.stdout());
    // What it asks that is not honoured is reported, not ignored.
    let status = gateway.status().await;
    let telemetries = status["telemetries"].as_array().expect("telemetries");
    let off = telemetries
        .iter()
        .find(|t| t["name"] == "no-gateway-log")
        .expect("status of no-gateway-log");
    let warnings = off["warnings"].to_string();
    assert!(
        warnings.contains("\\\"otel\\\" is not supported"),
        "{warnings}"
    );
}
