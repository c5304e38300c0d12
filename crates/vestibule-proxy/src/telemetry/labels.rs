//! The labels Istio gives a destination, from what the gateway knows of
//! it: the service host, its name and namespace (a Kubernetes Service's
//! `NAME.NAMESPACE.svc.…`, else the host itself), the version (a
//! DestinationRule subset's `version` label), the Envoy cluster name.
//! What Istio learns from the destination's sidecar (workload, principal)
//! the gateway cannot know: `unknown`, as Istio reports it without one.

use vestibule_ir::Backend;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationLabels {
    /// `destination_service`: the host.
    pub service: String,
    pub service_name: String,
    pub service_namespace: String,
    pub version: String,
    /// `outbound|PORT|SUBSET|HOST` (`%UPSTREAM_CLUSTER_RAW%`).
    pub cluster: String,
}

const UNKNOWN: &str = "unknown";

impl DestinationLabels {
    pub fn of(cluster: &str, backend: &Backend) -> DestinationLabels {
        let host = backend.host.as_str();
        let (service_name, service_namespace) = match host.split_once(".svc.") {
            Some((service, _)) => match service.split_once('.') {
                Some((name, namespace)) => (name, namespace),
                None => (service, UNKNOWN),
            },
            None => (host, UNKNOWN),
        };
        let version = backend
            .subset
            .as_ref()
            .and_then(|subset| subset.labels.as_ref()?.get("version").cloned())
            .unwrap_or_else(|| UNKNOWN.to_owned());
        DestinationLabels {
            service: host.to_owned(),
            service_name: service_name.to_owned(),
            service_namespace: service_namespace.to_owned(),
            version,
            cluster: cluster.to_owned(),
        }
    }

    /// A request that reached no destination (no route, no cluster).
    pub fn unknown() -> DestinationLabels {
        DestinationLabels {
            service: UNKNOWN.to_owned(),
            service_name: UNKNOWN.to_owned(),
            service_namespace: UNKNOWN.to_owned(),
            version: UNKNOWN.to_owned(),
            cluster: String::new(),
        }
    }
}
