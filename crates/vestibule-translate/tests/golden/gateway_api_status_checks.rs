//! Checks of the golden cases that pin the shape of Gateway API statuses
//! (what Kubernetes mode writes as `.status`), in the style of
//! [`super::CHECKS`]. They compare serialized JSON, since the serialized
//! form is the contract.

use serde_json::json;
use vestibule_translate::Translation;

use super::{gateway, http_route, Check};

pub(crate) const CHECKS: &[(&str, Check)] = &[("status_shapes", status_shapes)];

fn status_shapes(t: &Translation) {
    let accepted = |generation: i64| {
        json!([
            {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
             "observedGeneration": generation},
            {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "",
             "observedGeneration": generation},
        ])
    };
    let web = serde_json::to_value(&http_route(t, "app", "web").parents).expect("serializes");
    assert_eq!(
        web,
        json!([
            {
                "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                              "namespace": "infra", "name": "gw", "sectionName": "http", "port": 80},
                "controllerName": "istio.io/gateway-controller",
                "conditions": accepted(7),
            },
            {
                "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                              "namespace": "app", "name": "plain"},
                "controllerName": "vestibule.io/gateway-controller",
                "conditions": accepted(7),
            },
        ])
    );
    let mesh = serde_json::to_value(&http_route(t, "app", "mesh").parents).expect("serializes");
    assert_eq!(
        mesh[0]["parentRef"],
        json!({"group": "", "kind": "Service", "namespace": "app", "name": "web"})
    );
    assert_eq!(mesh[0]["controllerName"], "vestibule.io/gateway-controller");
    assert_eq!(mesh[0]["conditions"][0]["reason"], "NoMatchingParent");

    let gw = serde_json::to_value(gateway(t, "infra", "gw")).expect("serializes");
    assert_eq!(
        gw["addresses"],
        json!([
            {"type": "IPAddress", "value": "10.0.0.1"},
            {"type": "Hostname", "value": "lb.example.com"},
            {"type": "Hostname", "value": "gw.example.net"},
        ])
    );
    assert_eq!(gw["listeners"][0]["name"], "http");
    assert_eq!(
        gw["listeners"][0]["supportedKinds"],
        json!([
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
            {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"},
        ])
    );
    assert_eq!(gw["listeners"][0]["attachedRoutes"], 1);
    assert_eq!(
        gw["conditions"][0],
        json!({"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
               "observedGeneration": 4})
    );
    for status in [&gw, &gw["listeners"][0], &web[0]] {
        let conditions = status["conditions"].as_array().expect("conditions");
        assert!(conditions
            .iter()
            .all(|c| c.get("lastTransitionTime").is_none()));
    }

    let class = t
        .statuses
        .gateway_classes
        .iter()
        .find(|class| class.name == "edge")
        .expect("a status for class edge");
    assert_eq!(
        serde_json::to_value(&class.conditions).expect("serializes")[0],
        json!({"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
               "observedGeneration": 3})
    );
}
