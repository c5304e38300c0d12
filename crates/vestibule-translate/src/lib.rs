//! Translation: a pure function from one consistent set of resources to the
//! routing table, the endpoints, and the status of every resource. No I/O,
//! no clock; the same inputs always give the same output.
#![forbid(unsafe_code)]

mod builder;
mod cache;
mod destination_rules;
pub mod duration;
mod gateway_api;
mod hosts;
mod ingress;
mod istio;
mod secrets;
pub mod services;
mod telemetry;
mod upstream_tls;
mod visibility;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use vestibule_api::Inputs;
use vestibule_ir::status::Statuses;
use vestibule_ir::{EndpointTable, RouteTable};

pub use cache::TranslateCache;

/// Who this gateway is: what Istio `Gateway` selectors and namespace-scoped
/// references are evaluated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayIdentity {
    /// This gateway's own labels (`istio=ingressgateway` by default).
    pub labels: BTreeMap<String, String>,
    /// This gateway's own namespace (`istio-system` by default).
    pub namespace: String,
    /// GatewayClass `controllerName`s this gateway serves.
    pub controller_names: Vec<String>,
    /// The `kubernetes.io/ingress.class` annotation value this gateway
    /// serves (Istio's `meshConfig.ingressClass`, `istio` by default).
    pub ingress_class: String,
}

impl Default for GatewayIdentity {
    fn default() -> GatewayIdentity {
        GatewayIdentity {
            labels: BTreeMap::from([("istio".to_owned(), "ingressgateway".to_owned())]),
            namespace: "istio-system".to_owned(),
            controller_names: vec![
                "vestibule.io/gateway-controller".to_owned(),
                "istio.io/gateway-controller".to_owned(),
            ],
            ingress_class: "istio".to_owned(),
        }
    }
}

/// Everything the translator decided.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Translation {
    /// Shared with the data plane's snapshot, which reads routes from it.
    pub table: Arc<RouteTable>,
    pub endpoints: EndpointTable,
    pub statuses: Statuses,
    /// The Secrets and ConfigMaps the translation looked up.
    #[serde(skip)]
    pub references: References,
    /// Backends whose upstream TLS was refused: they keep no endpoints
    /// (see [`endpoints`]).
    #[serde(skip)]
    pub refused: BTreeSet<vestibule_ir::BackendKey>,
    /// The gateway's namespace the translation was made for: what decides
    /// which ServiceEntries an endpoint update sees (see [`endpoints`]).
    #[serde(skip)]
    pub gateway_namespace: String,
}

/// `(namespace, name)` of every Secret and ConfigMap a translation asked
/// for, whether it was there or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    pub secrets: BTreeSet<(String, String)>,
    pub config_maps: BTreeSet<(String, String)>,
}

/// Translates `inputs` for the gateway `identity`.
pub fn translate(inputs: &Inputs, identity: &GatewayIdentity) -> Translation {
    translate_with(inputs, identity, &mut istio::Memo::off()).0
}

/// [`translate`], reusing what `cache` kept of the last translation and,
/// when `keep`, keeping this one's for the next; the result is the same.
pub fn translate_cached(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    cache: &mut TranslateCache,
    keep: bool,
) -> Translation {
    let mut memo = cache.begin(inputs, identity, keep);
    let (translation, backends) = translate_with(inputs, identity, &mut memo);
    cache.end(memo, backends.unwrap_or_default());
    translation
}

/// The translation, and its backends as the translators left them when
/// `memo` keeps bindings (which name them).
fn translate_with(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    memo: &mut istio::Memo,
) -> (Translation, Option<builder::Backends>) {
    let registry = services::Registry::new(inputs, &identity.namespace);
    let store = secrets::SecretStore::new(inputs);
    let mut builder = builder::TableBuilder::default();
    let mut statuses = Statuses {
        service_entries: services::service_entry_statuses(inputs, &identity.namespace),
        ..Statuses::default()
    };
    istio::translate(
        inputs,
        identity,
        &registry,
        &store,
        &mut builder,
        &mut statuses,
        memo,
    );
    ingress::translate(
        inputs,
        identity,
        &registry,
        &store,
        &mut builder,
        &mut statuses,
    );
    gateway_api::translate(
        inputs,
        identity,
        &registry,
        &store,
        &mut builder,
        &mut statuses,
    );
    let backends = memo.keeps().then(|| builder.backends_copy());
    let (mut table, mut endpoints) = builder.finish();
    let report = destination_rules::apply(
        inputs,
        identity,
        &registry,
        &mut table,
        &mut endpoints,
        &mut statuses,
    );
    let context = upstream_tls::Context {
        inputs,
        identity,
        registry: &registry,
        store: &store,
    };
    let refused = upstream_tls::apply(&context, &mut table, &mut endpoints, &mut statuses);
    report.into_statuses(inputs, &mut statuses);
    table.access_logging = telemetry::access_logging(inputs, identity, &mut statuses);
    table.tracing = telemetry::tracing(inputs, identity);
    // Kept for as long as it serves: no room for what will not be added.
    table.shrink_to_fit();
    statuses.shrink_to_fit();
    let translation = Translation {
        table: Arc::new(table),
        endpoints,
        statuses,
        references: store.into_references(),
        refused,
        gateway_namespace: identity.namespace.clone(),
    };
    (translation, backends)
}

/// The endpoints of `translation`'s backends in `inputs`, without
/// translating routes again: what an EndpointSlice, Endpoints or Pod
/// change needs (the route table does not read them).
pub fn endpoints(inputs: &Inputs, translation: &Translation) -> EndpointTable {
    let registry = services::Registry::new(inputs, &translation.gateway_namespace);
    let backends = translation
        .table
        .backends
        .iter()
        .map(|(key, backend)| {
            let found = if translation.refused.contains(key) {
                Vec::new()
            } else {
                destination_rules::resolve_endpoints(&registry, backend)
            };
            (key.clone(), found)
        })
        .collect();
    EndpointTable { backends }
}

/// Resources in a stable order: oldest first, then namespace/name (Istio's
/// merge order and the Gateway API's tie-break).
pub(crate) fn by_creation<S>(
    resources: &[vestibule_api::Resource<S>],
) -> Vec<&vestibule_api::Resource<S>> {
    let mut sorted: Vec<_> = resources.iter().collect();
    fn created<S>(resource: &vestibule_api::Resource<S>) -> &str {
        resource.meta.creation_timestamp.as_deref().unwrap_or("")
    }
    sorted.sort_by(|a, b| {
        created(a)
            .cmp(created(b))
            .then_with(|| a.namespace().cmp(b.namespace()))
            .then_with(|| a.name().cmp(b.name()))
    });
    sorted
}
