//! Istio's `outlierDetection` (Envoy's outlier detection): an endpoint
//! that answers too many 5xx (or gateway errors, or fails to connect) in a
//! row is ejected from balancing for the base ejection time times the
//! number of its ejections, at most as many endpoints at once as the
//! maximum ejection percentage allows (always at least one). While it is
//! healthy, its ejection count falls by one every interval.
//!
//! Counting happens once per attempt, on the answer's status, with
//! atomics; an ejection is rare and spawns the timer that brings the
//! endpoint back.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vestibule_ir::OutlierDetection;

use crate::telemetry::destination::{DestinationStats, UpstreamCounters};
use crate::upstream::clusters::EndpointState;

/// Envoy's default cap on one ejection (`max_ejection_time`), unless the
/// base time is longer.
const MAX_EJECTION: Duration = Duration::from_secs(300);

/// A cluster's outlier detection: its settings and how many of its
/// endpoints are ejected now.
#[derive(Debug)]
pub(crate) struct Outlier {
    config: OutlierDetection,
    ejected: AtomicU32,
    stats: Arc<DestinationStats>,
}

/// How one attempt on an endpoint went.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// The endpoint answered with this status.
    Answer(u16),
    /// A connection or exchange failed on the gateway's side of it
    /// (connect failure, reset, timeout): Envoy's local-origin error.
    LocalFailure,
    /// A connection was made (a TCP route's).
    Connected,
}

/// One endpoint's run of failures and its ejection state.
#[derive(Debug, Default)]
pub(crate) struct Health {
    consecutive_5xx: AtomicU32,
    consecutive_gateway: AtomicU32,
    consecutive_local: AtomicU32,
    ejected: AtomicBool,
    /// Ejections so far, less one per healthy interval (the multiplier of
    /// the next ejection's time).
    ejections: AtomicU32,
    /// Bumped at each ejection: an older timer finding it changed stops.
    generation: AtomicU32,
}

impl Health {
    pub(crate) fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed)
    }
}

impl Outlier {
    pub(crate) fn new(config: &OutlierDetection, stats: Arc<DestinationStats>) -> Outlier {
        Outlier {
            config: config.clone(),
            ejected: AtomicU32::new(0),
            stats,
        }
    }

    pub(crate) fn config(&self) -> &OutlierDetection {
        &self.config
    }

    /// Whether balancing among `total` endpoints must skip the ejected
    /// ones: some are ejected, and the healthy share is not below the
    /// panic threshold (`minHealthPercent`; below it, all are used).
    pub(crate) fn skips_ejected(&self, total: usize) -> bool {
        let ejected = self.ejected.load(Ordering::Relaxed) as usize;
        ejected > 0
            && (total.saturating_sub(ejected)) * 100
                >= total * self.config.min_health_percent as usize
    }

    /// Counts `outcome` for `endpoint`, one of `total`; ejects it if that
    /// completes a run the settings eject for.
    pub(crate) fn record(
        self: &Arc<Self>,
        endpoint: &Arc<EndpointState>,
        outcome: Outcome,
        total: usize,
    ) {
        let health = &endpoint.health;
        let config = &self.config;
        let bump = |count: &AtomicU32, limit: u32| {
            limit > 0 && count.fetch_add(1, Ordering::Relaxed) + 1 >= limit
        };
        let reset = |count: &AtomicU32| {
            // Read first: a healthy endpoint's counters stay untouched
            // (no write to a line other workers read).
            if count.load(Ordering::Relaxed) != 0 {
                count.store(0, Ordering::Relaxed);
            }
        };
        let eject = match outcome {
            Outcome::Answer(status) if status >= 500 => {
                let gateway = matches!(status, 502..=504)
                    && bump(
                        &health.consecutive_gateway,
                        config.consecutive_gateway_errors,
                    );
                if !matches!(status, 502..=504) {
                    reset(&health.consecutive_gateway);
                }
                bump(&health.consecutive_5xx, config.consecutive_5xx) || gateway
            }
            Outcome::Answer(_) | Outcome::Connected => {
                reset(&health.consecutive_5xx);
                reset(&health.consecutive_gateway);
                reset(&health.consecutive_local);
                false
            }
            Outcome::LocalFailure if config.split_local_origin_errors => bump(
                &health.consecutive_local,
                config.consecutive_local_origin_failures,
            ),
            // Not split: counted as the 503 Envoy maps it to.
            Outcome::LocalFailure => {
                let gateway = bump(
                    &health.consecutive_gateway,
                    config.consecutive_gateway_errors,
                );
                bump(&health.consecutive_5xx, config.consecutive_5xx) || gateway
            }
        };
        if eject {
            self.eject(endpoint, total);
        }
    }

    /// Ejects `endpoint` unless it is already out or the maximum share of
    /// `total` is (one may always be).
    fn eject(self: &Arc<Self>, endpoint: &Arc<EndpointState>, total: usize) {
        let health = &endpoint.health;
        let max_percent = self.config.max_ejection_percent as usize;
        let allowed = self
            .ejected
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |ejected| {
                let fits = ejected == 0 || (ejected as usize + 1) * 100 <= total * max_percent;
                fits.then_some(ejected + 1)
            })
            .is_ok();
        if !allowed {
            return;
        }
        if health.ejected.swap(true, Ordering::AcqRel) {
            // Another attempt ejected it first.
            self.ejected.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        for count in [
            &health.consecutive_5xx,
            &health.consecutive_gateway,
            &health.consecutive_local,
        ] {
            count.store(0, Ordering::Relaxed);
        }
        UpstreamCounters::count(&self.stats.upstream.ejections);
        let times = health.ejections.fetch_add(1, Ordering::AcqRel) + 1;
        let generation = health.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let base = self.config.base_ejection_time;
        let time = base.saturating_mul(times).min(MAX_EJECTION.max(base));
        tracing::info!(endpoint = %endpoint.address, ?time, "outlier ejected");
        let endpoint = Arc::clone(endpoint);
        let interval = self.config.interval;
        let outlier = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(time).await;
            let health = &endpoint.health;
            health.ejected.store(false, Ordering::Release);
            outlier.ejected.fetch_sub(1, Ordering::AcqRel);
            tracing::info!(endpoint = %endpoint.address, "outlier returned");
            // Healthy intervals wear the ejection count down, until a new
            // ejection (a new generation) takes over.
            while health.ejections.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(interval).await;
                if health.generation.load(Ordering::Acquire) != generation {
                    return;
                }
                let _ = health
                    .ejections
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            }
        });
    }
}
