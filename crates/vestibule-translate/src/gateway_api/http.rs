//! HTTPRoute rules → IR routes: matches, filters, backends, timeouts,
//! retries; and the precedence key the spec orders routes by.

use std::cmp::Reverse;

use vestibule_api::gateway_api::{
    HeaderFilter, HttpBackendRef, HttpRouteFilter, HttpRouteMatch, HttpRouteRule, PathModifier,
    ValueMatch, GROUP,
};
use vestibule_api::{HttpRoute, ReferenceGrant};
use vestibule_ir::{
    CorsPolicy, DirectResponse, Forward, HeaderMatch, HeaderMutations, Mirror, PathMatch,
    PathRewrite, Pattern, QueryMatch, Redirect, RetryOn, RetryPolicy, Route, RouteAction,
    RouteMatch, RouteOrigin, StringMatcher, WeightedBackend,
};

use super::refs::{self, From, RefProblem};
use crate::builder::TableBuilder;
use crate::duration::parse_duration;
use crate::services::Registry;

/// "Precedence MUST be given to the rule with the largest number of":
/// exact path, then the longest prefix, then method, then headers, then
/// query params; ties go to the oldest route, then `{namespace}/{name}`,
/// then rule order. Regular expressions (implementation-specific) rank
/// after exact paths and before prefixes, by length, as Envoy Gateway does.
///
/// Routes of several host names serve one virtual host when their names
/// cover it (`*.com` routes serve `example.com` too); among matches of
/// equal rank the route of the more specific host name wins ("characters
/// in a matching non-wildcard hostname, then in a matching hostname"), as
/// the conformance test `HTTPRouteMatchingAcrossRoutes` requires the match
/// rank to come first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Precedence {
    path_kind: u8,
    path_length: Reverse<usize>,
    method: Reverse<bool>,
    /// GRPCRoute: characters of the matched method name.
    method_length: Reverse<usize>,
    headers: Reverse<usize>,
    query_params: Reverse<usize>,
    /// Exact (0), wildcard (1) or any (2) host name, then its length.
    host: (u8, Reverse<usize>),
    created: String,
    namespace: String,
    name: String,
    rule: usize,
    matched: usize,
}

impl Precedence {
    pub(crate) fn new(
        route_match: &RouteMatch,
        created: &str,
        namespace: &str,
        name: &str,
        rule: usize,
        matched: usize,
    ) -> Precedence {
        let (path_kind, path_length) = match &route_match.path {
            Some(PathMatch::Exact { value, .. }) => (0, value.len()),
            Some(PathMatch::Regex { pattern }) => (1, pattern.as_str().len()),
            Some(PathMatch::SegmentPrefix { value } | PathMatch::Prefix { value, .. }) => {
                (2, value.len())
            }
            None => (3, 0),
        };
        Precedence {
            path_kind,
            path_length: Reverse(path_length),
            method: Reverse(route_match.method.is_some()),
            method_length: Reverse(0),
            headers: Reverse(route_match.headers.len()),
            query_params: Reverse(route_match.query_params.len()),
            host: (0, Reverse(0)),
            created: created.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            rule,
            matched,
        }
    }
}

impl Precedence {
    /// GRPCRoute precedence: "the largest number of characters in a
    /// matching service, then in a matching method, then the largest number
    /// of header matches", then the route and rule order ties.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn grpc(
        service_length: usize,
        method_length: usize,
        headers: usize,
        created: &str,
        namespace: &str,
        name: &str,
        rule: usize,
        matched: usize,
    ) -> Precedence {
        Precedence {
            path_kind: 0,
            path_length: Reverse(service_length),
            method: Reverse(false),
            method_length: Reverse(method_length),
            headers: Reverse(headers),
            query_params: Reverse(0),
            host: (0, Reverse(0)),
            created: created.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            rule,
            matched,
        }
    }

    /// This precedence for a route placed under the host name `host`
    /// (lower-case; `*` for any).
    pub(crate) fn for_host(&self, host: &str) -> Precedence {
        let rank = if host == "*" {
            (2, Reverse(0))
        } else if host.starts_with('*') {
            (1, Reverse(host.len()))
        } else {
            (0, Reverse(host.len()))
        };
        Precedence {
            host: rank,
            ..self.clone()
        }
    }
}

