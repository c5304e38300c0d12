//! The `tls` block of an Istio Gateway server (HTTPS and TLS protocols):
//! the mode, the certificates from `credentialName(s)`, client certificate
//! validation for MUTUAL and OPTIONAL_MUTUAL, protocol versions and cipher
//! suites.

use vestibule_api::istio::{Server, ServerTls};
use vestibule_ir::{
    CertifiedKey, CipherSuite, ClientValidation, ListenerProtocol, TlsTermination, TlsVersion,
};

use crate::secrets::SecretStore;
use crate::GatewayIdentity;

/// A server's TLS settings, converted.
pub(crate) struct Built {
    /// `None`: passthrough.
    pub termination: Option<TlsTermination>,
    /// What was adjusted or ignored, for the server's `Accepted` message.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Passthrough,
    Simple,
    Mutual,
    OptionalMutual,
}

/// Istio's limit on `credentialNames` (one RSA and one ECDSA certificate).
const MAX_CREDENTIALS: usize = 2;

/// Converts the `tls` block of an HTTPS or TLS server, or says why the
/// server cannot be served.
pub(crate) fn server(
    server: &Server,
    protocol: ListenerProtocol,
    identity: &GatewayIdentity,
    store: &SecretStore<'_>,
) -> Result<Built, String> {
    let Some(tls) = &server.tls else {
        return Err(format!(
            "a {} server needs tls settings",
            server.port.protocol.to_ascii_uppercase()
        ));
    };
    let mode = mode(tls.mode.as_deref())?;
    if mode == Mode::Passthrough {
        return if protocol == ListenerProtocol::Tls {
            Ok(Built {
                termination: None,
                notes: Vec::new(),
            })
        } else {
            Err(
                "an HTTPS server needs tls.mode SIMPLE, MUTUAL or OPTIONAL_MUTUAL \
                 (an unset mode is PASSTHROUGH)"
                    .to_owned(),
            )
        };
    }
    let mut notes = Vec::new();
    let certificates = certificates(tls, identity, store)?;
    let client_validation = match mode {
        Mode::Mutual | Mode::OptionalMutual => Some(client_validation(
            tls,
            mode == Mode::OptionalMutual,
            identity,
            store,
        )?),
        Mode::Simple | Mode::Passthrough => None,
    };
    if tls.ca_crl.is_some() {
        notes.push("tls.caCrl is not supported and is ignored".to_owned());
    }
    let (min_version, max_version) = versions(tls, &mut notes)?;
    let cipher_suites = cipher_suites(&tls.cipher_suites, &mut notes);
    Ok(Built {
        termination: Some(TlsTermination {
            certificates,
            client_validation,
            min_version,
            max_version,
            cipher_suites,
        }),
        notes,
    })
}

fn mode(mode: Option<&str>) -> Result<Mode, String> {
    match mode.map(str::to_ascii_uppercase).as_deref() {
        // The enum's value 0: what an unset mode means.
        None | Some("PASSTHROUGH") => Ok(Mode::Passthrough),
        Some("SIMPLE") => Ok(Mode::Simple),
        Some("MUTUAL") => Ok(Mode::Mutual),
        Some("OPTIONAL_MUTUAL") => Ok(Mode::OptionalMutual),
        Some("AUTO_PASSTHROUGH") => Err("tls.mode AUTO_PASSTHROUGH is not supported: it needs \
             mesh SNI-DNAT routing (the SNI names the destination cluster), which this \
             gateway does not do"
            .to_owned()),
        Some("ISTIO_MUTUAL") => Err("tls.mode ISTIO_MUTUAL is not supported: it needs \
             mesh-issued workload certificates, which this gateway does not have"
            .to_owned()),
        Some(other) => Err(format!("unknown tls.mode {other}")),
    }
}

/// The certificates of `credentialName` or `credentialNames`, from Secrets
/// in the gateway workload's namespace ("the secret must be in the same
/// namespace as the gateway deployment").
fn certificates(
    tls: &ServerTls,
    identity: &GatewayIdentity,
    store: &SecretStore<'_>,
) -> Result<Vec<CertifiedKey>, String> {
    let names = credential_names(tls)?;
    if names.is_empty() {
        if tls.server_certificate.is_some() || tls.private_key.is_some() {
            return Err(
                "tls.serverCertificate and tls.privateKey (file paths) are not \
                 supported by this gateway: use credentialName"
                    .to_owned(),
            );
        }
        return Err("tls.credentialName is required".to_owned());
    }
    names
        .iter()
        .map(|name| {
            store
                .certified_key(&identity.namespace, name)
                .map_err(|error| error.to_string())
        })
        .collect()
}

fn credential_names(tls: &ServerTls) -> Result<Vec<&str>, String> {
    let single = tls.credential_name.as_deref().filter(|n| !n.is_empty());
    match (single, tls.credential_names.as_slice()) {
        (Some(_), [_, ..]) => {
            Err("only one of tls.credentialName and tls.credentialNames may be set".to_owned())
        }
        (Some(name), []) => Ok(vec![name]),
        (None, names) if names.len() > MAX_CREDENTIALS => Err(format!(
            "tls.credentialNames has {} entries; at most {MAX_CREDENTIALS} (one RSA, one ECDSA)",
            names.len()
        )),
        (None, names) => Ok(names.iter().map(String::as_str).collect()),
    }
}

