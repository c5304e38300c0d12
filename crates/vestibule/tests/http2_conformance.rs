//! HTTP/2 conformance of the gateway's own server codec, checked with
//! clients that share none of its code: Python's h2 (Debian's python3-h2,
//! `support/h2/`), which reports every frame it read off the wire and the
//! events it made of them, curl, and h2load. Each test states what an
//! RFC 9113 client must see: settings and pings answered, bodies whole
//! under flow control both ways, trailers both ways, malformed requests
//! reset and the connection going on, the concurrency limit, frames on
//! closed streams, and a client's GOAWAY.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

use support::{httpbin, service, ConfigDir, Gateway, ANY_PATH_VS, HOST, SEED_GATEWAY};

/// Debian's python3 with python3-h2 (scripts/test installs it).
const PYTHON: &str = "/usr/bin/python3";

// RFC 9113 §6, §7: frame types and error codes as the client reports them.
const DATA: u64 = 0x0;
const RST_STREAM: u64 = 0x3;
const GOAWAY: u64 = 0x7;
const NO_ERROR: u64 = 0x0;
const PROTOCOL_ERROR: u64 = 0x1;
const STREAM_CLOSED: u64 = 0x5;
const REFUSED_STREAM: u64 = 0x7;
const SETTINGS_MAX_CONCURRENT_STREAMS: &str = "3";
const SETTINGS_INITIAL_WINDOW_SIZE: &str = "4";

/// The gateway routing every path of [`HOST`] to `service_yaml`'s
/// backend (an httpbin unless given).
async fn gateway(service_yaml: Option<String>, extra: &[&str]) -> (ConfigDir, Gateway) {
    let service_yaml = match service_yaml {
        Some(yaml) => yaml,
        None => service("httpbin", "default", 8000, &[httpbin("httpbin").await]),
    };
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", ANY_PATH_VS);
    config.write("httpbin.yaml", &service_yaml);
    let gateway = Gateway::start(config.path(), &[80], extra).await;
    (config, gateway)
}

/// Runs one of `support/h2/scenarios.py`'s conversations and returns
/// what the client saw.
async fn scenario(name: &str, address: SocketAddr) -> Seen {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/h2/scenarios.py");
    let output = Command::new(PYTHON)
        .arg(script)
        .args([name, &address.to_string()])
        // No __pycache__ beside the scripts in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("python3 with h2");
    assert!(output.status.success(), "scenario {name} failed");
    Seen(serde_json::from_slice(&output.stdout).expect("the scenario's JSON"))
}

/// The client's record: `frames` as read off the wire, `events` as h2
/// made them, `bodies` by stream.
struct Seen(Value);

impl Seen {
    fn events(&self, kind: &str) -> Vec<&Value> {
        let events = self.0["events"].as_array().expect("events");
        events.iter().filter(|e| e["type"] == kind).collect()
    }

    fn frames(&self, kind: u64) -> Vec<&Value> {
        let frames = self.0["frames"].as_array().expect("frames");
        frames.iter().filter(|f| f["frame"] == kind).collect()
    }

    fn body(&self, stream: u32) -> &str {
        self.0["bodies"][stream.to_string()].as_str().unwrap_or("")
    }

    fn status(&self, stream: u32) -> Option<&str> {
        let responses = self.events("ResponseReceived");
        let response = responses.iter().find(|e| e["stream"] == stream)?;
        response["headers"][":status"].as_str()
    }

    fn ended(&self, stream: u32) -> bool {
        self.events("StreamEnded")
            .iter()
            .any(|e| e["stream"] == stream)
    }

    fn resets(&self) -> Vec<(u64, u64)> {
        let resets = self.events("StreamReset");
        let code = |e: &&Value| {
            (
                e["stream"].as_u64().unwrap(),
                e["error_code"].as_u64().unwrap(),
            )
        };
        resets.iter().map(code).collect()
    }

    /// No connection error, from either side.
    fn assert_connection_fine(&self) {
        assert!(self.frames(GOAWAY).is_empty(), "{:#}", self.0);
        assert!(self.events("h2 error").is_empty(), "{:#}", self.0);
    }
}

