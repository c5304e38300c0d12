//! Cuts the bytes a client sends into frames: the connection preface
//! (RFC 9113 §3.4), then one frame at a time, each head checked as soon
//! as its 9 bytes are there.

use bytes::{Buf, BytesMut};

use super::error::{protocol, FrameError};
use super::flags::ACK;
use super::head::{Head, Kind};
use super::{check_head, HEAD_LEN};

/// The client connection preface's fixed part (§3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How far a buffer matches the client connection preface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preface {
    /// The buffer starts with the whole preface.
    Complete,
    /// The buffer is a beginning of the preface (or empty): read more.
    Partial,
    /// The buffer does not start as the preface does.
    Wrong,
}

/// How far `buf` matches the client connection preface.
pub fn preface(buf: &[u8]) -> Preface {
    let len = buf.len().min(PREFACE.len());
    if buf[..len] != PREFACE[..len] {
        Preface::Wrong
    } else if len == PREFACE.len() {
        Preface::Complete
    } else {
        Preface::Partial
    }
}

/// Cuts a client's byte stream into frames. After an error the
/// connection is over: the reader must not be called again.
///
/// ```
/// use vestibule_h2::frame::{self, Frame, Reader, DEFAULT_MAX_FRAME_SIZE, PREFACE};
///
/// let mut input = PREFACE.to_vec();
/// input.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]); // SETTINGS, empty
/// let mut reader = Reader::new(DEFAULT_MAX_FRAME_SIZE);
/// let mut buf = &input[..];
/// while let Some(split) = reader.split(buf)? {
///     match frame::parse(&split.head, split.payload)? {
///         Frame::Settings(_) => { /* apply, then acknowledge */ }
///         _ => { /* and so on */ }
///     }
///     buf = &buf[split.consumed..];
/// }
/// assert!(buf.is_empty());
/// # Ok::<(), frame::FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reader {
    max_frame_size: u32,
    expect: Expect,
}

/// What comes next on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The preface's fixed part, then the client's first SETTINGS, its
    /// second part (§3.4). Left only once that SETTINGS is whole.
    Preface,
    Frame,
}

impl Reader {
    /// A reader for a new connection: the client connection preface
    /// first, then a SETTINGS frame, then any frames. `max_frame_size`
    /// is the SETTINGS_MAX_FRAME_SIZE this endpoint advertised.
    pub fn new(max_frame_size: u32) -> Reader {
        Reader {
            max_frame_size,
            expect: Expect::Preface,
        }
    }

    /// A reader past the preface: any frame comes next.
    pub fn after_preface(max_frame_size: u32) -> Reader {
        Reader {
            max_frame_size,
            expect: Expect::Frame,
        }
    }

    /// The largest frame payload accepted.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Changes the largest frame payload accepted (once the peer has
    /// acknowledged a new SETTINGS_MAX_FRAME_SIZE).
    pub fn set_max_frame_size(&mut self, max_frame_size: u32) {
        self.max_frame_size = max_frame_size;
    }

    /// The next whole frame, taken off the front of `buf`: its head and
    /// exactly `head.length` payload bytes (for [`parse`](super::parse)).
    /// `Ok(None)` until `buf` holds a whole frame; an oversized head is
    /// refused as soon as its 9 bytes are there. The payload shares
    /// `buf`'s allocation (a DATA payload can go on as `Bytes` without a
    /// copy); [`Reader::split`] borrows instead.
    #[inline]
    pub fn next_frame(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<(Head, BytesMut)>, FrameError> {
        let Some(split) = self.split(buf)? else {
            return Ok(None);
        };
        let head = split.head;
        buf.advance(split.consumed - split.payload.len());
        Ok(Some((head, buf.split_to(head.length as usize))))
    }

    /// The next whole frame at the front of `buf`, borrowed: the caller
    /// parses it, then drops the `consumed` bytes from the front of `buf`
    /// before the next call. `Ok(None)` until `buf` holds a whole frame
    /// (and nothing is to be dropped); an oversized head is refused as
    /// soon as its 9 bytes are there.
    #[inline]
    pub fn split<'a>(&mut self, buf: &'a [u8]) -> Result<Option<Split<'a>>, FrameError> {
        let mut at = 0;
        if self.expect == Expect::Preface {
            match preface(buf) {
                Preface::Complete => at = PREFACE.len(),
                Preface::Partial => return Ok(None),
                Preface::Wrong => return Err(protocol("invalid connection preface")),
            }
        }
        let rest = &buf[at..];
        let Some(head) = rest.first_chunk::<HEAD_LEN>().map(Head::parse) else {
            return Ok(None);
        };
        check_head(&head, self.max_frame_size)?;
        if self.expect == Expect::Preface {
            // An ACK cannot be the client's own SETTINGS: it acknowledges
            // ours, and the preface needs the client's first.
            if head.kind != Kind::Settings || head.flags & ACK != 0 {
                return Err(protocol("connection preface not followed by SETTINGS"));
            }
        }
        let Some(payload) = rest.get(HEAD_LEN..HEAD_LEN + head.length as usize) else {
            return Ok(None);
        };
        self.expect = Expect::Frame;
        Ok(Some(Split {
            head,
            payload,
            consumed: at + HEAD_LEN + payload.len(),
        }))
    }
}

/// A whole frame at the front of a buffer, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split<'a> {
    /// The frame's head, checked by [`check_head`].
    pub head: Head,
    /// Exactly `head.length` bytes.
    pub payload: &'a [u8],
    /// How many bytes to drop from the front of the buffer: the frame,
    /// and the connection preface before the first frame.
    pub consumed: usize,
}
