//! DestinationRule `loadBalancer.warmup` (Envoy's slow start), end to
//! end: an endpoint added while the gateway serves gets a small share at
//! first, its full share once its warmup is over.

mod support;

use std::time::{Duration, Instant};

use support::{Client, ConfigDir, Gateway, Recorder};

const HOST: &str = "app.example.com";

const DESTINATION_RULE: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app}
spec:
  host: app
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      warmup: {duration: 2s, minimumPercent: 10}
"#;

async fn send(client: &mut Client, count: usize) {
    for _ in 0..count {
        assert_eq!(client.get(HOST, "/").await.0, 200);
    }
}

#[tokio::test]
async fn a_new_endpoint_ramps_up_over_its_warmup() {
    let old = Recorder::start(|_| 200).await;
    let new = Recorder::start(|_| 200).await;
    let config = ConfigDir::new();
    config.write(
        "routes.yaml",
        &support::istio_host(
            HOST,
            "  - route: [{destination: {host: app, port: {number: 80}}}]\n",
        ),
    );
    config.write("destinationrule.yaml", DESTINATION_RULE);
    config.write(
        "service.yaml",
        &support::service("app", "default", 80, &[old.address]),
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    let mut client = Client::connect(address).await;
    send(&mut client, 10).await;
    // The first endpoint is new too, at first: past its own warmup here.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let generation = gateway.generation().await;
    config.write(
        "service.yaml",
        &support::service("app", "default", 80, &[old.address, new.address]),
    );
    gateway.wait_generation(generation + 1).await;
    let added = Instant::now();
    // In its first half second its factor is at most 25 %: a share of
    // at most about an eighth, where round robin alone gives a half.
    send(&mut client, 100).await;
    assert!(
        added.elapsed() < Duration::from_millis(500),
        "too slow to measure"
    );
    let early = new.seen().len();
    assert!(early <= 25, "{early} of 100 to the endpoint in its warmup");

    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(added.elapsed())).await;
    send(&mut client, 100).await;
    let late = new.seen().len() - early;
    assert!((40..=60).contains(&late), "{late} of 100 after the warmup");
}
