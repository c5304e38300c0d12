//! Translation: a pure function from one consistent set of resources to the
//! routing table, the endpoints, and the status of every resource. No I/O,
//! no clock; the same inputs always give the same output.
#![forbid(unsafe_code)]

mod builder;
pub mod duration;
mod istio;
pub mod services;

use std::collections::BTreeMap;

use serde::Serialize;
use vestibule_api::Inputs;
use vestibule_ir::status::Statuses;
use vestibule_ir::{EndpointTable, RouteTable};

/// Who this gateway is: what Istio `Gateway` selectors and namespace-scoped
/// references are evaluated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayIdentity {
    /// This gateway's own labels (`istio=ingressgateway` by default).
    pub labels: BTreeMap<String, String>,
    /// This gateway's own namespace (`istio-system` by default).
    pub namespace: String,
}

impl Default for GatewayIdentity {
    fn default() -> GatewayIdentity {
        GatewayIdentity {
            labels: BTreeMap::from([("istio".to_owned(), "ingressgateway".to_owned())]),
            namespace: "istio-system".to_owned(),
        }
    }
}

/// Everything the translator decided.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Translation {
    pub table: RouteTable,
    pub endpoints: EndpointTable,
    pub statuses: Statuses,
}

/// Translates `inputs` for the gateway `identity`.
pub fn translate(inputs: &Inputs, identity: &GatewayIdentity) -> Translation {
    let registry = services::Registry::new(inputs);
    let mut builder = builder::TableBuilder::default();
    let mut statuses = Statuses::default();
    istio::translate(inputs, identity, &registry, &mut builder, &mut statuses);
    let (table, endpoints) = builder.finish();
    Translation {
        table,
        endpoints,
        statuses,
    }
}
