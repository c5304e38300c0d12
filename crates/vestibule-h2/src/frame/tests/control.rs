//! RST_STREAM, SETTINGS, PING, GOAWAY and WINDOW_UPDATE.

use super::*;
use crate::frame::{Setting, Settings};

/// A SETTINGS payload from (identifier, value) pairs.
fn params(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in pairs {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    payload
}

/// The settings a SETTINGS frame with these pairs parses to.
fn settings(pairs: &[(u16, u32)]) -> Result<Vec<Setting>, FrameError> {
    match parsed(&raw(SETTINGS, 0, 0, &params(pairs)))? {
        Frame::Settings(Settings::Params(params)) => Ok(params.collect()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rst_stream_carries_any_code() {
    assert_eq!(
        parsed(&raw(RST_STREAM, 0xff, 3, &[0, 0, 0, 8])),
        Ok(Frame::RstStream {
            stream: 3,
            code: ErrorCode::CANCEL,
        })
    );
    assert_eq!(
        parsed(&raw(RST_STREAM, 0, 3, &[0xde, 0xad, 0xbe, 0xef])),
        Ok(Frame::RstStream {
            stream: 3,
            code: ErrorCode(0xdead_beef),
        })
    );
}

#[test]
fn rst_stream_of_a_length_other_than_4_is_a_connection_frame_size_error() {
    for payload in [&b""[..], b"\0\0\0", b"\0\0\0\x08\0"] {
        assert_connection(parsed(&raw(RST_STREAM, 0, 1, payload)), FRAME_SIZE_ERROR);
    }
}

#[test]
fn settings_ack_is_empty() {
    assert_eq!(
        parsed(&raw(SETTINGS, ACK, 0, b"")),
        Ok(Frame::Settings(Settings::Ack))
    );
}

#[test]
fn settings_ack_with_a_payload_is_a_connection_frame_size_error() {
    // Even a well-formed parameter.
    let payload = params(&[(0x3, 100)]);
    assert_connection(parsed(&raw(SETTINGS, ACK, 0, &payload)), FRAME_SIZE_ERROR);
    assert_connection(parsed(&raw(SETTINGS, ACK, 0, b"\0")), FRAME_SIZE_ERROR);
}

#[test]
fn settings_of_a_length_not_a_multiple_of_6_is_a_connection_frame_size_error() {
    for len in [1, 5, 7, 11, 13] {
        assert_connection(
            parsed(&raw(SETTINGS, 0, 0, &vec![0; len])),
            FRAME_SIZE_ERROR,
        );
    }
}

#[test]
fn settings_yield_every_parameter_in_order() {
    let pairs = [
        (0x1, 4096),
        (0x2, 0),
        (0x3, 100),
        (0x4, 65_535),
        (0x5, 16_384),
        (0x6, 8192),
        (0x8, 1),
        (0x9, 1),
        (0x3, 0),
        (0x2, 1),
    ];
    assert_eq!(
        settings(&pairs),
        Ok(vec![
            Setting::HeaderTableSize(4096),
            Setting::EnablePush(false),
            Setting::MaxConcurrentStreams(100),
            Setting::InitialWindowSize(65_535),
            Setting::MaxFrameSize(16_384),
            Setting::MaxHeaderListSize(8192),
            Setting::EnableConnectProtocol(true),
            Setting::NoRfc7540Priorities(true),
            Setting::MaxConcurrentStreams(0),
            Setting::EnablePush(true),
        ])
    );
    assert_eq!(settings(&[]), Ok(vec![]));
}

#[test]
fn settings_of_unknown_identifiers_are_ignored_whatever_their_value() {
    assert_eq!(
        settings(&[(0x0, u32::MAX), (0x7, 5), (0xffff, u32::MAX)]),
        Ok(vec![
            Setting::Unknown {
                id: 0x0,
                value: u32::MAX,
            },
            Setting::Unknown { id: 0x7, value: 5 },
            Setting::Unknown {
                id: 0xffff,
                value: u32::MAX,
            },
        ])
    );
}

#[test]
fn settings_enable_push_other_than_0_or_1_is_a_connection_protocol_error() {
    assert_connection(
        parsed(&raw(SETTINGS, 0, 0, &params(&[(0x2, 2)]))),
        PROTOCOL_ERROR,
    );
    let pairs = [(0x3, 10), (0x2, u32::MAX)];
    assert_connection(
        parsed(&raw(SETTINGS, 0, 0, &params(&pairs))),
        PROTOCOL_ERROR,
    );
}

#[test]
fn settings_initial_window_size_over_2_31_minus_1_is_a_connection_flow_control_error() {
    assert_eq!(
        settings(&[(0x4, 0x7fff_ffff)]),
        Ok(vec![Setting::InitialWindowSize(0x7fff_ffff)])
    );
    for value in [0x8000_0000, u32::MAX] {
        assert_connection(
            parsed(&raw(SETTINGS, 0, 0, &params(&[(0x4, value)]))),
            ErrorCode::FLOW_CONTROL_ERROR,
        );
    }
}

#[test]
fn settings_max_frame_size_outside_2_14_to_2_24_minus_1_is_a_connection_protocol_error() {
    assert_eq!(
        settings(&[(0x5, 16_384), (0x5, 0xff_ffff)]),
        Ok(vec![
            Setting::MaxFrameSize(16_384),
            Setting::MaxFrameSize(0xff_ffff)
        ])
    );
    for value in [0, 16_383, 0x100_0000, u32::MAX] {
        assert_connection(
            parsed(&raw(SETTINGS, 0, 0, &params(&[(0x5, value)]))),
            PROTOCOL_ERROR,
        );
    }
}

#[test]
fn settings_enable_connect_protocol_other_than_0_or_1_is_a_connection_protocol_error() {
    assert_eq!(
        settings(&[(0x8, 0)]),
        Ok(vec![Setting::EnableConnectProtocol(false)])
    );
    assert_connection(
        parsed(&raw(SETTINGS, 0, 0, &params(&[(0x8, 2)]))),
        PROTOCOL_ERROR,
    );
}

#[test]
fn settings_no_rfc7540_priorities_other_than_0_or_1_is_a_connection_protocol_error() {
    assert_connection(
        parsed(&raw(SETTINGS, 0, 0, &params(&[(0x9, 2)]))),
        PROTOCOL_ERROR,
    );
}

#[test]
fn settings_params_count_what_is_left() {
    let payload = params(&[(0x3, 1), (0x4, 2)]);
    let bytes = raw(SETTINGS, 0, 0, &payload);
    let Ok(Frame::Settings(Settings::Params(mut params))) = parsed(&bytes) else {
        panic!()
    };
    assert_eq!((params.len(), params.is_empty()), (2, false));
    params.next();
    assert_eq!(params.size_hint(), (1, Some(1)));
    params.next();
    assert!(params.is_empty());
    assert_eq!(params.next(), None);
}

#[test]
fn ping_carries_its_8_bytes_and_ack() {
    assert_eq!(
        parsed(&raw(PING, ACK | 0xf0, 0, b"12345678")),
        Ok(Frame::Ping {
            ack: true,
            payload: *b"12345678",
        })
    );
    assert_eq!(
        parsed(&raw(PING, 0, 0, b"12345678")),
        Ok(Frame::Ping {
            ack: false,
            payload: *b"12345678",
        })
    );
}

#[test]
fn ping_of_a_length_other_than_8_is_a_connection_frame_size_error() {
    for len in [0, 7, 9, 64] {
        assert_connection(parsed(&raw(PING, 0, 0, &vec![0; len])), FRAME_SIZE_ERROR);
        assert_connection(parsed(&raw(PING, ACK, 0, &vec![0; len])), FRAME_SIZE_ERROR);
    }
}

#[test]
fn goaway_carries_last_stream_code_and_debug_data() {
    assert_eq!(
        parsed(&raw(GOAWAY, 0xff, 0, b"\x80\0\0\x05\0\0\0\x0bcalm down")),
        Ok(Frame::GoAway {
            last_stream: 5,
            code: ErrorCode::ENHANCE_YOUR_CALM,
            debug: b"calm down",
        })
    );
    assert_eq!(
        parsed(&raw(GOAWAY, 0, 0, &[0; 8])),
        Ok(Frame::GoAway {
            last_stream: 0,
            code: ErrorCode::NO_ERROR,
            debug: b"",
        })
    );
}

#[test]
fn goaway_shorter_than_8_is_a_connection_frame_size_error() {
    for len in [0, 4, 7] {
        assert_connection(parsed(&raw(GOAWAY, 0, 0, &vec![0; len])), FRAME_SIZE_ERROR);
    }
}

#[test]
fn window_update_carries_its_increment_without_the_reserved_bit() {
    assert_eq!(
        parsed(&raw(WINDOW_UPDATE, 0xff, 0, &[0x80, 0, 0, 1])),
        Ok(Frame::WindowUpdate {
            stream: 0,
            increment: 1,
        })
    );
    assert_eq!(
        parsed(&raw(WINDOW_UPDATE, 0, 3, &[0x7f, 0xff, 0xff, 0xff])),
        Ok(Frame::WindowUpdate {
            stream: 3,
            increment: 0x7fff_ffff,
        })
    );
}

#[test]
fn window_update_of_a_length_other_than_4_is_a_connection_frame_size_error() {
    for stream in [0, 1] {
        for payload in [&b""[..], b"\0\0\x01", b"\0\0\0\x01\0"] {
            assert_connection(
                parsed(&raw(WINDOW_UPDATE, 0, stream, payload)),
                FRAME_SIZE_ERROR,
            );
        }
    }
}

#[test]
fn window_update_of_0_on_a_stream_is_a_stream_protocol_error() {
    assert_stream(
        parsed(&raw(WINDOW_UPDATE, 0, 5, &[0; 4])),
        5,
        PROTOCOL_ERROR,
    );
    // Only the reserved bit set is an increment of 0.
    assert_stream(
        parsed(&raw(WINDOW_UPDATE, 0, 5, &[0x80, 0, 0, 0])),
        5,
        PROTOCOL_ERROR,
    );
}

#[test]
fn window_update_of_0_on_the_connection_is_a_connection_protocol_error() {
    assert_connection(parsed(&raw(WINDOW_UPDATE, 0, 0, &[0; 4])), PROTOCOL_ERROR);
    assert_connection(
        parsed(&raw(WINDOW_UPDATE, 0, 0, &[0x80, 0, 0, 0])),
        PROTOCOL_ERROR,
    );
}
