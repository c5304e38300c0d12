//! The service registry: Services and ServiceEntries by host name, and the
//! ready endpoints of each service port. A ServiceEntry is in the registry
//! only when it is exported to the gateway's namespace (Istio `exportTo`).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use vestibule_api::core::ServicePort;
use vestibule_api::{Inputs, Service, ServiceEntry};
use vestibule_ir::status::{Condition, ResourceStatus, Warning};
use vestibule_ir::{AppProtocol, BackendSubset, Endpoint, EndpointAddress};

use crate::visibility;

/// The cluster DNS suffix Kubernetes Services live under.
pub const CLUSTER_DOMAIN: &str = "svc.cluster.local";

/// Label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A service port resolved from a destination.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePortRef<'a> {
    pub host: String,
    pub port: u16,
    pub protocol: AppProtocol,
    pub target: PortTarget<'a>,
}

/// Where the endpoints of a service port come from.
#[derive(Debug, Clone, PartialEq)]
pub enum PortTarget<'a> {
    Kubernetes {
        service: &'a Service,
        port: &'a ServicePort,
    },
    Entry {
        entry: &'a ServiceEntry,
        port_name: String,
        port: u16,
        target_port: Option<u32>,
    },
}

/// Why a destination could not be resolved to a service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    UnknownHost(String),
    UnknownPort { host: String, port: u16 },
    PortRequired { host: String, ports: usize },
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::UnknownHost(host) => {
                write!(f, "referenced service {host:?} not found")
            }
            ResolveError::UnknownPort { host, port } => {
                write!(f, "service {host:?} has no port {port}")
            }
            ResolveError::PortRequired { host, ports } => write!(
                f,
                "destination port required: service {host:?} has {ports} ports"
            ),
        }
    }
}

enum Entry<'a> {
    Service(&'a Service),
    ServiceEntry(&'a ServiceEntry),
}

pub struct Registry<'a> {
    by_host: HashMap<String, Entry<'a>>,
    slices_by_service: HashMap<(&'a str, &'a str), Vec<&'a vestibule_api::EndpointSlice>>,
    endpoints_by_service: HashMap<(&'a str, &'a str), &'a vestibule_api::Endpoints>,
    pod_ips: HashMap<(&'a str, &'a str), &'a str>,
    /// Pods by `(namespace, name)`: an endpoint's labels are its Pod's.
    pods: HashMap<(&'a str, &'a str), &'a vestibule_api::Pod>,
}

