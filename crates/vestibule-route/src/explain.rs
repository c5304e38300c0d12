//! Why a route did or did not accept a request, condition by condition: for
//! tools (`vestibule explain`), never on the request path. Every condition
//! is decided by the very functions [`crate::matches`] ANDs together, so
//! a route this module says accepts a request is one [`crate::select`]
//! would take, and the reverse.

use std::fmt;

use vestibule_ir::{HeaderMatch, PathMatch, QueryMatch, Route, RouteMatch, StringMatcher};

use crate::matcher::{
    header_matches, header_value, path_matches, query_matches, string_matches, RequestView,
};

/// One condition of a match alternative that the request did not meet, with
/// what the request had instead.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure<'r> {
    Path {
        condition: &'r PathMatch,
        path: String,
    },
    Method {
        condition: &'r StringMatcher,
        method: String,
    },
    Scheme {
        condition: &'r StringMatcher,
        scheme: String,
    },
    Authority {
        condition: &'r StringMatcher,
        authority: String,
    },
    Header {
        condition: &'r HeaderMatch,
        /// The request's value (several joined with `,`), `None` if absent.
        value: Option<String>,
    },
    Query {
        condition: &'r QueryMatch,
        /// The first value of the parameter, `None` if absent.
        value: Option<String>,
    },
}

impl Failure<'_> {
    /// The kind of condition, as one word: `path`, `method`, `scheme`,
    /// `authority`, `header`, `query`.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Path { .. } => "path",
            Failure::Method { .. } => "method",
            Failure::Scheme { .. } => "scheme",
            Failure::Authority { .. } => "authority",
            Failure::Header { .. } => "header",
            Failure::Query { .. } => "query",
        }
    }

    /// The condition alone, e.g. `path prefix /status`.
    pub fn condition(&self) -> String {
        match self {
            Failure::Path { condition, .. } => format!("path {}", describe_path(condition)),
            Failure::Method { condition, .. } => format!("method {}", describe_string(condition)),
            Failure::Scheme { condition, .. } => format!("scheme {}", describe_string(condition)),
            Failure::Authority { condition, .. } => {
                format!("authority {}", describe_string(condition))
            }
            Failure::Header { condition, .. } => describe_header(condition),
            Failure::Query { condition, .. } => describe_query(condition),
        }
    }
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Path { condition, path } => {
                write!(f, "path {path} does not match {}", describe_path(condition))
            }
            Failure::Method { condition, method } => {
                write!(f, "method {method} is not {}", describe_string(condition))
            }
            Failure::Scheme { condition, scheme } => {
                write!(f, "scheme {scheme} is not {}", describe_string(condition))
            }
            Failure::Authority {
                condition,
                authority,
            } => write!(
                f,
                "authority {authority} is not {}",
                describe_string(condition)
            ),
            Failure::Header { condition, value } => {
                let name = &condition.name;
                match (condition.invert, &condition.matcher, value) {
                    (false, None, _) => write!(f, "header {name} is missing"),
                    (false, Some(matcher), None) => write!(
                        f,
                        "header {name} is missing (wanted {})",
                        describe_string(matcher)
                    ),
                    (false, Some(matcher), Some(value)) => write!(
                        f,
                        "header {name} is {value:?}, wanted {}",
                        describe_string(matcher)
                    ),
                    (true, None, _) => write!(f, "header {name} is present but must be absent"),
                    (true, Some(matcher), value) => write!(
                        f,
                        "header {name} is {:?}, which must not be {}",
                        value.as_deref().unwrap_or_default(),
                        describe_string(matcher)
                    ),
                }
            }
            Failure::Query { condition, value } => {
                let name = &condition.name;
                match (&condition.matcher, value) {
                    (None, _) | (Some(_), None) => {
                        write!(f, "query parameter {name} is missing")?;
                        match &condition.matcher {
                            Some(matcher) => write!(f, " (wanted {})", describe_string(matcher)),
                            None => Ok(()),
                        }
                    }
                    (Some(matcher), Some(value)) => write!(
                        f,
                        "query parameter {name} is {value:?}, wanted {}",
                        describe_string(matcher)
                    ),
                }
            }
        }
    }
}

/// What each match alternative of one route made of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchExplanation<'r> {
    /// One entry per alternative of `route.matches`, in order (OR-ed); one
    /// entry with no condition for a route without alternatives, which
    /// accepts everything.
    pub alternatives: Vec<AlternativeExplanation<'r>>,
}

/// One match alternative and the conditions of it the request failed.
#[derive(Debug, Clone, PartialEq)]
pub struct AlternativeExplanation<'r> {
    /// `None` for a route without match alternatives.
    pub condition: Option<&'r RouteMatch>,
    /// Empty when the alternative accepts the request.
    pub failures: Vec<Failure<'r>>,
}

impl<'r> MatchExplanation<'r> {
    /// Whether the route accepts the request (some alternative has no failure).
    pub fn accepts(&self) -> bool {
        self.accepting().is_some()
    }

    /// The first alternative that accepts the request, by index: the one
    /// [`crate::select`] reports as `matched`.
    pub fn accepting(&self) -> Option<usize> {
        self.alternatives
            .iter()
            .position(|alternative| alternative.failures.is_empty())
    }

    /// The alternative that came closest: fewest failed conditions, the
    /// earlier one on a tie.
    pub fn nearest(&self) -> Option<&AlternativeExplanation<'r>> {
        self.alternatives
            .iter()
            .min_by_key(|alternative| alternative.failures.len())
    }
}

