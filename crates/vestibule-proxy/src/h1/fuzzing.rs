//! Entry points for the fuzz targets (`fuzz/`, libFuzzer on nightly) and
//! for the replay of their committed corpus (a plain test on stable): one
//! function per parser, which panics when a property does not hold.

use bytes::BytesMut;

use super::chunked::{Chunked, Step};
use super::parse::{self, Parsed};
use crate::upstream::client;
use crate::HeadLimits;

/// Small limits, so that the fuzzer reaches them.
const LIMITS: HeadLimits = HeadLimits {
    bytes: 2048,
    count: 16,
};

/// The request head parser: never panics, and bytes arriving in pieces
/// (the first byte picks the piece size) are read as the whole would be:
/// the same outcome, the same request, the same bytes left for the next.
pub fn request_head(data: &[u8]) {
    let Some((&step, data)) = data.split_first() else {
        return;
    };
    let whole = outcome(&mut BytesMut::from(data));
    let mut buf = BytesMut::new();
    let step = usize::from(step).max(1);
    let mut pieces = data.chunks(step);
    let incremental = loop {
        match pieces.next() {
            Some(piece) => buf.extend_from_slice(piece),
            None => break outcome(&mut buf),
        }
        let parsed = outcome(&mut buf);
        if parsed.0 != "partial" {
            // The rest of the data follows what was left unread.
            for piece in pieces.by_ref() {
                buf.extend_from_slice(piece);
            }
            let rest = if parsed.0 == "reject" {
                Vec::new()
            } else {
                buf.to_vec()
            };
            break (parsed.0, parsed.1, rest);
        }
    };
    assert_eq!(whole, incremental, "whole and incremental parses differ");
}

/// The outcome's kind, the request as text, and what is left in `buf` for
/// the next request (nothing is, after a refusal: the connection closes).
fn outcome(buf: &mut BytesMut) -> (&'static str, String, Vec<u8>) {
    let mut request = http::Request::new(());
    let parsed = parse::parse(buf, LIMITS, &mut request);
    let (kind, text) = match parsed {
        Parsed::Partial => ("partial", String::new()),
        Parsed::Handoff => ("handoff", String::new()),
        Parsed::Reject(error) => return ("reject", error.to_string(), Vec::new()),
        Parsed::Request { .. } => {
            assert!(request.headers().len() <= LIMITS.count);
            ("request", format!("{request:?}"))
        }
    };
    (kind, text, buf.to_vec())
}

/// The chunked decoder (upstream response bodies): never panics, and the
/// body decodes the same whatever the pieces it arrives in.
pub fn chunked(data: &[u8]) {
    let Some((&step, data)) = data.split_first() else {
        return;
    };
    let whole = decode(data, data.len().max(1));
    let pieces = decode(data, usize::from(step).max(1));
    assert_eq!(whole, pieces, "the split changed the decoding");
}

/// Decoded data, or `None` for an error; `Some` partial data when the
/// input ends early.
fn decode(data: &[u8], step: usize) -> Option<(Vec<u8>, bool)> {
    let mut state = Chunked::Size;
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match state.step(&mut buf).ok()? {
                Step::Data(data) => out.extend_from_slice(&data),
                Step::More => break,
                Step::Done => return Some((out, true)),
            }
        }
    }
    Some((out, false))
}

/// The upstream response head parser and framing decision: never panics;
/// a framed body never has both a length and a transfer coding.
pub fn response_head(data: &[u8]) {
    client::check_response_head(data);
}
