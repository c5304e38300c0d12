//! Istio `VirtualService.http[]` rules → IR routes. Each match of a rule
//! becomes its own route, as Istio makes one Envoy route per match: order is
//! kept, and catch-all detection works per match.

use std::borrow::Cow;

use base64::Engine as _;
use vestibule_api::istio::{
    Destination, HeaderOperations, Headers, HttpDirectResponse, HttpMatchRequest, HttpRedirect,
    HttpRewrite, HttpRoute,
};
use vestibule_api::VirtualService;
use vestibule_ir::status::{Warning, WarningKind};
use vestibule_ir::{
    CorsPolicy, DerivePort, DirectResponse, FaultInjection, Forward, HeaderMutations, Mirror,
    PathRewrite, Redirect, RetryPolicy, Route, RouteAction, RouteMatch, RouteOrigin,
    WeightedBackend,
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
    /// Match-level `gateways`, overriding the VirtualService's; `None` =
    /// inherit. `Some` of an empty list (only `mesh` named) applies at no
    /// gateway.
    pub gateways: Option<Vec<GatewayKey>>,
    /// Match-level `port`: only the server on this port gets the route.
    pub port: Option<u32>,
}

/// Validation problems reject the whole VirtualService (as Istio's webhook
/// would); reference problems only drop what they affect (`warnings`).
pub(crate) struct Converted {
    pub routes: Vec<CandidateRoute>,
    pub warnings: Vec<Warning>,
}

/// One `http[]` rule as the gateway applies it: a rule of the
/// VirtualService itself, or a delegate's rule merged into its root's
/// (see [`super::delegates`]).
pub(crate) struct Rule<'a> {
    pub rule: Cow<'a, HttpRoute>,
    /// Where the rule is, for errors and warnings (`spec.http[2]`).
    pub field: String,
    /// The route name when the rule has none.
    pub default_name: String,
    /// Its reference problems are said elsewhere (a delegate's rule: on
    /// the delegate's own status), so converting it warns about nothing.
    pub quiet: bool,
}

/// The rules of `vs` as written.
pub(crate) fn own_rules(vs: &VirtualService) -> Vec<Rule<'_>> {
    let (namespace, name) = (vs.namespace(), vs.name());
    vs.spec
        .http
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            // Pushed piece by piece: `format!` costs more than the rest of
            // a rule's names with ten thousand VirtualServices.
            let index = index.to_string();
            let mut field = String::with_capacity("spec.http[]".len() + index.len());
            field.push_str("spec.http[");
            field.push_str(&index);
            field.push(']');
            let mut default_name =
                String::with_capacity(namespace.len() + name.len() + index.len() + 2);
            default_name.push_str(namespace);
            default_name.push('.');
            default_name.push_str(name);
            default_name.push('.');
            default_name.push_str(&index);
            Rule {
                rule: Cow::Borrowed(rule),
                field,
                default_name,
                quiet: false,
            }
        })
        .collect()
}

