//! The client's frames, one at a time: each changes the connection's
//! state, queues events for the driver, or ends a stream or the
//! connection.

use bytes::{Bytes, BytesMut};

use super::flow::Window;
use super::request::{RequestFields, TrailerFields};
use super::{
    Connection, ConnectionError, Event, Partial, Stream, MAX_CONTROL_QUEUED, MAX_EMPTY_IN_A_ROW,
};
use crate::frame::{self, Frame, FrameError, Head, Setting, HEAD_LEN};
use crate::ErrorCode;

/// The largest frame this server accepts (it does not advertise more).
const MAX_FRAME_SIZE: u32 = frame::DEFAULT_MAX_FRAME_SIZE;

/// A header block may take this many times the header list limit in
/// compressed bytes before the connection is ended (h2's rule against the
/// CONTINUATION flood, CVE-2024-27316).
const BLOCK_ABUSE_FACTOR: usize = 4;

type Result<T = ()> = std::result::Result<T, ConnectionError>;

impl Connection {
    /// Takes every complete frame from `input` (the client's preface first)
    /// and leaves a partial one there. On `Err` the connection is over: the
    /// output holds its `GOAWAY`.
    pub fn recv(&mut self, input: &mut BytesMut) -> Result {
        if !self.preface_read {
            match frame::preface(input) {
                frame::Preface::Partial => return Ok(()),
                frame::Preface::Wrong => {
                    return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "not an HTTP/2 preface"))
                }
                frame::Preface::Complete => {
                    let _ = input.split_to(frame::PREFACE.len());
                    self.preface_read = true;
                }
            }
        }
        while input.len() >= HEAD_LEN {
            let head = Head::parse(input[..HEAD_LEN].try_into().expect("nine bytes"));
            if let Err(error) = frame::check_head(&head, MAX_FRAME_SIZE) {
                return Err(self.frame_error(error).unwrap_err());
            }
            let length = HEAD_LEN + head.length as usize;
            if input.len() < length {
                input.reserve(length - input.len());
                break;
            }
            let bytes = input.split_to(length).freeze();
            self.frame(&head, &bytes.slice(HEAD_LEN..))?;
            if self.floods.control_queued > MAX_CONTROL_QUEUED {
                return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "control frame flood"));
            }
        }
        Ok(())
    }

    fn frame(&mut self, head: &Head, payload: &Bytes) -> Result {
        let parsed = match frame::parse(head, payload) {
            Ok(parsed) => parsed,
            Err(error) => return self.frame_error(error),
        };
        if !self.settings_read {
            // §3.4: the client's preface ends with its SETTINGS.
            if !matches!(parsed, Frame::Settings(frame::Settings::Params(_))) {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "the preface lacks SETTINGS"));
            }
            self.settings_read = true;
        }
        if let Some(partial) = &self.partial {
            // RFC 9113 §6.10: nothing may come between a block's frames.
            let continues =
                matches!(parsed, Frame::Continuation { stream, .. } if stream == partial.stream);
            if !continues {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "a header block interrupted"));
            }
        }
        self.count_empty(&parsed)?;
        match parsed {
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len,
            } => {
                let data = payload.slice_ref(data);
                self.data(stream, data, flow_len, end_stream)
            }
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                block,
                reset,
                ..
            } => {
                let fault = reset.map(|error| error.code());
                self.headers(stream, end_stream, end_headers, block, fault)
            }
            Frame::Continuation {
                stream,
                end_headers,
                block,
            } => self.continuation(stream, end_headers, block),
            Frame::RstStream { stream, code } => self.client_reset(stream, code),
            Frame::Settings(settings) => self.settings(settings),
            Frame::Ping { ack, payload } => {
                if !ack {
                    frame::write_ping(&mut self.out, true, payload);
                    self.floods.control_queued += 1;
                }
                Ok(())
            }
            Frame::GoAway { .. } => {
                // The client opens no more streams; those open finish.
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => self.window_update(stream, increment),
            Frame::PushPromise { .. } => {
                Err(self.fail(ErrorCode::PROTOCOL_ERROR, "PUSH_PROMISE from a client"))
            }
            // PRIORITY is deprecated (RFC 9113 §5.3.2), unknown frames are
            // ignored (§5.5).
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
        }
    }

    /// A frame that breaks a rule: the stream or the connection ends.
    fn frame_error(&mut self, error: FrameError) -> Result {
        match error {
            FrameError::Connection { code, reason } => Err(self.fail(code, reason)),
            // No RST_STREAM on an idle stream (§5.1): a self-dependent
            // PRIORITY can name one; §5.4.1 allows a connection error.
            FrameError::Stream { stream, .. } if stream > self.highest => Err(self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "a stream error on an idle stream",
            )),
            FrameError::Stream { stream, code, .. } => self.reset_for_fault(stream, code),
        }
    }

    /// CVE-2019-9518: frames that carry nothing and end nothing, in a row.
    fn count_empty(&mut self, frame: &Frame<'_>) -> Result {
        let empty = match frame {
            Frame::Data {
                data, end_stream, ..
            } => data.is_empty() && !end_stream,
            Frame::Headers {
                block, end_headers, ..
            }
            | Frame::Continuation {
                block, end_headers, ..
            } => block.is_empty() && !end_headers,
            _ => return Ok(()),
        };
        if !empty {
            self.floods.empty_in_a_row = 0;
            return Ok(());
        }
        self.floods.empty_in_a_row += 1;
        if self.floods.empty_in_a_row > MAX_EMPTY_IN_A_ROW {
            return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "empty frame flood"));
        }
        Ok(())
    }

    /// `fault`: the frame layer found the stream must be reset (it
    /// depends on itself); its block is still decoded.
    fn headers(
        &mut self,
        stream: u32,
        end_stream: bool,
        end_headers: bool,
        block: &[u8],
        fault: Option<ErrorCode>,
    ) -> Result {
        if stream.is_multiple_of(2) {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "an even stream from a client"));
        }
        if end_headers {
            return self.header_block(stream, end_stream, block, fault);
        }
        self.partial = Some(Partial {
            stream,
            end_stream,
            fault,
            block: block.to_vec(),
        });
        self.check_partial_size()
    }

    fn continuation(&mut self, stream: u32, end_headers: bool, block: &[u8]) -> Result {
        let Some(partial) = &mut self.partial else {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "CONTINUATION without HEADERS"));
        };
        debug_assert_eq!(partial.stream, stream);
        partial.block.extend_from_slice(block);
        self.check_partial_size()?;
        if !end_headers {
            return Ok(());
        }
        let partial = self.partial.take().expect("checked above");
        self.header_block(
            partial.stream,
            partial.end_stream,
            &partial.block,
            partial.fault,
        )
    }

    fn check_partial_size(&mut self) -> Result {
        let limit = self.config.max_header_list_size as usize * BLOCK_ABUSE_FACTOR;
        if self.partial.as_ref().is_some_and(|p| p.block.len() > limit) {
            return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "header block flood"));
        }
        Ok(())
    }

    /// A whole header block: a new request, or an open one's trailers.
    fn header_block(
        &mut self,
        stream: u32,
        end_stream: bool,
        block: &[u8],
        fault: Option<ErrorCode>,
    ) -> Result {
        if let Some(code) = fault {
            self.skip_block(block)?;
            self.highest = self.highest.max(stream);
            return self.reset_for_fault(stream, code);
        }
        if let Some(open) = self.streams.get(&stream) {
            if !open.recv_open {
                self.skip_block(block)?;
                return self.reset_for_fault(stream, ErrorCode::STREAM_CLOSED);
            }
            return self.trailers(stream, end_stream, block);
        }
        if stream <= self.highest {
            // Not a new stream, since new ones only count up (§5.1.1's
            // PROTOCOL_ERROR), nor an open one: ignored after a reset of
            // ours (its trailers may have been on the way).
            self.skip_block(block)?;
            if self.was_reset(stream) {
                return Ok(());
            }
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "HEADERS on a closed stream"));
        }
        self.highest = stream;
        self.opened += 1;
        let refused = self.going_away.is_some()
            || self.streams.len() >= self.config.max_concurrent_streams as usize;
        if refused {
            self.skip_block(block)?;
            return self.refuse(stream);
        }
        self.request(stream, end_stream, block)
    }

    /// Decodes a block whose fields are not wanted, to keep the HPACK
    /// table in step.
    fn skip_block(&mut self, block: &[u8]) -> Result {
        let limit = self.config.max_header_list_size as usize;
        match self.decoder.decode(block, limit, |_, _| {}) {
            Ok(_) => Ok(()),
            Err(_) => Err(self.fail(ErrorCode::COMPRESSION_ERROR, "HPACK decoding failed")),
        }
    }

    fn request(&mut self, stream: u32, end_stream: bool, block: &[u8]) -> Result {
        let limit = self.config.max_header_list_size as usize;
        let mut fields = RequestFields::new(self.config.enable_connect_protocol, &mut self.scratch);
        let decoded = self
            .decoder
            .decode(block, limit, |name, value| fields.field(name, value));
        let head = fields.finish();
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(_) => return Err(self.fail(ErrorCode::COMPRESSION_ERROR, "HPACK decoding failed")),
        };
        let window = Window::new(i64::from(self.config.initial_stream_window));
        self.streams.insert(
            stream,
            Stream {
                recv_open: !end_stream,
                send_open: true,
                answered: false,
                send_window: Window::new(self.peer.initial_window),
                recv_window: window,
                consumed: 0,
                released: 0,
                unreleased: 0,
                content_length: None,
                received: 0,
                blocked: false,
            },
        );
        if decoded.over_limit {
            return self.too_large(stream, end_stream);
        }
        let head = match head {
            Ok(head) => head,
            Err(_malformed) => return self.reset_for_fault(stream, ErrorCode::PROTOCOL_ERROR),
        };
        if end_stream && head.content_length.is_some_and(|length| length > 0) {
            return self.reset_for_fault(stream, ErrorCode::PROTOCOL_ERROR);
        }
        if let Some(open) = self.streams.get_mut(&stream) {
            open.content_length = head.content_length;
        }
        self.events.push_back(Event::Request {
            stream,
            request: head.request,
            end_stream,
            content_length: head.content_length,
        });
        Ok(())
    }

    /// A head past the header list limit: 431, as RFC 9113 §10.5.1
    /// suggests and h2 and Envoy answer, and the rest of the request
    /// refused.
    fn too_large(&mut self, stream: u32, end_stream: bool) -> Result {
        let status = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        let _ = self.send_headers(stream, status, &http::HeaderMap::new(), true);
        if !end_stream {
            frame::write_rst_stream(&mut self.out, stream, ErrorCode::NO_ERROR);
            self.floods.control_queued += 1;
        }
        self.remove_stream(stream);
        self.remember_reset(stream);
        Ok(())
    }

    fn trailers(&mut self, stream: u32, end_stream: bool, block: &[u8]) -> Result {
        let limit = self.config.max_header_list_size as usize;
        let mut fields = TrailerFields::new();
        let decoded = self
            .decoder
            .decode(block, limit, |name, value| fields.field(name, value));
        let over_limit = match decoded {
            Ok(decoded) => decoded.over_limit,
            Err(_) => return Err(self.fail(ErrorCode::COMPRESSION_ERROR, "HPACK decoding failed")),
        };
        // Trailers end the stream (RFC 9113 §8.1).
        if !end_stream || over_limit {
            return self.reset_for_fault(stream, ErrorCode::PROTOCOL_ERROR);
        }
        let trailers = match fields.finish() {
            Ok(trailers) => trailers,
            Err(_malformed) => return self.reset_for_fault(stream, ErrorCode::PROTOCOL_ERROR),
        };
        if !self.body_complete(stream) {
            return self.reset_for_fault(stream, ErrorCode::PROTOCOL_ERROR);
        }
        self.end_recv(stream);
        self.events.push_back(Event::Trailers { stream, trailers });
        Ok(())
    }

    fn data(&mut self, stream: u32, data: Bytes, flow_len: u32, end_stream: bool) -> Result {
        if !self.recv_window.take(flow_len) {
            return Err(self.fail(
                ErrorCode::FLOW_CONTROL_ERROR,
                "DATA past the connection window",
            ));
        }
        let Some(open) = self.streams.get_mut(&stream) else {
            // Not passed on: its window goes straight back.
            self.release_connection(flow_len);
            if stream > self.highest {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "DATA on an idle stream"));
            }
            if self.was_reset(stream) {
                return Ok(());
            }
            return self.reset_for_fault(stream, ErrorCode::STREAM_CLOSED);
        };
        open.consumed += u64::from(flow_len);
        if !open.recv_open {
            return self.reset_for_fault(stream, ErrorCode::STREAM_CLOSED);
        }
        if !open.recv_window.take(flow_len) {
            return self.reset_for_fault(stream, ErrorCode::FLOW_CONTROL_ERROR);
        }
        open.received += data.len() as u64;
        let over = open
            .content_length
            .is_some_and(|length| open.received > length);
        if over || (end_stream && !self.body_complete(stream)) {
            return self.reset_for_fault(stream, ErrorCode::PROTOCOL_ERROR);
        }
        // Padding is given back at once; the data when the driver has
        // passed it on.
        let padding = flow_len - data.len() as u32;
        if padding > 0 {
            self.release(stream, padding as usize);
        }
        if end_stream {
            self.end_recv(stream);
        }
        self.events.push_back(Event::Data {
            stream,
            data,
            end_stream,
        });
        Ok(())
    }

    /// RFC 9113 §8.1.1: a body ends at its `content-length`.
    fn body_complete(&self, stream: u32) -> bool {
        self.streams.get(&stream).is_some_and(|open| {
            open.content_length
                .is_none_or(|length| length == open.received)
        })
    }

    fn client_reset(&mut self, stream: u32, code: ErrorCode) -> Result {
        if stream > self.highest {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "RST_STREAM on an idle stream"));
        }
        let Some(open) = self.remove_stream(stream) else {
            return Ok(());
        };
        if !open.answered {
            self.floods.premature_resets += 1;
            let premature = self.floods.premature_resets;
            if premature >= self.config.max_premature_resets && premature * 2 >= self.opened {
                return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "rapid reset"));
            }
        }
        self.events.push_back(Event::Reset { stream, code });
        Ok(())
    }

    fn settings(&mut self, settings: frame::Settings<'_>) -> Result {
        let frame::Settings::Params(params) = settings else {
            return Ok(());
        };
        for setting in params {
            match setting {
                Setting::HeaderTableSize(size) => self.encoder.set_max_table_size(size as usize),
                Setting::InitialWindowSize(size) => self.peer_initial_window(i64::from(size))?,
                Setting::MaxFrameSize(size) => self.peer.max_frame_size = size,
                _ => {}
            }
        }
        frame::write_settings_ack(&mut self.out);
        self.floods.control_queued += 1;
        Ok(())
    }

    /// §6.9.2: a new initial window moves every stream's send window by
    /// the difference.
    fn peer_initial_window(&mut self, size: i64) -> Result {
        let delta = size - self.peer.initial_window;
        self.peer.initial_window = size;
        let mut overflow = false;
        for (&id, open) in &mut self.streams {
            if open.send_window.grow(delta).is_err() {
                overflow = true;
            }
            if delta > 0 && open.blocked && open.send_window.available() > 0 {
                open.blocked = false;
                self.events.push_back(Event::Capacity { stream: id });
            }
        }
        if overflow {
            return Err(self.fail(ErrorCode::FLOW_CONTROL_ERROR, "a window past 2^31-1"));
        }
        Ok(())
    }

    fn window_update(&mut self, stream: u32, increment: u32) -> Result {
        if stream == 0 {
            let was_shut = self.send_window.available() == 0;
            if self.send_window.grow(i64::from(increment)).is_err() {
                return Err(self.fail(
                    ErrorCode::FLOW_CONTROL_ERROR,
                    "connection window past 2^31-1",
                ));
            }
            if was_shut && self.send_window.available() > 0 {
                self.wake_blocked();
            }
            return Ok(());
        }
        let Some(open) = self.streams.get_mut(&stream) else {
            if stream > self.highest {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream"));
            }
            return Ok(());
        };
        if open.send_window.grow(i64::from(increment)).is_err() {
            return self.reset_for_fault(stream, ErrorCode::FLOW_CONTROL_ERROR);
        }
        if open.blocked && open.send_window.available() > 0 && self.send_window.available() > 0 {
            open.blocked = false;
            self.events.push_back(Event::Capacity { stream });
        }
        Ok(())
    }

    /// The connection window opened: every stream that waited may send.
    fn wake_blocked(&mut self) {
        for (&id, open) in &mut self.streams {
            if open.blocked && open.send_window.available() > 0 {
                open.blocked = false;
                self.events.push_back(Event::Capacity { stream: id });
            }
        }
    }

    /// The client's side of a stream ended; the stream is done once ours
    /// has too.
    fn end_recv(&mut self, stream: u32) {
        if let Some(open) = self.streams.get_mut(&stream) {
            open.recv_open = false;
            if !open.send_open {
                self.remove_stream(stream);
            }
        }
    }

    /// A stream refused before it began (over the concurrency limit, or
    /// after our `GOAWAY`): safe for the client to retry.
    fn refuse(&mut self, stream: u32) -> Result {
        frame::write_rst_stream(&mut self.out, stream, ErrorCode::REFUSED_STREAM);
        self.floods.control_queued += 1;
        self.remember_reset(stream);
        Ok(())
    }

    /// A stream error (RFC 9113 §5.4.2) for a fault of the client's:
    /// `RST_STREAM`, and the driver drops the stream's exchange. Too many
    /// end the connection (MadeYouReset).
    pub(super) fn reset_for_fault(&mut self, stream: u32, code: ErrorCode) -> Result {
        frame::write_rst_stream(&mut self.out, stream, code);
        self.floods.control_queued += 1;
        self.remember_reset(stream);
        if self.remove_stream(stream).is_some() {
            self.events.push_back(Event::Reset { stream, code });
        }
        self.floods.local_resets += 1;
        if self.floods.local_resets > self.config.max_local_resets {
            return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "too many stream errors"));
        }
        Ok(())
    }
}
