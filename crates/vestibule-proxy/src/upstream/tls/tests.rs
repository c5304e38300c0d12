//! Handshakes against an in-process TLS server: SNI, ALPN, the CA, SANs,
//! client certificates, session resumption.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use vestibule_ir::{CertifiedKey, Pem, UpstreamTls, UpstreamVerify};

use super::{Origination, TlsFailure};

/// A CA and certificates it issues.
struct Ca(rcgen::CertifiedIssuer<'static, rcgen::KeyPair>);

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().expect("key");
        Ca(rcgen::CertifiedIssuer::self_signed(params, key).expect("CA"))
    }

    /// A leaf for `names` (DNS, or URI when they contain `://`): chain, key.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        for name in names {
            params.subject_alt_names.push(if name.contains("://") {
                rcgen::SanType::URI((*name).try_into().expect("URI"))
            } else {
                rcgen::SanType::DnsName((*name).try_into().expect("DNS name"))
            });
        }
        let cert = params.signed_by(&key, &self.0).expect("leaf");
        (cert.pem(), key.serialize_pem())
    }

    fn pem(&self) -> Pem {
        Pem(self.0.pem().into())
    }

    fn der(&self) -> CertificateDer<'static> {
        self.0.der().clone()
    }
}

/// What the server saw of one handshake.
#[derive(Debug, Default)]
struct Seen {
    sni: Option<String>,
    alpn: Option<Vec<u8>>,
    client_certificate: bool,
    resumed: bool,
}

/// Serves one handshake per connection with `(chain, key)`; requires a
/// client certificate from `client_ca` when given.
async fn server(
    (chain, key): (String, String),
    client_ca: Option<&Ca>,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Seen>,
) {
    crate::conn::tls::install_provider();
    let chain = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    let builder = ServerConfig::builder();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.der()).expect("root");
            builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .expect("verifier"),
            )
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).expect("config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (seen, receive) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(stream).await else {
                    return;
                };
                let (_, session) = stream.get_ref();
                let _ = seen.send(Seen {
                    sni: session.server_name().map(str::to_owned),
                    alpn: session.alpn_protocol().map(<[u8]>::to_vec),
                    client_certificate: session.peer_certificates().is_some(),
                    resumed: session.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
                });
                let mut byte = [0u8; 1];
                if stream.read(&mut byte).await.is_ok() {
                    let _ = stream.write_all(b"!").await;
                }
            });
        }
    });
    (address, receive)
}

fn tls(verify: UpstreamVerify, sni: &str) -> UpstreamTls {
    UpstreamTls {
        sni: Some(sni.to_owned()),
        verify,
        subject_alt_names: Vec::new(),
        client_certificate: None,
        alpn: vec!["http/1.1".to_owned()],
    }
}

fn ca_of(ca: &Ca) -> UpstreamVerify {
    UpstreamVerify::Ca {
        pem: ca.pem(),
        source: "test/ca".to_owned(),
    }
}

async fn handshake(
    tls: &UpstreamTls,
    address: std::net::SocketAddr,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TlsFailure> {
    let origination = Origination::new(tls, "backend.default.svc.cluster.local");
    origination
        .connect(TcpStream::connect(address).await.expect("connect"))
        .await
}

#[tokio::test]
async fn a_certificate_from_the_ca_for_the_sni_is_taken() {
    let ca = Ca::new("ca");
    let (address, mut seen) = server(ca.issue(&["api.example.com"]), None).await;
    let mut config = tls(ca_of(&ca), "api.example.com");
    config.alpn = vec!["h2".to_owned()];
    let mut stream = handshake(&config, address).await.expect("handshake");
    stream.write_all(b"?").await.expect("write");
    let seen = seen.recv().await.expect("seen");
    assert_eq!(seen.sni.as_deref(), Some("api.example.com"));
    assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
    assert!(!seen.client_certificate);
}

#[tokio::test]
async fn another_ca_or_another_name_fails_verification() {
    let ca = Ca::new("ca");
    let (address, _seen) = server(ca.issue(&["api.example.com"]), None).await;
    let other = Ca::new("other");
    let failure = handshake(&tls(ca_of(&other), "api.example.com"), address)
        .await
        .err();
    assert_eq!(failure, Some(TlsFailure::CertificateVerifyFailed));
    let failure = handshake(&tls(ca_of(&ca), "www.example.com"), address)
        .await
        .err();
    assert_eq!(failure, Some(TlsFailure::CertificateVerifyFailed));
}

#[tokio::test]
async fn subject_alt_names_stand_in_for_the_sni() {
    let ca = Ca::new("ca");
    let (address, _seen) = server(
        ca.issue(&["spiffe://cluster.local/ns/default/sa/api"]),
        None,
    )
    .await;
    let mut config = tls(ca_of(&ca), "api.example.com");
    config.subject_alt_names = vec!["spiffe://cluster.local/ns/default/sa/api".to_owned()];
    handshake(&config, address)
        .await
        .expect("the URI SAN is taken");
    config.subject_alt_names = vec!["spiffe://cluster.local/ns/default/sa/other".to_owned()];
    assert_eq!(
        handshake(&config, address).await.err(),
        Some(TlsFailure::CertificateVerifyFailed)
    );
}

#[tokio::test]
async fn insecure_skip_verify_takes_any_certificate() {
    let ca = Ca::new("ca");
    let (address, _seen) = server(ca.issue(&["api.example.com"]), None).await;
    handshake(
        &tls(UpstreamVerify::InsecureSkipVerify, "elsewhere.example.com"),
        address,
    )
    .await
    .expect("not verified");
}

#[tokio::test]
async fn the_client_certificate_is_presented_when_asked_for() {
    let ca = Ca::new("ca");
    let (address, mut seen) = server(ca.issue(&["api.example.com"]), Some(&ca)).await;
    let (chain, key) = ca.issue(&["client.example.com"]);
    let mut config = tls(ca_of(&ca), "api.example.com");
    config.client_certificate = Some(CertifiedKey {
        source: "test/client".to_owned(),
        chain: Pem(chain.into()),
        key: Pem(key.into()),
    });
    let mut stream = handshake(&config, address).await.expect("handshake");
    stream.write_all(b"?").await.expect("write");
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).await.expect("answer");
    assert!(seen.recv().await.expect("seen").client_certificate);
}

#[tokio::test]
async fn a_second_connection_resumes_the_session() {
    let ca = Ca::new("ca");
    let (address, mut seen) = server(ca.issue(&["api.example.com"]), None).await;
    let origination = Origination::new(&tls(ca_of(&ca), "api.example.com"), "backend");
    for _ in 0..2 {
        let mut stream = origination
            .connect(TcpStream::connect(address).await.expect("connect"))
            .await
            .expect("handshake");
        // A round trip: the server's session tickets come before its byte.
        stream.write_all(b"?").await.expect("write");
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.expect("answer");
    }
    assert!(!seen.recv().await.expect("first").resumed);
    assert!(seen.recv().await.expect("second").resumed);
}
