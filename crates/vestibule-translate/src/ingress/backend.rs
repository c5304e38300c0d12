//! Ingress backends → IR backends. "Backend ... references a Service ...
//! in the same namespace as the Ingress object" (`IngressServiceBackend`);
//! v1 names it `service.{name, port.{name|number}}`, v1beta1
//! `serviceName` + `servicePort` (a number or a port name).

use vestibule_api::core::IntOrString;
use vestibule_api::ingress::IngressBackend;
use vestibule_api::Inputs;
use vestibule_ir::BackendKey;

use crate::builder::TableBuilder;
use crate::services::{Registry, ResolveError, CLUSTER_DOMAIN};

/// What the resources around a translation offer to resolve backends.
pub(crate) struct Env<'a, 'r> {
    pub inputs: &'a Inputs,
    pub registry: &'a Registry<'r>,
}

/// A backend served: its key, and a warning when it cannot work (requests
/// to it get 503, as Istio's route to a cluster that does not exist does).
pub(crate) struct Resolved {
    pub key: BackendKey,
    pub warning: Option<String>,
}

enum Port<'b> {
    Number(i64),
    Name(&'b str),
}

/// Resolves `backend` of an Ingress in `namespace`. An `Err` says why the
/// path (or default backend) using it is dropped.
pub(crate) fn resolve(
    env: &Env<'_, '_>,
    backend: &IngressBackend,
    namespace: &str,
    builder: &mut TableBuilder,
) -> Result<Resolved, String> {
    let (service, port) = service_and_port(backend)?;
    let number = match port {
        Port::Number(number) => {
            u16::try_from(number).map_err(|_| format!("port {number} is not a port number"))?
        }
        Port::Name(name) => named_port(env.inputs, service, namespace, name)?,
    };
    let host = format!("{service}.{namespace}.{CLUSTER_DOMAIN}");
    Ok(match env.registry.resolve(&host, namespace, Some(number)) {
        Ok(target) => Resolved {
            key: builder.backend(env.registry, &target),
            warning: None,
        },
        Err(error) => Resolved {
            key: builder.missing_backend(&host, namespace, Some(number)),
            warning: Some(missing(&error, service, namespace)),
        },
    })
}

/// The Service name and port a backend names, in either version's fields.
fn service_and_port(backend: &IngressBackend) -> Result<(&str, Port<'_>), String> {
    if backend.resource.is_some() {
        return Err(
            "resource backends are not supported (vestibule forwards only to \
                    Services); use service.name and service.port"
                .to_owned(),
        );
    }
    if let Some(service) = &backend.service {
        let port = service.port.as_ref();
        return match (
            port.and_then(|p| p.number),
            port.and_then(|p| p.name.as_deref()),
        ) {
            (Some(number), _) if number > 0 => Ok((&service.name, Port::Number(number))),
            (_, Some(name)) if !name.is_empty() => Ok((&service.name, Port::Name(name))),
            _ => Err(format!(
                "service {:?} needs port.number or port.name",
                service.name
            )),
        };
    }
    match (&backend.service_name, &backend.service_port) {
        (Some(name), Some(IntOrString::Int(number))) => Ok((name, Port::Number(*number))),
        (Some(name), Some(IntOrString::String(port))) => Ok((name, Port::Name(port))),
        (Some(name), None) => Err(format!("serviceName {name:?} needs servicePort")),
        (None, _) => Err("backend names no service (service or serviceName)".to_owned()),
    }
}

/// "port.name ... must match a named port on the Service": resolved
/// through the Service's `ports[].name` to its `port`, as Istio does
/// (`resolveNamedPort`, which drops the path when it cannot).
fn named_port(inputs: &Inputs, service: &str, namespace: &str, name: &str) -> Result<u16, String> {
    let found = inputs
        .services
        .iter()
        .find(|s| s.name() == service && s.namespace() == namespace)
        .ok_or_else(|| {
            format!("port name {name:?}: Service {namespace}/{service} not found to resolve it")
        })?;
    let port = found
        .spec
        .ports
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("Service {namespace}/{service} has no port named {name:?}"))?;
    u16::try_from(port.port).map_err(|_| format!("port {} is not a port number", port.port))
}

fn missing(error: &ResolveError, service: &str, namespace: &str) -> String {
    match error {
        ResolveError::UnknownHost(_) => {
            format!("Service {namespace}/{service} not found; requests to it get 503")
        }
        other => format!("{other}; requests to it get 503"),
    }
}
