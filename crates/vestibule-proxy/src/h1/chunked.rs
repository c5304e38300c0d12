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

/// One CRLF-terminated line without its CRLF, or `None` if incomplete. A
/// line longer than [`MAX_LINE`] is refused however it arrives: whole, or
/// in pieces that pass the limit before its end.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, InvalidChunk> {
    let window = &buf[..buf.len().min(MAX_LINE + 2)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let line = buf.split_to(end);
            buf.advance(2);
            Ok(Some(line))
        }
        None if buf.len() >= MAX_LINE + 2 => Err(InvalidChunk),
        None => Ok(None),
    }
}

/// `chunk-size [ BWS ";" chunk-ext ]` (RFC 9112 §7.1): hex digits only
/// (no sign, no `0x`, no leading space: readings other parsers disagree
/// on), at most 15 of them (no overflow), whitespace only before an
/// extension, and no CR or LF inside the line.
fn parse_size(line: &[u8]) -> Result<u64, InvalidChunk> {
    if line.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(InvalidChunk);
    }
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    let rest = rest.trim_ascii_start();
    if digits.is_empty() || digits.len() > 15 || !(rest.is_empty() || rest[0] == b';') {
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
        for size_line in [
            &b"0x5"[..],
            b" 5",
            b"-5",
            b"+5",
            b"5 5",
            b"5\n",
            b"5;a\nb",
            b"",
            b"g",
        ] {
            let mut body = size_line.to_vec();
            body.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
            assert!(
                decode(&[&body]).is_err(),
                "{:?}",
                String::from_utf8_lossy(size_line)
            );
        }
        // A line past the limit is refused whole or in pieces.
        let long = format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(MAX_LINE));
        assert!(decode(&[long.as_bytes()]).is_err());
        let (a, b) = long.as_bytes().split_at(MAX_LINE / 2);
        assert!(decode(&[a, b]).is_err());
        // LF-only lines never end a size line.
        assert!(decode(&[b"5\nhello\n0\n\n"]).is_err());
        assert_eq!(
            decode(&[b"5 ;x=y\r\nhello\r\n0 \r\n\r\n"]).unwrap(),
            b"hello"
        );
    }
}
