//! Distributed tracing, as Istio's gateway traces: each request gets a
//! span of the gateway's, in the trace the request brings (W3C or B3, see
//! [`propagation`]) or in a new one; the upstream request carries the
//! trace with the gateway's span as its parent; sampled spans go to an
//! OTLP collector (see [`export`]).
//!
//! Off unless an OTLP endpoint is given: then nothing here runs per
//! request. On, a request costs a few header reads and one header written;
//! only a sampled request builds a span, once its response is done.
//!
//! Sampling follows the caller's decision when the trace brings one, else
//! the sampling percentage, decided from the request's `x-request-id` so
//! that replicas decide alike for one request id.

mod export;
pub(crate) mod propagation;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::SystemTime;

use http::HeaderValue;
use vestibule_ir::TracingPolicy;

use propagation::{Form, Outgoing};

/// How tracing is set up from the command line.
#[derive(Debug, Clone)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP traces URL
    /// (`http://collector:4318/v1/traces`); `None`: tracing is off.
    pub endpoint: Option<String>,
    /// Percent of the requests that start a trace sampled (Istio's
    /// `randomSamplingPercentage`; its default is 1).
    pub sampling: f64,
    /// `service.name` of the spans (Istio: the gateway's workload, e.g.
    /// `istio-ingressgateway.istio-system`).
    pub service_name: String,
}

impl Default for TracingConfig {
    fn default() -> TracingConfig {
        TracingConfig {
            endpoint: None,
            sampling: 1.0,
            service_name: "vestibule".to_owned(),
        }
    }
}

/// The tracer: sampling state and the exporter.
pub(crate) struct Tracing {
    config: TracingConfig,
    /// Hundredths of a percent (0..=10000) sampled.
    sampling: AtomicU32,
    reporting: AtomicBool,
    exporter: export::Exporter,
}

/// The gateway's span of one request, while the request is in flight.
#[derive(Debug)]
pub(crate) struct Span {
    pub out: Outgoing,
    pub started: SystemTime,
    /// The operation (Istio's route decorator: `{service}:{port}/*`).
    pub name: String,
    /// What the request said of itself, kept only when sampled.
    pub attributes: Vec<opentelemetry::KeyValue>,
}

impl Span {
    /// The request goes upstream: the upstream's headers carry the trace
    /// with this span as the parent; a sampled span takes the operation
    /// and tags of its destination (`describe`).
    pub(crate) fn forward(
        &mut self,
        headers: &mut http::HeaderMap,
        describe: impl FnOnce(&http::HeaderMap) -> (String, Vec<opentelemetry::KeyValue>),
    ) {
        propagation::inject(headers, &self.out);
        if self.out.sampled {
            let (name, attributes) = describe(headers);
            self.name = name;
            self.attributes.extend(attributes);
        }
    }
}

impl Tracing {
    /// `None` when no endpoint is configured (tracing is off).
    pub(crate) fn new(config: TracingConfig) -> Result<Option<Tracing>, String> {
        let Some(endpoint) = config.endpoint.clone() else {
            return Ok(None);
        };
        let exporter = export::Exporter::new(&endpoint, &config.service_name)?;
        let tracing = Tracing {
            sampling: AtomicU32::new(basis_points(config.sampling)),
            reporting: AtomicBool::new(true),
            config,
            exporter,
        };
        Ok(Some(tracing))
    }

    /// Applies the configuration's `Telemetry` decision (`None`: the
    /// command line's).
    pub(crate) fn switch(&self, decided: Option<TracingPolicy>) {
        let decided = decided.unwrap_or_default();
        let percent = decided.sampling.unwrap_or(self.config.sampling);
        self.sampling
            .store(basis_points(percent), Ordering::Relaxed);
        self.reporting
            .store(!decided.disable_reporting, Ordering::Relaxed);
    }

