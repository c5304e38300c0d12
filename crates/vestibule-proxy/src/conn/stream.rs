//! The stream a downstream HTTP server runs on: plain TCP or TLS over TCP.
//! The servers are generic over it, so the request path does not care
//! which it got.

use std::io;
use std::task::{Context, Poll};

use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::tls::Session;
use super::Prefixed;

pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Ready when a read would not wait: bytes on the socket, or (TLS)
    /// plaintext already decrypted and not yet read. Keeps no waiter of its
    /// own (an idle connection waits on this). Mutable: a socket accepted
    /// unregistered registers here.
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Turns Nagle's algorithm off on the socket.
    fn nodelay(&self);

    /// The TLS server that accepted the connection; `None`: plain text.
    fn session(&self) -> Option<&Arc<Session>>;
}

impl Stream for TcpStream {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    fn nodelay(&self) {
        let _ = self.set_nodelay(true);
    }

    fn session(&self) -> Option<&Arc<Session>> {
        None
    }
}

/// What TLS runs over: the accepted socket (HTTPS listeners), or the socket
/// with the ClientHello already read put back in front (a TLS listener's
/// server that terminates into HTTP: the hello was read to pick it).
pub(crate) trait Socket: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// As [`Stream::poll_read_ready`].
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// As [`Stream::nodelay`].
    fn nodelay(&self);
}

impl Socket for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    fn nodelay(&self) {
        let _ = self.set_nodelay(true);
    }
}

impl Socket for Prefixed<TcpStream> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_prefix() {
            return Poll::Ready(Ok(()));
        }
        self.inner().poll_read_ready(cx)
    }

    fn nodelay(&self) {
        let _ = self.inner().set_nodelay(true);
    }
}

/// A terminated TLS connection and the server that accepted it.
pub(crate) struct TlsConnection<S = TcpStream> {
    stream: TlsStream<S>,
    session: Arc<Session>,
}

impl<S: Socket> TlsConnection<S> {
    pub(crate) fn new(stream: TlsStream<S>, session: Arc<Session>) -> TlsConnection<S> {
        TlsConnection { stream, session }
    }

    /// The protocol ALPN settled on.
    pub(crate) fn alpn(&self) -> Option<&[u8]> {
        self.stream.get_ref().1.alpn_protocol()
    }

    /// The name the client asked for (SNI).
    pub(crate) fn server_name(&self) -> Option<&str> {
        self.stream.get_ref().1.server_name()
    }
}

impl<S: Socket> Stream for TlsConnection<S> {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (socket, session) = self.stream.get_ref();
        // rustls wants no more TLS bytes only while it holds plaintext (or
        // the peer said close_notify): either way a read returns at once.
        if !session.wants_read() {
            return Poll::Ready(Ok(()));
        }
        socket.poll_read_ready(cx)
    }

    fn nodelay(&self) {
        self.stream.get_ref().0.nodelay();
    }

    fn session(&self) -> Option<&Arc<Session>> {
        Some(&self.session)
    }
}

impl<S: Socket> AsyncRead for TlsConnection<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: Socket> AsyncWrite for TlsConnection<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
