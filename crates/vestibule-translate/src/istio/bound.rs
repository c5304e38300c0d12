//! What binding one VirtualService added to the table, kept apart from it:
//! its status, the backends its routes name, the routes each virtual host
//! got, its connection routes and the servers it attached to. The next
//! translation adds the same again for a VirtualService that is unchanged
//! while everything else it reads is unchanged ([`crate::cache`]), rather
//! than binding it again.

use std::sync::Arc;

use vestibule_api::VirtualService;
use vestibule_ir::status::ResourceStatus;
use vestibule_ir::{BackendKey, HostPattern, Route, StreamRoute};

use super::gateway::GatewayServer;
use super::Attached;
use crate::builder::{Backends, TableBuilder};

#[derive(Debug)]
pub(crate) struct Bound {
    pub(super) status: Arc<ResourceStatus>,
    /// Every backend its routes name (none when it was not accepted).
    pub(super) backends: Vec<BackendKey>,
    pub(super) http: Vec<Placement>,
    /// Connection routes, by listener port.
    pub(super) streams: Vec<(u16, StreamRoute)>,
    /// The servers it attached to, by their index among the selected ones.
    pub(super) servers: Vec<usize>,
}

/// The routes one (port, domain) binding got.
#[derive(Debug)]
pub(super) struct Placement {
    pub(super) port: u16,
    pub(super) domain: HostPattern,
    /// Its virtual host's name, as the builder made it: a replay copies
    /// it rather than formatting it again.
    pub(super) name: Box<str>,
    /// Shared with the table.
    pub(super) routes: Vec<Arc<Route>>,
    /// A server offering it has `httpsRedirect`.
    pub(super) require_tls: bool,
}

impl Bound {
    /// Nothing yet: filled in while the VirtualService is bound.
    pub(super) fn new() -> Bound {
        Bound {
            status: Arc::new(ResourceStatus {
                namespace: String::new(),
                name: String::new(),
                source: String::new(),
                conditions: Vec::new(),
                warnings: Vec::new(),
            }),
            backends: Vec::new(),
            http: Vec::new(),
            streams: Vec::new(),
            servers: Vec::new(),
        }
    }

    /// Adds to `builder` and `attached` what binding `vs` added; its status.
    /// `servers` are the ones it was bound with (one per listener), `backends` the last
    /// translation's; `moved`: `vs` was read at another line since.
    pub(super) fn replay<'c>(
        &self,
        vs: &VirtualService,
        moved: bool,
        servers: &'c [GatewayServer],
        backends: &Backends,
        builder: &mut TableBuilder,
        attached: &mut Attached<'c>,
    ) -> Arc<ResourceStatus> {
        for key in &self.backends {
            builder.adopt_backend(key, backends);
        }
        for placement in &self.http {
            let vhost =
                builder.virtual_host_named(placement.port, &placement.domain, &placement.name);
            if vhost.routes.is_empty() {
                // A clone is allocated at its length; `extend` (or
                // `clone_from`) into an empty vector keeps room for four,
                // which the table's shrink then reallocates, once per
                // virtual host.
                vhost.routes = placement.routes.clone();
            } else {
                vhost.routes.extend(placement.routes.iter().cloned());
            }
            vhost.require_tls |= placement.require_tls;
        }
        for (port, route) in &self.streams {
            builder.stream_route(*port, route.clone());
        }
        // One server per listener (see `attach`).
        for &index in &self.servers {
            let server = &servers[index];
            *attached
                .entry((&server.gateway, server.status_index))
                .or_default() += 1;
        }
        if moved {
            // A document above it grew: the status says where it is now.
            Arc::new(ResourceStatus {
                source: vs.source.to_string(),
                ..ResourceStatus::clone(&self.status)
            })
        } else {
            Arc::clone(&self.status)
        }
    }
}
