//! Gateways of served classes: their listeners declared on the table (with
//! their TLS servers), and the Gateway's own status (conditions,
//! addresses).
//!
//! A port where HTTPS listeners meet TLS listeners (the spec's compatible
//! listeners, told apart by SNI) is declared as one TLS listener whose
//! servers either terminate into HTTP (the HTTPS listeners), terminate into
//! TLSRoute connections, or pass the connection through, as the SNI of each
//! connection picks.

use std::collections::{BTreeMap, BTreeSet};

use vestibule_api::gateway_api::GROUP;
use vestibule_api::{Inputs, KubeGateway};
use vestibule_ir::status::{Condition, GatewayStatus, GatewayStatusAddress, Statuses};
use vestibule_ir::ListenerProtocol;

use super::listeners::{self, GatewayListener, Protocol};
use super::{classes, listener_tls};
use crate::builder::TableBuilder;
use crate::secrets::SecretStore;
use crate::GatewayIdentity;

/// A Gateway of a class this gateway serves.
pub(crate) struct ServedGateway {
    pub namespace: String,
    pub name: String,
    /// Its GatewayClass's `controllerName`.
    pub controller: String,
}

/// `(namespace, name)` → class `controllerName` of every Gateway of a
/// served class: the ancestors a policy's status may name.
pub(crate) fn served_gateways(
    inputs: &Inputs,
    identity: &GatewayIdentity,
) -> BTreeMap<(String, String), String> {
    let classes = classes::controllers(inputs, identity);
    inputs
        .kube_gateways
        .iter()
        .filter_map(|gateway| {
            let controller = classes.get(&gateway.spec.gateway_class_name)?;
            let key = (gateway.namespace().to_owned(), gateway.name().to_owned());
            Some((key, controller.clone()))
        })
        .collect()
}

/// Gateways of served classes: their listeners (the programmed ones
/// declared on the table, with their TLS servers) and their status.
pub(super) fn gateways(
    inputs: &Inputs,
    store: &SecretStore<'_>,
    served: &BTreeMap<String, String>,
    builder: &mut TableBuilder,
    statuses: &mut Statuses,
) -> (Vec<GatewayListener>, Vec<ServedGateway>) {
    let mut all = Vec::new();
    let mut keys = Vec::new();
    let mut declared = Vec::new();
    for gateway in crate::by_creation(&inputs.kube_gateways) {
        let Some(controller) = served.get(&gateway.spec.gateway_class_name) else {
            continue;
        };
        let index = statuses.gateways.len();
        let mut status = new_status(gateway);
        all.extend(listeners::listeners(
            inputs,
            store,
            gateway,
            index,
            &mut status,
        ));
        statuses.gateways.push(status);
        keys.push(ServedGateway {
            namespace: gateway.namespace().to_owned(),
            name: gateway.name().to_owned(),
            controller: controller.clone(),
        });
        declared.push((gateway, index));
    }
    // Every Gateway's listeners first: whether an HTTPS listener's port is
    // shared with TLS listeners (of any Gateway) decides its kind.
    let shared = shared_tls_ports(&all);
    for listener in all.iter_mut().filter(|l| l.programmed) {
        let shared = shared.contains(&listener.port);
        declare(
            listener,
            shared,
            builder,
            &mut statuses.gateways[listener.status],
        );
    }
    for (gateway, index) in declared {
        let own: Vec<&GatewayListener> = all.iter().filter(|l| l.status == index).collect();
        statuses.gateways[index].conditions = gateway_conditions(gateway, &own);
    }
    (all, keys)
}

/// Ports with both a programmed HTTPS listener and a programmed TLS one.
fn shared_tls_ports(listeners: &[GatewayListener]) -> BTreeSet<u16> {
    let ports = |protocol: Protocol| -> BTreeSet<u16> {
        listeners
            .iter()
            .filter(|l| l.programmed && l.protocol == protocol)
            .map(|l| l.port)
            .collect()
    };
    ports(Protocol::Https)
        .intersection(&ports(Protocol::Tls))
        .copied()
        .collect()
}

