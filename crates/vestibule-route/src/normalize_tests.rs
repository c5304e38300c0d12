use std::borrow::Cow;

use proptest::prelude::*;

use super::{normalize_host, normalize_path, InvalidPath};

fn path(input: &str) -> String {
    normalize_path(input).unwrap().path.into_owned()
}

#[test]
fn already_normal_paths_are_borrowed() {
    for input in [
        "/",
        "/status/200",
        "/a/b/",
        "/a%2Fb",
        "/%5C",
        "/x;v=1",
        "/a.b/..c/c..",
    ] {
        let normalized = normalize_path(input).unwrap();
        assert!(
            matches!(normalized.path, Cow::Borrowed(_)),
            "{input} was copied"
        );
        assert_eq!(normalized.path, input);
    }
}

#[test]
fn query_is_split_off_at_the_first_question_mark_and_kept_raw() {
    let normalized = normalize_path("/a/./b?x=%2e&y=/../?z").unwrap();
    assert_eq!(normalized.path, "/a/b");
    assert_eq!(normalized.query, Some("x=%2e&y=/../?z"));
    assert_eq!(normalize_path("/a?").unwrap().query, Some(""));
    assert_eq!(normalize_path("/a").unwrap().query, None);
}

#[test]
fn fragment_is_stripped_from_path_and_query() {
    let normalized = normalize_path("/a#frag?not-a-query").unwrap();
    assert_eq!(normalized.path, "/a");
    assert_eq!(normalized.query, None);
    let normalized = normalize_path("/a?q=1#frag").unwrap();
    assert_eq!(normalized.query, Some("q=1"));
}

#[test]
fn double_slashes_are_merged() {
    assert_eq!(path("//"), "/");
    assert_eq!(path("/a//b///c"), "/a/b/c");
    assert_eq!(path("/a//"), "/a/");
}

#[test]
fn single_dot_segments_are_removed() {
    assert_eq!(path("/./"), "/");
    assert_eq!(path("/a/./b"), "/a/b");
    assert_eq!(path("/a/."), "/a/");
}

#[test]
fn double_dot_segments_remove_their_parent() {
    assert_eq!(path("/a/../"), "/");
    assert_eq!(path("/status/../headers"), "/headers");
    assert_eq!(path("/a/b/.."), "/a/");
    // Envoy order: dot segments first, then merge_slashes.
    assert_eq!(path("/a//../b"), "/a/b");
}

#[test]
fn double_dots_cannot_climb_above_the_root() {
    assert_eq!(path("/.."), "/");
    assert_eq!(path("/../../etc/passwd"), "/etc/passwd");
}

#[test]
fn encoded_dots_are_decoded_then_removed() {
    assert_eq!(path("/a/%2e%2e/b"), "/b");
    assert_eq!(path("/a/%2E/b"), "/a/b");
    assert_eq!(path("/%2e%2e"), "/");
}

#[test]
fn encoded_slash_and_backslash_stay_encoded_with_upper_case_hex() {
    assert_eq!(path("/a%2Fb"), "/a%2Fb");
    assert_eq!(path("/a%2fb"), "/a%2Fb");
    assert_eq!(path("/a%5Cb"), "/a%5Cb");
    assert_eq!(path("/a%5cb"), "/a%5Cb");
    // An encoded slash does not separate segments, so no dot segment here.
    assert_eq!(path("/a%2F..%2Fb"), "/a%2F..%2Fb");
}

#[test]
fn unreserved_escapes_are_decoded_others_kept() {
    assert_eq!(path("/%41"), "/A");
    assert_eq!(path("/%7E%7e%2D%5F%30"), "/~~-_0");
    assert_eq!(path("/%20%25%3f"), "/%20%25%3F");
    // Decoding is one pass: `%2541` is `%25` then `41`.
    assert_eq!(path("/%2541"), "/%2541");
}

#[test]
fn invalid_percent_encoding_is_rejected() {
    assert_eq!(
        normalize_path("/%zz"),
        Err(InvalidPath::BadPercentEncoding { offset: 1 })
    );
    assert_eq!(
        normalize_path("/a%4"),
        Err(InvalidPath::BadPercentEncoding { offset: 2 })
    );
    assert!(normalize_path("/%").is_err());
    assert!(normalize_path("/%g0").is_err());
}

#[test]
fn disallowed_raw_bytes_are_rejected() {
    for input in ["/a b", "/a\tb", "/é", "/a\\..\\b", "/<x>", "/a\u{7f}", "/`"] {
        assert!(
            matches!(
                normalize_path(input),
                Err(InvalidPath::DisallowedByte { .. })
            ),
            "{input:?} accepted"
        );
    }
}

#[test]
fn lenient_json_characters_are_accepted_unchanged() {
    assert_eq!(path("/q/{\"a\":[1|2]}^"), "/q/{\"a\":[1|2]}^");
}

#[test]
fn semicolon_params_are_kept_as_is() {
    assert_eq!(path("/a;jsessionid=x/b;v=1"), "/a;jsessionid=x/b;v=1");
    // `..;` is not a dot segment (Tomcat reads it as one; we forward it as is).
    assert_eq!(path("/a/..;/b"), "/a/..;/b");
}

#[test]
fn asterisk_form_is_accepted_for_options() {
    let normalized = normalize_path("*").unwrap();
    assert_eq!(normalized.path, "*");
    assert!(matches!(normalized.path, Cow::Borrowed(_)));
}

#[test]
fn paths_not_starting_with_slash_are_rejected() {
    for input in ["", "a/b", "http://host/path", "?q", "**", "*/a"] {
        assert_eq!(
            normalize_path(input),
            Err(InvalidPath::NotAbsolute),
            "{input}"
        );
    }
}

