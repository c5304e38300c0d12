//! Input types for vestibule: the Kubernetes, Istio, Ingress and Gateway API
//! kinds it reads, and the loader that reads them from YAML/JSON manifests
//! with errors that name file, line and field path.
#![forbid(unsafe_code)]

pub mod core;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway_api;
pub mod ingress;
pub mod istio;
pub mod load;
mod meta;
pub mod telemetry;

pub use load::{load_json, load_paths, load_str, Diagnostic, LoadError, Loaded};
pub use meta::{ObjectMeta, Resource, Source, TypeMeta, DEFAULT_NAMESPACE};

use serde::Serialize;

use crate::core::{
    ConfigMapSpec, EndpointSliceSpec, EndpointsSpec, NamespaceSpec, PodStatus, SecretSpec,
    ServiceSpec,
};
use crate::gateway_api::{
    BackendTlsPolicySpec, GatewayClassSpec, GrpcRouteSpec, HttpRouteSpec, L4RouteSpec,
    ReferenceGrantSpec,
};
use crate::ingress::{IngressClassSpec, IngressSpec};
use crate::istio::{DestinationRuleSpec, GatewaySpec, ServiceEntrySpec, VirtualServiceSpec};

pub type Namespace = Resource<NamespaceSpec>;
pub type Service = Resource<ServiceSpec>;
/// Body: the document's top-level `addressType`, `endpoints`, `ports`.
pub type EndpointSlice = Resource<EndpointSliceSpec>;
/// Body: the document's top-level `subsets`.
pub type Endpoints = Resource<EndpointsSpec>;
/// Body: the document's `status` (labels are in the metadata).
pub type Pod = Resource<PodStatus>;
/// Body: the document's top-level `type`, `data`, `stringData`.
pub type Secret = Resource<SecretSpec>;
/// Body: the document's top-level `data`, `binaryData`.
pub type ConfigMap = Resource<ConfigMapSpec>;
pub type IstioGateway = Resource<GatewaySpec>;
pub type VirtualService = Resource<VirtualServiceSpec>;
pub type DestinationRule = Resource<DestinationRuleSpec>;
pub type ServiceEntry = Resource<ServiceEntrySpec>;
/// Istio's `telemetry.istio.io` `Telemetry`.
pub type Telemetry = Resource<telemetry::TelemetrySpec>;
pub type Ingress = Resource<IngressSpec>;
pub type IngressClass = Resource<IngressClassSpec>;
pub type GatewayClass = Resource<GatewayClassSpec>;
/// A Gateway API `Gateway` (not Istio's).
pub type KubeGateway = Resource<gateway_api::GatewaySpec>;
pub type HttpRoute = Resource<HttpRouteSpec>;
pub type GrpcRoute = Resource<GrpcRouteSpec>;
pub type TlsRoute = Resource<L4RouteSpec>;
pub type TcpRoute = Resource<L4RouteSpec>;
pub type ReferenceGrant = Resource<ReferenceGrantSpec>;
pub type BackendTlsPolicy = Resource<BackendTlsPolicySpec>;

/// One consistent set of resources: everything the translator reads.
/// Each list keeps the order the resources were read in.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Inputs {
    pub namespaces: Vec<Namespace>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub endpoints: Vec<Endpoints>,
    pub pods: Vec<Pod>,
    pub secrets: Vec<Secret>,
    pub config_maps: Vec<ConfigMap>,
    pub gateways: Vec<IstioGateway>,
    pub virtual_services: Vec<VirtualService>,
    pub destination_rules: Vec<DestinationRule>,
    pub service_entries: Vec<ServiceEntry>,
    pub telemetries: Vec<Telemetry>,
    pub ingresses: Vec<Ingress>,
    pub ingress_classes: Vec<IngressClass>,
    pub gateway_classes: Vec<GatewayClass>,
    /// Gateway API Gateways (`gateways` holds Istio's).
    pub kube_gateways: Vec<KubeGateway>,
    pub http_routes: Vec<HttpRoute>,
    pub grpc_routes: Vec<GrpcRoute>,
    pub tls_routes: Vec<TlsRoute>,
    pub tcp_routes: Vec<TcpRoute>,
    pub reference_grants: Vec<ReferenceGrant>,
    pub backend_tls_policies: Vec<BackendTlsPolicy>,
}

/// Calls `$apply!` with every list of [`Inputs`], named once here: a
/// destructuring in each caller makes a list added to `Inputs` and not
/// here a compile error.
macro_rules! each_list {
    ($apply:ident, $($arg:expr),*) => {
        $apply!($($arg),*; namespaces, services, endpoint_slices, endpoints, pods,
            secrets, config_maps, gateways, virtual_services, destination_rules,
            service_entries, telemetries, ingresses, ingress_classes, gateway_classes,
            kube_gateways, http_routes, grpc_routes, tls_routes, tcp_routes,
            reference_grants, backend_tls_policies)
    };
}

macro_rules! append_lists {
    ($to:expr, $from:expr; $($list:ident),*) => {{
        let Inputs { $($list),* } = $from;
        $($to.$list.extend($list);)*
    }};
}

macro_rules! clear_list_sources {
    ($inputs:expr; $($list:ident),*) => {{
        let Inputs { $($list),* } = $inputs;
        $(for resource in $list.iter_mut() {
            resource.source = Source::default();
        })*
    }};
}

impl Inputs {
    /// Moves every resource of `other` to the end of this set's lists.
    pub fn append(&mut self, other: Inputs) {
        each_list!(append_lists, self, other);
    }

    /// Forgets where every resource was read (objects of the API server
    /// come from no file).
    pub fn clear_sources(&mut self) {
        each_list!(clear_list_sources, self);
    }
}
