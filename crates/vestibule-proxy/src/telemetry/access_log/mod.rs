//! The access log, in Istio's default format (Envoy's text format with
//! Istio's fields) or its JSON encoding.
//!
//! The shape is nginx's `access_log … buffer=64k flush=…`: each worker
//! formats a finished request's line into a buffer of its own
//! ([`buffer`]), and hands the buffer whole to one writer thread
//! ([`writer`]) once it holds 64 KiB, or [`FLUSH_INTERVAL`] after its
//! first line. A request pays for its line's formatting and nothing else:
//! no lock, no entry copied through a channel, no wake-up of another
//! thread. It never waits: a buffer the writer has no room for is dropped,
//! and its lines counted.

mod buffer;
mod format;
mod writer;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use tokio::sync::Notify;

pub(crate) use format::{Address, Ends, Record};

/// How long a line may wait in its worker's buffer.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// A worker's buffer is handed to the writer once it holds this much.
const BATCH_SIZE: usize = 64 * 1024;

/// Buffers that may wait for the writer (4 MiB of lines); beyond, a
/// buffer is dropped and its lines counted.
const WAITING_BATCHES: usize = 64;

/// How long [`AccessLog::flush`] waits for the workers and the writer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Istio's `accessLogEncoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Text,
    Json,
}

/// Istio's `accessLogFile` and `accessLogEncoding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// On from the start (Istio's `accessLogFile` set); off, an Istio
    /// Telemetry can still turn it on.
    pub enabled: bool,
    /// A file appended to; `/dev/stdout` (Istio's usual) or `-` for the
    /// process's standard output.
    pub path: PathBuf,
    pub encoding: Encoding,
}

impl Default for AccessLogConfig {
    /// Off; to standard output in Istio's text format once turned on.
    fn default() -> AccessLogConfig {
        AccessLogConfig {
            enabled: false,
            path: PathBuf::from("/dev/stdout"),
            encoding: Encoding::Text,
        }
    }
}

/// The request path's end of the log.
pub(crate) struct AccessLog {
    sink: Arc<Sink>,
}

/// What the workers' buffers go to, shared by them all.
struct Sink {
    sender: SyncSender<writer::Message>,
    encoding: Encoding,
    dropped: AtomicU64,
    /// Workers' buffers holding lines not yet handed over.
    pending: AtomicUsize,
    /// Wakes the workers' flush timers (for [`AccessLog::flush`]).
    flush_now: Notify,
    /// Buffers the writer has emptied, for the workers to fill again: a
    /// new 68 KiB buffer per batch cost jemalloc's large-allocation path
    /// and fresh pages (about 560 instructions a request, measured).
    spare: Arc<ArrayQueue<Vec<u8>>>,
}

/// A worker's lines, handed to the writer whole.
struct Batch {
    text: Vec<u8>,
    lines: u64,
}

impl AccessLog {
    /// Opens the file and starts the writer.
    pub(crate) fn start(config: &AccessLogConfig) -> io::Result<AccessLog> {
        let spare = Arc::new(ArrayQueue::new(WAITING_BATCHES));
        let sender = writer::start(&config.path, WAITING_BATCHES, Arc::clone(&spare))?;
        Ok(AccessLog {
            sink: Arc::new(Sink {
                sender,
                encoding: config.encoding,
                dropped: AtomicU64::new(0),
                pending: AtomicUsize::new(0),
                flush_now: Notify::new(),
                spare,
            }),
        })
    }

    /// Adds a finished request's line to this worker's buffer.
    pub(crate) fn write(&self, record: &Record<'_>) {
        buffer::append(&self.sink, record);
    }

    /// Lines dropped because the writer fell behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.sink.dropped.load(Ordering::Relaxed)
    }

    /// Waits (a bounded while) until every line written so far is in the
    /// file: the workers hand over their buffers, then the writer writes.
    pub(crate) async fn flush(&self) {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        while self.sink.pending.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            self.sink.flush_now.notify_waiters();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (done, written) = tokio::sync::oneshot::channel();
        if self.sink.sender.send(writer::Message::Flush(done)).is_ok() {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = tokio::time::timeout(left, written).await;
        }
    }
}

