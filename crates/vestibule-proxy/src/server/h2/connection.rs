//! One HTTP/2 connection: vestibule's codec (`vestibule_h2`) fed from the
//! socket, each stream's task run in a slot of the connection's own task,
//! the codec's output written back; a graceful end (`GOAWAY`) when the
//! listener drains or the connection idles out.

use std::future::{poll_fn, Future as _};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use http::{Method, Request, Response};
use rustc_hash::FxHashMap;
use vestibule_h2::{Config, Connection, ErrorCode, Event};

use super::recv_body::{H2RequestBody, Piece};
use super::streams::{Streams, Woken, CAPACITY};
use super::task::{Env, Exchanged, Sending, StreamTask, HIGH_WATER};
use crate::body::{RequestBody, ResponseBody};
use crate::conn::tls::Session;
use crate::conn::{ListenerSignal, Prefixed, Stream, DRAIN, IDLE_TICKS};
use crate::idle::IdleBody;
use crate::request::{handle, ConnInfo, Context as RequestContext};
use crate::Shared;

/// Rounds of reading, running streams and writing in one poll of the
/// connection's task before it yields to the runtime (and is polled again
/// at once): other connections get their turn, and a resource that keeps
/// returning `Pending` with a wake-up (Tokio's cooperative budget, once
/// spent) cannot hold the loop.
const MAX_ROUNDS_PER_POLL: usize = 32;

/// Room kept free in the read buffer before each read.
const READ_ROOM: usize = 16 * 1024;

/// Why a round of polling stopped.
enum Stop {
    /// The connection is over.
    Done,
    /// The listener's signal fired (drain, or an idle tick).
    Signal,
}

/// Serves an HTTP/2 connection whose preface may already be in `io`'s
/// prefix.
pub(crate) async fn serve<S: Stream>(
    io: Prefixed<S>,
    conn: ConnInfo,
    shared: Arc<Shared>,
    signal: Arc<ListenerSignal>,
) {
    let session = io.inner().session().cloned();
    let (mut input, mut io) = io.into_parts();
    let limits = shared.config.http2;
    // Envoy's edge-proxy values by default (100 streams, 64 KiB per
    // stream, 1 MiB per connection); the header list bounded like an
    // HTTP/1.1 head; WebSocket over HTTP/2 (RFC 8441), as Istio's gateway
    // allows it.
    let mut codec = Connection::new(Config {
        max_concurrent_streams: limits.max_concurrent_streams,
        initial_stream_window: limits.initial_stream_window,
        initial_connection_window: limits.initial_connection_window,
        max_header_list_size: u32::try_from(shared.config.head_limits.bytes).unwrap_or(u32::MAX),
        ..Config::default()
    });
    let woken = Arc::<Woken>::default();
    let mut streams = Streams::sharing(Arc::clone(&woken));
    let mut state = State {
        by_stream: FxHashMap::default(),
        stream_of: [0; CAPACITY],
        drain_waiters: 0,
        sendings: std::iter::repeat_with(|| None).take(CAPACITY).collect(),
        ended: Vec::new(),
        prefix_fed: false,
        eof: false,
        failed: false,
        closing: false,
    };
    let mut handshake = pin!(tokio::time::sleep(shared.config.header_read_timeout));
    let mut idle_since = signal.now();
    // One waiter for the listener's signal, re-armed only when it fires
    // (enabling a waiter takes the `Notify`'s lock: not once per request).
    let mut notified = Box::pin(signal.notify().notified());
    notified.as_mut().enable();
    loop {
        let now = signal.now();
        let idle = streams.is_empty() && now.saturating_sub(idle_since) >= IDLE_TICKS;
        if !state.closing && (now == DRAIN || idle) {
            state.closing = true;
            codec.go_away();
        }
        let stopped = poll_fn(|cx| {
            streams.register(cx);
            let mut rounds = 0;
            loop {
                let mut moved = false;
                if !state.eof && !state.failed {
                    moved |= read(&mut io, cx, &mut input, &mut codec, &mut state);
                }
                while let Some(event) = codec.next_event() {
                    moved = true;
                    state.dispatch(event, &mut codec, &mut streams, |request, slot| {
                        exchange(request, &shared, &conn, session.as_deref(), &woken, slot)
                    });
                }
                let mut env = Env {
                    codec: &mut codec,
                    shared: &shared,
                    conn: &conn,
                    woken: &woken,
                    drain_waiters: &mut state.drain_waiters,
                    sendings: &mut state.sendings,
                };
                let mut ended = std::mem::take(&mut state.ended);
                streams.poll_woken(|slot, task, cx| task.poll(cx, slot, &mut env), &mut ended);
                for slot in ended.drain(..) {
                    let stream = state.stream_of[slot];
                    state.by_stream.remove(&stream);
                    codec.finish(stream);
                    idle_since = signal.now();
                    moved = true;
                }
                state.ended = ended;
                match write(&mut io, cx, &mut codec) {
                    Err(()) => return Poll::Ready(Stop::Done),
                    Ok(wrote) => moved |= wrote,
                }
                if state.drain_waiters != 0 && codec.output().len() < HIGH_WATER / 2 {
                    wake_all(&woken, std::mem::take(&mut state.drain_waiters));
                    moved = true;
                }
                let over = state.failed || (state.eof || state.closing) && streams.is_empty();
                if over {
                    // The last frames (a `GOAWAY`) go if the socket takes them.
                    return Poll::Ready(Stop::Done);
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
            if !codec.is_started() && handshake.as_mut().poll(cx).is_ready() {
                tracing::debug!("HTTP/2 preface not received in time");
                return Poll::Ready(Stop::Done);
            }
            if notified.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Stop::Signal);
            }
            Poll::Pending
        })
        .await;
        match stopped {
            Stop::Done => return,
            Stop::Signal => {
                notified.set(signal.notify().notified());
                notified.as_mut().enable();
            }
        }
    }
}

