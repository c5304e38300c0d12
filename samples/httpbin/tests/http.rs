//! End-to-end tests over real sockets on 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        assert_eq!(self.headers["content-type"], "application/json");
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }
}

async fn start() -> SocketAddr {
    httpbin::spawn(httpbin::Options::default())
        .await
        .expect("spawn")
}

async fn send(req: Request<Full<Bytes>>) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = client.request(req).await.expect("request");
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("body").to_bytes(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, Method::GET, path, &[], "").await
}

async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static str,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(
        req.body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn status_codes() {
    let addr = start().await;
    for (method, code) in [
        (Method::GET, 200),
        (Method::POST, 201),
        (Method::PUT, 404),
        (Method::DELETE, 503),
    ] {
        let r = request(addr, method, &format!("/status/{code}"), &[], "").await;
        assert_eq!(r.status.as_u16(), code);
        assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(r.headers["content-length"], "0");
        assert!(r.body.is_empty());
    }

    let teapot = get(addr, "/status/418").await;
    assert_eq!(teapot.status.as_u16(), 418);
    assert!(teapot.text().contains("-=[ teapot ]=-"));

    let redirect = get(addr, "/status/302").await;
    assert_eq!(redirect.status, StatusCode::FOUND);
    assert_eq!(redirect.headers["location"], "/redirect/1");

    let invalid = get(addr, "/status/abc").await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.text(), "Invalid status code");
    assert_eq!(
        get(addr, "/status/200,x").await.status,
        StatusCode::BAD_REQUEST
    );

    for _ in 0..10 {
        let code = get(addr, "/status/201,202").await.status.as_u16();
        assert!(code == 201 || code == 202, "{code}");
        // A zero weight is never picked.
        assert_eq!(get(addr, "/status/200:0,503").await.status.as_u16(), 503);
    }
}

