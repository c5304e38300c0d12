//! HPACK, header compression for HTTP/2 (RFC 7541): a [`Decoder`] for the
//! request heads clients send and an [`Encoder`] for the response heads
//! this server sends, each keeping its connection's dynamic table.
//!
//! Both work on byte slices: the decoder hands each field to a closure as
//! slices (into the block, its table or a scratch buffer), the encoder
//! appends to a caller's `Vec<u8>`.

mod decoder;
mod encoder;
mod huffman;
mod integer;
mod static_table;
mod table;

#[cfg(test)]
mod tests;

pub use decoder::{DecodeError, Decoded, Decoder};
pub use encoder::Encoder;
