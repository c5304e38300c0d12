//! Istio `http[].retries` → the IR's retry policy, with every `retryOn`
//! name Envoy's router knows (`x-envoy-retry-on` and `x-envoy-retry-grpc-on`:
//! Istio puts both kinds in the one `retry_on` string) and bare status codes.

use vestibule_api::istio::HttpRetry;
use vestibule_ir::{RetryOn, RetryPolicy};

use super::matches::FieldError;
use crate::duration::parse_duration;

/// No `retries` means Istio's default policy; `attempts: 0` disables.
pub(crate) fn retry_policy(
    retries: Option<&HttpRetry>,
    field: &str,
) -> Result<RetryPolicy, FieldError> {
    let Some(retries) = retries else {
        return Ok(RetryPolicy::istio_default());
    };
    if retries.attempts <= 0 {
        return Ok(RetryPolicy::disabled());
    }
    let mut policy = RetryPolicy::istio_default();
    policy.attempts = u32::try_from(retries.attempts).unwrap_or(u32::MAX);
    if let Some(value) = retries.per_try_timeout.as_deref() {
        policy.per_try_timeout =
            Some(parse_duration(value).map_err(|e| (format!("{field}.retries.perTryTimeout"), e))?);
    }
    if let Some(retry_on) = retries.retry_on.as_deref().filter(|v| !v.trim().is_empty()) {
        policy.retry_on = RetryOn::default();
        policy.retriable_status_codes.clear();
        for token in retry_on.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            apply_retry_token(&mut policy, token)
                .map_err(|message| (format!("{field}.retries.retryOn"), message))?;
        }
    }
    Ok(policy)
}

fn apply_retry_token(policy: &mut RetryPolicy, token: &str) -> Result<(), String> {
    let on = &mut policy.retry_on;
    match token {
        "connect-failure" => on.connect_failure = true,
        "refused-stream" => on.refused_stream = true,
        "unavailable" => on.unavailable = true,
        "cancelled" => on.cancelled = true,
        "5xx" => on.server_errors = true,
        "gateway-error" => on.gateway_errors = true,
        "reset" | "reset-before-request" => on.reset = true,
        "retriable-status-codes" => on.retriable_status_codes = true,
        "retriable-4xx" => on.retriable_4xx = true,
        "envoy-ratelimited" => on.envoy_ratelimited = true,
        "deadline-exceeded" => on.deadline_exceeded = true,
        "internal" => on.internal = true,
        "resource-exhausted" => on.resource_exhausted = true,
        // Envoy retries on the response headers named in the route's
        // `retriable_headers`, which Istio never configures: the name is
        // valid and, as at an Istio gateway, matches no response.
        "retriable-headers" => {}
        // vestibule speaks no HTTP/3 upstream: nothing to retry.
        "http3-post-connect-failure" => {}
        // Istio's webhook rejects an unknown name ("is not a valid retryOn
        // policy") rather than warn: the VirtualService is refused, naming it.
        code => {
            let status: u16 = code
                .parse()
                .ok()
                .filter(|status| (100..600).contains(status))
                .ok_or_else(|| format!("unknown retryOn condition {code:?}"))?;
            on.retriable_status_codes = true;
            policy.retriable_status_codes.push(status);
        }
    }
    Ok(())
}
