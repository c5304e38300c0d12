//! One request's account of itself, carried through the phases and read
//! once, when its response has been written (or abandoned), by the access
//! log and the metrics: what it matched, where it went, how it ended.
//!
//! It lives in the request's own future (no allocation), and most of it is
//! indexes and flags; what only the access log reads is captured, boxed,
//! only while an access log is on.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{HeaderMap, HeaderName, Request, Version};

use super::headers::{X_FORWARDED_FOR, X_REQUEST_ID};
use crate::error::ProxyError;
use crate::flags::Flags;
use crate::snapshot::{ListenerRuntime, Snapshot};
use crate::stats::RouteStats;
use crate::telemetry::destination::DestinationStats;
use crate::upstream::{Attempts, TlsFailure};
use crate::Shared;

/// What routing chose, as indexes into the snapshot the request used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Matched {
    pub vhost: usize,
    pub route: usize,
    /// The weighted backend picked, for a forwarding route.
    pub target: Option<usize>,
}

/// The request as the access log prints it, taken when the request
/// arrived (the upstream call consumes the request). Its text is copied
/// into a buffer of its own ([`Text`], inline up to a few hundred bytes),
/// so that the request's buffers go with it.
pub(crate) struct RequestLine {
    pub started: SystemTime,
    pub version: Version,
    text: Text,
    method: Span,
    /// As the client sent it (Envoy logs the original path of a rewritten
    /// request).
    path: Span,
    authority: Option<Span>,
    user_agent: Option<Span>,
    /// As sent upstream (with the client's address appended), else as
    /// received.
    forwarded_for: Option<Span>,
    request_id: Option<Span>,
}

/// Where a field is in a line's text.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl RequestLine {
    pub(crate) fn of<B>(request: &Request<B>) -> RequestLine {
        let headers = request.headers();
        let mut text = Text::new();
        let method = text.push(request.method().as_str().as_bytes());
        let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let path = text.push(target.as_bytes());
        let [host, user_agent, forwarded_for, request_id] = find(
            headers,
            [
                &http::header::HOST,
                &http::header::USER_AGENT,
                &X_FORWARDED_FOR,
                &X_REQUEST_ID,
            ],
        );
        let authority = match request.uri().authority() {
            Some(authority) => Some(authority.as_str().as_bytes()),
            None => host,
        };
        let mut field = |value: Option<&[u8]>| Some(text.push(value?));
        let authority = field(authority);
        let user_agent = field(user_agent);
        let forwarded_for = field(forwarded_for);
        let request_id = field(request_id);
        RequestLine {
            started: SystemTime::now(),
            version: request.version(),
            text,
            method,
            path,
            authority,
            user_agent,
            forwarded_for,
            request_id,
        }
    }

    #[inline]
    fn field(&self, span: Option<Span>) -> Option<&[u8]> {
        span.map(|span| self.text.get(span))
    }

    #[inline]
    pub(crate) fn method(&self) -> &[u8] {
        self.text.get(self.method)
    }

    #[inline]
    pub(crate) fn path(&self) -> &[u8] {
        self.text.get(self.path)
    }

    #[inline]
    pub(crate) fn authority(&self) -> Option<&[u8]> {
        self.field(self.authority)
    }

    #[inline]
    pub(crate) fn user_agent(&self) -> Option<&[u8]> {
        self.field(self.user_agent)
    }

    #[inline]
    pub(crate) fn forwarded_for(&self) -> Option<&[u8]> {
        self.field(self.forwarded_for)
    }

    #[inline]
    pub(crate) fn request_id(&self) -> Option<&[u8]> {
        self.field(self.request_id)
    }

    /// Envoy's `%PROTOCOL%`.
    pub(crate) fn protocol(&self) -> &'static str {
        match self.version {
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2",
            Version::HTTP_3 => "HTTP/3",
            _ => "HTTP/1.1",
        }
    }

    /// Takes the headers that the gateway set before sending upstream,
    /// as the map holds them once edited.
    pub(crate) fn sent(&mut self, headers: &HeaderMap) {
        let [forwarded_for, request_id] = find(headers, [&X_FORWARDED_FOR, &X_REQUEST_ID]);
        if let Some(forwarded) = forwarded_for {
            self.forwarded(forwarded);
        }
        if let Some(id) = request_id {
            self.identified(id);
        }
    }

    /// The `x-forwarded-for` sent upstream.
    pub(crate) fn forwarded(&mut self, value: &[u8]) {
        self.forwarded_for = Some(self.text.push(value));
    }

    /// The `x-request-id` sent upstream.
    pub(crate) fn identified(&mut self, value: &[u8]) {
        self.request_id = Some(self.text.push(value));
    }
}

/// Each name's first value, as `HeaderMap::get` finds it, in one pass
/// over the map: a lookup hashes the name, and a few cost more than a pass
/// over a request's headers.
fn find<'a, const N: usize>(
    headers: &'a HeaderMap,
    names: [&HeaderName; N],
) -> [Option<&'a [u8]>; N] {
    let mut found = [None; N];
    for (name, value) in headers {
        if let Some(index) = names.iter().position(|wanted| *wanted == name) {
            found[index].get_or_insert(value.as_bytes());
        }
    }
    found
}

