//! `connectionPool` → the backend's [`ConnectionPool`]. One conversion
//! serves the backends (which keep what is valid) and the rule's status
//! (which names what is not).

use std::time::Duration;

use vestibule_api::istio::{ConnectionPoolSettings, HttpSettings, TcpSettings};
use vestibule_ir::status::{Warning, WarningKind};
use vestibule_ir::{AppProtocol, ConnectionPool, TcpKeepalive};

use crate::duration::parse_duration;

/// The pool `settings` ask for, and what in them is invalid or not
/// honoured (each naming its field under `field`).
pub(crate) fn convert(
    settings: &ConnectionPoolSettings,
    field: &str,
) -> (ConnectionPool, Vec<Warning>) {
    let mut problems = Problems {
        field,
        found: Vec::new(),
    };
    let mut pool = ConnectionPool::default();
    if let Some(tcp) = &settings.tcp {
        convert_tcp(tcp, &mut pool, &mut problems);
    }
    if let Some(http) = &settings.http {
        convert_http(http, &mut pool, &mut problems);
    }
    (pool, problems.found)
}

/// The protocol a backend is spoken to with, after `h2UpgradePolicy`:
/// `UPGRADE` speaks HTTP/2 to an HTTP/1.1 destination (as Istio, which
/// upgrades only HTTP ports it would otherwise speak HTTP/1.1 to).
pub(crate) fn protocol(
    settings: Option<&ConnectionPoolSettings>,
    declared: AppProtocol,
) -> AppProtocol {
    let upgrade = settings
        .and_then(|s| s.http.as_ref())
        .and_then(|http| http.h2_upgrade_policy.as_deref())
        .is_some_and(|policy| policy.eq_ignore_ascii_case("UPGRADE"));
    if upgrade {
        AppProtocol::H2c
    } else {
        declared
    }
}

struct Problems<'a> {
    field: &'a str,
    found: Vec<Warning>,
}

impl Problems<'_> {
    fn push(&mut self, kind: WarningKind, name: &str, message: impl std::fmt::Display) {
        let message = format!("{}.{name}: {message}", self.field);
        self.found.push(Warning::new(kind, message));
    }

    /// A count Istio reads as "unset" when 0 (then the default, no
    /// limit, applies); negative or past `u32` is invalid.
    fn limit(&mut self, name: &str, value: Option<i64>) -> Option<u32> {
        match value? {
            0 => None,
            n => match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.push(
                        WarningKind::NotApplied,
                        name,
                        format_args!("{n} is not a count from 0 to 4294967295; ignored"),
                    );
                    None
                }
            },
        }
    }

    fn duration(&mut self, name: &str, value: Option<&str>) -> Option<Duration> {
        match parse_duration(value?) {
            Ok(duration) if !duration.is_zero() => Some(duration),
            Ok(_) => {
                self.push(WarningKind::NotApplied, name, "a zero duration; ignored");
                None
            }
            Err(message) => {
                let message = format_args!("{message}; ignored");
                self.push(WarningKind::NotApplied, name, message);
                None
            }
        }
    }
}

fn convert_tcp(tcp: &TcpSettings, pool: &mut ConnectionPool, problems: &mut Problems<'_>) {
    pool.max_connections = problems.limit("tcp.maxConnections", tcp.max_connections);
    pool.connect_timeout = problems.duration("tcp.connectTimeout", tcp.connect_timeout.as_deref());
    pool.max_connection_duration = problems.duration(
        "tcp.maxConnectionDuration",
        tcp.max_connection_duration.as_deref(),
    );
    // Envoy's TCP proxy idle timeout; for HTTP the `http` one applies.
    pool.tcp_idle_timeout = problems.duration("tcp.idleTimeout", tcp.idle_timeout.as_deref());
    if let Some(keepalive) = &tcp.tcp_keepalive {
        pool.tcp_keepalive = Some(TcpKeepalive {
            probes: problems.limit("tcp.tcpKeepalive.probes", keepalive.probes),
            time: problems.duration("tcp.tcpKeepalive.time", keepalive.time.as_deref()),
            interval: problems.duration("tcp.tcpKeepalive.interval", keepalive.interval.as_deref()),
        });
    }
}

