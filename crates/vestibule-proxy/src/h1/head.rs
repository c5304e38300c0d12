//! What parsing a request head and parsing a response head share: limits,
//! the buffer handling around `httparse`, header maps whose values are
//! slices of the read buffer, and `Content-Length`.

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Envoy's default `max_response_headers_kb` (60 KiB) and header count
/// (100), for response heads; request heads have configured limits.
pub(crate) const MAX_HEAD_BYTES: usize = 60 * 1024;
pub(crate) const MAX_HEADERS: usize = 100;
/// The most header lines a request head may be configured to hold (the
/// parser's slots live on the stack only while it runs).
pub(crate) const MAX_REQUEST_HEADER_SLOTS: usize = 512;

/// Room for the headers the proxy adds (forwarded headers on requests,
/// `server`, `date` and upstream time on responses): no regrowth.
const ADDED_HEADERS: usize = 4;

/// Puts bytes split off `buf` (`buf.split().freeze()`) and not consumed
/// back in front of the room left in `buf`: no copy when nothing else holds
/// them, since they and the room are one allocation.
pub(crate) fn unsplit(buf: &mut BytesMut, bytes: Bytes) {
    // The room's view goes first, so that the bytes are the allocation's
    // only holder and come back with the room behind them.
    drop(std::mem::take(buf));
    *buf = bytes
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
}

/// The parsed headers, their values slices of `bytes` (no copies); `None`
/// if a name or value is invalid.
pub(crate) fn header_map(bytes: &Bytes, parsed: &[httparse::Header<'_>]) -> Option<HeaderMap> {
    build_map(
        bytes,
        parsed,
        |_| true,
        |raw, _| HeaderName::from_bytes(raw).ok(),
    )
}

/// A response head's map, names looked up in `names` first, without the
/// headers the proxy drops from every response it forwards (see
/// [`dropped_from_response`]): a map entry made only to be removed costs
/// a name lookup, a value check, a hashed insert and a removal.
pub(crate) fn response_header_map(
    bytes: &Bytes,
    parsed: &[httparse::Header<'_>],
    names: &mut NameCache,
) -> Option<HeaderMap> {
    let kept = |h: &httparse::Header<'_>| !dropped_from_response(h.name.as_bytes(), h.value);
    build_map(bytes, parsed, kept, |raw, position| {
        names.name(raw, position)
    })
}

/// Whether an upstream's response header never reaches the client, so
/// never needs a map entry: `Server` (overwritten, as Istio's
/// `server_header_transformation: OVERWRITE` does), `Keep-Alive`
/// (hop-by-hop), and a `Connection` that lists nothing but `keep-alive`
/// (hop-by-hop, and naming no other header to remove). Whether the
/// connection stays open is read from the parsed head, not the map.
fn dropped_from_response(name: &[u8], value: &[u8]) -> bool {
    match name.len() {
        6 => name.eq_ignore_ascii_case(b"server"),
        10 if name.eq_ignore_ascii_case(b"keep-alive") => true,
        10 if name.eq_ignore_ascii_case(b"connection") => value
            .split(|&byte| byte == b',')
            .map(<[u8]>::trim_ascii)
            .all(|token| token.is_empty() || token.eq_ignore_ascii_case(b"keep-alive")),
        _ => false,
    }
}

fn build_map(
    bytes: &Bytes,
    parsed: &[httparse::Header<'_>],
    kept: impl Fn(&httparse::Header<'_>) -> bool,
    mut name_of: impl FnMut(&[u8], usize) -> Option<HeaderName>,
) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(parsed.len() + ADDED_HEADERS);
    for (position, h) in parsed.iter().enumerate() {
        if !kept(h) {
            continue;
        }
        let name = name_of(h.name.as_bytes(), position)?;
        let value = HeaderValue::from_maybe_shared(bytes.slice_ref(h.value)).ok()?;
        headers.append(name, value);
    }
    Some(headers)
}

/// Names a connection's peer has sent before, as it spelled them. An
/// upstream repeats the same names response after response, so they are
/// found here by a byte compare, usually at the same position, instead of
/// being parsed again (lower-cased, matched against the standard names,
/// and a custom one allocated).
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    names: Vec<(Box<[u8]>, HeaderName)>,
}

/// Names kept per connection: a response's usual headers, not a flood.
const NAME_CACHE_SIZE: usize = 16;

impl NameCache {
    fn name(&mut self, raw: &[u8], position: usize) -> Option<HeaderName> {
        if let Some((seen, name)) = self.names.get(position) {
            if **seen == *raw {
                return Some(name.clone());
            }
        }
        if let Some((_, name)) = self.names.iter().find(|(seen, _)| **seen == *raw) {
            return Some(name.clone());
        }
        let name = HeaderName::from_bytes(raw).ok()?;
        if self.names.len() < NAME_CACHE_SIZE {
            self.names.push((raw.into(), name.clone()));
        }
        Some(name)
    }
}

/// `Content-Length`: `None` when absent, `Some(Err)` when it does not parse
/// or duplicates disagree (a framing ambiguity).
pub(crate) fn content_length(headers: &HeaderMap) -> Option<Result<u64, ()>> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let first = values.next()?;
    if values.any(|other| other != first) {
        return Some(Err(()));
    }
    Some(parse_length(first.as_bytes()))
}

/// One `Content-Length` value: digits only (no sign: `+3` is a reading
/// other parsers reject), whitespace around them allowed.
pub(crate) fn parse_length(value: &[u8]) -> Result<u64, ()> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    let text = std::str::from_utf8(digits).map_err(|_| ())?;
    text.parse().map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_put_back_come_with_the_room_and_without_a_copy() {
        let mut buf = BytesMut::with_capacity(256);
        buf.extend_from_slice(b"GET / HT");
        let start = buf.as_ptr();
        let bytes = buf.split().freeze();
        assert!(buf.capacity() >= 256 - 8, "the room stays in buf");
        unsplit(&mut buf, bytes);
        assert_eq!(&buf[..], b"GET / HT");
        assert_eq!(buf.as_ptr(), start, "the same allocation");
        assert!(buf.capacity() >= 256, "room and bytes together");
        // Held elsewhere too: copied.
        let bytes = buf.split().freeze();
        let held = bytes.clone();
        unsplit(&mut buf, bytes);
        assert_eq!(&buf[..], &held[..]);
    }

    #[test]
    fn cached_names_are_the_parsed_names_wherever_they_appear() {
        let mut names = NameCache::default();
        let first = names.name(b"Content-Type", 0).unwrap();
        assert_eq!(first, header::CONTENT_TYPE);
        // Same spelling, other position: found by the scan.
        assert_eq!(
            names.name(b"Content-Type", 3).unwrap(),
            header::CONTENT_TYPE
        );
        // Another spelling is another entry, the same name.
        assert_eq!(
            names.name(b"content-type", 1).unwrap(),
            header::CONTENT_TYPE
        );
        assert_eq!(names.names.len(), 2, "one entry per spelling");
        assert_eq!(names.name(b"X-Custom", 2).unwrap().as_str(), "x-custom");
        assert!(
            names.name(b"bad name", 4).is_none(),
            "invalid names are refused"
        );
        for index in 0..40 {
            let raw = format!("x-{index}");
            assert_eq!(names.name(raw.as_bytes(), 5).unwrap().as_str(), raw);
        }
        assert_eq!(names.names.len(), NAME_CACHE_SIZE, "bounded");
    }
}