/// No labels: what an endpoint without a Pod or labels of its own carries.
static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> Registry<'a> {
    /// The registry a gateway in `gateway_namespace` sees: every Service,
    /// and the ServiceEntries exported to that namespace.
    pub fn new(inputs: &'a Inputs, gateway_namespace: &str) -> Registry<'a> {
        let mut by_host = HashMap::new();
        for service in &inputs.services {
            let host = format!(
                "{}.{}.{CLUSTER_DOMAIN}",
                service.name(),
                service.namespace()
            );
            by_host.insert(host, Entry::Service(service));
        }
        let visible = inputs.service_entries.iter().filter(|entry| {
            visibility::exported_to(&entry.spec.export_to, entry.namespace(), gateway_namespace)
        });
        for entry in visible {
            for host in &entry.spec.hosts {
                by_host
                    .entry(host.to_ascii_lowercase())
                    .or_insert(Entry::ServiceEntry(entry));
            }
        }
        let mut slices_by_service: HashMap<_, Vec<_>> = HashMap::new();
        for slice in &inputs.endpoint_slices {
            if let Some(service) = slice.meta.labels.get(SERVICE_NAME_LABEL) {
                slices_by_service
                    .entry((slice.namespace(), service.as_str()))
                    .or_default()
                    .push(slice);
            }
        }
        let endpoints_by_service = inputs
            .endpoints
            .iter()
            .map(|endpoints| ((endpoints.namespace(), endpoints.name()), endpoints))
            .collect();
        let pod_ips = inputs
            .pods
            .iter()
            .filter_map(|pod| Some(((pod.namespace(), pod.name()), pod.spec.pod_ip.as_deref()?)))
            .collect();
        let pods = inputs
            .pods
            .iter()
            .map(|pod| ((pod.namespace(), pod.name()), pod))
            .collect();
        Registry {
            by_host,
            slices_by_service,
            endpoints_by_service,
            pod_ips,
            pods,
        }
    }

    /// Resolves a destination host as written in a resource of `namespace`:
    /// `httpbin`, `httpbin.default`, `httpbin.default.svc`,
    /// `httpbin.default.svc.cluster.local`, or a ServiceEntry host.
    pub fn resolve(
        &self,
        host: &str,
        namespace: &str,
        port: Option<u16>,
    ) -> Result<ServicePortRef<'a>, ResolveError> {
        let (fqdn, entry) = self
            .find(host, namespace)
            .ok_or_else(|| ResolveError::UnknownHost(host.to_owned()))?;
        match entry {
            Entry::Service(service) => resolve_service_port(fqdn, service, port),
            Entry::ServiceEntry(entry) => resolve_entry_port(fqdn, entry, port),
        }
    }

    /// The registry host a name written in `namespace` means (the first
    /// of its expansions that is a Service or ServiceEntry host), else its
    /// fully qualified form: `reviews` in `default` is
    /// `reviews.default.svc.cluster.local` whether or not it exists.
    pub fn fqdn(&self, host: &str, namespace: &str) -> String {
        let candidates = self.candidates(host, namespace);
        candidates
            .iter()
            .find(|candidate| self.by_host.contains_key(*candidate))
            .or_else(|| candidates.last())
            .cloned()
            .unwrap_or_default()
    }

    fn candidates(&self, host: &str, namespace: &str) -> Vec<String> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let expanded = expansion(&host, namespace);
        std::iter::once(host).chain(expanded).collect()
    }

    /// The first of [`Registry::candidates`] that is a registry host, and
    /// its entry: what [`Registry::resolve`] looks up for every route,
    /// without building the names it does not need.
    fn find(&self, host: &str, namespace: &str) -> Option<(String, &Entry<'a>)> {
        let host = host.trim_end_matches('.');
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(host.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(host)
        };
        if let Some(entry) = self.by_host.get(host.as_ref()) {
            return Some((host.into_owned(), entry));
        }
        let expanded = expansion(&host, namespace)?;
        let entry = self.by_host.get(&expanded)?;
        Some((expanded, entry))
    }

    /// Ready endpoints of a resolved service port.
    pub fn endpoints(&self, target: &ServicePortRef<'a>) -> Vec<Endpoint> {
        self.subset_endpoints(target, None)
    }

    /// Ready endpoints of a resolved service port; with a `subset`, only
    /// those whose labels it selects (an endpoint's labels: its Pod's, by
    /// `targetRef`, else its EndpointSlice's or Endpoints', else, for a
    /// ServiceEntry, the endpoint's own).
    pub fn subset_endpoints(
        &self,
        target: &ServicePortRef<'a>,
        subset: Option<&BackendSubset>,
    ) -> Vec<Endpoint> {
        let keep = |labels: &BTreeMap<String, String>| subset.is_none_or(|s| s.selects(labels));
        let mut endpoints = match &target.target {
            PortTarget::Kubernetes { service, port } => {
                self.service_endpoints(service, port, &keep)
            }
            PortTarget::Entry {
                entry,
                port_name,
                port,
                target_port,
            } => entry_endpoints(entry, port_name, *port, *target_port, &keep),
        };
        endpoints.sort();
        endpoints.dedup();
        endpoints
    }

    fn service_endpoints(
        &self,
        service: &Service,
        port: &ServicePort,
        keep: &dyn Fn(&BTreeMap<String, String>) -> bool,
    ) -> Vec<Endpoint> {
        let key = (service.namespace(), service.name());
        if let Some(slices) = self.slices_by_service.get(&key) {
            return slices
                .iter()
                .flat_map(|slice| {
                    let labels = |pod: Option<&vestibule_api::core::ObjectReference>| {
                        self.pod_labels(slice.namespace(), pod)
                            .unwrap_or(&slice.meta.labels)
                    };
                    slice_endpoints(slice, port, |endpoint| {
                        keep(labels(endpoint.target_ref.as_ref()))
                    })
                })
                .collect();
        }
        if let Some(endpoints) = self.endpoints_by_service.get(&key) {
            return legacy_endpoints(
                endpoints,
                port,
                |pod| self.pod_ips.get(&(service.namespace(), pod)).copied(),
                |pod| {
                    keep(
                        self.pod_labels(service.namespace(), pod)
                            .unwrap_or(&endpoints.meta.labels),
                    )
                },
            );
        }
        Vec::new()
    }

    /// The labels of the Pod an endpoint's `targetRef` names, if it names
    /// a Pod that is known.
    fn pod_labels(
        &self,
        namespace: &str,
        target: Option<&vestibule_api::core::ObjectReference>,
    ) -> Option<&'a BTreeMap<String, String>> {
        let target = target.filter(|t| t.kind == "Pod")?;
        let namespace = if target.namespace.is_empty() {
            namespace
        } else {
            &target.namespace
        };
        self.pods
            .get(&(namespace, target.name.as_str()))
            .map(|pod| &pod.meta.labels)
    }
}

