//! Accumulates listeners, virtual hosts, backends and endpoints while the
//! translators run, then produces the immutable tables.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use vestibule_ir::{
    Backend, BackendKey, Endpoint, EndpointTable, HostPattern, Listener, ListenerProtocol,
    LoadBalancer, Route, RouteTable, StreamRoute, TlsServer, VirtualHost, WeightedBackend,
};

use crate::services::{Registry, ServicePortRef};

#[derive(Default)]
pub(crate) struct TableBuilder {
    listeners: BTreeMap<u16, ListenerBuilder>,
    backends: BTreeMap<BackendKey, Backend>,
    endpoints: BTreeMap<BackendKey, Vec<Endpoint>>,
    /// The backends this builder added, when it holds another's backends
    /// for one resource ([`TableBuilder::lend_backends`]).
    added: Option<Vec<BackendKey>>,
    /// Every backend asked for while lent, when the resource's binding is
    /// kept for the next translation ([`crate::cache`]).
    used: Option<Vec<BackendKey>>,
    /// Where a virtual host's name is formatted before it is copied at its
    /// length (a formatted `String` keeps room that the table would give
    /// back with one reallocation per host).
    scratch: String,
}

/// The backends and endpoints of a translation as its translators left them
/// (before DestinationRules and upstream TLS apply): what a binding kept
/// for the next translation takes its backends from.
#[derive(Debug, Default)]
pub(crate) struct Backends {
    backends: BTreeMap<BackendKey, Backend>,
    endpoints: BTreeMap<BackendKey, Vec<Endpoint>>,
}

struct ListenerBuilder {
    protocol: ListenerProtocol,
    tls_servers: Vec<TlsServer>,
    virtual_hosts: Vec<VirtualHost>,
    stream_routes: Vec<StreamRoute>,
    /// Position of each virtual host in `virtual_hosts` by its first domain,
    /// so that 10k hosts are not found by scanning.
    by_domain: HashMap<HostPattern, usize>,
}

impl TableBuilder {
    /// Declares a listener port. Returns false when the port is already
    /// declared with another protocol (the caller reports the conflict).
    pub(crate) fn listener(&mut self, port: u16, protocol: ListenerProtocol) -> bool {
        let listener = self.listeners.entry(port).or_insert(ListenerBuilder {
            protocol,
            tls_servers: Vec::new(),
            virtual_hosts: Vec::new(),
            stream_routes: Vec::new(),
            by_domain: HashMap::default(),
        });
        listener.protocol == protocol
    }

    /// Adds a TLS server to a declared listener.
    #[allow(dead_code)] // until the TLS and TCP translators land
    pub(crate) fn tls_server(&mut self, port: u16, server: TlsServer) {
        self.declared(port).tls_servers.push(server);
    }

    /// The TLS servers declared so far on `port`.
    #[allow(dead_code)] // until the TLS and TCP translators land
    pub(crate) fn tls_servers(&self, port: u16) -> &[TlsServer] {
        self.listeners
            .get(&port)
            .map_or(&[], |listener| listener.tls_servers.as_slice())
    }

    /// An SNI name of `names` that a TLS server already declared on `port`
    /// serves, with that server's name (an empty list is the default server,
    /// which there can be only one of). Istio drops the later server of two
    /// that repeat a host ("duplicate host names").
    pub(crate) fn sni_taken(&self, port: u16, names: &[HostPattern]) -> Option<(String, String)> {
        self.tls_servers(port).iter().find_map(|earlier| {
            let repeated = if names.is_empty() || earlier.server_names.is_empty() {
                (names.is_empty() && earlier.server_names.is_empty()).then(|| "*".to_owned())
            } else {
                names
                    .iter()
                    .find(|name| earlier.server_names.contains(name))
                    .map(ToString::to_string)
            };
            repeated.map(|host| (host, earlier.name.clone()))
        })
    }

    /// Appends a connection route to a declared listener.
    #[allow(dead_code)] // until the TLS and TCP translators land
    pub(crate) fn stream_route(&mut self, port: u16, route: StreamRoute) {
        self.declared(port).stream_routes.push(route);
    }

    fn declared(&mut self, port: u16) -> &mut ListenerBuilder {
        self.listeners
            .get_mut(&port)
            .expect("listener declared before its servers and routes")
    }

    /// The virtual host for `domain` on `port`, created on first use.
    /// The listener must have been declared.
    pub(crate) fn virtual_host(&mut self, port: u16, domain: &str) -> &mut VirtualHost {
        self.virtual_host_pattern(port, HostPattern::parse(domain, false))
    }

    /// The virtual host for an already parsed `pattern` on `port`, created
    /// on first use: for translators whose wildcards do not mean what
    /// Istio's do (a Kubernetes Ingress `*.foo.com` is exactly one label,
    /// [`HostPattern::SingleLabel`]). The listener must have been declared.
    pub(crate) fn virtual_host_pattern(
        &mut self,
        port: u16,
        pattern: HostPattern,
    ) -> &mut VirtualHost {
        self.virtual_host_of(port, &pattern)
    }

