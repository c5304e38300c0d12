//! Checks of the Kubernetes Ingress golden cases (`golden/ingress/*.yaml`),
//! one per case, in the style of the Istio [`super::CHECKS`]: each asserts
//! the decisive fact of its case in Rust.

use vestibule_ir::status::{ResourceStatus, Warning};
use vestibule_ir::{HostPattern, ListenerProtocol, PathMatch, RetryPolicy};
use vestibule_translate::Translation;

use super::{
    acceptance, accepted, backends, endpoints, listener, listener_names, path, route, route_names,
    vhost, vhost_names, Check, HTTPBIN,
};

/// Case name (file stem) → the decisive assertions of that case.
pub(crate) const CHECKS: &[(&str, Check)] = &[
    ("seed_v1beta1", seed_v1beta1),
    ("ingress_class", ingress_class),
    ("path_types", path_types),
    ("wildcard_host", wildcard_host),
    ("precedence", precedence),
    ("default_backend", default_backend),
    ("hostless_rules", hostless_rules),
    ("named_ports", named_ports),
    ("v1beta1_named_port", v1beta1_named_port),
    ("ignored_classes", ignored_classes),
    ("default_class", default_class),
    ("resource_backend", resource_backend),
    ("tls", tls),
    ("invalid_hosts_and_paths", invalid_hosts_and_paths),
];

// === Lookup helpers ===

fn ingress<'t>(t: &'t Translation, name: &str) -> &'t ResourceStatus {
    t.statuses
        .ingresses
        .iter()
        .find(|s| s.namespace == "default" && s.name == name)
        .unwrap_or_else(|| panic!("no status for Ingress default/{name}"))
}

fn segment(value: &str) -> PathMatch {
    PathMatch::SegmentPrefix {
        value: value.to_owned(),
    }
}

fn exact(value: &str) -> PathMatch {
    PathMatch::Exact {
        value: value.to_owned(),
        ignore_case: false,
    }
}

fn served(t: &Translation, name: &str) {
    assert_eq!(
        acceptance(&ingress(t, name).conditions),
        ("True", "Accepted"),
        "Ingress {name}"
    );
}

fn ignored<'t>(t: &'t Translation, name: &str) -> &'t str {
    let status = ingress(t, name);
    assert_eq!(
        acceptance(&status.conditions),
        ("False", "IgnoredClass"),
        "Ingress {name}"
    );
    &accepted(&status.conditions).message
}

// === Checks, one per case ===

fn seed_v1beta1(t: &Translation) {
    assert_eq!(listener_names(t), ["http.80"]);
    assert_eq!(vhost_names(t, 80), ["httpbin.example.com:80"]);
    let vhost = vhost(t, 80, "httpbin.example.com");
    assert_eq!(route_names(vhost), ["default.ingress.0.0"]);
    let route = &vhost.routes[0];
    assert_eq!(path(route), &segment("/status"));
    assert_eq!(backends(route), [(HTTPBIN, 1)]);
    assert_eq!(route.retry, RetryPolicy::istio_default());
    assert_eq!(route.timeout, None);
    assert_eq!(endpoints(t, HTTPBIN), ["127.0.0.1:8080"]);
    served(t, "ingress");
    let status = ingress(t, "ingress");
    assert!(accepted(&status.conditions)
        .message
        .contains("kubernetes.io/ingress.class: istio"));
    assert!(status.warnings.is_empty(), "{:?}", status.warnings);
}

fn ingress_class(t: &Translation) {
    for name in ["istio-class", "vestibule-class", "extensions"] {
        served(t, name);
    }
    assert_eq!(
        vhost_names(t, 80),
        ["a.example.com:80", "b.example.com:80", "c.example.com:80"]
    );
}

fn path_types(t: &Translation) {
    let vhost = vhost(t, 80, "paths.example.com");
    let paths: Vec<Option<PathMatch>> = vhost
        .routes
        .iter()
        .map(|r| r.matches[0].path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            Some(exact("/headers")),
            Some(segment("/prefix")),
            Some(segment("/status")),
            Some(exact("/exact")),
            Some(segment("/api")),
            Some(segment("/")),
            None,
        ]
    );
}

fn wildcard_host(t: &Translation) {
    assert_eq!(
        vhost_names(t, 80),
        ["a.foo.com:80", "*.foo.com (one label):80"]
    );
    let wildcard = vhost(t, 80, "*.foo.com (one label)");
    let domain = &wildcard.domains[0];
    assert_eq!(domain, &HostPattern::SingleLabel(".foo.com".to_owned()));
    assert!(domain.matches("bar.foo.com"));
    assert!(!domain.matches("baz.bar.foo.com"));
    assert!(!domain.matches("foo.com"));
    assert_eq!(route_names(wildcard), ["default.hosts.0.0"]);
    assert_eq!(
        route_names(vhost(t, 80, "a.foo.com")),
        ["default.hosts.1.0", "default.hosts.0.0"]
    );
}

fn precedence(t: &Translation) {
    assert_eq!(
        route_names(vhost(t, 80, "p.example.com")),
        [
            "default.old.0.1",
            "default.new.0.0",
            "default.old.0.0",
            "default.new.0.1",
            "default.a-first.0.0",
            "default.b-second.0.0",
        ]
    );
}

