//! Gateway API end to end: status across reloads, as the conformance suite
//! checks it (GatewayModifyListeners, GatewayObservedGenerationBump,
//! HTTPRouteObservedGenerationBump), in file mode where editing a file is
//! the update and `metadata.generation` is whatever the file says.

mod gateway_api_support;
mod support;

use gateway_api_support::{
    attached_routes, backend, condition, gateway_status, get, listener_status, pair, route_status,
    start,
};
use serde_json::Value;
use support::ConfigDir;

/// The HTTPS listener's certificate, as a Secret in `infra`.
fn certificate() -> String {
    let ca = support::pki::Ca::new("infra root");
    support::pki::tls_secret("certificate", "infra", &ca.server(&["*.test.com"]), None)
}

const INFRA: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: infra
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http-route
  namespace: infra
spec:
  parentRefs:
  - name: gateway-modify-listeners
  rules:
  - backendRefs:
    - name: infra-backend-v1
      port: 8080
"#;

fn gateway(listeners: &[&str]) -> String {
    let mut text = String::from(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gateway-modify-listeners\n  namespace: infra\nspec:\n  gatewayClassName: vestibule\n  listeners:\n",
    );
    for listener in listeners {
        text.push_str(match *listener {
            "https" => "  - name: https\n    port: 443\n    protocol: HTTPS\n    allowedRoutes:\n      namespaces:\n        from: All\n    tls:\n      certificateRefs:\n      - name: certificate\n",
            "http" => "  - name: http\n    port: 80\n    protocol: HTTP\n    hostname: data.test.com\n    allowedRoutes:\n      namespaces:\n        from: All\n",
            other => panic!("unknown listener {other}"),
        });
    }
    text
}

