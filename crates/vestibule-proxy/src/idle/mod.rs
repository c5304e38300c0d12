//! Envoy's stream idle timeout: a request whose stream moves nothing —
//! no request body bytes from the client, no bytes to or from the
//! upstream — for the limit ends: `408 stream timeout` before a response
//! started, a reset after.
//!
//! Two mechanisms, neither with a timer operation for a request that does
//! not wait (Tokio's timer wheel is behind a lock):
//! - upstream HTTP/1.1 exchanges, the usual request, are watched by one
//!   sweeper per process ([`watch`]);
//! - other waits (a client's request body, an HTTP/2 upstream) get a timer
//!   only once they are pending, re-armed at most once per limit.

mod watch;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::body::BoxError;

pub(crate) use watch::{start_sweeper, Watch, Watched};

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

/// Whether `error` is, or has as a source, a stream idle timeout (also
/// inside an `io::Error`, whose `source` skips the error it wraps).
pub(crate) fn is_stream_idle(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<StreamIdle>() {
            return true;
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_some_and(|inner| inner.is::<StreamIdle>()) {
                return true;
            }
        }
        source = error.source();
    }
    false
}

/// When a stream last moved, and how many body bytes it carried, shared
/// between the task that moves it (a request body pumped by hyper's HTTP/2
/// client) and the ones that wait or account for it.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Milliseconds since [`EPOCH`].
    last: AtomicU64,
    bytes: AtomicU64,
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        let activity = Arc::new(Activity::default());
        activity.touch();
        activity
    }

    pub(crate) fn touch(&self) {
        let millis = u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(millis, Ordering::Relaxed);
    }

    /// Counts bytes carried outside a body (a tunnel's).
    pub(crate) fn carried(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Body bytes the stream carried so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn last(&self) -> Instant {
        *EPOCH + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// A wait's timer: armed when the wait began, re-armed when the stream
/// moved meanwhile.
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

    /// Ready once the stream has not moved for the limit (`activity`, if
    /// given, tells when it last did).
    fn poll_expired(&mut self, cx: &mut Context<'_>, activity: Option<&Activity>) -> Poll<()> {
        let Some(limit) = limit() else {
            return Poll::Pending;
        };
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            let since = activity.map_or(self.since, |activity| activity.last().max(self.since));
            let deadline = since + limit;
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            // It moved since the timer was set: once per limit at most.
            self.sleep.as_mut().reset(deadline);
        }
    }
}

/// A body whose waits for the next frame are bounded by the idle timeout;
/// it can also stamp an [`Activity`] with each frame.
#[derive(Debug)]
pub(crate) struct IdleBody<B> {
    inner: B,
    /// Boxed: made only if a frame was ever waited for.
    timer: Option<Box<Timer>>,
    /// Whether the last poll was `Pending` (a wait in progress).
    waiting: bool,
    activity: Option<Arc<Activity>>,
}

impl<B> IdleBody<B> {
    pub(crate) fn new(inner: B) -> IdleBody<B> {
        IdleBody {
            inner,
            timer: None,
            waiting: false,
            activity: None,
        }
    }

    /// The activity this body stamps from now on.
    pub(crate) fn activity(&mut self) -> Arc<Activity> {
        Arc::clone(self.activity.get_or_insert_with(Activity::new))
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
                this.waiting = false;
                if let Some(activity) = &this.activity {
                    activity.touch();
                    if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
                        activity
                            .bytes
                            .fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                }
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => {
                // The wait starts now, not at the last frame: time the
                // proxy spent elsewhere (an upstream slow to take the last
                // frame) is not the client's idleness.
                if !std::mem::replace(&mut this.waiting, true) {
                    match &mut this.timer {
                        Some(timer) => timer.since = Instant::now(),
                        None => this.timer = Timer::start().map(Box::new),
                    }
                }
                match &mut this.timer {
                    Some(timer) => timer
                        .poll_expired(cx, None)
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

/// A wait (an upstream's response) bounded by the idle timeout, counted
/// from the wait's start or, with `activity`, from the stream's last
/// movement: `Err(StreamIdle)` when nothing moved for the limit.
pub(crate) async fn bounded<F: Future>(
    wait: F,
    activity: Option<Arc<Activity>>,
) -> Result<F::Output, StreamIdle> {
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
            Some(timer) => timer
                .poll_expired(cx, activity.as_deref())
                .map(|()| Err(StreamIdle)),
            None => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    /// A body fed by the returned sender.
    fn channel_body() -> (
        tokio::sync::mpsc::Sender<Bytes>,
        IdleBody<impl Body<Data = Bytes, Error = std::io::Error> + Unpin>,
    ) {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(1);
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            let data = receiver.recv().await?;
            Some((Ok::<_, std::io::Error>(Frame::data(data)), receiver))
        });
        let body = IdleBody::new(http_body_util::StreamBody::new(Box::pin(stream)));
        (sender, body)
    }

    #[tokio::test(start_paused = true)]
    async fn waits_are_bounded_and_activity_pushes_the_deadline() {
        set_limit(Some(Duration::from_secs(10)));
        let started = Instant::now();
        assert!(bounded(std::future::pending::<()>(), None).await.is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert!(bounded(async { 7 }, None)
            .await
            .is_ok_and(|seven| seven == 7));

        // A body that sends a frame every 6 s never idles out; one that
        // stops does, 10 s after its wait began. Its frames stamp the
        // activity a wait elsewhere is bounded by.
        let (sender, mut body) = channel_body();
        let activity = body.activity();
        let other_wait = tokio::spawn(bounded(std::future::pending::<()>(), Some(activity)));
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(6)).await;
                sender.send(Bytes::from_static(b"x")).await.unwrap();
            }
            std::future::pending::<()>().await;
        });
        let started = Instant::now();
        for _ in 0..3 {
            assert!(body.frame().await.unwrap().is_ok());
        }
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(is_stream_idle(&*error));
        assert_eq!(started.elapsed(), Duration::from_secs(28));
        assert!(other_wait.await.unwrap().is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(28));

        // Time between frames spent away from the body is not idleness:
        // each wait is counted from its own start.
        let (sender, mut body) = channel_body();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            sender.send(Bytes::from_static(b"x")).await.unwrap();
            tokio::time::sleep(Duration::from_secs(32)).await;
            sender.send(Bytes::from_static(b"y")).await.unwrap();
        });
        assert!(body.frame().await.unwrap().is_ok());
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(body.frame().await.unwrap().is_ok(), "no spurious timeout");
        set_limit(Some(Duration::from_secs(300)));
    }
}
