//! Shared helpers of the Gateway API end-to-end tests (`gateway_api_*.rs`):
//! named httpbin backends behind Services, a client that sends any method,
//! and readers of the `/status` JSON.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::support::{httpbin, service, ConfigDir, Gateway};

/// A response as the conformance suite looks at it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// Which backend answered (`x-httpbin-name`: `name.namespace`); `None`
    /// when the gateway answered itself.
    pub fn backend(&self) -> Option<&str> {
        self.header("x-httpbin-name")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// httpbin's echo of the request (`/anything/...`, `/get`, `/headers`).
    pub fn echo(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not an echo ({error}): {} {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A request header as the backend saw it (httpbin title-cases names).
    pub fn echoed_header(&self, name: &str) -> Option<String> {
        let echo = self.echo();
        let headers = echo["headers"].as_object()?;
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str().map(ToOwned::to_owned))
    }

    /// The URL the backend saw (scheme://host/path?query).
    pub fn echoed_url(&self) -> String {
        self.echo()["url"].as_str().unwrap_or_default().to_owned()
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }
}

/// Sends one request on a fresh HTTP/1.1 connection.
pub async fn send(
    address: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut sender, connection) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(path)
        .header("host", host);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = sender
        .send_request(builder.body(Full::new(Bytes::new())).unwrap())
        .await
        .expect("request failed");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

pub async fn get(address: SocketAddr, host: &str, path: &str) -> Answer {
    send(address, "GET", host, path, &[]).await
}

pub async fn get_with(
    address: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    send(address, "GET", host, path, headers).await
}

/// Starts an httpbin named `name.namespace` behind the Service
/// `namespace/name` (port 8080) and writes the Service to `config`.
pub async fn backend(config: &ConfigDir, namespace: &str, name: &str) -> SocketAddr {
    let address = httpbin(&format!("{name}.{namespace}")).await;
    config.write(
        &format!("svc-{namespace}-{name}.yaml"),
        &service(name, namespace, 8080, &[address]),
    );
    address
}

/// `Namespace` objects (with labels) so routes and grants can live there.
pub fn namespaces(config: &ConfigDir, names: &[&str]) {
    let text: Vec<String> = names
        .iter()
        .map(|name| format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"))
        .collect();
    config.write("namespaces.yaml", &text.join("---\n"));
}

/// Starts the gateway on `config` with the listener ports mapped.
pub async fn start(config: &ConfigDir, ports: &[u16]) -> Gateway {
    Gateway::start(config.path(), ports, &[]).await
}

/// Sends `request` until the answer satisfies `accept` (a reload may still
/// be under way) or gives up after ~5 s, returning the last answer.
pub async fn eventually<F, Fut>(request: F, accept: impl Fn(&Answer) -> bool) -> Answer
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let mut answer = request().await;
    for _ in 0..100 {
        if accept(&answer) {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        answer = request().await;
    }
    answer
}

// === `/status` readers ===

/// The status entry of route `kind namespace/name`.
pub fn route_status<'s>(status: &'s Value, kind: &str, namespace: &str, name: &str) -> &'s Value {
    status["routes"]
        .as_array()
        .and_then(|routes| {
            routes
                .iter()
                .find(|r| r["kind"] == kind && r["namespace"] == namespace && r["name"] == name)
        })
        .unwrap_or_else(|| panic!("no status for {kind} {namespace}/{name}: {status:#}"))
}

/// `(status, reason)` of condition `kind` on the route parent `parent_ref`
/// (`namespace/name[/section][:port]`).
pub fn route_condition(
    status: &Value,
    route: (&str, &str, &str),
    parent_ref: &str,
    kind: &str,
) -> (String, String) {
    let (route_kind, namespace, name) = route;
    let entry = route_status(status, route_kind, namespace, name);
    let parent = entry["parents"]
        .as_array()
        .and_then(|parents| {
            parents
                .iter()
                .find(|p| parent_key(&p["parentRef"]) == parent_ref)
        })
        .unwrap_or_else(|| panic!("{namespace}/{name} has no parent {parent_ref}: {entry:#}"));
    condition(&parent["conditions"], kind)
}

/// `namespace/name[/section][:port]` of a status `parentRef` object (a
/// Gateway API `ParentReference`); a parent that is not a Gateway has its
/// `group/Kind ` in front.
pub fn parent_key(parent_ref: &Value) -> String {
    let text = |field: &str| parent_ref[field].as_str().unwrap_or_default().to_owned();
    let mut key = format!("{}/{}", text("namespace"), text("name"));
    if text("group") != "gateway.networking.k8s.io" || text("kind") != "Gateway" {
        key = format!("{}/{} {key}", text("group"), text("kind"));
    }
    if let Some(section) = parent_ref["sectionName"].as_str() {
        key.push('/');
        key.push_str(section);
    }
    if let Some(port) = parent_ref["port"].as_i64() {
        key.push(':');
        key.push_str(&port.to_string());
    }
    key
}

/// Accepted and ResolvedRefs of an HTTPRoute on one parent.
pub fn http_route_conditions(
    status: &Value,
    namespace: &str,
    name: &str,
    parent_ref: &str,
) -> [(String, String); 2] {
    let route = ("HTTPRoute", namespace, name);
    [
        route_condition(status, route, parent_ref, "Accepted"),
        route_condition(status, route, parent_ref, "ResolvedRefs"),
    ]
}

/// `("True", "Accepted")`-style pairs, owned, for comparisons.
pub fn pair(status: &str, reason: &str) -> (String, String) {
    (status.to_owned(), reason.to_owned())
}

pub fn accepted_and_resolved() -> [(String, String); 2] {
    [pair("True", "Accepted"), pair("True", "ResolvedRefs")]
}

pub fn condition(conditions: &Value, kind: &str) -> (String, String) {
    let condition = conditions
        .as_array()
        .and_then(|list| list.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {conditions:#}"));
    (
        condition["status"].as_str().unwrap_or_default().to_owned(),
        condition["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The status of Gateway API Gateway `namespace/name`.
pub fn gateway_status<'s>(status: &'s Value, namespace: &str, name: &str) -> &'s Value {
    status["gateways"]
        .as_array()
        .and_then(|gateways| {
            gateways.iter().find(|g| {
                g["apiGroup"] == "gateway.networking.k8s.io"
                    && g["namespace"] == namespace
                    && g["name"] == name
            })
        })
        .unwrap_or_else(|| panic!("no status for Gateway {namespace}/{name}: {status:#}"))
}

pub fn listener_status<'s>(gateway: &'s Value, listener: &str) -> &'s Value {
    gateway["listeners"]
        .as_array()
        .and_then(|listeners| listeners.iter().find(|l| l["name"] == listener))
        .unwrap_or_else(|| panic!("no listener {listener}: {gateway:#}"))
}

pub fn attached_routes(status: &Value, namespace: &str, gateway: &str, listener: &str) -> u64 {
    listener_status(gateway_status(status, namespace, gateway), listener)["attachedRoutes"]
        .as_u64()
        .expect("attachedRoutes")
}

/// Asserts the Gateway is Accepted and Programmed, as `kubectl wait
/// --for=condition=programmed` would.
pub fn assert_gateway_ready(status: &Value, namespace: &str, name: &str) {
    let gateway = gateway_status(status, namespace, name);
    assert_eq!(
        condition(&gateway["conditions"], "Accepted").0,
        "True",
        "{gateway:#}"
    );
    assert_eq!(
        condition(&gateway["conditions"], "Programmed"),
        pair("True", "Programmed"),
        "{gateway:#}"
    );
}
