//! A response head kept as the upstream sent it: its header lines as spans
//! of the read buffer, re-encoded for an HTTP/1.1 client without ever
//! entering a `HeaderMap`. Most responses pass through a gateway untouched
//! (no header rule, no CORS, no gRPC status to read); for them, building a
//! map (a name lookup, a value check and a hashed insert per header), then
//! walking it to write the head, was a quarter of the request path's work.
//!
//! Only heads that need no rewriting beyond dropping hop-by-hop headers are
//! kept so: a `Connection` header naming other headers to remove takes the
//! map.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use smallvec::SmallVec;

use super::head::{known, lists_only, name_is, FactsScan, HeadFacts, Known};

/// Header lines kept inline; a longer head spills to the heap.
const INLINE_FIELDS: usize = 16;

pub(crate) struct RawHead {
    /// The buffer the head was read into (shared, not copied).
    bytes: Bytes,
    fields: SmallVec<[Field; INLINE_FIELDS]>,
    /// The first `Content-Length`, parsed; `Err` when it does not parse or
    /// another one differs (as [`HeadFacts`] has it).
    content_length: Option<Result<u64, ()>>,
    /// Whether the upstream sent `Date` (kept, as Envoy keeps it).
    date: bool,
    /// Headers the proxy adds, written after the upstream's.
    added: SmallVec<[(HeaderName, HeaderValue); 2]>,
}

/// One header line: where its name and value are in the buffer.
#[derive(Clone, Copy)]
struct Field {
    name: Span,
    value: Span,
    content_length: bool,
}

#[derive(Clone, Copy)]
struct Span {
    start: u16,
    len: u16,
}

impl Span {
    fn of(bytes: &Bytes, part: &[u8]) -> Option<Span> {
        let start = (part.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
        Some(Span {
            start: u16::try_from(start).ok()?,
            len: u16::try_from(part.len()).ok()?,
        })
    }

    fn end(&self) -> usize {
        usize::from(self.start) + usize::from(self.len)
    }

    fn get<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        let start = usize::from(self.start);
        &bytes[start..start + usize::from(self.len)]
    }
}

/// What becomes of one upstream header on the way to the client.
enum Fate {
    Keep,
    /// Hop-by-hop, or `Server` (overwritten, as Istio's
    /// `server_header_transformation: OVERWRITE` does).
    Drop,
    /// A `Connection` that names other headers to remove: the head needs a map.
    NeedsMap,
}

fn fate(name: Known, value: &[u8]) -> Fate {
    match name {
        Known::Te if name_is(value.trim_ascii(), b"trailers") => Fate::Keep,
        Known::Connection if lists_only(value, &[b"keep-alive", b"close"]) => Fate::Drop,
        Known::Connection => Fate::NeedsMap,
        Known::Te
        | Known::Server
        | Known::Upgrade
        | Known::KeepAlive
        | Known::ProxyConnection
        | Known::TransferEncoding => Fate::Drop,
        Known::ContentLength | Known::Date | Known::Other => Fate::Keep,
    }
}

impl RawHead {
    /// The head's headers as spans of `bytes` (which `parsed` was parsed
    /// from), hop-by-hop ones left out, with the facts framing needs
    /// (gathered in the same pass); `None` when the head needs a map (see
    /// the module's note).
    pub(crate) fn of(
        bytes: &Bytes,
        parsed: &[httparse::Header<'_>],
    ) -> Option<(Box<RawHead>, HeadFacts)> {
        // Filled in place: built on the stack, the head (a few hundred
        // bytes with its inline fields) would be copied into its box.
        let mut head = Box::new(RawHead {
            bytes: bytes.clone(),
            fields: SmallVec::new(),
            content_length: None,
            date: false,
            added: SmallVec::new(),
        });
        let mut scan = FactsScan::default();
        for header in parsed {
            let name = header.name.as_bytes();
            let kind = known(name);
            scan.observe(kind, header.value);
            match fate(kind, header.value) {
                Fate::Keep => {}
                Fate::Drop => continue,
                Fate::NeedsMap => return None,
            }
            head.date |= kind == Known::Date;
            head.fields.push(Field {
                name: Span::of(bytes, name)?,
                value: Span::of(bytes, header.value)?,
                content_length: kind == Known::ContentLength,
            });
        }
        let facts = scan.facts;
        head.content_length = facts.content_length;
        Some((head, facts))
    }

    pub(crate) fn content_length(&self) -> Option<Result<u64, ()>> {
        self.content_length
    }

    pub(crate) fn has_date(&self) -> bool {
        self.date
    }

    /// Adds a header after the upstream's (one the upstream's head does not
    /// have: the hop-by-hop ones and `Server` are the only names left out).
    pub(crate) fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.added.push((name, value));
    }

