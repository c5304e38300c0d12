//! Gateway API automated deployment end to end: the real `vestibule`
//! binary with `--deploy-gateways` against the in-process API server
//! (`fake-apiserver`), which stores what it applies, collects what a
//! deleted Gateway owned, and records every request.

mod support;

use std::time::Duration;

use fake_apiserver::FakeApiServer;
use serde_json::{json, Value};
use support::Gateway;

const GATEWAY_API: &str = "gateway.networking.k8s.io/v1";
const WAIT: Duration = Duration::from_secs(10);
const IMAGE: &str = "registry.example/vestibule:test";
/// Istio's name for a Gateway's objects: `<gateway>-<class>`.
const DEPLOYED: &str = "httpbin-gateway-vestibule";

const CLASS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: vestibule
spec:
  controllerName: vestibule.io/gateway-controller
"#;

/// The seed's Gateway, of our class, with `extra` appended to its spec.
fn gateway_yaml(metadata: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
  namespace: default
{metadata}spec:
  gatewayClassName: vestibule
  listeners:
  - name: http
    hostname: "httpbin.example.com"
    port: 80
    protocol: HTTP
{extra}"#
    )
}

async fn start(fake: &FakeApiServer, dir: &tempfile::TempDir, deploy: bool) -> Gateway {
    let kubeconfig = fake.write_kubeconfig(dir.path());
    let mut extra = vec!["--lease-duration", "3s"];
    if deploy {
        extra.extend([
            "--deploy-gateways",
            "--deploy-image",
            IMAGE,
            "--deploy-reader-role",
            "vestibule-gateway",
        ]);
    }
    let gateway = Gateway::start_kubernetes(&kubeconfig, &[80, 8080], &extra).await;
    gateway.wait_ready().await;
    gateway
}

async fn cluster(gateway: &str) -> (FakeApiServer, tempfile::TempDir) {
    let fake = FakeApiServer::start().await;
    fake.register_gateway_api();
    fake.apply_yaml(CLASS);
    fake.apply_yaml(gateway);
    (fake, tempfile::tempdir().expect("temp dir"))
}

async fn present(fake: &FakeApiServer, api_version: &str, kind: &str, name: &str) -> Value {
    fake.wait_for(api_version, kind, "default", name, WAIT, |o| o.is_some())
        .await
        .expect("present")
}

async fn gateway_addresses(fake: &FakeApiServer, expected: Value) {
    fake.wait_for(
        GATEWAY_API,
        "Gateway",
        "default",
        "httpbin-gateway",
        WAIT,
        |gw| gw.is_some_and(|gw| gw["status"]["addresses"] == expected),
    )
    .await;
}

