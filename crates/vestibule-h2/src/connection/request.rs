//! A request's header block, decoded field by field, into an
//! `http::Request<()>`: RFC 9113 §8.3's pseudo-header rules and §8.2's
//! field rules. A block that breaks them is malformed: a stream error
//! (`PROTOCOL_ERROR`), the connection goes on. The HPACK decoding itself
//! runs to the block's end whatever the fields hold, so the dynamic table
//! stays in step with the client's.

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Uri, Version};

/// RFC 8441's `:protocol` (extended CONNECT, e.g. `websocket`), carried
/// in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol(pub Bytes);

/// Why a block is malformed (for the debug log; the client sees
/// `PROTOCOL_ERROR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("a pseudo-header after a regular field")]
    PseudoAfterField,
    #[error("a pseudo-header repeated")]
    RepeatedPseudo,
    #[error("an unknown pseudo-header, or :status in a request")]
    UnknownPseudo,
    #[error("a connection-specific field (RFC 9113 §8.2.2)")]
    ConnectionSpecific,
    #[error("te other than \"trailers\"")]
    Te,
    #[error("a field name that is not a lowercase token")]
    Name,
    #[error("a field value with a forbidden byte or edge whitespace")]
    Value,
    #[error(":method missing or not a token")]
    Method,
    #[error(":scheme missing or invalid")]
    Scheme,
    #[error(":path missing, empty or invalid")]
    Path,
    #[error(":authority invalid")]
    Authority,
    #[error(":protocol without CONNECT, or not enabled")]
    Protocol,
    #[error(":scheme or :path in a CONNECT")]
    Connect,
    #[error("pseudo-headers in trailers")]
    PseudoInTrailers,
    #[error("content-length not a number, or two that differ")]
    ContentLength,
    #[error("too many fields")]
    TooMany,
}

/// Collects one request block's fields, in order.
pub(super) struct RequestFields<'a> {
    method: Option<Method>,
    scheme: Option<Scheme>,
    authority: Option<Bytes>,
    path: Option<Bytes>,
    protocol: Option<Bytes>,
    headers: HeaderMap,
    regular_seen: bool,
    content_length: Option<u64>,
    error: Option<Malformed>,
    connect_protocol: bool,
    /// Where pseudo-header values are copied to: the connection's, so
    /// that a request's values share one allocation with the requests
    /// before it instead of taking one each.
    scratch: &'a mut BytesMut,
}

/// Room a scratch buffer takes when it runs out: many requests' values.
const SCRATCH_ROOM: usize = 4096;

/// What a well-formed block gave.
pub(super) struct RequestHead {
    pub request: Request<()>,
    pub content_length: Option<u64>,
}

