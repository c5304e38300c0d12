//! One stream's work, run in a slot of its connection: the exchange
//! (route, call the upstream), then the response written through the
//! connection's codec — the head, the body as the client's windows and
//! the output buffer allow, trailers — and the request's account.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Response};
use http_body::Body as _;
use pin_project_lite::pin_project;
use vestibule_h2::{Connection, ErrorCode};

use super::recv_body::{BodySender, Piece};
use super::streams::Woken;
use crate::body::ResponseBody;
use crate::request::{ConnInfo, Context as RequestContext};
use crate::telemetry::{finish, End, Ended};
use crate::Shared;

/// What an exchange gives: the response (`None`: the client reset the
/// stream first), and the request's context for its account.
pub(super) type Exchanged = (Option<Response<ResponseBody>>, RequestContext);

/// Output waiting to be written past which bodies wait: a client that does
/// not read holds at most this much (plus one frame) per connection.
pub(super) const HIGH_WATER: usize = 64 * 1024;

pin_project! {
    /// The exchange runs first; its response's body, if it has one, is
    /// sent after, from the driver's [`Sending`] for the slot. The two are
    /// apart, not phases of one enum: the enum would be the exchange
    /// future's size (several KiB), and every change of phase would copy
    /// all of it; nor fields of one task, which every start of a stream
    /// copies whole into its slot.
    pub(super) struct StreamTask<F> {
        stream: u32,
        head_request: bool,
        // The request body's other end, while it is open.
        body: Option<BodySender>,
        #[pin]
        exchange: Option<F>,
    }
}

/// A response on its way: the body, what of it the windows held back, and
/// the account so far.
pub(super) struct Sending {
    body: ResponseBody,
    pending: Bytes,
    /// `pending` is the body's last data.
    last: bool,
    context: RequestContext,
    ended: Ended,
}

/// What a task reaches while it is polled.
pub(super) struct Env<'a> {
    pub codec: &'a mut Connection,
    pub shared: &'a Shared,
    pub conn: &'a ConnInfo,
    pub woken: &'a Woken,
    /// Slots waiting for the output to drain below [`HIGH_WATER`].
    pub drain_waiters: &'a mut u128,
    /// Each slot's response on its way.
    pub sendings: &'a mut [Option<Sending>],
}

impl<F: Future<Output = Exchanged>> StreamTask<F> {
    pub(super) fn new(
        stream: u32,
        head_request: bool,
        body: Option<BodySender>,
        exchange: F,
    ) -> StreamTask<F> {
        StreamTask {
            stream,
            head_request,
            body,
            exchange: Some(exchange),
        }
    }

    /// The stream was reset: its request body ends with an error.
    pub(super) fn cut_body(self: Pin<&mut Self>) {
        if let Some(body) = self.project().body.as_mut() {
            body.pieces = None;
        }
    }

    /// Hands the request body a piece; false if the body is gone (the
    /// exchange no longer reads it).
    pub(super) fn deliver(self: Pin<&mut Self>, piece: Piece) -> bool {
        let this = self.project();
        let ends = match &piece {
            Piece::Data { end, .. } => *end,
            Piece::Trailers(_) => true,
        };
        let Some(body) = this.body.as_mut() else {
            return false;
        };
        let delivered = body
            .pieces
            .as_ref()
            .is_some_and(|pieces| pieces.send(piece).is_ok());
        if ends {
            // Nothing more comes; the counter of what is read stays, for
            // the window.
            body.pieces = None;
        }
        delivered
    }

    pub(super) fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slot: usize,
        env: &mut Env<'_>,
    ) -> Poll<()> {
        let mut this = self.project();
        let stream = *this.stream;
        if let Some(body) = this.body.as_ref() {
            let released = body.released.swap(0, Ordering::AcqRel);
            if released > 0 {
                env.codec.release(stream, released);
            }
        }
        if let Some(exchange) = this.exchange.as_mut().as_pin_mut() {
            let Poll::Ready((response, mut context)) = exchange.poll(cx) else {
                return Poll::Pending;
            };
            // Dropped at once: its upstream connection goes back to the
            // pool while the body is still being sent.
            this.exchange.set(None);
            let Some(response) = response else {
                // The client reset the stream before its answer: Envoy
                // logs 0, DC.
                let ended = Ended {
                    status: None,
                    sent: 0,
                    end: End::ClientGone,
                };
                finish(env.shared, env.conn, &mut context, ended);
                return Poll::Ready(());
            };
            match start(env.codec, stream, response, *this.head_request, context) {
                Started::Finished(mut context, ended) => {
                    finish(env.shared, env.conn, &mut context, ended);
                    return Poll::Ready(());
                }
                // Most bodies are one frame, there already: sent from here,
                // and kept only if they must wait.
                Started::Body(mut sending) => {
                    let Poll::Ready(result) = pump(&mut sending, cx, stream, slot, env) else {
                        env.sendings[slot] = Some(sending);
                        return Poll::Pending;
                    };
                    end(sending, result, env);
                    return Poll::Ready(());
                }
            }
        }
        // Borrowed out of `env` for the while, so that the response need
        // not be moved out of its place and back.
        let sendings = std::mem::take(&mut env.sendings);
        let polled = match sendings[slot].as_mut() {
            None => Poll::Ready(None),
            Some(sending) => pump(sending, cx, stream, slot, env).map(Some),
        };
        env.sendings = sendings;
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(()),
            Poll::Ready(Some(result)) => {
                let sending = env.sendings[slot].take().expect("a response on its way");
                end(sending, result, env);
                Poll::Ready(())
            }
        }
    }
}

