//! Istio DestinationRule subsets and load balancing, end to end: the real
//! gateway process, httpbin instances standing for the Pods of versions
//! (each names itself in `x-httpbin-name`), EndpointSlices whose endpoints
//! name their Pods, and Pods labelled with their `version`.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use support::{httpbin, Client, ConfigDir, Gateway};

const HOST: &str = "bookinfo.example.com";

/// One Pod standing behind a `reviews` endpoint: its name (also its
/// httpbin's name), its `version` label, its address.
struct Pod {
    name: String,
    version: &'static str,
    address: SocketAddr,
}

async fn pods(versions: &[(&'static str, usize)]) -> Vec<Pod> {
    let mut pods = Vec::new();
    for (version, count) in versions {
        for index in 0..*count {
            let name = format!("reviews-{version}-{index}");
            let address = httpbin(&name).await;
            pods.push(Pod {
                name,
                version,
                address,
            });
        }
    }
    pods
}

/// The `reviews` Service on port 9080, one EndpointSlice per Pod (their
/// ports differ) whose endpoint's `targetRef` names the Pod, and the Pods
/// with their `app` and `version` labels.
fn reviews(pods: &[Pod]) -> String {
    let mut text = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\nspec:\n  ports:\n  - {name: http, port: 9080}\n",
    );
    for pod in pods {
        text.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}\n  labels: {{kubernetes.io/service-name: reviews}}\naddressType: IPv4\nports:\n- {{name: http, port: {port}}}\nendpoints:\n- addresses: [\"{ip}\"]\n  targetRef: {{kind: Pod, name: {name}}}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: reviews, version: {version}}}\nstatus: {{podIP: \"{ip}\"}}\n",
            name = pod.name,
            port = pod.address.port(),
            ip = pod.address.ip(),
            version = pod.version,
        ));
    }
    text
}

const GATEWAY: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["bookinfo.example.com"]
"#;

/// Subsets v1, v2, v3 by `version`, and `simple` for the whole host.
fn destination_rule(simple: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews}}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {{simple: {simple}}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
  - {{name: v3, labels: {{version: v3}}}}
"#
    )
}

/// A VirtualService for `HOST` with these `http` rules.
fn virtual_service(http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: reviews}}\nspec:\n  hosts: [\"{HOST}\"]\n  gateways: [bookinfo]\n  http:\n{http}"
    )
}

async fn start(pods: &[Pod], simple: &str, http: &str) -> (ConfigDir, Gateway, SocketAddr) {
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    config.write("reviews.yaml", &reviews(pods));
    config.write("destinationrule.yaml", &destination_rule(simple));
    config.write("virtualservice.yaml", &virtual_service(http));
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    (config, gateway, address)
}

/// `count` requests on one connection; the name of the Pod that served
/// each, in order.
async fn served_by(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    count: usize,
) -> Vec<String> {
    let mut client = Client::connect(address).await;
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        let (status, response, _) = client.request(HOST, path, headers).await;
        assert_eq!(status, 200, "{path} {headers:?}");
        names.push(
            response["x-httpbin-name"]
                .to_str()
                .expect("a name")
                .to_owned(),
        );
    }
    names
}

fn tally<'n>(names: impl IntoIterator<Item = &'n String>) -> BTreeMap<&'n str, usize> {
    let mut counts = BTreeMap::new();
    for name in names {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    counts
}

/// The version part of a Pod name (`reviews-v2-0` → `v2`).
fn version(name: &str) -> &str {
    name.split('-').nth(1).expect("reviews-VERSION-N")
}

/// Whether `observed` successes out of `n` are within 3 standard
/// deviations of a binomial with probability `p`.
/// Four standard deviations: a uniform balancer fails this for one of
/// three endpoints about once in 5,000 runs (at three, once in 120: too
/// often for a suite that runs on every change), while one that sends an
/// endpoint half or none of its share fails every time.
fn within_four_sigma(observed: usize, n: usize, p: f64) -> bool {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    (observed as f64 - mean).abs() <= 4.0 * sigma
}