/// The port a destination means: the one with that number, or the only
/// one when no number is given.
fn choose_port<'p, P>(
    ports: &'p [P],
    wanted: Option<u16>,
    number: impl Fn(&P) -> i64,
    host: &str,
) -> Result<&'p P, ResolveError> {
    let chosen = match wanted {
        Some(wanted) => ports.iter().find(|p| number(p) == i64::from(wanted)),
        None if ports.len() == 1 => ports.first(),
        None => {
            return Err(ResolveError::PortRequired {
                host: host.to_owned(),
                ports: ports.len(),
            })
        }
    };
    chosen.ok_or(ResolveError::UnknownPort {
        host: host.to_owned(),
        port: wanted.unwrap_or(0),
    })
}

/// The fully qualified name a short (lower-case) host stands for in
/// `namespace`, when it is short: `reviews` is
/// `reviews.<namespace>.svc.cluster.local`, `reviews.ns` is
/// `reviews.ns.svc.cluster.local`, `reviews.ns.svc` gains `.cluster.local`.
fn expansion(host: &str, namespace: &str) -> Option<String> {
    let joined = |parts: &[&str]| {
        let mut name = String::with_capacity(parts.iter().map(|part| part.len() + 1).sum());
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                name.push('.');
            }
            name.push_str(part);
        }
        name
    };
    match host.matches('.').count() {
        0 => Some(joined(&[host, namespace, CLUSTER_DOMAIN])),
        1 => Some(joined(&[host, CLUSTER_DOMAIN])),
        2 if host.ends_with(".svc") => Some(joined(&[host, "cluster.local"])),
        _ => None,
    }
}

fn resolve_service_port<'a>(
    host: String,
    service: &'a Service,
    port: Option<u16>,
) -> Result<ServicePortRef<'a>, ResolveError> {
    let chosen = choose_port(&service.spec.ports, port, |p| p.port, &host)?;
    Ok(ServicePortRef {
        host,
        port: u16::try_from(chosen.port).unwrap_or(0),
        protocol: protocol_of(chosen.app_protocol.as_deref(), &chosen.name),
        target: PortTarget::Kubernetes {
            service,
            port: chosen,
        },
    })
}

fn resolve_entry_port<'a>(
    host: String,
    entry: &'a ServiceEntry,
    port: Option<u16>,
) -> Result<ServicePortRef<'a>, ResolveError> {
    let chosen = choose_port(&entry.spec.ports, port, |p| i64::from(p.number), &host)?;
    let number = u16::try_from(chosen.number).unwrap_or(0);
    Ok(ServicePortRef {
        host,
        port: number,
        protocol: protocol_of(Some(&chosen.protocol), &chosen.name),
        target: PortTarget::Entry {
            entry,
            port_name: chosen.name.clone(),
            port: number,
            target_port: chosen.target_port,
        },
    })
}

/// The protocol the service port itself declares.
pub fn declared_protocol(target: &ServicePortRef<'_>) -> AppProtocol {
    match &target.target {
        PortTarget::Kubernetes { port, .. } => {
            protocol_of(port.app_protocol.as_deref(), &port.name)
        }
        PortTarget::Entry {
            entry, port_name, ..
        } => entry
            .spec
            .ports
            .iter()
            .find(|p| &p.name == port_name)
            .map_or(AppProtocol::Http1, |p| {
                protocol_of(Some(&p.protocol), &p.name)
            }),
    }
}

/// The protocol vestibule speaks to a port: h2c for `appProtocol`
/// `kubernetes.io/h2c`, `grpc`, `http2`, or a port name starting with
/// `grpc`/`http2`/`h2c` (Istio's port naming convention); else HTTP/1.1.
pub fn protocol_of(app_protocol: Option<&str>, port_name: &str) -> AppProtocol {
    let declared = app_protocol.unwrap_or(port_name).to_ascii_lowercase();
    let prefix = declared.split('-').next().unwrap_or("");
    match prefix {
        "kubernetes.io/h2c" | "grpc" | "http2" | "h2c" | "grpc_web" => AppProtocol::H2c,
        _ => AppProtocol::Http1,
    }
}

fn slice_endpoints(
    slice: &vestibule_api::EndpointSlice,
    port: &ServicePort,
    keep: impl Fn(&vestibule_api::core::SliceEndpoint) -> bool,
) -> Vec<Endpoint> {
    let Some(number) = slice
        .spec
        .ports
        .iter()
        .find(|p| p.name == port.name)
        .and_then(|p| p.port)
        .and_then(|p| u16::try_from(p).ok())
    else {
        return Vec::new();
    };
    slice
        .spec
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.conditions.is_ready() && keep(endpoint))
        .flat_map(|endpoint| endpoint.addresses.iter())
        .filter_map(|address| socket_endpoint(address, number))
        .collect()
}

