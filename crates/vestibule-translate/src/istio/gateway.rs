//! Istio `Gateway`: which ones select this workload, and the servers they
//! declare (HTTP, HTTPS, TLS, TCP), validated.

use std::collections::BTreeMap;

use vestibule_api::istio::Server;
use vestibule_api::IstioGateway;
use vestibule_ir::status::{Condition, GatewayStatus, ListenerStatus, RouteGroupKind};
use vestibule_ir::{HostPattern, ListenerProtocol, TlsServer};

use crate::secrets::SecretStore;
use crate::GatewayIdentity;

/// `namespace/name` of a Gateway.
pub(crate) type GatewayKey = (String, String);

/// One accepted server of a selected Gateway.
#[derive(Debug)]
pub(crate) struct GatewayServer {
    pub gateway: GatewayKey,
    pub port: u16,
    pub protocol: ListenerProtocol,
    /// `(namespace scope, host)`; scope `None` means any namespace.
    pub hosts: Vec<(Option<String>, String)>,
    /// Index into the gateway's status listeners.
    pub status_index: usize,
    /// HTTP with `tls.httpsRedirect`: its virtual hosts require TLS.
    pub https_redirect: bool,
    /// HTTPS and TLS: the server a connection's SNI picks.
    pub tls: Option<TlsServer>,
}

impl GatewayServer {
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

    /// HTTP and HTTPS servers carry VirtualService `http` routes.
    pub(super) fn serves_http(&self) -> bool {
        matches!(
            self.protocol,
            ListenerProtocol::Http | ListenerProtocol::Https
        )
    }

    /// A TLS server that forwards the raw stream (VirtualService `tls`
    /// routes).
    pub(super) fn is_passthrough(&self) -> bool {
        self.protocol == ListenerProtocol::Tls
            && self
                .tls
                .as_ref()
                .is_some_and(|tls| tls.termination.is_none())
    }

