//! What an automated Gateway gets, as Istio renders it (its
//! `kube-gateway.yaml` template): a ServiceAccount, a Service and a
//! Deployment named `<gateway>-<class>`, labelled with the Gateway's name
//! and class, carrying `spec.infrastructure` labels and annotations, and
//! owned by the Gateway so that they go with it. Pure: the same Gateway
//! always renders the same objects, which is what lets the deployer skip
//! a write that would change nothing.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use vestibule_api::KubeGateway;

/// The labels Istio puts on every object of a deployed Gateway; the
/// first one selects its pods.
pub const GATEWAY_NAME: &str = "gateway.networking.k8s.io/gateway-name";
pub const GATEWAY_CLASS: &str = "gateway.networking.k8s.io/gateway-class-name";
/// Marks an object as the deployer's: one without it is never taken over.
pub const MANAGED: &str = "gateway.istio.io/managed";
/// The Service type, on the Gateway (Istio's annotation).
pub const SERVICE_TYPE: &str = "networking.istio.io/service-type";
const NAME_OVERRIDE: &str = "gateway.istio.io/name-override";
const SERVICE_ACCOUNT: &str = "gateway.istio.io/service-account";
/// Annotations of the Gateway that are about the Gateway, not copied.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    NAME_OVERRIDE,
    SERVICE_ACCOUNT,
    "gateway.istio.io/controller-version",
];
/// Health, readiness and metrics of the deployed pods (Istio's status port).
pub const STATUS_PORT: i64 = 15021;

/// One object to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
    pub body: Value,
}

/// What every Gateway's objects share.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// The image of the deployed pods (this process's own).
    pub image: &'a str,
    /// Passed on to the pods, so that they accept the Gateway's class.
    pub controller_names: &'a [String],
}

/// `<gateway>-<class>` (Istio's name), unless the Gateway overrides it.
pub fn deployment_name(gateway: &KubeGateway) -> String {
    gateway
        .meta
        .annotations
        .get(NAME_OVERRIDE)
        .cloned()
        .unwrap_or_else(|| format!("{}-{}", gateway.meta.name, gateway.spec.gateway_class_name))
}

pub fn service_account_name(gateway: &KubeGateway) -> String {
    gateway
        .meta
        .annotations
        .get(SERVICE_ACCOUNT)
        .cloned()
        .unwrap_or_else(|| deployment_name(gateway))
}

/// The ServiceAccount, Service and Deployment of `gateway`, whose class'
/// controller is `controller`; `None` without a uid to own them by.
pub fn gateway_objects(
    gateway: &KubeGateway,
    controller: &str,
    settings: &Settings,
) -> Option<Vec<Object>> {
    let uid = gateway.meta.uid.as_deref()?;
    // Every object is labelled as managed (Istio's apply step does it
    // too), so that the deployer never takes over one it did not make.
    let base = Base {
        namespace: gateway.meta.namespace.clone(),
        owner: json!([{
            "apiVersion": gateway.type_meta.api_version,
            "kind": "Gateway",
            "name": gateway.meta.name,
            "uid": uid,
            // The Gateway is the objects' managing controller. No
            // blockOwnerDeletion, as Istio: setting it needs the right to
            // update gateways/finalizers, and deletion need not wait.
            "controller": true,
        }]),
        labels: labels(gateway, controller),
        annotations: annotations(gateway),
    };
    Some(vec![
        base.object(
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            service_account_name(gateway),
            None,
        ),
        base.object(
            "v1",
            "Service",
            "services",
            deployment_name(gateway),
            Some(service_spec(gateway)),
        ),
        base.object(
            "apps/v1",
            "Deployment",
            "deployments",
            deployment_name(gateway),
            Some(deployment_spec(gateway, controller, settings)),
        ),
    ])
}

/// One ClusterRoleBinding of `role` listing the ServiceAccounts of every
/// deployed Gateway (`(namespace, name)`, sorted): their pods read what
/// the gateway reads, cluster-wide. Cluster-scoped, so no Gateway can own
/// it: a Gateway that goes leaves the list instead.
pub fn reader_binding(role: &str, accounts: &[(String, String)]) -> Object {
    let subjects: Vec<Value> = accounts
        .iter()
        .map(|(namespace, name)| json!({"kind": "ServiceAccount", "name": name, "namespace": namespace}))
        .collect();
    Object {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        namespace: String::new(),
        name: role.to_owned(),
        body: json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role, "labels": {MANAGED: "vestibule"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects,
        }),
    }
}

