//! The 9-byte frame head (RFC 9113 §4.1) and the frame types (§6, §11.2).

use super::HEAD_LEN;

/// The 9-byte frame head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The payload's length in bytes (24 bits on the wire).
    pub length: u32,
    /// The frame type.
    pub kind: Kind,
    /// The flags, as sent: flags a type does not define are kept here and
    /// ignored by [`parse`](super::parse) (§4.1).
    pub flags: u8,
    /// The stream identifier, reserved bit cleared (§4.1: ignored on
    /// receipt).
    pub stream: u32,
}

/// A frame type (RFC 9113 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    /// A type this codec does not know: ignored (§5.5).
    Unknown(u8),
}

/// The 31 bits of a stream identifier (and of a window increment): the
/// top bit is reserved.
pub(crate) const STREAM_MASK: u32 = 0x7fff_ffff;

impl Kind {
    /// The type from its wire code.
    pub fn from_code(code: u8) -> Kind {
        match code {
            0x0 => Kind::Data,
            0x1 => Kind::Headers,
            0x2 => Kind::Priority,
            0x3 => Kind::RstStream,
            0x4 => Kind::Settings,
            0x5 => Kind::PushPromise,
            0x6 => Kind::Ping,
            0x7 => Kind::GoAway,
            0x8 => Kind::WindowUpdate,
            0x9 => Kind::Continuation,
            other => Kind::Unknown(other),
        }
    }

    /// The type's wire code.
    pub fn code(self) -> u8 {
        match self {
            Kind::Data => 0x0,
            Kind::Headers => 0x1,
            Kind::Priority => 0x2,
            Kind::RstStream => 0x3,
            Kind::Settings => 0x4,
            Kind::PushPromise => 0x5,
            Kind::Ping => 0x6,
            Kind::GoAway => 0x7,
            Kind::WindowUpdate => 0x8,
            Kind::Continuation => 0x9,
            Kind::Unknown(code) => code,
        }
    }
}

impl Head {
    /// Reads a head. Every 9 bytes are a head: what they mean is checked
    /// by [`check_head`](super::check_head) and [`parse`](super::parse).
    #[inline]
    pub fn parse(bytes: &[u8; HEAD_LEN]) -> Head {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *bytes;
        Head {
            // One 4-byte load and a shift, rather than three byte loads.
            length: u32::from_be_bytes([l0, l1, l2, kind]) >> 8,
            kind: Kind::from_code(kind),
            flags,
            stream: u32::from_be_bytes([s0, s1, s2, s3]) & STREAM_MASK,
        }
    }

    /// Writes the head. The length's top 8 bits and the stream's reserved
    /// bit are not written: callers keep them clear.
    #[inline]
    pub fn encode(&self, out: &mut [u8; HEAD_LEN]) {
        let [_, l0, l1, l2] = self.length.to_be_bytes();
        let [s0, s1, s2, s3] = (self.stream & STREAM_MASK).to_be_bytes();
        *out = [l0, l1, l2, self.kind.code(), self.flags, s0, s1, s2, s3];
    }

    /// The head as bytes.
    #[inline]
    pub fn to_bytes(&self) -> [u8; HEAD_LEN] {
        let mut out = [0; HEAD_LEN];
        self.encode(&mut out);
        out
    }
}
