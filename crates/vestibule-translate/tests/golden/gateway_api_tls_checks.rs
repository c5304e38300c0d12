//! Checks of the Gateway API TLS and TCP golden cases, in the style of
//! [`super::CHECKS`].

use vestibule_ir::{Listener, ListenerProtocol, TlsServer};
use vestibule_translate::Translation;

use super::{
    cond, gateway, gw_listener, listener, listener_ports, parent, route_conditions, route_status,
    Check, ACCEPTED, PROGRAMMED, RESOLVED,
};

pub(crate) const CHECKS: &[(&str, Check)] = &[
    ("tls_and_tcp_routes", tls_and_tcp_routes),
    ("frontend_validation", frontend_validation),
    ("port_sharing", port_sharing),
    ("https_and_tls_port", https_and_tls_port),
    ("insecure_frontend_validation", insecure_frontend_validation),
];

/// `(route name, SNI names, [(backend, weight)])` of a listener's stream routes.
type Streams<'t> = Vec<(&'t str, Vec<String>, Vec<(&'t str, u32)>)>;

fn streams(listener: &Listener) -> Streams<'_> {
    listener
        .stream_routes
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.server_names.iter().map(ToString::to_string).collect(),
                r.backends
                    .iter()
                    .map(|b| (b.backend.as_deref().unwrap_or("<none>"), b.weight))
                    .collect(),
            )
        })
        .collect()
}

fn svc(name: &str) -> String {
    format!("outbound|7000||{name}.default.svc.cluster.local")
}

fn server<'l>(listener: &'l Listener, name: &str) -> &'l TlsServer {
    listener
        .tls_servers
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no TLS server {name} on {}", listener.name))
}

fn tls_and_tcp_routes(t: &Translation) {
    assert_eq!(listener_ports(t), [80, 8443, 9000, 9001]);
    let tls = listener(t, 8443);
    assert_eq!(tls.protocol, ListenerProtocol::Tls);
    let pass = server(tls, "https.8443.pass.gw.default");
    assert!(pass.termination.is_none());
    assert_eq!(pass.misdirected_status, 421);
    let term = server(tls, "https.8443.term.gw.default");
    assert!(term.termination.is_some());
    let (s1, s2, s3) = (svc("s1"), svc("s2"), svc("s3"));
    let none = "<none>";
    assert_eq!(
        streams(tls),
        [
            (
                "default.exact",
                vec!["a.example.com".to_owned()],
                vec![(s2.as_str(), 1)]
            ),
            (
                "default.unnamed",
                vec!["term.example.org".to_owned()],
                vec![(s3.as_str(), 1)]
            ),
            (
                "default.ghost",
                vec!["ghost.example.com".to_owned()],
                vec![(none, 1)]
            ),
            (
                "default.wild",
                vec!["*.example.com".to_owned()],
                vec![(s1.as_str(), 1)]
            ),
        ]
    );
    assert_eq!(
        streams(listener(t, 9000)),
        [
            (
                "default.weighted",
                vec![],
                vec![(s1.as_str(), 3), (s2.as_str(), 1), (s3.as_str(), 0)]
            ),
            ("default.second", vec![], vec![(s2.as_str(), 1)]),
            ("default.everywhere", vec![], vec![(s3.as_str(), 1)]),
            ("default.cross", vec![], vec![(none, 1)]),
        ]
    );
    assert_eq!(
        streams(listener(t, 9001)),
        [("default.everywhere", vec![], vec![(s3.as_str(), 1)])]
    );
    let status = gateway(t, "default", "gw");
    for (name, attached) in [
        ("pass", 3),
        ("term", 1),
        ("tcp-a", 4),
        ("tcp-b", 1),
        ("web", 0),
    ] {
        let listener = gw_listener(status, name);
        assert_eq!(listener.attached_routes, attached, "{name}");
        assert_eq!(
            cond(&listener.conditions, "Programmed"),
            PROGRAMMED,
            "{name}"
        );
    }
    for (kind, name) in [
        ("TLSRoute", "wild"),
        ("TLSRoute", "exact"),
        ("TLSRoute", "unnamed"),
        ("TCPRoute", "weighted"),
        ("TCPRoute", "second"),
        ("TCPRoute", "everywhere"),
    ] {
        let status = route_status(t, kind, "default", name);
        assert_eq!(route_conditions(status), [ACCEPTED, RESOLVED], "{name}");
    }
    let refused = |kind: &str, name: &str| route_conditions(route_status(t, kind, "default", name));
    assert_eq!(
        refused("TLSRoute", "elsewhere"),
        [("False", "NoMatchingListenerHostname"), RESOLVED]
    );
    assert_eq!(
        refused("TLSRoute", "ghost"),
        [ACCEPTED, ("False", "BackendNotFound")]
    );
    assert_eq!(
        refused("TCPRoute", "to-http"),
        [("False", "NotAllowedByListeners"), RESOLVED]
    );
    assert_eq!(
        refused("TCPRoute", "cross"),
        [ACCEPTED, ("False", "RefNotPermitted")]
    );
    let to_http = route_status(t, "TCPRoute", "default", "to-http");
    assert_eq!(parent(to_http, "default/gw/web").conditions.len(), 2);
}

