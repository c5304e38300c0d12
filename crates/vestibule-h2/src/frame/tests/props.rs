//! Properties over generated input (proptest), on stable: the writers'
//! frames read back as written, through a reader fed in any pieces; any
//! bytes at all parse without a panic.

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::frame::{
    data_head, write_goaway, write_headers, write_ping, write_rst_stream, write_settings,
    write_settings_ack, write_window_update, Reader, Setting, Settings, PREFACE,
};

/// The largest frame the generated frames use, and the reader accepts.
const MAX: u32 = 20_000;

/// A frame (or, for HEADERS, frames) the writers make.
#[derive(Debug, Clone)]
enum Written {
    Settings(Vec<Setting>),
    SettingsAck,
    Ping(bool, [u8; 8]),
    GoAway(u32, u32, Vec<u8>),
    RstStream(u32, u32),
    WindowUpdate(u32, u32),
    /// Stream, block, END_STREAM, the peer's max frame size.
    Headers(u32, Vec<u8>, bool, u32),
    Data(u32, Vec<u8>, bool),
}

fn setting() -> impl Strategy<Value = Setting> {
    prop_oneof![
        any::<u32>().prop_map(Setting::HeaderTableSize),
        any::<bool>().prop_map(Setting::EnablePush),
        any::<u32>().prop_map(Setting::MaxConcurrentStreams),
        (0..=0x7fff_ffffu32).prop_map(Setting::InitialWindowSize),
        (16_384..=0xff_ffffu32).prop_map(Setting::MaxFrameSize),
        any::<u32>().prop_map(Setting::MaxHeaderListSize),
        any::<bool>().prop_map(Setting::EnableConnectProtocol),
        any::<bool>().prop_map(Setting::NoRfc7540Priorities),
        (10..=u16::MAX, any::<u32>()).prop_map(|(id, value)| Setting::Unknown { id, value }),
    ]
}

fn written() -> impl Strategy<Value = Written> {
    let stream = 1..=0x7fff_ffffu32;
    let bytes = |max| prop::collection::vec(any::<u8>(), 0..max);
    prop_oneof![
        prop::collection::vec(setting(), 0..12).prop_map(Written::Settings),
        Just(Written::SettingsAck),
        (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, data)| Written::Ping(ack, data)),
        (0..=0x7fff_ffffu32, any::<u32>(), bytes(64))
            .prop_map(|(last, code, debug)| Written::GoAway(last, code, debug)),
        (stream.clone(), any::<u32>()).prop_map(|(id, code)| Written::RstStream(id, code)),
        (0..=0x7fff_ffffu32, 1..=0x7fff_ffffu32)
            .prop_map(|(id, increment)| Written::WindowUpdate(id, increment)),
        (
            stream.clone(),
            bytes(45_000),
            any::<bool>(),
            prop_oneof![Just(16_384), Just(MAX)]
        )
            .prop_map(|(id, block, end, max)| Written::Headers(id, block, end, max)),
        (stream, bytes(MAX as usize), any::<bool>())
            .prop_map(|(id, data, end)| Written::Data(id, data, end)),
    ]
}

fn write(out: &mut Vec<u8>, frame: &Written) {
    match frame {
        Written::Settings(settings) => write_settings(out, settings),
        Written::SettingsAck => write_settings_ack(out),
        Written::Ping(ack, data) => write_ping(out, *ack, *data),
        Written::GoAway(last, code, debug) => write_goaway(out, *last, ErrorCode(*code), debug),
        Written::RstStream(id, code) => write_rst_stream(out, *id, ErrorCode(*code)),
        Written::WindowUpdate(id, increment) => write_window_update(out, *id, *increment),
        Written::Headers(id, block, end, max) => write_headers(out, *id, block, *end, *max),
        Written::Data(id, data, end) => {
            out.extend_from_slice(&data_head(*id, data.len() as u32, *end));
            out.extend_from_slice(data);
        }
    }
}

