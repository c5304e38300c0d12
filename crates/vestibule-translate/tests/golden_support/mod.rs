//! Accessors the golden tests share: find a listener, a virtual host, a
//! route, and a route's backends in a translation, with a message naming
//! what exists when the wanted one does not.

use std::path::Path;
use std::sync::Arc;

pub(crate) mod certs;
mod incremental;

use vestibule_api::{Inputs, Loaded};
use vestibule_ir::{Listener, Route, RouteAction, VirtualHost};
use vestibule_translate::{translate, GatewayIdentity, Translation};

/// Loads a case (no load errors or warnings allowed: a misspelt field would
/// otherwise be ignored silently) and translates it.
pub(crate) fn run_case(path: &Path) -> (Inputs, Translation) {
    let text = std::fs::read_to_string(path).expect("case file is readable");
    let file = path
        .file_name()
        .and_then(|name| name.to_str())
        .expect("case file name is UTF-8");
    assert!(
        text.starts_with('#'),
        "{file} must start with a `#` comment saying what it pins and the expected outcome"
    );
    let text = certs::expand(&text);
    let mut loaded = Loaded::default();
    vestibule_api::load_str(file, &text, &mut loaded);
    assert!(
        loaded.errors.is_empty(),
        "{file}: load errors: {:#?}",
        loaded.errors
    );
    assert!(
        loaded.warnings.is_empty(),
        "{file}: load warnings: {:#?}",
        loaded.warnings
    );
    let mut translation = translate(&loaded.inputs, &GatewayIdentity::default());
    incremental::check(file, &loaded.inputs, &translation);
    // The endpoint-only update (Kubernetes mode, on an EndpointSlice
    // change) must give what a full translation gives.
    assert_eq!(
        vestibule_translate::endpoints(&loaded.inputs, &translation),
        translation.endpoints,
        "{file}: endpoints without translating routes differ"
    );
    certs::redact(Arc::make_mut(&mut translation.table));
    (loaded.inputs, translation)
}

pub(crate) fn listener(t: &Translation, port: u16) -> &Listener {
    t.table
        .listeners
        .iter()
        .find(|l| l.port == port)
        .unwrap_or_else(|| {
            let ports: Vec<u16> = t.table.listeners.iter().map(|l| l.port).collect();
            panic!("no listener on port {port}: {ports:?}")
        })
}

pub(crate) fn vhost<'t>(t: &'t Translation, port: u16, domain: &str) -> &'t VirtualHost {
    listener(t, port)
        .virtual_hosts
        .iter()
        .find(|v| v.domains.iter().any(|d| d.to_string() == domain))
        .unwrap_or_else(|| {
            let names: Vec<&str> = listener(t, port)
                .virtual_hosts
                .iter()
                .map(|v| v.name.as_str())
                .collect();
            panic!("no vhost {domain} on port {port}: {names:?}")
        })
}

pub(crate) fn route_names(vhost: &VirtualHost) -> Vec<&str> {
    vhost.routes.iter().map(|r| r.name.as_str()).collect()
}

pub(crate) fn route<'v>(vhost: &'v VirtualHost, name: &str) -> &'v Route {
    vhost
        .routes
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no route {name} in {}: {:?}",
                vhost.name,
                route_names(vhost)
            )
        })
}

/// `(backend key, weight)` of a forwarding route; `<none>` for an invalid
/// reference.
pub(crate) fn backends(route: &Route) -> Vec<(&str, u32)> {
    match &route.action {
        RouteAction::Forward(forward) => forward
            .backends
            .iter()
            .map(|b| (b.backend.as_deref().unwrap_or("<none>"), b.weight))
            .collect(),
        other => panic!("route {} does not forward: {other:?}", route.name),
    }
}
