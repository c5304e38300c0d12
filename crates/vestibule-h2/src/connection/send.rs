//! What the driver sends on a stream: the response head, the body as the
//! client's windows allow, trailers, a reset; and the windows it gives
//! back as it passes request bodies on.

use http::{HeaderMap, StatusCode};

use super::{Connection, StreamGone};
use crate::frame;
use crate::hpack::Encoder;
use crate::ErrorCode;

impl Connection {
    /// The response head from a map. Connection-specific fields (RFC 9113
    /// §8.2.2) are left out: an HTTP/1.1 upstream's may reach here.
    pub fn send_headers(
        &mut self,
        stream: u32,
        status: StatusCode,
        headers: &HeaderMap,
        end_stream: bool,
    ) -> Result<(), StreamGone> {
        self.send_head(stream, status, end_stream, |head| {
            for (name, value) in headers {
                head.field_of(
                    name.as_str().as_bytes(),
                    value.as_bytes(),
                    value.is_sensitive(),
                );
            }
        })
    }

    /// The response head, its fields written by `fields` (names in lower
    /// case), for heads that are not in a map.
    pub fn send_head(
        &mut self,
        stream: u32,
        status: StatusCode,
        end_stream: bool,
        fields: impl FnOnce(&mut HeadWriter<'_>),
    ) -> Result<(), StreamGone> {
        let open = self.streams.get_mut(&stream).ok_or(StreamGone(stream))?;
        if !open.send_open || open.answered {
            return Err(StreamGone(stream));
        }
        open.answered = true;
        let mut block = std::mem::take(&mut self.block);
        block.clear();
        self.encoder.begin(&mut block);
        self.encoder.status(status.as_u16(), &mut block);
        fields(&mut HeadWriter {
            encoder: &mut self.encoder,
            block: &mut block,
        });
        frame::write_headers(
            &mut self.out,
            stream,
            &block,
            end_stream,
            self.peer.max_frame_size,
        );
        self.block = block;
        if end_stream {
            self.end_send(stream);
        }
        Ok(())
    }

    /// Trailers, which end the stream.
    pub fn send_trailers(&mut self, stream: u32, trailers: &HeaderMap) -> Result<(), StreamGone> {
        let open = self.streams.get(&stream).ok_or(StreamGone(stream))?;
        if !open.send_open || !open.answered {
            return Err(StreamGone(stream));
        }
        let mut block = std::mem::take(&mut self.block);
        block.clear();
        self.encoder.begin(&mut block);
        let mut head = HeadWriter {
            encoder: &mut self.encoder,
            block: &mut block,
        };
        for (name, value) in trailers {
            head.field_of(
                name.as_str().as_bytes(),
                value.as_bytes(),
                value.is_sensitive(),
            );
        }
        frame::write_headers(
            &mut self.out,
            stream,
            &block,
            true,
            self.peer.max_frame_size,
        );
        self.block = block;
        self.end_send(stream);
        Ok(())
    }

    /// Bytes the stream may send now (its window and the connection's).
    pub fn capacity(&self, stream: u32) -> usize {
        self.streams.get(&stream).map_or(0, |open| {
            open.send_window
                .available()
                .min(self.send_window.available())
        })
    }

    /// Sends as much of `data` as the windows allow, in frames of the
    /// client's size, and returns how much that was. `end_stream` takes
    /// effect only if all of it went: otherwise the stream waits for an
    /// [`Event::Capacity`](super::Event::Capacity) and the rest is given again.
    pub fn send_data(
        &mut self,
        stream: u32,
        data: &[u8],
        end_stream: bool,
    ) -> Result<usize, StreamGone> {
        let capacity = self.capacity(stream);
        let open = self.streams.get_mut(&stream).ok_or(StreamGone(stream))?;
        if !open.send_open || !open.answered {
            return Err(StreamGone(stream));
        }
        let taken = data.len().min(capacity);
        let ends = end_stream && taken == data.len();
        open.blocked = taken < data.len();
        if taken == 0 && !ends {
            return Ok(0);
        }
        // Fits in u32: windows are below 2^31.
        let amount = taken as u32;
        let _ = open.send_window.take(amount);
        let _ = self.send_window.take(amount);
        let max = self.peer.max_frame_size as usize;
        let mut rest = &data[..taken];
        loop {
            let (piece, after) = rest.split_at(rest.len().min(max));
            let last = after.is_empty();
            let head = frame::data_head(stream, piece.len() as u32, last && ends);
            self.out.extend_from_slice(&head);
            self.out.extend_from_slice(piece);
            rest = after;
            if last {
                break;
            }
        }
        if ends {
            self.end_send(stream);
        }
        Ok(taken)
    }

    /// Resets a stream this server gives up on (its upstream failed, or
    /// its exchange was dropped).
    pub fn reset(&mut self, stream: u32, code: ErrorCode) {
        if self.remove_stream(stream).is_some() {
            frame::write_rst_stream(&mut self.out, stream, code);
            self.remember_reset(stream);
        }
    }

    /// The driver is done with a stream. A request still sending is told
    /// to stop without error once its response is complete (RFC 9113
    /// §8.1), or cancelled if the response never finished.
    pub fn finish(&mut self, stream: u32) {
        let Some(open) = self.streams.get(&stream) else {
            return;
        };
        let code = if open.send_open {
            ErrorCode::CANCEL
        } else {
            ErrorCode::NO_ERROR
        };
        self.reset(stream, code);
    }

    /// `amount` bytes of a request body were passed on: the client may
    /// send as much again. Window updates go out once half a window is
    /// owed, not per frame. Bytes of a stream that has ended went back
    /// with it.
    pub fn release(&mut self, stream: u32, amount: usize) {
        let threshold = self.config.initial_stream_window / 2;
        let Some(open) = self.streams.get_mut(&stream) else {
            return;
        };
        let amount = u32::try_from(amount).unwrap_or(u32::MAX);
        let amount = amount.min(u32::try_from(open.consumed - open.released).unwrap_or(u32::MAX));
        open.released += u64::from(amount);
        open.unreleased = open.unreleased.saturating_add(amount);
        // Never an increment of 0 (a PROTOCOL_ERROR, RFC 9113 §6.9): with a
        // window of 0 or 1 the threshold is 0.
        let owed = if open.recv_open && open.unreleased > 0 && open.unreleased >= threshold {
            let owed = std::mem::take(&mut open.unreleased);
            let _ = open.recv_window.grow(i64::from(owed));
            Some(owed)
        } else {
            None
        };
        if let Some(owed) = owed {
            frame::write_window_update(&mut self.out, stream, owed);
        }
        self.release_connection(amount);
    }

    pub(super) fn release_connection(&mut self, amount: u32) {
        self.unreleased = self.unreleased.saturating_add(amount);
        if self.unreleased > 0 && self.unreleased >= self.config.initial_connection_window / 2 {
            let owed = std::mem::take(&mut self.unreleased);
            let _ = self.recv_window.grow(i64::from(owed));
            frame::write_window_update(&mut self.out, 0, owed);
        }
    }

    /// This server's side of a stream ended; the stream is done once the
    /// client's has too.
    fn end_send(&mut self, stream: u32) {
        if let Some(open) = self.streams.get_mut(&stream) {
            open.send_open = false;
            open.blocked = false;
            if !open.recv_open {
                self.remove_stream(stream);
            }
        }
    }
}

/// Writes a head's fields into its block.
pub struct HeadWriter<'a> {
    encoder: &'a mut Encoder,
    block: &'a mut Vec<u8>,
}

impl HeadWriter<'_> {
    /// One field (its name in lower case). Connection-specific fields
    /// (RFC 9113 §8.2.2, `te` included: it has no place in a response)
    /// are left out.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        self.field_of(name, value, false);
    }

    /// One field; `sensitive`: never indexed (RFC 7541 §6.2.3).
    pub fn field_of(&mut self, name: &[u8], value: &[u8], sensitive: bool) {
        if is_connection_specific(name) {
            return;
        }
        self.encoder.field(name, value, sensitive, self.block);
    }
}

/// RFC 9113 §8.2.2's connection-specific fields, `proxy-connection` (which
/// h2, nghttp2 and Envoy refuse too) and `te`, by their lower-case names.
fn is_connection_specific(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection"
            | b"keep-alive"
            | b"proxy-connection"
            | b"transfer-encoding"
            | b"upgrade"
            | b"te"
    )
}
