//! Response heads and body framing, HTTP/1.1 on the wire.

use std::io::Write as _;

use http::header::{self, HeaderValue};
use http::response::Parts;
use http::StatusCode;
use http_body::SizeHint;

use super::RawHead;

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
#[derive(Clone, Copy)]
pub(crate) struct Exchange {
    pub head_request: bool,
    pub http11: bool,
    pub keep_alive: bool,
}

/// Writes the status line and headers into `out` and returns the framing
/// and whether the connection stays open afterwards. With `raw`, the
/// upstream's headers are there (the map holds only what the proxy added).
pub(crate) fn head(
    out: &mut Vec<u8>,
    parts: &mut Parts,
    hint: &SizeHint,
    exchange: &Exchange,
    raw: Option<&RawHead>,
) -> (Framing, bool) {
    let mut keep_alive = exchange.keep_alive;
    let (framing, strip_length) = framing(parts, hint, exchange, raw);
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    let headers = &mut parts.headers;
    if strip_length {
        headers.remove(header::CONTENT_LENGTH);
    }
    let sent_length = !strip_length
        && (raw.is_some_and(|raw| raw.content_length().is_some())
            || headers.contains_key(header::CONTENT_LENGTH));
    match framing {
        Framing::Chunked => {
            headers.insert(
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
        }
        Framing::Length(length) if !sent_length => {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        _ => {}
    }
    if !raw.is_some_and(RawHead::has_date) {
        super::date::ensure(headers);
    }
    if !keep_alive {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    status_line(out, parts.status);
    if let Some(raw) = raw {
        raw.encode(out, strip_length);
    }
    for (name, value) in parts.headers.iter() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (framing, keep_alive)
}

/// The body's framing, and whether the upstream's `Content-Length` must go
/// (a status that has no body, or a length that does not parse).
fn framing(
    parts: &Parts,
    hint: &SizeHint,
    exchange: &Exchange,
    raw: Option<&RawHead>,
) -> (Framing, bool) {
    let status = parts.status;
    if status.is_informational() || status == StatusCode::NO_CONTENT {
        return (Framing::None, true);
    }
    if exchange.head_request || status == StatusCode::NOT_MODIFIED {
        return (Framing::None, false);
    }
    let length = match raw {
        Some(raw) => raw.content_length(),
        None => super::head::content_length(&parts.headers),
    };
    let framing = match (length, hint.exact()) {
        (Some(Ok(length)), _) => return (Framing::Length(length), false),
        (_, Some(length)) => Framing::Length(length),
        (_, None) if exchange.http11 => Framing::Chunked,
        (_, None) => Framing::UntilClose,
    };
    // A length the upstream sent but that does not parse is not trusted.
    (framing, length.is_some())
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
        let (framing, keep) = head(&mut out, &mut parts, &hint, &exchange, None);
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

    /// A head kept raw is written with the same lines as the same head put
    /// through a map (parsed into it, hop-by-hop headers stripped), whatever
    /// the status, the request and the length it declares.
    #[test]
    fn a_raw_head_is_written_as_its_map_would_be() {
        let heads: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 01:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nServer: nginx\r\nConnection: keep-alive\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 01:00:00 GMT\r\nTransfer-Encoding: chunked\r\nX-A: b\r\nKeep-Alive: timeout=4\r\nTE: trailers\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\nDate: Mon, 07 Dec 2026 01:00:00 GMT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nDate: Mon, 07 Dec 2026 01:00:00 GMT\r\nContent-Length: 12\r\nUpgrade: h2c\r\nETag: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 01:00:00 GMT\r\nContent-Length: nope\r\nProxy-Connection: x\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nDate: Mon, 07 Dec 2026 01:00:00 GMT\r\nX-Upper: Value\r\nTE: gzip\r\n\r\n",
        ];
        let head_request = Exchange {
            head_request: true,
            ..GET11
        };
        let http10 = Exchange {
            http11: false,
            keep_alive: false,
            ..GET11
        };
        for text in heads {
            for exchange in [GET11, head_request, http10] {
                for hint in [SizeHint::with_exact(3), SizeHint::default()] {
                    let bytes = bytes::Bytes::from_static(text);
                    let mut slots = [httparse::EMPTY_HEADER; 16];
                    let mut parsed = httparse::Response::new(&mut slots);
                    parsed.parse(&bytes).unwrap();
                    let status = StatusCode::from_u16(parsed.code.unwrap()).unwrap();
                    let mut names = super::super::head::NameCache::default();
                    let mut map =
                        super::super::head::response_header_map(&bytes, parsed.headers, &mut names)
                            .unwrap();
                    crate::request::headers::strip_hop_by_hop(&mut map);
                    let (raw, _) = RawHead::of(&bytes, parsed.headers).expect("kept raw");
                    let write = |headers: http::HeaderMap, raw: Option<&RawHead>| {
                        let mut response = Response::new(());
                        *response.status_mut() = status;
                        *response.headers_mut() = headers;
                        response
                            .headers_mut()
                            .insert(header::SERVER, HeaderValue::from_static("istio-envoy"));
                        let (mut parts, ()) = response.into_parts();
                        let mut out = Vec::new();
                        let ending = head(&mut out, &mut parts, &hint, &exchange, raw);
                        (String::from_utf8(out).unwrap(), ending)
                    };
                    // A map's removals reorder its entries (`swap_remove`):
                    // the lines are compared as a set, the status line first.
                    let lines = |(text, ending): (String, (Framing, bool))| {
                        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                        lines[1..].sort();
                        (lines, ending)
                    };
                    let through_map = lines(write(map, None));
                    let kept_raw = lines(write(http::HeaderMap::new(), Some(&raw)));
                    assert_eq!(
                        kept_raw,
                        through_map,
                        "{} / head {} / http11 {} / {:?}",
                        String::from_utf8_lossy(text),
                        exchange.head_request,
                        exchange.http11,
                        hint.exact()
                    );
                }
            }
        }
    }
}
