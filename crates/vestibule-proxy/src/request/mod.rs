//! The request path, as named phases:
//! `route` (host → virtual host → first matching route, on the normalized
//! path) → `act` (direct response | redirect | forward) → `forward`
//! (request headers, upstream call with retries and timeout) → `respond`
//! (response headers) → count.

mod context;
pub(crate) mod cors;
pub(crate) mod fault;
mod grpc;
pub(crate) mod headers;
pub(crate) mod screen;
pub(crate) mod upgrade;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body::Body as _;
use vestibule_ir::{AppProtocol, DirectResponse, Redirect, Route, RouteAction};
use vestibule_route::{
    host_without_port, normalize_host, normalize_path, redirect_location, rewrite_path, select,
    RequestView,
};

use crate::body::RequestBody;
use crate::body::ResponseBody;
use crate::conn::tls::Session;
use crate::error::ProxyError;
use crate::snapshot::{ListenerRuntime, RouteRuntime, Target};
use crate::Shared;
pub(crate) use context::{Context, Matched, RequestLine};
pub(crate) use grpc::status_of as grpc_status_of;
use screen::{screen, Upgrade};

/// What a connection knows about itself.
pub(crate) struct ConnInfo {
    /// The configured listener port (not the local bind port).
    pub port: u16,
    /// Whether the connection is TLS (the server that accepted it goes to
    /// `handle` beside this, from the stream: this sits in every idle
    /// connection's state).
    pub tls: bool,
    /// Boxed: this sits in every idle connection's state.
    pub peer: Box<Peer>,
}

/// Who the connection is with.
pub(crate) struct Peer {
    /// The client's IP as a header value (for `x-forwarded-for`).
    pub ip: HeaderValue,
    /// For the access log, only while one is on. Boxed: 80 bytes that
    /// would sit in every connection's `Peer` (a 128-byte allocation rather
    /// than 48) while no log is on.
    pub addresses: Option<Box<ConnAddresses>>,
}

/// A connection's ends and the name its client asked for (TLS SNI).
#[derive(Debug, Clone)]
pub(crate) struct ConnAddresses {
    /// Formatted once per connection: every request's line has them.
    pub ends: crate::telemetry::access_log::Ends,
    pub server_name: Option<Arc<str>>,
}

impl ConnAddresses {
    pub(crate) fn new(local: SocketAddr, remote: SocketAddr) -> ConnAddresses {
        ConnAddresses {
            ends: crate::telemetry::access_log::Ends::new(local, remote),
            server_name: None,
        }
    }
}

impl ConnInfo {
    /// A flag rather than the string: this sits in every connection's state.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }
}

/// Answers one request into `response`; `context` gathers its account as
/// it goes (the server finishes it once the response is written).
///
/// The request and the response are the server's: the request is edited
/// in place and the response written into its slot. Moved into each phase
/// and returned out of it, each (about 200 bytes) was copied twice per
/// phase on every request. For the same reason this is one function, not
/// a prologue around another.
pub(crate) async fn handle(
    shared: &Shared,
    conn: &ConnInfo,
    tls: Option<&Session>,
    request: &mut Request<RequestBody>,
    context: &mut Context,
    response: &mut Response<ResponseBody>,
) {
    begin(shared, conn, request, context);
    'answer: {
        let upgrade = match screen(request) {
            Ok(upgrade) => upgrade,
            Err(error) => {
                *response = reply(shared, context, error);
                break 'answer;
            }
        };
        let snapshot = shared.snapshot.load_full();
        let Some(listener) = snapshot.listener(conn.port) else {
            *response = reply(shared, context, ProxyError::NoRoute);
            break 'answer;
        };
        match route(listener, conn, tls, request) {
            // Envoy refuses an upgrade it was not configured for once a
            // route matched (unrouted requests get their 404 first).
            Ok(decision) if upgrade == Upgrade::Other => {
                context.matched = Some(decision.matched);
                *response = reply(shared, context, ProxyError::UpgradeRejected);
            }
            Ok(mut decision) => {
                context.matched = Some(decision.matched);
                decision.websocket = upgrade == Upgrade::WebSocket;
                let Matched { vhost, route, .. } = decision.matched;
                let runtime = listener.route(vhost, route);
                let route = &listener.listener().virtual_hosts[vhost].routes[route];
                let routed = Routed {
                    shared,
                    conn,
                    route,
                    runtime,
                };
                act(routed, decision, request, context, response).await;
            }
            Err(ProxyError::TlsRequired) => {
                context.details = ProxyError::TlsRequired.details();
                *response = https_redirect(shared, request);
            }
            Err(error) => *response = reply(shared, context, error),
        }
        context.snapshot = Some(snapshot);
    }
    if context.grpc {
        context.grpc_status = grpc::status_of(response.headers());
    }
}

