//! One served Ingress → routes gathered per host, its default backend, and
//! warnings for everything dropped. Problems drop the path (or rule) they
//! affect, never the whole Ingress: its other paths keep being served.

use vestibule_api::ingress::{HttpIngressPath, IngressBackend};
use vestibule_api::Ingress;
use vestibule_ir::status::Warning;
use vestibule_ir::{
    Forward, PathMatch, RetryPolicy, Route, RouteAction, RouteMatch, RouteOrigin, WeightedBackend,
};

use super::backend::{self, Env};
use super::hosts::{self, Gathered};
use super::paths::{self, Rank};
use crate::builder::TableBuilder;

/// Gathers the routes of `ingress`; returns its warnings.
pub(crate) fn convert(
    ingress: &Ingress,
    env: &Env<'_, '_>,
    builder: &mut TableBuilder,
    gathered: &mut Gathered,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for (index, rule) in ingress.spec.rules.iter().enumerate() {
        let pattern = match hosts::parse(rule.host.as_deref()) {
            Ok(pattern) => pattern,
            Err(error) => {
                warnings.push(Warning::not_applied(format!(
                    "spec.rules[{index}].host: {error}; rule dropped"
                )));
                continue;
            }
        };
        let paths = rule.http.iter().flat_map(|http| &http.paths);
        for (path_index, path) in paths.enumerate() {
            let at = (index, path_index);
            if let Some((rank, route)) = path_route(ingress, env, builder, at, path, &mut warnings)
            {
                gathered.rules.push((pattern.clone(), rank, route));
            }
        }
    }
    default_backend(ingress, env, builder, gathered, &mut warnings);
    if ingress.spec.rules.is_empty() && default_field(ingress).is_none() {
        warnings.push(Warning::other(
            "has neither rules nor defaultBackend: nothing is served",
        ));
    }
    warnings
}

/// The route of `spec.rules[rule].http.paths[path]`, or `None` (with a
/// warning) when the path is dropped.
fn path_route(
    ingress: &Ingress,
    env: &Env<'_, '_>,
    builder: &mut TableBuilder,
    (rule, index): (usize, usize),
    path: &HttpIngressPath,
    warnings: &mut Vec<Warning>,
) -> Option<(Rank, Route)> {
    let field = format!("spec.rules[{rule}].http.paths[{index}]");
    let converted = paths::convert(path.path.as_deref(), path.path_type.as_deref())
        .map_err(|error| {
            warnings.push(Warning::not_applied(format!(
                "{field}: {error}; path dropped"
            )))
        })
        .ok()?;
    let backend = (format!("{field}.backend"), &path.backend);
    let key = backend_key(
        ingress,
        env,
        builder,
        (&backend.0, backend.1),
        "path",
        warnings,
    )?;
    let name = format!("{}.{rule}.{index}", route_prefix(ingress));
    let route = new_route(ingress, name, converted.matcher, key);
    Some((converted.rank, route))
}

/// `spec.defaultBackend` (v1beta1 `spec.backend`): "the backend that should
/// handle requests that don't match any rule". One default backend serves
/// the whole gateway, so the oldest served Ingress that has one provides
/// it and the others are told.
fn default_backend(
    ingress: &Ingress,
    env: &Env<'_, '_>,
    builder: &mut TableBuilder,
    gathered: &mut Gathered,
    warnings: &mut Vec<Warning>,
) {
    let Some((field, backend)) = default_field(ingress) else {
        return;
    };
    if let Some((owner, _)) = &gathered.default {
        warnings.push(Warning::not_applied(format!(
            "{field}: not served: the older Ingress {owner} already provides the default backend"
        )));
        return;
    }
    let name = format!("{}.default", route_prefix(ingress));
    let what = "default backend";
    if let Some(key) = backend_key(ingress, env, builder, (field, backend), what, warnings) {
        let owner = format!("{}/{}", ingress.namespace(), ingress.name());
        gathered.default = Some((owner, new_route(ingress, name, None, key)));
    }
}

fn default_field(ingress: &Ingress) -> Option<(&'static str, &IngressBackend)> {
    let spec = &ingress.spec;
    match (&spec.default_backend, &spec.backend) {
        (Some(backend), _) => Some(("spec.defaultBackend", backend)),
        (None, Some(backend)) => Some(("spec.backend", backend)),
        (None, None) => None,
    }
}

/// Resolves a backend, recording why it is dropped (`what` names the
/// thing dropped with it) or cannot work.
fn backend_key(
    ingress: &Ingress,
    env: &Env<'_, '_>,
    builder: &mut TableBuilder,
    (field, backend): (&str, &IngressBackend),
    what: &str,
    warnings: &mut Vec<Warning>,
) -> Option<String> {
    match backend::resolve(env, backend, ingress.namespace(), builder) {
        Ok(resolved) => {
            if let Some(warning) = resolved.warning {
                warnings.push(Warning::other(format!("{field}: {warning}")));
            }
            Some(resolved.key)
        }
        Err(error) => {
            warnings.push(Warning::not_applied(format!(
                "{field}: {error}; {what} dropped"
            )));
            None
        }
    }
}

fn route_prefix(ingress: &Ingress) -> String {
    format!("{}.{}", ingress.namespace(), ingress.name())
}

/// An Ingress route: no timeout (Istio sets none) and Istio's default
/// retry policy, which Istio applies to Ingress-derived routes as to any
/// VirtualService without `retries`.
fn new_route(ingress: &Ingress, name: String, path: Option<PathMatch>, backend: String) -> Route {
    Route {
        name,
        origin: RouteOrigin {
            kind: "Ingress",
            namespace: ingress.namespace().to_owned(),
            name: ingress.name().to_owned(),
        },
        matches: vec![RouteMatch {
            path,
            ..RouteMatch::default()
        }],
        action: RouteAction::Forward(Forward {
            backends: vec![WeightedBackend {
                backend: Some(backend),
                weight: 1,
                request_headers: Default::default(),
                response_headers: Default::default(),
                path_rewrite: None,
                host_rewrite: None,
                redirect: None,
            }],
            ..Forward::default()
        }),
        request_headers: Default::default(),
        response_headers: Default::default(),
        timeout: None,
        retry: RetryPolicy::istio_default(),
        cors: None,
        fault: None,
    }
}
