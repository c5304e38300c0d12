//! A client's HTTP/2 request body: the DATA frames the connection hands
//! over, then trailers. Each piece's flow-control window is given back as
//! it is read, so a slow upstream slows the client rather than filling
//! memory.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::streams::Woken;

/// What the connection hands a body.
#[derive(Debug)]
pub(super) enum Piece {
    Data { data: Bytes, end: bool },
    Trailers(HeaderMap),
}

/// The stream was reset, or the connection ended, before the body did.
#[derive(Debug, thiserror::Error)]
#[error("the client's HTTP/2 stream ended before its body")]
pub(crate) struct BodyCut;

#[derive(Debug)]
pub(crate) struct H2RequestBody {
    pieces: mpsc::UnboundedReceiver<Piece>,
    /// Read bytes whose window the stream's task gives back.
    released: Arc<AtomicUsize>,
    /// The stream's slot, woken to give the window back.
    woken: Arc<Woken>,
    slot: usize,
    content_length: Option<u64>,
    ended: bool,
}

/// The connection's end of a body.
pub(super) struct BodySender {
    /// `None` once the body has ended.
    pub pieces: Option<mpsc::UnboundedSender<Piece>>,
    pub released: Arc<AtomicUsize>,
}

impl H2RequestBody {
    pub(super) fn new(
        woken: Arc<Woken>,
        slot: usize,
        content_length: Option<u64>,
    ) -> (H2RequestBody, BodySender) {
        let (sender, pieces) = mpsc::unbounded_channel();
        let released = Arc::new(AtomicUsize::new(0));
        let body = H2RequestBody {
            pieces,
            released: Arc::clone(&released),
            woken,
            slot,
            content_length,
            ended: false,
        };
        let sender = BodySender {
            pieces: Some(sender),
            released,
        };
        (body, sender)
    }
}

impl Body for H2RequestBody {
    type Data = Bytes;
    type Error = BodyCut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyCut>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match this.pieces.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Piece::Data { data, end })) => {
                this.ended = end;
                if !data.is_empty() {
                    this.released.fetch_add(data.len(), Ordering::AcqRel);
                    this.woken.wake(this.slot);
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Piece::Trailers(trailers))) => {
                this.ended = true;
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(Some(Err(BodyCut)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        self.content_length
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