/// Converts `rules` (the rules of `vs`, delegates merged in) into routes.
pub(crate) fn convert(
    vs: &VirtualService,
    rules: &[Rule<'_>],
    identity: &crate::GatewayIdentity,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
) -> Result<Converted, FieldError> {
    let mut converted = Converted {
        routes: Vec::new(),
        warnings: Vec::new(),
    };
    let mut unsaid = Vec::new();
    for rule in rules {
        let warnings = if rule.quiet {
            &mut unsaid
        } else {
            &mut converted.warnings
        };
        let field = rule.field.as_str();
        let Some(template) = rule_template(vs, rule, registry, builder, warnings)? else {
            continue;
        };
        let rule = rule.rule.as_ref();
        if rule.matches.is_empty() {
            converted.routes.push(CandidateRoute {
                route: template,
                gateways: None,
                port: None,
            });
            continue;
        }
        let last = rule.matches.len() - 1;
        let mut template = Some(template);
        for (match_index, input) in rule.matches.iter().enumerate() {
            let match_field = entry_field(field, ".match", match_index);
            let route_match = convert_match(input, &match_field)?;
            if !source_applies(input, identity, &match_field, warnings) {
                continue;
            }
            // The last match takes the template itself.
            let template = if match_index == last {
                template.take()
            } else {
                template.clone()
            };
            let Some(mut route) = template else {
                continue;
            };
            if let Some(name) = input.name.as_deref().filter(|name| !name.is_empty()) {
                route.name = format!("{}.{name}", route.name);
            }
            route.matches = vec![route_match];
            converted.routes.push(CandidateRoute {
                route,
                gateways: (!input.gateways.is_empty()).then(|| {
                    input
                        .gateways
                        .iter()
                        .filter_map(|gateway| gateway_key(gateway, vs.namespace()))
                        .collect()
                }),
                port: input.port,
            });
        }
    }
    Ok(converted)
}

/// `{field}{list}[{index}]`, the name of a list's entry in messages
/// (`spec.http[0].match[1]`). Pieced together rather than formatted: every
/// match and destination of every rule is named whether or not a message
/// uses the name, and `format!` cost several times as much.
fn entry_field(field: &str, list: &str, index: usize) -> String {
    [field, list, "[", &index.to_string(), "]"].concat()
}

/// Istio `sourceMatchHTTP`: a match without `gateways` applies to a proxy
/// only when its `sourceLabels` are a subset of that proxy's own labels and
/// its `sourceNamespace` (if any) is the proxy's namespace. At a gateway the
/// proxy is the gateway itself, so these select gateways, not clients: both
/// are ignored when the match names `gateways`, as in Istio. Either way the
/// field does not filter requests, which `/status` says.
fn source_applies(
    input: &HttpMatchRequest,
    identity: &crate::GatewayIdentity,
    field: &str,
    warnings: &mut Vec<Warning>,
) -> bool {
    if input.source_labels.is_empty() && input.source_namespace.is_none() {
        return true;
    }
    let applies = input.gateways.is_empty()
        && input
            .source_labels
            .iter()
            .all(|(key, value)| identity.labels.get(key) == Some(value))
        && input
            .source_namespace
            .as_deref()
            .is_none_or(|namespace| namespace.is_empty() || namespace == identity.namespace);
    let (kind, outcome) = if !input.gateways.is_empty() {
        (
            WarningKind::NotApplied,
            "ignored because the match names gateways",
        )
    } else if applies {
        (
            WarningKind::Other,
            "matches this gateway's own labels and namespace, so the match applies to every client",
        )
    } else {
        (
            WarningKind::NotApplied,
            "does not match this gateway's own labels and namespace, so the match is not served",
        )
    };
    warnings.push(Warning::new(
        kind,
        format!(
            "{field}.sourceLabels/sourceNamespace select proxies, not clients (as in Istio): \
             {outcome}"
        ),
    ));
    applies || !input.gateways.is_empty()
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
    rule: &Rule<'_>,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Route>, FieldError> {
    let (field, rule, default_name) = (rule.field.as_str(), rule.rule.as_ref(), &rule.default_name);
    let Some(action) = action(vs, rule, field, registry, builder, warnings)? else {
        return Ok(None);
    };
    let policies = policies(rule, field, warnings)?;
    let name = rule
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| default_name.clone());
    Ok(Some(Route {
        name,
        origin: RouteOrigin {
            kind: "VirtualService",
            namespace: vs.namespace().to_owned(),
            name: vs.name().to_owned(),
        },
        matches: vec![RouteMatch::default()],
        action,
        request_headers: policies.request_headers,
        response_headers: policies.response_headers,
        timeout: policies.timeout,
        retry: policies.retry,
        cors: policies.cors.map(Box::new),
        fault: policies.fault.map(Box::new),
    }))
}

