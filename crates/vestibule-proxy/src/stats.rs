//! Request counters by listener, route and response code, and each route's
//! request durations, updated without locks: each route has a few slots
//! keyed by status code, claimed with a compare-and-swap, and a histogram
//! on Istio's duration bounds. Scrapes read them through the registry,
//! which is the only place a lock is taken.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::telemetry::destination::{Histogram, HistogramReading};

/// Distinct status codes one route tracks; further codes count as "other".
const CODE_SLOTS: usize = 8;

/// A slot holds its status code in its top 16 bits and its count in the
/// other 48 (2.8 · 10^14 requests). With the codes apart (`[AtomicU16;
/// 8]`) a route's counters were 248 bytes, 264 in their `Arc`: jemalloc's
/// 320-byte class. Now 232, 248: the 256-byte class.
const CODE_SHIFT: u32 = 48;
const COUNT_MASK: u64 = (1 << CODE_SHIFT) - 1;

#[derive(Debug, Default)]
pub struct RouteStats {
    /// Per slot: `code << 48 | count`; 0 is a free slot.
    slots: [AtomicU64; CODE_SLOTS],
    other: AtomicU64,
    /// How long its requests took (µs; the admin page's per-route latency).
    duration: Histogram<19>,
}

impl RouteStats {
    /// A finished request: its status and how long it took.
    pub(crate) fn record(&self, status: u16, duration_micros: u64) {
        self.duration.observe_duration(duration_micros);
        self.count(status);
    }

    /// Its requests' durations, cumulative per bound of
    /// [`crate::DURATION_BOUNDS`] (the sum in µs).
    pub fn latency(&self) -> HistogramReading<19> {
        self.duration.read(0)
    }

    fn count(&self, status: u16) {
        // Code 0 (no response) would look like a free slot: it is "other".
        if status == 0 {
            self.other.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let claimed = u64::from(status) << CODE_SHIFT;
        for slot in &self.slots {
            let value = slot.load(Ordering::Relaxed);
            if value & !COUNT_MASK == claimed {
                slot.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if value == 0 {
                match slot.compare_exchange(0, claimed | 1, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return,
                    // Another request claimed the slot: it may be our code.
                    Err(value) if value & !COUNT_MASK == claimed => {
                        slot.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(_) => {}
                }
            }
        }
        self.other.fetch_add(1, Ordering::Relaxed);
    }

    /// `(code, count)` pairs; code 0 stands for "other".
    pub fn snapshot(&self) -> Vec<(u16, u64)> {
        let mut pairs: Vec<(u16, u64)> = self
            .slots
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|&value| value != 0)
            .map(|value| ((value >> CODE_SHIFT) as u16, value & COUNT_MASK))
            .collect();
        let other = self.other.load(Ordering::Relaxed);
        if other > 0 {
            pairs.push((0, other));
        }
        pairs
    }
}

/// `(listener name, route name)`; the route name is empty for requests that
/// matched no route.
pub type StatsKey = (String, String);

/// Keeps counters alive across reloads so Prometheus counters never reset
/// while a route exists. By listener, then by route: a listener's name is
/// kept once, not with each of its routes.
#[derive(Debug, Default)]
pub struct StatsRegistry {
    listeners: Mutex<BTreeMap<String, Routes>>,
}

/// One listener's counters by route name. Looked up once per route on
/// every reload (10,000 for a large table): hashed, not ordered.
type Routes = rustc_hash::FxHashMap<String, Arc<RouteStats>>;

/// One listener's counters, held for a run of lookups (one lock for a
/// whole listener's routes).
pub struct ListenerStats<'a> {
    listeners: std::sync::MutexGuard<'a, BTreeMap<String, Routes>>,
    listener: &'a str,
}

impl ListenerStats<'_> {
    /// The counters of `route` (created at zero).
    pub fn route(&mut self, route: &str) -> Arc<RouteStats> {
        let routes = match self.listeners.get_mut(self.listener) {
            Some(routes) => routes,
            None => self.listeners.entry(self.listener.to_owned()).or_default(),
        };
        match routes.get(route) {
            Some(stats) => Arc::clone(stats),
            None => Arc::clone(routes.entry(route.to_owned()).or_default()),
        }
    }
}

impl StatsRegistry {
    /// The counters of `listener`'s routes.
    pub fn listener<'a>(&'a self, listener: &'a str) -> ListenerStats<'a> {
        ListenerStats {
            listeners: self.listeners.lock().expect("stats registry poisoned"),
            listener,
        }
    }

    /// Every counter, for a scrape.
    pub fn collect(&self) -> Vec<(StatsKey, Vec<(u16, u64)>)> {
        self.each(RouteStats::snapshot)
    }

    /// Every route's durations, for the admin page.
    pub fn latencies(&self) -> Vec<(StatsKey, HistogramReading<19>)> {
        self.each(RouteStats::latency)
    }

    /// `read` of every route's counters, in (listener, route) order.
    fn each<T>(&self, read: impl Fn(&RouteStats) -> T) -> Vec<(StatsKey, T)> {
        let listeners = self.listeners.lock().expect("stats registry poisoned");
        let mut each: Vec<_> = listeners
            .iter()
            .flat_map(|(listener, routes)| {
                routes
                    .iter()
                    .map(|(route, stats)| ((listener.clone(), route.clone()), read(stats)))
            })
            .collect();
        drop(listeners);
        each.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        each
    }
}

#[cfg(test)]
mod tests {
    use super::RouteStats;

    #[test]
    fn counts_by_code_and_overflows_to_other() {
        let stats = RouteStats::default();
        stats.record(200, 300);
        stats.record(200, 2_000);
        stats.record(404, 40_000);
        for code in 500..510 {
            stats.record(code, 100);
        }
        let snapshot = stats.snapshot();
        assert_eq!(snapshot[0], (200, 2));
        assert_eq!(snapshot[1], (404, 1));
        assert_eq!(snapshot.len(), 9, "8 slots plus other: {snapshot:?}");
        assert_eq!(snapshot[8], (0, 4));
        let latency = stats.latency();
        assert_eq!(latency.count, 13);
        assert_eq!(latency.sum, 300 + 2_000 + 40_000 + 10 * 100);
        // ≤ 0.5 ms: the 300 µs and the ten 100 µs; ≤ 5 ms: the 2 ms too.
        assert_eq!(latency.cumulative[0], 11);
        assert_eq!(latency.cumulative[2], 12);
        assert_eq!(latency.cumulative[5], 13);
    }

    /// With its `Arc`'s two counts, a route's counters fit jemalloc's
    /// 256-byte class (10,000 routes keep 10,000 of them).
    #[test]
    fn a_route_s_counters_fit_256_bytes_with_their_arc() {
        assert!(std::mem::size_of::<RouteStats>() + 16 <= 256);
    }
}
