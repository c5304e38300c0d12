//! Which resources the server serves, and the discovery documents that
//! describe them (`/api`, `/apis`, their group versions, and the
//! aggregated form kube's `Discovery::run_aggregated` asks for).
//!
//! Storage is keyed by (group, plural), never by version: every version a
//! type lists serves the same objects, with `apiVersion` rewritten, because
//! the schemas of the versions the tests use are the same.

use serde_json::{json, Value};

/// The verbs every served resource supports (no `deletecollection`: the
/// fake does not implement it).
const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// One served resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// API group, `""` for core.
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
    /// Plural resource name, the path segment (`httproutes`).
    pub plural: String,
    /// Kind (`HTTPRoute`).
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether `{plural}/status` is a subresource: then writes to the main
    /// resource ignore `status`, and writes to `/status` change only it.
    pub status: bool,
}

impl ResourceType {
    /// A namespaced type without a status subresource.
    pub fn namespaced(group: &str, versions: &[&str], plural: &str, kind: &str) -> Self {
        ResourceType {
            group: group.into(),
            versions: versions.iter().map(|v| v.to_string()).collect(),
            plural: plural.into(),
            kind: kind.into(),
            namespaced: true,
            status: false,
        }
    }

    /// A cluster-scoped type without a status subresource.
    pub fn cluster(group: &str, versions: &[&str], plural: &str, kind: &str) -> Self {
        ResourceType {
            namespaced: false,
            ..Self::namespaced(group, versions, plural, kind)
        }
    }

    /// The same type with a `/status` subresource.
    pub fn with_status(mut self) -> Self {
        self.status = true;
        self
    }

    /// `apiVersion` of this type at `version`.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// `apiVersion` at the preferred version.
    pub fn preferred_api_version(&self) -> String {
        self.api_version(&self.versions[0])
    }

    fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    fn legacy_entries(&self) -> Vec<Value> {
        let mut out = vec![json!({
            "name": self.plural,
            "singularName": self.singular(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": VERBS,
        })];
        if self.status {
            out.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": STATUS_VERBS,
            }));
        }
        out
    }

    fn aggregated_entry(&self, version: &str) -> Value {
        let gvk = json!({ "group": self.group, "version": version, "kind": self.kind });
        let mut v = json!({
            "resource": self.plural,
            "responseKind": gvk,
            "scope": if self.namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": self.singular(),
            "verbs": VERBS,
        });
        if self.status {
            v["subresources"] =
                json!([{ "subresource": "status", "responseKind": gvk, "verbs": STATUS_VERBS }]);
        }
        v
    }
}

/// The types registered from the start: what a bare cluster serves and
/// vestibule reads.
pub fn builtin_types() -> Vec<ResourceType> {
    let v1 = &["v1"];
    vec![
        ResourceType::cluster("", v1, "namespaces", "Namespace"),
        ResourceType::namespaced("", v1, "services", "Service"),
        ResourceType::namespaced("", v1, "endpoints", "Endpoints"),
        ResourceType::namespaced("", v1, "pods", "Pod"),
        ResourceType::namespaced("", v1, "secrets", "Secret"),
        ResourceType::namespaced("", v1, "configmaps", "ConfigMap"),
        ResourceType::namespaced("", v1, "serviceaccounts", "ServiceAccount"),
        ResourceType::namespaced("discovery.k8s.io", v1, "endpointslices", "EndpointSlice"),
        ResourceType::namespaced("networking.k8s.io", v1, "ingresses", "Ingress").with_status(),
        ResourceType::cluster("networking.k8s.io", v1, "ingressclasses", "IngressClass"),
        ResourceType::namespaced("coordination.k8s.io", v1, "leases", "Lease"),
        ResourceType::namespaced("apps", v1, "deployments", "Deployment").with_status(),
        // What Gateway API automated deployment writes for a Gateway's pods.
        ResourceType::cluster(
            "rbac.authorization.k8s.io",
            v1,
            "clusterrolebindings",
            "ClusterRoleBinding",
        ),
    ]
}

/// The Gateway API CRDs (`gateway.networking.k8s.io`), every kind at every
/// version of the standard and experimental channels, all with status.
pub fn gateway_api_types() -> Vec<ResourceType> {
    let g = "gateway.networking.k8s.io";
    let vs = &["v1", "v1beta1", "v1alpha2", "v1alpha3"];
    let mut out =
        vec![ResourceType::cluster(g, vs, "gatewayclasses", "GatewayClass").with_status()];
    for (plural, kind) in [
        ("gateways", "Gateway"),
        ("httproutes", "HTTPRoute"),
        ("grpcroutes", "GRPCRoute"),
        ("tlsroutes", "TLSRoute"),
        ("tcproutes", "TCPRoute"),
        ("referencegrants", "ReferenceGrant"),
        ("backendtlspolicies", "BackendTLSPolicy"),
    ] {
        out.push(ResourceType::namespaced(g, vs, plural, kind).with_status());
    }
    out
}

