//! Every way a request can fail in the proxy, and the one place that maps
//! each to what the client sees: status, body (Envoy's local-reply texts,
//! which users search for) and the Envoy response flag for logs.

use http::StatusCode;

use crate::flags::Flags;
pub use crate::upstream::TlsFailure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("no route matched")]
    NoRoute,
    /// The request's host is not one the connection's TLS server covers
    /// (Gateway API: 421).
    #[error("misdirected request")]
    Misdirected,
    /// A plain-text request for a host that requires TLS: answered with a
    /// redirect to https, not an error page.
    #[error("TLS required")]
    TlsRequired,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("request headers too large")]
    HeadersTooLarge,
    #[error("request line too long")]
    UriTooLong,
    /// Part of a head arrived, not all of it, within the header timeout.
    #[error("request header timeout")]
    RequestHeaderTimeout,
    /// A transfer coding other than `chunked` alone.
    #[error("transfer coding not implemented")]
    NotImplemented,
    /// An `Upgrade` to a protocol no route enables.
    #[error("upgrade not allowed")]
    UpgradeRejected,
    #[error("the route's backend reference is invalid")]
    InvalidBackend,
    #[error("no healthy upstream")]
    NoHealthyUpstream,
    #[error("upstream connect failure")]
    ConnectFailure,
    /// A circuit breaker (Istio `connectionPool`) turned the request away.
    #[error("upstream overflow")]
    Overflow,
    /// The TLS handshake with the upstream failed (a connect failure, with
    /// Envoy's `transport failure reason`).
    #[error("upstream TLS handshake failed: {0}")]
    UpstreamTls(TlsFailure),
    #[error("upstream reset before response")]
    UpstreamReset,
    /// The upstream's response is not valid HTTP (Envoy's `UPE`).
    #[error("upstream protocol error")]
    UpstreamProtocol,
    #[error("upstream request timeout")]
    Timeout,
    /// Nothing moved on the stream for the stream idle timeout.
    #[error("stream idle timeout")]
    StreamIdleTimeout,
}

impl ProxyError {
    pub fn status(self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            ProxyError::TlsRequired => StatusCode::MOVED_PERMANENTLY,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::UriTooLong => StatusCode::URI_TOO_LONG,
            ProxyError::RequestHeaderTimeout => StatusCode::REQUEST_TIMEOUT,
            ProxyError::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ProxyError::UpgradeRejected => StatusCode::FORBIDDEN,
            ProxyError::InvalidBackend => StatusCode::INTERNAL_SERVER_ERROR,
            ProxyError::NoHealthyUpstream
            | ProxyError::ConnectFailure
            | ProxyError::UpstreamTls(_)
            | ProxyError::Overflow
            | ProxyError::UpstreamReset => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::UpstreamProtocol => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::StreamIdleTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// The body Envoy sends for the same situation.
    pub fn body(self) -> &'static str {
        match self {
            ProxyError::NoRoute
            | ProxyError::InvalidBackend
            | ProxyError::UpgradeRejected
            | ProxyError::TlsRequired => "",
            ProxyError::Misdirected => "Misdirected Request",
            ProxyError::BadRequest(_) => "Bad Request",
            ProxyError::HeadersTooLarge => "Request Header Fields Too Large",
            ProxyError::UriTooLong => "URI Too Long",
            ProxyError::RequestHeaderTimeout => "request header timeout",
            ProxyError::NotImplemented => "Not Implemented",
            ProxyError::NoHealthyUpstream => "no healthy upstream",
            ProxyError::ConnectFailure => {
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
            }
            ProxyError::UpstreamTls(failure) => failure.body(),
            ProxyError::Overflow => {
                "upstream connect error or disconnect/reset before headers. reset reason: overflow"
            }
            ProxyError::UpstreamReset => {
                "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
            }
            ProxyError::UpstreamProtocol => {
                "upstream connect error or disconnect/reset before headers. reset reason: protocol error"
            }
            ProxyError::Timeout => "upstream request timeout",
            ProxyError::StreamIdleTimeout => "stream timeout",
        }
    }

    /// Whether the client broke the protocol (counted as a downstream
    /// protocol error, Envoy's `downstream_rq_rx_reset`/`DPE` family).
    pub fn is_downstream_protocol_error(self) -> bool {
        self.flags() == Flags::DOWNSTREAM_PROTOCOL_ERROR
    }

    /// Whether the client connection closes after this answer: after a
    /// protocol error and a refused upgrade, as Envoy does.
    pub fn closes_connection(self) -> bool {
        self.is_downstream_protocol_error()
            || matches!(
                self,
                ProxyError::UpgradeRejected
                    | ProxyError::RequestHeaderTimeout
                    | ProxyError::StreamIdleTimeout
            )
    }

    /// Envoy's `%RESPONSE_FLAGS%` for the same situation.
    pub fn flags(self) -> Flags {
        match self {
            ProxyError::NoRoute | ProxyError::Misdirected => Flags::NO_ROUTE_FOUND,
            ProxyError::BadRequest(_)
            | ProxyError::HeadersTooLarge
            | ProxyError::UriTooLong
            | ProxyError::NotImplemented => Flags::DOWNSTREAM_PROTOCOL_ERROR,
            // Envoy sets no flag for these, only the details.
            ProxyError::TlsRequired
            | ProxyError::UpgradeRejected
            | ProxyError::RequestHeaderTimeout => Flags::default(),
            ProxyError::InvalidBackend => Flags::NO_CLUSTER_FOUND,
            ProxyError::NoHealthyUpstream => Flags::NO_HEALTHY_UPSTREAM,
            ProxyError::ConnectFailure | ProxyError::UpstreamTls(_) => {
                Flags::UPSTREAM_CONNECTION_FAILURE
            }
            ProxyError::UpstreamReset => Flags::UPSTREAM_CONNECTION_TERMINATION,
            ProxyError::Overflow => Flags::UPSTREAM_OVERFLOW,
            ProxyError::UpstreamProtocol => Flags::UPSTREAM_PROTOCOL_ERROR,
            ProxyError::Timeout => Flags::UPSTREAM_REQUEST_TIMEOUT,
            ProxyError::StreamIdleTimeout => Flags::STREAM_IDLE_TIMEOUT,
        }
    }

    /// Envoy's `%RESPONSE_CODE_DETAILS%` for the same situation.
    pub fn details(self) -> &'static str {
        match self {
            ProxyError::NoRoute => "route_not_found",
            ProxyError::Misdirected => "misdirected_request",
            ProxyError::TlsRequired => "direct_response",
            ProxyError::BadRequest(_) | ProxyError::UriTooLong => "codec_error",
            ProxyError::HeadersTooLarge => "headers_too_large",
            ProxyError::RequestHeaderTimeout => "request_header_timeout",
            ProxyError::NotImplemented => "invalid_transfer_encoding",
            ProxyError::UpgradeRejected => "upgrade_failed",
            ProxyError::InvalidBackend => "cluster_not_found",
            ProxyError::NoHealthyUpstream => "no_healthy_upstream",
            ProxyError::ConnectFailure | ProxyError::UpstreamTls(_) => {
                "upstream_reset_before_response_started{connection_failure}"
            }
            ProxyError::UpstreamReset => {
                "upstream_reset_before_response_started{connection_termination}"
            }
            ProxyError::Overflow => "upstream_reset_before_response_started{overflow}",
            ProxyError::UpstreamProtocol => {
                "upstream_reset_before_response_started{protocol_error}"
            }
            ProxyError::Timeout => "upstream_response_timeout",
            ProxyError::StreamIdleTimeout => "stream_idle_timeout",
        }
    }
}
