//! Entry points for the fuzz targets (`fuzz/`, libFuzzer on nightly) and
//! for the replay of their committed corpus (a plain test on stable): one
//! function per target, which panics when a property does not hold.

use std::borrow::Cow;

use vestibule_ir::{HostPattern, VirtualHost};

use crate::{normalize_host, normalize_path, HostIndex};

/// Path normalization: never panics; what it returns starts with `/` (or
/// is `*`), has no empty or dot segments, and is a fixed point (normal
/// already, so borrowed, with no query).
pub fn path(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(normalized) = normalize_path(input) else {
        return;
    };
    let output = normalized.path.as_ref();
    if output == "*" {
        return;
    }
    assert!(output.starts_with('/'), "{input:?} -> {output:?}");
    for bad in ["//", "/./", "/../", "#", "?"] {
        assert!(!output.contains(bad), "{input:?} -> {output:?}");
    }
    assert!(
        !output.ends_with("/.") && !output.ends_with("/.."),
        "{input:?} -> {output:?}"
    );
    let again = normalize_path(output).expect("a normalized path is valid");
    assert_eq!(again.path, output, "not a fixed point: {input:?}");
    assert!(matches!(again.path, Cow::Borrowed(_)), "{output:?}");
    assert_eq!(again.query, None);
}

/// Host matching: lines of configured hosts (each line a virtual host's
/// domains, space-separated), then a request authority on the last line.
/// The index picks what a scan of every pattern in Envoy's order picks:
/// exact, then the longest matching wildcard, then `*`; the earliest
/// virtual host on a tie.
pub fn host(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines: Vec<&str> = text.split('\n').collect();
    let Some(authority) = lines.pop() else {
        return;
    };
    let virtual_hosts: Vec<VirtualHost> = lines
        .iter()
        .take(64)
        .enumerate()
        .map(|(index, line)| VirtualHost {
            name: format!("vh{index}"),
            domains: line
                .split(' ')
                .filter(|domain| !domain.is_empty())
                .map(|domain| HostPattern::parse(domain, index % 2 == 1))
                .collect(),
            routes: Vec::new(),
            require_tls: false,
        })
        .collect();
    let Some(host) = normalize_host(authority) else {
        return;
    };
    assert_eq!(
        normalize_host(&host).as_ref(),
        Some(&host),
        "host normalization is a fixed point"
    );
    let index = HostIndex::new(&virtual_hosts);
    assert_eq!(
        index.find(&host),
        reference(&virtual_hosts, &host),
        "{authority:?} among {lines:?}"
    );
}

/// The virtual host Envoy's domain search order picks, by a scan.
fn reference(virtual_hosts: &[VirtualHost], host: &str) -> Option<usize> {
    let patterns = || {
        virtual_hosts
            .iter()
            .enumerate()
            .flat_map(|(position, vh)| vh.domains.iter().map(move |domain| (position, domain)))
    };
    let exact =
        patterns().find(|(_, domain)| matches!(domain, HostPattern::Exact(name) if name == host));
    if let Some((position, _)) = exact {
        return Some(position);
    }
    let mut best: Option<(usize, usize)> = None;
    for (position, domain) in patterns() {
        let (HostPattern::Suffix(suffix) | HostPattern::SingleLabel(suffix)) = domain else {
            continue;
        };
        if !domain.matches(host) {
            continue;
        }
        let better = best.is_none_or(|(length, known)| {
            suffix.len() > length || (suffix.len() == length && position < known)
        });
        if better {
            best = Some((suffix.len(), position));
        }
    }
    best.map(|(_, position)| position).or_else(|| {
        patterns()
            .find(|(_, domain)| matches!(domain, HostPattern::Any))
            .map(|(position, _)| position)
    })
}
