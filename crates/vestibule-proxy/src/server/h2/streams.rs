//! The streams of one HTTP/2 connection, run inside its task. Each runs
//! in a slot that is kept and reused when it ends: the next stream's
//! exchange is written over it in place. A set that allocates per stream
//! (`FuturesUnordered` does) puts a several-KiB future through the
//! allocator at every request, and at that size a slab holds two or four of
//! them, so the allocator's cache empties and refills every few requests.
//! A wake-up sets the slot's bit; a round polls the slots whose bit is set:
//! one record of what woke the task, one waker registered per poll. A
//! client's reset sets a second bit, which the slot's exchange reads.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Slots per connection: at least the streams a client may have open at
/// once (`super::server::MAX_CONCURRENT_STREAMS`), rounded up to a word of
/// wake-up bits.
pub(super) const CAPACITY: usize = WORDS * 64;
const WORDS: usize = 2;

pub(super) struct Streams<T> {
    slots: Vec<Slot<T>>,
    /// Slots whose exchange has ended, ready for the next one.
    free: Vec<usize>,
    running: usize,
    woken: Arc<Woken>,
}

struct Slot<T> {
    /// `None` between streams (the ended one is dropped at once: its
    /// upstream connection goes back to the pool then, not at reuse).
    task: Pin<Box<Option<T>>>,
    waker: Waker,
}

/// Which slots were woken, which were reset by the client, and the
/// connection's task to wake.
#[derive(Default)]
pub(super) struct Woken {
    bits: [AtomicU64; WORDS],
    resets: [AtomicU64; WORDS],
    task: AtomicWaker,
}

impl Woken {
    /// Has `slot` polled in the next round.
    pub(super) fn wake(&self, slot: usize) {
        self.bits[slot / 64].fetch_or(1 << (slot % 64), Ordering::AcqRel);
        self.task.wake();
    }

    /// The client reset the stream in `slot`: its exchange ends at its
    /// next poll.
    pub(super) fn reset(&self, slot: usize) {
        self.resets[slot / 64].fetch_or(1 << (slot % 64), Ordering::AcqRel);
        self.wake(slot);
    }

    pub(super) fn is_reset(&self, slot: usize) -> bool {
        self.resets[slot / 64].load(Ordering::Acquire) & (1 << (slot % 64)) != 0
    }

    fn clear_reset(&self, slot: usize) {
        self.resets[slot / 64].fetch_and(!(1 << (slot % 64)), Ordering::AcqRel);
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
        self.woken.wake(self.slot);
    }
}

impl std::fmt::Debug for Woken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Woken").finish_non_exhaustive()
    }
}

impl<T> Streams<T> {
    #[cfg(test)]
    fn new() -> Streams<T> {
        Streams::sharing(Arc::default())
    }

    /// A set whose wake-up and reset bits are `woken` (which what runs in
    /// the slots may borrow: it outlives them).
    pub(super) fn sharing(woken: Arc<Woken>) -> Streams<T> {
        Streams {
            slots: Vec::new(),
            free: Vec::new(),
            running: 0,
            woken,
        }
    }

    /// Registers the connection task's waker: call first in each poll.
    pub(super) fn register(&self, cx: &Context<'_>) {
        self.woken.task.register(cx.waker());
    }

    /// The slots' wake-up and reset bits, for what runs in them.
    pub(super) fn woken(&self) -> &Arc<Woken> {
        &self.woken
    }

    /// The slot the next [`Streams::push`] takes.
    pub(super) fn vacant(&self) -> usize {
        self.free.last().copied().unwrap_or(self.slots.len())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.running == 0
    }

    pub(super) fn is_full(&self) -> bool {
        self.running == CAPACITY
    }

