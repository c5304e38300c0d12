//! The fake against kube-rs' real client and runtime.

use std::time::Duration;

use fake_apiserver::{FakeApiServer, Outage};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Discovery;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, Config, ResourceExt};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

/// A client built the way `vestibule` builds one: from a kubeconfig file.
async fn client(fake: &FakeApiServer) -> (Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = fake.write_kubeconfig(dir.path());
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    (Client::try_from(config).unwrap(), dir)
}

fn cm(name: &str, labels: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name, "namespace": "default", "labels": labels }, "data": { "k": "v" } })
}

fn route_api(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "httproutes"),
    )
}

fn route(name: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": { "name": name, "namespace": "default" },
        "spec": { "parentRefs": [{ "name": "gw" }] },
    })
}

/// Waits until the reflector's store holds exactly `names`.
async fn converge(store: &reflector::Store<ConfigMap>, names: &[&str]) {
    let want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut have: Vec<String> = store.state().iter().map(|o| o.name_any()).collect();
        have.sort();
        if have == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "store has {have:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn discovery_sees_builtin_groups_and_one_registered_later() {
    let fake = FakeApiServer::start().await;
    let (client, _dir) = client(&fake).await;
    let info = client.apiserver_version().await.unwrap();
    assert_eq!(info.minor, "33");

    let d = Discovery::new(client.clone()).run().await.unwrap();
    for g in [
        "",
        "apps",
        "networking.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
    ] {
        assert!(d.has_group(g), "{g}");
    }
    assert!(!d.has_group("gateway.networking.k8s.io"));
    let gvk = GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress");
    let (ar, caps) = d.resolve_gvk(&gvk).unwrap();
    assert_eq!(ar.plural, "ingresses");
    assert!(caps
        .subresources
        .iter()
        .any(|(s, _)| s.plural == "ingresses/status" || s.plural == "status"));

    fake.register_gateway_api();
    fake.register_istio();
    for d in [
        Discovery::new(client.clone()).run().await.unwrap(),
        Discovery::new(client.clone())
            .run_aggregated()
            .await
            .unwrap(),
    ] {
        let g = d.get("gateway.networking.k8s.io").unwrap();
        assert_eq!(g.preferred_version_or_latest(), "v1");
        let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1alpha2", "TLSRoute");
        let (ar, caps) = d.resolve_gvk(&gvk).unwrap();
        assert_eq!(ar.plural, "tlsroutes");
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
        let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "GatewayClass");
        assert_eq!(
            d.resolve_gvk(&gvk).unwrap().1.scope,
            kube::discovery::Scope::Cluster
        );
        assert!(d
            .resolve_gvk(&GroupVersionKind::gvk(
                "networking.istio.io",
                "v1alpha3",
                "VirtualService"
            ))
            .is_some());
        assert!(d
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Service"))
            .is_some());
    }

    fake.unregister_group("networking.istio.io");
    let d = Discovery::new(client.clone()).run().await.unwrap();
    assert!(!d.has_group("networking.istio.io"));
    fake.assert_clean();
}

#[tokio::test]
async fn reflector_gets_initial_list_then_changes() {
    let fake = FakeApiServer::start().await;
    fake.apply(cm("a", json!({ "app": "web" })));
    fake.apply(cm("other", json!({ "app": "db" })));
    let (client, _dir) = client(&fake).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());

    let (reader, writer) = reflector::store();
    let cfg = watcher::Config::default().labels("app in (web, api)");
    let stream = reflector(writer, watcher(api.clone(), cfg)).applied_objects();
    let task = tokio::spawn(async move { stream.for_each(|_| async {}).await });
    reader.wait_until_ready().await.unwrap();
    converge(&reader, &["a"]).await;

    api.create(
        &PostParams::default(),
        &serde_json::from_value(cm("b", json!({ "app": "api" }))).unwrap(),
    )
    .await
    .unwrap();
    converge(&reader, &["a", "b"]).await;
    let patched = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": { "k": "changed" } })),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while reader
        .state()
        .iter()
        .find(|o| o.name_any() == "a")
        .unwrap()
        .resource_version()
        != patched.resource_version()
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Leaving the selector is a DELETED for this watch.
    api.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "app": "db" } } })),
    )
    .await
    .unwrap();
    converge(&reader, &["a"]).await;
    api.delete("a", &DeleteParams::default()).await.unwrap();
    converge(&reader, &[]).await;

    let reqs = fake.requests();
    assert!(reqs
        .iter()
        .any(|r| r.path.contains("watch=true") && r.path.contains("allowWatchBookmarks=true")));
    task.abort();
    fake.assert_clean();
}

