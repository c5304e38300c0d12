//! One downstream connection: read a head, route and answer it, write the
//! response, repeat. Between requests the connection holds no buffer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::FutureExt as _;
use http::{HeaderValue, Method, Request, Response, Version};
use http_body::Body as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use crate::body::RequestBody;
use crate::body::ResponseBody;
use crate::conn::{
    ConnectionHold, ListenerSignal, OpenConnection, Prefixed, Stream, DRAIN, IDLE_TICKS,
};
use crate::h1::encode::{self, Exchange, Framing};
use crate::h1::parse::{self, Parsed, H2_PREFACE};
use crate::h1::write::{write_body, WriteError};
use crate::idle::IdleBody;
use crate::request::{closes_connection, handle, local_reply, ConnInfo, Context};
use crate::telemetry::{finish, Accounted, End, Ended};
use crate::{HeadLimits, ProxyError, Shared};

/// Bytes read per `read` while a head arrives.
const READ_CHUNK: usize = 4096;

/// Serves `stream` until the client closes, it idles for the idle timeout
/// (give or take one tick), or the listener drains.
///
/// The connection's own state is only what waiting needs; each request's
/// work (head buffer, routing, upstream call, response) lives in one box
/// allocated when bytes arrive and freed when the response is written.
#[allow(clippy::manual_async_fn)] // why: the comment in the body
pub(crate) fn serve<S: Stream>(
    mut stream: S,
    conn: ConnInfo,
    shared: Arc<Shared>,
    signal: Arc<ListenerSignal>,
    open: OpenConnection,
) -> impl Future<Output = ()> {
    // An `async` block, not an `async fn`: an `async fn` moves its arguments
    // into locals of its body, so every connection's state would hold them
    // twice (72 bytes, which took its task past a 384-byte allocation); the
    // block uses what it captured in place.
    async move {
        let mut nodelay = Nodelay::FirstRequest;
        loop {
            // The first exchange starts at once: its head is due within the
            // header timeout of the accept (a connection that sends nothing is
            // not held for the idle timeout). Later ones start when bytes
            // arrive, the idle timeout bounding the wait.
            if nodelay != Nodelay::FirstRequest && !wait_for_request(&mut stream, &signal).await {
                return;
            }
            nodelay = match nodelay {
                Nodelay::FirstRequest => Nodelay::KeptAlive,
                Nodelay::KeptAlive => {
                    // Kept alive (nginx does the same at this point): back-to-back
                    // small responses must not wait for acknowledgements. Once
                    // per connection: a `setsockopt` per request cost more than
                    // a microsecond of system time.
                    stream.nodelay();
                    Nodelay::Set
                }
                Nodelay::Set => Nodelay::Set,
            };
            // Bytes read ahead: a pipelined next request is served before the
            // connection waits again. Not alive while it waits.
            let mut buf = BytesMut::new();
            loop {
                let exchange = Box::pin(exchange(
                    &mut stream,
                    &mut buf,
                    &conn,
                    &shared,
                    &signal,
                    // The connection's first requests (before it ever waited):
                    // read from the accept on. Told by `nodelay` rather than a
                    // flag of its own, which would sit in every idle
                    // connection's state.
                    nodelay == Nodelay::KeptAlive,
                ));
                match exchange.await {
                    Next::Request if buf.is_empty() => break,
                    Next::Request => {}
                    Next::Close => {
                        // Unread bytes would make `close` send a reset, which can
                        // destroy the response before the client reads it.
                        if !buf.is_empty() {
                            let _ = stream.shutdown().await;
                        }
                        return;
                    }
                    // Boxed: hyper's connection state is large and most
                    // connections never need it.
                    Next::Handoff => {
                        stream.nodelay();
                        let hold = ConnectionHold::new(open, signal);
                        return Box::pin(handoff(stream, buf, conn, shared, hold)).await;
                    }
                }
            }
        }
    }
}

/// Where a connection is in setting `TCP_NODELAY`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nodelay {
    FirstRequest,
    KeptAlive,
    Set,
}