/// MUTUAL and OPTIONAL_MUTUAL: the CA from `caCertCredentialName`, else
/// from the (first) credential Secret or its `-cacert` companion.
fn client_validation(
    tls: &ServerTls,
    optional: bool,
    identity: &GatewayIdentity,
    store: &SecretStore<'_>,
) -> Result<ClientValidation, String> {
    let namespace = identity.namespace.as_str();
    let ca = match tls
        .ca_cert_credential_name
        .as_deref()
        .filter(|n| !n.is_empty())
    {
        Some(name) => store.secret_ca(namespace, name),
        None => {
            let credential = credential_names(tls)?.first().copied().unwrap_or_default();
            match store.credential_ca(namespace, credential) {
                Ok(Some(ca)) => Ok(ca),
                Ok(None) => {
                    return Err(format!(
                        "MUTUAL and OPTIONAL_MUTUAL need a CA for client certificates: \
                         ca.crt or cacert in Secret {namespace}/{credential}, a Secret \
                         {namespace}/{credential}-cacert, or tls.caCertCredentialName"
                    ))
                }
                Err(error) => Err(error),
            }
        }
    }
    .map_err(|error| error.to_string())?;
    Ok(ClientValidation {
        accept_invalid: false,
        ca: ca.pem,
        source: ca.source,
        optional,
        subject_alt_names: tls.subject_alt_names.clone(),
        spki_sha256: tls.verify_certificate_spki.clone(),
        cert_sha256: tls
            .verify_certificate_hash
            .iter()
            .map(|hash| hash.replace(':', "").to_ascii_lowercase())
            .collect(),
    })
}

/// `minProtocolVersion` (default TLS 1.2, Istio's gateway default) and
/// `maxProtocolVersion` (default TLS 1.3). rustls speaks only 1.2 and 1.3:
/// a lower minimum is raised (and noted), a lower maximum leaves nothing.
fn versions(tls: &ServerTls, notes: &mut Vec<String>) -> Result<(TlsVersion, TlsVersion), String> {
    let min = match version(tls.min_protocol_version.as_deref(), "minProtocolVersion")? {
        Parsed::Default => TlsVersion::Tls12,
        Parsed::Supported(version) => version,
        Parsed::Below12(name) => {
            notes.push(format!(
                "tls.minProtocolVersion {name} raised to TLSV1_2 (the oldest version served)"
            ));
            TlsVersion::Tls12
        }
    };
    let max = match version(tls.max_protocol_version.as_deref(), "maxProtocolVersion")? {
        Parsed::Default => TlsVersion::Tls13,
        Parsed::Supported(version) => version,
        Parsed::Below12(name) => {
            return Err(format!(
                "tls.maxProtocolVersion {name} is below TLSV1_2, the oldest version served"
            ))
        }
    };
    if min > max {
        return Err("tls.minProtocolVersion is above tls.maxProtocolVersion".to_owned());
    }
    Ok((min, max))
}

enum Parsed {
    Default,
    Supported(TlsVersion),
    Below12(String),
}

fn version(value: Option<&str>, field: &str) -> Result<Parsed, String> {
    let Some(value) = value else {
        return Ok(Parsed::Default);
    };
    match value.to_ascii_uppercase().as_str() {
        "" | "TLS_AUTO" => Ok(Parsed::Default),
        "TLSV1_2" => Ok(Parsed::Supported(TlsVersion::Tls12)),
        "TLSV1_3" => Ok(Parsed::Supported(TlsVersion::Tls13)),
        "TLSV1_0" | "TLSV1_1" => Ok(Parsed::Below12(value.to_owned())),
        _ => Err(format!("tls.{field}: unknown version {value}")),
    }
}

/// The TLS 1.2 suites asked for, in order. Envoy's `[A|B]` groups are taken
/// one name at a time; TLS 1.3 names (not configurable, as in Envoy) and
/// unknown names are dropped and named in a note.
fn cipher_suites(names: &[String], notes: &mut Vec<String>) -> Vec<vestibule_ir::CipherSuite> {
    let mut suites = Vec::new();
    let mut ignored = Vec::new();
    let tokens = names
        .iter()
        .flat_map(|name| name.trim_matches(|c| c == '[' || c == ']').split('|'))
        .map(str::trim)
        .filter(|name| !name.is_empty());
    for name in tokens {
        match CipherSuite::from_name(name) {
            Some(suite) if !suites.contains(&suite) => suites.push(suite),
            Some(_) => {}
            None => ignored.push(name),
        }
    }
    if !ignored.is_empty() {
        notes.push(format!(
            "tls.cipherSuites ignored (not supported, or TLS 1.3 suites, which are not \
             configurable): {}",
            ignored.join(", ")
        ));
    }
    suites
}
