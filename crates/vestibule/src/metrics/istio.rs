//! Istio's standard metrics, with Istio's names, types and labels as its
//! ingress gateway reports them (`reporter="source"`): read at scrape time
//! from the data plane's lock-free series, one per destination and label
//! set. What Istio learns from a destination's sidecar (its workload and
//! principal) a gateway without a mesh cannot know: `unknown`, as Istio
//! reports it.

use std::borrow::Cow;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use vestibule_proxy::{
    DestinationStats, Flags, HistogramReading, SeriesReading, TcpReading, DURATION_BOUNDS,
    SIZE_BOUNDS,
};

const UNKNOWN: &str = "unknown";

/// The gateway's own side of every series.
#[derive(Debug, Clone)]
pub struct SourceLabels {
    pub workload: String,
    pub workload_namespace: String,
    pub app: String,
    pub version: String,
    pub canonical_service: String,
    pub canonical_revision: String,
}

impl SourceLabels {
    /// From the gateway's own labels (`app`, `version`, Istio's canonical
    /// names) and namespace.
    pub fn of(labels: &[(String, String)], namespace: &str) -> SourceLabels {
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, value)| value.clone())
        };
        let app = label("app");
        let workload = app.clone().unwrap_or_else(|| "vestibule".to_owned());
        SourceLabels {
            canonical_service: label("service.istio.io/canonical-name")
                .or_else(|| label("app.kubernetes.io/name"))
                .unwrap_or_else(|| workload.clone()),
            canonical_revision: label("service.istio.io/canonical-revision")
                .or_else(|| label("version"))
                .unwrap_or_else(|| "latest".to_owned()),
            version: label("version").unwrap_or_else(|| UNKNOWN.to_owned()),
            app: app.unwrap_or_else(|| UNKNOWN.to_owned()),
            workload,
            workload_namespace: namespace.to_owned(),
        }
    }
}

/// One series' labels, in Istio's order.
type Labels<'a> = [(&'static str, Cow<'a, str>); 25];

/// Encodes `istio_requests_total` and the three histograms at scrape time.
#[derive(Debug)]
pub struct IstioCollector {
    pub source: Arc<SourceLabels>,
    pub destinations: Vec<Arc<DestinationStats>>,
}

impl IstioCollector {
    fn labels<'a>(&'a self, stats: &'a DestinationStats, series: &SeriesReading) -> Labels<'a> {
        let key = series.key;
        let grpc_status = key.grpc_status.map_or_else(String::new, |s| s.to_string());
        self.labels_with(
            stats,
            if key.grpc { "grpc" } else { "http" },
            key.response_code.to_string(),
            grpc_status,
            Flags::from_bits(key.flags).to_string(),
        )
    }

    /// A TCP series' labels: Istio reports protocol `tcp`, code 0.
    fn tcp_labels<'a>(&'a self, stats: &'a DestinationStats, reading: &TcpReading) -> Labels<'a> {
        self.labels_with(
            stats,
            "tcp",
            "0".to_owned(),
            String::new(),
            reading.outcome.flags().to_owned(),
        )
    }

    fn labels_with<'a>(
        &'a self,
        stats: &'a DestinationStats,
        protocol: &'static str,
        response_code: String,
        grpc_status: String,
        flags: String,
    ) -> Labels<'a> {
        let source = &*self.source;
        let destination = &stats.labels;
        let text = |value: &'a String| Cow::Borrowed(value.as_str());
        let unknown = || Cow::Borrowed(UNKNOWN);
        [
            ("reporter", Cow::Borrowed("source")),
            ("source_workload", text(&source.workload)),
            (
                "source_workload_namespace",
                text(&source.workload_namespace),
            ),
            ("source_principal", unknown()),
            ("source_app", text(&source.app)),
            ("source_version", text(&source.version)),
            ("source_canonical_service", text(&source.canonical_service)),
            (
                "source_canonical_revision",
                text(&source.canonical_revision),
            ),
            ("source_cluster", unknown()),
            ("destination_workload", unknown()),
            (
                "destination_workload_namespace",
                text(&destination.service_namespace),
            ),
            ("destination_principal", unknown()),
            ("destination_app", unknown()),
            ("destination_version", text(&destination.version)),
            ("destination_service", text(&destination.service)),
            ("destination_service_name", text(&destination.service_name)),
            (
                "destination_service_namespace",
                text(&destination.service_namespace),
            ),
            (
                "destination_canonical_service",
                text(&destination.service_name),
            ),
            ("destination_canonical_revision", Cow::Borrowed("latest")),
            ("destination_cluster", unknown()),
            ("request_protocol", Cow::Borrowed(protocol)),
            ("response_code", Cow::Owned(response_code)),
            ("grpc_response_status", Cow::Owned(grpc_status)),
            ("response_flags", Cow::Owned(flags)),
            ("connection_security_policy", unknown()),
        ]
    }
}

