//! Loader behaviour: positions, field paths, kinds, Lists, directories.

use std::fs;
use std::path::PathBuf;

use vestibule_api::{load_paths, load_str, Diagnostic, Loaded};

fn load(file: &str, text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    load_str(file, text, &mut loaded);
    loaded
}

fn only_error(loaded: &Loaded) -> &Diagnostic {
    assert_eq!(loaded.errors.len(), 1, "errors: {:#?}", loaded.errors);
    &loaded.errors[0]
}

const SERVICE_A: &str =
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 80\n";

#[test]
fn multi_document_lines_are_file_lines() {
    let text = "\
# leading comment
apiVersion: v1
kind: Namespace
metadata:
  name: one
---
# a comment before the object

apiVersion: v1
kind: Namespace
metadata:
  name: two
--- # marker with a comment
apiVersion: v1
kind: Namespace
metadata:
  name: three
";
    let loaded = load("ns.yaml", text);
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let lines: Vec<_> = loaded
        .inputs
        .namespaces
        .iter()
        .map(|n| (n.name(), &*n.source.file, n.source.line))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("one", "ns.yaml", 2),
            ("two", "ns.yaml", 9),
            ("three", "ns.yaml", 14)
        ]
    );
}

#[test]
fn type_error_in_third_document_has_file_absolute_line() {
    let text = "\
apiVersion: v1
kind: Namespace
metadata:
  name: one
---
apiVersion: v1
kind: Namespace
metadata:
  name: two
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: [httpbin]
  http:
  - route:
    - destination:
        host: httpbin
      weight: ten
";
    let loaded = load("cfg/vs.yaml", text);
    let err = only_error(&loaded);
    assert_eq!((err.line, err.column), (21, 15));
    assert_eq!(err.field, "spec.http[0].route[0].weight");
    assert_eq!(
        err.resource.as_deref(),
        Some("VirtualService default/httpbin")
    );
    assert!(err.message.contains("ten"), "{}", err.message);
    // The other documents still load.
    assert_eq!(loaded.inputs.namespaces.len(), 2);
    assert!(loaded.inputs.virtual_services.is_empty());
}

#[test]
fn nested_type_error_names_field_path() {
    let text = "\
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: vs
  namespace: web
spec:
  http:
  - route:
    - destination:
        host: httpbin
        port:
          number: eighty
";
    let loaded = load("vs.yaml", text);
    let err = only_error(&loaded);
    assert_eq!(err.field, "spec.http[0].route[0].destination.port.number");
    assert_eq!((err.line, err.column), (12, 19));
    assert_eq!(err.resource.as_deref(), Some("VirtualService web/vs"));
    assert_eq!(
        err.to_string(),
        format!("vs.yaml:12:19: spec.http[0].route[0].destination.port.number: {} (VirtualService web/vs)", err.message)
    );
}

#[test]
fn yaml_syntax_error_has_line_and_column_and_other_documents_load() {
    let text = format!(
        "{SERVICE_A}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: [b\n---\n{}",
        SERVICE_A.replace("name: a", "name: c")
    );
    let loaded = load("svc.yaml", &text);
    let err = only_error(&loaded);
    assert!(err.line >= 11 && err.line <= 12, "{err}");
    assert!(err.column > 0, "{err}");
    assert_eq!(err.field, "");
    let names: Vec<_> = loaded.inputs.services.iter().map(|s| s.name()).collect();
    assert_eq!(names, vec!["a", "c"]);
}

#[test]
fn json_file() {
    let text = r#"
{
  "apiVersion": "v1",
  "kind": "Service",
  "metadata": {"name": "web", "namespace": "shop"},
  "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
}
"#;
    let loaded = load("svc.json", text);
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let svc = &loaded.inputs.services[0];
    assert_eq!(svc.key(), "shop/web");
    assert_eq!(svc.source.line, 2);
    assert_eq!(svc.spec.ports[0].port, 80);

    let bad = text.replace("\"port\": 80", "\"port\": \"eighty\"");
    let loaded = load("svc.json", &bad);
    let err = only_error(&loaded);
    assert_eq!(err.field, "spec.ports[0].port");
    assert_eq!(err.line, 6);
    assert!(err.column > 0);
    assert!(
        err.message.starts_with("invalid type: string \"eighty\""),
        "{}",
        err.message
    );
    assert!(!err.message.contains("at line"), "{}", err.message);
}

