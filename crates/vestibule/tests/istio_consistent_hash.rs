//! DestinationRule `loadBalancer.consistentHash`, end to end: the real
//! gateway process before four httpbin instances, each naming itself in
//! `x-httpbin-name`, so that which endpoint served a request can be read
//! off its answer.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use support::{httpbin, Client, ConfigDir, Gateway};

const HOST: &str = "app.example.com";

/// Every request for `HOST` to the `app` Service.
const ROUTE: &str = "  - route:\n    - destination: {host: app, port: {number: 80}}\n";

async fn backends(count: usize) -> Vec<SocketAddr> {
    let mut addresses = Vec::new();
    for index in 0..count {
        addresses.push(httpbin(&format!("app-{index}")).await);
    }
    addresses
}

/// The gateway before `backends`, `consistentHash` set to `hash` (a YAML
/// flow mapping).
async fn start(backends: &[SocketAddr], hash: &str) -> (ConfigDir, Gateway, SocketAddr) {
    let config = ConfigDir::new();
    config.write("route.yaml", &support::istio_host(HOST, ROUTE));
    config.write(
        "service.yaml",
        &support::service("app", "default", 80, backends),
    );
    config.write(
        "destinationrule.yaml",
        &format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: app}}\nspec:\n  host: app\n  trafficPolicy:\n    loadBalancer:\n      consistentHash: {hash}\n"
        ),
    );
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    (config, gateway, address)
}

/// Which endpoint served `path` with `headers`, on `client`.
async fn served_by(client: &mut Client, path: &str, headers: &[(&str, &str)]) -> String {
    let (status, response, _) = client.request(HOST, path, headers).await;
    assert_eq!(status, 200, "{path} {headers:?}");
    response["x-httpbin-name"].to_str().unwrap().to_owned()
}

/// For each of `users` users, the endpoints that served its 3 requests,
/// the key given by `request(user)` as a header or a query.
async fn stickiness(
    address: SocketAddr,
    users: usize,
    request: impl Fn(&str) -> (String, Vec<(String, String)>),
) -> BTreeMap<String, BTreeSet<String>> {
    let mut client = Client::connect(address).await;
    let mut by_user = BTreeMap::new();
    for user in 0..users {
        let user = format!("user-{user}");
        let (path, headers) = request(&user);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let mut seen = BTreeSet::new();
        for _ in 0..3 {
            seen.insert(served_by(&mut client, &path, &headers).await);
        }
        by_user.insert(user, seen);
    }
    by_user
}

/// Every user stuck to one endpoint, and the users spread over more
/// than one.
fn assert_sticky(by_user: &BTreeMap<String, BTreeSet<String>>) {
    for (user, seen) in by_user {
        assert_eq!(seen.len(), 1, "{user} went to {seen:?}");
    }
    let used: BTreeSet<&String> = by_user.values().flatten().collect();
    assert!(used.len() >= 2, "24 keys on one endpoint: {used:?}");
}

#[tokio::test]
async fn a_header_keeps_each_user_on_one_endpoint() {
    let backends = backends(4).await;
    let (_config, _gateway, address) = start(&backends, "{httpHeaderName: x-user}").await;
    let by_user = stickiness(address, 24, |user| {
        (
            "/get".to_owned(),
            vec![("x-user".to_owned(), user.to_owned())],
        )
    })
    .await;
    assert_sticky(&by_user);
}

#[tokio::test]
async fn a_query_parameter_keeps_each_user_on_one_endpoint_with_maglev() {
    let backends = backends(4).await;
    let hash = "{httpQueryParameterName: user, maglev: {tableSize: 65537}}";
    let (_config, _gateway, address) = start(&backends, hash).await;
    let by_user = stickiness(address, 24, |user| {
        (format!("/get?a=1&user={user}"), vec![])
    })
    .await;
    assert_sticky(&by_user);
}

