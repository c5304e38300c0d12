//! The connection against a scripted client: frames built by hand (with
//! the frame writers and an HPACK encoder of the client's), the server's
//! output parsed back frame by frame.

use bytes::BytesMut;
use http::{HeaderMap, StatusCode};

use super::{Config, Connection, ConnectionError, Event};
use crate::frame::{self, Frame, Head, Setting, HEAD_LEN, PREFACE};
use crate::hpack;
use crate::ErrorCode;

/// A frame the server sent, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Settings(Vec<Setting>),
    SettingsAck,
    WindowUpdate(u32, u32),
    Headers {
        stream: u32,
        end_stream: bool,
        fields: Vec<(String, String)>,
    },
    Data {
        stream: u32,
        data: Vec<u8>,
        end_stream: bool,
    },
    Reset(u32, ErrorCode),
    GoAway(u32, ErrorCode),
    Ping(bool, [u8; 8]),
}

struct Client {
    server: Connection,
    encoder: hpack::Encoder,
    decoder: hpack::Decoder,
    input: BytesMut,
}

const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":authority", "example.com"),
    (":path", "/"),
];

impl Client {
    /// A connection past its prefaces (the server's frames read and
    /// dropped).
    fn new(config: Config) -> Client {
        let mut client = Client::raw(config);
        let mut bytes = PREFACE.to_vec();
        frame::write_settings(&mut bytes, &[]);
        client.send(&bytes).unwrap();
        client.take();
        client
    }

    fn raw(config: Config) -> Client {
        Client {
            server: Connection::new(config),
            encoder: hpack::Encoder::new(),
            decoder: hpack::Decoder::new(4096),
            input: BytesMut::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        self.input.extend_from_slice(bytes);
        self.server.recv(&mut self.input)
    }

    fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut block = Vec::new();
        self.encoder.begin(&mut block);
        for (name, value) in fields {
            self.encoder
                .field(name.as_bytes(), value.as_bytes(), false, &mut block);
        }
        block
    }

    fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        let block = self.block(fields);
        let mut bytes = Vec::new();
        frame::write_headers(&mut bytes, stream, &block, end_stream, 16_384);
        bytes
    }

    fn get(&mut self, stream: u32) -> Result<(), ConnectionError> {
        let bytes = self.headers(stream, &GET, true);
        self.send(&bytes)
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.server.next_event()).collect()
    }

    /// The frames the server wrote since the last call.
    fn take(&mut self) -> Vec<Sent> {
        let bytes = self.server.output().to_vec();
        self.server.written(bytes.len());
        let mut sent = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let head = Head::parse(bytes[at..at + HEAD_LEN].try_into().unwrap());
            let payload = &bytes[at + HEAD_LEN..at + HEAD_LEN + head.length as usize];
            at += HEAD_LEN + head.length as usize;
            let frame = frame::parse(&head, payload).expect("the server's frames parse");
            sent.push(self.own(frame));
        }
        sent
    }

    fn own(&mut self, frame: Frame<'_>) -> Sent {
        match frame {
            Frame::Settings(frame::Settings::Ack) => Sent::SettingsAck,
            Frame::Settings(frame::Settings::Params(params)) => Sent::Settings(params.collect()),
            Frame::WindowUpdate { stream, increment } => Sent::WindowUpdate(stream, increment),
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                block,
                ..
            } => {
                assert!(end_headers, "test blocks fit one frame");
                let mut fields = Vec::new();
                self.decoder
                    .decode(block, usize::MAX, |name, value| {
                        fields.push((
                            String::from_utf8(name.to_vec()).unwrap(),
                            String::from_utf8(value.to_vec()).unwrap(),
                        ));
                    })
                    .expect("the server's blocks decode");
                Sent::Headers {
                    stream,
                    end_stream,
                    fields,
                }
            }
            Frame::Data {
                stream,
                end_stream,
                data,
                ..
            } => Sent::Data {
                stream,
                data: data.to_vec(),
                end_stream,
            },
            Frame::RstStream { stream, code } => Sent::Reset(stream, code),
            Frame::GoAway {
                last_stream, code, ..
            } => Sent::GoAway(last_stream, code),
            Frame::Ping { ack, payload } => Sent::Ping(ack, payload),
            other => panic!("unexpected frame from the server: {other:?}"),
        }
    }
}

