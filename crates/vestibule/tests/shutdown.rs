//! SIGTERM: stop accepting, finish in-flight requests, exit 0.

mod support;

use std::time::{Duration, Instant};

use support::{
    httpbin, service, Client, ConfigDir, Gateway, HOST, SEED_GATEWAY, SEED_VIRTUAL_SERVICE,
};

/// The seed's gateway in front of a real httpbin, started with `extra`.
async fn seed_gateway(extra: &[&str]) -> (ConfigDir, Gateway) {
    let backend = httpbin("httpbin").await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write("virtualservice.yaml", SEED_VIRTUAL_SERVICE);
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    let gateway = Gateway::start(config.path(), &[80], extra).await;
    (config, gateway)
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let (_config, mut gateway) = seed_gateway(&[]).await;
    let address = gateway.listener(80).await;
    let admin = gateway.admin;

    let mut client = Client::connect(address).await;
    let in_flight = tokio::spawn(async move { client.get(HOST, "/delay/1").await.0 });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signalled = Instant::now();
    gateway.sigterm();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Not ready any more, and no new connections once the listener closed.
    let (ready, _, _) = support::get(admin, "localhost", "/ready").await;
    assert_eq!(ready, 503);
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "still accepting"
    );

    assert_eq!(in_flight.await.unwrap(), 200, "in-flight request was cut");
    let status = gateway.wait().await;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "drain took {:?}",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn the_drain_deadline_bounds_shutdown() {
    let (_config, mut gateway) = seed_gateway(&["--drain-timeout", "1s"]).await;
    let address = gateway.listener(80).await;
    let mut client = Client::connect(address).await;
    let in_flight = tokio::spawn(async move { client.try_request(HOST, "/delay/8", &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signalled = Instant::now();
    gateway.sigterm();
    let status = gateway.wait().await;
    assert!(status.success());
    let waited = signalled.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "a request past the deadline cannot complete"
    );
}

#[tokio::test]
async fn a_shutdown_delay_keeps_accepting_while_not_ready() {
    let (_config, mut gateway) = seed_gateway(&["--shutdown-delay", "2s"]).await;
    let address = gateway.listener(80).await;
    let signalled = Instant::now();
    gateway.sigterm();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Load balancers see it leave (not ready) while it still serves.
    let (ready, _, _) = support::get(gateway.admin, "localhost", "/ready").await;
    assert_eq!(ready, 503);
    let (status, _, _) = support::get(address, HOST, "/status/200").await;
    assert_eq!(status, 200, "a new connection during the delay is served");

    assert!(gateway.wait().await.success());
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "exited before the delay ended: {:?}",
        signalled.elapsed()
    );
}