/// What the context takes of the request before anything else reads it.
fn begin(
    shared: &Shared,
    conn: &ConnInfo,
    request: &mut Request<RequestBody>,
    context: &mut Context,
) {
    context.grpc = grpc::is_grpc(request.headers());
    if shared.telemetry.logging() {
        context.line = Some(RequestLine::of(request));
        context.attempts.keep_endpoint = true;
    }
    if let Some(tracer) = &shared.telemetry.tracing {
        let span = tracer.start(request, |request| describe_request(request, conn));
        context.trace = Some(Box::new(span));
    }
    if !request.body().is_end_stream() {
        context.received = request.body_mut().activity();
    }
}

/// Istio's `httpsRedirect` (Envoy's `require_tls`): the same host, as
/// sent, and path over https.
fn https_redirect(shared: &Shared, request: &Request<RequestBody>) -> Response<ResponseBody> {
    let authority = request_authority(request).unwrap_or_default();
    let location = format!("https://{authority}{}", target_path(None, request));
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    let headers = response.headers_mut();
    headers.insert(header::SERVER, shared.server_header.clone());
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// The outcome of routing, owning what later phases need of the request.
struct Decision {
    matched: Matched,
    /// The path to send upstream (normalized, then rewritten) with its
    /// query; `None` when it is the request's own, unchanged.
    path_and_query: Option<String>,
    /// The screen found a WebSocket upgrade (the one upgrade tunnelled).
    websocket: bool,
}

fn route(
    listener: &ListenerRuntime,
    conn: &ConnInfo,
    tls: Option<&Session>,
    request: &Request<RequestBody>,
) -> Result<Decision, ProxyError> {
    let authority = request_authority(request).ok_or(ProxyError::BadRequest("missing host"))?;
    let host = normalize_host(authority).ok_or(ProxyError::BadRequest("invalid host"))?;
    if let Some(session) = tls {
        // A host the connection's certificate does not cover (a client
        // reusing a connection across names).
        session.check(&host)?;
    }
    let vhost = listener.hosts.find(&host).ok_or(ProxyError::NoRoute)?;
    if !conn.tls && listener.listener().virtual_hosts[vhost].require_tls {
        return Err(ProxyError::TlsRequired);
    }
    let raw = target_path(None, request);
    let normalized = normalize_path(raw).map_err(|_| ProxyError::BadRequest("invalid path"))?;
    let view = RequestView::new(
        request.method(),
        conn.scheme(),
        authority,
        &normalized.path,
        normalized.query,
        request.headers(),
    );
    let routes = &listener.listener().virtual_hosts[vhost].routes;
    let selected = select(routes, &view).ok_or(ProxyError::NoRoute)?;
    let runtime = listener.route(vhost, selected.route_index);
    let mut target = None;
    let rewrite = match &selected.route.action {
        RouteAction::Forward(forward) => {
            target = runtime.pick_target();
            // A backend's own rewrite or redirect wins over the route's.
            let picked = target.map(|index| &runtime.targets[index]);
            match (
                picked.and_then(Target::redirect),
                picked.and_then(Target::path_rewrite),
            ) {
                (Some(redirect), _) => redirect.path.as_deref(),
                (None, Some(rewrite)) => Some(rewrite),
                (None, None) => forward.path_rewrite.as_deref(),
            }
        }
        RouteAction::Redirect(redirect) => redirect.path.as_deref(),
        RouteAction::DirectResponse(_) => None,
    };
    let path: Cow<'_, str> = match rewrite {
        Some(rewrite) => {
            let matched = selected.matched.and_then(|m| m.path.as_ref());
            Cow::Owned(rewrite_path(&normalized.path, matched, rewrite))
        }
        None => normalized.path,
    };
    let path_and_query = match (path, normalized.query) {
        // Most requests: already normal, not rewritten, nothing to build.
        (Cow::Borrowed(_), _) if request.uri().path_and_query().is_some() => None,
        (path, Some(query)) => Some(format!("{path}?{query}")),
        (path, None) => Some(path.into_owned()),
    };
    Ok(Decision {
        matched: Matched {
            vhost,
            route: selected.route_index,
            target,
        },
        path_and_query,
        websocket: false,
    })
}