fn frontend_validation(t: &Translation) {
    assert_eq!(listener_ports(t), [443, 9443, 11443]);
    let strict = &listener(t, 443).tls_servers[0];
    let validation = strict
        .termination
        .as_ref()
        .and_then(|t| t.client_validation.as_ref())
        .expect("client validation on strict");
    assert_eq!(validation.source, "default/client-ca");
    assert_eq!(&*validation.ca.0, "$CERT(client-ca)");
    assert!(!validation.optional);
    let own = listener(t, 9443).tls_servers[0]
        .termination
        .as_ref()
        .and_then(|t| t.client_validation.as_ref())
        .expect("client validation on own");
    assert!(own.optional);
    let tls = &listener(t, 11443).tls_servers[0];
    assert!(tls
        .termination
        .as_ref()
        .expect("terminates")
        .client_validation
        .is_none());

    let status = gateway(t, "default", "mtls");
    let per_port = &gw_listener(status, "per-port").conditions;
    assert_eq!(
        cond(per_port, "Accepted"),
        ("False", "NoValidCACertificate")
    );
    assert_eq!(cond(per_port, "ResolvedRefs"), ("False", "RefNotPermitted"));
    assert_eq!(cond(per_port, "Programmed"), ("False", "Invalid"));
    let bad_kind = &gw_listener(status, "bad-kind").conditions;
    assert_eq!(
        cond(bad_kind, "Accepted"),
        ("False", "NoValidCACertificate")
    );
    assert_eq!(
        cond(bad_kind, "ResolvedRefs"),
        ("False", "InvalidCACertificateKind")
    );
    for name in ["strict", "own", "tls-term"] {
        let conditions = &gw_listener(status, name).conditions;
        assert_eq!(cond(conditions, "Accepted"), ACCEPTED, "{name}");
        assert_eq!(cond(conditions, "ResolvedRefs"), RESOLVED, "{name}");
        assert_eq!(cond(conditions, "Programmed"), PROGRAMMED, "{name}");
    }
}

fn port_sharing(t: &Translation) {
    assert_eq!(listener_ports(t), [8443, 9000]);
    let https = listener(t, 8443);
    let names: Vec<&str> = https.tls_servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["https.8443.https.first.default"]);
    assert_eq!(listener(t, 9000).protocol, ListenerProtocol::Http);
    let mixed = gateway(t, "default", "mixed");
    for name in ["https", "http"] {
        let conditions = &gw_listener(mixed, name).conditions;
        assert_eq!(
            cond(conditions, "Conflicted"),
            ("True", "ProtocolConflict"),
            "{name}"
        );
        assert_eq!(
            cond(conditions, "Programmed"),
            ("False", "Invalid"),
            "{name}"
        );
    }
    let first = &gw_listener(gateway(t, "default", "first"), "https").conditions;
    assert_eq!(cond(first, "Programmed"), PROGRAMMED);
    let second = &gw_listener(gateway(t, "default", "second"), "https").conditions;
    assert_eq!(cond(second, "Conflicted"), ("True", "HostnameConflict"));
    assert_eq!(cond(second, "Programmed"), ("False", "Invalid"));
    let tcp = &gw_listener(gateway(t, "default", "tcp"), "tcp").conditions;
    assert_eq!(cond(tcp, "Accepted"), ("False", "PortUnavailable"));
    assert_eq!(cond(tcp, "Programmed"), ("False", "Invalid"));
}

