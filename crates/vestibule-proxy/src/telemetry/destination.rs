//! Istio's standard request metrics for one destination (a cluster:
//! `istio_requests_total`, `istio_request_duration_milliseconds`,
//! `istio_request_bytes`, `istio_response_bytes`), recorded without locks.
//!
//! The labels that vary per request (response code, flags, gRPC status,
//! protocol) are packed into one word, the series' key; a destination has
//! a few slots claimed by key with a compare-and-swap, and a slot's figures
//! are allocated the first time it is claimed. A scrape reads them all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::labels::DestinationLabels;

/// Distinct label sets one destination tracks; more are counted apart
/// (`overflow`), never dropped silently.
const SLOTS: usize = 16;

/// Envoy's default histogram bounds, which Istio's duration uses (ms).
pub const DURATION_BOUNDS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Istio's size bounds (bytes).
pub const SIZE_BOUNDS: [f64; 8] = [
    1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0, 10000000.0,
];

/// The same bounds in the units recorded (µs, bytes): integer compares on
/// the request path.
const DURATION_MICROS: [u64; 19] = [
    500,
    1_000,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    300_000_000,
    600_000_000,
    1_800_000_000,
    3_600_000_000,
];
const SIZES: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// The labels one request adds to its destination's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesKey {
    pub response_code: u16,
    /// Envoy's response flags, as bits.
    pub flags: u32,
    pub grpc_status: Option<u8>,
    pub grpc: bool,
}

impl SeriesKey {
    /// Never 0 (a status code is at least 100): 0 marks a free slot.
    fn pack(self) -> u64 {
        u64::from(self.response_code)
            | u64::from(self.flags & 0xffff) << 16
            | self.grpc_status.map_or(0, |status| u64::from(status) + 1) << 32
            | u64::from(self.grpc) << 40
    }

    fn unpack(word: u64) -> SeriesKey {
        let grpc_status = ((word >> 32) & 0xff) as u8;
        SeriesKey {
            response_code: (word & 0xffff) as u16,
            flags: ((word >> 16) & 0xffff) as u32,
            grpc_status: grpc_status.checked_sub(1),
            grpc: word >> 40 & 1 == 1,
        }
    }
}

/// One request's figures.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub duration_micros: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

#[derive(Debug)]
pub(crate) struct Histogram<const N: usize> {
    /// Per bound, not cumulative (a scrape sums them).
    buckets: [AtomicU64; N],
    sum: AtomicU64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Histogram<N> {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0),
        }
    }
}

impl Histogram<19> {
    /// A request's duration, in µs, on Istio's duration bounds.
    pub(crate) fn observe_duration(&self, micros: u64) {
        self.observe(&DURATION_MICROS, micros);
    }
}

