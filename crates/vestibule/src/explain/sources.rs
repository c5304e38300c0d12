//! Where a resource, and the rule of it a route was translated from, were
//! written: the resource's `file:line` from the loader, and the rule's own
//! line found in the file by its field path (`spec.http[1]`). Control side
//! only: the routing table keeps no positions.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;
use vestibule_api::{Inputs, Source};
use vestibule_ir::{PathMatch, Route};

/// A resource, and where it was written.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResourceRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `file:line` of the resource (or of the rule, for a route); empty
    /// when unknown.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
}

impl ResourceRef {
    pub fn new(kind: &str, namespace: &str, name: &str, source: String) -> ResourceRef {
        ResourceRef {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        }
    }
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)?;
        if !self.source.is_empty() {
            write!(f, " ({})", self.source)?;
        }
        Ok(())
    }
}

/// Looks sources up in the loaded inputs, reading each file at most once.
pub struct Sources<'a> {
    inputs: &'a Inputs,
    files: RefCell<HashMap<String, Option<String>>>,
}

/// Where a route's rule was written.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSource {
    /// The rule's field path in its resource, e.g. `spec.http[1]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `file:line` of the rule (of the resource when the rule cannot be placed).
    pub source: String,
    /// `file:line` of the resource.
    pub resource_source: String,
}

impl<'a> Sources<'a> {
    #[cfg(test)]
    pub fn new(inputs: &'a Inputs) -> Sources<'a> {
        Sources::with_texts(inputs, HashMap::new())
    }

    /// With the files' texts already at hand (fetched from a gateway):
    /// those are not read from disk.
    pub fn with_texts(inputs: &'a Inputs, texts: HashMap<String, String>) -> Sources<'a> {
        Sources {
            inputs,
            files: RefCell::new(
                texts
                    .into_iter()
                    .map(|(path, text)| (path, Some(text)))
                    .collect(),
            ),
        }
    }

    pub fn inputs(&self) -> &'a Inputs {
        self.inputs
    }

    /// The `Source` of a resource by kind (as route origins and statuses
    /// name kinds), namespace and name.
    pub fn resource(&self, kind: &str, namespace: &str, name: &str) -> Option<&'a Source> {
        let inputs = self.inputs;
        macro_rules! find {
            ($list:expr) => {
                $list
                    .iter()
                    .find(|r| r.namespace() == namespace && r.name() == name)
                    .map(|r| &r.source)
            };
        }
        match kind {
            "VirtualService" => find!(inputs.virtual_services),
            "Ingress" => find!(inputs.ingresses),
            "HTTPRoute" => find!(inputs.http_routes),
            "GRPCRoute" => find!(inputs.grpc_routes),
            "TLSRoute" => find!(inputs.tls_routes),
            "TCPRoute" => find!(inputs.tcp_routes),
            "Gateway" => find!(inputs.gateways).or_else(|| find!(inputs.kube_gateways)),
            "KubeGateway" => find!(inputs.kube_gateways),
            "DestinationRule" => find!(inputs.destination_rules),
            "Service" => find!(inputs.services),
            "ServiceEntry" => find!(inputs.service_entries),
            _ => None,
        }
    }

    /// A reference to a resource with its `file:line`.
    pub fn reference(&self, kind: &str, namespace: &str, name: &str) -> ResourceRef {
        let source = self
            .resource(kind, namespace, name)
            .map(display)
            .unwrap_or_default();
        ResourceRef::new(kind, namespace, name, source)
    }

    /// Where the rule a route came from was written.
    pub fn rule(&self, route: &Route) -> RuleSource {
        let origin = &route.origin;
        let resource = self.resource(origin.kind, &origin.namespace, &origin.name);
        let resource_source = resource.map(display).unwrap_or_default();
        let field = self.rule_field(route);
        let line = match (resource, &field) {
            (Some(source), Some(field)) if !source.file.is_empty() => self.locate(source, field),
            _ => None,
        };
        let source = match (resource, line) {
            (Some(resource), Some(line)) => format!("{}:{line}", resource.file),
            _ => resource_source.clone(),
        };
        RuleSource {
            field,
            source,
            resource_source,
        }
    }

    fn locate(&self, source: &Source, field: &str) -> Option<u32> {
        let mut files = self.files.borrow_mut();
        let text = files
            .entry(source.file.to_string())
            .or_insert_with(|| std::fs::read_to_string(&*source.file).ok());
        vestibule_api::load::locate_field(text.as_deref()?, source.line, field)
    }

