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

impl Inputs {
    /// Moves every resource of `other` to the end of this set's lists.
    pub fn append(&mut self, other: Inputs) {
        // Destructured, so that a new list cannot be forgotten here.
        let Inputs {
            namespaces,
            services,
            endpoint_slices,
            endpoints,
            pods,
            secrets,
            config_maps,
            gateways,
            virtual_services,
            destination_rules,
            service_entries,
            ingresses,
            ingress_classes,
            gateway_classes,
            kube_gateways,
            http_routes,
            grpc_routes,
            tls_routes,
            tcp_routes,
            reference_grants,
            backend_tls_policies,
        } = other;
        self.namespaces.extend(namespaces);
        self.services.extend(services);
        self.endpoint_slices.extend(endpoint_slices);
        self.endpoints.extend(endpoints);
        self.pods.extend(pods);
        self.secrets.extend(secrets);
        self.config_maps.extend(config_maps);
        self.gateways.extend(gateways);
        self.virtual_services.extend(virtual_services);
        self.destination_rules.extend(destination_rules);
        self.service_entries.extend(service_entries);
        self.ingresses.extend(ingresses);
        self.ingress_classes.extend(ingress_classes);
        self.gateway_classes.extend(gateway_classes);
        self.kube_gateways.extend(kube_gateways);
        self.http_routes.extend(http_routes);
        self.grpc_routes.extend(grpc_routes);
        self.tls_routes.extend(tls_routes);
        self.tcp_routes.extend(tcp_routes);
        self.reference_grants.extend(reference_grants);
        self.backend_tls_policies.extend(backend_tls_policies);
    }

    /// Forgets where every resource was read (objects of the API server
    /// come from no file).
    pub fn clear_sources(&mut self) {
        fn clear<S>(list: &mut [Resource<S>]) {
            for resource in list {
                resource.source = Source::default();
            }
        }
        let Inputs {
            namespaces,
            services,
            endpoint_slices,
            endpoints,
            pods,
            secrets,
            config_maps,
            gateways,
            virtual_services,
            destination_rules,
            service_entries,
            ingresses,
            ingress_classes,
            gateway_classes,
            kube_gateways,
            http_routes,
            grpc_routes,
            tls_routes,
            tcp_routes,
            reference_grants,
            backend_tls_policies,
        } = self;
        clear(namespaces);
        clear(services);
        clear(endpoint_slices);
        clear(endpoints);
        clear(pods);
        clear(secrets);
        clear(config_maps);
        clear(gateways);
        clear(virtual_services);
        clear(destination_rules);
        clear(service_entries);
        clear(ingresses);
        clear(ingress_classes);
        clear(gateway_classes);
        clear(kube_gateways);
        clear(http_routes);
        clear(grpc_routes);
        clear(tls_routes);
        clear(tcp_routes);
        clear(reference_grants);
        clear(backend_tls_policies);
    }
}