impl<'a> RequestFields<'a> {
    /// `connect_protocol`: this server advertised
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
    pub(super) fn new(connect_protocol: bool, scratch: &'a mut BytesMut) -> RequestFields<'a> {
        RequestFields {
            method: None,
            scheme: None,
            authority: None,
            path: None,
            protocol: None,
            headers: HeaderMap::new(),
            regular_seen: false,
            content_length: None,
            error: None,
            connect_protocol,
            scratch,
        }
    }

    /// One decoded field. After the first fault the rest are ignored
    /// (the block is malformed whatever they hold).
    pub(super) fn field(&mut self, name: &[u8], value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(fault) = self.take(name, value) {
            self.error = Some(fault);
        }
    }

    fn take(&mut self, name: &[u8], value: &[u8]) -> Result<(), Malformed> {
        if let Some(pseudo) = name.strip_prefix(b":") {
            if self.regular_seen {
                return Err(Malformed::PseudoAfterField);
            }
            let slot = match pseudo {
                b"method" => {
                    if self.method.is_some() {
                        return Err(Malformed::RepeatedPseudo);
                    }
                    let method = Method::from_bytes(value).map_err(|_| Malformed::Method)?;
                    self.method = Some(method);
                    return Ok(());
                }
                b"scheme" => {
                    if self.scheme.is_some() {
                        return Err(Malformed::RepeatedPseudo);
                    }
                    let scheme = Scheme::try_from(value).map_err(|_| Malformed::Scheme)?;
                    self.scheme = Some(scheme);
                    return Ok(());
                }
                b"authority" => &mut self.authority,
                b"path" => &mut self.path,
                b"protocol" => &mut self.protocol,
                _ => return Err(Malformed::UnknownPseudo),
            };
            if slot.is_some() {
                return Err(Malformed::RepeatedPseudo);
            }
            if self.scratch.capacity() < value.len() {
                self.scratch.reserve(SCRATCH_ROOM.max(value.len()));
            }
            self.scratch.extend_from_slice(value);
            *slot = Some(self.scratch.split().freeze());
            return Ok(());
        }
        self.regular_seen = true;
        let name = field_name(name)?;
        let value = field_value(value)?;
        if is_connection_specific(&name) {
            return Err(Malformed::ConnectionSpecific);
        }
        if name == http::header::TE && value.as_bytes() != b"trailers" {
            return Err(Malformed::Te);
        }
        if name == http::header::CONTENT_LENGTH {
            let length = parse_length(value.as_bytes()).ok_or(Malformed::ContentLength)?;
            if self.content_length.is_some_and(|seen| seen != length) {
                return Err(Malformed::ContentLength);
            }
            self.content_length = Some(length);
        }
        self.headers
            .try_append(name, value)
            .map_err(|_| Malformed::TooMany)?;
        Ok(())
    }

    /// The request, once the block has ended.
    pub(super) fn finish(self) -> Result<RequestHead, Malformed> {
        if let Some(fault) = self.error {
            return Err(fault);
        }
        let method = self.method.ok_or(Malformed::Method)?;
        let connect = method == Method::CONNECT;
        let mut parts = http::uri::Parts::default();
        let authority = match self.authority {
            Some(authority) => {
                Some(Authority::from_maybe_shared(authority).map_err(|_| Malformed::Authority)?)
            }
            None => None,
        };
        let extended = match self.protocol {
            Some(protocol) if connect && self.connect_protocol => Some(Protocol(protocol)),
            Some(_) => return Err(Malformed::Protocol),
            None => None,
        };
        if connect && extended.is_none() {
            // RFC 9113 §8.5: :authority only.
            if self.scheme.is_some() || self.path.is_some() {
                return Err(Malformed::Connect);
            }
            parts.authority = Some(authority.ok_or(Malformed::Authority)?);
        } else {
            let scheme = self.scheme.ok_or(Malformed::Scheme)?;
            let path = self.path.ok_or(Malformed::Path)?;
            // RFC 9113 §8.3.1: not empty; `*` only for OPTIONS.
            if path.is_empty() || (&path[..] == b"*" && method != Method::OPTIONS) {
                return Err(Malformed::Path);
            }
            parts.path_and_query =
                Some(PathAndQuery::from_maybe_shared(path).map_err(|_| Malformed::Path)?);
            // A URI with a scheme needs an authority; without one the
            // scheme was checked and is not kept (the host comes from
            // `host` then).
            if let Some(authority) = authority {
                parts.scheme = Some(scheme);
                parts.authority = Some(authority);
            }
        }
        let uri = Uri::from_parts(parts).map_err(|_| Malformed::Path)?;
        let mut request = Request::new(());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_2;
        *request.headers_mut() = self.headers;
        if let Some(protocol) = extended {
            request.extensions_mut().insert(protocol);
        }
        Ok(RequestHead {
            request,
            content_length: self.content_length,
        })
    }
}

/// Collects a trailer block's fields: regular fields only.
pub(super) struct TrailerFields {
    headers: HeaderMap,
    error: Option<Malformed>,
}

impl TrailerFields {
    pub(super) fn new() -> TrailerFields {
        TrailerFields {
            headers: HeaderMap::new(),
            error: None,
        }
    }

