//! Accepting without registering: Tokio's `accept` registers every accepted
//! socket with the reactor (`epoll_ctl` ADD) and deregisters it before its
//! `close` (DEL), about half a microsecond of system time and a lock on the
//! reactor's registration list each way. A connection whose request is
//! already there when it is accepted, and whose response fits the socket's
//! buffer, never waits: it is read and written as a plain non-blocking
//! socket, and registered only when an operation would block.

use std::cell::RefCell;
use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use super::stream::Stream;
use super::tls::Session;

/// A listening socket whose readiness Tokio polls and whose connections are
/// accepted here, unregistered.
pub(crate) struct Acceptor {
    /// The listening socket, held as a Tokio stream: the one safe handle
    /// on the reactor's readiness for a socket (`TcpListener` has only
    /// `accept`, which registers what it accepts; `AsyncFd`'s safe
    /// constructors are deprecated as unsound since Tokio 1.54, and their
    /// replacement is `unsafe`). Nothing but its readiness and `accept` is
    /// used.
    listening: TcpStream,
}

impl Acceptor {
    /// Registers `listener` with the current runtime's reactor.
    pub(crate) fn new(listener: std::net::TcpListener) -> io::Result<Acceptor> {
        let socket = std::net::TcpStream::from(OwnedFd::from(listener));
        Ok(Acceptor {
            listening: TcpStream::from_std(socket)?,
        })
    }

    /// Hands over connections only once they have sent bytes, or at once
    /// (`sockopt` says why).
    pub(crate) fn defer(&self, deferred: bool) -> io::Result<()> {
        super::sockopt::set_defer_accept(&self.listening, deferred)
    }

    /// The next connection, non-blocking and not registered.
    pub(crate) async fn accept(&self) -> io::Result<(Accepted, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Accepted, SocketAddr)>> {
        loop {
            ready!(self.listening.poll_read_ready(cx))?;
            // `try_io` clears the readiness when the queue is empty, so the
            // next poll waits for the next connection.
            match self
                .listening
                .try_io(Interest::READABLE, || self.accept_now())
            {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                accepted => return Poll::Ready(accepted),
            }
        }
    }

    fn accept_now(&self) -> io::Result<(Accepted, SocketAddr)> {
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        let (socket, peer) = socket2::SockRef::from(&self.listening).accept4(flags)?;
        let peer = peer
            .as_socket()
            .ok_or_else(|| io::Error::other("accepted a connection with no IP address"))?;
        Ok((Accepted::Fresh(socket.into()), peer))
    }
}

/// An accepted connection, registered with the reactor only once an
/// operation on it would block.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// Not registered: every operation so far completed at once.
    Fresh(std::net::TcpStream),
    Registered(TcpStream),
    /// Registration failed (the socket is closed).
    Closed,
}

