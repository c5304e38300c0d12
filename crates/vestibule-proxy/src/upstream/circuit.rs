//! Envoy's circuit breakers, from Istio's `connectionPool`: counts of the
//! connections, waiting requests, requests and retries a cluster has in
//! flight, each checked against its limit before one more starts. Past a
//! limit the request is answered 503 with `x-envoy-overloaded` at once
//! (`UO`), rather than queued without bound behind a failing upstream.
//!
//! Only clusters with a limit have a `Circuit`: the others pay nothing.
//! Counts are atomics, taken with a compare-and-swap that never passes the
//! limit, and given back by guards on drop.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;
use vestibule_ir::ConnectionPool;

use crate::telemetry::destination::{DestinationStats, UpstreamCounters};

/// A cluster's limits and what is in flight against them.
#[derive(Debug)]
pub(crate) struct Circuit {
    max_connections: u32,
    max_pending: u32,
    max_requests: u32,
    max_retries: u32,
    connections: AtomicU32,
    pending: AtomicU32,
    requests: AtomicU32,
    retries: AtomicU32,
    /// Told whenever a connection goes idle or closes: a waiting request
    /// looks again.
    released: Notify,
    stats: Arc<DestinationStats>,
}

/// Which limit a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// No connection could be had and the queue for one is full.
    Pending,
    /// Too many requests in flight.
    Requests,
}

impl Circuit {
    /// `None` when `pool` sets no limit.
    pub(crate) fn new(pool: &ConnectionPool, stats: Arc<DestinationStats>) -> Option<Circuit> {
        pool.limits().then(|| Circuit {
            max_connections: pool.max_connections.unwrap_or(u32::MAX),
            max_pending: pool.max_pending_requests.unwrap_or(u32::MAX),
            max_requests: pool.max_requests.unwrap_or(u32::MAX),
            max_retries: pool.max_retries.unwrap_or(u32::MAX),
            connections: AtomicU32::new(0),
            pending: AtomicU32::new(0),
            requests: AtomicU32::new(0),
            retries: AtomicU32::new(0),
            released: Notify::new(),
            stats,
        })
    }

    /// One more request in flight, if the limit allows; given back with
    /// [`Circuit::end_request`].
    pub(crate) fn start_request(&self) -> Result<(), Overflow> {
        if take(&self.requests, self.max_requests) {
            Ok(())
        } else {
            UpstreamCounters::count(&self.stats.upstream.pending_overflows);
            Err(Overflow::Requests)
        }
    }

    pub(crate) fn end_request(&self) {
        self.requests.fetch_sub(1, Ordering::AcqRel);
    }

    /// One more connection to an endpoint with `endpoint_open` open, if
    /// the limit allows, or if the endpoint has none at all (Envoy: a pool
    /// with no connection makes one past the limit, so that no request
    /// waits for connections that other endpoints hold). Not counted as an
    /// overflow: the caller counts once per request ([`Circuit::overflowed`]).
    pub(crate) fn open_connection(
        self: &Arc<Self>,
        endpoint_open: &Arc<AtomicU32>,
    ) -> Option<ConnectionSlot> {
        if !take(&self.connections, self.max_connections) {
            if endpoint_open.load(Ordering::Acquire) > 0 {
                return None;
            }
            self.connections.fetch_add(1, Ordering::AcqRel);
        }
        Some(self.slot(endpoint_open))
    }

    /// A connection counted even past the limit: one that replaces a
    /// counted one (a stale HTTP/1.1 connection, an HTTP/2 connection that
    /// carried its share), so that none goes uncounted.
    pub(crate) fn replace_connection(
        self: &Arc<Self>,
        endpoint_open: &Arc<AtomicU32>,
    ) -> ConnectionSlot {
        if !take(&self.connections, self.max_connections) {
            self.connections.fetch_add(1, Ordering::AcqRel);
        }
        self.slot(endpoint_open)
    }

    fn slot(self: &Arc<Self>, endpoint_open: &Arc<AtomicU32>) -> ConnectionSlot {
        endpoint_open.fetch_add(1, Ordering::AcqRel);
        ConnectionSlot {
            circuit: Arc::clone(self),
            endpoint_open: Arc::clone(endpoint_open),
        }
    }

    /// A request found the connection limit reached
    /// (`upstream_cx_overflow`, once per request).
    pub(crate) fn overflowed(&self) {
        UpstreamCounters::count(&self.stats.upstream.connection_overflows);
    }

