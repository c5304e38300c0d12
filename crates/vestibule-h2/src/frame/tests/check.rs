//! Heads, `check_head`, and the checks every frame gets.

use super::*;
use crate::frame::{check_head, Kind, DEFAULT_MAX_FRAME_SIZE, HEAD_LEN};

#[test]
fn a_head_reads_its_fields_and_drops_the_reserved_bit() {
    let head = Head::parse(&[0x01, 0x02, 0x03, 0x01, 0x25, 0x80, 0x00, 0x00, 0x05]);
    assert_eq!(
        head,
        Head {
            length: 0x01_0203,
            kind: Kind::Headers,
            flags: 0x25,
            stream: 5,
        }
    );
}

#[test]
fn every_type_code_reads_and_writes_back() {
    for code in 0..=u8::MAX {
        let kind = Kind::from_code(code);
        assert_eq!(kind.code(), code);
        assert_eq!(matches!(kind, Kind::Unknown(_)), code > 0x9, "{code}");
        let head = Head {
            length: 0xff_ffff,
            kind,
            flags: 0xff,
            stream: 0x7fff_ffff,
        };
        let mut bytes = [0; HEAD_LEN];
        head.encode(&mut bytes);
        assert_eq!(Head::parse(&bytes), head);
    }
}

#[test]
fn a_frame_over_max_frame_size_is_a_connection_frame_size_error_before_its_payload() {
    // DATA on a stream too: the conservative reading of §4.2.
    for kind in [
        Kind::Data,
        Kind::Headers,
        Kind::Settings,
        Kind::Unknown(0xfa),
    ] {
        let head = |length| Head {
            length,
            kind,
            flags: 0,
            stream: if kind == Kind::Settings { 0 } else { 1 },
        };
        assert_eq!(
            check_head(&head(DEFAULT_MAX_FRAME_SIZE), DEFAULT_MAX_FRAME_SIZE),
            Ok(())
        );
        let error = check_head(&head(DEFAULT_MAX_FRAME_SIZE + 1), DEFAULT_MAX_FRAME_SIZE)
            .expect_err("over the limit");
        assert!(
            matches!(error, FrameError::Connection { code, .. } if code == FRAME_SIZE_ERROR),
            "{error:?}"
        );
        assert_eq!(check_head(&head(20_000), 20_000), Ok(()));
    }
}

#[test]
fn a_payload_of_another_length_than_the_heads_is_refused() {
    let bytes = raw(DATA, 0, 1, b"abc");
    let head = Head::parse(bytes.first_chunk().unwrap());
    assert_connection(
        parse(&head, &bytes[HEAD_LEN..HEAD_LEN + 2]),
        FRAME_SIZE_ERROR,
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert_connection(parse(&head, &longer[HEAD_LEN..]), FRAME_SIZE_ERROR);
}

#[test]
fn frames_of_stream_only_types_on_stream_0_are_connection_protocol_errors() {
    let cases: [(u8, &[u8]); 6] = [
        (DATA, b"x"),
        (HEADERS, b"x"),
        (PRIORITY, &[0, 0, 0, 1, 16]),
        (RST_STREAM, &[0, 0, 0, 8]),
        (PUSH_PROMISE, &[0, 0, 0, 2]),
        (CONTINUATION, b"x"),
    ];
    for (kind, payload) in cases {
        assert_connection(parsed(&raw(kind, 0, 0, payload)), PROTOCOL_ERROR);
        // The reserved bit is ignored: 0x8000_0000 is stream 0.
        assert_connection(parsed(&raw(kind, 0, 0x8000_0000, payload)), PROTOCOL_ERROR);
    }
}

#[test]
fn frames_of_connection_only_types_on_a_stream_are_connection_protocol_errors() {
    let cases: [(u8, u8, &[u8]); 4] = [
        (SETTINGS, 0, &[]),
        (SETTINGS, ACK, &[]),
        (PING, 0, &[0; 8]),
        (GOAWAY, 0, &[0; 8]),
    ];
    for (kind, flags, payload) in cases {
        for stream in [1, 2, 0x7fff_ffff] {
            assert_connection(parsed(&raw(kind, flags, stream, payload)), PROTOCOL_ERROR);
        }
    }
}

#[test]
fn frames_of_unknown_types_are_returned_to_be_ignored() {
    for kind in [0xa, 0xb, 0x10, 0xff] {
        for (stream, flags) in [(0, 0), (3, 0xff)] {
            assert_eq!(
                parsed(&raw(kind, flags, stream, b"anything at all")),
                Ok(Frame::Unknown { kind, stream })
            );
        }
    }
}

#[test]
fn errors_say_what_and_which_code() {
    let error = parsed(&raw(PING, 0, 0, &[0; 7])).unwrap_err();
    assert_eq!(error.code(), FRAME_SIZE_ERROR);
    assert_eq!(
        error.to_string(),
        "connection error FRAME_SIZE_ERROR: PING length is not 8"
    );
    let error = parsed(&raw(WINDOW_UPDATE, 0, 7, &[0; 4])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "stream 7 error PROTOCOL_ERROR: WINDOW_UPDATE of 0"
    );
}
