use std::time::Duration;

use serde::Serialize;

use crate::{BackendKey, Pattern};

/// One routing rule: when `matches` accepts a request, `action` serves it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Route {
    /// Stable name for logs and metrics (`%ROUTE_NAME%`).
    pub name: String,
    pub origin: RouteOrigin,
    /// Alternatives (OR). Empty means every request matches.
    pub matches: Vec<RouteMatch>,
    pub action: RouteAction,
    /// Applied to the request before it is forwarded.
    #[serde(skip_serializing_if = "HeaderMutations::is_empty")]
    pub request_headers: HeaderMutations,
    /// Applied to the response before it is returned.
    #[serde(skip_serializing_if = "HeaderMutations::is_empty")]
    pub response_headers: HeaderMutations,
    /// Bound on the whole request, retries included; `None` means no timeout.
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    pub retry: RetryPolicy,
    /// Boxed, as `fault`: few routes set it, and inline it was 120 of
    /// every route's bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<Box<CorsPolicy>>,
    /// Istio `fault`: delays and aborts injected before the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Box<FaultInjection>>,
}

/// Envoy's HTTP fault filter, per route (Istio `HTTPFaultInjection`). The
/// delay and the abort are drawn independently; the delay comes first.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FaultInjection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbort>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FaultDelay {
    #[serde(with = "duration")]
    pub fixed: Duration,
    /// Share of requests delayed, 0–100.
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FaultAbort {
    pub status: AbortStatus,
    /// Share of requests aborted, 0–100.
    pub percent: f64,
}

/// What an aborted request is answered with.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AbortStatus {
    /// An HTTP status (a gRPC request gets it mapped to a grpc-status).
    Http(u16),
    /// A gRPC status code: HTTP 200, and in gRPC's trailers-only form for
    /// a gRPC request.
    Grpc(u8),
}

/// The resource a route was translated from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteOrigin {
    /// `VirtualService`, `HTTPRoute`, ...: always one of a few names.
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

/// Conditions that must all hold (AND).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RouteMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatcher>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatcher>,
    /// Matched against the raw authority, port included (as Envoy does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatcher>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<QueryMatch>,
}

/// How a request path is matched. Paths are compared after normalization.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    Exact {
        value: String,
        ignore_case: bool,
    },
    /// A raw string prefix (Istio VirtualService `prefix`: `/foo` matches `/foobar`).
    Prefix {
        value: String,
        ignore_case: bool,
    },
    /// A prefix on `/` boundaries with any trailing `/` ignored (Ingress
    /// `Prefix`, Gateway API `PathPrefix`): `/foo` matches `/foo`, `/foo/`
    /// and `/foo/bar` but not `/foobar`.
    SegmentPrefix {
        value: String,
    },
    Regex {
        pattern: Pattern,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum StringMatcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Regex(Pattern),
}

/// A header condition. `matcher: None` means "present with any value".
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeaderMatch {
    /// Lower-case.
    pub name: String,
    pub matcher: Option<StringMatcher>,
    /// True for Istio `withoutHeaders`: the match must fail (a missing header
    /// counts as the empty value).
    pub invert: bool,
}

/// A query parameter condition. `matcher: None` means "present".
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryMatch {
    pub name: String,
    pub matcher: Option<StringMatcher>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum RouteAction {
    Forward(Forward),
    Redirect(Redirect),
    DirectResponse(DirectResponse),
}

/// Forward to one of several weighted backends.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Forward {
    pub backends: Vec<WeightedBackend>,
    /// Fire-and-forget copies of the request; their responses are ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<Mirror>,
    /// Boxed, as a redirect's: most routes rewrite nothing, and inline
    /// it was 32 bytes of every route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_rewrite: Option<Box<PathRewrite>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_rewrite: Option<String>,
}

/// Where a copy of each request goes, and how often (0–100 %).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mirror {
    /// `None`: the reference is invalid and nothing is mirrored.
    pub backend: Option<BackendKey>,
    pub percent: f64,
}

/// Cross-origin resource sharing (Gateway API `CORS` filter, Istio
/// `corsPolicy`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CorsPolicy {
    /// Origins allowed; a matching request's `Origin` is echoed back.
    pub allow_origins: Vec<StringMatcher>,
    /// `*` was listed: any origin is allowed.
    pub allow_any_origin: bool,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
    pub allow_credentials: bool,
    /// A preflight whose origin is not allowed goes upstream (Istio's
    /// `unmatchedPreflights: FORWARD`) instead of being answered locally
    /// without CORS headers (the Gateway API).
    pub forward_unmatched_preflights: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WeightedBackend {
    /// `None` when the reference could not be resolved: requests that pick
    /// this share get 500 (Gateway API) without contacting anything.
    pub backend: Option<BackendKey>,
    pub weight: u32,
    #[serde(skip_serializing_if = "HeaderMutations::is_empty")]
    pub request_headers: HeaderMutations,
    #[serde(skip_serializing_if = "HeaderMutations::is_empty")]
    pub response_headers: HeaderMutations,
    /// Gateway API per-backend `URLRewrite`: overrides the route's when
    /// this backend is picked. Boxed, as `redirect`: almost no backend has
    /// one, and inline they were 200 of this struct's 416 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_rewrite: Option<Box<PathRewrite>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rewrite: Option<String>,
    /// Gateway API per-backend `RequestRedirect`: picking this backend
    /// answers with the redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Box<Redirect>>,
}

