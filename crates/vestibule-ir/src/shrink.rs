//! Vectors shrunk to their length once a table or a status set is built.
//! Built by `push`, a vector of one element holds four (Rust's first
//! growth step): with 10,000 virtual hosts of one route each, the routes'
//! room for three more was 2.3 KB of the 7.9 KB a route cost.

use crate::status::{ResourceStatus, RouteStatus, Statuses};
use crate::{Listener, Route, RouteAction, RouteMatch, RouteTable, VirtualHost};

impl RouteTable {
    /// Gives back the room vectors keep for elements never added.
    pub fn shrink_to_fit(&mut self) {
        self.listeners.iter_mut().for_each(Listener::shrink_to_fit);
        self.listeners.shrink_to_fit();
    }
}

impl Listener {
    fn shrink_to_fit(&mut self) {
        for virtual_host in &mut self.virtual_hosts {
            virtual_host.shrink_to_fit();
        }
        self.virtual_hosts.shrink_to_fit();
        self.tls_servers.shrink_to_fit();
        self.stream_routes.shrink_to_fit();
    }
}

impl VirtualHost {
    fn shrink_to_fit(&mut self) {
        self.name.shrink_to_fit();
        self.domains.shrink_to_fit();
        // A route shared (a translation's cache keeps it too) was shrunk
        // before it was.
        self.routes
            .iter_mut()
            .filter_map(std::sync::Arc::get_mut)
            .for_each(Route::shrink_to_fit);
        self.routes.shrink_to_fit();
    }
}

impl Route {
    /// Frees what was reserved and is not used.
    pub fn shrink_to_fit(&mut self) {
        self.name.shrink_to_fit();
        self.matches.iter_mut().for_each(RouteMatch::shrink_to_fit);
        self.matches.shrink_to_fit();
        if let RouteAction::Forward(forward) = &mut self.action {
            forward.backends.shrink_to_fit();
            forward.mirrors.shrink_to_fit();
        }
    }
}

impl RouteMatch {
    fn shrink_to_fit(&mut self) {
        self.headers.shrink_to_fit();
        self.query_params.shrink_to_fit();
    }
}

impl Statuses {
    /// Gives back the room vectors keep for elements never added.
    pub fn shrink_to_fit(&mut self) {
        // A status shared (a translation's cache keeps it too) was shrunk
        // before it was.
        self.virtual_services
            .iter_mut()
            .filter_map(std::sync::Arc::get_mut)
            .for_each(ResourceStatus::shrink_to_fit);
        self.virtual_services.shrink_to_fit();
        for list in [
            &mut self.ingresses,
            &mut self.destination_rules,
            &mut self.service_entries,
            &mut self.telemetries,
        ] {
            list.iter_mut().for_each(ResourceStatus::shrink_to_fit);
            list.shrink_to_fit();
        }
        self.routes.iter_mut().for_each(RouteStatus::shrink_to_fit);
        self.routes.shrink_to_fit();
    }
}

impl ResourceStatus {
    fn shrink_to_fit(&mut self) {
        self.conditions.shrink_to_fit();
        self.warnings.shrink_to_fit();
    }
}

impl RouteStatus {
    fn shrink_to_fit(&mut self) {
        for parent in &mut self.parents {
            parent.conditions.shrink_to_fit();
        }
        self.parents.shrink_to_fit();
    }
}