    /// Starts the gateway's span for a request as it arrived (every
    /// request has one, those the gateway answers itself too); `describe`
    /// gives the span's first name and attributes, asked for only when the
    /// request is sampled.
    pub(crate) fn start<B>(
        &self,
        request: &http::Request<B>,
        describe: impl FnOnce(&http::Request<B>) -> (String, Vec<opentelemetry::KeyValue>),
    ) -> Span {
        let incoming = propagation::extract(request.headers());
        let sampled = match incoming.and_then(|incoming| incoming.sampled) {
            Some(decided) => decided,
            None => self.samples(request.headers().get("x-request-id")),
        };
        let out = Outgoing {
            trace_id: incoming.map_or_else(new_trace_id, |incoming| incoming.trace_id),
            span_id: new_span_id(),
            parent_id: incoming.map(|incoming| incoming.span_id),
            sampled,
            b3: incoming
                .map(|incoming| incoming.form)
                .filter(|form| *form != Form::W3c),
            narrow: incoming.is_some_and(|incoming| incoming.narrow),
        };
        let (name, attributes) = if sampled {
            describe(request)
        } else {
            (String::new(), Vec::new())
        };
        Span {
            out,
            started: SystemTime::now(),
            name,
            attributes,
        }
    }

    /// Sends a sampled span, once its request is done (`record` is asked
    /// for only then).
    pub(crate) fn end(&self, span: &Span, record: impl FnOnce() -> export::Record) {
        if span.out.sampled && self.reporting.load(Ordering::Relaxed) {
            self.exporter.send(span, record());
        }
    }

    /// Sends what is buffered (at shutdown).
    pub(crate) fn flush(&self) {
        self.exporter.flush();
    }

    /// The sampling decision for a request that brings none: from its
    /// request id, so that every replica decides alike.
    fn samples(&self, request_id: Option<&HeaderValue>) -> bool {
        sampled(self.sampling.load(Ordering::Relaxed), request_id)
    }
}

/// Whether a request with `request_id` is sampled at `threshold`
/// hundredths of a percent.
fn sampled(threshold: u32, request_id: Option<&HeaderValue>) -> bool {
    {
        if threshold >= 10_000 {
            return true;
        }
        if threshold == 0 {
            return false;
        }
        // As Envoy's UUID request ids decide: the first 8 hex digits.
        let point = request_id
            .and_then(|id| id.as_bytes().get(..8))
            .and_then(|digits| u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok())
            .unwrap_or_else(|| fastrand::u64(..));
        (point % 10_000) < u64::from(threshold)
    }
}

pub(crate) use export::Record;

fn basis_points(percent: f64) -> u32 {
    (percent.clamp(0.0, 100.0) * 100.0).round() as u32
}

fn new_trace_id() -> u128 {
    loop {
        let id = fastrand::u128(..);
        if id != 0 {
            return id;
        }
    }
}

fn new_span_id() -> u64 {
    loop {
        let id = fastrand::u64(..);
        if id != 0 {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_id_is_decided_alike_and_the_share_holds() {
        let id = HeaderValue::from_static("6b0f1a5e-1b3c-4e7a-9a55-2d5b0c1f7e20");
        let first = sampled(5_000, Some(&id));
        assert!((0..10).all(|_| sampled(5_000, Some(&id)) == first));
        assert!(sampled(10_000, Some(&id)));
        assert!(!sampled(0, Some(&id)));
        let ids: Vec<HeaderValue> = (0..10_000u32)
            .map(|n| {
                let uuid = format!(
                    "{:08x}-1b3c-4e7a-9a55-2d5b0c1f7e20",
                    n.wrapping_mul(2_654_435_761)
                );
                HeaderValue::try_from(uuid).unwrap()
            })
            .collect();
        let share = ids.iter().filter(|id| sampled(2_500, Some(id))).count();
        // 25 % of 10,000 within 3 sigma (about 130).
        assert!((2_370..=2_630).contains(&share), "{share}");
    }

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(basis_points(1.0), 100);
        assert_eq!(basis_points(0.01), 1);
        assert_eq!(basis_points(100.0), 10_000);
        assert_eq!(basis_points(250.0), 10_000);
    }
}