#[tokio::test]
async fn delay_waits_then_echoes() {
    let addr = start().await;
    let started = Instant::now();
    let r = get(addr, "/delay/1?x=y").await;
    let elapsed = started.elapsed();
    assert_eq!(r.status, StatusCode::OK);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let body = r.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["args", "data", "files", "form", "headers", "origin", "url"]
    );
    assert_eq!(body["args"], json!({"x": "y"}));

    let started = Instant::now();
    assert_eq!(get(addr, "/delay/0.2").await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        get(addr, "/delay/abc").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn headers_are_title_cased_json() {
    let addr = start().await;
    let r = request(
        addr,
        Method::GET,
        "/headers",
        &[
            ("x-request-id", "abc-123"),
            ("user-agent", "test-agent/1.0"),
            ("x-multi", "one"),
            ("x-multi", "two"),
            ("x_under_score", "u"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
    // Pretty-printed like Flask's jsonify: 2-space indent, trailing newline.
    assert!(text.starts_with("{\n  \"headers\": {\n    \""), "{text}");
    assert!(text.ends_with("}\n"), "{text}");

    let headers = &r.json()["headers"];
    assert_eq!(headers["X-Request-Id"], "abc-123");
    assert_eq!(headers["User-Agent"], "test-agent/1.0");
    assert_eq!(headers["Host"], addr.to_string());
    assert_eq!(headers["X-Multi"], "one,two");
    assert_eq!(headers["X-Under-Score"], "u");
    assert!(headers.get("x-request-id").is_none());
}

#[tokio::test]
async fn get_reports_args_and_url() {
    let addr = start().await;
    let r = request(
        addr,
        Method::GET,
        "/get?single=1&multi=a&multi=b&space=x+y%21",
        &[("x-forwarded-proto", "https")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(
        body["args"],
        json!({"single": "1", "multi": ["a", "b"], "space": "x y!"})
    );
    assert_eq!(
        body["url"],
        format!("https://{addr}/get?single=1&multi=a&multi=b&space=x+y%21")
    );
    assert_eq!(body["origin"], "127.0.0.1");
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["args", "headers", "origin", "url"]);

    let plain = get(addr, "/get").await.json();
    assert_eq!(plain["args"], json!({}));
    assert_eq!(plain["url"], format!("http://{addr}/get"));

    let post = request(addr, Method::POST, "/get", &[], "").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers["allow"], "GET, HEAD, OPTIONS");
}

#[tokio::test]
async fn ip_with_and_without_forwarded_for() {
    let addr = start().await;
    assert_eq!(
        get(addr, "/ip").await.json(),
        json!({"origin": "127.0.0.1"})
    );

    let one = request(
        addr,
        Method::GET,
        "/ip",
        &[("x-forwarded-for", "203.0.113.7, 10.0.0.1")],
        "",
    )
    .await;
    assert_eq!(one.json(), json!({"origin": "203.0.113.7, 10.0.0.1"}));

    let two = request(
        addr,
        Method::GET,
        "/ip",
        &[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "10.0.0.1"),
        ],
        "",
    )
    .await;
    assert_eq!(two.json(), json!({"origin": "203.0.113.7, 10.0.0.1"}));
}

#[tokio::test]
async fn anything_echoes_method_body_and_json() {
    let addr = start().await;
    let r = request(
        addr,
        Method::PATCH,
        "/anything/some/path?q=1",
        &[("content-type", "application/json")],
        r#"{"b": [1, 2], "a": "x"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body["method"], "PATCH");
    assert_eq!(body["data"], r#"{"b": [1, 2], "a": "x"}"#);
    assert_eq!(body["json"], json!({"a": "x", "b": [1, 2]}));
    assert_eq!(body["args"], json!({"q": "1"}));
    assert_eq!(body["form"], json!({}));
    assert_eq!(body["files"], json!({}));
    assert_eq!(body["url"], format!("http://{addr}/anything/some/path?q=1"));
    assert_eq!(body["headers"]["Content-Type"], "application/json");

    let text = request(
        addr,
        Method::PUT,
        "/anything",
        &[("content-type", "text/plain")],
        "not json",
    )
    .await
    .json();
    assert_eq!(text["method"], "PUT");
    assert_eq!(text["data"], "not json");
    assert_eq!(text["json"], Value::Null);

    let form = request(
        addr,
        Method::POST,
        "/anything",
        &[("content-type", "application/x-www-form-urlencoded")],
        "a=1&a=2&b=3",
    )
    .await
    .json();
    assert_eq!(form["form"], json!({"a": ["1", "2"], "b": "3"}));
    assert_eq!(form["data"], "");
}

#[tokio::test]
async fn method_endpoints_are_restricted() {
    let addr = start().await;
    for (path, method) in [
        ("/post", Method::POST),
        ("/put", Method::PUT),
        ("/patch", Method::PATCH),
        ("/delete", Method::DELETE),
    ] {
        let ok = request(addr, method.clone(), path, &[], "payload").await;
        assert_eq!(ok.status, StatusCode::OK, "{path}");
        let body = ok.json();
        assert_eq!(body["data"], "payload");
        assert!(
            body.get("method").is_none(),
            "httpbin's {path} has no method"
        );

        let wrong = if method == Method::POST {
            Method::GET
        } else {
            Method::POST
        };
        let rejected = request(addr, wrong, path, &[], "").await;
        assert_eq!(rejected.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}

#[tokio::test]
async fn oversized_body_is_rejected() {
    let addr = start().await;
    let big = Bytes::from(vec![b'a'; 1024 * 1024 + 1]);
    let req = Request::post(format!("http://{addr}/post"))
        .body(Full::new(big))
        .unwrap();
    assert_eq!(send(req).await.status, StatusCode::PAYLOAD_TOO_LARGE);

    let exact = Bytes::from(vec![b'a'; 1024 * 1024]);
    let req = Request::post(format!("http://{addr}/post"))
        .body(Full::new(exact))
        .unwrap();
    assert_eq!(send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_path_is_404_html() {
    let addr = start().await;
    let r = get(addr, "/no/such/thing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
    assert!(r.text().contains("<title>404 Not Found</title>"));
    assert!(r
        .text()
        .contains("The requested URL was not found on the server."));
}

#[tokio::test]
async fn common_and_name_headers() {
    let unnamed = start().await;
    for path in ["/get", "/status/500", "/missing"] {
        let r = get(unnamed, path).await;
        assert_eq!(r.headers["access-control-allow-origin"], "*");
        assert_eq!(r.headers["access-control-allow-credentials"], "true");
        assert_eq!(r.headers["server"], "gunicorn/19.9.0");
        assert!(r.headers.get("x-httpbin-name").is_none());
    }

    let named = httpbin::spawn(httpbin::Options {
        name: Some("backend-a".into()),
    })
    .await
    .unwrap();
    for path in ["/get", "/status/503", "/missing"] {
        assert_eq!(
            get(named, path).await.headers["x-httpbin-name"],
            "backend-a"
        );
    }

    let bad = httpbin::spawn(httpbin::Options {
        name: Some("bad\nname".into()),
    })
    .await;
    assert_eq!(bad.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn misc_endpoints() {
    let addr = start().await;

    let ua = request(
        addr,
        Method::GET,
        "/user-agent",
        &[("user-agent", "ua/9")],
        "",
    )
    .await;
    assert_eq!(ua.json(), json!({"user-agent": "ua/9"}));

    let uuid = get(addr, "/uuid").await.json();
    let uuid = uuid["uuid"].as_str().unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4");

    let rh = get(addr, "/response-headers?X-Test=1&freeform=hello").await;
    assert_eq!(rh.headers["x-test"], "1");
    assert_eq!(rh.headers["freeform"], "hello");
    let body = rh.json();
    assert_eq!(body["X-Test"], "1");
    assert_eq!(body["freeform"], "hello");
    assert_eq!(body["Content-Length"], rh.body.len().to_string());

    let redirect = get(addr, "/redirect-to?url=http://example.com/x").await;
    assert_eq!(redirect.status, StatusCode::FOUND);
    assert_eq!(redirect.headers["location"], "http://example.com/x");
    let redirect = get(addr, "/redirect-to?url=/y&status_code=307").await;
    assert_eq!(redirect.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(redirect.headers["location"], "/y");

    let bytes = get(addr, "/bytes/100000").await;
    assert_eq!(bytes.headers["content-type"], "application/octet-stream");
    assert_eq!(bytes.headers["content-length"], "100000");
    assert_eq!(bytes.body.len(), 100_000);
    // Seeded output is reproducible.
    assert_eq!(
        get(addr, "/bytes/64?seed=7").await.body,
        get(addr, "/bytes/64?seed=7").await.body
    );

    let stream = get(addr, "/stream-bytes/25000?chunk_size=1000").await;
    assert_eq!(stream.status, StatusCode::OK);
    assert!(stream.headers.get("content-length").is_none());
    assert_eq!(stream.headers["transfer-encoding"], "chunked");
    assert_eq!(stream.body.len(), 25_000);

    let index = get(addr, "/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.headers["content-type"], "text/html; charset=utf-8");
    assert!(index.text().contains("httpbin"));
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let addr = start().await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    for i in 0..3 {
        sender.ready().await.expect("connection still open");
        let req = Request::get(format!("/anything/{i}"))
            .header("host", addr.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = sender
            .send_request(req)
            .await
            .expect("request on same connection");
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get("connection").is_none());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["url"], format!("http://{addr}/anything/{i}"));
    }
    drop(sender);
    conn.await.unwrap().unwrap();
}

#[tokio::test]
async fn h2c_prior_knowledge_with_curl() {
    let addr = start().await;
    let output = tokio::process::Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--http2-prior-knowledge",
            "--include",
            "--header",
            "x-request-id: h2-test",
        ])
        .arg(format!("http://{addr}/headers"))
        .output()
        .await
        .expect("run curl");
    assert!(output.status.success(), "{output:?}");
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    let body = &out[out.find("\r\n\r\n").expect("end of headers") + 4..];
    let json: Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["headers"]["X-Request-Id"], "h2-test");
    assert_eq!(json["headers"]["Host"], addr.to_string());
}

#[tokio::test]
async fn binary_prints_listening_line() {
    use tokio::io::AsyncBufReadExt;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_httpbin"))
        .args(["--port", "0", "--name", "from-binary"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn httpbin binary");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("listening line in time")
    .unwrap();
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("httpbin listening on http://")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .parse()
        .unwrap();
    assert_ne!(addr.port(), 0);
    let r = get(addr, "/get").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-httpbin-name"], "from-binary");
    child.kill().await.unwrap();
}
