//! Gateway API per-backend filters (HTTPRouteBackendURLRewrite,
//! HTTPRouteBackendRequestRedirect): a backendRef's own URLRewrite or
//! RequestRedirect applies when that backend is picked.

mod support;

use support::{get, httpbin, service, ConfigDir, Gateway};

const GATEWAY: &str = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  gatewayClassName: istio\n  listeners:\n  - name: http\n    port: 80\n    protocol: HTTP\n";

const ROUTE: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend-filters
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /rewrite
    backendRefs:
    - name: app
      port: 8000
      filters:
      - type: URLRewrite
        urlRewrite:
          hostname: rewritten.example.com
          path:
            type: ReplacePrefixMatch
            replacePrefixMatch: /anything/new
  - matches:
    - path:
        type: PathPrefix
        value: /redirect
    backendRefs:
    - name: app
      port: 8000
      filters:
      - type: RequestRedirect
        requestRedirect:
          hostname: elsewhere.example.com
          statusCode: 301
"#;

#[tokio::test]
async fn backend_url_rewrite_and_redirect_apply_to_the_picked_backend() {
    let backend = httpbin("app").await;
    let config = ConfigDir::new();
    config.write("gateway.yaml", GATEWAY);
    config.write("route.yaml", ROUTE);
    config.write("app.yaml", &service("app", "default", 8000, &[backend]));
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;

    let (status, _, body) = get(address, "example.com", "/rewrite/x?q=1").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json["url"], "http://rewritten.example.com/anything/new/x?q=1",
        "{json}"
    );

    let (status, headers, _) = get(address, "example.com", "/redirect/y").await;
    assert_eq!(status, 301);
    assert_eq!(
        headers["location"],
        "http://elsewhere.example.com/redirect/y"
    );
}
