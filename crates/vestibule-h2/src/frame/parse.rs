//! Frame payloads, parsed and checked against the rules of RFC 9113 §6 that
//! one frame alone can break.

use super::error::{frame_size, protocol, stream, FrameError};
use super::flags::{ACK, END_HEADERS, END_STREAM, PADDED, PRIORITY};
use super::head::{Head, Kind, STREAM_MASK};
use super::settings::{Params, Settings, PARAM_LEN};
use super::{Frame, Priority};
use crate::ErrorCode;

/// Parses and checks one frame: `head` and exactly `head.length` payload
/// bytes (any other length is refused as a FRAME_SIZE_ERROR). Never
/// allocates.
///
/// A HEADERS frame whose only fault is a stream error comes back `Ok`,
/// with the error in its `reset` field: its field block must still be
/// decoded (see [`Frame::Headers`]).
#[inline]
pub fn parse<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    if payload.len() != head.length as usize {
        return Err(frame_size("payload length differs from the frame head's"));
    }
    match head.kind {
        Kind::Data => data(head, payload),
        Kind::Headers => headers(head, payload),
        Kind::Priority => priority(head, payload),
        Kind::RstStream => rst_stream(head, payload),
        Kind::Settings => settings(head, payload),
        Kind::PushPromise => push_promise(head, payload),
        Kind::Ping => ping(head, payload),
        Kind::GoAway => goaway(head, payload),
        Kind::WindowUpdate => window_update(head, payload),
        Kind::Continuation => continuation(head, payload),
        Kind::Unknown(kind) => Ok(Frame::Unknown {
            kind,
            stream: head.stream,
        }),
    }
}

/// §6.1.
#[inline]
fn data<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    on_stream(head, "DATA on stream 0")?;
    let (pad, body) = pad_length(head.flags, payload)?;
    Ok(Frame::Data {
        stream: head.stream,
        end_stream: head.flags & END_STREAM != 0,
        data: unpad(body, pad)?,
        flow_len: head.length,
    })
}

/// §6.2.
#[inline]
fn headers<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    on_stream(head, "HEADERS on stream 0")?;
    let (pad, body) = pad_length(head.flags, payload)?;
    let (priority, body) = if head.flags & PRIORITY != 0 {
        let Some((fields, rest)) = body.split_first_chunk() else {
            return Err(frame_size("HEADERS too short for its priority fields"));
        };
        (Some(Priority::decode(fields)), rest)
    } else {
        (None, body)
    };
    let reset = match priority {
        Some(priority) if priority.dependency == head.stream => Some(self_dependency(head)),
        _ => None,
    };
    Ok(Frame::Headers {
        stream: head.stream,
        end_stream: head.flags & END_STREAM != 0,
        end_headers: head.flags & END_HEADERS != 0,
        priority,
        block: unpad(body, pad)?,
        reset,
    })
}

/// §6.3.
fn priority<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    on_stream(head, "PRIORITY on stream 0")?;
    let Ok(fields) = payload.try_into() else {
        return Err(stream(
            head.stream,
            ErrorCode::FRAME_SIZE_ERROR,
            "PRIORITY length is not 5",
        ));
    };
    let priority = Priority::decode(fields);
    if priority.dependency == head.stream {
        return Err(self_dependency(head));
    }
    Ok(Frame::Priority {
        stream: head.stream,
        priority,
    })
}

/// §6.4.
fn rst_stream<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    on_stream(head, "RST_STREAM on stream 0")?;
    let Ok(code) = payload.try_into() else {
        return Err(frame_size("RST_STREAM length is not 4"));
    };
    Ok(Frame::RstStream {
        stream: head.stream,
        code: ErrorCode(u32::from_be_bytes(code)),
    })
}

/// §6.5.
fn settings<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    on_connection(head, "SETTINGS on a stream")?;
    if head.flags & ACK != 0 {
        if !payload.is_empty() {
            return Err(frame_size("SETTINGS ACK with a payload"));
        }
        return Ok(Frame::Settings(Settings::Ack));
    }
    if !payload.len().is_multiple_of(PARAM_LEN) {
        return Err(frame_size("SETTINGS length is not a multiple of 6"));
    }
    Ok(Frame::Settings(Settings::Params(Params::parse(payload)?)))
}