/// What converting a route found wrong: unsupported values (the rules that
/// hold them are dropped: `PartiallyInvalid`, or `Accepted=False` when no
/// rule is left) or `ResolvedRefs=False` (some backends, which then answer
/// 500).
#[derive(Default)]
pub(crate) struct Problems {
    pub unsupported: Option<String>,
    pub refs: Option<RefProblem>,
    /// Rules kept and rules dropped for an unsupported value.
    pub valid_rules: usize,
    pub dropped_rules: usize,
}

impl Problems {
    /// Converts one rule with `convert`; a rule that meets an unsupported
    /// value is dropped whole ("Dropped Rule"), and the first such problem
    /// is kept for the route's status.
    pub(crate) fn rule<T>(
        cx: &mut Context<'_, '_>,
        convert: impl FnOnce(&mut Context<'_, '_>) -> Vec<T>,
    ) -> Vec<T> {
        let earlier = cx.problems.unsupported.take();
        let converted = convert(cx);
        let problem = cx.problems.unsupported.take();
        let dropped = problem.is_some();
        cx.problems.unsupported = earlier.or(problem);
        if dropped {
            cx.problems.dropped_rules += 1;
            Vec::new()
        } else {
            cx.problems.valid_rules += 1;
            converted
        }
    }
}

pub(crate) struct Context<'a, 'r> {
    pub grants: &'a [ReferenceGrant],
    pub registry: &'a Registry<'r>,
    pub builder: &'a mut TableBuilder,
    pub problems: &'a mut Problems,
    pub kind: &'static str,
    pub namespace: &'a str,
    pub force_h2c: bool,
}

impl Context<'_, '_> {
    fn backend(
        &mut self,
        reference: &vestibule_api::gateway_api::ObjectReference,
    ) -> Option<String> {
        let from = From {
            group: GROUP,
            kind: self.kind,
            namespace: self.namespace,
        };
        match refs::backend(
            reference,
            &from,
            self.grants,
            self.registry,
            self.builder,
            self.force_h2c,
        ) {
            Ok(key) => Some(key),
            Err(problem) => {
                self.problems.refs.get_or_insert(problem);
                None
            }
        }
    }
}

/// Every (rule, match) of an HTTPRoute as an IR route with its precedence.
pub(crate) fn routes(route: &HttpRoute, cx: &mut Context<'_, '_>) -> Vec<(Precedence, Route)> {
    let created = route.meta.creation_timestamp.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (index, rule) in route.spec.rules.iter().enumerate() {
        out.extend(Problems::rule(cx, |cx| {
            rule_routes(route, rule, index, &created, cx)
        }));
    }
    out
}

/// One IR route per match of a rule.
fn rule_routes(
    route: &HttpRoute,
    rule: &HttpRouteRule,
    index: usize,
    created: &str,
    cx: &mut Context<'_, '_>,
) -> Vec<(Precedence, Route)> {
    let template = rule_route(route, rule, index, cx);
    let matches = if rule.matches.is_empty() {
        vec![HttpRouteMatch::default()]
    } else {
        rule.matches.clone()
    };
    let mut out = Vec::new();
    for (match_index, input) in matches.iter().enumerate() {
        let route_match = match convert_match(input) {
            Ok(route_match) => route_match,
            Err(message) => {
                cx.problems.unsupported.get_or_insert(message);
                continue;
            }
        };
        let mut ir = template.clone();
        let precedence = Precedence::new(
            &route_match,
            created,
            route.namespace(),
            route.name(),
            index,
            match_index,
        );
        ir.matches = vec![route_match];
        out.push((precedence, ir));
    }
    out
}

