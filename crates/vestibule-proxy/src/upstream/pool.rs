//! Upstream connections per endpoint. HTTP/1.1: idle connections wait on a
//! stack per worker thread, as nginx's and Envoy's do, and go back onto it
//! when a response body has been read to the end; nothing polls them while
//! they wait (a close is noticed from the socket's readiness at checkout).
//! HTTP/2: one shared connection (hyper's client) multiplexes every request.
//!
//! A cluster with a `connectionPool` gives its endpoints a [`PoolPolicy`]:
//! connection lifetimes and, with a limit on connections, a shared idle
//! queue (a worker must be able to take what another put back, or a
//! request could wait on a connection idling in another worker's stack)
//! and a line to wait in for a connection once the limit is reached.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::body::RequestBody;
use arc_swap::ArcSwapOption;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use thread_local::ThreadLocal;
use tokio::net::TcpStream;

use crate::telemetry::access_log::Address;
use crate::upstream::circuit::{Circuit, ConnectionSlot, Overflow};
use crate::upstream::client::UpstreamConn;
use crate::upstream::dns::DnsCache;
use crate::upstream::stream::UpstreamStream;
use crate::upstream::tls::{Origination, TlsFailure};
use vestibule_ir::{AppProtocol, ConnectionPool, EndpointAddress, TcpKeepalive};

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
    /// With a connection limit: idle connections every worker takes from
    /// (lock-free), and how many this endpoint has open.
    limited: Option<Limited>,
    shared: ArcSwapOption<SharedH2>,
}

#[derive(Debug)]
struct Limited {
    idle: crossbeam_queue::ArrayQueue<Box<UpstreamConn>>,
    open: Arc<AtomicU32>,
}

/// The endpoint's HTTP/2 connection and the streams it has carried.
#[derive(Debug)]
struct SharedH2 {
    sender: http2::SendRequest<RequestBody>,
    streams: AtomicU32,
    opened: Instant,
    local: Option<Address>,
}

/// How a cluster's connections live (Istio `connectionPool`), shared by
/// its endpoints.
#[derive(Debug, Default)]
pub(crate) struct PoolPolicy {
    pub circuit: Option<Arc<Circuit>>,
    pub connect_timeout: Option<Duration>,
    pub max_requests_per_connection: Option<u32>,
    pub idle_timeout: Option<Duration>,
    /// A TCP route's idle timeout.
    pub tcp_idle_timeout: Option<Duration>,
    pub max_connection_duration: Option<Duration>,
    pub keepalive: Option<TcpKeepalive>,
}

impl PoolPolicy {
    /// `None` for the default pool: no per-connection bookkeeping at all.
    pub(crate) fn new(pool: &ConnectionPool, circuit: Option<Arc<Circuit>>) -> Option<PoolPolicy> {
        (!pool.is_default()).then(|| PoolPolicy {
            circuit,
            connect_timeout: pool.connect_timeout,
            max_requests_per_connection: pool.max_requests_per_connection,
            idle_timeout: pool.idle_timeout,
            tcp_idle_timeout: pool.tcp_idle_timeout,
            max_connection_duration: pool.max_connection_duration,
            keepalive: pool.tcp_keepalive.clone(),
        })
    }

    /// Whether a connection that carried `used` requests since `opened`
    /// may carry another.
    fn reusable(&self, used: u32, opened: Instant) -> bool {
        self.max_requests_per_connection
            .is_none_or(|max| used < max)
            && self
                .max_connection_duration
                .is_none_or(|max| opened.elapsed() < max)
    }
}

/// A connection ready to carry one request.
pub(crate) enum Connection {
    /// Boxed: it travels with the response (in its body) up every level
    /// of the call, and a box moves as one pointer.
    Http1(Box<UpstreamConn>),
    /// With the connection's local address.
    Http2(http2::SendRequest<RequestBody>, Option<Address>),
}

/// Why no connection could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connection failure: {0}")]
    Io(#[from] io::Error),
    #[error("connection timeout")]
    Timeout,
    /// A circuit breaker's limit was reached.
    #[error("overflow")]
    Overflow(Overflow),
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
    /// The cluster's `connectionPool`; `None`: the defaults.
    pub policy: Option<&'a PoolPolicy>,
    /// A DNS endpoint's resolved addresses.
    pub dns: Option<&'a DnsCache>,
}

