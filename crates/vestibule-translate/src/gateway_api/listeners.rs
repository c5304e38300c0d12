//! Gateway listeners: validation, allowed route kinds and namespaces,
//! conflicts between listeners, and their status.

use std::collections::BTreeMap;

use vestibule_api::gateway_api::{Listener, RouteGroupKind, GROUP};
use vestibule_api::{Inputs, KubeGateway};
use vestibule_ir::status::{self, Condition, GatewayStatus, ListenerStatus};
use vestibule_ir::TlsServer;

use super::listener_tls::{secure, Lookup};
use crate::secrets::SecretStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http,
    Https,
    Tls,
    Tcp,
}

/// Route kinds a listener can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RouteKind {
    Http,
    Grpc,
    Tls,
    Tcp,
}

impl RouteKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
            RouteKind::Tls => "TLSRoute",
            RouteKind::Tcp => "TCPRoute",
        }
    }

    fn parse(kind: &RouteGroupKind) -> Option<RouteKind> {
        if kind.group.as_deref().is_some_and(|group| group != GROUP) {
            return None;
        }
        match kind.kind.as_str() {
            "HTTPRoute" => Some(RouteKind::Http),
            "GRPCRoute" => Some(RouteKind::Grpc),
            "TLSRoute" => Some(RouteKind::Tls),
            "TCPRoute" => Some(RouteKind::Tcp),
            _ => None,
        }
    }
}

/// Which namespaces' routes a listener admits.
#[derive(Debug, Clone)]
pub(crate) enum Namespaces {
    Same,
    All,
    Selector(vestibule_api::gateway_api::LabelSelector),
    None,
}

/// A listener of a served Gateway, validated.
#[derive(Debug)]
pub(crate) struct GatewayListener {
    pub gateway_namespace: String,
    pub gateway_name: String,
    pub generation: i64,
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
    /// Lower-case; `None` matches every host.
    pub hostname: Option<String>,
    pub namespaces: Namespaces,
    pub kinds: Vec<RouteKind>,
    /// Accepted and not conflicted: routes may attach.
    pub usable: bool,
    /// Whether traffic is served.
    pub programmed: bool,
    /// HTTPS and TLS: the server a connection's SNI picks.
    pub tls: Option<TlsServer>,
    /// Index of the Gateway's status in `Statuses::gateways`.
    pub status: usize,
    /// Index of this listener in that Gateway's status.
    pub status_listener: usize,
}

impl GatewayListener {
    pub(crate) fn admits_namespace(
        &self,
        namespace: &str,
        namespace_labels: &BTreeMap<&str, &BTreeMap<String, String>>,
    ) -> bool {
        match &self.namespaces {
            Namespaces::Same => namespace == self.gateway_namespace,
            Namespaces::All => true,
            Namespaces::None => false,
            Namespaces::Selector(selector) => namespace_labels
                .get(namespace)
                .is_some_and(|labels| selector.matches(labels)),
        }
    }
}

fn protocol(name: &str) -> Option<Protocol> {
    match name {
        "HTTP" => Some(Protocol::Http),
        "HTTPS" => Some(Protocol::Https),
        "TLS" => Some(Protocol::Tls),
        "TCP" => Some(Protocol::Tcp),
        _ => None,
    }
}

/// HTTPS and TLS: listeners a connection reaches by the SNI of its
/// ClientHello, so that they may share a port (the spec's "compatible"
/// listeners; HTTP and HTTPS on one port are not).
pub(crate) fn tls_family(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Https | Protocol::Tls)
}

fn default_kinds(protocol: Protocol) -> Vec<RouteKind> {
    match protocol {
        Protocol::Http | Protocol::Https => vec![RouteKind::Http, RouteKind::Grpc],
        Protocol::Tls => vec![RouteKind::Tls],
        Protocol::Tcp => vec![RouteKind::Tcp],
    }
}

/// Validates every listener of `gateway`, records its status, and returns
/// the listeners. `status` is the index the Gateway's status will have.
pub(crate) fn listeners(
    inputs: &Inputs,
    store: &SecretStore<'_>,
    gateway: &KubeGateway,
    status_index: usize,
    status: &mut GatewayStatus,
) -> Vec<GatewayListener> {
    let generation = gateway.meta.generation;
    let lookup = Lookup {
        inputs,
        store,
        gateway,
    };
    let mut found = Vec::new();
    for listener in &gateway.spec.listeners {
        let (parsed, conditions, kinds) = validate(&lookup, listener);
        status.listeners.push(ListenerStatus {
            name: listener.name.clone(),
            supported_kinds: kinds
                .iter()
                .map(|kind| status::RouteGroupKind {
                    group: GROUP.to_owned(),
                    kind: kind.name().to_owned(),
                })
                .collect(),
            attached_routes: 0,
            conditions: conditions
                .into_iter()
                .map(|c| c.at_generation(generation))
                .collect(),
        });
        if let Some(mut parsed) = parsed {
            parsed.status = status_index;
            parsed.status_listener = status.listeners.len() - 1;
            parsed.kinds = kinds;
            found.push(parsed);
        }
    }
    mark_conflicts(&mut found, status);
    found
}

