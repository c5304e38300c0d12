//! Certificates made in the tests (rcgen): a CA, server certificates for
//! names, client certificates, and the Secrets that carry them.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// A certificate authority that signs server and client certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A signed certificate and its key, PEM.
pub struct Leaf {
    pub cert: String,
    pub key: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate (ECDSA P-256) for `names`.
    pub fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            KeyPair::generate().unwrap(),
        )
    }

    /// A server certificate with an RSA 2048 key.
    pub fn server_rsa(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth, key)
    }

    /// A client certificate whose SANs are `names`.
    pub fn client(&self, names: &[&str]) -> Leaf {
        self.leaf(
            names,
            ExtendedKeyUsagePurpose::ClientAuth,
            KeyPair::generate().unwrap(),
        )
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose, key: KeyPair) -> Leaf {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A trust store holding the certificates of `pem`.
pub fn roots(pem: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// The process's one crypto provider, as the gateway uses it.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Leaf {
    /// A TLS server configuration presenting this certificate; with
    /// `client_ca` (PEM), only clients with a certificate it issued get
    /// through the handshake.
    pub fn server_config(&self, client_ca: Option<&str>) -> rustls::ServerConfig {
        let chain = CertificateDer::pem_slice_iter(self.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(self.key.as_bytes()).unwrap();
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(ca) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)), provider())
                        .build()
                        .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        builder.with_single_cert(chain, key).unwrap()
    }
}

/// A `kubernetes.io/tls` Secret, with `ca.crt` when `ca` is given.
pub fn tls_secret(name: &str, namespace: &str, leaf: &Leaf, ca: Option<&str>) -> String {
    let mut data = format!(
        "  tls.crt: {}\n  tls.key: {}\n",
        yaml_block(&leaf.cert),
        yaml_block(&leaf.key)
    );
    if let Some(ca) = ca {
        data.push_str(&format!("  ca.crt: {}\n", yaml_block(ca)));
    }
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\ntype: kubernetes.io/tls\nstringData:\n{data}"
    )
}

/// A generic Secret with the given keys (`cert`/`key`/`cacert`, …).
pub fn generic_secret(name: &str, namespace: &str, entries: &[(&str, &str)]) -> String {
    let data: String = entries
        .iter()
        .map(|(key, value)| format!("  {key}: {}\n", yaml_block(value)))
        .collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\ntype: Opaque\nstringData:\n{data}"
    )
}

/// A YAML literal block holding `text`, indented under a two-space key.
pub fn yaml_block(text: &str) -> String {
    let body: String = text.lines().map(|line| format!("    {line}\n")).collect();
    format!("|\n{}", body.trim_end_matches('\n'))
}

/// Writes `text` to a file in `dir` and returns its path (for curl and
/// openssl arguments).
pub fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}
