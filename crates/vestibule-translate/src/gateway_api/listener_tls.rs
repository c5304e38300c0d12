//! The TLS side of a Gateway listener: its certificates (`certificateRefs`,
//! Secrets, cross-namespace with a ReferenceGrant), client certificate
//! validation (`caCertificateRefs`: ConfigMaps key `ca.crt`, or Secrets),
//! and the TLS server the data plane picks by SNI.

use vestibule_api::gateway_api::{FrontendTlsValidation, Listener, ObjectReference, GROUP};
use vestibule_api::{Inputs, KubeGateway};
use vestibule_ir::status::Condition;
use vestibule_ir::{
    CertifiedKey, ClientValidation, HostPattern, Pem, TlsServer, TlsTermination, TlsVersion,
};

use super::listeners::Protocol;
use super::refs::{permitted, From};
use crate::secrets::{CaBundle, SecretStore};

/// "Implementations SHOULD return 421 when the SNI and the Host do not
/// select the same listener" (GatewayHTTPSListenerDetectMisdirectedRequests).
const MISDIRECTED: u16 = 421;

pub(crate) struct Lookup<'a, 's> {
    pub inputs: &'a Inputs,
    pub store: &'a SecretStore<'s>,
    pub gateway: &'a KubeGateway,
}

impl Lookup<'_, '_> {
    fn from(&self) -> From<'_> {
        From {
            group: GROUP,
            kind: "Gateway",
            namespace: self.gateway.namespace(),
        }
    }
}

/// A terminating listener's certificates, or the `ResolvedRefs=False`
/// condition (InvalidCertificateRef, RefNotPermitted) of the first bad one.
fn certificates(
    lookup: &Lookup<'_, '_>,
    listener: &Listener,
) -> Result<Vec<CertifiedKey>, Condition> {
    let refs = listener
        .tls
        .as_ref()
        .map(|tls| tls.certificate_refs.as_slice())
        .unwrap_or(&[]);
    let invalid =
        |message: String| Condition::new("ResolvedRefs", false, "InvalidCertificateRef", message);
    if refs.is_empty() {
        return Err(invalid(format!(
            "a terminating {} listener needs tls.certificateRefs",
            listener.protocol
        )));
    }
    let mut found = Vec::new();
    for reference in refs {
        let group = reference.group.as_deref().unwrap_or("");
        let kind = reference.kind.as_deref().unwrap_or("Secret");
        let namespace = reference
            .namespace
            .as_deref()
            .unwrap_or(lookup.gateway.namespace());
        if !group.is_empty() || kind != "Secret" {
            return Err(invalid(format!(
                "certificateRef {group}/{kind} is not a Secret"
            )));
        }
        let grants = &lookup.inputs.reference_grants;
        if !permitted(
            grants,
            &lookup.from(),
            "",
            "Secret",
            namespace,
            &reference.name,
        ) {
            return Err(Condition::new(
                "ResolvedRefs",
                false,
                "RefNotPermitted",
                format!(
                    "no ReferenceGrant in {namespace} allows this Gateway to use Secret {}",
                    reference.name
                ),
            ));
        }
        let certificate = lookup
            .store
            .certified_key(namespace, &reference.name)
            .map_err(|error| invalid(error.to_string()))?;
        found.push(certificate);
    }
    Ok(found)
}

/// The client certificate validation that applies to an HTTPS listener:
/// its own `tls.frontendValidation` (the pre-v1.5 field), else the
/// Gateway's `tls.frontend.perPort` entry for its port, else
/// `tls.frontend.default`.
fn validation_for<'a>(
    gateway: &'a KubeGateway,
    listener: &'a Listener,
) -> Option<&'a FrontendTlsValidation> {
    if let Some(own) = listener
        .tls
        .as_ref()
        .and_then(|tls| tls.frontend_validation.as_ref())
    {
        return Some(own);
    }
    let frontend = gateway.spec.tls.as_ref()?.frontend.as_ref()?;
    match frontend.per_port.iter().find(|p| p.port == listener.port) {
        Some(per_port) => per_port.tls.validation.as_ref(),
        None => frontend.default.validation.as_ref(),
    }
}

