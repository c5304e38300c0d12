use http::{HeaderMap, HeaderValue, Method};
use vestibule_ir::{
    DirectResponse, HeaderMatch, HeaderMutations, PathMatch, Pattern, QueryMatch, RetryPolicy,
    Route, RouteAction, RouteMatch, RouteOrigin, StringMatcher,
};

use super::{matches, select, RequestView};

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

fn on_path(path: PathMatch) -> RouteMatch {
    RouteMatch {
        path: Some(path),
        ..RouteMatch::default()
    }
}

fn exact(value: &str) -> StringMatcher {
    StringMatcher::Exact(value.to_owned())
}

fn regex(source: &str) -> StringMatcher {
    StringMatcher::Regex(Pattern::new(source).unwrap())
}

/// A request for tests: GET http://example.com:8080 with the given path,
/// query and headers.
struct Request {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

impl Request {
    fn get(target: &str) -> Request {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (target.to_owned(), None),
        };
        Request {
            method: Method::GET,
            path,
            query,
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
            "example.com:8080",
            &self.path,
            self.query.as_deref(),
            &self.headers,
        )
    }

    fn accepts(&self, route_match: &RouteMatch) -> bool {
        matches(route_match, &self.view())
    }
}

fn path_accepts(path_match: PathMatch, path: &str) -> bool {
    Request::get(path).accepts(&on_path(path_match))
}

fn prefix(value: &str, ignore_case: bool) -> PathMatch {
    PathMatch::Prefix {
        value: value.to_owned(),
        ignore_case,
    }
}

fn segment_prefix(value: &str) -> PathMatch {
    PathMatch::SegmentPrefix {
        value: value.to_owned(),
    }
}

fn exact_path(value: &str, ignore_case: bool) -> PathMatch {
    PathMatch::Exact {
        value: value.to_owned(),
        ignore_case,
    }
}

#[test]
fn exact_path_is_equality() {
    assert!(path_accepts(exact_path("/a", false), "/a"));
    assert!(!path_accepts(exact_path("/a", false), "/a/"));
    assert!(!path_accepts(exact_path("/a", false), "/A"));
}

#[test]
fn exact_path_ignore_case_is_ascii_case_insensitive() {
    assert!(path_accepts(exact_path("/Status", true), "/sTATUS"));
    assert!(!path_accepts(exact_path("/Status", true), "/status/"));
}

#[test]
fn prefix_is_a_raw_string_prefix() {
    assert!(path_accepts(prefix("/foo", false), "/foobar"));
    assert!(path_accepts(prefix("/foo", false), "/foo/bar"));
    assert!(path_accepts(prefix("/foo", false), "/foo"));
    assert!(!path_accepts(prefix("/foo", false), "/fo"));
    assert!(!path_accepts(prefix("/foo", false), "/FOO"));
}

#[test]
fn prefix_ignore_case_is_ascii_case_insensitive() {
    assert!(path_accepts(prefix("/Foo", true), "/fOObar"));
    assert!(!path_accepts(prefix("/Foo", true), "/fo"));
}

#[test]
fn segment_prefix_matches_whole_elements_only() {
    for value in ["/foo", "/foo/"] {
        assert!(path_accepts(segment_prefix(value), "/foo"), "{value}");
        assert!(path_accepts(segment_prefix(value), "/foo/"), "{value}");
        assert!(path_accepts(segment_prefix(value), "/foo/bar"), "{value}");
        assert!(!path_accepts(segment_prefix(value), "/foobar"), "{value}");
        assert!(!path_accepts(segment_prefix(value), "/fo"), "{value}");
        assert!(!path_accepts(segment_prefix(value), "/"), "{value}");
    }
    assert!(path_accepts(segment_prefix("/foo/bar"), "/foo/bar/baz"));
    assert!(!path_accepts(segment_prefix("/foo/bar"), "/foo/barbaz"));
}

#[test]
fn segment_prefix_slash_matches_everything() {
    for path in ["/", "/a", "/a/b/", "*"] {
        assert!(path_accepts(segment_prefix("/"), path), "{path}");
        assert!(path_accepts(segment_prefix(""), path), "{path}");
    }
}

#[test]
fn regex_path_is_a_full_match_without_the_query() {
    let pattern = PathMatch::Regex {
        pattern: Pattern::new("/status/[0-9]+").unwrap(),
    };
    assert!(path_accepts(pattern.clone(), "/status/200"));
    assert!(path_accepts(pattern.clone(), "/status/200?x=1"));
    assert!(!path_accepts(pattern.clone(), "/status/200/x"));
    assert!(!path_accepts(pattern, "/v1/status/200"));
}

