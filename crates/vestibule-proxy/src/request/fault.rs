//! Fault injection (Istio `fault`), as Envoy's fault filter does it: a
//! delay, then an abort, each drawn on its own per request. Istio places
//! the fault filter after CORS and before the router, so a CORS preflight
//! is answered without faults, a redirect or direct response is faulted as
//! a forward is, and the delay is spent before the router starts the route
//! timeout: it does not count against `timeout`, as in Envoy.
//!
//! Routes without a fault pay one `Option` check; the random draws happen
//! only on routes that have one.

use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use vestibule_ir::{AbortStatus, FaultInjection};

use super::{grpc, Context};
use crate::body::ResponseBody;
use crate::flags::Flags;
use crate::Shared;

/// The text Envoy's fault filter answers an abort with (its local reply
/// body, and `grpc-message` for a gRPC request).
const ABORT_TEXT: &str = "fault filter abort";

/// A route's faults, as the request path reads them.
pub(crate) struct CompiledFault {
    delay: Option<(Duration, f64)>,
    abort: Option<(AbortStatus, f64)>,
}

impl CompiledFault {
    pub(crate) fn new(fault: &FaultInjection) -> CompiledFault {
        CompiledFault {
            delay: fault.delay.as_ref().map(|d| (d.fixed, d.percent)),
            abort: fault.abort.as_ref().map(|a| (a.status, a.percent)),
        }
    }

    /// Delays the request if its draw says so, then answers it with the
    /// abort if that draw says so; `None` lets the request go on.
    pub(crate) async fn inject(
        &self,
        shared: &Shared,
        context: &mut Context,
    ) -> Option<Response<ResponseBody>> {
        if let Some((delay, percent)) = self.delay {
            if drawn(percent) {
                context.flags.insert(Flags::DELAY_INJECTED);
                // Boxed: the timer would otherwise sit in every request's state.
                Box::pin(tokio::time::sleep(delay)).await;
            }
        }
        let (status, percent) = self.abort?;
        if !drawn(percent) {
            return None;
        }
        context.flags.insert(Flags::FAULT_INJECTED);
        context.details = "fault_filter_abort";
        Some(abort_response(shared, status, context.grpc))
    }
}

/// Envoy draws against a fraction per million; a uniform draw in [0, 100)
/// is the same test.
fn drawn(percent: f64) -> bool {
    percent >= 100.0 || fastrand::f64() * 100.0 < percent
}

/// Envoy's `sendLocalReply(status, "fault filter abort", grpc_status)`: for
/// a gRPC request a trailers-only answer whose `grpc-status` is the abort's
/// gRPC code, or the HTTP status mapped as Envoy maps it; otherwise the
/// status (200 for a gRPC code) with the text as a `text/plain` body.
fn abort_response(shared: &Shared, status: AbortStatus, is_grpc: bool) -> Response<ResponseBody> {
    let http = match status {
        AbortStatus::Http(code) => {
            StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
        }
        AbortStatus::Grpc(_) => StatusCode::OK,
    };
    let mut response = Response::new(ResponseBody::text(ABORT_TEXT));
    *response.status_mut() = http;
    let headers = response.headers_mut();
    headers.insert(header::SERVER, shared.server_header.clone());
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if is_grpc {
        let code = match status {
            AbortStatus::Grpc(code) => code,
            AbortStatus::Http(_) => grpc::status_for(http),
        };
        grpc::trailers_only(&mut response, code, ABORT_TEXT);
    }
    response
}
