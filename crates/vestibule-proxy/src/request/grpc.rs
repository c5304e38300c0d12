//! gRPC at the gateway: telling a gRPC request apart, answering one the
//! gateway itself fails in gRPC's terms (as Envoy's local replies do), and
//! the deadline a client's `grpc-timeout` sets.

use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{HeaderMap, HeaderName, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::body::ResponseBody;

static GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
static GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
static GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// gRPC's percent-encoding of `grpc-message`: everything outside printable
/// ASCII, and `%` itself.
const MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// Envoy's test: `content-type` is `application/grpc`, or
/// `application/grpc+<codec>` (gRPC-Web is another protocol).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        .and_then(|value| value.strip_prefix(b"application/grpc"))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"+") || rest.starts_with(b";"))
}

/// Envoy's `httpToGrpcStatus` (the mapping in gRPC's
/// `http-grpc-status-mapping.md`).
pub(crate) fn status_for(http: StatusCode) -> u8 {
    match http.as_u16() {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => 12,             // UNIMPLEMENTED
        429 | 502..=504 => 14, // UNAVAILABLE
        _ => 2,                // UNKNOWN
    }
}

/// Turns a local reply into gRPC's trailers-only form: HTTP 200,
/// `content-type: application/grpc`, `grpc-status` from the HTTP status and
/// `grpc-message` from the body text, no body.
/// A gRPC answer's `grpc-status` (in a trailers-only response's headers,
/// or in trailers).
pub(crate) fn status_of(headers: &HeaderMap) -> Option<u8> {
    std::str::from_utf8(headers.get("grpc-status")?.as_bytes())
        .ok()?
        .parse()
        .ok()
}

pub(crate) fn into_grpc(response: &mut Response<ResponseBody>, text: &str) {
    let code = status_for(response.status());
    trailers_only(response, code, text);
}

/// gRPC's trailers-only answer with `code` as `grpc-status` and `text` as
/// `grpc-message`, whatever `response` was.
pub(crate) fn trailers_only(response: &mut Response<ResponseBody>, code: u8, text: &str) {
    *response.status_mut() = StatusCode::OK;
    *response.body_mut() = ResponseBody::empty();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(GRPC_STATUS.clone(), HeaderValue::from(u16::from(code)));
    if !text.is_empty() {
        let encoded = utf8_percent_encode(text, MESSAGE).to_string();
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            headers.insert(GRPC_MESSAGE.clone(), value);
        }
    }
}

/// The deadline in a request's `grpc-timeout` (1 to 8 digits and a unit:
/// H, M, S, m, u, n); `None` when absent or malformed.
pub(crate) fn timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(&GRPC_TIMEOUT)?.as_bytes();
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::headers;

    #[test]
    fn grpc_content_types_are_recognized() {
        for value in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc;x=y",
        ] {
            assert!(is_grpc(&headers(&[("content-type", value)])), "{value}");
        }
        for value in [
            "application/grpc-web",
            "application/json",
            "application/grpcx",
        ] {
            assert!(!is_grpc(&headers(&[("content-type", value)])), "{value}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn http_statuses_map_as_envoy_maps_them() {
        let pairs = [
            (400, 13),
            (401, 16),
            (403, 7),
            (404, 12),
            (429, 14),
            (502, 14),
            (503, 14),
            (504, 14),
            (500, 2),
            (408, 2),
        ];
        for (http, grpc) in pairs {
            assert_eq!(
                status_for(StatusCode::from_u16(http).unwrap()),
                grpc,
                "{http}"
            );
        }
    }

    #[test]
    fn grpc_timeouts_parse_with_every_unit() {
        let cases = [
            ("2S", 2_000_000_000u128),
            ("150m", 150_000_000),
            ("1H", 3_600_000_000_000),
            ("7u", 7_000),
            ("9n", 9),
            ("1M", 60_000_000_000),
        ];
        for (value, nanos) in cases {
            let parsed = timeout(&headers(&[("grpc-timeout", value)])).unwrap();
            assert_eq!(parsed.as_nanos(), nanos, "{value}");
        }
        for value in ["", "S", "123456789S", "1x", "-1S", "1.5S"] {
            let parsed = timeout(&headers(&[(
                "grpc-timeout",
                Box::leak(value.to_owned().into_boxed_str()),
            )]));
            assert_eq!(parsed, None, "{value}");
        }
    }

    #[test]
    fn a_local_reply_becomes_trailers_only() {
        let mut response = Response::new(ResponseBody::text("no healthy upstream"));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        into_grpc(&mut response, "no healthy upstream 100%");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "14");
        assert_eq!(
            response.headers()["grpc-message"],
            "no healthy upstream 100%25"
        );
        assert_eq!(response.headers()["content-type"], "application/grpc");
    }
}
