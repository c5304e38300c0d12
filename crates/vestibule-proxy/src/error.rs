//! Every way a request can fail in the proxy, and the one place that maps
//! each to what the client sees: status, body (Envoy's local-reply texts,
//! which users search for) and the Envoy response flag for logs.

use http::StatusCode;

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
        self.flag() == "DPE"
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

    /// Envoy's `%RESPONSE_FLAGS%` code.
    pub fn flag(self) -> &'static str {
        match self {
            ProxyError::NoRoute | ProxyError::Misdirected => "NR",
            ProxyError::TlsRequired => "-",
            ProxyError::BadRequest(_)
            | ProxyError::HeadersTooLarge
            | ProxyError::UriTooLong
            | ProxyError::NotImplemented => "DPE",
            // Envoy sets no flag, only the details `upgrade_failed`.
            ProxyError::UpgradeRejected | ProxyError::RequestHeaderTimeout => "-",
            ProxyError::InvalidBackend => "NC",
            ProxyError::NoHealthyUpstream => "UH",
            ProxyError::ConnectFailure => "UF",
            ProxyError::UpstreamReset => "UC",
            ProxyError::UpstreamProtocol => "UPE",
            ProxyError::Timeout => "UT",
            ProxyError::StreamIdleTimeout => "SI",
        }
    }
}
