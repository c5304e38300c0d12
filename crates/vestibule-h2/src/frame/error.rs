//! What a frame that breaks RFC 9113 costs: the connection or one stream
//! (§5.4).

use crate::ErrorCode;

/// A frame that breaks a rule of RFC 9113, with the error the RFC names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Ends the connection with GOAWAY(code).
    #[error("connection error {code}: {reason}")]
    Connection {
        code: ErrorCode,
        reason: &'static str,
    },
    /// Resets one stream with RST_STREAM(code); the connection goes on.
    #[error("stream {stream} error {code}: {reason}")]
    Stream {
        stream: u32,
        code: ErrorCode,
        reason: &'static str,
    },
}

impl FrameError {
    /// The error code to send (in GOAWAY or RST_STREAM).
    pub fn code(&self) -> ErrorCode {
        match *self {
            FrameError::Connection { code, .. } | FrameError::Stream { code, .. } => code,
        }
    }
}

/// A connection PROTOCOL_ERROR.
pub(super) fn protocol(reason: &'static str) -> FrameError {
    FrameError::Connection {
        code: ErrorCode::PROTOCOL_ERROR,
        reason,
    }
}

/// A connection FRAME_SIZE_ERROR.
pub(super) fn frame_size(reason: &'static str) -> FrameError {
    FrameError::Connection {
        code: ErrorCode::FRAME_SIZE_ERROR,
        reason,
    }
}

/// A stream error.
pub(super) fn stream(stream: u32, code: ErrorCode, reason: &'static str) -> FrameError {
    FrameError::Stream {
        stream,
        code,
        reason,
    }
}
