//! vestibule's own HTTP/1.1 client for upstream connections. The request's
//! own task writes the request and reads the response on a connection it
//! checked out of the pool: no connection task, no channel, no wakeup of
//! another task per request (hyper's client has all three).

use std::io;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use http::header;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body::Body as _;

use super::h1_body::{BodyFraming, H1ResponseBody};
use crate::body::RequestBody;
use crate::conn::Prefixed;
use crate::h1::head::{self, HeadFacts, MAX_HEADERS, MAX_HEAD_BYTES};
use crate::h1::write::{flush, write_body, WriteError};
use crate::h1::RawHead;
use crate::idle::{is_stream_idle, Watch, Watched};
use crate::telemetry::access_log::Address;
use crate::upstream::clusters::EndpointState;
use crate::upstream::stream::UpstreamStream;

const READ_CHUNK: usize = 8 * 1024;
/// Room for a request head, made before encoding one.
const HEAD_ROOM: usize = 512;

/// An open connection to an upstream.
#[derive(Debug)]
pub(crate) struct UpstreamConn {
    pub(super) stream: UpstreamStream,
    /// Bytes read and not yet used. Each response takes what has been read
    /// (`split`), not the buffer: the room after it serves the next reads,
    /// so a connection allocates a buffer once per several responses
    /// rather than once each (at 8 KiB, an allocation the allocator makes
    /// and unmakes a whole slab for).
    pub(super) buf: BytesMut,
    /// The request head being written, kept for the next request.
    out: Vec<u8>,
    /// The header names this upstream has sent.
    names: head::NameCache,
    /// Whether it carried a request before (then a close before any
    /// response byte means it went stale in the pool, not that the upstream
    /// refused the request).
    reused: bool,
    /// When its exchange last moved (the stream idle timeout).
    pub(super) watch: Arc<Watch>,
    /// Requests it carried (`maxRequestsPerConnection`).
    pub(super) used: u32,
    /// When it was made (`maxConnectionDuration`).
    pub(super) opened: std::time::Instant,
    /// When it went idle (kept only under an idle timeout).
    pub(super) idle_since: Option<std::time::Instant>,
    /// Its place under the cluster's connection limit, if it has one.
    pub(crate) slot: Option<super::circuit::ConnectionSlot>,
    /// Its local address, once asked for (the access log's
    /// `%UPSTREAM_LOCAL_ADDRESS%`): one system call and one formatting per
    /// connection.
    local: Option<Address>,
}

impl UpstreamConn {
    pub(crate) fn new(stream: UpstreamStream) -> UpstreamConn {
        UpstreamConn {
            stream,
            buf: BytesMut::new(),
            out: Vec::new(),
            names: head::NameCache::default(),
            reused: false,
            watch: Watch::new(),
            used: 0,
            opened: std::time::Instant::now(),
            idle_since: None,
            slot: None,
            local: None,
        }
    }

    /// Lets go of the buffers kept for the next request (a connection
    /// that will sit idle holds none).
    pub(crate) fn release_buffers(&mut self) {
        if self.buf.is_empty() {
            super::spare::give(std::mem::take(&mut self.buf), READ_CHUNK / 4);
        }
        self.out = Vec::new();
    }

    #[cfg(test)]
    pub(crate) fn give_buffers(&mut self) {
        self.buf.reserve(READ_CHUNK);
        self.out.reserve(HEAD_ROOM);
    }

    #[cfg(test)]
    pub(crate) fn holds_buffers(&self) -> bool {
        self.buf.capacity() > 0 || self.out.capacity() > 0
    }

    pub(super) fn mark_reused(&mut self) {
        self.reused = true;
    }

    #[cfg(test)]
    pub(crate) fn local_addr(&self) -> std::net::SocketAddr {
        self.stream
            .socket()
            .local_addr()
            .expect("a connected socket")
    }

    /// The connection's local address (asked of the socket once).
    pub(crate) fn local_address(&mut self) -> Option<Address> {
        if self.local.is_none() {
            self.local = self.stream.local_address();
        }
        self.local
    }

    /// Whether an idle connection still looks usable (see
    /// [`UpstreamStream::is_usable`]).
    pub(crate) fn is_usable(&mut self) -> bool {
        self.stream.is_usable()
    }
}

/// A connection handed over after `101 Switching Protocols`, with any bytes
/// the upstream sent after the response head. In a response's extensions
/// (which must be `Clone`), hence the shared slot.
#[derive(Clone)]
pub(crate) struct UpgradedUpstream(pub(crate) Arc<std::sync::Mutex<Option<super::UpgradedStream>>>);

