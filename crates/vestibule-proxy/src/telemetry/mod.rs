//! The last phase of a request, once its response is written or
//! abandoned: its figures go to the metrics and, when one is on, a line
//! to the access log. The servers call [`finish`]; nothing here waits.

pub(crate) mod access_log;
pub(crate) mod destination;
pub(crate) mod labels;
pub(crate) mod traces;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};

use crate::body::{BoxError, ResponseBody};
use crate::flags::Flags;
use crate::request::upgrade::{TunnelFinish, TunnelHandoff};
use crate::request::{ConnInfo, Context};
use crate::Shared;
use access_log::{AccessLog, AccessLogConfig};
use destination::{DestinationStats, Measured, SeriesKey};
use labels::DestinationLabels;

/// What the request path reports to, beside the route counters.
pub(crate) struct Telemetry {
    /// The command line's settings; Istio's Telemetry can turn the log on
    /// or off over them.
    config: AccessLogConfig,
    /// Started the first time the log is on (at start when the command
    /// line turns it on, so that a bad path stops the start).
    access_log: OnceLock<AccessLog>,
    on: AtomicBool,
    /// Requests that reached no destination (no route, an invalid backend,
    /// a rejected head).
    pub unknown: Arc<DestinationStats>,
    /// `None`: tracing is off (no collector configured).
    pub tracing: Option<traces::Tracing>,
}

impl Telemetry {
    pub(crate) fn new(
        config: AccessLogConfig,
        tracing: Option<traces::Tracing>,
    ) -> io::Result<Telemetry> {
        let telemetry = Telemetry {
            config,
            access_log: OnceLock::new(),
            on: AtomicBool::new(false),
            unknown: Arc::new(DestinationStats::new(DestinationLabels::unknown())),
            tracing,
        };
        telemetry.switch(None)?;
        Ok(telemetry)
    }