/// The path and query going upstream: the rewritten one if routing made
/// one, else the request's own.
fn target_path<'a, B>(rewritten: Option<&'a str>, request: &'a Request<B>) -> &'a str {
    rewritten.unwrap_or_else(|| request.uri().path_and_query().map_or("/", |pq| pq.as_str()))
}

/// `:authority` for HTTP/2 and absolute-form targets, else `Host`.
fn request_authority<B>(request: &Request<B>) -> Option<&str> {
    match request.uri().authority() {
        Some(authority) => Some(authority.as_str()),
        None => request.headers().get(header::HOST)?.to_str().ok(),
    }
    .filter(|authority| !authority.is_empty())
}

/// What the phases after routing read: the shared state, the connection,
/// and the route that matched with its compiled runtime.
#[derive(Clone, Copy)]
struct Routed<'a> {
    shared: &'a Shared,
    conn: &'a ConnInfo,
    route: &'a Route,
    runtime: &'a RouteRuntime,
}

async fn act(
    routed: Routed<'_>,
    decision: Decision,
    request: &mut Request<RequestBody>,
    context: &mut Context,
    response: &mut Response<ResponseBody>,
) {
    let Routed {
        shared, runtime, ..
    } = routed;
    let verdict = match runtime.cors() {
        Some(cors) => cors.check(request),
        None => cors::Verdict::Pass,
    };
    if let cors::Verdict::Respond(mut preflight) = verdict {
        preflight
            .headers_mut()
            .insert(header::SERVER, shared.server_header.clone());
        context.details = "cors_response";
        *response = *preflight;
        return;
    }
    // Between CORS and the action, where Istio puts Envoy's fault filter.
    let aborted = match runtime.fault() {
        Some(fault) => fault.inject(shared, context).await,
        None => None,
    };
    match aborted {
        Some(aborted) => *response = aborted,
        None => perform(routed, decision, request, context, response).await,
    }
    if let (cors::Verdict::Decorate(origin), Some(cors)) = (verdict, runtime.cors()) {
        cors.decorate(response.headers_mut(), origin);
    }
}

/// The route's action: a direct response, a redirect, or the upstream call.
async fn perform(
    routed: Routed<'_>,
    decision: Decision,
    request: &mut Request<RequestBody>,
    context: &mut Context,
    response: &mut Response<ResponseBody>,
) {
    let Routed {
        shared,
        conn,
        route,
        runtime,
    } = routed;
    let target = decision.matched.target.map(|index| &runtime.targets[index]);
    *response = match &route.action {
        RouteAction::DirectResponse(direct) => {
            context.details = "direct_response";
            direct_response(shared, runtime, direct)
        }
        RouteAction::Redirect(redirect) => {
            context.details = "direct_response";
            redirect_response(shared, conn, redirect, request, &decision)
        }
        RouteAction::Forward(_) => match target {
            None => reply(shared, context, ProxyError::InvalidBackend),
            Some(target) => match target.redirect() {
                Some(redirect) => {
                    context.details = "direct_response";
                    redirect_response(shared, conn, redirect, request, &decision)
                }
                None => {
                    let forwarded = forward(routed, target, decision, request, context, response);
                    match forwarded.await {
                        // The upstream's response is in the slot already:
                        // nothing to assign.
                        Ok(()) => return,
                        Err(error) => reply(shared, context, error),
                    }
                }
            },
        },
    };
}