impl Pool {
    /// A pool for an endpoint of a cluster with a connection limit.
    pub(crate) fn limited() -> Pool {
        Pool {
            limited: Some(Limited {
                idle: crossbeam_queue::ArrayQueue::new(MAX_IDLE_PER_ENDPOINT),
                open: Arc::default(),
            }),
            ..Pool::default()
        }
    }

    /// A counted place for a connection that replaces a counted one, when
    /// the cluster has a connection limit.
    pub(crate) fn replacement_slot(&self, policy: Option<&PoolPolicy>) -> Option<ConnectionSlot> {
        let circuit = policy?.circuit.as_ref()?;
        Some(circuit.replace_connection(&self.limited.as_ref()?.open))
    }

    /// A place under `circuit`'s connection limit for a connection this
    /// pool does not keep (a TCP route's).
    pub(crate) fn connection_slot(&self, circuit: &Arc<Circuit>) -> Option<ConnectionSlot> {
        let slot = circuit.open_connection(&self.limited.as_ref()?.open);
        if slot.is_none() {
            circuit.overflowed();
        }
        slot
    }

    /// An idle connection if one is still usable, else a new one; at the
    /// cluster's connection limit, the first of those to free up.
    pub(crate) async fn get(
        &self,
        target: Target<'_>,
        connect_timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        // Connecting and HTTP/2 set-up are boxed: their futures are large
        // and rare, and would otherwise sit in every request's state.
        match target.protocol {
            AppProtocol::Http1 => {
                if let Some(conn) = self.take_idle(target.policy) {
                    return Ok(Connection::Http1(conn));
                }
                let circuit = target.policy.and_then(|p| p.circuit.as_ref());
                let conn = match (circuit, &self.limited) {
                    (Some(circuit), Some(limited)) => {
                        Box::pin(self.wait_http1(target, circuit, limited, connect_timeout)).await?
                    }
                    _ => Box::pin(connect_http1(target, connect_timeout)).await?,
                };
                Ok(Connection::Http1(conn))
            }
            AppProtocol::H2c => Box::pin(self.get_http2(target, connect_timeout)).await,
        }
    }

    /// At a connection limit: an idle connection, or a slot for a new
    /// one, whichever comes first, waiting in line (bounded) meanwhile.
    async fn wait_http1(
        &self,
        target: Target<'_>,
        circuit: &Arc<Circuit>,
        limited: &Limited,
        connect_timeout: Duration,
    ) -> Result<Box<UpstreamConn>, ConnectError> {
        let mut in_line = None;
        loop {
            // Registered before looking, so a release in between counts.
            let released = circuit.released();
            let mut released = std::pin::pin!(released);
            released.as_mut().enable();
            if let Some(conn) = self.take_idle(target.policy) {
                return Ok(conn);
            }
            if let Some(slot) = circuit.open_connection(&limited.open) {
                let mut conn = connect_http1(target, connect_timeout).await?;
                conn.slot = Some(slot);
                return Ok(conn);
            }
            if in_line.is_none() {
                in_line = Some(circuit.wait_in_line().map_err(ConnectError::Overflow)?);
            }
            released.await;
        }
    }

