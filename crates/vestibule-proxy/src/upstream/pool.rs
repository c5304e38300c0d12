//! Upstream connections per endpoint. HTTP/1.1: idle connections wait on a
//! stack per worker thread, as nginx's and Envoy's do, and go back onto it
//! when a response body has been read to the end; nothing polls them while
//! they wait (a close is noticed from the socket's readiness at checkout).
//! HTTP/2: one shared connection (hyper's client) multiplexes every request.

use std::cell::RefCell;
use std::io;
use std::time::Duration;

use crate::body::RequestBody;
use arc_swap::ArcSwapOption;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use thread_local::ThreadLocal;
use tokio::net::TcpStream;

use crate::upstream::client::UpstreamConn;
use crate::upstream::stream::UpstreamStream;
use crate::upstream::tls::{Origination, TlsFailure};
use vestibule_ir::{AppProtocol, EndpointAddress};

/// Idle HTTP/1.1 connections kept per endpoint and worker; more are closed.
const MAX_IDLE_PER_ENDPOINT: usize = 128;
/// Idle connections per endpoint and worker that keep their buffers: the
/// top of the stack, taken again at once under load (last in, first out),
/// whose buffers serve the next request; deeper down, what waits holds none.
const IDLE_WITH_BUFFERS: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// Last in, first out: the connection used most recently is taken
    /// first, so a burst's surplus is what sits idle (and what the upstream
    /// times out), and the sockets in use stay few and warm in the caches.
    /// Per worker thread, so no lock and no compare-and-swap: a worker
    /// takes back what it put.
    /// Boxes kept boxed: a connection is taken out and put back as one
    /// pointer, never re-boxed.
    #[allow(clippy::vec_box)]
    idle: ThreadLocal<RefCell<Vec<Box<UpstreamConn>>>>,
    shared: ArcSwapOption<http2::SendRequest<RequestBody>>,
}

/// A connection ready to carry one request.
pub(crate) enum Connection {
    /// Boxed: it travels with the response (in its body) up every level
    /// of the call, and a box moves as one pointer.
    Http1(Box<UpstreamConn>),
    Http2(http2::SendRequest<RequestBody>),
}

/// Why no connection could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connection failure: {0}")]
    Io(#[from] io::Error),
    #[error("connection timeout")]
    Timeout,
    #[error("connection failure: {0}")]
    Handshake(#[from] hyper::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Tls(#[from] TlsFailure),
}

/// Where a connection goes and how: what [`Pool::get`] needs of an
/// endpoint.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub address: &'a EndpointAddress,
    pub protocol: AppProtocol,
    /// TLS origination; `None`: plain text.
    pub tls: Option<&'a Origination>,
}

impl Pool {
    /// An idle connection if one is still usable, else a new one.
    pub(crate) async fn get(
        &self,
        target: Target<'_>,
        connect_timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        // Connecting and HTTP/2 set-up are boxed: their futures are large
        // and rare, and would otherwise sit in every request's state.
        match target.protocol {
            AppProtocol::Http1 => {
                if let Some(conn) = self.take_idle() {
                    return Ok(Connection::Http1(conn));
                }
                let conn = Box::pin(connect_http1(target, connect_timeout)).await?;
                Ok(Connection::Http1(conn))
            }
            AppProtocol::H2c => Box::pin(self.get_http2(target, connect_timeout)).await,
        }
    }

    /// The shared HTTP/2 connection once it is ready, made if need be
    /// (h2c, or h2 over TLS when the cluster originates it).
    async fn get_http2(
        &self,
        target: Target<'_>,
        connect_timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        if let Some(shared) = self.shared.load_full() {
            let mut sender = (*shared).clone();
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Ok(Connection::Http2(sender));
            }
        }
        let stream = connect_stream(target, connect_timeout).await?;
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake::<_, RequestBody>(TokioIo::new(stream))
            .await?;
        tokio::spawn(connection);
        self.shared.store(Some(std::sync::Arc::new(sender.clone())));
        Ok(Connection::Http2(sender))
    }

    /// The most recently returned idle connection that is still usable;
    /// those found closed on the way are dropped.
    fn take_idle(&self) -> Option<Box<UpstreamConn>> {
        let mut idle = self.idle.get()?.borrow_mut();
        while let Some(mut conn) = idle.pop() {
            if conn.is_usable() {
                return Some(conn);
            }
        }
        None
    }

    /// Returns an HTTP/1.1 connection whose response has been fully read.
    pub(crate) fn put_back(&self, conn: Box<UpstreamConn>) {
        let mut idle = self.idle.get_or_default().borrow_mut();
        // A full stack drops (closes) the connection.
        if idle.len() < MAX_IDLE_PER_ENDPOINT {
            // The one this pushes below the top few lets go of its buffers
            // (it is taken again only if the stack shrinks that far).
            if let Some(sinking) = idle.len().checked_sub(IDLE_WITH_BUFFERS) {
                idle[sinking].release_buffers();
            }
            idle.push(conn);
        }
    }
}