/// What a rule sets around its action: the fields a delegate's rules
/// inherit from their root's when they leave them unset.
pub(super) struct Policies {
    fault: Option<FaultInjection>,
    request_headers: HeaderMutations,
    response_headers: HeaderMutations,
    timeout: Option<std::time::Duration>,
    retry: RetryPolicy,
    cors: Option<CorsPolicy>,
}

pub(super) fn policies(
    rule: &HttpRoute,
    field: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Policies, FieldError> {
    let fault = match &rule.fault {
        Some(fault) => super::faults::convert(fault, &format!("{field}.fault"), warnings)?,
        None => None,
    };
    let (request_headers, response_headers) = header_mutations(rule.headers.as_deref(), field)?;
    let timeout = match rule.timeout.as_deref() {
        Some(value) => Some(parse_duration(value).map_err(|e| (format!("{field}.timeout"), e))?),
        None => None,
    }
    .filter(|timeout| !timeout.is_zero());
    Ok(Policies {
        fault,
        request_headers,
        response_headers,
        timeout,
        retry: super::retries::retry_policy(rule.retries.as_deref(), field)?,
        cors: match &rule.cors_policy {
            Some(policy) => Some(cors(policy, &format!("{field}.corsPolicy"))?),
            None => None,
        },
    })
}

fn action(
    vs: &VirtualService,
    rule: &HttpRoute,
    field: &str,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<Warning>,
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
        // A root's delegating rules were replaced by their delegates'
        // rules (`delegates::expand`): this is a delegate's own rule.
        warnings.push(Warning::not_applied(format!(
            "{field}.delegate: a delegate VirtualService (one without hosts) cannot delegate \
             again, as Istio allows one level of delegation only: rule skipped"
        )));
        return Ok(None);
    }
    if let Some(redirect) = &rule.redirect {
        return self::redirect(redirect, &format!("{field}.redirect")).map(Some);
    }
    if let Some(direct) = &rule.direct_response {
        return direct_response(direct, &format!("{field}.directResponse")).map(Some);
    }
    forward(vs, rule, field, registry, builder, warnings).map(Some)
}

fn redirect(redirect: &HttpRedirect, field: &str) -> Result<RouteAction, FieldError> {
    let status = redirect.redirect_code.unwrap_or(301);
    if !(300..400).contains(&status) {
        return Err((
            format!("{field}.redirectCode"),
            format!("redirect code {status} is not a 3xx code"),
        ));
    }
    let path = match (&redirect.uri, &redirect.prefix_rewrite) {
        (Some(_), Some(_)) => {
            return Err((
                field.to_owned(),
                "uri and prefixRewrite cannot both be set".to_owned(),
            ))
        }
        (Some(uri), None) => Some(PathRewrite::Full(uri.clone())),
        // Envoy's `prefix_rewrite`: the matched prefix is replaced, as a
        // forwarding rule's `rewrite.uri` does.
        (None, Some(prefix)) => Some(PathRewrite::Prefix(prefix.clone())),
        (None, None) => None,
    };
    let derive_port = match redirect.derive_port.as_deref() {
        None => None,
        Some(_) if redirect.port.is_some() => {
            return Err((
                field.to_owned(),
                "port and derivePort cannot both be set".to_owned(),
            ))
        }
        Some("FROM_PROTOCOL_DEFAULT") => Some(DerivePort::FromProtocolDefault),
        Some("FROM_REQUEST_PORT") => Some(DerivePort::FromRequestPort),
        Some(other) => {
            return Err((
                format!("{field}.derivePort"),
                format!("{other:?} is not FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT"),
            ))
        }
    };
    Ok(RouteAction::Redirect(Redirect {
        scheme: redirect.scheme.clone(),
        host: redirect.authority.clone(),
        port: redirect.port.and_then(|port| u16::try_from(port).ok()),
        derive_port,
        path: path.map(Box::new),
        status: status as u16,
    }))
}

