//! `outlierDetection` → the backend's [`OutlierDetection`], Istio's
//! defaults filled in. As for the pool, one conversion serves the backend
//! and the rule's status.

use vestibule_api::istio;
use vestibule_ir::status::Warning;
use vestibule_ir::OutlierDetection;

use crate::duration::parse_duration;

/// What `settings` ask for, and what in them is invalid (each naming its
/// field under `field`).
pub(crate) fn convert(
    settings: &istio::OutlierDetection,
    field: &str,
) -> (OutlierDetection, Vec<Warning>) {
    let mut found = Vec::new();
    let mut detection = OutlierDetection::default();
    let mut count = |name: &str, value: Option<i64>, into: &mut u32| {
        if let Some(value) = value {
            match u32::try_from(value) {
                Ok(value) => *into = value,
                Err(_) => found.push(Warning::not_applied(format!(
                    "{field}.{name}: {value} is not a count; the default applies"
                ))),
            }
        }
    };
    // The deprecated `consecutiveErrors` is the gateway-error count.
    count(
        "consecutiveErrors",
        settings.consecutive_errors,
        &mut detection.consecutive_gateway_errors,
    );
    count(
        "consecutiveGatewayErrors",
        settings.consecutive_gateway_errors,
        &mut detection.consecutive_gateway_errors,
    );
    count(
        "consecutive5xxErrors",
        settings.consecutive_5xx_errors,
        &mut detection.consecutive_5xx,
    );
    count(
        "consecutiveLocalOriginFailures",
        settings.consecutive_local_origin_failures,
        &mut detection.consecutive_local_origin_failures,
    );
    let mut percent = |name: &str, value: Option<i64>, into: &mut u32| {
        if let Some(value) = value {
            match u32::try_from(value) {
                Ok(value) if value <= 100 => *into = value,
                _ => found.push(Warning::not_applied(format!(
                    "{field}.{name}: {value} is not a percentage; the default applies"
                ))),
            }
        }
    };
    percent(
        "maxEjectionPercent",
        settings.max_ejection_percent,
        &mut detection.max_ejection_percent,
    );
    percent(
        "minHealthPercent",
        settings.min_health_percent,
        &mut detection.min_health_percent,
    );
    let mut duration = |name: &str, value: Option<&str>, into: &mut std::time::Duration| {
        if let Some(value) = value {
            match parse_duration(value) {
                // Istio's validation: at least a millisecond.
                Ok(value) if value.as_millis() >= 1 => *into = value,
                Ok(_) => found.push(Warning::not_applied(format!(
                    "{field}.{name}: must be at least 1ms; the default applies"
                ))),
                Err(message) => found.push(Warning::not_applied(format!(
                    "{field}.{name}: {message}; the default applies"
                ))),
            }
        }
    };
    duration(
        "interval",
        settings.interval.as_deref(),
        &mut detection.interval,
    );
    duration(
        "baseEjectionTime",
        settings.base_ejection_time.as_deref(),
        &mut detection.base_ejection_time,
    );
    detection.split_local_origin_errors = settings.split_external_local_origin_errors == Some(true);
    if !detection.split_local_origin_errors && settings.consecutive_local_origin_failures.is_some()
    {
        found.push(Warning::not_applied(format!(
            "{field}.consecutiveLocalOriginFailures: only counted with \
             splitExternalLocalOriginErrors: true; ignored"
        )));
    }
    (detection, found)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings(json: serde_json::Value) -> istio::OutlierDetection {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn istio_defaults_fill_what_is_unset() {
        let (detection, problems) = convert(&settings(serde_json::json!({})), "f");
        assert!(problems.is_empty());
        assert_eq!(detection, OutlierDetection::default());
        assert_eq!(detection.consecutive_5xx, 5);
        assert_eq!(detection.consecutive_gateway_errors, 0);
        assert_eq!(detection.interval, Duration::from_secs(10));
        assert_eq!(detection.base_ejection_time, Duration::from_secs(30));
        assert_eq!(detection.max_ejection_percent, 10);
    }

    #[test]
    fn the_task_s_settings_and_bad_values() {
        let (detection, problems) = convert(
            &settings(serde_json::json!({
                "consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "3m",
                "maxEjectionPercent": 100, "minHealthPercent": 150, "consecutiveErrors": 7,
                "consecutiveLocalOriginFailures": 2
            })),
            "trafficPolicy.outlierDetection",
        );
        assert_eq!(detection.consecutive_5xx, 1);
        assert_eq!(detection.consecutive_gateway_errors, 7);
        assert_eq!(detection.interval, Duration::from_secs(1));
        assert_eq!(detection.base_ejection_time, Duration::from_secs(180));
        assert_eq!(detection.max_ejection_percent, 100);
        assert_eq!(detection.min_health_percent, 0);
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let text = text.join("\n");
        assert!(
            text.contains("trafficPolicy.outlierDetection.minHealthPercent: 150"),
            "{text}"
        );
        assert!(
            text.contains("consecutiveLocalOriginFailures: only counted"),
            "{text}"
        );
    }
}