/// Port and protocol checks, allowed kinds, certificate references.
fn validate(
    lookup: &Lookup<'_, '_>,
    listener: &Listener,
) -> (Option<GatewayListener>, Vec<Condition>, Vec<RouteKind>) {
    let gateway = lookup.gateway;
    let Some(protocol) = protocol(&listener.protocol) else {
        let message = format!("protocol {:?} is not supported", listener.protocol);
        return (
            None,
            vec![
                Condition::new("Accepted", false, "UnsupportedProtocol", &message),
                Condition::new("Programmed", false, "Invalid", &message),
                Condition::new("ResolvedRefs", true, "ResolvedRefs", ""),
                Condition::new("Conflicted", false, "NoConflicts", ""),
            ],
            Vec::new(),
        );
    };
    let Some(port) = u16::try_from(listener.port).ok().filter(|p| *p != 0) else {
        let message = format!("port {} is out of range", listener.port);
        return (
            None,
            vec![
                Condition::new("Accepted", false, "UnsupportedValue", &message),
                Condition::new("Programmed", false, "Invalid", &message),
            ],
            Vec::new(),
        );
    };
    let allowed = listener.allowed_routes.as_ref();
    let requested = allowed.map(|a| a.kinds.as_slice()).unwrap_or(&[]);
    let (kinds, invalid_kinds) = if requested.is_empty() {
        (default_kinds(protocol), false)
    } else {
        let possible = default_kinds(protocol);
        let kinds: Vec<RouteKind> = requested
            .iter()
            .filter_map(RouteKind::parse)
            .filter(|kind| possible.contains(kind))
            .collect();
        let invalid = kinds.len() != requested.len();
        (kinds, invalid)
    };
    let mut resolved = if invalid_kinds {
        Condition::new(
            "ResolvedRefs",
            false,
            "InvalidRouteKinds",
            "some allowedRoutes.kinds are not supported on this listener",
        )
    } else {
        Condition::new("ResolvedRefs", true, "ResolvedRefs", "")
    };
    // Unsupported kinds are only left out of supportedKinds: the listener
    // still serves the others. A certificate problem makes it unusable.
    let hostname = listener
        .hostname
        .as_ref()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    let secured = match secure(lookup, listener, protocol, port, hostname.as_deref()) {
        Ok(secured) => secured,
        Err(rejection) => return (None, rejection, Vec::new()),
    };
    if let Some(problem) = secured.problem {
        resolved = problem;
    }
    let certificates_ok = secured.served;
    let namespaces = match allowed
        .and_then(|a| a.namespaces.as_ref())
        .and_then(|n| n.from.as_deref())
    {
        None | Some("Same") => Namespaces::Same,
        Some("All") => Namespaces::All,
        Some("None") => Namespaces::None,
        Some(_) => Namespaces::Selector(
            allowed
                .and_then(|a| a.namespaces.as_ref())
                .and_then(|n| n.selector.clone())
                .unwrap_or_default(),
        ),
    };
    let programmed = certificates_ok;
    let programmed_condition = if programmed {
        Condition::new("Programmed", true, "Programmed", "")
    } else {
        Condition::new("Programmed", false, "Invalid", resolved.message.clone())
    };
    let accepted = secured
        .accepted
        .unwrap_or_else(|| Condition::new("Accepted", true, "Accepted", ""));
    let parsed = GatewayListener {
        gateway_namespace: gateway.namespace().to_owned(),
        gateway_name: gateway.name().to_owned(),
        generation: gateway.meta.generation,
        name: listener.name.clone(),
        port,
        protocol,
        hostname,
        namespaces,
        kinds: Vec::new(),
        usable: secured.usable,
        programmed,
        tls: secured.tls,
        status: 0,
        status_listener: 0,
    };
    (
        Some(parsed),
        vec![
            accepted,
            programmed_condition,
            resolved,
            Condition::new("Conflicted", false, "NoConflicts", ""),
        ],
        kinds,
    )
}

/// Listeners on one port must be distinct: TCP by port alone; HTTP, HTTPS
/// and TLS by hostname. Of different protocols, only HTTPS and TLS are
/// compatible on one port (both begin with a ClientHello, whose SNI picks
/// the listener; see [`tls_family`]), and then only with different
/// hostnames, since the SNI could not tell two of one name apart. Every
/// listener in a conflict is rejected; no winner is picked.
fn mark_conflicts(listeners: &mut [GatewayListener], status: &mut GatewayStatus) {
    let count = listeners.len();
    for i in 0..count {
        let mut reason = None;
        for j in 0..count {
            if i == j || listeners[i].port != listeners[j].port {
                continue;
            }
            let (a, b) = (&listeners[i], &listeners[j]);
            if a.protocol != b.protocol && !(tls_family(a.protocol) && tls_family(b.protocol)) {
                reason = Some("ProtocolConflict");
                break;
            }
            if a.protocol == Protocol::Tcp || a.hostname == b.hostname {
                reason.get_or_insert("HostnameConflict");
            }
        }
        if let Some(reason) = reason {
            let listener = &mut listeners[i];
            listener.usable = false;
            listener.programmed = false;
            let generation = listener.generation;
            let conditions = &mut status.listeners[listener.status_listener].conditions;
            for condition in conditions.iter_mut() {
                match condition.kind {
                    "Conflicted" => {
                        *condition = Condition::new(
                            "Conflicted",
                            true,
                            reason,
                            "conflicts with another listener on the same port",
                        )
                        .at_generation(generation);
                    }
                    "Programmed" => {
                        *condition =
                            Condition::new("Programmed", false, "Invalid", "listener conflicts")
                                .at_generation(generation);
                    }
                    _ => {}
                }
            }
        }
    }
}
