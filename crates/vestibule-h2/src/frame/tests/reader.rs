//! The connection preface and the reader.

use bytes::BytesMut;

use super::*;
use crate::frame::{preface, Kind, Preface, Reader, DEFAULT_MAX_FRAME_SIZE, HEAD_LEN, PREFACE};

/// A client's first bytes: preface, SETTINGS, HEADERS, DATA (padded),
/// WINDOW_UPDATE, PING and a frame of an unknown type.
fn conversation() -> Vec<u8> {
    let mut bytes = PREFACE.to_vec();
    bytes.extend(raw(SETTINGS, 0, 0, &[0, 0x4, 0, 0x10, 0, 0]));
    bytes.extend(raw(HEADERS, END_HEADERS, 1, b"\x82\x86\x84"));
    bytes.extend(raw(DATA, PADDED | END_STREAM, 1, b"\x02hi\0\0"));
    bytes.extend(raw(WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]));
    bytes.extend(raw(SETTINGS, ACK, 0, b""));
    bytes.extend(raw(0xee, 0, 0, b""));
    bytes.extend(raw(PING, 0, 0, b"abcdefgh"));
    bytes
}

/// What a reader makes of `input` arriving in these pieces: the frames'
/// heads and payloads, and the error if one ended it.
fn read(reader: &mut Reader, pieces: &[&[u8]]) -> (Vec<(Head, Vec<u8>)>, Option<FrameError>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match reader.next_frame(&mut buf) {
                Ok(Some((head, payload))) => frames.push((head, payload.to_vec())),
                Ok(None) => break,
                Err(error) => return (frames, Some(error)),
            }
        }
    }
    (frames, None)
}

#[test]
fn the_preface_is_complete_partial_or_wrong() {
    assert_eq!(preface(PREFACE), Preface::Complete);
    assert_eq!(preface(&conversation()), Preface::Complete);
    for len in 0..PREFACE.len() {
        assert_eq!(preface(&PREFACE[..len]), Preface::Partial, "{len}");
        let mut wrong = PREFACE[..=len].to_vec();
        wrong[len] ^= 0x20;
        assert_eq!(preface(&wrong), Preface::Wrong, "{len}");
    }
    assert_eq!(preface(b"GET / HTTP/1.1\r\n"), Preface::Wrong);
}

#[test]
fn a_conversation_reads_as_its_frames() {
    let bytes = conversation();
    let (frames, error) = read(&mut Reader::new(DEFAULT_MAX_FRAME_SIZE), &[&bytes]);
    assert_eq!(error, None);
    let kinds: Vec<Kind> = frames.iter().map(|(head, _)| head.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::Settings,
            Kind::Headers,
            Kind::Data,
            Kind::WindowUpdate,
            Kind::Settings,
            Kind::Unknown(0xee),
            Kind::Ping,
        ]
    );
    let (head, payload) = &frames[2];
    assert_eq!(
        parse(head, payload),
        Ok(Frame::Data {
            stream: 1,
            end_stream: true,
            data: b"hi",
            flow_len: 5,
        })
    );
}

#[test]
fn a_conversation_cut_anywhere_reads_the_same() {
    let bytes = conversation();
    let whole = read(&mut Reader::new(DEFAULT_MAX_FRAME_SIZE), &[&bytes]);
    for cut in 0..=bytes.len() {
        let (front, back) = bytes.split_at(cut);
        let pieces = read(&mut Reader::new(DEFAULT_MAX_FRAME_SIZE), &[front, back]);
        assert_eq!(pieces, whole, "cut at {cut}");
    }
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(
        read(&mut Reader::new(DEFAULT_MAX_FRAME_SIZE), &bytewise),
        whole
    );
}

#[test]
fn a_partial_frame_stays_in_the_buffer() {
    let bytes = conversation();
    let mut reader = Reader::new(DEFAULT_MAX_FRAME_SIZE);
    let settings_end = PREFACE.len() + HEAD_LEN + 6;
    let mut buf = BytesMut::from(&bytes[..settings_end - 1]);
    assert_eq!(reader.next_frame(&mut buf), Ok(None));
    assert_eq!(buf.len(), settings_end - 1);
    buf.extend_from_slice(&bytes[settings_end - 1..]);
    let (head, payload) = reader.next_frame(&mut buf).unwrap().unwrap();
    assert_eq!((head.kind, payload.len()), (Kind::Settings, 6));
    assert_eq!(buf.len(), bytes.len() - settings_end);
}

