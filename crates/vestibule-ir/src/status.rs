//! What the translator decided about each resource, in the shape `/status`
//! shows and Kubernetes mode writes back. Gateway API resources carry, beside
//! the fields that say which resource it is, their `.status` content in the
//! spec's own shape and field names (`RouteParentStatus`, `ListenerStatus`,
//! `PolicyAncestorStatus`, ...), so that the status writer serializes them
//! as they are. A condition is `metav1.Condition` without
//! `lastTransitionTime`: the writer adds it (the translator has no clock).

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Statuses {
    pub gateway_classes: Vec<GatewayClassStatus>,
    pub gateways: Vec<GatewayStatus>,
    pub routes: Vec<RouteStatus>,
    pub ingresses: Vec<ResourceStatus>,
    /// Shared with the translation cache's bindings: a reload that binds a
    /// VirtualService as before copies its status by reference.
    pub virtual_services: Vec<std::sync::Arc<ResourceStatus>>,
    /// Every DestinationRule: applied, or why not, and what of it is not honoured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_rules: Vec<ResourceStatus>,
    /// Every ServiceEntry: applied, or why not (`exportTo`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_entries: Vec<ResourceStatus>,
    /// Every Istio Telemetry, with what of it is not honoured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telemetries: Vec<ResourceStatus>,
    /// Gateway API policies (BackendTLSPolicy): per ancestor Gateway.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyStatus>,
    /// Problems that belong to no single resource, or that dropped one.
    pub errors: Vec<String>,
}

/// `kind`, `status` and `reason` are each one of a few names: static text
/// rather than three small allocations in every resource's status.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// "True", "False" or "Unknown".
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
    #[serde(rename = "observedGeneration")]
    pub observed_generation: i64,
}

impl Condition {
    pub fn new(
        kind: &'static str,
        ok: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Condition {
        Condition {
            kind,
            status: if ok { "True" } else { "False" },
            reason,
            message: message.into(),
            observed_generation: 0,
        }
    }

    pub fn at_generation(mut self, generation: i64) -> Condition {
        self.observed_generation = generation;
        self
    }

    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// A Gateway's status. `kind`, `apiGroup`, `namespace`, `name` and
/// `source` say which Gateway it is (for `/status`); `conditions`,
/// `listeners` and `addresses` are Gateway API's `GatewayStatus` field for
/// field, which Kubernetes mode writes as the Gateway's `.status` (adding
/// each condition's `lastTransitionTime`, which a pure translation cannot
/// know). Istio Gateways use the same shape, one listener per server.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// `Gateway` (Istio or Gateway API; `apiGroup` tells which).
    pub kind: String,
    pub api_group: String,
    pub namespace: String,
    pub name: String,
    /// `file:line`, or empty for objects from the Kubernetes API.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub conditions: Vec<Condition>,
    pub listeners: Vec<ListenerStatus>,
    /// Gateway API `status.addresses`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<GatewayStatusAddress>,
}

/// Gateway API `ListenerStatus`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    pub name: String,
    /// Route kinds this listener accepts. Always written, empty too: the
    /// field is required in the spec, and an empty list is how a listener
    /// that accepts no kind says so.
    pub supported_kinds: Vec<RouteGroupKind>,
    pub attached_routes: u32,
    pub conditions: Vec<Condition>,
}

/// Gateway API `RouteGroupKind`, with the group always filled in.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RouteGroupKind {
    pub group: String,
    pub kind: String,
}

/// Gateway API `GatewayStatusAddress`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GatewayStatusAddress {
    /// `IPAddress` or `Hostname` (or a domain-prefixed type the Gateway
    /// asked for).
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// A route's status: `kind`, `namespace`, `name` and `source` say which
/// route it is (for `/status`); `parents` is Gateway API's
/// `RouteStatus.parents`, which Kubernetes mode writes as the route's
/// `.status.parents`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `file:line`, or empty for objects from the Kubernetes API.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub parents: Vec<RouteParentStatus>,
}

/// Gateway API `RouteParentStatus`: one per parentRef of the route that
/// names a Gateway this controller serves.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteParentStatus {
    pub parent_ref: ParentReference,
    /// The `controllerName` of the parent Gateway's GatewayClass.
    pub controller_name: String,
    pub conditions: Vec<Condition>,
}

/// Gateway API `ParentReference` as status echoes it: the reference as
/// the route wrote it, with the defaults filled in (group
/// `gateway.networking.k8s.io`, kind `Gateway`, the route's namespace),
/// as the API server defaults group and kind and as the conformance suite
/// compares them. `sectionName` and `port` only when the route gave them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ParentReference {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
}

impl ParentReference {
    /// A Gateway of the Gateway API, with no section or port.
    pub fn gateway(namespace: &str, name: &str) -> ParentReference {
        ParentReference {
            group: GATEWAY_API_GROUP.to_owned(),
            kind: "Gateway".to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            section_name: None,
            port: None,
        }
    }
}

/// The Gateway API's group, which status references default to.
pub const GATEWAY_API_GROUP: &str = "gateway.networking.k8s.io";

/// A GatewayClass's status: `name` and `source` say which class it is;
/// `conditions` is Gateway API's `GatewayClassStatus.conditions`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayClassStatus {
    pub name: String,
    /// `file:line`, or empty for objects from the Kubernetes API.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub conditions: Vec<Condition>,
}

/// Status of a resource with no standard status of its own (VirtualService,
/// Ingress): whether it is served and, if not entirely, why.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    pub namespace: String,
    pub name: String,
    /// `file:line`, or empty for objects from the Kubernetes API.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub conditions: Vec<Condition>,
    /// Problems that dropped part of the resource (a rule, a destination).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// A warning on a resource's status: its kind, said where it is raised
/// (what `validate` gives a code by), and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

/// What a warning says of the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum WarningKind {
    /// A field read but not honoured (or not supported): the resource is
    /// served as if it were not there.
    NotHonoured,
    /// A resource, rule, destination or value not applied: left out, or a
    /// default used instead of an invalid value.
    NotApplied,
    /// Anything else worth knowing.
    Other,
}

impl Warning {
    pub fn not_honoured(message: impl Into<String>) -> Warning {
        Warning::new(WarningKind::NotHonoured, message)
    }

    pub fn not_applied(message: impl Into<String>) -> Warning {
        Warning::new(WarningKind::NotApplied, message)
    }

    pub fn other(message: impl Into<String>) -> Warning {
        Warning::new(WarningKind::Other, message)
    }

    pub fn new(kind: WarningKind, message: impl Into<String>) -> Warning {
        Warning {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Written as its text alone: `/status` and the admin page show warnings
/// as they did before they had a kind, and no Kubernetes status carries
/// them.
impl Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.message)
    }
}

/// A policy's status: `kind`, `namespace`, `name` and `source` say which
/// policy it is; `ancestors` is Gateway API's `PolicyStatus.ancestors`
/// (the Gateways whose routes send traffic to the policy's targets).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `file:line`, or empty for objects from the Kubernetes API.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub ancestors: Vec<PolicyAncestorStatus>,
}

/// Gateway API `PolicyAncestorStatus`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAncestorStatus {
    /// The ancestor Gateway, group, kind and namespace filled in.
    pub ancestor_ref: ParentReference,
    /// The `controllerName` of the ancestor Gateway's GatewayClass.
    pub controller_name: String,
    pub conditions: Vec<Condition>,
}
