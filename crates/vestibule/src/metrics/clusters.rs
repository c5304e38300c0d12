//! Envoy's per-cluster figures, by the names Istio's proxies expose them
//! (`envoy_cluster_upstream_*{cluster_name="outbound|8000||httpbin…"}`),
//! so that dashboards built on them keep working.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use vestibule_proxy::DestinationStats;

#[derive(Debug)]
pub struct ClusterCollector {
    pub destinations: Vec<Arc<DestinationStats>>,
    /// Requests in flight, by cluster name.
    pub active: Vec<(String, usize)>,
}

impl Collector for ClusterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let clusters: Vec<_> = self
            .destinations
            .iter()
            .filter(|stats| !stats.labels.cluster.is_empty())
            .map(|stats| (&stats.labels.cluster, stats.upstream.read()))
            .collect();
        let counters = [
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
        ];
        for (index, (name, help)) in counters.into_iter().enumerate() {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (cluster, figures) in &clusters {
                let labels = [("cluster_name", cluster.as_str())];
                ConstCounter::new(figures[index]).encode(family.encode_family(&labels)?)?;
            }
        }
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
