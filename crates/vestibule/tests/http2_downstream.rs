//! HTTP/2 from clients (h2c with prior knowledge, as h2load and gRPC
//! clients speak it): request bodies, large responses under flow control,
//! HEAD, trailers, concurrent streams on one connection, a client's reset
//! abandoning the upstream call, and the connection's graceful end on drain
//! and on idle.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use support::{httpbin, service, ConfigDir, Gateway, ANY_PATH_VS, HOST, SEED_GATEWAY};

async fn gateway_to(
    backend: SocketAddr,
    service_yaml: Option<String>,
    extra: &[&str],
) -> (ConfigDir, Gateway) {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", ANY_PATH_VS);
    let service_yaml =
        service_yaml.unwrap_or_else(|| service("httpbin", "default", 8000, &[backend]));
    config.write("httpbin.yaml", &service_yaml);
    let gateway = Gateway::start(config.path(), &[80], extra).await;
    (config, gateway)
}

type Sender = http2::SendRequest<Full<Bytes>>;

/// An HTTP/2 connection with prior knowledge; the second value resolves
/// when the connection ends.
async fn connect(address: SocketAddr) -> (Sender, tokio::task::JoinHandle<()>) {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    let ended = tokio::spawn(async move {
        let _ = connection.await;
    });
    (sender, ended)
}

fn request(method: Method, path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{HOST}{path}"))
        .body(Full::new(body.into()))
        .unwrap()
}

async fn send(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
) -> (StatusCode, HeaderMap, Bytes, Option<HeaderMap>) {
    sender.ready().await.expect("ready");
    let response = sender.send_request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.expect("body");
    let trailers = collected.trailers().cloned();
    (parts.status, parts.headers, collected.to_bytes(), trailers)
}

#[tokio::test]
async fn a_request_body_reaches_the_upstream_whole() {
    let (_config, gateway) = gateway_to(httpbin("httpbin").await, None, &[]).await;
    let (mut sender, _) = connect(gateway.listener(80).await).await;
    // Larger than a frame and than the protocol's initial window.
    let payload = "x".repeat(100_000);
    let (status, _, body, _) =
        send(&mut sender, request(Method::POST, "/post", payload.clone())).await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["data"].as_str().map(str::len), Some(payload.len()));
    assert_eq!(
        json["headers"]["Content-Length"], "100000",
        "{}",
        json["headers"]
    );
}

#[tokio::test]
async fn a_large_response_arrives_whole_under_flow_control() {
    let (_config, gateway) = gateway_to(httpbin("httpbin").await, None, &[]).await;
    let (mut sender, _) = connect(gateway.listener(80).await).await;
    for (path, expected) in [
        ("/bytes/102400", 102_400),
        ("/stream-bytes/1048576?chunk_size=10000", 1_048_576),
    ] {
        let (status, headers, body, _) = send(&mut sender, request(Method::GET, path, "")).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body.len(), expected, "{path}");
        assert!(headers.contains_key("date"), "{path}: {headers:?}");
    }
}

#[tokio::test]
async fn head_gets_the_head_without_a_body() {
    let (_config, gateway) = gateway_to(httpbin("httpbin").await, None, &[]).await;
    let (mut sender, _) = connect(gateway.listener(80).await).await;
    let (status, headers, body, _) =
        send(&mut sender, request(Method::HEAD, "/bytes/100", "")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], "100");
    assert!(body.is_empty());
    // A local reply to HEAD too (no route for this host).
    let mut unrouted = request(Method::HEAD, "/", "");
    *unrouted.uri_mut() = "http://unknown.example.com/".parse().unwrap();
    let (status, _, body, _) = send(&mut sender, unrouted).await;
    assert_eq!(status, 404);
    assert!(body.is_empty());
}

#[tokio::test]
async fn local_replies_carry_date_and_content_length() {
    let (_config, gateway) = gateway_to(httpbin("httpbin").await, None, &[]).await;
    let (mut sender, _) = connect(gateway.listener(80).await).await;
    let mut unrouted = request(Method::GET, "/", "");
    *unrouted.uri_mut() = "http://unknown.example.com/".parse().unwrap();
    let (status, headers, body, _) = send(&mut sender, unrouted).await;
    assert_eq!(status, 404);
    assert_eq!(headers["server"], "vestibule");
    assert!(headers.contains_key("date"), "{headers:?}");
    assert_eq!(headers["content-length"], body.len().to_string().as_str());
}