    /// A place in the queue for a connection, if the limit allows.
    pub(crate) fn wait_in_line(&self) -> Result<Pending<'_>, Overflow> {
        if take(&self.pending, self.max_pending) {
            Ok(Pending(self))
        } else {
            UpstreamCounters::count(&self.stats.upstream.pending_overflows);
            Err(Overflow::Pending)
        }
    }

    /// One more retry in flight, if the limit allows.
    pub(crate) fn start_retry(self: &Arc<Self>) -> Option<RetrySlot> {
        if take(&self.retries, self.max_retries) {
            Some(RetrySlot(Arc::clone(self)))
        } else {
            UpstreamCounters::count(&self.stats.upstream.retry_overflows);
            None
        }
    }

    /// Wakes every request waiting for a connection: each looks again at
    /// its own endpoint (one `Notify` serves the cluster, whose endpoints
    /// each have their own idle queue, so waking one could wake the wrong
    /// one). Waiters register before they look, so none misses a release.
    pub(crate) fn release(&self) {
        self.released.notify_waiters();
    }

    /// Resolves once a connection went idle or closed since the call
    /// (registered before the caller looks again, so none is missed).
    pub(crate) fn released(&self) -> tokio::sync::futures::Notified<'_> {
        self.released.notified()
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> [u32; 4] {
        [
            &self.connections,
            &self.pending,
            &self.requests,
            &self.retries,
        ]
        .map(|count| count.load(Ordering::Acquire))
    }
}

/// Adds one to `count` unless it is at `limit`.
fn take(count: &AtomicU32, limit: u32) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
}

/// An open connection's place under the limit, given back when it closes.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    circuit: Arc<Circuit>,
    endpoint_open: Arc<AtomicU32>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.endpoint_open.fetch_sub(1, Ordering::AcqRel);
        self.circuit.connections.fetch_sub(1, Ordering::AcqRel);
        self.circuit.release();
    }
}

/// A request waiting for a connection.
pub(crate) struct Pending<'a>(&'a Circuit);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A retry in flight.
#[derive(Debug)]
pub(crate) struct RetrySlot(Arc<Circuit>);

impl Drop for RetrySlot {
    fn drop(&mut self) {
        self.0.retries.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> Arc<DestinationStats> {
        let backend = vestibule_ir::Backend {
            key: "outbound|80||a".to_owned(),
            host: "a".to_owned(),
            port: 80,
            protocol: vestibule_ir::AppProtocol::Http1,
            load_balancer: Default::default(),
            consistent_hash: None,
            warmup: None,
            tls: None,
            subset: None,
            connection_pool: ConnectionPool::default(),
            outlier_detection: None,
        };
        Arc::new(DestinationStats::new(
            crate::telemetry::labels::DestinationLabels::of(&backend.key, &backend),
        ))
    }

    fn circuit(pool: ConnectionPool) -> Arc<Circuit> {
        Arc::new(Circuit::new(&pool, stats()).expect("limits"))
    }

    #[test]
    fn no_limit_no_circuit() {
        assert!(Circuit::new(&ConnectionPool::default(), stats()).is_none());
        let timeouts_only = ConnectionPool {
            max_requests_per_connection: Some(1),
            ..ConnectionPool::default()
        };
        assert!(Circuit::new(&timeouts_only, stats()).is_none());
    }

    #[test]
    fn each_limit_holds_and_slots_come_back() {
        let circuit = circuit(ConnectionPool {
            max_connections: Some(1),
            max_pending_requests: Some(1),
            max_requests: Some(2),
            max_retries: Some(1),
            ..ConnectionPool::default()
        });
        let endpoint = Arc::default();
        let slot = circuit
            .open_connection(&endpoint)
            .expect("first connection");
        assert!(circuit.open_connection(&endpoint).is_none());
        circuit.overflowed();
        // Another endpoint without a connection gets one past the limit.
        let other = Arc::default();
        let past = circuit
            .open_connection(&other)
            .expect("first of its endpoint");
        assert!(circuit.open_connection(&other).is_none());
        // A replacement is counted, past the limit or not.
        let replacement = circuit.replace_connection(&endpoint);
        assert_eq!(circuit.in_flight()[0], 3);
        drop((past, replacement));
        let pending = circuit.wait_in_line().expect("first in line");
        assert_eq!(circuit.wait_in_line().err(), Some(Overflow::Pending));
        assert!(circuit.start_request().is_ok());
        assert!(circuit.start_request().is_ok());
        assert_eq!(circuit.start_request(), Err(Overflow::Requests));
        let retry = circuit.start_retry().expect("first retry");
        assert!(circuit.start_retry().is_none());
        assert_eq!(circuit.in_flight(), [1, 1, 2, 1]);
        drop((slot, pending, retry));
        circuit.end_request();
        circuit.end_request();
        assert_eq!(circuit.in_flight(), [0, 0, 0, 0]);
        let counters = &circuit.stats.upstream;
        assert_eq!(counters.pending_overflows.load(Ordering::Relaxed), 2);
        assert_eq!(counters.connection_overflows.load(Ordering::Relaxed), 1);
        assert_eq!(counters.retry_overflows.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_closed_connection_wakes_a_waiter() {
        let circuit = circuit(ConnectionPool {
            max_connections: Some(1),
            ..ConnectionPool::default()
        });
        let endpoint: Arc<AtomicU32> = Arc::default();
        let slot = circuit.open_connection(&endpoint).unwrap();
        let waiter = {
            let circuit = Arc::clone(&circuit);
            tokio::spawn(async move {
                loop {
                    let released = circuit.released();
                    if let Some(slot) = circuit.open_connection(&endpoint) {
                        return slot;
                    }
                    released.await;
                }
            })
        };
        tokio::task::yield_now().await;
        drop(slot);
        let reopened = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        drop(reopened);
    }
}
