//! Writing a message body after its head, shared by both directions:
//! what is ready at once is gathered with the head into one write; the
//! writer waits for the body only after flushing what it has.

use bytes::Bytes;
use futures_util::FutureExt as _;
use http_body::Body;
use http_body_util::BodyExt as _;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::encode;
use crate::body::BoxError;

/// Body bytes gathered before a write; larger frames are written directly.
const COALESCE_LIMIT: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("body failed: {0}")]
    Body(BoxError),
}

/// Writes `out` (a head, possibly empty), then the body, chunk-encoded when
/// `chunked`, counting the body bytes taken into `sent` (also when the
/// writing fails part way). `before_split` runs
/// once, before the first write that is not the last: a message that goes
/// out in one write needs nothing more.
pub(crate) async fn write_body<S, B, F>(
    stream: &mut S,
    out: &mut Vec<u8>,
    body: &mut B,
    chunked: bool,
    before_split: F,
    sent: &mut u64,
) -> Result<(), WriteError>
where
    S: AsyncWrite + Unpin,
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
    F: FnOnce(&mut S),
{
    let mut before_split = Some(before_split);
    let mut split = |stream: &mut S| {
        if let Some(hook) = before_split.take() {
            hook(stream);
        }
    };
    loop {
        let frame = match body.frame().now_or_never() {
            Some(frame) => frame,
            None => {
                split(stream);
                flush(stream, out).await?;
                body.frame().await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(error)) => return Err(WriteError::Body(error)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // Trailers are not carried over HTTP/1.1 here.
                Err(_) => continue,
            },
        };
        if data.is_empty() {
            continue;
        }
        *sent += data.len() as u64;
        if chunked {
            encode::chunk_start(out, data.len());
        }
        if data.len() <= COALESCE_LIMIT {
            out.extend_from_slice(&data);
        } else {
            split(stream);
            flush(stream, out).await?;
            stream.write_all(&data).await?;
        }
        if chunked {
            out.extend_from_slice(encode::CHUNK_END);
        }
        if out.len() >= COALESCE_LIMIT {
            split(stream);
            flush(stream, out).await?;
        }
    }
    if chunked {
        out.extend_from_slice(encode::LAST_CHUNK);
    }
    flush(stream, out).await?;
    Ok(())
}

pub(crate) async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    if !out.is_empty() {
        stream.write_all(out).await?;
        out.clear();
    }
    Ok(())
}
