//! The `h2_connection` target: a [`Connection`] fed a client's arbitrary
//! bytes in arbitrary pieces, while a driver answers its streams every way
//! the proxy's may (heads, bodies short of window, trailers, resets,
//! request bodies given back or not, output written or left to pile up).
//! Everything the server writes is read back by the client's [`Peer`].

use std::collections::HashSet;

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::peer::Peer;
use crate::frame::PREFACE;
use crate::{Config, Connection, ErrorCode, Event};

/// Bytes before the client's: two pick the [`Config`], one the piece
/// sizes and the writer's habits, two seed the driver's choices.
const SETUP: usize = 5;

/// The input: `SETUP` bytes, then what the client sends after its preface.
pub(super) fn run(data: &[u8]) {
    let Some((setup, client)) = data.split_first_chunk::<SETUP>() else {
        return;
    };
    let seed = u64::from(u16::from_le_bytes([setup[3], setup[4]]));
    let mut driver = Driver {
        server: Connection::new(config(setup[0], setup[1])),
        max_concurrent: config(setup[0], setup[1]).max_concurrent_streams as usize,
        peer: Peer::new(),
        input: BytesMut::new(),
        checked: 0,
        rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
        lazy_writer: setup[2] & 0x80 != 0,
        exchanges: Vec::new(),
        done: Vec::new(),
        bodies: Vec::new(),
        last_request: 0,
        body_open: HashSet::new(),
        waiting: HashSet::new(),
    };
    driver.check_output();
    let max_piece = [1, 4, 9, 64, 1024, usize::MAX][usize::from(setup[2] & 0x7f) % 6];
    let mut wire = PREFACE.to_vec();
    wire.extend_from_slice(client);
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let len = 1 + driver.rng.below(max_piece.min(rest.len()));
        let (piece, after) = rest.split_at(len);
        rest = after;
        if !driver.feed(piece) {
            return;
        }
    }
    driver.wind_down();
}

/// Small windows and limits, so that a short input reaches them.
fn config(a: u8, b: u8) -> Config {
    let pick = |value: u8, shift: u8, of: &[u32]| of[usize::from(value >> shift) % of.len()];
    Config {
        max_concurrent_streams: pick(a, 0, &[1, 2, 3, 100]),
        initial_stream_window: pick(a, 2, &[1, 16, 1000, 65_536]),
        initial_connection_window: pick(a, 4, &[65_535, 70_000, 1 << 20]),
        max_header_list_size: pick(b, 0, &[64, 1000, 60 * 1024]),
        enable_connect_protocol: a & 0x80 != 0,
        max_premature_resets: pick(b, 2, &[2, 100]),
        max_local_resets: pick(b, 3, &[3, 1024]),
    }
}

/// splitmix64: the driver's choices, reproducible from the input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

struct Driver {
    server: Connection,
    max_concurrent: usize,
    peer: Peer,
    /// Client bytes the server has not consumed.
    input: BytesMut,
    /// Bytes of `server.output()` the peer has read.
    checked: usize,
    rng: Rng,
    /// Writes the output rarely: the control-frame limit's case.
    lazy_writer: bool,
    /// Streams with a request, and whether their head went out.
    exchanges: Vec<(u32, bool)>,
    /// Streams the driver finished with (every `send_*` must fail).
    done: Vec<u32>,
    /// Request body bytes not yet given back.
    bodies: Vec<(u32, usize)>,
    last_request: u32,
    /// Requests whose body may still come.
    body_open: HashSet<u32>,
    /// Streams `send_data` took less from, not yet told of room.
    waiting: HashSet<u32>,
}

impl Driver {
    /// One piece of client bytes, then the driver's turn. False once the
    /// connection has ended.
    fn feed(&mut self, piece: &[u8]) -> bool {
        let pending = self.input.len();
        let mut fed = self.input.clone();
        fed.extend_from_slice(piece);
        self.input.extend_from_slice(piece);
        let result = self.server.recv(&mut self.input);
        let consumed = pending + piece.len() - self.input.len();
        self.peer.client_sent(&fed[..consumed]);
        self.check_output();
        if result.is_err() {
            return false;
        }
        self.events();
        self.check_waiting();
        for _ in 0..self.rng.below(5) {
            self.act();
        }
        true
    }

    /// Reads what the server wrote since the last look, and checks the
    /// bounds a client cannot see.
    fn check_output(&mut self) {
        let output = self.server.output();
        self.peer.server_wrote(&output[self.checked..]);
        self.checked = output.len();
        assert!(
            self.server.open_streams() <= self.max_concurrent,
            "{} streams open, {} allowed",
            self.server.open_streams(),
            self.max_concurrent
        );
    }