/// Evaluates every condition of every match alternative of `route` against
/// `request`, each on its own (not stopping at the first that fails), with
/// the functions route selection uses.
pub fn explain_match<'r>(route: &'r Route, request: &RequestView<'_>) -> MatchExplanation<'r> {
    if route.matches.is_empty() {
        return MatchExplanation {
            alternatives: vec![AlternativeExplanation {
                condition: None,
                failures: Vec::new(),
            }],
        };
    }
    MatchExplanation {
        alternatives: route
            .matches
            .iter()
            .map(|condition| AlternativeExplanation {
                condition: Some(condition),
                failures: failures(condition, request),
            })
            .collect(),
    }
}

/// The conditions of `route_match` that `request` fails, in the order
/// [`crate::matches`] checks them.
fn failures<'r>(route_match: &'r RouteMatch, request: &RequestView<'_>) -> Vec<Failure<'r>> {
    let mut failed = Vec::new();
    if let Some(condition) = &route_match.path {
        if !path_matches(condition, request.path) {
            failed.push(Failure::Path {
                condition,
                path: request.path.to_owned(),
            });
        }
    }
    if let Some(condition) = &route_match.method {
        if !string_matches(condition, request.method.as_str()) {
            failed.push(Failure::Method {
                condition,
                method: request.method.as_str().to_owned(),
            });
        }
    }
    if let Some(condition) = &route_match.scheme {
        if !string_matches(condition, request.scheme) {
            failed.push(Failure::Scheme {
                condition,
                scheme: request.scheme.to_owned(),
            });
        }
    }
    if let Some(condition) = &route_match.authority {
        if !string_matches(condition, request.authority) {
            failed.push(Failure::Authority {
                condition,
                authority: request.authority.to_owned(),
            });
        }
    }
    for condition in &route_match.headers {
        if !header_matches(condition, request.headers) {
            failed.push(Failure::Header {
                condition,
                value: header_value(request.headers, &condition.name).map(|v| v.into_owned()),
            });
        }
    }
    for condition in &route_match.query_params {
        if !query_matches(condition, request) {
            failed.push(Failure::Query {
                condition,
                value: request
                    .query_params()
                    .first(&condition.name)
                    .map(str::to_owned),
            });
        }
    }
    failed
}

/// A path condition in words: `prefix /api`, `exact /login (any case)`.
pub fn describe_path(path: &PathMatch) -> String {
    let case = |ignore_case: bool| if ignore_case { " (any case)" } else { "" };
    match path {
        PathMatch::Exact { value, ignore_case } => format!("exact {value}{}", case(*ignore_case)),
        PathMatch::Prefix { value, ignore_case } => {
            format!("prefix {value}{}", case(*ignore_case))
        }
        PathMatch::SegmentPrefix { value } => format!("prefix {value} (whole segments)"),
        PathMatch::Regex { pattern } => format!("regex {}", pattern.as_str()),
    }
}

/// A string condition in words: `exact "GET"`, `regex "v[12]"`.
pub fn describe_string(matcher: &StringMatcher) -> String {
    match matcher {
        StringMatcher::Exact(value) => format!("exact {value:?}"),
        StringMatcher::Prefix(value) => format!("prefix {value:?}"),
        StringMatcher::Suffix(value) => format!("suffix {value:?}"),
        StringMatcher::Regex(pattern) => format!("regex {:?}", pattern.as_str()),
    }
}

/// A header condition in words: `header x-user exact "jason"`,
/// `header x-debug present`, `without header x-canary`.
pub fn describe_header(header: &HeaderMatch) -> String {
    let what = match &header.matcher {
        Some(matcher) => describe_string(matcher),
        None => "present".to_owned(),
    };
    if header.invert {
        format!("without header {} {what}", header.name)
    } else {
        format!("header {} {what}", header.name)
    }
}

/// A query condition in words: `query version exact "v2"`.
pub fn describe_query(query: &QueryMatch) -> String {
    match &query.matcher {
        Some(matcher) => format!("query {} {}", query.name, describe_string(matcher)),
        None => format!("query {} present", query.name),
    }
}

/// Every condition of a match alternative in words, joined with ` and `;
/// `any request` for none.
pub fn describe_match(route_match: &RouteMatch) -> String {
    let mut parts = Vec::new();
    if let Some(path) = &route_match.path {
        parts.push(format!("path {}", describe_path(path)));
    }
    if let Some(method) = &route_match.method {
        parts.push(format!("method {}", describe_string(method)));
    }
    if let Some(scheme) = &route_match.scheme {
        parts.push(format!("scheme {}", describe_string(scheme)));
    }
    if let Some(authority) = &route_match.authority {
        parts.push(format!("authority {}", describe_string(authority)));
    }
    parts.extend(route_match.headers.iter().map(describe_header));
    parts.extend(route_match.query_params.iter().map(describe_query));
    if parts.is_empty() {
        "any request".to_owned()
    } else {
        parts.join(" and ")
    }
}

/// Whether a match alternative accepts every request that reaches its
/// virtual host: no condition, or only a path prefix `/` (a catch-all,
/// which leaves the routes after it unreachable).
pub fn is_catch_all(route: &Route) -> bool {
    route.matches.is_empty() || route.matches.iter().any(catch_all_match)
}

fn catch_all_match(route_match: &RouteMatch) -> bool {
    let path_all = match &route_match.path {
        None => true,
        Some(PathMatch::Prefix { value, .. }) => value.is_empty() || value == "/",
        Some(PathMatch::SegmentPrefix { value }) => value.trim_end_matches('/').is_empty(),
        Some(PathMatch::Regex { pattern }) => matches!(pattern.as_str(), ".*" | "/.*"),
        Some(PathMatch::Exact { .. }) => false,
    };
    path_all
        && route_match.method.is_none()
        && route_match.scheme.is_none()
        && route_match.authority.is_none()
        && route_match.headers.is_empty()
        && route_match.query_params.is_empty()
}

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
