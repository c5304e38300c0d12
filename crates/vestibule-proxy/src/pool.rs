//! Upstream connections per endpoint. HTTP/1.1: idle connections wait in a
//! lock-free queue and go back into it when a response body has been read to
//! the end; nothing polls them while they wait (a close is noticed from the
//! socket's readiness at checkout). HTTP/2: one shared connection (hyper's
//! client) multiplexes every request.

use std::io;
use std::time::Duration;

use crate::request_body::RequestBody;
use arc_swap::ArcSwapOption;
use crossbeam_queue::ArrayQueue;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::h1::UpstreamConn;
use vestibule_ir::{AppProtocol, EndpointAddress};

/// Idle HTTP/1.1 connections kept per endpoint; more are closed.
const MAX_IDLE_PER_ENDPOINT: usize = 128;

#[derive(Debug)]
pub(crate) struct Pool {
    idle: ArrayQueue<UpstreamConn>,
    shared: ArcSwapOption<http2::SendRequest<RequestBody>>,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool {
            idle: ArrayQueue::new(MAX_IDLE_PER_ENDPOINT),
            shared: ArcSwapOption::empty(),
        }
    }
}

/// A connection ready to carry one request.
pub(crate) enum Connection {
    Http1(UpstreamConn),
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
}

impl Pool {
    /// An idle connection if one is still usable, else a new one.
    pub(crate) async fn get(
        &self,
        address: &EndpointAddress,
        protocol: AppProtocol,
        connect_timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        // Connecting and HTTP/2 set-up are boxed: their futures are large
        // and rare, and would otherwise sit in every request's state.
        match protocol {
            AppProtocol::Http1 => {
                while let Some(conn) = self.idle.pop() {
                    if conn.is_usable() {
                        return Ok(Connection::Http1(conn));
                    }
                }
                let conn = Box::pin(connect_http1(address, connect_timeout)).await?;
                Ok(Connection::Http1(conn))
            }
            AppProtocol::H2c => Box::pin(self.get_http2(address, connect_timeout)).await,
        }
    }

    /// The shared HTTP/2 connection once it is ready, made if need be.
    async fn get_http2(
        &self,
        address: &EndpointAddress,
        connect_timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        if let Some(shared) = self.shared.load_full() {
            let mut sender = (*shared).clone();
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Ok(Connection::Http2(sender));
            }
        }
        let stream = connect(address, connect_timeout).await?;
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake::<_, RequestBody>(TokioIo::new(stream))
            .await?;
        tokio::spawn(connection);
        self.shared.store(Some(std::sync::Arc::new(sender.clone())));
        Ok(Connection::Http2(sender))
    }

    /// Returns an HTTP/1.1 connection whose response has been fully read.
    pub(crate) fn put_back(&self, conn: UpstreamConn) {
        // A full queue drops (closes) the connection.
        let _ = self.idle.push(conn);
    }
}

/// A new HTTP/1.1 connection, bypassing the idle queue.
pub(crate) async fn connect_http1(
    address: &EndpointAddress,
    connect_timeout: Duration,
) -> Result<UpstreamConn, ConnectError> {
    Ok(UpstreamConn::new(connect(address, connect_timeout).await?))
}

async fn connect(address: &EndpointAddress, timeout: Duration) -> Result<TcpStream, ConnectError> {
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