/// The upstream call; its response is written into `response`.
async fn forward(
    routed: Routed<'_>,
    target: &Target,
    decision: Decision,
    request: &mut Request<RequestBody>,
    context: &mut Context,
    response: &mut Response<ResponseBody>,
) -> Result<(), ProxyError> {
    let Routed {
        shared,
        conn,
        route,
        runtime,
    } = routed;
    let cluster = target
        .cluster
        .as_deref()
        .ok_or(ProxyError::InvalidBackend)?;
    // The key is read before any rewrite, from the request as it came.
    let mut made_cookie = None;
    if let Some(policy) = cluster.hash_policy() {
        let (hash, cookie) = crate::upstream::hash::request_hash(policy, request, &conn.peer.ip);
        context.attempts.hash = hash;
        made_cookie = cookie;
    }
    let upgrade = decision.websocket.then(|| upgrade::take(request));
    // The response's head stays as the upstream sent it when nothing
    // between the upstream and the client's writer reads or edits it.
    context.attempts.raw_head = context.raw_response
        && upgrade.is_none()
        && made_cookie.is_none()
        && !context.grpc
        && runtime.cors().is_none()
        && runtime.response_headers().is_empty()
        && target.response_headers().is_empty();
    let headers = request.headers_mut();
    let edits = [runtime.request_headers(), target.request_headers()];
    let edited = edits.iter().any(|edits| !edits.is_empty());
    // Without edits, the log's line takes what the preparation sets.
    let line = context.line.as_mut().filter(|_| !edited);
    headers::prepare_request(headers, &conn.peer.ip, conn.scheme(), line);
    if edited {
        for edits in edits {
            edits.apply(headers);
        }
        if let Some(line) = &mut context.line {
            line.sent(headers);
        }
    }
    if let Some(upgrade) = &upgrade {
        upgrade.prepare_request(request);
    }
    if let Some(span) = &mut context.trace {
        span.forward(request.headers_mut(), |headers| {
            describe_destination(headers, cluster)
        });
    }
    let host_rewrite = target.host_rewrite().or(runtime.host_rewrite());
    let path_and_query = decision.path_and_query.as_deref();
    if !runtime.mirrors().is_empty() {
        send_mirrors(shared, runtime, request, host_rewrite, path_and_query);
    }
    set_upstream_target(request, cluster.protocol, host_rewrite, path_and_query)?;

    let started = Instant::now();
    // A gRPC client's own deadline bounds the call too (Istio sets Envoy's
    // `max_grpc_timeout` to the route timeout: the header counts, capped).
    let timeout = match (route.timeout, context.grpc) {
        (timeout, true) => match (timeout, grpc::timeout(request.headers())) {
            (Some(route), Some(client)) => Some(route.min(client)),
            (route, client) => route.or(client),
        },
        (timeout, false) => timeout,
    };
    // `None`: the timeout fired (the call is dropped at the block's end).
    let answered = {
        let call = crate::upstream::forward::forward(
            cluster,
            request,
            &route.retry,
            shared.config.connect_timeout,
            &mut context.attempts,
        );
        // Pinned where it is and polled through a reference: awaited by
        // value, the call's future (several KiB) was copied into the
        // await's own slot on every request.
        tokio::pin!(call);
        match timeout {
            // Boxed: the timer would otherwise sit in every request's state.
            Some(timeout) => Box::pin(tokio::time::timeout(timeout, call.as_mut()))
                .await
                .ok(),
            None => Some(call.as_mut().await),
        }
    };
    let Some(upstream) = answered else {
        let timeouts = &cluster.stats.upstream.timeouts;
        crate::telemetry::destination::UpstreamCounters::count(timeouts);
        // Envoy counts the route's timeout against the endpoint the
        // request was on (not one it waited for a connection to).
        let attempts = &context.attempts;
        if let (Some(endpoint), true) = (&attempts.endpoint, attempts.connected) {
            cluster.record(endpoint, crate::upstream::outlier::Outcome::LocalFailure);
        }
        return Err(ProxyError::Timeout);
    };
    let upstream = upstream?;
    let mut upstream = upstream;
    // A head kept as it came has no hop-by-hop headers left to strip.
    if upstream.body().raw_head().is_none() {
        headers::prepare_response(upstream.headers_mut(), &shared.server_header);
    }
    let tunnel = match upgrade {
        Some(upgrade) => upgrade.complete(&mut upstream),
        // A switch the client never asked for would leave the connection
        // in a protocol neither side agreed on.
        None if upstream.status() == StatusCode::SWITCHING_PROTOCOLS => {
            return Err(ProxyError::UpstreamProtocol)
        }
        None => None,
    };
    let millis = started.elapsed().as_millis();
    context.upstream_millis = Some(u64::try_from(millis).unwrap_or(u64::MAX));
    if let Some(raw) = upstream.body_mut().raw_head_mut() {
        // Nothing else edits it (see where `raw_head` is decided): the
        // proxy's two headers go beside it, and no map is made.
        debug_assert!(tunnel.is_none(), "an upgrade never keeps its head raw");
        raw.append(header::SERVER, shared.server_header.clone());
        raw.append(
            headers::X_ENVOY_UPSTREAM_SERVICE_TIME.clone(),
            headers::millis_value(millis),
        );
        *response = upstream.map(ResponseBody::Upstream);
        return Ok(());
    }
    let headers = upstream.headers_mut();
    headers.insert(
        headers::X_ENVOY_UPSTREAM_SERVICE_TIME.clone(),
        headers::millis_value(millis),
    );
    runtime.response_headers().apply(headers);
    target.response_headers().apply(headers);
    if let Some(cookie) = made_cookie {
        crate::upstream::hash::set_cookie(headers, cookie);
    }
    *response = match tunnel {
        Some(tunnel) => upstream.map(|_| tunnel),
        None => upstream.map(ResponseBody::Upstream),
    };
    Ok(())
}