#[tokio::test]
async fn settings_are_exchanged_and_acknowledged_and_a_ping_is_answered_with_its_payload() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("settings_and_ping", gateway.listener(80).await).await;
    let changed = seen.events("RemoteSettingsChanged");
    assert_eq!(changed.len(), 1, "{:#}", seen.0);
    assert_eq!(changed[0]["changed"][SETTINGS_MAX_CONCURRENT_STREAMS], 100);
    assert_eq!(changed[0]["changed"][SETTINGS_INITIAL_WINDOW_SIZE], 65_536);
    assert_eq!(seen.events("SettingsAcknowledged").len(), 1);
    // The connection window, raised from 65,535 to 1 MiB.
    let raised = seen.events("WindowUpdated");
    assert!(
        raised
            .iter()
            .any(|e| e["stream"] == 0 && e["delta"] == (1 << 20) - 65_535),
        "{:#}",
        seen.0
    );
    let pongs = seen.events("PingAckReceived");
    assert_eq!(pongs.len(), 1, "{:#}", seen.0);
    assert_eq!(pongs[0]["ping_data"], "vestibul");
    seen.assert_connection_fine();
}

#[tokio::test]
async fn a_get_gets_its_response_head_and_body() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("get", gateway.listener(80).await).await;
    assert_eq!(seen.status(1), Some("200"), "{:#}", seen.0);
    let json: Value = serde_json::from_str(seen.body(1)).expect("httpbin's JSON");
    assert_eq!(json["headers"]["Host"], HOST);
    assert!(seen.ended(1));
    seen.assert_connection_fine();
}

#[tokio::test]
async fn a_post_larger_than_the_stream_window_reaches_the_upstream_whole() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("post_large", gateway.listener(80).await).await;
    assert_eq!(seen.status(1), Some("200"), "{:#}", seen.0);
    let json: Value = serde_json::from_str(seen.body(1)).expect("httpbin's JSON");
    assert_eq!(json["data"].as_str().map(str::len), Some(200_000));
    // 200 KB past a 64 KiB stream window: the window came back as it was read.
    let given_back: u64 = seen
        .events("WindowUpdated")
        .iter()
        .filter(|e| e["stream"] == 1)
        .map(|e| e["delta"].as_u64().unwrap())
        .sum();
    assert!(given_back >= 200_000 - 65_536, "{given_back}");
    seen.assert_connection_fine();
}

#[tokio::test]
async fn a_response_larger_than_the_clients_window_arrives_whole_as_the_client_opens_it() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("small_window", gateway.listener(80).await).await;
    assert_eq!(seen.status(1), Some("200"), "{:#}", seen.0);
    // Random bytes, one char each (the client reports them as Latin-1).
    assert_eq!(seen.body(1).chars().count(), 102_400);
    assert!(seen.ended(1));
    // The client's window is 1,000 bytes: no DATA frame can be larger (h2
    // itself would have ended the connection past its window).
    let data = seen.frames(DATA);
    assert!(data.len() >= 103, "{} DATA frames", data.len());
    assert!(data.iter().all(|f| f["length"].as_u64().unwrap() <= 1000));
    seen.assert_connection_fine();
}

#[tokio::test]
async fn request_trailers_end_the_request_and_its_body_arrives() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("request_trailers", gateway.listener(80).await).await;
    assert_eq!(seen.status(1), Some("200"), "{:#}", seen.0);
    let json: Value = serde_json::from_str(seen.body(1)).expect("httpbin's JSON");
    assert_eq!(json["data"], "hello trailers");
    assert!(seen.resets().is_empty());
    seen.assert_connection_fine();
}

#[tokio::test]
async fn response_trailers_from_a_grpc_like_upstream_reach_the_client() {
    let upstream = support_trailer_upstream().await;
    let h2c = service("httpbin", "default", 8000, &[upstream]).replace(
        "  - name: http\n    port: 8000\n",
        "  - name: http\n    port: 8000\n    appProtocol: kubernetes.io/h2c\n",
    );
    let (_config, gateway) = gateway(Some(h2c), &[]).await;
    let seen = scenario("response_trailers", gateway.listener(80).await).await;
    assert_eq!(seen.status(1), Some("200"), "{:#}", seen.0);
    assert_eq!(seen.body(1), "hello");
    let trailers = seen.events("TrailersReceived");
    assert_eq!(trailers.len(), 1, "{:#}", seen.0);
    assert_eq!(trailers[0]["headers"]["grpc-status"], "0");
    assert_eq!(trailers[0]["headers"]["grpc-message"], "fine");
    assert!(seen.ended(1));
    seen.assert_connection_fine();
}

