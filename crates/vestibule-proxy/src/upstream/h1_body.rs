//! An upstream response body read straight off its connection, which goes
//! back to the endpoint's pool the moment the body's last byte is read.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use super::client::UpstreamConn;
use crate::h1::chunked::{Chunked, InvalidChunk, Step};
use crate::h1::RawHead;
use crate::idle::StreamIdle;
use crate::upstream::clusters::EndpointState;

/// Bytes asked for per read of a body: reads start small and double while
/// they come back full, up to the most one stream may hold buffered (the
/// harness's 1 MiB responses: 16 reads, not 64).
const FIRST_READ: usize = 16 * 1024;
const MAX_READ: usize = 64 * 1024;

/// How the response delimits its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    Length(u64),
    Chunked,
    UntilClose,
}

enum State {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("upstream read failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Chunk(#[from] InvalidChunk),
    #[error("upstream closed the connection before the end of the body")]
    Truncated,
}

pub(crate) struct H1ResponseBody {
    conn: Option<Box<UpstreamConn>>,
    state: State,
    /// Body bytes that arrived with the head.
    pending: Bytes,
    reusable: bool,
    endpoint: Option<Arc<EndpointState>>,
    read_size: usize,
    /// The response's head as the upstream sent it, when kept so (see
    /// [`crate::h1::raw`]).
    raw: Option<Box<RawHead>>,
}

impl H1ResponseBody {
    pub(crate) fn empty() -> H1ResponseBody {
        H1ResponseBody {
            conn: None,
            state: State::Done,
            pending: Bytes::new(),
            reusable: false,
            endpoint: None,
            read_size: FIRST_READ,
            raw: None,
        }
    }

    pub(crate) fn new(
        mut conn: Box<UpstreamConn>,
        framing: BodyFraming,
        mut remainder: Bytes,
        mut reusable: bool,
        endpoint: Arc<EndpointState>,
    ) -> H1ResponseBody {
        let state = match framing {
            BodyFraming::Length(length) => {
                if remainder.len() as u64 > length {
                    // More than the declared length: the rest is garbage.
                    reusable = false;
                    remainder.truncate(usize::try_from(length).unwrap_or(usize::MAX));
                }
                State::Length(length)
            }
            BodyFraming::Chunked => {
                conn.buf = BytesMut::from(&remainder[..]);
                remainder = Bytes::new();
                State::Chunked(Chunked::Size)
            }
            BodyFraming::UntilClose => {
                reusable = false;
                State::UntilClose
            }
        };
        let mut body = H1ResponseBody {
            conn: Some(conn),
            state,
            pending: remainder,
            reusable,
            endpoint: Some(endpoint),
            read_size: FIRST_READ,
            raw: None,
        };
        if matches!(body.state, State::Length(0)) {
            body.finish();
        }
        body
    }

    pub(crate) fn with_raw_head(mut self, raw: Option<Box<RawHead>>) -> H1ResponseBody {
        self.raw = raw;
        self
    }

    pub(crate) fn raw_head(&self) -> Option<&RawHead> {
        self.raw.as_deref()
    }

    pub(crate) fn raw_head_mut(&mut self) -> Option<&mut RawHead> {
        self.raw.as_deref_mut()
    }

    /// The body is read to its end: the connection goes back to the pool
    /// if nothing about it is in doubt.
    fn finish(&mut self) {
        self.state = State::Done;
        let conn = self.conn.take();
        if let (Some(conn), Some(endpoint), true) = (conn, self.endpoint.take(), self.reusable) {
            conn.watch.rest();
            if conn.buf.is_empty() && self.pending.is_empty() {
                endpoint.pool.put_back(conn, endpoint.policy.as_deref());
            }
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, std::io::Error>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        if conn.buf.capacity() - conn.buf.len() < self.read_size / 4 {
            conn.buf.reserve(self.read_size);
        }
        let room = conn.buf.capacity() - conn.buf.len();
        if conn.watch.check(cx).is_err() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                StreamIdle,
            )));
        }
        let read = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut conn.stream),
            cx,
            &mut conn.buf
        ));
        if read.is_ok() {
            conn.watch.touch();
        }
        if matches!(read, Ok(n) if n == room) {
            self.read_size = (self.read_size * 2).min(MAX_READ);
        }
        Poll::Ready(read)
    }

    fn buffered(&mut self) -> Option<&mut BytesMut> {
        self.conn
            .as_mut()
            .map(|conn| &mut conn.buf)
            .filter(|buf| !buf.is_empty())
    }
}

impl Body for H1ResponseBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Length(remaining) => {
                    let remaining = *remaining;
                    let data = if !this.pending.is_empty() {
                        std::mem::take(&mut this.pending)
                    } else if let Some(buf) = this.buffered() {
                        let n = usize::try_from(remaining)
                            .unwrap_or(usize::MAX)
                            .min(buf.len());
                        buf.split_to(n).freeze()
                    } else {
                        match ready!(this.poll_fill(cx)) {
                            Ok(0) => return Poll::Ready(Some(Err(BodyError::Truncated))),
                            Ok(_) => continue,
                            Err(error) => return Poll::Ready(Some(Err(error.into()))),
                        }
                    };
                    let left = remaining - data.len() as u64;
                    this.state = State::Length(left);
                    if left == 0 {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                State::UntilClose => {
                    if !this.pending.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(std::mem::take(
                            &mut this.pending,
                        )))));
                    }
                    if let Some(buf) = this.buffered() {
                        return Poll::Ready(Some(Ok(Frame::data(buf.split().freeze()))));
                    }
                    match ready!(this.poll_fill(cx)) {
                        Ok(0) => this.finish(),
                        Ok(_) => {}
                        Err(error) => return Poll::Ready(Some(Err(error.into()))),
                    }
                }
                State::Chunked(decoder) => {
                    let Some(conn) = this.conn.as_mut() else {
                        return Poll::Ready(None);
                    };
                    match decoder.step(&mut conn.buf) {
                        Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                        Ok(Step::Done) => this.finish(),
                        Ok(Step::More) => match ready!(this.poll_fill(cx)) {
                            Ok(0) => return Poll::Ready(Some(Err(BodyError::Truncated))),
                            Ok(_) => {}
                            Err(error) => return Poll::Ready(Some(Err(error.into()))),
                        },
                        Err(error) => return Poll::Ready(Some(Err(error.into()))),
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Length(remaining) => SizeHint::with_exact(remaining),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