/// The driver's record of its streams.
struct State {
    /// Each stream's slot.
    by_stream: FxHashMap<u32, usize>,
    /// Each slot's stream.
    stream_of: [u32; CAPACITY],
    /// Slots whose body waits for the output to drain.
    drain_waiters: u128,
    /// Each slot's response on its way (beside the slots, see `task`).
    sendings: Box<[Option<Sending>]>,
    /// Slots whose task ended in the last round (kept for its allocation).
    ended: Vec<usize>,
    /// The bytes read before the handoff went to the codec.
    prefix_fed: bool,
    /// The client closed its side.
    eof: bool,
    /// The codec ended the connection (its `GOAWAY` is in the output).
    failed: bool,
    /// A graceful end began.
    closing: bool,
}

impl State {
    /// Acts on one of the codec's events.
    fn dispatch<F>(
        &mut self,
        event: Event,
        codec: &mut Connection,
        streams: &mut Streams<StreamTask<F>>,
        exchange: impl FnOnce(Request<RequestBody>, usize) -> F,
    ) where
        F: std::future::Future<Output = Exchanged>,
    {
        match event {
            Event::Request {
                stream,
                request,
                end_stream,
                content_length,
            } => {
                if streams.is_full() {
                    // A stream ended by the client still runs in its slot.
                    codec.reset(stream, ErrorCode::REFUSED_STREAM);
                    return;
                }
                let slot = streams.vacant();
                let head_request = request.method() == Method::HEAD;
                let (body, sender) = if end_stream {
                    (RequestBody::Empty, None)
                } else {
                    let woken = Arc::clone(streams.woken());
                    let (body, sender) = H2RequestBody::new(woken, slot, content_length);
                    (RequestBody::H2(IdleBody::new(body)), Some(sender))
                };
                let future = exchange(request.map(|()| body), slot);
                let pushed = streams.push(StreamTask::new(stream, head_request, sender, future));
                debug_assert_eq!(pushed, slot);
                self.by_stream.insert(stream, slot);
                self.stream_of[slot] = stream;
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                let length = data.len();
                let piece = Piece::Data {
                    data,
                    end: end_stream,
                };
                if !self.deliver(streams, stream, piece) {
                    // No body reads it: its window goes straight back.
                    codec.release(stream, length);
                }
            }
            Event::Trailers { stream, trailers } => {
                self.deliver(streams, stream, Piece::Trailers(trailers));
            }
            Event::Reset { stream, .. } => {
                if let Some(&slot) = self.by_stream.get(&stream) {
                    if let Some(task) = streams.get_mut(slot) {
                        task.cut_body();
                    }
                    streams.woken().reset(slot);
                }
            }
            Event::Capacity { stream } => {
                if let Some(&slot) = self.by_stream.get(&stream) {
                    streams.woken().wake(slot);
                }
            }
        }
    }