#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// A pooled connection had closed; the request, which has no body, was
    /// not answered and can be sent again as it is.
    #[error("pooled connection closed")]
    Stale,
    /// The connection failed after the request went out.
    #[error("connection failed: {0}")]
    Reset(String),
    /// The upstream's response is not valid HTTP/1.1.
    #[error("invalid response: {0}")]
    Protocol(&'static str),
    /// The client's request body failed (malformed, or the client went
    /// away) while it was being sent; the connection is closed, not reused.
    #[error("request body failed: {0}")]
    RequestBody(String),
    /// Nothing moved for the stream idle timeout: the client's body, or the
    /// upstream's response head.
    #[error("stream idle timeout")]
    StreamIdle,
}

/// Sends `request` on `conn` and reads the response head. The body, read
/// on demand, gives the connection back to `endpoint`'s pool at its end.
/// The request is borrowed: a bodiless one is left as it was (the caller can
/// send it again), a body is taken as it is written. With `raw`, the
/// response's head is kept as the upstream sent it when it can be (in its
/// body, [`H1ResponseBody::raw_head`]; the map then stays empty).
pub(crate) async fn send(
    mut conn: Box<UpstreamConn>,
    request: &mut Request<RequestBody>,
    endpoint: &Arc<EndpointState>,
    raw: bool,
) -> Result<Response<H1ResponseBody>, SendError> {
    let head_request = request.method() == Method::HEAD;
    conn.used += 1;
    let mut out = std::mem::take(&mut conn.out);
    out.clear();
    // Most heads fit: grown once, not doubling up from nothing.
    out.reserve(HEAD_ROOM);
    let chunked = encode_head(&mut out, request);
    let bodiless = request.body().is_end_stream();
    // Watched from here: an upstream that stops reading the request, or
    // answering it, idles out.
    conn.watch.touch();
    let mut stream = Watched {
        stream: &mut conn.stream,
        watch: &conn.watch,
    };
    if bodiless {
        if let Err(error) = flush(&mut stream, &mut out).await {
            return Err(stale_or_reset(&conn, error));
        }
    } else {
        let mut body = std::mem::replace(request.body_mut(), RequestBody::Empty);
        // Boxed: a body's copy loop is a large state most requests (no
        // body) would otherwise carry.
        let written = Box::pin(write_body(
            &mut stream,
            &mut out,
            &mut body,
            chunked,
            |_| {},
            &mut 0,
        ))
        .await;
        match written {
            Ok(_) => {}
            Err(WriteError::Body(error)) if is_stream_idle(&*error) => {
                return Err(SendError::StreamIdle)
            }
            Err(WriteError::Io(error)) if is_stream_idle(&error) => {
                return Err(SendError::StreamIdle)
            }
            Err(WriteError::Body(error)) => return Err(SendError::RequestBody(error.to_string())),
            Err(WriteError::Io(error)) => return Err(SendError::Reset(error.to_string())),
        }
    }
    let head = loop {
        match read_head(&mut conn, raw).await {
            // An interim response: what came after it is the next head's.
            Ok(ParsedHead { response, .. })
                if response.status().is_informational()
                    && response.status() != StatusCode::SWITCHING_PROTOCOLS =>
            {
                let rest = response.into_body();
                if !rest.is_empty() {
                    let later = conn.buf.split();
                    conn.buf.extend_from_slice(&rest);
                    conn.buf.extend_from_slice(&later);
                }
            }
            Ok(head) => break head,
            Err(HeadError::ClosedEarly(error)) => {
                return Err(if bodiless {
                    stale_or_reset(&conn, error)
                } else {
                    SendError::Reset(error.to_string())
                })
            }
            Err(HeadError::Invalid(what)) => return Err(SendError::Protocol(what)),
            Err(HeadError::Idle) => return Err(SendError::StreamIdle),
        }
    };
    conn.out = out;
    let ParsedHead {
        response,
        facts,
        raw,
    } = head;
    let (parts, remainder) = response.into_parts();
    let status = parts.status;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let mut response = Response::from_parts(parts, H1ResponseBody::empty());
        let leftover = BytesMut::from(&remainder[..]);
        let upgraded = Prefixed::new(leftover, conn.stream);
        response
            .extensions_mut()
            .insert(UpgradedUpstream(Arc::new(std::sync::Mutex::new(Some(
                upgraded,
            )))));
        return Ok(response);
    }
    let framing = body_framing(&facts, status, head_request)
        .ok_or(SendError::Protocol("ambiguous body length"))?;
    let reusable = parts.version == Version::HTTP_11 && !facts.close;
    conn.mark_reused();
    let body = H1ResponseBody::new(conn, framing, remainder, reusable, Arc::clone(endpoint))
        .with_raw_head(raw);
    Ok(Response::from_parts(parts, body))
}

