//! Istio's "Circuit Breaking" task and the rest of DestinationRule
//! `connectionPool`, end to end: the real gateway process, httpbin (for
//! slow answers) and a recording backend that tells which of its
//! connections each request came on.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::{httpbin, Client, ConfigDir, Gateway, Recorder};

const HOST: &str = "httpbin.example.com";

/// For counting upstream connections: one worker, one idle stack.
const ONE_WORKER: &[&str] = &["--workers", "1"];

/// Every request for `HOST` to httpbin, port 8000.
const ROUTE: &str = "  - route:\n    - destination: {host: httpbin, port: {number: 8000}}\n";

/// The gateway with `httpbin` (port 8000) at `backend` and a
/// DestinationRule whose `trafficPolicy` is `policy` (YAML, indented for
/// its place), plus `extra` arguments.
async fn start(
    backend: SocketAddr,
    policy: &str,
    extra: &[&str],
) -> (ConfigDir, Gateway, SocketAddr) {
    let config = ConfigDir::new();
    config.write("gateway.yaml", &support::istio_host(HOST, ROUTE));
    config.write(
        "service.yaml",
        &support::service("httpbin", "default", 8000, &[backend]),
    );
    config.write(
        "destinationrule.yaml",
        &format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: httpbin}}\nspec:\n  host: httpbin\n  trafficPolicy:\n{policy}"
        ),
    );
    let gateway = Gateway::start(config.path(), &[80], extra).await;
    let address = gateway.listener(80).await;
    (config, gateway, address)
}

