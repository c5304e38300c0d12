//! HTTP/1.1 on the wire, both sides of the gateway: how upstream bodies are
//! delimited (length, chunked, until close) and passed on, request bodies
//! going upstream, pooled upstream connections that went stale, pipelined
//! and malformed client requests, HTTP/1.0 clients. The upstream here is a
//! raw socket script, so the bytes on the wire are exactly the test's.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{curl, service, ConfigDir, Gateway, ANY_PATH_VS, HOST, SEED_GATEWAY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CHUNKED_BODY: &str = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";

/// A raw upstream: reads each request (head and body, by its framing),
/// records it, and answers by path. `/stale` answers, then closes the
/// connection silently a moment later, as an upstream's idle timeout does.
struct RawUpstream {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
}

impl RawUpstream {
    async fn start() -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let connections: Arc<Mutex<usize>> = Arc::default();
        let (seen, count) = (Arc::clone(&requests), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *count.lock().unwrap() += 1;
                tokio::spawn(serve_raw(stream, Arc::clone(&seen)));
            }
        });
        RawUpstream {
            address,
            requests,
            connections,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

async fn serve_raw(mut stream: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        seen.lock().unwrap().push(request.clone());
        let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
        let body = request.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let response = match path.as_str() {
            "/chunked" => {
                format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{CHUNKED_BODY}")
            }
            "/close" => "HTTP/1.1 200 OK\r\n\r\nuntil the close".to_owned(),
            "/no-content" => "HTTP/1.1 204 No Content\r\n\r\n".to_owned(),
            "/hop" => "HTTP/1.1 200 OK\r\nServer: raw\r\nConnection: keep-alive\r\n\
                       Keep-Alive: timeout=5\r\nX-Mixed-Case:  Kept \r\n\
                       Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nTE: gzip\r\nContent-Length: 2\r\n\r\nok"
                .to_owned(),
            "/hop-named" => "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\
                             X-Kept: 2\r\nContent-Length: 2\r\n\r\nok"
                .to_owned(),
            "/echo" => format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            "/big-chunked" => {
                let chunk = "x".repeat(1000);
                let mut text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned();
                for _ in 0..1000 {
                    text.push_str(&format!("3e8\r\n{chunk}\r\n"));
                }
                text.push_str("0\r\n\r\n");
                text
            }
            _ => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_owned(),
        };
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        match path.as_str() {
            "/close" => return,
            "/stale" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return;
            }
            _ => {}
        }
    }
}

/// One request, head and body, chunked bodies left as sent.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = support::request_end(buf) {
            let request = String::from_utf8(buf.drain(..end).collect()).unwrap();
            return Some(request);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn gateway_for(
    upstream: SocketAddr,
    virtual_service: &str,
) -> (ConfigDir, Gateway, SocketAddr) {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", virtual_service);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[upstream]),
    );
    // Upstream connections are counted: one worker, one stack of idle ones.
    let gateway = Gateway::start(config.path(), &[80], &["--workers", "1"]).await;
    let address = gateway.listener(80).await;
    (config, gateway, address)
}

fn url(address: SocketAddr, path: &str) -> String {
    format!("http://{address}{path}")
}

#[tokio::test]
async fn upstream_bodies_arrive_whole_whatever_their_framing() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = gateway_for(upstream.address, ANY_PATH_VS).await;
    let host = format!("Host: {HOST}");
    for (path, expected) in [
        ("/length", "hello".to_owned()),
        ("/chunked", "hello world".to_owned()),
        ("/close", "until the close".to_owned()),
        ("/big-chunked", "x".repeat(1_000_000)),
        ("/length", "hello".to_owned()),
    ] {
        let body = curl(&["-H", &host, &url(address, path)]).await;
        assert_eq!(body.len(), expected.len(), "{path}");
        assert_eq!(body, expected, "{path}");
    }
    let headers = curl(&[
        "-sS",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        &host,
        &url(address, "/no-content"),
    ])
    .await;
    assert!(headers.starts_with("HTTP/1.1 204"), "{headers}");
    assert!(
        !headers.to_ascii_lowercase().contains("content-length"),
        "{headers}"
    );
    let head = curl(&["-sS", "-I", "-H", &host, &url(address, "/length")]).await;
    assert!(
        head.to_ascii_lowercase().contains("content-length: 5"),
        "HEAD keeps the length: {head}"
    );
}