#[tokio::test]
async fn streaming_list_watcher_and_bookmarks() {
    let fake = FakeApiServer::start().await;
    fake.apply(cm("a", json!({})));
    let (client, _dir) = client(&fake).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().streaming_lists()),
    );
    let task = tokio::spawn(stream.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();
    converge(&reader, &["a"]).await;
    fake.send_bookmarks();
    fake.apply(cm("b", json!({})));
    converge(&reader, &["a", "b"]).await;
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path.contains("sendInitialEvents=true")));
    assert!(
        !fake.requests().iter().any(|r| r.path.contains("limit=")),
        "no list with streaming lists"
    );
    task.abort();
    fake.assert_clean();
}

#[tokio::test]
async fn compaction_makes_the_watcher_relist() {
    let fake = FakeApiServer::start().await;
    fake.apply(cm("a", json!({})));
    let (client, _dir) = client(&fake).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(stream.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();
    converge(&reader, &["a"]).await;
    let lists_before = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && !r.path.contains("watch="))
        .count();

    fake.compact_and_close_watches();
    // Changes made while the watcher is away must still reach the store.
    fake.delete("v1", "ConfigMap", "default", "a");
    fake.apply(cm("c", json!({})));
    converge(&reader, &["c"]).await;
    let lists_after = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && !r.path.contains("watch="))
        .count();
    assert!(
        lists_after > lists_before,
        "the watcher listed again after 410"
    );
    task.abort();
    fake.assert_clean();
}

#[tokio::test]
async fn status_patches_bump_resource_version_not_generation() {
    let fake = FakeApiServer::start().await;
    fake.register_gateway_api();
    let (client, _dir) = client(&fake).await;
    let api = route_api(&client);
    let created: DynamicObject = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(route("r")).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());

    let status = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": { "name": "r" },
        "status": { "parents": [{ "controllerName": "vestibule.dev/gateway", "parentRef": { "name": "gw" }, "conditions": [] }] },
    });
    let applied = api
        .patch_status(
            "r",
            &PatchParams::apply("vestibule").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(applied.metadata.generation, Some(1));
    assert_ne!(
        applied.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(
        applied.data["status"]["parents"][0]["controllerName"],
        "vestibule.dev/gateway"
    );
    assert_eq!(applied.data["spec"], created.data["spec"]);

    // The same apply again changes nothing: no new resourceVersion.
    let again = api
        .patch_status(
            "r",
            &PatchParams::apply("vestibule").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        applied.metadata.resource_version
    );

    let merged = api
        .patch_status(
            "r",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "parents": [] }, "spec": { "hostnames": ["x"] } })),
        )
        .await
        .unwrap();
    assert_eq!(merged.metadata.generation, Some(1));
    assert_eq!(merged.data["status"]["parents"], json!([]));
    assert!(
        merged.data["spec"].get("hostnames").is_none(),
        "a /status write changes only status"
    );

    let spec = api
        .patch(
            "r",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "hostnames": ["x"] }, "status": { "parents": [1] } })),
        )
        .await
        .unwrap();
    assert_eq!(spec.metadata.generation, Some(2));
    assert_eq!(
        spec.data["status"]["parents"],
        json!([]),
        "a main write ignores status"
    );

    let m = fake.managers("gateway.networking.k8s.io/v1", "HTTPRoute", "default", "r");
    // The merge patches named no manager and kube sends no User-Agent.
    assert!(m[""].contains(&"status.parents".to_string()), "{m:?}");
    assert!(
        !m.contains_key("vestibule"),
        "the merge patch took status.parents from vestibule: {m:?}"
    );
    let reqs = fake.requests();
    let applies: Vec<_> = reqs
        .iter()
        .filter(|r| r.content_type == "application/apply-patch+yaml")
        .collect();
    assert_eq!(applies.len(), 2);
    assert!(
        applies[0].path.contains("/httproutes/r/status?")
            && applies[0].path.contains("fieldManager=vestibule")
    );
    fake.assert_clean();
}