/// `count` requests for `path` at once, each on its own connection: the
/// status, `x-envoy-overloaded` and how long each took.
async fn at_once(
    address: SocketAddr,
    path: &'static str,
    count: usize,
) -> Vec<(u16, bool, Duration)> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            tokio::spawn(async move {
                let started = Instant::now();
                let (status, headers, _) = Client::connect(address).await.get(HOST, path).await;
                let overloaded = headers
                    .get("x-envoy-overloaded")
                    .is_some_and(|value| value == "true");
                (status.as_u16(), overloaded, started.elapsed())
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find(|line| line.starts_with(name) && line.contains("outbound|8000||httpbin"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
}

/// The task's rule: one connection, one request waiting for it, one
/// request per connection. Of three requests at once to a backend that
/// takes a second, one is served, one waits for the connection and is
/// served next, one is turned away at once: 503, `x-envoy-overloaded`,
/// Envoy's body, `UO` in the access log, counted as a pending overflow.
#[tokio::test]
async fn istio_circuit_breaking_task_turns_the_overflow_away() {
    let backend = httpbin("httpbin").await;
    let policy = "    connectionPool:\n      tcp: {maxConnections: 1}\n      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}\n";
    let (_config, gateway, address) =
        start(backend, policy, &["--access-log-file", "/dev/stdout"]).await;
    let results = at_once(address, "/delay/1", 3).await;
    let served: Vec<_> = results.iter().filter(|r| r.0 == 200).collect();
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert_eq!((served.len(), refused.len()), (2, 1), "{results:?}");
    assert!(
        refused[0].1,
        "x-envoy-overloaded: true on the 503: {results:?}"
    );
    assert!(
        refused[0].2 < Duration::from_millis(800),
        "turned away at once, not after waiting: {results:?}"
    );
    // The one that waited was served after the first, on a new
    // connection (one request per connection).
    let slowest = served.iter().map(|r| r.2).max().unwrap();
    assert!(slowest >= Duration::from_millis(1900), "{results:?}");

    let (status, _, body) = Client::connect(address).await.get(HOST, "/get").await;
    assert_eq!(status, 200, "the breaker closes again: {body:?}");
    let (_, metrics) = gateway.admin_get("/metrics").await;
    assert_eq!(
        metric(&metrics, "envoy_cluster_upstream_rq_pending_overflow"),
        1
    );
    let mut logged = String::new();
    for _ in 0..50 {
        logged = gateway.stdout();
        if logged.contains(" 503 UO ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        logged.contains(" 503 UO upstream_reset_before_response_started{overflow} "),
        "{logged}"
    );
}

/// Requests waiting in line for a connection are each served as
/// connections come free, over two endpoints sharing one connection limit:
/// none is left waiting while a connection sits idle.
#[tokio::test]
async fn waiting_requests_are_all_served_as_connections_free_up() {
    let (a, b) = (httpbin("a").await, httpbin("b").await);
    let config = ConfigDir::new();
    config.write("gateway.yaml", &support::istio_host(HOST, ROUTE));
    config.write(
        "service.yaml",
        &support::service("httpbin", "default", 8000, &[a, b]),
    );
    config.write(
        "destinationrule.yaml",
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: httpbin}\nspec:\n  host: httpbin\n  trafficPolicy:\n    connectionPool:\n      tcp: {maxConnections: 1}\n      http: {http1MaxPendingRequests: 100}\n",
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    let all = tokio::time::timeout(Duration::from_secs(20), at_once(address, "/delay/0", 40))
        .await
        .expect("every waiting request served");
    assert!(all.iter().all(|r| r.0 == 200), "{all:?}");
}

/// `http2MaxRequests` bounds the requests in flight, whatever the
/// protocol: a second request while one is in flight is turned away.
#[tokio::test]
async fn max_requests_bounds_requests_in_flight() {
    let backend = httpbin("httpbin").await;
    let policy = "    connectionPool:\n      http: {http2MaxRequests: 1}\n";
    let (_config, _gateway, address) = start(backend, policy, &[]).await;
    let results = at_once(address, "/delay/1", 2).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 503], "{results:?}");
    assert!(results.iter().any(|r| r.0 == 503 && r.1), "{results:?}");
}

/// `maxRequestsPerConnection: 2`: the backend sees a new connection every
/// second request; without it, one connection serves them all. (One
/// worker: idle connections are kept per worker, and a request on another
/// would rightly open its own.)
#[tokio::test]
async fn max_requests_per_connection_closes_used_connections() {
    for (policy, expected) in [
        (
            "    connectionPool:\n      http: {maxRequestsPerConnection: 2}\n",
            vec![0, 0, 1, 1, 2],
        ),
        (
            "    loadBalancer: {simple: ROUND_ROBIN}\n",
            vec![0, 0, 0, 0, 0],
        ),
    ] {
        let recorder = Recorder::start(|_| 200).await;
        let (_config, _gateway, address) = start(recorder.address, policy, ONE_WORKER).await;
        let mut client = Client::connect(address).await;
        for _ in 0..5 {
            assert_eq!(client.get(HOST, "/").await.0, 200);
        }
        let connections: Vec<usize> = recorder.seen().iter().map(|s| s.connection).collect();
        assert_eq!(connections, expected, "{policy}");
    }
}

/// `maxConnectionDuration`: a connection older than it carries no more
/// requests.
#[tokio::test]
async fn max_connection_duration_retires_old_connections() {
    let recorder = Recorder::start(|_| 200).await;
    let policy = "    connectionPool:\n      tcp: {maxConnectionDuration: 400ms}\n";
    let (_config, _gateway, address) = start(recorder.address, policy, ONE_WORKER).await;
    let mut client = Client::connect(address).await;
    assert_eq!(client.get(HOST, "/").await.0, 200);
    assert_eq!(client.get(HOST, "/").await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.get(HOST, "/").await.0, 200);
    assert_eq!(client.get(HOST, "/").await.0, 200);
    let connections: Vec<usize> = recorder.seen().iter().map(|s| s.connection).collect();
    assert_eq!(connections, [0, 0, 1, 1]);
}

/// `h2UpgradePolicy: UPGRADE`: an HTTP/1.1 destination is spoken to over
/// HTTP/2 (prior knowledge), the client's request still HTTP/1.1.
#[tokio::test]
async fn h2_upgrade_policy_speaks_http2_upstream() {
    for (policy, expected) in [
        (
            "    connectionPool:\n      http: {h2UpgradePolicy: UPGRADE}\n",
            "HTTP/2.0",
        ),
        (
            "    connectionPool:\n      http: {h2UpgradePolicy: DO_NOT_UPGRADE}\n",
            "HTTP/1.1",
        ),
    ] {
        let recorder = Recorder::start(|_| 200).await;
        let (_config, _gateway, address) = start(recorder.address, policy, &[]).await;
        assert_eq!(Client::connect(address).await.get(HOST, "/").await.0, 200);
        assert_eq!(recorder.seen()[0].version, expected, "{policy}");
    }
}

/// `idleTimeout`: a connection idle past it is not used again.
#[tokio::test]
async fn idle_timeout_retires_idle_connections() {
    let recorder = Recorder::start(|_| 200).await;
    let policy = "    connectionPool:\n      http: {idleTimeout: 300ms}\n";
    let (_config, _gateway, address) = start(recorder.address, policy, ONE_WORKER).await;
    let mut client = Client::connect(address).await;
    assert_eq!(client.get(HOST, "/").await.0, 200);
    assert_eq!(client.get(HOST, "/").await.0, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(client.get(HOST, "/").await.0, 200);
    let connections: Vec<usize> = recorder.seen().iter().map(|s| s.connection).collect();
    assert_eq!(connections, [0, 0, 1]);
}

/// `maxRetries: 1` bounds the retries in flight across the cluster: of
/// two requests failing at once, one is retried (three times: its own
/// earlier retry does not count against it) and the other's answer stands
/// at its first refused retry, which is counted.
#[tokio::test]
async fn max_retries_bounds_retries_in_flight() {
    let backend = httpbin("httpbin").await;
    let policy = "    connectionPool:\n      http: {maxRetries: 1}\n";
    let (config, gateway, address) = start(backend, policy, &[]).await;
    let generation = gateway.generation().await;
    let retrying =
        format!("{ROUTE}    retries: {{attempts: 3, retryOn: 5xx, perTryTimeout: 5s}}\n");
    config.write("gateway.yaml", &support::istio_host(HOST, &retrying));
    gateway.wait_generation(generation + 1).await;
    // `/status/503` fails every time; each retry waits for the backoff,
    // so the two requests' first retries overlap.
    let results = at_once(address, "/status/503", 2).await;
    assert!(results.iter().all(|r| r.0 == 503 && !r.1), "{results:?}");
    let (_, metrics) = gateway.admin_get("/metrics").await;
    let retries = metric(&metrics, "envoy_cluster_upstream_rq_retry_total");
    let overflows = metric(&metrics, "envoy_cluster_upstream_rq_retry_overflow");
    let attempts = metric(&metrics, "envoy_cluster_upstream_rq_total");
    assert_eq!(
        overflows, 1,
        "one retry refused, ending its request's:\n{metrics}"
    );
    assert!(retries >= 3, "the other made all three:\n{metrics}");
    assert_eq!(attempts, 2 + retries, "{metrics}");
}