fn rule_route(
    route: &HttpRoute,
    rule: &HttpRouteRule,
    index: usize,
    cx: &mut Context<'_, '_>,
) -> Route {
    let filters = Filters::collect(&rule.filters, cx);
    let name = match &rule.name {
        Some(name) => format!("{}.{}.{name}", route.namespace(), route.name()),
        None => format!("{}.{}.{index}", route.namespace(), route.name()),
    };
    let action = match filters.redirect.clone() {
        Some(redirect) => RouteAction::Redirect(redirect),
        None if filters.invalid => RouteAction::DirectResponse(internal_error()),
        None => forward(&rule.backend_refs, &filters, cx),
    };
    let (timeout, per_try_timeout) = timeouts(rule, cx);
    Route {
        name,
        origin: RouteOrigin {
            kind: cx.kind,
            namespace: route.namespace().to_owned(),
            name: route.name().to_owned(),
        },
        matches: Vec::new(),
        action,
        request_headers: filters.request_headers,
        response_headers: filters.response_headers,
        timeout,
        retry: retry(rule, per_try_timeout),
        cors: filters.cors.map(Box::new),
        fault: None,
    }
}

pub(crate) fn internal_error() -> DirectResponse {
    DirectResponse {
        status: 500,
        body: Vec::new(),
    }
}

/// Forward to the rule's backends; "if there are no backendRefs, or all
/// are invalid, 500"; an invalid backend keeps its share of the weight and
/// that share gets 500.
pub(crate) fn forward(
    backend_refs: &[HttpBackendRef],
    filters: &Filters,
    cx: &mut Context<'_, '_>,
) -> RouteAction {
    if backend_refs.is_empty() {
        return RouteAction::DirectResponse(internal_error());
    }
    let backends = backend_refs
        .iter()
        .map(|backend_ref| {
            let own = Filters::collect(&backend_ref.filters, cx);
            WeightedBackend {
                backend: cx.backend(&backend_ref.reference()),
                weight: u32::try_from(backend_ref.weight.unwrap_or(1)).unwrap_or(0),
                request_headers: own.request_headers,
                response_headers: own.response_headers,
                path_rewrite: own.path_rewrite.map(Box::new),
                host_rewrite: own.host_rewrite,
                redirect: own.redirect.map(Box::new),
            }
        })
        .collect();
    RouteAction::Forward(Forward {
        backends,
        mirrors: filters.mirrors.clone(),
        path_rewrite: filters.path_rewrite.clone().map(Box::new),
        host_rewrite: filters.host_rewrite.clone(),
    })
}

fn timeouts(
    rule: &HttpRouteRule,
    cx: &mut Context<'_, '_>,
) -> (Option<std::time::Duration>, Option<std::time::Duration>) {
    let Some(timeouts) = &rule.timeouts else {
        return (None, None);
    };
    let mut parse = |value: &Option<String>, field: &str| match value.as_deref() {
        Some(value) => match parse_duration(value) {
            Ok(duration) if duration.is_zero() => None,
            Ok(duration) => Some(duration),
            Err(error) => {
                cx.problems
                    .unsupported
                    .get_or_insert(format!("timeouts.{field}: {error}"));
                None
            }
        },
        None => None,
    };
    (
        parse(&timeouts.request, "request"),
        parse(&timeouts.backend_request, "backendRequest"),
    )
}

/// The experimental `retry` field, else Istio's default policy (vestibule
/// behaves like Istio, which applies its mesh default to Gateway API routes).
fn retry(rule: &HttpRouteRule, per_try_timeout: Option<std::time::Duration>) -> RetryPolicy {
    let mut policy = match &rule.retry {
        None => RetryPolicy::istio_default(),
        Some(retry) => {
            let codes: Vec<u16> = retry
                .codes
                .iter()
                .filter_map(|c| u16::try_from(*c).ok())
                .collect();
            RetryPolicy {
                attempts: retry
                    .attempts
                    .and_then(|a| u32::try_from(a).ok())
                    .unwrap_or(2),
                // "Implementations SHOULD retry on connection errors
                // (disconnect, reset, timeout, TCP failure)".
                retry_on: RetryOn {
                    connect_failure: true,
                    refused_stream: true,
                    reset: true,
                    retriable_status_codes: !codes.is_empty(),
                    ..RetryOn::default()
                },
                retriable_status_codes: codes,
                per_try_timeout: None,
                backoff: retry
                    .backoff
                    .as_deref()
                    .and_then(|b| parse_duration(b).ok()),
            }
        }
    };
    policy.per_try_timeout = per_try_timeout;
    policy
}

