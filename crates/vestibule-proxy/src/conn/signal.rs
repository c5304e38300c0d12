//! What a listener tells its connections: a tick count that advances
//! `IDLE_TICKS` times per idle timeout, or `DRAIN`. One shared clock instead
//! of a timer per connection, and a `Notify` rather than a `watch` channel
//! (64 bytes of waiting state rather than 120): every idle connection
//! carries this wait, so its size is the connection's memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

pub(crate) const DRAIN: u64 = u64::MAX;
pub(crate) const IDLE_TICKS: u64 = 8;

#[derive(Debug, Default)]
pub(crate) struct ListenerSignal {
    state: AtomicU64,
    notify: Notify,
    /// Connections the listener accepted.
    accepted: AtomicU64,
    /// TLS handshakes completed, and failed (no ClientHello, no server for
    /// the SNI, a refused client certificate).
    handshakes: AtomicU64,
    handshake_failures: AtomicU64,
}

impl ListenerSignal {
    pub(crate) fn new() -> Arc<ListenerSignal> {
        Arc::default()
    }

    pub(crate) fn count_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub(crate) fn count_handshake(&self, completed: bool) {
        let counter = if completed {
            &self.handshakes
        } else {
            &self.handshake_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(completed, failed)` TLS handshakes.
    pub(crate) fn handshakes(&self) -> (u64, u64) {
        (
            self.handshakes.load(Ordering::Relaxed),
            self.handshake_failures.load(Ordering::Relaxed),
        )
    }

    /// Advances the clock; a drained signal stays drained.
    pub(crate) fn tick(&self) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now != DRAIN).then(|| now + 1)
            });
        self.notify.notify_waiters();
    }

    pub(crate) fn drain(&self) {
        self.state.store(DRAIN, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub(crate) fn now(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn draining(&self) -> bool {
        self.now() == DRAIN
    }

    /// Notified on every tick and on the drain. Callers enable their
    /// `Notified` before reading the state, so no notification is lost.
    pub(crate) fn notify(&self) -> &Notify {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_advance_the_clock_but_never_undo_a_drain() {
        let signal = ListenerSignal::new();
        signal.tick();
        signal.tick();
        assert_eq!(signal.now(), 2);
        assert!(!signal.draining());
        signal.drain();
        signal.tick();
        assert!(
            signal.draining(),
            "a tick after the drain wrapped the clock"
        );
    }
}
