//! VirtualService `tls[]` and `tcp[]` rules → connection routes
//! (`pilot/pkg/networking/core/gateway.go`, `buildGatewayNetworkFilters*`):
//! - `tls` rules serve passthrough TLS servers, by SNI: each match's
//!   `sniHosts` (required, each inside the VirtualService's hosts) meet the
//!   server's hosts, and the more specific name of each pair is served;
//! - `tcp` rules serve TCP servers (every connection) and terminating TLS
//!   servers (the SNI names the server and the VirtualService share);
//! - a rule binds a server as `http` rules do: match-level `gateways` (else
//!   the VirtualService's) name the server's Gateway, and a match `port`,
//!   when given, is the server's port. The first matching route wins, so
//!   rules keep their order (VirtualServices oldest first).

use vestibule_api::istio::RouteDestination;
use vestibule_api::VirtualService;
use vestibule_ir::status::Warning;
use vestibule_ir::{HostPattern, RouteOrigin, StreamRoute, WeightedBackend};

use super::gateway::{GatewayKey, GatewayServer};
use super::matches::FieldError;
use super::rules::{destination_backend, gateway_key, weights};
use crate::builder::{stream_share, TableBuilder};
use crate::services::Registry;

/// A connection route for one port, and the servers (indexes) it serves.
pub(crate) struct Placed {
    pub port: u16,
    pub route: StreamRoute,
    pub servers: Vec<usize>,
}

#[derive(Default)]
pub(crate) struct Converted {
    pub placed: Vec<Placed>,
    pub warnings: Vec<Warning>,
}

/// Converts and places the `tls` and `tcp` rules of `vs`. A rule that is
/// invalid rejects the VirtualService (as Istio's webhook would).
pub(crate) fn convert(
    vs: &VirtualService,
    gateways: &[GatewayKey],
    servers: &[GatewayServer],
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
) -> Result<Converted, FieldError> {
    let mut out = Converted::default();
    let cx = Cx {
        vs,
        gateways,
        servers,
    };
    for (index, rule) in vs.spec.tls.iter().enumerate() {
        let field = format!("spec.tls[{index}]");
        validate_tls(vs, rule, &field)?;
        let backends = backends(
            vs,
            &rule.route,
            &field,
            registry,
            builder,
            &mut out.warnings,
        )?;
        let targets = cx.tls_targets(rule);
        out.placed
            .extend(place(vs, format!("tls.{index}"), targets, &backends));
    }
    for (index, rule) in vs.spec.tcp.iter().enumerate() {
        let field = format!("spec.tcp[{index}]");
        if rule.route.is_empty() {
            return Err((
                format!("{field}.route"),
                "a tcp rule needs a route".to_owned(),
            ));
        }
        for (match_index, input) in rule.matches.iter().enumerate() {
            if !input.destination_subnets.is_empty() {
                out.warnings.push(Warning::not_honoured(format!(
                    "{field}.match[{match_index}].destinationSubnets is not supported at a \
                     gateway and is ignored"
                )));
            }
        }
        let backends = backends(
            vs,
            &rule.route,
            &field,
            registry,
            builder,
            &mut out.warnings,
        )?;
        let targets = cx.tcp_targets(rule);
        out.placed
            .extend(place(vs, format!("tcp.{index}"), targets, &backends));
    }
    Ok(out)
}

/// `sniHosts` are required, and each must lie inside the VirtualService's
/// hosts.
fn validate_tls(
    vs: &VirtualService,
    rule: &vestibule_api::istio::TlsRoute,
    field: &str,
) -> Result<(), FieldError> {
    if rule.matches.is_empty() {
        return Err((
            format!("{field}.match"),
            "a tls rule needs a match with sniHosts".to_owned(),
        ));
    }
    for (index, input) in rule.matches.iter().enumerate() {
        let field = format!("{field}.match[{index}].sniHosts");
        if input.sni_hosts.is_empty() {
            return Err((field, "sniHosts is required".to_owned()));
        }
        for sni in &input.sni_hosts {
            if !vs
                .spec
                .hosts
                .iter()
                .any(|host| crate::hosts::covers(host, sni))
            {
                return Err((
                    field.clone(),
                    format!("sniHost {sni} is not within the VirtualService's hosts"),
                ));
            }
        }
    }
    if rule.route.is_empty() {
        return Err((
            format!("{field}.route"),
            "a tls rule needs a route".to_owned(),
        ));
    }
    Ok(())
}

