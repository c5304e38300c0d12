//! The admin page at `/`: one HTML file, its style and script inline, built
//! into the binary. Its script polls `/status` and `/routes` and draws
//! them; nothing else is fetched, and the Content-Security-Policy says so.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;

const PAGE: &str = include_str!("page.html");

/// The page's own inline style and script, and requests to the admin
/// address itself; nothing from elsewhere, no forms, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'unsafe-inline'; \
     script-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub fn page() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::PAGE;

    /// Self-contained: no script, style sheet, image or font from a URL,
    /// and data written as text, never parsed as markup.
    #[test]
    fn the_page_loads_nothing_and_never_parses_data_as_markup() {
        for forbidden in [
            " src=",
            "<link",
            "@import",
            "url(",
            "http://",
            "https://",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!PAGE.contains(forbidden), "the page has {forbidden:?}");
        }
        for polled in ["fetch('status'", "fetch('routes'"] {
            assert!(PAGE.contains(polled), "the page does not poll {polled:?}");
        }
    }
}