fn stale_or_reset(conn: &UpstreamConn, error: io::Error) -> SendError {
    if conn.reused {
        SendError::Stale
    } else {
        SendError::Reset(error.to_string())
    }
}

/// The request line and headers; returns whether the body goes chunked.
fn encode_head(out: &mut Vec<u8>, request: &Request<RequestBody>) -> bool {
    out.extend_from_slice(request.method().as_str().as_bytes());
    out.push(b' ');
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let headers = request.headers();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let body = request.body();
    let mut chunked = false;
    if !headers.contains_key(header::CONTENT_LENGTH) {
        if body.is_end_stream() {
            if matches!(
                *request.method(),
                Method::POST | Method::PUT | Method::PATCH
            ) {
                out.extend_from_slice(b"content-length: 0\r\n");
            }
        } else if let Some(length) = body.size_hint().exact() {
            out.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
        } else {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            chunked = true;
        }
    }
    out.extend_from_slice(b"\r\n");
    chunked
}

enum HeadError {
    /// The connection closed or failed before a whole head arrived.
    ClosedEarly(io::Error),
    Invalid(&'static str),
    /// Nothing came for the stream idle timeout.
    Idle,
}

/// A parsed response head: the response (its body slot holding the bytes
/// that came after the head), what framing it needs, and the head's spans
/// when it is kept as it came.
struct ParsedHead {
    response: Response<Bytes>,
    facts: HeadFacts,
    raw: Option<Box<RawHead>>,
}

/// Reads one response head (see [`ParsedHead`]).
async fn read_head(conn: &mut UpstreamConn, raw: bool) -> Result<ParsedHead, HeadError> {
    loop {
        if !conn.buf.is_empty() {
            if let Some(response) = parse_head(&mut conn.buf, &mut conn.names, raw)? {
                return Ok(response);
            }
        }
        if conn.buf.len() >= MAX_HEAD_BYTES {
            return Err(HeadError::Invalid("response head too large"));
        }
        if conn.buf.capacity() == 0 {
            if let Some(spare) = super::spare::take() {
                conn.buf = spare;
            }
        }
        if conn.buf.capacity() - conn.buf.len() < READ_CHUNK / 4 {
            conn.buf.reserve(READ_CHUNK);
        }
        let read = std::future::poll_fn(|cx| {
            if conn.watch.check(cx).is_err() {
                return Poll::Ready(Err(HeadError::Idle));
            }
            tokio_util::io::poll_read_buf(std::pin::Pin::new(&mut conn.stream), cx, &mut conn.buf)
                .map_err(HeadError::ClosedEarly)
        });
        match read.await? {
            0 => {
                return Err(HeadError::ClosedEarly(io::ErrorKind::UnexpectedEof.into()));
            }
            _ => conn.watch.touch(),
        }
    }
}

fn parse_head(
    buf: &mut BytesMut,
    names: &mut head::NameCache,
    raw: bool,
) -> Result<Option<ParsedHead>, HeadError> {
    let bytes = buf.split().freeze();
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut head = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .allow_spaces_after_header_name_in_responses(true)
        .parse_response_with_uninit_headers(&mut head, &bytes, &mut slots);
    let length = match parsed {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => {
            head::unsplit(buf, bytes);
            return Ok(None);
        }
        Err(_) => return Err(HeadError::Invalid("malformed response head")),
    };
    let invalid = HeadError::Invalid("malformed response head");
    let status = head
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(HeadError::Invalid("invalid status"))?;
    let (raw, facts, headers) = match raw.then(|| RawHead::of(&bytes, head.headers)).flatten() {
        Some((raw, facts)) => (Some(raw), facts, HeaderMap::new()),
        None => {
            let headers = head::response_header_map(&bytes, head.headers, names)
                .ok_or(HeadError::Invalid("invalid header"))?;
            let facts = HeadFacts::gather(
                head.headers
                    .iter()
                    .map(|header| (header.name.as_bytes(), header.value)),
            );
            (None, facts, headers)
        }
    };
    let version = match head.version {
        Some(1) => Version::HTTP_11,
        Some(_) => Version::HTTP_10,
        None => return Err(invalid),
    };
    let mut response = Response::new(bytes.slice(length..));
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    Ok(Some(ParsedHead {
        response,
        facts,
        raw,
    }))
}

/// RFC 9112 §6.3: how the response body is delimited; `None` when its
/// length is ambiguous (a framing attack or a broken upstream): lengths
/// that do not parse or disagree, or a length beside `Transfer-Encoding`,
/// which Envoy refuses as a protocol error rather than pick one reading.
fn body_framing(facts: &HeadFacts, status: StatusCode, head_request: bool) -> Option<BodyFraming> {
    if facts.chunked.is_some() && facts.content_length.is_some() {
        return None;
    }
    if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Some(BodyFraming::Length(0));
    }
    if let Some(chunked) = facts.chunked {
        return Some(if chunked {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilClose
        });
    }
    match facts.content_length {
        None => Some(BodyFraming::UntilClose),
        Some(Ok(length)) => Some(BodyFraming::Length(length)),
        Some(Err(())) => None,
    }
}