/// Waits until the client sends something (true), or closes, idles out or
/// the listener drains (false).
/// (A function returning a block, so that the references are held once.)
fn wait_for_request<'a>(
    stream: &'a mut impl Stream,
    signal: &'a ListenerSignal,
) -> impl Future<Output = bool> + 'a {
    let idle_since = signal.now();
    async move {
        loop {
            let notified = signal.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = signal.now();
            if now == DRAIN || now.saturating_sub(idle_since) >= IDLE_TICKS {
                return false;
            }
            // `poll_read_ready` rather than `readable()`: it keeps no waiter
            // node in this state, which every idle connection would carry.
            tokio::select! {
                biased;
                ready = std::future::poll_fn(|cx| stream.poll_read_ready(cx)) => return ready.is_ok(),
                () = notified => {}
            }
        }
    }
}

/// What the connection does after an exchange.
enum Next {
    Request,
    Close,
    Handoff,
}

/// Reads one request head, answers it and writes the response.
async fn exchange<S: Stream>(
    stream: &mut S,
    buf: &mut BytesMut,
    conn: &ConnInfo,
    shared: &Shared,
    signal: &ListenerSignal,
    first: bool,
) -> Next {
    let config = &shared.config;
    // The request is parsed into this slot and read in place from there on
    // (an empty request allocates nothing).
    let mut request = Request::new(RequestBody::Empty);
    let head = read_head(
        stream,
        buf,
        &mut request,
        config.head_limits,
        config.header_read_timeout,
        first,
    );
    let keep_alive = match head.await {
        Head::Request { keep_alive } => keep_alive,
        Head::Handoff => return Next::Handoff,
        Head::Closed => return Next::Close,
        Head::Reject(error) => {
            let mut context = Context::new(conn.port);
            context.failed(error);
            let response = local_reply(shared, error);
            let refusal = Exchange {
                head_request: false,
                http11: true,
                keep_alive: false,
            };
            let status = response.status();
            let written = pin!(write_response(stream, response, &refusal));
            let written = written.await;
            finish(shared, conn, &mut context, written.ended(status));
            return Next::Close;
        }
    };
    let exchange = Exchange {
        head_request: request.method() == Method::HEAD,
        http11: request.version() == Version::HTTP_11,
        keep_alive: keep_alive && !signal.draining(),
    };
    let tls = stream.session().map(Arc::as_ref);
    let mut context = Context::new(conn.port);
    context.raw_response = true;
    let mut response = Response::new(ResponseBody::empty());
    handle(shared, conn, tls, &mut request, &mut context, &mut response).await;
    // Its header values are slices of the read buffer: dropped before the
    // write, the buffer can go back to the allocator now, as it did when
    // `handle` consumed the request.
    drop(request);
    let exchange = Exchange {
        keep_alive: exchange.keep_alive && !closes_connection(&response),
        ..exchange
    };
    let status = response.status();
    // Pinned where it is: awaited by value, the write's future (with the
    // response in it) was copied into the await's slot on every request.
    let written = pin!(write_response(stream, response, &exchange));
    let written = written.await;
    finish(shared, conn, &mut context, written.ended(status));
    if written.reusable && !signal.draining() {
        Next::Request
    } else {
        Next::Close
    }
}

/// What reading a head came to; a request is in the exchange's slot.
enum Head {
    /// `keep_alive`: as the head asks ([`Parsed::Request`]).
    Request {
        keep_alive: bool,
    },
    Handoff,
    Reject(ProxyError),
    Closed,
}