impl Accepted {
    /// The Tokio stream, registered now if it was not.
    pub(crate) fn registered(mut self) -> io::Result<TcpStream> {
        self.register()?;
        match self {
            Accepted::Registered(stream) => Ok(stream),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Registers the socket if it is not (an operation would block: the
    /// reactor is to say when it can go on), and returns it.
    fn register(&mut self) -> io::Result<&mut TcpStream> {
        if let Accepted::Fresh(_) = self {
            if let Accepted::Fresh(socket) = std::mem::replace(self, Accepted::Closed) {
                *self = Accepted::Registered(TcpStream::from_std(socket)?);
            }
        }
        match self {
            Accepted::Registered(stream) => Ok(stream),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Accepted::Fresh(socket) => socket.local_addr(),
            Accepted::Registered(stream) => stream.local_addr(),
            Accepted::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Runs `attempt` on the socket while it is not registered; if that
    /// would block, or it is registered, polls `registered` instead. `arg`
    /// goes to whichever runs (a read's buffer).
    fn poll_io<A: ?Sized, T>(
        &mut self,
        cx: &mut Context<'_>,
        arg: &mut A,
        attempt: impl FnOnce(&mut std::net::TcpStream, &mut A) -> io::Result<T>,
        registered: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>, &mut A) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if let Accepted::Fresh(socket) = self {
            match attempt(socket, arg) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
        match self.register() {
            Ok(stream) => registered(Pin::new(stream), cx, arg),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl Stream for Accepted {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Waiting is what registration is for.
        self.register()?.poll_read_ready(cx)
    }

    fn nodelay(&self) {
        let _ = match self {
            Accepted::Fresh(socket) => socket.set_nodelay(true),
            Accepted::Registered(stream) => stream.set_nodelay(true),
            Accepted::Closed => Ok(()),
        };
    }

    fn session(&self) -> Option<&Arc<Session>> {
        None
    }
}

impl AsyncRead for Accepted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut()
            .poll_io(cx, buf, read_unregistered, |stream, cx, buf| {
                stream.poll_read(cx, buf)
            })
    }
}

/// The most an unregistered socket reads at once: a request head's read
/// (`server::h1` reads heads 4 KiB at a time).
const SCRATCH_LEN: usize = 8192;

thread_local! {
    /// What an unregistered socket is read into, then copied from: safe
    /// code cannot read into the caller's uninitialized buffer, and zeroing
    /// it first cost more than the copy (4 KiB for a head of a few hundred
    /// bytes).
    static SCRATCH: RefCell<[u8; SCRATCH_LEN]> = const { RefCell::new([0; SCRATCH_LEN]) };
}

/// Reads through [`SCRATCH`]; a larger read (a body or an HTTP/2
/// connection, which stream) would block instead: the socket is registered
/// then, and read straight into the caller's buffer.
fn read_unregistered(socket: &mut std::net::TcpStream, buf: &mut ReadBuf<'_>) -> io::Result<()> {
    if buf.remaining() > SCRATCH_LEN {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    SCRATCH.with_borrow_mut(|scratch| {
        let read = socket.read(&mut scratch[..buf.remaining()])?;
        buf.put_slice(&scratch[..read]);
        Ok(())
    })
}

impl AsyncWrite for Accepted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_io(
            cx,
            &mut (),
            |socket, ()| socket.write(data),
            |stream, cx, ()| stream.poll_write(cx, data),
        )
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_io(
            cx,
            &mut (),
            |socket, ()| socket.write_vectored(bufs),
            |stream, cx, ()| stream.poll_write_vectored(cx, bufs),
        )
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here, nor in Tokio's stream.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_io(
            cx,
            &mut (),
            |socket, ()| socket.shutdown(std::net::Shutdown::Write),
            |stream, cx, ()| stream.poll_shutdown(cx),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::{Accepted, Acceptor};
    use crate::conn::Stream as _;

    fn acceptor() -> (Acceptor, std::net::SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        (Acceptor::new(listener).unwrap(), address)
    }

    #[tokio::test]
    async fn a_connection_that_never_waits_is_never_registered() {
        let (acceptor, address) = acceptor();
        let mut client = std::net::TcpStream::connect(address).unwrap();
        client.write_all(b"hello").unwrap();
        let (mut conn, peer) = acceptor.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        // The bytes may trail the handshake by a moment: this test is about
        // a request that is there when it is read.
        let Accepted::Fresh(socket) = &conn else {
            panic!("registered at the accept: {conn:?}")
        };
        while socket.peek(&mut [0; 5]).map_or(true, |peeked| peeked < 5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut buf = [0; 16];
        let read = conn.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..read], b"hello");
        conn.write_all(b"world").await.unwrap();
        assert!(matches!(conn, Accepted::Fresh(_)), "{conn:?}");
        drop(conn);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap();
        assert_eq!(answer, b"world");
    }

    #[tokio::test]
    async fn a_read_that_would_block_registers_and_waits_for_the_bytes() {
        let (acceptor, address) = acceptor();
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut conn, _) = acceptor.accept().await.unwrap();
        let write_later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            client.write_all(b"late").await.unwrap();
            client
        });
        let mut buf = [0; 16];
        let read = conn.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..read], b"late");
        assert!(matches!(conn, Accepted::Registered(_)), "{conn:?}");
        drop(write_later.await.unwrap());
    }

    #[tokio::test]
    async fn a_read_larger_than_a_head_registers_and_reads_straight() {
        let (acceptor, address) = acceptor();
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut conn, _) = acceptor.accept().await.unwrap();
        client.write_all(b"body").await.unwrap();
        let mut buf = vec![0; super::SCRATCH_LEN + 1];
        let read = conn.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..read], b"body");
        assert!(matches!(conn, Accepted::Registered(_)), "{conn:?}");
    }

    #[tokio::test]
    async fn a_write_that_would_block_registers_and_finishes() {
        let (acceptor, address) = acceptor();
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut conn, _) = acceptor.accept().await.unwrap();
        // More than the socket buffers hold: the client reads only later.
        let sent = vec![7u8; 16 << 20];
        let read_later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut received = Vec::new();
            client.read_to_end(&mut received).await.unwrap();
            received.len()
        });
        conn.write_all(&sent).await.unwrap();
        assert!(matches!(conn, Accepted::Registered(_)), "{conn:?}");
        drop(conn);
        assert_eq!(read_later.await.unwrap(), sent.len());
    }

    #[tokio::test]
    async fn waiting_for_a_request_registers() {
        let (acceptor, address) = acceptor();
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut conn, _) = acceptor.accept().await.unwrap();
        client.write_all(b"next").await.unwrap();
        std::future::poll_fn(|cx| conn.poll_read_ready(cx))
            .await
            .unwrap();
        assert!(matches!(conn, Accepted::Registered(_)), "{conn:?}");
    }

    #[tokio::test]
    async fn the_acceptor_waits_for_the_next_connection() {
        let (acceptor, address) = acceptor();
        let _first = tokio::net::TcpStream::connect(address).await.unwrap();
        acceptor.accept().await.unwrap();
        // The queue is empty now: the next accept waits for a connection.
        let next = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tokio::net::TcpStream::connect(address).await.unwrap()
        });
        let (_conn, peer) = acceptor.accept().await.unwrap();
        assert_eq!(peer, next.await.unwrap().local_addr().unwrap());
    }
}
