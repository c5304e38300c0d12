//! Envoy's stream idle timeout: a request whose stream moves nothing —
//! no request body bytes from the client, no response head or body bytes
//! from the upstream — for the limit ends: `408 stream timeout` before a
//! response started, a reset after.
//!
//! A timer is made only once a wait is pending (a body that is all there,
//! a response that arrives at once, need none), and is re-armed at most
//! once per limit: activity costs a clock read, never a timer operation
//! (Tokio's timer wheel is behind a lock).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
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
}
