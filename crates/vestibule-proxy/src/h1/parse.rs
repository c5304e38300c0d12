//! Request heads: bytes → `http::Request`, and what the server must do with
//! the request (serve it here, hand the connection to hyper, or refuse it).

use bytes::{Bytes, BytesMut};
use http::header;
use http::{Method, Request, Uri, Version};

use super::head::{self, name_is, MAX_HEADERS, MAX_REQUEST_HEADER_SLOTS};
use crate::request::headers::lists_token;
use crate::{HeadLimits, ProxyError};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
pub(crate) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a head that cannot be parsed is answered with.
const MALFORMED: ProxyError = ProxyError::BadRequest("malformed request");

/// What a parse found. The request itself is written into the caller's
/// slot rather than returned: a request is about 200 bytes, and each layer
/// it was returned through copied it.
pub(crate) enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A bodiless request, served here, now in the slot; its head was split
    /// off the buffer. `keep_alive`: the client wants the connection kept
    /// open after it (read from the head as it is screened: no lookup in
    /// the map).
    Request { keep_alive: bool },
    /// A request this server leaves to hyper (a body, `Expect`, `Upgrade`,
    /// `CONNECT`), or the HTTP/2 preface: nothing was consumed.
    Handoff,
    /// Malformed or too large: answer with this error and close.
    Reject(ProxyError),
}

/// Parses the head at the start of `buf`; a request served here is written
/// into `slot` (its method, target, version and headers; the body and
/// extensions are left as they are).
pub(crate) fn parse<B>(buf: &mut BytesMut, limits: HeadLimits, slot: &mut Request<B>) -> Parsed {
    if starts_like(buf, H2_PREFACE) {
        return if buf.len() >= H2_PREFACE.len() {
            Parsed::Handoff
        } else {
            Parsed::Partial
        };
    }
    // Frozen for the parse, so that header values and the target can be
    // slices of the same allocation (no copies) while the parser holds it.
    // The whole buffer goes with the request (unlike an upstream
    // connection's, whose room is kept for the next response): a client
    // connection waits idle between requests, and then holds no buffer.
    let bytes = std::mem::take(buf).freeze();
    let (parsed, length) = parse_frozen(&bytes, limits, slot);
    match (&parsed, length) {
        // Pipelined bytes of the next request (rare): copied out.
        (Parsed::Request { .. }, Some(length)) if length < bytes.len() => {
            *buf = BytesMut::from(&bytes[length..]);
        }
        (Parsed::Request { .. } | Parsed::Reject(_), _) => *buf = BytesMut::new(),
        // Nothing consumed: the buffer goes back as it was.
        _ => head::unsplit(buf, bytes),
    }
    parsed
}

fn parse_frozen<B>(
    bytes: &Bytes,
    limits: HeadLimits,
    slot: &mut Request<B>,
) -> (Parsed, Option<usize>) {
    // The parser's slots are on the stack: the usual count keeps them as
    // small as they always were.
    if limits.count <= MAX_HEADERS {
        parse_with::<MAX_HEADERS, B>(bytes, limits, slot)
    } else {
        parse_with::<MAX_REQUEST_HEADER_SLOTS, B>(bytes, limits, slot)
    }
}

