//! One downstream connection: read a head, route and answer it, write the
//! response, repeat. Between requests the connection holds no buffer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::{Method, Request, Response, Version};
use http_body::Body as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use super::encode::{self, Exchange, Framing};
use super::parse::{self, Parsed, H2_PREFACE};
use super::prefixed::Prefixed;
use super::write::write_body;
use crate::body::ResponseBody;
use crate::handler::{handle, local_reply, ConnInfo};
use crate::request_body::RequestBody;
use crate::{ProxyError, Shared};

/// Bytes read per `read` while a head arrives.
const READ_CHUNK: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub(crate) struct ServeSettings {
    /// How long a keep-alive connection may sit with no request.
    pub idle_timeout: Duration,
    /// How long a request's head may take once its first byte arrived.
    pub header_read_timeout: Duration,
}

/// Serves `stream` until the client closes, a timeout passes, or the
/// listener drains (`drain` changes or its sender goes away).
///
/// The connection's own state is only what waiting needs; each request's
/// work (head buffer, routing, upstream call, response) lives in one box
/// allocated when bytes arrive and freed when the response is written.
pub(crate) async fn serve(
    mut stream: TcpStream,
    conn: Arc<ConnInfo>,
    shared: Arc<Shared>,
    mut drain: watch::Receiver<()>,
) {
    let settings = shared.config.serve_settings();
    // Bytes of a pipelined next request; usually empty (no allocation).
    let mut buf = BytesMut::new();
    let timer = tokio::time::sleep(settings.idle_timeout);
    tokio::pin!(timer);
    loop {
        if buf.is_empty() {
            timer.as_mut().reset(Instant::now() + settings.idle_timeout);
            // `poll_read_ready` rather than `readable()`: it keeps no waiter
            // node in this state, which every idle connection would carry.
            tokio::select! {
                biased;
                ready = std::future::poll_fn(|cx| stream.poll_read_ready(cx)) => if ready.is_err() { return },
                () = timer.as_mut() => return,
                _ = drain.changed() => return,
            }
        }
        let exchange = Box::pin(exchange(
            &mut stream,
            &mut buf,
            timer.as_mut(),
            &conn,
            &shared,
            &drain,
        ));
        match exchange.await {
            Next::Request => {}
            Next::Close => {
                let _ = stream.shutdown().await;
                return;
            }
            // Boxed: hyper's connection state is large and most
            // connections never need it.
            Next::Handoff => return Box::pin(handoff(stream, buf, conn, shared, drain)).await,
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
async fn exchange(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    mut timer: Pin<&mut Sleep>,
    conn: &ConnInfo,
    shared: &Shared,
    drain: &watch::Receiver<()>,
) -> Next {
    let settings = shared.config.serve_settings();
    timer
        .as_mut()
        .reset(Instant::now() + settings.header_read_timeout);
    let request = match read_head(stream, buf, timer).await {
        Head::Request(request) => request,
        Head::Handoff => return Next::Handoff,
        Head::Closed => return Next::Close,
        Head::Reject(error) => {
            let response = local_reply(shared, error);
            let refusal = Exchange {
                head_request: false,
                http11: true,
                keep_alive: false,
            };
            write_response(stream, response, &refusal).await;
            return Next::Close;
        }
    };
    let exchange = Exchange {
        head_request: request.method() == Method::HEAD,
        http11: request.version() == Version::HTTP_11,
        keep_alive: parse::keep_alive(&request) && !draining(drain),
    };
    let response = handle(shared, conn, request.map(|()| RequestBody::Empty)).await;
    if write_response(stream, response, &exchange).await && !draining(drain) {
        Next::Request
    } else {
        Next::Close
    }
}

enum Head {
    Request(Request<()>),
    Handoff,
    Reject(ProxyError),
    Closed,
}

/// Reads until `buf` holds a whole head (or the timer, the header read
/// timeout, fires).
async fn read_head(stream: &mut TcpStream, buf: &mut BytesMut, mut timer: Pin<&mut Sleep>) -> Head {
    loop {
        if !buf.is_empty() {
            match parse::parse(buf) {
                Parsed::Partial => {}
                Parsed::Request(request) => return Head::Request(request),
                Parsed::Handoff => return Head::Handoff,
                Parsed::Reject(status) => return Head::Reject(reject(status)),
            }
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        // `read_buf` (not `try_read`): a short read tells Tokio the socket
        // is drained, which saves a `recv` that would return EAGAIN.
        tokio::select! {
            biased;
            read = stream.read_buf(buf) => match read {
                Ok(0) | Err(_) => return Head::Closed,
                Ok(_) => {}
            },
            () = timer.as_mut() => return Head::Closed,
        }
    }
}

fn reject(status: http::StatusCode) -> ProxyError {
    if status == http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
        ProxyError::HeadersTooLarge
    } else {
        ProxyError::BadRequest("malformed request")
    }
}

fn draining(drain: &watch::Receiver<()>) -> bool {
    drain.has_changed().unwrap_or(true)
}

/// Writes the response; returns whether the connection may carry another
/// request.
async fn write_response(
    stream: &mut TcpStream,
    response: Response<ResponseBody>,
    exchange: &Exchange,
) -> bool {
    let (mut parts, mut body) = response.into_parts();
    let mut out = Vec::with_capacity(512);
    let (framing, keep_alive) = encode::head(&mut out, &mut parts, &body.size_hint(), exchange);
    if framing == Framing::None {
        return stream.write_all(&out).await.is_ok() && keep_alive;
    }
    let chunked = framing == Framing::Chunked;
    match write_body(stream, &mut out, &mut body, chunked).await {
        // A body shorter or longer than its declared length ends the connection.
        Ok(sent) => keep_alive && !matches!(framing, Framing::Length(length) if length != sent),
        Err(error) => {
            tracing::debug!(%error, "response not written to the end");
            false
        }
    }
}

type RequestFuture =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

/// Hands the connection, with what was read of it, to hyper: HTTP/2 after
/// the preface, else HTTP/1.1 with upgrades. Drains gracefully.
async fn handoff(
    stream: TcpStream,
    buf: BytesMut,
    conn: Arc<ConnInfo>,
    shared: Arc<Shared>,
    drain: watch::Receiver<()>,
) {
    let h2 = buf.chunk().starts_with(H2_PREFACE);
    let settings = shared.config.serve_settings();
    let io = TokioIo::new(Prefixed::new(buf, stream));
    let service = service_fn(
        move |request: Request<hyper::body::Incoming>| -> RequestFuture {
            let shared = Arc::clone(&shared);
            let conn = Arc::clone(&conn);
            Box::pin(async move {
                let request = request.map(RequestBody::Incoming);
                Ok::<_, Infallible>(handle(&shared, &conn, request).await)
            })
        },
    );
    if h2 {
        let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_concurrent_streams(100)
            .serve_connection(io, service);
        drained(connection, drain, |c| c.graceful_shutdown()).await;
    } else {
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout)
            .serve_connection(io, service)
            .with_upgrades();
        drained(connection, drain, |c| c.graceful_shutdown()).await;
    }
}

/// Runs a hyper connection; when the listener drains, asks it to finish
/// gracefully and waits for it.
async fn drained<C, E>(connection: C, mut drain: watch::Receiver<()>, shutdown: fn(Pin<&mut C>))
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = drain.changed() => {
            shutdown(connection.as_mut());
            connection.await
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
        let conn = Arc::new(crate::handler::ConnInfo {
            port: 80,
            peer_ip: http::HeaderValue::from_static("127.0.0.1"),
            scheme: "http",
        });
        let (_drain, receiver) = tokio::sync::watch::channel(());
        let connection = super::serve(stream, conn, Arc::new(crate::Shared::for_tests()), receiver);
        let size = std::mem::size_of_val(&connection);
        assert!(size <= 640, "the connection future is {size} bytes");
    }
}