    /// Turns the log on or off as the configuration decides (`None`: as
    /// the command line does).
    pub(crate) fn switch(&self, decided: Option<bool>) -> io::Result<()> {
        let on = decided.unwrap_or(self.config.enabled);
        if on && self.access_log.get().is_none() {
            let log = AccessLog::start(&self.config)?;
            let _ = self.access_log.set(log);
        }
        self.on.store(on, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn logging(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The log, while it is on.
    pub(crate) fn access_log(&self) -> Option<&AccessLog> {
        self.access_log.get().filter(|_| self.logging())
    }

    /// The log, if it was ever started (for its figures, and to flush it).
    pub(crate) fn started_log(&self) -> Option<&AccessLog> {
        self.access_log.get()
    }
}

/// How a response's writing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Written to its last byte.
    Complete,
    /// The client went away (closed, reset the stream) first: Envoy's `DC`.
    ClientGone,
    /// The upstream's body failed part way: Envoy's `UC`.
    UpstreamFailed,
}

/// A written (or abandoned) response, as the servers saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ended {
    /// `None`: the client went before a response was made (Envoy logs 0).
    pub status: Option<StatusCode>,
    /// Body bytes sent.
    pub sent: u64,
    pub end: End,
}

/// Records a finished request: its route's counter, its destination's
/// series, and its access log line. The context is borrowed: it is 592
/// bytes, copied on every request when it was moved in.
pub(crate) fn finish(shared: &Shared, conn: &ConnInfo, context: &mut Context, ended: Ended) {
    let duration = context.started.elapsed();
    match ended.end {
        End::Complete => {}
        End::ClientGone => context
            .flags
            .insert(Flags::DOWNSTREAM_CONNECTION_TERMINATION),
        End::UpstreamFailed => context.flags.insert(Flags::UPSTREAM_CONNECTION_TERMINATION),
    }
    if context.attempts.exhausted {
        context.flags.insert(Flags::UPSTREAM_RETRY_LIMIT_EXCEEDED);
    }
    let status = ended.status.map_or(0, |status| status.as_u16());
    let duration_micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    let (route_stats, destination) = context.counters(shared);
    if let Some(route_stats) = route_stats {
        route_stats.record(status, duration_micros);
    }
    destination.record(
        SeriesKey {
            response_code: status,
            flags: context.flags.bits(),
            grpc_status: context.grpc_status,
            grpc: context.grpc,
        },
        Measured {
            duration_micros,
            request_bytes: context.received_bytes(),
            response_bytes: ended.sent,
        },
    );
    if let (Some(span), Some(tracing)) = (&context.trace, &shared.telemetry.tracing) {
        tracing.end(span, || span_record(span, context, status, ended.sent));
    }
    // The request's line was taken when it arrived, if the log was on then.
    if context.line.is_some() {
        if let Some(log) = shared.telemetry.access_log() {
            log.write(&access_log::Record {
                context,
                addresses: conn.peer.addresses.as_deref(),
                status,
                sent: ended.sent,
                duration,
            });
        }
    }
}

/// What a finished request adds to its span (only a sampled one gets
/// here): Envoy's tags as Istio's gateways set them.
fn span_record(span: &traces::Span, context: &Context, status: u16, sent: u64) -> traces::Record {
    use opentelemetry::KeyValue;
    let mut attributes = span.attributes.clone();
    attributes.extend([
        KeyValue::new("http.status_code", i64::from(status)),
        KeyValue::new("response_flags", context.flags.to_string()),
        KeyValue::new("response_size", i64::try_from(sent).unwrap_or(i64::MAX)),
        KeyValue::new(
            "request_size",
            i64::try_from(context.received_bytes()).unwrap_or(i64::MAX),
        ),
    ]);
    let error = status >= 500 || status == 0;
    if error {
        attributes.push(KeyValue::new("error", "true"));
    }
    traces::Record {
        name: span.name.clone(),
        attributes,
        error,
        ended: std::time::SystemTime::now(),
    }
}

/// A 101's account, handed to its tunnel (see [`TunnelHandoff`]).
struct TunnelAccount {
    context: Context,
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    ended: Ended,
}

impl TunnelAccount {
    /// The tunnel closed, having carried these bytes each way.
    fn finish(mut self, from_client: u64, to_client: u64) {
        let received = crate::idle::Activity::new();
        received.carried(from_client);
        self.context.received = Some(received);
        self.ended.sent += to_client;
        finish(&self.shared, &self.conn, &mut self.context, self.ended);
    }
}

/// A response body that counts what it gives and, when dropped, finishes
/// its request's account: written to the end, or abandoned (the client
/// went, or the upstream's body failed).
pub(crate) struct Accounted {
    body: ResponseBody,
    context: Option<Context>,
    /// A 101's tunnel, which finishes the account when it closes.
    tunnel: Option<tokio::sync::oneshot::Sender<TunnelFinish>>,
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    ended: Ended,
}

impl Accounted {
    /// `complete`: nothing of the body will be asked for (a HEAD request).
    pub(crate) fn wrap(
        response: http::Response<ResponseBody>,
        context: Context,
        shared: Arc<Shared>,
        conn: Arc<ConnInfo>,
        complete: bool,
    ) -> http::Response<ResponseBody> {
        let status = response.status();
        let mut response = response;
        let tunnel = response
            .extensions_mut()
            .remove::<TunnelHandoff>()
            .and_then(|handoff| handoff.0.lock().ok()?.take());
        response.map(|body| {
            let end = if complete || body.is_end_stream() {
                End::Complete
            } else {
                End::ClientGone
            };
            ResponseBody::Accounted(Box::new(Accounted {
                body,
                context: Some(context),
                tunnel,
                shared,
                conn,
                ended: Ended {
                    status: Some(status),
                    sent: 0,
                    end,
                },
            }))
        })
    }
}

impl Body for Accounted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.ended.sent += data.len() as u64;
                }
                if let (Some(trailers), Some(context)) = (frame.trailers_ref(), &mut this.context) {
                    if context.grpc {
                        context.grpc_status = crate::request::grpc_status_of(trailers);
                    }
                }
                if this.body.is_end_stream() {
                    this.ended.end = End::Complete;
                }
            }
            Poll::Ready(None) => this.ended.end = End::Complete,
            Poll::Ready(Some(Err(_))) => this.ended.end = End::UpstreamFailed,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Accounted {
    fn drop(&mut self) {
        let Some(mut context) = self.context.take() else {
            return;
        };
        if let Some(tunnel) = self.tunnel.take() {
            let account = TunnelAccount {
                context,
                shared: Arc::clone(&self.shared),
                conn: Arc::clone(&self.conn),
                ended: self.ended,
            };
            let finish: TunnelFinish = Box::new(move |from, to| account.finish(from, to));
            // The tunnel already closed (or never opened): finish here.
            if let Err(finish) = tunnel.send(finish) {
                finish(0, 0);
            }
            return;
        }
        finish(&self.shared, &self.conn, &mut context, self.ended);
    }
}
