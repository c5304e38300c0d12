//! Certificates and CA bundles from Secrets (and ConfigMaps), in every form
//! Istio accepts (`security/pkg/credentialfetcher` and the SDS secret
//! controller, `pilot/pkg/credentials/kube`):
//! - `kubernetes.io/tls`, or any type, with `tls.crt` + `tls.key` (and an
//!   optional `ca.crt`);
//! - generic keys `cert` + `key` (and an optional `cacert`);
//! - the CA alone in a `<name>-cacert` Secret (`ca.crt` or `cacert`).
//!
//! Everything is parsed here, at translation time, with the same code the
//! data plane uses (rustls, aws-lc-rs): a certificate that would fail the
//! handshake set-up is reported against the resource that names it, and
//! only the server or listener that uses it is dropped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use vestibule_api::{ConfigMap, Inputs, Secret};
use vestibule_ir::{CertifiedKey, Pem};

/// Why a certificate or CA bundle cannot be used. Every message names the
/// object (`namespace/name`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SecretError {
    #[error("{kind} {object} does not exist")]
    Missing { kind: &'static str, object: String },
    #[error("Secret {object} has no certificate: it needs tls.crt and tls.key (or cert and key)")]
    NoCertificate { object: String },
    #[error("Secret {object}: {key} holds no PEM certificate")]
    NoPemCertificate { object: String, key: &'static str },
    #[error("Secret {object}: {key} is not valid PEM: {reason}")]
    BadPem {
        object: String,
        key: &'static str,
        reason: String,
    },
    #[error("Secret {object}: {key} holds no PEM private key")]
    NoPrivateKey { object: String, key: &'static str },
    #[error("Secret {object}: the private key in {key} cannot be used: {reason}")]
    BadPrivateKey {
        object: String,
        key: &'static str,
        reason: String,
    },
    #[error("Secret {object}: the private key does not match the certificate in {key}")]
    KeyMismatch { object: String, key: &'static str },
    #[error("Secret {object}: the first certificate in {key} is not a valid X.509 certificate: {reason}")]
    BadCertificate {
        object: String,
        key: &'static str,
        reason: String,
    },
    #[error("{kind} {object} has no CA certificate ({keys})")]
    NoCa {
        kind: &'static str,
        object: String,
        keys: &'static str,
    },
    #[error("{kind} {object}: {key} holds no parsable CA certificate")]
    BadCa {
        kind: &'static str,
        object: String,
        key: &'static str,
    },
}

/// A CA bundle and where it came from (`namespace/name`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CaBundle {
    pub pem: Pem,
    pub source: String,
}

/// The Secrets and ConfigMaps of the inputs, by `(namespace, name)`.
pub(crate) struct SecretStore<'a> {
    secrets: HashMap<(&'a str, &'a str), &'a Secret>,
    config_maps: HashMap<(&'a str, &'a str), &'a ConfigMap>,
    /// Every Secret and ConfigMap asked for, found or not: what the
    /// Kubernetes mode fetches (it keeps no other Secret).
    asked: RefCell<crate::References>,
}

/// Certificate and key entries, in the order Istio looks for them.
const CERT_KEYS: [(&str, &str); 2] = [("tls.crt", "tls.key"), ("cert", "key")];
/// CA entries of a Secret.
const CA_KEYS: [&str; 2] = ["ca.crt", "cacert"];
/// Istio's companion Secret for a credential's CA.
const CA_SUFFIX: &str = "-cacert";

impl<'a> SecretStore<'a> {
    pub(crate) fn new(inputs: &'a Inputs) -> SecretStore<'a> {
        SecretStore {
            secrets: inputs
                .secrets
                .iter()
                .map(|s| ((s.namespace(), s.name()), s))
                .collect(),
            config_maps: inputs
                .config_maps
                .iter()
                .map(|c| ((c.namespace(), c.name()), c))
                .collect(),
            asked: RefCell::default(),
        }
    }

    /// The Secrets and ConfigMaps asked for so far.
    pub(crate) fn into_references(self) -> crate::References {
        self.asked.into_inner()
    }

    fn secret(&self, namespace: &str, name: &str) -> Result<&'a Secret, SecretError> {
        self.asked
            .borrow_mut()
            .secrets
            .insert((namespace.to_owned(), name.to_owned()));
        self.secrets
            .get(&(namespace, name))
            .copied()
            .ok_or_else(|| SecretError::Missing {
                kind: "Secret",
                object: format!("{namespace}/{name}"),
            })
    }

    /// The certificate chain and key of Secret `namespace/name`, checked:
    /// PEM that parses, a key rustls can sign with, and a key that belongs
    /// to the first certificate.
    pub(crate) fn certified_key(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<CertifiedKey, SecretError> {
        let secret = self.secret(namespace, name)?;
        let object = format!("{namespace}/{name}");
        let found = CERT_KEYS.iter().find_map(|(cert, key)| {
            Some((*cert, secret.spec.get(cert)?, *key, secret.spec.get(key)?))
        });
        let Some((cert_key, chain, key_key, key)) = found else {
            return Err(SecretError::NoCertificate { object });
        };
        check_pair(&object, (cert_key, &chain), (key_key, &key))?;
        Ok(CertifiedKey {
            source: object,
            chain: pem(&chain),
            key: pem(&key),
        })
    }

    /// The CA for client certificates that goes with credential
    /// `namespace/name`: `ca.crt`/`cacert` in the Secret itself, else in
    /// `<name>-cacert`. `Ok(None)` when neither has one.
    pub(crate) fn credential_ca(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<CaBundle>, SecretError> {
        if let Ok(secret) = self.secret(namespace, name) {
            if let Some(ca) = secret_ca(secret)? {
                return Ok(Some(ca));
            }
        }
        match self.secret(namespace, &format!("{name}{CA_SUFFIX}")) {
            Ok(companion) => secret_ca(companion),
            Err(_) => Ok(None),
        }
    }

    /// The CA of a Secret named for it (Istio `caCertCredentialName`, a
    /// Gateway API CA reference to a Secret).
    pub(crate) fn secret_ca(&self, namespace: &str, name: &str) -> Result<CaBundle, SecretError> {
        let secret = self.secret(namespace, name)?;
        secret_ca(secret)?.ok_or_else(|| SecretError::NoCa {
            kind: "Secret",
            object: format!("{namespace}/{name}"),
            keys: "ca.crt or cacert",
        })
    }

    /// The CA in key `ca.crt` of ConfigMap `namespace/name` (Gateway API
    /// `caCertificateRefs`).
    pub(crate) fn config_map_ca(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<CaBundle, SecretError> {
        self.asked
            .borrow_mut()
            .config_maps
            .insert((namespace.to_owned(), name.to_owned()));
        let object = format!("{namespace}/{name}");
        let config_map =
            self.config_maps
                .get(&(namespace, name))
                .ok_or_else(|| SecretError::Missing {
                    kind: "ConfigMap",
                    object: object.clone(),
                })?;
        let Some(value) = config_map.spec.get("ca.crt") else {
            return Err(SecretError::NoCa {
                kind: "ConfigMap",
                object,
                keys: "ca.crt",
            });
        };
        check_ca(&value).ok_or(SecretError::BadCa {
            kind: "ConfigMap",
            object: object.clone(),
            key: "ca.crt",
        })?;
        Ok(CaBundle {
            pem: pem(&value),
            source: object,
        })
    }
}

/// The CA entry of a Secret, checked; `Ok(None)` when it has none.
fn secret_ca(secret: &Secret) -> Result<Option<CaBundle>, SecretError> {
    let object = format!("{}/{}", secret.namespace(), secret.name());
    let Some((key, value)) = CA_KEYS
        .iter()
        .find_map(|key| Some((*key, secret.spec.get(key)?)))
    else {
        return Ok(None);
    };
    check_ca(&value).ok_or(SecretError::BadCa {
        kind: "Secret",
        object: object.clone(),
        key,
    })?;
    Ok(Some(CaBundle {
        pem: pem(&value),
        source: object,
    }))
}

/// `Some` when the bundle holds at least one certificate that parses as a
/// trust anchor (the form the data plane's verifier needs).
fn check_ca(value: &[u8]) -> Option<()> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(value)
        .collect::<Result<_, _>>()
        .ok()?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates);
    (added > 0).then_some(())
}

/// Parses a chain and its key and checks that they belong together.
fn check_pair(
    object: &str,
    (cert_key, chain): (&'static str, &[u8]),
    (key_key, key): (&'static str, &[u8]),
) -> Result<(), SecretError> {
    let object = || object.to_owned();
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<_, _>>()
        .map_err(|error| SecretError::BadPem {
            object: object(),
            key: cert_key,
            reason: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(SecretError::NoPemCertificate {
            object: object(),
            key: cert_key,
        });
    }
    let private_key = PrivateKeyDer::from_pem_slice(key).map_err(|error| match error {
        rustls_pki_types::pem::Error::NoItemsFound => SecretError::NoPrivateKey {
            object: object(),
            key: key_key,
        },
        other => SecretError::BadPem {
            object: object(),
            key: key_key,
            reason: other.to_string(),
        },
    })?;
    let signing_key =
        rustls::crypto::aws_lc_rs::sign::any_supported_type(&private_key).map_err(|error| {
            SecretError::BadPrivateKey {
                object: object(),
                key: key_key,
                reason: error.to_string(),
            }
        })?;
    match rustls::sign::CertifiedKey::new(certificates, signing_key).keys_match() {
        // A key whose public half cannot be derived cannot be compared;
        // rustls itself accepts it (`CertifiedKey::from_der`).
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => Err(SecretError::KeyMismatch {
            object: object(),
            key: cert_key,
        }),
        Err(error) => Err(SecretError::BadCertificate {
            object: object(),
            key: cert_key,
            reason: error.to_string(),
        }),
    }
}

fn pem(bytes: &[u8]) -> Pem {
    Pem(Arc::from(String::from_utf8_lossy(bytes).as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_api::core::{ConfigMapSpec, SecretSpec};
    use vestibule_api::{ObjectMeta, Resource};

    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    fn secret(name: &str, entries: &[(&str, &str)]) -> Secret {
        let mut spec = SecretSpec::default();
        for (key, value) in entries {
            spec.string_data
                .insert((*key).to_owned(), (*value).to_owned());
        }
        Resource {
            meta: std::sync::Arc::new(ObjectMeta {
                name: name.to_owned(),
                namespace: "ns".to_owned(),
                ..ObjectMeta::default()
            }),
            spec: spec.into(),
            type_meta: Default::default(),
            source: Default::default(),
        }
    }

    fn inputs(secrets: Vec<Secret>) -> Inputs {
        Inputs {
            secrets,
            ..Inputs::default()
        }
    }

    #[test]
    fn tls_and_generic_keys_give_a_certified_key() {
        let (cert, key) = self_signed("a.example.com");
        let inputs = inputs(vec![
            secret("tls", &[("tls.crt", &cert), ("tls.key", &key)]),
            secret("generic", &[("cert", &cert), ("key", &key)]),
        ]);
        let store = SecretStore::new(&inputs);
        for name in ["tls", "generic"] {
            let found = store.certified_key("ns", name).expect("valid");
            assert_eq!(found.source, format!("ns/{name}"));
            assert_eq!(&*found.chain.0, cert.as_str());
        }
    }

    #[test]
    fn problems_name_the_secret_and_what_is_wrong() {
        let (cert, _) = self_signed("a.example.com");
        let (_, other_key) = self_signed("b.example.com");
        let inputs = inputs(vec![
            secret("mismatch", &[("tls.crt", &cert), ("tls.key", &other_key)]),
            secret("text", &[("tls.crt", "hello"), ("tls.key", &other_key)]),
            secret("nokey", &[("tls.crt", &cert), ("tls.key", "hello")]),
            secret("empty", &[("ca.crt", &cert)]),
        ]);
        let store = SecretStore::new(&inputs);
        let message = |name: &str| store.certified_key("ns", name).unwrap_err().to_string();
        assert_eq!(
            message("mismatch"),
            "Secret ns/mismatch: the private key does not match the certificate in tls.crt"
        );
        assert_eq!(
            message("text"),
            "Secret ns/text: tls.crt holds no PEM certificate"
        );
        assert_eq!(
            message("nokey"),
            "Secret ns/nokey: tls.key holds no PEM private key"
        );
        assert_eq!(
            message("empty"),
            "Secret ns/empty has no certificate: it needs tls.crt and tls.key (or cert and key)"
        );
        assert_eq!(message("absent"), "Secret ns/absent does not exist");
    }

    #[test]
    fn a_certificate_that_is_not_x509_is_refused() {
        let (_, key) = self_signed("a.example.com");
        let garbage = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        let inputs = inputs(vec![secret(
            "bad",
            &[("tls.crt", garbage), ("tls.key", &key)],
        )]);
        let error = SecretStore::new(&inputs)
            .certified_key("ns", "bad")
            .unwrap_err();
        assert!(
            matches!(error, SecretError::BadCertificate { .. }),
            "{error}"
        );
    }

    #[test]
    fn the_ca_is_in_the_secret_or_its_cacert_companion() {
        let (cert, key) = self_signed("a.example.com");
        let (ca, _) = self_signed("ca");
        let inputs = inputs(vec![
            secret(
                "own",
                &[("tls.crt", &cert), ("tls.key", &key), ("ca.crt", &ca)],
            ),
            secret("split", &[("tls.crt", &cert), ("tls.key", &key)]),
            secret("split-cacert", &[("cacert", &ca)]),
            secret("none", &[("tls.crt", &cert), ("tls.key", &key)]),
            secret(
                "badca",
                &[("tls.crt", &cert), ("tls.key", &key), ("ca.crt", "x")],
            ),
        ]);
        let store = SecretStore::new(&inputs);
        let source = |name: &str| store.credential_ca("ns", name).unwrap().map(|ca| ca.source);
        assert_eq!(source("own").as_deref(), Some("ns/own"));
        assert_eq!(source("split").as_deref(), Some("ns/split-cacert"));
        assert_eq!(source("none"), None);
        assert_eq!(
            store.credential_ca("ns", "badca").unwrap_err().to_string(),
            "Secret ns/badca: ca.crt holds no parsable CA certificate"
        );
        assert_eq!(
            store.secret_ca("ns", "none").unwrap_err().to_string(),
            "Secret ns/none has no CA certificate (ca.crt or cacert)"
        );
    }

    #[test]
    fn config_maps_hold_a_ca_under_ca_crt() {
        let (ca, _) = self_signed("ca");
        let mut spec = ConfigMapSpec::default();
        spec.data.insert("ca.crt".to_owned(), ca);
        let inputs = Inputs {
            config_maps: vec![Resource {
                meta: std::sync::Arc::new(ObjectMeta {
                    name: "bundle".to_owned(),
                    namespace: "ns".to_owned(),
                    ..ObjectMeta::default()
                }),
                spec: spec.into(),
                type_meta: Default::default(),
                source: Default::default(),
            }],
            ..Inputs::default()
        };
        let store = SecretStore::new(&inputs);
        assert_eq!(
            store.config_map_ca("ns", "bundle").unwrap().source,
            "ns/bundle"
        );
        assert_eq!(
            store.config_map_ca("ns", "other").unwrap_err().to_string(),
            "ConfigMap ns/other does not exist"
        );
    }
}
