//! One HTTP/2 connection: accept streams and run each one's exchange,
//! all inside the connection's task; finish gracefully (`GOAWAY`) when the
//! listener drains or the connection idles out.

use std::future::{poll_fn, Future as _};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{Method, Request};

use super::send::respond;
use super::streams::Streams;
use super::H2RequestBody;
use crate::body::RequestBody;
use crate::conn::tls::Session;
use crate::conn::{ListenerSignal, Prefixed, Stream, DRAIN, IDLE_TICKS};
use crate::idle::IdleBody;
use crate::request::{handle, ConnInfo, Context as RequestContext};
use crate::telemetry::{finish, End, Ended};
use crate::Shared;

/// Rounds of accepting and running streams in one poll of the connection's
/// task before it yields to the runtime (and is polled again at once):
/// other connections get their turn, and a resource that keeps returning
/// `Pending` with a wake-up (Tokio's cooperative budget, once spent) cannot
/// hold the loop.
const MAX_ROUNDS_PER_POLL: usize = 32;

/// Serves an HTTP/2 connection whose preface may already be in `io`'s
/// prefix.
pub(crate) async fn serve<S: Stream>(
    io: Prefixed<S>,
    conn: ConnInfo,
    shared: Arc<Shared>,
    signal: Arc<ListenerSignal>,
) {
    let session = io.inner().session().cloned();
    // Concurrent streams and windows as configured (Envoy's edge-proxy
    // values by default: 100 streams, 64 KiB per stream, 1 MiB per
    // connection); the header list bounded like an HTTP/1.1 head. `h2`'s
    // own flood limits stay at their defaults: 20 streams reset before
    // being accepted, 1024 resets it had to send, CONTINUATION frames past
    // the header list size.
    let limits = shared.config.http2;
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .initial_window_size(limits.initial_stream_window)
        .initial_connection_window_size(limits.initial_connection_window)
        .max_header_list_size(u32::try_from(shared.config.head_limits.bytes).unwrap_or(u32::MAX))
        // WebSocket over HTTP/2 (RFC 8441), as Istio's gateway allows it.
        .enable_connect_protocol()
        .handshake::<_, Bytes>(io);
    let mut connection =
        match tokio::time::timeout(shared.config.header_read_timeout, handshake).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => return tracing::debug!(%error, "HTTP/2 handshake failed"),
            Err(_) => return tracing::debug!("HTTP/2 handshake timed out"),
        };
    let mut streams = Streams::new();
    let mut accepting = true;
    let mut closing = false;
    let mut idle_since = signal.now();
    // One waiter for the listener's signal, re-armed only when it fires
    // (enabling a waiter takes the `Notify`'s lock: not once per request).
    let mut notified = Box::pin(signal.notify().notified());
    notified.as_mut().enable();
    let connection_waker = streams.connection_waker();
    loop {
        let now = signal.now();
        let idle = streams.is_empty() && now.saturating_sub(idle_since) >= IDLE_TICKS;
        if !closing && (now == DRAIN || idle) {
            closing = true;
            connection.graceful_shutdown();
            // The `GOAWAY` goes out when the connection is next polled.
            streams.wake_connection();
        }
        let ended = poll_fn(|cx| {
            streams.register(cx);
            // Round after round until nothing moves: accept every stream
            // the connection has ready, run every stream that is ready, and
            // poll the connection again only if it asked (a stream queued
            // frames). The frames of all the streams that finished together
            // then go out in one write, not one write each.
            let mut rounds = 0;
            loop {
                let mut moved = false;
                // A full set accepts no more until a stream ends (the
                // client's limit keeps it from filling: this is a bound).
                while accepting && !streams.is_full() && streams.take_connection_wake() {
                    let mut connection_cx = Context::from_waker(&connection_waker);
                    match connection.poll_accept(&mut connection_cx) {
                        Poll::Ready(Some(Ok((request, sender)))) => {
                            streams.push(exchange(
                                request,
                                sender,
                                &shared,
                                &conn,
                                session.as_deref(),
                            ));
                            // There may be more: poll it again.
                            streams.wake_connection();
                            moved = true;
                        }
                        Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(error)),
                        Poll::Ready(None) => accepting = false,
                        Poll::Pending => {}
                    }
                }
                if streams.poll_woken() > 0 {
                    idle_since = signal.now();
                    moved = true;
                }
                if !accepting && streams.is_empty() {
                    return Poll::Ready(Ok(true));
                }
                if !moved {
                    break;
                }
                rounds += 1;
                if rounds == MAX_ROUNDS_PER_POLL {
                    // Work is left: yield, and be polled again at once.
                    cx.waker().wake_by_ref();
                    break;
                }
            }
            if notified.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(false));
            }
            Poll::Pending
        })
        .await;
        match ended {
            Ok(true) => return,
            Ok(false) => {
                notified.set(signal.notify().notified());
                notified.as_mut().enable();
            }
            Err(error) => {
                // The connection is gone: its streams cannot finish.
                return tracing::debug!(%error, "HTTP/2 connection failed");
            }
        }
    }
}

/// One stream: route and answer the request, then write the response. A
/// client's reset abandons it, upstream call included.
async fn exchange(
    request: Request<RecvStream>,
    mut sender: SendResponse<Bytes>,
    shared: &Shared,
    conn: &ConnInfo,
    tls: Option<&Session>,
) {
    let head_request = request.method() == Method::HEAD;
    let content_length = crate::h1::content_length(request.headers()).and_then(Result::ok);
    let request = request
        .map(|recv| RequestBody::H2(IdleBody::new(H2RequestBody::new(recv, content_length))));
    let mut context = RequestContext::new(conn.port);
    let response = {
        let handled = pin!(handle(shared, conn, tls, request, &mut context));
        tokio::select! {
            biased;
            response = handled => Some(response),
            _ = poll_fn(|cx| sender.poll_reset(cx)) => None,
        }
    };
    let ended = match response {
        Some(response) => respond(sender, response, head_request, &mut context).await,
        // The client reset the stream before its answer: Envoy logs 0, DC.
        None => Ended {
            status: None,
            sent: 0,
            end: End::ClientGone,
        },
    };
    finish(shared, conn, context, ended);
}