/// A new HTTP/1.1 connection, bypassing the idle queue.
pub(crate) async fn connect_http1(
    target: Target<'_>,
    connect_timeout: Duration,
) -> Result<Box<UpstreamConn>, ConnectError> {
    Ok(Box::new(UpstreamConn::new(
        connect_stream(target, connect_timeout).await?,
    )))
}

/// A TCP connection, with the TLS handshake done over it when the target
/// originates TLS. The connect timeout bounds both, as Envoy's does (a TLS
/// connection is connected once its handshake is done).
pub(crate) async fn connect_stream(
    target: Target<'_>,
    timeout: Duration,
) -> Result<UpstreamStream, ConnectError> {
    let Some(tls) = target.tls else {
        return Ok(UpstreamStream::Plain(
            connect(target.address, timeout).await?,
        ));
    };
    let connecting = async {
        let stream = connect(target.address, timeout).await?;
        Ok::<_, ConnectError>(tls.connect(stream).await?)
    };
    let stream = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| ConnectError::Timeout)??;
    Ok(UpstreamStream::Tls(Box::new(stream)))
}

pub(crate) async fn connect(
    address: &EndpointAddress,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let connecting = async {
        match address {
            EndpointAddress::Socket(address) => TcpStream::connect(address).await,
            EndpointAddress::Dns { host, port } => TcpStream::connect((host.as_str(), *port)).await,
        }
    };
    let stream = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| ConnectError::Timeout)??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn connection_to(listener: &TcpListener) -> (Box<UpstreamConn>, std::net::SocketAddr) {
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let local = stream.local_addr().unwrap();
        (
            Box::new(UpstreamConn::new(UpstreamStream::Plain(stream))),
            local,
        )
    }

    #[tokio::test]
    async fn the_connection_returned_last_is_taken_first() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Pool::default();
        let (first, first_addr) = connection_to(&listener).await;
        let (second, second_addr) = connection_to(&listener).await;
        let _accepted = (listener.accept().await, listener.accept().await);
        pool.put_back(first);
        pool.put_back(second);
        assert_eq!(
            pool.take_idle().as_deref().map(UpstreamConn::local_addr),
            Some(second_addr)
        );
        assert_eq!(
            pool.take_idle().as_deref().map(UpstreamConn::local_addr),
            Some(first_addr)
        );
        assert!(pool.take_idle().is_none());
    }

    #[tokio::test]
    async fn only_the_top_of_the_idle_stack_keeps_buffers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Pool::default();
        let mut accepted = Vec::new();
        for _ in 0..IDLE_WITH_BUFFERS + 2 {
            let (mut conn, _) = connection_to(&listener).await;
            accepted.push(listener.accept().await.unwrap());
            conn.give_buffers();
            pool.put_back(conn);
        }
        let held: Vec<bool> = std::iter::from_fn(|| pool.take_idle())
            .map(|conn| conn.holds_buffers())
            .collect();
        // Taken top first.
        assert_eq!(held, [true, true, true, true, false, false]);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_skipped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Pool::default();
        let (kept, kept_addr) = connection_to(&listener).await;
        let (kept_peer, _) = listener.accept().await.unwrap();
        let (closed, _) = connection_to(&listener).await;
        drop(listener.accept().await.unwrap());
        // The close (FIN) reaches the socket: readiness says so.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        pool.put_back(kept);
        pool.put_back(closed);
        assert_eq!(
            pool.take_idle().as_deref().map(UpstreamConn::local_addr),
            Some(kept_addr)
        );
        assert!(pool.take_idle().is_none(), "the closed one was dropped");
        drop(kept_peer);
    }
}