    /// The shared HTTP/2 connection once it is ready, made if need be
    /// (h2c, or h2 over TLS when the cluster originates it), or anew once
    /// it carried its share of streams or lived its time.
    async fn get_http2(
        &self,
        target: Target<'_>,
        connect_timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        if let Some(shared) = self.shared.load_full() {
            let used = shared.streams.fetch_add(1, Ordering::Relaxed);
            let current = target
                .policy
                .is_none_or(|policy| policy.reusable(used, shared.opened));
            let mut sender = shared.sender.clone();
            if current && !sender.is_closed() && sender.ready().await.is_ok() {
                return Ok(Connection::Http2(sender, shared.local));
            }
        }
        // Counted even past the limit: one HTTP/2 connection per endpoint
        // (as Envoy's pool keeps), replacing one that carried its share.
        let slot = self.replacement_slot(target.policy);
        let stream = connect_stream(target, connect_timeout).await?;
        let local = stream.local_address();
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake::<_, RequestBody>(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            // The connection counts against the limit while it lives.
            let _slot = slot;
            connection.await
        });
        self.shared.store(Some(Arc::new(SharedH2 {
            sender: sender.clone(),
            streams: AtomicU32::new(1),
            opened: Instant::now(),
            local,
        })));
        Ok(Connection::Http2(sender, local))
    }

    /// The most recently returned idle connection that is still usable;
    /// those found closed, or past their idle time or their age, on the
    /// way are dropped.
    fn take_idle(&self, policy: Option<&PoolPolicy>) -> Option<Box<UpstreamConn>> {
        let idle_timeout = policy.and_then(|p| p.idle_timeout);
        let max_age = policy.and_then(|p| p.max_connection_duration);
        let fresh = |conn: &mut Box<UpstreamConn>| {
            conn.is_usable()
                && idle_timeout
                    .is_none_or(|limit| conn.idle_since.is_none_or(|t| t.elapsed() < limit))
                && max_age.is_none_or(|limit| conn.opened.elapsed() < limit)
        };
        if let Some(limited) = &self.limited {
            while let Some(mut conn) = limited.idle.pop() {
                if fresh(&mut conn) {
                    return Some(conn);
                }
            }
            return None;
        }
        let mut idle = self.idle.get()?.borrow_mut();
        while let Some(mut conn) = idle.pop() {
            if fresh(&mut conn) {
                return Some(conn);
            }
        }
        None
    }

    /// Returns an HTTP/1.1 connection whose response has been fully read,
    /// unless it carried its share of requests or lived its time.
    pub(crate) fn put_back(&self, mut conn: Box<UpstreamConn>, policy: Option<&PoolPolicy>) {
        if let Some(policy) = policy {
            if !policy.reusable(conn.used, conn.opened) {
                return;
            }
            if policy.idle_timeout.is_some() {
                conn.idle_since = Some(Instant::now());
            }
        }
        if let Some(limited) = &self.limited {
            conn.release_buffers();
            // A full queue drops (closes) the connection, which frees its
            // slot (and wakes the waiters itself).
            if limited.idle.push(conn).is_ok() {
                if let Some(circuit) = policy.and_then(|p| p.circuit.as_ref()) {
                    circuit.release();
                }
            }
            return;
        }
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
/// originates TLS. The connect timeout (the cluster's, if it has one)
/// bounds both, as Envoy's does (a TLS connection is connected once its
/// handshake is done).
pub(crate) async fn connect_stream(
    target: Target<'_>,
    timeout: Duration,
) -> Result<UpstreamStream, ConnectError> {
    let timeout = target
        .policy
        .and_then(|p| p.connect_timeout)
        .unwrap_or(timeout);
    let keepalive = target.policy.and_then(|p| p.keepalive.as_ref());
    let Some(tls) = target.tls else {
        return Ok(UpstreamStream::Plain(
            connect(target, timeout, keepalive).await?,
        ));
    };
    let connecting = async {
        let stream = connect(target, timeout, keepalive).await?;
        Ok::<_, ConnectError>(tls.connect(stream).await?)
    };
    let stream = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| ConnectError::Timeout)??;
    Ok(UpstreamStream::Tls(Box::new(stream)))
}

async fn connect(
    target: Target<'_>,
    timeout: Duration,
    keepalive: Option<&TcpKeepalive>,
) -> Result<TcpStream, ConnectError> {
    let connecting = async {
        match (target.address, target.dns) {
            (EndpointAddress::Socket(address), _) => TcpStream::connect(address).await,
            // Each of the name's last good addresses in turn.
            (EndpointAddress::Dns { host, port }, Some(cache)) => {
                let addresses = cache.addresses(host, *port).await?;
                TcpStream::connect(addresses.as_slice()).await
            }
            (EndpointAddress::Dns { host, port }, None) => {
                TcpStream::connect((host.as_str(), *port)).await
            }
        }
    };
    let stream = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| ConnectError::Timeout)??;
    stream.set_nodelay(true)?;
    if let Some(keepalive) = keepalive {
        set_keepalive(&stream, keepalive)?;
    }
    Ok(stream)
}