fn parse_with<const SLOTS: usize, B>(
    bytes: &Bytes,
    limits: HeadLimits,
    slot: &mut Request<B>,
) -> (Parsed, Option<usize>) {
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; SLOTS];
    let slots = &mut slots[..limits.count.min(SLOTS)];
    let mut head = httparse::Request::new(&mut []);
    // A head must end within the limit: what lies beyond is not parsed, so
    // the answer does not depend on how the bytes arrived (a flaw past the
    // limit would otherwise turn a 414/431 into a 400).
    let within = &bytes[..bytes.len().min(limits.bytes)];
    let length = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut head, within, slots)
    {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if bytes.len() >= limits.bytes => {
            return (Parsed::Reject(too_large(bytes, limits)), None)
        }
        Ok(httparse::Status::Partial) => return (Parsed::Partial, None),
        Err(httparse::Error::TooManyHeaders) => {
            return (Parsed::Reject(ProxyError::HeadersTooLarge), None)
        }
        Err(_) => return (Parsed::Reject(MALFORMED), None),
    };
    match screen(&head) {
        Err(error) => (Parsed::Reject(error), None),
        Ok(Body::Handoff) => (Parsed::Handoff, None),
        Ok(Body::None(connection)) => {
            if build(&head, bytes, slot).is_none() {
                return (Parsed::Reject(MALFORMED), None);
            }
            if connection.present {
                if let Err(error) = crate::request::screen::apply_nominations(slot.headers_mut()) {
                    return (Parsed::Reject(error), None);
                }
            }
            let keep_alive = connection.keeps_alive(slot.version());
            (Parsed::Request { keep_alive }, Some(length))
        }
    }
}

/// A head over the size limit: 414 when the request line alone is
/// (nginx's answer; the target is what grew), else 431.
fn too_large(bytes: &[u8], limits: HeadLimits) -> ProxyError {
    let line_ends = bytes[..bytes.len().min(limits.bytes)].contains(&b'\n');
    if line_ends {
        ProxyError::HeadersTooLarge
    } else {
        ProxyError::UriTooLong
    }
}

fn starts_like(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    n > 0 && buf[..n] == prefix[..n]
}

/// Who reads what follows a head.
enum Body {
    /// Nothing follows: served here.
    None(Connection),
    /// A body, `Expect`, `Upgrade` or `CONNECT`: hyper's.
    Handoff,
}

/// The message framing a head declares, refused as Envoy refuses it
/// (RFC 9112 §6): `Transfer-Encoding` other than `chunked` alone is 501;
/// beside `Content-Length`, or in HTTP/1.0, 400; `Content-Length` values
/// that do not parse or disagree, 400. Everything the framing of the
/// request depends on is decided here, once, before any byte of a body is
/// read, so no two readings of it can reach a backend.
fn screen(head: &httparse::Request<'_, '_>) -> Result<Body, ProxyError> {
    let mut transfer_encodings = 0usize;
    let mut chunked_alone = true;
    let mut length: Option<&[u8]> = None;
    let mut handoff = head.method == Some("CONNECT");
    let mut connection = Connection::default();
    for h in head.headers.iter() {
        let name = h.name.as_bytes();
        // Lengths first: most names are ruled out by one compare.
        match name.len() {
            17 if name_is(name, b"transfer-encoding") => {
                transfer_encodings += 1;
                chunked_alone &= name_is(h.value.trim_ascii(), b"chunked");
            }
            14 if name_is(name, b"content-length") => match length {
                None => length = Some(h.value),
                Some(first) if first.trim_ascii() != h.value.trim_ascii() => {
                    return Err(ProxyError::BadRequest("conflicting content-length"))
                }
                Some(_) => {}
            },
            6 if name_is(name, b"expect") => handoff = true,
            10 if name_is(name, b"connection") => connection.observe(h.value),
            7 if name_is(name, b"upgrade") => handoff = true,
            _ => {}
        }
    }
    if transfer_encodings > 0 {
        if length.is_some() {
            return Err(ProxyError::BadRequest(
                "content-length and transfer-encoding",
            ));
        }
        if head.version != Some(1) {
            return Err(ProxyError::BadRequest("transfer-encoding in HTTP/1.0"));
        }
        if transfer_encodings > 1 || !chunked_alone {
            return Err(ProxyError::NotImplemented);
        }
        return Ok(Body::Handoff);
    }
    if let Some(value) = length {
        let length = head::parse_length(value)
            .map_err(|()| ProxyError::BadRequest("invalid content-length"))?;
        handoff |= length > 0;
    }
    Ok(if handoff {
        Body::Handoff
    } else {
        Body::None(connection)
    })
}

/// What a head's `Connection` headers say.
#[derive(Clone, Copy, Default)]
struct Connection {
    /// There is one (its nominations are applied here too).
    present: bool,
    close: bool,
    keep_alive: bool,
}