struct Base {
    namespace: String,
    owner: Value,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl Base {
    fn object(
        &self,
        api_version: &'static str,
        kind: &'static str,
        plural: &'static str,
        name: String,
        spec: Option<Value>,
    ) -> Object {
        let mut body = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": self.labels,
                "annotations": self.annotations,
                "ownerReferences": self.owner,
            },
        });
        if let Some(spec) = spec {
            body["spec"] = spec;
        }
        Object {
            api_version,
            kind,
            plural,
            namespace: self.namespace.clone(),
            name,
            body,
        }
    }
}

/// `spec.infrastructure.<field>` when the Gateway sets it (without the
/// Gateway API's own prefix, reserved), else the Gateway's own metadata,
/// as Istio copies it by default.
fn infrastructure(gateway: &KubeGateway, field: &str) -> BTreeMap<String, String> {
    let set = gateway
        .spec
        .infrastructure
        .as_ref()
        .and_then(|infrastructure| infrastructure.get(field))
        .and_then(Value::as_object);
    match set {
        Some(set) => set
            .iter()
            .filter(|(key, _)| !key.starts_with("gateway.networking.k8s.io/"))
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .collect(),
        None if field == "labels" => gateway.meta.labels.clone(),
        None => gateway.meta.annotations.clone(),
    }
}

fn labels(gateway: &KubeGateway, controller: &str) -> BTreeMap<String, String> {
    let mut labels = infrastructure(gateway, "labels");
    labels.insert(GATEWAY_NAME.to_owned(), gateway.meta.name.clone());
    labels.insert(
        GATEWAY_CLASS.to_owned(),
        gateway.spec.gateway_class_name.clone(),
    );
    // Istio's value: the controller name with `/` made label-safe.
    labels.insert(MANAGED.to_owned(), controller.replace('/', "-"));
    labels
}

fn annotations(gateway: &KubeGateway) -> BTreeMap<String, String> {
    let mut annotations = infrastructure(gateway, "annotations");
    annotations.retain(|key, _| !NOT_COPIED.contains(&key.as_str()));
    annotations
}

/// The Service: Istio's status port, then one port per distinct listener
/// port, selecting the Deployment's pods.
fn service_spec(gateway: &KubeGateway) -> Value {
    let service_type = gateway
        .meta
        .annotations
        .get(SERVICE_TYPE)
        .map_or("LoadBalancer", String::as_str);
    let mut ports = vec![json!({
        "name": "status-port", "port": STATUS_PORT, "protocol": "TCP", "appProtocol": "tcp",
    })];
    for (name, port, protocol) in listener_ports(gateway) {
        ports.push(json!({"name": name, "port": port, "protocol": "TCP", "appProtocol": protocol}));
    }
    let mut spec = json!({
        "type": service_type,
        "ipFamilyPolicy": "PreferDualStack",
        "ports": ports,
        "selector": {GATEWAY_NAME: gateway.meta.name},
    });
    // An IP address asked for is the load balancer's (Istio: the first
    // address, for a LoadBalancer Service only).
    if let Some(address) = gateway.spec.addresses.first() {
        if service_type == "LoadBalancer" {
            spec["loadBalancerIP"] = json!(address.value);
        }
    }
    spec
}

/// `(port name, port, appProtocol)` per distinct listener port, in
/// listener order. Port names as Istio makes them from listener names:
/// `.` is not allowed (made `-`), 63 characters at most, unique.
fn listener_ports(gateway: &KubeGateway) -> Vec<(String, i64, String)> {
    let mut used = vec!["status-port".to_owned()];
    let mut ports = Vec::new();
    for (index, listener) in gateway.spec.listeners.iter().enumerate() {
        if ports.iter().any(|(_, port, _)| *port == listener.port) {
            continue;
        }
        let protocol = listener.protocol.to_ascii_lowercase();
        let mut name: String = listener.name.replace('.', "-").chars().take(63).collect();
        if name.is_empty() {
            name = format!("{protocol}-{index}");
        }
        let name = unique(name, listener.port, &used);
        used.push(name.clone());
        ports.push((name, listener.port, protocol));
    }
    ports
}

/// `name`, or `name-<port>` (then `x`s) cut to 63 characters when taken.
fn unique(name: String, port: i64, used: &[String]) -> String {
    let mut candidate = name.clone();
    let mut suffix = format!("-{port}");
    while used.contains(&candidate) {
        let keep = 63usize.saturating_sub(suffix.len()).min(name.len());
        candidate = format!("{}{suffix}", &name[..keep]);
        suffix.push('x');
    }
    candidate
}

