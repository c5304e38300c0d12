//! VirtualService delegation, as Istio merges it (`pilot/pkg/model/
//! virtualservice_controller.go` `mergeVirtualServices`, `virtualservice.go`
//! `MergeHTTPRoutes`, `hasConflict`, `mergeHTTPMatchRequest`):
//! - a VirtualService without `hosts` is a delegate: it is never served by
//!   itself, only through a root (a VirtualService with hosts) whose `http`
//!   rule names it in `delegate: {name, namespace}` (the namespace defaults
//!   to the root's). A VirtualService with hosts is never a delegate;
//! - the delegate's `http` rules take the place of the root's rule, in
//!   their order. Each delegate match must narrow some match of the root
//!   rule (`hasConflict`): a uri, scheme, method or authority prefix must
//!   extend the root's prefix, an exact value must equal the root's or
//!   start with its prefix, a regex on either side conflicts when the other
//!   side matches the same field, `ignoreUriCase` must agree, ports must
//!   agree; the same for each header, `withoutHeaders` and query parameter
//!   the delegate names. Every compatible pair gives one merged match (the
//!   delegate's fields, the root's where the delegate has none, header and
//!   query maps united). A delegate rule one of whose matches narrows no
//!   root match is dropped; a root rule without matches takes the
//!   delegate's as they are, a delegate rule without matches the root's;
//! - the root rule may set only `match` and `delegate` of the actions
//!   (`route` and `redirect` are refused, as Istio's webhook refuses them);
//!   its rewrite, directResponse, timeout, retries, fault, mirrors, CORS
//!   policy and header operations go to each delegate rule that leaves them
//!   unset. Route names join as `root-delegate`;
//! - a delegate's destinations (and mirrors, and match `gateways`) are read
//!   in the delegate's namespace, the root's in the root's;
//! - the delegate must be exported to the root's namespace; it is not looked
//!   at against the gateway's (the merged VirtualService carries the root's
//!   `exportTo`);
//! - one level only: a delegate's own `delegate` rule is skipped.
//!
//! A delegate is validated on its own, as Istio's webhook validates it, and
//! says its problems on its own status; a root says on its status which of
//! its delegating rules were skipped or which delegate routes dropped.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use vestibule_api::istio::{HttpMatchRequest, HttpMirrorPolicy, HttpRoute, StringMatch};
use vestibule_api::{Inputs, VirtualService};
use vestibule_ir::status::{Condition, ResourceStatus};

use super::matches::{convert_match, FieldError};
use super::rules::{self, Rule};
use crate::builder::TableBuilder;
use crate::services::Registry;
use crate::{visibility, GatewayIdentity};

/// `(namespace, name)` of a VirtualService.
type Key = (String, String);

struct Delegate<'a> {
    vs: &'a VirtualService,
    /// Its rules converted on their own: why it is invalid, or what it
    /// warns about.
    verdict: Result<Vec<String>, FieldError>,
}

/// A root's rule that names a VirtualService as its delegate.
struct Naming {
    root: String,
    root_namespace: String,
    field: String,
}

/// The delegates, and who names what as a delegate.
pub(crate) struct Index<'a> {
    delegates: BTreeMap<Key, Delegate<'a>>,
    /// VirtualServices with hosts, which are never delegates.
    hosted: BTreeSet<Key>,
    named_by: BTreeMap<Key, Vec<Naming>>,
}

