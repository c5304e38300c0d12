//! GRPCRoute rules → IR routes. A gRPC method is the path
//! `/{service}/{method}`; backends are always spoken to over HTTP/2.

use vestibule_api::gateway_api::{GrpcMethodMatch, GrpcRouteRule};
use vestibule_api::GrpcRoute;
use vestibule_ir::{
    DirectResponse, HeaderMatch, PathMatch, Pattern, RetryPolicy, Route, RouteAction, RouteMatch,
    RouteOrigin,
};

use super::http::{self, Context, Filters, Precedence, Problems};

pub(crate) fn routes(route: &GrpcRoute, cx: &mut Context<'_, '_>) -> Vec<(Precedence, Route)> {
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
    route: &GrpcRoute,
    rule: &GrpcRouteRule,
    index: usize,
    created: &str,
    cx: &mut Context<'_, '_>,
) -> Vec<(Precedence, Route)> {
    let mut out = Vec::new();
    {
        let filters = Filters::collect(&rule.filters, cx);
        let action = if filters.invalid {
            RouteAction::DirectResponse(http::internal_error())
        } else {
            unavailable_when_all_invalid(http::forward(&rule.backend_refs, &filters, cx))
        };
        let name = match &rule.name {
            Some(name) => format!("{}.{}.{name}", route.namespace(), route.name()),
            None => format!("{}.{}.{index}", route.namespace(), route.name()),
        };
        let template = Route {
            name,
            origin: RouteOrigin {
                kind: "GRPCRoute",
                namespace: route.namespace().to_owned(),
                name: route.name().to_owned(),
            },
            matches: Vec::new(),
            action,
            request_headers: filters.request_headers,
            response_headers: filters.response_headers,
            timeout: None,
            retry: RetryPolicy::istio_default(),
            cors: None,
            fault: None,
        };
        let matches = if rule.matches.is_empty() {
            vec![Default::default()]
        } else {
            rule.matches.clone()
        };
        for (match_index, input) in matches.iter().enumerate() {
            let path = match method_path(input.method.as_ref()) {
                Ok(path) => path,
                Err(message) => {
                    cx.problems.unsupported.get_or_insert(message);
                    continue;
                }
            };
            let headers = match http::value_matches(&input.headers, true) {
                Ok(headers) => headers,
                Err(message) => {
                    cx.problems.unsupported.get_or_insert(message);
                    continue;
                }
            };
            let route_match = RouteMatch {
                path: Some(path),
                headers: headers
                    .into_iter()
                    .map(|(name, matcher)| HeaderMatch {
                        name,
                        matcher: Some(matcher),
                        invert: false,
                    })
                    .collect(),
                ..RouteMatch::default()
            };
            let method = input.method.as_ref();
            let length = |field: Option<&String>| field.map_or(0, String::len);
            let precedence = Precedence::grpc(
                length(method.and_then(|m| m.service.as_ref())),
                length(method.and_then(|m| m.method.as_ref())),
                route_match.headers.len(),
                created,
                route.namespace(),
                route.name(),
                index,
                match_index,
            );
            let mut ir = template.clone();
            ir.matches = vec![route_match];
            out.push((precedence, ir));
        }
    }
    out
}

/// "If *all* entries in BackendRefs are invalid, and there are also no
/// filters specified in this route rule, *all* traffic which matches this
/// rule MUST receive an `UNAVAILABLE` status": HTTP 503, which gRPC clients
/// read as UNAVAILABLE (500 would read as UNKNOWN).
fn unavailable_when_all_invalid(action: RouteAction) -> RouteAction {
    let all_invalid = match &action {
        RouteAction::Forward(forward) => forward.backends.iter().all(|b| b.backend.is_none()),
        RouteAction::DirectResponse(direct) => direct.status == 500,
        RouteAction::Redirect(_) => false,
    };
    if all_invalid {
        RouteAction::DirectResponse(DirectResponse {
            status: 503,
            body: Vec::new(),
        })
    } else {
        action
    }
}

/// `Exact` service and method → the exact path; service only → the
/// service's prefix; method only, or `RegularExpression` → a regex.
fn method_path(method: Option<&GrpcMethodMatch>) -> Result<PathMatch, String> {
    let Some(method) = method else {
        return Ok(PathMatch::Prefix {
            value: "/".to_owned(),
            ignore_case: false,
        });
    };
    let service = method.service.as_deref().filter(|s| !s.is_empty());
    let name = method.method.as_deref().filter(|m| !m.is_empty());
    match method.match_type.as_deref().unwrap_or("Exact") {
        "Exact" => Ok(match (service, name) {
            (Some(service), Some(name)) => PathMatch::Exact {
                value: format!("/{service}/{name}"),
                ignore_case: false,
            },
            (Some(service), None) => PathMatch::Prefix {
                value: format!("/{service}/"),
                ignore_case: false,
            },
            (None, Some(name)) => PathMatch::Regex {
                pattern: Pattern::new(&format!("/[^/]+/{}", regex::escape(name)))
                    .map_err(|e| e.to_string())?,
            },
            (None, None) => PathMatch::Prefix {
                value: "/".to_owned(),
                ignore_case: false,
            },
        }),
        "RegularExpression" => {
            let pattern = format!(
                "/{}/{}",
                service.unwrap_or("[^/]+"),
                name.unwrap_or("[^/]+")
            );
            Ok(PathMatch::Regex {
                pattern: Pattern::new(&pattern).map_err(|e| format!("method regex: {e}"))?,
            })
        }
        other => Err(format!("method match type {other:?} is not supported")),
    }
}
