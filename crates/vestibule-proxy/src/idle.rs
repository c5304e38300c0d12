//! Envoy's stream idle timeout: a request whose stream moves nothing —
//! no request body bytes from the client, no response head or body bytes
//! from the upstream — for the limit ends: `408 stream timeout` before a
//! response started, a reset after.
//!
//! Two mechanisms, neither with a timer operation per request (Tokio's
//! timer wheel is behind a lock):
//! - Upstream HTTP/1.1 exchanges (the usual request) are watched by one
//!   sweeper per process: each connection has a [`Watch`] that its reads
//!   stamp with a coarse clock (two relaxed atomics), and the sweeper,
//!   ticking eight times per limit, expires and wakes the ones whose stamp
//!   is a whole limit old.
//! - Other waits (a client's request body, an HTTP/2 upstream) get a timer
//!   only once they are pending, re-armed at most once per limit: activity
//!   is a clock read.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::request_body::BoxError;

/// The limit in milliseconds, 0 for none: one per process (the data plane
/// sets it), so that idle state carries no copy of it.
static LIMIT_MILLIS: AtomicU64 = AtomicU64::new(300_000);

pub(crate) fn set_limit(limit: Option<Duration>) {
    let millis = limit.map_or(0, |limit| {
        u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1)
    });
    LIMIT_MILLIS.store(millis, Ordering::Relaxed);
}

fn limit() -> Option<Duration> {
    match LIMIT_MILLIS.load(Ordering::Relaxed) {
        0 => None,
        millis => Some(Duration::from_millis(millis)),
    }
}

/// Sweeper ticks per limit: a watched exchange expires between 8 and 9
/// ticks after it last moved.
const TICKS_PER_LIMIT: u64 = 8;
/// The sweeper's clock, in ticks since it started (0: no sweeper).
static TICKS: AtomicU64 = AtomicU64::new(1);
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
    /// A resting watch, registered with the sweeper.
    pub(crate) fn new() -> Arc<Watch> {
        let watch = Arc::new(Watch {
            stamp: AtomicU64::new(RESTING),
            waker: AtomicWaker::new(),
        });
        WATCHES
            .lock()
            .expect("watches poisoned")
            .push(Arc::downgrade(&watch));
        watch
    }

    /// The exchange moved: the limit runs from now.
    pub(crate) fn touch(&self) {
        self.stamp
            .store(TICKS.load(Ordering::Relaxed).max(1), Ordering::Relaxed);
    }

    #[cfg(test)]
    fn touch_at(&self, tick: u64) {
        self.stamp.store(tick, Ordering::Relaxed);
    }

    /// The exchange ended; the connection rests (in the pool) unwatched.
    pub(crate) fn rest(&self) {
        self.stamp.store(RESTING, Ordering::Relaxed);
    }

    /// Before a read that may wait: `Err` once the exchange idled out,
    /// else the task is registered to be woken if it does.
    pub(crate) fn check(&self, cx: &Context<'_>) -> Result<(), StreamIdle> {
        self.waker.register(cx.waker());
        if self.stamp.load(Ordering::Acquire) == EXPIRED {
            return Err(StreamIdle);
        }
        Ok(())
    }
}

/// Starts the sweeper in the current runtime, if there is one and a limit.
pub(crate) fn start_sweeper() {
    let (Some(limit), Ok(runtime)) = (limit(), tokio::runtime::Handle::try_current()) else {
        return;
    };
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
        let idle = stamp != RESTING && stamp != EXPIRED && now - stamp >= TICKS_PER_LIMIT;
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

/// The error a stream's idle timeout ends it with.
#[derive(Debug, thiserror::Error)]
#[error("stream idle timeout")]
pub(crate) struct StreamIdle;

/// Whether `error` is (or wraps) a stream idle timeout.
pub(crate) fn is_stream_idle(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<StreamIdle>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// When a stream last moved, and the timer armed once it waited.
#[derive(Debug)]
struct Timer {
    since: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl Timer {
    /// `None` when there is no limit.
    fn start() -> Option<Timer> {
        let limit = limit()?;
        let since = Instant::now();
        Some(Timer {
            since,
            sleep: Box::pin(tokio::time::sleep_until(since + limit)),
        })
    }

    /// Ready once the stream has not moved for the limit.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(limit) = limit() else {
            return Poll::Pending;
        };
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            let deadline = self.since + limit;
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            // It moved since the timer was set: once per limit at most.
            self.sleep.as_mut().reset(deadline);
        }
    }
}

