//! The frame layer (RFC 9113 §4 and §6): frame heads, payloads parsed and
//! checked one frame at a time, the writers of the frames a server sends,
//! and a [`Reader`] that cuts a byte stream into frames.
//!
//! Every rule of §6 that one frame alone can break is checked here, with
//! the error RFC 9113 names for it. Rules that need the connection's state
//! (stream states, identifier order, header blocks interrupted by other
//! frames, flow-control windows, SETTINGS values that change over time) are
//! the connection's to check.
//!
//! Parsing neither allocates nor copies: a [`Frame`] borrows its payload.

mod error;
mod head;
mod parse;
mod reader;
mod settings;
mod write;

#[cfg(test)]
mod tests;

pub use error::FrameError;
pub use head::{Head, Kind};
pub use parse::parse;
pub use reader::{preface, Preface, Reader, Split, PREFACE};
pub use settings::{Params, Setting, Settings, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE};
pub use write::{
    data_head, write_goaway, write_headers, write_ping, write_rst_stream, write_settings,
    write_settings_ack, write_window_update,
};

use crate::ErrorCode;

/// The length of a frame head (§4.1).
pub const HEAD_LEN: usize = 9;

/// SETTINGS_MAX_FRAME_SIZE until a peer says otherwise, and its smallest
/// value (§6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The flags RFC 9113 defines (§6). Each frame type reads only its own:
/// the others are ignored (§4.1).
pub mod flags {
    /// DATA, HEADERS: the last frame the sender sends on the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: the field block ends here.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a Pad Length byte and padding.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: the priority fields of RFC 7540 are present.
    pub const PRIORITY: u8 = 0x20;
}

/// One frame's payload, parsed and checked, borrowing the payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA (§6.1), padding removed.
    Data {
        stream: u32,
        end_stream: bool,
        data: &'a [u8],
        /// What the frame counts against flow control: its whole payload,
        /// Pad Length and padding included (§6.9.1).
        flow_len: u32,
    },
    /// HEADERS (§6.2), padding and priority fields removed.
    Headers {
        stream: u32,
        end_stream: bool,
        end_headers: bool,
        priority: Option<Priority>,
        block: &'a [u8],
        /// `Some(FrameError::Stream { .. })` when the stream must be reset
        /// (it depends on itself, §5.3.1). The frame is still returned:
        /// its field block, and the CONTINUATIONs that follow, must be
        /// decoded anyway to keep the HPACK state in step (§4.3).
        reset: Option<FrameError>,
    },
    /// PRIORITY (§6.3): deprecated signalling, ignored by the server but
    /// still checked.
    Priority { stream: u32, priority: Priority },
    /// RST_STREAM (§6.4).
    RstStream { stream: u32, code: ErrorCode },
    /// SETTINGS (§6.5), every parameter checked.
    Settings(Settings<'a>),
    /// PUSH_PROMISE (§6.6). A client cannot push: a server treats receipt
    /// as a connection PROTOCOL_ERROR (§8.4). Parsed so that the
    /// connection says so, after the checks every frame gets.
    PushPromise {
        stream: u32,
        end_headers: bool,
        promised: u32,
        block: &'a [u8],
    },
    /// PING (§6.7).
    Ping { ack: bool, payload: [u8; 8] },
    /// GOAWAY (§6.8).
    GoAway {
        last_stream: u32,
        code: ErrorCode,
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE (§6.9); `stream` 0 is the connection's window. The
    /// increment is in 1 ..= 2^31 − 1.
    WindowUpdate { stream: u32, increment: u32 },
    /// CONTINUATION (§6.10).
    Continuation {
        stream: u32,
        end_headers: bool,
        block: &'a [u8],
    },
    /// A frame of a type this codec does not know: ignored (§5.5), unless
    /// it interrupts a field block, which the connection checks.
    Unknown { kind: u8, stream: u32 },
}

/// RFC 7540's priority fields, in HEADERS and PRIORITY frames (RFC 9113
/// §5.3.2 deprecates them; they are parsed to be checked and skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The stream this one depends on.
    pub dependency: u32,
    /// The E flag: an exclusive dependency.
    pub exclusive: bool,
    /// The weight as sent: the weight is this plus one (1 ..= 256).
    pub weight: u8,
}

/// Checks a head alone, before its payload is read, so that an oversized
/// frame is refused before it is buffered. `max_frame_size` is the
/// SETTINGS_MAX_FRAME_SIZE this endpoint advertised.
///
/// §4.2 makes an oversized frame a connection error when the frame could
/// alter the whole connection's state (HEADERS, PUSH_PROMISE,
/// CONTINUATION, SETTINGS, any frame on stream 0) and allows a stream
/// error otherwise. This takes the conservative reading: always a
/// connection error. A DATA frame alters the connection's flow-control
/// window too, and recovering from the others would mean skipping up to
/// 16 MiB of payload from a peer that already broke the protocol.
#[inline]
pub fn check_head(head: &Head, max_frame_size: u32) -> Result<(), FrameError> {
    if head.length > max_frame_size {
        return Err(error::frame_size(
            "frame longer than SETTINGS_MAX_FRAME_SIZE",
        ));
    }
    Ok(())
}