impl<'a> Index<'a> {
    pub(crate) fn new(
        inputs: &'a Inputs,
        identity: &GatewayIdentity,
        registry: &Registry<'_>,
    ) -> Index<'a> {
        let mut index = Index {
            delegates: BTreeMap::new(),
            hosted: BTreeSet::new(),
            named_by: BTreeMap::new(),
        };
        for vs in crate::by_creation(&inputs.virtual_services) {
            let key = (vs.namespace().to_owned(), vs.name().to_owned());
            if vs.spec.hosts.is_empty() {
                let verdict = validate(vs, identity, registry);
                index.delegates.insert(key, Delegate { vs, verdict });
                continue;
            }
            index.hosted.insert(key);
            for (i, rule) in vs.spec.http.iter().enumerate() {
                let Some(target) = rule.delegate.as_ref().map(|d| target(d, vs)) else {
                    continue;
                };
                index.named_by.entry(target).or_default().push(Naming {
                    root: vs.key(),
                    root_namespace: vs.namespace().to_owned(),
                    field: format!("spec.http[{i}]"),
                });
            }
        }
        index
    }

    /// The status of a delegate (a VirtualService without hosts).
    pub(crate) fn status(&self, vs: &VirtualService) -> ResourceStatus {
        let key = (vs.namespace().to_owned(), vs.name().to_owned());
        let mut status = ResourceStatus {
            namespace: key.0.clone(),
            name: key.1.clone(),
            source: vs.source.to_string(),
            conditions: Vec::new(),
            warnings: Vec::new(),
        };
        let namings = self.named_by.get(&key).map_or(&[][..], Vec::as_slice);
        let condition = match self.delegates.get(&key).map(|d| &d.verdict) {
            Some(Err((field, message))) => {
                Condition::new("Accepted", false, "Invalid", format!("{field}: {message}"))
            }
            Some(Ok(warnings)) => {
                status.warnings.clone_from(warnings);
                if namings.is_empty() {
                    Condition::new(
                        "Accepted",
                        false,
                        "UnusedDelegate",
                        "a VirtualService without hosts is a delegate, and no VirtualService \
                         delegates to it",
                    )
                } else {
                    let roots: BTreeSet<&str> = namings.iter().map(|n| n.root.as_str()).collect();
                    let roots: Vec<&str> = roots.into_iter().collect();
                    Condition::new(
                        "Accepted",
                        true,
                        "Accepted",
                        format!("delegate of {}", roots.join(", ")),
                    )
                }
            }
            None => unreachable!("every VirtualService without hosts is indexed"),
        };
        for naming in namings {
            let export_to = &vs.spec.export_to;
            if !visibility::exported_to(export_to, vs.namespace(), &naming.root_namespace) {
                status.warnings.push(format!(
                    "exportTo {export_to:?} does not include the namespace {:?} of \
                     VirtualService {}, which delegates to it ({}.delegate): not merged there",
                    naming.root_namespace, naming.root, naming.field
                ));
            }
        }
        status
            .conditions
            .push(condition.at_generation(vs.meta.generation));
        status
    }

    /// What a VirtualService with hosts that a root names as its delegate
    /// says about it.
    pub(crate) fn hosted_warnings(&self, vs: &VirtualService) -> Vec<String> {
        let key = (vs.namespace().to_owned(), vs.name().to_owned());
        self.named_by
            .get(&key)
            .into_iter()
            .flatten()
            .map(|naming| {
                format!(
                    "VirtualService {} names it as a delegate ({}.delegate), but it has hosts, \
                     so it is not a delegate (Istio delegates only to VirtualServices without \
                     hosts): not merged there",
                    naming.root, naming.field
                )
            })
            .collect()
    }
}

/// The VirtualService a `delegate` names, relative to the root `vs`.
fn target(delegate: &vestibule_api::istio::Delegate, vs: &VirtualService) -> Key {
    let namespace = delegate
        .namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(vs.namespace());
    (namespace.to_owned(), delegate.name.clone())
}

/// A delegate validated on its own, as Istio's webhook does: no
/// `gateways`, `tls` or `tcp`, and rules that convert.
fn validate(
    vs: &VirtualService,
    identity: &GatewayIdentity,
    registry: &Registry<'_>,
) -> Result<Vec<String>, FieldError> {
    let spec = &vs.spec;
    for (field, set) in [
        ("spec.gateways", !spec.gateways.is_empty()),
        ("spec.tls", !spec.tls.is_empty()),
        ("spec.tcp", !spec.tcp.is_empty()),
    ] {
        if set {
            return Err((
                field.to_owned(),
                "a delegate VirtualService (one without hosts) must not set it".to_owned(),
            ));
        }
    }
    let mut scratch = TableBuilder::default();
    rules::convert(vs, &rules::own_rules(vs), identity, registry, &mut scratch)
        .map(|converted| converted.warnings)
}

/// The rules of `vs` as the gateway applies them: its own, with each
/// delegating rule replaced by its delegate's rules merged into it.
/// Problems of a delegating rule's own fields reject `vs`; a delegate that
/// cannot be used skips the rule, and a delegate rule that conflicts with
/// it is dropped, with a warning.
pub(crate) fn expand<'a>(
    vs: &'a VirtualService,
    index: &Index<'a>,
    registry: &Registry<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Rule<'a>>, FieldError> {
    let mut out = Vec::new();
    for own in rules::own_rules(vs) {
        let Some(delegate) = own.rule.delegate.as_ref() else {
            out.push(own);
            continue;
        };
        check_root_rule(vs, &own.rule, &own.field, registry, warnings)?;
        let target = target(delegate, vs);
        if let Some(found) = index.usable(&target, vs, &own.field, warnings) {
            merge_delegate(
                &own,
                found,
                &target,
                vs.namespace(),
                registry,
                &mut out,
                warnings,
            );
        }
    }
    Ok(out)
}

impl<'a> Index<'a> {
    /// The delegate `target` that the rule at `field` of the root `vs`
    /// names, if it can be merged there; else why not, as a warning.
    fn usable(
        &self,
        target: &Key,
        vs: &VirtualService,
        field: &str,
        warnings: &mut Vec<String>,
    ) -> Option<&'a VirtualService> {
        let (namespace, name) = target;
        let why = match self.delegates.get(target) {
            None if self.hosted.contains(target) => "has hosts, so it is not a delegate (Istio \
                delegates only to VirtualServices without hosts)"
                .to_owned(),
            None => "not found".to_owned(),
            Some(Delegate {
                verdict: Err((at, message)),
                ..
            }) => format!("is invalid ({at}: {message})"),
            Some(found) => {
                let export_to = &found.vs.spec.export_to;
                if visibility::exported_to(export_to, namespace, vs.namespace()) {
                    return Some(found.vs);
                }
                format!(
                    "has exportTo {export_to:?}, which does not include this VirtualService's \
                     namespace {:?}",
                    vs.namespace()
                )
            }
        };
        warnings.push(format!(
            "{field}.delegate: VirtualService {namespace}/{name} {why}: rule skipped"
        ));
        None
    }
}