fn listener_names(status: &Value) -> Vec<String> {
    gateway_status(status, "infra", "gateway-modify-listeners")["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| l["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn listeners_can_be_added_and_removed() {
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    config.write("certificate.yaml", &certificate());
    backend(&config, "infra", "infra-backend-v1").await;
    config.write("gateway.yaml", &gateway(&["https"]));
    let gateway_process = start(&config, &[80, 443]).await;
    let status = gateway_process.status().await;
    assert_eq!(listener_names(&status), ["https"]);
    let gw = "gateway-modify-listeners";
    assert_eq!(attached_routes(&status, "infra", gw, "https"), 1);

    // Add a listener: it accepts the route and serves traffic.
    let generation = gateway_process.generation().await;
    config.write("gateway.yaml", &gateway(&["https", "http"]));
    gateway_process.wait_generation(generation + 1).await;
    let status = gateway_process.status().await;
    assert_eq!(listener_names(&status), ["https", "http"]);
    for name in ["https", "http"] {
        let listener = listener_status(gateway_status(&status, "infra", gw), name);
        assert_eq!(listener["attachedRoutes"], 1, "{name}");
        assert_eq!(condition(&listener["conditions"], "Accepted").0, "True");
        assert_eq!(condition(&listener["conditions"], "ResolvedRefs").0, "True");
    }
    let address = gateway_process.listener(80).await;
    let answer = get(address, "data.test.com", "/get").await;
    assert_eq!(answer.backend(), Some("infra-backend-v1.infra"));

    // Remove the other one: only `http` is left, still serving.
    let generation = gateway_process.generation().await;
    config.write("gateway.yaml", &gateway(&["http"]));
    gateway_process.wait_generation(generation + 1).await;
    let status = gateway_process.status().await;
    assert_eq!(listener_names(&status), ["http"]);
    assert_eq!(attached_routes(&status, "infra", gw, "http"), 1);
    let answer = get(address, "data.test.com", "/get").await;
    assert_eq!(answer.backend(), Some("infra-backend-v1.infra"));
}

/// Every condition of the Gateway, its listeners and the route's parent.
fn observed_generations(status: &Value) -> Vec<i64> {
    let gateway = gateway_status(status, "infra", "gateway-modify-listeners");
    let mut conditions: Vec<&Value> = gateway["conditions"].as_array().unwrap().iter().collect();
    for listener in gateway["listeners"].as_array().unwrap() {
        conditions.extend(listener["conditions"].as_array().unwrap());
    }
    let route = route_status(status, "HTTPRoute", "infra", "http-route");
    for parent in route["parents"].as_array().unwrap() {
        conditions.extend(parent["conditions"].as_array().unwrap());
    }
    conditions
        .iter()
        .map(|c| {
            c["observedGeneration"]
                .as_i64()
                .expect("observedGeneration")
        })
        .collect()
}

#[tokio::test]
async fn observed_generation_follows_each_update() {
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    backend(&config, "infra", "infra-backend-v1").await;
    let with_generations = |gateway_generation: u32, route_generation: u32| {
        (
            gateway(&["http"]).replace(
                "  namespace: infra\nspec:",
                &format!("  namespace: infra\n  generation: {gateway_generation}\nspec:"),
            ),
            INFRA.replace(
                "  name: http-route\n  namespace: infra\n",
                &format!(
                    "  name: http-route\n  namespace: infra\n  generation: {route_generation}\n"
                ),
            ),
        )
    };
    let (gateway_text, infra_text) = with_generations(1, 1);
    config.write("gateway.yaml", &gateway_text);
    config.write("infra.yaml", &infra_text);
    let gateway_process = start(&config, &[80]).await;
    let status = gateway_process.status().await;
    let before = observed_generations(&status);
    assert!(before.iter().all(|g| *g == 1), "{before:?}");

    let generation = gateway_process.generation().await;
    let (gateway_text, infra_text) = with_generations(2, 3);
    config.write("gateway.yaml", &gateway_text);
    config.write("infra.yaml", &infra_text);
    gateway_process.wait_generation(generation + 1).await;
    // Both files may land in separate reloads: wait for the second too.
    let mut status = gateway_process.status().await;
    for _ in 0..100 {
        let route = route_status(&status, "HTTPRoute", "infra", "http-route");
        if route["parents"][0]["conditions"][0]["observedGeneration"] == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        status = gateway_process.status().await;
    }
    let gateway = gateway_status(&status, "infra", "gateway-modify-listeners");
    assert!(
        gateway["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["observedGeneration"] == 2),
        "{gateway:#}"
    );
    let route = route_status(&status, "HTTPRoute", "infra", "http-route");
    let parent = &route["parents"][0];
    assert!(
        parent["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["observedGeneration"] == 3),
        "{route:#}"
    );
    assert_eq!(
        condition(&parent["conditions"], "Accepted"),
        pair("True", "Accepted")
    );
}

/// `/status` shows a route parent as Gateway API's `RouteParentStatus` and
/// a listener as `ListenerStatus`, the shapes Kubernetes mode writes as
/// `.status` (issue 14): the parentRef an object with the defaults filled
/// in, the class's controller, conditions without `lastTransitionTime`.
#[tokio::test]
async fn status_has_the_shape_of_the_resources_status() {
    let config = ConfigDir::new();
    config.write("infra.yaml", INFRA);
    backend(&config, "infra", "infra-backend-v1").await;
    config.write("gateway.yaml", &gateway(&["http"]));
    let gateway_process = start(&config, &[80]).await;
    let status = gateway_process.status().await;
    let route = route_status(&status, "HTTPRoute", "infra", "http-route");
    // The file, and the line its HTTPRoute document starts on.
    let source = route["source"].as_str().expect("a source");
    assert!(source.ends_with("/infra.yaml:7"), "{route:#}");
    let parent = &route["parents"][0];
    assert_eq!(
        parent["parentRef"],
        serde_json::json!({
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "namespace": "infra",
            "name": "gateway-modify-listeners",
        })
    );
    assert_eq!(parent["controllerName"], "vestibule.io/gateway-controller");
    assert_eq!(
        parent["conditions"][0],
        serde_json::json!({
            "type": "Accepted",
            "status": "True",
            "reason": "Accepted",
            "message": "",
            // The file gives no metadata.generation: a new object's is 1.
            "observedGeneration": 1,
        })
    );
    let gateway = gateway_status(&status, "infra", "gateway-modify-listeners");
    let listener = listener_status(gateway, "http");
    assert_eq!(
        listener["supportedKinds"],
        serde_json::json!([
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
            {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"},
        ])
    );
    assert_eq!(listener["attachedRoutes"], 1);
}
