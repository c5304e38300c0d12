//! The bodies of the request path: what comes from the client
//! (`RequestBody`) and what goes back to it (`ResponseBody`).

mod request;
mod response;

pub(crate) use request::{BoxError, RequestBody};
pub(crate) use response::{ResponseBody, TunnelBody, UpstreamBody};
