//! Headers a proxy must add, drop or rewrite on the way through.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::h1::head::name_is;
use crate::request::RequestLine;

pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(crate) static X_ENVOY_UPSTREAM_SERVICE_TIME: HeaderName =
    HeaderName::from_static("x-envoy-upstream-service-time");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removes hop-by-hop headers (RFC 9110 §7.6.1): `Connection` and every
/// header it names, `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`,
/// `Upgrade`, and `TE` unless it is `trailers` (which gRPC needs).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names (no hashing) tells which are present; only
    // those are removed (upstreams send `Connection: keep-alive` on every
    // response: one removal, not seven lookups).
    let mut present = 0u8;
    for name in headers.keys() {
        present |= hop_by_hop_bit(name);
    }
    remove_hop_by_hop(headers, present);
}

/// Removes the hop-by-hop headers whose bits are set in `present`; returns
/// whether other headers went too, because `Connection` named them.
fn remove_hop_by_hop(headers: &mut HeaderMap, present: u8) -> bool {
    let mut removed_listed = false;
    if present == 0 {
        return removed_listed;
    }
    if present & CONNECTION_BIT != 0 {
        if let Some(connection) = headers.remove(header::CONNECTION) {
            let listed = connection.as_bytes().split(|&byte| byte == b',');
            for name in listed.map(<[u8]>::trim_ascii).filter(|n| !n.is_empty()) {
                // Known hop-by-hop names are handled below, and only if
                // present; compared as text (no name parsing).
                let known = HOP_BY_HOP.iter().any(|hop| name_is(name, hop.as_bytes()));
                // Most listed tokens name no header of the message (`close`
                // above all): the few names are compared before the map is
                // hashed for a removal.
                let named = || {
                    headers
                        .keys()
                        .any(|key| key.as_str().as_bytes().eq_ignore_ascii_case(name))
                };
                if !known && !name_is(name, b"trailers") && named() {
                    if let Ok(name) = std::str::from_utf8(name) {
                        removed_listed |= headers.remove(name).is_some();
                    }
                }
            }
        }
    }
    if present & KEEP_ALIVE_BIT != 0 {
        headers.remove(&KEEP_ALIVE);
    }
    if present & PROXY_CONNECTION_BIT != 0 {
        headers.remove(&PROXY_CONNECTION);
    }
    if present & TRANSFER_ENCODING_BIT != 0 {
        headers.remove(header::TRANSFER_ENCODING);
    }
    if present & UPGRADE_BIT != 0 {
        headers.remove(header::UPGRADE);
    }
    if present & TE_BIT != 0
        && headers
            .get(header::TE)
            .is_some_and(|te| te.as_bytes() != b"trailers")
    {
        headers.remove(header::TE);
    }
    removed_listed
}

const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

const CONNECTION_BIT: u8 = 1;
const KEEP_ALIVE_BIT: u8 = 2;
const PROXY_CONNECTION_BIT: u8 = 4;
const TRANSFER_ENCODING_BIT: u8 = 8;
const UPGRADE_BIT: u8 = 16;
const TE_BIT: u8 = 32;

fn hop_by_hop_bit(name: &HeaderName) -> u8 {
    if name == header::CONNECTION {
        CONNECTION_BIT
    } else if name == KEEP_ALIVE {
        KEEP_ALIVE_BIT
    } else if name == PROXY_CONNECTION {
        PROXY_CONNECTION_BIT
    } else if name == header::TRANSFER_ENCODING {
        TRANSFER_ENCODING_BIT
    } else if name == header::UPGRADE {
        UPGRADE_BIT
    } else if name == header::TE {
        TE_BIT
    } else {
        0
    }
}

/// Whether a `Connection` header lists `token` (case-insensitive).
pub(crate) fn connection_lists(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|value| lists_token(value.as_bytes(), token.as_bytes()))
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
pub(crate) fn lists_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|listed| name_is(listed.trim_ascii(), token))
}