#[test]
fn method_scheme_and_raw_authority_are_matched() {
    let request = Request::get("/");
    let method = RouteMatch {
        method: Some(exact("GET")),
        ..RouteMatch::default()
    };
    assert!(request.accepts(&method));
    let post = RouteMatch {
        method: Some(exact("POST")),
        ..RouteMatch::default()
    };
    assert!(!request.accepts(&post));
    let scheme = RouteMatch {
        scheme: Some(exact("https")),
        ..RouteMatch::default()
    };
    assert!(!request.accepts(&scheme));
    // The authority includes the port, as Envoy matches `:authority`.
    let authority = RouteMatch {
        authority: Some(exact("example.com:8080")),
        ..RouteMatch::default()
    };
    assert!(request.accepts(&authority));
    let without_port = RouteMatch {
        authority: Some(exact("example.com")),
        ..RouteMatch::default()
    };
    assert!(!request.accepts(&without_port));
}

#[test]
fn string_matchers_are_case_sensitive_and_regex_is_anchored() {
    use super::string_matches;
    assert!(string_matches(&exact("abc"), "abc"));
    assert!(!string_matches(&exact("abc"), "ABC"));
    assert!(string_matches(&StringMatcher::Prefix("ab".into()), "abc"));
    assert!(!string_matches(&StringMatcher::Prefix("AB".into()), "abc"));
    assert!(string_matches(&StringMatcher::Suffix("bc".into()), "abc"));
    assert!(!string_matches(&StringMatcher::Suffix("b".into()), "abc"));
    assert!(string_matches(&regex("a.c"), "abc"));
    assert!(!string_matches(&regex("b"), "abc"));
}

fn on_header(name: &str, matcher: Option<StringMatcher>, invert: bool) -> RouteMatch {
    RouteMatch {
        headers: vec![HeaderMatch {
            name: name.to_owned(),
            matcher,
            invert,
        }],
        ..RouteMatch::default()
    }
}

#[test]
fn header_without_matcher_means_present() {
    let present = on_header("x-debug", None, false);
    assert!(Request::get("/").header("x-debug", "").accepts(&present));
    assert!(!Request::get("/").accepts(&present));
}

#[test]
fn header_value_is_matched_and_missing_header_fails() {
    let version = on_header("x-version", Some(exact("v2")), false);
    assert!(Request::get("/")
        .header("X-Version", "v2")
        .accepts(&version));
    assert!(!Request::get("/")
        .header("x-version", "v1")
        .accepts(&version));
    assert!(!Request::get("/").accepts(&version));
    let empty = on_header("x-version", Some(exact("")), false);
    assert!(!Request::get("/").accepts(&empty));
}

#[test]
fn repeated_header_values_are_joined_with_commas() {
    let joined = on_header("x-a", Some(exact("1,2,3")), false);
    let request = Request::get("/")
        .header("x-a", "1")
        .header("x-a", "2")
        .header("x-a", "3");
    assert!(request.accepts(&joined));
    assert!(!request.accepts(&on_header("x-a", Some(exact("1")), false)));
}

#[test]
fn inverted_header_with_matcher_negates_and_missing_counts_as_empty() {
    let not_v1 = on_header("x-version", Some(exact("v1")), true);
    assert!(!Request::get("/").header("x-version", "v1").accepts(&not_v1));
    assert!(Request::get("/").header("x-version", "v2").accepts(&not_v1));
    assert!(Request::get("/").accepts(&not_v1));
    let not_empty = on_header("x-version", Some(exact("")), true);
    assert!(!Request::get("/").accepts(&not_empty));
    assert!(Request::get("/")
        .header("x-version", "v")
        .accepts(&not_empty));
}

#[test]
fn inverted_header_without_matcher_means_absent() {
    let absent = on_header("x-debug", None, true);
    assert!(Request::get("/").accepts(&absent));
    assert!(!Request::get("/").header("x-debug", "1").accepts(&absent));
}

#[test]
fn non_utf8_header_value_never_equals_configured_text() {
    let mut request = Request::get("/");
    request
        .headers
        .insert("x-a", HeaderValue::from_bytes(b"caf\xe9").unwrap());
    assert!(!request.accepts(&on_header("x-a", Some(exact("caf\u{e9}")), false)));
    assert!(request.accepts(&on_header(
        "x-a",
        Some(StringMatcher::Prefix("caf".into())),
        false
    )));
}

