//! DATA, HEADERS, PRIORITY, PUSH_PROMISE and CONTINUATION: padding,
//! priority fields and their checks.

use super::*;
use crate::frame::Priority;

#[test]
fn data_carries_its_bytes_and_end_stream() {
    assert_eq!(
        parsed(&raw(DATA, END_STREAM, 3, b"hello")),
        Ok(Frame::Data {
            stream: 3,
            end_stream: true,
            data: b"hello",
            flow_len: 5,
        })
    );
    // Flags DATA does not define are ignored.
    assert_eq!(
        parsed(&raw(DATA, !(PADDED | END_STREAM), 3, b"")),
        Ok(Frame::Data {
            stream: 3,
            end_stream: false,
            data: b"",
            flow_len: 0,
        })
    );
}

#[test]
fn padded_data_loses_its_padding_but_counts_it_against_flow_control() {
    assert_eq!(
        parsed(&raw(DATA, PADDED, 1, b"\x03abc\0\0\0")),
        Ok(Frame::Data {
            stream: 1,
            end_stream: false,
            data: b"abc",
            flow_len: 7,
        })
    );
    // Padding one shorter than the payload leaves no data: allowed.
    assert_eq!(
        parsed(&raw(DATA, PADDED, 1, b"\x03\0\0\0")),
        Ok(Frame::Data {
            stream: 1,
            end_stream: false,
            data: b"",
            flow_len: 4,
        })
    );
}

#[test]
fn data_padding_as_long_as_the_payload_or_longer_is_a_connection_protocol_error() {
    assert_connection(parsed(&raw(DATA, PADDED, 1, b"\x04\0\0\0")), PROTOCOL_ERROR);
    assert_connection(parsed(&raw(DATA, PADDED, 1, b"\xffabc")), PROTOCOL_ERROR);
    assert_connection(parsed(&raw(DATA, PADDED, 1, b"\x01")), PROTOCOL_ERROR);
}

#[test]
fn padded_data_without_a_pad_length_is_a_connection_frame_size_error() {
    assert_connection(parsed(&raw(DATA, PADDED, 1, b"")), FRAME_SIZE_ERROR);
}

#[test]
fn headers_carry_their_block_and_flags() {
    assert_eq!(
        parsed(&raw(HEADERS, END_STREAM | END_HEADERS, 1, b"\x82\x86")),
        Ok(Frame::Headers {
            stream: 1,
            end_stream: true,
            end_headers: true,
            priority: None,
            block: b"\x82\x86",
            reset: None,
        })
    );
    assert_eq!(
        parsed(&raw(HEADERS, 0, 1, b"")),
        Ok(Frame::Headers {
            stream: 1,
            end_stream: false,
            end_headers: false,
            priority: None,
            block: b"",
            reset: None,
        })
    );
}

#[test]
fn headers_with_priority_read_the_5_bytes_before_the_block() {
    assert_eq!(
        parsed(&raw(
            HEADERS,
            PRIORITY_FLAG | END_HEADERS,
            5,
            b"\x80\0\0\x03\x0f\x82"
        )),
        Ok(Frame::Headers {
            stream: 5,
            end_stream: false,
            end_headers: true,
            priority: Some(Priority {
                dependency: 3,
                exclusive: true,
                weight: 15,
            }),
            block: b"\x82",
            reset: None,
        })
    );
}

#[test]
fn headers_too_short_for_priority_fields_are_a_connection_frame_size_error() {
    assert_connection(
        parsed(&raw(HEADERS, PRIORITY_FLAG, 1, b"\0\0\0")),
        FRAME_SIZE_ERROR,
    );
    // The Pad Length byte is not part of the priority fields.
    assert_connection(
        parsed(&raw(HEADERS, PRIORITY_FLAG | PADDED, 1, b"\0\0\0\0\x03")),
        FRAME_SIZE_ERROR,
    );
    assert_connection(parsed(&raw(HEADERS, PADDED, 1, b"")), FRAME_SIZE_ERROR);
}

#[test]
fn headers_padding_counts_the_priority_fields() {
    // Pad Length, 5 priority bytes, a 3-byte block, 2 bytes of padding.
    let payload = |pad: u8| {
        let mut payload = vec![pad, 0, 0, 0, 1, 0];
        payload.extend_from_slice(b"abc\0\0");
        raw(HEADERS, PADDED | PRIORITY_FLAG, 3, &payload)
    };
    let block = |bytes: &[u8]| match parsed(bytes) {
        Ok(Frame::Headers { block, .. }) => block.to_vec(),
        other => panic!("{other:?}"),
    };
    assert_eq!(block(&payload(2)), b"abc");
    // All 5 bytes after the priority fields as padding: an empty block.
    assert_eq!(block(&payload(5)), b"");
    // 6 would fit the payload after the Pad Length (10 bytes) but not
    // after the priority fields.
    assert_connection(parsed(&payload(6)), PROTOCOL_ERROR);
    assert_connection(parsed(&payload(0xff)), PROTOCOL_ERROR);
}