#[tokio::test]
async fn upstream_connections_are_reused_and_stale_ones_replaced_without_a_retry() {
    let upstream = RawUpstream::start().await;
    let no_retries = ANY_PATH_VS.replace(
        "  - route:\n",
        "  - retries:\n      attempts: 0\n    route:\n",
    );
    let (_config, _gateway, address) = gateway_for(upstream.address, &no_retries).await;
    let host = format!("Host: {HOST}");
    for _ in 0..5 {
        assert_eq!(
            curl(&["-H", &host, &url(address, "/length")]).await,
            "hello"
        );
    }
    assert_eq!(
        upstream.connections(),
        1,
        "one upstream connection carried all five"
    );
    for round in 0..3 {
        assert_eq!(
            curl(&["-H", &host, &url(address, "/stale")]).await,
            "hello",
            "round {round}"
        );
        // The upstream closes its side while the connection idles in the pool.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(upstream.requests().len(), 8, "no request was sent twice");
}

#[tokio::test]
async fn request_bodies_go_upstream_with_their_framing() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = gateway_for(upstream.address, ANY_PATH_VS).await;
    let host = format!("Host: {HOST}");
    let sized = curl(&[
        "-H",
        &host,
        "--data-binary",
        "sized body",
        &url(address, "/echo"),
    ])
    .await;
    assert_eq!(sized, "sized body");
    let chunked = curl(&[
        "-H",
        &host,
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "chunked body",
        &url(address, "/echo"),
    ])
    .await;
    assert!(chunked.contains("chunked body"), "{chunked}");
    let requests = upstream.requests();
    let sent = requests
        .iter()
        .find(|r| r.contains("sized body"))
        .unwrap()
        .to_ascii_lowercase();
    assert!(sent.contains("content-length: 10\r\n"), "{sent}");
    let sent = requests
        .iter()
        .find(|r| r.contains("chunked body"))
        .unwrap()
        .to_ascii_lowercase();
    assert!(sent.contains("transfer-encoding: chunked\r\n"), "{sent}");
    assert!(sent.ends_with("0\r\n\r\n"), "{sent}");
}

/// The head's lines after the status line, sorted, without the ones that
/// change between responses.
fn head_lines(response: &str) -> Vec<String> {
    let (head, _) = response.split_once("\r\n\r\n").expect("a whole head");
    let mut lines: Vec<String> = head
        .lines()
        .skip(1)
        .filter(|line| !line.starts_with("x-envoy-upstream-service-time: "))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// An upstream's response head reaches the client with its hop-by-hop
/// headers (and those its `Connection` names) gone, `server` overwritten,
/// names lower-cased and the upstream's `date` kept: the same lines whether
/// the head went through a map (a route with a response header rule) or
/// was kept as it came (a route without).
#[tokio::test]
async fn response_heads_lose_their_hop_by_hop_headers_kept_raw_or_mapped() {
    let upstream = RawUpstream::start().await;
    let edited = ANY_PATH_VS.replace(
        "  - route:\n",
        "  - headers:\n      response:\n        add:\n          x-edited: \"1\"\n    route:\n",
    );
    for (virtual_service, edited) in [(ANY_PATH_VS, false), (edited.as_str(), true)] {
        let (_config, _gateway, address) = gateway_for(upstream.address, virtual_service).await;
        let request = |path: &str| {
            format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n")
        };
        let out = exchange(address, request("/hop").as_bytes()).await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nok"), "{out}");
        assert!(out.contains("\r\nx-envoy-upstream-service-time: "), "{out}");
        let mut expected = vec![
            "connection: close",
            "content-length: 2",
            "date: Mon, 01 Jan 2024 00:00:00 GMT",
            "server: vestibule",
            "x-mixed-case: Kept",
        ];
        if edited {
            expected.push("x-edited: 1");
        }
        expected.sort();
        assert_eq!(head_lines(&out), expected, "edited {edited}: {out}");
        let out = exchange(address, request("/hop-named").as_bytes()).await;
        let mut expected = vec![
            "connection: close",
            "content-length: 2",
            "server: vestibule",
            "x-kept: 2",
        ];
        if edited {
            expected.push("x-edited: 1");
        }
        let lines = head_lines(&out);
        assert!(lines.iter().any(|line| line.starts_with("date: ")), "{out}");
        let lines: Vec<String> = lines
            .into_iter()
            .filter(|l| !l.starts_with("date: "))
            .collect();
        expected.sort();
        assert_eq!(lines, expected, "edited {edited}: {out}");
    }
}

/// The same heads to an HTTP/2 client, whose head vestibule's HTTP/2
/// server encodes from the upstream's bytes (kept raw) or from the map
/// (the edited route): the same fields either way, names lower-cased, no
/// connection-specific ones (`te` included), and no `content-length` made
/// up for a 204.
#[tokio::test]
async fn response_heads_reach_an_http2_client_alike_kept_raw_or_mapped() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let upstream = RawUpstream::start().await;
    let edited = ANY_PATH_VS.replace(
        "  - route:\n",
        "  - headers:\n      response:\n        add:\n          x-edited: \"1\"\n    route:\n",
    );
    for (virtual_service, edited) in [(ANY_PATH_VS, false), (edited.as_str(), true)] {
        let (_config, _gateway, address) = gateway_for(upstream.address, virtual_service).await;
        let stream = TcpStream::connect(address).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut get = |path: &str| {
            let request = http::Request::get(format!("http://{HOST}{path}"))
                .body(Empty::<Bytes>::new())
                .unwrap();
            let sent = sender.send_request(request);
            async move {
                let response = sent.await.unwrap();
                let (parts, body) = response.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                (parts, body)
            }
        };
        let fields = |headers: &http::HeaderMap| {
            let mut fields: Vec<String> = headers
                .iter()
                .filter(|(name, _)| *name != "x-envoy-upstream-service-time")
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
                .collect();
            fields.sort();
            fields
        };
        let (parts, body) = get("/hop").await;
        assert_eq!(parts.status, 200);
        assert_eq!(body, "ok");
        assert!(parts.headers.contains_key("x-envoy-upstream-service-time"));
        let mut expected = vec![
            "content-length: 2",
            "date: Mon, 01 Jan 2024 00:00:00 GMT",
            "server: vestibule",
            "x-mixed-case: Kept",
        ];
        if edited {
            expected.push("x-edited: 1");
        }
        expected.sort();
        assert_eq!(fields(&parts.headers), expected, "edited {edited}");

        let (parts, _) = get("/hop-named").await;
        let mut expected = vec!["content-length: 2", "server: vestibule", "x-kept: 2"];
        if edited {
            expected.push("x-edited: 1");
        }
        expected.sort();
        let seen: Vec<String> = fields(&parts.headers)
            .into_iter()
            .filter(|field| !field.starts_with("date: "))
            .collect();
        assert_eq!(seen, expected, "edited {edited}");
        assert!(parts.headers.contains_key("date"), "a date is added");

        let (parts, body) = get("/no-content").await;
        assert_eq!(parts.status, 204);
        assert!(body.is_empty());
        assert!(
            !parts.headers.contains_key("content-length"),
            "edited {edited}: {:?}",
            parts.headers
        );
    }
}

