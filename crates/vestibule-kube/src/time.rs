//! RFC 3339 times, as Kubernetes writes them (`2026-12-05T22:41:07Z`).

use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::jiff::Timestamp;

pub(crate) fn rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    Timestamp::from_second(i64::try_from(seconds).unwrap_or(0))
        .map(|timestamp| timestamp.to_string())
        .unwrap_or_default()
}