#[tokio::test]
async fn server_side_apply_conflicts_and_ownership() {
    let fake = FakeApiServer::start().await;
    fake.register_gateway_api();
    let (client, _dir) = client(&fake).await;
    let api = route_api(&client);
    let mine = json!({ "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": { "name": "r" }, "spec": { "hostnames": ["a"], "parentRefs": [{ "name": "gw" }] } });
    api.patch("r", &PatchParams::apply("alice"), &Patch::Apply(&mine))
        .await
        .unwrap();
    let theirs = json!({ "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": { "name": "r" }, "spec": { "hostnames": ["b"] } });
    let err = api
        .patch("r", &PatchParams::apply("bob"), &Patch::Apply(&theirs))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert!(
                s.message.contains("alice") && s.message.contains("spec.hostnames"),
                "{}",
                s.message
            );
        }
        e => panic!("{e}"),
    }
    let forced = api
        .patch(
            "r",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(&theirs),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["hostnames"], json!(["b"]));
    // alice drops parentRefs from her config: nobody else owns them, so they go.
    let less = json!({ "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": { "name": "r" }, "spec": {} });
    let after = api
        .patch("r", &PatchParams::apply("alice"), &Patch::Apply(&less))
        .await
        .unwrap();
    assert!(after.data["spec"].get("parentRefs").is_none());
    assert_eq!(after.data["spec"]["hostnames"], json!(["b"]));
    // An apply without a field manager is refused, as by the real server.
    let req =
        http::Request::patch("/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/r")
            .header("content-type", "application/apply-patch+yaml")
            .body(b"metadata: {name: r}".to_vec())
            .unwrap();
    let err = client.request::<DynamicObject>(req).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 422));
    fake.assert_clean();
}

#[tokio::test]
async fn replace_with_stale_resource_version_conflicts() {
    let fake = FakeApiServer::start().await;
    let (client, _dir) = client(&fake).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let first = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(cm("a", json!({}))).unwrap(),
        )
        .await
        .unwrap();
    let mut second = first.clone();
    second.data = Some([("k".to_string(), "2".to_string())].into());
    let replaced = api
        .replace("a", &PostParams::default(), &second)
        .await
        .unwrap();
    assert_ne!(replaced.resource_version(), first.resource_version());
    let err = api
        .replace("a", &PostParams::default(), &first)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{err}"
    );
    let err = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "resourceVersion": first.resource_version() } })),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err}"
    );
    fake.assert_clean();
}

#[tokio::test]
async fn lease_create_twice_conflicts_and_replace_follows_versions() {
    let fake = FakeApiServer::start().await;
    let (client, _dir) = client(&fake).await;
    let api: Api<Lease> = Api::default_namespaced(client.clone());
    let lease: Lease = serde_json::from_value(json!({
        "metadata": { "name": "vestibule-leader" },
        "spec": { "holderIdentity": "pod-a", "leaseDurationSeconds": 15 },
    }))
    .unwrap();
    let held = api.create(&PostParams::default(), &lease).await.unwrap();
    let err = api
        .create(&PostParams::default(), &lease)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err}"
    );

    let mut taken = api.get("vestibule-leader").await.unwrap();
    taken.spec.as_mut().unwrap().holder_identity = Some("pod-b".into());
    api.replace("vestibule-leader", &PostParams::default(), &taken)
        .await
        .unwrap();
    let mut late = held.clone();
    late.spec.as_mut().unwrap().holder_identity = Some("pod-c".into());
    let err = api
        .replace("vestibule-leader", &PostParams::default(), &late)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err}"
    );
    let now = fake
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            "default",
            "vestibule-leader",
        )
        .unwrap();
    assert_eq!(now["spec"]["holderIdentity"], "pod-b");
    fake.assert_clean();
}

#[tokio::test]
async fn deleting_an_owner_collects_its_dependents() {
    let fake = FakeApiServer::start().await;
    let (client, _dir) = client(&fake).await;
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let owner: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": { "selector": { "matchLabels": { "app": "web" } }, "template": { "metadata": { "labels": { "app": "web" } } } },
    }))
    .unwrap();
    let owner = deployments
        .create(&PostParams::default(), &owner)
        .await
        .unwrap();
    let owned = |name: &str, uid: &str| {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": "default", "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": uid }] },
        })
    };
    let child = fake.apply(owned("child", &owner.uid().unwrap()));
    fake.apply(owned(
        "grandchild",
        child["metadata"]["uid"].as_str().unwrap(),
    ));
    fake.apply(cm("unrelated", json!({})));
    deployments
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    let names: Vec<String> = fake
        .list("ConfigMap")
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["unrelated"]);
    fake.assert_clean();
}

