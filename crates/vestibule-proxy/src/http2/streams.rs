//! The exchanges of one HTTP/2 connection, run inside its task. Each runs
//! in a slot that is kept and reused when it ends: the next stream's
//! exchange is written over it in place. A set that allocates per stream
//! (`FuturesUnordered` does) puts a several-KiB future through the
//! allocator at every request, and at that size a slab holds two or four of
//! them, so the allocator's cache empties and refills every few requests.
//! A wake-up sets the slot's bit; a round polls the slots whose bit is set.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Which slots were woken, and the connection task to wake.
#[derive(Default)]
struct Woken {
    bits: [AtomicU64; WORDS],
    task: AtomicWaker,
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
    /// how many ended. `cx`'s waker is woken when another one is.
    pub(super) fn poll_woken(&mut self, cx: &Context<'_>) -> usize {
        self.woken.task.register(cx.waker());
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
        let cx = Context::from_waker(Waker::noop());
        let seen = Rc::new(Cell::new(0));
        let mut streams = Streams::new();
        streams.push(counting(1, seen.clone()));
        streams.push(counting(3, seen.clone()));
        assert_eq!(streams.poll_woken(&cx), 1);
        assert_eq!(seen.get(), 2);
        assert!(!streams.is_empty());
        assert_eq!(streams.poll_woken(&cx), 0);
        assert_eq!(streams.poll_woken(&cx), 1);
        assert_eq!(seen.get(), 4);
        assert!(streams.is_empty());
        // Nothing woken, nothing polled.
        assert_eq!(streams.poll_woken(&cx), 0);
        assert_eq!(seen.get(), 4);
    }

    #[test]
    fn an_ended_exchange_slot_is_reused_and_its_future_dropped_at_once() {
        let cx = Context::from_waker(Waker::noop());
        let seen = Rc::new(Cell::new(0));
        let mut streams = Streams::new();
        streams.push(counting(1, seen.clone()));
        assert_eq!(Rc::strong_count(&seen), 2);
        assert_eq!(streams.poll_woken(&cx), 1);
        assert_eq!(Rc::strong_count(&seen), 1, "dropped when it ended");
        streams.push(counting(2, seen.clone()));
        streams.push(counting(2, seen.clone()));
        assert_eq!(streams.slots.len(), 2, "the first slot was reused");
    }

    #[test]
    fn a_full_set_says_so_and_the_last_slot_uses_the_last_bit() {
        let cx = Context::from_waker(Waker::noop());
        let seen = Rc::new(Cell::new(0));
        let mut streams = Streams::new();
        for _ in 0..CAPACITY {
            assert!(!streams.is_full());
            streams.push(counting(2, seen.clone()));
        }
        assert!(streams.is_full());
        assert_eq!(streams.poll_woken(&cx), 0);
        assert_eq!(seen.get(), CAPACITY);
        assert_eq!(streams.poll_woken(&cx), CAPACITY);
        assert!(streams.is_empty());
    }
}
