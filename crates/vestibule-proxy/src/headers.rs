//! Headers a proxy must add, drop or rewrite on the way through.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(crate) static X_ENVOY_UPSTREAM_SERVICE_TIME: HeaderName =
    HeaderName::from_static("x-envoy-upstream-service-time");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removes hop-by-hop headers (RFC 9110 §7.6.1): `Connection` and every
/// header it names, `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`,
/// `Upgrade`, and `TE` unless it is `trailers` (which gRPC needs).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Usually none is present: one pass over the names (no hashing) tells.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if let Some(connection) = headers.remove(header::CONNECTION) {
        if let Ok(listed) = connection.to_str() {
            for name in listed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !name.eq_ignore_ascii_case("trailers") {
                    headers.remove(name);
                }
            }
        }
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY_CONNECTION);
    headers.remove(header::TRANSFER_ENCODING);
    headers.remove(header::UPGRADE);
    if headers
        .get(header::TE)
        .is_some_and(|te| te.as_bytes() != b"trailers")
    {
        headers.remove(header::TE);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == header::TE
}

/// Edge headers on a request going upstream: the peer appended to
/// `x-forwarded-for` (Envoy `use_remote_address`), `x-forwarded-proto`
/// overwritten, `x-request-id` generated when absent, and `x-envoy-*`
/// headers from outside dropped (Envoy's header sanitizing).
pub(crate) fn prepare_request(headers: &mut HeaderMap, peer: &HeaderValue, scheme: &'static str) {
    strip_hop_by_hop(headers);
    strip_envoy_headers(headers);
    append_forwarded_for(headers, peer);
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(scheme));
    if !headers.contains_key(&X_REQUEST_ID) {
        let id = uuid::Uuid::new_v4();
        let mut buffer = uuid::Uuid::encode_buffer();
        let text = id.hyphenated().encode_lower(&mut buffer);
        if let Ok(value) = HeaderValue::from_str(text) {
            headers.insert(X_REQUEST_ID.clone(), value);
        }
    }
}

fn strip_envoy_headers(headers: &mut HeaderMap) {
    // Rare in practice; only pay for the collection when one is present.
    if headers
        .keys()
        .any(|name| name.as_str().starts_with("x-envoy-"))
    {
        let names: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("x-envoy-"))
            .cloned()
            .collect();
        for name in names {
            headers.remove(name);
        }
    }
}

fn append_forwarded_for(headers: &mut HeaderMap, peer: &HeaderValue) {
    let value = match headers.get(&X_FORWARDED_FOR).map(HeaderValue::as_bytes) {
        Some(existing) if !existing.is_empty() => {
            let mut joined = Vec::with_capacity(existing.len() + 1 + peer.len());
            joined.extend_from_slice(existing);
            joined.push(b',');
            joined.extend_from_slice(peer.as_bytes());
            match HeaderValue::from_bytes(&joined) {
                Ok(value) => value,
                Err(_) => return,
            }
        }
        _ => peer.clone(),
    };
    headers.insert(X_FORWARDED_FOR.clone(), value);
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
