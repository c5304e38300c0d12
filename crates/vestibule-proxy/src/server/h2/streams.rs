//! The exchanges of one HTTP/2 connection, run inside its task. Each runs
//! in a slot that is kept and reused when it ends: the next stream's
//! exchange is written over it in place. A set that allocates per stream
//! (`FuturesUnordered` does) puts a several-KiB future through the
//! allocator at every request, and at that size a slab holds two or four of
//! them, so the allocator's cache empties and refills every few requests.
//! A wake-up sets the slot's bit; a round polls the slots whose bit is set.
//! The connection itself (`h2`'s) has a flag beside the bits, so that it is
//! polled only when it asked: one record of what woke the task, one waker
//! registered per poll.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Slots per connection: at least the streams a client may have open at
/// once (`super::server::MAX_CONCURRENT_STREAMS`), rounded up to a word of
/// wake-up bits.
pub(super) const CAPACITY: usize = WORDS * 64;
const WORDS: usize = 2;

pub(super) struct Streams<F> {
    slots: Vec<Slot<F>>,
    /// Slots whose exchange has ended, ready for the next one.
    free: Vec<usize>,
    running: usize,
    woken: Arc<Woken>,
}

struct Slot<F> {
    /// `None` between exchanges (the ended one is dropped at once: its
    /// upstream connection goes back to the pool then, not at reuse).
    exchange: Pin<Box<Option<F>>>,
    waker: Waker,
}

/// Which slots were woken, whether the connection was, and the
/// connection's task to wake.
struct Woken {
    bits: [AtomicU64; WORDS],
    connection: AtomicBool,
    task: AtomicWaker,
}

impl Default for Woken {
    fn default() -> Woken {
        Woken {
            bits: Default::default(),
            // Polled first without being asked: that registers its waker.
            connection: AtomicBool::new(true),
            task: AtomicWaker::new(),
        }
    }
}

/// The waker `h2`'s connection is polled with. A wake-up for one stream
/// (its upstream answered) then polls that stream alone, not the
/// connection too (as a task per stream would, without spawning one).
struct ConnectionWaker(Arc<Woken>);

impl Wake for ConnectionWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.connection.store(true, Ordering::Release);
        self.0.task.wake();
    }
}

struct SlotWaker {
    slot: usize,
    woken: Arc<Woken>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let bit = 1u64 << (self.slot % 64);
        self.woken.bits[self.slot / 64].fetch_or(bit, Ordering::AcqRel);
        self.woken.task.wake();
    }
}

impl<F: Future<Output = ()>> Streams<F> {
    pub(super) fn new() -> Streams<F> {
        Streams {
            slots: Vec::new(),
            free: Vec::new(),
            running: 0,
            woken: Arc::default(),
        }
    }

    /// Registers the connection task's waker: call first in each poll.
    pub(super) fn register(&self, cx: &Context<'_>) {
        self.woken.task.register(cx.waker());
    }

    /// The waker to poll `h2`'s connection with.
    pub(super) fn connection_waker(&self) -> Waker {
        Waker::from(Arc::new(ConnectionWaker(Arc::clone(&self.woken))))
    }

    /// Whether the connection asked to be polled since the last call.
    pub(super) fn take_connection_wake(&self) -> bool {
        self.woken.connection.swap(false, Ordering::AcqRel)
    }

    /// Has the connection polled again (it may have more to give, or a
    /// `GOAWAY` to send).
    pub(super) fn wake_connection(&self) {
        self.woken.connection.store(true, Ordering::Release);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.running == 0
    }

    pub(super) fn is_full(&self) -> bool {
        self.running == CAPACITY
    }