    fn deliver<F>(
        &mut self,
        streams: &mut Streams<StreamTask<F>>,
        stream: u32,
        piece: Piece,
    ) -> bool
    where
        F: std::future::Future<Output = Exchanged>,
    {
        let Some(&slot) = self.by_stream.get(&stream) else {
            return false;
        };
        streams
            .get_mut(slot)
            .is_some_and(|task| task.deliver(piece))
    }
}

/// Reads what the socket has and feeds it to the codec; whether anything
/// was read.
fn read<S: Stream>(
    io: &mut S,
    cx: &mut Context<'_>,
    input: &mut BytesMut,
    codec: &mut Connection,
    state: &mut State,
) -> bool {
    // The preface may have come with the connection's first bytes.
    let prefixed = !state.prefix_fed && !input.is_empty();
    state.prefix_fed = true;
    if !prefixed {
        if input.capacity() - input.len() < READ_ROOM / 4 {
            input.reserve(READ_ROOM);
        }
        match tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, input) {
            Poll::Pending => return false,
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                state.eof = true;
                return true;
            }
            Poll::Ready(Ok(_)) => {}
        }
    }
    if let Err(error) = codec.recv(input) {
        tracing::debug!(%error, "HTTP/2 connection failed");
        state.failed = true;
    }
    true
}

/// Writes the codec's output; whether anything was written. `Err`: the
/// socket failed.
fn write<S: Stream>(io: &mut S, cx: &mut Context<'_>, codec: &mut Connection) -> Result<bool, ()> {
    let mut wrote = false;
    while !codec.output().is_empty() {
        match Pin::new(&mut *io).poll_write(cx, codec.output()) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Err(()),
            Poll::Ready(Ok(written)) => {
                codec.written(written);
                wrote = true;
            }
            Poll::Pending => break,
        }
    }
    if wrote {
        // TLS holds records until flushed.
        if let Poll::Ready(Err(_)) = Pin::new(&mut *io).poll_flush(cx) {
            return Err(());
        }
    }
    Ok(wrote)
}

fn wake_all(woken: &Woken, mut slots: u128) {
    while slots != 0 {
        woken.wake(slots.trailing_zeros() as usize);
        slots &= slots - 1;
    }
}

/// One stream's exchange: route and answer the request. A client's reset
/// (its slot's reset bit) abandons it, upstream call included.
async fn exchange(
    mut request: Request<RequestBody>,
    shared: &Shared,
    conn: &ConnInfo,
    tls: Option<&Session>,
    woken: &Woken,
    slot: usize,
) -> Exchanged {
    let mut context = RequestContext::new(conn.port);
    // The response's head may stay as the upstream sent it: it is encoded
    // from the upstream's bytes, without a map.
    context.raw_response = true;
    let mut response = Response::new(ResponseBody::empty());
    let answered = {
        let handled = pin!(handle(
            shared,
            conn,
            tls,
            &mut request,
            &mut context,
            &mut response
        ));
        let reset = poll_fn(|_| {
            // The slot is woken when its reset bit is set.
            if woken.is_reset(slot) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        tokio::select! {
            biased;
            () = handled => true,
            () = reset => false,
        }
    };
    (answered.then_some(response), context)
}
