//! The writers, read back through `Head::parse` and `parse`.

use super::*;
use crate::frame::{
    check_head, data_head, write_goaway, write_headers, write_ping, write_rst_stream,
    write_settings, write_settings_ack, write_window_update, Kind, Setting, Settings,
    DEFAULT_MAX_FRAME_SIZE, HEAD_LEN,
};

/// The frames in `bytes`, each checked against `max_frame_size`.
fn frames(mut bytes: &[u8], max_frame_size: u32) -> Vec<(Head, &[u8])> {
    let mut frames = Vec::new();
    while let Some((head, rest)) = bytes.split_first_chunk() {
        let head = Head::parse(head);
        check_head(&head, max_frame_size).expect("within the frame size");
        let (payload, rest) = rest.split_at(head.length as usize);
        frames.push((head, payload));
        bytes = rest;
    }
    assert!(bytes.is_empty(), "a partial frame at the end");
    frames
}

/// The one frame in `bytes`, parsed.
fn only(bytes: &[u8]) -> Frame<'_> {
    let frames = frames(bytes, DEFAULT_MAX_FRAME_SIZE);
    assert_eq!(frames.len(), 1);
    let (head, payload) = frames[0];
    parse(&head, payload).expect("a valid frame")
}

#[test]
fn settings_read_back() {
    let all = [
        Setting::HeaderTableSize(0),
        Setting::EnablePush(false),
        Setting::MaxConcurrentStreams(128),
        Setting::InitialWindowSize(0x7fff_ffff),
        Setting::MaxFrameSize(0xff_ffff),
        Setting::MaxHeaderListSize(u32::MAX),
        Setting::EnableConnectProtocol(true),
        Setting::NoRfc7540Priorities(true),
        Setting::Unknown {
            id: 0x4242,
            value: 7,
        },
    ];
    for settings in [&all[..], &[]] {
        let mut out = Vec::new();
        write_settings(&mut out, settings);
        assert_eq!(out.len(), HEAD_LEN + 6 * settings.len());
        let Frame::Settings(Settings::Params(params)) = only(&out) else {
            panic!("{out:?}")
        };
        assert_eq!(params.collect::<Vec<_>>(), settings);
    }
}

#[test]
fn settings_ack_reads_back() {
    let mut out = Vec::new();
    write_settings_ack(&mut out);
    assert_eq!(out, [0, 0, 0, 0x4, 0x1, 0, 0, 0, 0]);
    assert_eq!(only(&out), Frame::Settings(Settings::Ack));
}

#[test]
fn ping_reads_back() {
    for ack in [false, true] {
        let mut out = Vec::new();
        write_ping(&mut out, ack, *b"\x01\x02\x03\x04\x05\x06\x07\x08");
        assert_eq!(
            only(&out),
            Frame::Ping {
                ack,
                payload: *b"\x01\x02\x03\x04\x05\x06\x07\x08",
            }
        );
    }
}

#[test]
fn goaway_reads_back() {
    let mut out = Vec::new();
    write_goaway(&mut out, 0x7fff_ffff, ErrorCode(0x1234), b"bye");
    assert_eq!(
        only(&out),
        Frame::GoAway {
            last_stream: 0x7fff_ffff,
            code: ErrorCode(0x1234),
            debug: b"bye",
        }
    );
}

#[test]
fn goaway_debug_data_is_cut_to_the_smallest_frame_size() {
    let debug = vec![b'x'; 20_000];
    let mut out = Vec::new();
    write_goaway(&mut out, 1, ErrorCode::PROTOCOL_ERROR, &debug);
    assert_eq!(out.len(), HEAD_LEN + DEFAULT_MAX_FRAME_SIZE as usize);
    let Frame::GoAway { debug: read, .. } = only(&out) else {
        panic!()
    };
    assert_eq!(read, &debug[..16_376]);
}

#[test]
fn rst_stream_reads_back() {
    let mut out = Vec::new();
    write_rst_stream(&mut out, 0x7fff_ffff, ErrorCode::REFUSED_STREAM);
    assert_eq!(
        only(&out),
        Frame::RstStream {
            stream: 0x7fff_ffff,
            code: ErrorCode::REFUSED_STREAM,
        }
    );
}

