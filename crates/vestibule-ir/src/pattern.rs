use std::sync::Arc;

use serde::{Serialize, Serializer};

/// A user-supplied regular expression, compiled once at translation time and
/// anchored at both ends (Envoy `safe_regex` and the Gateway API both match
/// the whole value). The `regex` crate runs in linear time, so a user's
/// pattern cannot cause catastrophic backtracking.
///
/// One pointer wide: a route match or rewrite holds a pattern beside its
/// plain strings, and inline (56 bytes) it made every route's match 272
/// bytes whether it had a pattern or not. Clones share the compiled form.
#[derive(Debug, Clone)]
pub struct Pattern(Arc<Compiled>);

#[derive(Debug)]
struct Compiled {
    source: String,
    compiled: regex::Regex,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

/// Bounds the compiled size of one user pattern (the default is 10 MiB).
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, PatternError> {
        let compiled = regex::RegexBuilder::new(&format!("^(?:{source})$"))
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|error| PatternError(error.to_string()))?;
        Ok(Pattern(Arc::new(Compiled {
            source: source.to_owned(),
            compiled,
        })))
    }

    /// A pattern that matches anywhere in a value, for rewrites that replace
    /// every match (Envoy `regex_rewrite`, Istio `uriRegexRewrite`).
    pub fn unanchored(source: &str) -> Result<Pattern, PatternError> {
        let compiled = regex::RegexBuilder::new(source)
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|error| PatternError(error.to_string()))?;
        Ok(Pattern(Arc::new(Compiled {
            source: source.to_owned(),
            compiled,
        })))
    }

    pub fn as_str(&self) -> &str {
        &self.0.source
    }

    /// Whether `value` matches: the whole of it, unless the pattern was
    /// built with [`Pattern::unanchored`].
    pub fn is_match(&self, value: &str) -> bool {
        self.0.compiled.is_match(value)
    }

    /// The compiled, anchored expression (for rewrites with capture groups).
    pub fn regex(&self) -> &regex::Regex {
        &self.0.compiled
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.0.source == other.0.source
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.source)
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn patterns_match_the_whole_value() {
        let pattern = Pattern::new("/status/[0-9]+").unwrap();
        assert!(pattern.is_match("/status/200"));
        assert!(!pattern.is_match("/status/200/x"));
        assert!(!pattern.is_match("x/status/200"));
    }

    #[test]
    fn alternation_is_anchored_as_a_whole() {
        let pattern = Pattern::new("a|b").unwrap();
        assert!(pattern.is_match("a"));
        assert!(!pattern.is_match("ab"));
    }

    #[test]
    fn a_pattern_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Pattern>(), 8);
    }

    #[test]
    fn invalid_patterns_are_errors() {
        assert!(Pattern::new("(").is_err());
    }
}
