//! Sampled spans to an OTLP collector, over HTTP (protobuf), in batches,
//! by the OpenTelemetry SDK on the gateway's runtime. The gateway decides
//! sampling and names its spans' ids itself (they went upstream in the
//! request's headers before the span is built), so the SDK samples
//! everything it is handed and takes the ids from [`Assigned`].

use std::cell::Cell;
use std::time::SystemTime;

use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _,
    TraceFlags, TraceId, TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, IdGenerator, Sampler, SdkTracer, SdkTracerProvider,
};
use opentelemetry_sdk::{runtime, Resource};

use super::Span;

/// What a finished request adds to its span.
pub(crate) struct Record {
    /// The operation: Istio's `{service}:{port}/*`, or the request's host.
    pub name: String,
    pub attributes: Vec<KeyValue>,
    /// A 5xx answer, or none: Envoy marks the span `error`.
    pub error: bool,
    pub ended: SystemTime,
}

thread_local! {
    /// The ids of the span being built on this thread.
    static ASSIGNED: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// Hands the SDK the ids the gateway gave the span it is building (the
/// SDK asks its id generator, on the building thread, for a span's ids).
#[derive(Debug)]
struct Assigned;

impl IdGenerator for Assigned {
    fn new_trace_id(&self) -> TraceId {
        match ASSIGNED.get() {
            Some((trace_id, _)) => trace_id,
            None => TraceId::from_bytes(fastrand::u128(1..).to_be_bytes()),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match ASSIGNED.get() {
            Some((_, span_id)) => span_id,
            None => SpanId::from_bytes(fastrand::u64(1..).to_be_bytes()),
        }
    }
}

pub(crate) struct Exporter {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Exporter {
    pub(crate) fn new(endpoint: &str, service_name: &str) -> Result<Exporter, String> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_protocol(Protocol::HttpBinary)
            .build()
            .map_err(|error| format!("OTLP exporter for {endpoint}: {error}"))?;
        // Sent every second (or at 512 spans), at most 2,048 waiting: past
        // that, spans are dropped rather than held.
        let batches = BatchConfigBuilder::default()
            .with_scheduled_delay(std::time::Duration::from_secs(1))
            .with_max_queue_size(2048)
            .build();
        let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio)
            .with_batch_config(batches)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::AlwaysOn)
            .with_id_generator(Assigned)
            .with_resource(
                Resource::builder()
                    .with_service_name(service_name.to_owned())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("vestibule");
        Ok(Exporter { provider, tracer })
    }

    pub(crate) fn send(&self, span: &Span, record: Record) {
        let out = &span.out;
        let trace_id = TraceId::from_bytes(out.trace_id.to_be_bytes());
        let parent = match out.parent_id {
            Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                SpanId::from_bytes(parent.to_be_bytes()),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        let builder = SpanBuilder::from_name(record.name)
            .with_kind(SpanKind::Client)
            .with_start_time(span.started)
            .with_attributes(record.attributes);
        ASSIGNED.set(Some((
            trace_id,
            SpanId::from_bytes(out.span_id.to_be_bytes()),
        )));
        let mut sdk_span = self.tracer.build_with_context(builder, &parent);
        ASSIGNED.set(None);
        if record.error {
            sdk_span.set_status(Status::error(""));
        }
        sdk_span.end_with_timestamp(record.ended);
    }

    /// Exports what is queued, waiting for it (off the runtime's threads).
    pub(crate) fn flush(&self) {
        if let Err(error) = self.provider.force_flush() {
            tracing::warn!(%error, "flushing spans failed");
        }
    }
}
