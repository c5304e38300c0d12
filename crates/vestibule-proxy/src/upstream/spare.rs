//! Read buffers of upstream connections that went idle, kept per worker
//! for the next connection that reads.
//!
//! An idle connection holds no read buffer (a pool of idle connections
//! would otherwise hold 8 KiB each). Under load with more connections in
//! flight than the pool keeps buffers for (h2c clients multiplex many
//! requests onto many upstream connections), a connection gave its buffer
//! up at nearly every request and allocated one again at the next: about
//! 630 instructions a request. A buffer given up now waits here instead,
//! a few per worker, and the next read takes it.

use std::cell::RefCell;

use bytes::BytesMut;

/// Buffers a worker keeps (at 8 KiB, 128 KiB at most).
const KEPT: usize = 16;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Keeps an empty buffer's room for the next read, if it has `least`
/// bytes of it and the worker has fewer than [`KEPT`].
pub(super) fn give(buf: BytesMut, least: usize) {
    debug_assert!(buf.is_empty(), "only an empty buffer is handed on");
    if buf.capacity() < least {
        return;
    }
    SPARE.with_borrow_mut(|spare| {
        if spare.len() < KEPT {
            spare.push(buf);
        }
    });
}

/// A kept buffer, if the worker has one.
pub(super) fn take() -> Option<BytesMut> {
    SPARE.with_borrow_mut(Vec::pop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_back_with_its_room() {
        while take().is_some() {}
        give(BytesMut::with_capacity(8192), 2048);
        let buf = take().expect("the buffer given");
        assert!(buf.capacity() >= 8192);
        assert!(take().is_none());
    }

    #[test]
    fn a_buffer_short_of_room_or_past_the_bound_is_dropped() {
        while take().is_some() {}
        give(BytesMut::with_capacity(100), 2048);
        assert!(take().is_none());
        for _ in 0..KEPT + 3 {
            give(BytesMut::with_capacity(4096), 2048);
        }
        let mut kept = 0;
        while take().is_some() {
            kept += 1;
        }
        assert_eq!(kept, KEPT);
    }
}