/// A sampled request's span as the request arrived: named by its host
/// until a destination names it, with Envoy's tags for the request.
fn describe_request(
    request: &Request<RequestBody>,
    conn: &ConnInfo,
) -> (String, Vec<opentelemetry::KeyValue>) {
    use opentelemetry::KeyValue;
    let header = |name: header::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let host = request
        .uri()
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .unwrap_or_else(|| header(header::HOST));
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let attributes = vec![
        KeyValue::new("component", "proxy"),
        KeyValue::new("http.method", request.method().as_str().to_owned()),
        KeyValue::new("http.url", format!("{}://{host}{path}", conn.scheme())),
        KeyValue::new("http.protocol", format!("{:?}", request.version())),
        KeyValue::new("user_agent", header(header::USER_AGENT)),
        KeyValue::new(
            "peer.address",
            conn.peer.ip.to_str().unwrap_or("-").to_owned(),
        ),
    ];
    let host = host.split(':').next().unwrap_or_default();
    (format!("{host}/*"), attributes)
}

/// A sampled span's destination: Istio's operation name for it
/// (`{service}:{port}/*`), its cluster, and the request id the upstream
/// gets (made by now if the client sent none).
fn describe_destination(
    headers: &http::HeaderMap,
    cluster: &crate::upstream::clusters::Cluster,
) -> (String, Vec<opentelemetry::KeyValue>) {
    use opentelemetry::KeyValue;
    let labels = &cluster.stats.labels;
    let port = labels.cluster.split('|').nth(1).unwrap_or("");
    let request_id = headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    let attributes = vec![
        KeyValue::new("guid:x-request-id", request_id.to_owned()),
        KeyValue::new("upstream_cluster", labels.cluster.clone()),
        KeyValue::new("upstream_cluster.name", labels.cluster.clone()),
    ];
    (format!("{}:{port}/*", labels.service), attributes)
}

