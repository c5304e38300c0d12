use vestibule_ir::{PathMatch, PathRewrite, Pattern};

use super::rewrite_path;

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

fn replace_prefix(path: &str, matched: &PathMatch, replacement: &str) -> String {
    rewrite_path(
        path,
        Some(matched),
        &PathRewrite::Prefix(replacement.to_owned()),
    )
}

fn regex_rewrite(path: &str, pattern: &str, substitution: &str) -> String {
    let rewrite = PathRewrite::Regex {
        pattern: Pattern::unanchored(pattern).unwrap(),
        substitution: substitution.to_owned(),
    };
    rewrite_path(path, None, &rewrite)
}

#[test]
fn full_rewrite_replaces_the_whole_path() {
    let rewrite = PathRewrite::Full("/new".to_owned());
    assert_eq!(
        rewrite_path("/old/x", Some(&prefix("/old", false)), &rewrite),
        "/new"
    );
    assert_eq!(rewrite_path("/old/x", None, &rewrite), "/new");
}

#[test]
fn raw_prefix_rewrite_replaces_exactly_the_matched_characters() {
    let matched = prefix("/foo", false);
    assert_eq!(replace_prefix("/foobar", &matched, "/bar"), "/barbar");
    assert_eq!(replace_prefix("/foo/x", &matched, "/bar"), "/bar/x");
    assert_eq!(replace_prefix("/foo", &matched, "/"), "/");
    // Envoy prefix_rewrite keeps whatever follows, even a `/` after a `/`.
    assert_eq!(replace_prefix("/foo/x", &matched, "/bar/"), "/bar//x");
}

#[test]
fn raw_prefix_rewrite_with_ignore_case_replaces_the_matched_length() {
    assert_eq!(
        replace_prefix("/FOO/x", &prefix("/foo", true), "/bar"),
        "/bar/x"
    );
}

/// The Gateway API table for `ReplacePrefixMatch`, row by row.
#[test]
fn segment_prefix_rewrite_follows_the_gateway_api_table() {
    let rows = [
        ("/foo/bar", "/foo", "/xyz", "/xyz/bar"),
        ("/foo/bar", "/foo", "/xyz/", "/xyz/bar"),
        ("/foo/bar", "/foo/", "/xyz", "/xyz/bar"),
        ("/foo/bar", "/foo/", "/xyz/", "/xyz/bar"),
        ("/foo", "/foo", "/xyz", "/xyz"),
        ("/foo/", "/foo", "/xyz", "/xyz/"),
        ("/foo/bar", "/foo", "", "/bar"),
        ("/foo/", "/foo", "", "/"),
        ("/foo", "/foo", "", "/"),
        ("/foo/", "/foo", "/", "/"),
        ("/foo", "/foo", "/", "/"),
    ];
    for (path, matched, replacement, expected) in rows {
        assert_eq!(
            replace_prefix(path, &segment_prefix(matched), replacement),
            expected,
            "{path} with prefix {matched} → {replacement:?}"
        );
    }
}

#[test]
fn segment_prefix_rewrite_of_root_prefix_prepends() {
    let root = segment_prefix("/");
    assert_eq!(replace_prefix("/abc", &root, "/xyz"), "/xyz/abc");
    assert_eq!(replace_prefix("/", &root, "/xyz"), "/xyz/");
    assert_eq!(replace_prefix("/abc", &root, "/"), "/abc");
    assert_eq!(replace_prefix("/abc", &root, ""), "/abc");
}

#[test]
fn segment_prefix_rewrite_never_produces_double_slashes() {
    for path in ["/foo", "/foo/", "/foo/bar", "/foo/bar/"] {
        for replacement in ["", "/", "/x", "/x/", "/x//"] {
            let rewritten = replace_prefix(path, &segment_prefix("/foo"), replacement);
            assert!(rewritten.starts_with('/'), "{path} {replacement:?}");
            assert!(
                !rewritten.contains("//"),
                "{path} {replacement:?} → {rewritten}"
            );
        }
    }
}

#[test]
fn prefix_rewrite_with_exact_or_no_match_replaces_the_whole_path() {
    let exact = PathMatch::Exact {
        value: "/a/b".to_owned(),
        ignore_case: false,
    };
    assert_eq!(replace_prefix("/a/b", &exact, "/c"), "/c");
    let rewrite = PathRewrite::Prefix("/c".to_owned());
    assert_eq!(rewrite_path("/a/b", None, &rewrite), "/c");
}

#[test]
fn prefix_rewrite_when_the_prefix_does_not_match_replaces_the_whole_path() {
    assert_eq!(replace_prefix("/other", &prefix("/foo", false), "/c"), "/c");
    assert_eq!(
        replace_prefix("/other", &segment_prefix("/foo"), "/c"),
        "/c"
    );
}

#[test]
fn regex_rewrite_substitutes_re2_groups() {
    assert_eq!(
        regex_rewrite(
            "/service/foo/v1/api",
            "/service/([^/]+)(/.*)",
            "\\2/instance/\\1"
        ),
        "/v1/api/instance/foo"
    );
    assert_eq!(regex_rewrite("/a/b", "/(a)/(b)", "/\\0"), "//a/b");
}

#[test]
fn regex_rewrite_keeps_dollar_and_escaped_backslash_literal() {
    assert_eq!(regex_rewrite("/a", "/(a)", "/$1/\\\\/\\1"), "/$1/\\/a");
    assert_eq!(regex_rewrite("/a", "/(a)", "/\\x\\"), "/\\x\\");
}

#[test]
fn regex_rewrite_of_a_missing_group_inserts_nothing() {
    assert_eq!(regex_rewrite("/a", "/(a)(b)?", "/\\1\\2\\9"), "/a");
}

#[test]
fn regex_rewrite_leaves_a_non_matching_path_alone() {
    assert_eq!(regex_rewrite("/x/one", "three", "two"), "/x/one");
}

#[test]
fn regex_rewrite_replaces_every_match_like_envoy() {
    assert_eq!(regex_rewrite("/x/one/y/one", "one", "two"), "/x/two/y/two");
    assert_eq!(
        regex_rewrite(
            "/service/foo/v1/api",
            "^/service/([^/]+)(/.*)$",
            "\\2/instance/\\1"
        ),
        "/v1/api/instance/foo"
    );
}
