//! Prometheus metrics: request counts by listener, route and response code
//! (read from the data plane's lock-free counters at scrape time), and the
//! configuration's generation and reload outcomes.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::state::ControlState;
pub use istio::SourceLabels;

mod envoy;
mod istio;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: String,
    route: String,
    response_code: String,
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// The gateway's side of Istio's metrics (set once, at start).
    pub source: std::sync::OnceLock<Arc<SourceLabels>>,
    generation: Gauge,
    reloads: Family<OutcomeLabels, Counter>,
    last_reload_success: Gauge,
    config_errors: Gauge,
}

impl Metrics {
    pub fn record_reload(&self, ok: bool, generation: u64, errors: usize) {
        let outcome = if ok { "success" } else { "failure" };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
        self.generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        self.last_reload_success.set(i64::from(ok));
        self.config_errors
            .set(i64::try_from(errors).unwrap_or(i64::MAX));
    }
}

/// Renders every metric in the Prometheus text format.
pub fn render(state: &Arc<ControlState>) -> String {
    let mut root = Registry::default();
    if let Some(source) = state.metrics.source.get() {
        root.register_collector(Box::new(istio::IstioCollector {
            source: Arc::clone(source),
            destinations: state.data_plane.destination_stats(),
        }));
    }
    root.register_collector(Box::new(envoy::EnvoyCollector {
        destinations: state.data_plane.destination_stats(),
        active: state.data_plane.active_requests(),
        listeners: state.data_plane.listeners(),
    }));
    let registry = root.sub_registry_with_prefix("vestibule");
    let metrics = &state.metrics;
    registry.register(
        "config_generation",
        "Generation of the configuration serving traffic",
        metrics.generation.clone(),
    );
    registry.register(
        "config_reloads",
        "Configuration load attempts by outcome",
        metrics.reloads.clone(),
    );
    registry.register(
        "config_last_reload_successful",
        "1 if the last configuration load succeeded, 0 if it was rejected",
        metrics.last_reload_success.clone(),
    );
    registry.register(
        "config_errors",
        "Errors in the last rejected configuration load (0 after a success)",
        metrics.config_errors.clone(),
    );
    register_connections(registry, state);
    register_kubernetes(registry, state);
    registry.register_collector(Box::new(RequestCollector(Arc::clone(state))));
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &root);
    text
}

/// Counter families that share their rows: family `i` (`names[i]`, a name
/// and a help text) has a sample per row, with the row's labels and its
/// `i`th figure.
fn encode_counters<L: prometheus_client::encoding::EncodeLabelSet, const N: usize>(
    encoder: &mut DescriptorEncoder,
    names: [(&str, &str); N],
    rows: &[(L, [u64; N])],
) -> Result<(), std::fmt::Error> {
    for (index, (name, help)) in names.into_iter().enumerate() {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, figures) in rows {
            prometheus_client::metrics::counter::ConstCounter::new(figures[index])
                .encode(family.encode_family(labels)?)?;
        }
    }
    Ok(())
}

/// Client connection figures and protocol errors, read from the data
/// plane's counters at scrape time.
fn register_connections(registry: &mut Registry, state: &ControlState) {
    use std::sync::atomic::Ordering::Relaxed;
    let data_plane = &state.data_plane;
    let counters = data_plane.counters();
    let open = Gauge::<i64>::default();
    open.set(i64::try_from(data_plane.open_connections()).unwrap_or(i64::MAX));
    registry.register(
        "downstream_connections",
        "Client connections open now, over all listeners",
        open,
    );
    let refused = Counter::<u64>::default();
    refused.inc_by(counters.connections_refused.load(Relaxed));
    registry.register(
        "downstream_connections_refused",
        "Client connections closed at accept because a connection limit was reached",
        refused,
    );
    let overflow = Counter::<u64>::default();
    overflow.inc_by(
        data_plane
            .destination_stats()
            .iter()
            .map(|stats| stats.overflow())
            .sum(),
    );
    registry.register(
        "istio_series_overflow",
        "Requests not counted in Istio's metrics because their destination already had 16 label sets",
        overflow,
    );
    if let Some(dropped) = data_plane.access_log_dropped() {
        let counter = Counter::<u64>::default();
        counter.inc_by(dropped);
        registry.register(
            "access_log_dropped_lines",
            "Access log lines dropped because the writer fell behind (requests are never held back for it)",
            counter,
        );
    }
    let counted = [
        (
            "downstream_protocol_errors",
            "Requests refused because the client broke the protocol (malformed or ambiguous heads and bodies)",
            &counters.downstream_protocol_errors,
        ),
        (
            "downstream_tls_handshake_failures",
            "TLS connections closed before the handshake completed (no ClientHello, no server for the SNI, a refused client certificate)",
            &counters.tls_handshake_failures,
        ),
        (
            "upstream_stream_connect_failures",
            "TCP and TLS connections closed because their upstream connection failed",
            &counters.stream_connect_failures,
        ),
    ];
    for (name, help, value) in counted {
        let counter = Counter::<u64>::default();
        counter.inc_by(value.load(Relaxed));
        registry.register(name, help, counter);
    }
}