/// Istio's "request routing" task: `end-user: jason` goes to v2, everyone
/// else to v1; a subset no DestinationRule defines answers 503 and the
/// VirtualService's status names it.
#[tokio::test]
async fn request_routing_sends_jason_to_v2_and_others_to_v1() {
    let pods = pods(&[("v1", 2), ("v2", 1), ("v3", 1)]).await;
    let http = r#"  - match:
    - headers:
        end-user: {exact: jason}
    route:
    - destination: {host: reviews, subset: v2}
  - match:
    - uri: {prefix: /undefined}
    route:
    - destination: {host: reviews, subset: v9}
  - route:
    - destination: {host: reviews, subset: v1}
"#;
    let (_config, gateway, address) = start(&pods, "ROUND_ROBIN", http).await;

    let jason = served_by(address, "/get", &[("end-user", "jason")], 20).await;
    assert!(jason.iter().all(|name| name == "reviews-v2-0"), "{jason:?}");

    let others = served_by(address, "/get", &[("end-user", "alice")], 20).await;
    assert_eq!(
        tally(&others),
        BTreeMap::from([("reviews-v1-0", 10), ("reviews-v1-1", 10)]),
        "only v1, both of its Pods"
    );

    let mut client = Client::connect(address).await;
    let (status, _, _) = client.get(HOST, "/undefined").await;
    assert_eq!(status, 503);
    let status = gateway.status().await;
    let warnings = status["virtualServices"][0]["warnings"].to_string();
    assert!(
        warnings.contains("http[1].route[0].destination.subset") && warnings.contains("v9"),
        "{warnings}"
    );
}

/// Istio's "traffic shifting" task: 50/50 then 80/20 between v1 and v3,
/// each within a binomial 3-sigma bound over 400 requests.
#[tokio::test]
async fn traffic_shifting_splits_by_weight_between_subsets() {
    let pods = pods(&[("v1", 1), ("v2", 1), ("v3", 1)]).await;
    for (v1_weight, v3_weight) in [(50, 50), (80, 20)] {
        let http = format!(
            "  - route:\n    - destination: {{host: reviews, subset: v1}}\n      weight: {v1_weight}\n    - destination: {{host: reviews, subset: v3}}\n      weight: {v3_weight}\n"
        );
        let (_config, _gateway, address) = start(&pods, "LEAST_REQUEST", &http).await;
        let requests = 400;
        let names = served_by(address, "/get", &[], requests).await;
        let v1 = names.iter().filter(|name| version(name) == "v1").count();
        let v3 = names.iter().filter(|name| version(name) == "v3").count();
        assert_eq!(v1 + v3, requests, "only v1 and v3: {:?}", tally(&names));
        let share = f64::from(v1_weight) / 100.0;
        assert!(
            within_four_sigma(v1, requests, share),
            "{v1_weight}/{v3_weight}: v1 served {v1} of {requests}"
        );
    }
}

/// ROUND_ROBIN: every endpoint in turn, so each run of as many requests as
/// there are endpoints visits each exactly once.
#[tokio::test]
async fn round_robin_visits_every_endpoint_in_turn() {
    let pods = pods(&[("v1", 3)]).await;
    let http = "  - route:\n    - destination: {host: reviews}\n";
    let (_config, _gateway, address) = start(&pods, "ROUND_ROBIN", http).await;
    let names = served_by(address, "/get", &[], 12).await;
    for turn in names.chunks(3) {
        let distinct = tally(turn);
        assert_eq!(distinct.len(), 3, "a turn visits all three: {names:?}");
    }
}

/// RANDOM: requests spread over every endpoint, each within a binomial
/// 3-sigma bound of its third of 300 requests.
#[tokio::test]
async fn random_spreads_over_every_endpoint() {
    let pods = pods(&[("v1", 3)]).await;
    let http = "  - route:\n    - destination: {host: reviews, subset: v1}\n";
    let (_config, _gateway, address) = start(&pods, "RANDOM", http).await;
    let requests = 300;
    let names = served_by(address, "/get", &[], requests).await;
    let counts = tally(&names);
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (name, count) in &counts {
        assert!(
            within_four_sigma(*count, requests, 1.0 / 3.0),
            "{name} served {count} of {requests}: {counts:?}"
        );
    }
}