/// A line's text: inline up to [`INLINE`] bytes (a request's fields are
/// rarely more than a hundred), all of it on the heap past that. A push is
/// one bounds check and one copy (a `SmallVec`'s took twice the
/// instructions).
struct Text {
    /// How much of `inline` holds text (while `spilled` is empty).
    len: usize,
    inline: [u8; INLINE],
    /// Every byte once the text outgrew `inline`.
    spilled: Vec<u8>,
}

const INLINE: usize = 256;

impl Text {
    fn new() -> Text {
        Text {
            len: 0,
            inline: [0; INLINE],
            spilled: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, bytes: &[u8]) -> Span {
        let start = self.bytes().len();
        if self.spilled.is_empty() {
            if let Some(room) = self.inline.get_mut(start..start + bytes.len()) {
                room.copy_from_slice(bytes);
                self.len = start + bytes.len();
                return Span::of(start, self.len);
            }
            self.spilled = Vec::with_capacity(2 * (start + bytes.len()));
            self.spilled.extend_from_slice(&self.inline[..start]);
        }
        self.spilled.extend_from_slice(bytes);
        Span::of(start, self.spilled.len())
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }

    #[inline]
    fn get(&self, span: Span) -> &[u8] {
        &self.bytes()[span.start as usize..span.end as usize]
    }
}

impl Span {
    fn of(start: usize, end: usize) -> Span {
        // A request's head is far below 4 GiB.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
}

/// One request's account, from its head to its last byte.
pub(crate) struct Context {
    pub started: Instant,
    /// The snapshot the request was routed on; `None` before routing.
    pub snapshot: Option<Arc<Snapshot>>,
    pub port: u16,
    pub matched: Option<Matched>,
    pub attempts: Attempts,
    pub flags: Flags,
    /// Envoy's `%RESPONSE_CODE_DETAILS%`.
    pub details: &'static str,
    pub tls_failure: Option<TlsFailure>,
    /// Milliseconds the upstream took to answer (the response's
    /// `x-envoy-upstream-service-time`).
    pub upstream_millis: Option<u64>,
    pub grpc: bool,
    /// Whether the client's connection writes a response head that an
    /// HTTP/1.1 upstream sent as it came (vestibule's own HTTP/1.1 server
    /// does; see [`crate::h1::raw`]).
    pub raw_response: bool,
    /// A gRPC response's `grpc-status` (headers or trailers).
    pub grpc_status: Option<u8>,
    /// The client's body, counting what it read (only a request that has
    /// one).
    pub received: Option<Arc<crate::idle::Activity>>,
    /// Only while an access log is on (inline: see [`RequestLine`]).
    pub line: Option<RequestLine>,
    /// The gateway's span, while tracing is on (boxed: rare, and this
    /// sits in every request's state).
    pub trace: Option<Box<crate::telemetry::traces::Span>>,
}

impl Context {
    pub(crate) fn new(port: u16) -> Context {
        Context {
            started: Instant::now(),
            snapshot: None,
            port,
            matched: None,
            attempts: Attempts::default(),
            flags: Flags::default(),
            details: "via_upstream",
            tls_failure: None,
            upstream_millis: None,
            grpc: false,
            raw_response: false,
            grpc_status: None,
            received: None,
            line: None,
            trace: None,
        }
    }

    /// Records a local reply's cause.
    pub(crate) fn failed(&mut self, error: ProxyError) {
        self.flags.insert(error.flags());
        self.details = error.details();
        if let ProxyError::UpstreamTls(failure) = error {
            self.tls_failure = Some(failure);
        }
    }

    /// The counters the request counts in: its route's (`None` before a
    /// listener was found) and its destination's (the unknown one for a
    /// request that reached no cluster).
    pub(crate) fn counters<'a>(
        &'a self,
        shared: &'a Shared,
    ) -> (Option<&'a RouteStats>, &'a DestinationStats) {
        let unknown = &*shared.telemetry.unknown;
        let Some(listener) = self.listener() else {
            return (None, unknown);
        };
        let Some(matched) = self.matched else {
            return (Some(&listener.unrouted), unknown);
        };
        let route = listener.route(matched.vhost, matched.route);
        let destination = matched
            .target
            .and_then(|target| route.targets[target].cluster.as_deref())
            .map_or(unknown, |cluster| &*cluster.stats);
        (Some(&route.stats), destination)
    }

    /// The route's name and the cluster's, for the access log.
    pub(crate) fn names(&self) -> (Option<&str>, Option<&str>) {
        let Some((listener, matched)) = self.listener().zip(self.matched) else {
            return (None, None);
        };
        let route = &listener.listener().virtual_hosts[matched.vhost].routes[matched.route];
        let cluster = matched.target.and_then(|target| {
            let cluster = listener.route(matched.vhost, matched.route).targets[target]
                .cluster
                .as_deref()?;
            Some(cluster.stats.labels.cluster.as_str())
        });
        (Some(route.name.as_str()), cluster)
    }

    fn listener(&self) -> Option<&ListenerRuntime> {
        self.snapshot.as_ref()?.listener(self.port)
    }

    /// Bytes of the client's body read so far.
    pub(crate) fn received_bytes(&self) -> u64 {
        self.received
            .as_ref()
            .map_or(0, |received| received.bytes())
    }
}