/// `InsecureFrontendValidationMode=True/ConfigurationChanged` for a Gateway
/// whose client certificate validation lets clients in without a valid
/// certificate (`mode: AllowInsecureFallback`) anywhere: its
/// `tls.frontend.default`, a `perPort` entry, or a listener's own
/// `tls.frontendValidation`. The spec asks for the condition so that the
/// weakened validation shows on the Gateway itself (GEP-91).
pub(crate) fn insecure_frontend(gateway: &KubeGateway) -> Option<Condition> {
    let insecure = |validation: Option<&FrontendTlsValidation>| {
        validation.is_some_and(|v| v.mode.as_deref() == Some("AllowInsecureFallback"))
    };
    let mut places = Vec::new();
    if let Some(frontend) = gateway.spec.tls.as_ref().and_then(|t| t.frontend.as_ref()) {
        if insecure(frontend.default.validation.as_ref()) {
            places.push("tls.frontend.default".to_owned());
        }
        for per_port in &frontend.per_port {
            if insecure(per_port.tls.validation.as_ref()) {
                places.push(format!("tls.frontend.perPort (port {})", per_port.port));
            }
        }
    }
    for listener in &gateway.spec.listeners {
        let own = listener
            .tls
            .as_ref()
            .and_then(|tls| tls.frontend_validation.as_ref());
        if insecure(own) {
            places.push(format!("listener {}", listener.name));
        }
    }
    (!places.is_empty()).then(|| {
        Condition::new(
            "InsecureFrontendValidationMode",
            true,
            "ConfigurationChanged",
            format!(
                "client certificate validation is AllowInsecureFallback in {}: clients \
                 without a valid certificate are served",
                places.join(", ")
            ),
        )
    })
}

/// What the CA references of a listener give.
struct Validation {
    client_validation: Option<ClientValidation>,
    /// `ResolvedRefs=False` for a reference that could not be used.
    problem: Option<Condition>,
    /// No reference could be used: the listener is not accepted
    /// (`Accepted=False NoValidCACertificate`).
    fatal: bool,
}

