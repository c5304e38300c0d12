//! One route changed among many in one file: the reload parses and binds
//! only what changed, serves the change at once, and leaves the others as
//! they were; a file written in place (not renamed) serves only once it is
//! whole.

mod support;

use std::time::{Duration, Instant};

use support::{any_host_gateway, get, httpbin, service, ConfigDir, Gateway};

const HOSTS: usize = 300;

fn host(index: usize) -> String {
    format!("h{index:03}.example.com")
}

/// One VirtualService per host routing `/status`; host `changed` also
/// routes `/headers`.
fn virtual_services(count: usize, changed: Option<usize>) -> String {
    (0..count)
        .map(|i| {
            let extra = if Some(i) == changed {
                "    - uri:\n        prefix: /headers\n"
            } else {
                ""
            };
            format!(
                "---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: route-{i}
spec:
  hosts:
  - \"{host}\"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
{extra}    route:
    - destination:
        host: httpbin
        port:
          number: 8000
",
                host = host(i)
            )
        })
        .collect()
}

async fn wait_status(address: std::net::SocketAddr, host: &str, path: &str, want: u16) {
    let started = Instant::now();
    while get(address, host, path).await.0 != want {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{host}{path} did not answer {want} within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A gateway serving `HOSTS` VirtualServices in one file, each host
/// routing `/status` to one httpbin; its config, and its port 80.
async fn start_with_hosts() -> (ConfigDir, Gateway, std::net::SocketAddr) {
    let backend = httpbin("httpbin").await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", &any_host_gateway());
    config.write(
        "httpbin.yaml",
        &service("httpbin", "default", 8000, &[backend]),
    );
    config.write("routes.yaml", &virtual_services(HOSTS, None));
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    (config, gateway, address)
}

#[tokio::test]
async fn one_route_changed_among_many_serves_and_leaves_the_others() {
    let (config, gateway, address) = start_with_hosts().await;
    assert_eq!(get(address, &host(150), "/headers").await.0, 404);

    // Renamed into place, as editors and ConfigMap volumes do.
    config.write("routes.yaml", &virtual_services(HOSTS, Some(150)));
    wait_status(address, &host(150), "/headers", 200).await;
    gateway.wait_generation(2).await;
    assert_eq!(gateway.generation().await, 2);
    // The first reload parses and binds everything (the first load keeps
    // nothing for reloads); the later ones only what changed.
    assert_applied(&gateway, 2, HOSTS + 3, HOSTS);
    assert_eq!(get(address, &host(149), "/headers").await.0, 404);
    for index in [0, 149, 151, HOSTS - 1] {
        assert_eq!(get(address, &host(index), "/status/200").await.0, 200);
    }

    // A host added at the end.
    config.write("routes.yaml", &virtual_services(HOSTS + 1, Some(150)));
    wait_status(address, &host(HOSTS), "/status/200", 200).await;
    gateway.wait_generation(3).await;
    assert_eq!(gateway.generation().await, 3);
    // Only the new document was parsed, only its VirtualService bound.
    assert_applied(&gateway, 3, 1, 1);

    // Written in place: truncated, then written. One reload, of the whole
    // file: no generation serves it half-written.
    std::fs::write(
        config.path().join("routes.yaml"),
        virtual_services(HOSTS + 1, Some(7)),
    )
    .unwrap();
    wait_status(address, &host(7), "/headers", 200).await;
    assert_eq!(get(address, &host(150), "/headers").await.0, 404);
    assert_eq!(get(address, &host(HOSTS), "/status/200").await.0, 200);
    gateway.wait_generation(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gateway.generation().await, 4, "{}", gateway.log());
    let status = gateway.status().await;
    assert_eq!(status["lastReload"]["ok"], true, "{status:#}");
    // Host 150 lost its extra route and host 7 gained one.
    assert_applied(&gateway, 4, 2, 2);
}

/// The `configuration applied` line of `generation` says how many documents
/// were parsed and VirtualServices bound (the rest were reused).
fn assert_applied(gateway: &Gateway, generation: u64, parsed: usize, bound: usize) {
    let log = gateway.log();
    let line = log
        .lines()
        .find(|line| {
            line.contains("configuration applied")
                && line.contains(&format!("generation={generation} "))
        })
        .unwrap_or_else(|| panic!("no line for generation {generation}:\n{log}"));
    for (field, want) in [
        ("documents_parsed", parsed),
        ("virtual_services_bound", bound),
    ] {
        // The whole value: `=1` must not pass for `=100`.
        let value = line
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(field)?.strip_prefix('='));
        assert_eq!(
            value,
            Some(want.to_string().as_str()),
            "generation {generation}: {field}: {line}"
        );
    }
}

/// A reload that leaves every VirtualService as it was but changes the
/// cluster they send to (a DestinationRule turns TLS on, then off again)
/// serves the new cluster on every host. (A DestinationRule change makes
/// the translation bind every VirtualService again, so the snapshot
/// compiles new routes here; its reuse of an unchanged route's runtime,
/// and the cluster check that guards it, are not what this exercises.)
#[tokio::test]
async fn unchanged_routes_follow_a_changed_cluster() {
    // The gateway lives until the end of the test.
    let (config, _gateway, address) = start_with_hosts().await;
    // A first reload fills the caches (the first load keeps nothing).
    config.write("routes.yaml", &virtual_services(HOSTS, Some(1)));
    wait_status(address, &host(1), "/headers", 200).await;

    // TLS to a plaintext upstream: every host's requests now fail.
    let tls = "apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  trafficPolicy:
    tls:
      mode: SIMPLE
";
    config.write("rule.yaml", tls);
    for index in [0, 150, HOSTS - 1] {
        wait_status(address, &host(index), "/status/200", 503).await;
    }
    config.remove("rule.yaml");
    for index in [0, 150, HOSTS - 1] {
        wait_status(address, &host(index), "/status/200", 200).await;
    }
}