#[test]
fn json_syntax_error() {
    let loaded = load("x.json", "{\n  \"kind\": \"Service\",\n  oops\n}\n");
    let err = only_error(&loaded);
    assert_eq!((err.line, err.field.as_str()), (3, ""));
    assert!(err.column > 0);
}

const YAML_LIST: &str = "\
apiVersion: v1
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: first
  spec:
    ports:
    - port: 80
- apiVersion: v1
  kind: Service
  metadata:
    name: second
    namespace: other
  spec:
    ports:
    - port: not-a-number
- apiVersion: networking.istio.io/v1
  kind: Gateway
  metadata:
    name: gw
  spec:
    selector:
      istio: ingressgateway
kind: List
metadata:
  resourceVersion: \"\"
";

#[test]
fn kind_list_items_with_lines_and_paths() {
    let loaded = load("list.yaml", YAML_LIST);
    let err = only_error(&loaded);
    assert_eq!(err.field, "items[1].spec.ports[0].port");
    assert_eq!((err.line, err.column), (17, 13));
    assert_eq!(err.resource.as_deref(), Some("Service other/second"));
    let svc: Vec<_> = loaded
        .inputs
        .services
        .iter()
        .map(|s| (s.key(), s.source.line))
        .collect();
    assert_eq!(svc, vec![("default/first".to_string(), 3)]);
    assert_eq!(loaded.inputs.gateways[0].source.line, 18);
    assert_eq!(loaded.inputs.gateways[0].type_meta.kind, "Gateway");
}

#[test]
fn kind_list_in_flow_style_is_read_in_place() {
    let text = "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Namespace, metadata: {name: a}},\n  {apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: x}]}}]\n";
    let loaded = load("flow.yaml", text);
    let err = only_error(&loaded);
    assert_eq!(err.field, "items[1].spec.ports[0].port");
    assert_eq!(err.line, 4);
    assert_eq!(loaded.inputs.namespaces[0].name(), "a");
    assert_eq!(loaded.inputs.namespaces[0].source.line, 3);
}

#[test]
fn kind_list_in_json() {
    let text = r#"{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
  {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
   "spec": {"ports": [{"port": "x"}]}}
]}"#;
    let loaded = load("list.json", text);
    let err = only_error(&loaded);
    assert_eq!(err.field, "items[1].spec.ports[0].port");
    assert_eq!(err.line, 4);
    assert_eq!(loaded.inputs.namespaces[0].source.line, 2);
}

#[test]
fn missing_namespace_is_default() {
    let loaded = load("svc.yaml", SERVICE_A);
    assert_eq!(loaded.inputs.services[0].namespace(), "default");
    assert_eq!(loaded.inputs.services[0].type_meta.api_version, "v1");
}

#[test]
fn unknown_kind_is_skipped_with_warning() {
    let text = format!(
        "{SERVICE_A}---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec: {{}}\n"
    );
    let loaded = load("mixed.yaml", &text);
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    assert_eq!(loaded.inputs.services.len(), 1);
    let warning = loaded
        .warnings
        .iter()
        .find(|w| w.message.contains("Deployment"))
        .expect("a warning for the Deployment");
    assert_eq!(warning.message, "unknown kind apps/v1 Deployment, skipped");
    assert_eq!((warning.file.as_str(), warning.line), ("mixed.yaml", 9));
    assert_eq!(warning.resource.as_deref(), Some("Deployment default/web"));
}

#[test]
fn missing_name_is_an_error_and_drops_the_resource() {
    let text = format!(
        "{SERVICE_A}---\n\napiVersion: v1\nkind: Service\nmetadata:\n  namespace: x\nspec: {{}}\n"
    );
    let loaded = load("svc.yaml", &text);
    let err = only_error(&loaded);
    assert_eq!((err.line, err.field.as_str()), (10, "metadata.name"));
    assert_eq!(loaded.inputs.services.len(), 1);
}

