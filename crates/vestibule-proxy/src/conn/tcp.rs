//! Whole connections to a backend: TCP listeners, and TLS listeners after
//! passthrough or termination. A route is picked by SNI, a backend by
//! weight, an endpoint as for HTTP; then bytes are copied both ways, each
//! direction closed on its own (half-close), until both are done or
//! nothing moved for the idle timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use vestibule_ir::{BackendKey, HostPattern, Listener};

use crate::telemetry::destination::TcpOutcome;
use crate::upstream::clusters::Cluster;
use crate::upstream::outlier::Outcome;
use crate::upstream::pool;
use crate::Shared;

/// A connection route with its clusters resolved.
pub(crate) struct StreamRouteRuntime {
    pub name: String,
    names: Vec<HostPattern>,
    /// `(cluster, cumulative weight)`; `None`: an invalid reference.
    targets: Vec<(Option<Arc<Cluster>>, u32)>,
}

impl StreamRouteRuntime {
    pub(crate) fn build(
        listener: &Listener,
        clusters: &HashMap<BackendKey, Arc<Cluster>>,
    ) -> Vec<StreamRouteRuntime> {
        listener
            .stream_routes
            .iter()
            .map(|route| {
                let mut until = 0u32;
                let targets = route
                    .backends
                    .iter()
                    .map(|backend| {
                        until = until.saturating_add(backend.weight);
                        let cluster = backend.backend.as_ref().and_then(|key| clusters.get(key));
                        (cluster.cloned(), until)
                    })
                    .collect();
                StreamRouteRuntime {
                    name: route.name.clone(),
                    names: route.server_names.clone(),
                    targets,
                }
            })
            .collect()
    }

    /// The first route whose names take `sni` (a route without names takes
    /// every connection).
    pub(crate) fn pick<'r>(
        routes: &'r [StreamRouteRuntime],
        sni: Option<&str>,
    ) -> Option<&'r StreamRouteRuntime> {
        let sni = sni.map(|sni| sni.trim_end_matches('.').to_ascii_lowercase());
        routes.iter().find(|route| {
            route.names.is_empty()
                || sni
                    .as_deref()
                    .is_some_and(|sni| route.names.iter().any(|name| name.matches(sni)))
        })
    }

    fn pick_cluster(&self) -> Option<&Arc<Cluster>> {
        let total = self.targets.last().map_or(0, |(_, until)| *until);
        if total == 0 {
            return None;
        }
        let point = fastrand::u32(..total);
        self.targets
            .iter()
            .find(|(_, until)| point < *until)
            .and_then(|(cluster, _)| cluster.as_ref())
    }
}

/// Why a connection got no upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    #[error("no route for the connection")]
    NoRoute,
    #[error("no healthy upstream")]
    NoHealthyUpstream,
    /// The cluster's connection limit (Istio `tcp.maxConnections`).
    #[error("upstream overflow")]
    Overflow,
    #[error("upstream connect failure: {0}")]
    Connect(#[from] pool::ConnectError),
}

/// Connects `downstream` to an endpoint of `route` and copies until done.
pub(crate) async fn proxy<S>(
    mut downstream: S,
    route: Option<&StreamRouteRuntime>,
    shared: &Shared,
) -> Result<(), StreamError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let route = route.ok_or(StreamError::NoRoute)?;
    let cluster = route.pick_cluster().ok_or(StreamError::NoHealthyUpstream)?;
    let stats = &cluster.stats;
    let Some(endpoint) = cluster.pick(&cluster.endpoints(), &[], None) else {
        stats.tcp_opened(TcpOutcome::NoHealthyUpstream);
        stats.tcp_closed(TcpOutcome::NoHealthyUpstream, 0, 0);
        return Err(StreamError::NoHealthyUpstream);
    };
    // The cluster's limits hold for connections as for requests.
    let overflow = || {
        stats.tcp_opened(TcpOutcome::Overflow);
        stats.tcp_closed(TcpOutcome::Overflow, 0, 0);
        StreamError::Overflow
    };
    let _slot = match cluster.circuit() {
        Some(circuit) => Some(
            endpoint
                .pool
                .connection_slot(circuit)
                .ok_or_else(overflow)?,
        ),
        None => None,
    };
    let _active = endpoint.start_request().map_err(|_| overflow())?;
    // TLS to the backend when its DestinationRule or BackendTLSPolicy asks.
    let connected = pool::connect_stream(endpoint.target(), shared.config.connect_timeout).await;
    let mut upstream = match connected {
        Ok(upstream) => upstream,
        Err(error) => {
            cluster.record(&endpoint, Outcome::LocalFailure);
            shared
                .counters
                .stream_connect_failures
                .fetch_add(1, Ordering::Relaxed);
            stats.tcp_opened(TcpOutcome::ConnectFailure);
            stats.tcp_closed(TcpOutcome::ConnectFailure, 0, 0);
            return Err(error.into());
        }
    };
    cluster.record(&endpoint, Outcome::Connected);
    stats.tcp_opened(TcpOutcome::Connected);
    // Istio `tcp.idleTimeout`, else the gateway's.
    let idle = endpoint
        .policy
        .as_ref()
        .and_then(|policy| policy.tcp_idle_timeout)
        .unwrap_or(shared.config.idle_timeout);
    let moved = copy_until_idle(&mut downstream, &mut upstream, idle).await;
    stats.tcp_closed(TcpOutcome::Connected, moved.written, moved.read);
    Ok(())
}

/// Bytes through the client's side of a connection.
#[derive(Debug, Default)]
struct Moved {
    /// From the client.
    read: u64,
    /// To the client.
    written: u64,
}

/// `copy_bidirectional` (which half-closes each direction when its reader
/// ends), stopped when no byte moved either way for `idle`; returns what
/// moved through `a`.
async fn copy_until_idle<A, B>(a: &mut A, b: &mut B, idle: Duration) -> Moved
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (read, written) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut a = Counted {
        inner: a,
        read: &read,
        written: &written,
    };
    let moved = || Moved {
        read: read.load(Ordering::Relaxed),
        written: written.load(Ordering::Relaxed),
    };
    let copy = tokio::io::copy_bidirectional(&mut a, b);
    tokio::pin!(copy);
    let tick = (idle / 8).max(Duration::from_millis(10));
    let mut seen = 0;
    let mut quiet = Duration::ZERO;
    loop {
        tokio::select! {
            result = copy.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection copy ended");
                }
                return moved();
            }
            () = tokio::time::sleep(tick) => {
                let now = read.load(Ordering::Relaxed) + written.load(Ordering::Relaxed);
                quiet = if now == seen { quiet + tick } else { Duration::ZERO };
                seen = now;
                if quiet >= idle {
                    tracing::debug!(?idle, "connection idle; closed");
                    return moved();
                }
            }
        }
    }
}

/// Counts the bytes read and written through one side.
struct Counted<'a, S> {
    inner: &'a mut S,
    read: &'a AtomicU64,
    written: &'a AtomicU64,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<'_, S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut *self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.read.fetch_add(read as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<'_, S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut *self.inner).poll_write(cx, data);
        if let std::task::Poll::Ready(Ok(written)) = polled {
            self.written.fetch_add(written as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}