/// For fuzzing: parses `data` as a response head and decides its framing,
/// checking that a chosen framing is never ambiguous.
pub(crate) fn check_response_head(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let Ok(Some(ParsedHead {
        response, facts, ..
    })) = parse_head(&mut buf, &mut head::NameCache::default(), false)
    else {
        return;
    };
    let framing = body_framing(&facts, response.status(), false);
    if framing.is_some() {
        assert!(
            facts.chunked.is_none() || facts.content_length.is_none(),
            "a length and a transfer coding both accepted"
        );
    }
    if let Some(Ok(length)) = facts.content_length {
        assert!(
            response
                .headers()
                .get_all(header::CONTENT_LENGTH)
                .iter()
                .all(|value| head::parse_length(value.as_bytes()) == Ok(length)),
            "content-length values disagree"
        );
    }
    check_raw_head(data, &facts, response.headers());
}

/// The same head kept raw: the same facts, and written out it reads back
/// as the lines the map holds (no line smuggled in or lost).
fn check_raw_head(data: &[u8], facts: &HeadFacts, map: &HeaderMap) {
    let mut buf = BytesMut::from(data);
    let Ok(Some(ParsedHead {
        facts: raw_facts,
        raw: Some(raw),
        ..
    })) = parse_head(&mut buf, &mut head::NameCache::default(), true)
    else {
        return;
    };
    assert_eq!(&raw_facts, facts, "the raw scan's facts differ");
    let mut written = b"HTTP/1.1 200 OK\r\n".to_vec();
    raw.encode(&mut written, false);
    written.extend_from_slice(b"\r\n");
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut again = httparse::Response::new(&mut slots);
    assert!(
        matches!(again.parse(&written), Ok(httparse::Status::Complete(n)) if n == written.len()),
        "a raw head written out does not parse back whole"
    );
    // The map path strips what `Connection` lists and the hop-by-hop names.
    let mut map = map.clone();
    crate::request::headers::strip_hop_by_hop(&mut map);
    assert_eq!(
        again.headers.len(),
        map.len(),
        "lines kept raw and mapped differ"
    );
    for line in again.headers.iter() {
        let values = map.get_all(line.name);
        assert!(
            values.iter().any(|value| value.as_bytes() == line.value),
            "{} written raw, not in the map",
            line.name
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(headers: &[(&str, &str)], status: u16, head: bool) -> Option<BodyFraming> {
        let facts = HeadFacts::gather(
            headers
                .iter()
                .map(|(name, value)| (name.as_bytes(), value.as_bytes())),
        );
        body_framing(&facts, StatusCode::from_u16(status).unwrap(), head)
    }
    #[test]
    fn response_bodies_are_delimited_as_rfc_9112_says() {
        assert_eq!(
            framing(&[("content-length", "3")], 200, false),
            Some(BodyFraming::Length(3))
        );
        assert_eq!(
            framing(&[("content-length", "3")], 200, true),
            Some(BodyFraming::Length(0))
        );
        assert_eq!(framing(&[], 204, false), Some(BodyFraming::Length(0)));
        assert_eq!(framing(&[], 304, false), Some(BodyFraming::Length(0)));
        assert_eq!(framing(&[], 200, false), Some(BodyFraming::UntilClose));
        assert_eq!(
            framing(
                &[
                    ("transfer-encoding", "gzip, chunked"),
                    ("content-length", "9")
                ],
                200,
                false
            ),
            None,
            "a length beside a transfer coding is ambiguous"
        );
        assert_eq!(
            framing(
                &[("transfer-encoding", "chunked"), ("content-length", "9")],
                204,
                false
            ),
            None,
            "whatever the status"
        );
        assert_eq!(
            framing(&[("transfer-encoding", "gzip, chunked")], 200, false),
            Some(BodyFraming::Chunked)
        );
        assert_eq!(
            framing(&[("transfer-encoding", "gzip")], 200, false),
            Some(BodyFraming::UntilClose)
        );
        assert_eq!(
            framing(
                &[("content-length", "3"), ("content-length", "4")],
                200,
                false
            ),
            None
        );
        assert_eq!(framing(&[("content-length", "x")], 200, false), None);
    }

    /// A whole head, parsed into a map: its response and facts.
    fn parsed(buf: &mut BytesMut, names: &mut head::NameCache) -> (Response<Bytes>, HeadFacts) {
        match parse_head(buf, names, false) {
            Ok(Some(parsed)) => (parsed.response, parsed.facts),
            _ => panic!("not parsed"),
        }
    }

    #[test]
    fn a_head_is_parsed_and_the_rest_kept() {
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc");
        let (response, facts) = parsed(&mut buf, &mut head::NameCache::default());
        assert_eq!(
            facts,
            HeadFacts {
                chunked: None,
                content_length: Some(Ok(3)),
                close: false,
            }
        );
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-a"], "b");
        assert_eq!(&response.body()[..], b"abc");
        let mut partial = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Le");
        assert!(matches!(
            parse_head(&mut partial, &mut head::NameCache::default(), false),
            Ok(None)
        ));
        assert_eq!(
            &partial[..],
            b"HTTP/1.1 200 OK\r\nContent-Le",
            "kept for the next read"
        );
    }

    /// What the proxy drops from every response is not put in the map;
    /// a `Connection` that names another header stays, for that header's
    /// removal, and facts come from the head, not the map.
    #[test]
    fn headers_dropped_from_every_response_are_left_out_of_the_map() {
        let names = &mut head::NameCache::default();
        let mut buf = BytesMut::from(
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\nX-A: b\r\n\r\n",
        );
        let (response, facts) = parsed(&mut buf, names);
        let left: Vec<&str> = response.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(left, ["content-length", "x-a"]);
        assert!(!facts.close);
        let mut buf = BytesMut::from(
            "HTTP/1.1 200 OK\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\nContent-Length: 0\r\n\r\n",
        );
        let (response, _) = parsed(&mut buf, names);
        assert_eq!(response.headers()["connection"], "keep-alive, x-hop");
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let (response, facts) = parsed(&mut buf, names);
        assert_eq!(response.headers()["connection"], "close");
        assert!(facts.close);
    }

    #[test]
    fn the_room_after_a_head_serves_the_next_reads() {
        let names = &mut head::NameCache::default();
        let mut buf = BytesMut::with_capacity(1024);
        buf.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
        let (response, _) = parsed(&mut buf, names);
        assert_eq!(response.status(), 204);
        assert!(buf.is_empty());
        assert!(buf.capacity() >= 1024 - 64, "room kept: {}", buf.capacity());
        // A head in two reads, the first part kept in front of the room.
        buf.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Le");
        assert!(matches!(parse_head(&mut buf, names, false), Ok(None)));
        buf.extend_from_slice(b"ngth: 2\r\n\r\nok");
        let (response, facts) = parsed(&mut buf, names);
        assert_eq!(facts.content_length, Some(Ok(2)));
        assert_eq!(&response.body()[..], b"ok");
        assert!(buf.is_empty());
    }

    #[test]
    fn facts_are_read_whatever_the_case_of_names_and_tokens() {
        let mut buf = BytesMut::from(
            "HTTP/1.1 200 OK\r\nCONNECTION: Keep-Alive, Close\r\nContent-length: 5\r\ncontent-LENGTH: 5\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
        );
        let Ok(Some(ParsedHead { facts, .. })) =
            parse_head(&mut buf, &mut head::NameCache::default(), false)
        else {
            panic!("not parsed");
        };
        assert_eq!(
            facts,
            HeadFacts {
                chunked: Some(true),
                content_length: Some(Ok(5)),
                close: true,
            }
        );
        let mut conflict =
            BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
        let Ok(Some(ParsedHead { facts, .. })) =
            parse_head(&mut conflict, &mut head::NameCache::default(), false)
        else {
            panic!("not parsed");
        };
        assert_eq!(facts.content_length, Some(Err(())));
        assert!(!facts.close);
    }
}
