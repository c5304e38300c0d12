//! Reloading from files: changes apply within a second, without dropping
//! requests or keep-alive connections; broken edits keep the last good
//! configuration and say why; listeners follow the configuration.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{
    get, httpbin, service, Client, ConfigDir, Gateway, HOST, SEED_GATEWAY, SEED_VIRTUAL_SERVICE,
};

async fn seed() -> (ConfigDir, Gateway) {
    let backend = httpbin("httpbin").await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", SEED_VIRTUAL_SERVICE);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80, 8081], &[]).await;
    (config, gateway)
}

fn exposing_headers() -> String {
    SEED_VIRTUAL_SERVICE.replace("prefix: /delay", "prefix: /headers")
}

#[tokio::test]
async fn an_edit_changes_routing_within_a_second_on_kept_alive_connections() {
    let (config, gateway) = seed().await;
    let address = gateway.listener(80).await;
    let mut client = Client::connect(address).await;
    assert_eq!(client.get(HOST, "/headers").await.0, 404);

    let edited = Instant::now();
    config.write("virtualservice.yaml", &exposing_headers());
    loop {
        // The same keep-alive connection sees the new routes.
        let (status, _, _) = client.get(HOST, "/headers").await;
        if status == 200 {
            break;
        }
        assert!(
            edited.elapsed() < Duration::from_secs(1),
            "not applied within 1s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(gateway.generation().await, 2);
}

#[tokio::test]
async fn reloads_under_load_fail_no_request() {
    let (config, gateway) = seed().await;
    let address = gateway.listener(80).await;
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (stop, ok) = (Arc::clone(&stop), Arc::clone(&ok));
        workers.push(tokio::spawn(async move {
            let mut client = Client::connect(address).await;
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match client.try_request(HOST, "/status/200", &[]).await {
                    Ok((status, _, _)) if status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    other => failures.push(format!("{other:?}")),
                }
            }
            failures
        }));
    }
    for generation in 2..=11 {
        let text = if generation % 2 == 0 {
            exposing_headers()
        } else {
            SEED_VIRTUAL_SERVICE.to_owned()
        };
        config.write("virtualservice.yaml", &text);
        gateway.wait_generation(generation).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "too little load: {}",
        ok.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn a_broken_edit_keeps_the_last_good_configuration_and_reports_why() {
    let (config, gateway) = seed().await;
    let address = gateway.listener(80).await;
    config.write(
        "virtualservice.yaml",
        &SEED_VIRTUAL_SERVICE.replace("number: 8000", "number: eight"),
    );
    // Wait for the rejection to be recorded.
    let mut status = gateway.status().await;
    for _ in 0..100 {
        if status["lastReload"]["ok"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = gateway.status().await;
    }
    let error = &status["lastReload"]["errors"][0];
    assert!(
        error["file"]
            .as_str()
            .unwrap()
            .ends_with("virtualservice.yaml"),
        "{status:#}"
    );
    assert_eq!(error["line"], 20, "{status:#}");
    assert_eq!(
        error["field"],
        "spec.http[0].route[0].destination.port.number"
    );
    assert_eq!(status["generation"], 1);
    let errors = status["errors"].as_array().unwrap();
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .contains("virtualservice.yaml:20:"),
        "{errors:?}"
    );

    // Still serving the last good configuration.
    assert_eq!(get(address, HOST, "/status/200").await.0, 200);
    let (_, metrics) = gateway.admin_get("/metrics").await;
    assert!(
        metrics.contains("vestibule_config_last_reload_successful 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vestibule_config_reloads_total{outcome=\"failure\"}"),
        "{metrics}"
    );
    let log = gateway.log();
    assert!(
        log.contains("virtualservice.yaml:20:")
            && log.contains("spec.http[0].route[0].destination.port.number"),
        "{log}"
    );

    // Fixing it applies again.
    config.write("virtualservice.yaml", &exposing_headers());
    gateway.wait_generation(2).await;
    let status = gateway.status().await;
    assert_eq!(status["lastReload"]["ok"], true);
    assert_eq!(get(address, HOST, "/headers").await.0, 200);
}

#[tokio::test]
async fn listeners_open_and_close_with_the_configuration() {
    let backend = httpbin("httpbin").await;
    let config = ConfigDir::new();
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80, 8081], &[]).await;
    // No configuration asks for a port: none is open.
    assert_eq!(gateway.status().await["listeners"], serde_json::json!([]));

    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", SEED_VIRTUAL_SERVICE);
    gateway.wait_generation(2).await;
    let address = gateway.listener(80).await;
    assert_eq!(get(address, HOST, "/status/200").await.0, 200);

    // Move the server to port 8081: 80 closes, 8081 opens.
    config.write(
        "gateway.yaml",
        &SEED_GATEWAY.replace("number: 80", "number: 8081"),
    );
    gateway.wait_generation(3).await;
    let moved = gateway.listener(8081).await;
    assert_eq!(get(moved, HOST, "/status/200").await.0, 200);
    let listeners = gateway.status().await["listeners"].clone();
    assert_eq!(listeners.as_array().unwrap().len(), 1, "{listeners}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "port 80's listener still accepts"
    );
}

