//! Flow-control windows (RFC 9113 §5.2, §6.9): signed, because a
//! `SETTINGS_INITIAL_WINDOW_SIZE` that shrinks can take a stream's send
//! window below zero (§6.9.2), and bounded above by 2^31−1.

/// The largest window RFC 9113 allows.
pub(super) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// The window every connection and stream starts with (§6.9.2).
pub(super) const DEFAULT_WINDOW: i64 = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window(i64);

/// A window pushed past 2^31−1: a `FLOW_CONTROL_ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Overflow;

impl Window {
    pub(super) fn new(size: i64) -> Window {
        Window(size)
    }

    /// Bytes that may be sent (or received) now.
    pub(super) fn available(self) -> usize {
        usize::try_from(self.0.max(0)).unwrap_or(0)
    }

    pub(super) fn grow(&mut self, by: i64) -> Result<(), Overflow> {
        let grown = self.0 + by;
        if grown > MAX_WINDOW {
            return Err(Overflow);
        }
        self.0 = grown;
        Ok(())
    }

    /// Takes `amount`; false (and nothing taken) if the window is smaller:
    /// for a receive window, the peer sent more than it was allowed.
    pub(super) fn take(&mut self, amount: u32) -> bool {
        if i64::from(amount) > self.0 {
            return false;
        }
        self.0 -= i64::from(amount);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_grows_to_its_bound_and_no_further() {
        let mut window = Window::new(DEFAULT_WINDOW);
        assert_eq!(window.grow(MAX_WINDOW - DEFAULT_WINDOW), Ok(()));
        assert_eq!(window.grow(1), Err(Overflow));
        assert_eq!(window.available(), MAX_WINDOW as usize);
    }

    #[test]
    fn a_shrunk_window_is_negative_and_offers_nothing() {
        let mut window = Window::new(100);
        window.grow(-150).unwrap();
        assert_eq!(window.available(), 0);
        assert!(!window.take(1));
        window.grow(60).unwrap();
        assert_eq!(window.available(), 10);
        assert!(window.take(10));
        assert!(!window.take(1));
    }
}
