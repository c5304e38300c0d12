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

mod merge;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use vestibule_api::istio::HttpRoute;
use vestibule_api::{Inputs, VirtualService};
use vestibule_ir::status::{Condition, ResourceStatus, Warning};

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
    verdict: Result<Vec<Warning>, FieldError>,
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
        // Most sets neither delegate nor have delegates: nothing to index
        // (and with ten thousand VirtualServices, sorting them is not free).
        let delegation = inputs.virtual_services.iter().any(|vs| {
            vs.spec.hosts.is_empty() || vs.spec.http.iter().any(|rule| rule.delegate.is_some())
        });
        if !delegation {
            return index;
        }
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
                status.warnings.push(Warning::not_applied(format!(
                    "exportTo {export_to:?} does not include the namespace {:?} of \
                     VirtualService {}, which delegates to it ({}.delegate): not merged there",
                    naming.root_namespace, naming.root, naming.field
                )));
            }
        }
        status
            .conditions
            .push(condition.at_generation(vs.meta.generation));
        status
    }

    /// What a VirtualService with hosts that a root names as its delegate
    /// says about it.
    pub(crate) fn hosted_warnings(&self, vs: &VirtualService) -> Vec<Warning> {
        if self.named_by.is_empty() {
            return Vec::new();
        }
        let key = (vs.namespace().to_owned(), vs.name().to_owned());
        self.named_by
            .get(&key)
            .into_iter()
            .flatten()
            .map(|naming| {
                Warning::not_applied(format!(
                    "VirtualService {} names it as a delegate ({}.delegate), but it has hosts, \
                     so it is not a delegate (Istio delegates only to VirtualServices without \
                     hosts): not merged there",
                    naming.root, naming.field
                ))
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
) -> Result<Vec<Warning>, FieldError> {
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
    warnings: &mut Vec<Warning>,
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
        warnings: &mut Vec<Warning>,
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
        warnings.push(Warning::not_applied(format!(
            "{field}.delegate: VirtualService {namespace}/{name} {why}: rule skipped"
        )));
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
    warnings: &mut Vec<Warning>,
) {
    let field = own.field.as_str();
    let root = resolve_names(&own.rule, root_namespace, registry);
    for (j, leaf) in delegate.spec.http.iter().enumerate() {
        let at = format!("{namespace}/{name} spec.http[{j}]");
        if leaf.delegate.is_some() {
            warnings.push(Warning::not_applied(format!(
                "{field}.delegate: {at} delegates again (Istio allows one level only): route \
                 dropped"
            )));
            continue;
        }
        let leaf = resolve_names(leaf, namespace, registry);
        let merged = match merge::merge_rule(&root, leaf) {
            Ok(merged) => merged,
            Err(k) => {
                warnings.push(Warning::not_applied(format!(
                    "{field}.delegate: {at}.match[{k}] narrows no match of this rule (a prefix \
                     must extend the root's, an exact value equal it or start with its prefix; \
                     a regex meets no other match of its field): route dropped"
                )));
                continue;
            }
        };
        if merged.overridden_route {
            warnings.push(Warning::other(format!(
                "{field}.directResponse: {at} inherits it, and it answers instead of that \
                 rule's route (in Istio a directResponse takes precedence over route)"
            )));
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
    warnings: &mut Vec<Warning>,
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