/// Edge headers on a request going upstream: the peer appended to
/// `x-forwarded-for` (Envoy `use_remote_address`), `x-forwarded-proto`
/// overwritten, `x-request-id` generated when absent, and `x-envoy-*`
/// headers from outside dropped (Envoy's header sanitizing). `line`, the
/// access log's account of the request, takes the values set (finding
/// them in the map after cost some 300 instructions a request).
pub(crate) fn prepare_request(
    headers: &mut HeaderMap,
    peer: &HeaderValue,
    scheme: &'static str,
    mut line: Option<&mut RequestLine>,
) {
    // One pass over the names answers every question below; the map is
    // then only hashed for what changes.
    let mut present = 0u8;
    let (mut envoy, mut forwarded_for, mut request_id) = (false, false, false);
    for name in headers.keys() {
        present |= hop_by_hop_bit(name);
        envoy |= name.as_str().starts_with("x-envoy-");
        forwarded_for |= name == X_FORWARDED_FOR;
        request_id |= name == X_REQUEST_ID;
    }
    if remove_hop_by_hop(headers, present) {
        // `Connection` named (and so removed) other headers: the scan's
        // answers may be stale.
        forwarded_for &= headers.contains_key(&X_FORWARDED_FOR);
        request_id &= headers.contains_key(&X_REQUEST_ID);
    }
    if envoy {
        strip_envoy_headers(headers);
    }
    let forwarded = if forwarded_for {
        appended_forwarded_for(headers, peer)
    } else {
        Some(peer.clone())
    };
    if let Some(forwarded) = forwarded {
        if let Some(line) = &mut line {
            line.forwarded(forwarded.as_bytes());
        }
        headers.insert(X_FORWARDED_FOR.clone(), forwarded);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(scheme));
    if !request_id {
        let id = uuid::Uuid::new_v4();
        let mut buffer = uuid::Uuid::encode_buffer();
        let text = id.hyphenated().encode_lower(&mut buffer);
        if let Ok(value) = HeaderValue::from_str(text) {
            if let Some(line) = &mut line {
                line.identified(value.as_bytes());
            }
            headers.insert(X_REQUEST_ID.clone(), value);
        }
    }
}

