//! Kubernetes `Ingress` (+ `IngressClass`) → listener port 80 (and 443 for
//! `spec.tls`) and its virtual hosts, as the Kubernetes spec defines Ingress and, where the
//! spec leaves it to the controller, as Istio does
//! (`pilot/pkg/config/kube/ingress`):
//! - `class`: which Ingresses are ours;
//! - `paths`: `Exact`, `Prefix` (element-wise), `ImplementationSpecific`
//!   (Istio's rule), and the precedence "longest path, then Exact";
//! - `backend`: Service backends by port number or name; `resource`
//!   backends are refused;
//! - `hosts`: exact and one-label wildcard hosts, and how rules of several
//!   hosts and the default backend share the one virtual host a request
//!   gets;
//! - `tls`: TLS servers on port 443, which serves the same rules as 80.
//!
//! Every Ingress gets a status: served (and why it is ours) or not (and
//! why), with a warning for each path, rule or TLS entry not served.

mod backend;
mod class;
mod hosts;
mod paths;
mod rules;
mod tls;

use vestibule_api::{Ingress, Inputs};
use vestibule_ir::status::{Condition, ResourceStatus, Statuses, Warning};
use vestibule_ir::ListenerProtocol;

use crate::builder::TableBuilder;
use crate::secrets::SecretStore;
use crate::services::Registry;
use crate::GatewayIdentity;
use class::Decision;

/// "Currently the port of an Ingress is implicitly :80 for http and :443
/// for https" (`IngressRule.host`).
const HTTP_PORT: u16 = 80;

pub(crate) fn translate(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    registry: &Registry<'_>,
    store: &SecretStore<'_>,
    builder: &mut TableBuilder,
    statuses: &mut Statuses,
) {
    let ingresses = crate::by_creation(&inputs.ingresses);
    let decisions: Vec<Decision> = ingresses
        .iter()
        .map(|ingress| class::decide(ingress, inputs, identity))
        .collect();
    // Port 80 opens only while some Ingress is ours.
    let wanted = decisions.iter().any(|d| matches!(d, Decision::Served(_)));
    let listening = wanted && builder.listener(HTTP_PORT, ListenerProtocol::Http);
    let env = backend::Env { inputs, registry };
    let mut gathered = hosts::Gathered::default();
    let mut https = false;
    for (ingress, decision) in ingresses.into_iter().zip(decisions) {
        let status = match decision {
            Decision::Ignored(why) => not_served(ingress, "IgnoredClass", why),
            Decision::Served(_) if !listening => not_served(
                ingress,
                "ProtocolConflict",
                format!("port {HTTP_PORT} is already used with another protocol"),
            ),
            Decision::Served(why) => {
                let mut warnings = rules::convert(ingress, &env, builder, &mut gathered);
                warnings.extend(tls::servers(ingress, identity, store, builder, &mut https));
                status(
                    ingress,
                    Condition::new("Accepted", true, "Accepted", why),
                    warnings,
                )
            }
        };
        statuses.ingresses.push(status);
    }
    if https {
        hosts::place(builder, tls::HTTPS_PORT, gathered.clone());
    }
    if listening {
        hosts::place(builder, HTTP_PORT, gathered);
    }
}

fn not_served(ingress: &Ingress, reason: &'static str, why: String) -> ResourceStatus {
    status(
        ingress,
        Condition::new("Accepted", false, reason, why),
        Vec::new(),
    )
}

fn status(ingress: &Ingress, accepted: Condition, warnings: Vec<Warning>) -> ResourceStatus {
    ResourceStatus {
        namespace: ingress.namespace().to_owned(),
        name: ingress.name().to_owned(),
        source: ingress.source.to_string(),
        conditions: vec![accepted.at_generation(ingress.meta.generation)],
        warnings,
    }
}
