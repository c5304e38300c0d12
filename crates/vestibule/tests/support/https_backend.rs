//! An HTTPS backend for TLS origination tests: HTTP/1.1 or HTTP/2 by ALPN,
//! optionally requiring a client certificate. Every answer says what the
//! server saw of the connection: `sni=… alpn=… version=… client=…`
//! (`client` is `verified` when a client certificate was presented and
//! verified, else `none`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::pki::Leaf;

/// Serves HTTPS with `leaf`; with `client_ca` (PEM), only clients with a
/// certificate it issued get through the handshake.
pub async fn https_backend(leaf: &Leaf, client_ca: Option<&str>) -> SocketAddr {
    let mut config = leaf.server_config(client_ca);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let session = tls.get_ref().1;
                let sni = session.server_name().unwrap_or("none").to_owned();
                let alpn = session.alpn_protocol().map_or("none".to_owned(), |p| {
                    String::from_utf8_lossy(p).into_owned()
                });
                // The verifier took it (issued by `client_ca`) if there is one.
                let client = if session.peer_certificates().is_some() {
                    "verified"
                } else {
                    "none"
                };
                let h2 = alpn == "h2";
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let body = format!(
                        "sni={sni} alpn={alpn} version={:?} client={client}",
                        request.version()
                    );
                    async move {
                        let _ = request;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let io = TokioIo::new(tls);
                if h2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                }
            });
        }
    });
    address
}