    /// Starts an exchange; it is polled in the next [`Streams::poll_woken`].
    /// The caller checks [`Streams::is_full`] first.
    pub(super) fn push(&mut self, exchange: F) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot].exchange.as_mut().set(Some(exchange));
                slot
            }
            None => {
                let slot = self.slots.len();
                assert!(slot < CAPACITY, "more exchanges than slots");
                let waker = Waker::from(Arc::new(SlotWaker {
                    slot,
                    woken: Arc::clone(&self.woken),
                }));
                self.slots.push(Slot {
                    exchange: Box::pin(Some(exchange)),
                    waker,
                });
                slot
            }
        };
        self.running += 1;
        // A new exchange has not been polled: as if woken.
        self.woken.bits[slot / 64].fetch_or(1 << (slot % 64), Ordering::AcqRel);
    }

    /// Polls, once each, the exchanges woken since the last call; returns
    /// how many ended. The task registered last is woken when another one is.
    pub(super) fn poll_woken(&mut self) -> usize {
        let mut ended = 0;
        for word in 0..WORDS {
            let mut bits = self.woken.bits[word].swap(0, Ordering::AcqRel);
            while bits != 0 {
                let slot = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.poll_slot(slot) {
                    ended += 1;
                }
            }
        }
        ended
    }

    /// Polls one slot's exchange; true if it ended (its slot is then free).
    fn poll_slot(&mut self, slot: usize) -> bool {
        let Slot { exchange, waker } = &mut self.slots[slot];
        let Some(running) = exchange.as_mut().as_pin_mut() else {
            // Woken after it ended (a late wake-up from a resource it held).
            return false;
        };
        if running.poll(&mut Context::from_waker(waker)).is_pending() {
            return false;
        }
        exchange.as_mut().set(None);
        self.free.push(slot);
        self.running -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::Poll;

    /// A future that ends on its `polls`-th poll, waking itself until then,
    /// and counts its polls in `seen`.
    fn counting(polls: usize, seen: Rc<Cell<usize>>) -> impl Future<Output = ()> {
        let mut left = polls;
        std::future::poll_fn(move |cx| {
            seen.set(seen.get() + 1);
            left -= 1;
            if left == 0 {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    #[test]
    fn each_woken_exchange_is_polled_once_per_round_until_it_ends() {
        let seen = Rc::new(Cell::new(0));
        let mut streams = Streams::new();
        streams.push(counting(1, seen.clone()));
        streams.push(counting(3, seen.clone()));
        assert_eq!(streams.poll_woken(), 1);
        assert_eq!(seen.get(), 2);
        assert!(!streams.is_empty());
        assert_eq!(streams.poll_woken(), 0);
        assert_eq!(streams.poll_woken(), 1);
        assert_eq!(seen.get(), 4);
        assert!(streams.is_empty());
        // Nothing woken, nothing polled.
        assert_eq!(streams.poll_woken(), 0);
        assert_eq!(seen.get(), 4);
    }

    #[test]
    fn an_ended_exchange_slot_is_reused_and_its_future_dropped_at_once() {
        let seen = Rc::new(Cell::new(0));
        let mut streams = Streams::new();
        streams.push(counting(1, seen.clone()));
        assert_eq!(Rc::strong_count(&seen), 2);
        assert_eq!(streams.poll_woken(), 1);
        assert_eq!(Rc::strong_count(&seen), 1, "dropped when it ended");
        streams.push(counting(2, seen.clone()));
        streams.push(counting(2, seen.clone()));
        assert_eq!(streams.slots.len(), 2, "the first slot was reused");
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn the_connection_is_polled_first_then_only_when_it_asked() {
        let task = Arc::new(Count::default());
        let task_waker = Waker::from(Arc::clone(&task));
        let streams = Streams::<std::future::Ready<()>>::new();
        streams.register(&Context::from_waker(&task_waker));
        assert!(streams.take_connection_wake(), "polled first");
        assert!(!streams.take_connection_wake());
        streams.connection_waker().wake_by_ref();
        assert_eq!(task.0.load(Ordering::Relaxed), 1, "the task is woken");
        assert!(streams.take_connection_wake());
        assert!(!streams.take_connection_wake());
        streams.wake_connection();
        assert!(streams.take_connection_wake());
    }

    #[test]
    fn a_full_set_says_so_and_the_last_slot_uses_the_last_bit() {
        let seen = Rc::new(Cell::new(0));
        let mut streams = Streams::new();
        for _ in 0..CAPACITY {
            assert!(!streams.is_full());
            streams.push(counting(2, seen.clone()));
        }
        assert!(streams.is_full());
        assert_eq!(streams.poll_woken(), 0);
        assert_eq!(seen.get(), CAPACITY);
        assert_eq!(streams.poll_woken(), CAPACITY);
        assert!(streams.is_empty());
    }
}
