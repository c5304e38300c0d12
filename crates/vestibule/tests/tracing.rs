//! Distributed tracing end to end: the real gateway process, a recording
//! backend that shows the trace headers it got, and an OTLP/HTTP receiver
//! that decodes what the gateway exports with the OpenTelemetry protobuf
//! definitions (`opentelemetry-proto`).

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, Span};
use prost::Message as _;
use support::{Client, ConfigDir, Gateway, Recorder, HOST, SEED_GATEWAY, SEED_VIRTUAL_SERVICE};

/// An OTLP/HTTP traces receiver: every span it was sent, with its
/// resource's `service.name`.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

impl Receiver {
    async fn start() -> (Receiver, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let receiver = Receiver::default();
        let spans = Arc::clone(&receiver.spans);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let spans = Arc::clone(&spans);
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let spans = Arc::clone(&spans);
                    async move {
                        assert_eq!(request.uri().path(), "/v1/traces");
                        assert_eq!(request.headers()["content-type"], "application/x-protobuf");
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let export =
                            ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                        for resource in export.resource_spans {
                            let service = resource
                                .resource
                                .iter()
                                .flat_map(|r| &r.attributes)
                                .find(|kv| kv.key == "service.name")
                                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                                .map(|value| match value {
                                    Value::StringValue(name) => name.clone(),
                                    other => format!("{other:?}"),
                                })
                                .unwrap_or_default();
                            for scope in resource.scope_spans {
                                for span in scope.spans {
                                    spans.lock().unwrap().push((service.clone(), span));
                                }
                            }
                        }
                        let mut response = hyper::Response::new(Full::new(Bytes::new()));
                        response
                            .headers_mut()
                            .insert("content-type", "application/x-protobuf".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                tokio::spawn(
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned(),
                );
            }
        });
        (receiver, address)
    }

    /// The spans received so far, waiting up to 5 s for `count` of them.
    async fn wait_for(&self, count: usize) -> Vec<(String, Span)> {
        for _ in 0..100 {
            if self.spans.lock().unwrap().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.received()
    }

    fn received(&self) -> Vec<(String, Span)> {
        self.spans.lock().unwrap().clone()
    }
}

struct Setup {
    _config: ConfigDir,
    gateway: Gateway,
    address: SocketAddr,
    backend: Recorder,
    receiver: Receiver,
}

