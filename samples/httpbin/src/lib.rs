//! A small Rust clone of the Python [httpbin](https://httpbin.org) service
//! (version 0.10), the backend Istio's docs use as `samples/httpbin`.
//!
//! Serves HTTP/1.1 and h2c (prior knowledge) on one port. See [`serve`] and,
//! for tests, [`spawn`].

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use http::header::{self, HeaderValue};
use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

mod body;
mod form;
mod handlers;
mod json;

use body::RespBody;
use handlers::Conn;

/// The `server` header gunicorn sends in front of the Python httpbin.
const SERVER: &str = "gunicorn/19.9.0";

/// Server options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// When set, every response carries `x-httpbin-name: NAME`, so tests can
    /// tell backends apart.
    pub name: Option<String>,
}

/// Serves httpbin on an already-bound listener until the future is dropped.
///
/// HTTP/1.1 and h2c (prior knowledge) are both accepted on the same port;
/// HTTP/1.1 keep-alive is on. Dropping the future also closes every
/// connection it accepted.
///
/// Fails immediately with [`io::ErrorKind::InvalidInput`] if `options.name`
/// is not a valid header value. Errors accepting a connection are not fatal.
pub async fn serve(listener: TcpListener, options: Options) -> io::Result<()> {
    let name = options
        .name
        .as_deref()
        .map(HeaderValue::from_str)
        .transpose()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid name: {e}")))?;
    let local = listener.local_addr()?;

    // Owning the connection tasks here means dropping `serve` aborts them.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(_) => {
                // E.g. EMFILE or a connection reset before accept: back off briefly.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            peer,
            local: stream.local_addr().unwrap_or(local),
        };
        let name = name.clone();
        connections.spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let name = name.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(req, conn, name).await) }
            });
            // Connection errors (resets, protocol errors) only end that connection.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds `127.0.0.1:0`, spawns [`serve`] on the current tokio runtime and
/// returns the bound address. Meant for tests; the server lives as long as the
/// runtime.
pub async fn spawn(options: Options) -> io::Result<SocketAddr> {
    if let Some(name) = &options.name {
        HeaderValue::from_str(name).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("invalid name: {e}"))
        })?;
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, options));
    Ok(addr)
}

/// Runs the handler and adds the headers httpbin (Flask `after_request`) and
/// gunicorn put on every response.
async fn respond(
    req: Request<Incoming>,
    conn: Conn,
    name: Option<HeaderValue>,
) -> Response<RespBody> {
    let is_options = req.method() == Method::OPTIONS;
    let origin = req.headers().get(header::ORIGIN).cloned();
    let request_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();

    let mut resp = handlers::handle(req, conn).await;

    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        origin.unwrap_or(HeaderValue::from_static("*")),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    if is_options {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, PATCH, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("3600"),
        );
        if let Some(request_headers) = request_headers {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, request_headers);
        }
    }
    h.entry(header::SERVER)
        .or_insert(HeaderValue::from_static(SERVER));
    if let Some(name) = name {
        h.insert("x-httpbin-name", name);
    }
    resp
}
