//! Decoding a `Transfer-Encoding: chunked` body (RFC 9112 §7.1) from a
//! buffer that fills as bytes arrive. Chunk extensions and trailer fields
//! are read and dropped.

use bytes::{Buf, Bytes, BytesMut};

/// Longest size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Expecting a size line.
    Size,
    /// Inside a chunk's data.
    Data(u64),
    /// After a chunk's data, expecting CRLF.
    DataEnd,
    /// After the last chunk, reading trailer lines up to the empty one.
    Trailers,
    Done,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid chunked encoding")]
pub(crate) struct InvalidChunk;

/// What one step of decoding produced.
pub(crate) enum Step {
    Data(Bytes),
    /// Needs more bytes.
    More,
    Done,
}

impl Chunked {
    /// Decodes from `buf` until it yields data, needs more, or ends.
    pub(crate) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, InvalidChunk> {
        loop {
            match *self {
                Chunked::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    let size = parse_size(&line)?;
                    *self = if size == 0 {
                        Chunked::Trailers
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    let data = buf.split_to(n).freeze();
                    let left = remaining - n as u64;
                    *self = if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    };
                    return Ok(Step::Data(data));
                }
                Chunked::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(InvalidChunk);
                    }
                    buf.advance(2);
                    *self = Chunked::Size;
                }
                Chunked::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    if line.is_empty() {
                        *self = Chunked::Done;
                    }
                }
                Chunked::Done => return Ok(Step::Done),
            }
        }
    }
}

/// One CRLF-terminated line without its CRLF, or `None` if incomplete.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, InvalidChunk> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let line = buf.split_to(end);
            buf.advance(2);
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err(InvalidChunk),
        None => Ok(None),
    }
}

fn parse_size(line: &[u8]) -> Result<u64, InvalidChunk> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or(&[])
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(InvalidChunk);
    }
    let text = std::str::from_utf8(digits).map_err(|_| InvalidChunk)?;
    u64::from_str_radix(text, 16).map_err(|_| InvalidChunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> Result<Vec<u8>, InvalidChunk> {
        let mut state = Chunked::Size;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match state.step(&mut buf)? {
                    Step::Data(data) => out.extend_from_slice(&data),
                    Step::More => break,
                    Step::Done => return Ok(out),
                }
            }
        }
        Err(InvalidChunk)
    }

    #[test]
    fn decodes_across_arbitrary_splits() {
        let whole: &[u8] = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";
        assert_eq!(decode(&[whole]).unwrap(), b"hello world");
        for cut in 1..whole.len() {
            let (a, b) = whole.split_at(cut);
            assert_eq!(decode(&[a, b]).unwrap(), b"hello world", "cut at {cut}");
        }
    }

    #[test]
    fn rejects_malformed_chunks() {
        assert!(decode(&[b"zz\r\n"]).is_err());
        assert!(decode(&[b"3\r\nabcX\r\n0\r\n\r\n"]).is_err());
        assert!(decode(&[b"ffffffffffffffffff\r\n"]).is_err());
    }
}