#[test]
fn window_update_reads_back() {
    for (stream, increment) in [(0, 1), (1, 0x7fff_ffff), (3, 65_535)] {
        let mut out = Vec::new();
        write_window_update(&mut out, stream, increment);
        assert_eq!(only(&out), Frame::WindowUpdate { stream, increment });
    }
}

#[test]
fn data_head_reads_back() {
    for end_stream in [false, true] {
        let mut out = data_head(5, 3, end_stream).to_vec();
        out.extend_from_slice(b"abc");
        assert_eq!(
            only(&out),
            Frame::Data {
                stream: 5,
                end_stream,
                data: b"abc",
                flow_len: 3,
            }
        );
    }
}

#[test]
fn writers_append_to_what_is_there() {
    let mut out = b"before".to_vec();
    write_settings_ack(&mut out);
    write_ping(&mut out, true, [0; 8]);
    assert_eq!(&out[..6], b"before");
    let frames = frames(&out[6..], DEFAULT_MAX_FRAME_SIZE);
    let kinds: Vec<Kind> = frames.iter().map(|(head, _)| head.kind).collect();
    assert_eq!(kinds, [Kind::Settings, Kind::Ping]);
}

/// A frame's kind, length, END_STREAM and END_HEADERS.
type Shape = (Kind, u32, bool, bool);

/// A block written by `write_headers`, read back frame by frame (and
/// checked to join back into the block): each frame's shape.
fn split_headers(len: usize, end_stream: bool, max: u32) -> Vec<Shape> {
    let block: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let mut out = Vec::new();
    write_headers(&mut out, 9, &block, end_stream, max);
    let mut shape = Vec::new();
    let mut joined = Vec::new();
    for (head, payload) in frames(&out, max.max(DEFAULT_MAX_FRAME_SIZE)) {
        assert_eq!(head.stream, 9);
        let (end_stream, end_headers, fragment) = match parse(&head, payload).unwrap() {
            Frame::Headers {
                end_stream,
                end_headers,
                priority: None,
                block,
                reset: None,
                ..
            } => (end_stream, end_headers, block),
            Frame::Continuation {
                end_headers, block, ..
            } => (head.flags & END_STREAM != 0, end_headers, block),
            other => panic!("{other:?}"),
        };
        shape.push((head.kind, head.length, end_stream, end_headers));
        joined.extend_from_slice(fragment);
    }
    assert_eq!(joined, block);
    shape
}

#[test]
fn headers_of_exactly_max_frame_size_are_one_frame() {
    let shape = split_headers(16_384, true, 16_384);
    assert_eq!(shape, [(Kind::Headers, 16_384, true, true)]);
}

#[test]
fn headers_one_byte_over_are_headers_and_one_continuation() {
    let shape = split_headers(16_385, true, 16_384);
    assert_eq!(
        shape,
        [
            (Kind::Headers, 16_384, true, false),
            (Kind::Continuation, 1, false, true),
        ]
    );
}

#[test]
fn headers_of_three_times_max_are_three_full_frames() {
    let shape = split_headers(3 * 16_384, false, 16_384);
    assert_eq!(
        shape,
        [
            (Kind::Headers, 16_384, false, false),
            (Kind::Continuation, 16_384, false, false),
            (Kind::Continuation, 16_384, false, true),
        ]
    );
}

#[test]
fn an_empty_block_is_one_empty_headers_frame() {
    for end_stream in [false, true] {
        let shape = split_headers(0, end_stream, 16_384);
        assert_eq!(shape, [(Kind::Headers, 0, end_stream, true)]);
    }
}

#[test]
fn headers_follow_a_larger_peer_frame_size() {
    let shape = split_headers(50_000, true, 20_000);
    assert_eq!(
        shape,
        [
            (Kind::Headers, 20_000, true, false),
            (Kind::Continuation, 20_000, false, false),
            (Kind::Continuation, 10_000, false, true),
        ]
    );
}

#[test]
fn headers_with_a_frame_size_below_the_minimum_use_the_minimum() {
    // 0 would never make progress.
    let shape = split_headers(16_385, false, 0);
    assert_eq!(
        shape,
        [
            (Kind::Headers, 16_384, false, false),
            (Kind::Continuation, 1, false, true),
        ]
    );
}
