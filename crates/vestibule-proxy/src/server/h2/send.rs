//! Writes a response on an HTTP/2 stream: the head (with `date` and, when
//! the body's length is known, `content-length`), then the body as the
//! client's flow-control window allows, then trailers.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, SendStream};
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Response};
use http_body::{Body as _, Frame};

use crate::body::BoxError;
use crate::body::ResponseBody;
use crate::request::Context;
use crate::telemetry::{End, Ended};

/// Returns how it ended, for the request's account (a gRPC status sent in
/// trailers is noted in `context`).
pub(super) async fn respond(
    mut sender: SendResponse<Bytes>,
    response: Response<ResponseBody>,
    head_request: bool,
    context: &mut Context,
) -> Ended {
    let (mut parts, mut body) = response.into_parts();
    // Only vestibule's HTTP/1.1 server asks for heads kept as they came.
    debug_assert!(
        body.raw_head().is_none(),
        "an HTTP/2 response needs its map"
    );
    let status = Some(parts.status);
    crate::h1::ensure_date(&mut parts.headers);
    if let Some(length) = body.size_hint().exact() {
        if !parts.headers.contains_key(CONTENT_LENGTH) {
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    // A HEAD response carries the head only, whatever body was made for it.
    let end = head_request || body.is_end_stream();
    let mut ended = Ended {
        status,
        sent: 0,
        end: End::Complete,
    };
    let stream = match sender.send_response(Response::from_parts(parts, ()), end) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::debug!(%error, "response head not sent");
            ended.end = End::ClientGone;
            return ended;
        }
    };
    if !end {
        if let Err(error) = pipe(stream, &mut body, &mut ended.sent, context).await {
            tracing::debug!(%error, "response body not sent to the end");
            ended.end = match error {
                PipeError::Body(_) => End::UpstreamFailed,
                _ => End::ClientGone,
            };
        }
    }
    ended
}

/// Why a body stopped before its end.
#[derive(Debug, thiserror::Error)]
enum PipeError {
    #[error("client reset the stream: {0}")]
    Reset(Reason),
    #[error("stream closed: {0}")]
    Stream(#[from] h2::Error),
    #[error("upstream body failed: {0}")]
    Body(BoxError),
    #[error("stream closed before the body was sent")]
    Closed,
}

/// Sends the body frame by frame. After each frame it waits for window
/// before asking the body for more, so at most one frame beyond the window
/// is buffered (`h2` holds what does not fit until the client opens its
/// window). The first frame goes without asking: most bodies are one small
/// frame, and the connection's initial window has room for it.
async fn pipe(
    mut stream: SendStream<Bytes>,
    body: &mut ResponseBody,
    sent: &mut u64,
    context: &mut Context,
) -> Result<(), PipeError> {
    loop {
        let frame = poll_fn(|cx| {
            if let Poll::Ready(frame) = Pin::new(&mut *body).poll_frame(cx) {
                return Poll::Ready(Ok(frame));
            }
            // Waiting on the upstream: a client's reset ends the wait.
            stream
                .poll_reset(cx)
                .map(|reset| Err(reset.map_or_else(PipeError::Stream, PipeError::Reset)))
        })
        .await?;
        match frame.map(|frame| frame.map(Frame::into_data)) {
            None => return Ok(stream.send_data(Bytes::new(), true)?),
            Some(Ok(Ok(data))) => {
                *sent += data.len() as u64;
                let end = body.is_end_stream();
                stream.send_data(data, end)?;
                if end {
                    return Ok(());
                }
                wait_for_window(&mut stream).await?;
            }
            Some(Ok(Err(frame))) => {
                if let Ok(trailers) = frame.into_trailers() {
                    if context.grpc {
                        context.grpc_status = crate::request::grpc_status_of(&trailers);
                    }
                    return Ok(stream.send_trailers(trailers)?);
                }
            }
            Some(Err(error)) => {
                stream.send_reset(Reason::INTERNAL_ERROR);
                return Err(PipeError::Body(error));
            }
        }
    }
}

async fn wait_for_window(stream: &mut SendStream<Bytes>) -> Result<(), PipeError> {
    stream.reserve_capacity(1);
    while stream.capacity() == 0 {
        match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => return Err(PipeError::Closed),
        }
    }
    Ok(())
}
