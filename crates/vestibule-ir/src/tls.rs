//! TLS servers (Envoy's filter chains, picked by the ClientHello's SNI) and
//! the connection routes of TCP and TLS listeners.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::{HostPattern, RouteOrigin, WeightedBackend};

/// One TLS server of a listener port: an Istio Gateway server or a Gateway
/// API listener. A connection gets the server whose `server_names` match its
/// SNI: exact names first, then the longest wildcard, then the server with
/// no names (the default). No match and no default: the handshake fails.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TlsServer {
    /// `https.443.https.mygateway.default`, as Istio names the route table
    /// of a TLS server.
    pub name: String,
    /// Empty: every SNI, and connections without one.
    pub server_names: Vec<HostPattern>,
    /// `None`: passthrough. The ClientHello is read, not answered, and the
    /// raw stream goes to the listener's stream routes.
    pub termination: Option<TlsTermination>,
    /// For HTTPS: the answer to a request whose `Host` this server's names
    /// do not cover (421 in the Gateway API, 404 in Istio, where each server
    /// has its own route table).
    pub misdirected_status: u16,
    /// On a TLS listener, a terminating server whose decrypted connections
    /// carry HTTP (ALPN `h2` or `http/1.1`) for the listener's virtual
    /// hosts, not connections for its stream routes: a Gateway API HTTPS
    /// listener that shares its port with TLS listeners, the SNI deciding
    /// per connection which one it reached. (On an HTTPS listener every
    /// terminating server serves HTTP, whatever this says.)
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub serves_http: bool,
}

/// How a terminating server answers the handshake.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TlsTermination {
    /// Certificate chains with their keys. Several (an RSA and an ECDSA one,
    /// Istio's `credentialNames`): the client's signature schemes pick one.
    pub certificates: Vec<CertifiedKey>,
    /// Client certificates (Istio MUTUAL / OPTIONAL_MUTUAL, Gateway API
    /// `frontendValidation`). `None`: none are asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_validation: Option<ClientValidation>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// TLS 1.2 cipher suites in preference order; empty: the defaults.
    /// (TLS 1.3 suites are not configurable, as in Envoy.)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<CipherSuite>,
}

/// A certificate chain and its private key, in PEM, as a Secret holds them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct CertifiedKey {
    /// `namespace/name` of the Secret they came from (for logs and dumps).
    pub source: String,
    pub chain: Pem,
    /// Never shown: serialized as its length only.
    #[serde(serialize_with = "redacted")]
    pub key: Pem,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClientValidation {
    /// Trusted CA certificates, PEM.
    pub ca: Pem,
    /// Where the CA came from (`namespace/name`).
    pub source: String,
    /// OPTIONAL_MUTUAL: a client without a certificate is let in (one with
    /// an invalid certificate is not).
    pub optional: bool,
    /// Gateway API `AllowInsecureFallback`: a client whose certificate
    /// fails verification is let in too (it must still hold the
    /// certificate's key).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub accept_invalid: bool,
    /// The client certificate must carry one of these SANs (DNS or URI),
    /// when any are given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// Base64 SHA-256 of the certificate's SubjectPublicKeyInfo
    /// (`verifyCertificateSpki`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spki_sha256: Vec<String>,
    /// Hex SHA-256 of the whole certificate, without colons, lower-case
    /// (`verifyCertificateHash`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cert_sha256: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    #[serde(rename = "TLSv1_2")]
    Tls12,
    #[serde(rename = "TLSv1_3")]
    Tls13,
}

/// The TLS 1.2 cipher suites that can be asked for, by their OpenSSL names
/// (the names Istio's `cipherSuites` and Envoy take).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    #[serde(rename = "ECDHE-ECDSA-AES128-GCM-SHA256")]
    EcdheEcdsaAes128GcmSha256,
    #[serde(rename = "ECDHE-ECDSA-AES256-GCM-SHA384")]
    EcdheEcdsaAes256GcmSha384,
    #[serde(rename = "ECDHE-ECDSA-CHACHA20-POLY1305")]
    EcdheEcdsaChacha20Poly1305,
    #[serde(rename = "ECDHE-RSA-AES128-GCM-SHA256")]
    EcdheRsaAes128GcmSha256,
    #[serde(rename = "ECDHE-RSA-AES256-GCM-SHA384")]
    EcdheRsaAes256GcmSha384,
    #[serde(rename = "ECDHE-RSA-CHACHA20-POLY1305")]
    EcdheRsaChacha20Poly1305,
}

impl CipherSuite {
    pub const ALL: [CipherSuite; 6] = [
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        CipherSuite::EcdheEcdsaChacha20Poly1305,
        CipherSuite::EcdheRsaAes128GcmSha256,
        CipherSuite::EcdheRsaAes256GcmSha384,
        CipherSuite::EcdheRsaChacha20Poly1305,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CipherSuite::EcdheEcdsaAes128GcmSha256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
            CipherSuite::EcdheEcdsaAes256GcmSha384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
            CipherSuite::EcdheEcdsaChacha20Poly1305 => "ECDHE-ECDSA-CHACHA20-POLY1305",
            CipherSuite::EcdheRsaAes128GcmSha256 => "ECDHE-RSA-AES128-GCM-SHA256",
            CipherSuite::EcdheRsaAes256GcmSha384 => "ECDHE-RSA-AES256-GCM-SHA384",
            CipherSuite::EcdheRsaChacha20Poly1305 => "ECDHE-RSA-CHACHA20-POLY1305",
        }
    }

    /// By OpenSSL name; also accepts the `[A|B]` equal-preference groups
    /// Envoy's defaults use, one name at a time.
    pub fn from_name(name: &str) -> Option<CipherSuite> {
        CipherSuite::ALL
            .into_iter()
            .find(|suite| suite.name().eq_ignore_ascii_case(name))
    }
}

/// PEM text, shared: a snapshot rebuild does not copy certificates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pem(pub Arc<str>);

impl Pem {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Serialize for Pem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

fn redacted<S: Serializer>(pem: &Pem, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("[redacted: {} bytes]", pem.0.len()))
}

/// A route for whole connections (TCP listeners, and TLS listeners after
/// passthrough or termination): Istio VirtualService `tcp` and `tls`
/// routes, Gateway API TCPRoute and TLSRoute.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamRoute {
    pub name: String,
    pub origin: RouteOrigin,
    /// SNI names the route takes (TLS listeners); empty: every connection.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_names: Vec<HostPattern>,
    /// Weighted; a share with no backend refuses the connection.
    pub backends: Vec<WeightedBackend>,
}
