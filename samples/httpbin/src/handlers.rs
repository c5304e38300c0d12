//! Routing and the httpbin endpoints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body;
use serde_json::{json, Map, Value};

use crate::body::{empty, full, RandomBytes, RespBody};
use crate::form::{self, Pairs};
use crate::json::{json_safe, title_case, to_pretty};

/// Largest request body read by the echo endpoints.
pub(crate) const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// Largest `/bytes/{n}` and `/stream-bytes/{n}` response.
const MAX_RANDOM_BYTES: u64 = 100 * 1024 * 1024;
/// Longest `/delay/{n}` sleep, in seconds.
const MAX_DELAY_SECS: f64 = 10.0;

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";

const TEAPOT: &str = r#"
    -=[ teapot ]=-

       _...._
     .'  _ _ `.
    | ."` ^ `". _,
    \_;`"---"`|//
      |       ;/
      \_     _/
        `"""`
"#;

const INDEX: &str = r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>httpbin</title></head>
<body>
<h1>httpbin</h1>
<p>A simple HTTP Request &amp; Response Service (a small Rust clone of httpbin, for vestibule).</p>
<ul>
<li><a href="/get">/get</a> GET request data</li>
<li>/post, /put, /patch, /delete: request data for that method</li>
<li><a href="/anything">/anything</a>: request data for any method</li>
<li><a href="/headers">/headers</a>, <a href="/ip">/ip</a>, <a href="/user-agent">/user-agent</a>, <a href="/uuid">/uuid</a></li>
<li>/status/{codes}: respond with a status code (comma-separated list, optional <code>code:weight</code>)</li>
<li>/delay/{n}: respond after n seconds (at most 10)</li>
<li>/response-headers?k=v, /redirect-to?url=..&amp;status_code=..</li>
<li>/bytes/{n}, /stream-bytes/{n}?chunk_size=..: n random bytes</li>
</ul>
</body>
</html>
"#;

/// Which methods a route accepts besides the automatic `OPTIONS`.
#[derive(Clone, Copy)]
enum Methods {
    /// Any method (the `Allow` header lists httpbin's set).
    Any,
    /// `GET` and `HEAD`.
    Get,
    /// `GET`, `HEAD` and `POST`.
    GetPost,
    /// Exactly this one method.
    Only(&'static Method),
}

impl Methods {
    fn accepts(self, method: &Method) -> bool {
        match self {
            Methods::Any => true,
            Methods::Get => method == Method::GET || method == Method::HEAD,
            Methods::GetPost => {
                method == Method::GET || method == Method::HEAD || method == Method::POST
            }
            Methods::Only(only) => method == only,
        }
    }

    /// The `Allow` header value (werkzeug adds `HEAD` to `GET` routes and
    /// `OPTIONS` to every route).
    fn allow(self) -> &'static str {
        match self {
            Methods::Any => "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, TRACE",
            Methods::Get => "GET, HEAD, OPTIONS",
            Methods::GetPost => "GET, HEAD, OPTIONS, POST",
            Methods::Only(m) if m == Method::POST => "OPTIONS, POST",
            Methods::Only(m) if m == Method::PUT => "OPTIONS, PUT",
            Methods::Only(m) if m == Method::PATCH => "OPTIONS, PATCH",
            Methods::Only(m) if m == Method::DELETE => "DELETE, OPTIONS",
            Methods::Only(_) => "OPTIONS",
        }
    }
}

