//! An upstream connection's stream: plain TCP, or TLS over TCP when the
//! cluster originates TLS. An enum rather than a type parameter, so the
//! pool, the client and the response body stay one type; the plain
//! variant is held inline (the benchmarked path costs one branch per
//! poll, no allocation, no indirection), the TLS one boxed (its session
//! state is a kilobyte or more, which plain connections should not carry).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::telemetry::access_log::Address;

pub(crate) enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl std::fmt::Debug for UpstreamStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamStream::Plain(stream) => stream.fmt(f),
            UpstreamStream::Tls(stream) => f.debug_tuple("Tls").field(stream.get_ref().0).finish(),
        }
    }
}

impl UpstreamStream {
    /// The TCP socket under it.
    pub(crate) fn socket(&self) -> &TcpStream {
        match self {
            UpstreamStream::Plain(stream) => stream,
            UpstreamStream::Tls(stream) => stream.get_ref().0,
        }
    }

    /// Its local address as the access log writes it (one system call and
    /// one formatting: its keeper asks once per connection).
    pub(crate) fn local_address(&self) -> Option<Address> {
        let address = self.socket().local_addr().ok()?;
        Some(Address::new(&address))
    }

    /// Whether an idle connection still looks usable: nothing (a close, a
    /// reset, stray bytes) arrived while it sat in the pool. Costs no system
    /// call unless the socket reported readiness.
    pub(crate) fn is_usable(&mut self) -> bool {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match self {
            UpstreamStream::Plain(stream) => match stream.poll_read_ready(&mut cx) {
                Poll::Pending => true,
                Poll::Ready(Err(_)) => false,
                // Readiness may be left over from the last response: confirm.
                Poll::Ready(Ok(())) => {
                    let mut probe = [0u8; 1];
                    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
                }
            },
            UpstreamStream::Tls(stream) => {
                if stream.get_ref().0.poll_read_ready(&mut cx).is_pending() {
                    return true;
                }
                // Bytes came: read them through TLS. Handshake messages
                // (TLS 1.3 session tickets) are taken in and leave the
                // connection usable; data, close_notify or a close do not.
                let mut probe = [0u8; 1];
                let mut buf = ReadBuf::new(&mut probe);
                Pin::new(&mut **stream)
                    .poll_read(&mut cx, &mut buf)
                    .is_pending()
            }
        }
    }
}

impl AsyncRead for UpstreamStream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            UpstreamStream::Tls(stream) => Pin::new(&mut **stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(stream) => Pin::new(stream).poll_write(cx, data),
            UpstreamStream::Tls(stream) => Pin::new(&mut **stream).poll_write(cx, data),
        }
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(stream) => Pin::new(&mut **stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(stream) => stream.is_write_vectored(),
            UpstreamStream::Tls(stream) => stream.is_write_vectored(),
        }
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            UpstreamStream::Tls(stream) => Pin::new(&mut **stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            UpstreamStream::Tls(stream) => Pin::new(&mut **stream).poll_shutdown(cx),
        }
    }
}