#[test]
fn missing_kind_is_an_error() {
    let loaded = load("x.yaml", "apiVersion: v1\nmetadata:\n  name: a\n");
    let err = only_error(&loaded);
    assert_eq!((err.line, err.field.as_str()), (1, "kind"));
}

#[test]
fn empty_file_is_valid() {
    for text in ["", "\n\n", "---\n", "\u{feff}"] {
        let loaded = load("empty.yaml", text);
        assert!(
            loaded.errors.is_empty() && loaded.warnings.is_empty(),
            "{text:?}"
        );
        assert_eq!(loaded.inputs, Default::default());
    }
    let loaded = load("empty.json", "  \n");
    assert!(loaded.errors.is_empty());
}

#[test]
fn comment_only_and_null_documents_are_skipped() {
    let text = format!("# just a comment\n---\n# another\n---\n~\n---\n{SERVICE_A}---\n...\n");
    let loaded = load("c.yaml", &text);
    assert!(
        loaded.errors.is_empty() && loaded.warnings.is_empty(),
        "{loaded:#?}"
    );
    assert_eq!(loaded.inputs.services[0].source.line, 7);
}

#[test]
fn secret_data_must_be_base64() {
    let text = "\
apiVersion: v1
kind: Secret
metadata:
  name: tls
type: kubernetes.io/tls
data:
  tls.crt: aGVsbG8=
  tls.key: not base64!
";
    let loaded = load("secret.yaml", text);
    let err = only_error(&loaded);
    assert_eq!(err.field, "data.tls.key");
    assert_eq!((err.line, err.column), (8, 3));
    assert!(loaded.inputs.secrets.is_empty());

    let good = text.replace("not base64!", "d29ybGQ=");
    let loaded = load("secret.yaml", &good);
    let secret = &loaded.inputs.secrets[0].spec;
    assert_eq!(secret.secret_type, "kubernetes.io/tls");
    assert_eq!(secret.get("tls.key").as_deref(), Some(&b"world"[..]));
}

#[test]
fn config_maps_hold_plain_data_and_base64_binary_data() {
    let text = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: ca
data:
  ca.crt: plain text
binaryData:
  other: not base64!
";
    let loaded = load("configmap.yaml", text);
    let err = only_error(&loaded);
    assert_eq!(err.field, "binaryData.other");
    assert!(loaded.inputs.config_maps.is_empty());

    let good = text.replace("not base64!", "d29ybGQ=");
    let loaded = load("configmap.yaml", &good);
    let config_map = &loaded.inputs.config_maps[0].spec;
    assert_eq!(
        config_map.get("ca.crt").as_deref(),
        Some(&b"plain text"[..])
    );
    assert_eq!(config_map.get("other").as_deref(), Some(&b"world"[..]));
    assert_eq!(config_map.get("missing"), None);
}

#[test]
fn duplicates_keep_the_last_and_warn_with_both_locations() {
    let mut loaded = Loaded::default();
    load_str("one.yaml", SERVICE_A, &mut loaded);
    load_str(
        "two.yaml",
        &format!("# x\n{}", SERVICE_A.replace("80", "81")),
        &mut loaded,
    );
    assert_eq!(loaded.inputs.services.len(), 1);
    assert_eq!(loaded.inputs.services[0].spec.ports[0].port, 81);
    assert_eq!(loaded.warnings.len(), 1, "{:#?}", loaded.warnings);
    let w = &loaded.warnings[0];
    assert_eq!((w.file.as_str(), w.line), ("two.yaml", 2));
    assert!(w.message.contains("one.yaml:1"), "{}", w.message);
    assert!(w.message.contains("Service default/a"), "{}", w.message);
}

#[test]
fn unknown_fields_warn_with_position_but_tolerated_ones_do_not() {
    let text = "\
apiVersion: v1
kind: Service
metadata:
  name: a
  managedFields: []
spec:
  clusterIPs: [10.0.0.1]
  sessionAffinity: None
  ports:
  - port: 80
    nodePort: 30080
    colour: blue
  bogus: 1
status:
  loadBalancer: {}
";
    let loaded = load("svc.yaml", text);
    assert!(loaded.errors.is_empty());
    let warned: Vec<_> = loaded
        .warnings
        .iter()
        .map(|w| (w.field.as_str(), w.line, w.column))
        .collect();
    assert_eq!(
        warned,
        vec![("spec.ports[0].colour", 12, 5), ("spec.bogus", 13, 3)]
    );
    assert_eq!(loaded.inputs.services.len(), 1);
}

