use http::{HeaderMap, HeaderValue, Method};
use vestibule_ir::{
    DirectResponse, HeaderMatch, HeaderMutations, PathMatch, Pattern, QueryMatch, RetryPolicy,
    Route, RouteAction, RouteMatch, RouteOrigin, StringMatcher,
};

use super::{explain_match, is_catch_all, Failure};
use crate::{matches, select, RequestView};

fn route(name: &str, matches: Vec<RouteMatch>) -> Route {
    Route {
        name: name.to_owned(),
        origin: RouteOrigin {
            kind: "Test",
            namespace: "default".to_owned(),
            name: name.to_owned(),
        },
        matches,
        action: RouteAction::DirectResponse(DirectResponse {
            status: 200,
            body: Vec::new(),
        }),
        request_headers: HeaderMutations::default(),
        response_headers: HeaderMutations::default(),
        timeout: None,
        retry: RetryPolicy::disabled(),
        cors: None,
        fault: None,
    }
}

fn prefix(value: &str) -> PathMatch {
    PathMatch::Prefix {
        value: value.to_owned(),
        ignore_case: false,
    }
}

fn exact(value: &str) -> StringMatcher {
    StringMatcher::Exact(value.to_owned())
}

fn header(name: &str, matcher: Option<StringMatcher>, invert: bool) -> HeaderMatch {
    HeaderMatch {
        name: name.to_owned(),
        matcher,
        invert,
    }
}

struct Request {
    method: Method,
    path: &'static str,
    query: Option<&'static str>,
    headers: HeaderMap,
}

impl Request {
    fn get(path: &'static str) -> Request {
        Request {
            method: Method::GET,
            path,
            query: None,
            headers: HeaderMap::new(),
        }
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Request {
        self.headers.append(name, HeaderValue::from_static(value));
        self
    }

    fn view(&self) -> RequestView<'_> {
        RequestView::new(
            &self.method,
            "http",
            "example.com",
            self.path,
            self.query,
            &self.headers,
        )
    }
}

#[test]
fn every_failed_condition_is_reported_not_only_the_first() {
    let rule = route(
        "api",
        vec![RouteMatch {
            path: Some(prefix("/api")),
            method: Some(exact("POST")),
            headers: vec![header("x-user", Some(exact("jason")), false)],
            query_params: vec![QueryMatch {
                name: "v".to_owned(),
                matcher: Some(exact("2")),
            }],
            ..RouteMatch::default()
        }],
    );
    let request = Request::get("/web").header("x-user", "bob");
    let explanation = explain_match(&rule, &request.view());
    assert!(!explanation.accepts());
    let failures = &explanation.alternatives[0].failures;
    let kinds: Vec<_> = failures.iter().map(Failure::kind).collect();
    assert_eq!(kinds, ["path", "method", "header", "query"]);
    assert_eq!(
        failures[0].to_string(),
        "path /web does not match prefix /api"
    );
    assert_eq!(failures[1].to_string(), "method GET is not exact \"POST\"");
    assert_eq!(
        failures[2].to_string(),
        "header x-user is \"bob\", wanted exact \"jason\""
    );
    assert_eq!(
        failures[3].to_string(),
        "query parameter v is missing (wanted exact \"2\")"
    );
    assert_eq!(failures[2].condition(), "header x-user exact \"jason\"");
}

#[test]
fn missing_and_forbidden_headers_say_so() {
    let rule = route(
        "h",
        vec![RouteMatch {
            headers: vec![
                header("x-present", None, false),
                header("x-canary", None, true),
            ],
            ..RouteMatch::default()
        }],
    );
    let request = Request::get("/").header("x-canary", "1");
    let explanation = explain_match(&rule, &request.view());
    let messages: Vec<_> = explanation.alternatives[0]
        .failures
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [
            "header x-present is missing",
            "header x-canary is present but must be absent"
        ]
    );
}

