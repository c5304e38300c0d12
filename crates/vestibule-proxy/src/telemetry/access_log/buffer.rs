//! Each worker's buffer of formatted lines: a thread's own, so that a
//! request adds its line with no lock and no atomic. The buffer goes to
//! the writer once it holds [`BATCH_SIZE`] bytes, or when its flush timer
//! (a task on the worker's runtime, armed by the buffer's first line)
//! fires [`FLUSH_INTERVAL`] later.
//!
//! Only a thread that drives a current-thread runtime buffers (the
//! workers, and the tests' runtimes): there, the timer task runs on the
//! thread whose buffer it empties. Any other thread hands each line over
//! at once.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::runtime::{Handle, RuntimeFlavor};

use super::format::{Clock, Record};
use super::{Batch, Encoding, Sink, BATCH_SIZE, FLUSH_INTERVAL};

/// Room for the line that takes a buffer past [`BATCH_SIZE`] (most are a
/// few hundred bytes): the buffer is allocated once per batch.
const LINE_ROOM: usize = 4 * 1024;

thread_local! {
    static PENDING: RefCell<Pending> = const { RefCell::new(Pending::new()) };
}

struct Pending {
    /// The log these lines are for (a process has one; tests start many).
    sink: Option<Arc<Sink>>,
    text: Vec<u8>,
    lines: u64,
    clock: Clock,
    /// Whether this thread buffers (decided at its first line).
    buffers: Option<bool>,
    /// A flush timer is armed for the lines in the buffer.
    timer: bool,
}

/// Formats `record` into this thread's buffer for `sink`'s log.
pub(super) fn append(sink: &Arc<Sink>, record: &Record<'_>) {
    PENDING.with(|cell| match cell.try_borrow_mut() {
        Ok(mut pending) => pending.append(sink, record),
        // Cannot happen (nothing here re-enters); never lose count.
        Err(_) => {
            sink.dropped.fetch_add(1, Ordering::Relaxed);
        }
    });
}

impl Pending {
    const fn new() -> Pending {
        Pending {
            sink: None,
            text: Vec::new(),
            lines: 0,
            clock: Clock::new(),
            buffers: None,
            timer: false,
        }
    }

    fn append(&mut self, sink: &Arc<Sink>, record: &Record<'_>) {
        if !self.sink.as_ref().is_some_and(|own| Arc::ptr_eq(own, sink)) {
            self.hand_over();
            self.sink = Some(Arc::clone(sink));
        }
        if self.lines == 0 {
            if self.text.capacity() == 0 {
                self.text = sink.spare.pop().unwrap_or_default();
            }
            self.text.reserve(BATCH_SIZE + LINE_ROOM);
            // Counted as holding lines before it does: `flush` waits on it.
            sink.pending.fetch_add(1, Ordering::AcqRel);
        }
        match sink.encoding {
            Encoding::Text => record.text(&mut self.text, &mut self.clock),
            Encoding::Json => record.json(&mut self.text, &mut self.clock),
        }
        self.lines += 1;
        let buffers = *self
            .buffers
            .get_or_insert_with(drives_a_current_thread_runtime);
        if !buffers || self.text.len() >= BATCH_SIZE {
            self.hand_over();
        } else if !self.timer {
            self.timer = true;
            arm(Arc::clone(sink));
        }
    }

    /// Hands the buffer's lines to the writer.
    fn hand_over(&mut self) {
        if self.lines == 0 {
            return;
        }
        let Some(sink) = &self.sink else {
            return;
        };
        let batch = Batch {
            text: std::mem::take(&mut self.text),
            lines: std::mem::take(&mut self.lines),
        };
        sink.hand_over(batch);
        // After the batch is in the channel: `flush` then finds it there.
        sink.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Pending {
    /// A thread that ends hands over what it holds.
    fn drop(&mut self) {
        self.hand_over();
    }
}

fn drives_a_current_thread_runtime() -> bool {
    Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == RuntimeFlavor::CurrentThread)
}

/// The buffer's flush timer: a task on this thread's runtime (see the
/// module's note), which `flush` can wake early.
fn arm(sink: Arc<Sink>) {
    tokio::spawn(async move {
        let flush_now = sink.flush_now.notified();
        tokio::select! {
            () = tokio::time::sleep(FLUSH_INTERVAL) => {}
            () = flush_now => {}
        }
        PENDING.with(|cell| {
            if let Ok(mut pending) = cell.try_borrow_mut() {
                pending.timer = false;
                pending.hand_over();
            }
        });
    });
}
