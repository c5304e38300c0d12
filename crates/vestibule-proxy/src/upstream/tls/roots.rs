//! The operating system's trust store (Istio SIMPLE without a CA, Gateway
//! API `wellKnownCACertificates: System`): the PEM bundle OpenSSL would
//! read, `SSL_CERT_FILE` first, then the distributions' usual paths. Read
//! once per process, when a cluster first needs it.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Where distributions keep their CA bundle (as `openssl-probe` looks).
const BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The system's trust anchors.
pub(super) fn system() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS.get_or_init(load).clone()
}

fn load() -> Result<Arc<RootCertStore>, String> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let path = from_env
        .into_iter()
        .chain(BUNDLES.iter().map(std::path::PathBuf::from))
        .find(|path| path.is_file())
        .ok_or("no system CA bundle found (set SSL_CERT_FILE)")?;
    let pem = std::fs::read(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(format!("{}: no CA certificate", path.display()));
    }
    Ok(Arc::new(roots))
}