    /// TCP servers and terminating TLS servers carry VirtualService `tcp`
    /// routes.
    pub(super) fn serves_tcp(&self) -> bool {
        self.protocol == ListenerProtocol::Tcp
            || (self.protocol == ListenerProtocol::Tls && !self.is_passthrough())
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

/// The listener protocol a server's port protocol asks for, or why it
/// cannot be served.
pub(crate) fn server_protocol(server: &Server) -> Result<ListenerProtocol, String> {
    match server.port.protocol.to_ascii_uppercase().as_str() {
        // An HTTP connection manager with codec AUTO: HTTP/1.1 and h2c.
        "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB" => Ok(ListenerProtocol::Http),
        // Istio serves an HTTPS server in PASSTHROUGH mode (the mode an
        // unset `tls.mode` means) as a TLS one: VirtualService `tls`
        // routes by SNI, no termination (the "Ingress Gateway without TLS
        // Termination" task).
        "HTTPS"
            if server.tls.as_ref().is_some_and(|tls| {
                tls.mode
                    .as_deref()
                    .is_none_or(|mode| mode.eq_ignore_ascii_case("PASSTHROUGH"))
            }) =>
        {
            Ok(ListenerProtocol::Tls)
        }
        "HTTPS" => Ok(ListenerProtocol::Https),
        "TLS" => Ok(ListenerProtocol::Tls),
        // Istio serves these at a gateway as opaque TCP.
        "TCP" | "MONGO" | "MYSQL" | "REDIS" => Ok(ListenerProtocol::Tcp),
        "" => Err("server port has no protocol".to_owned()),
        other => Err(format!(
            "protocol {other} is not supported (HTTP, HTTP2, GRPC, GRPC-WEB, HTTPS, TLS, TCP, \
             MONGO, MYSQL, REDIS are)"
        )),
    }
}

/// Validates the servers of a Gateway, records a status entry for each,
/// and returns the accepted ones with their TLS servers built. Listener
/// ports are declared by the caller, which knows the other Gateways.
pub(crate) fn servers(
    gateway: &IstioGateway,
    identity: &GatewayIdentity,
    store: &SecretStore<'_>,
    status: &mut GatewayStatus,
) -> Vec<GatewayServer> {
    let key = (gateway.namespace().to_owned(), gateway.name().to_owned());
    let mut servers = Vec::new();
    for (index, server) in gateway.spec.servers.iter().enumerate() {
        let name = server_name(server, index);
        let condition = match accept(gateway, (index, server), identity, store) {
            Ok((accepted, notes)) => {
                servers.push(GatewayServer {
                    gateway: key.clone(),
                    status_index: status.listeners.len(),
                    ..accepted
                });
                Condition::new("Accepted", true, "Accepted", notes.join("; "))
            }
            Err((reason, message)) => Condition::new("Accepted", false, reason, message),
        };
        status.listeners.push(ListenerStatus {
            name,
            // What binds to an Istio server.
            supported_kinds: vec![RouteGroupKind {
                group: "networking.istio.io".to_owned(),
                kind: "VirtualService".to_owned(),
            }],
            attached_routes: 0,
            conditions: vec![condition.at_generation(gateway.meta.generation)],
        });
    }
    servers
}

/// `(reason, message)` of a rejected server.
type Rejection = (&'static str, String);

/// One server, checked; with the notes for its `Accepted` condition.
fn accept(
    gateway: &IstioGateway,
    (index, server): (usize, &Server),
    identity: &GatewayIdentity,
    store: &SecretStore<'_>,
) -> Result<(GatewayServer, Vec<String>), Rejection> {
    let port = u16::try_from(server.port.number)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            (
                "UnsupportedValue",
                format!("invalid port number {}", server.port.number),
            )
        })?;
    let protocol = server_protocol(server).map_err(|why| ("UnsupportedProtocol", why))?;
    if server.hosts.is_empty() {
        return Err(("UnsupportedValue", "server has no hosts".to_owned()));
    }
    let hosts: Vec<(Option<String>, String)> = server
        .hosts
        .iter()
        .map(|host| parse_server_host(host, gateway.namespace()))
        .collect();
    let mut notes = Vec::new();
    let tls = match protocol {
        ListenerProtocol::Https | ListenerProtocol::Tls => {
            let names = server_names(&hosts);
            // Istio's route table name for the server; a port without a
            // name still needs a unique one.
            let port_name = Some(server.port.name.as_str())
                .filter(|name| !name.is_empty())
                .map_or_else(|| format!("server-{index}"), str::to_owned);
            let name = format!(
                "https.{port}.{port_name}.{}.{}",
                gateway.name(),
                gateway.namespace()
            );
            let built = super::tls::server(server, protocol, identity, store)
                .map_err(|why| ("InvalidTLSConfig", why))?;
            notes = built.notes;
            Some(TlsServer {
                name,
                server_names: names,
                termination: built.termination,
                misdirected_status: 404,
                serves_http: false,
            })
        }
        ListenerProtocol::Http | ListenerProtocol::Tcp => None,
    };
    let https_redirect = protocol == ListenerProtocol::Http
        && server.tls.as_ref().is_some_and(|tls| tls.https_redirect);
    Ok((
        GatewayServer {
            gateway: (String::new(), String::new()),
            port,
            protocol,
            hosts,
            status_index: 0,
            https_redirect,
            tls,
        },
        notes,
    ))
}

/// SNI names of a TLS server: its hosts without namespace scopes; a `*`
/// host makes it the port's default server (every SNI, and none).
fn server_names(hosts: &[(Option<String>, String)]) -> Vec<HostPattern> {
    let mut names: Vec<HostPattern> = Vec::new();
    for (_, host) in hosts {
        let pattern = HostPattern::parse(host, false);
        if pattern == HostPattern::Any {
            return Vec::new();
        }
        if !names.contains(&pattern) {
            names.push(pattern);
        }
    }
    names
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
        source: gateway.source.to_string(),
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
