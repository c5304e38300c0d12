//! The body of a watch response: newline-delimited JSON events over a
//! chunked response, ended by `timeoutSeconds`, by the server (compaction
//! with closing, an outage, the type's removal), or by the client going.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use hyper::body::Frame;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// What the store hands an open watch.
#[derive(Debug, Clone)]
pub(crate) enum WatchMsg {
    /// An event line: ADDED, MODIFIED, DELETED or BOOKMARK with its object.
    Event(&'static str, Value),
    /// An ERROR event carrying a `Status`.
    Error(Value),
    /// The server ends the stream.
    End,
}

/// The response body stream for a watch lasting at most `timeout`.
pub(crate) fn body_stream(
    rx: UnboundedReceiver<WatchMsg>,
    timeout: Duration,
) -> impl Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static {
    let deadline = Instant::now() + timeout;
    stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .ok()
            .flatten()?;
        let line = match msg {
            WatchMsg::Event(ty, obj) => json!({ "type": ty, "object": obj }),
            WatchMsg::Error(status) => json!({ "type": "ERROR", "object": status }),
            WatchMsg::End => return None,
        };
        let mut bytes = serde_json::to_vec(&line).expect("a JSON value serializes");
        bytes.push(b'\n');
        Some((Ok(Frame::data(Bytes::from(bytes))), Some(rx)))
    })
}