/// Writes other than the Lease's since the requests were last cleared.
fn writes(fake: &FakeApiServer) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.contains("/leases"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_of_our_class_gets_its_own_deployment_service_and_account() {
    let infrastructure = "  addresses: [{type: IPAddress, value: 192.0.2.7}]\n  infrastructure:\n    labels: {tier: edge}\n    annotations: {example.net/lb: internal}\n";
    let (fake, dir) = cluster(&gateway_yaml("", infrastructure)).await;
    let process = start(&fake, &dir, true).await;
    let gateway = fake
        .get(GATEWAY_API, "Gateway", "default", "httpbin-gateway")
        .expect("gateway");
    let uid = gateway["metadata"]["uid"].clone();

    let deployment = present(&fake, "apps/v1", "Deployment", DEPLOYED).await;
    let service = present(&fake, "v1", "Service", DEPLOYED).await;
    let account = present(&fake, "v1", "ServiceAccount", DEPLOYED).await;
    for object in [&deployment, &service, &account] {
        let metadata = &object["metadata"];
        assert_eq!(
            metadata["labels"],
            json!({
                "tier": "edge",
                "gateway.networking.k8s.io/gateway-name": "httpbin-gateway",
                "gateway.networking.k8s.io/gateway-class-name": "vestibule",
                "gateway.istio.io/managed": "vestibule.io-gateway-controller",
            }),
            "{object:#}"
        );
        assert_eq!(
            metadata["annotations"],
            json!({"example.net/lb": "internal"})
        );
        assert_eq!(
            metadata["ownerReferences"],
            json!([{"apiVersion": GATEWAY_API, "kind": "Gateway", "name": "httpbin-gateway",
                    "uid": uid, "controller": true}])
        );
    }
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(service["spec"]["loadBalancerIP"], "192.0.2.7");
    assert_eq!(
        service["spec"]["ports"],
        json!([
            {"name": "status-port", "port": 15021, "protocol": "TCP", "appProtocol": "tcp"},
            {"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "http"},
        ])
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], DEPLOYED);
    let container = &pod["containers"][0];
    assert_eq!(container["image"], IMAGE);
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"--gateway=default/httpbin-gateway"),
        "{args:?}"
    );
    assert!(args.contains(&"--status=0.0.0.0:15021"), "{args:?}");
    // Applied after the Deployment: wait for it too.
    let binding = fake
        .wait_for(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "",
            "vestibule-gateway",
            WAIT,
            |binding| binding.is_some(),
        )
        .await
        .expect("the readers' binding");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": DEPLOYED, "namespace": "default"}])
    );
    assert!(
        fake.managers("v1", "Service", "default", DEPLOYED)
            .contains_key("vestibule"),
        "applied by vestibule's field manager"
    );

    // The load balancer gets its address: the Gateway reports it.
    fake.patch_status(
        "Service",
        "default",
        DEPLOYED,
        json!({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}}),
    );
    gateway_addresses(
        &fake,
        json!([{"type": "IPAddress", "value": "203.0.113.9"}]),
    )
    .await;

    // A listener's port changes: the Service follows.
    let mut changed = fake
        .get(GATEWAY_API, "Gateway", "default", "httpbin-gateway")
        .expect("gateway");
    changed["spec"]["listeners"][0]["port"] = json!(8080);
    fake.apply(changed);
    fake.wait_for("v1", "Service", "default", DEPLOYED, WAIT, |s| {
        s.is_some_and(|s| {
            s["spec"]["ports"][1]["port"] == 8080
                && s["spec"]["ports"].as_array().is_some_and(|p| p.len() == 2)
        })
    })
    .await;
    fake.wait_for("apps/v1", "Deployment", "default", DEPLOYED, WAIT, |d| {
        d.is_some_and(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["ports"][1]["containerPort"] == 8080
        })
    })
    .await;

    // Nothing changes: nothing is written (status included).
    tokio::time::sleep(Duration::from_secs(1)).await;
    fake.clear_requests();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        writes(&fake),
        Vec::<String>::new(),
        "written with nothing new"
    );

    // The Gateway goes: what it owned goes with it; the binding forgets it.
    fake.delete(GATEWAY_API, "Gateway", "default", "httpbin-gateway");
    for (api_version, kind) in [
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
    ] {
        assert!(
            fake.get(api_version, kind, "default", DEPLOYED).is_none(),
            "{kind} collected"
        );
    }
    fake.wait_for(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "",
        "vestibule-gateway",
        WAIT,
        |b| b.is_some_and(|b| b["subjects"] == json!([])),
    )
    .await;
    // And it is not brought back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        fake.get("apps/v1", "Deployment", "default", DEPLOYED)
            .is_none(),
        "{}",
        process.log()
    );
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_type_annotation_is_honoured() {
    let metadata = "  annotations:\n    networking.istio.io/service-type: ClusterIP\n";
    let (fake, dir) = cluster(&gateway_yaml(metadata, "")).await;
    let _process = start(&fake, &dir, true).await;
    let service = present(&fake, "v1", "Service", DEPLOYED).await;
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert!(service["spec"].get("loadBalancerIP").is_none());
    // No load balancer: the Service's name is the Gateway's address, as
    // Istio reports it.
    gateway_addresses(
        &fake,
        json!([{"type": "Hostname", "value": "httpbin-gateway-vestibule.default.svc.cluster.local"}]),
    )
    .await;
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_in_the_manual_mode_gets_no_deployment_and_its_services_addresses() {
    let manual = "  addresses: [{type: Hostname, value: edge.default.svc.cluster.local}]\n";
    let (fake, dir) = cluster(&gateway_yaml("", manual)).await;
    fake.apply_yaml(
        "apiVersion: v1\nkind: Service\nmetadata: {name: edge, namespace: default}\nspec:\n  type: LoadBalancer\n  ports: [{name: http, port: 80}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: 192.0.2.20}]\n",
    );
    let _process = start(&fake, &dir, true).await;
    gateway_addresses(&fake, json!([{"type": "IPAddress", "value": "192.0.2.20"}])).await;
    assert!(fake
        .get("apps/v1", "Deployment", "default", DEPLOYED)
        .is_none());
    assert!(fake.get("v1", "Service", "default", DEPLOYED).is_none());
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_deploy_gateways_nothing_is_created() {
    let (fake, dir) = cluster(&gateway_yaml("", "")).await;
    let _process = start(&fake, &dir, false).await;
    // Status is written (the process leads and works)...
    fake.wait_for(
        GATEWAY_API,
        "Gateway",
        "default",
        "httpbin-gateway",
        WAIT,
        |gw| {
            gw.is_some_and(|gw| {
                gw["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty())
            })
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // ...and nothing is deployed.
    assert!(fake.list("Deployment").is_empty());
    assert!(fake.list("ServiceAccount").is_empty());
    assert!(fake.list("ClusterRoleBinding").is_empty());
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.content_type != "application/apply-patch+yaml"),
        "no apply sent"
    );
    fake.assert_clean();
}