enum Route {
    Index,
    Get,
    Headers,
    Ip,
    UserAgent,
    Uuid,
    Anything,
    /// `/post`, `/put`, `/patch`, `/delete`.
    MethodEcho(&'static Method),
    Status(String),
    Delay(String),
    ResponseHeaders,
    RedirectTo,
    Bytes(u64),
    StreamBytes(u64),
}

impl Route {
    fn methods(&self) -> Methods {
        match self {
            Route::Index
            | Route::Get
            | Route::Headers
            | Route::Ip
            | Route::UserAgent
            | Route::Uuid
            | Route::Bytes(_)
            | Route::StreamBytes(_) => Methods::Get,
            Route::ResponseHeaders => Methods::GetPost,
            Route::MethodEcho(m) => Methods::Only(m),
            Route::Anything | Route::Status(_) | Route::Delay(_) | Route::RedirectTo => {
                Methods::Any
            }
        }
    }
}

fn match_route(path: &str) -> Option<Route> {
    let route = match path {
        "/" => Route::Index,
        "/get" => Route::Get,
        "/headers" => Route::Headers,
        "/ip" => Route::Ip,
        "/user-agent" => Route::UserAgent,
        "/uuid" => Route::Uuid,
        "/anything" => Route::Anything,
        "/post" => Route::MethodEcho(&Method::POST),
        "/put" => Route::MethodEcho(&Method::PUT),
        "/patch" => Route::MethodEcho(&Method::PATCH),
        "/delete" => Route::MethodEcho(&Method::DELETE),
        "/response-headers" => Route::ResponseHeaders,
        "/redirect-to" => Route::RedirectTo,
        _ if path.starts_with("/anything/") => Route::Anything,
        _ => {
            let (prefix, param) = path.strip_prefix('/')?.split_once('/')?;
            if param.is_empty() || param.contains('/') {
                return None;
            }
            match prefix {
                "status" => Route::Status(form::decode_path_segment(param)),
                "delay" => Route::Delay(form::decode_path_segment(param)),
                "bytes" => Route::Bytes(parse_int_segment(param)?),
                "stream-bytes" => Route::StreamBytes(parse_int_segment(param)?),
                _ => return None,
            }
        }
    };
    Some(route)
}

/// werkzeug's `<int:n>` converter: ASCII digits only. Huge values saturate
/// (they are capped afterwards anyway).
fn parse_int_segment(param: &str) -> Option<u64> {
    if !param.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(param.parse().unwrap_or(u64::MAX))
}

/// Connection facts the handlers need.
#[derive(Clone, Copy)]
pub(crate) struct Conn {
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
}

/// Handles one request. Common headers (CORS, `server`, name) are added by
/// the caller.
pub(crate) async fn handle<B>(req: Request<B>, conn: Conn) -> Response<RespBody>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(route) = match_route(req.uri().path()) else {
        return error_page(StatusCode::NOT_FOUND);
    };
    let methods = route.methods();
    if req.method() == Method::OPTIONS {
        return builder(StatusCode::OK, HTML)
            .header(header::ALLOW, methods.allow())
            .header(header::CONTENT_LENGTH, 0)
            .body(empty())
            .expect("valid response");
    }
    if !methods.accepts(req.method()) {
        let mut resp = error_page(StatusCode::METHOD_NOT_ALLOWED);
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(methods.allow()));
        return resp;
    }

    let info = RequestInfo::new(&req, conn);
    match route {
        Route::Index => respond(StatusCode::OK, HTML, INDEX),
        Route::Get => json_response(&info.dict(&["url", "args", "headers", "origin"], None)),
        Route::Headers => json_response(&json!({ "headers": info.headers })),
        Route::Ip => json_response(&json!({ "origin": info.origin })),
        Route::UserAgent => {
            let ua = info
                .headers
                .get("User-Agent")
                .cloned()
                .unwrap_or(Value::Null);
            json_response(&json!({ "user-agent": ua }))
        }
        Route::Uuid => json_response(&json!({ "uuid": uuid_v4() })),
        Route::Anything => {
            let keys = [
                "url", "args", "headers", "origin", "method", "form", "data", "files", "json",
            ];
            echo_with_body(req, info, &keys).await
        }
        Route::MethodEcho(_) => {
            let keys = [
                "url", "args", "form", "data", "origin", "headers", "files", "json",
            ];
            echo_with_body(req, info, &keys).await
        }
        Route::Delay(delay) => {
            let Some(secs) = delay
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|d| *d >= 0.0) // also rejects NaN, like time.sleep
                .map(|d| d.min(MAX_DELAY_SECS))
            else {
                return error_page(StatusCode::INTERNAL_SERVER_ERROR);
            };
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            let keys = ["url", "args", "form", "data", "origin", "headers", "files"];
            echo_with_body(req, info, &keys).await
        }
        Route::Status(codes) => status(&codes),
        Route::ResponseHeaders => response_headers(&info.args),
        Route::RedirectTo => redirect_to(&info.args),
        Route::Bytes(n) => random_bytes(n, &info.args, false),
        Route::StreamBytes(n) => random_bytes(n, &info.args, true),
    }
}

/// What httpbin's `get_dict` reports about a request, minus the body.
struct RequestInfo {
    url: String,
    args: Pairs,
    headers: Map<String, Value>,
    origin: String,
    method: String,
    content_type: Option<String>,
}

