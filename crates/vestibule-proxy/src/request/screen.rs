//! The first phase of every request, before routing: what Envoy's codec
//! and connection manager refuse or rewrite in a request head before any
//! filter sees it. `Connection` nominations (RFC 9110 §7.6.1) are applied
//! here, so routing, header matches and the upstream all see one request;
//! a nomination that would take away a header the proxy needs is refused.
//! An `h2c` upgrade is dropped (the request goes on as plain HTTP/1.1);
//! other upgrades are classified for the route to allow or refuse. Heads
//! hyper parsed (a connection's requests after one with a body) have their
//! framing checked again here; hyper itself reads a `Content-Length` beside
//! `Transfer-Encoding` as the coding alone and closes after the response,
//! where vestibule's own parser, like Envoy, refuses it with 400.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Version};

use crate::body::RequestBody;
use crate::error::ProxyError;
use crate::request::headers::{connection_lists, lists_token};

/// Envoy refuses a `Connection` header nominating this many headers.
const MAX_NOMINATED: usize = 10;
/// Envoy refuses a nominated `TE` value this long.
const MAX_TE_LENGTH: usize = 256;

static HTTP2_SETTINGS: header::HeaderName = header::HeaderName::from_static("http2-settings");

/// The protocol switch a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    None,
    /// The one upgrade Istio enables on gateway listeners
    /// (`upgrade_configs: [websocket]`).
    WebSocket,
    /// Any other `Upgrade`, or `CONNECT`: refused with 403 once a route
    /// matched, as Envoy refuses upgrade types it was not configured for.
    Other,
}

/// Checks and rewrites the request head; returns the upgrade it asks for.
pub(crate) fn screen(request: &mut Request<RequestBody>) -> Result<Upgrade, ProxyError> {
    if *request.method() == Method::CONNECT {
        // HTTP/2 extended CONNECT for WebSocket (RFC 8441); any other
        // CONNECT is refused, as Istio's gateway refuses it.
        let websocket = request
            .extensions()
            .get::<vestibule_h2::Protocol>()
            .is_some_and(|protocol| protocol.0.eq_ignore_ascii_case(b"websocket"));
        return Ok(if websocket {
            Upgrade::WebSocket
        } else {
            Upgrade::Other
        });
    }
    // Only heads hyper parsed need it: vestibule's own parser applied the
    // nominations of the heads it serves (bodiless, no `Upgrade`), and
    // HTTP/2 has no `Connection` header (`h2` refuses one).
    if !matches!(request.body(), RequestBody::Incoming(_)) {
        return Ok(Upgrade::None);
    }
    let http11 = request.version() == Version::HTTP_11;
    hyper_head(http11, request.headers_mut())
}

/// [`screen`] for a head hyper parsed: its framing, its upgrade, its
/// `Connection` nominations.
fn hyper_head(http11: bool, headers: &mut HeaderMap) -> Result<Upgrade, ProxyError> {
    framing(headers)?;
    // Requests without `Connection` (nearly all of them) stop here.
    if !headers.contains_key(header::CONNECTION) {
        return Ok(Upgrade::None);
    }
    let upgrade = match headers.get(header::UPGRADE) {
        Some(protocol) if http11 && connection_lists(headers, "upgrade") => {
            if lists_token(protocol.as_bytes(), b"h2c") {
                drop_h2c_upgrade(headers);
                Upgrade::None
            } else if protocol.as_bytes().eq_ignore_ascii_case(b"websocket") {
                Upgrade::WebSocket
            } else {
                Upgrade::Other
            }
        }
        _ => Upgrade::None,
    };
    // Envoy sanitizes nominations only on requests it does not upgrade.
    if upgrade == Upgrade::None {
        apply_nominations(headers)?;
    }
    Ok(upgrade)
}

/// A request hyper parsed (a connection's later requests; the first head
/// was checked by vestibule's own parser): only `chunked` alone is a coding
/// the proxy implements (hyper also takes `gzip, chunked`, whose `gzip`
/// would be lost upstream), and a `Content-Length` goes upstream only as
/// plain digits (hyper also takes `5, 5`, which a backend may read
/// otherwise).
fn framing(headers: &HeaderMap) -> Result<(), ProxyError> {
    let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter();
    match (codings.next(), codings.next()) {
        (None, _) => {}
        (Some(coding), None) if is_chunked(coding) => {}
        _ => return Err(ProxyError::NotImplemented),
    }
    let invalid = ProxyError::BadRequest("invalid content-length");
    let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    if let Some(length) = lengths.next() {
        crate::h1::parse_length(length.as_bytes()).map_err(|()| invalid)?;
        if lengths.next().is_some() {
            return Err(invalid);
        }
    }
    Ok(())
}

