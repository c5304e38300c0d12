//! The dispatch table: which (API group, kind) pairs are read, and how.
//! To read a new kind, add its `Inputs` list and one row here.

use super::context::{no_check, Body, Ctx, Rules};
use super::path::FieldPath;
use crate::core::{decode_base64, ConfigMapSpec, SecretSpec};

/// One readable kind. Any version of `group` is accepted.
pub(crate) struct KindDef {
    /// API group; empty for the core group (`apiVersion: v1`).
    pub(crate) group: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) load: fn(&mut Ctx<'_>),
}

const CORE: &str = "";
const DISCOVERY: &str = "discovery.k8s.io";
const ISTIO: &str = "networking.istio.io";
const TELEMETRY: &str = "telemetry.istio.io";
const NETWORKING: &str = "networking.k8s.io";
/// Ingress before `networking.k8s.io` (Kubernetes < 1.14).
const EXTENSIONS: &str = "extensions";
const GATEWAY: &str = crate::gateway_api::GROUP;

pub(crate) fn lookup(group: &str, kind: &str) -> Option<&'static KindDef> {
    KINDS
        .iter()
        .find(|def| def.group == group && def.kind == kind)
}

/// `List` (what `kubectl get -o yaml` writes) and typed lists (`ServiceList`).
pub(crate) fn is_list(kind: &str) -> bool {
    kind.ends_with("List")
}

static KINDS: &[KindDef] = &[
    KindDef {
        group: CORE,
        kind: "Namespace",
        load: |cx| {
            cx.load(&Rules {
                body: Body::Spec,
                tolerated: &["spec.finalizers"],
                check: no_check,
                list: |i| &mut i.namespaces,
            })
        },
    },
    KindDef {
        group: CORE,
        kind: "Service",
        load: |cx| {
            cx.load(&Rules {
                body: Body::Spec,
                tolerated: SERVICE_TOLERATED,
                check: no_check,
                list: |i| &mut i.services,
            })
        },
    },
    KindDef {
        group: CORE,
        kind: "Endpoints",
        load: |cx| {
            cx.load(&Rules {
                body: Body::Root,
                tolerated: &[
                    "subsets[].addresses[].hostname",
                    "subsets[].addresses[].nodeName",
                    "subsets[].notReadyAddresses[].hostname",
                    "subsets[].notReadyAddresses[].nodeName",
                ],
                check: no_check,
                list: |i| &mut i.endpoints,
            })
        },
    },
    KindDef {
        group: CORE,
        kind: "Pod",
        load: |cx| {
            cx.load(&Rules {
                body: Body::Status,
                tolerated: &["spec"],
                check: no_check,
                list: |i| &mut i.pods,
            })
        },
    },
    KindDef {
        group: CORE,
        kind: "Secret",
        load: |cx| {
            cx.load(&Rules {
                body: Body::Root,
                tolerated: &["immutable"],
                check: check_secret,
                list: |i| &mut i.secrets,
            })
        },
    },
    KindDef {
        group: CORE,
        kind: "ConfigMap",
        load: |cx| {
            cx.load(&Rules {
                body: Body::Root,
                tolerated: &["immutable"],
                check: check_config_map,
                list: |i| &mut i.config_maps,
            })
        },
    },
    KindDef {
        group: DISCOVERY,
        kind: "EndpointSlice",
        load: |cx| {
            cx.load(&Rules {
                body: Body::Root,
                tolerated: &["endpoints[].deprecatedTopology", "endpoints[].hints"],
                check: no_check,
                list: |i| &mut i.endpoint_slices,
            })
        },
    },
    KindDef {
        group: ISTIO,
        kind: "Gateway",
        load: |cx| cx.load(&istio(|i| &mut i.gateways)),
    },
    KindDef {
        group: ISTIO,
        kind: "VirtualService",
        load: |cx| cx.load(&istio(|i| &mut i.virtual_services)),
    },
    KindDef {
        group: ISTIO,
        kind: "DestinationRule",
        load: |cx| cx.load(&istio(|i| &mut i.destination_rules)),
    },
    KindDef {
        group: ISTIO,
        kind: "ServiceEntry",
        load: |cx| cx.load(&istio(|i| &mut i.service_entries)),
    },
    KindDef {
        group: TELEMETRY,
        kind: "Telemetry",
        load: |cx| cx.load(&istio(|i| &mut i.telemetries)),
    },
    KindDef {
        group: NETWORKING,
        kind: "Ingress",
        load: |cx| cx.load(&spec(|i| &mut i.ingresses)),
    },
    KindDef {
        group: EXTENSIONS,
        kind: "Ingress",
        load: |cx| cx.load(&spec(|i| &mut i.ingresses)),
    },
    KindDef {
        group: NETWORKING,
        kind: "IngressClass",
        load: |cx| cx.load(&spec(|i| &mut i.ingress_classes)),
    },
    KindDef {
        group: GATEWAY,
        kind: "GatewayClass",
        load: |cx| cx.load(&spec(|i| &mut i.gateway_classes)),
    },
    KindDef {
        group: GATEWAY,
        kind: "Gateway",
        load: |cx| cx.load(&spec(|i| &mut i.kube_gateways)),
    },
    KindDef {
        group: GATEWAY,
        kind: "HTTPRoute",
        load: |cx| cx.load(&spec(|i| &mut i.http_routes)),
    },
    KindDef {
        group: GATEWAY,
        kind: "GRPCRoute",
        load: |cx| cx.load(&spec(|i| &mut i.grpc_routes)),
    },
    KindDef {
        group: GATEWAY,
        kind: "TLSRoute",
        load: |cx| cx.load(&spec(|i| &mut i.tls_routes)),
    },
    KindDef {
        group: GATEWAY,
        kind: "TCPRoute",
        load: |cx| cx.load(&spec(|i| &mut i.tcp_routes)),
    },
    KindDef {
        group: GATEWAY,
        kind: "BackendTLSPolicy",
        load: |cx| cx.load(&spec(|i| &mut i.backend_tls_policies)),
    },
    KindDef {
        group: GATEWAY,
        kind: "ReferenceGrant",
        load: |cx| cx.load(&spec(|i| &mut i.reference_grants)),
    },
];