fn field(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

#[test]
fn the_server_preface_advertises_its_limits_and_raises_the_connection_window() {
    let mut client = Client::raw(Config {
        max_concurrent_streams: 7,
        initial_stream_window: 1000,
        initial_connection_window: 1 << 20,
        max_header_list_size: 8192,
        ..Config::default()
    });
    assert_eq!(
        client.take(),
        [
            Sent::Settings(vec![
                Setting::MaxConcurrentStreams(7),
                Setting::InitialWindowSize(1000),
                Setting::MaxHeaderListSize(8192),
                Setting::EnableConnectProtocol(true),
            ]),
            Sent::WindowUpdate(0, (1 << 20) - 65_535),
        ]
    );
    assert!(!client.server.is_started());
    let mut bytes = PREFACE.to_vec();
    frame::write_settings(&mut bytes, &[]);
    // Byte by byte: nothing happens until the preface is whole.
    for byte in &bytes[..PREFACE.len() - 1] {
        client.send(&[*byte]).unwrap();
    }
    assert!(!client.server.is_started());
    client.send(&bytes[PREFACE.len() - 1..]).unwrap();
    assert!(client.server.is_started());
    assert_eq!(client.take(), [Sent::SettingsAck]);
}

#[test]
fn a_wrong_preface_ends_the_connection() {
    let mut client = Client::raw(Config::default());
    client.take();
    let error = client.send(b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(error.code, ErrorCode::PROTOCOL_ERROR);
    assert_eq!(client.take(), [Sent::GoAway(0, ErrorCode::PROTOCOL_ERROR)]);
}

#[test]
fn a_preface_without_settings_ends_the_connection() {
    let mut client = Client::raw(Config::default());
    client.take();
    let mut bytes = PREFACE.to_vec();
    frame::write_ping(&mut bytes, false, [0; 8]);
    let error = client.send(&bytes).unwrap_err();
    assert_eq!(error.code, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn a_stream_error_on_an_idle_stream_is_a_connection_error() {
    let mut client = Client::new(Config::default());
    // PRIORITY of stream 5 on itself: 5 is idle.
    let bytes = [0, 0, 5, 0x2, 0, 0, 0, 0, 5, 0, 0, 0, 5, 16];
    let error = client.send(&bytes).unwrap_err();
    assert_eq!(error.code, ErrorCode::PROTOCOL_ERROR);
    // On a stream that is open, it resets that stream only.
    let mut client = Client::new(Config::default());
    let open = client.headers(5, &GET, false);
    client.send(&open).unwrap();
    client.send(&bytes).unwrap();
    assert_eq!(client.take(), [Sent::Reset(5, ErrorCode::PROTOCOL_ERROR)]);
}

#[test]
fn a_request_and_its_response() {
    let mut client = Client::new(Config::default());
    let mut fields = GET.to_vec();
    fields.push(("accept", "*/*"));
    let bytes = client.headers(1, &fields, true);
    client.send(&bytes).unwrap();
    let events = client.events();
    let [Event::Request {
        stream: 1,
        request,
        end_stream: true,
        content_length: None,
    }] = &events[..]
    else {
        panic!("{events:?}");
    };
    assert_eq!(request.uri(), "http://example.com/");
    assert_eq!(request.headers()["accept"], "*/*");
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "text/plain".parse().unwrap());
    // Connection-specific fields are not sent, nor `te`.
    headers.insert("connection", "keep-alive".parse().unwrap());
    headers.insert("transfer-encoding", "chunked".parse().unwrap());
    headers.insert("te", "trailers".parse().unwrap());
    client
        .server
        .send_headers(1, StatusCode::OK, &headers, false)
        .unwrap();
    assert_eq!(client.server.send_data(1, b"hello", true), Ok(5));
    assert_eq!(
        client.take(),
        [
            Sent::Headers {
                stream: 1,
                end_stream: false,
                fields: vec![field(":status", "200"), field("content-type", "text/plain")],
            },
            Sent::Data {
                stream: 1,
                data: b"hello".to_vec(),
                end_stream: true,
            },
        ]
    );
    assert_eq!(client.server.open_streams(), 0, "both sides ended");
    assert!(client.server.send_data(1, b"more", true).is_err());
}

#[test]
fn every_split_of_the_input_gives_the_same_events() {
    let mut whole = Client::new(Config::default());
    let mut bytes = whole.headers(1, &GET, false);
    frame::write_rst_stream(&mut bytes, 1, ErrorCode::CANCEL);
    bytes.extend(whole.headers(3, &GET, true));
    whole.send(&bytes).unwrap();
    let expected = format!("{:?}", whole.events());
    for split in 1..bytes.len() {
        let mut client = Client::new(Config::default());
        client.send(&bytes[..split]).unwrap();
        client.send(&bytes[split..]).unwrap();
        assert_eq!(
            format!("{:?}", client.events()),
            expected,
            "split at {split}"
        );
    }
}

#[test]
fn a_request_body_arrives_and_its_window_is_given_back_in_halves() {
    let mut client = Client::new(Config {
        initial_stream_window: 100,
        initial_connection_window: 200,
        ..Config::default()
    });
    let mut fields = GET.to_vec();
    fields[0] = (":method", "POST");
    fields.push(("content-length", "120"));
    let bytes = client.headers(1, &fields, false);
    client.send(&bytes).unwrap();
    assert!(matches!(
        client.events()[..],
        [Event::Request {
            end_stream: false,
            content_length: Some(120),
            ..
        }]
    ));
    let mut bytes = Vec::new();
    bytes.extend(frame::data_head(1, 60, false));
    bytes.extend([b'a'; 60]);
    client.send(&bytes).unwrap();
    let events = client.events();
    assert!(
        matches!(&events[..], [Event::Data { stream: 1, data, end_stream: false }] if data.len() == 60),
        "{events:?}"
    );
    // Past the stream's window (100): the stream is reset.
    client.server.release(1, 40);
    assert_eq!(client.take(), [], "less than half a window owed");
    client.server.release(1, 20);
    assert_eq!(client.take(), [Sent::WindowUpdate(1, 60)]);
    let mut bytes = Vec::new();
    bytes.extend(frame::data_head(1, 60, true));
    bytes.extend([b'b'; 60]);
    client.send(&bytes).unwrap();
    assert!(matches!(
        client.events()[..],
        [Event::Data {
            end_stream: true,
            ..
        }]
    ));
    // 120 bytes read of the connection's 200: 100 owed, half, announced.
    client.server.release(1, 60);
    assert_eq!(client.take(), [Sent::WindowUpdate(0, 120)]);
}

#[test]
fn data_past_the_stream_window_resets_the_stream() {
    let mut client = Client::new(Config {
        initial_stream_window: 10,
        ..Config::default()
    });
    let mut fields = GET.to_vec();
    fields[0] = (":method", "POST");
    let bytes = client.headers(1, &fields, false);
    client.send(&bytes).unwrap();
    client.events();
    let mut bytes = Vec::new();
    bytes.extend(frame::data_head(1, 11, false));
    bytes.extend([b'a'; 11]);
    client.send(&bytes).unwrap();
    assert!(matches!(
        client.events()[..],
        [Event::Reset {
            stream: 1,
            code: ErrorCode::FLOW_CONTROL_ERROR
        }]
    ));
    assert_eq!(
        client.take(),
        [Sent::Reset(1, ErrorCode::FLOW_CONTROL_ERROR)]
    );
}

#[test]
fn a_body_that_breaks_its_content_length_resets_the_stream() {
    for (length, sent) in [("3", 4), ("5", 4)] {
        let mut client = Client::new(Config::default());
        let mut fields = GET.to_vec();
        fields[0] = (":method", "POST");
        fields.push(("content-length", length));
        let bytes = client.headers(1, &fields, false);
        client.send(&bytes).unwrap();
        client.events();
        let mut bytes = Vec::new();
        bytes.extend(frame::data_head(1, sent, true));
        bytes.extend(vec![b'a'; sent as usize]);
        client.send(&bytes).unwrap();
        assert_eq!(
            client.take(),
            [Sent::Reset(1, ErrorCode::PROTOCOL_ERROR)],
            "content-length {length}, {sent} sent"
        );
    }
}

#[test]
fn the_send_windows_hold_data_back_until_the_client_opens_them() {
    let mut client = Client::new(Config::default());
    let mut bytes = Vec::new();
    frame::write_settings(&mut bytes, &[Setting::InitialWindowSize(10)]);
    client.send(&bytes).unwrap();
    assert_eq!(client.take(), [Sent::SettingsAck]);
    client.get(1).unwrap();
    client.events();
    client
        .server
        .send_headers(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    assert_eq!(client.server.send_data(1, &[b'x'; 25], true), Ok(10));
    client.take();
    assert_eq!(client.server.capacity(1), 0);
    let mut bytes = Vec::new();
    frame::write_window_update(&mut bytes, 1, 15);
    client.send(&bytes).unwrap();
    assert!(matches!(
        client.events()[..],
        [Event::Capacity { stream: 1 }]
    ));
    assert_eq!(client.server.send_data(1, &[b'x'; 15], true), Ok(15));
    assert_eq!(
        client.take(),
        [Sent::Data {
            stream: 1,
            data: vec![b'x'; 15],
            end_stream: true
        }]
    );
}

#[test]
fn the_connection_window_is_shared_and_reopened_for_every_blocked_stream() {
    let mut client = Client::new(Config::default());
    for stream in [1, 3] {
        client.get(stream).unwrap();
        client
            .server
            .send_headers(stream, StatusCode::OK, &HeaderMap::new(), false)
            .unwrap();
    }
    client.events();
    assert_eq!(client.server.send_data(1, &[0; 65_535], false), Ok(65_535));
    assert_eq!(client.server.send_data(3, &[0; 10], false), Ok(0));
    client.take();
    let mut bytes = Vec::new();
    frame::write_window_update(&mut bytes, 0, 100);
    client.send(&bytes).unwrap();
    assert!(matches!(
        client.events()[..],
        [Event::Capacity { stream: 3 }]
    ));
    // A frame is at most the client's frame size.
    let mut bytes = Vec::new();
    frame::write_window_update(&mut bytes, 0, 40_000);
    frame::write_window_update(&mut bytes, 3, 40_000);
    client.send(&bytes).unwrap();
    assert_eq!(client.server.send_data(3, &[7; 20_000], true), Ok(20_000));
    let sizes: Vec<usize> = client
        .take()
        .into_iter()
        .map(|sent| match sent {
            Sent::Data { data, .. } => data.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [16_384, 3_616]);
}

#[test]
fn a_malformed_request_resets_its_stream_and_the_connection_goes_on() {
    let mut client = Client::new(Config::default());
    let mut fields = GET.to_vec();
    fields.push(("connection", "close"));
    let bytes = client.headers(1, &fields, true);
    client.send(&bytes).unwrap();
    assert!(!client
        .events()
        .iter()
        .any(|event| matches!(event, Event::Request { .. })));
    assert_eq!(client.take(), [Sent::Reset(1, ErrorCode::PROTOCOL_ERROR)]);
    client.get(3).unwrap();
    assert!(matches!(
        client.events()[..],
        [Event::Request { stream: 3, .. }]
    ));
}

#[test]
fn streams_past_the_limit_are_refused() {
    let mut client = Client::new(Config {
        max_concurrent_streams: 2,
        ..Config::default()
    });
    for stream in [1, 3, 5] {
        client.get(stream).unwrap();
    }
    assert_eq!(client.events().len(), 2);
    assert_eq!(client.take(), [Sent::Reset(5, ErrorCode::REFUSED_STREAM)]);
    // The refused block was decoded: the table is still in step.
    client
        .server
        .send_headers(1, StatusCode::OK, &HeaderMap::new(), true)
        .unwrap();
    client.take();
    client.get(7).unwrap();
    assert!(matches!(
        client.events()[..],
        [Event::Request { stream: 7, .. }]
    ));
}

#[test]
fn a_head_past_the_header_list_limit_is_answered_431() {
    let mut client = Client::new(Config {
        max_header_list_size: 200,
        ..Config::default()
    });
    let long = "v".repeat(300);
    let mut fields = GET.to_vec();
    fields.push(("x-long", &long));
    let bytes = client.headers(1, &fields, true);
    client.send(&bytes).unwrap();
    assert!(client.events().is_empty());
    assert_eq!(
        client.take(),
        [Sent::Headers {
            stream: 1,
            end_stream: true,
            fields: vec![field(":status", "431")],
        }]
    );
    client.get(3).unwrap();
    assert_eq!(client.events().len(), 1, "the connection goes on");
}

#[test]
fn rapid_reset_ends_the_connection() {
    let mut client = Client::new(Config::default());
    let mut bytes = Vec::new();
    for index in 0..200u32 {
        let stream = 2 * index + 1;
        bytes.extend(client.headers(stream, &GET, true));
        frame::write_rst_stream(&mut bytes, stream, ErrorCode::CANCEL);
    }
    let error = client.send(&bytes).unwrap_err();
    assert_eq!(error.code, ErrorCode::ENHANCE_YOUR_CALM);
    let sent = client.take();
    assert_eq!(
        sent.last(),
        Some(&Sent::GoAway(199, ErrorCode::ENHANCE_YOUR_CALM))
    );
}

#[test]
fn resets_after_answers_are_not_premature() {
    let mut client = Client::new(Config::default());
    for index in 0..300u32 {
        let stream = 2 * index + 1;
        let bytes = client.headers(stream, &GET, false);
        client.send(&bytes).unwrap();
        client
            .server
            .send_headers(stream, StatusCode::OK, &HeaderMap::new(), false)
            .unwrap();
        let mut bytes = Vec::new();
        frame::write_rst_stream(&mut bytes, stream, ErrorCode::CANCEL);
        client.send(&bytes).unwrap();
        client.take();
    }
}

#[test]
fn a_continuation_flood_ends_the_connection() {
    let mut client = Client::new(Config {
        max_header_list_size: 1000,
        ..Config::default()
    });
    let block = client.block(&GET);
    let mut bytes = Vec::new();
    let mut head = frame::data_head(1, block.len() as u32, false);
    head[3] = 0x1; // HEADERS
    head[4] = 0x1; // END_STREAM, no END_HEADERS
    bytes.extend(head);
    bytes.extend(&block);
    // 50 pieces of a 100-byte literal: 5,200 bytes, past 4 × 1,000.
    for _ in 0..50 {
        let filler = [0x00u8, 1, b'x', 100]
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'a', 100))
            .collect::<Vec<u8>>();
        let mut head = frame::data_head(1, filler.len() as u32, false);
        head[3] = 0x9; // CONTINUATION
        head[4] = 0;
        bytes.extend(head);
        bytes.extend(filler);
    }
    let error = client.send(&bytes).unwrap_err();
    assert_eq!(error.code, ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn a_frame_between_a_blocks_pieces_ends_the_connection() {
    let mut client = Client::new(Config::default());
    let block = client.block(&GET);
    let mut bytes = Vec::new();
    let mut head = frame::data_head(1, block.len() as u32, false);
    head[3] = 0x1;
    head[4] = 0x1;
    bytes.extend(head);
    bytes.extend(&block);
    frame::write_ping(&mut bytes, false, [0; 8]);
    let error = client.send(&bytes).unwrap_err();
    assert_eq!(error.code, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn pings_are_answered_and_a_ping_flood_ends_the_connection() {
    let mut client = Client::new(Config::default());
    let mut bytes = Vec::new();
    frame::write_ping(&mut bytes, false, *b"12345678");
    client.send(&bytes).unwrap();
    assert_eq!(client.take(), [Sent::Ping(true, *b"12345678")]);
    let mut bytes = Vec::new();
    for _ in 0..2000 {
        frame::write_ping(&mut bytes, false, [1; 8]);
    }
    // Never read: the acks pile up.
    let error = client.send(&bytes).unwrap_err();
    assert_eq!(error.code, ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn empty_data_frames_in_a_row_end_the_connection() {
    let mut client = Client::new(Config::default());
    let bytes = client.headers(1, &GET, false);
    client.send(&bytes).unwrap();
    let mut bytes = Vec::new();
    for _ in 0..3 {
        bytes.extend(frame::data_head(1, 0, false));
    }
    let error = client.send(&bytes).unwrap_err();
    assert_eq!(error.code, ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn frames_on_closed_and_idle_streams_are_connection_errors() {
    let mut client = Client::new(Config::default());
    client.get(1).unwrap();
    client
        .server
        .send_headers(1, StatusCode::OK, &HeaderMap::new(), true)
        .unwrap();
    let error = client.get(1).unwrap_err();
    assert_eq!(
        error.code,
        ErrorCode::PROTOCOL_ERROR,
        "a stream id used again"
    );

    let mut client = Client::new(Config::default());
    let mut bytes = Vec::new();
    bytes.extend(frame::data_head(5, 1, false));
    bytes.push(b'a');
    let error = client.send(&bytes).unwrap_err();
    assert_eq!(error.code, ErrorCode::PROTOCOL_ERROR);

    let mut client = Client::new(Config::default());
    let error = client.get(2).unwrap_err();
    assert_eq!(error.code, ErrorCode::PROTOCOL_ERROR, "even stream");
}

#[test]
fn trailers_end_a_request_body() {
    let mut client = Client::new(Config::default());
    let mut fields = GET.to_vec();
    fields[0] = (":method", "POST");
    let bytes = client.headers(1, &fields, false);
    client.send(&bytes).unwrap();
    let bytes = client.headers(1, &[("grpc-timeout", "1S")], true);
    client.send(&bytes).unwrap();
    let events = client.events();
    assert!(
        matches!(&events[..], [Event::Request { .. }, Event::Trailers { stream: 1, trailers }] if trailers["grpc-timeout"] == "1S"),
        "{events:?}"
    );
    // Trailers without END_STREAM are malformed.
    let bytes = client.headers(3, &fields, false);
    client.send(&bytes).unwrap();
    let bytes = client.headers(3, &[("x", "y")], false);
    client.send(&bytes).unwrap();
    client.take();
    assert!(client.events().iter().any(|event| matches!(
        event,
        Event::Reset {
            stream: 3,
            code: ErrorCode::PROTOCOL_ERROR
        }
    )));
}

#[test]
fn go_away_names_the_last_stream_and_refuses_later_ones() {
    let mut client = Client::new(Config::default());
    client.get(1).unwrap();
    client.server.go_away();
    assert_eq!(client.take(), [Sent::GoAway(1, ErrorCode::NO_ERROR)]);
    client.get(3).unwrap();
    assert_eq!(client.take(), [Sent::Reset(3, ErrorCode::REFUSED_STREAM)]);
    assert_eq!(client.events().len(), 1);
    assert_eq!(client.server.open_streams(), 1, "stream 1 still runs");
}

#[test]
fn a_client_reset_is_an_event_and_ends_the_stream() {
    let mut client = Client::new(Config::default());
    client.get(1).unwrap();
    let mut bytes = Vec::new();
    frame::write_rst_stream(&mut bytes, 1, ErrorCode::CANCEL);
    client.send(&bytes).unwrap();
    assert!(matches!(
        client.events()[..],
        [
            Event::Request { .. },
            Event::Reset {
                stream: 1,
                code: ErrorCode::CANCEL
            }
        ]
    ));
    assert!(client
        .server
        .send_headers(1, StatusCode::OK, &HeaderMap::new(), true)
        .is_err());
}

#[test]
fn a_window_past_its_bound_is_a_flow_control_error() {
    let mut client = Client::new(Config::default());
    client.get(1).unwrap();
    let mut bytes = Vec::new();
    frame::write_window_update(&mut bytes, 1, (1 << 31) - 1);
    client.send(&bytes).unwrap();
    assert_eq!(
        client.take(),
        [Sent::Reset(1, ErrorCode::FLOW_CONTROL_ERROR)]
    );
    let mut bytes = Vec::new();
    frame::write_window_update(&mut bytes, 0, (1 << 31) - 1);
    let error = client.send(&bytes).unwrap_err();
    assert_eq!(error.code, ErrorCode::FLOW_CONTROL_ERROR);
}

#[test]
fn a_smaller_client_table_is_used_for_the_responses() {
    let mut client = Client::new(Config::default());
    let mut bytes = Vec::new();
    frame::write_settings(&mut bytes, &[Setting::HeaderTableSize(0)]);
    client.send(&bytes).unwrap();
    client.take();
    client.decoder = hpack::Decoder::new(0);
    let mut headers = HeaderMap::new();
    headers.insert("server", "istio-envoy".parse().unwrap());
    for stream in [1, 3] {
        client.get(stream).unwrap();
        client
            .server
            .send_headers(stream, StatusCode::OK, &headers, true)
            .unwrap();
        let sent = client.take();
        assert_eq!(
            sent,
            [Sent::Headers {
                stream,
                end_stream: true,
                fields: vec![field(":status", "200"), field("server", "istio-envoy")],
            }]
        );
    }
}