/// The request's account, once its response is over.
fn end(sending: Sending, result: Result<(), End>, env: &Env<'_>) {
    let Sending {
        mut context,
        mut ended,
        ..
    } = sending;
    if let Err(end) = result {
        ended.end = end;
    }
    finish(env.shared, env.conn, &mut context, ended);
}

enum Started {
    Finished(RequestContext, Ended),
    Body(Sending),
}

/// Sends the response head (with `date` and, when the body's length is
/// known, `content-length`): from the upstream's head kept as it came when
/// nothing edited it, else from the map.
fn start(
    codec: &mut Connection,
    stream: u32,
    response: Response<ResponseBody>,
    head_request: bool,
    context: RequestContext,
) -> Started {
    let (mut parts, body) = response.into_parts();
    // A HEAD response carries the head only, whatever body was made for it.
    let end = head_request || body.is_end_stream();
    let mut ended = Ended {
        status: Some(parts.status),
        sent: 0,
        end: End::Complete,
    };
    let length = body
        .size_hint()
        .exact()
        .filter(|_| may_carry_length(parts.status));
    let sent = match body.raw_head() {
        Some(raw) => codec.send_head(stream, parts.status, end, |head| {
            raw.for_each(|name, value| head.field(name, value));
            if !raw.has_date() {
                head.field(b"date", crate::h1::date_now().as_bytes());
            }
            if let (None, Some(length)) = (raw.content_length(), length) {
                head.field(
                    b"content-length",
                    itoa::Buffer::new().format(length).as_bytes(),
                );
            }
        }),
        None => {
            crate::h1::ensure_date(&mut parts.headers);
            if let Some(length) = length {
                if !parts.headers.contains_key(CONTENT_LENGTH) {
                    parts
                        .headers
                        .insert(CONTENT_LENGTH, HeaderValue::from(length));
                }
            }
            codec.send_headers(stream, parts.status, &parts.headers, end)
        }
    };
    if sent.is_err() {
        ended.end = End::ClientGone;
        return Started::Finished(context, ended);
    }
    if end {
        return Started::Finished(context, ended);
    }
    Started::Body(Sending {
        body,
        pending: Bytes::new(),
        last: false,
        context,
        ended,
    })
}

/// A `content-length` the proxy adds: not on 1xx, 204 (RFC 9110 §8.6)
/// or 304 (whose length, if any, is the upstream's to give).
fn may_carry_length(status: http::StatusCode) -> bool {
    !status.is_informational()
        && status != http::StatusCode::NO_CONTENT
        && status != http::StatusCode::NOT_MODIFIED
}

/// Sends the body, unless the client reset the stream: what the windows
/// held back first, then frame after frame from the upstream, until it
/// ends, the windows close (an `Event::Capacity` wakes the slot), or the
/// output is full (its drain does).
fn pump(
    sending: &mut Sending,
    cx: &mut Context<'_>,
    stream: u32,
    slot: usize,
    env: &mut Env<'_>,
) -> Poll<Result<(), End>> {
    if env.woken.is_reset(slot) {
        return Poll::Ready(Err(End::ClientGone));
    }
    // The stream's last frame, empty.
    let end_stream = |codec: &mut Connection| {
        Poll::Ready(
            codec
                .send_data(stream, &[], true)
                .map(drop)
                .map_err(|_| End::ClientGone),
        )
    };
    loop {
        if !sending.pending.is_empty() {
            let taken = env
                .codec
                .send_data(stream, &sending.pending, sending.last)
                .map_err(|_| End::ClientGone)?;
            sending.pending.advance(taken);
            if !sending.pending.is_empty() {
                return Poll::Pending;
            }
            if sending.last {
                return Poll::Ready(Ok(()));
            }
        }
        if env.codec.output().len() >= HIGH_WATER {
            *env.drain_waiters |= 1 << slot;
            return Poll::Pending;
        }
        let frame = match Pin::new(&mut sending.body).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(frame) => frame,
        };
        match frame {
            None => return end_stream(env.codec),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    sending.ended.sent += data.len() as u64;
                    sending.last = sending.body.is_end_stream();
                    if data.is_empty() && !sending.last {
                        continue;
                    }
                    sending.pending = data;
                    if sending.pending.is_empty() {
                        return end_stream(env.codec);
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        let context = &mut sending.context;
                        if context.grpc {
                            context.grpc_status = crate::request::grpc_status_of(&trailers);
                        }
                        return match env.codec.send_trailers(stream, &trailers) {
                            Ok(()) => Poll::Ready(Ok(())),
                            Err(_) => Poll::Ready(Err(End::ClientGone)),
                        };
                    }
                }
            },
            Some(Err(error)) => {
                tracing::debug!(%error, "response body not sent to the end");
                env.codec.reset(stream, ErrorCode::INTERNAL_ERROR);
                return Poll::Ready(Err(End::UpstreamFailed));
            }
        }
    }
}