/// HTTP/1.1 upstreams get an origin-form target and a `Host` header;
/// HTTP/2 upstreams an absolute URI, from which `:authority` is taken.
/// `host_rewrite` and `path_and_query` are `None` when the client's stand.
fn set_upstream_target<B>(
    request: &mut Request<B>,
    protocol: AppProtocol,
    host_rewrite: Option<&HeaderValue>,
    path_and_query: Option<&str>,
) -> Result<(), ProxyError> {
    let invalid = |_| ProxyError::BadRequest("invalid request target");
    match protocol {
        AppProtocol::Http1 => {
            // The common case, no rewrite, changes nothing and allocates
            // nothing. The HTTP/1.1 client writes only the path and query of
            // the target, so an HTTP/2 request's absolute URI needs no
            // rewriting either.
            if let Some(path_and_query) = path_and_query {
                *request.uri_mut() = Uri::try_from(path_and_query).map_err(invalid)?;
            }
            *request.version_mut() = http::Version::HTTP_11;
            let host = match host_rewrite {
                Some(host) => Some(host.clone()),
                // An HTTP/2 or absolute-form request's authority is its URI's
                // (RFC 9112 §3.2.2: a `Host` beside it is replaced).
                None => match request.uri().authority() {
                    Some(authority)
                        if request.headers().get(header::HOST).is_none_or(|host| {
                            host.as_bytes() != authority.as_str().as_bytes()
                        }) =>
                    {
                        Some(
                            HeaderValue::from_str(authority.as_str())
                                .map_err(|_| ProxyError::BadRequest("invalid host"))?,
                        )
                    }
                    _ => None,
                },
            };
            if let Some(host) = host {
                request.headers_mut().insert(header::HOST, host);
            }
        }
        AppProtocol::H2c => {
            let authority = upstream_authority(request, host_rewrite)
                .ok_or(ProxyError::BadRequest("missing host"))?;
            let path_and_query = target_path(path_and_query, request);
            *request.uri_mut() =
                Uri::try_from(format!("http://{authority}{path_and_query}")).map_err(invalid)?;
            *request.version_mut() = http::Version::HTTP_2;
            request.headers_mut().remove(header::HOST);
        }
    }
    Ok(())
}

/// The authority going upstream: the rewrite's when it is text, else the
/// client's.
fn upstream_authority<B>(
    request: &Request<B>,
    host_rewrite: Option<&HeaderValue>,
) -> Option<String> {
    host_rewrite
        .and_then(|host| host.to_str().ok())
        .or_else(|| request_authority(request))
        .map(str::to_owned)
}

