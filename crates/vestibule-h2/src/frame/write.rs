//! The writers of the frames a server sends. Each appends whole frames to
//! the connection's output buffer.

use super::flags::{ACK, END_HEADERS, END_STREAM};
use super::head::{Head, Kind, STREAM_MASK};
use super::settings::{Setting, MAX_MAX_FRAME_SIZE, PARAM_LEN};
use super::{DEFAULT_MAX_FRAME_SIZE, HEAD_LEN};
use crate::ErrorCode;

/// The longest GOAWAY debug data written: what fits the smallest
/// SETTINGS_MAX_FRAME_SIZE a peer can advertise.
const MAX_DEBUG_LEN: usize = DEFAULT_MAX_FRAME_SIZE as usize - 8;

/// SETTINGS with these parameters, in this order.
pub fn write_settings(out: &mut Vec<u8>, settings: &[Setting]) {
    let length = settings.len() * PARAM_LEN;
    out.reserve(HEAD_LEN + length);
    put_head(out, Kind::Settings, 0, 0, length);
    for setting in settings {
        out.extend_from_slice(&setting.id().to_be_bytes());
        out.extend_from_slice(&setting.value().to_be_bytes());
    }
}

/// SETTINGS with the ACK flag.
pub fn write_settings_ack(out: &mut Vec<u8>) {
    put_head(out, Kind::Settings, ACK, 0, 0);
}

/// PING, or its answer when `ack`.
pub fn write_ping(out: &mut Vec<u8>, ack: bool, payload: [u8; 8]) {
    put_frame(out, Kind::Ping, if ack { ACK } else { 0 }, 0, &payload);
}

/// GOAWAY. Debug data past 16,376 bytes (what the smallest frame size
/// allows) is cut.
pub fn write_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode, debug: &[u8]) {
    let debug = &debug[..debug.len().min(MAX_DEBUG_LEN)];
    out.reserve(HEAD_LEN + 8 + debug.len());
    put_head(out, Kind::GoAway, 0, 0, 8 + debug.len());
    out.extend_from_slice(&(last_stream & STREAM_MASK).to_be_bytes());
    out.extend_from_slice(&code.0.to_be_bytes());
    out.extend_from_slice(debug);
}

/// RST_STREAM.
pub fn write_rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    put_frame(out, Kind::RstStream, 0, stream, &code.0.to_be_bytes());
}

/// WINDOW_UPDATE; `stream` 0 for the connection's window. The increment
/// must be in 1 ..= 2^31 − 1 (its reserved bit is not written).
pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    debug_assert!(increment != 0 && increment <= STREAM_MASK, "{increment}");
    let increment = increment & STREAM_MASK;
    put_frame(out, Kind::WindowUpdate, 0, stream, &increment.to_be_bytes());
}

/// A header block as HEADERS followed by CONTINUATIONs, each at most
/// `max_frame_size` (the peer's, taken as 2^14 ..= 2^24 − 1).
/// END_HEADERS is on the last frame only, END_STREAM on the HEADERS only.
pub fn write_headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    // Clamped so that a caller's bad value cannot loop forever on 0.
    let max = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE) as usize;
    let frames = block.len().div_ceil(max).max(1);
    out.reserve(frames * HEAD_LEN + block.len());
    let (first, mut rest) = block.split_at(block.len().min(max));
    let end = if rest.is_empty() { END_HEADERS } else { 0 };
    let end_stream = if end_stream { END_STREAM } else { 0 };
    put_frame(out, Kind::Headers, end | end_stream, stream, first);
    while !rest.is_empty() {
        let (fragment, tail) = rest.split_at(rest.len().min(max));
        rest = tail;
        let end = if rest.is_empty() { END_HEADERS } else { 0 };
        put_frame(out, Kind::Continuation, end, stream, fragment);
    }
}

/// Only the 9-byte head of a DATA frame: the payload is written from the
/// caller's buffer (vectored), not copied here. `length` must not exceed
/// the peer's SETTINGS_MAX_FRAME_SIZE.
#[inline]
pub fn data_head(stream: u32, length: u32, end_stream: bool) -> [u8; HEAD_LEN] {
    debug_assert!(length <= MAX_MAX_FRAME_SIZE, "{length}");
    Head {
        length,
        kind: Kind::Data,
        flags: if end_stream { END_STREAM } else { 0 },
        stream,
    }
    .to_bytes()
}

fn put_frame(out: &mut Vec<u8>, kind: Kind, flags: u8, stream: u32, payload: &[u8]) {
    put_head(out, kind, flags, stream, payload.len());
    out.extend_from_slice(payload);
}

fn put_head(out: &mut Vec<u8>, kind: Kind, flags: u8, stream: u32, length: usize) {
    debug_assert!(length <= MAX_MAX_FRAME_SIZE as usize, "{length}");
    let head = Head {
        length: length as u32,
        kind,
        flags,
        stream,
    };
    out.extend_from_slice(&head.to_bytes());
}
