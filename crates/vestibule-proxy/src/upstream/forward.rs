//! Sends a request to a cluster: pick an endpoint, get a connection, send;
//! retry on the conditions the route's policy names (Istio's default:
//! connect failure and refused stream, twice), each time preferring an
//! endpoint not yet tried, with Envoy's jittered exponential backoff.
//! Retries after a response (status codes, gRPC status) replay the request
//! only when it had no body.

use std::sync::Arc;

use smallvec::SmallVec;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, Version};
use vestibule_ir::RetryPolicy;

use crate::body::RequestBody;
use crate::body::UpstreamBody;
use crate::error::ProxyError;
use crate::telemetry::destination::UpstreamCounters;
use crate::upstream::client::{self, SendError, UpstreamConn};
use crate::upstream::clusters::{Cluster, EndpointState};
use crate::upstream::outlier::Outcome;
use crate::upstream::pool::{ConnectError, Connection};
use crate::upstream::H1ResponseBody;
use crate::upstream::TlsFailure;

/// The endpoints a request was sent to, by address of their state.
type Tried = SmallVec<[usize; 4]>;

/// Envoy's `include_request_attempt_count`, which Istio sets on every
/// virtual host: the try's number, from 1, on every try sent upstream.
static X_ENVOY_ATTEMPT_COUNT: HeaderName = HeaderName::from_static("x-envoy-attempt-count");

/// The first tries' counts, so that setting the header allocates nothing.
static ATTEMPT_COUNTS: [HeaderValue; 4] = [
    HeaderValue::from_static("1"),
    HeaderValue::from_static("2"),
    HeaderValue::from_static("3"),
    HeaderValue::from_static("4"),
];

fn attempt_count(attempt: u32) -> HeaderValue {
    match ATTEMPT_COUNTS.get(attempt.wrapping_sub(1) as usize) {
        Some(value) => value.clone(),
        None => HeaderValue::from(attempt),
    }
}

/// Envoy's default retry backoff base interval.
const DEFAULT_BACKOFF: Duration = Duration::from_millis(25);

/// Sends `request`, borrowed (moving a request copies a few hundred bytes
/// each time): its body is taken as it is sent, and a retry after that
/// puts a replay in its place.
pub(crate) async fn forward(
    cluster: &Cluster,
    request: &mut Request<RequestBody>,
    retry: &RetryPolicy,
    connect_timeout: Duration,
    attempts: &mut Attempts,
) -> Result<Response<UpstreamBody>, ProxyError> {
    let replay = Replay::of(request, retry);
    // The retry in flight's place under the cluster's retry limit.
    let mut _retrying = None;
    // Attempts borrow the request; once one sent it (its body, if any, is
    // gone), a retry sends the replay instead.
    let mut sent = false;
    // Inline: no allocation per request for the usual one or two attempts.
    let mut tried: Tried = SmallVec::new();
    let mut attempt = 0u32;
    loop {
        // Timers are boxed: rare, and large enough to weigh on every
        // request's state if inline.
        if attempt > 0 {
            Box::pin(tokio::time::sleep(backoff(retry, attempt))).await;
        }
        let retries_left = attempt < retry.attempts;
        attempt += 1;
        attempts.count = attempt;
        if std::mem::take(&mut sent) {
            match &replay {
                Some(replay) => *request = replay.request(),
                None => return Err(ProxyError::UpstreamReset),
            }
        }
        request
            .headers_mut()
            .insert(X_ENVOY_ATTEMPT_COUNT.clone(), attempt_count(attempt));
        let once = try_once(cluster, request, &mut tried, connect_timeout, attempts);
        let outcome = match retry.per_try_timeout {
            Some(limit) => Box::pin(tokio::time::timeout(limit, once))
                .await
                .unwrap_or(Err(Failure::Timeout)),
            None => once.await,
        };
        if cluster.detects_outliers() {
            record(cluster, attempts, &outcome);
            // Counted: a route timeout in the backoff that follows is not
            // this endpoint's.
            attempts.connected = false;
        }
        let on = &retry.retry_on;
        let retriable = match &outcome {
            Ok(response) => replay.is_some() && retryable_response(retry, response),
            // Not sent: the request goes again as it is.
            Err(Failure::Connect(_)) => on.connect_failure,
            Err(Failure::Refused) => on.refused_stream || on.reset,
            // Envoy's `reset` (and 5xx) retries cover protocol errors too.
            Err(Failure::Reset | Failure::Protocol | Failure::Timeout) => {
                replay.is_some() && (on.reset || on.server_errors || on.gateway_errors)
            }
            Err(_) => false,
        };
        // Envoy: past the cluster's retry limit, the answer stands.
        let allowed = retriable
            && retries_left
            && match cluster.circuit() {
                Some(circuit) => {
                    // This request's previous retry is over.
                    _retrying = None;
                    _retrying = circuit.start_retry();
                    _retrying.is_some()
                }
                None => true,
            };
        if allowed {
            UpstreamCounters::count(&cluster.stats.upstream.retries);
            if let Ok(response) = &outcome {
                tracing::debug!(status = %response.status(), "retrying on response");
            }
            sent = !matches!(outcome, Err(Failure::Connect(_) | Failure::Refused));
            continue;
        }
        // Envoy's `URX`: the policy would have retried, had it tries left.
        attempts.exhausted = retriable && retry.attempts > 0;
        return outcome.map_err(ProxyError::from);
    }
}

