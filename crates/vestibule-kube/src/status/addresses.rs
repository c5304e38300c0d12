//! The addresses written to a Gateway's `status.addresses` (and an
//! Ingress' `status.loadBalancer`), by how the Gateway runs:
//! - shared: the gateway Service's load-balancer addresses, else the
//!   addresses of the pods behind it;
//! - automated deployment: its own Service's; manual mode: the Service its
//!   hostname address names. Both as Istio reports them: the load
//!   balancer's addresses; none while a LoadBalancer Service waits for
//!   one; else the Service's hostname (Istio's classes report hostnames).

use serde_json::Value;

use super::desired::Address;
use super::WriterConfig;
use crate::deploy::{mode, Mode};
use crate::source::{GatewayApi, Source};

/// The shared gateway's addresses.
pub(super) fn shared(source: &Source, service: &(String, String)) -> Vec<Address> {
    let status = source
        .raw("", "Service", &service.0, &service.1)
        .and_then(|raw| raw.status);
    let from_balancer = balancer(status.as_ref());
    if !from_balancer.is_empty() {
        return from_balancer;
    }
    source
        .service_addresses(&service.0, &service.1)
        .into_iter()
        .map(Address::Ip)
        .collect()
}

/// Per-Gateway addresses, from the Gateways as they are now.
pub(super) struct Own<'a> {
    source: &'a Source,
    config: &'a WriterConfig,
    gateways: GatewayApi,
}

impl<'a> Own<'a> {
    pub(super) fn new(source: &'a Source, config: &'a WriterConfig) -> Own<'a> {
        Own {
            source,
            config,
            gateways: source.gateway_api(),
        }
    }

    /// `None` for a Gateway the shared gateway serves.
    pub(super) fn of(&self, namespace: &str, name: &str) -> Option<Vec<Address>> {
        let gateway = self
            .gateways
            .gateways
            .iter()
            .find(|g| g.meta.namespace == namespace && g.meta.name == name)?;
        let mode = mode::mode(
            gateway,
            &self.gateways.classes,
            &self.config.controller_names,
            self.config.deploy_gateways,
        )?;
        Some(match mode {
            Mode::Shared => return None,
            Mode::Automated { service } => {
                let hostname = format!("{service}.{namespace}.svc.cluster.local");
                self.service(namespace, &service, hostname)
            }
            Mode::Manual {
                hostname,
                service: Some((namespace, service)),
            } => self.service(&namespace, &service, hostname),
            Mode::Manual { service: None, .. } => Vec::new(),
        })
    }

    /// A Service's addresses as Istio reports them; none while it is not
    /// there.
    fn service(&self, namespace: &str, name: &str, hostname: String) -> Vec<Address> {
        let Some((service, status)) = self.source.service(namespace, name) else {
            return Vec::new();
        };
        let from_balancer = balancer(status.as_ref());
        if !from_balancer.is_empty() {
            return from_balancer;
        }
        if service.spec.service_type.as_deref() == Some("LoadBalancer") {
            return Vec::new(); // pending
        }
        vec![Address::Hostname(hostname)]
    }
}

/// `status.loadBalancer.ingress`: IPs and hostnames.
fn balancer(status: Option<&Value>) -> Vec<Address> {
    status
        .and_then(|status| status.pointer("/loadBalancer/ingress"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|entry| {
            if let Some(ip) = entry.get("ip").and_then(Value::as_str) {
                Some(Address::Ip(ip.to_owned()))
            } else {
                entry
                    .get("hostname")
                    .and_then(Value::as_str)
                    .map(|hostname| Address::Hostname(hostname.to_owned()))
            }
        })
        .collect()
}