#[tokio::test]
async fn list_pages_and_selects() {
    let fake = FakeApiServer::start().await;
    for i in 0..5 {
        fake.apply(cm(&format!("cm{i}"), json!({ "n": i.to_string() })));
    }
    fake.apply(json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "elsewhere", "namespace": "other" } }));
    let (client, _dir) = client(&fake).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let page = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let token = page.metadata.continue_.clone().unwrap();
    let rest = api
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);
    assert!(rest.metadata.continue_.is_none());
    let sel = api
        .list(&ListParams::default().labels("n!=0,n notin (1, 2)"))
        .await
        .unwrap();
    assert_eq!(
        sel.items.iter().map(|o| o.name_any()).collect::<Vec<_>>(),
        ["cm3", "cm4"]
    );
    let by_name = Api::<ConfigMap>::all(client.clone())
        .list(&ListParams::default().fields("metadata.name=elsewhere"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    fake.assert_clean();
}

#[tokio::test]
async fn unknown_requests_are_recorded_and_fail_assert_clean() {
    let fake = FakeApiServer::start().await;
    let (client, _dir) = client(&fake).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    fake.apply(cm("a", json!({})));
    let err = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Strategic(json!({ "data": {} })),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 415),
        "{err}"
    );
    let err = client
        .request::<Value>(
            http::Request::get("/healthz/nonsense")
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err}"
    );
    // A group that is not installed is a plain 404, not an unknown request.
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let routes: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, "httproutes"),
    );
    assert!(routes.list(&ListParams::default()).await.is_err());

    let unknown = fake.unknown_requests();
    assert_eq!(unknown.len(), 2, "{unknown:#?}");
    assert_eq!(
        unknown[0].content_type,
        "application/strategic-merge-patch+json"
    );
    assert_eq!(unknown[1].path, "/healthz/nonsense");
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fake.assert_clean())).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("/healthz/nonsense") && msg.contains("strategic"),
        "{msg}"
    );
}

#[tokio::test]
async fn outages_fail_the_client_and_recovery_works() {
    let fake = FakeApiServer::start().await;
    fake.apply(cm("a", json!({})));
    let (client, _dir) = client(&fake).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.get("a").await.unwrap();

    // kube 5 retries a 503 up to 15 times with exponential backoff: a short
    // outage is invisible to the caller...
    fake.set_outage(Outage::Unavailable);
    let pending = tokio::spawn({
        let api = api.clone();
        async move { api.get("a").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    fake.clear_outage();
    pending.await.unwrap().unwrap();
    assert!(fake.requests().iter().any(|r| r.status == 503));
    // ... and a client without retries sees it.
    let mut config = Config::new(fake.url().parse().unwrap());
    config.default_retry = false;
    let no_retry: Api<ConfigMap> = Api::default_namespaced(Client::try_from(config).unwrap());
    fake.set_outage(Outage::Unavailable);
    let err = no_retry.get("a").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 503),
        "{err}"
    );
    fake.clear_outage();
    no_retry.get("a").await.unwrap();

    fake.set_outage(Outage::Refuse);
    assert!(api.get("a").await.is_err());
    fake.clear_outage();
    api.get("a").await.unwrap();

    fake.set_outage(Outage::Hang);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), api.get("a"))
            .await
            .is_err()
    );
    let pending = tokio::spawn({
        let api = api.clone();
        async move { api.get("a").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    fake.clear_outage();
    pending.await.unwrap().unwrap();
    fake.assert_clean();
}

#[test]
fn runs_on_its_own_thread_for_sync_tests() {
    use std::io::{Read, Write};
    let fake = FakeApiServer::start_in_thread();
    let mut s = std::net::TcpStream::connect(fake.addr()).unwrap();
    s.write_all(b"GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\"kind\":\"ConfigMapList\""), "{out}");
    fake.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\n");
    let got = fake.wait_for_blocking("v1", "Secret", "a", "s", WAIT, |o| o.is_some());
    assert_eq!(got.unwrap()["metadata"]["resourceVersion"], "2");
    fake.assert_clean();
}

#[tokio::test]
async fn wait_for_and_patch_status_as_a_second_writer() {
    let fake = FakeApiServer::start().await;
    fake.register_gateway_api();
    fake.apply(route("r"));
    let waiter = async {
        fake.wait_for(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            "default",
            "r",
            WAIT,
            |o| o.is_some_and(|o| o.pointer("/status/parents/0/controllerName").is_some()),
        )
        .await
    };
    let writer = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        fake.patch_status("HTTPRoute", "default", "r", json!({ "status": { "parents": [{ "controllerName": "other.example/ctl", "parentRef": { "name": "gw" } }] } }));
    };
    let (seen, ()) = tokio::join!(waiter, writer);
    assert_eq!(seen.unwrap()["metadata"]["generation"], 1);
    // Gateway is both a Gateway API and an Istio kind: qualify it.
    fake.register_istio();
    assert!(fake.list("Gateway.networking.istio.io").is_empty());
    fake.assert_clean();
}