impl RequestInfo {
    fn new<B>(req: &Request<B>, conn: Conn) -> Self {
        let h = req.headers();
        let uri = req.uri();
        let host = first_header(h, &header::HOST)
            .or_else(|| uri.authority().map(|a| a.as_str().to_owned()));

        let scheme = first_header(h, "x-forwarded-proto")
            .or_else(|| first_header(h, "x-forwarded-protocol"))
            .or_else(|| {
                (first_header(h, "x-forwarded-ssl").as_deref() == Some("on"))
                    .then(|| "https".to_owned())
            })
            .unwrap_or_else(|| "http".to_owned());
        let mut url = format!(
            "{scheme}://{}{}",
            host.as_deref().unwrap_or(&conn.local.to_string()),
            uri.path()
        );
        if let Some(q) = uri.query().filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }

        let args = form::parse_urlencoded(uri.query().unwrap_or("").as_bytes());

        let xff: Vec<String> = h
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| latin1(v.as_bytes()))
            .collect();
        let origin = if xff.is_empty() {
            conn.peer.ip().to_canonical().to_string()
        } else {
            xff.join(", ")
        };

        let mut headers = title_cased_headers(h);
        if !headers.contains_key("Host") {
            if let Some(authority) = uri.authority() {
                // HTTP/2 carries the host in `:authority`; show it as `Host`
                // the way an HTTP/1.1 hop would.
                headers.insert("Host".to_owned(), Value::String(authority.to_string()));
            }
        }

        Self {
            url,
            args,
            headers,
            origin,
            method: req.method().as_str().to_owned(),
            content_type: first_header(h, &header::CONTENT_TYPE),
        }
    }

    /// The fields of `get_dict` that do not depend on the body.
    fn dict(&self, keys: &[&str], body: Option<&BodyInfo>) -> Value {
        let mut out = Map::new();
        for &key in keys {
            let value = match key {
                "url" => Value::String(self.url.clone()),
                "args" => form::semiflatten(&self.args),
                "headers" => Value::Object(self.headers.clone()),
                "origin" => Value::String(self.origin.clone()),
                "method" => Value::String(self.method.clone()),
                "form" => form::semiflatten(body.map_or(&[][..], |b| &b.form)),
                "files" => form::semiflatten(body.map_or(&[][..], |b| &b.files)),
                "data" => Value::String(body.map_or_else(String::new, |b| b.data.clone())),
                "json" => body.map_or(Value::Null, |b| b.json.clone()),
                _ => continue,
            };
            out.insert(key.to_owned(), value);
        }
        Value::Object(out)
    }
}

/// What httpbin's `get_dict` reports about a request body.
struct BodyInfo {
    data: String,
    form: Pairs,
    files: Pairs,
    json: Value,
}

impl BodyInfo {
    fn new(body: &[u8], content_type: Option<&str>) -> Self {
        let content_type = content_type.unwrap_or("");
        let mimetype = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let mut info = BodyInfo {
            data: String::new(),
            form: Vec::new(),
            files: Vec::new(),
            json: Value::Null,
        };
        // werkzeug consumes form bodies, leaving `request.data` empty.
        match mimetype.as_str() {
            "application/x-www-form-urlencoded" => info.form = form::parse_urlencoded(body),
            "multipart/form-data" => {
                if let Some(boundary) = form::boundary(content_type) {
                    let parsed = form::parse_multipart(body, &boundary);
                    info.form = parsed.form;
                    info.files = parsed.files;
                }
            }
            _ => {
                info.data = json_safe(body, "application/octet-stream");
                if let Ok(text) = std::str::from_utf8(body) {
                    info.json = serde_json::from_str(text).unwrap_or(Value::Null);
                }
            }
        }
        info
    }
}

async fn echo_with_body<B>(req: Request<B>, info: RequestInfo, keys: &[&str]) -> Response<RespBody>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = match read_body(req).await {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    let body = BodyInfo::new(&body, info.content_type.as_deref());
    json_response(&info.dict(keys, Some(&body)))
}

async fn read_body<B>(req: Request<B>) -> Result<Bytes, Response<RespBody>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_REQUEST_BODY as u64) {
        return Err(error_page(StatusCode::PAYLOAD_TOO_LARGE));
    }
    match Limited::new(req.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(error_page(StatusCode::PAYLOAD_TOO_LARGE))
        }
        Err(_) => Err(error_page(StatusCode::BAD_REQUEST)),
    }
}

