//! vestibule's own HTTP/2 server codec (RFC 9113, RFC 7541), sans I/O:
//! bytes in, frames and header fields out, and the reverse. It knows
//! nothing of sockets, runtimes or routing; the proxy's `server::h2` drives
//! it.
//!
//! Why not the `h2` crate, which the upstream side keeps using: measured
//! with callgrind, `h2` spends about 20,000 instructions per h2c request
//! (HPACK encoding alone about 4,300; its stream store, locks and frame
//! queues the rest), more than h2o's whole cost per request. Issue 17's
//! h2c target (CPU per request ≤ h2o's) cannot be met through it.
//!
//! The parts:
//! - [`ErrorCode`]: RFC 9113 §7's error codes, shared by every layer.
//! - [`frame`]: the frame layer (RFC 9113 §4, §6): heads, payloads parsed
//!   and checked one frame at a time, writers, and a reader that cuts bytes
//!   into frames.
//! - [`hpack`]: header compression (RFC 7541), the decoder for requests and
//!   the encoder for responses.
//! - [`Connection`]: one server connection's protocol state, which the
//!   driver feeds bytes and answers through.
#![forbid(unsafe_code)]

mod connection;
mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod hpack;

pub use connection::{
    Config, Connection, ConnectionError, Event, HeadWriter, Malformed, Protocol, StreamGone,
};
pub use error::ErrorCode;
