//! Istio `VirtualService.http[]` rules → IR routes. Each match of a rule
//! becomes its own route, as Istio makes one Envoy route per match: order is
//! kept, and catch-all detection works per match.

use vestibule_api::istio::{Destination, HeaderOperations, Headers, HttpRetry, HttpRoute};
use vestibule_api::VirtualService;
use vestibule_ir::{
    CorsPolicy, DirectResponse, Forward, HeaderMutations, Mirror, PathRewrite, Redirect, RetryOn,
    RetryPolicy, Route, RouteAction, RouteMatch, RouteOrigin, WeightedBackend,
};

use super::gateway::GatewayKey;
use super::matches::{convert_match, validate_header_name, FieldError};
use crate::builder::TableBuilder;
use crate::duration::parse_duration;
use crate::services::Registry;

/// Istio's limit on a direct response body (`DefaultMaxDirectResponseBodySizeBytes`).
const MAX_DIRECT_RESPONSE_BODY: usize = 1 << 20;

/// A route with the conditions under which a gateway server gets it.
pub(crate) struct CandidateRoute {
    pub route: Route,
    /// Match-level `gateways`, overriding the VirtualService's; empty = inherit.
    pub gateways: Vec<GatewayKey>,
    /// Match-level `port`: only the server on this port gets the route.
    pub port: Option<u32>,
}

/// Validation problems reject the whole VirtualService (as Istio's webhook
/// would); reference problems only drop what they affect (`warnings`).
pub(crate) struct Converted {
    pub routes: Vec<CandidateRoute>,
    pub warnings: Vec<String>,
}

pub(crate) fn convert(
    vs: &VirtualService,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
) -> Result<Converted, FieldError> {
    let mut converted = Converted {
        routes: Vec::new(),
        warnings: Vec::new(),
    };
    for (index, rule) in vs.spec.http.iter().enumerate() {
        let field = format!("spec.http[{index}]");
        let Some(template) = rule_template(
            vs,
            rule,
            index,
            &field,
            registry,
            builder,
            &mut converted.warnings,
        )?
        else {
            continue;
        };
        if rule.matches.is_empty() {
            converted.routes.push(CandidateRoute {
                route: template,
                gateways: Vec::new(),
                port: None,
            });
            continue;
        }
        for (match_index, input) in rule.matches.iter().enumerate() {
            let route_match = convert_match(input, &format!("{field}.match[{match_index}]"))?;
            let mut route = template.clone();
            if let Some(name) = input.name.as_deref().filter(|name| !name.is_empty()) {
                route.name = format!("{}.{name}", route.name);
            }
            route.matches = vec![route_match];
            converted.routes.push(CandidateRoute {
                route,
                gateways: input
                    .gateways
                    .iter()
                    .filter_map(|gateway| gateway_key(gateway, vs.namespace()))
                    .collect(),
                port: input.port,
            });
        }
    }
    Ok(converted)
}

/// Resolves a `gateways` entry: `name` (the VirtualService's namespace),
/// `namespace/name`, or `mesh` (not an ingress gateway: `None`).
pub(crate) fn gateway_key(entry: &str, namespace: &str) -> Option<GatewayKey> {
    match entry.split_once('/') {
        _ if entry == "mesh" => None,
        Some((namespace, name)) => Some((namespace.to_owned(), name.to_owned())),
        None => Some((namespace.to_owned(), entry.to_owned())),
    }
}

/// The route a rule produces, without its matches. `None` when the rule is
/// skipped (with a warning).
fn rule_template(
    vs: &VirtualService,
    rule: &HttpRoute,
    index: usize,
    field: &str,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<String>,
) -> Result<Option<Route>, FieldError> {
    let Some(action) = action(vs, rule, field, registry, builder, warnings)? else {
        return Ok(None);
    };
    for unsupported in unsupported_fields(rule) {
        warnings.push(format!(
            "{field}.{unsupported} is not supported yet and is ignored"
        ));
    }
    let (request_headers, response_headers) = header_mutations(rule.headers.as_ref(), field)?;
    let timeout = match rule.timeout.as_deref() {
        Some(value) => Some(parse_duration(value).map_err(|e| (format!("{field}.timeout"), e))?),
        None => None,
    }
    .filter(|timeout| !timeout.is_zero());
    let name = rule
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("{}.{}.{index}", vs.namespace(), vs.name()));
    Ok(Some(Route {
        name,
        origin: RouteOrigin {
            kind: "VirtualService".to_owned(),
            namespace: vs.namespace().to_owned(),
            name: vs.name().to_owned(),
        },
        matches: vec![RouteMatch::default()],
        action,
        request_headers,
        response_headers,
        timeout,
        retry: retry_policy(rule.retries.as_ref(), field)?,
        cors: match &rule.cors_policy {
            Some(policy) => Some(cors(policy, &format!("{field}.corsPolicy"))?),
            None => None,
        },
    }))
}

