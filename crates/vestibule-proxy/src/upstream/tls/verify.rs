//! Server certificates checked past the CA. With `subjectAltNames` (Istio)
//! or BackendTLSPolicy `subjectAltNames`, the certificate must carry one
//! of them, whatever the SNI (Envoy's `match_typed_subject_alt_names`
//! replaces the host name check); without, it must be valid for the SNI.
//! And no check at all for Istio's `insecureSkipVerify`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use x509_parser::extensions::GeneralName;

/// The CA check, then the SAN list when there is one.
#[derive(Debug)]
pub(super) struct WithNames {
    inner: Arc<WebPkiServerVerifier>,
    /// Lower-case DNS names and URIs, as given.
    names: Vec<String>,
}

impl WithNames {
    /// `inner` itself when no SANs are asked for.
    pub(super) fn wrap(
        inner: Arc<WebPkiServerVerifier>,
        names: &[String],
    ) -> Arc<dyn ServerCertVerifier> {
        if names.is_empty() {
            return inner;
        }
        Arc::new(WithNames {
            inner,
            names: names.iter().map(|name| name.to_ascii_lowercase()).collect(),
        })
    }

    /// Whether the certificate carries one of the wanted names: a DNS SAN
    /// equal to one (or a wildcard SAN covering one), or a URI SAN equal.
    fn carries_a_wanted_name(&self, certificate: &CertificateDer<'_>) -> bool {
        let Ok((_, parsed)) = x509_parser::parse_x509_certificate(certificate.as_ref()) else {
            return false;
        };
        let Ok(Some(sans)) = parsed.subject_alternative_name() else {
            return false;
        };
        sans.value.general_names.iter().any(|san| match san {
            GeneralName::DNSName(dns) => self.names.iter().any(|name| dns_matches(dns, name)),
            GeneralName::URI(uri) => self.names.iter().any(|name| name == uri),
            _ => false,
        })
    }
}

/// A DNS SAN against a wanted name: equal, or `*.suffix` covering exactly
/// one label in front of `suffix`.
fn dns_matches(san: &str, wanted: &str) -> bool {
    let san = san.to_ascii_lowercase();
    match san.strip_prefix("*.") {
        Some(suffix) => wanted
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => san == wanted,
    }
}

impl ServerCertVerifier for WithNames {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verified {
            // The chain is checked before the name: a name error means the
            // chain is good, and the SAN list stands in for the name.
            Ok(_)
            | Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.carries_a_wanted_name(end_entity) => Ok(ServerCertVerified::assertion()),
            Ok(_)
            | Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            )),
            Err(error) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Istio `insecureSkipVerify`: any certificate is taken. The handshake's
/// signatures are still checked (the peer holds the key of the
/// certificate it sent), as BoringSSL does with verification off.
#[derive(Debug)]
pub(super) struct Unverified(pub(super) Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_sans_cover_one_label() {
        assert!(dns_matches("api.example.com", "api.example.com"));
        assert!(dns_matches("API.example.com", "api.example.com"));
        assert!(dns_matches("*.example.com", "api.example.com"));
        assert!(!dns_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_matches("*.example.com", "example.com"));
        assert!(!dns_matches("other.example.com", "api.example.com"));
    }
}