    pub(super) fn field(&mut self, name: &[u8], value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let taken = if name.starts_with(b":") {
            Err(Malformed::PseudoInTrailers)
        } else {
            field_name(name).and_then(|name| {
                let value = field_value(value)?;
                if is_connection_specific(&name) {
                    return Err(Malformed::ConnectionSpecific);
                }
                self.headers
                    .try_append(name, value)
                    .map(drop)
                    .map_err(|_| Malformed::TooMany)
            })
        };
        if let Err(fault) = taken {
            self.error = Some(fault);
        }
    }

    pub(super) fn finish(self) -> Result<HeaderMap, Malformed> {
        match self.error {
            Some(fault) => Err(fault),
            None => Ok(self.headers),
        }
    }
}

/// RFC 9113 §8.2: a name is a token, lowercase, and not empty.
fn field_name(name: &[u8]) -> Result<HeaderName, Malformed> {
    if name.iter().any(u8::is_ascii_uppercase) {
        return Err(Malformed::Name);
    }
    HeaderName::from_bytes(name).map_err(|_| Malformed::Name)
}

/// RFC 9113 §8.2.1: no NUL, CR or LF, no whitespace at either end.
/// `HeaderValue` also refuses the other control bytes but tab (as the `h2`
/// crate did before, and as nghttp2's strict mode does).
fn field_value(value: &[u8]) -> Result<HeaderValue, Malformed> {
    let edge = |byte: Option<&u8>| matches!(byte, Some(b' ' | b'\t'));
    if edge(value.first()) || edge(value.last()) {
        return Err(Malformed::Value);
    }
    HeaderValue::from_bytes(value).map_err(|_| Malformed::Value)
}

/// RFC 9113 §8.2.2's connection-specific fields (and `proxy-connection`,
/// which h2, nghttp2 and Envoy refuse too).
fn is_connection_specific(name: &HeaderName) -> bool {
    use http::header::{CONNECTION, TRANSFER_ENCODING, UPGRADE};
    *name == CONNECTION
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// A `content-length` value: digits only (no sign, no list), at most 19
/// of them (no overflow).
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        value
            .iter()
            .fold(0u64, |sum, digit| sum * 10 + u64::from(digit - b'0')),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fields: &[(&str, &str)]) -> Result<RequestHead, Malformed> {
        let mut scratch = BytesMut::new();
        let mut collected = RequestFields::new(true, &mut scratch);
        for (name, value) in fields {
            collected.field(name.as_bytes(), value.as_bytes());
        }
        collected.finish()
    }

