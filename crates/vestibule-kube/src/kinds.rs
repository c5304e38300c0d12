//! The kinds the Kubernetes mode watches, and what a change to each means.

/// What a change of a kind asks of the control loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Routes may change: translate everything again.
    Routes,
    /// Only endpoints may change: resolve them again, keep the routes.
    Endpoints,
}

/// One watched kind. The version is the one discovery recommends for the
/// kind among those the cluster serves (Gateway API v1 before v1beta1
/// before v1alpha2; Istio v1 before v1beta1 before v1alpha3).
#[derive(Debug)]
pub(crate) struct Kind {
    pub(crate) group: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) effect: Effect,
    /// Whether vestibule writes this kind's `status` (and so keeps it).
    pub(crate) status: bool,
}

impl Kind {
    /// Whether endpoints are resolved from this kind (Services and
    /// ServiceEntries name the ports; slices, Endpoints and Pods hold the
    /// addresses).
    pub(crate) fn resolves_endpoints(&self) -> bool {
        matches!(
            self.kind,
            "Service" | "EndpointSlice" | "Endpoints" | "Pod" | "ServiceEntry"
        )
    }
}

pub(crate) const CORE: &str = "";
pub(crate) const GATEWAY_API: &str = "gateway.networking.k8s.io";
pub(crate) const ISTIO: &str = "networking.istio.io";
pub(crate) const NETWORKING: &str = "networking.k8s.io";
pub(crate) const DISCOVERY: &str = "discovery.k8s.io";
pub(crate) const TELEMETRY: &str = "telemetry.istio.io";

/// The API groups looked up by discovery.
pub(crate) const GROUPS: &[&str] = &[CORE, DISCOVERY, NETWORKING, ISTIO, TELEMETRY, GATEWAY_API];

const fn kind(group: &'static str, kind: &'static str, effect: Effect, status: bool) -> Kind {
    Kind {
        group,
        kind,
        effect,
        status,
    }
}

/// Only the objects the configuration names are fetched (Secrets,
/// ConfigMaps): the gateway keeps no other credential in memory.
const fn named(kind: &'static str) -> Kind {
    Kind {
        group: CORE,
        kind,
        effect: Effect::Routes,
        status: false,
    }
}

pub(crate) const SECRET: usize = 0;
pub(crate) const CONFIG_MAP: usize = 1;

/// Every kind read. Secrets and ConfigMaps first (see [`SECRET`]).
pub(crate) static KINDS: &[Kind] = &[
    named("Secret"),
    named("ConfigMap"),
    kind(CORE, "Namespace", Effect::Routes, false),
    // Kept with its status: the gateway Service's addresses come from it.
    kind(CORE, "Service", Effect::Routes, true),
    kind(DISCOVERY, "EndpointSlice", Effect::Endpoints, false),
    kind(CORE, "Endpoints", Effect::Endpoints, false),
    kind(CORE, "Pod", Effect::Endpoints, false),
    kind(NETWORKING, "IngressClass", Effect::Routes, false),
    kind(NETWORKING, "Ingress", Effect::Routes, true),
    kind(ISTIO, "Gateway", Effect::Routes, false),
    kind(ISTIO, "VirtualService", Effect::Routes, false),
    kind(ISTIO, "DestinationRule", Effect::Routes, false),
    kind(ISTIO, "ServiceEntry", Effect::Routes, false),
    kind(TELEMETRY, "Telemetry", Effect::Routes, false),
    kind(GATEWAY_API, "GatewayClass", Effect::Routes, true),
    kind(GATEWAY_API, "Gateway", Effect::Routes, true),
    kind(GATEWAY_API, "HTTPRoute", Effect::Routes, true),
    kind(GATEWAY_API, "GRPCRoute", Effect::Routes, true),
    kind(GATEWAY_API, "TLSRoute", Effect::Routes, true),
    kind(GATEWAY_API, "TCPRoute", Effect::Routes, true),
    kind(GATEWAY_API, "ReferenceGrant", Effect::Routes, false),
    kind(GATEWAY_API, "BackendTLSPolicy", Effect::Routes, true),
];

/// The index of `(group, kind)` in [`KINDS`].
pub(crate) fn index_of(group: &str, kind: &str) -> Option<usize> {
    KINDS
        .iter()
        .position(|k| k.group == group && k.kind == kind)
}
