//! What an accepted connection becomes, by its listener's kind: HTTPS
//! (handshake, then the HTTP/2 server if ALPN chose `h2`, else HTTP/1.1),
//! TLS (read the ClientHello; by the server its SNI picks, pass the raw
//! stream through, or terminate and proxy the connection, or terminate and
//! serve HTTP as HTTPS does: a Gateway API HTTPS listener sharing its port
//! with TLS listeners), or TCP (proxy the connection). Plain HTTP goes
//! straight to `server::h1`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;

use super::stream::Socket;
use super::tcp::{self, StreamRouteRuntime};
use super::tls::{self, Mode};
use super::{ListenerSignal, OpenConnection, Prefixed, TlsConnection};
use crate::request::ConnInfo;
use crate::Shared;

pub(crate) async fn https(
    stream: TcpStream,
    conn: ConnInfo,
    shared: Arc<Shared>,
    signal: Arc<ListenerSignal>,
    open: OpenConnection,
) {
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream)
            .await
            .ok()?;
        let snapshot = shared.snapshot.load_full();
        let servers = snapshot.listener(conn.port)?.tls.as_ref()?;
        let server = servers.pick(start.client_hello().server_name())?;
        let Mode::Terminate(config) = &server.mode else {
            return None;
        };
        let session = Arc::clone(&server.session);
        let config = Arc::clone(config);
        let stream = start.into_stream(config).await.ok()?;
        Some((stream, session))
    };
    // The handshake is part of the first request's head: due within the
    // header timeout of the accept.
    let Ok(Some((stream, session))) =
        tokio::time::timeout(shared.config.header_read_timeout, handshake).await
    else {
        handshake_failed(&shared, &signal);
        return;
    };
    signal.count_handshake(true);
    let stream = TlsConnection::new(stream, session);
    http_over_tls(stream, conn, shared, signal, open).await;
}

/// A terminated connection to the HTTP server ALPN chose: HTTP/2 for `h2`,
/// else HTTP/1.1.
async fn http_over_tls<S: Socket>(
    stream: TlsConnection<S>,
    mut conn: ConnInfo,
    shared: Arc<Shared>,
    signal: Arc<ListenerSignal>,
    open: OpenConnection,
) {
    conn.tls = true;
    if let Some(addresses) = &mut conn.peer.addresses {
        addresses.server_name = stream.server_name().map(Arc::from);
    }
    if stream.alpn() == Some(b"h2") {
        let io = Prefixed::new(BytesMut::new(), stream);
        crate::server::h2::serve(io, conn, shared, signal).await;
        drop(open);
    } else {
        crate::server::h1::serve(stream, conn, shared, signal, open).await;
    }
}

pub(crate) async fn tls(
    mut stream: TcpStream,
    conn: ConnInfo,
    shared: Arc<Shared>,
    signal: Arc<ListenerSignal>,
    open: OpenConnection,
) {
    let port = conn.port;
    let read = tls::read_client_hello(&mut stream);
    let Ok(Some(hello)) = tokio::time::timeout(shared.config.header_read_timeout, read).await
    else {
        handshake_failed(&shared, &signal);
        return;
    };
    let snapshot = shared.snapshot.load_full();
    let Some(listener) = snapshot.listener(port) else {
        return;
    };
    let sni = hello.sni.as_deref();
    let Some(server) = listener.tls.as_ref().and_then(|servers| servers.pick(sni)) else {
        tracing::debug!(port, ?sni, "no TLS server for the SNI; connection closed");
        handshake_failed(&shared, &signal);
        return;
    };
    tracing::trace!(port, ?sni, server = %server.name, "TLS connection");
    let replayed = Prefixed::new(hello.bytes, stream);
    let config = match &server.mode {
        Mode::Passthrough => {
            let route = StreamRouteRuntime::pick(&listener.streams, sni);
            return proxy(replayed, route, &shared).await;
        }
        Mode::Terminate(config) => Arc::clone(config),
        Mode::Broken => return handshake_failed(&shared, &signal),
    };
    let (http, session) = (server.http, Arc::clone(&server.session));
    let accept = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), replayed)
            .await
            .ok()?;
        start.into_stream(config).await.ok()
    };
    let decrypted = match tokio::time::timeout(shared.config.header_read_timeout, accept).await {
        Ok(Some(decrypted)) => decrypted,
        _ => return handshake_failed(&shared, &signal),
    };
    signal.count_handshake(true);
    if http {
        // The snapshot is not held for the connection's life: each request
        // loads the current one, as on an HTTPS listener.
        drop(snapshot);
        let stream = TlsConnection::new(decrypted, session);
        return http_over_tls(stream, conn, shared, signal, open).await;
    }
    let route = StreamRouteRuntime::pick(&listener.streams, sni);
    proxy(decrypted, route, &shared).await;
}

pub(crate) async fn tcp(
    stream: TcpStream,
    port: u16,
    shared: Arc<Shared>,
    _signal: Arc<ListenerSignal>,
    _open: OpenConnection,
) {
    let snapshot = shared.snapshot.load_full();
    let Some(listener) = snapshot.listener(port) else {
        return;
    };
    let route = StreamRouteRuntime::pick(&listener.streams, None);
    proxy(stream, route, &shared).await;
}

async fn proxy<S>(stream: S, route: Option<&StreamRouteRuntime>, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(error) = tcp::proxy(stream, route, shared).await {
        tracing::debug!(route = route.map(|route| route.name.as_str()), %error, "connection not proxied");
    }
}

fn handshake_failed(shared: &Shared, signal: &ListenerSignal) {
    shared
        .counters
        .tls_handshake_failures
        .fetch_add(1, Ordering::Relaxed);
    signal.count_handshake(false);
}