/// `body.string` as is, `body.bytes` decoded from base64 (the YAML form of
/// a protobuf `bytes` field).
pub(super) fn direct_response(
    direct: &HttpDirectResponse,
    field: &str,
) -> Result<RouteAction, FieldError> {
    let body = match direct.body.as_ref() {
        Some(body) if body.string.is_some() && body.bytes.is_some() => {
            return Err((
                format!("{field}.body"),
                "only one of string and bytes may be set".to_owned(),
            ))
        }
        Some(body) => match (&body.string, &body.bytes) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|error| {
                    (
                        format!("{field}.body.bytes"),
                        format!("not base64: {error}"),
                    )
                })?,
            (None, None) => Vec::new(),
        },
        None => Vec::new(),
    };
    if body.len() > MAX_DIRECT_RESPONSE_BODY || !(200..600).contains(&direct.status) {
        return Err((
            field.to_owned(),
            "status must be 200-599 and the body at most 1 MiB".to_owned(),
        ));
    }
    Ok(RouteAction::DirectResponse(DirectResponse {
        status: direct.status as u16,
        body,
    }))
}

fn forward(
    vs: &VirtualService,
    rule: &HttpRoute,
    field: &str,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<Warning>,
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
        let field = entry_field(field, ".route", index);
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
        Some(rewrite) => path_rewrite(rewrite, field)?,
        None => None,
    };
    let mirrors = mirrors(vs, rule, field, registry, builder, warnings)?;
    Ok(RouteAction::Forward(Forward {
        backends,
        mirrors,
        path_rewrite: path_rewrite.map(Box::new),
        host_rewrite: rewrite.and_then(|rewrite| rewrite.authority.clone()),
    }))
}

/// `rewrite.uri` (the matched prefix replaced) or `rewrite.uriRegexRewrite`.
pub(super) fn path_rewrite(
    rewrite: &HttpRewrite,
    field: &str,
) -> Result<Option<PathRewrite>, FieldError> {
    Ok(match (&rewrite.uri, &rewrite.uri_regex_rewrite) {
        (Some(_), Some(_)) => {
            return Err((
                format!("{field}.rewrite"),
                "uri and uriRegexRewrite cannot both be set".to_owned(),
            ))
        }
        (Some(uri), None) => Some(PathRewrite::Prefix(uri.clone())),
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
    })
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
    warnings: &mut Vec<Warning>,
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
            warnings.push(Warning::other(format!("{field}.destination: {error}")));
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
    Ok(HeaderMutations::new(
        pairs(&ops.set, "set")?,
        pairs(&ops.add, "add")?,
        remove,
    ))
}

/// `mirror` + `mirrorPercentage`, or `mirrors[]`; an unset percentage is
/// 100 % (unlike fault injection, where it is 0 %).
pub(super) fn mirrors(
    vs: &VirtualService,
    rule: &HttpRoute,
    field: &str,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Mirror>, FieldError> {
    if rule.mirror.is_some() && !rule.mirrors.is_empty() {
        return Err((
            field.to_owned(),
            "mirror and mirrors cannot both be set".to_owned(),
        ));
    }
    let single = rule.mirror.iter().map(|destination| {
        (
            &**destination,
            rule.mirror_percentage.as_deref(),
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
    Ok(single
        .chain(listed)
        .map(|(destination, percentage, field)| {
            let port = destination
                .port
                .as_ref()
                .and_then(|port| u16::try_from(port.number).ok())
                .filter(|port| *port != 0);
            // A subset mirrors to its endpoints only, as a route's would.
            let subset = destination.subset.as_deref().filter(|s| !s.is_empty());
            let backend = match registry.resolve(&destination.host, vs.namespace(), port) {
                Ok(target) => Some(match subset {
                    Some(subset) => builder.subset_backend(&target, subset),
                    None => builder.backend(registry, &target),
                }),
                Err(error) => {
                    warnings.push(Warning::not_applied(format!(
                        "{field}: {error}; not mirrored"
                    )));
                    None
                }
            };
            Mirror {
                backend,
                percent: percentage.map_or(100.0, |p| p.value.clamp(0.0, 100.0)),
            }
        })
        .collect())
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