fn unsupported_fields(rule: &HttpRoute) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if rule.fault.is_some() {
        fields.push("fault");
    }
    fields
}

fn action(
    vs: &VirtualService,
    rule: &HttpRoute,
    field: &str,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<String>,
) -> Result<Option<RouteAction>, FieldError> {
    let kinds = [
        !rule.route.is_empty(),
        rule.redirect.is_some(),
        rule.direct_response.is_some(),
        rule.delegate.is_some(),
    ];
    match kinds.iter().filter(|set| **set).count() {
        0 => {
            return Err((
                field.to_owned(),
                "rule needs one of route, redirect, directResponse or delegate".to_owned(),
            ))
        }
        1 => {}
        _ => {
            return Err((
                field.to_owned(),
                "only one of route, redirect, directResponse or delegate may be set".to_owned(),
            ))
        }
    }
    if rule.redirect.is_some() && rule.rewrite.is_some() {
        return Err((
            field.to_owned(),
            "redirect and rewrite cannot both be set".to_owned(),
        ));
    }
    if rule.delegate.is_some() {
        warnings.push(format!(
            "{field}.delegate is not supported yet; rule skipped"
        ));
        return Ok(None);
    }
    if let Some(redirect) = &rule.redirect {
        let status = redirect.redirect_code.unwrap_or(301);
        if !(300..400).contains(&status) {
            return Err((
                format!("{field}.redirect.redirectCode"),
                format!("redirect code {status} is not a 3xx code"),
            ));
        }
        return Ok(Some(RouteAction::Redirect(Redirect {
            scheme: redirect.scheme.clone(),
            host: redirect.authority.clone(),
            port: redirect.port.and_then(|port| u16::try_from(port).ok()),
            path: redirect.uri.clone().map(PathRewrite::Full),
            status: status as u16,
        })));
    }
    if let Some(direct) = &rule.direct_response {
        let body = direct
            .body
            .as_ref()
            .and_then(|body| body.string.clone())
            .unwrap_or_default();
        if body.len() > MAX_DIRECT_RESPONSE_BODY || !(200..600).contains(&direct.status) {
            return Err((
                format!("{field}.directResponse"),
                "status must be 200-599 and the body at most 1 MiB".to_owned(),
            ));
        }
        return Ok(Some(RouteAction::DirectResponse(DirectResponse {
            status: direct.status as u16,
            body,
        })));
    }
    forward(vs, rule, field, registry, builder, warnings).map(Some)
}

fn forward(
    vs: &VirtualService,
    rule: &HttpRoute,
    field: &str,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<String>,
) -> Result<RouteAction, FieldError> {
    let weights = weights(
        &rule.route.iter().map(|d| d.weight).collect::<Vec<_>>(),
        field,
    )?;
    let mut backends = Vec::new();
    for (index, (destination, weight)) in rule.route.iter().zip(weights).enumerate() {
        if weight == 0 {
            continue;
        }
        let field = format!("{field}.route[{index}]");
        let backend = destination_backend(
            vs,
            &destination.destination,
            &field,
            registry,
            builder,
            warnings,
        );
        let (request_headers, response_headers) =
            header_mutations(destination.headers.as_ref(), &field)?;
        backends.push(WeightedBackend {
            backend: Some(backend),
            weight,
            request_headers,
            response_headers,
            path_rewrite: None,
            host_rewrite: None,
            redirect: None,
        });
    }
    let rewrite = rule.rewrite.as_ref();
    let path_rewrite = match rewrite {
        Some(rewrite) if rewrite.uri.is_some() && rewrite.uri_regex_rewrite.is_some() => {
            return Err((
                format!("{field}.rewrite"),
                "uri and uriRegexRewrite cannot both be set".to_owned(),
            ))
        }
        Some(rewrite) => match (&rewrite.uri, &rewrite.uri_regex_rewrite) {
            (Some(uri), _) => Some(PathRewrite::Prefix(uri.clone())),
            (None, Some(regex)) => Some(PathRewrite::Regex {
                pattern: vestibule_ir::Pattern::unanchored(&regex.pattern).map_err(|error| {
                    (
                        format!("{field}.rewrite.uriRegexRewrite.match"),
                        error.to_string(),
                    )
                })?,
                substitution: regex.rewrite.clone(),
            }),
            (None, None) => None,
        },
        None => None,
    };
    if rule.mirror.is_some() && !rule.mirrors.is_empty() {
        return Err((
            field.to_owned(),
            "mirror and mirrors cannot both be set".to_owned(),
        ));
    }
    let mirrors = mirrors(vs, rule, field, registry, builder, warnings);
    Ok(RouteAction::Forward(Forward {
        backends,
        mirrors,
        path_rewrite,
        host_rewrite: rewrite.and_then(|rewrite| rewrite.authority.clone()),
    }))
}

