//! The client's view of a fuzzed connection: the frames the client's bytes
//! amounted to (as far as the server consumed them), and every frame the
//! server wrote, checked as a client would read it. The windows the client
//! granted are computed from its own frames, so a DATA frame past them is
//! caught however the server's bookkeeping went wrong.

use std::collections::{HashMap, VecDeque};

use crate::frame::PREFACE;
use crate::frame::{
    self, Frame, FrameError, Head, Kind, Setting, Settings, DEFAULT_MAX_FRAME_SIZE, HEAD_LEN,
};
use crate::hpack::Decoder;
use crate::ErrorCode;

use super::grants::{Grants, MAX_WINDOW};

/// The window every connection and stream starts with (RFC 9113 §6.9.2).
const DEFAULT_WINDOW: i64 = 65_535;

const FLOW_CONTROL: ErrorCode = ErrorCode::FLOW_CONTROL_ERROR;

/// The HPACK table the server's encoder starts from and never exceeds.
const ENCODER_TABLE: usize = 4096;

pub(super) struct Peer {
    preface_consumed: bool,
    /// The server's bytes not yet read as whole frames.
    unread: Vec<u8>,
    server_settings_seen: bool,
    /// The client's SETTINGS the server consumed and has not acknowledged
    /// yet: they take effect for the server at its ACK.
    unacked: VecDeque<Vec<Setting>>,
    pings: u32,
    ping_acks: u32,
    /// The server's send windows as the client granted them.
    connection_window: i64,
    initial_window: i64,
    max_frame_size: u32,
    streams: HashMap<u32, Stream>,
    /// The highest stream the client opened (consumed HEADERS).
    highest: u32,
    decoder: Decoder,
    table: TableLimits,
    /// A header block still waiting for CONTINUATION frames.
    partial: Option<Block>,
    /// The last stream of the server's GOAWAY, if it sent one.
    goaway: Option<u32>,
    /// The other direction: what the server granted the client.
    grants: Grants,
}

/// A header block being read: its stream, whether it is trailers.
struct Block {
    stream: u32,
    trailers: bool,
    bytes: Vec<u8>,
}

/// What the client allowed the server's HPACK encoder.
struct TableLimits {
    /// The latest SETTINGS_HEADER_TABLE_SIZE in effect (acknowledged).
    limit: usize,
    /// The smallest in effect since the last block (if any changed).
    lowest_since_block: Option<usize>,
    /// The table size the encoder signalled last.
    current: usize,
}

#[derive(Debug)]
struct Stream {
    window: i64,
    /// The response head arrived.
    head: bool,
    /// END_STREAM or RST_STREAM arrived: nothing more may.
    closed: bool,
}

impl Peer {
    pub(super) fn new() -> Peer {
        Peer {
            preface_consumed: false,
            unread: Vec::new(),
            server_settings_seen: false,
            unacked: VecDeque::new(),
            pings: 0,
            ping_acks: 0,
            connection_window: DEFAULT_WINDOW,
            initial_window: DEFAULT_WINDOW,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            streams: HashMap::new(),
            highest: 0,
            decoder: Decoder::new(ENCODER_TABLE),
            table: TableLimits {
                limit: ENCODER_TABLE,
                lowest_since_block: None,
                current: ENCODER_TABLE,
            },
            partial: None,
            goaway: None,
            grants: Grants::new(),
        }
    }

    /// What the server may send on `stream` now, by the client's grants.
    pub(super) fn capacity(&self, stream: u32) -> usize {
        let window = self.streams.get(&stream).map_or(0, |open| open.window);
        usize::try_from(window.min(self.connection_window).max(0)).unwrap_or(0)
    }

