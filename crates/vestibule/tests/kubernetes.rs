//! Kubernetes mode end to end: the real `vestibule` binary watching an
//! in-process API server (`fake-apiserver`) through kube-rs, serving
//! traffic from what it reads and writing status back.

mod support;

use std::time::Duration;

use fake_apiserver::FakeApiServer;
use http::StatusCode;
use serde_json::{json, Value};
use support::{get, Gateway, HOST};

const GATEWAY_API: &str = "gateway.networking.k8s.io/v1";
const WAIT: Duration = Duration::from_secs(10);

/// The seed's httpbin Gateway and VirtualService, in `default`.
const ISTIO_SEED: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
  namespace: default
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
  namespace: default
spec:
  hosts: ["httpbin.example.com"]
  gateways: [httpbin-gateway]
  http:
  - match:
    - uri: {prefix: /status}
    route:
    - destination:
        host: httpbin
        port: {number: 8000}
"#;

/// The gateway's own Service, with a load-balancer address.
const GATEWAY_SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
spec:
  ports:
  - {name: http2, port: 80, targetPort: 8080}
status:
  loadBalancer:
    ingress:
    - ip: 192.0.2.10
"#;

const GATEWAY_API_SEED: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: istio
spec:
  controllerName: istio.io/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
  namespace: default
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    hostname: "httpbin.example.com"
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httpbin
  namespace: default
spec:
  parentRefs:
  - name: httpbin-gateway
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /get
    backendRefs:
    - name: httpbin
      port: 8000
"#;

/// A fake API server with the httpbin Service pointing at a real httpbin.
async fn cluster() -> (FakeApiServer, tempfile::TempDir) {
    let fake = FakeApiServer::start().await;
    let backend = support::httpbin("httpbin").await;
    fake.apply_yaml(&support::service("httpbin", "default", 8000, &[backend]));
    let dir = tempfile::tempdir().expect("temp dir");
    (fake, dir)
}

async fn gateway(fake: &FakeApiServer, dir: &tempfile::TempDir) -> Gateway {
    let kubeconfig = fake.write_kubeconfig(dir.path());
    let gateway = Gateway::start_kubernetes(&kubeconfig, &[80], &["--lease-duration", "3s"]).await;
    gateway.wait_ready().await;
    gateway
}