/// Checks that `frames` (parsed, in order) are what `written` wrote, and
/// returns how many of them it took.
fn check(written: &Written, frames: &[Frame<'_>]) -> usize {
    let frame = &frames[0];
    match written {
        Written::Settings(settings) => {
            let Frame::Settings(Settings::Params(params)) = frame else {
                panic!("{frame:?}")
            };
            assert_eq!(&params.clone().collect::<Vec<_>>(), settings);
        }
        Written::SettingsAck => assert_eq!(frame, &Frame::Settings(Settings::Ack)),
        Written::Ping(ack, payload) => assert_eq!(
            frame,
            &Frame::Ping {
                ack: *ack,
                payload: *payload,
            }
        ),
        Written::GoAway(last_stream, code, debug) => assert_eq!(
            frame,
            &Frame::GoAway {
                last_stream: *last_stream,
                code: ErrorCode(*code),
                debug,
            }
        ),
        Written::RstStream(stream, code) => assert_eq!(
            frame,
            &Frame::RstStream {
                stream: *stream,
                code: ErrorCode(*code),
            }
        ),
        Written::WindowUpdate(stream, increment) => assert_eq!(
            frame,
            &Frame::WindowUpdate {
                stream: *stream,
                increment: *increment,
            }
        ),
        Written::Headers(id, block, end, _) => return check_headers(*id, block, *end, frames),
        Written::Data(id, data, end) => assert_eq!(
            frame,
            &Frame::Data {
                stream: *id,
                end_stream: *end,
                data,
                flow_len: data.len() as u32,
            }
        ),
    }
    1
}

/// A HEADERS frame and its CONTINUATIONs: the block joined back, END_STREAM
/// on the first only, END_HEADERS on the last only.
fn check_headers(id: u32, block: &[u8], end: bool, frames: &[Frame<'_>]) -> usize {
    let Frame::Headers {
        stream,
        end_stream,
        mut end_headers,
        priority: None,
        block: first,
        reset: None,
    } = frames[0]
    else {
        panic!("{:?}", frames[0])
    };
    assert_eq!((stream, end_stream), (id, end));
    let mut joined = first.to_vec();
    let mut count = 1;
    while !end_headers {
        let Frame::Continuation {
            stream,
            end_headers: end,
            block,
        } = frames[count]
        else {
            panic!("{:?}", frames[count])
        };
        assert_eq!(stream, id);
        joined.extend_from_slice(block);
        end_headers = end;
        count += 1;
    }
    assert_eq!(joined, block);
    count
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn written_frames_read_back_through_any_pieces(
        frames in prop::collection::vec(written(), 0..8),
        settings in prop::collection::vec(setting(), 0..4),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let mut input = PREFACE.to_vec();
        write_settings(&mut input, &settings);
        for frame in &frames {
            write(&mut input, frame);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
        cuts.push(input.len());
        cuts.sort_unstable();
        let mut reader = Reader::new(MAX);
        let mut buf = BytesMut::new();
        let mut read = Vec::new();
        let mut from = 0;
        for cut in cuts {
            buf.extend_from_slice(&input[from..cut]);
            from = cut;
            while let Some(frame) = reader.next_frame(&mut buf).expect("valid frames") {
                read.push(frame);
            }
        }
        prop_assert!(buf.is_empty());
        let parsed: Vec<Frame<'_>> = read
            .iter()
            .map(|(head, payload)| parse(head, payload).expect("a valid frame"))
            .collect();
        let mut at = check(&Written::Settings(settings), &parsed);
        for frame in &frames {
            at += check(frame, &parsed[at..]);
        }
        prop_assert_eq!(at, parsed.len());
    }

    #[test]
    fn any_bytes_parse_without_panic(
        head in any::<[u8; 9]>(),
        payload in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut head = Head::parse(&head);
        // Mostly the types RFC 9113 defines.
        if let crate::frame::Kind::Unknown(code) = head.kind {
            head.kind = crate::frame::Kind::from_code(code % 12);
        }
        head.length = payload.len() as u32;
        match parse(&head, &payload) {
            Err(FrameError::Stream { stream, .. }) => {
                prop_assert_eq!(stream, head.stream);
                prop_assert_ne!(stream, 0);
            }
            Ok(Frame::Data { data, flow_len, .. }) => {
                prop_assert_eq!(flow_len, head.length);
                prop_assert!(data.len() <= payload.len());
            }
            _ => {}
        }
    }
}