fn on_query(name: &str, matcher: Option<StringMatcher>) -> RouteMatch {
    RouteMatch {
        query_params: vec![QueryMatch {
            name: name.to_owned(),
            matcher,
        }],
        ..RouteMatch::default()
    }
}

#[test]
fn query_without_matcher_means_present_even_without_value() {
    let present = on_query("debug", None);
    assert!(Request::get("/?debug").accepts(&present));
    assert!(Request::get("/?a=1&debug=0").accepts(&present));
    assert!(!Request::get("/?debugx=1").accepts(&present));
    assert!(!Request::get("/").accepts(&present));
}

#[test]
fn query_exact_empty_matches_key_with_and_without_equals() {
    let empty = on_query("key", Some(exact("")));
    assert!(Request::get("/?key").accepts(&empty));
    assert!(Request::get("/?key=").accepts(&empty));
    assert!(!Request::get("/?key=v").accepts(&empty));
}

#[test]
fn query_values_are_compared_decoded() {
    let spaced = on_query("q", Some(exact("a b+c")));
    assert!(Request::get("/?q=a+b%2Bc").accepts(&spaced));
    assert!(Request::get("/?q=a%20b%2bc").accepts(&spaced));
    assert!(Request::get("/?%71=a%20b%2Bc").accepts(&spaced));
}

#[test]
fn query_first_occurrence_of_a_repeated_key_is_used() {
    let first = on_query("a", Some(exact("1")));
    assert!(Request::get("/?a=1&a=2").accepts(&first));
    assert!(!Request::get("/?a=2&a=1").accepts(&first));
}

#[test]
fn query_is_parsed_only_when_a_matcher_needs_it_and_then_once() {
    let request = Request::get("/?a=1");
    let view = request.view();
    let routes = [route("path", vec![on_path(segment_prefix("/"))])];
    select(&routes, &view).unwrap();
    assert!(view.query_params.get().is_none());
    let routes = [
        route("miss", vec![on_query("a", Some(exact("2")))]),
        route("hit", vec![on_query("a", Some(exact("1")))]),
    ];
    let first_parse = {
        assert_eq!(select(&routes, &view).unwrap().route_index, 1);
        view.query_params.get().unwrap() as *const _
    };
    select(&routes, &view).unwrap();
    assert_eq!(view.query_params.get().unwrap() as *const _, first_parse);
}

#[test]
fn conditions_within_a_match_are_anded() {
    let both = RouteMatch {
        path: Some(segment_prefix("/api")),
        method: Some(exact("GET")),
        headers: vec![HeaderMatch {
            name: "x-a".to_owned(),
            matcher: None,
            invert: false,
        }],
        ..RouteMatch::default()
    };
    assert!(Request::get("/api/x").header("x-a", "1").accepts(&both));
    assert!(!Request::get("/api/x").accepts(&both));
    assert!(!Request::get("/web").header("x-a", "1").accepts(&both));
}

#[test]
fn empty_route_match_accepts_everything() {
    assert!(Request::get("/anything?x").accepts(&RouteMatch::default()));
}

#[test]
fn select_picks_the_first_matching_route_in_order() {
    let routes = [
        route("a", vec![on_path(exact_path("/a", false))]),
        route("prefix", vec![on_path(prefix("/", false))]),
        route("b", vec![on_path(exact_path("/b", false))]),
    ];
    let request = Request::get("/b");
    let selected = select(&routes, &request.view()).unwrap();
    assert_eq!(selected.route.name, "prefix");
    assert_eq!(selected.route_index, 1);
}

#[test]
fn select_reports_which_alternative_matched() {
    let routes = [route(
        "or",
        vec![
            on_path(exact_path("/a", false)),
            on_path(exact_path("/b", false)),
        ],
    )];
    let request = Request::get("/b");
    let selected = select(&routes, &request.view()).unwrap();
    assert_eq!(selected.matched, Some(&routes[0].matches[1]));
}

#[test]
fn route_without_matches_matches_everything_with_no_alternative() {
    let routes = [
        route("a", vec![on_path(exact_path("/a", false))]),
        route("all", Vec::new()),
    ];
    let request = Request::get("/zzz");
    let selected = select(&routes, &request.view()).unwrap();
    assert_eq!(selected.route_index, 1);
    assert!(selected.matched.is_none());
}

#[test]
fn select_returns_none_when_nothing_matches() {
    let routes = [route("a", vec![on_path(exact_path("/a", false))])];
    assert!(select(&routes, &Request::get("/b").view()).is_none());
    assert!(select::<Route>(&[], &Request::get("/b").view()).is_none());
}