/// Declares a programmed listener's port and TLS server. A port another
/// Gateway (or an Istio server, or an Ingress) already uses with another
/// protocol makes it `Accepted=False PortUnavailable`; an SNI name another
/// listener already serves on the port makes it `Conflicted`. An HTTPS
/// listener on a port `shared` with TLS listeners is declared as TLS, its
/// server terminating into HTTP.
fn declare(
    listener: &mut GatewayListener,
    shared: bool,
    builder: &mut TableBuilder,
    status: &mut GatewayStatus,
) {
    let port = listener.port;
    let protocol = match listener.protocol {
        Protocol::Http => ListenerProtocol::Http,
        Protocol::Https if shared => {
            if let Some(tls) = &mut listener.tls {
                tls.serves_http = true;
            }
            ListenerProtocol::Tls
        }
        Protocol::Https => ListenerProtocol::Https,
        Protocol::Tls => ListenerProtocol::Tls,
        Protocol::Tcp => ListenerProtocol::Tcp,
    };
    let taken = listener
        .tls
        .as_ref()
        .and_then(|tls| builder.sni_taken(port, &tls.server_names));
    let refusal = if let Some((host, earlier)) = taken {
        Some((
            Condition::new(
                "Conflicted",
                true,
                "HostnameConflict",
                format!("host {host} is already served on port {port} by {earlier}"),
            ),
            "hostname conflicts with another Gateway's listener".to_owned(),
        ))
    } else if !builder.listener(port, protocol) {
        let message = format!("port {port} is already used with another protocol");
        Some((
            Condition::new("Accepted", false, "PortUnavailable", message.clone()),
            message,
        ))
    } else {
        None
    };
    let conditions = &mut status.listeners[listener.status_listener].conditions;
    let Some((condition, message)) = refusal else {
        if let Some(tls) = &listener.tls {
            builder.tls_server(port, tls.clone());
        }
        return;
    };
    listener.programmed = false;
    listener.usable = false;
    let generation = listener.generation;
    for existing in conditions.iter_mut() {
        if existing.kind == condition.kind {
            *existing = condition.clone().at_generation(generation);
        } else if existing.kind == "Programmed" {
            *existing = Condition::new("Programmed", false, "Invalid", message.clone())
                .at_generation(generation);
        }
    }
}

fn new_status(gateway: &KubeGateway) -> GatewayStatus {
    GatewayStatus {
        kind: "Gateway".to_owned(),
        api_group: GROUP.to_owned(),
        namespace: gateway.namespace().to_owned(),
        name: gateway.name().to_owned(),
        source: gateway.source.to_string(),
        conditions: Vec::new(),
        listeners: Vec::new(),
        addresses: gateway.spec.addresses.iter().map(status_address).collect(),
    }
}

/// A requested address as status reports it: its type as requested, else
/// `IPAddress` for an IP and `Hostname` for anything else (an untyped
/// address defaults to `IPAddress` in the spec, which a host name cannot
/// be).
fn status_address(address: &vestibule_api::gateway_api::GatewayAddress) -> GatewayStatusAddress {
    let kind = match &address.address_type {
        Some(kind) => kind.clone(),
        None if address.value.parse::<std::net::IpAddr>().is_ok() => "IPAddress".to_owned(),
        None => "Hostname".to_owned(),
    };
    GatewayStatusAddress {
        kind,
        value: address.value.clone(),
    }
}

fn gateway_conditions(gateway: &KubeGateway, listeners: &[&GatewayListener]) -> Vec<Condition> {
    let generation = gateway.meta.generation;
    let declared = gateway.spec.listeners.len();
    let valid = listeners.iter().filter(|l| l.usable).count();
    let accepted = if declared > 0 && valid == 0 {
        Condition::new(
            "Accepted",
            false,
            "ListenersNotValid",
            "no listener is valid",
        )
    } else if valid < declared {
        Condition::new(
            "Accepted",
            true,
            "ListenersNotValid",
            "some listeners are not valid",
        )
    } else {
        Condition::new("Accepted", true, "Accepted", "")
    };
    let programmed = if listeners.iter().any(|l| l.programmed) {
        Condition::new("Programmed", true, "Programmed", "")
    } else {
        Condition::new("Programmed", false, "Invalid", "no listener is programmed")
    };
    let mut conditions = vec![accepted, programmed];
    conditions.extend(listener_tls::insecure_frontend(gateway));
    conditions
        .into_iter()
        .map(|condition| condition.at_generation(generation))
        .collect()
}