fn direct_response(
    shared: &Shared,
    runtime: &RouteRuntime,
    direct: &DirectResponse,
) -> Response<ResponseBody> {
    // The body was made shareable when the snapshot was built: a clone is
    // a reference count.
    let mut response = Response::new(ResponseBody::text(runtime.direct_body()));
    *response.status_mut() = StatusCode::from_u16(direct.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(header::SERVER, shared.server_header.clone());
    if !direct.body.is_empty() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    runtime.response_headers().apply(headers);
    response
}

/// A redirect, its `Location` made as `vestibule_route::redirect_location`
/// says.
fn redirect_response(
    shared: &Shared,
    conn: &ConnInfo,
    redirect: &Redirect,
    request: &Request<RequestBody>,
    decision: &Decision,
) -> Response<ResponseBody> {
    // Routing found the authority, so it is there.
    let authority = request_authority(request).unwrap_or_default();
    let path_and_query = target_path(decision.path_and_query.as_deref(), request);
    let location = redirect_location(
        redirect,
        conn.scheme(),
        authority,
        conn.port,
        path_and_query,
    );
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() =
        StatusCode::from_u16(redirect.status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    let headers = response.headers_mut();
    headers.insert(header::SERVER, shared.server_header.clone());
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// The one place a failed request becomes its answer: Envoy's local reply,
/// in gRPC's terms for a gRPC request, its cause noted in the context.
fn reply(shared: &Shared, context: &mut Context, error: ProxyError) -> Response<ResponseBody> {
    context.failed(error);
    let mut response = local_reply(shared, error);
    if context.grpc {
        grpc::into_grpc(&mut response, error.body());
    }
    response
}

static X_ENVOY_OVERLOADED: http::HeaderName = http::HeaderName::from_static("x-envoy-overloaded");

/// A response generated by vestibule itself (Envoy's "local reply"). After
/// a client's protocol error the connection is closed, as Envoy closes it:
/// what follows on it cannot be trusted to be framed as it claims.
pub(crate) fn local_reply(shared: &Shared, error: ProxyError) -> Response<ResponseBody> {
    let body = error.body();
    let mut response = Response::new(ResponseBody::text(body));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(header::SERVER, shared.server_header.clone());
    if !body.is_empty() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    if error == ProxyError::Overflow {
        // Envoy's router marks an answer a circuit breaker gave.
        headers.insert(X_ENVOY_OVERLOADED.clone(), HeaderValue::from_static("true"));
    }
    if error.closes_connection() {
        response.extensions_mut().insert(CloseConnection);
    }
    if error.is_downstream_protocol_error() {
        shared
            .counters
            .downstream_protocol_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    tracing::debug!(flags = %error.flags(), %error, "local reply");
    response
}

/// Marks a response after which the client connection is closed.
#[derive(Debug, Clone, Copy)]
struct CloseConnection;

/// Whether the connection must close once `response` is written (a
/// lookup in an empty extension map, for most responses: free).
pub(crate) fn closes_connection<B>(response: &Response<B>) -> bool {
    response.extensions().get::<CloseConnection>().is_some()
}

/// Sends a copy of the request to each mirror whose percentage comes up,
/// in the background (responses ignored), with Envoy's `-shadow` suffix on
/// the authority; the request's body is teed to the copies.
fn send_mirrors(
    shared: &Shared,
    runtime: &RouteRuntime,
    request: &mut Request<RequestBody>,
    host_rewrite: Option<&HeaderValue>,
    path_and_query: Option<&str>,
) {
    let chosen: Vec<_> = runtime
        .mirrors()
        .iter()
        .filter(|mirror| mirror.roll())
        .collect();
    if chosen.is_empty() {
        return;
    }
    let body = std::mem::replace(request.body_mut(), RequestBody::Empty);
    let (body, copies) = body.tee(chosen.len());
    *request.body_mut() = body;
    let Some(authority) = upstream_authority(request, host_rewrite) else {
        return;
    };
    let Ok(shadow) = HeaderValue::from_str(&format!("{}-shadow", host_without_port(&authority)))
    else {
        return;
    };
    let path_and_query = target_path(path_and_query, request).to_owned();
    for (mirror, copy) in chosen.into_iter().zip(copies) {
        let mut copy_request = Request::new(copy);
        *copy_request.method_mut() = request.method().clone();
        *copy_request.headers_mut() = request.headers().clone();
        if set_upstream_target(
            &mut copy_request,
            mirror.cluster.protocol,
            Some(&shadow),
            Some(&path_and_query),
        )
        .is_err()
        {
            continue;
        }
        let cluster = std::sync::Arc::clone(&mirror.cluster);
        let connect_timeout = shared.config.connect_timeout;
        tokio::spawn(async move {
            let mut copy_request = copy_request;
            let retry = vestibule_ir::RetryPolicy::disabled();
            let mut attempts = crate::upstream::Attempts::default();
            let sent = crate::upstream::forward::forward(
                &cluster,
                &mut copy_request,
                &retry,
                connect_timeout,
                &mut attempts,
            );
            match sent.await {
                // Read the response to the end so the connection can be reused.
                Ok(response) => {
                    use http_body_util::BodyExt as _;
                    let _ = ResponseBody::Upstream(response.into_body()).collect().await;
                }
                Err(error) => tracing::debug!(%error, "mirror request failed"),
            }
        });
    }
}
