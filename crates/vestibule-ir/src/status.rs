//! What the translator decided about each resource, in the shape `/status`
//! shows and Kubernetes mode writes back: conditions with type, status,
//! reason and message.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Statuses {
    pub gateway_classes: Vec<ResourceStatus>,
    pub gateways: Vec<GatewayStatus>,
    pub routes: Vec<RouteStatus>,
    pub ingresses: Vec<ResourceStatus>,
    pub virtual_services: Vec<ResourceStatus>,
    /// DestinationRules whose `tls` vestibule read: applied, or why not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_rules: Vec<ResourceStatus>,
    /// Gateway API policies (BackendTLSPolicy): per ancestor Gateway.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyStatus>,
    /// Problems that belong to no single resource, or that dropped one.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(rename = "observedGeneration")]
    pub observed_generation: i64,
}

impl Condition {
    pub fn new(kind: &str, ok: bool, reason: &str, message: impl Into<String>) -> Condition {
        Condition {
            kind: kind.to_owned(),
            status: if ok { "True" } else { "False" }.to_owned(),
            reason: reason.to_owned(),
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

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// `Gateway` (Istio or Gateway API; `apiGroup` tells which).
    pub kind: String,
    pub api_group: String,
    pub namespace: String,
    pub name: String,
    pub conditions: Vec<Condition>,
    pub listeners: Vec<ListenerStatus>,
    /// Gateway API `status.addresses`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    pub name: String,
    pub attached_routes: u32,
    pub conditions: Vec<Condition>,
    /// Gateway API `supportedKinds` (route kinds this listener accepts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supported_kinds: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub parents: Vec<ParentStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ParentStatus {
    pub parent_ref: String,
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
    pub warnings: Vec<String>,
}

/// Gateway API `PolicyStatus`: conditions per ancestor (the Gateways whose
/// routes send traffic to the policy's targets).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub ancestors: Vec<PolicyAncestorStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAncestorStatus {
    /// `Gateway namespace/name`.
    pub ancestor_ref: String,
    pub controller_name: String,
    pub conditions: Vec<Condition>,
}
