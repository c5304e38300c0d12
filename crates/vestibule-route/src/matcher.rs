//! Route selection: the first route, in order, with a match alternative that
//! accepts the request. Every matcher compares borrowed strings against the
//! IR's precompiled values: no lock, no regex compilation, no allocation per
//! route (the rare exceptions are named where they happen).

use std::borrow::Cow;
use std::cell::OnceCell;

use http::{HeaderMap, HeaderValue, Method};
use vestibule_ir::{HeaderMatch, PathMatch, QueryMatch, Route, RouteMatch, StringMatcher};

use crate::query::QueryParams;

/// What a route matcher sees of a request. Build it once per request.
#[derive(Debug, Clone)]
pub struct RequestView<'a> {
    pub method: &'a Method,
    pub scheme: &'a str,
    /// The raw authority, port included (Envoy's `:authority` matching).
    pub authority: &'a str,
    /// Normalized by [`crate::normalize_path`].
    pub path: &'a str,
    /// The raw query, without the `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// Parsed on the first query-parameter match, then reused by every route.
    query_params: OnceCell<QueryParams<'a>>,
}

impl<'a> RequestView<'a> {
    pub fn new(
        method: &'a Method,
        scheme: &'a str,
        authority: &'a str,
        path: &'a str,
        query: Option<&'a str>,
        headers: &'a HeaderMap,
    ) -> RequestView<'a> {
        RequestView {
            method,
            scheme,
            authority,
            path,
            query,
            headers,
            query_params: OnceCell::new(),
        }
    }

    pub(crate) fn query_params(&self) -> &QueryParams<'a> {
        self.query_params
            .get_or_init(|| self.query.map(QueryParams::parse).unwrap_or_default())
    }
}

/// Which route, and which of its match alternatives, accepted a request.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'r> {
    pub route: &'r Route,
    pub route_index: usize,
    /// `None` when the route has no match alternatives (it matches everything).
    pub matched: Option<&'r RouteMatch>,
}

/// The first route, in order, with a match alternative that accepts the
/// request ("the first route whose match accepts the request wins"). A
/// route's alternatives are OR-ed; a route without any matches everything.
pub fn select<'r, R: std::borrow::Borrow<Route>>(
    routes: &'r [R],
    request: &RequestView<'_>,
) -> Option<Selected<'r>> {
    routes.iter().enumerate().find_map(|(route_index, route)| {
        let route: &'r Route = route.borrow();
        let matched = if route.matches.is_empty() {
            None
        } else {
            Some(route.matches.iter().find(|m| matches(m, request))?)
        };
        Some(Selected {
            route,
            route_index,
            matched,
        })
    })
}

/// Whether every condition of `route_match` holds (AND), cheapest first.
pub fn matches(route_match: &RouteMatch, request: &RequestView<'_>) -> bool {
    let optional = |matcher: &Option<StringMatcher>, value: &str| {
        matcher
            .as_ref()
            .is_none_or(|matcher| string_matches(matcher, value))
    };
    route_match
        .path
        .as_ref()
        .is_none_or(|path| path_matches(path, request.path))
        && optional(&route_match.method, request.method.as_str())
        && optional(&route_match.scheme, request.scheme)
        && optional(&route_match.authority, request.authority)
        && route_match
            .headers
            .iter()
            .all(|header| header_matches(header, request.headers))
        && route_match
            .query_params
            .iter()
            .all(|query| query_matches(query, request))
}

/// Case-sensitive string comparison; regexes are anchored full matches.
pub(crate) fn string_matches(matcher: &StringMatcher, value: &str) -> bool {
    match matcher {
        StringMatcher::Exact(expected) => value == expected,
        StringMatcher::Prefix(prefix) => value.starts_with(prefix.as_str()),
        StringMatcher::Suffix(suffix) => value.ends_with(suffix.as_str()),
        StringMatcher::Regex(pattern) => pattern.is_match(value),
    }
}

/// Path conditions against the normalized path (no query).
pub(crate) fn path_matches(path_match: &PathMatch, path: &str) -> bool {
    match path_match {
        PathMatch::Exact { value, ignore_case } => {
            if *ignore_case {
                path.eq_ignore_ascii_case(value)
            } else {
                path == value
            }
        }
        PathMatch::Prefix { value, ignore_case } => {
            raw_prefix_len(path, value, *ignore_case).is_some()
        }
        PathMatch::SegmentPrefix { value } => segment_prefix_len(path, value).is_some(),
        PathMatch::Regex { pattern } => pattern.is_match(path),
    }
}

/// Istio VirtualService `prefix`: a raw string prefix (`/foo` matches
/// `/foobar`). Returns the byte length of the matched prefix.
pub(crate) fn raw_prefix_len(path: &str, prefix: &str, ignore_case: bool) -> Option<usize> {
    let head = path.as_bytes().get(..prefix.len())?;
    let equal = if ignore_case {
        head.eq_ignore_ascii_case(prefix.as_bytes())
    } else {
        head == prefix.as_bytes()
    };
    equal.then_some(prefix.len())
}

/// Ingress `Prefix` / Gateway API `PathPrefix`: "matches full path elements
/// […] When specified, a trailing `/` is ignored. For example, the paths
/// `/abc`, `/abc/`, and `/abc/def` would all match the prefix `/abc`, but
/// the path `/abcd` would not." Returns the byte length of the matched
/// elements, without their trailing `/` (0 for the prefix `/`).
pub(crate) fn segment_prefix_len(path: &str, prefix: &str) -> Option<usize> {
    // Trimming is a scan of the trailing slashes, not a copy.
    let prefix = prefix.trim_end_matches('/');
    // "/" matches everything, `OPTIONS *` included.
    if prefix.is_empty() {
        return Some(0);
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(prefix.len())
}

/// A header condition. Names are lower-case in the IR; `HeaderMap` looks
/// them up case-insensitively.
pub(crate) fn header_matches(header: &HeaderMatch, headers: &HeaderMap) -> bool {
    match (&header.matcher, header.invert) {
        (None, false) => headers.contains_key(header.name.as_str()),
        // Istio `withoutHeaders` with no value: the header must be absent.
        (None, true) => !headers.contains_key(header.name.as_str()),
        (Some(matcher), false) => {
            header_value(headers, &header.name).is_some_and(|value| string_matches(matcher, &value))
        }
        // "A missing header counts as the empty value", and the result is negated.
        (Some(matcher), true) => {
            let value = header_value(headers, &header.name).unwrap_or_default();
            !string_matches(matcher, &value)
        }
    }
}

/// A header's value; several values are joined with `,` as Envoy does
/// (the only allocation here, and only for a repeated header).
pub(crate) fn header_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    let mut values = headers.get_all(name).iter();
    let first = text(values.next()?);
    let Some(second) = values.next() else {
        return Some(first);
    };
    let mut joined = first.into_owned();
    for value in std::iter::once(second).chain(values) {
        joined.push(',');
        joined.push_str(&text(value));
    }
    Some(Cow::Owned(joined))
}

/// Header bytes as text; non-UTF-8 bytes (obs-text) become U+FFFD, so they
/// never equal a configured value.
fn text(value: &HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

/// A query condition against the first occurrence of the parameter.
pub(crate) fn query_matches(query: &QueryMatch, request: &RequestView<'_>) -> bool {
    let Some(value) = request.query_params().first(&query.name) else {
        return false;
    };
    query
        .matcher
        .as_ref()
        .is_none_or(|matcher| string_matches(matcher, value))
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