/// A malformed request on stream 1 is reset with PROTOCOL_ERROR (RFC 9113
/// §8.1.1) and the GET on stream 3 after it is served.
async fn malformed_is_reset_and_the_connection_goes_on(case: &str) {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario(&format!("malformed_{case}"), gateway.listener(80).await).await;
    assert_eq!(seen.resets(), [(1, PROTOCOL_ERROR)], "{case}: {:#}", seen.0);
    assert_eq!(seen.status(1), None, "{case}");
    assert_eq!(seen.status(3), Some("200"), "{case}: {:#}", seen.0);
    assert!(seen.ended(3), "{case}");
    seen.assert_connection_fine();
}

#[tokio::test]
async fn an_uppercase_header_name_is_reset_with_protocol_error() {
    malformed_is_reset_and_the_connection_goes_on("uppercase").await;
}

#[tokio::test]
async fn a_connection_specific_header_is_reset_with_protocol_error() {
    malformed_is_reset_and_the_connection_goes_on("connection_specific").await;
}

#[tokio::test]
async fn a_request_without_path_is_reset_with_protocol_error() {
    malformed_is_reset_and_the_connection_goes_on("missing_path").await;
}

#[tokio::test]
async fn te_other_than_trailers_is_reset_with_protocol_error() {
    malformed_is_reset_and_the_connection_goes_on("te_gzip").await;
}

#[tokio::test]
async fn a_body_short_of_its_content_length_is_reset_with_protocol_error() {
    malformed_is_reset_and_the_connection_goes_on("content_length").await;
}

#[tokio::test]
async fn streams_past_max_concurrent_streams_are_refused() {
    let extra = ["--http2-max-concurrent-streams", "2"];
    let (_config, gateway) = gateway(None, &extra).await;
    let seen = scenario("over_concurrency", gateway.listener(80).await).await;
    let changed = seen.events("RemoteSettingsChanged");
    assert_eq!(changed[0]["changed"][SETTINGS_MAX_CONCURRENT_STREAMS], 2);
    assert_eq!(seen.resets(), [(5, REFUSED_STREAM)], "{:#}", seen.0);
    assert_eq!(seen.status(1), Some("200"));
    assert_eq!(seen.status(3), Some("200"));
    seen.assert_connection_fine();
}

#[tokio::test]
async fn data_on_a_closed_stream_is_answered_with_stream_closed() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("data_on_closed_stream", gateway.listener(80).await).await;
    assert_eq!(seen.status(1), Some("200"));
    let resets = seen.frames(RST_STREAM);
    assert_eq!(resets.len(), 1, "{:#}", seen.0);
    assert_eq!(resets[0]["stream"], 1);
    assert_eq!(resets[0]["error_code"], STREAM_CLOSED);
    // A stream error: the connection goes on.
    assert_eq!(seen.status(3), Some("200"), "{:#}", seen.0);
    seen.assert_connection_fine();
}

/// RFC 9113 §5.1.1: a new stream's identifier must exceed every one the
/// client used; a lower one is a connection error of type PROTOCOL_ERROR.
#[tokio::test]
async fn headers_on_a_stream_lower_than_one_used_end_the_connection() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("headers_on_lower_stream", gateway.listener(80).await).await;
    assert_eq!(seen.status(3), Some("200"), "{:#}", seen.0);
    let goaways = seen.frames(GOAWAY);
    assert_eq!(goaways.len(), 1, "{:#}", seen.0);
    assert_eq!(goaways[0]["last_stream_id"], 3);
    assert_eq!(goaways[0]["error_code"], PROTOCOL_ERROR, "{:#}", seen.0);
}

#[tokio::test]
async fn after_a_client_goaway_the_stream_in_flight_is_still_answered() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("client_goaway", gateway.listener(80).await).await;
    assert_eq!(seen.status(1), Some("200"), "{:#}", seen.0);
    assert!(seen.ended(1));
    assert!(seen.resets().is_empty());
    let goaways = seen.frames(GOAWAY);
    assert!(
        goaways.iter().all(|g| g["error_code"] == NO_ERROR),
        "{:#}",
        seen.0
    );
}

