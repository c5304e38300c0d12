//! What parsing a request head and parsing a response head share: limits,
//! the buffer handling around `httparse`, header maps whose values are
//! slices of the read buffer, and `Content-Length`.

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Envoy's default `max_request_headers_kb` (60 KiB) and header count (100),
/// for heads in both directions.
pub(crate) const MAX_HEAD_BYTES: usize = 60 * 1024;
pub(crate) const MAX_HEADERS: usize = 100;

/// Room for the headers the proxy adds (forwarded headers on requests,
/// `server`, `date` and upstream time on responses): no regrowth.
const ADDED_HEADERS: usize = 4;

/// A buffer frozen for a parse, back as a buffer when nothing was consumed
/// (a partial head): no copy while no slice of it was handed out.
pub(crate) fn thaw(bytes: Bytes) -> BytesMut {
    bytes
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]))
}

/// The parsed headers, their values slices of `bytes` (no copies); `None`
/// if a name or value is invalid.
pub(crate) fn header_map(bytes: &Bytes, parsed: &[httparse::Header<'_>]) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(parsed.len() + ADDED_HEADERS);
    for h in parsed {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_maybe_shared(bytes.slice_ref(h.value)).ok()?;
        headers.append(name, value);
    }
    Some(headers)
}

/// `Content-Length`: `None` when absent, `Some(Err)` when it does not parse
/// or duplicates disagree (a framing ambiguity).
pub(crate) fn content_length(headers: &HeaderMap) -> Option<Result<u64, ()>> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let first = values.next()?;
    if values.any(|other| other != first) {
        return Some(Err(()));
    }
    let text = first.to_str().map_err(|_| ());
    Some(text.and_then(|text| text.trim().parse().map_err(|_| ())))
}