/// The upstream side of a request: how many attempts there were and
/// (while an access log is on) the endpoint the last one went to.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    pub count: u32,
    /// Whether to keep `endpoint` (a reference count per request, taken
    /// only when something reads it).
    pub keep_endpoint: bool,
    pub endpoint: Option<Arc<EndpointState>>,
    /// Retries ran out while the last attempt still failed in a way the
    /// policy retries (Envoy's `URX`).
    pub exhausted: bool,
    /// The request's consistent-hash key, hashed (when the cluster hashes
    /// and the request has the key).
    pub hash: Option<u64>,
    /// The local address of the last attempt's connection (kept with the
    /// endpoint).
    pub upstream_local: Option<crate::telemetry::access_log::Address>,
    /// Whether the last attempt got a connection: only then does a timeout
    /// count against its endpoint (not while it waited for a connection).
    pub connected: bool,
    /// Whether an HTTP/1.1 upstream's response head may stay as it came
    /// (see [`crate::h1::raw`]): nothing downstream reads or edits its
    /// headers but the HTTP/1.1 writer.
    pub raw_head: bool,
}

/// Counts the attempt's outcome for outlier detection: the status it was
/// answered with, or a failure on the gateway's side of the exchange.
fn record(
    cluster: &Cluster,
    attempts: &Attempts,
    outcome: &Result<Response<UpstreamBody>, Failure>,
) {
    let Some(endpoint) = &attempts.endpoint else {
        return;
    };
    let counted = match outcome {
        Ok(response) => Outcome::Answer(response.status().as_u16()),
        Err(Failure::Connect(_) | Failure::Reset | Failure::Protocol) => Outcome::LocalFailure,
        Err(Failure::Timeout | Failure::StreamIdle) if attempts.connected => Outcome::LocalFailure,
        Err(Failure::Timeout | Failure::StreamIdle) => return,
        // Not the endpoint's doing.
        Err(Failure::NoEndpoint | Failure::Refused | Failure::Overflow | Failure::RequestBody) => {
            return
        }
    };
    cluster.record(endpoint, counted);
}

/// How one attempt failed.
enum Failure {
    NoEndpoint,
    /// No connection: the request was never sent (and is intact). With
    /// the reason when the TLS handshake failed.
    Connect(Option<TlsFailure>),
    /// The connection refused the request before sending it (and gave it
    /// back intact).
    Refused,
    /// A circuit breaker turned the request away.
    Overflow,
    /// Sent, then the connection failed before a response.
    Reset,
    /// The upstream answered with something that is not HTTP.
    Protocol,
    /// The client's body failed while it went upstream: the client's fault,
    /// never retried.
    RequestBody,
    /// Nothing moved for the stream idle timeout.
    StreamIdle,
    Timeout,
}

