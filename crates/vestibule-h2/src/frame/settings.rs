//! SETTINGS parameters (RFC 9113 §6.5.2, RFC 8441 §3, RFC 9218 §2.1).

use super::error::{protocol, FrameError};
use crate::ErrorCode;

/// The largest flow-control window (and SETTINGS_INITIAL_WINDOW_SIZE):
/// 2^31 − 1 (§6.9.1).
pub const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;

/// The largest SETTINGS_MAX_FRAME_SIZE: 2^24 − 1 (§6.5.2).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// One byte pair on the wire: a 16-bit identifier and a 32-bit value.
pub(super) const PARAM_LEN: usize = 6;

/// One SETTINGS parameter, its value checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// SETTINGS_HEADER_TABLE_SIZE (0x1).
    HeaderTableSize(u32),
    /// SETTINGS_ENABLE_PUSH (0x2).
    EnablePush(bool),
    /// SETTINGS_MAX_CONCURRENT_STREAMS (0x3).
    MaxConcurrentStreams(u32),
    /// SETTINGS_INITIAL_WINDOW_SIZE (0x4), at most [`MAX_WINDOW_SIZE`].
    InitialWindowSize(u32),
    /// SETTINGS_MAX_FRAME_SIZE (0x5), in 2^14 ..= 2^24 − 1.
    MaxFrameSize(u32),
    /// SETTINGS_MAX_HEADER_LIST_SIZE (0x6).
    MaxHeaderListSize(u32),
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8, RFC 8441).
    EnableConnectProtocol(bool),
    /// SETTINGS_NO_RFC7540_PRIORITIES (0x9, RFC 9218).
    NoRfc7540Priorities(bool),
    /// A parameter this codec does not know: ignored on receipt (§6.5.2).
    /// Writers must not use it for the identifiers above.
    Unknown { id: u16, value: u32 },
}

impl Setting {
    /// The parameter's identifier on the wire.
    pub fn id(self) -> u16 {
        match self {
            Setting::HeaderTableSize(_) => 0x1,
            Setting::EnablePush(_) => 0x2,
            Setting::MaxConcurrentStreams(_) => 0x3,
            Setting::InitialWindowSize(_) => 0x4,
            Setting::MaxFrameSize(_) => 0x5,
            Setting::MaxHeaderListSize(_) => 0x6,
            Setting::EnableConnectProtocol(_) => 0x8,
            Setting::NoRfc7540Priorities(_) => 0x9,
            Setting::Unknown { id, .. } => id,
        }
    }

    /// The parameter's value on the wire.
    pub fn value(self) -> u32 {
        match self {
            Setting::HeaderTableSize(value)
            | Setting::MaxConcurrentStreams(value)
            | Setting::InitialWindowSize(value)
            | Setting::MaxFrameSize(value)
            | Setting::MaxHeaderListSize(value)
            | Setting::Unknown { value, .. } => value,
            Setting::EnablePush(on)
            | Setting::EnableConnectProtocol(on)
            | Setting::NoRfc7540Priorities(on) => u32::from(on),
        }
    }

    /// Checks a value against the rules of its parameter.
    fn check(id: u16, value: u32) -> Result<(), FrameError> {
        match id {
            0x2 if value > 1 => Err(protocol("SETTINGS_ENABLE_PUSH is neither 0 nor 1")),
            0x4 if value > MAX_WINDOW_SIZE => Err(FrameError::Connection {
                code: ErrorCode::FLOW_CONTROL_ERROR,
                reason: "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
            }),
            0x5 if !(super::DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) => {
                Err(protocol("SETTINGS_MAX_FRAME_SIZE outside 2^14..=2^24-1"))
            }
            0x8 if value > 1 => Err(protocol(
                "SETTINGS_ENABLE_CONNECT_PROTOCOL is neither 0 nor 1",
            )),
            0x9 if value > 1 => Err(protocol(
                "SETTINGS_NO_RFC7540_PRIORITIES is neither 0 nor 1",
            )),
            _ => Ok(()),
        }
    }

    /// The parameter from a pair that [`Setting::check`] accepted.
    fn decode(id: u16, value: u32) -> Setting {
        match id {
            0x1 => Setting::HeaderTableSize(value),
            0x2 => Setting::EnablePush(value != 0),
            0x3 => Setting::MaxConcurrentStreams(value),
            0x4 => Setting::InitialWindowSize(value),
            0x5 => Setting::MaxFrameSize(value),
            0x6 => Setting::MaxHeaderListSize(value),
            0x8 => Setting::EnableConnectProtocol(value != 0),
            0x9 => Setting::NoRfc7540Priorities(value != 0),
            _ => Setting::Unknown { id, value },
        }
    }
}

/// A SETTINGS frame's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settings<'a> {
    /// The peer acknowledges our SETTINGS.
    Ack,
    /// The peer's parameters, in the order sent (a later one overrides an
    /// earlier one with the same identifier, §6.5).
    Params(Params<'a>),
}

/// The parameters of a SETTINGS frame, every one checked: iterating
/// decodes them again, which costs less than storing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params<'a> {
    /// A whole number of 6-byte pairs, each of which passed the checks.
    bytes: &'a [u8],
}

impl<'a> Params<'a> {
    /// Checks every parameter of a payload whose length is a multiple of
    /// 6 (the caller checked that).
    pub(super) fn parse(bytes: &'a [u8]) -> Result<Params<'a>, FrameError> {
        for (id, value) in pairs(bytes) {
            Setting::check(id, value)?;
        }
        Ok(Params { bytes })
    }

    /// How many parameters the frame carries.
    pub fn len(&self) -> usize {
        self.bytes.len() / PARAM_LEN
    }

    /// Whether the frame carries none (an empty SETTINGS is valid).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl Iterator for Params<'_> {
    type Item = Setting;

    fn next(&mut self) -> Option<Setting> {
        let (&[i0, i1, v0, v1, v2, v3], rest) = self.bytes.split_first_chunk::<PARAM_LEN>()?;
        self.bytes = rest;
        Some(Setting::decode(
            u16::from_be_bytes([i0, i1]),
            u32::from_be_bytes([v0, v1, v2, v3]),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl ExactSizeIterator for Params<'_> {}

/// The (identifier, value) pairs of a payload; a trailing partial pair is
/// left out.
fn pairs(bytes: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    bytes.chunks_exact(PARAM_LEN).map(|pair| {
        (
            u16::from_be_bytes([pair[0], pair[1]]),
            u32::from_be_bytes([pair[2], pair[3], pair[4], pair[5]]),
        )
    })
}