/// Reads until `buf` holds a whole head, within `limit`: of the accept for
/// a connection's `first` head (its exchange starts at once), else of the
/// head's first byte. A request is parsed into `slot`.
async fn read_head<S: Stream>(
    stream: &mut S,
    buf: &mut BytesMut,
    slot: &mut Request<RequestBody>,
    limits: HeadLimits,
    limit: Duration,
    first: bool,
) -> Head {
    // A first head is due `limit` after the accept, which is about now; a
    // later one `limit` after its first byte, which is what the first read
    // brings. Either way the timer is made only if that read does not
    // bring a whole head.
    let accepted = first.then(Instant::now);
    let read = read_and_parse(stream, buf, slot, limits);
    let head = if first {
        read.now_or_never()
    } else {
        Some(read.await)
    };
    if let Some(Some(head)) = head {
        return head;
    }
    let timer = tokio::time::sleep_until(accepted.unwrap_or_else(Instant::now) + limit);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            biased;
            head = read_and_parse(stream, buf, slot, limits) => if let Some(head) = head { return head },
            // Nothing came: close. Part of a head: Envoy's 408.
            () = timer.as_mut() => return if buf.is_empty() {
                Head::Closed
            } else {
                Head::Reject(ProxyError::RequestHeaderTimeout)
            },
        }
    }
}

/// Parses what is buffered, reading once first if that is not a whole
/// head; `None` when more bytes are needed.
async fn read_and_parse<S: Stream>(
    stream: &mut S,
    buf: &mut BytesMut,
    slot: &mut Request<RequestBody>,
    limits: HeadLimits,
) -> Option<Head> {
    if !buf.is_empty() {
        if let Some(head) = parse_buffered(buf, slot, limits) {
            return Some(head);
        }
    }
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    // `read_buf` (not `try_read`): a short read tells Tokio the socket is
    // drained, which saves a `recv` that would return EAGAIN.
    match stream.read_buf(buf).await {
        Ok(0) | Err(_) => return Some(Head::Closed),
        Ok(_) => {}
    }
    parse_buffered(buf, slot, limits)
}

fn parse_buffered(
    buf: &mut BytesMut,
    slot: &mut Request<RequestBody>,
    limits: HeadLimits,
) -> Option<Head> {
    match parse::parse(buf, limits, slot) {
        Parsed::Partial => None,
        Parsed::Request { keep_alive } => Some(Head::Request { keep_alive }),
        Parsed::Handoff => Some(Head::Handoff),
        Parsed::Reject(error) => Some(Head::Reject(error)),
    }
}

/// How writing a response went.
struct Written {
    /// Whether the connection may carry another request.
    reusable: bool,
    /// Body bytes written.
    sent: u64,
    end: End,
}

impl Written {
    fn ended(&self, status: http::StatusCode) -> Ended {
        Ended {
            status: Some(status),
            sent: self.sent,
            end: self.end,
        }
    }
}

/// Writes the response.
async fn write_response<S: Stream>(
    stream: &mut S,
    response: Response<ResponseBody>,
    exchange: &Exchange,
) -> Written {
    let (mut parts, mut body) = response.into_parts();
    let mut out = Vec::with_capacity(512);
    let (framing, keep_alive) = encode::head(
        &mut out,
        &mut parts,
        &body.size_hint(),
        exchange,
        body.raw_head(),
    );
    if framing == Framing::None {
        let complete = stream.write_all(&out).await.is_ok();
        return Written {
            reusable: complete && keep_alive,
            sent: 0,
            end: if complete {
                End::Complete
            } else {
                End::ClientGone
            },
        };
    }
    let chunked = framing == Framing::Chunked;
    // Nagle's algorithm would hold back the tail of a response written in
    // several pieces; one written at once (the usual small response) goes
    // out whole either way, which saves the `setsockopt` per connection.
    let nodelay = |stream: &mut S| stream.nodelay();
    let mut sent = 0;
    match write_body(stream, &mut out, &mut body, chunked, nodelay, &mut sent).await {
        // A body shorter or longer than its declared length ends the connection.
        Ok(()) => Written {
            reusable: keep_alive && !matches!(framing, Framing::Length(length) if length != sent),
            sent,
            end: End::Complete,
        },
        Err(error) => {
            tracing::debug!(%error, "response not written to the end");
            Written {
                reusable: false,
                sent,
                end: match error {
                    WriteError::Body(_) => End::UpstreamFailed,
                    WriteError::Io(_) => End::ClientGone,
                },
            }
        }
    }
}

