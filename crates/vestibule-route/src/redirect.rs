//! A redirect's `Location`: the configured parts over the request's. One
//! function for the proxy and for `explain`, so the two cannot differ.

use vestibule_ir::{DerivePort, Redirect};

/// With no explicit port, a scheme change implies that scheme's default
/// port, else the listener's port (never the local bind port: Istio sets
/// Envoy's `port_redirect` to the listener port, as Envoy cannot read the
/// request's and a route is built per listener); default ports are
/// omitted. `authority` is the request's (`Host` or `:authority`).
pub fn redirect_location(
    redirect: &Redirect,
    scheme: &str,
    authority: &str,
    listener_port: u16,
    path_and_query: &str,
) -> String {
    let scheme = redirect.scheme.as_deref().unwrap_or(scheme);
    let host = match &redirect.host {
        Some(host) => host.as_str(),
        None => host_without_port(authority),
    };
    let port = match (redirect.port, redirect.derive_port) {
        (Some(port), _) => port,
        (None, Some(DerivePort::FromRequestPort)) => listener_port,
        (None, Some(DerivePort::FromProtocolDefault)) => default_port(scheme),
        // "If scheme is set and port is not, the scheme's well-known port."
        (None, None) if redirect.scheme.is_some() => default_port(scheme),
        (None, None) => listener_port,
    };
    if port == default_port(scheme) {
        format!("{scheme}://{host}{path_and_query}")
    } else {
        format!("{scheme}://{host}:{port}{path_and_query}")
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    }
}

/// The host of an authority (`[v6]` kept bracketed).
pub fn host_without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(host, _)| &authority[..host.len() + 1]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect() -> Redirect {
        Redirect {
            scheme: None,
            host: None,
            port: None,
            derive_port: None,
            path: None,
            status: 301,
        }
    }

    #[test]
    fn locations_take_the_configured_parts_over_the_requests() {
        let plain = redirect();
        assert_eq!(
            redirect_location(&plain, "http", "a.com:8080", 8080, "/x?q"),
            "http://a.com:8080/x?q"
        );
        let https = Redirect {
            scheme: Some("https".to_owned()),
            ..redirect()
        };
        assert_eq!(
            redirect_location(&https, "http", "a.com:80", 80, "/"),
            "https://a.com/"
        );
        let derived = Redirect {
            derive_port: Some(DerivePort::FromRequestPort),
            host: Some("b.com".to_owned()),
            ..redirect()
        };
        assert_eq!(
            redirect_location(&derived, "http", "a.com", 9090, "/"),
            "http://b.com:9090/"
        );
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
    }
}