fn legacy_endpoints<'p>(
    endpoints: &'p vestibule_api::Endpoints,
    port: &ServicePort,
    pod_ip: impl Fn(&'p str) -> Option<&'p str>,
    keep: impl Fn(Option<&vestibule_api::core::ObjectReference>) -> bool,
) -> Vec<Endpoint> {
    let mut found = Vec::new();
    for subset in &endpoints.spec.subsets {
        let Some(number) = subset
            .ports
            .iter()
            .find(|p| p.name == port.name)
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for address in &subset.addresses {
            if !keep(address.target_ref.as_ref()) {
                continue;
            }
            let ip = if address.ip.is_empty() {
                address
                    .target_ref
                    .as_ref()
                    .and_then(|pod| pod_ip(&pod.name))
                    .unwrap_or("")
            } else {
                &address.ip
            };
            found.extend(socket_endpoint(ip, number));
        }
    }
    found
}

fn socket_endpoint(address: &str, port: u16) -> Option<Endpoint> {
    let ip: IpAddr = address.parse().ok()?;
    Some(Endpoint {
        address: EndpointAddress::Socket(SocketAddr::new(ip, port)),
        weight: 1,
    })
}

/// ServiceEntry endpoints: STATIC addresses, or DNS names (the endpoints'
/// addresses, else the hosts) resolved when connecting.
fn entry_endpoints(
    entry: &ServiceEntry,
    port_name: &str,
    port: u16,
    target_port: Option<u32>,
    keep: &dyn Fn(&BTreeMap<String, String>) -> bool,
) -> Vec<Endpoint> {
    let default_port = target_port
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(port);
    let resolution = entry
        .spec
        .resolution
        .as_deref()
        .unwrap_or("NONE")
        .to_ascii_uppercase();
    let dns = resolution.starts_with("DNS");
    if entry.spec.endpoints.is_empty() {
        // The hosts carry no labels: a subset with labels selects none.
        if !dns || !keep(&NO_LABELS) {
            return Vec::new();
        }
        return entry
            .spec
            .hosts
            .iter()
            .filter(|host| !host.starts_with('*'))
            .map(|host| Endpoint {
                address: EndpointAddress::Dns {
                    host: host.clone(),
                    port: default_port,
                },
                weight: 1,
            })
            .collect();
    }
    entry
        .spec
        .endpoints
        .iter()
        .filter(|workload| keep(&workload.labels))
        .filter_map(|workload| {
            let port = workload
                .ports
                .get(port_name)
                .and_then(|p| u16::try_from(*p).ok())
                .unwrap_or(default_port);
            let weight = workload.weight.unwrap_or(1).max(1);
            let address = match workload.address.parse::<IpAddr>() {
                Ok(ip) => EndpointAddress::Socket(SocketAddr::new(ip, port)),
                Err(_) if dns => EndpointAddress::Dns {
                    host: workload.address.clone(),
                    port,
                },
                Err(_) => return None,
            };
            Some(Endpoint { address, weight })
        })
        .collect()
}

/// The status of every ServiceEntry: accepted, or not applied because it
/// is not exported to the gateway's namespace.
pub(crate) fn service_entry_statuses(
    inputs: &Inputs,
    gateway_namespace: &str,
) -> Vec<ResourceStatus> {
    crate::by_creation(&inputs.service_entries)
        .into_iter()
        .map(|entry| {
            let export_to = &entry.spec.export_to;
            let exported = visibility::exported_to(export_to, entry.namespace(), gateway_namespace);
            let (condition, warnings) = if exported {
                (Condition::new("Accepted", true, "Accepted", ""), Vec::new())
            } else {
                let message = visibility::not_exported_to_gateway(export_to, gateway_namespace);
                (
                    Condition::new("Accepted", false, "NotExported", message.clone()),
                    vec![Warning::not_applied(message)],
                )
            };
            ResourceStatus {
                namespace: entry.namespace().to_owned(),
                name: entry.name().to_owned(),
                source: entry.source.to_string(),
                conditions: vec![condition.at_generation(entry.meta.generation)],
                warnings,
            }
        })
        .collect()
}

/// Labels of a namespace by name, for selectors.
pub fn namespace_labels(inputs: &Inputs) -> BTreeMap<&str, &BTreeMap<String, String>> {
    inputs
        .namespaces
        .iter()
        .map(|namespace| (namespace.name(), &namespace.meta.labels))
        .collect()
}