#[tokio::test]
async fn streams_on_one_connection_are_served_concurrently() {
    let (_config, gateway) = gateway_to(httpbin("httpbin").await, None, &[]).await;
    let (sender, _) = connect(gateway.listener(80).await).await;
    let started = Instant::now();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let mut sender = sender.clone();
            tokio::spawn(async move {
                send(&mut sender, request(Method::GET, "/delay/1", ""))
                    .await
                    .0
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "eight 1 s requests took {:?}: served one after another",
        started.elapsed()
    );
}

/// The client's whole stream limit in flight at once on one connection
/// (100 one-second requests finish together), then twice more with mixed
/// answers: every stream gets its own (the slots streams run in are reused
/// from one to the next).
#[tokio::test]
async fn the_stream_limit_in_flight_is_served_again_and_again() {
    let (_config, gateway) = gateway_to(httpbin("httpbin").await, None, &[]).await;
    let (sender, _) = connect(gateway.listener(80).await).await;
    let started = Instant::now();
    for status in wave(&sender, |_| "/delay/1".to_string()).await {
        assert_eq!(status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "100 one-second requests took {:?}: not all in flight at once",
        started.elapsed()
    );
    for round in 0..2 {
        let expected = |i: usize| [200u16, 201, 202, 203, 418][(round + i) % 5];
        let got = wave(&sender, |i| format!("/status/{}", expected(i))).await;
        for (i, status) in got.into_iter().enumerate() {
            assert_eq!(status, expected(i), "round {round}, stream {i}");
        }
    }
}

/// 100 concurrent requests on `sender`'s connection; their statuses in order.
async fn wave(sender: &Sender, path: impl Fn(usize) -> String) -> Vec<u16> {
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let mut sender = sender.clone();
            let path = path(i);
            tokio::spawn(async move {
                let (status, ..) = send(&mut sender, request(Method::GET, &path, "")).await;
                status.as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    statuses
}

/// An h2c upstream answering every request with `hello` and gRPC-style
/// trailers.
async fn trailer_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service =
                hyper::service::service_fn(|_request: Request<hyper::body::Incoming>| async {
                    let mut trailers = HeaderMap::new();
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
                });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    address
}

#[tokio::test]
async fn trailers_from_the_upstream_reach_the_client() {
    let upstream = trailer_upstream().await;
    let h2c = service("httpbin", "default", 8000, &[upstream]).replace(
        "  - name: http\n    port: 8000\n",
        "  - name: http\n    port: 8000\n    appProtocol: kubernetes.io/h2c\n",
    );
    let (_config, gateway) = gateway_to(upstream, Some(h2c), &[]).await;
    let (mut sender, _) = connect(gateway.listener(80).await).await;
    let mut call = request(Method::POST, "/pkg.Service/Method", "\0\0\0\0\0");
    call.headers_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    call.headers_mut().insert("te", "trailers".parse().unwrap());
    let (status, _, body, trailers) = send(&mut sender, call).await;
    assert_eq!(status, 200);
    assert_eq!(body, "hello");
    let trailers = trailers.expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "fine");
}

/// An HTTP/1.1 upstream that reads a request, never answers, and reports
/// when vestibule closes the connection.
async fn silent_upstream() -> (SocketAddr, tokio::sync::oneshot::Receiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (closed, on_close) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        while let Ok(read) = stream.read(&mut buf).await {
            if read == 0 {
                let _ = closed.send(Instant::now());
                return;
            }
        }
    });
    (address, on_close)
}

#[tokio::test]
async fn a_client_reset_abandons_the_upstream_call() {
    let (upstream, on_close) = silent_upstream().await;
    let (_config, gateway) = gateway_to(upstream, None, &[]).await;
    let (mut sender, _) = connect(gateway.listener(80).await).await;
    sender.ready().await.unwrap();
    let pending = sender.send_request(request(Method::GET, "/anything", ""));
    // The request reaches the upstream, then the client gives up on it
    // (dropping the response future resets the stream).
    let gave_up = tokio::time::timeout(Duration::from_millis(500), pending).await;
    assert!(gave_up.is_err(), "the silent upstream answered");
    let reset = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(3), on_close)
        .await
        .expect("the upstream call went on after the client's reset")
        .unwrap();
    assert!(closed >= reset);
}

#[tokio::test]
async fn drain_finishes_in_flight_streams_then_ends_the_connection() {
    let (_config, mut gateway) = gateway_to(httpbin("httpbin").await, None, &[]).await;
    let (sender, ended) = connect(gateway.listener(80).await).await;
    let mut in_flight_sender = sender.clone();
    let in_flight = tokio::spawn(async move {
        send(&mut in_flight_sender, request(Method::GET, "/delay/1", ""))
            .await
            .0
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateway.sigterm();
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the in-flight stream was cut"
    );
    tokio::time::timeout(Duration::from_secs(3), ended)
        .await
        .expect("the connection outlived the drain")
        .unwrap();
    assert!(gateway.wait().await.success());
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let (_config, gateway) =
        gateway_to(httpbin("httpbin").await, None, &["--idle-timeout", "400ms"]).await;
    let (mut sender, ended) = connect(gateway.listener(80).await).await;
    let (status, _, _, _) = send(&mut sender, request(Method::GET, "/status/200", "")).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(3), ended)
        .await
        .expect("the idle connection stayed open")
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "closed after {:?}, before the idle timeout",
        started.elapsed()
    );
}
