//! The frame layer's tests. Frames are built byte by byte here, not with
//! the writers, so that a writer's mistake cannot hide a parser's.

mod check;
mod control;
mod fields;
mod props;
mod reader;
mod write;

use super::{parse, Frame, FrameError, Head};
use crate::ErrorCode;

/// A frame's bytes: head by hand, then the payload.
fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Parses bytes that hold one whole frame.
fn parsed(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let (head, payload) = bytes.split_first_chunk().expect("a head");
    parse(&Head::parse(head), payload)
}

/// Asserts a connection error with this code.
#[track_caller]
fn assert_connection(result: Result<Frame<'_>, FrameError>, code: ErrorCode) {
    match result {
        Err(FrameError::Connection { code: got, .. }) => assert_eq!(got, code),
        other => panic!("expected a connection error {code}, got {other:?}"),
    }
}

/// Asserts a stream error on this stream with this code.
#[track_caller]
fn assert_stream(result: Result<Frame<'_>, FrameError>, stream: u32, code: ErrorCode) {
    match result {
        Err(FrameError::Stream {
            stream: got_stream,
            code: got,
            ..
        }) => assert_eq!((got_stream, got), (stream, code)),
        other => panic!("expected a stream {stream} error {code}, got {other:?}"),
    }
}

const PROTOCOL_ERROR: ErrorCode = ErrorCode::PROTOCOL_ERROR;
const FRAME_SIZE_ERROR: ErrorCode = ErrorCode::FRAME_SIZE_ERROR;

// Frame type codes, spelled out as on the wire.
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

// Flags.
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;
