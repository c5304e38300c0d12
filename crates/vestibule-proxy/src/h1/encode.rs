//! Response heads and body framing, HTTP/1.1 on the wire.

use std::io::Write as _;

use http::header::{self, HeaderValue};
use http::response::Parts;
use http::StatusCode;
use http_body::SizeHint;

/// How the body follows the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body bytes at all (`HEAD`, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// HTTP/1.0 client, length unknown: the end of the body is the close.
    UntilClose,
}

/// What the exchange looks like from the request's side.
pub(crate) struct Exchange {
    pub head_request: bool,
    pub http11: bool,
    pub keep_alive: bool,
}

/// Writes the status line and headers into `out` and returns the framing
/// and whether the connection stays open afterwards.
pub(crate) fn head(
    out: &mut Vec<u8>,
    parts: &mut Parts,
    hint: &SizeHint,
    exchange: &Exchange,
) -> (Framing, bool) {
    let mut keep_alive = exchange.keep_alive;
    let framing = framing(parts, hint, exchange);
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    let headers = &mut parts.headers;
    match framing {
        Framing::Chunked => {
            headers.insert(
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
        }
        Framing::Length(length) if !headers.contains_key(header::CONTENT_LENGTH) => {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        _ => {}
    }
    super::date::ensure(headers);
    if !keep_alive {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    status_line(out, parts.status);
    for (name, value) in parts.headers.iter() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (framing, keep_alive)
}

fn framing(parts: &mut Parts, hint: &SizeHint, exchange: &Exchange) -> Framing {
    let status = parts.status;
    if status.is_informational() || status == StatusCode::NO_CONTENT {
        parts.headers.remove(header::CONTENT_LENGTH);
        return Framing::None;
    }
    if exchange.head_request || status == StatusCode::NOT_MODIFIED {
        return Framing::None;
    }
    if let Some(Ok(length)) = super::head::content_length(&parts.headers) {
        return Framing::Length(length);
    }
    // A length the upstream sent but that does not parse is not trusted.
    parts.headers.remove(header::CONTENT_LENGTH);
    match hint.exact() {
        Some(length) => Framing::Length(length),
        None if exchange.http11 => Framing::Chunked,
        None => Framing::UntilClose,
    }
}

fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The line that opens a chunk of `length` bytes.
pub(crate) fn chunk_start(out: &mut Vec<u8>, length: usize) {
    let _ = write!(out, "{length:x}\r\n");
}

pub(crate) const CHUNK_END: &[u8] = b"\r\n";
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use http::Response;

    fn encode(
        response: Response<()>,
        hint: SizeHint,
        exchange: Exchange,
    ) -> (String, Framing, bool) {
        let (mut parts, ()) = response.into_parts();
        let mut out = Vec::new();
        let (framing, keep) = head(&mut out, &mut parts, &hint, &exchange);
        (String::from_utf8(out).unwrap(), framing, keep)
    }

    const GET11: Exchange = Exchange {
        head_request: false,
        http11: true,
        keep_alive: true,
    };

    #[test]
    fn a_known_length_is_declared() {
        let (text, framing, keep) = encode(Response::new(()), SizeHint::with_exact(3), GET11);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-length: 3\r\n"), "{text}");
        assert!(text.contains("date: "), "{text}");
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!((framing, keep), (Framing::Length(3), true));
    }

    #[test]
    fn an_unknown_length_is_chunked_for_11_and_closes_for_10() {
        let (text, framing, _) = encode(Response::new(()), SizeHint::default(), GET11);
        assert!(text.contains("transfer-encoding: chunked\r\n"));
        assert_eq!(framing, Framing::Chunked);
        let http10 = Exchange {
            http11: false,
            ..GET11
        };
        let (text, framing, keep) = encode(Response::new(()), SizeHint::default(), http10);
        assert!(text.contains("connection: close\r\n"));
        assert_eq!((framing, keep), (Framing::UntilClose, false));
    }

    #[test]
    fn bodiless_statuses_and_head_send_no_body() {
        let mut no_content = Response::new(());
        *no_content.status_mut() = StatusCode::NO_CONTENT;
        no_content
            .headers_mut()
            .insert("content-length", HeaderValue::from_static("0"));
        let (text, framing, _) = encode(no_content, SizeHint::with_exact(0), GET11);
        assert!(!text.contains("content-length"), "{text}");
        assert_eq!(framing, Framing::None);
        let mut head_response = Response::new(());
        head_response
            .headers_mut()
            .insert("content-length", HeaderValue::from_static("42"));
        let head_request = Exchange {
            head_request: true,
            ..GET11
        };
        let (text, framing, _) = encode(head_response, SizeHint::with_exact(0), head_request);
        assert!(
            text.contains("content-length: 42\r\n"),
            "HEAD keeps the upstream's length"
        );
        assert_eq!(framing, Framing::None);
    }

    #[test]
    fn conflicting_lengths_are_not_trusted() {
        let mut response = Response::new(());
        response
            .headers_mut()
            .append("content-length", HeaderValue::from_static("3"));
        response
            .headers_mut()
            .append("content-length", HeaderValue::from_static("4"));
        let (text, framing, _) = encode(response, SizeHint::default(), GET11);
        assert!(!text.contains("content-length"), "{text}");
        assert_eq!(framing, Framing::Chunked);
    }
}
