//! Every way a request can fail in the proxy, and the one place that maps
//! each to what the client sees: status, body (Envoy's local-reply texts,
//! which users search for) and the Envoy response flag for logs.

use http::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("no route matched")]
    NoRoute,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("request headers too large")]
    HeadersTooLarge,
    #[error("the route's backend reference is invalid")]
    InvalidBackend,
    #[error("no healthy upstream")]
    NoHealthyUpstream,
    #[error("upstream connect failure")]
    ConnectFailure,
    #[error("upstream reset before response")]
    UpstreamReset,
    #[error("upstream request timeout")]
    Timeout,
}

impl ProxyError {
    pub fn status(self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::InvalidBackend => StatusCode::INTERNAL_SERVER_ERROR,
            ProxyError::NoHealthyUpstream
            | ProxyError::ConnectFailure
            | ProxyError::UpstreamReset => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The body Envoy sends for the same situation.
    pub fn body(self) -> &'static str {
        match self {
            ProxyError::NoRoute | ProxyError::InvalidBackend => "",
            ProxyError::BadRequest(_) => "Bad Request",
            ProxyError::HeadersTooLarge => "Request Header Fields Too Large",
            ProxyError::NoHealthyUpstream => "no healthy upstream",
            ProxyError::ConnectFailure => {
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
            }
            ProxyError::UpstreamReset => {
                "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
            }
            ProxyError::Timeout => "upstream request timeout",
        }
    }

    /// Envoy's `%RESPONSE_FLAGS%` code.
    pub fn flag(self) -> &'static str {
        match self {
            ProxyError::NoRoute => "NR",
            ProxyError::BadRequest(_) | ProxyError::HeadersTooLarge => "DPE",
            ProxyError::InvalidBackend => "NC",
            ProxyError::NoHealthyUpstream => "UH",
            ProxyError::ConnectFailure => "UF",
            ProxyError::UpstreamReset => "UC",
            ProxyError::Timeout => "UT",
        }
    }
}
