//! The status vestibule wants each object to have, from the translator's
//! statuses, and how it combines with what the object has now.

use serde_json::{json, Map, Value};
use vestibule_ir::status::Statuses;

use super::stamp;

const GATEWAY_API: &str = "gateway.networking.k8s.io";

/// One address of the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    Ip(String),
    Hostname(String),
}

/// The status of one object as vestibule wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub group: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
    /// vestibule's fields of `status`.
    pub status: Map<String, Value>,
    /// The list in `status` whose entries belong to several controllers
    /// (`parents`, `ancestors`): only entries with our controllerName are
    /// vestibule's.
    pub shared_list: Option<&'static str>,
}

impl Desired {
    /// The `status` to write given the object's current one, or `None`
    /// when it already says this.
    pub fn status_against(&self, current: &Value, ours: &[String]) -> Option<Value> {
        let mut status = self.status.clone();
        if let Some(list) = self.shared_list {
            let others = current
                .get(list)
                .and_then(Value::as_array)
                .map(|entries| {
                    entries
                        .iter()
                        .filter(|entry| {
                            let controller = entry.get("controllerName").and_then(Value::as_str);
                            !controller.is_some_and(|name| ours.iter().any(|own| own == name))
                        })
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let mine = status
                .remove(list)
                .and_then(|value| value.as_array().cloned())
                .unwrap_or_default();
            status.insert(list.to_owned(), Value::Array([others, mine].concat()));
        }
        let mut status = Value::Object(status);
        stamp::transition_times(&mut status, current, &stamp::now());
        let unchanged = status.as_object().is_some_and(|fields| {
            fields
                .iter()
                .all(|(field, value)| same(value, current.get(field)))
        });
        (!unchanged).then_some(status)
    }
}

/// Equal, counting an empty list as an absent one.
fn same(wanted: &Value, current: Option<&Value>) -> bool {
    let empty = |value: &Value| value.is_null() || value.as_array().is_some_and(Vec::is_empty);
    match current {
        None => empty(wanted),
        Some(current) => current == wanted || (empty(current) && empty(wanted)),
    }
}

/// A Gateway's own addresses (`namespace`, `name`), or `None` for the
/// shared gateway's.
pub(crate) type OwnAddresses<'a> = &'a dyn Fn(&str, &str) -> Option<Vec<Address>>;

/// Every object whose status vestibule writes: Gateways with their own
/// addresses where they have some, the others (and Ingresses) with the
/// shared gateway's `addresses`.
pub(crate) fn all(statuses: &Statuses, addresses: &[Address], own: OwnAddresses) -> Vec<Desired> {
    let mut all = Vec::new();
    for class in &statuses.gateway_classes {
        all.push(Desired {
            group: GATEWAY_API,
            kind: "GatewayClass",
            plural: "gatewayclasses",
            namespace: String::new(),
            name: class.name.clone(),
            status: fields(&[("conditions", value(&class.conditions))]),
            shared_list: None,
        });
    }
    let shaped_addresses = |addresses: &[Address]| -> Vec<Value> {
        addresses
            .iter()
            .map(|address| match address {
                Address::Ip(ip) => json!({"type": "IPAddress", "value": ip}),
                Address::Hostname(name) => json!({"type": "Hostname", "value": name}),
            })
            .collect()
    };
    let gateway_addresses = shaped_addresses(addresses);
    for gateway in statuses
        .gateways
        .iter()
        .filter(|g| g.api_group == GATEWAY_API)
    {
        let shaped = value(gateway);
        let addresses = match own(&gateway.namespace, &gateway.name) {
            Some(own) => shaped_addresses(&own),
            None => gateway_addresses.clone(),
        };
        all.push(Desired {
            group: GATEWAY_API,
            kind: "Gateway",
            plural: "gateways",
            namespace: gateway.namespace.clone(),
            name: gateway.name.clone(),
            status: fields(&[
                (
                    "conditions",
                    shaped.get("conditions").cloned().unwrap_or_default(),
                ),
                (
                    "listeners",
                    shaped.get("listeners").cloned().unwrap_or_default(),
                ),
                ("addresses", Value::Array(addresses)),
            ]),
            shared_list: None,
        });
    }
    for route in &statuses.routes {
        let Some((kind, plural)) = route_kind(&route.kind) else {
            continue;
        };
        all.push(Desired {
            group: GATEWAY_API,
            kind,
            plural,
            namespace: route.namespace.clone(),
            name: route.name.clone(),
            status: fields(&[("parents", value(&route.parents))]),
            shared_list: Some("parents"),
        });
    }
    for policy in &statuses.policies {
        if policy.kind != "BackendTLSPolicy" {
            continue;
        }
        all.push(Desired {
            group: GATEWAY_API,
            kind: "BackendTLSPolicy",
            plural: "backendtlspolicies",
            namespace: policy.namespace.clone(),
            name: policy.name.clone(),
            status: fields(&[("ancestors", value(&policy.ancestors))]),
            shared_list: Some("ancestors"),
        });
    }
    let ingress: Vec<Value> = addresses
        .iter()
        .map(|address| match address {
            Address::Ip(ip) => json!({"ip": ip}),
            Address::Hostname(name) => json!({"hostname": name}),
        })
        .collect();
    for served in statuses.ingresses.iter().filter(|ingress| {
        ingress
            .conditions
            .iter()
            .any(|c| c.kind == "Accepted" && c.is_true())
    }) {
        all.push(Desired {
            group: "networking.k8s.io",
            kind: "Ingress",
            plural: "ingresses",
            namespace: served.namespace.clone(),
            name: served.name.clone(),
            status: fields(&[("loadBalancer", json!({ "ingress": ingress }))]),
            shared_list: None,
        });
    }
    all
}

fn route_kind(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "HTTPRoute" => ("HTTPRoute", "httproutes"),
        "GRPCRoute" => ("GRPCRoute", "grpcroutes"),
        "TLSRoute" => ("TLSRoute", "tlsroutes"),
        "TCPRoute" => ("TCPRoute", "tcproutes"),
        _ => return None,
    })
}

fn fields(entries: &[(&str, Value)]) -> Map<String, Value> {
    entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn value<T: serde::Serialize>(status: &T) -> Value {
    serde_json::to_value(status).unwrap_or_default()
}