/// SO_KEEPALIVE with the probes' timing, where given (Istio `tcpKeepalive`).
fn set_keepalive(stream: &TcpStream, keepalive: &TcpKeepalive) -> io::Result<()> {
    let mut settings = socket2::TcpKeepalive::new();
    if let Some(time) = keepalive.time {
        settings = settings.with_time(time);
    }
    if let Some(interval) = keepalive.interval {
        settings = settings.with_interval(interval);
    }
    if let Some(probes) = keepalive.probes {
        settings = settings.with_retries(probes);
    }
    socket2::SockRef::from(stream).set_tcp_keepalive(&settings)
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

    /// Istio `tcpKeepalive`: SO_KEEPALIVE with the probes' timing.
    #[tokio::test]
    async fn keepalive_settings_reach_the_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = EndpointAddress::Socket(listener.local_addr().unwrap());
        let policy = PoolPolicy {
            keepalive: Some(TcpKeepalive {
                probes: Some(3),
                time: Some(Duration::from_secs(60)),
                interval: Some(Duration::from_secs(10)),
            }),
            ..PoolPolicy::default()
        };
        let target = Target {
            address: &address,
            protocol: AppProtocol::Http1,
            tls: None,
            policy: Some(&policy),
            dns: None,
        };
        let stream = connect(target, Duration::from_secs(5), policy.keepalive.as_ref())
            .await
            .unwrap();
        let socket = socket2::SockRef::from(&stream);
        assert!(socket.keepalive().unwrap());
        assert_eq!(
            socket.tcp_keepalive_time().unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(
            socket.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), 3);
        // Without the setting, the system's default: off.
        let target = Target {
            policy: None,
            ..target
        };
        let plain = connect(target, Duration::from_secs(5), None).await.unwrap();
        assert!(!socket2::SockRef::from(&plain).keepalive().unwrap());
    }

    #[tokio::test]
    async fn the_connection_returned_last_is_taken_first() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Pool::default();
        let (first, first_addr) = connection_to(&listener).await;
        let (second, second_addr) = connection_to(&listener).await;
        let _accepted = (listener.accept().await, listener.accept().await);
        pool.put_back(first, None);
        pool.put_back(second, None);
        assert_eq!(
            pool.take_idle(None)
                .as_deref()
                .map(UpstreamConn::local_addr),
            Some(second_addr)
        );
        assert_eq!(
            pool.take_idle(None)
                .as_deref()
                .map(UpstreamConn::local_addr),
            Some(first_addr)
        );
        assert!(pool.take_idle(None).is_none());
    }

    /// A pool given, one by one, two more idle connections holding buffers
    /// than its top keeps buffers for (and the upstream's ends of them).
    async fn two_past_the_buffered_top() -> (Pool, Vec<(TcpStream, std::net::SocketAddr)>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Pool::default();
        let mut peers = Vec::new();
        for _ in 0..IDLE_WITH_BUFFERS + 2 {
            let (mut conn, _) = connection_to(&listener).await;
            peers.push(listener.accept().await.unwrap());
            conn.give_buffers();
            pool.put_back(conn, None);
        }
        (pool, peers)
    }

    #[tokio::test]
    async fn only_the_top_of_the_idle_stack_keeps_buffers() {
        let (pool, _peers) = two_past_the_buffered_top().await;
        let held: Vec<bool> = std::iter::from_fn(|| pool.take_idle(None))
            .map(|conn| conn.holds_buffers())
            .collect();
        // Taken top first.
        assert_eq!(held, [true, true, true, true, false, false]);
    }

    #[tokio::test]
    async fn a_buffer_given_up_waits_for_the_workers_next_read() {
        while crate::upstream::spare::take().is_some() {}
        let (_pool, _peers) = two_past_the_buffered_top().await;
        // The two that sank below the top gave theirs up to the worker.
        let spare = std::iter::from_fn(crate::upstream::spare::take).count();
        assert_eq!(spare, 2);
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
        pool.put_back(kept, None);
        pool.put_back(closed, None);
        assert_eq!(
            pool.take_idle(None)
                .as_deref()
                .map(UpstreamConn::local_addr),
            Some(kept_addr)
        );
        assert!(pool.take_idle(None).is_none(), "the closed one was dropped");
        drop(kept_peer);
    }
}