/// §6.6.
fn push_promise<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    on_stream(head, "PUSH_PROMISE on stream 0")?;
    let (pad, body) = pad_length(head.flags, payload)?;
    let Some((promised, rest)) = body.split_first_chunk() else {
        return Err(frame_size("PUSH_PROMISE too short for its promised stream"));
    };
    Ok(Frame::PushPromise {
        stream: head.stream,
        end_headers: head.flags & END_HEADERS != 0,
        promised: u32::from_be_bytes(*promised) & STREAM_MASK,
        block: unpad(rest, pad)?,
    })
}

/// §6.7.
fn ping<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    on_connection(head, "PING on a stream")?;
    let Ok(payload) = payload.try_into() else {
        return Err(frame_size("PING length is not 8"));
    };
    Ok(Frame::Ping {
        ack: head.flags & ACK != 0,
        payload,
    })
}

/// §6.8.
fn goaway<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    on_connection(head, "GOAWAY on a stream")?;
    let Some((&[s0, s1, s2, s3, c0, c1, c2, c3], debug)) = payload.split_first_chunk() else {
        return Err(frame_size("GOAWAY shorter than 8"));
    };
    Ok(Frame::GoAway {
        last_stream: u32::from_be_bytes([s0, s1, s2, s3]) & STREAM_MASK,
        code: ErrorCode(u32::from_be_bytes([c0, c1, c2, c3])),
        debug,
    })
}

/// §6.9.
fn window_update<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    let Ok(increment) = payload.try_into() else {
        return Err(frame_size("WINDOW_UPDATE length is not 4"));
    };
    let increment = u32::from_be_bytes(increment) & STREAM_MASK;
    if increment == 0 {
        // A zero increment on the connection's window ends the connection;
        // on a stream's, only the stream.
        return Err(match head.stream {
            0 => protocol("WINDOW_UPDATE of 0 on the connection"),
            id => stream(id, ErrorCode::PROTOCOL_ERROR, "WINDOW_UPDATE of 0"),
        });
    }
    Ok(Frame::WindowUpdate {
        stream: head.stream,
        increment,
    })
}

/// §6.10.
fn continuation<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    on_stream(head, "CONTINUATION on stream 0")?;
    Ok(Frame::Continuation {
        stream: head.stream,
        end_headers: head.flags & END_HEADERS != 0,
        block: payload,
    })
}

impl Priority {
    #[inline]
    fn decode(&[d0, d1, d2, d3, weight]: &[u8; 5]) -> Priority {
        let dependency = u32::from_be_bytes([d0, d1, d2, d3]);
        Priority {
            dependency: dependency & STREAM_MASK,
            exclusive: dependency & !STREAM_MASK != 0,
            weight,
        }
    }
}

/// Frames that belong to a stream must not come on stream 0.
#[inline]
fn on_stream(head: &Head, reason: &'static str) -> Result<(), FrameError> {
    if head.stream == 0 {
        return Err(protocol(reason));
    }
    Ok(())
}

/// Frames that belong to the connection must come on stream 0.
#[inline]
fn on_connection(head: &Head, reason: &'static str) -> Result<(), FrameError> {
    if head.stream != 0 {
        return Err(protocol(reason));
    }
    Ok(())
}

/// A stream cannot depend on itself (§5.3.1).
fn self_dependency(head: &Head) -> FrameError {
    stream(
        head.stream,
        ErrorCode::PROTOCOL_ERROR,
        "stream depends on itself",
    )
}

/// The Pad Length of a PADDED frame (0 otherwise) and the payload after it.
#[inline]
fn pad_length(flags: u8, payload: &[u8]) -> Result<(usize, &[u8]), FrameError> {
    if flags & PADDED == 0 {
        return Ok((0, payload));
    }
    match payload.split_first() {
        Some((&pad, body)) => Ok((usize::from(pad), body)),
        // Too short for a mandatory field (§4.2). A connection error even
        // on DATA: the conservative reading, as in `check_head`.
        None => Err(frame_size("PADDED frame without a Pad Length")),
    }
}

/// `body` without its last `pad` bytes. Padding as long as what is left
/// of the payload, or longer, is a connection PROTOCOL_ERROR (§6.1, §6.2,
/// §6.6).
#[inline]
fn unpad(body: &[u8], pad: usize) -> Result<&[u8], FrameError> {
    match body.len().checked_sub(pad) {
        Some(len) => Ok(&body[..len]),
        None => Err(protocol("padding longer than the payload")),
    }
}
