//! Request counters by listener, route and response code, and each route's
//! request durations, updated without locks: each route has a few slots
//! keyed by status code, claimed with a compare-and-swap, and a histogram
//! on Istio's duration bounds. Scrapes read them through the registry,
//! which is the only place a lock is taken.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::telemetry::destination::{Histogram, HistogramReading};

/// Distinct status codes one route tracks; further codes count as "other".
const CODE_SLOTS: usize = 8;

#[derive(Debug, Default)]
pub struct RouteStats {
    codes: [AtomicU16; CODE_SLOTS],
    counts: [AtomicU64; CODE_SLOTS],
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
        for slot in 0..CODE_SLOTS {
            let code = self.codes[slot].load(Ordering::Relaxed);
            if code == status {
                self.counts[slot].fetch_add(1, Ordering::Relaxed);
                return;
            }
            if code == 0 {
                match self.codes[slot].compare_exchange(
                    0,
                    status,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        self.counts[slot].fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    // Another request claimed the slot: it may be our code.
                    Err(claimed) if claimed == status => {
                        self.counts[slot].fetch_add(1, Ordering::Relaxed);
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
        let mut pairs: Vec<(u16, u64)> = (0..CODE_SLOTS)
            .filter_map(|slot| {
                let code = self.codes[slot].load(Ordering::Relaxed);
                (code != 0).then(|| (code, self.counts[slot].load(Ordering::Relaxed)))
            })
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
/// while a route exists.
#[derive(Debug, Default)]
pub struct StatsRegistry {
    routes: Mutex<BTreeMap<StatsKey, Arc<RouteStats>>>,
}

impl StatsRegistry {
    pub fn route(&self, listener: &str, route: &str) -> Arc<RouteStats> {
        let mut routes = self.routes.lock().expect("stats registry poisoned");
        Arc::clone(
            routes
                .entry((listener.to_owned(), route.to_owned()))
                .or_default(),
        )
    }

    /// Every counter, for a scrape.
    pub fn collect(&self) -> Vec<(StatsKey, Vec<(u16, u64)>)> {
        let routes = self.routes.lock().expect("stats registry poisoned");
        routes
            .iter()
            .map(|(key, stats)| (key.clone(), stats.snapshot()))
            .collect()
    }

    /// Every route's durations, for the admin page.
    pub fn latencies(&self) -> Vec<(StatsKey, HistogramReading<19>)> {
        let routes = self.routes.lock().expect("stats registry poisoned");
        routes
            .iter()
            .map(|(key, stats)| (key.clone(), stats.latency()))
            .collect()
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
}
