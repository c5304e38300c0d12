//! The upstream side: clusters and their endpoints, load balancing, the
//! connection pool, the HTTP/1.1 client and the exchange with retries that
//! the request phases call (`forward`).

pub(crate) mod balance;
pub(crate) mod client;
pub(crate) mod clusters;
pub(crate) mod forward;
mod h1_body;
pub(crate) mod pool;

pub(crate) use client::UpgradedUpstream;
pub(crate) use h1_body::H1ResponseBody;
