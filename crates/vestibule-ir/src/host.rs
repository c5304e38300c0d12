use serde::{Serialize, Serializer};

/// A host name a virtual host answers for. Stored lower-case, without a
/// trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// `httpbin.example.com`
    Exact(String),
    /// `*.example.com` as Istio and the Gateway API mean it: one or more
    /// labels before the suffix. `suffix` keeps its leading dot (`.example.com`).
    Suffix(String),
    /// `*.example.com` as Kubernetes Ingress means it: exactly one label.
    SingleLabel(String),
    /// `*`: every host.
    Any,
}

impl HostPattern {
    /// Parses a configured host: `*`, `*.suffix`, or an exact name.
    /// `single_label_wildcard` selects the Ingress meaning of `*.`.
    pub fn parse(host: &str, single_label_wildcard: bool) -> HostPattern {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host == "*" {
            return HostPattern::Any;
        }
        match host.strip_prefix('*') {
            Some(suffix) if single_label_wildcard => HostPattern::SingleLabel(suffix.to_owned()),
            Some(suffix) => HostPattern::Suffix(suffix.to_owned()),
            None => HostPattern::Exact(host),
        }
    }

    /// Whether `host` (already lower-case, port and trailing dot removed) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => name == host,
            HostPattern::Suffix(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
            HostPattern::SingleLabel(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
            HostPattern::Any => true,
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Suffix(suffix) => write!(f, "*{suffix}"),
            HostPattern::SingleLabel(suffix) => write!(f, "*{suffix} (one label)"),
            HostPattern::Any => f.write_str("*"),
        }
    }
}

impl Serialize for HostPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::HostPattern;

    #[test]
    fn suffix_wildcard_spans_labels_but_not_the_bare_domain() {
        let pattern = HostPattern::parse("*.Example.com.", false);
        assert!(pattern.matches("a.example.com"));
        assert!(pattern.matches("a.b.example.com"));
        assert!(!pattern.matches("example.com"));
        assert!(!pattern.matches("aexample.com"));
    }

    #[test]
    fn single_label_wildcard_matches_one_label_only() {
        let pattern = HostPattern::parse("*.foo.com", true);
        assert!(pattern.matches("bar.foo.com"));
        assert!(!pattern.matches("baz.bar.foo.com"));
        assert!(!pattern.matches("foo.com"));
        assert!(!pattern.matches(".foo.com"));
    }

    #[test]
    fn star_is_any_and_exact_is_lowercased() {
        assert_eq!(HostPattern::parse("*", false), HostPattern::Any);
        let exact = HostPattern::parse("HTTPBIN.example.com", false);
        assert!(exact.matches("httpbin.example.com"));
        assert!(!exact.matches("other.example.com"));
    }
}