/// The backend of a `route[].destination` (`field` names the entry): the
/// Service or ServiceEntry it names, or (with a warning) a backend without
/// endpoints, as Istio routes to a cluster that does not exist.
pub(crate) fn destination_backend(
    vs: &VirtualService,
    destination: &Destination,
    field: &str,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<String>,
) -> String {
    let port = destination
        .port
        .as_ref()
        .and_then(|port| u16::try_from(port.number).ok())
        .filter(|port| *port != 0);
    // A subset's labels come from the DestinationRules, read after every
    // route (`destination_rules::apply`, which also reports an undefined one).
    let subset = destination.subset.as_deref().filter(|s| !s.is_empty());
    match registry.resolve(&destination.host, vs.namespace(), port) {
        Ok(target) => match subset {
            Some(subset) => builder.subset_backend(&target, subset),
            None => builder.backend(registry, &target),
        },
        Err(error) => {
            warnings.push(format!("{field}.destination: {error}"));
            builder.missing_backend(&destination.host, vs.namespace(), port)
        }
    }
}

/// Istio weights of a rule's `route` entries: one destination gets
/// everything whatever its weight; with several, weights are relative, 0
/// drops a destination, and they may not all be 0. Unset weights count as
/// 0 unless none is set (equal split).
pub(crate) fn weights(given: &[Option<i64>], field: &str) -> Result<Vec<u32>, FieldError> {
    if given.len() == 1 {
        return Ok(vec![1]);
    }
    if given.iter().all(Option::is_none) {
        return Ok(vec![1; given.len()]);
    }
    let mut weights = Vec::with_capacity(given.len());
    for (index, weight) in given.iter().enumerate() {
        let weight = weight.unwrap_or(0);
        let weight = u32::try_from(weight).map_err(|_| {
            (
                format!("{field}.route[{index}].weight"),
                format!("weight {weight} must not be negative"),
            )
        })?;
        weights.push(weight);
    }
    if weights.iter().all(|weight| *weight == 0) {
        return Err((
            format!("{field}.route"),
            "total weight must not be 0".to_owned(),
        ));
    }
    Ok(weights)
}

fn header_mutations(
    headers: Option<&Headers>,
    field: &str,
) -> Result<(HeaderMutations, HeaderMutations), FieldError> {
    let Some(headers) = headers else {
        return Ok(Default::default());
    };
    Ok((
        operations(
            headers.request.as_ref(),
            &format!("{field}.headers.request"),
        )?,
        operations(
            headers.response.as_ref(),
            &format!("{field}.headers.response"),
        )?,
    ))
}