pub(crate) fn convert_match(input: &HttpRouteMatch) -> Result<RouteMatch, String> {
    let path = match &input.path {
        None => Some(PathMatch::SegmentPrefix {
            value: "/".to_owned(),
        }),
        Some(path) => {
            let value = path.value.clone().unwrap_or_else(|| "/".to_owned());
            Some(match path.match_type.as_deref().unwrap_or("PathPrefix") {
                "Exact" => PathMatch::Exact {
                    value,
                    ignore_case: false,
                },
                "PathPrefix" => PathMatch::SegmentPrefix {
                    value: trim_prefix(&value),
                },
                "RegularExpression" => PathMatch::Regex {
                    pattern: Pattern::new(&value)
                        .map_err(|e| format!("path regex {value:?}: {e}"))?,
                },
                other => return Err(format!("path match type {other:?} is not supported")),
            })
        }
    };
    Ok(RouteMatch {
        path,
        method: input.method.clone().map(StringMatcher::Exact),
        scheme: None,
        authority: None,
        headers: value_matches(&input.headers, true)?
            .into_iter()
            .map(|(name, matcher)| HeaderMatch {
                name,
                matcher: Some(matcher),
                invert: false,
            })
            .collect(),
        query_params: value_matches(&input.query_params, false)?
            .into_iter()
            .map(|(name, matcher)| QueryMatch {
                name,
                matcher: Some(matcher),
            })
            .collect(),
    })
}