/// The weighted backends of a rule's `route`.
fn backends(
    vs: &VirtualService,
    route: &[RouteDestination],
    field: &str,
    registry: &Registry<'_>,
    builder: &mut TableBuilder,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<WeightedBackend>, FieldError> {
    let weights = weights(&route.iter().map(|d| d.weight).collect::<Vec<_>>(), field)?;
    let mut backends = Vec::new();
    for (index, (destination, weight)) in route.iter().zip(weights).enumerate() {
        if weight == 0 {
            continue;
        }
        let field = format!("{field}.route[{index}]");
        let key = destination_backend(
            vs,
            &destination.destination,
            &field,
            registry,
            builder,
            warnings,
        );
        backends.push(stream_share(Some(key), weight));
    }
    Ok(backends)
}

/// A server a rule serves, and the SNI names it serves there (`None`: every
/// connection of the server).
struct Target {
    server: usize,
    port: u16,
    names: Option<Vec<String>>,
}

struct Cx<'a> {
    vs: &'a VirtualService,
    gateways: &'a [GatewayKey],
    servers: &'a [GatewayServer],
}

impl Cx<'_> {
    /// Whether a match (its `gateways` and `port`) admits `server`.
    fn admits(&self, match_gateways: &[String], port: Option<u32>, server: &GatewayServer) -> bool {
        let own: Vec<GatewayKey> = match_gateways
            .iter()
            .filter_map(|gateway| gateway_key(gateway, self.vs.namespace()))
            .collect();
        let names = if match_gateways.is_empty() {
            self.gateways
        } else {
            &own
        };
        names.contains(&server.gateway) && port.is_none_or(|port| port == u32::from(server.port))
    }

    fn tls_targets(&self, rule: &vestibule_api::istio::TlsRoute) -> Vec<Target> {
        let namespace = self.vs.namespace();
        let mut targets = Vec::new();
        for (index, server) in self.servers.iter().enumerate() {
            if !server.is_passthrough() {
                continue;
            }
            let mut names = Vec::new();
            for input in &rule.matches {
                if !self.admits(&input.gateways, input.port, server) {
                    continue;
                }
                for sni in &input.sni_hosts {
                    for host in server.hosts_for(namespace) {
                        if let Some(name) = crate::hosts::intersect(host, sni) {
                            push_unique(&mut names, name);
                        }
                    }
                }
            }
            if !names.is_empty() {
                targets.push(Target {
                    server: index,
                    port: server.port,
                    names: any_or(names),
                });
            }
        }
        targets
    }

    /// A tcp rule without matches admits every server of the
    /// VirtualService's Gateways; the VirtualService's hosts must meet the
    /// server's hosts, as for `http` rules.
    fn tcp_targets(&self, rule: &vestibule_api::istio::TcpRoute) -> Vec<Target> {
        let namespace = self.vs.namespace();
        let mut targets = Vec::new();
        for (index, server) in self.servers.iter().enumerate() {
            if !server.serves_tcp() {
                continue;
            }
            let admitted = if rule.matches.is_empty() {
                self.admits(&[], None, server)
            } else {
                rule.matches
                    .iter()
                    .any(|input| self.admits(&input.gateways, input.port, server))
            };
            if !admitted {
                continue;
            }
            let mut names = Vec::new();
            for host in server.hosts_for(namespace) {
                for vs_host in &self.vs.spec.hosts {
                    if let Some(name) = crate::hosts::intersect(host, vs_host) {
                        push_unique(&mut names, name);
                    }
                }
            }
            if names.is_empty() {
                continue;
            }
            // A TCP connection has no SNI: the route takes every one.
            let names = if server.tls.is_some() {
                any_or(names)
            } else {
                None
            };
            targets.push(Target {
                server: index,
                port: server.port,
                names,
            });
        }
        targets
    }
}

fn push_unique(names: &mut Vec<String>, name: String) {
    if !names.contains(&name) {
        names.push(name);
    }
}

/// `None` when one of the names is `*`.
fn any_or(names: Vec<String>) -> Option<Vec<String>> {
    (!names.iter().any(|name| name == "*")).then_some(names)
}

/// One connection route per port the rule's targets are on, with the
/// union of their names (every connection when one target takes all).
fn place(
    vs: &VirtualService,
    rule: String,
    targets: Vec<Target>,
    backends: &[WeightedBackend],
) -> Vec<Placed> {
    let mut ports: Vec<(u16, Option<Vec<String>>, Vec<usize>)> = Vec::new();
    for target in targets {
        let Some(entry) = ports.iter_mut().find(|(port, _, _)| *port == target.port) else {
            ports.push((target.port, target.names, vec![target.server]));
            continue;
        };
        entry.2.push(target.server);
        entry.1 = match (entry.1.take(), target.names) {
            (Some(mut names), Some(more)) => {
                for name in more {
                    push_unique(&mut names, name);
                }
                Some(names)
            }
            _ => None,
        };
    }
    ports
        .into_iter()
        .map(|(port, names, servers)| Placed {
            port,
            route: StreamRoute {
                name: format!("{}.{}.{rule}", vs.namespace(), vs.name()),
                origin: RouteOrigin {
                    kind: "VirtualService",
                    namespace: vs.namespace().to_owned(),
                    name: vs.name().to_owned(),
                },
                server_names: names
                    .unwrap_or_default()
                    .iter()
                    .map(|name| HostPattern::parse(name, false))
                    .collect(),
                backends: backends.to_vec(),
            },
            servers,
        })
        .collect()
}