    /// [`TableBuilder::virtual_host_pattern`] for a borrowed `pattern`,
    /// copied only when its virtual host is new.
    pub(crate) fn virtual_host_of(&mut self, port: u16, pattern: &HostPattern) -> &mut VirtualHost {
        self.found_or_new(port, pattern, |scratch| {
            use std::fmt::Write;
            scratch.clear();
            let _ = write!(scratch, "{pattern}:{port}");
            String::from(scratch.as_str())
        })
    }

    /// [`TableBuilder::virtual_host_of`] for a pattern whose virtual host
    /// was named `name` before (a replayed binding's): copied, not
    /// formatted again.
    pub(crate) fn virtual_host_named(
        &mut self,
        port: u16,
        pattern: &HostPattern,
        name: &str,
    ) -> &mut VirtualHost {
        self.found_or_new(port, pattern, |_| name.to_owned())
    }

    /// The virtual host of `pattern` on `port`; a new one named by `name`
    /// (given the scratch buffer) when there is none yet.
    fn found_or_new(
        &mut self,
        port: u16,
        pattern: &HostPattern,
        name: impl FnOnce(&mut String) -> String,
    ) -> &mut VirtualHost {
        match self.declared(port).by_domain.get(pattern).copied() {
            Some(index) => &mut self.declared(port).virtual_hosts[index],
            None => {
                let name = name(&mut self.scratch);
                self.new_virtual_host(port, pattern.clone(), name)
            }
        }
    }

    /// A virtual host named `name` for `pattern`, which `port` does not
    /// have yet.
    fn new_virtual_host(
        &mut self,
        port: u16,
        pattern: HostPattern,
        name: String,
    ) -> &mut VirtualHost {
        let listener = self.declared(port);
        let index = listener.virtual_hosts.len();
        listener.by_domain.insert(pattern.clone(), index);
        listener.virtual_hosts.push(VirtualHost {
            name,
            domains: vec![pattern],
            routes: Vec::new(),
            require_tls: false,
        });
        &mut listener.virtual_hosts[index]
    }

    /// Registers the backend for a resolved service port and its endpoints.
    pub(crate) fn backend(
        &mut self,
        registry: &Registry<'_>,
        target: &ServicePortRef<'_>,
    ) -> BackendKey {
        // Istio's cluster name; a protocol forced over the Service's own
        // (GRPCRoute backends) gets its own backend.
        let key = match (target.protocol, crate::services::declared_protocol(target)) {
            (vestibule_ir::AppProtocol::H2c, vestibule_ir::AppProtocol::Http1) => {
                cluster_name(target.port, "h2c", &target.host)
            }
            _ => cluster_name(target.port, "", &target.host),
        };
        let added = self.add_backend(&key, || {
            new_backend(&key, target.host.clone(), target.port, target.protocol)
        });
        if added {
            self.endpoints
                .insert(key.clone(), registry.endpoints(target));
        }
        key
    }

    /// Registers the backend of a DestinationRule subset of a resolved
    /// service port (Istio's `outbound|9080|v2|reviews...`). Its labels and
    /// endpoints are filled in once every DestinationRule has been read
    /// (`destination_rules::apply`); until then it has none.
    pub(crate) fn subset_backend(
        &mut self,
        target: &ServicePortRef<'_>,
        subset: &str,
    ) -> BackendKey {
        let key = cluster_name(target.port, subset, &target.host);
        self.add_backend(&key, || Backend {
            subset: Some(vestibule_ir::BackendSubset {
                name: subset.to_owned(),
                labels: None,
            }),
            ..new_backend(&key, target.host.clone(), target.port, target.protocol)
        });
        self.endpoints.entry(key.clone()).or_default();
        key
    }

    /// Lends the backends and endpoints registered so far to a builder for
    /// one resource, which records the ones it adds: a resource is converted
    /// into it first, so that one rejected half-way leaves no backend of its
    /// earlier rules behind ([`Self::restore_backends`]), while a backend an
    /// earlier resource registered is found rather than built again.
    /// With `record`, the lent builder also notes every backend it is
    /// asked for.
    pub(crate) fn lend_backends(&mut self, record: bool) -> TableBuilder {
        TableBuilder {
            backends: std::mem::take(&mut self.backends),
            endpoints: std::mem::take(&mut self.endpoints),
            added: Some(Vec::new()),
            used: record.then(Vec::new),
            ..TableBuilder::default()
        }
    }

    /// Takes back the backends and endpoints lent to `lent`, with those it
    /// added when `keep` (the resource is accepted), without them otherwise;
    /// the backends it was asked for, when it recorded them.
    pub(crate) fn restore_backends(
        &mut self,
        mut lent: TableBuilder,
        keep: bool,
    ) -> Vec<BackendKey> {
        if !keep {
            for key in lent.added.take().unwrap_or_default() {
                lent.backends.remove(&key);
                lent.endpoints.remove(&key);
            }
        }
        self.backends = lent.backends;
        self.endpoints = lent.endpoints;
        lent.used.unwrap_or_default()
    }