/// How a path is rewritten (before forwarding or in a redirect).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum PathRewrite {
    /// Replace the whole path.
    Full(String),
    /// Replace the part of the path that the route's prefix matched.
    Prefix(String),
    /// Replace every match of the pattern, `\1`-style groups allowed.
    Regex {
        pattern: Pattern,
        substitution: String,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Redirect {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// An explicit port; `None` derives it (by `derive_port` if set, else
    /// the scheme default when the scheme changes, else the listener port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Istio `derivePort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derive_port: Option<DerivePort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Box<PathRewrite>>,
    pub status: u16,
}

/// Istio `HTTPRedirect.derivePort`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DerivePort {
    /// 80 for http, 443 for https (so omitted from `Location`).
    FromProtocolDefault,
    /// The port the request came in on (the listener's).
    FromRequestPort,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DirectResponse {
    pub status: u16,
    /// Any bytes (Istio `body.bytes` is base64 in YAML); shown as text when
    /// it is UTF-8.
    #[serde(serialize_with = "body_text")]
    pub body: Vec<u8>,
}

fn body_text<S: serde::Serializer>(body: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(body) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => serializer.serialize_bytes(body),
    }
}

/// Header edits, applied in the order remove, set, add. One pointer,
/// null when there are none: a route has two of these and a backend two
/// more, and almost none of them edits anything (three vectors inline were
/// 144 of a route's bytes and of a backend's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderMutations(Option<Box<HeaderEdits>>);

/// The edits of a [`HeaderMutations`] that has some.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HeaderEdits {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

static NO_EDITS: HeaderEdits = HeaderEdits {
    set: Vec::new(),
    add: Vec::new(),
    remove: Vec::new(),
};

impl HeaderMutations {
    pub fn new(
        set: Vec<(String, String)>,
        add: Vec<(String, String)>,
        remove: Vec<String>,
    ) -> HeaderMutations {
        HeaderMutations::from(HeaderEdits { set, add, remove })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The edits (none when empty).
    pub fn edits(&self) -> &HeaderEdits {
        self.0.as_deref().unwrap_or(&NO_EDITS)
    }

    /// Headers set (replacing any value).
    pub fn set(&self) -> &[(String, String)] {
        &self.edits().set
    }

    /// Headers appended.
    pub fn add(&self) -> &[(String, String)] {
        &self.edits().add
    }

    /// Headers removed.
    pub fn remove(&self) -> &[String] {
        &self.edits().remove
    }
}

impl From<HeaderEdits> for HeaderMutations {
    fn from(mut edits: HeaderEdits) -> HeaderMutations {
        if edits.set.is_empty() && edits.add.is_empty() && edits.remove.is_empty() {
            return HeaderMutations(None);
        }
        edits.set.shrink_to_fit();
        edits.add.shrink_to_fit();
        edits.remove.shrink_to_fit();
        HeaderMutations(Some(Box::new(edits)))
    }
}

/// Written as its edits, as when they were inline.
impl Serialize for HeaderMutations {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.edits().serialize(serializer)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first try; 0 disables retries.
    pub attempts: u32,
    pub retry_on: RetryOn,
    /// Statuses retried when `retry_on.retriable_status_codes` is set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retriable_status_codes: Vec<u16>,
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Base interval between retries (Envoy's default is 25 ms, doubling
    /// with jitter).
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Duration>,
}

impl RetryPolicy {
    /// Istio's mesh default when a VirtualService sets no `retries`: 2 retries
    /// on connect-failure, refused-stream, unavailable, cancelled and
    /// retriable-status-codes (`pilot/pkg/networking/core/route/retry/retry.go`).
    pub fn istio_default() -> RetryPolicy {
        RetryPolicy {
            attempts: 2,
            retry_on: RetryOn {
                connect_failure: true,
                refused_stream: true,
                unavailable: true,
                cancelled: true,
                ..RetryOn::default()
            },
            retriable_status_codes: Vec::new(),
            per_try_timeout: None,
            backoff: None,
        }
    }

    pub fn disabled() -> RetryPolicy {
        RetryPolicy {
            attempts: 0,
            retry_on: RetryOn::default(),
            retriable_status_codes: Vec::new(),
            per_try_timeout: None,
            backoff: None,
        }
    }
}

/// Envoy `retry_on` conditions vestibule implements.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct RetryOn {
    pub connect_failure: bool,
    pub refused_stream: bool,
    /// gRPC status UNAVAILABLE (14) in the response.
    pub unavailable: bool,
    /// gRPC status CANCELLED (1) in the response.
    pub cancelled: bool,
    /// Any 5xx or a reset before the response started.
    pub server_errors: bool,
    /// 502, 503, 504.
    pub gateway_errors: bool,
    /// Reset before the response started.
    pub reset: bool,
    pub retriable_status_codes: bool,
    /// 409 (Envoy's `retriable-4xx`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retriable_4xx: bool,
    /// A response carrying `x-envoy-ratelimited`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub envoy_ratelimited: bool,
    /// gRPC status DEADLINE_EXCEEDED (4).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deadline_exceeded: bool,
    /// gRPC status INTERNAL (13).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// gRPC status RESOURCE_EXHAUSTED (8).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resource_exhausted: bool,
}

pub(crate) mod duration {
    use std::time::Duration;

    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}s", value.as_secs_f64()))
    }
}

pub(crate) mod opt_duration {
    use std::time::Duration;

    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.collect_str(&format_args!("{}s", duration.as_secs_f64())),
            None => serializer.serialize_none(),
        }
    }
}
