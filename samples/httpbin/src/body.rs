//! Response bodies.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, SizeHint};

/// The body type of every response.
pub(crate) type RespBody = BoxBody<Bytes, Infallible>;

pub(crate) fn empty() -> RespBody {
    Empty::new().boxed()
}

pub(crate) fn full(data: impl Into<Bytes>) -> RespBody {
    Full::new(data.into()).boxed()
}

/// `len` pseudo-random bytes produced lazily in frames of `chunk` bytes.
///
/// With `exact` the size hint is exact (so HTTP/1 gets a content-length);
/// without it the length is left unknown and HTTP/1 uses chunked encoding.
pub(crate) struct RandomBytes {
    remaining: u64,
    chunk: usize,
    exact: bool,
    rng: fastrand::Rng,
}

impl RandomBytes {
    pub(crate) fn new(len: u64, chunk: usize, exact: bool, rng: fastrand::Rng) -> Self {
        Self {
            remaining: len,
            chunk: chunk.max(1),
            exact,
            rng,
        }
    }
}

impl Body for RandomBytes {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(this.remaining)
            .unwrap_or(usize::MAX)
            .min(this.chunk);
        let mut buf = BytesMut::zeroed(n);
        this.rng.fill(&mut buf);
        this.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.remaining)
        } else {
            SizeHint::default()
        }
    }
}
