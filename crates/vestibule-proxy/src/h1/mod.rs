//! vestibule's own HTTP/1.1: the client for upstream connections (see
//! `client`), and the server side for the common request: one with no body
//! and no protocol switch. It exists for two measured reasons
//! (docs/benchmarks.md): an idle keep-alive connection holds no buffer at
//! all (hyper keeps an 8 KiB read buffer per connection for its whole life),
//! and the request path skips hyper's dispatcher.
//!
//! Anything else — a request body, `Expect`, `Upgrade` or `CONNECT` —
//! hands the connection, with the bytes already read, to hyper for the rest
//! of its life, so every feature and every framing rule hyper implements
//! stays in force there. The HTTP/2 preface hands it to `crate::http2`.

mod chunked;
mod client;
mod date;
mod encode;
pub(crate) mod fuzzing;
mod head;
mod parse;
mod prefixed;
mod server;
mod signal;
mod upstream_body;
mod write;

pub(crate) use client::{send, SendError, UpgradedUpstream, UpstreamConn};
pub(crate) use date::ensure as ensure_date;
pub(crate) use head::{content_length, parse_length, MAX_REQUEST_HEADER_SLOTS};
pub(crate) use prefixed::Prefixed;
pub(crate) use server::{serve, ConnectionHold};
pub(crate) use signal::{ListenerSignal, DRAIN, IDLE_TICKS};
pub(crate) use upstream_body::H1Body;