/// Resolves the CA references that apply to an HTTPS listener. The valid
/// ones are used (their bundles concatenated); a bad one is reported.
fn client_validation(lookup: &Lookup<'_, '_>, listener: &Listener) -> Validation {
    let Some(validation) = validation_for(lookup.gateway, listener) else {
        return Validation {
            client_validation: None,
            problem: None,
            fatal: false,
        };
    };
    let mut bundles: Vec<CaBundle> = Vec::new();
    let mut problem = None;
    for reference in &validation.ca_certificate_refs {
        match ca_bundle(lookup, reference) {
            Ok(bundle) => bundles.push(bundle),
            Err(condition) => {
                problem.get_or_insert(condition);
            }
        }
    }
    if bundles.is_empty() {
        let problem = problem.unwrap_or_else(|| {
            Condition::new(
                "ResolvedRefs",
                false,
                "InvalidCACertificateRef",
                "frontend validation needs caCertificateRefs",
            )
        });
        return Validation {
            client_validation: None,
            problem: Some(problem),
            fatal: true,
        };
    }
    let ca: String = bundles
        .iter()
        .map(|b| b.pem.0.as_ref())
        .collect::<Vec<_>>()
        .join("\n");
    let source = bundles
        .iter()
        .map(|b| b.source.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let insecure_fallback = validation.mode.as_deref() == Some("AllowInsecureFallback");
    Validation {
        client_validation: Some(ClientValidation {
            ca: Pem(ca.into()),
            source,
            // AllowInsecureFallback: clients without a certificate, or
            // with one that fails verification, get in.
            optional: insecure_fallback,
            accept_invalid: insecure_fallback,
            subject_alt_names: Vec::new(),
            spki_sha256: Vec::new(),
            cert_sha256: Vec::new(),
        }),
        problem,
        fatal: false,
    }
}

/// One CA reference: a ConfigMap (key `ca.crt`, Core) or a Secret
/// (Implementation-specific), cross-namespace only with a ReferenceGrant.
fn ca_bundle(lookup: &Lookup<'_, '_>, reference: &ObjectReference) -> Result<CaBundle, Condition> {
    let group = reference.group.as_deref().unwrap_or("");
    let kind = reference.kind.as_deref().unwrap_or("ConfigMap");
    let namespace = reference
        .namespace
        .as_deref()
        .unwrap_or(lookup.gateway.namespace());
    if !(group.is_empty() || group == "core") || !matches!(kind, "ConfigMap" | "Secret") {
        return Err(Condition::new(
            "ResolvedRefs",
            false,
            "InvalidCACertificateKind",
            format!("caCertificateRef {group}/{kind} is neither a ConfigMap nor a Secret"),
        ));
    }
    let grants = &lookup.inputs.reference_grants;
    if !permitted(grants, &lookup.from(), "", kind, namespace, &reference.name) {
        return Err(Condition::new(
            "ResolvedRefs",
            false,
            "RefNotPermitted",
            format!(
                "no ReferenceGrant in {namespace} allows this Gateway to use {kind} {}",
                reference.name
            ),
        ));
    }
    let loaded = if kind == "ConfigMap" {
        lookup.store.config_map_ca(namespace, &reference.name)
    } else {
        lookup.store.secret_ca(namespace, &reference.name)
    };
    loaded.map_err(|error| {
        Condition::new(
            "ResolvedRefs",
            false,
            "InvalidCACertificateRef",
            error.to_string(),
        )
    })
}

/// What the TLS settings of a listener give.
pub(crate) struct Secured {
    pub tls: Option<TlsServer>,
    /// Traffic can be served (certificates and CA resolved).
    pub served: bool,
    /// Routes may attach (false when the listener is not accepted).
    pub usable: bool,
    /// `Accepted=False` (NoValidCACertificate), when not accepted.
    pub accepted: Option<Condition>,
    /// `ResolvedRefs=False` for a certificate or CA reference.
    pub problem: Option<Condition>,
}

impl Secured {
    fn served(tls: Option<TlsServer>) -> Secured {
        Secured {
            tls,
            served: true,
            usable: true,
            accepted: None,
            problem: None,
        }
    }
}

/// Builds the TLS server of an HTTPS or TLS listener (nothing for HTTP and
/// TCP). `Err`: the conditions of a listener whose TLS mode cannot be
/// served.
pub(crate) fn secure(
    lookup: &Lookup<'_, '_>,
    listener: &Listener,
    protocol: Protocol,
    port: u16,
    hostname: Option<&str>,
) -> Result<Secured, Vec<Condition>> {
    let mode = listener
        .tls
        .as_ref()
        .and_then(|tls| tls.mode.as_deref())
        .unwrap_or("Terminate");
    match (protocol, mode) {
        (Protocol::Http | Protocol::Tcp, _) => Ok(Secured::served(None)),
        (Protocol::Https | Protocol::Tls, "Terminate") => {
            Ok(terminate(lookup, listener, protocol, port, hostname))
        }
        (Protocol::Tls, "Passthrough") => Ok(Secured::served(Some(tls_server(
            lookup.gateway,
            listener,
            port,
            hostname,
            None,
        )))),
        (_, mode) => {
            let message = format!(
                "tls.mode {mode} is not supported on a {} listener",
                listener.protocol
            );
            Err(vec![
                Condition::new("Accepted", false, "UnsupportedValue", &message),
                Condition::new("Programmed", false, "Invalid", &message),
            ])
        }
    }
}

/// A terminating listener: its certificates and, for HTTPS, client
/// certificate validation (conformance
/// GatewayFrontendInvalidDefaultClientCertificateValidation: it applies to
/// HTTPS listeners only).
fn terminate(
    lookup: &Lookup<'_, '_>,
    listener: &Listener,
    protocol: Protocol,
    port: u16,
    hostname: Option<&str>,
) -> Secured {
    let certificates = match certificates(lookup, listener) {
        Ok(certificates) => certificates,
        Err(problem) => {
            return Secured {
                served: false,
                problem: Some(problem),
                ..Secured::served(None)
            }
        }
    };
    let validation = if protocol == Protocol::Https {
        client_validation(lookup, listener)
    } else {
        Validation {
            client_validation: None,
            problem: None,
            fatal: false,
        }
    };
    if validation.fatal {
        let message = validation
            .problem
            .as_ref()
            .map(|p| p.message.clone())
            .unwrap_or_default();
        return Secured {
            tls: None,
            served: false,
            usable: false,
            accepted: Some(Condition::new(
                "Accepted",
                false,
                "NoValidCACertificate",
                message,
            )),
            problem: validation.problem,
        };
    }
    let termination = Some((certificates, validation.client_validation));
    Secured {
        problem: validation.problem,
        ..Secured::served(Some(tls_server(
            lookup.gateway,
            listener,
            port,
            hostname,
            termination,
        )))
    }
}

/// The TLS server of a listener: named as Istio names a server's route
/// table (`https.<port>.<listener>.<gateway>.<namespace>`), its hostname as
/// SNI name (none: every SNI), 421 for misdirected requests.
fn tls_server(
    gateway: &KubeGateway,
    listener: &Listener,
    port: u16,
    hostname: Option<&str>,
    termination: Option<(Vec<CertifiedKey>, Option<ClientValidation>)>,
) -> TlsServer {
    TlsServer {
        name: format!(
            "https.{port}.{}.{}.{}",
            listener.name,
            gateway.name(),
            gateway.namespace()
        ),
        server_names: hostname
            .map(|name| vec![HostPattern::parse(name, false)])
            .unwrap_or_default(),
        termination: termination.map(|(certificates, client_validation)| TlsTermination {
            certificates,
            client_validation,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: Vec::new(),
        }),
        misdirected_status: MISDIRECTED,
        // Set when the port turns out to be shared with TLS listeners.
        serves_http: false,
    }
}
