//! Host → virtual host of one listener, in time proportional to the number
//! of labels of the request host, not to the number of virtual hosts.

use rustc_hash::FxHashMap as HashMap;

use vestibule_ir::{HostPattern, VirtualHost};

/// Picks exactly one virtual host for a host, in Envoy's domain search order:
/// "1. Exact domain names […] 2. Suffix domain wildcards: `*.foo.com` or
/// `*-bar.foo.com` […] 4. Special wildcard `*` matching any domain", where
/// "the longest wildcards match first". There is no fallback to a less
/// specific virtual host when the chosen one then has no matching route
/// (Istio answers 404 there; research features.md §1.3 and §5.4).
///
/// When several virtual hosts declare the same pattern, the first one owns it.
/// A `*.a.com` (any labels) and a `*.a.com` (one label) of equal length that
/// both match go to the earlier virtual host.
#[derive(Debug, Clone, Default)]
pub struct HostIndex {
    exact: HashMap<Box<str>, usize>,
    /// `HostPattern::Suffix`, keyed by the suffix with its leading dot.
    suffix: HashMap<Box<str>, usize>,
    /// `HostPattern::SingleLabel`, keyed by the suffix with its leading dot.
    single_label: HashMap<Box<str>, usize>,
    /// Wildcard suffixes that do not start with `.` (Envoy's `*-bar.foo.com`),
    /// which the dot-by-dot probe cannot find. The IR documents a leading
    /// dot, so this is normally empty and costs nothing.
    irregular: Vec<(HostPattern, usize)>,
    any: Option<usize>,
}

impl HostIndex {
    pub fn new(virtual_hosts: &[VirtualHost]) -> HostIndex {
        let mut index = HostIndex::default();
        for (position, virtual_host) in virtual_hosts.iter().enumerate() {
            for domain in &virtual_host.domains {
                index.insert(domain, position);
            }
        }
        index
    }

    fn insert(&mut self, domain: &HostPattern, position: usize) {
        let (map, key) = match domain {
            HostPattern::Any => {
                self.any.get_or_insert(position);
                return;
            }
            HostPattern::Suffix(suffix) | HostPattern::SingleLabel(suffix)
                if !suffix.starts_with('.') =>
            {
                if !self.irregular.iter().any(|(known, _)| known == domain) {
                    self.irregular.push((domain.clone(), position));
                }
                return;
            }
            HostPattern::Exact(name) => (&mut self.exact, name),
            HostPattern::Suffix(suffix) => (&mut self.suffix, suffix),
            HostPattern::SingleLabel(suffix) => (&mut self.single_label, suffix),
        };
        map.entry(key.as_str().into()).or_insert(position);
    }

    /// The virtual host (an index into the slice given to `new`) for a host
    /// normalized by [`crate::normalize_host`].
    pub fn find(&self, normalized_host: &str) -> Option<usize> {
        if let Some(&position) = self.exact.get(normalized_host) {
            return Some(position);
        }
        self.find_wildcard(normalized_host).or(self.any)
    }

    /// Probes the suffixes of `host` at each `.`, longest first, so the first
    /// hit is the longest matching wildcard.
    fn find_wildcard(&self, host: &str) -> Option<usize> {
        let mut best = None;
        for (nth, (dot, _)) in host.match_indices('.').enumerate() {
            // `*.a.com` needs at least one character before `.a.com`.
            if dot == 0 {
                continue;
            }
            let suffix = &host[dot..];
            // A single label is the text before the first dot.
            let single = if nth == 0 {
                self.single_label.get(suffix).copied()
            } else {
                None
            };
            let any_labels = self.suffix.get(suffix).copied();
            if let Some(position) = earliest(single, any_labels) {
                best = Some((suffix.len(), position));
                break;
            }
        }
        if !self.irregular.is_empty() {
            best = self.longest_irregular(host, best);
        }
        best.map(|(_, position)| position)
    }

    /// Better of `best` and the irregular wildcards: longer suffix, then
    /// earlier virtual host.
    fn longest_irregular(
        &self,
        host: &str,
        mut best: Option<(usize, usize)>,
    ) -> Option<(usize, usize)> {
        for (pattern, position) in &self.irregular {
            let (HostPattern::Suffix(suffix) | HostPattern::SingleLabel(suffix)) = pattern else {
                continue;
            };
            let candidate = (suffix.len(), *position);
            let better = best.is_none_or(|(length, known)| {
                candidate.0 > length || (candidate.0 == length && candidate.1 < known)
            });
            if better && pattern.matches(host) {
                best = Some(candidate);
            }
        }
        best
    }
}

fn earliest(first: Option<usize>, second: Option<usize>) -> Option<usize> {
    match (first, second) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
#[path = "host_index_tests.rs"]
mod tests;
