use vestibule_ir::{HostPattern, VirtualHost};

use super::HostIndex;

fn vhost(domains: &[HostPattern]) -> VirtualHost {
    VirtualHost {
        name: format!("{domains:?}"),
        domains: domains.to_vec(),
        routes: Vec::new(),
        require_tls: false,
    }
}

fn exact(name: &str) -> HostPattern {
    HostPattern::Exact(name.to_owned())
}

fn suffix(suffix: &str) -> HostPattern {
    HostPattern::Suffix(suffix.to_owned())
}

fn single(suffix: &str) -> HostPattern {
    HostPattern::SingleLabel(suffix.to_owned())
}

#[test]
fn exact_name_beats_wildcards_and_any() {
    let index = HostIndex::new(&[
        vhost(&[HostPattern::Any]),
        vhost(&[suffix(".example.com")]),
        vhost(&[exact("a.example.com")]),
    ]);
    assert_eq!(index.find("a.example.com"), Some(2));
    assert_eq!(index.find("b.example.com"), Some(1));
    assert_eq!(index.find("other.org"), Some(0));
}

#[test]
fn longest_wildcard_suffix_wins() {
    let index = HostIndex::new(&[
        vhost(&[suffix(".com")]),
        vhost(&[suffix(".example.com")]),
        vhost(&[suffix(".b.example.com")]),
    ]);
    assert_eq!(index.find("a.b.example.com"), Some(2));
    assert_eq!(index.find("x.example.com"), Some(1));
    assert_eq!(index.find("example.com"), Some(0));
    assert_eq!(index.find("b.example.com"), Some(1));
}

#[test]
fn suffix_wildcard_spans_labels_but_never_the_bare_domain() {
    let index = HostIndex::new(&[vhost(&[suffix(".example.com")])]);
    assert_eq!(index.find("a.b.c.example.com"), Some(0));
    assert_eq!(index.find("example.com"), None);
    assert_eq!(index.find(".example.com"), None);
    assert_eq!(index.find("aexample.com"), None);
}

#[test]
fn single_label_wildcard_matches_exactly_one_label() {
    let index = HostIndex::new(&[vhost(&[single(".foo.com")])]);
    assert_eq!(index.find("bar.foo.com"), Some(0));
    assert_eq!(index.find("baz.bar.foo.com"), None);
    assert_eq!(index.find("foo.com"), None);
    assert_eq!(index.find(".foo.com"), None);
}

#[test]
fn single_label_miss_falls_to_a_shorter_suffix() {
    let index = HostIndex::new(&[vhost(&[suffix(".com")]), vhost(&[single(".foo.com")])]);
    assert_eq!(index.find("bar.foo.com"), Some(1));
    assert_eq!(index.find("baz.bar.foo.com"), Some(0));
}

#[test]
fn any_matches_every_host_including_empty() {
    let index = HostIndex::new(&[vhost(&[exact("a.com")]), vhost(&[HostPattern::Any])]);
    assert_eq!(index.find("b.com"), Some(1));
    assert_eq!(index.find(""), Some(1));
    assert_eq!(index.find("localhost"), Some(1));
}

#[test]
fn no_match_without_any() {
    let index = HostIndex::new(&[vhost(&[exact("a.com")])]);
    assert_eq!(index.find("b.com"), None);
    assert_eq!(HostIndex::new(&[]).find("a.com"), None);
}

#[test]
fn first_virtual_host_declaring_a_pattern_owns_it() {
    let index = HostIndex::new(&[
        vhost(&[exact("a.com"), suffix(".a.com")]),
        vhost(&[exact("a.com"), suffix(".a.com"), HostPattern::Any]),
        vhost(&[HostPattern::Any]),
    ]);
    assert_eq!(index.find("a.com"), Some(0));
    assert_eq!(index.find("x.a.com"), Some(0));
    assert_eq!(index.find("b.com"), Some(1));
}

#[test]
fn equal_length_single_and_suffix_wildcards_go_to_the_earlier_vhost() {
    let index = HostIndex::new(&[vhost(&[single(".a.com")]), vhost(&[suffix(".a.com")])]);
    assert_eq!(index.find("x.a.com"), Some(0));
    assert_eq!(index.find("y.x.a.com"), Some(1));
}

#[test]
fn wildcard_without_leading_dot_still_matches_by_longest_suffix() {
    let index = HostIndex::new(&[
        vhost(&[suffix(".example.com")]),
        vhost(&[HostPattern::parse("*-api.example.com", false)]),
    ]);
    assert_eq!(index.find("foo-api.example.com"), Some(1));
    assert_eq!(index.find("foo.example.com"), Some(0));
    assert_eq!(index.find("-api.example.com"), Some(0));
}

#[test]
fn no_fallback_once_an_exact_host_is_chosen() {
    // The index names one virtual host; whether its routes match is not its concern.
    let index = HostIndex::new(&[vhost(&[exact("a.com")]), vhost(&[HostPattern::Any])]);
    assert_eq!(index.find("a.com"), Some(0));
}

#[test]
fn agrees_with_host_pattern_matches() {
    let patterns = [
        suffix(".example.com"),
        single(".example.com"),
        suffix(".b.example.com"),
        exact("a.b.example.com"),
        HostPattern::parse("*x.example.com", false),
    ];
    let hosts = [
        "a.b.example.com",
        "c.b.example.com",
        "d.c.b.example.com",
        "example.com",
        "x.example.com",
        "xx.example.com",
        "q.example.com",
        "a..example.com",
    ];
    for pattern in &patterns {
        let index = HostIndex::new(&[vhost(std::slice::from_ref(pattern))]);
        for host in hosts {
            assert_eq!(
                index.find(host).is_some(),
                pattern.matches(host),
                "{pattern} vs {host}"
            );
        }
    }
}
