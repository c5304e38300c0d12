//! A client's HTTP/2 request body: data frames as they arrive, then
//! trailers. Each frame's flow-control window is given back as it is read,
//! so a slow upstream slows the client rather than filling memory.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::RecvStream;
use http_body::{Body, Frame, SizeHint};

#[derive(Debug)]
pub(crate) struct H2RequestBody {
    recv: RecvStream,
    /// The request's `content-length` (which `h2` holds the data to).
    content_length: Option<u64>,
    data_done: bool,
}

impl H2RequestBody {
    pub(crate) fn new(recv: RecvStream, content_length: Option<u64>) -> H2RequestBody {
        H2RequestBody {
            recv,
            content_length,
            data_done: false,
        }
    }
}

impl Body for H2RequestBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = self.get_mut();
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Fails only when the stream is gone, which the next
                    // poll reports.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => this.data_done = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(error))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.content_length
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