fn default_backend(t: &Translation) {
    assert_eq!(vhost_names(t, 80), ["site.example.com:80", "*:80"]);
    let any = vhost(t, 80, "*");
    assert_eq!(route_names(any), ["default.fallback.default"]);
    let fallback = route(any, "default.fallback.default");
    assert_eq!(fallback.matches[0].path, None);
    assert_eq!(backends(fallback), [(HTTPBIN, 1)]);
    assert_eq!(
        route_names(vhost(t, 80, "site.example.com")),
        ["default.site.0.0", "default.fallback.default"]
    );
    for name in ["fallback", "site", "legacy"] {
        served(t, name);
    }
    assert!(ingress(t, "fallback").warnings.is_empty());
    assert_eq!(
        ingress(t, "site").warnings,
        [Warning::not_applied(
            "spec.defaultBackend: not served: the older Ingress default/fallback already \
          provides the default backend"
        )]
    );
    assert!(ingress(t, "legacy").warnings[0]
        .message
        .starts_with("spec.backend: not served"));
}

fn hostless_rules(t: &Translation) {
    assert_eq!(vhost_names(t, 80), ["h.example.com:80", "*:80"]);
    assert_eq!(
        route_names(vhost(t, 80, "h.example.com")),
        ["default.mixed.1.0", "default.mixed.0.0"]
    );
    assert_eq!(route_names(vhost(t, 80, "*")), ["default.mixed.0.0"]);
}

fn named_ports(t: &Translation) {
    let vhost = vhost(t, 80, "n.example.com");
    let multi = |port: u16| format!("outbound|{port}||multi.default.svc.cluster.local");
    let ghost = "outbound|80||ghost.default.svc.cluster.local";
    let by_path: Vec<(PathMatch, Vec<(&str, u32)>)> = vhost
        .routes
        .iter()
        .map(|r| (path(r).clone(), backends(r)))
        .collect();
    let (admin, http) = (multi(9000), multi(8000));
    assert_eq!(
        by_path,
        [
            (segment("/unknown-service"), vec![(ghost, 1)]),
            (segment("/by-number"), vec![(http.as_str(), 1)]),
            (segment("/by-name"), vec![(admin.as_str(), 1)]),
        ]
    );
    assert_eq!(endpoints(t, &admin), ["127.0.0.1:9090"]);
    assert!(endpoints(t, ghost).is_empty());
    served(t, "ports");
    let warnings = &ingress(t, "ports").warnings;
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].message.contains("paths[2].backend")
            && warnings[0].message.contains("\"nope\"")
    );
    assert!(
        warnings[1].message.contains("paths[3].backend")
            && warnings[1].message.contains("path dropped")
    );
    assert!(
        warnings[2].message.contains("paths[4].backend") && warnings[2].message.contains("503")
    );
}

fn v1beta1_named_port(t: &Translation) {
    let vhost = vhost(t, 80, "httpbin.example.com");
    assert_eq!(backends(&vhost.routes[0]), [(HTTPBIN, 1)]);
    served(t, "named");
    assert!(ingress(t, "named").warnings.is_empty());
}

fn ignored_classes(t: &Translation) {
    assert!(listener_names(t).is_empty(), "{:?}", listener_names(t));
    assert!(ignored(t, "annotation-mismatch").contains("nginx"));
    assert!(ignored(t, "annotation-wins").starts_with("annotation kubernetes.io/ingress.class"));
    assert!(ignored(t, "unknown-class").contains("\"missing\" not found"));
    assert!(ignored(t, "foreign-controller").contains("k8s.io/ingress-nginx"));
    assert!(ignored(t, "no-class").contains("is-default-class"));
}

fn default_class(t: &Translation) {
    served(t, "classless");
    let message = &accepted(&ingress(t, "classless").conditions).message;
    assert!(message.contains("istio-default"), "{message}");
    assert_eq!(
        route_names(vhost(t, 80, "d.example.com")),
        ["default.classless.0.0"]
    );
}

fn resource_backend(t: &Translation) {
    assert_eq!(
        route_names(vhost(t, 80, "r.example.com")),
        ["default.mixed-backends.0.1"]
    );
    served(t, "mixed-backends");
    let warnings = &ingress(t, "mixed-backends").warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0]
        .message
        .starts_with("spec.rules[0].http.paths[0].backend: resource backends are not supported"));
}

fn tls(t: &Translation) {
    assert_eq!(listener_names(t), ["http.80", "https.443"]);
    let https = listener(t, 443);
    assert_eq!(https.protocol, ListenerProtocol::Https);
    assert_eq!(https.tls_servers.len(), 1);
    let server = &https.tls_servers[0];
    assert_eq!(
        server.name,
        "https.443.https-443-ingress-secure-default-0.\
         secure-istio-autogenerated-k8s-ingress-default.istio-system"
    );
    assert_eq!(
        server.server_names,
        [HostPattern::Exact("secure.example.com".to_owned())]
    );
    assert_eq!(server.misdirected_status, 404);
    let termination = server.termination.as_ref().expect("terminates");
    assert_eq!(
        termination.certificates[0].source,
        "istio-system/secure-tls"
    );
    for port in [80, 443] {
        assert_eq!(
            route_names(vhost(t, port, "secure.example.com")),
            ["default.secure.0.0"]
        );
    }
    served(t, "secure");
    let warnings = &ingress(t, "secure").warnings;
    assert_eq!(
        warnings,
        &[Warning::not_applied(
            "spec.tls[1]: Secret istio-system/other-tls does not exist; not served over TLS"
        )]
    );
}

fn invalid_hosts_and_paths(t: &Translation) {
    assert_eq!(vhost_names(t, 80), ["v.example.com:80"]);
    assert_eq!(
        route_names(vhost(t, 80, "v.example.com")),
        ["default.invalid.2.0"]
    );
    served(t, "invalid");
    let warnings = &ingress(t, "invalid").warnings;
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings[0].message.starts_with("spec.rules[0].host:"));
    assert!(warnings[1].message.starts_with("spec.rules[1].host:"));
    assert!(warnings[2]
        .message
        .starts_with("spec.rules[2].http.paths[1]:"));
    assert!(warnings[3]
        .message
        .starts_with("spec.rules[2].http.paths[2]:"));
}