    /// The events, checked for order: a request's body and trailers
    /// follow its head, and nothing follows its end or its reset.
    fn events(&mut self) {
        while let Some(event) = self.server.next_event() {
            match event {
                Event::Request {
                    stream, end_stream, ..
                } => {
                    assert!(stream > self.last_request && stream % 2 == 1, "{stream}");
                    self.last_request = stream;
                    self.exchanges.push((stream, false));
                    self.body_open.insert(stream);
                    if end_stream {
                        self.body_open.remove(&stream);
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    self.body_goes_on(stream, end_stream);
                    self.bodies.push((stream, data.len()));
                }
                Event::Trailers { stream, .. } => self.body_goes_on(stream, true),
                Event::Reset { stream, .. } => {
                    self.body_open.remove(&stream);
                    self.forget(stream);
                }
                Event::Capacity { stream } => {
                    self.waiting.remove(&stream);
                }
            }
        }
    }

    /// A response short of window is told when it may go on: once the
    /// client's frames have given a waiting stream room, its
    /// [`Event::Capacity`] has come (else the response would stall).
    fn check_waiting(&self) {
        for &stream in &self.waiting {
            assert_eq!(
                self.server.capacity(stream),
                0,
                "stream {stream} has room and was not told"
            );
        }
    }

    fn body_goes_on(&mut self, stream: u32, ends: bool) {
        assert!(
            self.body_open.contains(&stream),
            "body or trailers on stream {stream}, whose request ended or never began"
        );
        if ends {
            self.body_open.remove(&stream);
        }
    }

    fn forget(&mut self, stream: u32) {
        self.waiting.remove(&stream);
        self.exchanges.retain(|&(id, _)| id != stream);
        self.done.push(stream);
    }

    /// One of the driver's moves, at random.
    fn act(&mut self) {
        match self.rng.below(12) {
            0..=2 => self.answer(),
            3..=5 => self.send_body(),
            6 => self.send_trailers(),
            7 => self.give_up(),
            8 | 9 => self.release(),
            10 if self.rng.one_in(8) => self.server.go_away(),
            _ => self.write(),
        }
        self.check_output();
    }

    /// A stream to act on: mostly one still in play, sometimes one done.
    fn pick(&mut self) -> Option<(u32, bool)> {
        if !self.done.is_empty() && self.rng.one_in(6) {
            let stream = self.done[self.rng.below(self.done.len())];
            return Some((stream, true));
        }
        if self.exchanges.is_empty() {
            return None;
        }
        let (stream, _) = self.exchanges[self.rng.below(self.exchanges.len())];
        Some((stream, false))
    }

    fn answer(&mut self) {
        let Some((stream, done)) = self.pick() else {
            return;
        };
        let status = [200, 204, 404, 503, 299][self.rng.below(5)];
        let headers = self.fields();
        let end = self.rng.one_in(4);
        let status = StatusCode::from_u16(status).expect("a status");
        let sent = self.server.send_headers(stream, status, &headers, end);
        assert!(
            !(done && sent.is_ok()),
            "a head on finished stream {stream}"
        );
        if sent.is_ok() {
            for exchange in &mut self.exchanges {
                if exchange.0 == stream {
                    exchange.1 = true;
                }
            }
            if end {
                self.forget(stream);
            }
        }
    }

    /// Response fields, some repeated (the HPACK table) and some long
    /// (CONTINUATION at the client's frame size).
    fn fields(&mut self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for _ in 0..self.rng.below(4) {
            let len = [0, 5, 300, 20_000][self.rng.below(4)];
            let value = "v".repeat(len) + &self.rng.below(4).to_string();
            let mut value = HeaderValue::from_str(&value).expect("a value");
            value.set_sensitive(self.rng.one_in(4));
            let name = ["content-type", "x-custom", "set-cookie", "connection"][self.rng.below(4)];
            headers.append(name, value);
        }
        headers
    }

    fn send_body(&mut self) {
        let Some((stream, done)) = self.pick() else {
            return;
        };
        let len = [0, 1, 100, 20_000, 70_000][self.rng.below(5)];
        let end = self.rng.one_in(3);
        let capacity = self.server.capacity(stream);
        let body = vec![b'x'; len];
        // Gone, ended, or not answered yet: nothing is written.
        let Ok(taken) = self.server.send_data(stream, &body, end) else {
            return;
        };
        assert!(!done, "DATA accepted on finished stream {stream}");
        assert_eq!(capacity, self.peer.capacity(stream), "stream {stream}");
        assert_eq!(taken, len.min(capacity), "stream {stream}");
        if taken < len {
            self.waiting.insert(stream);
        } else {
            self.waiting.remove(&stream);
        }
        if end && taken == len {
            self.forget(stream);
        }
    }

    fn send_trailers(&mut self) {
        let Some((stream, done)) = self.pick() else {
            return;
        };
        let mut trailers = self.fields();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let sent = self.server.send_trailers(stream, &trailers);
        assert!(
            !(done && sent.is_ok()),
            "trailers on finished stream {stream}"
        );
        if sent.is_ok() {
            self.forget(stream);
        }
    }

    fn give_up(&mut self) {
        let Some((stream, _)) = self.pick() else {
            return;
        };
        if self.rng.one_in(2) {
            self.server.finish(stream);
        } else {
            let code = [ErrorCode::CANCEL, ErrorCode::INTERNAL_ERROR][self.rng.below(2)];
            self.server.reset(stream, code);
        }
        self.forget(stream);
    }

    /// Gives back a piece of request body (sometimes more than it was, or
    /// a part).
    fn release(&mut self) {
        if self.bodies.is_empty() {
            return;
        }
        let (stream, len) = self.bodies.swap_remove(self.rng.below(self.bodies.len()));
        let amount = match self.rng.below(4) {
            0 => len / 2,
            1 => len + 1000,
            _ => len,
        };
        self.server.release(stream, amount);
    }

    /// Writes some of the output (a lazy writer seldom does).
    fn write(&mut self) {
        if self.lazy_writer && !self.rng.one_in(50) {
            return;
        }
        let len = self.server.output().len();
        let count = if self.rng.one_in(4) {
            self.rng.below(len + 1)
        } else {
            len
        };
        self.server.written(count);
        self.checked -= count;
    }

    /// The input is over: the driver answers and finishes what is left.
    fn wind_down(&mut self) {
        for _ in 0..64 {
            self.act();
        }
        let streams: Vec<u32> = self.exchanges.iter().map(|&(id, _)| id).collect();
        for stream in streams {
            self.server.finish(stream);
            self.check_output();
        }
    }
}
