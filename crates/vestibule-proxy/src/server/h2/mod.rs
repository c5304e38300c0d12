//! vestibule's HTTP/2 server side, on the `h2` crate directly (hyper's
//! server layer removed, measured in docs/benchmarks.md): each stream runs
//! inside its connection's task rather than as a task of its own, and the
//! response goes to `h2` without a second header check.
//!
//! `h2` keeps doing the protocol: framing, HPACK, flow control, stream
//! states, `SETTINGS`, `GOAWAY`, and the header rules (connection-specific
//! headers refused both ways, `content-length` checked against the data).

mod connection;
mod recv_body;
mod send;
mod streams;

pub(crate) use connection::serve;
pub(crate) use recv_body::H2RequestBody;

/// Streams one connection can run at once.
pub(crate) const MAX_STREAM_SLOTS: usize = streams::CAPACITY;
