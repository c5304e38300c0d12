//! Client certificates checked past the CA: Istio's `subjectAltNames`,
//! `verifyCertificateSpki` and `verifyCertificateHash` (Envoy's
//! `match_typed_subject_alt_names`, `verify_certificate_spki` and
//! `verify_certificate_hash`). Each list, when given, must be met.

use std::sync::Arc;

use aws_lc_rs::digest::{digest, SHA256};
use base64::Engine as _;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use vestibule_ir::ClientValidation;
use x509_parser::extensions::GeneralName;

#[derive(Debug)]
pub(super) struct Constrained {
    inner: Arc<dyn ClientCertVerifier>,
    /// Gateway API `AllowInsecureFallback`: failures let the client in.
    accept_invalid: bool,
    subject_alt_names: Vec<String>,
    spki_sha256: Vec<String>,
    cert_sha256: Vec<String>,
}

impl Constrained {
    /// `inner` itself when nothing is asked past the CA.
    pub(super) fn wrap(
        inner: Arc<dyn ClientCertVerifier>,
        validation: &ClientValidation,
    ) -> Arc<dyn ClientCertVerifier> {
        if validation.subject_alt_names.is_empty()
            && validation.spki_sha256.is_empty()
            && validation.cert_sha256.is_empty()
            && !validation.accept_invalid
        {
            return inner;
        }
        Arc::new(Constrained {
            inner,
            accept_invalid: validation.accept_invalid,
            subject_alt_names: validation.subject_alt_names.clone(),
            spki_sha256: validation.spki_sha256.clone(),
            cert_sha256: validation
                .cert_sha256
                .iter()
                .map(|hash| hash.replace(':', "").to_ascii_lowercase())
                .collect(),
        })
    }

    fn check(&self, certificate: &CertificateDer<'_>) -> bool {
        let Ok((_, parsed)) = x509_parser::parse_x509_certificate(certificate.as_ref()) else {
            return false;
        };
        if !self.cert_sha256.is_empty() {
            let hash = hex(digest(&SHA256, certificate.as_ref()).as_ref());
            if !self.cert_sha256.contains(&hash) {
                return false;
            }
        }
        if !self.spki_sha256.is_empty() {
            let spki = digest(&SHA256, parsed.tbs_certificate.subject_pki.raw);
            let spki = base64::engine::general_purpose::STANDARD.encode(spki.as_ref());
            if !self.spki_sha256.contains(&spki) {
                return false;
            }
        }
        self.subject_alt_names.is_empty() || self.has_a_wanted_name(&parsed)
    }

    fn has_a_wanted_name(
        &self,
        certificate: &x509_parser::certificate::X509Certificate<'_>,
    ) -> bool {
        let Ok(Some(names)) = certificate.subject_alternative_name() else {
            return false;
        };
        names.value.general_names.iter().any(|name| {
            let name = match name {
                GeneralName::DNSName(name)
                | GeneralName::URI(name)
                | GeneralName::RFC822Name(name) => (*name).to_owned(),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default())
                        .to_string(),
                    16 => {
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default())
                            .to_string()
                    }
                    _ => return false,
                },
                _ => return false,
            };
            self.subject_alt_names.contains(&name)
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl ClientCertVerifier for Constrained {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now);
        if self.accept_invalid {
            // The handshake still checks the client's signature with the
            // certificate's key.
            return Ok(verified.unwrap_or_else(|_| ClientCertVerified::assertion()));
        }
        let verified = verified?;
        if self.check(end_entity) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
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