impl From<Failure> for ProxyError {
    fn from(failure: Failure) -> ProxyError {
        match failure {
            Failure::NoEndpoint => ProxyError::NoHealthyUpstream,
            Failure::Connect(None) => ProxyError::ConnectFailure,
            Failure::Connect(Some(tls)) => ProxyError::UpstreamTls(tls),
            Failure::Refused | Failure::Reset => ProxyError::UpstreamReset,
            Failure::Overflow => ProxyError::Overflow,
            Failure::Protocol => ProxyError::UpstreamProtocol,
            Failure::RequestBody => ProxyError::BadRequest("malformed request body"),
            Failure::StreamIdle => ProxyError::StreamIdleTimeout,
            Failure::Timeout => ProxyError::Timeout,
        }
    }
}

async fn try_once(
    cluster: &Cluster,
    request: &mut Request<RequestBody>,
    tried: &mut Tried,
    connect_timeout: Duration,
    attempts: &mut Attempts,
) -> Result<Response<UpstreamBody>, Failure> {
    let keep = attempts.keep_endpoint || cluster.detects_outliers();
    if keep {
        attempts.endpoint = None;
        attempts.connected = false;
    }
    let endpoint = {
        let endpoints = cluster.endpoints();
        cluster
            .pick(&endpoints, tried, attempts.hash)
            .ok_or(Failure::NoEndpoint)?
    };
    tried.push(Arc::as_ptr(&endpoint) as usize);
    UpstreamCounters::count(&cluster.stats.upstream.requests);
    if keep {
        attempts.endpoint = Some(Arc::clone(&endpoint));
    }
    let active = endpoint.start_request().map_err(|_| Failure::Overflow)?;
    let connection = match endpoint.pool.get(endpoint.target(), connect_timeout).await {
        Ok(connection) => {
            attempts.connected = keep;
            connection
        }
        Err(ConnectError::Overflow(_)) => return Err(Failure::Overflow),
        Err(error) => {
            UpstreamCounters::count(&cluster.stats.upstream.connect_failures);
            return Err(connect_failed(&error, &endpoint));
        }
    };
    match connection {
        Connection::Http1(mut conn) => {
            if attempts.keep_endpoint {
                attempts.upstream_local = conn.local_address();
            }
            let raw = attempts.raw_head;
            let response = send_http1(conn, request, &endpoint, connect_timeout, raw).await?;
            Ok(response.map(|body| UpstreamBody::http1(body, active)))
        }
        Connection::Http2(mut sender, local) => {
            if attempts.keep_endpoint {
                attempts.upstream_local = local;
            }
            // hyper's client takes the request; a refusal gives it back.
            let mut outgoing = std::mem::replace(request, Request::new(RequestBody::Empty));
            // hyper pumps the body in a task of its own: the wait here is
            // bounded from the body's last frame, once it stops moving.
            let activity = if http_body::Body::is_end_stream(outgoing.body()) {
                None
            } else {
                outgoing.body_mut().activity()
            };
            let sent = crate::idle::bounded(sender.try_send_request(outgoing), activity)
                .await
                .map_err(|_| Failure::StreamIdle)?;
            match sent {
                Ok(response) => Ok(response.map(|body| UpstreamBody::http2(body, active))),
                Err(error) => Err(failed(error, request, &endpoint)),
            }
        }
    }
}

/// Sends on a pooled HTTP/1.1 connection; if it had gone stale in the pool
/// (closed before answering a bodiless request), once more on a new one.
/// That is not a retry: the upstream never saw the request.
async fn send_http1(
    conn: Box<UpstreamConn>,
    request: &mut Request<RequestBody>,
    endpoint: &Arc<EndpointState>,
    connect_timeout: Duration,
    raw: bool,
) -> Result<Response<H1ResponseBody>, Failure> {
    match client::send(conn, request, endpoint, raw).await {
        Ok(response) => Ok(response),
        Err(SendError::Stale) => Box::pin(resend(request, endpoint, connect_timeout, raw)).await,
        Err(error) => Err(upstream_failed(&error, endpoint)),
    }
}

/// The second send of [`send_http1`], on a new connection (boxed: rare).
async fn resend(
    request: &mut Request<RequestBody>,
    endpoint: &Arc<EndpointState>,
    connect_timeout: Duration,
    raw: bool,
) -> Result<Response<H1ResponseBody>, Failure> {
    let mut conn =
        match crate::upstream::pool::connect_http1(endpoint.target(), connect_timeout).await {
            Ok(conn) => conn,
            Err(error) => return Err(connect_failed(&error, endpoint)),
        };
    // It takes the stale one's place under the cluster's connection limit.
    conn.slot = endpoint.pool.replacement_slot(endpoint.policy.as_deref());
    client::send(conn, request, endpoint, raw)
        .await
        .map_err(|error| upstream_failed(&error, endpoint))
}