fn is_chunked(coding: &HeaderValue) -> bool {
    coding
        .as_bytes()
        .trim_ascii()
        .eq_ignore_ascii_case(b"chunked")
}

/// Envoy does not speak `h2c` upgrades: it removes `Upgrade`,
/// `HTTP2-Settings` and their `Connection` tokens and forwards a plain
/// request, so no backend can switch the connection under the proxy.
fn drop_h2c_upgrade(headers: &mut HeaderMap) {
    headers.remove(header::UPGRADE);
    headers.remove(&HTTP2_SETTINGS);
    let kept: Vec<&[u8]> = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|token| {
            !token.is_empty()
                && !token.eq_ignore_ascii_case(b"upgrade")
                && !token.eq_ignore_ascii_case(b"http2-settings")
        })
        .collect();
    let value = (!kept.is_empty())
        .then(|| HeaderValue::from_bytes(&kept.join(&b", "[..])).ok())
        .flatten();
    match value {
        Some(value) => {
            headers.insert(header::CONNECTION, value);
        }
        None => {
            headers.remove(header::CONNECTION);
        }
    }
}

/// Envoy's `sanitizeConnectionHeader`, per nominated name:
/// `close`, `keep-alive`, `upgrade`, `http2-settings` and `connection`
/// itself are connection options, not headers: left alone. `Host`,
/// `x-forwarded-for`, `x-forwarded-host`, `x-forwarded-proto` and
/// pseudo-headers are refused (400): removing them would hide where the
/// request is going or where it came from, after routing saw them. `TE`
/// is kept as `trailers` when it lists `trailers` (gRPC), else removed; a
/// `TE` of 256 bytes or more is refused. Ten or more names are refused.
/// Any other nominated header is removed now, before routing.
pub(crate) fn apply_nominations(headers: &mut HeaderMap) -> Result<(), ProxyError> {
    let refused = ProxyError::BadRequest("invalid connection header");
    let mut remove: smallvec::SmallVec<[header::HeaderName; 4]> = smallvec::SmallVec::new();
    let mut count = 0usize;
    let mut keep_te_trailers = false;
    for value in headers.get_all(header::CONNECTION) {
        for token in value
            .as_bytes()
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
        {
            if token.is_empty() {
                continue;
            }
            count += 1;
            if count >= MAX_NOMINATED {
                return Err(refused);
            }
            if is_option(token) {
                continue;
            }
            if token.starts_with(b":") || is_needed(token) {
                return Err(refused);
            }
            let Ok(name) = header::HeaderName::from_bytes(token) else {
                // Not a header name: nothing by that name to remove.
                continue;
            };
            if name == header::TE {
                if let Some(te) = headers.get(header::TE) {
                    if te.len() >= MAX_TE_LENGTH {
                        return Err(refused);
                    }
                    if lists_token(te.as_bytes(), b"trailers") {
                        keep_te_trailers = true;
                        continue;
                    }
                }
            }
            remove.push(name);
        }
    }
    for name in remove {
        headers.remove(name);
    }
    if keep_te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    Ok(())
}

/// Connection options that name no header.
fn is_option(token: &[u8]) -> bool {
    [
        &b"close"[..],
        b"keep-alive",
        b"upgrade",
        b"http2-settings",
        b"connection",
    ]
    .iter()
    .any(|option| token.eq_ignore_ascii_case(option))
}