impl<const N: usize> Histogram<N> {
    fn observe(&self, bounds: &[u64; N], value: u64) {
        if let Some(bucket) = bounds.iter().position(|bound| value <= *bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, count: u64) -> HistogramReading<N> {
        let mut cumulative = [0u64; N];
        let mut total = 0;
        for (bucket, out) in self.buckets.iter().zip(cumulative.iter_mut()) {
            total += bucket.load(Ordering::Relaxed);
            *out = total;
        }
        HistogramReading {
            cumulative,
            // Read apart from the buckets: never let `+Inf` fall below them.
            count: count.max(total),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A histogram as a scrape shows it: cumulative counts per bound.
#[derive(Debug, Clone, Copy)]
pub struct HistogramReading<const N: usize> {
    pub cumulative: [u64; N],
    pub count: u64,
    /// Microseconds for durations, bytes for sizes.
    pub sum: u64,
}

#[derive(Debug, Default)]
struct Series {
    requests: AtomicU64,
    duration: Histogram<19>,
    request_bytes: Histogram<8>,
    response_bytes: Histogram<8>,
}

/// One series as a scrape reads it.
#[derive(Debug, Clone)]
pub struct SeriesReading {
    pub key: SeriesKey,
    pub requests: u64,
    pub duration: HistogramReading<19>,
    pub request_bytes: HistogramReading<8>,
    pub response_bytes: HistogramReading<8>,
}

#[derive(Debug, Default)]
struct Slot {
    key: AtomicU64,
    series: OnceLock<Box<Series>>,
}

#[derive(Debug)]
pub struct DestinationStats {
    pub labels: DestinationLabels,
    slots: [Slot; SLOTS],
    /// Requests whose label set found no free slot.
    overflow: AtomicU64,
    /// Whole connections (TCP routes), by how they went.
    tcp: [TcpCounters; 4],
    /// Envoy's cluster figures (`envoy_cluster_upstream_*`).
    pub upstream: UpstreamCounters,
}

/// Envoy's per-cluster counters, as Istio's proxies expose them.
#[derive(Debug, Default)]
pub struct UpstreamCounters {
    /// Attempts sent (`upstream_rq_total`: each retry counts).
    pub requests: AtomicU64,
    /// Connections that could not be made (`upstream_cx_connect_fail`).
    pub connect_failures: AtomicU64,
    /// Retries (`upstream_rq_retry`).
    pub retries: AtomicU64,
    /// Requests that ran past the route's timeout (`upstream_rq_timeout`).
    pub timeouts: AtomicU64,
    /// Requests turned away by a circuit breaker: the queue for a
    /// connection or the requests in flight were at their limit
    /// (`upstream_rq_pending_overflow`).
    pub pending_overflows: AtomicU64,
    /// Times a connection was wanted at the connection limit
    /// (`upstream_cx_overflow`).
    pub connection_overflows: AtomicU64,
    /// Retries not made for the retry limit (`upstream_rq_retry_overflow`).
    pub retry_overflows: AtomicU64,
    /// Endpoints ejected by outlier detection
    /// (`outlier_detection.ejections_enforced_total`).
    pub ejections: AtomicU64,
}

impl UpstreamCounters {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(requests, connect failures, retries, timeouts, pending overflows,
    /// connection overflows, retry overflows, ejections)`.
    pub fn read(&self) -> [u64; 8] {
        [
            &self.requests,
            &self.connect_failures,
            &self.retries,
            &self.timeouts,
            &self.pending_overflows,
            &self.connection_overflows,
            &self.retry_overflows,
            &self.ejections,
        ]
        .map(|counter| counter.load(Ordering::Relaxed))
    }
}

/// How a proxied connection went, as Istio's `response_flags` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOutcome {
    /// Connected (`-`).
    Connected,
    /// The upstream connection failed (`UF`).
    ConnectFailure,
    /// No endpoint to connect to (`UH`).
    NoHealthyUpstream,
    /// The cluster's connection limit was reached (`UO`).
    Overflow,
}

impl TcpOutcome {
    pub const ALL: [TcpOutcome; 4] = [
        TcpOutcome::Connected,
        TcpOutcome::ConnectFailure,
        TcpOutcome::NoHealthyUpstream,
        TcpOutcome::Overflow,
    ];

    pub fn flags(self) -> &'static str {
        match self {
            TcpOutcome::Connected => "-",
            TcpOutcome::ConnectFailure => "UF",
            TcpOutcome::NoHealthyUpstream => "UH",
            TcpOutcome::Overflow => "UO",
        }
    }
}

/// Istio's `istio_tcp_*` figures for one outcome.
#[derive(Debug, Default)]
struct TcpCounters {
    opened: AtomicU64,
    closed: AtomicU64,
    /// To the client.
    sent: AtomicU64,
    /// From the client.
    received: AtomicU64,
}

/// Istio's TCP figures for one outcome, as a scrape reads them.
#[derive(Debug, Clone, Copy)]
pub struct TcpReading {
    pub outcome: TcpOutcome,
    pub opened: u64,
    pub closed: u64,
    pub sent: u64,
    pub received: u64,
}

impl DestinationStats {
    pub fn new(labels: DestinationLabels) -> DestinationStats {
        DestinationStats {
            labels,
            slots: Default::default(),
            overflow: AtomicU64::new(0),
            tcp: Default::default(),
            upstream: UpstreamCounters::default(),
        }
    }

    /// A connection opened (counted at once, as Istio does, not at close).
    pub fn tcp_opened(&self, outcome: TcpOutcome) {
        self.tcp[outcome as usize]
            .opened
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed, with the bytes it carried each way.
    pub fn tcp_closed(&self, outcome: TcpOutcome, sent: u64, received: u64) {
        let counters = &self.tcp[outcome as usize];
        counters.closed.fetch_add(1, Ordering::Relaxed);
        counters.sent.fetch_add(sent, Ordering::Relaxed);
        counters.received.fetch_add(received, Ordering::Relaxed);
    }

    /// The outcomes that saw a connection, for a scrape.
    pub fn read_tcp(&self) -> Vec<TcpReading> {
        TcpOutcome::ALL
            .iter()
            .map(|&outcome| {
                let counters = &self.tcp[outcome as usize];
                TcpReading {
                    outcome,
                    opened: counters.opened.load(Ordering::Relaxed),
                    closed: counters.closed.load(Ordering::Relaxed),
                    sent: counters.sent.load(Ordering::Relaxed),
                    received: counters.received.load(Ordering::Relaxed),
                }
            })
            .filter(|reading| reading.opened > 0)
            .collect()
    }

    pub fn record(&self, key: SeriesKey, measured: Measured) {
        let Some(series) = self.series(key.pack()) else {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            return;
        };
        series.requests.fetch_add(1, Ordering::Relaxed);
        series
            .duration
            .observe(&DURATION_MICROS, measured.duration_micros);
        series.request_bytes.observe(&SIZES, measured.request_bytes);
        series
            .response_bytes
            .observe(&SIZES, measured.response_bytes);
    }

    /// The slot's figures for `word`, claiming a free slot for a new key.
    fn series(&self, word: u64) -> Option<&Series> {
        for slot in &self.slots {
            let mut key = slot.key.load(Ordering::Acquire);
            if key == 0 {
                key = match slot
                    .key
                    .compare_exchange(0, word, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => word,
                    // Another request claimed it: it may be for our key.
                    Err(claimed) => claimed,
                };
            }
            if key == word {
                return Some(slot.series.get_or_init(Box::default));
            }
        }
        None
    }

    /// Every series with at least one request, for a scrape.
    pub fn read(&self) -> Vec<SeriesReading> {
        self.slots
            .iter()
            .filter_map(|slot| {
                let series = slot.series.get()?;
                let requests = series.requests.load(Ordering::Relaxed);
                Some(SeriesReading {
                    key: SeriesKey::unpack(slot.key.load(Ordering::Acquire)),
                    requests,
                    duration: series.duration.read(requests),
                    request_bytes: series.request_bytes.read(requests),
                    response_bytes: series.response_bytes.read(requests),
                })
            })
            .collect()
    }

    /// Requests not counted in a series (more label sets than slots).
    pub fn overflow(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_bounds_are_the_published_ones() {
        for (micros, millis) in DURATION_MICROS.iter().zip(DURATION_BOUNDS) {
            assert_eq!(*micros as f64 / 1000.0, millis);
        }
        for (size, bound) in SIZES.iter().zip(SIZE_BOUNDS) {
            assert_eq!(*size as f64, bound);
        }
    }

    fn key(code: u16) -> SeriesKey {
        SeriesKey {
            response_code: code,
            flags: 0,
            grpc_status: None,
            grpc: false,
        }
    }

    #[test]
    fn keys_survive_packing() {
        let grpc = SeriesKey {
            response_code: 503,
            flags: 0b101,
            grpc_status: Some(0),
            grpc: true,
        };
        assert_eq!(SeriesKey::unpack(grpc.pack()), grpc);
        assert_eq!(SeriesKey::unpack(key(200).pack()), key(200));
    }

    #[test]
    fn requests_land_in_their_series_and_buckets() {
        let stats = DestinationStats::new(DestinationLabels::unknown());
        let measured = |micros, sent| Measured {
            duration_micros: micros,
            request_bytes: 0,
            response_bytes: sent,
        };
        stats.record(key(200), measured(300, 5));
        stats.record(key(200), measured(7_000, 2_000));
        stats.record(key(404), measured(100, 0));
        let read = stats.read();
        assert_eq!(read.len(), 2);
        let ok = read.iter().find(|s| s.key.response_code == 200).unwrap();
        assert_eq!(ok.requests, 2);
        // 0.3 ms ≤ 0.5; 7 ms ≤ 10 (the fourth bound).
        assert_eq!(ok.duration.cumulative[0], 1);
        assert_eq!(ok.duration.cumulative[2], 1);
        assert_eq!(ok.duration.cumulative[3], 2);
        assert_eq!(ok.duration.sum, 7_300);
        assert_eq!(ok.response_bytes.cumulative[1], 1, "5 bytes ≤ 10");
        assert_eq!(ok.response_bytes.cumulative[3], 1, "2,000 bytes > 1,000");
        assert_eq!(ok.response_bytes.cumulative[4], 2);
        assert_eq!(ok.response_bytes.sum, 2_005);
    }

    #[test]
    fn label_sets_beyond_the_slots_are_counted_apart() {
        let stats = DestinationStats::new(DestinationLabels::unknown());
        let measured = Measured {
            duration_micros: 1,
            request_bytes: 0,
            response_bytes: 0,
        };
        for code in 200..(200 + SLOTS as u16 + 3) {
            stats.record(key(code), measured);
        }
        assert_eq!(stats.read().len(), SLOTS);
        assert_eq!(stats.overflow(), 3);
    }
}