#[test]
fn split_borrows_the_frame_and_says_what_to_drop() {
    let bytes = conversation();
    let mut reader = Reader::new(DEFAULT_MAX_FRAME_SIZE);
    let settings_end = PREFACE.len() + HEAD_LEN + 6;
    assert_eq!(reader.split(&bytes[..settings_end - 1]), Ok(None));
    let split = reader.split(&bytes).unwrap().unwrap();
    assert_eq!(split.head.kind, Kind::Settings);
    assert_eq!(split.payload, &bytes[settings_end - 6..settings_end]);
    assert_eq!(split.consumed, settings_end);
    let split = reader.split(&bytes[settings_end..]).unwrap().unwrap();
    assert_eq!(
        parse(&split.head, split.payload),
        Ok(Frame::Headers {
            stream: 1,
            end_stream: false,
            end_headers: true,
            priority: None,
            block: b"\x82\x86\x84",
            reset: None,
        })
    );
    assert_eq!(split.consumed, HEAD_LEN + 3);
}

#[test]
fn an_oversized_frame_is_refused_as_soon_as_its_head_is_there() {
    let mut reader = Reader::after_preface(DEFAULT_MAX_FRAME_SIZE);
    let head = raw(DATA, 0, 1, &[]);
    let mut buf = BytesMut::from(&[0x00, 0x40, 0x01][..]);
    buf.extend_from_slice(&head[3..]);
    let error = reader.next_frame(&mut buf).unwrap_err();
    assert!(
        matches!(error, FrameError::Connection { code, .. } if code == FRAME_SIZE_ERROR),
        "{error:?}"
    );
}

#[test]
fn a_larger_max_frame_size_lets_larger_frames_through() {
    let mut reader = Reader::after_preface(DEFAULT_MAX_FRAME_SIZE);
    reader.set_max_frame_size(20_000);
    assert_eq!(reader.max_frame_size(), 20_000);
    let bytes = raw(DATA, 0, 1, &[7; 20_000]);
    let (frames, error) = read(&mut reader, &[&bytes]);
    assert_eq!((frames.len(), error), (1, None));
}

#[test]
fn a_wrong_preface_is_a_connection_protocol_error() {
    let (frames, error) = read(
        &mut Reader::new(DEFAULT_MAX_FRAME_SIZE),
        &[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
    );
    assert!(frames.is_empty());
    assert!(
        matches!(error, Some(FrameError::Connection { code, .. }) if code == PROTOCOL_ERROR),
        "{error:?}"
    );
    // Refused at the first wrong byte, without waiting for 24.
    let mut buf = BytesMut::from(&b"PRI * HTTP/1"[..]);
    assert!(Reader::new(DEFAULT_MAX_FRAME_SIZE)
        .next_frame(&mut buf)
        .is_err());
}

#[test]
fn the_preface_must_be_followed_by_settings() {
    for first in [
        raw(HEADERS, END_HEADERS, 1, b"\x82"),
        raw(PING, 0, 0, &[0; 8]),
        raw(SETTINGS, ACK, 0, b""),
    ] {
        let mut bytes = PREFACE.to_vec();
        bytes.extend_from_slice(&first[..HEAD_LEN]);
        let (frames, error) = read(&mut Reader::new(DEFAULT_MAX_FRAME_SIZE), &[&bytes]);
        assert!(frames.is_empty());
        assert!(
            matches!(error, Some(FrameError::Connection { code, .. }) if code == PROTOCOL_ERROR),
            "{error:?}"
        );
    }
}

#[test]
fn after_the_preface_any_frame_may_come_first() {
    let bytes = raw(PING, 0, 0, &[0; 8]);
    let (frames, error) = read(
        &mut Reader::after_preface(DEFAULT_MAX_FRAME_SIZE),
        &[&bytes],
    );
    assert_eq!((frames.len(), error), (1, None));
}