#[test]
fn bodies_outside_spec() {
    let text = "\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
- addresses: [10.0.0.5]
  conditions: {ready: true}
ports:
- name: http
  port: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
spec:
  containers: [{name: c, image: x}]
status:
  phase: Running
  podIP: 10.0.0.5
---
apiVersion: v1
kind: Endpoints
metadata:
  name: web
subsets:
- addresses: [{ip: 10.0.0.6}]
  ports: [{port: 8080}]
";
    let loaded = load("eps.yaml", text);
    assert!(
        loaded.errors.is_empty() && loaded.warnings.is_empty(),
        "{loaded:#?}"
    );
    let slice = &loaded.inputs.endpoint_slices[0];
    assert_eq!(slice.spec.address_type, "IPv4");
    assert_eq!(slice.spec.ports[0].port, Some(8080));
    assert_eq!(slice.meta.labels["kubernetes.io/service-name"], "web");
    assert_eq!(
        loaded.inputs.pods[0].spec.pod_ip.as_deref(),
        Some("10.0.0.5")
    );
    assert_eq!(
        loaded.inputs.endpoints[0].spec.subsets[0].addresses[0].ip,
        "10.0.0.6"
    );
}

#[test]
fn every_problem_is_reported() {
    let text = "\
apiVersion: v1
kind: Service
metadata:
  name: a
  generation: lots
spec:
  ports: 5
---
apiVersion: v1
kind: Secret
metadata:
  name: s
data:
  a: '%%'
  b: '##'
";
    let loaded = load("many.yaml", text);
    let fields: Vec<_> = loaded
        .errors
        .iter()
        .map(|e| (e.field.as_str(), e.line))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("metadata.generation", 5),
            ("spec.ports", 7),
            ("data.a", 14),
            ("data.b", 15)
        ]
    );
}

#[test]
fn yaml_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    text.push_str("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bomb\n");
    let loaded = load("bomb.yaml", &text);
    let err = only_error(&loaded);
    assert!(err.message.contains("too large or too complex"), "{err}");
    assert_eq!(err.field, "");
    assert!(loaded.inputs.namespaces.is_empty());
}

#[test]
fn directory_loading_skips_dotfiles_and_other_files_sorted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ns = |name: &str| format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n");
    let write = |file: &str, text: &str| fs::write(dir.path().join(file), text).expect("write");
    write("b.yaml", &ns("b"));
    write("a.yml", &ns("a"));
    write(
        "c.json",
        r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}}"#,
    );
    write(".tmp-d.yaml", &ns("hidden"));
    write("notes.txt", &ns("txt"));
    fs::create_dir(dir.path().join("sub.yaml")).expect("mkdir");
    fs::write(dir.path().join("sub.yaml/e.yaml"), ns("nested")).expect("write");

    let missing = dir.path().join("missing.yaml");
    let loaded = load_paths(&[dir.path().to_path_buf(), missing.clone()]);
    let names: Vec<_> = loaded.inputs.namespaces.iter().map(|n| n.name()).collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    let expected: Vec<PathBuf> = ["a.yml", "b.yaml", "c.json"]
        .iter()
        .map(|f| dir.path().join(f))
        .collect();
    assert_eq!(loaded.files, expected);
    assert_eq!(
        &*loaded.inputs.namespaces[0].source.file,
        dir.path().join("a.yml").display().to_string().as_str()
    );
    let err = only_error(&loaded);
    assert_eq!(err.file, missing.display().to_string());
    assert!(err.message.starts_with("cannot read"), "{}", err.message);
}