async fn exchange(address: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn an_absolute_form_target_routes_by_its_authority_which_replaces_host() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = gateway_for(upstream.address, ANY_PATH_VS).await;
    // RFC 9112 §3.2.2: the target's authority wins over `Host`.
    let request = format!(
        "GET http://{HOST}/length HTTP/1.1\r\nHost: elsewhere.example.com\r\nConnection: close\r\n\r\n"
    );
    let out = exchange(address, request.as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    let seen = upstream.requests();
    let head = seen
        .last()
        .expect("the upstream saw the request")
        .to_ascii_lowercase();
    assert!(head.starts_with("get /length http/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nhost: {HOST}\r\n")), "{head}");
    assert!(!head.contains("elsewhere"), "{head}");
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = gateway_for(upstream.address, ANY_PATH_VS).await;
    let two = format!(
        "GET /length HTTP/1.1\r\nHost: {HOST}\r\n\r\nGET /chunked HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    );
    let out = exchange(address, two.as_bytes()).await;
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    let (first, second) = out.split_at(out.rfind("HTTP/1.1 200 OK").unwrap());
    assert!(first.ends_with("\r\n\r\nhello"), "{out}");
    // Re-chunked as the upstream's data frames arrived.
    assert!(
        second.ends_with("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        "{out}"
    );
}

#[tokio::test]
async fn malformed_and_oversized_requests_are_refused() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = gateway_for(upstream.address, ANY_PATH_VS).await;
    let bad = exchange(address, b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n").await;
    assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
    let two_hosts = exchange(
        address,
        format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nHost: other\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(two_hosts.starts_with("HTTP/1.1 400 "), "{two_hosts}");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let too_large = exchange(address, huge.as_bytes()).await;
    assert!(too_large.starts_with("HTTP/1.1 431 "), "{too_large}");
    assert!(
        upstream.requests().is_empty(),
        "nothing reached the upstream"
    );
}

#[tokio::test]
async fn http10_clients_get_a_closed_connection_unless_they_ask_to_keep_it() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = gateway_for(upstream.address, ANY_PATH_VS).await;
    let out = exchange(
        address,
        format!("GET /length HTTP/1.0\r\nHost: {HOST}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("connection: close\r\n"),
        "{out}"
    );
    assert!(out.ends_with("hello"), "{out}");
    // A chunked upstream body cannot be chunked to an HTTP/1.0 client: the
    // close ends it.
    let out = exchange(
        address,
        format!("GET /chunked HTTP/1.0\r\nHost: {HOST}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        !out.to_ascii_lowercase().contains("transfer-encoding"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\nhello world"), "{out}");
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout_and_busy_ones_kept() {
    let upstream = RawUpstream::start().await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", ANY_PATH_VS);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[upstream.address]),
    );
    let gateway = Gateway::start(config.path(), &[80], &["--idle-timeout", "800ms"]).await;
    let address = gateway.listener(80).await;
    let request = format!("GET /length HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
    let mut idle = TcpStream::connect(address).await.unwrap();
    let mut busy = TcpStream::connect(address).await.unwrap();
    for stream in [&mut idle, &mut busy] {
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = [0u8; 512];
        let n = stream.read(&mut response).await.unwrap();
        assert!(response[..n].ends_with(b"hello"));
    }
    // The busy connection sends a request every 200 ms for 1.6 s: never idle
    // for the timeout, so it stays open throughout.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        busy.write_all(request.as_bytes()).await.unwrap();
        let mut response = [0u8; 512];
        let n = busy.read(&mut response).await.unwrap();
        assert!(
            n > 0 && response[..n].ends_with(b"hello"),
            "busy connection closed"
        );
    }
    // By now the idle one has sat for 1.6 s: closed by the gateway.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), idle.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "idle connection still open: {closed:?}"
    );
}