#[tokio::test]
async fn a_client_reset_drops_its_stream_and_the_connection_goes_on() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("reset_in_flight", gateway.listener(80).await).await;
    assert_eq!(seen.status(3), Some("200"), "{:#}", seen.0);
    // Nothing more on the stream the client reset.
    let on_one = |f: &&Value| f["stream"] == 1;
    let frames = seen.0["frames"].as_array().unwrap();
    assert_eq!(frames.iter().filter(on_one).count(), 0, "{:#}", seen.0);
    seen.assert_connection_fine();
}

#[tokio::test]
async fn a_request_head_in_headers_and_continuation_frames_arrives_whole() {
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("large_request_head", gateway.listener(80).await).await;
    assert_eq!(seen.status(1), Some("200"), "{:#}", seen.0);
    let json: Value = serde_json::from_str(seen.body(1)).expect("httpbin's JSON");
    let large = json["headers"]["X-Large"].as_str().expect("x-large echoed");
    assert_eq!(large, "y".repeat(20_000));
    seen.assert_connection_fine();
}

#[tokio::test]
async fn a_response_head_past_the_clients_frame_size_arrives_in_continuation_frames() {
    const CONTINUATION: u64 = 0x9;
    let (_config, gateway) = gateway(None, &[]).await;
    let seen = scenario("large_response_head", gateway.listener(80).await).await;
    let responses = seen.events("ResponseReceived");
    assert_eq!(responses.len(), 1, "{:#}", seen.0);
    assert_eq!(responses[0]["headers"][":status"], "200");
    assert_eq!(responses[0]["headers"]["x-large"], "z".repeat(24_000));
    assert!(!seen.frames(CONTINUATION).is_empty());
    seen.assert_connection_fine();
}

#[tokio::test]
async fn curl_with_prior_knowledge_gets_and_posts() {
    let (_config, gateway) = gateway(None, &[]).await;
    let url = format!("http://{}/", gateway.listener(80).await);
    let host = format!("Host: {HOST}");
    let format = "\n%{http_version} %{http_code}";
    let get = support::curl(&[
        "--http2-prior-knowledge",
        "-H",
        &host,
        "-w",
        format,
        &format!("{url}get"),
    ])
    .await;
    let (body, tail) = get.rsplit_once('\n').expect("curl's output");
    assert_eq!(tail, "2 200", "{get}");
    let json: Value = serde_json::from_str(body).expect("httpbin's JSON");
    assert_eq!(json["headers"]["Host"], HOST);
    let post = support::curl(&[
        "--http2-prior-knowledge",
        "-H",
        &host,
        "-w",
        format,
        "-H",
        "content-type: text/plain",
        "--data-binary",
        "posted through curl",
        &format!("{url}post"),
    ])
    .await;
    let (body, tail) = post.rsplit_once('\n').expect("curl's output");
    assert_eq!(tail, "2 200", "{post}");
    let json: Value = serde_json::from_str(body).expect("httpbin's JSON");
    assert_eq!(json["data"], "posted through curl");
}

#[tokio::test]
async fn h2load_requests_all_succeed() {
    let (_config, gateway) = gateway(None, &[]).await;
    let url = format!("http://{}/status/200", gateway.listener(80).await);
    let output = Command::new("h2load")
        .args(["-n", "2000", "-c", "4", "-m", "8", "-H"])
        .arg(format!(":authority: {HOST}"))
        .arg(url)
        .output()
        .await
        .expect("h2load (nghttp2-client)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains("requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout"),
        "{report}"
    );
    assert!(report.contains("status codes: 2000 2xx"), "{report}");
}

/// An h2c upstream answering with `hello` and gRPC-style trailers (as
/// http2_downstream.rs's).
async fn support_trailer_upstream() -> SocketAddr {
    use bytes::Bytes;
    use http_body_util::StreamBody;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use std::convert::Infallible;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(
                |_request: http::Request<hyper::body::Incoming>| async {
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", "0".parse().unwrap());
                    trailers.insert("grpc-message", "fine".parse().unwrap());
                    let frames = futures_util::stream::iter([
                        Ok::<_, Infallible>(hyper::body::Frame::data(Bytes::from("hello"))),
                        Ok(hyper::body::Frame::trailers(trailers)),
                    ]);
                    let mut response = http::Response::new(StreamBody::new(frames));
                    response
                        .headers_mut()
                        .insert("content-type", "application/grpc".parse().unwrap());
                    Ok::<_, Infallible>(response)
                },
            );
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    address
}