/// Istio's networking CRDs (`networking.istio.io`) and its `Telemetry`,
/// with status as Istio installs them.
pub fn istio_types() -> Vec<ResourceType> {
    let g = "networking.istio.io";
    let vs = &["v1", "v1beta1", "v1alpha3"];
    [
        ("gateways", "Gateway"),
        ("virtualservices", "VirtualService"),
        ("destinationrules", "DestinationRule"),
        ("serviceentries", "ServiceEntry"),
    ]
    .into_iter()
    .map(|(plural, kind)| ResourceType::namespaced(g, vs, plural, kind).with_status())
    .chain([ResourceType::namespaced(
        "telemetry.istio.io",
        &["v1", "v1alpha1"],
        "telemetries",
        "Telemetry",
    )
    .with_status()])
    .collect()
}

/// The registered types, in registration order.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    pub(crate) fn register(&mut self, types: Vec<ResourceType>) {
        for t in types {
            self.types
                .retain(|x| !(x.group == t.group && x.plural == t.plural));
            self.types.push(t);
        }
    }

    /// Removes every type of `group`; returns them.
    pub(crate) fn unregister_group(&mut self, group: &str) -> Vec<ResourceType> {
        let (gone, kept) = std::mem::take(&mut self.types)
            .into_iter()
            .partition(|t| t.group == group);
        self.types = kept;
        gone
    }

    /// The type served at `group/version/plural`.
    pub(crate) fn by_path(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<&ResourceType> {
        self.types.iter().find(|t| {
            t.group == group && t.plural == plural && t.versions.iter().any(|v| v == version)
        })
    }

    /// The type of an object's `apiVersion` and `kind`.
    pub(crate) fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = split_api_version(api_version);
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.versions.iter().any(|v| v == version))
    }

    /// Types whose kind is `kind`, or `kind.group` written kubectl's way.
    pub(crate) fn by_kind_name(&self, kind: &str) -> Vec<&ResourceType> {
        let (k, g) = kind
            .split_once('.')
            .map_or((kind, None), |(k, g)| (k, Some(g)));
        self.types
            .iter()
            .filter(|t| t.kind == k && g.is_none_or(|g| g == t.group))
            .collect()
    }

    pub(crate) fn all(&self) -> &[ResourceType] {
        &self.types
    }

    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            let i = match out.iter().position(|(g, _)| *g == t.group) {
                Some(i) => i,
                None => {
                    out.push((t.group.clone(), Vec::new()));
                    out.len() - 1
                }
            };
            for v in &t.versions {
                if !out[i].1.contains(v) {
                    out[i].1.push(v.clone());
                }
            }
        }
        out
    }

    /// `/api`: the core versions.
    pub(crate) fn core_versions(&self, addr: &str) -> Value {
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": addr }],
        })
    }

    /// `/apis`: the named groups with their versions.
    pub(crate) fn group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .into_iter()
            .filter(|(g, _)| !g.is_empty())
            .map(|(g, vs)| {
                let versions: Vec<Value> = vs
                    .iter()
                    .map(|v| json!({ "groupVersion": format!("{g}/{v}"), "version": v }))
                    .collect();
                json!({ "name": g, "versions": versions, "preferredVersion": versions[0] })
            })
            .collect();
        json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
    }

    /// `/api/v1` or `/apis/{group}/{version}`; `None` when not served.
    pub(crate) fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let types: Vec<&ResourceType> = self
            .types
            .iter()
            .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
            .collect();
        if types.is_empty() {
            return None;
        }
        let resources: Vec<Value> = types.iter().flat_map(|t| t.legacy_entries()).collect();
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(
            json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources }),
        )
    }

    /// Aggregated discovery (`apidiscovery.k8s.io/v2`) of the core group
    /// (`core == true`, for `/api`) or of the named groups (`/apis`).
    pub(crate) fn aggregated(&self, core: bool) -> Value {
        let items: Vec<Value> = self
            .groups()
            .into_iter()
            .filter(|(g, _)| g.is_empty() == core)
            .map(|(g, vs)| {
                let versions: Vec<Value> = vs
                    .iter()
                    .map(|v| {
                        let resources: Vec<Value> = self
                            .types
                            .iter()
                            .filter(|t| t.group == g && t.versions.contains(v))
                            .map(|t| t.aggregated_entry(v))
                            .collect();
                        json!({ "version": v, "resources": resources, "freshness": "Current" })
                    })
                    .collect();
                json!({ "metadata": { "name": g }, "versions": versions })
            })
            .collect();
        json!({ "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items })
    }
}

/// `("apps", "v1")` from `apps/v1`, `("", "v1")` from `v1`.
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// The `/version` document: a 1.33 server, as `k8s-openapi`'s `v1_33` expects.
pub(crate) fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}