    /// Adds the backend `key` as `from` has it, unless it is here already.
    pub(crate) fn adopt_backend(&mut self, key: &BackendKey, from: &Backends) {
        if self.backends.contains_key(key) {
            return;
        }
        if let Some(backend) = from.backends.get(key) {
            self.backends.insert(key.clone(), backend.clone());
        }
        if let Some(endpoints) = from.endpoints.get(key) {
            self.endpoints.insert(key.clone(), endpoints.clone());
        }
    }

    /// A copy of the backends and endpoints registered so far.
    pub(crate) fn backends_copy(&self) -> Backends {
        Backends {
            backends: self.backends.clone(),
            endpoints: self.endpoints.clone(),
        }
    }

    /// Adds the backend `key` unless it is there, noting it when lent
    /// backends are held; whether it was added.
    fn add_backend(&mut self, key: &BackendKey, make: impl FnOnce() -> Backend) -> bool {
        if let Some(used) = &mut self.used {
            used.push(key.clone());
        }
        if self.backends.contains_key(key) {
            return false;
        }
        if let Some(added) = &mut self.added {
            added.push(key.clone());
        }
        self.backends.insert(key.clone(), make());
        true
    }

    /// Applies `arrange` to the routes of every virtual host (e.g. moving
    /// catch-all routes last).
    pub(crate) fn arrange_routes(&mut self, mut arrange: impl FnMut(&mut Vec<Arc<Route>>)) {
        for listener in self.listeners.values_mut() {
            for vhost in &mut listener.virtual_hosts {
                arrange(&mut vhost.routes);
            }
        }
    }

    pub(crate) fn finish(self) -> (RouteTable, EndpointTable) {
        let listeners = self
            .listeners
            .into_iter()
            .map(|(port, listener)| Listener {
                name: format!("{}.{port}", protocol_prefix(listener.protocol)),
                port,
                protocol: listener.protocol,
                tls_servers: listener.tls_servers,
                virtual_hosts: listener.virtual_hosts,
                stream_routes: listener.stream_routes,
            })
            .collect();
        (
            RouteTable {
                listeners,
                backends: self.backends,
                access_logging: None,
                tracing: None,
            },
            EndpointTable {
                backends: self.endpoints,
            },
        )
    }
}

fn protocol_prefix(protocol: ListenerProtocol) -> &'static str {
    match protocol {
        ListenerProtocol::Http => "http",
        ListenerProtocol::Https => "https",
        ListenerProtocol::Tls => "tls",
        ListenerProtocol::Tcp => "tcp",
    }
}

impl TableBuilder {
    /// A backend for a destination that names no known service. Istio routes
    /// such a request to a cluster that does not exist, and Envoy answers 503;
    /// a backend with no endpoints gives the same answer.
    pub(crate) fn missing_backend(
        &mut self,
        host: &str,
        namespace: &str,
        port: Option<u16>,
    ) -> BackendKey {
        let host = if host.contains('.') {
            host.to_ascii_lowercase()
        } else {
            format!(
                "{}.{namespace}.{}",
                host.to_ascii_lowercase(),
                crate::services::CLUSTER_DOMAIN
            )
        };
        let port = port.unwrap_or(0);
        let key = cluster_name(port, "", &host);
        self.add_backend(&key, || {
            new_backend(&key, host, port, vestibule_ir::AppProtocol::Http1)
        });
        self.endpoints.entry(key.clone()).or_default();
        key
    }
}

/// Istio's cluster name, `outbound|{port}|{subset}|{host}` (the subset
/// empty for none). Pieced together rather than formatted: every
/// destination of every route names its backend, ten thousand times with
/// ten thousand VirtualServices, and `format!` cost several times as much.
fn cluster_name(port: u16, subset: &str, host: &str) -> BackendKey {
    ["outbound|", &port.to_string(), "|", subset, "|", host].concat()
}

/// A backend as a translator first registers it: least request, no
/// subset, no TLS; DestinationRules and upstream TLS policies set the rest.
fn new_backend(
    key: &BackendKey,
    host: String,
    port: u16,
    protocol: vestibule_ir::AppProtocol,
) -> Backend {
    Backend {
        key: key.clone(),
        host,
        port,
        protocol,
        load_balancer: LoadBalancer::LeastRequest,
        consistent_hash: None,
        warmup: None,
        tls: None,
        subset: None,
        connection_pool: Default::default(),
        outlier_detection: None,
    }
}

/// A share of a connection route: a backend (`None`: connections that pick
/// this share are refused) and its weight, with nothing HTTP about it.
pub(crate) fn stream_share(backend: Option<BackendKey>, weight: u32) -> WeightedBackend {
    WeightedBackend {
        backend,
        weight,
        request_headers: Default::default(),
        response_headers: Default::default(),
        path_rewrite: None,
        host_rewrite: None,
        redirect: None,
    }
}
