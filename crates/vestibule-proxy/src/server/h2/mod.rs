//! vestibule's HTTP/2 server side, on its own codec (`vestibule_h2`):
//! each stream runs inside its connection's task rather than as a task of
//! its own, and the codec copies nothing it does not have to.
//!
//! The codec does the protocol: framing, HPACK, flow control, stream
//! states, `SETTINGS`, `GOAWAY`, the header rules (connection-specific
//! headers refused, `content-length` checked against the data) and the
//! flood limits. This module drives it: the socket, the streams' tasks,
//! their request bodies.

mod connection;
mod recv_body;
mod streams;
mod task;

pub(crate) use connection::serve;
pub(crate) use recv_body::H2RequestBody;

/// Streams one connection can run at once.
pub(crate) const MAX_STREAM_SLOTS: usize = streams::CAPACITY;