/// Request headers as werkzeug exposes them: names Title-Cased (with `_`
/// read as `-`), repeated headers joined with `,` like gunicorn does, values
/// decoded as latin-1.
fn title_cased_headers(headers: &HeaderMap) -> Map<String, Value> {
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    for name in headers.keys() {
        let title = title_case(&name.as_str().replace('_', "-"));
        for value in headers.get_all(name) {
            let value = latin1(value.as_bytes());
            merged
                .entry(title.clone())
                .and_modify(|existing| {
                    existing.push(',');
                    existing.push_str(&value);
                })
                .or_insert(value);
        }
    }
    merged
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

fn first_header(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers.get(name).map(|v| latin1(v.as_bytes()))
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn status(codes: &str) -> Response<RespBody> {
    let code = if codes.contains(',') {
        let mut choices = Vec::new();
        for choice in codes.split(',') {
            let (code, weight) = match choice.split_once(':') {
                Some((code, weight)) => (code, weight.trim().parse::<f64>().ok()),
                None => (choice, Some(1.0)),
            };
            match (parse_status(code), weight) {
                (Some(code), Some(weight)) => choices.push((code, weight)),
                _ => return invalid_status(),
            }
        }
        weighted_choice(&choices)
    } else {
        match parse_status(codes) {
            Some(code) => code,
            None => return invalid_status(),
        }
    };
    status_response(code)
}

fn parse_status(code: &str) -> Option<StatusCode> {
    let code: u16 = code.trim().parse().ok()?;
    // hyper cannot send a 1xx as the final response, so those are rejected too.
    (200..=999)
        .contains(&code)
        .then(|| StatusCode::from_u16(code).ok())
        .flatten()
}

fn invalid_status() -> Response<RespBody> {
    respond(StatusCode::BAD_REQUEST, HTML, "Invalid status code")
}

/// httpbin's `weighted_choice`: uniform in `[0, total]`, bisect the cumulative weights.
fn weighted_choice(choices: &[(StatusCode, f64)]) -> StatusCode {
    let total: f64 = choices.iter().map(|(_, w)| w).sum();
    let x = fastrand::f64() * total;
    let mut cumulative = 0.0;
    for (code, weight) in choices {
        cumulative += weight;
        if x < cumulative {
            return *code;
        }
    }
    choices.last().expect("at least two choices").0
}

fn status_response(code: StatusCode) -> Response<RespBody> {
    let mut builder = builder(code, HTML);
    let mut body = "";
    match code.as_u16() {
        301 | 302 | 303 | 305 | 307 => {
            builder = builder.header(header::LOCATION, "/redirect/1");
        }
        401 => {
            builder = builder.header(header::WWW_AUTHENTICATE, "Basic realm=\"Fake Realm\"");
        }
        407 => {
            builder = builder.header(header::PROXY_AUTHENTICATE, "Basic realm=\"Fake Realm\"");
        }
        418 => {
            builder = builder.header("x-more-info", "http://tools.ietf.org/html/rfc2324");
            body = TEAPOT;
        }
        _ => {}
    }
    builder
        .header(header::CONTENT_LENGTH, body.len())
        .body(if body.is_empty() { empty() } else { full(body) })
        .expect("valid response")
}

/// `/response-headers`: the query pairs become response headers, and the body
/// is a JSON object of all response headers, iterated until its own
/// `Content-Length` is stable (as httpbin does).
fn response_headers(args: &[(String, String)]) -> Response<RespBody> {
    let mut extra = Vec::with_capacity(args.len());
    for (key, value) in args {
        let (Ok(name), Ok(val)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return error_page(StatusCode::BAD_REQUEST);
        };
        extra.push((name, val));
    }

    let mut len = 0usize;
    let mut body = String::new();
    for _ in 0..16 {
        let mut entries: Vec<(&str, String)> = vec![
            ("Content-Type", JSON.to_owned()),
            ("Content-Length", len.to_string()),
        ];
        entries.extend(args.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let mut doc = Map::new();
        for (key, _) in &entries {
            let values: Vec<&String> = entries
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
                .collect();
            let value = if values.len() == 1 {
                json!(values[0])
            } else {
                json!(values)
            };
            doc.insert((*key).to_owned(), value);
        }
        body = to_pretty(&Value::Object(doc));
        if body.len() == len {
            break;
        }
        len = body.len();
    }

    let mut resp = json_body(body);
    for (name, value) in extra {
        // Framing is ours to decide; echo these but do not send them.
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        resp.headers_mut().append(name, value);
    }
    resp
}

fn redirect_to(args: &[(String, String)]) -> Response<RespBody> {
    let Some(url) = form::get_ci(args, "url") else {
        return error_page(StatusCode::BAD_REQUEST);
    };
    let mut status = StatusCode::FOUND;
    if let Some(code) = form::get_ci(args, "status_code") {
        let Ok(code) = code.trim().parse::<i64>() else {
            return error_page(StatusCode::INTERNAL_SERVER_ERROR);
        };
        if (300..400).contains(&code) {
            status = StatusCode::from_u16(code as u16).expect("3xx is valid");
        }
    }
    let Ok(location) = HeaderValue::from_bytes(url.as_bytes()) else {
        return error_page(StatusCode::BAD_REQUEST);
    };
    builder(status, HTML)
        .header(header::LOCATION, location)
        .header(header::CONTENT_LENGTH, 0)
        .body(empty())
        .expect("valid response")
}

fn random_bytes(n: u64, args: &[(String, String)], stream: bool) -> Response<RespBody> {
    let n = n.min(MAX_RANDOM_BYTES);
    let rng = match form::get_ci(args, "seed") {
        Some(seed) => match seed.trim().parse::<i64>() {
            Ok(seed) => fastrand::Rng::with_seed(seed as u64),
            Err(_) => return error_page(StatusCode::INTERNAL_SERVER_ERROR),
        },
        None => fastrand::Rng::new(),
    };
    let builder = builder(StatusCode::OK, "application/octet-stream");
    if stream {
        let chunk = match form::get_ci(args, "chunk_size") {
            Some(size) => match size.trim().parse::<i64>() {
                Ok(size) => usize::try_from(size.max(1)).unwrap_or(usize::MAX),
                Err(_) => return error_page(StatusCode::INTERNAL_SERVER_ERROR),
            },
            None => 10 * 1024,
        };
        builder
            .body(BodyExt::boxed(RandomBytes::new(n, chunk, false, rng)))
            .expect("valid response")
    } else {
        builder
            .header(header::CONTENT_LENGTH, n)
            .body(BodyExt::boxed(RandomBytes::new(n, 64 * 1024, true, rng)))
            .expect("valid response")
    }
}

fn uuid_v4() -> String {
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn builder(status: StatusCode, content_type: &'static str) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: &'static str,
) -> Response<RespBody> {
    builder(status, content_type)
        .header(header::CONTENT_LENGTH, body.len())
        .body(full(body))
        .expect("valid response")
}

fn json_response(value: &Value) -> Response<RespBody> {
    json_body(to_pretty(value))
}

fn json_body(body: String) -> Response<RespBody> {
    builder(StatusCode::OK, JSON)
        .header(header::CONTENT_LENGTH, body.len())
        .body(full(body))
        .expect("valid response")
}

/// werkzeug's HTML error page for `status`.
pub(crate) fn error_page(status: StatusCode) -> Response<RespBody> {
    let description = match status.as_u16() {
        400 => "The browser (or proxy) sent a request that this server could not understand.",
        404 => {
            "The requested URL was not found on the server. If you entered the URL manually \
             please check your spelling and try again."
        }
        405 => "The method is not allowed for the requested URL.",
        413 => "The data value transmitted exceeds the capacity limit.",
        _ => {
            "The server encountered an internal error and was unable to complete your request. \
             Either the server is overloaded or there is an error in the application."
        }
    };
    let name = status.canonical_reason().unwrap_or("Unknown Error");
    let name = match status.as_u16() {
        413 => "Request Entity Too Large", // werkzeug's name for it
        _ => name,
    };
    let body = format!(
        "<!doctype html>\n<html lang=en>\n<title>{code} {name}</title>\n<h1>{name}</h1>\n\
         <p>{description}</p>\n",
        code = status.as_u16()
    );
    builder(status, HTML)
        .header(header::CONTENT_LENGTH, body.len())
        .body(full(body))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(match_route("/status/200,201"), Some(Route::Status(c)) if c == "200,201"));
        assert!(
            matches!(match_route("/status/200%2C201"), Some(Route::Status(c)) if c == "200,201")
        );
        assert!(match_route("/status/").is_none());
        assert!(match_route("/status/200/x").is_none());
        assert!(matches!(
            match_route("/anything/a/b"),
            Some(Route::Anything)
        ));
        assert!(matches!(match_route("/bytes/12"), Some(Route::Bytes(12))));
        assert!(match_route("/bytes/-1").is_none());
        assert!(match_route("/nope").is_none());
    }

    #[test]
    fn uuid_shape() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn response_headers_body_is_self_consistent() {
        let resp = response_headers(&[("X-A".into(), "1".into()), ("x-a".into(), "2".into())]);
        let len: usize = resp.headers()[header::CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(resp.headers().get_all("x-a").iter().count(), 2);
        let body = resp.into_body();
        let exact = hyper::body::Body::size_hint(&body).exact().unwrap();
        assert_eq!(exact, len as u64);
    }
}