impl Sink {
    /// Hands a batch to the writer; never waits for room.
    fn hand_over(&self, batch: Batch) {
        let lines = batch.lines;
        match self.sender.try_send(writer::Message::Batch(batch)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(lines, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Context;

    /// A log file of its own, removed when dropped.
    struct LogFile(PathBuf);

    impl LogFile {
        fn new(name: &str) -> LogFile {
            let path =
                std::env::temp_dir().join(format!("vestibule-{name}-{}.log", std::process::id()));
            let _ = std::fs::remove_file(&path);
            LogFile(path)
        }

        fn lines(&self) -> usize {
            std::fs::read_to_string(&self.0).map_or(0, |text| text.lines().count())
        }
    }

    impl Drop for LogFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn start(file: &LogFile) -> AccessLog {
        AccessLog::start(&AccessLogConfig {
            enabled: true,
            path: file.0.clone(),
            encoding: Encoding::Text,
        })
        .unwrap()
    }

    fn write_lines(log: &AccessLog, count: usize) {
        let context = Context::new(80);
        for _ in 0..count {
            log.write(&Record {
                context: &context,
                addresses: None,
                status: 200,
                sent: 2,
                duration: Duration::from_millis(1),
            });
        }
    }

    /// A worker's lines wait in its buffer, and its timer hands them over
    /// a flush interval later, with nothing else happening.
    #[tokio::test]
    async fn a_workers_lines_reach_the_file_a_flush_interval_later() {
        let file = LogFile::new("timer");
        let log = start(&file);
        write_lines(&log, 3);
        tokio::time::sleep(FLUSH_INTERVAL / 4).await;
        assert_eq!(file.lines(), 0, "written before the flush interval");
        let deadline = Instant::now() + FLUSH_INTERVAL * 10;
        while file.lines() < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(file.lines(), 3);
        assert_eq!(log.dropped(), 0);
    }

    /// A full buffer goes to the writer at once, without its timer.
    #[tokio::test]
    async fn a_full_buffer_is_handed_over_at_once() {
        let file = LogFile::new("full");
        let log = start(&file);
        // Lines without a request are some 150 bytes: 1,000 fill 64 KiB.
        write_lines(&log, 1000);
        let deadline = Instant::now() + FLUSH_INTERVAL / 2;
        while file.lines() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let written = file.lines();
        assert!(written > 0 && written < 1000, "{written} lines written");
    }

    /// A buffer the writer has written goes back to the workers, emptied,
    /// and the next batch is formatted into it.
    #[tokio::test]
    async fn a_written_buffer_is_filled_again() {
        let file = LogFile::new("reuse");
        let log = start(&file);
        write_lines(&log, 1000);
        // Every buffer handed over, written and given back.
        log.flush().await;
        assert_eq!(file.lines(), 1000);
        // How many: a batch that starts while the writer works may already
        // have taken one back.
        let spare = log.sink.spare.len();
        assert!(spare >= 1, "{spare} buffers came back");
        write_lines(&log, 1);
        assert_eq!(log.sink.spare.len(), spare - 1, "taken for the next batch");
    }

    /// `flush` returns once every worker's lines are in the file.
    #[tokio::test]
    async fn flush_waits_for_every_workers_buffer() {
        let file = LogFile::new("flush");
        let log = Arc::new(start(&file));
        let workers = crate::conn::Workers::start(2).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        for handle in workers.handles() {
            let (log, done) = (Arc::clone(&log), done.clone());
            handle.spawn(async move {
                write_lines(&log, 5);
                done.send(()).unwrap();
            });
        }
        for _ in 0..2 {
            finished.recv().unwrap();
        }
        let started = Instant::now();
        log.flush().await;
        assert_eq!(file.lines(), 10);
        assert!(
            started.elapsed() < FLUSH_INTERVAL,
            "{:?}",
            started.elapsed()
        );
    }
}
