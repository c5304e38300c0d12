//! VirtualService `delegate` and `exportTo` end to end: a root
//! VirtualService hands `/api` to a delegate in another namespace, whose
//! routes (short hosts read in the delegate's namespace) are served under
//! the root's match, a conflicting delegate route is not; a VirtualService
//! and a ServiceEntry not exported to the gateway's namespace are not
//! served; `/status` and `vestibule validate` say why, with file and line.

mod support;

use std::net::SocketAddr;

use support::{get, service, ConfigDir, Gateway, Recorder};

const GATEWAY: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*/*"]
"#;

const ROOT: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: root
spec:
  hosts: [shop.example.com]
  gateways: [gw]
  http:
  - match:
    - uri: {prefix: /api}
    headers:
      response:
        set: {x-root: "yes"}
    delegate: {name: api, namespace: team}
  - match:
    - uri: {prefix: /external}
    route:
    - destination: {host: hidden.api.example, port: {number: 80}}
  - route:
    - destination: {host: app, port: {number: 8000}}
"#;

/// No hosts: a delegate. `v2` and `v1` are Services of `team`.
const DELEGATE: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: api
  namespace: team
spec:
  exportTo: [default]
  http:
  - name: v2
    match:
    - uri: {prefix: /api/v2}
    route:
    - destination: {host: v2, port: {number: 8000}}
  - name: elsewhere
    match:
    - uri: {prefix: /admin}
    route:
    - destination: {host: v2, port: {number: 8000}}
  - name: v1
    route:
    - destination: {host: v1, port: {number: 8000}}
"#;

const PRIVATE: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: private
spec:
  hosts: [private.example.com]
  gateways: [gw]
  exportTo: ["."]
  http:
  - route:
    - destination: {host: app, port: {number: 8000}}
"#;

fn hidden_entry(backend: SocketAddr) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: hidden
spec:
  hosts: [hidden.api.example]
  exportTo: ["."]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {{number: 80, name: http, protocol: HTTP, targetPort: {}}}
  endpoints:
  - address: {}
"#,
        backend.port(),
        backend.ip()
    )
}

struct Setup {
    config: ConfigDir,
    gateway: Gateway,
    app: Recorder,
    v1: Recorder,
    v2: Recorder,
    external: Recorder,
    address: SocketAddr,
}

async fn start() -> Setup {
    let app = Recorder::start(|_| 200).await;
    let v1 = Recorder::start(|_| 200).await;
    let v2 = Recorder::start(|_| 200).await;
    let external = Recorder::start(|_| 200).await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    config.write("root.yaml", ROOT);
    config.write("delegate.yaml", DELEGATE);
    config.write("private.yaml", PRIVATE);
    config.write("hidden.yaml", &hidden_entry(external.address));
    config.write("app.yaml", &service("app", "default", 8000, &[app.address]));
    config.write("v1.yaml", &service("v1", "team", 8000, &[v1.address]));
    config.write("v2.yaml", &service("v2", "team", 8000, &[v2.address]));
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    Setup {
        config,
        gateway,
        app,
        v1,
        v2,
        external,
        address,
    }
}

fn paths(recorder: &Recorder) -> Vec<String> {
    recorder.seen().into_iter().map(|seen| seen.path).collect()
}

#[tokio::test]
async fn delegated_routes_are_served_under_the_root_match() {
    let s = start().await;
    let (status, headers, _) = get(s.address, "shop.example.com", "/api/v2/items").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-root"], "yes", "the root's header operations");
    let (status, headers, _) = get(s.address, "shop.example.com", "/api/users").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-root"], "yes");
    // The delegate's /admin route lies outside the root's /api: dropped, so
    // /admin falls through to the root's catch-all.
    let (status, headers, _) = get(s.address, "shop.example.com", "/admin").await;
    assert_eq!(status, 200);
    assert!(headers.get("x-root").is_none());
    assert_eq!(paths(&s.v2), ["/api/v2/items"]);
    assert_eq!(paths(&s.v1), ["/api/users"]);
    assert_eq!(paths(&s.app), ["/admin"]);

    let status = s.gateway.status().await;
    let find = |list: &str, name: &str| {
        status[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {list} {name}: {status:#}"))
            .clone()
    };
    let delegate = find("virtualServices", "api");
    assert_eq!(delegate["conditions"][0]["status"], "True", "{delegate:#}");
    assert_eq!(
        delegate["conditions"][0]["message"],
        "delegate of default/root"
    );
    let root = find("virtualServices", "root");
    let warnings = root["warnings"].to_string();
    assert!(
        warnings.contains("team/api spec.http[1].match[0]") && warnings.contains("route dropped"),
        "{root:#}"
    );
}

#[tokio::test]
async fn what_is_not_exported_to_the_gateway_namespace_is_not_served() {
    let s = start().await;
    // The VirtualService is exported to its own namespace only: the gateway
    // (istio-system) has no virtual host for its host.
    let (status, _, body) = get(s.address, "private.example.com", "/").await;
    assert_eq!(status, 404);
    assert!(body.is_empty());
    // The ServiceEntry is not in the gateway's registry: its host has no
    // endpoints, as Istio routes to a cluster it does not have.
    let (status, _, _) = get(s.address, "shop.example.com", "/external").await;
    assert_eq!(status, 503);
    assert!(s.external.seen().is_empty());
    assert!(s.app.seen().is_empty());

    let status = s.gateway.status().await;
    let private = status["virtualServices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|vs| vs["name"] == "private")
        .expect("private's status")
        .clone();
    assert_eq!(
        private["conditions"][0]["reason"], "NotExported",
        "{private:#}"
    );
    let hidden = status["serviceEntries"]
        .as_array()
        .unwrap_or_else(|| panic!("{status:#}"))
        .iter()
        .find(|entry| entry["name"] == "hidden")
        .expect("hidden's status")
        .clone();
    assert_eq!(
        hidden["conditions"][0]["reason"], "NotExported",
        "{hidden:#}"
    );

    // Once exported to every namespace, both are served.
    let generation = s.gateway.generation().await;
    s.config.write(
        "private.yaml",
        &PRIVATE.replace("exportTo: [\".\"]", "exportTo: [\"*\"]"),
    );
    s.config.write(
        "hidden.yaml",
        &hidden_entry(s.external.address).replace("exportTo: [\".\"]", "exportTo: [istio-system]"),
    );
    s.gateway.wait_generation(generation + 1).await;
    let wanted = [
        ("private.example.com", "/"),
        ("shop.example.com", "/external"),
    ];
    for _ in 0..50 {
        let mut served = true;
        for (host, path) in wanted {
            served &= get(s.address, host, path).await.0 == 200;
        }
        if served {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for (host, path) in wanted {
        assert_eq!(get(s.address, host, path).await.0, 200, "{host}{path}");
    }
    assert!(paths(&s.external).contains(&"/external".to_owned()));
}

#[tokio::test]
async fn validate_names_each_unapplied_resource_with_file_and_line() {
    let external = Recorder::start(|_| 200).await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    config.write("root.yaml", ROOT);
    config.write("delegate.yaml", DELEGATE);
    config.write("private.yaml", PRIVATE);
    config.write("hidden.yaml", &hidden_entry(external.address));
    // The destinations' Services (the analyzer reports those it cannot find).
    let somewhere = [external.address];
    config.write("app.yaml", &service("app", "default", 8000, &somewhere));
    config.write("v1.yaml", &service("v1", "team", 8000, &somewhere));
    config.write("v2.yaml", &service("v2", "team", 8000, &somewhere));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("validate")
        .arg(config.path())
        .output()
        .expect("run vestibule validate");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "warnings only: {stdout}");
    for (line, parts) in [
        (
            "private",
            &[
                "private.yaml:2: VirtualService default/private:",
                "exportTo [\".\"] does not include the gateway's namespace \"istio-system\"",
            ][..],
        ),
        (
            "hidden",
            &[
                "hidden.yaml:2: ServiceEntry default/hidden:",
                "exportTo [\".\"] does not include the gateway's namespace \"istio-system\"",
            ][..],
        ),
        (
            "dropped",
            &[
                "root.yaml:2: VirtualService default/root:",
                "spec.http[0].delegate: team/api spec.http[1].match[0]",
                "route dropped",
            ][..],
        ),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("warning[VST0202]:") && parts.iter().all(|p| l.contains(p))),
            "{line}: {parts:?} in\n{stdout}"
        );
    }
}