    /// Client bytes the server consumed: the preface (once), then whole
    /// frames. Only what changes the server's duties is kept.
    pub(super) fn client_sent(&mut self, mut bytes: &[u8]) {
        if !self.preface_consumed && bytes.len() >= PREFACE.len() {
            bytes = &bytes[PREFACE.len()..];
            self.preface_consumed = true;
        }
        while let Some((head, rest)) = bytes.split_first_chunk::<HEAD_LEN>() {
            let head = Head::parse(head);
            let (payload, rest) = rest.split_at((head.length as usize).min(rest.len()));
            bytes = rest;
            match frame::parse(&head, payload) {
                Ok(Frame::Settings(Settings::Params(params))) => {
                    let params: Vec<Setting> = params.collect();
                    self.check_initial_windows(&params);
                    self.unacked.push_back(params);
                }
                Ok(Frame::Data {
                    stream, flow_len, ..
                }) => self.grants.client_data(stream, flow_len),
                // An initial window past 2^31-1, say.
                Err(FrameError::Connection { code, .. }) if code == FLOW_CONTROL => {
                    self.grants.connection_fault();
                }
                Err(FrameError::Stream { stream, code, .. }) if code == FLOW_CONTROL => {
                    self.grants.stream_fault(stream);
                }
                Ok(Frame::Ping { ack: false, .. }) => self.pings += 1,
                Ok(Frame::WindowUpdate { stream, increment }) => {
                    self.window_update(stream, increment);
                }
                _ if head.kind == Kind::Headers && head.stream > self.highest => {
                    self.highest = head.stream;
                    self.grants.opened(head.stream);
                    let window = self.initial_window;
                    self.streams.entry(head.stream).or_insert(Stream {
                        window,
                        head: false,
                        closed: false,
                    });
                }
                _ => {}
            }
        }
    }

    /// A window pushed past 2^31-1 is the client's fault (a
    /// FLOW_CONTROL_ERROR for the stream or the connection).
    fn window_update(&mut self, stream: u32, increment: u32) {
        let increment = i64::from(increment);
        if stream == 0 {
            self.connection_window += increment;
            if self.connection_window > MAX_WINDOW {
                self.grants.connection_fault();
            }
        } else {
            // The server applied the SETTINGS read with this one already;
            // the window here moves by them at their ACK.
            let pending = self.pending_initial_window() - self.initial_window;
            if let Some(open) = self.streams.get_mut(&stream) {
                open.window += increment;
                if open.window + pending > MAX_WINDOW {
                    self.grants.stream_fault(stream);
                }
            }
        }
    }

    /// The initial window once the SETTINGS not yet acknowledged apply.
    fn pending_initial_window(&self) -> i64 {
        let mut sizes = self
            .unacked
            .iter()
            .flatten()
            .filter_map(|setting| match setting {
                Setting::InitialWindowSize(size) => Some(i64::from(*size)),
                _ => None,
            });
        sizes.next_back().unwrap_or(self.initial_window)
    }

    /// A new SETTINGS_INITIAL_WINDOW_SIZE that would push a stream's
    /// window past 2^31-1 ends the connection when the server applies it
    /// (before its ACK, which then never comes).
    fn check_initial_windows(&mut self, params: &[Setting]) {
        for setting in params {
            if let Setting::InitialWindowSize(size) = *setting {
                let delta = i64::from(size) - self.initial_window;
                if self
                    .streams
                    .values()
                    .any(|open| open.window + delta > MAX_WINDOW)
                {
                    self.grants.connection_fault();
                }
            }
        }
    }

    /// Bytes the server wrote (each byte once, in order).
    pub(super) fn server_wrote(&mut self, bytes: &[u8]) {
        self.unread.extend_from_slice(bytes);
        let unread = std::mem::take(&mut self.unread);
        let mut rest = &unread[..];
        while let Some((head, tail)) = rest.split_first_chunk::<HEAD_LEN>() {
            let head = Head::parse(head);
            let length = head.length as usize;
            if tail.len() < length {
                break;
            }
            assert!(
                head.length <= self.max_frame_size,
                "{head:?} past the client's SETTINGS_MAX_FRAME_SIZE {}",
                self.max_frame_size
            );
            let parsed = frame::parse(&head, &tail[..length])
                .unwrap_or_else(|error| panic!("the server wrote {head:?}: {error:?}"));
            self.frame(&head, parsed);
            rest = &tail[length..];
        }
        self.unread = rest.to_vec();
    }

