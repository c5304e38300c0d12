//! TLS origination to backends: Istio DestinationRule `trafficPolicy.tls`
//! (and `portLevelSettings[].tls`) and Gateway API BackendTLSPolicy, applied
//! to the backends the routes produced, by service host and port. A
//! backend's TLS depends only on its host and port, so it keeps Istio's
//! cluster name (`outbound|443||api.example.com`): backends that differ in
//! TLS already differ in key.
//!
//! A BackendTLSPolicy takes precedence over a DestinationRule for the same
//! service port (it names the Service itself; a DestinationRule names a
//! host). A setting that cannot be honoured (ISTIO_MUTUAL, file paths, a
//! missing or broken Secret or ConfigMap) fails closed: the backend keeps
//! no endpoints, so its requests get 503 rather than plain text, and the
//! resource's status says why.

mod istio;
mod policy;

use std::collections::{BTreeSet, HashMap};

use vestibule_api::Inputs;
use vestibule_ir::status::Statuses;
use vestibule_ir::{AppProtocol, BackendKey, EndpointTable, RouteTable, UpstreamTls};

use crate::secrets::SecretStore;
use crate::services::Registry;
use crate::GatewayIdentity;

/// What a resource decided for one service port.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Plain text (Istio DISABLE).
    Plain,
    /// TLS; `alpn` is left empty, filled per backend protocol.
    Tls(UpstreamTls),
    /// TLS was asked for and cannot be done: no traffic.
    Refused,
}

/// Decisions by port, for one host.
#[derive(Debug, Default)]
pub(crate) struct HostRules {
    /// Port-level decisions.
    pub ports: HashMap<u16, Decision>,
    /// For every other port.
    pub default: Option<Decision>,
}

impl HostRules {
    fn decision(&self, port: u16) -> Option<&Decision> {
        self.ports.get(&port).or(self.default.as_ref())
    }
}

/// The resources that bear on upstream TLS, read once.
pub(crate) struct Context<'a> {
    pub inputs: &'a Inputs,
    pub identity: &'a GatewayIdentity,
    pub registry: &'a Registry<'a>,
    pub store: &'a SecretStore<'a>,
}

/// Sets `tls` on every backend a DestinationRule or BackendTLSPolicy
/// covers, and empties the endpoints of those whose TLS was refused
/// (returned, so that an endpoint update keeps them empty).
pub(crate) fn apply(
    cx: &Context<'_>,
    table: &mut RouteTable,
    endpoints: &mut EndpointTable,
    statuses: &mut Statuses,
) -> BTreeSet<BackendKey> {
    let mut refused = BTreeSet::new();
    let rules = istio::destination_rules(cx, statuses);
    let policies = policy::backend_tls_policies(cx, statuses);
    for backend in table.backends.values_mut() {
        let decision = policies
            .get(&(backend.host.clone(), backend.port))
            .or_else(|| istio::lookup(&rules, &backend.host, backend.port));
        match decision {
            None | Some(Decision::Plain) => {}
            Some(Decision::Tls(tls)) => {
                let mut tls = tls.clone();
                // Istio without `sni`: the destination host (see `istio`).
                tls.sni.get_or_insert_with(|| backend.host.clone());
                tls.alpn = vec![alpn(backend.protocol).to_owned()];
                backend.tls = Some(tls);
            }
            Some(Decision::Refused) => {
                if let Some(list) = endpoints.backends.get_mut(&backend.key) {
                    list.clear();
                }
                refused.insert(backend.key.clone());
            }
        }
    }
    refused
}

/// HTTP/2 backends (h2c, gRPC) ask for `h2`; the rest for `http/1.1`.
fn alpn(protocol: AppProtocol) -> &'static str {
    match protocol {
        AppProtocol::H2c => "h2",
        AppProtocol::Http1 => "http/1.1",
    }
}
