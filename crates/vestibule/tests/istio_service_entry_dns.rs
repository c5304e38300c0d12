//! ServiceEntry `resolution: DNS`, end to end: names resolved by the
//! system's resolver (`localhost`, on loopback), through the real gateway
//! process, to httpbin.

mod support;

use support::{httpbin, Client, ConfigDir, Gateway};

fn resources(port: u16) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: by-endpoint}}
spec:
  hosts: [api.internal]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {{number: 80, name: http, protocol: HTTP}}
  endpoints:
  - address: localhost
    ports: {{http: {port}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: by-host}}
spec:
  hosts: [localhost]
  location: MESH_EXTERNAL
  resolution: DNS_ROUND_ROBIN
  ports:
  - {{number: {port}, name: http, protocol: HTTP}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: routes}}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{{uri: {{prefix: /endpoint}}}}]
    rewrite: {{uri: /get}}
    route: [{{destination: {{host: api.internal, port: {{number: 80}}}}}}]
  - match: [{{uri: {{prefix: /host}}}}]
    rewrite: {{uri: /get}}
    route: [{{destination: {{host: localhost, port: {{number: {port}}}}}}}]
"#
    )
}

/// Both forms reach httpbin at `localhost`: an endpoint named by DNS, and
/// the entry's own host resolved; `localhost`'s IPv6 address, where
/// nothing listens, is passed over for the IPv4 one.
#[tokio::test]
async fn dns_names_resolve_to_the_backend() {
    let backend = httpbin("by-dns").await;
    let config = ConfigDir::new();
    config.write("config.yaml", &resources(backend.port()));
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    let mut client = Client::connect(address).await;
    for path in ["/endpoint", "/host", "/endpoint", "/host"] {
        let (status, headers, body) = client.get("any.example.com", path).await;
        assert_eq!(status, 200, "{path}: {body:?}");
        assert_eq!(headers["x-httpbin-name"], "by-dns", "{path}");
    }
}