/// A body whose waits for the next frame are bounded by the idle timeout.
#[derive(Debug)]
pub(crate) struct IdleBody<B> {
    inner: B,
    /// Boxed: made only if a frame was ever waited for.
    timer: Option<Box<Timer>>,
}

impl<B> IdleBody<B> {
    pub(crate) fn new(inner: B) -> IdleBody<B> {
        IdleBody { inner, timer: None }
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(timer) = &mut this.timer {
                    timer.since = Instant::now();
                }
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => {
                if this.timer.is_none() {
                    this.timer = Timer::start().map(Box::new);
                }
                match &mut this.timer {
                    Some(timer) => timer
                        .poll_expired(cx)
                        .map(|()| Some(Err(Box::new(StreamIdle) as BoxError))),
                    None => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A wait (an upstream's response head) bounded by the idle timeout:
/// `Err(StreamIdle)` when nothing came for the limit.
pub(crate) async fn bounded<F: Future>(wait: F) -> Result<F::Output, StreamIdle> {
    let mut wait = std::pin::pin!(wait);
    let mut timer: Option<Timer> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = wait.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if timer.is_none() {
            timer = Timer::start();
        }
        match &mut timer {
            Some(timer) => timer.poll_expired(cx).map(|()| Err(StreamIdle)),
            None => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_wait_is_bounded_and_activity_pushes_the_deadline() {
        set_limit(Some(Duration::from_secs(10)));
        let never = std::future::pending::<()>();
        let started = Instant::now();
        assert!(bounded(never).await.is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert!(bounded(async { 7 }).await.is_ok_and(|seven| seven == 7));

        // A body that sends a frame every 6 s never idles out; one that
        // stops does, 10 s after its last frame.
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(1);
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            let data = receiver.recv().await?;
            Some((Ok::<_, std::io::Error>(Frame::data(data)), receiver))
        });
        let mut body = IdleBody::new(http_body_util::StreamBody::new(Box::pin(stream)));
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(6)).await;
                sender.send(Bytes::from_static(b"x")).await.unwrap();
            }
            std::future::pending::<()>().await;
        });
        use http_body_util::BodyExt as _;
        let started = Instant::now();
        for _ in 0..3 {
            assert!(body.frame().await.unwrap().is_ok());
        }
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(is_stream_idle(&*error));
        assert_eq!(started.elapsed(), Duration::from_secs(28));
        set_limit(Some(Duration::from_secs(300)));
    }

    #[test]
    fn the_sweeper_expires_watches_a_whole_limit_old_and_only_those() {
        let (moving, still, resting) = (Watch::new(), Watch::new(), Watch::new());
        let now = TICKS.load(Ordering::Relaxed);
        moving.touch();
        still.touch();
        resting.touch();
        resting.rest();
        sweep(now + TICKS_PER_LIMIT - 1);
        moving.touch_at(now + TICKS_PER_LIMIT - 1);
        sweep(now + TICKS_PER_LIMIT);
        let cx = Context::from_waker(futures_util::task::noop_waker_ref());
        assert!(still.check(&cx).is_err(), "idle for the whole limit");
        assert!(moving.check(&cx).is_ok(), "moved within the limit");
        assert!(
            resting.check(&cx).is_ok(),
            "resting connections are not watched"
        );
        // A watch dropped with its connection leaves the registry.
        let weak = Arc::downgrade(&still);
        drop(still);
        sweep(now + TICKS_PER_LIMIT + 1);
        assert!(!WATCHES
            .lock()
            .unwrap()
            .iter()
            .any(|watch| watch.ptr_eq(&weak)));
    }
}