    /// Starts a task in [`Streams::vacant`]'s slot; it is polled in the
    /// next [`Streams::poll_woken`]. The caller checks
    /// [`Streams::is_full`] first.
    pub(super) fn push(&mut self, task: T) -> usize {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot].task.as_mut().set(Some(task));
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
                    task: Box::pin(Some(task)),
                    waker,
                });
                slot
            }
        };
        self.running += 1;
        self.woken.clear_reset(slot);
        // A new task has not been polled: as if woken.
        self.woken.wake(slot);
        slot
    }

    /// Polls, once each with `poll`, the tasks woken since the last call;
    /// returns the slots of those that ended (their slots are free again).
    /// The task registered last is woken when another one is.
    pub(super) fn poll_woken(
        &mut self,
        mut poll: impl FnMut(usize, Pin<&mut T>, &mut Context<'_>) -> Poll<()>,
        ended: &mut Vec<usize>,
    ) {
        for word in 0..WORDS {
            let mut bits = self.woken.bits[word].swap(0, Ordering::AcqRel);
            while bits != 0 {
                let slot = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.poll_slot(slot, &mut poll) {
                    ended.push(slot);
                }
            }
        }
    }

    /// The task in `slot`, if one runs there.
    pub(super) fn get_mut(&mut self, slot: usize) -> Option<Pin<&mut T>> {
        self.slots.get_mut(slot)?.task.as_mut().as_pin_mut()
    }

    /// Polls one slot's task; true if it ended (its slot is then free).
    fn poll_slot(
        &mut self,
        slot: usize,
        poll: &mut impl FnMut(usize, Pin<&mut T>, &mut Context<'_>) -> Poll<()>,
    ) -> bool {
        let Slot { task, waker } = &mut self.slots[slot];
        let Some(running) = task.as_mut().as_pin_mut() else {
            // Woken after it ended (a late wake-up from a resource it held).
            return false;
        };
        if poll(slot, running, &mut Context::from_waker(waker)).is_pending() {
            return false;
        }
        task.as_mut().set(None);
        self.free.push(slot);
        self.running -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::future::Future;
    use std::rc::Rc;

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

    /// Polls the woken futures; how many ended.
    fn poll_futures<F: Future<Output = ()>>(streams: &mut Streams<F>) -> usize {
        let mut ended = Vec::new();
        streams.poll_woken(|_, future, cx| future.poll(cx), &mut ended);
        ended.len()
    }

    #[test]
    fn each_woken_task_is_polled_once_per_round_until_it_ends() {
        let seen = Rc::new(Cell::new(0));
        let mut streams = Streams::new();
        streams.push(counting(1, seen.clone()));
        streams.push(counting(3, seen.clone()));
        assert_eq!(poll_futures(&mut streams), 1);
        assert_eq!(seen.get(), 2);
        assert!(!streams.is_empty());
        assert_eq!(poll_futures(&mut streams), 0);
        assert_eq!(poll_futures(&mut streams), 1);
        assert_eq!(seen.get(), 4);
        assert!(streams.is_empty());
        // Nothing woken, nothing polled.
        assert_eq!(poll_futures(&mut streams), 0);
        assert_eq!(seen.get(), 4);
    }

    #[test]
    fn an_ended_task_slot_is_reused_and_its_task_dropped_at_once() {
        let seen = Rc::new(Cell::new(0));
        let mut streams = Streams::new();
        assert_eq!(streams.vacant(), 0);
        streams.push(counting(1, seen.clone()));
        assert_eq!(streams.vacant(), 1);
        assert_eq!(Rc::strong_count(&seen), 2);
        assert_eq!(poll_futures(&mut streams), 1);
        assert_eq!(Rc::strong_count(&seen), 1, "dropped when it ended");
        assert_eq!(streams.vacant(), 0);
        assert_eq!(streams.push(counting(2, seen.clone())), 0);
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
    fn a_reset_wakes_its_slot_and_the_task_and_is_cleared_on_reuse() {
        let task = Arc::new(Count::default());
        let task_waker = Waker::from(Arc::clone(&task));
        let seen = Rc::new(Cell::new(0));
        let mut streams = Streams::new();
        streams.register(&Context::from_waker(&task_waker));
        let slot = streams.push(counting(2, seen.clone()));
        assert_eq!(poll_futures(&mut streams), 0);
        // The driver registers at every poll (a wake-up takes the waker).
        streams.register(&Context::from_waker(&task_waker));
        let before = task.0.load(Ordering::Relaxed);
        streams.woken().reset(slot);
        assert!(streams.woken().is_reset(slot));
        assert!(task.0.load(Ordering::Relaxed) > before, "the task is woken");
        assert_eq!(poll_futures(&mut streams), 1, "the slot is polled");
        assert_eq!(seen.get(), 2);
        streams.push(counting(1, seen.clone()));
        assert!(
            !streams.woken().is_reset(slot),
            "cleared for the next stream"
        );
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
        assert_eq!(poll_futures(&mut streams), 0);
        assert_eq!(seen.get(), CAPACITY);
        assert_eq!(poll_futures(&mut streams), CAPACITY);
        assert!(streams.is_empty());
    }
}
