//! Query parameters, parsed once per request and only when a route asks.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Decoded `name=value` pairs in request order. A `name` without `=` has the
/// value `""`, so `?debug` and `?debug=` both match an exact `""`.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryParams<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> QueryParams<'a> {
    pub(crate) fn parse(query: &'a str) -> QueryParams<'a> {
        let pairs = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(name), decode(value))
            })
            .collect();
        QueryParams { pairs }
    }

    /// The value of the first `name` in the query. The Gateway API: "If a
    /// query param is repeated in an HTTP request, the behavior is purposely
    /// left undefined […] it is *recommended* that implementations should
    /// match against the first value of the param".
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_ref())
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then
/// percent-escapes are decoded (so `%2B` stays a `+`). Invalid UTF-8 is
/// replaced rather than refused: a query value never picks a backend by
/// accident of encoding.
fn decode(component: &str) -> Cow<'_, str> {
    if !component.contains(['+', '%']) {
        return Cow::Borrowed(component);
    }
    if component.contains('+') {
        let spaced = component.replace('+', " ");
        return Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned());
    }
    percent_decode_str(component).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::QueryParams;

    #[test]
    fn values_are_percent_and_plus_decoded() {
        let params = QueryParams::parse("a=x%20y&b=x+y&c=1%2B1&d%5F=%E2%9C%93");
        assert_eq!(params.first("a"), Some("x y"));
        assert_eq!(params.first("b"), Some("x y"));
        assert_eq!(params.first("c"), Some("1+1"));
        assert_eq!(params.first("d_"), Some("✓"));
    }

    #[test]
    fn the_first_occurrence_of_a_repeated_name_is_used() {
        let params = QueryParams::parse("a=1&a=2");
        assert_eq!(params.first("a"), Some("1"));
    }

    #[test]
    fn a_name_without_value_is_present_and_empty() {
        let params = QueryParams::parse("flag&empty=&&x=1");
        assert_eq!(params.first("flag"), Some(""));
        assert_eq!(params.first("empty"), Some(""));
        assert_eq!(params.first("missing"), None);
        assert_eq!(params.first("x"), Some("1"));
    }

    #[test]
    fn only_the_first_equals_sign_separates() {
        let params = QueryParams::parse("a=b=c");
        assert_eq!(params.first("a"), Some("b=c"));
    }

    #[test]
    fn names_are_case_sensitive() {
        let params = QueryParams::parse("Name=1");
        assert_eq!(params.first("name"), None);
    }
}