#[tokio::test]
async fn watch_events_bookmarks_gone_and_timeout() {
    use kube::api::{WatchEvent, WatchParams};
    let fake = FakeApiServer::start_with(fake_apiserver::Options {
        bookmark_interval: None,
    })
    .await;
    let (client, _dir) = client(&fake).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let start = fake.apply(cm("a", json!({})))["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    fake.apply(cm("b", json!({})));

    // From a resourceVersion: only what came after it, then live events.
    let mut events = api
        .watch(&WatchParams::default().timeout(1), &start)
        .await
        .unwrap()
        .boxed();
    let name = |e: WatchEvent<ConfigMap>| match e {
        WatchEvent::Added(o) => format!("ADDED {}", o.name_any()),
        WatchEvent::Modified(o) => format!("MODIFIED {}", o.name_any()),
        WatchEvent::Deleted(o) => format!("DELETED {}", o.name_any()),
        WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
        WatchEvent::Error(s) => format!("ERROR {}", s.code),
    };
    assert_eq!(name(events.next().await.unwrap().unwrap()), "ADDED b");
    fake.apply(cm("b", json!({ "x": "y" })));
    assert_eq!(name(events.next().await.unwrap().unwrap()), "MODIFIED b");
    fake.send_bookmarks();
    let rv = fake.resource_version();
    assert_eq!(
        name(events.next().await.unwrap().unwrap()),
        format!("BOOKMARK {rv}")
    );
    fake.delete("v1", "ConfigMap", "default", "a");
    assert_eq!(name(events.next().await.unwrap().unwrap()), "DELETED a");
    // timeoutSeconds=1 ends the stream.
    let t = tokio::time::Instant::now();
    assert!(events.next().await.is_none());
    assert!(t.elapsed() < Duration::from_secs(2));

    // After compaction, the old version is gone: an ERROR event with 410.
    fake.compact();
    let mut events = api
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    assert_eq!(name(events.next().await.unwrap().unwrap()), "ERROR 410");
    assert!(events.next().await.is_none());
    fake.assert_clean();
}

#[tokio::test]
async fn service_accounts_and_cluster_role_bindings_are_applied_and_collected() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    let fake = FakeApiServer::start().await;
    let (client, _dir) = client(&fake).await;
    let owner = fake.apply(cm("owner", json!({})));
    let accounts: Api<ServiceAccount> = Api::default_namespaced(client.clone());
    let account = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": { "name": "gw", "namespace": "default", "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
            "uid": owner["metadata"]["uid"], "controller": true }] },
    });
    accounts
        .patch(
            "gw",
            &PatchParams::apply("vestibule").force(),
            &Patch::Apply(&account),
        )
        .await
        .unwrap();
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": { "name": "readers" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader" },
        "subjects": [{ "kind": "ServiceAccount", "name": "gw", "namespace": "default" }],
    });
    let applied = bindings
        .patch(
            "readers",
            &PatchParams::apply("vestibule").force(),
            &Patch::Apply(&binding),
        )
        .await
        .unwrap();
    assert_eq!(applied.subjects.unwrap()[0].name, "gw");
    assert!(bindings.get_opt("readers").await.unwrap().is_some());
    fake.delete("v1", "ConfigMap", "default", "owner");
    assert!(
        accounts.get_opt("gw").await.unwrap().is_none(),
        "collected with its owner"
    );
    fake.assert_clean();
}