type RequestFuture =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

/// Hands the connection, with what was read of it, on: to vestibule's
/// HTTP/2 server after the preface, else to hyper's HTTP/1.1 with upgrades.
/// Drains gracefully.
async fn handoff<S: Stream>(
    stream: S,
    buf: BytesMut,
    conn: ConnInfo,
    shared: Arc<Shared>,
    hold: Arc<ConnectionHold>,
) {
    let h2 = buf.starts_with(H2_PREFACE);
    let io = Prefixed::new(buf, stream);
    let signal = Arc::clone(&hold.signal);
    if h2 {
        return crate::server::h2::serve(io, conn, shared, signal).await;
    }
    let conn = Arc::new(conn);
    let session = io.inner().session().cloned();
    let header_read_timeout = shared.config.header_read_timeout;
    let limits = shared.config.head_limits;
    let service = service_fn(
        move |mut request: Request<hyper::body::Incoming>| -> RequestFuture {
            let shared = Arc::clone(&shared);
            let conn = Arc::clone(&conn);
            let session = session.clone();
            if request.headers().contains_key(http::header::UPGRADE) {
                // A tunnel, if it comes to one, stays counted (the upgrade
                // takes the hold along).
                request.extensions_mut().insert(Arc::clone(&hold));
            }
            Box::pin(async move {
                let head_request = request.method() == Method::HEAD;
                let mut request = request.map(|body| RequestBody::Incoming(IdleBody::new(body)));
                let mut context = Context::new(conn.port);
                let mut response = Response::new(ResponseBody::empty());
                let tls = session.as_deref();
                handle(
                    &shared,
                    &conn,
                    tls,
                    &mut request,
                    &mut context,
                    &mut response,
                )
                .await;
                let mut response = Accounted::wrap(response, context, shared, conn, head_request);
                if closes_connection(&response) {
                    // hyper closes the connection after a response that says so.
                    response
                        .headers_mut()
                        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            })
        },
    );
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // The same head limits as vestibule's own parser (hyper's buffer
        // cannot be smaller than 8 KiB).
        .max_headers(limits.count)
        .max_buf_size(limits.bytes.max(8192))
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    drained(connection, signal, |c| c.graceful_shutdown()).await;
}

/// Runs a hyper connection; when the listener drains, asks it to finish
/// gracefully and waits for it.
async fn drained<C, E>(connection: C, signal: Arc<ListenerSignal>, shutdown: fn(Pin<&mut C>))
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(connection);
    let result = loop {
        let notified = signal.notify().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if signal.draining() {
            shutdown(connection.as_mut());
            break connection.await;
        }
        tokio::select! {
            result = connection.as_mut() => break result,
            () = notified => {}
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection closed with error");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    /// Every idle keep-alive connection holds this future (plus Tokio's
    /// task header and I/O registration): it must stay far below the 1 KiB
    /// per idle connection the design allows (docs/benchmarks.md).
    #[tokio::test]
    async fn an_idle_connection_holds_a_small_state() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        // The type plain HTTP connections are served on.
        let stream = crate::conn::accept::Accepted::Registered(stream);
        let conn = crate::request::ConnInfo {
            port: 80,
            tls: false,
            peer: Box::new(crate::request::Peer {
                ip: http::HeaderValue::from_static("127.0.0.1"),
                addresses: None,
            }),
        };
        let signal = super::ListenerSignal::new();
        let shared = Arc::new(crate::Shared::for_tests());
        let open = crate::conn::OpenConnection::for_tests();
        let connection = super::serve(stream, conn, shared, signal, open);
        let size = std::mem::size_of_val(&connection);
        // Tokio's task cell adds about a hundred bytes and rounds up to 128:
        // a future of up to 280 bytes is a 384-byte task, 8 more a 512-byte
        // one (examples/idle_cost shows the task's size class).
        assert!(size <= 256, "the connection future is {size} bytes");
    }
}
