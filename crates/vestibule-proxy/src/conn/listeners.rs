//! The listener reconciler: binds exactly the ports the configuration asks
//! for (through the port map), drains ports no longer asked for, and
//! reports ports it could not bind while the others keep serving. With
//! worker threads, each port has one accepting socket per worker.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::HeaderValue;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vestibule_ir::ListenerProtocol;

use super::accept::{Accepted, Acceptor};
use super::workers::Workers;
use super::{serve, ListenerSignal, IDLE_TICKS};
use crate::request::{ConnAddresses, ConnInfo, Peer};
use crate::Shared;

/// What happened to one configured listener port.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ListenerState {
    /// The port the configuration names.
    pub port: u16,
    /// Where it is actually bound, once bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Connections accepted since it was bound (Envoy's
    /// `listener.downstream_cx_total`).
    pub accepted_connections: u64,
    /// Connections open now, WebSocket tunnels included
    /// (`listener.downstream_cx_active`).
    pub active_connections: usize,
    /// TLS handshakes completed (`listener.ssl.handshake`).
    pub tls_handshakes: u64,
    /// TLS handshakes that failed (`listener.ssl.connection_error`).
    pub tls_handshake_failures: u64,
    /// Connections per worker thread, each accepting on its own socket
    /// (Envoy's `listener.worker_N.downstream_cx_*`); empty without workers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerConnections>,
}

/// One worker's share of a listener's connections.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerConnections {
    pub accepted_connections: u64,
    pub active_connections: usize,
}

struct Running {
    address: SocketAddr,
    /// Whether its sockets defer accepting (`Acceptor::defer`): the port's
    /// protocol has the client speak first.
    deferred: bool,
    /// Its sockets, one per accept loop, for `deferred` to follow a change
    /// of the port's protocol.
    acceptors: Vec<Arc<Acceptor>>,
    stop: CancellationToken,
    /// One accept loop per worker (one on the caller's runtime without).
    tasks: Vec<JoinHandle<()>>,
    /// The accept loops' signals.
    signals: Signals,
}

/// The signals of one port's accept loops. Every open connection holds its
/// loop's signal: the counts are the listener's open connections. Weak: the
/// drain waits for each count to fall to its loop's own.
type Signals = Arc<[Weak<ListenerSignal>]>;

#[derive(Default)]
pub(crate) struct Listeners {
    running: Mutex<BTreeMap<u16, Running>>,
    failed: Mutex<BTreeMap<u16, String>>,
    /// Listeners being drained after removal, awaited on shutdown.
    draining: Mutex<Vec<JoinHandle<()>>>,
    /// Where accept loops run; `None`: on the caller's runtime.
    workers: Option<Workers>,
}

impl Listeners {
    pub(crate) fn new(workers: Option<Workers>) -> Listeners {
        Listeners {
            workers,
            ..Listeners::default()
        }
    }

    pub(crate) fn reconcile(&self, shared: &Arc<Shared>, wanted: &[(u16, ListenerProtocol)]) {
        let mut running = self.running.lock().expect("listeners poisoned");
        let mut failed = self.failed.lock().expect("listeners poisoned");
        let removed: Vec<u16> = running
            .keys()
            .filter(|port| !wanted.iter().any(|(wanted, _)| wanted == *port))
            .copied()
            .collect();
        for port in removed {
            if let Some(listener) = running.remove(&port) {
                tracing::info!(port, address = %listener.address, "listener removed; draining");
                listener.stop.cancel();
                self.draining
                    .lock()
                    .expect("listeners poisoned")
                    .extend(listener.tasks);
            }
        }
        failed.retain(|port, _| wanted.iter().any(|(wanted, _)| wanted == port));
        for &(port, protocol) in wanted {
            let deferred = protocol.client_speaks_first();
            if let Some(listener) = running.get_mut(&port) {
                listener.follow(deferred);
                continue;
            }
            let workers = self.workers.as_ref().map_or(&[][..], Workers::handles);
            match bind(shared, port, deferred, workers) {
                Ok(listener) => {
                    tracing::info!(port, address = %listener.address, "listener bound");
                    failed.remove(&port);
                    running.insert(port, listener);
                }
                Err(error) => {
                    tracing::error!(port, %error, "cannot bind listener");
                    failed.insert(port, error);
                }
            }
        }
    }

