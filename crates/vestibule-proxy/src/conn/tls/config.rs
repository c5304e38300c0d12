//! A terminating TLS server's rustls configuration, built when the
//! snapshot is: certificates and keys parsed, the client verifier, the
//! protocol versions and cipher suites, ALPN, session resumption.

use std::sync::Arc;

use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use vestibule_ir::{CipherSuite, ClientValidation, TlsTermination, TlsVersion};

use super::verify::Constrained;

/// Makes aws-lc-rs the process's one crypto provider (rustls panics on
/// first use when it cannot tell which provider to take).
pub(crate) fn install_provider() {
    // Already installed (a second data plane in one process): same provider.
    let _ = aws_lc_rs::default_provider().install_default();
}

pub(super) fn server_config(
    termination: &TlsTermination,
    http: bool,
) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(provider(&termination.cipher_suites));
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| (termination.min_version..=termination.max_version).contains(version))
    .map(|(_, version)| version)
    .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|error| error.to_string())?;
    let builder = match &termination.client_validation {
        Some(validation) => builder.with_client_cert_verifier(verifier(validation, &provider)?),
        None => builder.with_no_client_auth(),
    };
    let certificates = termination
        .certificates
        .iter()
        .map(|pair| certified_key(pair, &provider))
        .collect::<Result<Vec<_>, _>>()?;
    if certificates.is_empty() {
        return Err("no certificate".to_owned());
    }
    let mut config = builder.with_cert_resolver(Arc::new(BySignatureScheme(certificates)));
    if http {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    // Stateless resumption (tickets) besides rustls' session cache: a
    // returning client skips the key exchange and the certificate.
    config.ticketer = aws_lc_rs::Ticketer::new().map_err(|error| error.to_string())?;
    Ok(Arc::new(config))
}

/// aws-lc-rs with the TLS 1.2 suites narrowed to `suites`, in their
/// order, when any are given (TLS 1.3 suites are always all offered).
fn provider(suites: &[CipherSuite]) -> CryptoProvider {
    let mut provider = aws_lc_rs::default_provider();
    if suites.is_empty() {
        return provider;
    }
    let all = std::mem::take(&mut provider.cipher_suites);
    let tls13 = all
        .iter()
        .filter(|suite| matches!(suite, SupportedCipherSuite::Tls13(_)));
    let tls12 = suites.iter().filter_map(|wanted| {
        all.iter()
            .find(|suite| suite.suite() == rustls_suite(*wanted))
    });
    provider.cipher_suites = tls13.chain(tls12).copied().collect();
    provider
}

fn rustls_suite(suite: CipherSuite) -> rustls::CipherSuite {
    use rustls::CipherSuite as R;
    match suite {
        CipherSuite::EcdheEcdsaAes128GcmSha256 => R::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::EcdheEcdsaAes256GcmSha384 => R::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::EcdheEcdsaChacha20Poly1305 => R::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite::EcdheRsaAes128GcmSha256 => R::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::EcdheRsaAes256GcmSha384 => R::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::EcdheRsaChacha20Poly1305 => R::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    }
}

fn certified_key(
    pair: &vestibule_ir::CertifiedKey,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_slice_iter(pair.chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{}: certificate: {error}", pair.source))?;
    let key = PrivateKeyDer::from_pem_slice(pair.key.as_bytes())
        .map_err(|error| format!("{}: private key: {error}", pair.source))?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| format!("{}: private key: {error}", pair.source))?;
    let certified = CertifiedKey::new(chain, key);
    certified
        .keys_match()
        .map_err(|error| format!("{}: {error}", pair.source))?;
    Ok(Arc::new(certified))
}

fn verifier(
    validation: &ClientValidation,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(validation.ca.as_bytes()) {
        let ca = ca.map_err(|error| format!("{}: CA certificate: {error}", validation.source))?;
        roots
            .add(ca)
            .map_err(|error| format!("{}: CA certificate: {error}", validation.source))?;
    }
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    if validation.optional {
        builder = builder.allow_unauthenticated();
    }
    let verifier = builder
        .build()
        .map_err(|error| format!("{}: {error}", validation.source))?;
    Ok(Constrained::wrap(verifier, validation))
}

/// Several certificates (RSA and ECDSA, Istio's `credentialNames`): the
/// first whose key can sign with a scheme the client offers.
#[derive(Debug)]
struct BySignatureScheme(Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for BySignatureScheme {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        self.0
            .iter()
            .find(|certified| certified.key.choose_scheme(schemes).is_some())
            .or_else(|| self.0.first())
            .cloned()
    }
}