/// The normalized host, for the tests: the authority is valid.
fn host(authority: &str) -> Cow<'_, str> {
    normalize_host(authority).unwrap_or_else(|| panic!("{authority:?} refused"))
}

#[test]
fn host_is_lowercased_and_stripped_of_port_and_trailing_dot() {
    assert_eq!(host("Example.COM:8080"), "example.com");
    assert_eq!(host("example.com."), "example.com");
    assert_eq!(host("example.com.:443"), "example.com");
    assert_eq!(host("example.com:"), "example.com");
    // A port that is not digits is part of the (unmatchable) host.
    assert_eq!(host("example.com:8o"), "example.com:8o");
}

#[test]
fn ipv6_literal_keeps_brackets_and_loses_port() {
    assert_eq!(host("[::1]:8080"), "[::1]");
    assert_eq!(host("[::1]"), "[::1]");
    assert_eq!(host("[FE80::1]"), "[fe80::1]");
    assert_eq!(host("::1"), "::1");
}

#[test]
fn normal_host_is_borrowed() {
    assert!(matches!(host("example.com"), Cow::Borrowed("example.com")));
    assert!(matches!(
        host("example.com:80"),
        Cow::Borrowed("example.com")
    ));
    assert!(matches!(host("EXAMPLE.com"), Cow::Owned(_)));
}

/// Paths built from the pieces that make normalization interesting.
fn tricky_path() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%41", "%7e", "%25", "a", "B",
        ";p=1", "~", "-", "_", "{", ":", "@", "%", "%4", "?", "#", " ", "\\", "é",
    ]);
    prop::collection::vec(piece, 0..16).prop_map(|pieces| format!("/{}", pieces.concat()))
}

fn check_invariants(input: &str) -> Result<(), TestCaseError> {
    let Ok(normalized) = normalize_path(input) else {
        return Ok(());
    };
    let output = normalized.path.as_ref();
    if output == "*" {
        return Ok(());
    }
    prop_assert!(output.starts_with('/'), "{output:?}");
    prop_assert!(!output.contains("//"), "{output:?}");
    prop_assert!(!output.contains("/./"), "{output:?}");
    prop_assert!(!output.contains("/../"), "{output:?}");
    prop_assert!(
        !output.ends_with("/.") && !output.ends_with("/.."),
        "{output:?}"
    );
    let again = normalize_path(output).expect("the output of normalization is valid");
    prop_assert_eq!(again.path.as_ref(), output);
    prop_assert!(matches!(again.path, Cow::Borrowed(_)));
    prop_assert_eq!(again.query, None);
    Ok(())
}

proptest! {
    #[test]
    fn normalization_invariants_hold_for_tricky_paths(input in tricky_path()) {
        check_invariants(&input)?;
    }

    #[test]
    fn normalization_never_panics_on_arbitrary_input(input in any::<String>()) {
        check_invariants(&input)?;
    }

    #[test]
    fn normalization_never_panics_on_arbitrary_ascii(input in "[ -~]{0,40}") {
        check_invariants(&input)?;
        check_invariants(&format!("/{input}"))?;
    }
}

#[test]
fn authorities_are_hosts_and_ports_only() {
    for valid in [
        "httpbin.example.com",
        "httpbin.example.com:8080",
        "[::1]:80",
        "xn--bcher-kva.example",
        "a_b.example",
        "%65xample.com",
    ] {
        assert!(normalize_host(valid).is_some(), "{valid}");
    }
    for invalid in [
        "a@rec.example.com",
        "user:pass@rec.example.com",
        "example.com/x",
        "example.com?x",
        "example.com#x",
        "exa mple.com",
        "example.com\\x",
        "ex\"ample.com",
        "ex{ample}.com",
        "exämple.com",
    ] {
        assert!(normalize_host(invalid).is_none(), "{invalid}");
    }
}

#[test]
fn host_normalization_is_a_fixed_point_for_odd_authorities() {
    for authority in ["*]:8.", "a:8.", "a.com.:80", "A.COM.", "[::1]:80", "b.c:9."] {
        let once = host(authority);
        assert_eq!(host(&once), once, "{authority:?}");
    }
    assert_eq!(host("a.com.:80"), "a.com");
    assert_eq!(host("a:8."), "a:8.");
}

/// `normalize_host` as it was before its byte classes became one table
/// (a match per byte): the table must answer alike for every authority.
fn host_by_match(authority: &str) -> Option<Cow<'_, str>> {
    let bytes = authority.as_bytes();
    let (mut valid, mut last_colon, mut colons, mut upper) = (true, 0, 0, false);
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' => {}
            b':' => (last_colon, colons) = (index, colons + 1),
            b'A'..=b'Z' => upper = true,
            _ => valid &= byte.is_ascii_alphanumeric() || b"_~!$&'()*+,;=[]%".contains(&byte),
        }
    }
    if !valid {
        return None;
    }
    let host = if authority.starts_with('[') {
        match bytes.iter().position(|&byte| byte == b']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else if colons == 1 && bytes[last_colon + 1..].iter().all(u8::is_ascii_digit) {
        &authority[..last_colon]
    } else {
        authority
    };
    let name = host.trim_end_matches('.');
    let host = if !name.contains(':') || host.starts_with('[') {
        name
    } else {
        host
    };
    Some(
        if upper && host.bytes().any(|byte| byte.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]
    #[test]
    fn host_classes_by_table_agree_with_the_match(
        authority in "[aZ0.:\\[\\]@%_ /\u{e9}-]{0,12}"
    ) {
        prop_assert_eq!(normalize_host(&authority), host_by_match(&authority));
    }
}
