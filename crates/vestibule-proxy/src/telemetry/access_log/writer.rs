//! The thread that writes the workers' buffers to the log's file, one
//! write per buffer.

use std::io::{self, Write as _};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::Batch;

pub(super) enum Message {
    Batch(Batch),
    /// Answered once everything before it is written.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Opens the file (appending; `-` or `/dev/stdout`: the process's standard
/// output) and starts the writer, which takes up to `capacity` waiting
/// messages and puts each buffer it wrote in `spare`, emptied.
pub(super) fn start(
    path: &Path,
    capacity: usize,
    spare: Arc<ArrayQueue<Vec<u8>>>,
) -> io::Result<SyncSender<Message>> {
    let out: Box<dyn io::Write + Send> =
        if path.as_os_str() == "-" || path.as_os_str() == "/dev/stdout" {
            Box::new(io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)?,
            )
        };
    let (sender, receiver) = mpsc::sync_channel(capacity);
    std::thread::Builder::new()
        .name("access-log".to_owned())
        .spawn(move || write_all(&receiver, out, &spare))?;
    Ok(sender)
}

fn write_all(
    receiver: &Receiver<Message>,
    mut out: Box<dyn io::Write + Send>,
    spare: &ArrayQueue<Vec<u8>>,
) {
    while let Ok(message) = receiver.recv() {
        match message {
            Message::Batch(batch) => {
                let written = out.write_all(&batch.text).and_then(|()| out.flush());
                if let Err(error) = written {
                    tracing::warn!(%error, lines = batch.lines, "access log not written");
                }
                let mut text = batch.text;
                text.clear();
                // Full: the buffer is freed instead.
                let _ = spare.push(text);
            }
            Message::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}