    /// The field path of a route's rule, from the name the translator gave
    /// the route: `NAMESPACE.NAME.` followed by the rule's index (Ingress
    /// `RULE.PATH` or `default`; Gateway API `rules[i]`, or the rule's
    /// name); Istio's in [`Sources::istio_rule_field`].
    fn rule_field(&self, route: &Route) -> Option<String> {
        let origin = &route.origin;
        let inputs = self.inputs;
        if origin.kind == "VirtualService" {
            return self.istio_rule_field(route);
        }
        let rest = route
            .name
            .strip_prefix(&format!("{}.{}.", origin.namespace, origin.name))?;
        match origin.kind {
            "Ingress" => {
                if rest == "default" {
                    let ingress = inputs.ingresses.iter().find(|ingress| {
                        ingress.namespace() == origin.namespace && ingress.name() == origin.name
                    })?;
                    return Some(if ingress.spec.backend.is_some() {
                        "spec.backend".to_owned()
                    } else {
                        "spec.defaultBackend".to_owned()
                    });
                }
                let (rule, path) = rest.split_once('.')?;
                let (rule, path): (usize, usize) = (rule.parse().ok()?, path.parse().ok()?);
                Some(format!("spec.rules[{rule}].http.paths[{path}]"))
            }
            "HTTPRoute" | "GRPCRoute" => {
                let index = match rest.parse::<usize>() {
                    Ok(index) => index,
                    Err(_) => {
                        let names: Vec<Option<&str>> = if origin.kind == "HTTPRoute" {
                            let route = inputs.http_routes.iter().find(|r| {
                                r.namespace() == origin.namespace && r.name() == origin.name
                            })?;
                            route.spec.rules.iter().map(|r| r.name.as_deref()).collect()
                        } else {
                            let route = inputs.grpc_routes.iter().find(|r| {
                                r.namespace() == origin.namespace && r.name() == origin.name
                            })?;
                            route.spec.rules.iter().map(|r| r.name.as_deref()).collect()
                        };
                        names.iter().position(|name| *name == Some(rest))?
                    }
                };
                Some(format!("spec.rules[{index}]"))
            }
            _ => None,
        }
    }
}

impl Sources<'_> {
    /// An Istio route is named `NAMESPACE.NAME.INDEX`, or by the rule's
    /// `name`; either followed by `.MATCHNAME` for a named match entry.
    fn istio_rule_field(&self, route: &Route) -> Option<String> {
        let origin = &route.origin;
        let vs = self
            .inputs
            .virtual_services
            .iter()
            .find(|vs| vs.namespace() == origin.namespace && vs.name() == origin.name)?;
        let by_index = route
            .name
            .strip_prefix(&format!("{}.{}.", origin.namespace, origin.name))
            .and_then(|rest| {
                let (index, match_name) = match rest.split_once('.') {
                    Some((index, name)) => (index, Some(name)),
                    None => (rest, None),
                };
                Some((index.parse::<usize>().ok()?, match_name))
            });
        let (index, match_name) = by_index.or_else(|| {
            vs.spec.http.iter().enumerate().find_map(|(index, rule)| {
                let name = rule.name.as_deref().filter(|name| !name.is_empty())?;
                if route.name == name {
                    return Some((index, None));
                }
                let rest = route.name.strip_prefix(name)?.strip_prefix('.')?;
                Some((index, Some(rest)))
            })
        })?;
        let field = format!("spec.http[{index}]");
        let rule = vs.spec.http.get(index)?;
        let entry = match match_name {
            Some(name) => rule
                .matches
                .iter()
                .position(|m| m.name.as_deref() == Some(name)),
            None => istio_match_index(&rule.matches, route),
        };
        Some(match entry {
            Some(position) => format!("{field}.match[{position}]"),
            None => field,
        })
    }
}

/// Which of an Istio rule's `match` entries a route was made from (the
/// translator makes one route per entry): the one entry whose URI, method,
/// header and query names agree with the route's condition, if only one does.
fn istio_match_index(
    matches: &[vestibule_api::istio::HttpMatchRequest],
    route: &Route,
) -> Option<usize> {
    let [condition] = route.matches.as_slice() else {
        return None;
    };
    let path = condition.path.as_ref().map(|path| match path {
        PathMatch::Exact { value, .. }
        | PathMatch::Prefix { value, .. }
        | PathMatch::SegmentPrefix { value } => value.clone(),
        PathMatch::Regex { pattern } => pattern.as_str().to_owned(),
    });
    let mut headers: Vec<&str> = condition.headers.iter().map(|h| h.name.as_str()).collect();
    headers.sort_unstable();
    let mut queries: Vec<&str> = condition
        .query_params
        .iter()
        .map(|q| q.name.as_str())
        .collect();
    queries.sort_unstable();
    let candidates: Vec<usize> = matches
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            let uri = m
                .uri
                .as_ref()
                .and_then(|u| u.exact.clone().or(u.prefix.clone()).or(u.regex.clone()));
            let mut names: Vec<String> = m
                .headers
                .keys()
                .chain(m.without_headers.keys())
                .map(|name| name.to_ascii_lowercase())
                .collect();
            names.sort_unstable();
            let mut query: Vec<&str> = m.query_params.keys().map(String::as_str).collect();
            query.sort_unstable();
            uri == path
                && names == headers
                && query == queries
                && m.method.is_some() == condition.method.is_some()
        })
        .map(|(index, _)| index)
        .collect();
    match candidates.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// `file:line`, or empty for a resource of the Kubernetes API.
pub fn display(source: &Source) -> String {
    if source.file.is_empty() {
        String::new()
    } else {
        source.to_string()
    }
}