/// The rules of `delegate` merged into the root's rule `own` (of a root in
/// `root_namespace`), appended to `out`; the ones that cannot be, reported.
fn merge_delegate<'a>(
    own: &Rule<'a>,
    delegate: &VirtualService,
    (namespace, name): &Key,
    root_namespace: &str,
    registry: &Registry<'_>,
    out: &mut Vec<Rule<'a>>,
    warnings: &mut Vec<String>,
) {
    let field = own.field.as_str();
    let root = resolve_names(&own.rule, root_namespace, registry);
    for (j, leaf) in delegate.spec.http.iter().enumerate() {
        let at = format!("{namespace}/{name} spec.http[{j}]");
        if leaf.delegate.is_some() {
            warnings.push(format!(
                "{field}.delegate: {at} delegates again (Istio allows one level only): route \
                 dropped"
            ));
            continue;
        }
        let leaf = resolve_names(leaf, namespace, registry);
        let merged = match merge_rule(&root, leaf) {
            Ok(merged) => merged,
            Err(k) => {
                warnings.push(format!(
                    "{field}.delegate: {at}.match[{k}] narrows no match of this rule (a prefix \
                     must extend the root's, an exact value equal it or start with its prefix; \
                     a regex meets no other match of its field): route dropped"
                ));
                continue;
            }
        };
        if merged.overridden_route {
            warnings.push(format!(
                "{field}.directResponse: {at} inherits it, and it answers instead of that \
                 rule's route (in Istio a directResponse takes precedence over route)"
            ));
        }
        out.push(Rule {
            rule: Cow::Owned(merged.rule),
            field: format!("{field} (delegate {at})"),
            default_name: format!("{}-{namespace}.{name}.{j}", own.default_name),
            quiet: true,
        });
    }
}

/// What Istio's webhook checks of a rule that delegates: no route or
/// redirect of its own, and valid matches and inheritable fields (those
/// that refer to something missing warn, once, here).
fn check_root_rule(
    vs: &VirtualService,
    rule: &HttpRoute,
    field: &str,
    registry: &Registry<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), FieldError> {
    for (set, what) in [
        (!rule.route.is_empty(), "route"),
        (rule.redirect.is_some(), "redirect"),
    ] {
        if set {
            return Err((
                field.to_owned(),
                format!(
                    "delegate and {what} cannot both be set: the rules of the delegate route \
                     the requests"
                ),
            ));
        }
    }
    for (k, input) in rule.matches.iter().enumerate() {
        convert_match(input, &format!("{field}.match[{k}]"))?;
    }
    rules::policies(rule, field, warnings)?;
    if let Some(direct) = &rule.direct_response {
        rules::direct_response(direct, &format!("{field}.directResponse"))?;
    }
    if let Some(rewrite) = &rule.rewrite {
        rules::path_rewrite(rewrite, field)?;
    }
    let mut scratch = TableBuilder::default();
    rules::mirrors(vs, rule, field, registry, &mut scratch, warnings)?;
    Ok(())
}

/// `rule` with the names it holds read in `namespace` (Istio
/// `ResolveVirtualServiceShortnames`): short destination and mirror hosts
/// become the registry host they mean there, match `gateways` become
/// `namespace/name`. Once merged, a rule's parts come from two
/// VirtualServices, and each part keeps the meaning it had in its own.
fn resolve_names(rule: &HttpRoute, namespace: &str, registry: &Registry<'_>) -> HttpRoute {
    let host = |host: &mut String| {
        if !host.is_empty() && !host.contains('.') {
            *host = registry.fqdn(host, namespace);
        }
    };
    let mut rule = rule.clone();
    for destination in &mut rule.route {
        host(&mut destination.destination.host);
    }
    if let Some(mirror) = &mut rule.mirror {
        host(&mut mirror.host);
    }
    for mirror in &mut rule.mirrors {
        host(&mut mirror.destination.host);
    }
    for input in &mut rule.matches {
        for gateway in &mut input.gateways {
            if gateway != "mesh" && !gateway.contains('/') {
                *gateway = format!("{namespace}/{gateway}");
            }
        }
    }
    rule
}

struct Merged {
    rule: HttpRoute,
    /// An inherited directResponse took the place of the rule's route.
    overridden_route: bool,
}

/// Istio `mergeHTTPRoute`: the delegate's rule `leaf` under `root`, or the
/// index of a match of `leaf` that narrows no match of `root`.
fn merge_rule(root: &HttpRoute, mut leaf: HttpRoute) -> Result<Merged, usize> {
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
                    destination,
                    percentage,
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
