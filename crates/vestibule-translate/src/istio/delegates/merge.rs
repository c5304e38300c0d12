//! Istio's merge of a delegate's rule into its root's rule
//! (`pilot/pkg/model/virtualservice.go`): `mergeHTTPRoute`,
//! `mergeHTTPMatchRequests`, `mergeHTTPMatchRequest`, `hasConflict`,
//! `stringMatchConflict`.

use std::collections::BTreeMap;

use vestibule_api::istio::{HttpMatchRequest, HttpMirrorPolicy, HttpRoute, StringMatch};

pub(super) struct Merged {
    pub rule: HttpRoute,
    /// An inherited directResponse took the place of the rule's route.
    pub overridden_route: bool,
}

/// Istio `mergeHTTPRoute`: the delegate's rule `leaf` under `root`, or the
/// index of a match of `leaf` that narrows no match of `root`.
pub(super) fn merge_rule(root: &HttpRoute, mut leaf: HttpRoute) -> Result<Merged, usize> {
    leaf.matches = merge_matches(&root.matches, &leaf.matches)?;
    leaf.name = join(root.name.as_deref(), leaf.name.as_deref());
    fn inherit<T: Clone>(own: &mut Option<T>, root: &Option<T>) {
        if own.is_none() {
            own.clone_from(root);
        }
    }
    inherit(&mut leaf.rewrite, &root.rewrite);
    inherit(&mut leaf.direct_response, &root.direct_response);
    inherit(&mut leaf.timeout, &root.timeout);
    inherit(&mut leaf.retries, &root.retries);
    inherit(&mut leaf.fault, &root.fault);
    inherit(&mut leaf.mirror, &root.mirror);
    inherit(&mut leaf.mirror_percentage, &root.mirror_percentage);
    inherit(&mut leaf.cors_policy, &root.cors_policy);
    inherit(&mut leaf.headers, &root.headers);
    if leaf.mirrors.is_empty() {
        leaf.mirrors.clone_from(&root.mirrors);
    }
    // Envoy gets `mirror` and then every `mirrors` entry.
    if !leaf.mirrors.is_empty() {
        if let Some(destination) = leaf.mirror.take() {
            let percentage = leaf.mirror_percentage.take();
            leaf.mirrors.insert(
                0,
                HttpMirrorPolicy {
                    destination: *destination,
                    percentage: percentage.map(|percentage| *percentage),
                },
            );
        }
    }
    // Istio's route translation: a redirect before a direct response,
    // a direct response before routing; the others are not looked at.
    let mut overridden_route = false;
    if leaf.redirect.is_some() {
        leaf.direct_response = None;
        leaf.rewrite = None;
    } else if leaf.direct_response.is_some() && !leaf.route.is_empty() {
        leaf.route.clear();
        overridden_route = true;
    }
    Ok(Merged {
        rule: leaf,
        overridden_route,
    })
}

/// Istio `mergeHTTPMatchRequests`: every match of `leaf` with every match
/// of `root` it narrows; `Err(k)` when match `k` of `leaf` narrows none.
fn merge_matches(
    root: &[HttpMatchRequest],
    leaf: &[HttpMatchRequest],
) -> Result<Vec<HttpMatchRequest>, usize> {
    if root.is_empty() {
        return Ok(leaf.to_vec());
    }
    if leaf.is_empty() {
        return Ok(root.to_vec());
    }
    let mut out = Vec::new();
    for (k, sub) in leaf.iter().enumerate() {
        let before = out.len();
        out.extend(
            root.iter()
                .filter(|upper| !conflicts(upper, sub))
                .map(|upper| merge_match(upper, sub)),
        );
        if out.len() == before {
            return Err(k);
        }
    }
    Ok(out)
}

