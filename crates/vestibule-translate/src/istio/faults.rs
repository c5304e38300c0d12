//! Istio `http[].fault` → the IR's fault injection, as Istio configures
//! Envoy's fault filter (`pilot/pkg/networking/core/route/route.go`
//! `TranslateFault`) and as its webhook validates it.
//!
//! An unset `percentage` injects nothing: istio/api says so ("If left
//! unspecified, no request will be delayed" / "aborted"), and Istio hands
//! Envoy an empty fractional percent, whose numerator 0 never fires. The
//! deprecated integer `delay.percent` counts when `percentage` is unset.

use vestibule_api::istio::{FaultAbort as ApiAbort, FaultDelay as ApiDelay, HttpFaultInjection};
use vestibule_ir::status::Warning;
use vestibule_ir::{AbortStatus, FaultAbort, FaultDelay, FaultInjection};

use super::matches::FieldError;
use crate::duration::parse_duration;

/// `None` when nothing would ever be injected (Istio then sets no fault
/// filter config on the route). Invalid values reject the VirtualService,
/// as Istio's webhook would; what Istio drops with a log line is dropped
/// here with a warning.
pub(crate) fn convert(
    fault: &HttpFaultInjection,
    field: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Option<FaultInjection>, FieldError> {
    if fault.delay.is_none() && fault.abort.is_none() {
        return Err((
            field.to_owned(),
            "fault must have an abort and/or a delay".to_owned(),
        ));
    }
    let delay = match &fault.delay {
        Some(delay) => self::delay(delay, &format!("{field}.delay"), warnings)?,
        None => None,
    };
    let abort = match &fault.abort {
        Some(abort) => self::abort(abort, &format!("{field}.abort"), warnings)?,
        None => None,
    };
    Ok((delay.is_some() || abort.is_some()).then_some(FaultInjection { delay, abort }))
}

fn delay(
    delay: &ApiDelay,
    field: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Option<FaultDelay>, FieldError> {
    let percent = match (&delay.percentage, delay.percent) {
        (Some(percentage), _) => percentage.value,
        (None, Some(percent)) => f64::from(percent),
        (None, None) => 0.0,
    };
    check_percent(percent, &format!("{field}.percentage"))?;
    let Some(fixed) = delay.fixed_delay.as_deref() else {
        if delay.exponential_delay.is_some() {
            // Istio: "Exponential faults are not yet supported", no delay.
            warnings.push(Warning::not_honoured(format!(
                "{field}.exponentialDelay is not supported (as in Istio); no delay is injected"
            )));
            return Ok(None);
        }
        return Err((
            format!("{field}.fixedDelay"),
            "a delay needs fixedDelay".to_owned(),
        ));
    };
    let fixed = parse_duration(fixed).map_err(|e| (format!("{field}.fixedDelay"), e))?;
    if fixed < std::time::Duration::from_millis(1) {
        return Err((
            format!("{field}.fixedDelay"),
            "fixedDelay must be at least 1ms".to_owned(),
        ));
    }
    Ok((percent > 0.0).then_some(FaultDelay { fixed, percent }))
}

fn abort(
    abort: &ApiAbort,
    field: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Option<FaultAbort>, FieldError> {
    let percent = abort.percentage.as_ref().map_or(0.0, |p| p.value);
    check_percent(percent, &format!("{field}.percentage"))?;
    let status = match (abort.http_status, abort.grpc_status.as_deref()) {
        (Some(_), Some(_)) => {
            return Err((
                field.to_owned(),
                "only one of httpStatus and grpcStatus may be set".to_owned(),
            ))
        }
        (Some(status), None) => {
            if !(200..600).contains(&status) {
                return Err((
                    format!("{field}.httpStatus"),
                    format!("HTTP status {status} is not in 200-599"),
                ));
            }
            AbortStatus::Http(status as u16)
        }
        (None, Some(name)) => AbortStatus::Grpc(grpc_code(name).ok_or_else(|| {
            (
                format!("{field}.grpcStatus"),
                format!("{name:?} is not a gRPC status name (e.g. UNAVAILABLE)"),
            )
        })?),
        // Istio's webhook only warns: "abort configured, but error type not set".
        (None, None) => {
            warnings.push(Warning::not_applied(format!(
                "{field} sets neither httpStatus nor grpcStatus; nothing is aborted"
            )));
            return Ok(None);
        }
    };
    Ok((percent > 0.0).then_some(FaultAbort { status, percent }))
}

fn check_percent(percent: f64, field: &str) -> Result<(), FieldError> {
    if (0.0..=100.0).contains(&percent) {
        Ok(())
    } else {
        Err((
            field.to_owned(),
            format!("percentage {percent} is not in [0, 100]"),
        ))
    }
}

/// Istio's `SupportedGRPCStatus`: the canonical names, upper case, not
/// numbers (istio/api: "specify the code as `UNAVAILABLE` … not `14`").
fn grpc_code(name: &str) -> Option<u8> {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES
        .iter()
        .position(|known| *known == name)
        .and_then(|code| u8::try_from(code).ok())
}