    fn frame(&mut self, head: &Head, parsed: Frame<'_>) {
        if !self.server_settings_seen {
            let Frame::Settings(Settings::Params(params)) = parsed else {
                panic!("the server's first frame is {parsed:?}, not its SETTINGS");
            };
            for setting in params {
                if let Setting::InitialWindowSize(size) = setting {
                    self.grants.server_initial(size);
                }
            }
            self.server_settings_seen = true;
            return;
        }
        if let Some(Block { stream, .. }) = self.partial {
            assert!(
                matches!(parsed, Frame::Continuation { stream: s, .. } if s == stream),
                "{parsed:?} inside the header block of stream {stream}"
            );
        }
        match parsed {
            Frame::Settings(Settings::Ack) => self.settings_acked(),
            Frame::Settings(Settings::Params(_)) => panic!("a second server SETTINGS"),
            Frame::Ping { ack, .. } => {
                assert!(ack, "the server pinged");
                self.ping_acks += 1;
                assert!(self.ping_acks <= self.pings, "a PING ack for no PING");
            }
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                block,
                ..
            } => {
                let trailers = self.response_headers(stream, end_stream);
                self.partial = Some(Block {
                    stream,
                    trailers,
                    bytes: block.to_vec(),
                });
                if end_headers {
                    self.header_block();
                }
            }
            Frame::Continuation {
                end_headers, block, ..
            } => {
                let partial = self.partial.as_mut().expect("checked above");
                partial.bytes.extend_from_slice(block);
                if end_headers {
                    self.header_block();
                }
            }
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len,
            } => self.data(stream, end_stream, data.len(), flow_len),
            Frame::RstStream { stream, code } => {
                self.grants.check_reset(stream, code);
                self.reset(stream);
            }
            Frame::GoAway {
                last_stream, code, ..
            } => {
                self.grants.check_goaway(code);
                assert!(
                    last_stream <= self.highest,
                    "GOAWAY past the client's streams"
                );
                self.goaway = Some(self.goaway.map_or(last_stream, |l| l.min(last_stream)));
            }
            Frame::WindowUpdate { stream, increment } => self.grants.granted(stream, increment),
            Frame::PushPromise { .. } | Frame::Priority { .. } | Frame::Unknown { .. } => {
                panic!("the server wrote {head:?}")
            }
        }
    }

    /// The server applied the client's oldest unacknowledged SETTINGS.
    fn settings_acked(&mut self) {
        let settings = self
            .unacked
            .pop_front()
            .expect("a SETTINGS ack for no SETTINGS");
        for setting in settings {
            match setting {
                Setting::InitialWindowSize(size) => {
                    let delta = i64::from(size) - self.initial_window;
                    self.initial_window = i64::from(size);
                    for open in self.streams.values_mut() {
                        open.window += delta;
                    }
                }
                Setting::MaxFrameSize(size) => self.max_frame_size = size,
                Setting::HeaderTableSize(size) => {
                    let size = size as usize;
                    self.table.limit = size;
                    let lowest = self.table.lowest_since_block.get_or_insert(size);
                    *lowest = (*lowest).min(size);
                }
                _ => {}
            }
        }
    }

    /// A HEADERS frame's stream may take one; whether it is trailers.
    fn response_headers(&mut self, stream: u32, end_stream: bool) -> bool {
        let open = self
            .streams
            .get_mut(&stream)
            .unwrap_or_else(|| panic!("HEADERS on stream {stream}, never opened"));
        assert!(!open.closed, "HEADERS on closed stream {stream}");
        if open.head {
            assert!(end_stream, "trailers on stream {stream} without END_STREAM");
        } else if let Some(last) = self.goaway {
            assert!(
                stream <= last,
                "a response on stream {stream} past GOAWAY {last}"
            );
        }
        let trailers = open.head;
        open.head = true;
        open.closed = end_stream;
        trailers
    }

    /// A whole header block: it decodes in the client's HPACK state, with
    /// the table sizes the client allowed.
    fn header_block(&mut self) {
        let Block {
            stream,
            trailers,
            bytes: block,
        } = self.partial.take().expect("a block");
        self.table_size_updates(&block);
        let mut fields = Vec::new();
        self.decoder
            .decode(&block, usize::MAX, |name, _| fields.push(name.to_vec()))
            .unwrap_or_else(|error| panic!("stream {stream}'s block: {error}"));
        let pseudo = fields.iter().filter(|name| name.starts_with(b":")).count();
        let status_first = fields.first().is_some_and(|name| name == b":status");
        assert!(
            if trailers {
                pseudo == 0
            } else {
                status_first && pseudo == 1
            },
            "stream {stream}'s block has pseudo-fields {fields:?}"
        );
    }

    /// RFC 7541 §4.2: a smaller table the client asked for is signalled
    /// before the first field of the next block, and the encoder's table
    /// never exceeds the client's limit.
    fn table_size_updates(&mut self, block: &[u8]) {
        let mut pos = 0;
        let mut updates = Vec::new();
        while block.get(pos).is_some_and(|&byte| byte & 0xe0 == 0x20) {
            let size = read_integer(block, &mut pos, 5);
            updates.push(size);
        }
        if let Some(lowest) = self.table.lowest_since_block.take() {
            let lowest = lowest.min(ENCODER_TABLE);
            if lowest < self.table.current {
                assert!(
                    updates.first().is_some_and(|&first| first <= lowest),
                    "the client's table of {lowest} not signalled: {updates:?}"
                );
            }
        }
        if let Some(&last) = updates.last() {
            self.table.current = last;
        }
        assert!(
            self.table.current <= self.table.limit,
            "the encoder's table {} past the client's {}",
            self.table.current,
            self.table.limit
        );
    }

    fn data(&mut self, stream: u32, end_stream: bool, len: usize, flow_len: u32) {
        assert_eq!(len, flow_len as usize, "the server padded");
        let open = self
            .streams
            .get_mut(&stream)
            .unwrap_or_else(|| panic!("DATA on stream {stream}, never opened"));
        assert!(
            open.head && !open.closed,
            "DATA on stream {stream}: {open:?}"
        );
        open.closed = end_stream;
        if flow_len == 0 {
            return;
        }
        let flow_len = i64::from(flow_len);
        open.window -= flow_len;
        self.connection_window -= flow_len;
        assert!(
            open.window >= 0 && self.connection_window >= 0,
            "DATA of {flow_len} on stream {stream} past the windows: stream {}, connection {}",
            open.window,
            self.connection_window
        );
    }

    fn reset(&mut self, stream: u32) {
        assert!(
            stream <= self.highest,
            "RST_STREAM on stream {stream}, past the client's {}",
            self.highest
        );
        if let Some(open) = self.streams.get_mut(&stream) {
            open.closed = true;
        }
    }
}

/// An HPACK integer with an N-bit prefix (RFC 7541 §5.1), read
/// independently of the codec's own reader.
fn read_integer(block: &[u8], pos: &mut usize, prefix_bits: u8) -> usize {
    let max = (1usize << prefix_bits) - 1;
    let first = usize::from(block[*pos]) & max;
    *pos += 1;
    if first < max {
        return first;
    }
    let mut value = max;
    let mut shift = 0;
    loop {
        let byte = *block.get(*pos).expect("an integer cut short");
        *pos += 1;
        value += usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return value;
        }
        assert!(shift < 28, "an integer past 2^28");
    }
}