/// Drops every `x-envoy-*` header (rare in practice: only called when the
/// scan saw one).
fn strip_envoy_headers(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-envoy-"))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

/// The request's `x-forwarded-for` with the peer appended (`None`: left
/// as it is).
fn appended_forwarded_for(headers: &HeaderMap, peer: &HeaderValue) -> Option<HeaderValue> {
    match headers.get(&X_FORWARDED_FOR).map(HeaderValue::as_bytes) {
        Some(existing) if !existing.is_empty() => {
            let mut joined = Vec::with_capacity(existing.len() + 1 + peer.len());
            joined.extend_from_slice(existing);
            joined.push(b',');
            joined.extend_from_slice(peer.as_bytes());
            HeaderValue::from_bytes(&joined).ok()
        }
        _ => Some(peer.clone()),
    }
}

/// The peer address as a header value, formatted once per connection
/// (IPv4 by hand: `to_string` costs a thousand instructions per connection).
pub(crate) fn peer_value(peer: IpAddr) -> HeaderValue {
    match peer.to_canonical() {
        IpAddr::V4(v4) => {
            let mut text = [0u8; 15];
            let mut len = 0;
            for (index, octet) in v4.octets().into_iter().enumerate() {
                if index > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                let digits = [octet / 100, octet / 10 % 10, octet % 10];
                let skip = if octet >= 100 {
                    0
                } else if octet >= 10 {
                    1
                } else {
                    2
                };
                for digit in &digits[skip..] {
                    text[len] = b'0' + digit;
                    len += 1;
                }
            }
            HeaderValue::from_bytes(&text[..len]).expect("digits and dots are a valid header value")
        }
        other => HeaderValue::from_str(&other.to_string())
            .expect("an IP address is a valid header value"),
    }
}

/// The upstream's response as the client sees it: hop-by-hop headers gone,
/// `server` overwritten (Istio `server_header_transformation: OVERWRITE`).
pub(crate) fn prepare_response(headers: &mut HeaderMap, server: &HeaderValue) {
    strip_hop_by_hop(headers);
    headers.insert(header::SERVER, server.clone());
}

/// Milliseconds as a header value. The first second's values are made once
/// and shared (a reference count, not an allocation, per response).
pub(crate) fn millis_value(millis: u128) -> HeaderValue {
    static COMMON: std::sync::LazyLock<Vec<HeaderValue>> =
        std::sync::LazyLock::new(|| (0..1000u16).map(HeaderValue::from).collect());
    let millis = u64::try_from(millis).unwrap_or(u64::MAX);
    match COMMON.get(millis as usize) {
        Some(value) => value.clone(),
        None => HeaderValue::from(millis),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-private, Upgrade"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("upgrade", "websocket"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-connection", "keep-alive"),
            ("x-kept", "1"),
        ] {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static(value),
            );
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["te", "x-kept"], "TE: trailers stays (gRPC)");
        let mut te = HeaderMap::new();
        te.insert(header::TE, HeaderValue::from_static("gzip"));
        strip_hop_by_hop(&mut te);
        assert!(te.is_empty());
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    /// The access log's line takes the x-forwarded-for and x-request-id
    /// the request goes upstream with, as the map holds them.
    #[test]
    fn the_logged_line_takes_the_headers_as_sent() {
        let peer = HeaderValue::from_static("10.0.0.1");
        for (pairs, generated) in [
            (
                &[("x-forwarded-for", "1.2.3.4"), ("x-request-id", "abc")][..],
                false,
            ),
            (&[][..], true),
            (&[("x-forwarded-for", "")][..], true),
        ] {
            let mut headers = map(pairs);
            let mut request = http::Request::new(());
            *request.headers_mut() = headers.clone();
            let mut line = RequestLine::of(&request);
            prepare_request(&mut headers, &peer, "http", Some(&mut line));
            let sent = |name: &str| headers.get(name).map(HeaderValue::as_bytes);
            assert_eq!(line.forwarded_for(), sent("x-forwarded-for"), "{pairs:?}");
            assert_eq!(line.request_id(), sent("x-request-id"), "{pairs:?}");
            assert_eq!(line.request_id().unwrap() != b"abc", generated);
        }
    }

    #[test]
    fn requests_get_the_edge_headers() {
        let peer = HeaderValue::from_static("10.0.0.1");
        let mut headers = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("x-request-id", "abc"),
            ("x-envoy-retry-on", "5xx"),
            ("X-Envoy-Original-Path", "/x"),
            ("connection", "keep-alive"),
            ("keep-alive", "timeout=5"),
        ]);
        prepare_request(&mut headers, &peer, "http", None);
        assert_eq!(headers["x-forwarded-for"], "1.2.3.4,10.0.0.1");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-request-id"], "abc");
        for gone in [
            "x-envoy-retry-on",
            "x-envoy-original-path",
            "connection",
            "keep-alive",
        ] {
            assert!(!headers.contains_key(gone), "{gone} kept");
        }

        let mut bare = HeaderMap::new();
        prepare_request(&mut bare, &peer, "https", None);
        assert_eq!(bare["x-forwarded-for"], "10.0.0.1");
        assert_eq!(bare["x-forwarded-proto"], "https");
        assert_eq!(bare["x-request-id"].len(), 36, "a UUID is generated");

        // Headers that `Connection` names are hop-by-hop: dropped, so the
        // request id is made anew and the forwarded chain starts at the peer.
        let mut listed = map(&[
            ("connection", "x-request-id, X-Forwarded-For"),
            ("x-request-id", "abc"),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        prepare_request(&mut listed, &peer, "http", None);
        assert_eq!(listed["x-forwarded-for"], "10.0.0.1");
        assert_ne!(listed["x-request-id"], "abc");
        assert_eq!(listed["x-request-id"].len(), 36);
    }

    #[test]
    fn peer_addresses_format_as_their_text() {
        for text in [
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "0.0.0.0",
            "192.168.1.100",
            "::1",
            "2001:db8::7",
        ] {
            let address: IpAddr = text.parse().unwrap();
            assert_eq!(peer_value(address), text);
        }
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        assert_eq!(peer_value(mapped), "10.0.0.9");
    }
}
