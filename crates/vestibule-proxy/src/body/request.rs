//! The body vestibule sends upstream: the client's body as it arrives
//! (through hyper's HTTP/1.1 or vestibule's HTTP/2), an empty body (a
//! replayed retry), the client's body teed to mirrors, or a mirror's copy.
//! An enum, so no allocation per request.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::mpsc;

use crate::idle::IdleBody;
use crate::server::h2::H2RequestBody;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bytes buffered per mirror before the mirror is abandoned, so a slow
/// mirror can never hold back the real request.
const MIRROR_BUFFER_FRAMES: usize = 16;

#[derive(Debug)]
pub(crate) enum RequestBody {
    Incoming(IdleBody<Incoming>),
    H2(IdleBody<H2RequestBody>),
    Empty,
    /// Boxed: mirrors are rare, and the box keeps every request small.
    Tee {
        inner: Box<RequestBody>,
        copies: Vec<mpsc::Sender<Chunk>>,
    },
    Copy(mpsc::Receiver<Chunk>),
}

/// What a tee hands a mirror: data, then `End` once the client's body ended.
#[derive(Debug)]
pub(crate) enum Chunk {
    Data(Bytes),
    End,
}

#[derive(Debug, thiserror::Error)]
#[error("the original request body was abandoned")]
struct Abandoned;

impl RequestBody {
    /// The activity the client's body stamps with each frame, for a wait
    /// elsewhere to be bounded by; `None` for bodies not the client's.
    pub(crate) fn activity(&mut self) -> Option<std::sync::Arc<crate::idle::Activity>> {
        match self {
            RequestBody::Incoming(body) => Some(body.activity()),
            RequestBody::H2(body) => Some(body.activity()),
            RequestBody::Tee { inner, .. } => inner.activity(),
            RequestBody::Empty | RequestBody::Copy(_) => None,
        }
    }

    /// Splits off one copy of this body per mirror.
    pub(crate) fn tee(self, mirrors: usize) -> (RequestBody, Vec<RequestBody>) {
        let client_body = matches!(self, RequestBody::Incoming(_) | RequestBody::H2(_));
        if !client_body || self.is_end_stream() {
            return (self, (0..mirrors).map(|_| RequestBody::Empty).collect());
        }
        let inner = Box::new(self);
        let (copies, receivers): (Vec<_>, Vec<_>) = (0..mirrors)
            .map(|_| mpsc::channel(MIRROR_BUFFER_FRAMES))
            .map(|(sender, receiver)| (sender, RequestBody::Copy(receiver)))
            .unzip();
        (RequestBody::Tee { inner, copies }, receivers)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Incoming(inner) => Pin::new(inner).poll_frame(cx).map_err(Into::into),
            RequestBody::H2(inner) => Pin::new(inner).poll_frame(cx).map_err(Into::into),
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Tee { inner, copies } => {
                let polled = Pin::new(&mut **inner).poll_frame(cx);
                match &polled {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(data) = frame.data_ref() {
                            // A full or closed mirror is dropped, never waited for.
                            copies.retain(|copy| copy.try_send(Chunk::Data(data.clone())).is_ok());
                        }
                    }
                    Poll::Ready(None) => {
                        for copy in copies.drain(..) {
                            let _ = copy.try_send(Chunk::End);
                        }
                    }
                    _ => {}
                }
                polled
            }
            RequestBody::Copy(receiver) => match receiver.poll_recv(cx) {
                Poll::Ready(Some(Chunk::Data(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
                Poll::Ready(Some(Chunk::End)) => Poll::Ready(None),
                Poll::Ready(None) => Poll::Ready(Some(Err(Box::new(Abandoned)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Incoming(inner) => inner.is_end_stream(),
            RequestBody::H2(inner) => inner.is_end_stream(),
            RequestBody::Tee { inner, .. } => inner.is_end_stream(),
            RequestBody::Empty => true,
            RequestBody::Copy(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Incoming(inner) => inner.size_hint(),
            RequestBody::H2(inner) => inner.size_hint(),
            RequestBody::Tee { inner, .. } => inner.size_hint(),
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Copy(_) => SizeHint::default(),
        }
    }
}
