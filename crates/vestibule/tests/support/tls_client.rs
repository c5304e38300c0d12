//! A TLS client (tokio-rustls, hyper) that keeps its connection open, for
//! what curl cannot show: a connection that outlives a certificate change.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

pub struct TlsClient {
    sender: http1::SendRequest<Empty<Bytes>>,
}

/// A TLS client connection to `address` with SNI `sni`, trusting only
/// `ca_pem`.
pub async fn handshake(
    address: SocketAddr,
    sni: &str,
    ca_pem: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let config = rustls::ClientConfig::builder_with_provider(super::pki::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(super::pki::roots(ca_pem))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(address).await.unwrap();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    connector.connect(name, tcp).await.expect("TLS handshake")
}

/// Connects to `address` with SNI `sni`, trusting only `ca_pem`.
pub async fn connect(address: SocketAddr, sni: &str, ca_pem: &str) -> TlsClient {
    let tls = handshake(address, sni, ca_pem).await;
    let (sender, connection) = http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(connection);
    TlsClient { sender }
}

impl TlsClient {
    /// The status of `GET path` with `Host: host` on the open connection.
    pub async fn get(&mut self, host: &str, path: &str) -> u16 {
        let request = Request::get(path)
            .header("host", host)
            .body(Empty::new())
            .unwrap();
        self.sender.ready().await.expect("connection still open");
        let response = self.sender.send_request(request).await.unwrap();
        response.status().as_u16()
    }
}