    const GET: [(&str, &str); 4] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/a?b=c"),
    ];

    #[test]
    fn a_well_formed_request_keeps_its_fields_in_order() {
        let mut fields = GET.to_vec();
        fields.extend([
            ("accept", "*/*"),
            ("x-b", "1"),
            ("x-b", "2"),
            ("te", "trailers"),
        ]);
        let head = request(&fields).unwrap();
        let request = head.request;
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri(), "https://example.com/a?b=c");
        assert_eq!(request.version(), Version::HTTP_2);
        let values: Vec<_> = request.headers().get_all("x-b").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(request.headers().len(), 4);
        assert_eq!(head.content_length, None);
    }

    #[test]
    fn without_authority_the_uri_is_the_path_alone() {
        let head = request(&[(":method", "GET"), (":scheme", "http"), (":path", "/x")]).unwrap();
        assert_eq!(head.request.uri(), "/x");
    }

    #[test]
    fn malformed_blocks_are_refused_with_their_reason() {
        let cases: &[(&[(&str, &str)], Malformed)] = &[
            (&[(":method", "GET"), (":scheme", "http")], Malformed::Path),
            (&[(":scheme", "http"), (":path", "/")], Malformed::Method),
            (&[(":method", "GET"), (":path", "/")], Malformed::Scheme),
            (
                &[(":method", "GET"), (":scheme", "http"), (":path", "")],
                Malformed::Path,
            ),
            (
                &[(":method", "GET"), (":scheme", "http"), (":path", "*")],
                Malformed::Path,
            ),
            (
                &[
                    (":method", "GET"),
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                ],
                Malformed::RepeatedPseudo,
            ),
            (
                &[
                    (":method", "GET"),
                    ("a", "b"),
                    (":scheme", "http"),
                    (":path", "/"),
                ],
                Malformed::PseudoAfterField,
            ),
            (&[(":status", "200")], Malformed::UnknownPseudo),
            (&[(":method", "G T")], Malformed::Method),
            (
                &[
                    (":method", "CONNECT"),
                    (":authority", "a:443"),
                    (":path", "/"),
                ],
                Malformed::Connect,
            ),
            (
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":protocol", "websocket"),
                ],
                Malformed::Protocol,
            ),
        ];
        for (fields, reason) in cases {
            assert_eq!(request(fields).err(), Some(*reason), "{fields:?}");
        }
    }

    #[test]
    fn connection_specific_fields_and_bad_te_are_malformed() {
        for (name, value) in [
            ("connection", "close"),
            ("keep-alive", "5"),
            ("proxy-connection", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
        ] {
            let mut fields = GET.to_vec();
            fields.push((name, value));
            assert_eq!(request(&fields).err(), Some(Malformed::ConnectionSpecific));
        }
        let mut fields = GET.to_vec();
        fields.push(("te", "gzip"));
        assert_eq!(request(&fields).err(), Some(Malformed::Te));
    }

    #[test]
    fn names_and_values_are_checked() {
        for (name, value, reason) in [
            ("X-Upper", "v", Malformed::Name),
            ("sp ace", "v", Malformed::Name),
            ("", "v", Malformed::Name),
            ("x", "a\r\nb", Malformed::Value),
            ("x", "a\0b", Malformed::Value),
            ("x", " lead", Malformed::Value),
            ("x", "trail\t", Malformed::Value),
        ] {
            let mut fields = GET.to_vec();
            fields.push((name, value));
            assert_eq!(request(&fields).err(), Some(reason), "{name:?}: {value:?}");
        }
    }

    #[test]
    fn content_length_is_read_and_checked() {
        let mut fields = GET.to_vec();
        fields.push(("content-length", "42"));
        assert_eq!(request(&fields).unwrap().content_length, Some(42));
        fields.push(("content-length", "42"));
        assert_eq!(request(&fields).unwrap().content_length, Some(42));
        fields.push(("content-length", "43"));
        assert_eq!(request(&fields).err(), Some(Malformed::ContentLength));
        for bad in ["", "-1", "+1", "1,1", "99999999999999999999", "0x1"] {
            let mut fields = GET.to_vec();
            fields.push(("content-length", bad));
            assert_eq!(
                request(&fields).err(),
                Some(Malformed::ContentLength),
                "{bad}"
            );
        }
    }

    #[test]
    fn connect_takes_an_authority_and_extended_connect_a_protocol() {
        let head = request(&[(":method", "CONNECT"), (":authority", "db:5432")]).unwrap();
        assert_eq!(head.request.uri(), "db:5432");
        let head = request(&[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "example.com"),
            (":path", "/chat"),
        ])
        .unwrap();
        assert_eq!(
            head.request.extensions().get::<Protocol>(),
            Some(&Protocol(Bytes::from_static(b"websocket")))
        );
        assert_eq!(head.request.uri().path(), "/chat");
        // Not advertised: refused.
        let mut scratch = BytesMut::new();
        let mut fields = RequestFields::new(false, &mut scratch);
        for (name, value) in [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":path", "/chat"),
        ] {
            fields.field(name.as_bytes(), value.as_bytes());
        }
        assert_eq!(fields.finish().err(), Some(Malformed::Protocol));
    }

    #[test]
    fn trailers_take_regular_fields_only() {
        let mut trailers = TrailerFields::new();
        trailers.field(b"grpc-status", b"0");
        assert_eq!(trailers.finish().unwrap()["grpc-status"], "0");
        let mut trailers = TrailerFields::new();
        trailers.field(b":path", b"/");
        assert_eq!(trailers.finish().err(), Some(Malformed::PseudoInTrailers));
    }
}