    /// The first value the upstream sent of the header `name` (lower
    /// case letters, digits and `-`), if present.
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|field| name_is(field.name.get(&self.bytes), name.as_bytes()))
            .map(|field| field.value.get(&self.bytes))
    }

    /// Hands each header to `field`, the upstream's then the proxy's,
    /// names in lower case (as HTTP/2 needs them, and a map holds them).
    pub(crate) fn for_each(&self, mut field: impl FnMut(&[u8], &[u8])) {
        let mut lower = [0u8; 64];
        for kept in &self.fields {
            let name = kept.name.get(&self.bytes);
            let value = kept.value.get(&self.bytes);
            match lower.get_mut(..name.len()) {
                Some(lower) => {
                    lower.copy_from_slice(name);
                    lower.make_ascii_lowercase();
                    field(lower, value);
                }
                None => field(&name.to_ascii_lowercase(), value),
            }
        }
        for (name, value) in &self.added {
            field(name.as_str().as_bytes(), value.as_bytes());
        }
    }

    /// Writes the header lines, names in lower case (as a map's, and
    /// Envoy's, are); without `Content-Length` when `strip_length`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>, strip_length: bool) {
        for field in &self.fields {
            if strip_length && field.content_length {
                continue;
            }
            let start = out.len();
            let name = usize::from(field.name.len);
            let (from, to) = (usize::from(field.name.start), field.value.end());
            if self.bytes.get(from + name..from + name + 2) == Some(&b": "[..])
                && from + name + 2 == usize::from(field.value.start)
                && self.bytes.get(to..to + 2) == Some(&b"\r\n"[..])
            {
                // Written as the usual `Name: value`: the line is copied whole.
                out.extend_from_slice(&self.bytes[from..to + 2]);
            } else {
                out.extend_from_slice(field.name.get(&self.bytes));
                out.extend_from_slice(b": ");
                out.extend_from_slice(field.value.get(&self.bytes));
                out.extend_from_slice(b"\r\n");
            }
            out[start..start + name].make_ascii_lowercase();
        }
        for (name, value) in &self.added {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &'static [u8]) -> Option<Box<RawHead>> {
        let bytes = Bytes::from_static(head);
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut slots);
        response.parse(&bytes).unwrap();
        let (raw, facts) = RawHead::of(&bytes, response.headers)?;
        let all = response
            .headers
            .iter()
            .map(|header| (header.name.as_bytes(), header.value));
        assert_eq!(facts, HeadFacts::gather(all), "the facts of a full scan");
        Some(raw)
    }

    fn encoded(head: &RawHead, strip_length: bool) -> String {
        let mut out = Vec::new();
        head.encode(&mut out, strip_length);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn hop_by_hop_headers_and_server_are_left_out_and_names_lowered() {
        let head = parse(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: nginx\r\n\
              Connection: keep-alive, close\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\
              Upgrade: h2c\r\nProxy-Connection: x\r\nTE: gzip\r\nX-Mark:  a b \r\nDate: today\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            encoded(&head, false),
            "content-type: text/plain\r\nx-mark: a b\r\ndate: today\r\n"
        );
        assert!(head.has_date());
        assert_eq!(head.content_length(), None);
        assert_eq!(head.get("x-mark"), Some(&b"a b"[..]));
        assert_eq!(head.get("server"), None);
    }

    #[test]
    fn fields_are_handed_over_with_names_lowered_then_the_proxys() {
        let long = format!("X-{}", "Long".repeat(20));
        let text =
            format!("HTTP/1.1 200 OK\r\nContent-Type: a\r\n{long}: b\r\nServer: nginx\r\n\r\n");
        let text: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        let mut head = parse(text).unwrap();
        head.append(
            http::header::SERVER,
            HeaderValue::from_static("istio-envoy"),
        );
        let mut fields = Vec::new();
        head.for_each(|name, value| fields.push((name.to_vec(), value.to_vec())));
        let expected: Vec<(Vec<u8>, Vec<u8>)> = [
            ("content-type", "a"),
            (long.to_ascii_lowercase().as_str(), "b"),
            ("server", "istio-envoy"),
        ]
        .iter()
        .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect();
        assert_eq!(fields, expected);
    }

    #[test]
    fn te_trailers_is_kept() {
        let head = parse(b"HTTP/1.1 200 OK\r\nTE: trailers\r\n\r\n").unwrap();
        assert_eq!(encoded(&head, false), "te: trailers\r\n");
    }

    #[test]
    fn a_connection_naming_other_headers_needs_a_map() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\n\r\n").is_none());
    }

    #[test]
    fn content_length_is_read_and_can_be_left_out() {
        let head = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\n").unwrap();
        assert_eq!(head.content_length(), Some(Ok(3)));
        assert_eq!(encoded(&head, false), "content-length: 3\r\nx-a: b\r\n");
        assert_eq!(encoded(&head, true), "x-a: b\r\n");
        let head =
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n").unwrap();
        assert_eq!(head.content_length(), Some(Err(())), "disagreeing lengths");
        let head =
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").unwrap();
        assert_eq!(head.content_length(), Some(Ok(3)), "repeated, equal");
    }

    #[test]
    fn more_headers_than_inline_room_are_all_kept() {
        let mut text = b"HTTP/1.1 200 OK\r\n".to_vec();
        for index in 0..(INLINE_FIELDS + 4) {
            text.extend_from_slice(format!("x-{index}: {index}\r\n").as_bytes());
        }
        text.extend_from_slice(b"\r\n");
        let head = parse(Box::leak(text.into_boxed_slice())).unwrap();
        assert_eq!(head.fields.len(), INLINE_FIELDS + 4);
        assert_eq!(head.get("x-19"), Some(&b"19"[..]));
    }
}
