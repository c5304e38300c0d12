//! Istio `Gateway`: which ones select this workload, and the HTTP servers
//! they declare.

use std::collections::BTreeMap;

use vestibule_api::istio::Server;
use vestibule_api::IstioGateway;
use vestibule_ir::status::{Condition, GatewayStatus, ListenerStatus};

use crate::GatewayIdentity;

/// `namespace/name` of a Gateway.
pub(crate) type GatewayKey = (String, String);

/// One server of a selected Gateway that serves HTTP.
#[derive(Debug)]
pub(crate) struct HttpServer {
    pub gateway: GatewayKey,
    pub port: u16,
    /// `(namespace scope, host)`; scope `None` means any namespace.
    pub hosts: Vec<(Option<String>, String)>,
    /// Index into the gateway's status listeners.
    pub status_index: usize,
}

impl HttpServer {
    /// The hosts this server offers to a VirtualService in `namespace`.
    pub(super) fn hosts_for<'s>(
        &'s self,
        namespace: &'s str,
    ) -> impl Iterator<Item = &'s str> + 's {
        self.hosts
            .iter()
            .filter(move |(scope, _)| scope.as_deref().is_none_or(|scope| scope == namespace))
            .map(|(_, host)| host.as_str())
    }
}

/// Whether a Gateway's `selector` picks this workload: every selector label
/// must be among this gateway's labels; no selector picks every workload.
pub(crate) fn selects(gateway: &IstioGateway, identity: &GatewayIdentity) -> bool {
    gateway.spec.selector.as_ref().is_none_or(|selector| {
        selector
            .iter()
            .all(|(key, value)| identity.labels.get(key) == Some(value))
    })
}

/// Splits a server host entry: `ns/host`, `./host` (the Gateway's own
/// namespace), `*/host` or a bare `host` (any namespace).
fn parse_server_host(entry: &str, gateway_namespace: &str) -> (Option<String>, String) {
    match entry.split_once('/') {
        Some(("*", host)) => (None, host.to_owned()),
        Some((".", host)) => (Some(gateway_namespace.to_owned()), host.to_owned()),
        Some((namespace, host)) => (Some(namespace.to_owned()), host.to_owned()),
        None => (None, entry.to_owned()),
    }
}

pub(crate) enum ServerKind {
    Http,
    Unsupported(String),
}

/// The protocols an HTTP connection manager serves (codec AUTO: HTTP/1.1
/// and h2c on one port).
pub(crate) fn server_kind(server: &Server) -> ServerKind {
    match server.port.protocol.to_ascii_uppercase().as_str() {
        "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB" => ServerKind::Http,
        "" => ServerKind::Unsupported("server port has no protocol".to_owned()),
        other => ServerKind::Unsupported(format!(
            "protocol {other} is not supported yet (HTTP, HTTP2, GRPC are)"
        )),
    }
}

/// Builds the status entry of a Gateway and its HTTP servers.
pub(crate) fn http_servers(gateway: &IstioGateway, status: &mut GatewayStatus) -> Vec<HttpServer> {
    let key = (gateway.namespace().to_owned(), gateway.name().to_owned());
    let mut servers = Vec::new();
    for (index, server) in gateway.spec.servers.iter().enumerate() {
        let name = server_name(server, index);
        let port = u16::try_from(server.port.number).ok().filter(|p| *p != 0);
        let condition = match (server_kind(server), port) {
            (_, None) => Condition::new(
                "Accepted",
                false,
                "UnsupportedValue",
                format!("invalid port number {}", server.port.number),
            ),
            (ServerKind::Unsupported(why), _) => {
                Condition::new("Accepted", false, "UnsupportedProtocol", why)
            }
            (ServerKind::Http, _) if server.hosts.is_empty() => {
                Condition::new("Accepted", false, "UnsupportedValue", "server has no hosts")
            }
            (ServerKind::Http, Some(port)) => {
                servers.push(HttpServer {
                    gateway: key.clone(),
                    port,
                    hosts: server
                        .hosts
                        .iter()
                        .map(|host| parse_server_host(host, gateway.namespace()))
                        .collect(),
                    status_index: status.listeners.len(),
                });
                Condition::new("Accepted", true, "Accepted", "")
            }
        };
        status.listeners.push(ListenerStatus {
            name,
            attached_routes: 0,
            conditions: vec![condition.at_generation(gateway.meta.generation)],
            supported_kinds: Vec::new(),
        });
    }
    servers
}

fn server_name(server: &Server, index: usize) -> String {
    server
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .or_else(|| Some(server.port.name.clone()).filter(|name| !name.is_empty()))
        .unwrap_or_else(|| format!("server-{index}"))
}

pub(crate) fn new_status(gateway: &IstioGateway, selected: bool) -> GatewayStatus {
    let condition = if selected {
        Condition::new("Accepted", true, "Accepted", "")
    } else {
        Condition::new(
            "Accepted",
            false,
            "NotSelected",
            format!(
                "selector {} does not match this gateway's labels",
                format_selector(gateway.spec.selector.as_ref())
            ),
        )
    };
    GatewayStatus {
        kind: "Gateway".to_owned(),
        api_group: "networking.istio.io".to_owned(),
        namespace: gateway.namespace().to_owned(),
        name: gateway.name().to_owned(),
        conditions: vec![condition.at_generation(gateway.meta.generation)],
        listeners: Vec::new(),
        addresses: Vec::new(),
    }
}

fn format_selector(selector: Option<&BTreeMap<String, String>>) -> String {
    let Some(selector) = selector else {
        return "{}".to_owned();
    };
    let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(","))
}