/// The pods: this image, serving only this Gateway. They run as the
/// chart's pods do (non-root, read-only root, no capabilities); the
/// `ip_unprivileged_port_start` sysctl (namespaced and safe since
/// Kubernetes 1.22, as Istio's gateways use it) lets them bind the
/// listener ports as declared, so no port map is needed.
fn deployment_spec(gateway: &KubeGateway, controller: &str, settings: &Settings) -> Value {
    let name = &gateway.meta.name;
    let namespace = &gateway.meta.namespace;
    let mut args = vec![
        "serve".to_owned(),
        "--kubernetes".to_owned(),
        format!("--gateway={namespace}/{name}"),
        format!("--namespace={namespace}"),
        format!("--status=0.0.0.0:{STATUS_PORT}"),
        "--admin=127.0.0.1:15000".to_owned(),
    ];
    for controller_name in settings.controller_names {
        args.push(format!("--controller-name={controller_name}"));
    }
    let mut container_ports =
        vec![json!({"name": "status-port", "containerPort": STATUS_PORT, "protocol": "TCP"})];
    for (_, port, _) in listener_ports(gateway) {
        container_ports.push(json!({"containerPort": port, "protocol": "TCP"}));
    }
    let mut pod_labels: Map<String, Value> = Map::new();
    pod_labels.insert("sidecar.istio.io/inject".to_owned(), json!("false"));
    for (key, value) in labels(gateway, controller) {
        pod_labels.insert(key, json!(value));
    }
    let mut pod_annotations: Map<String, Value> = annotations(gateway)
        .into_iter()
        .map(|(key, value)| (key, json!(value)))
        .collect();
    pod_annotations.insert("prometheus.io/scrape".to_owned(), json!("true"));
    pod_annotations.insert(
        "prometheus.io/port".to_owned(),
        json!(STATUS_PORT.to_string()),
    );
    pod_annotations.insert("prometheus.io/path".to_owned(), json!("/stats/prometheus"));
    let probe = |path: &str| json!({"httpGet": {"path": path, "port": STATUS_PORT}, "periodSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 3});
    // No `replicas`: one by default, and a user's or an autoscaler's count
    // is not fought over.
    json!({
        "selector": {"matchLabels": {GATEWAY_NAME: name}},
        "template": {
            "metadata": {"labels": pod_labels, "annotations": pod_annotations},
            "spec": {
                "serviceAccountName": service_account_name(gateway),
                "terminationGracePeriodSeconds": 45,
                "securityContext": {
                    "runAsNonRoot": true,
                    "runAsUser": 65532,
                    "runAsGroup": 65532,
                    "seccompProfile": {"type": "RuntimeDefault"},
                    "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                },
                "containers": [{
                    "name": "vestibule",
                    "image": settings.image,
                    "args": args,
                    "ports": container_ports,
                    "readinessProbe": probe("/healthz/ready"),
                    "livenessProbe": probe("/healthz/live"),
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "readOnlyRootFilesystem": true,
                        "privileged": false,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }],
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const GATEWAY: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
  namespace: apps
  uid: 0000-1111
  labels: {team: a}
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}", note: kept}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: http.other, port: 80, protocol: HTTP}
  - {name: tls.site, port: 443, protocol: HTTPS}
"#;

    fn gateway(extra: &str) -> KubeGateway {
        crate::deploy::tests::inputs(&format!("{GATEWAY}{extra}"))
            .kube_gateways
            .remove(0)
    }

    fn render(gateway: &KubeGateway) -> Vec<Object> {
        let names = vec!["istio.io/gateway-controller".to_owned()];
        let settings = Settings {
            image: "registry.example/vestibule:1",
            controller_names: &names,
        };
        gateway_objects(gateway, "istio.io/gateway-controller", &settings).expect("a uid")
    }

    #[test]
    fn objects_are_named_labelled_and_owned_as_istio_does() {
        let objects = render(&gateway(""));
        let kinds: Vec<_> = objects.iter().map(|o| (o.kind, o.name.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("ServiceAccount", "httpbin-gateway-istio"),
                ("Service", "httpbin-gateway-istio"),
                ("Deployment", "httpbin-gateway-istio"),
            ]
        );
        for object in &objects {
            let metadata = &object.body["metadata"];
            assert_eq!(metadata["namespace"], "apps");
            assert_eq!(
                metadata["labels"],
                json!({
                    "team": "a",
                    "gateway.networking.k8s.io/gateway-name": "httpbin-gateway",
                    "gateway.networking.k8s.io/gateway-class-name": "istio",
                    "gateway.istio.io/managed": "istio.io-gateway-controller",
                })
            );
            assert_eq!(metadata["annotations"], json!({"note": "kept"}));
            assert_eq!(
                metadata["ownerReferences"],
                json!([{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                        "name": "httpbin-gateway", "uid": "0000-1111", "controller": true}])
            );
        }
    }

    #[test]
    fn the_service_has_a_port_per_distinct_listener_port() {
        let objects = render(&gateway(""));
        let spec = &objects[1].body["spec"];
        assert_eq!(spec["type"], "LoadBalancer");
        assert_eq!(
            spec["selector"],
            json!({"gateway.networking.k8s.io/gateway-name": "httpbin-gateway"})
        );
        assert_eq!(
            spec["ports"],
            json!([
                {"name": "status-port", "port": 15021, "protocol": "TCP", "appProtocol": "tcp"},
                {"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "http"},
                {"name": "tls-site", "port": 443, "protocol": "TCP", "appProtocol": "https"},
            ])
        );
        assert!(spec.get("loadBalancerIP").is_none());
    }

    #[test]
    fn service_type_address_and_infrastructure_are_honoured() {
        let ip = gateway("  addresses: [{type: IPAddress, value: 192.0.2.7}]\n  infrastructure:\n    labels: {tier: edge, gateway.networking.k8s.io/x: dropped}\n    annotations: {cloud/lb: internal}\n");
        let objects = render(&ip);
        assert_eq!(objects[1].body["spec"]["loadBalancerIP"], "192.0.2.7");
        let labels = &objects[2].body["metadata"]["labels"];
        assert_eq!(labels["tier"], "edge");
        assert!(
            labels.get("team").is_none(),
            "infrastructure replaces the Gateway's own"
        );
        assert!(labels.get("gateway.networking.k8s.io/x").is_none());
        assert_eq!(
            objects[2].body["metadata"]["annotations"],
            json!({"cloud/lb": "internal"})
        );
        let pod = &objects[2].body["spec"]["template"]["metadata"];
        assert_eq!(pod["labels"]["tier"], "edge");
        assert_eq!(pod["annotations"]["cloud/lb"], "internal");

        let mut cluster_ip = gateway("  addresses: [{type: IPAddress, value: 192.0.2.7}]\n");
        std::sync::Arc::make_mut(&mut cluster_ip.meta)
            .annotations
            .insert(SERVICE_TYPE.to_owned(), "ClusterIP".to_owned());
        let spec = &render(&cluster_ip)[1].body["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert!(
            spec.get("loadBalancerIP").is_none(),
            "only a load balancer takes an IP"
        );
    }

    #[test]
    fn the_pods_serve_only_their_gateway_on_the_declared_ports() {
        let objects = render(&gateway(""));
        let pod = &objects[2].body["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        assert_eq!(container["image"], "registry.example/vestibule:1");
        assert_eq!(
            container["args"],
            json!([
                "serve",
                "--kubernetes",
                "--gateway=apps/httpbin-gateway",
                "--namespace=apps",
                "--status=0.0.0.0:15021",
                "--admin=127.0.0.1:15000",
                "--controller-name=istio.io/gateway-controller"
            ])
        );
        let ports: Vec<_> = container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["containerPort"].clone())
            .collect();
        assert_eq!(ports, [json!(15021), json!(80), json!(443)]);
        assert_eq!(
            container["readinessProbe"]["httpGet"],
            json!({"path": "/healthz/ready", "port": 15021})
        );
        assert_eq!(
            pod["securityContext"]["sysctls"],
            json!([{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}])
        );
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["serviceAccountName"], "httpbin-gateway-istio");
        assert_eq!(
            objects[2].body["spec"]["selector"]["matchLabels"],
            objects[1].body["spec"]["selector"]
        );
        assert!(objects[2].body["spec"].get("replicas").is_none());
    }

    #[test]
    fn a_gateway_without_uid_renders_nothing_and_names_can_be_overridden() {
        let mut gateway = gateway("");
        std::sync::Arc::make_mut(&mut gateway.meta)
            .annotations
            .insert(NAME_OVERRIDE.to_owned(), "edge".to_owned());
        assert_eq!(deployment_name(&gateway), "edge");
        assert_eq!(service_account_name(&gateway), "edge");
        std::sync::Arc::make_mut(&mut gateway.meta).uid = None;
        let settings = Settings {
            image: "i",
            controller_names: &[],
        };
        assert!(gateway_objects(&gateway, "c", &settings).is_none());
    }

    #[test]
    fn port_names_stay_unique_and_short() {
        let long = "a".repeat(70);
        assert_eq!(unique(long.clone(), 80, &[]).len(), 70, "cut by the caller");
        let used = vec!["http".to_owned(), "http-80".to_owned()];
        assert_eq!(unique("http".to_owned(), 80, &used), "http-80x");
        let cut: String = long.chars().take(63).collect();
        let made = unique(cut.clone(), 8080, &[cut]);
        assert_eq!(made.len(), 63);
        assert!(made.ends_with("-8080"));
    }
}