/// Each worker accepts on a socket of its own on every port (SO_REUSEPORT):
/// the kernel spreads connections over the workers, and each serves the
/// ones it accepted; the listener's figures are their sums.
#[tokio::test]
async fn each_worker_accepts_and_serves_a_share_of_the_connections() {
    let backend = httpbin("httpbin").await;
    let (_config, gateway, address) = support::any_path_gateway(backend, &["--workers", "2"]).await;
    let mut clients = Vec::new();
    for _ in 0..32 {
        let mut client = Client::connect(address).await;
        assert_eq!(client.get(HOST, "/status/200").await.0, 200);
        clients.push(client);
    }
    let listener = gateway.status().await["listeners"][0].clone();
    assert_eq!(listener["acceptedConnections"], 32, "{listener}");
    assert_eq!(listener["activeConnections"], 32, "{listener}");
    let workers = listener["workers"].as_array().expect("workers").clone();
    assert_eq!(workers.len(), 2, "{listener}");
    // Each of 32 connections lands on either socket by its ports' hash:
    // one worker with none of them would be a 1-in-2^31 chance.
    for worker in &workers {
        let active = worker["activeConnections"].as_u64().unwrap();
        assert!(active >= 1, "a worker accepted nothing: {listener}");
        assert_eq!(worker["acceptedConnections"].as_u64(), Some(active));
    }
    // The connections go on being served by the workers that hold them.
    for client in &mut clients {
        assert_eq!(client.get(HOST, "/status/201").await.0, 201);
    }
}

#[tokio::test]
async fn a_port_that_cannot_be_bound_is_reported_and_others_keep_working() {
    let backend = httpbin("httpbin").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let config = ConfigDir::new();
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let two_servers = SEED_GATEWAY.to_owned()
        + "  - port:\n      number: 81\n      name: http-2\n      protocol: HTTP\n    hosts:\n    - \"httpbin.example.com\"\n";
    config.write("gateway.yaml", &two_servers);
    config.write("virtualservice.yaml", SEED_VIRTUAL_SERVICE);
    let gateway = Gateway::start(
        config.path(),
        &[80],
        &["--port-map", &format!("81={taken_port}")],
    )
    .await;
    let status = gateway.status().await;
    let failed = status["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["port"] == 81)
        .expect("port 81 reported");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("Address already in use"),
        "{failed}"
    );
    assert!(gateway.log().contains("cannot bind listener"));
    let address = gateway.listener(80).await;
    assert_eq!(get(address, HOST, "/status/200").await.0, 200);
    drop(taken);
}

#[tokio::test]
async fn reading_the_configuration_does_not_trigger_a_reload() {
    let (_config, gateway) = seed().await;
    // Each load opens and reads the files; those access events must not
    // start another load (which would loop forever).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, metrics) = gateway.admin_get("/metrics").await;
    assert!(
        metrics.contains("vestibule_config_reloads_total{outcome=\"success\"} 1\n"),
        "{metrics}"
    );
}