/// Istio `mergeHTTPMatchRequest`: the delegate's match, with the root's
/// fields where it has none; header, query and source label maps united
/// (the delegate's entry wins a shared key).
fn merge_match(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> HttpMatchRequest {
    let mut out = leaf.clone();
    out.name = join(root.name.as_deref(), leaf.name.as_deref());
    for (own, upper) in [
        (&mut out.uri, &root.uri),
        (&mut out.scheme, &root.scheme),
        (&mut out.method, &root.method),
        (&mut out.authority, &root.authority),
    ] {
        if own.is_none() {
            own.clone_from(upper);
        }
    }
    let unite = |upper: &BTreeMap<String, StringMatch>, own: &BTreeMap<String, StringMatch>| {
        let mut united = upper.clone();
        united.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        united
    };
    out.headers = unite(&root.headers, &leaf.headers);
    out.without_headers = unite(&root.without_headers, &leaf.without_headers);
    out.query_params = unite(&root.query_params, &leaf.query_params);
    if leaf.port.unwrap_or(0) == 0 {
        out.port = root.port;
    }
    let mut labels = root.source_labels.clone();
    labels.extend(leaf.source_labels.clone());
    out.source_labels = labels;
    if leaf.source_namespace.as_deref().unwrap_or("").is_empty() {
        out.source_namespace.clone_from(&root.source_namespace);
    }
    if leaf.gateways.is_empty() {
        out.gateways.clone_from(&root.gateways);
    }
    if leaf.stat_prefix.as_deref().unwrap_or("").is_empty() {
        out.stat_prefix.clone_from(&root.stat_prefix);
    }
    out
}

/// Istio `hasConflict`: whether the delegate's match `leaf` fails to narrow
/// the root's match `root`.
fn conflicts(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> bool {
    let fields = [
        (&root.uri, &leaf.uri),
        (&root.scheme, &leaf.scheme),
        (&root.method, &leaf.method),
        (&root.authority, &leaf.authority),
    ];
    if fields
        .iter()
        .any(|(upper, own)| string_conflict(upper.as_ref(), own.as_ref()))
    {
        return true;
    }
    let map_conflict = |upper: &BTreeMap<String, StringMatch>,
                        own: &BTreeMap<String, StringMatch>| {
        own.iter()
            .any(|(key, value)| string_conflict(upper.get(key), Some(value)))
    };
    if map_conflict(&root.headers, &leaf.headers)
        || map_conflict(&root.without_headers, &leaf.without_headers)
        || map_conflict(&root.query_params, &leaf.query_params)
    {
        return true;
    }
    if root.ignore_uri_case != leaf.ignore_uri_case {
        return true;
    }
    let port = |p: Option<u32>| p.filter(|p| *p > 0);
    if let (Some(a), Some(b)) = (port(root.port), port(leaf.port)) {
        if a != b {
            return true;
        }
    }
    let root_source = root.source_namespace.as_deref().unwrap_or("");
    if !root_source.is_empty() && leaf.source_namespace.as_deref().unwrap_or("") != root_source {
        return true;
    }
    if leaf
        .source_labels
        .iter()
        .any(|(key, value)| root.source_labels.get(key).is_some_and(|v| v != value))
    {
        return true;
    }
    if !root.gateways.is_empty() && !leaf.gateways.is_empty() {
        return leaf.gateways.iter().any(|g| !root.gateways.contains(g));
    }
    false
}

/// Istio `stringMatchConflict`: no conflict when either side is unset;
/// else the delegate's value must lie within the root's.
fn string_conflict(root: Option<&StringMatch>, leaf: Option<&StringMatch>) -> bool {
    let (Some(root), Some(leaf)) = (root, leaf) else {
        return false;
    };
    // Istio's getters: an empty string is an unset field.
    let get = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    let any = |m: &StringMatch| get(&m.regex).or(get(&m.prefix)).or(get(&m.exact)).is_some();
    if (get(&root.regex).is_some() && any(leaf)) || (get(&leaf.regex).is_some() && any(root)) {
        return true;
    }
    if let Some(exact) = get(&root.exact) {
        return get(&leaf.prefix).is_some() || get(&leaf.exact) != Some(exact);
    }
    if let Some(prefix) = get(&root.prefix) {
        if let Some(own) = get(&leaf.prefix) {
            return !own.starts_with(&prefix);
        }
        if let Some(own) = get(&leaf.exact) {
            return !own.starts_with(&prefix);
        }
    }
    true
}

/// Istio's name joining: `root-leaf`, or whichever is set.
fn join(root: Option<&str>, leaf: Option<&str>) -> Option<String> {
    let set = |name: Option<&str>| name.filter(|n| !n.is_empty()).map(str::to_owned);
    match (set(root), set(leaf)) {
        (Some(root), Some(leaf)) => Some(format!("{root}-{leaf}")),
        (root, leaf) => leaf.or(root),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(value: &str) -> Option<StringMatch> {
        Some(StringMatch {
            prefix: Some(value.to_owned()),
            ..Default::default()
        })
    }

    fn exact(value: &str) -> Option<StringMatch> {
        Some(StringMatch {
            exact: Some(value.to_owned()),
            ..Default::default()
        })
    }

    fn regex(value: &str) -> Option<StringMatch> {
        Some(StringMatch {
            regex: Some(value.to_owned()),
            ..Default::default()
        })
    }

    fn uri(value: Option<StringMatch>) -> HttpMatchRequest {
        HttpMatchRequest {
            uri: value,
            ..Default::default()
        }
    }

    #[test]
    fn a_delegate_uri_must_narrow_the_root_uri() {
        let conflict = |root, leaf| conflicts(&uri(root), &uri(leaf));
        assert!(!conflict(prefix("/api"), prefix("/api/v1")));
        assert!(!conflict(prefix("/api"), prefix("/api")));
        assert!(conflict(prefix("/api/v1"), prefix("/api")));
        assert!(!conflict(prefix("/api"), exact("/api/users")));
        assert!(conflict(prefix("/api"), exact("/other")));
        assert!(!conflict(exact("/a"), exact("/a")));
        assert!(conflict(exact("/a"), exact("/b")));
        assert!(conflict(exact("/a"), prefix("/a")));
        assert!(conflict(regex("/a.*"), prefix("/a")));
        assert!(conflict(prefix("/a"), regex("/a.*")));
        assert!(conflict(regex("/a.*"), regex("/a.*")));
        assert!(!conflict(regex("/a.*"), None));
        assert!(!conflict(None, regex("/a.*")));
        assert!(!conflict(None, prefix("/anything")));
    }

    #[test]
    fn headers_ports_case_and_gateways_must_agree() {
        let mut root = uri(prefix("/"));
        root.headers
            .insert("env".to_owned(), exact("prod").unwrap());
        let mut leaf = uri(prefix("/x"));
        leaf.headers.insert("env".to_owned(), exact("dev").unwrap());
        assert!(conflicts(&root, &leaf));
        leaf.headers
            .insert("env".to_owned(), exact("prod").unwrap());
        leaf.headers
            .insert("user".to_owned(), exact("jason").unwrap());
        assert!(!conflicts(&root, &leaf));
        leaf.ignore_uri_case = true;
        assert!(conflicts(&root, &leaf));
        leaf.ignore_uri_case = false;
        root.port = Some(80);
        leaf.port = Some(8080);
        assert!(conflicts(&root, &leaf));
        leaf.port = None;
        root.gateways = vec!["a/gw".to_owned()];
        leaf.gateways = vec!["a/other".to_owned()];
        assert!(conflicts(&root, &leaf));
        leaf.gateways = vec!["a/gw".to_owned()];
        assert!(!conflicts(&root, &leaf));
    }

    #[test]
    fn merged_matches_take_the_root_fields_the_delegate_leaves_unset() {
        let mut root = uri(prefix("/api"));
        root.name = Some("api".to_owned());
        root.method = exact("GET");
        root.headers
            .insert("env".to_owned(), exact("prod").unwrap());
        let mut leaf = uri(prefix("/api/v1"));
        leaf.name = Some("v1".to_owned());
        leaf.headers
            .insert("user".to_owned(), exact("jason").unwrap());
        let merged = merge_match(&root, &leaf);
        assert_eq!(merged.name.as_deref(), Some("api-v1"));
        assert_eq!(merged.uri, prefix("/api/v1"));
        assert_eq!(merged.method, exact("GET"));
        assert_eq!(merged.headers.keys().collect::<Vec<_>>(), ["env", "user"]);
    }

    #[test]
    fn every_delegate_match_needs_a_root_match() {
        let root = [uri(prefix("/a")), uri(prefix("/b"))];
        let merged = merge_matches(&root, &[uri(prefix("/b/1")), uri(exact("/a/x"))]).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].uri, prefix("/b/1"));
        assert_eq!(merged[1].uri, exact("/a/x"));
        assert_eq!(
            merge_matches(&root, &[uri(prefix("/a/1")), uri(prefix("/c"))]),
            Err(1)
        );
        assert_eq!(merge_matches(&[], &[uri(prefix("/c"))]).unwrap().len(), 1);
        assert_eq!(merge_matches(&root, &[]).unwrap().len(), 2);
    }
}
