//! Ingress `paths[].{path, pathType}` → IR path matches, and the order the
//! spec gives them.

use std::cmp::Reverse;

use vestibule_ir::PathMatch;

/// A converted path: its match (`None` matches every path) and its rank.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IngressPath {
    pub matcher: Option<PathMatch>,
    pub rank: Rank,
}

/// Sort key within one host: "precedence will be given first to the
/// longest matching path. If two paths are still equally matched,
/// precedence will be given to paths with an exact path type over prefix
/// path type" (Kubernetes Ingress docs, "Multiple matches"). Ties keep the
/// order routes were gathered in: oldest Ingress, then namespace/name, then
/// rule and path order (Istio `sortRulesByCreationTimestamp` + a stable
/// `sortHTTPRoutes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rank {
    length: Reverse<usize>,
    /// `false` sorts first.
    not_exact: bool,
}

/// Converts one path. An `Err` says why the path is dropped.
pub(crate) fn convert(path: Option<&str>, path_type: Option<&str>) -> Result<IngressPath, String> {
    let path = path.unwrap_or("");
    match path_type.unwrap_or("ImplementationSpecific") {
        "Exact" => exact(absolute(path, "Exact")?),
        "Prefix" => Ok(prefix(absolute(path, "Prefix")?)),
        "ImplementationSpecific" => implementation_specific(path),
        other => Err(format!(
            "pathType {other:?} is not one of Exact, Prefix, ImplementationSpecific"
        )),
    }
}

/// "`path` must begin with a '/'" for `Exact` and `Prefix` (API validation
/// of `HTTPIngressPath`).
fn absolute<'p>(path: &'p str, path_type: &str) -> Result<&'p str, String> {
    if path.starts_with('/') {
        Ok(path)
    } else {
        Err(format!(
            "path {path:?} of pathType {path_type} must be an absolute path (start with `/`)"
        ))
    }
}

/// "Exact: Matches the URL path exactly and with case sensitivity."
fn exact(path: &str) -> Result<IngressPath, String> {
    Ok(IngressPath {
        matcher: Some(PathMatch::Exact {
            value: path.to_owned(),
            ignore_case: false,
        }),
        rank: Rank {
            length: Reverse(path.len()),
            not_exact: false,
        },
    })
}

/// "Prefix: Matches based on a URL path prefix split by '/'. Matching is
/// case sensitive and done on a path element by element basis. […] A
/// trailing '/' in the path is ignored" ([`PathMatch::SegmentPrefix`]).
/// The rank uses the trimmed length, so `Prefix /foo/` and `Exact /foo`,
/// which match `/foo` equally long, tie and the Exact one wins (Istio ranks
/// by the untrimmed string, which would put the Prefix first).
fn prefix(path: &str) -> IngressPath {
    let trimmed = path.trim_end_matches('/');
    let value = if trimmed.is_empty() { "/" } else { trimmed };
    IngressPath {
        matcher: Some(PathMatch::SegmentPrefix {
            value: value.to_owned(),
        }),
        rank: Rank {
            length: Reverse(value.len()),
            not_exact: true,
        },
    }
}

/// `ImplementationSpecific` (and the v1beta1 default, no `pathType`) as
/// Istio reads it (`createFallbackStringMatch`): `""`, `*`, `/*` and `.*`
/// match every path; a path ending in `/*` or `.*` is a prefix of the rest;
/// anything else is exact (no regexes). Istio gives the prefix Ingress
/// semantics (Envoy `path_separated_prefix`, trailing `/` trimmed), so
/// `/status/*` matches `/status` and `/status/200` but not `/statusx`, and
/// `/api.*` matches `/api/v1` but not `/api.json`; vestibule does the same.
fn implementation_specific(path: &str) -> Result<IngressPath, String> {
    if matches!(path, "" | "*" | "/*" | ".*") {
        return Ok(IngressPath {
            matcher: None,
            rank: Rank {
                length: Reverse(0),
                not_exact: true,
            },
        });
    }
    let rest = path.strip_suffix(".*").or_else(|| path.strip_suffix("/*"));
    match rest {
        Some(rest) => Ok(prefix(absolute(rest, "ImplementationSpecific")?)),
        None => exact(absolute(path, "ImplementationSpecific")?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(path: &str, path_type: Option<&str>) -> Option<PathMatch> {
        convert(Some(path), path_type).unwrap().matcher
    }

    fn segment(value: &str) -> Option<PathMatch> {
        Some(PathMatch::SegmentPrefix {
            value: value.to_owned(),
        })
    }

    #[test]
    fn prefix_trims_trailing_slashes_but_keeps_the_root() {
        assert_eq!(matcher("/foo/", Some("Prefix")), segment("/foo"));
        assert_eq!(matcher("/", Some("Prefix")), segment("/"));
        assert_eq!(matcher("//", Some("Prefix")), segment("/"));
    }

    #[test]
    fn implementation_specific_follows_istio() {
        for catch_all in ["", "*", "/*", ".*"] {
            assert_eq!(matcher(catch_all, None), None, "{catch_all:?}");
        }
        assert_eq!(matcher("/status/*", None), segment("/status"));
        assert_eq!(matcher("/api.*", None), segment("/api"));
        assert_eq!(
            matcher("/headers", Some("ImplementationSpecific")),
            Some(PathMatch::Exact {
                value: "/headers".to_owned(),
                ignore_case: false
            })
        );
    }

    #[test]
    fn relative_paths_and_unknown_types_are_dropped() {
        assert!(convert(Some("foo"), Some("Exact")).is_err());
        assert!(convert(None, Some("Prefix")).is_err());
        assert!(convert(Some("foo/*"), None).is_err());
        assert!(convert(Some("/foo"), Some("Regex")).is_err());
    }

    #[test]
    fn longer_paths_rank_first_and_exact_wins_ties() {
        let rank = |path: &str, path_type: &str| convert(Some(path), Some(path_type)).unwrap().rank;
        assert!(rank("/aaa/bbb", "Prefix") < rank("/aaa", "Prefix"));
        assert!(rank("/foo", "Exact") < rank("/foo", "Prefix"));
        assert!(rank("/foo", "Exact") < rank("/foo/", "Prefix"));
        assert!(rank("/", "Prefix") < convert(None, None).unwrap().rank);
    }
}