/// The seed's httpbin routes to a recording backend, spans to a receiver,
/// with `sampling` percent and the `extra` resources.
async fn start(sampling: &str, extra: &str) -> Setup {
    let backend = Recorder::start(|_| 200).await;
    let (receiver, collector) = Receiver::start().await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("vs.yaml", SEED_VIRTUAL_SERVICE);
    config.write(
        "httpbin.yaml",
        &support::service("httpbin", "default", 8000, &[backend.address]),
    );
    if !extra.is_empty() {
        config.write("extra.yaml", extra);
    }
    let endpoint = format!("http://{collector}/v1/traces");
    let gateway = Gateway::start(
        config.path(),
        &[80],
        &[
            "--tracing-otlp-endpoint",
            &endpoint,
            "--tracing-sampling",
            sampling,
            "--labels",
            "app=istio-ingressgateway,istio=ingressgateway",
        ],
    )
    .await;
    let address = gateway.listener(80).await;
    Setup {
        _config: config,
        gateway,
        address,
        backend,
        receiver,
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?;
    Some(match value.value.as_ref()? {
        Value::StringValue(text) => text.clone(),
        Value::IntValue(number) => number.to_string(),
        other => format!("{other:?}"),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

/// A sampled W3C trace: the backend gets the trace with the gateway's
/// span as its parent, and the receiver gets that span, child of the
/// caller's, with Envoy's tags and the gateway's service name.
#[tokio::test]
async fn a_w3c_trace_continues_through_the_gateway_and_its_span_is_exported() {
    // Sampling 0: the caller's decision (sampled) is what counts.
    let setup = start("0", "").await;
    let traceparent = format!("00-{TRACE}-{CALLER}-01");
    let (status, _, _) = Client::connect(setup.address)
        .await
        .request(
            HOST,
            "/status/200",
            &[("traceparent", &traceparent), ("tracestate", "vendor=x")],
        )
        .await;
    assert_eq!(status, 200);
    let seen = setup.backend.seen();
    let upstream = seen[0].headers["traceparent"].to_str().unwrap().to_owned();
    let parts: Vec<&str> = upstream.split('-').collect();
    assert_eq!(
        (parts[0], parts[1], parts[3]),
        ("00", TRACE, "01"),
        "{upstream}"
    );
    let gateway_span = parts[2];
    assert_ne!(gateway_span, CALLER, "the gateway's own span is the parent");
    assert_eq!(seen[0].headers["tracestate"], "vendor=x");
    let request_id = seen[0].headers["x-request-id"].to_str().unwrap().to_owned();

    let spans = setup.receiver.wait_for(1).await;
    assert_eq!(spans.len(), 1, "{spans:?}");
    let (service, span) = &spans[0];
    assert_eq!(service, "istio-ingressgateway.istio-system");
    assert_eq!(hex(&span.trace_id), TRACE);
    assert_eq!(hex(&span.span_id), gateway_span);
    assert_eq!(hex(&span.parent_span_id), CALLER);
    assert_eq!(span.kind, SpanKind::Client as i32);
    assert_eq!(span.name, "httpbin.default.svc.cluster.local:8000/*");
    assert_eq!(attribute(span, "http.status_code").as_deref(), Some("200"));
    assert_eq!(attribute(span, "http.method").as_deref(), Some("GET"));
    assert_eq!(
        attribute(span, "http.url").as_deref(),
        Some("http://httpbin.example.com/status/200")
    );
    assert_eq!(attribute(span, "guid:x-request-id"), Some(request_id));
    assert_eq!(
        attribute(span, "upstream_cluster").as_deref(),
        Some("outbound|8000||httpbin.default.svc.cluster.local")
    );
    assert_eq!(attribute(span, "response_flags").as_deref(), Some("-"));
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
}

/// A request the gateway answers itself (no route: 404) has its span
/// too, named by its host, in the trace it brought.
#[tokio::test]
async fn a_local_reply_is_traced_too() {
    let setup = start("0", "").await;
    let traceparent = format!("00-{TRACE}-{CALLER}-01");
    let (status, _, _) = Client::connect(setup.address)
        .await
        .request(HOST, "/headers", &[("traceparent", &traceparent)])
        .await;
    assert_eq!(status, 404);
    assert!(setup.backend.seen().is_empty());
    let spans = setup.receiver.wait_for(1).await;
    assert_eq!(spans.len(), 1, "{spans:?}");
    let span = &spans[0].1;
    assert_eq!(hex(&span.trace_id), TRACE);
    assert_eq!(hex(&span.parent_span_id), CALLER);
    assert_eq!(span.name, "httpbin.example.com/*");
    assert_eq!(attribute(span, "http.status_code").as_deref(), Some("404"));
    assert_eq!(attribute(span, "response_flags").as_deref(), Some("NR"));
    assert_eq!(attribute(span, "upstream_cluster"), None);
    assert_eq!(attribute(span, "error"), None);
}

/// A B3 trace (multi-header) goes on in B3 as well as W3C, the gateway's
/// span the parent in both; an unsampled one is propagated, not exported.
#[tokio::test]
async fn b3_traces_continue_in_b3_and_unsampled_ones_are_not_exported() {
    let setup = start("100", "").await;
    let mut client = Client::connect(setup.address).await;
    let b3 = [
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ("x-b3-sampled", "1"),
    ];
    assert_eq!(client.request(HOST, "/status/200", &b3).await.0, 200);
    let unsampled = [
        ("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
        ("x-b3-spanid", "0020000000000001"),
        ("x-b3-sampled", "0"),
    ];
    assert_eq!(client.request(HOST, "/status/200", &unsampled).await.0, 200);
    let seen = setup.backend.seen();
    let headers = &seen[0].headers;
    assert_eq!(headers["x-b3-traceid"], "80f198ee56343ba864fe8b2a57d3eff7");
    assert_eq!(headers["x-b3-parentspanid"], "e457b5a2e4d86bd1");
    assert_eq!(headers["x-b3-sampled"], "1");
    let span_id = headers["x-b3-spanid"].to_str().unwrap();
    assert_ne!(span_id, "e457b5a2e4d86bd1");
    assert_eq!(
        headers["traceparent"],
        format!("00-80f198ee56343ba864fe8b2a57d3eff7-{span_id}-01").as_str()
    );
    assert_eq!(seen[1].headers["x-b3-sampled"], "0");
    assert!(seen[1].headers["traceparent"]
        .to_str()
        .unwrap()
        .ends_with("-00"));

    setup.receiver.wait_for(1).await;
    // A batch interval later, still only the sampled trace's.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let spans = setup.receiver.received();
    assert_eq!(spans.len(), 1, "only the sampled trace: {spans:?}");
    assert_eq!(
        hex(&spans[0].1.trace_id),
        "80f198ee56343ba864fe8b2a57d3eff7"
    );
    assert_eq!(hex(&spans[0].1.span_id), span_id);
}

/// Without a trace, the gateway starts one, sampled by the percentage:
/// at 100 % every request's span is exported (each its own trace); at 0 %
/// none is, though the upstream still gets a traceparent (unsampled).
#[tokio::test]
async fn requests_without_a_trace_start_one_sampled_by_the_percentage() {
    let mut all = start("100", "").await;
    let mut client = Client::connect(all.address).await;
    for _ in 0..3 {
        assert_eq!(client.get(HOST, "/status/200").await.0, 200);
    }
    drop(client);
    // At once, within the batch interval: the spans go at shutdown,
    // before the process exits.
    all.gateway.sigterm();
    all.gateway.wait().await;
    let spans = all.receiver.received();
    assert_eq!(spans.len(), 3);
    let traces: std::collections::BTreeSet<String> =
        spans.iter().map(|(_, span)| hex(&span.trace_id)).collect();
    assert_eq!(traces.len(), 3, "a new trace each");
    assert!(spans.iter().all(|(_, span)| span.parent_span_id.is_empty()));
    for seen in all.backend.seen() {
        let traceparent = seen.headers["traceparent"].to_str().unwrap().to_owned();
        assert!(traceparent.ends_with("-01"), "{traceparent}");
        assert!(traces.contains(traceparent.split('-').nth(1).unwrap()));
    }

    let mut none = start("0", "").await;
    let mut client = Client::connect(none.address).await;
    for _ in 0..3 {
        assert_eq!(client.get(HOST, "/status/200").await.0, 200);
    }
    none.gateway.sigterm();
    none.gateway.wait().await;
    assert!(none.receiver.received().is_empty());
    for seen in none.backend.seen() {
        assert!(seen.headers["traceparent"]
            .to_str()
            .unwrap()
            .ends_with("-00"));
    }
}

/// Istio's Telemetry `tracing.randomSamplingPercentage` overrides the
/// command line's; `disableSpanReporting` keeps spans from the collector.
#[tokio::test]
async fn the_telemetry_resource_sets_the_sampling_and_reporting() {
    let telemetry = |body: &str| {
        format!(
            "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {{name: mesh-default, namespace: istio-system}}\nspec:\n  tracing:\n  - {body}\n"
        )
    };
    let sampled = start("0", &telemetry("{randomSamplingPercentage: 100}")).await;
    assert_eq!(
        Client::connect(sampled.address)
            .await
            .get(HOST, "/status/200")
            .await
            .0,
        200
    );
    assert_eq!(sampled.receiver.wait_for(1).await.len(), 1);

    let mut quiet = start(
        "100",
        &telemetry("{randomSamplingPercentage: 100, disableSpanReporting: true}"),
    )
    .await;
    assert_eq!(
        Client::connect(quiet.address)
            .await
            .get(HOST, "/status/200")
            .await
            .0,
        200
    );
    let seen = quiet.backend.seen();
    assert!(seen[0].headers["traceparent"]
        .to_str()
        .unwrap()
        .ends_with("-01"));
    quiet.gateway.sigterm();
    quiet.gateway.wait().await;
    assert!(quiet.receiver.received().is_empty());
}