fn convert_http(http: &HttpSettings, pool: &mut ConnectionPool, problems: &mut Problems<'_>) {
    pool.max_pending_requests = problems.limit(
        "http.http1MaxPendingRequests",
        http.http1_max_pending_requests,
    );
    pool.max_requests = problems.limit("http.http2MaxRequests", http.http2_max_requests);
    pool.max_requests_per_connection = problems.limit(
        "http.maxRequestsPerConnection",
        http.max_requests_per_connection,
    );
    pool.max_retries = problems.limit("http.maxRetries", http.max_retries);
    pool.idle_timeout = problems.duration("http.idleTimeout", http.idle_timeout.as_deref());
    match http
        .h2_upgrade_policy
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("DEFAULT" | "DO_NOT_UPGRADE" | "UPGRADE") => {}
        Some(other) => problems.push(
            WarningKind::NotApplied,
            "http.h2UpgradePolicy",
            format_args!("{other:?} is not DEFAULT, DO_NOT_UPGRADE or UPGRADE; ignored"),
        ),
    }
    if http.use_client_protocol == Some(true) {
        problems.push(
            WarningKind::NotHonoured,
            "http.useClientProtocol",
            "not honoured: the destination's declared protocol is used",
        );
    }
    if http.max_concurrent_streams.is_some() {
        problems.push(
            WarningKind::NotHonoured,
            "http.maxConcurrentStreams",
            "not honoured: the upstream's own HTTP/2 limit applies",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: serde_json::Value) -> ConnectionPoolSettings {
        serde_json::from_value(yaml).unwrap()
    }

    #[test]
    fn istio_circuit_breaking_task() {
        let (pool, problems) = convert(
            &settings(serde_json::json!({
                "tcp": {"maxConnections": 1},
                "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1}
            })),
            "trafficPolicy.connectionPool",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(pool.max_connections, Some(1));
        assert_eq!(pool.max_pending_requests, Some(1));
        assert_eq!(pool.max_requests_per_connection, Some(1));
        assert!(pool.limits());
    }

    #[test]
    fn zero_is_unset_and_bad_values_are_named() {
        let (pool, problems) = convert(
            &settings(serde_json::json!({
                "tcp": {"maxConnections": 0, "connectTimeout": "fast"},
                "http": {"http2MaxRequests": -3, "idleTimeout": "30s", "maxConcurrentStreams": 10}
            })),
            "trafficPolicy.connectionPool",
        );
        assert_eq!(pool.max_connections, None);
        assert_eq!(pool.max_requests, None);
        assert_eq!(pool.idle_timeout, Some(Duration::from_secs(30)));
        assert!(!pool.limits());
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let text = text.join("\n");
        assert!(
            text.contains("trafficPolicy.connectionPool.tcp.connectTimeout"),
            "{text}"
        );
        assert!(
            text.contains("trafficPolicy.connectionPool.http.http2MaxRequests: -3"),
            "{text}"
        );
        assert!(
            text.contains("http.maxConcurrentStreams: not honoured"),
            "{text}"
        );
    }

    #[test]
    fn upgrade_policy_speaks_http2_to_http1_destinations() {
        let upgrade = settings(serde_json::json!({"http": {"h2UpgradePolicy": "UPGRADE"}}));
        assert_eq!(
            protocol(Some(&upgrade), AppProtocol::Http1),
            AppProtocol::H2c
        );
        let default = settings(serde_json::json!({"http": {"h2UpgradePolicy": "DEFAULT"}}));
        assert_eq!(
            protocol(Some(&default), AppProtocol::Http1),
            AppProtocol::Http1
        );
        assert_eq!(protocol(None, AppProtocol::H2c), AppProtocol::H2c);
    }
}