    pub(crate) fn states(&self) -> Vec<ListenerState> {
        let running = self.running.lock().expect("listeners poisoned");
        let failed = self.failed.lock().expect("listeners poisoned");
        let mut states: Vec<ListenerState> = running
            .iter()
            .map(|(port, listener)| {
                let mut state = ListenerState {
                    port: *port,
                    address: Some(listener.address),
                    error: None,
                    accepted_connections: 0,
                    active_connections: 0,
                    tls_handshakes: 0,
                    tls_handshake_failures: 0,
                    workers: Vec::new(),
                };
                let per_worker = self.workers.is_some();
                for signal in listener.signals.iter().filter_map(Weak::upgrade) {
                    let (completed, failed) = signal.handshakes();
                    let worker = WorkerConnections {
                        accepted_connections: signal.accepted(),
                        // Less the accept loop's reference and this one.
                        active_connections: Arc::strong_count(&signal).saturating_sub(2),
                    };
                    state.tls_handshakes += completed;
                    state.tls_handshake_failures += failed;
                    state.accepted_connections += worker.accepted_connections;
                    state.active_connections += worker.active_connections;
                    if per_worker {
                        state.workers.push(worker);
                    }
                }
                state
            })
            .chain(failed.iter().map(|(port, error)| ListenerState {
                port: *port,
                address: None,
                error: Some(error.clone()),
                accepted_connections: 0,
                active_connections: 0,
                tls_handshakes: 0,
                tls_handshake_failures: 0,
                workers: Vec::new(),
            }))
            .collect();
        states.sort_by_key(|state| state.port);
        states
    }