fn connect_failed(error: &ConnectError, endpoint: &EndpointState) -> Failure {
    tracing::debug!(endpoint = %endpoint.address, %error, "upstream connect failed");
    match error {
        ConnectError::Tls(failure) => Failure::Connect(Some(*failure)),
        _ => Failure::Connect(None),
    }
}

fn upstream_failed(error: &SendError, endpoint: &EndpointState) -> Failure {
    tracing::debug!(endpoint = %endpoint.address, %error, "upstream request failed");
    match error {
        SendError::Protocol(_) => Failure::Protocol,
        SendError::RequestBody(_) => Failure::RequestBody,
        SendError::StreamIdle => Failure::StreamIdle,
        SendError::Stale | SendError::Reset(_) => Failure::Reset,
    }
}

fn failed(
    mut error: hyper::client::conn::TrySendError<Request<RequestBody>>,
    request: &mut Request<RequestBody>,
    endpoint: &EndpointState,
) -> Failure {
    let unsent = error.take_message();
    tracing::debug!(endpoint = %endpoint.address, error = %error.error(), sent = unsent.is_none(), "upstream send failed");
    match unsent {
        Some(unsent) => {
            *request = unsent;
            Failure::Refused
        }
        None if crate::idle::is_stream_idle(error.error()) => Failure::StreamIdle,
        None => Failure::Reset,
    }
}

/// Whether a response is one the policy retries.
fn retryable_response(retry: &RetryPolicy, response: &Response<UpstreamBody>) -> bool {
    let status = response.status().as_u16();
    let on = &retry.retry_on;
    if on.server_errors && status >= 500
        || on.gateway_errors && matches!(status, 502..=504)
        || on.retriable_status_codes && retry.retriable_status_codes.contains(&status)
        || on.retriable_4xx && status == 409
        || on.envoy_ratelimited && header(response, "x-envoy-ratelimited").is_some()
    {
        return true;
    }
    // gRPC answers failures in a trailers-only response: status in the headers.
    match header(response, "grpc-status") {
        Some(b"1") => on.cancelled,
        Some(b"4") => on.deadline_exceeded,
        Some(b"8") => on.resource_exhausted,
        Some(b"13") => on.internal,
        Some(b"14") => on.unavailable,
        _ => false,
    }
}

/// A response header's first value, wherever the response keeps its head.
fn header<'a>(response: &'a Response<UpstreamBody>, name: &str) -> Option<&'a [u8]> {
    match response.body().raw_head() {
        Some(raw) => raw.get(name),
        None => response.headers().get(name).map(HeaderValue::as_bytes),
    }
}

/// Envoy: a random wait in [0, base × 2^(n-1)), capped at 10 × base.
fn backoff(retry: &RetryPolicy, attempt: u32) -> Duration {
    let base = retry.backoff.unwrap_or(DEFAULT_BACKOFF);
    let ceiling = base
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(base * 10);
    let millis = u64::try_from(ceiling.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(fastrand::u64(..millis))
}

/// What it takes to send a request again after it was sent once: only for
/// requests without a body, and only when the policy retries on responses.
struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Replay {
    fn of(request: &Request<RequestBody>, retry: &RetryPolicy) -> Option<Replay> {
        use http_body::Body as _;
        let on = &retry.retry_on;
        // gRPC conditions only concern gRPC requests; skipping the copy for
        // the rest keeps Istio's default policy free for plain HTTP.
        let grpc = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
        let after_response = on.server_errors
            || on.gateway_errors
            || on.retriable_status_codes
            || on.retriable_4xx
            || on.envoy_ratelimited
            || on.reset
            || (grpc
                && (on.unavailable
                    || on.cancelled
                    || on.deadline_exceeded
                    || on.internal
                    || on.resource_exhausted));
        (retry.attempts > 0 && after_response && request.body().is_end_stream()).then(|| Replay {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
        })
    }

    fn request(&self) -> Request<RequestBody> {
        let mut request = Request::new(RequestBody::Empty);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers.clone();
        request
    }
}
