//! The upstream side: clusters and their endpoints, load balancing, the
//! connection pool, the HTTP/1.1 client and the exchange with retries that
//! the request phases call (`forward`).

pub(crate) mod balance;
pub(crate) mod circuit;
pub(crate) mod client;
pub(crate) mod clusters;
pub(crate) mod dns;
pub(crate) mod forward;
mod h1_body;
pub(crate) mod hash;
pub(crate) mod outlier;
pub(crate) mod pool;
mod spare;
mod stream;
pub(crate) mod tls;

pub(crate) use client::UpgradedUpstream;
pub(crate) use forward::Attempts;
pub(crate) use h1_body::H1ResponseBody;
pub use tls::TlsFailure;

/// An upstream connection handed over after `101 Switching Protocols` (or
/// a CONNECT), with the bytes the upstream sent after its response head.
pub(crate) type UpgradedStream = crate::conn::Prefixed<stream::UpstreamStream>;