impl Collector for IstioCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let readings: Vec<_> = self
            .destinations
            .iter()
            .map(|stats| (stats, stats.read()))
            .collect();
        let all = || {
            readings
                .iter()
                .flat_map(|(stats, series)| series.iter().map(move |series| (&***stats, series)))
        };
        let mut family = encoder.encode_descriptor(
            "istio_requests",
            "Requests the gateway answered, by destination and outcome",
            None,
            MetricType::Counter,
        )?;
        for (stats, series) in all() {
            let labels = self.labels(stats, series);
            ConstCounter::new(series.requests).encode(family.encode_family(&labels)?)?;
        }
        let histograms: [(&str, &str, ReadHistogram); 3] = [
            (
                "istio_request_duration_milliseconds",
                "Time from a request's arrival to its response's last byte, in milliseconds",
                |series| Histogram::of(&series.duration, &DURATION_BOUNDS, 1000.0),
            ),
            (
                "istio_request_bytes",
                "Request body sizes, in bytes",
                |series| Histogram::of(&series.request_bytes, &SIZE_BOUNDS, 1.0),
            ),
            (
                "istio_response_bytes",
                "Response body sizes, in bytes",
                |series| Histogram::of(&series.response_bytes, &SIZE_BOUNDS, 1.0),
            ),
        ];
        self.encode_tcp(&mut encoder)?;
        for (name, help, read) in histograms {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for (stats, series) in all() {
                let labels = self.labels(stats, series);
                let histogram = read(series);
                family
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(
                        histogram.sum,
                        histogram.count,
                        &histogram.buckets,
                        None,
                    )?;
            }
        }
        Ok(())
    }
}

impl IstioCollector {
    /// `istio_tcp_*`: connections of TCP and TLS routes.
    fn encode_tcp(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rows: Vec<_> = self
            .destinations
            .iter()
            .flat_map(|stats| {
                stats.read_tcp().into_iter().map(move |reading| {
                    let figures = [
                        reading.opened,
                        reading.closed,
                        reading.sent,
                        reading.received,
                    ];
                    (self.tcp_labels(stats, &reading), figures)
                })
            })
            .collect();
        let names = [
            (
                "istio_tcp_connections_opened",
                "Connections opened to the destination",
            ),
            (
                "istio_tcp_connections_closed",
                "Connections to the destination closed",
            ),
            (
                "istio_tcp_sent_bytes",
                "Bytes sent to the client on closed connections",
            ),
            (
                "istio_tcp_received_bytes",
                "Bytes received from the client on closed connections",
            ),
        ];
        super::encode_counters(encoder, names, &rows)
    }
}

/// Reads one of a series' histograms.
type ReadHistogram = fn(&SeriesReading) -> Histogram;

/// A histogram as the encoder takes it: per-bucket counts, `+Inf` last.
struct Histogram {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// `divisor` turns the recorded sum into the metric's unit.
    fn of<const N: usize>(
        reading: &HistogramReading<N>,
        bounds: &[f64; N],
        divisor: f64,
    ) -> Histogram {
        let mut previous = 0;
        let mut buckets: Vec<(f64, u64)> = bounds
            .iter()
            .zip(reading.cumulative)
            .map(|(bound, cumulative)| {
                let count = cumulative - previous;
                previous = cumulative;
                (*bound, count)
            })
            .collect();
        buckets.push((f64::INFINITY, reading.count - previous));
        Histogram {
            sum: reading.sum as f64 / divisor,
            count: reading.count,
            buckets,
        }
    }
}