    /// Stops accepting everywhere and waits for every connection to finish
    /// (each listener enforces the drain deadline).
    pub(crate) async fn shutdown(&self) {
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        for (_, listener) in std::mem::take(&mut *self.running.lock().expect("listeners poisoned"))
        {
            listener.stop.cancel();
            tasks.extend(listener.tasks);
        }
        tasks.append(&mut self.draining.lock().expect("listeners poisoned"));
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// Client connections open in this process, over every listener. A static
/// rather than a field of the data plane: the connection's guard then
/// needs no pointer, and idle connections are counted by the byte.
pub(crate) static OPEN_CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// A client connection counted open, overall, while it lives (the
/// listener's own count is its signal's: every open connection, and every
/// WebSocket tunnel it became, holds the signal).
#[derive(Debug)]
pub(crate) struct OpenConnection(());

impl OpenConnection {
    /// One more open connection, unless that passes the overall or the
    /// listener's limit (over all its accept loops: with workers, two of
    /// them admitting at the same instant may pass it by one each).
    fn admit(shared: &Shared, signals: &Signals) -> Option<OpenConnection> {
        let config = &shared.config;
        if config
            .max_connections_per_listener
            .is_some_and(|limit| open_on(signals) >= limit)
        {
            return None;
        }
        // Counted first, then checked: concurrent accepts on other
        // listeners cannot both pass the last place.
        let open = OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
        let admitted = OpenConnection(());
        (open <= config.max_connections).then_some(admitted)
    }
}

/// Connections open on a listener: each signal's count, less its accept
/// loop's reference and the one taken here to read it.
fn open_on(signals: &Signals) -> usize {
    signals
        .iter()
        .filter_map(Weak::upgrade)
        .map(|signal| Arc::strong_count(&signal).saturating_sub(2))
        .sum()
}

/// What keeps a connection counted under the connection limits: its
/// place overall, and the listener's signal (the listener's count). Shared
/// with the WebSocket tunnel the connection may become, which outlives the
/// connection's task.
#[derive(Debug)]
pub(crate) struct ConnectionHold {
    _open: OpenConnection,
    pub(crate) signal: Arc<ListenerSignal>,
}

impl ConnectionHold {
    pub(crate) fn new(open: OpenConnection, signal: Arc<ListenerSignal>) -> Arc<ConnectionHold> {
        Arc::new(ConnectionHold {
            _open: open,
            signal,
        })
    }
}

#[cfg(test)]
impl OpenConnection {
    pub(crate) fn for_tests() -> OpenConnection {
        OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        OpenConnection(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts serving an accepted connection as its listener's kind says
/// (looked up in the current snapshot, so a port whose kind changes needs
/// no rebinding).
fn dispatch(
    stream: Accepted,
    port: u16,
    peer: SocketAddr,
    peer_ip: HeaderValue,
    shared: &Arc<Shared>,
    signal: &Arc<ListenerSignal>,
    open: OpenConnection,
) {
    let protocol = shared
        .snapshot
        .load()
        .listener(port)
        .map_or(ListenerProtocol::Http, |listener| {
            listener.listener().protocol
        });
    let (shared, signal) = (Arc::clone(shared), Arc::clone(signal));
    // No `set_nodelay` here: the server sets it once the connection is
    // kept alive, or for a response written in several pieces.
    // The ends are asked of the socket only for the access log.
    let addresses = shared.telemetry.logging().then(|| {
        Box::new(ConnAddresses::new(
            stream.local_addr().unwrap_or(peer),
            peer,
        ))
    });
    let conn = || ConnInfo {
        port,
        tls: false,
        peer: Box::new(Peer {
            ip: peer_ip,
            addresses,
        }),
    };
    match protocol {
        ListenerProtocol::Http => {
            tokio::spawn(crate::server::h1::serve(
                stream,
                conn(),
                shared,
                signal,
                open,
            ));
        }
        ListenerProtocol::Https => spawn_registered(stream, |stream| {
            serve::https(stream, conn(), shared, signal, open)
        }),
        ListenerProtocol::Tls => spawn_registered(stream, |stream| {
            serve::tls(stream, conn(), shared, signal, open)
        }),
        ListenerProtocol::Tcp => spawn_registered(stream, |stream| {
            serve::tcp(stream, port, shared, signal, open)
        }),
    }
}

/// Spawns `serve` on the connection registered with the reactor now: TLS
/// and TCP proxying wait on the socket from the start.
fn spawn_registered<F>(stream: Accepted, serve: impl FnOnce(TcpStream) -> F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    match stream.registered() {
        Ok(stream) => {
            tokio::spawn(serve(stream));
        }
        Err(error) => tracing::debug!(%error, "accepted connection not registered; closed"),
    }
}

impl Running {
    /// Defers accepting as `deferred` says, when the port's protocol changed
    /// which side speaks first. A socket that cannot keeps what it had: its
    /// connections are served either way, only later or sooner.
    fn follow(&mut self, deferred: bool) {
        if self.deferred == deferred {
            return;
        }
        for acceptor in &self.acceptors {
            if let Err(error) = acceptor.defer(deferred) {
                tracing::warn!(address = %self.address, %error, "cannot change deferred accepting");
            }
        }
        self.deferred = deferred;
    }
}

/// Binds `port`: one socket and accept loop per worker, or one on the
/// caller's runtime when there are no workers. `deferred`: connections are
/// accepted once they have sent bytes.
fn bind(
    shared: &Arc<Shared>,
    port: u16,
    deferred: bool,
    workers: &[Handle],
) -> Result<Running, String> {
    let local_port = shared.config.port_map.get(&port).copied().unwrap_or(port);
    let wanted = SocketAddr::new(shared.config.bind_address, local_port);
    let shared_port = workers.len() > 1;
    let first =
        bind_socket(wanted, shared_port).map_err(|error| format!("bind {wanted}: {error}"))?;
    // Port 0 picked a free port: the other workers' sockets join that one.
    let address = first.local_addr().map_err(|error| error.to_string())?;
    let mut sockets = vec![first];
    for _ in 1..workers.len() {
        sockets
            .push(bind_socket(address, true).map_err(|error| format!("bind {address}: {error}"))?);
    }
    let stop = CancellationToken::new();
    let loops: Vec<Arc<ListenerSignal>> = sockets.iter().map(|_| ListenerSignal::new()).collect();
    let signals: Signals = loops.iter().map(Arc::downgrade).collect();
    let mut tasks = Vec::with_capacity(sockets.len());
    let mut acceptors = Vec::with_capacity(sockets.len());
    for (index, (socket, signal)) in sockets.into_iter().zip(loops).enumerate() {
        let runtime = workers.get(index).cloned().unwrap_or_else(Handle::current);
        // A socket is registered with the reactor of the runtime current
        // when it is converted: the worker's, which polls it.
        let listener = {
            let _entered = runtime.enter();
            Arc::new(Acceptor::new(socket).map_err(|error| error.to_string())?)
        };
        listener
            .defer(deferred)
            .map_err(|error| format!("defer accepting on {address}: {error}"))?;
        acceptors.push(Arc::clone(&listener));
        tasks.push(runtime.spawn(accept_loop(
            listener,
            port,
            Arc::clone(shared),
            stop.clone(),
            signal,
            Arc::clone(&signals),
        )));
    }
    Ok(Running {
        address,
        deferred,
        acceptors,
        stop,
        tasks,
        signals,
    })
}

/// A listening socket; `shared_port`: other sockets of this process bind the
/// same address (`SO_REUSEPORT`), and the kernel spreads connections over them.
fn bind_socket(address: SocketAddr, shared_port: bool) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // Lets a restarted gateway bind while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if shared_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The last client address an accept loop formatted, as a header value
/// (`x-forwarded-for`): behind a load balancer or a NAT most connections
/// come from one address, and a hit is a reference count, not a format
/// and an allocation.
#[derive(Default)]
struct LastPeer(Option<(IpAddr, HeaderValue)>);

impl LastPeer {
    fn value(&mut self, ip: IpAddr) -> HeaderValue {
        match &self.0 {
            Some((last, value)) if *last == ip => value.clone(),
            _ => {
                let value = crate::request::headers::peer_value(ip);
                self.0 = Some((ip, value.clone()));
                value
            }
        }
    }
}

async fn accept_loop(
    listener: Arc<Acceptor>,
    port: u16,
    shared: Arc<Shared>,
    stop: CancellationToken,
    // Every connection holds the signal: ticks drive idle timeouts, the
    // drain asks them to finish; when only this reference is left, all are
    // gone.
    signal: Arc<ListenerSignal>,
    // The signals of the port's accept loops, this one's among them: the
    // listener's connection limit counts all of them.
    siblings: Signals,
) {
    let tick = (shared.config.idle_timeout / IDLE_TICKS as u32).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One waiter for the whole loop: made anew per accept, it joined and
    // left the token's waiter list (a lock each) for every connection.
    let cancelled = stop.cancelled();
    tokio::pin!(cancelled);
    let mut last_peer = LastPeer::default();
    loop {
        // Accepting first: the stop token and the ticks are polled only when
        // no connection is waiting (each poll of the token takes its lock,
        // once per accepted connection otherwise). A burst ends in a wait
        // within Tokio's budget of 128 operations, so neither is starved.
        let accepted = tokio::select! {
            biased;
            accepted = listener.accept() => accepted,
            () = &mut cancelled => break,
            _ = ticks.tick() => {
                signal.tick();
                continue;
            }
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(port, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        signal.count_accepted();
        let Some(open) = OpenConnection::admit(&shared, &siblings) else {
            // Envoy's overflow: the new connection is closed at once, the
            // accepted ones keep being served.
            shared
                .counters
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(port, %peer, "connection limit reached; connection refused");
            drop(stream);
            continue;
        };
        let peer_ip = last_peer.value(peer.ip());
        dispatch(stream, port, peer, peer_ip, &shared, &signal, open);
    }
    drop(listener);
    signal.drain();
    let deadline = shared.config.drain_timeout;
    let all_closed = async {
        while Arc::strong_count(&signal) > 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(deadline, all_closed).await.is_err() {
        tracing::warn!(
            port,
            ?deadline,
            "drain deadline passed; closing remaining connections"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::LastPeer;
    use std::net::IpAddr;

    #[test]
    fn the_last_peer_is_formatted_once_and_a_new_one_replaces_it() {
        let mut last = LastPeer::default();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let first = last.value(a);
        assert_eq!(first, "192.0.2.7");
        // The same bytes, shared: a hit does not format again.
        assert_eq!(last.value(a).as_bytes().as_ptr(), first.as_bytes().as_ptr());
        assert_eq!(last.value(b), "2001:db8::1");
        assert_eq!(last.value(a), "192.0.2.7");
    }
}
