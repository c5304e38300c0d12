//! Request counters by listener, route and response code, updated without
//! locks: each route has a few slots keyed by status code, claimed with a
//! compare-and-swap. Scrapes read them through the registry, which is the
//! only place a lock is taken.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Distinct status codes one route tracks; further codes count as "other".
const CODE_SLOTS: usize = 8;

#[derive(Debug, Default)]
pub struct RouteStats {
    codes: [AtomicU16; CODE_SLOTS],
    counts: [AtomicU64; CODE_SLOTS],
    other: AtomicU64,
}

impl RouteStats {
    pub fn record(&self, status: u16) {
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
}

#[cfg(test)]
mod tests {
    use super::RouteStats;

    #[test]
    fn counts_by_code_and_overflows_to_other() {
        let stats = RouteStats::default();
        stats.record(200);
        stats.record(200);
        stats.record(404);
        for code in 500..510 {
            stats.record(code);
        }
        let snapshot = stats.snapshot();
        assert_eq!(snapshot[0], (200, 2));
        assert_eq!(snapshot[1], (404, 1));
        assert_eq!(snapshot.len(), 9, "8 slots plus other: {snapshot:?}");
        assert_eq!(snapshot[8], (0, 4));
    }
}
