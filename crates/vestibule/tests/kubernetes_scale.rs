//! Kubernetes mode at scale (run by hand, not in the suite; figures in
//! docs/benchmarks.md):
//!
//!   cargo test --release -p vestibule --test kubernetes_scale -- --ignored --nocapture
//!
//! With 10,000 VirtualServices watched: the time from an EndpointSlice
//! change at the API server to traffic reaching the new endpoint, and the
//! gateway's memory per 1,000 watched objects.

mod support;

use std::time::{Duration, Instant};

use fake_apiserver::FakeApiServer;
use serde_json::json;
use support::{get, Gateway};

const ROUTES: usize = 10_000;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

fn virtual_service(index: usize) -> serde_json::Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": format!("vs-{index}"), "namespace": "default"},
        "spec": {
            "hosts": [format!("h{index}.example.com")],
            "gateways": ["default/wide"],
            "http": [{"route": [{"destination": {"host": "httpbin", "port": {"number": 8000}}}]}]
        }
    })
}

async fn gateway_with(fake: &FakeApiServer, dir: &tempfile::TempDir) -> Gateway {
    let kubeconfig = fake.write_kubeconfig(dir.path());
    let gateway = Gateway::start_kubernetes(&kubeconfig, &[80], &[]).await;
    gateway.wait_ready().await;
    gateway
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand with --release"]
async fn endpoint_change_latency_and_memory_with_10k_routes() {
    let fake = FakeApiServer::start().await;
    fake.register_istio();
    let first = support::httpbin("first").await;
    let second = support::httpbin("second").await;
    fake.apply_yaml(&support::service("httpbin", "default", 8000, &[first]));
    fake.apply(json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "wide", "namespace": "default"},
        "spec": {"selector": {"istio": "ingressgateway"},
                 "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}
    }));
    let dir = tempfile::tempdir().expect("temp dir");

    // Memory with (almost) nothing watched, then with 10k routes.
    let empty = gateway_with(&fake, &dir).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (objects_before, rss_before) = (
        empty.status().await["kubernetes"]["objects"]
            .as_u64()
            .expect("objects"),
        rss_kib(empty.pid()),
    );
    drop(empty);

    for index in 0..ROUTES {
        fake.apply(virtual_service(index));
    }
    let started = Instant::now();
    let gateway = gateway_with(&fake, &dir).await;
    let ready = started.elapsed();
    let listener = gateway.listener(80).await;
    let host = format!("h{}.example.com", ROUTES - 1);
    assert_eq!(get(listener, &host, "/get").await.0, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let objects = gateway.status().await["kubernetes"]["objects"]
        .as_u64()
        .expect("objects");
    let rss = rss_kib(gateway.pid());
    let per_thousand =
        (rss.saturating_sub(rss_before)) as f64 * 1000.0 / (objects - objects_before) as f64;

    // Move the endpoints back and forth; time each move until traffic follows.
    let mut latencies = Vec::new();
    for round in 0..10 {
        let (target, name) = if round % 2 == 0 {
            (second, "second")
        } else {
            (first, "first")
        };
        let slice = support::service("httpbin", "default", 8000, &[target]);
        let started = Instant::now();
        fake.apply_yaml(&slice);
        loop {
            let (_, headers, _) = get(listener, &host, "/get").await;
            if headers
                .get("x-httpbin-name")
                .is_some_and(|value| value == name)
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "endpoints never moved"
            );
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "routes={ROUTES} ready_after_start={ready:?} objects={objects} rss={rss}KiB \
         rss_before={rss_before}KiB per_1000_objects={per_thousand:.0}KiB \
         endpoint_change median={:?} max={:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
}