fn operations(ops: Option<&HeaderOperations>, field: &str) -> Result<HeaderMutations, FieldError> {
    let Some(ops) = ops else {
        return Ok(HeaderMutations::default());
    };
    let pairs = |map: &std::collections::BTreeMap<String, String>, list: &str| {
        map.iter()
            .map(|(name, value)| {
                let field = format!("{field}.{list}.{name}");
                validate_header_name(name, &field)?;
                http::HeaderValue::from_str(value)
                    .map_err(|_| (field.clone(), format!("invalid header value {value:?}")))?;
                Ok((name.to_ascii_lowercase(), value.clone()))
            })
            .collect::<Result<Vec<_>, FieldError>>()
    };
    let remove = ops
        .remove
        .iter()
        .map(|name| {
            validate_header_name(name, &format!("{field}.remove"))?;
            Ok(name.to_ascii_lowercase())
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    Ok(HeaderMutations {
        set: pairs(&ops.set, "set")?,
        add: pairs(&ops.add, "add")?,
        remove,
    })
}

/// No `retries` means Istio's default policy; `attempts: 0` disables.
fn retry_policy(retries: Option<&HttpRetry>, field: &str) -> Result<RetryPolicy, FieldError> {
    let Some(retries) = retries else {
        return Ok(RetryPolicy::istio_default());
    };
    if retries.attempts <= 0 {
        return Ok(RetryPolicy::disabled());
    }
    let mut policy = RetryPolicy::istio_default();
    policy.attempts = u32::try_from(retries.attempts).unwrap_or(u32::MAX);
    if let Some(value) = retries.per_try_timeout.as_deref() {
        policy.per_try_timeout =
            Some(parse_duration(value).map_err(|e| (format!("{field}.retries.perTryTimeout"), e))?);
    }
    if let Some(retry_on) = retries.retry_on.as_deref().filter(|v| !v.trim().is_empty()) {
        policy.retry_on = RetryOn::default();
        policy.retriable_status_codes.clear();
        for token in retry_on.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            apply_retry_token(&mut policy, token)
                .map_err(|message| (format!("{field}.retries.retryOn"), message))?;
        }
    }
    Ok(policy)
}

fn apply_retry_token(policy: &mut RetryPolicy, token: &str) -> Result<(), String> {
    let on = &mut policy.retry_on;
    match token {
        "connect-failure" => on.connect_failure = true,
        "refused-stream" => on.refused_stream = true,
        "unavailable" => on.unavailable = true,
        "cancelled" => on.cancelled = true,
        "5xx" => on.server_errors = true,
        "gateway-error" => on.gateway_errors = true,
        "reset" | "reset-before-request" => on.reset = true,
        "retriable-status-codes" => on.retriable_status_codes = true,
        // Accepted for compatibility; vestibule has no equivalent condition.
        "retriable-4xx"
        | "retriable-headers"
        | "envoy-ratelimited"
        | "deadline-exceeded"
        | "internal"
        | "resource-exhausted"
        | "http3-post-connect-failure" => {}
        code => {
            let status: u16 = code
                .parse()
                .ok()
                .filter(|status| (100..600).contains(status))
                .ok_or_else(|| format!("unknown retryOn condition {code:?}"))?;
            on.retriable_status_codes = true;
            policy.retriable_status_codes.push(status);
        }
    }
    Ok(())
}

/// `mirror` + `mirrorPercentage`, or `mirrors[]`; an unset percentage is
/// 100 % (unlike fault injection, where it is 0 %).
fn mirrors(
    vs: &VirtualService,
    rule: &HttpRoute,
    field: &str,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<String>,
) -> Vec<Mirror> {
    let single = rule.mirror.iter().map(|destination| {
        (
            destination,
            rule.mirror_percentage.as_ref(),
            format!("{field}.mirror"),
        )
    });
    let listed = rule.mirrors.iter().enumerate().map(|(index, mirror)| {
        (
            &mirror.destination,
            mirror.percentage.as_ref(),
            format!("{field}.mirrors[{index}]"),
        )
    });
    single
        .chain(listed)
        .map(|(destination, percentage, field)| {
            let port = destination
                .port
                .as_ref()
                .and_then(|port| u16::try_from(port.number).ok())
                .filter(|port| *port != 0);
            let backend = match registry.resolve(&destination.host, vs.namespace(), port) {
                Ok(target) => Some(builder.backend(registry, &target)),
                Err(error) => {
                    warnings.push(format!("{field}: {error}; not mirrored"));
                    None
                }
            };
            Mirror {
                backend,
                percent: percentage.map_or(100.0, |p| p.value.clamp(0.0, 100.0)),
            }
        })
        .collect()
}

fn cors(policy: &vestibule_api::istio::CorsPolicy, field: &str) -> Result<CorsPolicy, FieldError> {
    let mut allow_any_origin = false;
    let mut allow_origins = Vec::new();
    for (index, origin) in policy.allow_origins.iter().enumerate() {
        if origin.exact.as_deref() == Some("*") {
            allow_any_origin = true;
            continue;
        }
        let field = format!("{field}.allowOrigins[{index}]");
        if let Some(matcher) = super::matches::string_matcher(origin, &field)? {
            allow_origins.push(matcher);
        }
    }
    let max_age_seconds = match policy.max_age.as_deref() {
        Some(value) => Some(
            parse_duration(value)
                .map_err(|e| (format!("{field}.maxAge"), e))?
                .as_secs(),
        ),
        None => None,
    };
    Ok(CorsPolicy {
        allow_origins,
        allow_any_origin,
        allow_methods: policy.allow_methods.clone(),
        allow_headers: policy.allow_headers.clone(),
        expose_headers: policy.expose_headers.clone(),
        max_age_seconds,
        allow_credentials: policy.allow_credentials.unwrap_or(false),
        forward_unmatched_preflights: !policy
            .unmatched_preflights
            .as_deref()
            .is_some_and(|mode| mode.eq_ignore_ascii_case("IGNORE")),
    })
}
