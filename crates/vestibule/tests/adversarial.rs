//! The gateway as an attacker meets it: raw bytes on a socket to the real
//! binary, and a raw upstream that records exactly what reached it. Each
//! vector asserts the answer Envoy gives (status, body, whether the
//! connection stays open) and what the backend saw — nothing, or one
//! request that can be read only one way.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::HOST;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A response head past the 60 KiB a response head may take.
static HUGE_HEAD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
        "a".repeat(70 * 1024)
    )
});

const UPE_BODY: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: protocol error";

/// An upstream speaking raw bytes: records each request (head and body as
/// received), counts connections opened and closed, and answers by path —
/// including answers that are not HTTP.
struct RawUpstream {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl RawUpstream {
    async fn start() -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = RawUpstream {
            address: listener.local_addr().unwrap(),
            requests: Arc::default(),
            opened: Arc::default(),
            closed: Arc::default(),
        };
        let (requests, opened, closed) = (
            Arc::clone(&upstream.requests),
            Arc::clone(&upstream.opened),
            Arc::clone(&upstream.closed),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                opened.fetch_add(1, Ordering::SeqCst);
                let (requests, closed) = (Arc::clone(&requests), Arc::clone(&closed));
                tokio::spawn(async move {
                    serve(stream, &requests).await;
                    closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        upstream
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// Whether a connection closed after `closed` had, waiting a little.
    async fn closed_since(&self, closed: usize) -> bool {
        for _ in 0..100 {
            if self.closed() > closed {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

async fn serve(mut stream: TcpStream, requests: &Mutex<Vec<String>>) {
    let mut buf = Vec::new();
    loop {
        let (request, complete) = read_request(&mut stream, &mut buf).await;
        if !request.is_empty() {
            requests.lock().unwrap().push(request.clone());
        }
        if !complete {
            return;
        }
        let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
        let response: &[u8] = match path.as_str() {
            "/silent" => std::future::pending().await,
            "/stall-body" => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
                    .await;
                std::future::pending().await
            }
            "/garbage" => b"garbage\r\n\r\n",
            "/bad-status" => b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
            "/two-lengths" => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "/length-and-chunked" => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "/switch" => b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            "/huge-head" => HUGE_HEAD.as_bytes(),
            "/ok-continue" => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        };
        if stream.write_all(response).await.is_err() {
            return;
        }
        if path != "/" && !path.starts_with("/ok") && path != "/switch" {
            return;
        }
    }
}

/// One request as received (the body as sent, chunked or not), and whether
/// it arrived whole (else the connection ended first).
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> (String, bool) {
    loop {
        if let Some(end) = support::request_end(buf) {
            let request = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end);
            return (request, true);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(buf).into_owned(), false),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A connection to the gateway; `warm`: it has carried a request with a
/// body already, so hyper's parser reads what comes next (vestibule's own
/// reads a connection's first head).
async fn connection(address: SocketAddr, warm: bool) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    if warm {
        let first = format!("POST /ok HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 2\r\n\r\nok");
        stream.write_all(first.as_bytes()).await.unwrap();
        let response = one_response(&mut stream).await;
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    }
    stream
}

/// Sends `bytes` and reads until the gateway closes the connection.
async fn until_close(address: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_to_close(&mut stream).await
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the gateway closed the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response with a `content-length` from a connection kept open.
async fn one_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let read = async {
        loop {
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .to_ascii_lowercase()
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length: ").map(str::to_owned))
                    .map_or(0, |n| n.trim().parse().unwrap());
                if body.len() >= length {
                    return text;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early: {text}");
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a response")
}

fn get(path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n")
}

/// Status line and body of a response read whole.
fn status_and_body(response: &str) -> (&str, &str) {
    let status = response.lines().next().unwrap_or_default();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body)
}

#[tokio::test]
async fn an_h2c_upgrade_is_dropped_and_the_request_goes_on_plain() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(upstream.address, &[]).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    let upgrade = get(
        "/ok-h2c",
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
    );
    stream.write_all(upgrade.as_bytes()).await.unwrap();
    let response = one_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    // The connection is still HTTP/1.1 through the gateway's router: a next
    // request on it is parsed and routed, not piped.
    stream
        .write_all(get("/ok-next", "").as_bytes())
        .await
        .unwrap();
    let next = one_response(&mut stream).await;
    assert!(next.starts_with("HTTP/1.1 200 OK"), "{next}");
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let first = seen[0].to_ascii_lowercase();
    for gone in ["upgrade", "http2-settings"] {
        assert!(!first.contains(gone), "{gone} reached the backend: {first}");
    }
    assert!(seen[1].starts_with("GET /ok-next "), "{seen:?}");
}

#[tokio::test]
async fn an_upstream_switching_protocols_unasked_is_a_protocol_error() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(upstream.address, &[]).await;
    // The backend answers 101 to an h2c upgrade the gateway dropped: the
    // client gets 502, never a tunnel past the router.
    let upgrade = get(
        "/switch",
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
    );
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(upgrade.as_bytes()).await.unwrap();
    let response = one_response(&mut stream).await;
    let (status, body) = status_and_body(&response);
    assert_eq!(status, "HTTP/1.1 502 Bad Gateway", "{response}");
    assert_eq!(body, UPE_BODY);
    stream
        .write_all(get("/ok-after", "").as_bytes())
        .await
        .unwrap();
    let next = one_response(&mut stream).await;
    assert!(next.starts_with("HTTP/1.1 200 OK"), "{next}");
    assert!(
        upstream
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /ok-after ")),
        "the next request was routed on its own"
    );
}

#[tokio::test]
async fn upgrades_other_than_websocket_are_refused() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(upstream.address, &[]).await;
    for protocol in ["foo/1", "TLS/1.2", "websocket, foo"] {
        let request = get(
            "/ok",
            &format!("Connection: Upgrade\r\nUpgrade: {protocol}\r\n"),
        );
        let response = until_close(address, request.as_bytes()).await;
        let (status, body) = status_and_body(&response);
        assert_eq!(status, "HTTP/1.1 403 Forbidden", "{protocol}: {response}");
        assert_eq!(body, "", "{protocol}");
    }
    let connect = format!("CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n");
    let response = until_close(address, connect.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 403 "), "CONNECT: {response}");
    assert!(upstream.requests().is_empty(), "{:?}", upstream.requests());
}

#[tokio::test]
async fn connection_nominations_are_decided_per_header() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(upstream.address, &[]).await;
    // Headers the gateway routes or forwards by: 400, nothing upstream.
    for nominated in [
        "Host",
        "host, keep-alive",
        "X-Forwarded-For",
        "x-forwarded-proto",
        "x-forwarded-host",
        ":authority",
        "a, b, c, d, e, f, g, h, i, j",
    ] {
        let request = get(
            "/status/200",
            &format!("Connection: {nominated}\r\nX-Forwarded-For: 1.2.3.4\r\n"),
        );
        let response = until_close(address, request.as_bytes()).await;
        assert!(
            response.starts_with("HTTP/1.1 400 Bad Request"),
            "{nominated}: {response}"
        );
    }
    assert!(upstream.requests().is_empty(), "{:?}", upstream.requests());

    // Any other nominated header is removed before routing and forwarding.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = get(
        "/ok",
        "Connection: keep-alive, Cookie, X-Private, TE\r\nCookie: a=b\r\nX-Private: 1\r\nTE: trailers, deflate\r\nX-Kept: 1\r\n",
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let response = one_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let seen = upstream.requests();
    let head = seen[0].to_ascii_lowercase();
    assert!(!head.contains("cookie:"), "{head}");
    assert!(!head.contains("x-private:"), "{head}");
    assert!(head.contains("\r\nte: trailers\r\n"), "{head}");
    assert!(head.contains("\r\nx-kept: 1\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nhost: {HOST}\r\n")), "{head}");
}

#[tokio::test]
async fn malformed_chunked_bodies_are_the_clients_error_and_close_both_sides() {
    let upstream = RawUpstream::start().await;
    let (_config, gateway, address) = support::any_path_gateway(upstream.address, &[]).await;
    let vectors = [
        "0x5\r\nhello\r\n0\r\n\r\n",
        "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "5\nhello\n0\n\n",
    ];
    // The first request of a connection is read by vestibule's parser, a
    // later one by hyper's: both paths.
    for warm in [false, true] {
        for body in vectors {
            let opened = upstream.opened();
            let closed = upstream.closed();
            let mut stream = connection(address, warm).await;
            let request = format!(
                "POST /ok-chunked HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let response = read_to_close(&mut stream).await;
            let (status, _) = status_and_body(&response);
            assert_eq!(status, "HTTP/1.1 400 Bad Request", "{body:?}: {response}");
            // The upstream connection that carried the start of the body is
            // closed, never reused for another request.
            assert!(
                upstream.closed_since(closed).await,
                "{body:?}: upstream connection kept"
            );
            if !warm {
                assert!(upstream.opened() > opened, "a new upstream connection");
            }
        }
    }
    let metrics = gateway.admin_get("/metrics").await.1;
    assert!(
        metrics.contains("vestibule_downstream_protocol_errors_total 10"),
        "{metrics}"
    );
    let (_, _, body) = support::get(address, HOST, "/ok-after").await;
    assert_eq!(&body[..], b"hello", "the gateway keeps serving");
}

#[tokio::test]
async fn framing_that_could_be_read_two_ways_never_reaches_the_backend() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(upstream.address, &[]).await;
    // (headers, answer on a connection's first request (vestibule's
    // parser), answer on a later one (hyper's parser, then the screen)).
    // hyper answers its own refusals with an empty 400; it takes a length
    // beside a coding as the coding alone and closes after the response.
    const NI: &str = "501 Not Implemented";
    const BAD: &str = "400 Bad Request";
    const OK: &str = "200 OK";
    let cases = [
        ("Transfer-Encoding: gzip, chunked", NI, NI),
        ("Transfer-Encoding: identity, chunked", NI, NI),
        ("Transfer-Encoding: chunked, chunked", NI, NI),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            NI,
            NI,
        ),
        ("Transfer-Encoding: xchunked", NI, BAD),
        ("Content-Length: 5\r\nTransfer-Encoding: chunked", BAD, OK),
        ("Transfer-Encoding: chunked\r\nContent-Length: 5", BAD, OK),
        ("Content-Length: 5\r\nContent-Length: 6", BAD, BAD),
        ("Content-Length: +5", BAD, BAD),
        ("Content-Length: 5, 5", BAD, BAD),
        ("Transfer-Encoding : chunked", BAD, BAD),
        ("X: a\r\n folded", BAD, BAD),
    ];
    for warm in [false, true] {
        for (headers, cold_status, warm_status) in cases {
            let mut stream = connection(address, warm).await;
            let request = format!(
                "POST /smuggle HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {HOST}\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let response = read_to_close(&mut stream).await;
            let (line, body) = status_and_body(&response);
            let status = if warm { warm_status } else { cold_status };
            assert_eq!(
                line,
                format!("HTTP/1.1 {status}"),
                "{headers:?} (warm: {warm}): {response}"
            );
            if !warm {
                assert_eq!(body, &status[4..], "{headers:?}");
            }
        }
    }
    let seen = upstream.requests();
    assert!(
        seen.iter().all(|r| !r.contains("/smuggled")),
        "a smuggled request reached the backend: {seen:?}"
    );
    assert!(
        seen.iter()
            .filter(|r| r.starts_with("POST /smuggle "))
            .all(|r| r
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked\r\n")
                && !r.to_ascii_lowercase().contains("content-length")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn hosts_with_userinfo_or_stray_characters_are_refused() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(upstream.address, &[]).await;
    for host in [
        "a@httpbin.example.com",
        "user:pass@httpbin.example.com",
        "httpbin.example.com/x",
        "httpbin.example.com?x",
        "httpbin.example.com\\x",
    ] {
        let request = format!("GET /ok HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let response = until_close(address, request.as_bytes()).await;
        assert!(
            response.starts_with("HTTP/1.1 400 Bad Request"),
            "{host}: {response}"
        );
    }
    let absolute =
        "GET http://a@httpbin.example.com/ok HTTP/1.1\r\nHost: httpbin.example.com\r\n\r\n";
    let response = until_close(address, absolute.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(upstream.requests().is_empty(), "{:?}", upstream.requests());
}

#[tokio::test]
async fn upstream_protocol_errors_are_502_upe() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(upstream.address, &[]).await;
    for path in [
        "/garbage",
        "/bad-status",
        "/two-lengths",
        "/length-and-chunked",
        "/huge-head",
    ] {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(get(path, "").as_bytes()).await.unwrap();
        let response = one_response(&mut stream).await;
        let (status, body) = status_and_body(&response);
        assert_eq!(status, "HTTP/1.1 502 Bad Gateway", "{path}: {response}");
        assert_eq!(body, UPE_BODY, "{path}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains(&format!("content-length: {}", UPE_BODY.len())),
            "{path}: {response}"
        );
    }
    // One attempt each: Istio's default retries do not cover protocol errors.
    assert_eq!(upstream.requests().len(), 5, "{:?}", upstream.requests());
}

#[tokio::test]
async fn heads_are_due_within_the_header_timeout_of_the_accept() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) =
        support::any_path_gateway(upstream.address, &["--header-read-timeout", "1s"]).await;
    // Silent: closed with no answer, after the timeout (not the idle one).
    let started = std::time::Instant::now();
    let silent = until_close(address, b"").await;
    assert_eq!(silent, "");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // Part of a head: Envoy's 408.
    let partial = until_close(address, b"GET /ok HTTP/1.1\r\nHost: httpbin").await;
    let (status, body) = status_and_body(&partial);
    assert_eq!(status, "HTTP/1.1 408 Request Timeout", "{partial}");
    assert_eq!(body, "request header timeout");
    // A head trickling in byte by byte is bounded from the accept too.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let started = std::time::Instant::now();
    let mut closed = false;
    for byte in b"GET /ok HTTP/1.1\r\nHost: httpbin.example.com\r\nX: aaaaaaaaaaaaaaaaaaaaaa" {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rest = read_to_close(&mut stream).await;
    assert!(closed || rest.starts_with("HTTP/1.1 408 "), "{rest}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn pipelining_traversal_and_obfuscations_stay_one_reading() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(upstream.address, &[]).await;
    // Pipelined: two requests in one write, two answers in order, two
    // requests upstream.
    let two = format!(
        "{}{}",
        get("/ok-1", ""),
        get("/ok-2", "Connection: close\r\n")
    );
    let out = until_close(address, two.as_bytes()).await;
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    // Traversal: the backend sees the normalized path the route matched.
    for (sent, seen) in [
        ("/ok/../ok-up", "/ok-up"),
        ("/ok/%2e%2e/ok-encoded", "/ok-encoded"),
        ("/ok//./ok-dots", "/ok/ok-dots"),
        ("/../../ok-root", "/ok-root"),
    ] {
        let response = until_close(address, get(sent, "Connection: close\r\n").as_bytes()).await;
        assert!(
            response.starts_with("HTTP/1.1 200 OK"),
            "{sent}: {response}"
        );
        let last = upstream.requests().pop().unwrap();
        assert!(
            last.starts_with(&format!("GET {seen} HTTP/1.1\r\n")),
            "{sent}: {last}"
        );
    }
    // An interim response and the final one in one segment: the final one
    // is read from what followed the interim head.
    let response = until_close(
        address,
        get("/ok-continue", "Connection: close\r\n").as_bytes(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("\r\n\r\nok"), "{response}");
    // A tab before `chunked` is still chunked alone: one reading.
    let tabbed = format!(
        "POST /ok-tab HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding:\tchunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    let response = until_close(address, tabbed.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let last = upstream.requests().pop().unwrap();
    assert!(last.ends_with("5\r\nhello\r\n0\r\n\r\n"), "{last}");
}

#[tokio::test]
async fn an_overlong_request_line_is_414_and_overlong_headers_431() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(
        upstream.address,
        &[
            "--max-request-headers-kb",
            "4",
            "--max-request-headers",
            "5",
        ],
    )
    .await;
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: {HOST}\r\n\r\n", "a".repeat(5000));
    let response = until_close(address, long_line.as_bytes()).await;
    assert!(
        response.starts_with("HTTP/1.1 414 URI Too Long"),
        "{response}"
    );
    let big_header = get("/ok", &format!("X-Big: {}\r\n", "a".repeat(5000)));
    let response = until_close(address, big_header.as_bytes()).await;
    assert!(
        response.starts_with("HTTP/1.1 431 Request Header Fields Too Large"),
        "{response}"
    );
    let many = get("/ok", "A: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n");
    let response = until_close(address, many.as_bytes()).await;
    assert!(
        response.starts_with("HTTP/1.1 431 "),
        "6 headers: {response}"
    );
    let five = get("/ok", "A: 1\r\nB: 1\r\nC: 1\r\nConnection: close\r\n");
    let response = until_close(address, five.as_bytes()).await;
    assert!(
        response.starts_with("HTTP/1.1 200 OK"),
        "5 headers: {response}"
    );
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test]
async fn streams_that_move_nothing_end_after_the_stream_idle_timeout() {
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) =
        support::any_path_gateway(upstream.address, &["--stream-idle-timeout", "1s"]).await;
    // No response head: Envoy's 408 `stream timeout`.
    let started = std::time::Instant::now();
    let response = until_close(address, get("/silent", "").as_bytes()).await;
    let (status, body) = status_and_body(&response);
    assert_eq!(status, "HTTP/1.1 408 Request Timeout", "{response}");
    assert_eq!(body, "stream timeout");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // A response body that stops: the client has what came, then the close.
    let response = until_close(address, get("/stall-body", "").as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");

    // A request body that stops: 408, and the upstream connection closed.
    let closed = upstream.closed();
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request =
        format!("POST /ok-slow HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 10\r\n\r\nhello");
    stream.write_all(request.as_bytes()).await.unwrap();
    let response = read_to_close(&mut stream).await;
    let (status, body) = status_and_body(&response);
    assert_eq!(status, "HTTP/1.1 408 Request Timeout", "{response}");
    assert_eq!(body, "stream timeout");
    assert!(
        upstream.closed_since(closed).await,
        "the upstream connection was kept"
    );

    // A slow stream that keeps moving is not idle.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!("POST /ok-trickle HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 6\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    for byte in b"trickl" {
        tokio::time::sleep(Duration::from_millis(400)).await;
        stream.write_all(&[*byte]).await.unwrap();
    }
    let response = one_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
}

/// HTTP/2 frames by hand (RFC 9113 §4.1), for floods no well-behaved
/// client library sends.
mod frames {
    pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    pub(crate) const HEADERS: u8 = 0x1;
    pub(crate) const RST_STREAM: u8 = 0x3;
    pub(crate) const SETTINGS: u8 = 0x4;
    pub(crate) const GOAWAY: u8 = 0x7;
    pub(crate) const CONTINUATION: u8 = 0x9;
    pub(crate) const ENHANCE_YOUR_CALM: u8 = 0xb;
    pub(crate) const END_STREAM: u8 = 0x1;
    pub(crate) const END_HEADERS: u8 = 0x4;

    pub(crate) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let length = u32::try_from(payload.len()).unwrap();
        let mut out = length.to_be_bytes()[1..].to_vec();
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// `GET /ok` for `host`, HPACK-encoded from the static table and one
    /// literal (RFC 7541 appendix A).
    pub(crate) fn get_block(host: &str) -> Vec<u8> {
        let mut block = vec![0x82, 0x86, 0x84, 0x01, u8::try_from(host.len()).unwrap()];
        block.extend_from_slice(host.as_bytes());
        block
    }

    /// A literal header `x: aaa…` without indexing, `size` bytes of value.
    pub(crate) fn filler(size: usize) -> Vec<u8> {
        let mut block = vec![0x00, 0x01, b'x', 0x7f];
        let mut rest = size - 127;
        while rest >= 128 {
            block.push(u8::try_from(rest % 128).unwrap() | 0x80);
            rest /= 128;
        }
        block.push(u8::try_from(rest).unwrap());
        block.extend(std::iter::repeat_n(b'a', size));
        block
    }

    /// The error code of the `GOAWAY` in `kinds`.
    pub(crate) fn goaway_code(kinds: &[u8]) -> Option<u8> {
        let at = kinds.iter().position(|&kind| kind == GOAWAY)?;
        kinds.get(at + 1).copied()
    }

    /// The frame types the server sent until it closed (or 5 s passed),
    /// each `GOAWAY` followed by the last byte of its error code.
    pub(crate) async fn kinds_until_close(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read_to_end(&mut buf),
        )
        .await;
        let mut kinds = Vec::new();
        let mut at = 0;
        while at + 9 <= buf.len() {
            let length = usize::from(buf[at]) << 16
                | usize::from(buf[at + 1]) << 8
                | usize::from(buf[at + 2]);
            kinds.push(buf[at + 3]);
            if kinds.last() == Some(&GOAWAY) && at + 17 <= buf.len() {
                // The error code, for the caller: pushed after the type.
                kinds.push(buf[at + 16]);
            }
            at += 9 + length;
        }
        kinds
    }
}

#[tokio::test]
async fn http2_floods_end_the_connection_and_spare_the_backend() {
    use frames::*;
    let upstream = RawUpstream::start().await;
    let (_config, _gateway, address) = support::any_path_gateway(upstream.address, &[]).await;

    // Rapid reset (CVE-2023-44487): streams opened and reset at once,
    // a thousand in one write.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    for index in 0..1000u32 {
        let id = 2 * index + 1;
        out.extend(frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get_block(HOST),
        ));
        out.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
    }
    let _ = stream.write_all(&out).await;
    let kinds = kinds_until_close(&mut stream).await;
    assert_eq!(
        goaway_code(&kinds),
        Some(ENHANCE_YOUR_CALM),
        "h2's reset-before-accept limit (20): {kinds:?}"
    );
    assert!(
        upstream.requests().len() < 100,
        "{} reset streams reached the backend",
        upstream.requests().len()
    );

    // CONTINUATION flood: one header block in endless pieces, far past the
    // header list limit.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(HEADERS, END_STREAM, 1, &get_block(HOST)));
    for _ in 0..40 {
        out.extend(frame(CONTINUATION, 0, 1, &filler(16_000)));
    }
    let _ = stream.write_all(&out).await;
    let kinds = kinds_until_close(&mut stream).await;
    assert_eq!(
        goaway_code(&kinds),
        Some(ENHANCE_YOUR_CALM),
        "h2's header list limit: {kinds:?}"
    );
    assert!(upstream.requests().is_empty(), "{:?}", upstream.requests());

    // The gateway still serves.
    let (status, _, _) = support::get(address, HOST, "/ok-after").await;
    assert_eq!(status, 200);
}