/// The Kubernetes mode's connection to the API server and its election.
fn register_kubernetes(registry: &mut Registry, state: &ControlState) {
    let Some(kube) = state.kubernetes.get() else {
        return;
    };
    let gauges = [
        (
            "kubernetes_degraded",
            "1 while a watch of the API server fails (the last configuration keeps serving)",
            i64::from(kube.source.degraded()),
        ),
        (
            "kubernetes_leader",
            "1 on the replica that holds the status Lease (the one writing status)",
            i64::from(*kube.leading.borrow()),
        ),
        (
            "kubernetes_objects",
            "Objects read from the API server and kept",
            i64::try_from(kube.source.object_count()).unwrap_or(i64::MAX),
        ),
    ];
    for (name, help, value) in gauges {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        registry.register(name, help, gauge);
    }
    let failures = Counter::<u64>::default();
    failures.inc_by(kube.source.failures());
    registry.register(
        "kubernetes_watch_failures",
        "Failed list, watch or discovery requests to the API server (each is retried)",
        failures,
    );
}

#[derive(Debug)]
struct RequestCollector(Arc<ControlState>);

impl std::fmt::Debug for ControlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlState").finish_non_exhaustive()
    }
}

impl Collector for RequestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.data_plane.stats().collect();
        let mut family = encoder.encode_descriptor(
            "requests",
            "HTTP requests by listener, route (empty: no route matched) and response code",
            None,
            MetricType::Counter,
        )?;
        for ((listener, route), codes) in &stats {
            for (code, count) in codes {
                let code = if *code == 0 {
                    "other".to_owned()
                } else {
                    code.to_string()
                };
                let labels = RequestLabels {
                    listener: listener.clone(),
                    route: route.clone(),
                    response_code: code,
                };
                let counter = Counter::<u64>::default();
                counter.inc_by(*count);
                counter.encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Prometheus' text format (0.0.4) from OpenMetrics text: a counter's
/// family is named as its samples are (`_total`), and the lines 0.0.4 does
/// not have (`# EOF`, `# UNIT`) go.
pub fn prometheus_text(openmetrics: &str) -> String {
    let lines: Vec<&str> = openmetrics.lines().collect();
    let mut text = String::with_capacity(openmetrics.len());
    for (index, line) in lines.iter().enumerate() {
        if *line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let counter_family = |name: &str| {
            lines[index..]
                .iter()
                .take(2)
                .any(|next| *next == format!("# TYPE {name} counter"))
        };
        let renamed = match line.split_once(' ').map(|(_, rest)| rest) {
            Some(rest) if line.starts_with("# HELP ") || line.starts_with("# TYPE ") => {
                let rest = &rest[5..];
                let name = rest.split(' ').next().unwrap_or_default();
                (counter_family(name) && !name.ends_with("_total"))
                    .then(|| format!("{}{name}_total{}", &line[..7], &rest[name.len()..]))
            }
            _ => None,
        };
        match renamed {
            Some(renamed) => text.push_str(&renamed),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::prometheus_text;

    #[test]
    fn counters_are_named_as_their_samples_and_eof_goes() {
        let openmetrics = "# HELP istio_requests Requests.\n# TYPE istio_requests counter\nistio_requests_total{a=\"b\"} 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n# EOF\n";
        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP istio_requests_total Requests.\n# TYPE istio_requests_total counter\nistio_requests_total{a=\"b\"} 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n"
        );
    }
}
