//! A route's conditions in a few words, for the admin page:
//! `prefix /status`, `exact /login & method POST & header x-user`.

use vestibule_ir::{PathMatch, RouteMatch, StringMatcher};

/// One alternative of a route (its conditions, all of which must hold);
/// `any` when it has none.
pub fn describe(route_match: &RouteMatch) -> String {
    let mut parts = Vec::new();
    if let Some(path) = &route_match.path {
        parts.push(match path {
            PathMatch::Exact { value, .. } => format!("exact {value}"),
            PathMatch::Prefix { value, .. } => format!("prefix {value}"),
            PathMatch::SegmentPrefix { value } => format!("path prefix {value}"),
            PathMatch::Regex { pattern } => format!("regex {}", pattern.as_str()),
        });
    }
    for (what, matcher) in [
        ("method", &route_match.method),
        ("scheme", &route_match.scheme),
        ("authority", &route_match.authority),
    ] {
        if let Some(matcher) = matcher {
            parts.push(format!("{what} {}", value(matcher)));
        }
    }
    for header in &route_match.headers {
        let not = if header.invert { "no " } else { "" };
        parts.push(match &header.matcher {
            Some(matcher) => format!("{not}header {} {}", header.name, value(matcher)),
            None => format!("{not}header {}", header.name),
        });
    }
    for query in &route_match.query_params {
        parts.push(match &query.matcher {
            Some(matcher) => format!("query {} {}", query.name, value(matcher)),
            None => format!("query {}", query.name),
        });
    }
    if parts.is_empty() {
        return "any".to_owned();
    }
    parts.join(" & ")
}

fn value(matcher: &StringMatcher) -> String {
    match matcher {
        StringMatcher::Exact(value) => value.clone(),
        StringMatcher::Prefix(value) => format!("{value}*"),
        StringMatcher::Suffix(value) => format!("*{value}"),
        StringMatcher::Regex(pattern) => format!("~{}", pattern.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use vestibule_ir::{HeaderMatch, PathMatch, RouteMatch, StringMatcher};

    use super::describe;

    #[test]
    fn names_each_condition() {
        assert_eq!(describe(&RouteMatch::default()), "any");
        let route_match = RouteMatch {
            path: Some(PathMatch::Prefix {
                value: "/status".to_owned(),
                ignore_case: false,
            }),
            method: Some(StringMatcher::Exact("POST".to_owned())),
            headers: vec![
                HeaderMatch {
                    name: "x-user".to_owned(),
                    matcher: Some(StringMatcher::Prefix("adm".to_owned())),
                    invert: false,
                },
                HeaderMatch {
                    name: "x-debug".to_owned(),
                    matcher: None,
                    invert: true,
                },
            ],
            ..RouteMatch::default()
        };
        assert_eq!(
            describe(&route_match),
            "prefix /status & method POST & header x-user adm* & no header x-debug"
        );
    }
}