/// Polls `check` until it holds.
async fn eventually<F, Fut>(what: &str, gateway: &Gateway, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: never happened; log:\n{}", gateway.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_istio_seed_is_served_from_the_api_server_and_follows_its_changes() {
    let (fake, dir) = cluster().await;
    fake.register_istio();
    fake.apply_yaml(ISTIO_SEED);
    let gateway = gateway(&fake, &dir).await;
    let listener = gateway.listener(80).await;

    let (status, _, _) = get(listener, HOST, "/status/200").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get(listener, HOST, "/headers").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only /status is exposed");

    // The VirtualService changes: /headers is exposed too.
    let mut vs: Value = fake
        .get(
            "networking.istio.io/v1",
            "VirtualService",
            "default",
            "httpbin",
        )
        .expect("vs");
    vs["spec"]["http"][0]["match"]
        .as_array_mut()
        .expect("matches")
        .push(json!({"uri": {"prefix": "/headers"}}));
    fake.apply(vs);
    eventually(
        "the changed VirtualService serves /headers",
        &gateway,
        || async { get(listener, HOST, "/headers").await.0 == StatusCode::OK },
    )
    .await;

    // Deleted: nothing is served.
    fake.delete(
        "networking.istio.io/v1",
        "VirtualService",
        "default",
        "httpbin",
    );
    eventually(
        "the deleted VirtualService serves nothing",
        &gateway,
        || async { get(listener, HOST, "/status/200").await.0 == StatusCode::NOT_FOUND },
    )
    .await;
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_change_moves_traffic_without_a_new_generation() {
    let (fake, dir) = cluster().await;
    fake.register_istio();
    fake.apply_yaml(ISTIO_SEED);
    let gateway = gateway(&fake, &dir).await;
    let listener = gateway.listener(80).await;
    assert_eq!(get(listener, HOST, "/status/200").await.0, StatusCode::OK);
    let generation = gateway.generation().await;

    // The pods move: the slice now names another backend.
    let other = support::httpbin("moved").await;
    fake.apply_yaml(&support::service("httpbin", "default", 8000, &[other]));
    eventually("traffic reaches the new endpoint", &gateway, || async {
        let (status, headers, _) = get(listener, HOST, "/status/200").await;
        status == StatusCode::OK
            && headers
                .get("x-httpbin-name")
                .is_some_and(|name| name == "moved")
    })
    .await;
    assert_eq!(
        gateway.generation().await,
        generation,
        "routes were not translated again for an endpoint change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_api_status_is_written_with_addresses_and_kept_stable() {
    let (fake, dir) = cluster().await;
    fake.register_gateway_api();
    fake.apply_yaml(GATEWAY_SERVICE);
    fake.apply_yaml(GATEWAY_API_SEED);
    let gateway = gateway(&fake, &dir).await;
    let listener = gateway.listener(80).await;
    assert_eq!(get(listener, HOST, "/get").await.0, StatusCode::OK);

    // kubectl wait --for=condition=programmed gtw/httpbin-gateway
    let written = fake
        .wait_for(
            GATEWAY_API,
            "Gateway",
            "default",
            "httpbin-gateway",
            WAIT,
            |gw| {
                gw.is_some_and(|gw| {
                    condition(&gw["status"]["conditions"], "Programmed") == Some("True")
                })
            },
        )
        .await
        .expect("gateway");
    let status = &written["status"];
    assert_eq!(
        status["addresses"],
        json!([{"type": "IPAddress", "value": "192.0.2.10"}]),
        "the gateway Service's load-balancer address"
    );
    for condition in status["conditions"].as_array().expect("conditions") {
        assert_eq!(condition["observedGeneration"], 1, "{condition}");
        assert!(condition["lastTransitionTime"].is_string(), "{condition}");
    }
    assert_eq!(status["listeners"][0]["name"], "http");
    assert_eq!(status["listeners"][0]["attachedRoutes"], 1);

    // The route: one parent entry of ours, with the spec's fields.
    let route = fake
        .wait_for(
            GATEWAY_API,
            "HTTPRoute",
            "default",
            "httpbin",
            WAIT,
            |route| {
                route.is_some_and(|route| {
                    route["status"]["parents"]
                        .as_array()
                        .is_some_and(|p| !p.is_empty())
                })
            },
        )
        .await
        .expect("route");
    let parent = &route["status"]["parents"][0];
    assert_eq!(parent["controllerName"], "istio.io/gateway-controller");
    assert_eq!(parent["parentRef"]["name"], "httpbin-gateway");
    assert_eq!(condition(&parent["conditions"], "Accepted"), Some("True"));
    assert_eq!(
        condition(&parent["conditions"], "ResolvedRefs"),
        Some("True")
    );

    // Another controller's entry is left alone.
    let foreign = json!({
        "controllerName": "example.net/other",
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "elsewhere"},
        "conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners",
                        "message": "", "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    });
    let mut parents = route["status"]["parents"]
        .as_array()
        .expect("parents")
        .clone();
    parents.push(foreign.clone());
    fake.patch_status(
        "HTTPRoute",
        "default",
        "httpbin",
        json!({"status": {"parents": parents}}),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let route = fake
        .get(GATEWAY_API, "HTTPRoute", "default", "httpbin")
        .expect("route");
    let parents = route["status"]["parents"].as_array().expect("parents");
    assert!(
        parents.contains(&foreign),
        "the foreign entry was kept: {parents:#?}"
    );
    assert_eq!(parents.len(), 2);

    // A spec change that leaves the outcome alone: observedGeneration
    // follows, lastTransitionTime does not move.
    let before = condition_time(&written["status"]["conditions"], "Programmed");
    let mut gw = fake
        .get(GATEWAY_API, "Gateway", "default", "httpbin-gateway")
        .expect("gateway");
    gw["metadata"]["labels"] = json!({"team": "a"});
    gw["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["from"] = json!("All");
    fake.apply(gw);
    let rewritten = fake
        .wait_for(
            GATEWAY_API,
            "Gateway",
            "default",
            "httpbin-gateway",
            WAIT,
            |gw| gw.is_some_and(|gw| gw["status"]["conditions"][0]["observedGeneration"] == 2),
        )
        .await
        .expect("gateway");
    assert_eq!(
        condition_time(&rewritten["status"]["conditions"], "Programmed"),
        before
    );

    // Nothing changes: nothing is written.
    tokio::time::sleep(Duration::from_millis(500)).await;
    fake.clear_requests();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let writes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|request| request.method == "PATCH" && request.path.contains("/status"))
        .collect();
    assert!(
        writes.is_empty(),
        "status written with nothing new: {writes:#?}"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.method != "PATCH" || r.path.contains("fieldManager=vestibule")),
        "every write names vestibule's field manager"
    );
    fake.assert_clean();
}

fn condition<'a>(conditions: &'a Value, kind: &str) -> Option<&'a str> {
    conditions.as_array()?.iter().find(|c| c["type"] == kind)?["status"].as_str()
}

fn condition_time(conditions: &Value, kind: &str) -> String {
    conditions
        .as_array()
        .and_then(|list| list.iter().find(|c| c["type"] == kind))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .expect("lastTransitionTime")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_installed_later_is_served_without_a_restart() {
    let (fake, dir) = cluster().await;
    let gateway = gateway(&fake, &dir).await;
    let status = gateway.status().await;
    let kinds = status["kubernetes"]["kinds"].as_array().expect("kinds");
    let route = kinds
        .iter()
        .find(|k| k["kind"] == "HTTPRoute")
        .expect("HTTPRoute listed");
    assert_eq!(route["state"], "absent", "{route}");

    fake.register_gateway_api();
    fake.apply_yaml(GATEWAY_API_SEED);
    eventually("the late Gateway API is served", &gateway, || async {
        let status = gateway.status().await;
        let bound = status["listeners"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["port"] == 80))
            .and_then(|l| l["address"].as_str())
            .and_then(|a| a.parse().ok());
        match bound {
            Some(address) => get(address, HOST, "/get").await.0 == StatusCode::OK,
            None => false,
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_outage_keeps_the_last_configuration_serving() {
    let (fake, dir) = cluster().await;
    fake.register_istio();
    fake.apply_yaml(ISTIO_SEED);
    let gateway = gateway(&fake, &dir).await;
    let listener = gateway.listener(80).await;

    fake.set_outage(fake_apiserver::Outage::Refuse);
    eventually("the outage shows in /status", &gateway, || async {
        gateway.status().await["kubernetes"]["degraded"] == true
    })
    .await;
    let metrics = gateway.admin_get("/metrics").await.1;
    assert!(
        metrics.contains("vestibule_kubernetes_degraded 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("vestibule_kubernetes_watch_failures_total 0\n"),
        "{metrics}"
    );
    assert_eq!(get(listener, HOST, "/status/200").await.0, StatusCode::OK);
    assert_eq!(
        gateway.admin_get("/ready").await.0,
        StatusCode::OK,
        "ready for what is configured"
    );

    fake.clear_outage();
    eventually("the watches recover", &gateway, || async {
        gateway.status().await["kubernetes"]["degraded"] == false
    })
    .await;
    // And follow changes again.
    fake.delete(
        "networking.istio.io/v1",
        "VirtualService",
        "default",
        "httpbin",
    );
    eventually("a change after the outage is served", &gateway, || async {
        get(listener, HOST, "/status/200").await.0 == StatusCode::NOT_FOUND
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_hands_over_at_once_on_sigterm() {
    let (fake, dir) = cluster().await;
    fake.register_istio();
    fake.apply_yaml(ISTIO_SEED);
    let kubeconfig = fake.write_kubeconfig(dir.path());
    let first = Gateway::start_kubernetes(
        &kubeconfig,
        &[80],
        &["--lease-duration", "15s", "--pod-name", "first"],
    )
    .await;
    first.wait_ready().await;
    let lease = |holder: &'static str| {
        move |lease: Option<&Value>| lease.is_some_and(|l| l["spec"]["holderIdentity"] == holder)
    };
    fake.wait_for(
        "coordination.k8s.io/v1",
        "Lease",
        "istio-system",
        "vestibule-status-leader",
        WAIT,
        lease("first"),
    )
    .await;
    let mut second = Gateway::start_kubernetes(
        &kubeconfig,
        &[80],
        &["--lease-duration", "15s", "--pod-name", "second"],
    )
    .await;
    second.wait_ready().await;
    // Both serve; only the first leads.
    assert_eq!(
        get(second.listener(80).await, HOST, "/status/200").await.0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(first.status().await["kubernetes"]["leader"], true);
    assert_eq!(second.status().await["kubernetes"]["leader"], false);

    // SIGTERM: the Lease is released at once, not left to expire (15 s).
    let mut first = first;
    first.sigterm();
    let started = std::time::Instant::now();
    fake.wait_for(
        "coordination.k8s.io/v1",
        "Lease",
        "istio-system",
        "vestibule-status-leader",
        WAIT,
        lease("second"),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the second replica took over in {:?}, not within a few retry periods",
        started.elapsed()
    );
    first.wait().await;
    eventually("the second replica leads", &second, || async {
        second.status().await["kubernetes"]["leader"] == true
    })
    .await;
    second.sigterm();
    second.wait().await;
}

/// The seed's Ingress with an IngressClass of Istio's controller.
const INGRESS_SEED: &str = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: istio
spec:
  controller: istio.io/ingress-controller
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ingress
  namespace: default
spec:
  ingressClassName: istio
  rules:
  - host: httpbin.example.com
    http:
      paths:
      - path: /status
        pathType: Prefix
        backend:
          service:
            name: httpbin
            port: {number: 8000}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingress_of_ours_gets_the_gateway_address_in_its_status() {
    let (fake, dir) = cluster().await;
    fake.apply_yaml(GATEWAY_SERVICE);
    fake.apply_yaml(INGRESS_SEED);
    let gateway = gateway(&fake, &dir).await;
    let listener = gateway.listener(80).await;
    assert_eq!(get(listener, HOST, "/status/200").await.0, StatusCode::OK);
    let ingress = fake
        .wait_for(
            "networking.k8s.io/v1",
            "Ingress",
            "default",
            "ingress",
            WAIT,
            |ingress| ingress.is_some_and(|i| !i["status"]["loadBalancer"]["ingress"].is_null()),
        )
        .await
        .expect("ingress");
    assert_eq!(
        ingress["status"]["loadBalancer"]["ingress"],
        json!([{"ip": "192.0.2.10"}])
    );

    // The Service loses its load balancer: the pods' addresses are used.
    fake.apply_yaml(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: istio-ingressgateway\n  namespace: istio-system\nspec:\n  ports:\n  - {name: http2, port: 80}\nstatus: {loadBalancer: {}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: istio-ingressgateway-a\n  namespace: istio-system\n  labels: {kubernetes.io/service-name: istio-ingressgateway}\naddressType: IPv4\nports: [{name: http2, port: 8080}]\nendpoints:\n- addresses: [\"10.1.0.7\"]\n  conditions: {ready: true}\n",
    );
    fake.wait_for(
        "networking.k8s.io/v1",
        "Ingress",
        "default",
        "ingress",
        WAIT,
        |ingress| {
            ingress.is_some_and(|i| {
                i["status"]["loadBalancer"]["ingress"] == json!([{"ip": "10.1.0.7"}])
            })
        },
    )
    .await;
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_secrets_the_configuration_names_are_read() {
    use support::pki::{self, Ca};
    let (fake, dir) = cluster().await;
    fake.register_istio();
    let ca = Ca::new("example Inc. root");
    let leaf = ca.server(&["httpbin.example.com"]);
    fake.apply_yaml(&pki::tls_secret(
        "httpbin-credential",
        "istio-system",
        &leaf,
        None,
    ));
    fake.apply_yaml(&pki::tls_secret("unrelated", "istio-system", &leaf, None));
    fake.apply_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mygateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: httpbin-credential}
    hosts: ["httpbin.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: default}
spec:
  hosts: ["httpbin.example.com"]
  gateways: ["mygateway"]
  http:
  - route:
    - destination: {port: {number: 8000}, host: httpbin}
"#,
    );
    let kubeconfig = fake.write_kubeconfig(dir.path());
    let gateway = Gateway::start_kubernetes(&kubeconfig, &[443], &[]).await;
    gateway.wait_ready().await;
    let files = tempfile::tempdir().expect("temp dir");
    let ca_file = pki::file(&files, "ca.crt", &ca.pem());
    let https = || async {
        let address = gateway.listener(443).await;
        let resolve = format!("httpbin.example.com:{}:127.0.0.1", address.port());
        let url = format!("https://httpbin.example.com:{}/status/200", address.port());
        support::curl(&[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--resolve",
            &resolve,
            "--cacert",
            &ca_file,
            &url,
        ])
        .await
    };
    eventually(
        "HTTPS is served with the named Secret's certificate",
        &gateway,
        || async { https().await == "200" },
    )
    .await;
    let reads: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/secrets/"))
        .map(|r| r.path)
        .collect();
    assert!(
        reads
            .iter()
            .any(|path| path.contains("/namespaces/istio-system/secrets/httpbin-credential")),
        "{reads:#?}"
    );
    assert!(
        !reads.iter().any(|path| path.contains("unrelated")),
        "{reads:#?}"
    );
    assert!(
        !gateway
            .admin_get("/config_dump")
            .await
            .1
            .contains("unrelated"),
        "an unnamed Secret is not kept"
    );
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_the_lease_duration() {
    let (fake, dir) = cluster().await;
    let kubeconfig = fake.write_kubeconfig(dir.path());
    let args = |name: &'static str| ["--lease-duration", "3s", "--pod-name", name];
    let first = Gateway::start_kubernetes(&kubeconfig, &[80], &args("first")).await;
    first.wait_ready().await;
    let held_by = |holder: &'static str| {
        move |lease: Option<&Value>| lease.is_some_and(|l| l["spec"]["holderIdentity"] == holder)
    };
    let lease = (
        "coordination.k8s.io/v1",
        "Lease",
        "istio-system",
        "vestibule-status-leader",
    );
    fake.wait_for(lease.0, lease.1, lease.2, lease.3, WAIT, held_by("first"))
        .await;
    let second = Gateway::start_kubernetes(&kubeconfig, &[80], &args("second")).await;
    second.wait_ready().await;

    // No release: the Lease must expire as the second replica sees it.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = std::time::Instant::now();
    fake.wait_for(lease.0, lease.1, lease.2, lease.3, WAIT, held_by("second"))
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "took over after {took:?}: the Lease lasts 3 s, renewed every 0.4 s"
    );
    let lease = fake.get(lease.0, lease.1, lease.2, lease.3).expect("lease");
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease:#}");
}