/// Every request from 127.0.0.1 goes to the same endpoint.
#[tokio::test]
async fn the_source_ip_keeps_a_client_on_one_endpoint() {
    let backends = backends(4).await;
    let (_config, _gateway, address) = start(&backends, "{useSourceIp: true}").await;
    let mut seen = BTreeSet::new();
    for _ in 0..12 {
        // A new connection each time: a new source port, the same IP.
        seen.insert(served_by(&mut Client::connect(address).await, "/get", &[]).await);
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
}

/// A request without the cookie gets one, `Max-Age` the ttl; with it,
/// the user stays on one endpoint. Without a ttl no cookie is made.
#[tokio::test]
async fn a_cookie_is_made_when_absent_and_keeps_the_user_on_one_endpoint() {
    let backends = backends(4).await;
    let hash = "{httpCookie: {name: user, path: /, ttl: 60s}}";
    let (_config, _gateway, address) = start(&backends, hash).await;
    let mut client = Client::connect(address).await;
    let mut cookies = BTreeSet::new();
    let mut users = BTreeMap::new();
    for _ in 0..16 {
        let (status, headers, _) = client.get(HOST, "/get").await;
        assert_eq!(status, 200);
        let set = headers["set-cookie"].to_str().unwrap().to_owned();
        let (pair, attributes) = set.split_once("; ").unwrap();
        assert_eq!(attributes, "Max-Age=60; Path=/; HttpOnly", "{set}");
        let value = pair.strip_prefix("user=\"").unwrap().trim_end_matches('"');
        assert_eq!(value.len(), 16, "{set}");
        cookies.insert(pair.to_owned());
        let first = headers["x-httpbin-name"].to_str().unwrap().to_owned();
        // With the cookie: the same endpoint, and no new cookie.
        for _ in 0..3 {
            let (_, again, _) = client.request(HOST, "/get", &[("cookie", pair)]).await;
            assert!(again.get("set-cookie").is_none());
            assert_eq!(again["x-httpbin-name"], first.as_str(), "{pair}");
        }
        users.insert(pair.to_owned(), first);
    }
    assert_eq!(
        cookies.len(),
        16,
        "a new value for each request without one"
    );
    let used: BTreeSet<&String> = users.values().collect();
    assert!(used.len() >= 2, "{used:?}");

    let backends = self::backends(2).await;
    let (_config, _gateway, address) = start(&backends, "{httpCookie: {name: user}}").await;
    let (_, headers, _) = Client::connect(address).await.get(HOST, "/get").await;
    assert!(headers.get("set-cookie").is_none());
}

/// Consistent: when one of four endpoints goes, its keys move to the
/// others, and most keys that were on the others stay where they were.
/// (Not all: Envoy's ring keeps its size, so the three get more points
/// each, and those take some keys; about a quarter, by the arithmetic.)
#[tokio::test]
async fn keys_stay_put_when_another_endpoint_goes() {
    let backends = backends(4).await;
    let (config, gateway, address) = start(&backends, "{httpHeaderName: x-user}").await;
    let key = |user: &str| {
        (
            "/get".to_owned(),
            vec![("x-user".to_owned(), user.to_owned())],
        )
    };
    let before = stickiness(address, 80, key).await;
    let generation = gateway.generation().await;
    config.write(
        "service.yaml",
        &support::service("app", "default", 80, &backends[1..]),
    );
    gateway.wait_generation(generation + 1).await;
    let after = stickiness(address, 80, key).await;
    let (mut orphans, mut stayed, mut kept) = (0, 0, 0);
    for (user, was) in &before {
        let now = &after[user];
        assert!(!now.contains("app-0"), "{user} still on the endpoint gone");
        if was.contains("app-0") {
            orphans += 1;
        } else {
            kept += 1;
            stayed += usize::from(was == now);
        }
    }
    assert!(orphans >= 1, "no key was on app-0: {before:?}");
    assert!(
        stayed * 2 > kept,
        "only {stayed} of {kept} keys stayed on their endpoint"
    );
}
