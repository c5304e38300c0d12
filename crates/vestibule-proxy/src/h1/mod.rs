//! HTTP/1.1 on the wire, for both sides of the proxy: request heads
//! (`parse`), response heads (`head`), chunked framing, encoding and writing
//! bodies. vestibule's own codec exists for two measured reasons
//! (docs/benchmarks.md): an idle keep-alive connection holds no buffer at
//! all (hyper keeps an 8 KiB read buffer per connection for its whole life),
//! and the request path skips hyper's dispatcher. The server that uses it is
//! `crate::server::h1`, the client `crate::upstream::client`.

pub(crate) mod chunked;
mod date;
pub(crate) mod encode;
pub(crate) mod fuzzing;
pub(crate) mod head;
pub(crate) mod parse;
pub(crate) mod raw;
pub(crate) mod write;

pub(crate) use date::{ensure as ensure_date, now as date_now};
pub(crate) use head::{parse_length, MAX_REQUEST_HEADER_SLOTS};
pub(crate) use raw::RawHead;
