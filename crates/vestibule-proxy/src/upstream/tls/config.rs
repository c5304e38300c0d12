//! An upstream TLS client's rustls configuration, built once per cluster:
//! the server verifier, the client certificate, ALPN, SNI and the session
//! cache every connection of the cluster resumes from.

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use vestibule_ir::{UpstreamTls, UpstreamVerify};

use super::roots;
use super::verify::{Unverified, WithNames};

/// TLS sessions remembered per cluster (rustls' default size).
const SESSIONS: usize = 256;

pub(super) fn client_config(tls: &UpstreamTls) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier(tls, &provider)?);
    let mut config = match &tls.client_certificate {
        Some(pair) => {
            let chain = CertificateDer::pem_slice_iter(pair.chain.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("{}: certificate: {error}", pair.source))?;
            let key = PrivateKeyDer::from_pem_slice(pair.key.as_bytes())
                .map_err(|error| format!("{}: private key: {error}", pair.source))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|error| format!("{}: {error}", pair.source))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = tls.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config.enable_sni = tls.sni.is_some();
    // Shared by every connection of the cluster: a new one resumes a
    // session (TLS 1.3 tickets, TLS 1.2 ids and tickets) when it can.
    config.resumption = Resumption::in_memory_sessions(SESSIONS);
    Ok(Arc::new(config))
}

fn verifier(
    tls: &UpstreamTls,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let roots = match &tls.verify {
        UpstreamVerify::InsecureSkipVerify => {
            return Ok(Arc::new(Unverified(Arc::clone(provider))))
        }
        UpstreamVerify::SystemRoots => roots::system()?,
        UpstreamVerify::Ca { pem, source } => {
            let mut roots = RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let ca = ca.map_err(|error| format!("{source}: CA certificate: {error}"))?;
                roots
                    .add(ca)
                    .map_err(|error| format!("{source}: CA certificate: {error}"))?;
            }
            Arc::new(roots)
        }
    };
    let inner = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(provider))
        .build()
        .map_err(|error| error.to_string())?;
    Ok(WithNames::wrap(inner, &tls.subject_alt_names))
}