#[test]
fn a_file_given_by_name_is_read_whatever_its_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("manifest.txt");
    fs::write(&path, SERVICE_A).expect("write");
    let loaded = load_paths(std::slice::from_ref(&path));
    assert!(loaded.is_valid());
    assert_eq!(loaded.files, vec![path]);
    assert_eq!(loaded.inputs.services.len(), 1);
}

#[test]
fn display_format() {
    let d = Diagnostic {
        file: "cfg/vs.yaml".into(),
        line: 12,
        column: 17,
        field: "spec.http[0].route[0].weight".into(),
        message: "invalid type: string \"ten\", expected i64".into(),
        resource: Some("VirtualService default/httpbin".into()),
    };
    assert_eq!(
        d.to_string(),
        "cfg/vs.yaml:12:17: spec.http[0].route[0].weight: invalid type: string \"ten\", expected i64 (VirtualService default/httpbin)"
    );
    let bare = Diagnostic {
        line: 3,
        column: 0,
        field: String::new(),
        resource: None,
        ..d
    };
    assert_eq!(
        bare.to_string(),
        "cfg/vs.yaml:3: invalid type: string \"ten\", expected i64"
    );
}

const ISTIO_EXAMPLE: &str = r#"apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"#;

#[test]
fn istio_docs_example() {
    let loaded = load("httpbin.yaml", ISTIO_EXAMPLE);
    assert!(
        loaded.errors.is_empty() && loaded.warnings.is_empty(),
        "{loaded:#?}"
    );
    let gw = &loaded.inputs.gateways[0];
    assert_eq!(gw.key(), "default/httpbin-gateway");
    assert_eq!(gw.type_meta.api_version, "networking.istio.io/v1alpha3");
    let selector = gw.spec.selector.as_ref().expect("selector");
    assert_eq!(
        selector.get("istio").map(String::as_str),
        Some("ingressgateway")
    );
    let server = &gw.spec.servers[0];
    assert_eq!(
        (server.port.number, server.port.protocol.as_str()),
        (80, "HTTP")
    );
    assert_eq!(server.port.name, "http");
    assert_eq!(server.hosts, vec!["httpbin.example.com"]);

    let vs = &loaded.inputs.virtual_services[0];
    assert_eq!(vs.source.line, 16);
    assert_eq!(vs.spec.hosts, vec!["httpbin.example.com"]);
    assert_eq!(vs.spec.gateways, vec!["httpbin-gateway"]);
    let route = &vs.spec.http[0];
    let uri = route.matches[0].uri.as_ref().expect("uri");
    assert_eq!(uri.prefix.as_deref(), Some("/status"));
    assert_eq!(
        route.matches[1]
            .uri
            .as_ref()
            .and_then(|u| u.prefix.as_deref()),
        Some("/delay")
    );
    let dest = &route.route[0].destination;
    assert_eq!(dest.host, "httpbin");
    assert_eq!(dest.port.as_ref().map(|p| p.number), Some(8000));
}

#[test]
fn fields_are_located_in_documents_and_list_items() {
    let text = "\
apiVersion: v1
kind: Namespace
metadata:
  name: one
---
# a VirtualService
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs
spec:
  hosts: [a.example.com]
  http:
  - route:
    - destination: {host: a}
  - match:
    - uri: {prefix: /b}
    route:
    - destination: {host: b}
---
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata: {name: one}
  spec:
    http:
    - route: []
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata: {name: two}
  spec:
    http:
    - route: []
    - route: []
";
    let loaded = load("vs.yaml", text);
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let line = |name: &str| {
        let vs = loaded
            .inputs
            .virtual_services
            .iter()
            .find(|vs| vs.name() == name)
            .unwrap();
        vs.source.line
    };
    let locate = vestibule_api::load::locate_field;
    assert_eq!(locate(text, line("vs"), "spec.http[0]"), Some(14));
    assert_eq!(locate(text, line("vs"), "spec.http[1]"), Some(16));
    assert_eq!(locate(text, line("vs"), "spec.http[1].match[0]"), Some(17));
    assert_eq!(locate(text, line("vs"), "spec.http[2]"), None);
    assert_eq!(locate(text, line("one"), "spec.http[0]"), Some(29));
    assert_eq!(locate(text, line("two"), "spec.http[1]"), Some(36));
}