#[test]
fn padded_headers_without_priority_lose_their_padding() {
    assert_eq!(
        parsed(&raw(HEADERS, PADDED | END_HEADERS, 1, b"\x01\x82\0")),
        Ok(Frame::Headers {
            stream: 1,
            end_stream: false,
            end_headers: true,
            priority: None,
            block: b"\x82",
            reset: None,
        })
    );
    assert_connection(
        parsed(&raw(HEADERS, PADDED, 1, b"\x02\x82")),
        PROTOCOL_ERROR,
    );
}

#[test]
fn headers_of_a_stream_that_depends_on_itself_reset_it_but_keep_the_block() {
    let bytes = raw(
        HEADERS,
        PRIORITY_FLAG | END_HEADERS,
        7,
        b"\0\0\0\x07\x10\x82",
    );
    let frame = parsed(&bytes);
    let Ok(Frame::Headers {
        stream,
        block,
        reset: Some(reset),
        ..
    }) = frame
    else {
        panic!("{frame:?}");
    };
    assert_eq!((stream, block), (7, &b"\x82"[..]));
    assert!(
        matches!(reset, FrameError::Stream { stream: 7, code, .. } if code == PROTOCOL_ERROR),
        "{reset:?}"
    );
    // The E flag does not make a dependency on another stream.
    let bytes = raw(HEADERS, PRIORITY_FLAG, 7, b"\x80\0\0\x07\x10");
    let frame = parsed(&bytes);
    assert!(
        matches!(frame, Ok(Frame::Headers { reset: Some(_), .. })),
        "{frame:?}"
    );
}

#[test]
fn priority_frames_read_dependency_exclusivity_and_weight() {
    assert_eq!(
        parsed(&raw(PRIORITY, 0xff, 3, b"\x80\0\0\x01\xff")),
        Ok(Frame::Priority {
            stream: 3,
            priority: Priority {
                dependency: 1,
                exclusive: true,
                weight: 255,
            },
        })
    );
}

#[test]
fn priority_of_a_length_other_than_5_is_a_stream_frame_size_error() {
    for payload in [&b""[..], b"\0\0\0\x01", b"\0\0\0\x01\0\0"] {
        assert_stream(parsed(&raw(PRIORITY, 0, 9, payload)), 9, FRAME_SIZE_ERROR);
    }
}

#[test]
fn priority_of_a_stream_on_itself_is_a_stream_protocol_error() {
    assert_stream(
        parsed(&raw(PRIORITY, 0, 9, b"\0\0\0\x09\x10")),
        9,
        PROTOCOL_ERROR,
    );
    assert_stream(
        parsed(&raw(PRIORITY, 0, 9, b"\x80\0\0\x09\x10")),
        9,
        PROTOCOL_ERROR,
    );
}

#[test]
fn push_promise_is_parsed_so_the_connection_can_refuse_it() {
    assert_eq!(
        parsed(&raw(
            PUSH_PROMISE,
            END_HEADERS | PADDED,
            1,
            b"\x01\x80\0\0\x02\x82\0"
        )),
        Ok(Frame::PushPromise {
            stream: 1,
            end_headers: true,
            promised: 2,
            block: b"\x82",
        })
    );
    assert_connection(
        parsed(&raw(PUSH_PROMISE, 0, 1, b"\0\0\x02")),
        FRAME_SIZE_ERROR,
    );
    assert_connection(parsed(&raw(PUSH_PROMISE, PADDED, 1, b"")), FRAME_SIZE_ERROR);
    // The padding counts the promised stream's 4 bytes.
    assert_connection(
        parsed(&raw(PUSH_PROMISE, PADDED, 1, b"\x02\0\0\0\x02\0")),
        PROTOCOL_ERROR,
    );
}

#[test]
fn continuation_carries_its_block_and_has_no_padding() {
    assert_eq!(
        parsed(&raw(CONTINUATION, END_HEADERS | PADDED, 1, b"\x01\x82")),
        Ok(Frame::Continuation {
            stream: 1,
            end_headers: true,
            block: b"\x01\x82",
        })
    );
    assert_eq!(
        parsed(&raw(CONTINUATION, 0, 1, b"")),
        Ok(Frame::Continuation {
            stream: 1,
            end_headers: false,
            block: b"",
        })
    );
}