/// `/foo/` and `/foo` match the same paths; `/` stays `/`.
fn trim_prefix(value: &str) -> String {
    let trimmed = value.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Header (case-insensitive names) or query matches; "only the first entry
/// with a given name counts".
pub(crate) fn value_matches(
    matches: &[ValueMatch],
    headers: bool,
) -> Result<Vec<(String, StringMatcher)>, String> {
    let mut out: Vec<(String, StringMatcher)> = Vec::new();
    for entry in matches {
        let name = if headers {
            entry.name.to_ascii_lowercase()
        } else {
            entry.name.clone()
        };
        if out.iter().any(|(seen, _)| *seen == name) {
            continue;
        }
        let matcher = match entry.match_type.as_deref().unwrap_or("Exact") {
            "Exact" => StringMatcher::Exact(entry.value.clone()),
            "RegularExpression" => StringMatcher::Regex(
                Pattern::new(&entry.value).map_err(|e| format!("regex {:?}: {e}", entry.value))?,
            ),
            other => return Err(format!("match type {other:?} is not supported")),
        };
        out.push((name, matcher));
    }
    Ok(out)
}

/// The filters of a rule (or of a backendRef), applied.
#[derive(Default)]
pub(crate) struct Filters {
    pub request_headers: HeaderMutations,
    pub response_headers: HeaderMutations,
    pub redirect: Option<Redirect>,
    pub path_rewrite: Option<PathRewrite>,
    pub host_rewrite: Option<String>,
    pub mirrors: Vec<Mirror>,
    pub cors: Option<CorsPolicy>,
    /// An `ExtensionRef` (or similar) that cannot be honoured: "the
    /// implementation MUST NOT skip the filter": answer 500.
    pub invalid: bool,
}

impl Filters {
    pub(crate) fn collect(filters: &[HttpRouteFilter], cx: &mut Context<'_, '_>) -> Filters {
        let mut out = Filters::default();
        for filter in filters {
            match filter.filter_type.as_str() {
                "RequestHeaderModifier" => {
                    out.request_headers = header_filter(filter.request_header_modifier.as_ref());
                }
                "ResponseHeaderModifier" => {
                    out.response_headers = header_filter(filter.response_header_modifier.as_ref());
                }
                "RequestRedirect" => out.redirect = filter.request_redirect.as_ref().map(redirect),
                "URLRewrite" => {
                    if let Some(rewrite) = &filter.url_rewrite {
                        out.host_rewrite = rewrite.hostname.clone();
                        out.path_rewrite = rewrite.path.as_ref().and_then(path_modifier);
                    }
                }
                "RequestMirror" => {
                    if let Some(mirror) = &filter.request_mirror {
                        let backend = cx.backend(&mirror.backend_ref);
                        out.mirrors.push(Mirror {
                            backend,
                            percent: mirror_percent(mirror),
                        });
                    }
                }
                "CORS" => out.cors = filter.cors.as_ref().map(cors),
                "ExtensionRef" => {
                    out.invalid = true;
                    cx.problems.refs.get_or_insert((
                        "InvalidKind",
                        "ExtensionRef filters are not supported; the rule answers 500".to_owned(),
                    ));
                }
                other => {
                    cx.problems
                        .unsupported
                        .get_or_insert(format!("filter type {other:?} is not supported"));
                }
            }
        }
        out
    }
}

fn header_filter(filter: Option<&HeaderFilter>) -> HeaderMutations {
    let Some(filter) = filter else {
        return HeaderMutations::default();
    };
    let pairs = |list: &[vestibule_api::gateway_api::HttpHeader]| {
        list.iter()
            .filter(|h| {
                http::HeaderName::from_bytes(h.name.as_bytes()).is_ok()
                    && http::HeaderValue::from_str(&h.value).is_ok()
            })
            .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
            .collect()
    };
    HeaderMutations::new(
        pairs(&filter.set),
        pairs(&filter.add),
        filter
            .remove
            .iter()
            .map(|name| name.to_ascii_lowercase())
            .collect(),
    )
}

fn path_modifier(path: &PathModifier) -> Option<PathRewrite> {
    match path.modifier_type.as_str() {
        "ReplaceFullPath" => path.replace_full_path.clone().map(PathRewrite::Full),
        "ReplacePrefixMatch" => path.replace_prefix_match.clone().map(PathRewrite::Prefix),
        _ => None,
    }
}

/// Redirects default to 302 (Istio's own default is 301).
fn redirect(redirect: &vestibule_api::gateway_api::RequestRedirect) -> Redirect {
    Redirect {
        scheme: redirect.scheme.clone(),
        host: redirect.hostname.clone(),
        port: redirect.port.and_then(|p| u16::try_from(p).ok()),
        derive_port: None,
        path: redirect.path.as_ref().and_then(path_modifier).map(Box::new),
        status: redirect
            .status_code
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(302),
    }
}

fn mirror_percent(mirror: &vestibule_api::gateway_api::RequestMirror) -> f64 {
    if let Some(fraction) = &mirror.fraction {
        let denominator = fraction.denominator.unwrap_or(100).max(1) as f64;
        return (fraction.numerator as f64 / denominator * 100.0).clamp(0.0, 100.0);
    }
    mirror
        .percent
        .map_or(100.0, |p| (p as f64).clamp(0.0, 100.0))
}

/// Gateway API origins: `*` alone allows any; `https://*.example.com`
/// wildcards match greedily to the left.
fn cors(cors: &vestibule_api::gateway_api::Cors) -> CorsPolicy {
    let mut policy = CorsPolicy {
        allow_methods: cors.allow_methods.clone(),
        allow_headers: cors.allow_headers.clone(),
        expose_headers: cors.expose_headers.clone(),
        max_age_seconds: cors.max_age.and_then(|age| u64::try_from(age).ok()),
        allow_credentials: cors.allow_credentials.unwrap_or(false),
        ..CorsPolicy::default()
    };
    for origin in &cors.allow_origins {
        if origin == "*" {
            policy.allow_any_origin = true;
        } else if origin.contains('*') {
            let pattern = regex_escape_wildcard(origin);
            if let Ok(pattern) = Pattern::new(&pattern) {
                policy.allow_origins.push(StringMatcher::Regex(pattern));
            }
        } else {
            policy
                .allow_origins
                .push(StringMatcher::Exact(origin.clone()));
        }
    }
    policy
}

fn regex_escape_wildcard(origin: &str) -> String {
    origin
        .split('*')
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(".*")
}
