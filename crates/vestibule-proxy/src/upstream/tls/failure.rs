//! Why a TLS handshake with an upstream failed, as Envoy reports it: its
//! local reply names BoringSSL's error (`TLS_error:|268435581:SSL
//! routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end`),
//! which users search for, so rustls' errors are mapped onto those names.

use std::io;

use rustls::AlertDescription;

/// A failed upstream handshake, by the BoringSSL reason Envoy would name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsFailure {
    /// The server's certificate did not verify (unknown CA, wrong name,
    /// expired).
    #[error("certificate verify failed")]
    CertificateVerifyFailed,
    /// The server answered with something that is not TLS (a plain-text
    /// server).
    #[error("wrong version number")]
    WrongVersionNumber,
    /// The server refused the handshake (no common parameters).
    #[error("handshake failure alert")]
    HandshakeFailureAlert,
    /// The server wanted a client certificate and got none.
    #[error("certificate required alert")]
    CertificateRequiredAlert,
    /// The server refused the client certificate.
    #[error("bad certificate alert")]
    BadCertificateAlert,
    /// The server does not trust the client certificate's issuer.
    #[error("unknown CA alert")]
    UnknownCaAlert,
    /// The connection closed or failed during the handshake.
    #[error("connection closed during the handshake")]
    Closed,
    /// The cluster's TLS configuration could not be built.
    #[error("no usable TLS configuration")]
    NoConfiguration,
}

impl TlsFailure {
    /// Classifies the error of a tokio-rustls handshake.
    pub(crate) fn of(error: &io::Error) -> TlsFailure {
        let Some(tls) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return TlsFailure::Closed;
        };
        match tls {
            rustls::Error::InvalidCertificate(_) => TlsFailure::CertificateVerifyFailed,
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                TlsFailure::WrongVersionNumber
            }
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
                TlsFailure::CertificateRequiredAlert
            }
            rustls::Error::AlertReceived(AlertDescription::BadCertificate) => {
                TlsFailure::BadCertificateAlert
            }
            rustls::Error::AlertReceived(AlertDescription::UnknownCA) => TlsFailure::UnknownCaAlert,
            _ => TlsFailure::HandshakeFailureAlert,
        }
    }

    /// Envoy's `%UPSTREAM_TRANSPORT_FAILURE_REASON%`: the reply's tail.
    pub fn reason(self) -> &'static str {
        let body = self.body();
        body.split_once("transport failure reason: ")
            .map_or(body, |(_, reason)| reason)
    }

    /// Envoy's whole local reply body for a connection that failed so.
    pub fn body(self) -> &'static str {
        match self {
            TlsFailure::CertificateVerifyFailed => concat!(
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure, ",
                "transport failure reason: TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end"
            ),
            TlsFailure::WrongVersionNumber => concat!(
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure, ",
                "transport failure reason: TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end"
            ),
            TlsFailure::HandshakeFailureAlert => concat!(
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure, ",
                "transport failure reason: TLS_error:|268436496:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE:TLS_error_end"
            ),
            TlsFailure::CertificateRequiredAlert => concat!(
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure, ",
                "transport failure reason: TLS_error:|268436572:SSL routines:OPENSSL_internal:TLSV1_ALERT_CERTIFICATE_REQUIRED:TLS_error_end"
            ),
            TlsFailure::BadCertificateAlert => concat!(
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure, ",
                "transport failure reason: TLS_error:|268436498:SSL routines:OPENSSL_internal:SSLV3_ALERT_BAD_CERTIFICATE:TLS_error_end"
            ),
            TlsFailure::UnknownCaAlert => concat!(
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure, ",
                "transport failure reason: TLS_error:|268436504:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA:TLS_error_end"
            ),
            TlsFailure::Closed | TlsFailure::NoConfiguration => concat!(
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure, ",
                "transport failure reason: TLS_error: connection closed during the handshake"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CertificateError;

    #[test]
    fn rustls_errors_map_to_envoys_names() {
        let wrap = |error: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, error);
        assert_eq!(
            TlsFailure::of(&wrap(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))),
            TlsFailure::CertificateVerifyFailed
        );
        assert_eq!(
            TlsFailure::of(&wrap(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
            ))),
            TlsFailure::CertificateRequiredAlert
        );
        assert_eq!(
            TlsFailure::of(&io::ErrorKind::UnexpectedEof.into()),
            TlsFailure::Closed
        );
        assert!(TlsFailure::CertificateVerifyFailed
            .body()
            .starts_with("upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS_error:"));
    }
}
