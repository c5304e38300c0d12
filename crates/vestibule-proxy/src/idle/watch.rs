//! The stream idle timeout of upstream HTTP/1.1 exchanges, without a timer
//! per request: each connection has a [`Watch`] that its reads and writes
//! stamp with a coarse clock (two relaxed atomics), and one sweeper per
//! process, ticking eight times per limit, expires and wakes the exchanges
//! whose stamp is a whole limit old.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::AsyncWrite;

use super::{limit, StreamIdle};

/// Sweeper ticks per limit: a watched exchange expires between 8 and 9
/// ticks after it last moved.
const TICKS_PER_LIMIT: u64 = 8;
/// The sweeper's clock, in ticks since it started.
static TICKS: AtomicU64 = AtomicU64::new(1);
/// Whether the sweeper runs (once per process); watches register only then.
static SWEEPING: AtomicBool = AtomicBool::new(false);
/// A [`Watch`] stamp meaning "resting" (not in an exchange).
const RESTING: u64 = 0;
/// A [`Watch`] stamp meaning "expired".
const EXPIRED: u64 = u64::MAX;

/// Every live connection's watch, for the sweeper. Locked when a connection
/// is made and on each sweep, never per request.
static WATCHES: Mutex<Vec<Weak<Watch>>> = Mutex::new(Vec::new());

/// An upstream connection's idle state: when its exchange last moved.
#[derive(Debug)]
pub(crate) struct Watch {
    /// The tick of the last movement, [`RESTING`] or [`EXPIRED`].
    stamp: AtomicU64,
    waker: AtomicWaker,
}

impl Watch {
    /// A resting watch, registered with the sweeper if one runs.
    pub(crate) fn new() -> Arc<Watch> {
        let watch = Arc::new(Watch {
            stamp: AtomicU64::new(RESTING),
            waker: AtomicWaker::new(),
        });
        if SWEEPING.load(Ordering::Relaxed) {
            let mut watches = WATCHES.lock().expect("watches poisoned");
            // Connections that closed between sweeps leave dead entries:
            // dropped here too when they pile up, not only by the sweeper.
            if watches.len() == watches.capacity() {
                watches.retain(|watch| watch.strong_count() > 0);
            }
            watches.push(Arc::downgrade(&watch));
        }
        watch
    }

    /// The exchange moved: the limit runs from now.
    pub(crate) fn touch(&self) {
        self.stamp
            .store(TICKS.load(Ordering::Relaxed).max(1), Ordering::Relaxed);
    }

    /// The exchange ended; the connection rests (in the pool) unwatched and
    /// holds no task's waker.
    pub(crate) fn rest(&self) {
        self.stamp.store(RESTING, Ordering::Relaxed);
        drop(self.waker.take());
    }

    /// Before a wait: `Err` once the exchange idled out, else the task is
    /// registered to be woken if it does.
    pub(crate) fn check(&self, cx: &Context<'_>) -> Result<(), StreamIdle> {
        self.waker.register(cx.waker());
        if self.stamp.load(Ordering::Acquire) == EXPIRED {
            return Err(StreamIdle);
        }
        Ok(())
    }

    #[cfg(test)]
    fn touch_at(&self, tick: u64) {
        self.stamp.store(tick, Ordering::Relaxed);
    }
}

/// Starts the sweeper in the current runtime, once per process, if there is
/// a runtime and a limit.
pub(crate) fn start_sweeper() {
    let (Some(limit), Ok(runtime)) = (limit(), tokio::runtime::Handle::try_current()) else {
        return;
    };
    if SWEEPING.swap(true, Ordering::AcqRel) {
        return;
    }
    let period = (limit / TICKS_PER_LIMIT as u32).max(Duration::from_millis(10));
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sweep(TICKS.fetch_add(1, Ordering::Relaxed) + 1);
        }
    });
}

/// Expires and wakes the watches a whole limit old; forgets dropped ones.
fn sweep(now: u64) {
    let mut watches = WATCHES.lock().expect("watches poisoned");
    watches.retain(|watch| {
        let Some(watch) = watch.upgrade() else {
            return false;
        };
        let stamp = watch.stamp.load(Ordering::Relaxed);
        // A stamp of tick T was taken up to a period after the sweep that
        // set T: only past T + TICKS_PER_LIMIT is a whole limit certain
        // (at T + TICKS_PER_LIMIT the limit would end up to a period early).
        let idle =
            stamp != RESTING && stamp != EXPIRED && now.saturating_sub(stamp) > TICKS_PER_LIMIT;
        // Only if it did not move meanwhile.
        if idle
            && watch
                .stamp
                .compare_exchange(stamp, EXPIRED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            watch.waker.wake();
        }
        true
    });
}

/// An upstream connection's socket written under its watch: each write
/// that makes progress stamps it, and a write that waits past the limit
/// (an upstream that stopped reading) fails with [`StreamIdle`].
pub(crate) struct Watched<'a, S> {
    pub(crate) stream: &'a mut S,
    pub(crate) watch: &'a Watch,
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.watch.check(cx).is_err() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, StreamIdle)));
        }
        let written = ready!(Pin::new(&mut *this.stream).poll_write(cx, data));
        if written.is_ok() {
            this.watch.touch();
        }
        Poll::Ready(written)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweeper_expires_watches_a_whole_limit_old_and_only_those() {
        SWEEPING.store(true, Ordering::Relaxed);
        let (moving, still, resting) = (Watch::new(), Watch::new(), Watch::new());
        let now = TICKS.load(Ordering::Relaxed);
        moving.touch_at(now);
        still.touch_at(now);
        resting.touch_at(now);
        resting.rest();
        let cx = Context::from_waker(futures_util::task::noop_waker_ref());
        sweep(now + TICKS_PER_LIMIT);
        // Stamped at tick `now`, perhaps just before the next sweep: a
        // whole limit has not certainly passed.
        assert!(still.check(&cx).is_ok(), "expired up to a period early");
        moving.touch_at(now + TICKS_PER_LIMIT);
        sweep(now + TICKS_PER_LIMIT + 1);
        assert!(still.check(&cx).is_err(), "idle for the whole limit");
        assert!(moving.check(&cx).is_ok(), "moved within the limit");
        assert!(
            resting.check(&cx).is_ok(),
            "resting connections are not watched"
        );
        // A stamp newer than the sweeper's clock (another tick raced it) is
        // not old.
        moving.touch_at(now + 100);
        sweep(now + TICKS_PER_LIMIT + 2);
        assert!(moving.check(&cx).is_ok());
        // A watch dropped with its connection leaves the registry.
        let weak = Arc::downgrade(&still);
        drop(still);
        sweep(now + TICKS_PER_LIMIT + 3);
        assert!(!WATCHES
            .lock()
            .unwrap()
            .iter()
            .any(|watch| watch.ptr_eq(&weak)));
    }
}