#[test]
fn alternatives_are_or_ed_and_the_nearest_has_fewest_failures() {
    let rule = route(
        "alt",
        vec![
            RouteMatch {
                path: Some(prefix("/a")),
                method: Some(exact("PUT")),
                ..RouteMatch::default()
            },
            RouteMatch {
                path: Some(prefix("/b")),
                ..RouteMatch::default()
            },
        ],
    );
    let miss = Request::get("/a/x");
    let explanation = explain_match(&rule, &miss.view());
    assert!(!explanation.accepts());
    assert_eq!(explanation.alternatives.len(), 2);
    // Both fail one condition: the earlier is the nearest.
    let nearest = explanation.nearest().unwrap();
    assert_eq!(nearest.condition, Some(&rule.matches[0]));
    assert_eq!(nearest.failures[0].kind(), "method");

    let hit = Request::get("/b/x");
    let explanation = explain_match(&rule, &hit.view());
    assert_eq!(explanation.accepting(), Some(1));
}

#[test]
fn a_route_without_matches_accepts_everything_and_is_a_catch_all() {
    let rule = route("all", Vec::new());
    let request = Request::get("/anything");
    assert_eq!(explain_match(&rule, &request.view()).accepting(), Some(0));
    assert!(is_catch_all(&rule));
    assert!(is_catch_all(&route(
        "slash",
        vec![RouteMatch {
            path: Some(prefix("/")),
            ..RouteMatch::default()
        }]
    )));
    assert!(!is_catch_all(&route(
        "api",
        vec![RouteMatch {
            path: Some(prefix("/api")),
            ..RouteMatch::default()
        }]
    )));
}

/// explain and select agree: on every request of a small grid, the first
/// route explain says accepts is the one select picks, with the same
/// alternative, and each route's verdict is `matches`'s.
#[test]
fn explain_agrees_with_select() {
    let routes = vec![
        route(
            "regex",
            vec![RouteMatch {
                path: Some(PathMatch::Regex {
                    pattern: Pattern::new("/v[0-9]+/.*").unwrap(),
                }),
                headers: vec![header("x-v", None, false)],
                ..RouteMatch::default()
            }],
        ),
        route(
            "segment",
            vec![
                RouteMatch {
                    path: Some(PathMatch::SegmentPrefix {
                        value: "/api".to_owned(),
                    }),
                    method: Some(exact("POST")),
                    ..RouteMatch::default()
                },
                RouteMatch {
                    path: Some(PathMatch::Exact {
                        value: "/API".to_owned(),
                        ignore_case: true,
                    }),
                    ..RouteMatch::default()
                },
            ],
        ),
        route(
            "query",
            vec![RouteMatch {
                query_params: vec![QueryMatch {
                    name: "debug".to_owned(),
                    matcher: None,
                }],
                headers: vec![header("x-skip", Some(exact("yes")), true)],
                ..RouteMatch::default()
            }],
        ),
        route(
            "prefix",
            vec![RouteMatch {
                path: Some(prefix("/api")),
                ..RouteMatch::default()
            }],
        ),
    ];
    let paths = ["/", "/api", "/api/x", "/apix", "/v1/a", "/v1", "/API"];
    let methods = [Method::GET, Method::POST];
    let queries = [None, Some("debug"), Some("x=1")];
    let header_sets: [&[(&'static str, &'static str)]; 3] =
        [&[], &[("x-v", "1")], &[("x-skip", "yes")]];
    let mut checked = 0;
    for path in paths {
        for method in &methods {
            for query in queries {
                for set in header_sets {
                    let mut headers = HeaderMap::new();
                    for (name, value) in set {
                        headers.append(*name, HeaderValue::from_static(value));
                    }
                    let view =
                        RequestView::new(method, "http", "example.com", path, query, &headers);
                    let explained: Vec<_> =
                        routes.iter().map(|r| explain_match(r, &view)).collect();
                    for (route, explanation) in routes.iter().zip(&explained) {
                        let any = route.matches.is_empty()
                            || route.matches.iter().any(|m| matches(m, &view));
                        assert_eq!(explanation.accepts(), any, "{} on {path}", route.name);
                    }
                    let first = explained.iter().position(|e| e.accepts());
                    let selected = select(&routes, &view);
                    assert_eq!(
                        first,
                        selected.map(|s| s.route_index),
                        "{method} {path}?{query:?}"
                    );
                    if let (Some(index), Some(selected)) = (first, selected) {
                        let alternative = explained[index].accepting().unwrap();
                        assert_eq!(
                            selected.matched,
                            routes[index].matches.get(alternative),
                            "{method} {path}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 7 * 2 * 3 * 3);
}
