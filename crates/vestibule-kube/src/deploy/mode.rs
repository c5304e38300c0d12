//! Which way a Gateway API Gateway runs, decided as Istio decides it
//! (`IsManaged` in Istio's gateway controller): a Gateway whose `addresses`
//! are empty or one IP address gets its own Deployment and Service
//! (automated deployment); one whose addresses name a hostname (or several
//! addresses) is in the manual mode: the user deployed the gateway, and
//! the Service the hostname names is where it is reached.

use vestibule_api::{GatewayClass, KubeGateway};

use super::render;

/// How a Gateway of one of our classes is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Served by the shared gateway (`serve --kubernetes` without
    /// `--deploy-gateways`): its Service gives the addresses.
    Shared,
    /// Its own Deployment and Service, named `service`, in its namespace.
    Automated { service: String },
    /// Deployed by the user: `service` (`namespace`, `name`) is the one
    /// `hostname` names, when it names one vestibule can tell.
    Manual {
        hostname: String,
        service: Option<(String, String)>,
    },
}

/// The `controllerName` of the Gateway's class, if the class exists.
pub fn class_controller<'a>(gateway: &KubeGateway, classes: &'a [GatewayClass]) -> Option<&'a str> {
    classes
        .iter()
        .find(|class| class.meta.name == gateway.spec.gateway_class_name)
        .map(|class| class.spec.controller_name.as_str())
}

/// How `gateway` runs, or `None` when its class is not ours.
pub fn mode(
    gateway: &KubeGateway,
    classes: &[GatewayClass],
    controller_names: &[String],
    deploy: bool,
) -> Option<Mode> {
    let controller = class_controller(gateway, classes)?;
    if !controller_names.iter().any(|ours| ours == controller) {
        return None;
    }
    let addresses = &gateway.spec.addresses;
    let ip = |kind: &Option<String>| kind.as_deref().is_none_or(|kind| kind == "IPAddress");
    let managed = match addresses.as_slice() {
        [] => true,
        [only] => ip(&only.address_type),
        _ => false,
    };
    if !managed {
        let hostname = addresses
            .iter()
            .find(|address| address.address_type.as_deref() == Some("Hostname"))
            .map(|address| address.value.clone())
            .unwrap_or_default();
        let service = service_named(&hostname, &gateway.meta.namespace);
        return Some(Mode::Manual { hostname, service });
    }
    Some(if deploy {
        Mode::Automated {
            service: render::deployment_name(gateway),
        }
    } else {
        Mode::Shared
    })
}

/// The Service a hostname address names: `name` (in the Gateway's
/// namespace), `name.namespace`, or `name.namespace.svc[.cluster domain]`.
/// Any other name is outside the cluster: no Service.
pub fn service_named(hostname: &str, namespace: &str) -> Option<(String, String)> {
    let labels: Vec<&str> = hostname.split('.').collect();
    let (namespace, name) = match labels.as_slice() {
        [name] => (namespace, *name),
        [name, namespace] | [name, namespace, "svc", ..] => (*namespace, *name),
        _ => return None,
    };
    (!name.is_empty() && !namespace.is_empty()).then(|| (namespace.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(addresses: &str) -> KubeGateway {
        let yaml = format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: web, namespace: apps}}\nspec:\n  gatewayClassName: vestibule\n  listeners: [{{name: http, port: 80, protocol: HTTP}}]\n  addresses: {addresses}\n"
        );
        super::super::tests::inputs(&yaml).kube_gateways.remove(0)
    }

    fn classes() -> Vec<GatewayClass> {
        let yaml = "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: vestibule}\nspec: {controllerName: vestibule.io/gateway-controller}\n";
        super::super::tests::inputs(yaml).gateway_classes
    }

    fn ours() -> Vec<String> {
        vec!["vestibule.io/gateway-controller".to_owned()]
    }

    #[test]
    fn no_address_or_one_ip_is_automated_when_deploying() {
        let automated = Some(Mode::Automated {
            service: "web-vestibule".to_owned(),
        });
        assert_eq!(mode(&gateway("[]"), &classes(), &ours(), true), automated);
        let ip = gateway("[{type: IPAddress, value: 192.0.2.1}]");
        assert_eq!(mode(&ip, &classes(), &ours(), true), automated);
        assert_eq!(mode(&ip, &classes(), &ours(), false), Some(Mode::Shared));
    }

    #[test]
    fn a_hostname_is_the_manual_mode_whatever_the_flag() {
        let manual = gateway("[{type: Hostname, value: ingress.edge.svc.cluster.local}]");
        let expected = Some(Mode::Manual {
            hostname: "ingress.edge.svc.cluster.local".to_owned(),
            service: Some(("edge".to_owned(), "ingress".to_owned())),
        });
        assert_eq!(mode(&manual, &classes(), &ours(), true), expected);
        assert_eq!(mode(&manual, &classes(), &ours(), false), expected);
    }

    #[test]
    fn other_classes_are_not_ours() {
        let other = vec!["example.net/gateway".to_owned()];
        assert_eq!(mode(&gateway("[]"), &classes(), &other, true), None);
        assert_eq!(mode(&gateway("[]"), &[], &ours(), true), None);
    }

    #[test]
    fn hostnames_name_services() {
        let named = |host: &str| service_named(host, "apps");
        assert_eq!(named("ingress"), Some(("apps".into(), "ingress".into())));
        assert_eq!(
            named("ingress.edge"),
            Some(("edge".into(), "ingress".into()))
        );
        assert_eq!(
            named("ingress.edge.svc"),
            Some(("edge".into(), "ingress".into()))
        );
        assert_eq!(named("gateway.example.com"), None);
        assert_eq!(named(""), None);
    }
}