/// Headers routing and the upstream depend on, which a client must not be
/// able to strip after the proxy looked at them.
fn is_needed(token: &[u8]) -> bool {
    [
        &b"host"[..],
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
    ]
    .iter()
    .any(|needed| token.eq_ignore_ascii_case(needed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pairs: &[(&str, &str)]) -> Request<RequestBody> {
        let mut request = Request::new(RequestBody::Empty);
        for (name, value) in pairs {
            request.headers_mut().append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        request
    }

    /// The screen of a head hyper parsed (a test cannot make hyper's body).
    fn screen(request: &mut Request<RequestBody>) -> Result<Upgrade, ProxyError> {
        if *request.method() == Method::CONNECT {
            return super::screen(request);
        }
        let http11 = request.version() == Version::HTTP_11;
        hyper_head(http11, request.headers_mut())
    }

    #[test]
    fn nominations_are_decided_per_header_as_envoy_decides() {
        // Refused: headers the proxy needs, pseudo-headers, ten names.
        for connection in [
            "Host",
            "x-forwarded-for",
            "X-Forwarded-Proto",
            "x-forwarded-host",
            ":authority",
            "a, b, c, d, e, f, g, h, i, j",
        ] {
            let mut r = request(&[("host", "h"), ("connection", connection)]);
            assert_eq!(
                screen(&mut r),
                Err(ProxyError::BadRequest("invalid connection header")),
                "{connection}"
            );
        }
        let long_te = "trailers".repeat(40);
        let mut r = request(&[("connection", "te"), ("te", &long_te)]);
        assert!(screen(&mut r).is_err(), "a 256-byte TE");

        // Removed: anything else nominated, before routing sees it.
        let mut r = request(&[
            ("host", "h"),
            (
                "connection",
                "keep-alive, x-private, Cookie, authorization, content-length",
            ),
            ("x-private", "1"),
            ("cookie", "a=b"),
            ("authorization", "secret"),
            ("content-length", "0"),
            ("x-kept", "1"),
        ]);
        assert_eq!(screen(&mut r), Ok(Upgrade::None));
        let mut left: Vec<&str> = r.headers().keys().map(|n| n.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["connection", "host", "x-kept"]);

        // TE nominated: kept as `trailers` only when it lists trailers.
        let mut r = request(&[("connection", "TE"), ("te", "gzip, trailers")]);
        screen(&mut r).unwrap();
        assert_eq!(r.headers()["te"], "trailers");
        let mut r = request(&[("connection", "te"), ("te", "gzip")]);
        screen(&mut r).unwrap();
        assert!(!r.headers().contains_key("te"));

        // Options name no header: nothing refused, nothing removed.
        let mut r = request(&[
            ("connection", "close, Keep-Alive, connection"),
            ("host", "h"),
        ]);
        assert_eq!(screen(&mut r), Ok(Upgrade::None));
        assert_eq!(r.headers().len(), 2);
    }

    #[test]
    fn h2c_upgrades_are_dropped_and_others_classified() {
        let mut r = request(&[
            ("host", "h"),
            ("connection", "Upgrade, HTTP2-Settings, x-hop"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAARAAAAAAAIAAAAA"),
            ("x-hop", "1"),
        ]);
        assert_eq!(screen(&mut r), Ok(Upgrade::None));
        assert!(!r.headers().contains_key("upgrade"));
        assert!(!r.headers().contains_key("http2-settings"));
        assert!(
            !r.headers().contains_key("x-hop"),
            "nominations still apply"
        );
        assert_eq!(r.headers()["connection"], "x-hop");

        let mut r = request(&[("connection", "upgrade"), ("upgrade", "WebSocket")]);
        assert_eq!(screen(&mut r), Ok(Upgrade::WebSocket));
        assert_eq!(r.headers()["upgrade"], "WebSocket", "kept for the upstream");
        for other in ["foo/1", "websocket, h3", "TLS/1.2"] {
            let mut r = request(&[("connection", "upgrade"), ("upgrade", other)]);
            assert_eq!(screen(&mut r), Ok(Upgrade::Other), "{other}");
        }
        // `Upgrade` without `Connection: upgrade` asks for nothing.
        let mut r = request(&[("connection", "keep-alive"), ("upgrade", "foo")]);
        assert_eq!(screen(&mut r), Ok(Upgrade::None));
        let mut r = request(&[("connection", "upgrade"), ("upgrade", "websocket")]);
        *r.version_mut() = Version::HTTP_10;
        assert_eq!(screen(&mut r), Ok(Upgrade::None), "HTTP/1.0 cannot upgrade");
        let mut r = request(&[]);
        *r.method_mut() = Method::CONNECT;
        assert_eq!(screen(&mut r), Ok(Upgrade::Other));
    }

    #[test]
    fn framing_hyper_accepted_is_checked_again() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(
                    header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            map
        };
        assert_eq!(
            framing(&headers(&[("transfer-encoding", "Chunked")])),
            Ok(())
        );
        assert_eq!(framing(&headers(&[("content-length", "5")])), Ok(()));
        for coding in ["gzip, chunked", "identity, chunked", "chunked, chunked"] {
            assert_eq!(
                framing(&headers(&[("transfer-encoding", coding)])),
                Err(ProxyError::NotImplemented),
                "{coding}"
            );
        }
        let twice = headers(&[
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked"),
        ]);
        assert_eq!(framing(&twice), Err(ProxyError::NotImplemented));
        for length in ["5, 5", "+5", "0x5", ""] {
            assert!(
                framing(&headers(&[("content-length", length)])).is_err(),
                "{length:?}"
            );
        }
        let two = headers(&[("content-length", "5"), ("content-length", "5")]);
        assert!(framing(&two).is_err());
    }
}