impl Connection {
    fn observe(&mut self, value: &[u8]) {
        self.present = true;
        self.close |= lists_token(value, b"close");
        self.keep_alive |= lists_token(value, b"keep-alive");
    }

    /// Whether the client wants the connection kept open after this
    /// exchange: HTTP/1.1 unless it says `close`, HTTP/1.0 only if it says
    /// `keep-alive`.
    fn keeps_alive(self, version: Version) -> bool {
        !self.close && (version != Version::HTTP_10 || self.keep_alive)
    }
}

/// Writes the head into `slot`, field by field (no request is moved).
fn build<B>(head: &httparse::Request<'_, '_>, bytes: &Bytes, slot: &mut Request<B>) -> Option<()> {
    let method = Method::from_bytes(head.method?.as_bytes()).ok()?;
    let version = match head.version? {
        1 => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let uri = Uri::from_maybe_shared(bytes.slice_ref(head.path?.as_bytes())).ok()?;
    let headers = head::header_map(bytes, head.headers)?;
    if version == Version::HTTP_11 && headers.get_all(header::HOST).iter().count() > 1 {
        return None;
    }
    *slot.method_mut() = method;
    *slot.uri_mut() = uri;
    *slot.version_mut() = version;
    *slot.headers_mut() = headers;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Parsed {
        parse_request(text).0
    }

    /// The parse, and the slot it wrote into.
    fn parse_request(text: &str) -> (Parsed, Request<()>) {
        let mut slot = Request::new(());
        let parsed = parse(&mut BytesMut::from(text), HeadLimits::default(), &mut slot);
        (parsed, slot)
    }

    #[test]
    fn a_bodiless_request_is_served_here() {
        let mut buf =
            BytesMut::from("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\n\r\nGET /next");
        let mut request = Request::new(());
        let Parsed::Request { .. } = parse(&mut buf, HeadLimits::default(), &mut request) else {
            panic!("not parsed")
        };
        assert_eq!(request.uri().path_and_query().unwrap().as_str(), "/a?b=1");
        assert_eq!(request.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(&buf[..], b"GET /next", "the next request stays buffered");
    }

    #[test]
    fn bodies_and_switches_go_to_hyper() {
        for text in [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
            "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            assert!(matches!(parse_str(text), Parsed::Handoff), "{text}");
        }
        assert!(matches!(parse_str("PRI * HTTP/2"), Parsed::Partial));
        assert!(matches!(
            parse_str("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
            Parsed::Request { .. }
        ));
    }

    #[test]
    fn malformed_heads_are_rejected() {
        for text in [
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n",
            "GET\0 / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parse_str(text), Parsed::Reject(MALFORMED)),
                "{text:?}"
            );
        }
        let limit = HeadLimits::default().bytes;
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(limit));
        assert!(matches!(
            parse_str(&huge),
            Parsed::Reject(ProxyError::HeadersTooLarge)
        ));
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(limit));
        assert!(matches!(
            parse_str(&long_line),
            Parsed::Reject(ProxyError::UriTooLong)
        ));
    }

    #[test]
    fn connection_nominations_are_applied_to_heads_served_here() {
        let refused = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Host\r\n\r\n";
        assert!(matches!(
            parse_str(refused),
            Parsed::Reject(ProxyError::BadRequest("invalid connection header"))
        ));
        let removed = "GET / HTTP/1.1\r\nHost: x\r\nConnection: x-a\r\nX-A: 1\r\nX-B: 2\r\n\r\n";
        let (Parsed::Request { .. }, request) = parse_request(removed) else {
            panic!("refused")
        };
        assert!(!request.headers().contains_key("x-a"));
        assert!(request.headers().contains_key("x-b"));
    }

    #[test]
    fn head_limits_are_the_configured_ones() {
        let limits = HeadLimits {
            bytes: 1024,
            count: 3,
        };
        let head = |headers: usize, pad: usize| {
            let mut text = format!("GET /{} HTTP/1.1\r\n", "p".repeat(pad));
            for index in 0..headers {
                text.push_str(&format!("X-{index}: 1\r\n"));
            }
            text + "\r\n"
        };
        let parse_with = |text: String| {
            parse(
                &mut BytesMut::from(text.as_str()),
                limits,
                &mut Request::new(()),
            )
        };
        assert!(matches!(parse_with(head(3, 0)), Parsed::Request { .. }));
        assert!(matches!(
            parse_with(head(4, 0)),
            Parsed::Reject(ProxyError::HeadersTooLarge)
        ));
        assert!(matches!(parse_with(head(1, 900)), Parsed::Request { .. }));
        assert!(matches!(
            parse_with(head(1, 1100)),
            Parsed::Reject(ProxyError::UriTooLong)
        ));
    }

    #[test]
    fn framing_is_refused_as_envoy_refuses_it() {
        let cases: &[(&str, ProxyError)] = &[
            (
                "Transfer-Encoding: gzip, chunked",
                ProxyError::NotImplemented,
            ),
            (
                "Transfer-Encoding: identity, chunked",
                ProxyError::NotImplemented,
            ),
            (
                "Transfer-Encoding: chunked, chunked",
                ProxyError::NotImplemented,
            ),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
                ProxyError::NotImplemented,
            ),
            ("Transfer-Encoding: xchunked", ProxyError::NotImplemented),
            ("Transfer-Encoding: gzip", ProxyError::NotImplemented),
            (
                "Content-Length: 3\r\nTransfer-Encoding: chunked",
                ProxyError::BadRequest("content-length and transfer-encoding"),
            ),
            (
                "Transfer-Encoding: chunked\r\nContent-Length: 3",
                ProxyError::BadRequest("content-length and transfer-encoding"),
            ),
            (
                "Content-Length: 3\r\nContent-Length: 4",
                ProxyError::BadRequest("conflicting content-length"),
            ),
            (
                "Content-Length: -3",
                ProxyError::BadRequest("invalid content-length"),
            ),
            (
                "Content-Length: +3",
                ProxyError::BadRequest("invalid content-length"),
            ),
            (
                "Content-Length: 3, 3",
                ProxyError::BadRequest("invalid content-length"),
            ),
            (
                "Content-Length: 0x3",
                ProxyError::BadRequest("invalid content-length"),
            ),
        ];
        for (headers, expected) in cases {
            let text = format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n\r\n");
            match parse_str(&text) {
                Parsed::Reject(error) => assert_eq!(error, *expected, "{headers:?}"),
                _ => panic!("{headers:?} accepted"),
            }
        }
        let http10 = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(
            parse_str(http10),
            Parsed::Reject(ProxyError::BadRequest("transfer-encoding in HTTP/1.0"))
        ));
        for accepted in ["Transfer-Encoding: Chunked", "Transfer-Encoding:  chunked "] {
            let text = format!("POST / HTTP/1.1\r\nHost: x\r\n{accepted}\r\n\r\n");
            assert!(matches!(parse_str(&text), Parsed::Handoff), "{accepted:?}");
        }
        let same = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
        assert!(matches!(parse_str(same), Parsed::Handoff));
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let keeps_alive = |version: &str, connection: &[&str]| {
            let mut text = format!("GET / HTTP/{version}\r\nHost: x\r\n");
            for value in connection {
                text.push_str(&format!("Connection: {value}\r\n"));
            }
            let Parsed::Request { keep_alive, .. } = parse_str(&(text + "\r\n")) else {
                panic!("not parsed")
            };
            keep_alive
        };
        assert!(keeps_alive("1.1", &[]));
        assert!(!keeps_alive("1.1", &["Close"]));
        assert!(!keeps_alive("1.0", &[]));
        assert!(keeps_alive("1.0", &["keep-alive"]));
        assert!(!keeps_alive("1.1", &["x-a, close"]));
        assert!(!keeps_alive("1.1", &["x-a", "close"]));
        assert!(!keeps_alive("1.0", &["keep-alive", "close"]));
    }
}
