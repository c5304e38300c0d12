//! Request heads: bytes → `http::Request`, and what the server must do with
//! the request (serve it here, hand the connection to hyper, or refuse it).

use bytes::{Bytes, BytesMut};
use http::header;
use http::{Method, Request, Uri, Version};

use super::head::{self, MAX_HEADERS, MAX_HEAD_BYTES};
use crate::headers::connection_lists;
use crate::ProxyError;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
pub(crate) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a head that cannot be parsed is answered with.
const MALFORMED: ProxyError = ProxyError::BadRequest("malformed request");

// Returned once per request and consumed at once: boxing the request would
// cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A bodiless request, served here; its head was split off the buffer.
    Request(Request<()>),
    /// A request this server leaves to hyper (a body, `Expect`, `Upgrade`,
    /// `CONNECT`), or the HTTP/2 preface: nothing was consumed.
    Handoff,
    /// Malformed or too large: answer with this error and close.
    Reject(ProxyError),
}

pub(crate) fn parse(buf: &mut BytesMut) -> Parsed {
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
    let (parsed, length) = parse_frozen(&bytes);
    match (&parsed, length) {
        // Pipelined bytes of the next request (rare): copied out.
        (Parsed::Request(_), Some(length)) if length < bytes.len() => {
            *buf = BytesMut::from(&bytes[length..]);
        }
        (Parsed::Request(_) | Parsed::Reject(_), _) => *buf = BytesMut::new(),
        // Nothing consumed: the buffer goes back as it was.
        _ => head::unsplit(buf, bytes),
    }
    parsed
}

fn parse_frozen(bytes: &Bytes) -> (Parsed, Option<usize>) {
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut []);
    let length = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut head, bytes, &mut slots)
    {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD_BYTES => {
            return (Parsed::Reject(ProxyError::HeadersTooLarge), None)
        }
        Ok(httparse::Status::Partial) => return (Parsed::Partial, None),
        Err(httparse::Error::TooManyHeaders) => {
            return (Parsed::Reject(ProxyError::HeadersTooLarge), None)
        }
        Err(_) => return (Parsed::Reject(MALFORMED), None),
    };
    if length > MAX_HEAD_BYTES {
        return (Parsed::Reject(ProxyError::HeadersTooLarge), None);
    }
    if needs_hyper(&head) {
        return (Parsed::Handoff, None);
    }
    match build(&head, bytes) {
        Some(request) => (Parsed::Request(request), Some(length)),
        None => (Parsed::Reject(MALFORMED), None),
    }
}

fn starts_like(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    n > 0 && buf[..n] == prefix[..n]
}

/// Requests whose framing or protocol switch hyper handles.
fn needs_hyper(head: &httparse::Request<'_, '_>) -> bool {
    if head.method == Some("CONNECT") {
        return true;
    }
    head.headers.iter().any(|h| {
        let name = h.name.as_bytes();
        name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"upgrade")
            || (name.eq_ignore_ascii_case(b"content-length") && h.value != b"0")
    })
}

fn build(head: &httparse::Request<'_, '_>, bytes: &Bytes) -> Option<Request<()>> {
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
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Some(request)
}

/// Whether the client wants the connection kept open after this exchange.
pub(crate) fn keep_alive<B>(request: &Request<B>) -> bool {
    let headers = request.headers();
    if connection_lists(headers, "close") {
        return false;
    }
    request.version() != Version::HTTP_10 || connection_lists(headers, "keep-alive")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Parsed {
        parse(&mut BytesMut::from(text))
    }

    #[test]
    fn a_bodiless_request_is_served_here() {
        let mut buf =
            BytesMut::from("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\n\r\nGET /next");
        let Parsed::Request(request) = parse(&mut buf) else {
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
            Parsed::Request(_)
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
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert!(matches!(
            parse_str(&huge),
            Parsed::Reject(ProxyError::HeadersTooLarge)
        ));
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let request = |version, connection: Option<&str>| {
            let mut builder = Request::builder().version(version);
            if let Some(value) = connection {
                builder = builder.header("connection", value);
            }
            builder.body(()).unwrap()
        };
        assert!(keep_alive(&request(Version::HTTP_11, None)));
        assert!(!keep_alive(&request(Version::HTTP_11, Some("Close"))));
        assert!(!keep_alive(&request(Version::HTTP_10, None)));
        assert!(keep_alive(&request(Version::HTTP_10, Some("keep-alive"))));
        assert!(!keep_alive(&request(Version::HTTP_11, Some("foo, close"))));
    }
}
