//! Host names in Istio resources: wildcards span labels (`*.example.com`
//! matches `a.b.example.com`), `*` matches everything, comparison is
//! case-insensitive.

/// Whether `pattern` covers `host`, where `host` may itself be a wildcard
/// (then every name it matches must be matched by `pattern`).
pub(crate) fn covers(pattern: &str, host: &str) -> bool {
    if pattern == "*" || pattern == host {
        return true;
    }
    let Some(suffix) = pattern.strip_prefix('*') else {
        return false;
    };
    match host.strip_prefix('*') {
        Some(host_suffix) => host_suffix.len() > suffix.len() && host_suffix.ends_with(suffix),
        None => host.len() > suffix.len() && host.ends_with(suffix),
    }
}

/// The host both names serve: the more specific of the two when one covers
/// the other (Istio `pickMatchingGatewayHosts`), `None` when disjoint.
pub(crate) fn intersect(a: &str, b: &str) -> Option<String> {
    let a = normalize(a);
    let b = normalize(b);
    if covers(&a, &b) {
        Some(b)
    } else if covers(&b, &a) {
        Some(a)
    } else {
        None
    }
}

pub(crate) fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::{covers, intersect};

    #[test]
    fn the_more_specific_host_wins() {
        assert_eq!(
            intersect("*", "httpbin.example.com").as_deref(),
            Some("httpbin.example.com")
        );
        assert_eq!(
            intersect("*.example.com", "HTTPBIN.example.com").as_deref(),
            Some("httpbin.example.com")
        );
        assert_eq!(
            intersect("*.example.com", "*.a.example.com").as_deref(),
            Some("*.a.example.com")
        );
        assert_eq!(intersect("*", "*").as_deref(), Some("*"));
    }

    #[test]
    fn disjoint_hosts_do_not_intersect() {
        assert_eq!(intersect("a.example.com", "b.example.com"), None);
        assert_eq!(intersect("*.example.com", "example.com"), None);
        assert!(!covers("*.example.com", "*.com"));
    }
}
