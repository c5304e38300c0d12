//! Envoy's per-cluster and per-listener figures, by the names Istio's
//! proxies expose them (`envoy_cluster_upstream_*{cluster_name=
//! "outbound|8000||httpbin…"}`, `envoy_listener_downstream_cx_*{
//! listener_address="0.0.0.0_8080"}`), so that dashboards built on them
//! keep working.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use vestibule_proxy::{DestinationStats, ListenerState};

#[derive(Debug)]
pub struct EnvoyCollector {
    pub destinations: Vec<Arc<DestinationStats>>,
    /// Requests in flight, by cluster name.
    pub active: Vec<(String, usize)>,
    pub listeners: Vec<ListenerState>,
}

impl Collector for EnvoyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.encode_listeners(&mut encoder)?;
        let clusters: Vec<_> = self
            .destinations
            .iter()
            .filter(|stats| !stats.labels.cluster.is_empty())
            .map(|stats| {
                let labels = [("cluster_name", stats.labels.cluster.as_str())];
                (labels, stats.upstream.read())
            })
            .collect();
        let names = [
            (
                "envoy_cluster_upstream_rq",
                "Requests sent to the cluster (each attempt counts)",
            ),
            (
                "envoy_cluster_upstream_cx_connect_fail",
                "Connections to the cluster that failed",
            ),
            ("envoy_cluster_upstream_rq_retry", "Retries to the cluster"),
            (
                "envoy_cluster_upstream_rq_timeout",
                "Requests to the cluster that ran past their route's timeout",
            ),
            (
                "envoy_cluster_upstream_rq_pending_overflow",
                "Requests a circuit breaker turned away (pending queue or requests in flight full)",
            ),
            (
                "envoy_cluster_upstream_cx_overflow",
                "Times the cluster's connection limit stopped a new connection",
            ),
            (
                "envoy_cluster_upstream_rq_retry_overflow",
                "Retries not made for the cluster's retry limit",
            ),
            (
                "envoy_cluster_outlier_detection_ejections_enforced",
                "Endpoints outlier detection ejected",
            ),
        ];
        super::encode_counters(&mut encoder, names, &clusters)?;
        let mut family = encoder.encode_descriptor(
            "envoy_cluster_upstream_rq_active",
            "Requests to the cluster in flight",
            None,
            MetricType::Gauge,
        )?;
        for (cluster, active) in &self.active {
            let labels = [("cluster_name", cluster.as_str())];
            let active = i64::try_from(*active).unwrap_or(i64::MAX);
            ConstGauge::new(active).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl EnvoyCollector {
    /// Envoy names a listener by its address: `127.0.0.1_8080`.
    fn encode_listeners(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let bound: Vec<_> = self
            .listeners
            .iter()
            .filter_map(|listener| {
                let address = listener.address?;
                Some((format!("{}_{}", address.ip(), address.port()), listener))
            })
            .collect();
        let rows: Vec<_> = bound
            .iter()
            .map(|(address, listener)| {
                let figures = [
                    listener.accepted_connections,
                    listener.tls_handshakes,
                    listener.tls_handshake_failures,
                ];
                ([("listener_address", address.as_str())], figures)
            })
            .collect();
        let names = [
            (
                "envoy_listener_downstream_cx",
                "Connections the listener accepted",
            ),
            (
                "envoy_listener_ssl_handshake",
                "TLS handshakes the listener completed",
            ),
            (
                "envoy_listener_ssl_connection_error",
                "TLS handshakes that failed on the listener (no ClientHello, no server for the SNI, a refused client certificate)",
            ),
        ];
        super::encode_counters(encoder, names, &rows)?;
        let mut family = encoder.encode_descriptor(
            "envoy_listener_downstream_cx_active",
            "Connections open on the listener",
            None,
            MetricType::Gauge,
        )?;
        for (address, listener) in &bound {
            let labels = [("listener_address", address.as_str())];
            let active = i64::try_from(listener.active_connections).unwrap_or(i64::MAX);
            ConstGauge::new(active).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
