//! Incremental translation: what a translation can reuse of the last one.
//!
//! Binding a VirtualService (its routes, backends, status) reads the
//! VirtualService and the rest of the set: Gateways, Services and their
//! endpoints, ServiceEntries, Secrets, the gateway's identity. While the
//! rest is unchanged, a VirtualService equal to its last version binds as
//! it did, so its last binding is added again and only changed
//! VirtualServices are bound. Everything else (Gateways, DestinationRules,
//! Ingress, the Gateway API, the statuses of the set as a whole) is
//! translated every time.
//!
//! Delegation (a VirtualService without hosts, or a rule that delegates)
//! makes a binding read other VirtualServices: a set that uses it is
//! translated from scratch, and nothing is kept.

use std::sync::Arc;

use vestibule_api::{Inputs, VirtualService};

use crate::builder::Backends;
use crate::istio::{Bindings, Memo};
use crate::GatewayIdentity;

/// What the next translation may reuse. Empty at first.
#[derive(Default)]
pub struct TranslateCache {
    /// The identity and the set but its VirtualServices that the bindings
    /// were made with.
    context: Option<(GatewayIdentity, Inputs)>,
    bindings: Option<Bindings>,
    /// The backends the bindings name, as their translation had them.
    backends: Arc<Backends>,
    reused: usize,
    bound: usize,
}

impl TranslateCache {
    /// VirtualServices the last translation did not bind again.
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// Whether the last translation kept its bindings.
    pub fn complete(&self) -> bool {
        self.bindings.is_some()
    }

    /// VirtualServices the last translation bound.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// The memo for translating `inputs`: the last bindings when their
    /// context holds, none otherwise; this translation's are kept when
    /// `keep`, unless the set delegates.
    pub(crate) fn begin(
        &mut self,
        inputs: &Inputs,
        identity: &GatewayIdentity,
        keep: bool,
    ) -> Memo {
        let old = self.bindings.take();
        if inputs.virtual_services.iter().any(delegates) {
            self.context = None;
            return Memo::off();
        }
        let context = (identity.clone(), without_virtual_services(inputs));
        let same = self.context.as_ref() == Some(&context);
        self.context = Some(context);
        let backends = std::mem::take(&mut self.backends);
        Memo::over(old.filter(|_| same), backends, keep)
    }

    /// Keeps what `memo` bound, and the translation's `backends`, for the
    /// next translation.
    pub(crate) fn end(&mut self, memo: Memo, backends: Backends) {
        (self.bindings, self.reused, self.bound) = memo.finish();
        self.backends = Arc::new(backends);
    }
}

/// A delegate, or a VirtualService that delegates.
fn delegates(vs: &VirtualService) -> bool {
    vs.spec.hosts.is_empty() || vs.spec.http.iter().any(|rule| rule.delegate.is_some())
}

/// `inputs` but its VirtualServices. Every list is named: one added to
/// `Inputs` must be decided about here.
fn without_virtual_services(inputs: &Inputs) -> Inputs {
    let Inputs {
        namespaces,
        services,
        endpoint_slices,
        endpoints,
        pods,
        secrets,
        config_maps,
        gateways,
        virtual_services: _,
        destination_rules,
        service_entries,
        telemetries,
        ingresses,
        ingress_classes,
        gateway_classes,
        kube_gateways,
        http_routes,
        grpc_routes,
        tls_routes,
        tcp_routes,
        reference_grants,
        backend_tls_policies,
    } = inputs;
    Inputs {
        namespaces: namespaces.clone(),
        services: services.clone(),
        endpoint_slices: endpoint_slices.clone(),
        endpoints: endpoints.clone(),
        pods: pods.clone(),
        secrets: secrets.clone(),
        config_maps: config_maps.clone(),
        gateways: gateways.clone(),
        virtual_services: Vec::new(),
        destination_rules: destination_rules.clone(),
        service_entries: service_entries.clone(),
        telemetries: telemetries.clone(),
        ingresses: ingresses.clone(),
        ingress_classes: ingress_classes.clone(),
        gateway_classes: gateway_classes.clone(),
        kube_gateways: kube_gateways.clone(),
        http_routes: http_routes.clone(),
        grpc_routes: grpc_routes.clone(),
        tls_routes: tls_routes.clone(),
        tcp_routes: tcp_routes.clone(),
        reference_grants: reference_grants.clone(),
        backend_tls_policies: backend_tls_policies.clone(),
    }
}
