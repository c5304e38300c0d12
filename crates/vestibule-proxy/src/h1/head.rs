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
    match known(name) {
        Known::Server | Known::KeepAlive => true,
        Known::Connection => lists_only(value, &[b"keep-alive"]),
        _ => false,
    }
}

/// Whether a `Connection` value lists nothing but `options` (lower case):
/// then it names no header that must go with it.
pub(crate) fn lists_only(value: &[u8], options: &[&[u8]]) -> bool {
    value
        .split(|&byte| byte == b',')
        .map(<[u8]>::trim_ascii)
        .all(|token| token.is_empty() || options.iter().any(|option| name_is(token, option)))
}

/// Whether a header name, or a token of a header value, is `lower`
/// (lower-case letters, digits and `-`), whatever its case. For bytes of
/// a parsed head (no control characters but tab: `httparse` and
/// `HeaderValue` refuse them) setting the 0x20 bit lower-cases a letter and
/// makes nothing else equal a letter, a digit or `-`; one pass without a
/// branch per byte, where `eq_ignore_ascii_case` maps both sides byte by
/// byte.
#[inline]
pub(crate) fn name_is(name: &[u8], lower: &[u8]) -> bool {
    debug_assert!(lower
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
    name.len() == lower.len()
        && name
            .iter()
            .zip(lower)
            .fold(0u8, |diff, (&a, &b)| diff | ((a | 0x20) ^ b))
            == 0
}

/// The response header names the proxy reads or drops itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    ContentLength,
    TransferEncoding,
    Connection,
    KeepAlive,
    ProxyConnection,
    Upgrade,
    Te,
    Server,
    Date,
    Other,
}

/// Which of the [`Known`] names `name` is (lengths first: most names are
/// ruled out by one compare).
pub(crate) fn known(name: &[u8]) -> Known {
    match name.len() {
        2 if name_is(name, b"te") => Known::Te,
        4 if name_is(name, b"date") => Known::Date,
        6 if name_is(name, b"server") => Known::Server,
        7 if name_is(name, b"upgrade") => Known::Upgrade,
        10 if name_is(name, b"connection") => Known::Connection,
        10 if name_is(name, b"keep-alive") => Known::KeepAlive,
        14 if name_is(name, b"content-length") => Known::ContentLength,
        16 if name_is(name, b"proxy-connection") => Known::ProxyConnection,
        17 if name_is(name, b"transfer-encoding") => Known::TransferEncoding,
        _ => Known::Other,
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

/// What delimiting the body and reusing the connection need from a
/// response's headers, gathered in one pass over the parsed head rather
/// than a map lookup each.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct HeadFacts {
    /// The last coding of the last `Transfer-Encoding` header is `chunked`
    /// (`Some(false)`: present, but something else).
    pub chunked: Option<bool>,
    /// The first `Content-Length` value, parsed; `Err` when it does not
    /// parse or another `Content-Length` differs from it.
    pub content_length: Option<Result<u64, ()>>,
    /// `Connection` lists `close`.
    pub close: bool,
}

impl HeadFacts {
    pub(crate) fn gather<'a>(headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> HeadFacts {
        let mut scan = FactsScan::default();
        for (name, value) in headers {
            scan.observe(known(name), value);
        }
        scan.facts
    }
}

/// [`HeadFacts`] gathered header by header, by whatever walks the head.
#[derive(Default)]
pub(crate) struct FactsScan<'a> {
    pub facts: HeadFacts,
    first_length: Option<&'a [u8]>,
}

impl<'a> FactsScan<'a> {
    pub(crate) fn observe(&mut self, name: Known, value: &'a [u8]) {
        let facts = &mut self.facts;
        match name {
            Known::TransferEncoding => {
                let last = value.rsplit(|&b| b == b',').next().unwrap_or(&[]);
                facts.chunked = Some(name_is(last.trim_ascii(), b"chunked"));
            }
            Known::ContentLength => match self.first_length {
                None => {
                    self.first_length = Some(value);
                    facts.content_length = Some(parse_length(value));
                }
                Some(first) if first != value => facts.content_length = Some(Err(())),
                Some(_) => {}
            },
            Known::Connection => {
                facts.close |= crate::request::headers::lists_token(value, b"close");
            }
            _ => {}
        }
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

    /// `name_is` agrees with `eq_ignore_ascii_case` for every byte a parsed
    /// head may hold (a value's: tab, visible ASCII, space, obs-text; a
    /// name's are a subset) put at every place of every name and token it
    /// is asked about.
    #[test]
    fn a_name_compares_as_eq_ignore_ascii_case_does_for_head_bytes() {
        let in_head = |b: u8| b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80;
        let names: [&[u8]; 16] = [
            b"te",
            b"date",
            b"server",
            b"upgrade",
            b"connection",
            b"keep-alive",
            b"content-length",
            b"proxy-connection",
            b"transfer-encoding",
            b"expect",
            b"close",
            b"chunked",
            b"trailers",
            b"h2c",
            b"http2-settings",
            b"websocket",
        ];
        for lower in names {
            assert!(name_is(&lower.to_ascii_uppercase(), lower));
            for place in 0..lower.len() {
                for byte in (0..=255u8).filter(|&b| in_head(b)) {
                    let mut name = lower.to_vec();
                    name[place] = byte;
                    assert_eq!(
                        name_is(&name, lower),
                        name.eq_ignore_ascii_case(lower),
                        "{:?} against {:?}",
                        String::from_utf8_lossy(&name),
                        String::from_utf8_lossy(lower)
                    );
                }
            }
            assert!(!name_is(&lower[1..], lower), "lengths differ");
        }
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