/// Kinds whose body is `spec`, with nothing Kubernetes-filled to tolerate.
fn spec<S>(list: fn(&mut crate::Inputs) -> &mut Vec<crate::Resource<S>>) -> Rules<S> {
    istio(list)
}

fn istio<S>(list: fn(&mut crate::Inputs) -> &mut Vec<crate::Resource<S>>) -> Rules<S> {
    Rules {
        body: Body::Spec,
        tolerated: &[],
        check: no_check,
        list,
    }
}

/// Service fields Kubernetes fills in that vestibule has no use for.
const SERVICE_TOLERATED: &[&str] = &[
    "spec.allocateLoadBalancerNodePorts",
    "spec.clusterIPs",
    "spec.externalIPs",
    "spec.externalTrafficPolicy",
    "spec.healthCheckNodePort",
    "spec.internalTrafficPolicy",
    "spec.ipFamilies",
    "spec.ipFamilyPolicy",
    "spec.loadBalancerClass",
    "spec.loadBalancerIP",
    "spec.loadBalancerSourceRanges",
    "spec.ports[].nodePort",
    "spec.publishNotReadyAddresses",
    "spec.sessionAffinity",
    "spec.sessionAffinityConfig",
    "spec.trafficDistribution",
];

/// `data` values must be base64, as the API server requires.
fn check_secret(secret: &SecretSpec) -> Vec<(FieldPath, String)> {
    secret
        .data
        .iter()
        .filter_map(|(key, value)| {
            let err = decode_base64(value).err()?;
            let path = FieldPath::default().key("data").key(key);
            Some((path, format!("value is not valid base64: {err}")))
        })
        .collect()
}

/// `binaryData` values must be base64, as the API server requires.
fn check_config_map(config_map: &ConfigMapSpec) -> Vec<(FieldPath, String)> {
    config_map
        .binary_data
        .iter()
        .filter_map(|(key, value)| {
            let err = decode_base64(value).err()?;
            let path = FieldPath::default().key("binaryData").key(key);
            Some((path, format!("value is not valid base64: {err}")))
        })
        .collect()
}
