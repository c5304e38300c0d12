//! One server connection's protocol state, sans I/O: the driver feeds it
//! the bytes it read ([`Connection::recv`]), takes the [`Event`]s that
//! came of them, answers streams through the `send_*` calls, and writes
//! [`Connection::output`] to the socket.
//!
//! Everything a client controls is bounded here: concurrent streams,
//! header lists (decoded and compressed), flow-control windows, and the
//! floods of RFC 9113's era of attacks (rapid reset, CONTINUATION, control
//! frames the client never reads the answers to, empty frames, error
//! resets). Each is answered as Envoy answers it: a `GOAWAY` with
//! `ENHANCE_YOUR_CALM`, and the connection ends.

mod flow;
mod recv;
mod request;
mod send;

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request};
use rustc_hash::FxHasher;

use crate::frame::{self, Setting};
use crate::hpack;
use crate::ErrorCode;
use flow::{Window, DEFAULT_WINDOW};

pub use request::{Malformed, Protocol};
pub use send::HeadWriter;

/// What this server advertises and tolerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`; a stream past it is refused
    /// (`REFUSED_STREAM`).
    pub max_concurrent_streams: u32,
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: how much of each request body may
    /// arrive before the driver reads it.
    pub initial_stream_window: u32,
    /// The connection's receive window, raised from 65,535 at the start.
    pub initial_connection_window: u32,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`: a request head past it is answered
    /// 431; a header block past four times it ends the connection.
    pub max_header_list_size: u32,
    /// RFC 8441's `SETTINGS_ENABLE_CONNECT_PROTOCOL` (WebSocket over
    /// HTTP/2).
    pub enable_connect_protocol: bool,
    /// Streams the client may reset before their response began, once at
    /// least half of its streams ended that way (Envoy's rule against rapid
    /// reset, CVE-2023-44487: 100 by default).
    pub max_premature_resets: u32,
    /// Stream errors this server may answer with `RST_STREAM` (h2's
    /// default against MadeYouReset, CVE-2025-8671: 1,024).
    pub max_local_resets: u32,
}

impl Default for Config {
    /// Envoy's edge-proxy values.
    fn default() -> Config {
        Config {
            max_concurrent_streams: 100,
            initial_stream_window: 65_536,
            initial_connection_window: 1 << 20,
            max_header_list_size: 60 * 1024,
            enable_connect_protocol: true,
            max_premature_resets: 100,
            max_local_resets: 1024,
        }
    }
}

/// What the client's bytes came to, in order.
#[derive(Debug)]
pub enum Event {
    /// A new stream's request head.
    Request {
        stream: u32,
        request: Request<()>,
        /// No body follows.
        end_stream: bool,
        content_length: Option<u64>,
    },
    /// A piece of a request body. Give its window back with
    /// [`Connection::release`] once it is passed on.
    Data {
        stream: u32,
        data: Bytes,
        end_stream: bool,
    },
    /// A request's trailers: its body has ended.
    Trailers { stream: u32, trailers: HeaderMap },
    /// The stream is gone (reset by the client, or by this server for a
    /// fault of the client's): drop its exchange.
    Reset { stream: u32, code: ErrorCode },
    /// A stream that was short of window ([`Connection::send_data`] took
    /// less than it was given) may send again.
    Capacity { stream: u32 },
}

/// The connection has ended; a `GOAWAY` with the code is in the output
/// (write it, then close).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP/2 connection error {code}: {reason}")]
pub struct ConnectionError {
    pub code: ErrorCode,
    pub reason: &'static str,
}

/// A `send_*` call for a stream that is gone (reset, or already ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HTTP/2 stream {0} is closed")]
pub struct StreamGone(pub u32);

type StreamMap = HashMap<u32, Stream, BuildHasherDefault<FxHasher>>;

pub struct Connection {
    config: Config,
    preface_read: bool,
    /// The client's first SETTINGS arrived.
    settings_read: bool,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    /// Bytes to write, from `written` on.
    out: Vec<u8>,
    written: usize,
    /// A header block being encoded (kept for its allocation).
    block: Vec<u8>,
    /// Where requests' pseudo-header values are copied to.
    scratch: BytesMut,
    streams: StreamMap,
    events: VecDeque<Event>,
    /// A header block waiting for its CONTINUATION frames.
    partial: Option<Partial>,
    /// The highest stream the client opened (every lower one is closed
    /// or open, never idle).
    highest: u32,
    /// Streams opened, for the rapid-reset ratio.
    opened: u32,
    peer: PeerSettings,
    send_window: Window,
    recv_window: Window,
    /// Connection-level bytes read but not yet given back.
    unreleased: u32,
    /// The last stream served after a `GOAWAY` of ours.
    going_away: Option<u32>,
    /// Streams this server reset lately, whose late frames are ignored
    /// (RFC 9113 §5.4.2).
    recently_reset: [u32; RECENT],
    recent_at: usize,
    floods: Floods,
}

/// The HPACK table this server's decoder keeps (the default: it is not
/// advertised).
const HEADER_TABLE_SIZE: usize = 4096;

/// Resets remembered to ignore their stragglers.
const RECENT: usize = 32;

#[derive(Debug, Default)]
struct Floods {
    premature_resets: u32,
    local_resets: u32,
    /// Frames with an empty payload, not ending a stream, in a row
    /// (CVE-2019-9518; Envoy allows 1).
    empty_in_a_row: u32,
    /// Control frames answered (`SETTINGS` and `PING` acks, resets) since
    /// the output was last emptied: a client that sends pings and never
    /// reads the acks fills the output (CVE-2019-9512, -9515).
    control_queued: u32,
}

/// Control frames that may wait in the output (Envoy's
/// `max_outbound_control_frames`).
const MAX_CONTROL_QUEUED: u32 = 1000;

/// Frames with an empty payload allowed in a row (Envoy's
/// `max_consecutive_inbound_frames_with_empty_payload`).
const MAX_EMPTY_IN_A_ROW: u32 = 1;

#[derive(Debug)]
struct PeerSettings {
    max_frame_size: u32,
    initial_window: i64,
}

#[derive(Debug)]
struct Partial {
    stream: u32,
    end_stream: bool,
    fault: Option<ErrorCode>,
    block: Vec<u8>,
}

#[derive(Debug)]
struct Stream {
    /// The client may still send (no `END_STREAM` from it yet).
    recv_open: bool,
    /// This server may still send.
    send_open: bool,
    /// The response head went out.
    answered: bool,
    send_window: Window,
    recv_window: Window,
    /// Flow-controlled bytes the client sent on the stream, and those the
    /// driver gave back: at the stream's end the rest goes back to the
    /// connection's window (data a body never read must not shrink it).
    consumed: u64,
    released: u64,
    /// Given back, not yet announced in a stream `WINDOW_UPDATE`.
    unreleased: u32,
    content_length: Option<u64>,
    received: u64,
    /// `send_data` took less than it was given: say when window opens.
    blocked: bool,
}

impl Connection {
    pub fn new(config: Config) -> Connection {
        let mut connection = Connection {
            config,
            preface_read: false,
            settings_read: false,
            decoder: hpack::Decoder::new(HEADER_TABLE_SIZE),
            encoder: hpack::Encoder::new(),
            out: Vec::with_capacity(4096),
            written: 0,
            block: Vec::new(),
            scratch: BytesMut::new(),
            streams: StreamMap::default(),
            events: VecDeque::new(),
            partial: None,
            highest: 0,
            opened: 0,
            peer: PeerSettings {
                max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
                initial_window: DEFAULT_WINDOW,
            },
            send_window: Window::new(DEFAULT_WINDOW),
            recv_window: Window::new(i64::from(config.initial_connection_window)),
            unreleased: 0,
            going_away: None,
            recently_reset: [0; RECENT],
            recent_at: 0,
            floods: Floods::default(),
        };
        connection.write_preface();
        connection
    }

    /// The server's preface: its `SETTINGS`, and the connection window
    /// raised to the configured size.
    fn write_preface(&mut self) {
        let config = self.config;
        let mut settings = vec![
            Setting::MaxConcurrentStreams(config.max_concurrent_streams),
            Setting::InitialWindowSize(config.initial_stream_window),
            Setting::MaxHeaderListSize(config.max_header_list_size),
        ];
        if config.enable_connect_protocol {
            settings.push(Setting::EnableConnectProtocol(true));
        }
        frame::write_settings(&mut self.out, &settings);
        let raise = i64::from(config.initial_connection_window) - DEFAULT_WINDOW;
        if let Ok(raise @ 1..) = u32::try_from(raise) {
            frame::write_window_update(&mut self.out, 0, raise);
        }
    }

    /// Whether the client's preface has arrived.
    pub fn is_started(&self) -> bool {
        self.preface_read
    }

    /// The next event, in the order the frames came.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to write to the socket.
    pub fn output(&self) -> &[u8] {
        &self.out[self.written..]
    }

    /// `count` bytes of [`Connection::output`] were written.
    pub fn written(&mut self, count: usize) {
        self.written += count;
        if self.written >= self.out.len() {
            self.out.clear();
            self.written = 0;
            self.floods.control_queued = 0;
        }
    }

    /// Streams open (counted against the concurrency limit).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Starts a graceful end: a `GOAWAY` naming the last stream that will
    /// be served; later ones are refused (the client may retry them
    /// elsewhere). The driver ends the connection once no stream is open.
    pub fn go_away(&mut self) {
        if self.going_away.is_none() {
            self.going_away = Some(self.highest);
            frame::write_goaway(&mut self.out, self.highest, ErrorCode::NO_ERROR, &[]);
        }
    }

    /// Whether [`Connection::go_away`] was called.
    pub fn is_going_away(&self) -> bool {
        self.going_away.is_some()
    }

    /// Ends the connection for a fault of the client's.
    fn fail(&mut self, code: ErrorCode, reason: &'static str) -> ConnectionError {
        frame::write_goaway(&mut self.out, self.highest, code, reason.as_bytes());
        self.going_away = Some(self.highest);
        ConnectionError { code, reason }
    }

    /// Remembers a stream reset by this server, to ignore its stragglers.
    fn remember_reset(&mut self, stream: u32) {
        self.recently_reset[self.recent_at] = stream;
        self.recent_at = (self.recent_at + 1) % RECENT;
    }

    fn was_reset(&self, stream: u32) -> bool {
        self.recently_reset.contains(&stream)
    }

    /// Ends a stream's record; what it held of the connection's window
    /// goes back.
    fn remove_stream(&mut self, stream: u32) -> Option<Stream> {
        let open = self.streams.remove(&stream)?;
        let held = open.consumed - open.released;
        self.release_connection(u32::try_from(held).unwrap_or(u32::MAX));
        Some(open)
    }
}

#[cfg(test)]
mod tests;