fn https_and_tls_port(t: &Translation) {
    assert_eq!(listener_ports(t), [443, 8443]);
    let shared = listener(t, 443);
    assert_eq!(shared.protocol, ListenerProtocol::Tls);
    let names: Vec<&str> = shared.tls_servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "https.443.https.gw.default",
            "https.443.pass.gw.default",
            "https.443.term.gw.default"
        ]
    );
    let https = server(shared, "https.443.https.gw.default");
    assert!(https.termination.is_some() && https.serves_http);
    let pass = server(shared, "https.443.pass.gw.default");
    assert!(pass.termination.is_none() && !pass.serves_http);
    let term = server(shared, "https.443.term.gw.default");
    assert!(term.termination.is_some() && !term.serves_http);
    let hosts: Vec<String> = shared
        .virtual_hosts
        .iter()
        .map(|v| v.domains[0].to_string())
        .collect();
    assert_eq!(hosts, ["web.example.com"]);
    let routes: Vec<(&str, Vec<String>)> = shared
        .stream_routes
        .iter()
        .map(|r| {
            let names = r.server_names.iter().map(ToString::to_string).collect();
            (r.name.as_str(), names)
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("default.pass", vec!["pass.example.com".to_owned()]),
            ("default.term", vec!["term.example.com".to_owned()]),
        ]
    );
    let solo = listener(t, 8443);
    assert_eq!(solo.protocol, ListenerProtocol::Https);
    assert!(!solo.tls_servers[0].serves_http);

    let gw = gateway(t, "default", "gw");
    for name in ["https", "pass", "term"] {
        let listener = gw_listener(gw, name);
        let conditions = &listener.conditions;
        assert_eq!(cond(conditions, "Accepted"), ACCEPTED, "{name}");
        assert_eq!(cond(conditions, "Programmed"), PROGRAMMED, "{name}");
        assert_eq!(
            cond(conditions, "Conflicted"),
            ("False", "NoConflicts"),
            "{name}"
        );
        assert_eq!(listener.attached_routes, 1, "{name}");
    }
    for name in ["dup-https", "dup-tls"] {
        let conditions = &gw_listener(gw, name).conditions;
        assert_eq!(
            cond(conditions, "Conflicted"),
            ("True", "HostnameConflict"),
            "{name}"
        );
        assert_eq!(
            cond(conditions, "Programmed"),
            ("False", "Invalid"),
            "{name}"
        );
    }
    let late = &gw_listener(gateway(t, "default", "late"), "pass").conditions;
    assert_eq!(cond(late, "Conflicted"), ("True", "HostnameConflict"));
    assert_eq!(cond(late, "Programmed"), ("False", "Invalid"));
    assert_eq!(
        route_conditions(route_status(t, "HTTPRoute", "default", "web")),
        [ACCEPTED, RESOLVED]
    );
}

fn insecure_frontend_validation(t: &Translation) {
    for (name, place, generation) in [
        ("fallback-default", "tls.frontend.default", 3),
        ("fallback-per-port", "tls.frontend.perPort (port 443)", 1),
    ] {
        let status = gateway(t, "default", name);
        let insecure = status
            .conditions
            .iter()
            .find(|c| c.kind == "InsecureFrontendValidationMode")
            .unwrap_or_else(|| panic!("{name}: no InsecureFrontendValidationMode"));
        assert_eq!(
            (insecure.status, insecure.reason),
            ("True", "ConfigurationChanged"),
            "{name}"
        );
        assert!(insecure.message.contains(place), "{name}: {insecure:?}");
        assert_eq!(insecure.observed_generation, generation, "{name}");
    }
    let strict = gateway(t, "default", "strict");
    assert!(
        strict
            .conditions
            .iter()
            .all(|c| c.kind != "InsecureFrontendValidationMode"),
        "{:?}",
        strict.conditions
    );
    for name in ["fallback-default", "fallback-per-port", "strict"] {
        let conditions = &gw_listener(gateway(t, "default", name), "https").conditions;
        assert_eq!(cond(conditions, "Programmed"), PROGRAMMED, "{name}");
    }
}
