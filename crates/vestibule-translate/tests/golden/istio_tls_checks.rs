//! Checks of the Istio TLS and TCP golden cases (`golden/istio/*.yaml`
//! with HTTPS, TLS and TCP servers), in the style of [`super::CHECKS`].

use vestibule_ir::{CipherSuite, HostPattern, Listener, ListenerProtocol, TlsServer, TlsVersion};
use vestibule_translate::Translation;

use super::{
    acceptance, accepted, gateway, listener, listener_names, route_names, vhost, vs, Check,
};

pub(crate) const CHECKS: &[(&str, Check)] = &[
    ("https_servers", https_servers),
    ("tls_rejections", tls_rejections),
    ("tls_and_tcp_routes", tls_and_tcp_routes),
];

fn tls_server<'l>(listener: &'l Listener, name: &str) -> &'l TlsServer {
    listener
        .tls_servers
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = listener
                .tls_servers
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            panic!("no TLS server {name} on {}: {names:?}", listener.name)
        })
}

fn names(server: &TlsServer) -> Vec<String> {
    server
        .server_names
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn https_servers(t: &Translation) {
    assert_eq!(listener_names(t), ["http.80", "https.443"]);
    let https = listener(t, 443);
    assert_eq!(https.protocol, ListenerProtocol::Https);
    assert_eq!(https.tls_servers.len(), 4);
    for server in &https.tls_servers {
        assert_eq!(server.misdirected_status, 404, "{}", server.name);
    }
    let simple = tls_server(https, "https.443.simple.secure.default");
    assert_eq!(names(simple), ["a.example.com"]);
    let termination = simple.termination.as_ref().expect("terminates");
    assert_eq!(termination.certificates[0].source, "istio-system/a-cert");
    assert_eq!(
        &*termination.certificates[0].chain.0,
        "$CERT(a.example.com)"
    );
    assert!(termination.client_validation.is_none());
    assert_eq!(
        (termination.min_version, termination.max_version),
        (TlsVersion::Tls12, TlsVersion::Tls13)
    );

    let mutual = tls_server(https, "https.443.mutual.secure.default");
    let termination = mutual.termination.as_ref().expect("terminates");
    let validation = termination.client_validation.as_ref().expect("mTLS");
    assert_eq!(validation.source, "istio-system/b-cert");
    assert_eq!(&*validation.ca.0, "$CERT(client-ca)");
    assert!(!validation.optional);
    assert_eq!(
        validation.subject_alt_names,
        ["spiffe://example.com/client"]
    );
    assert_eq!(validation.spki_sha256, ["Xq1vT2Ww3w=="]);
    assert_eq!(validation.cert_sha256, ["abcdef01"]);

    let optional = tls_server(https, "https.443.optional.secure.default");
    let termination = optional.termination.as_ref().expect("terminates");
    let validation = termination.client_validation.as_ref().expect("mTLS");
    assert_eq!(validation.source, "istio-system/c-cert-cacert");
    assert!(validation.optional);
    assert_eq!(termination.min_version, TlsVersion::Tls12);
    assert_eq!(
        termination.cipher_suites,
        [CipherSuite::EcdheRsaAes128GcmSha256]
    );
    let status = gateway(t, "default", "secure");
    let message = &accepted(&status.listeners[3].conditions).message;
    assert!(
        message.contains("minProtocolVersion TLSV1_0 raised to TLSV1_2"),
        "{message}"
    );
    assert!(
        message.contains("TLS_AES_128_GCM_SHA256, NOT-A-SUITE"),
        "{message}"
    );

    let pair = tls_server(https, "https.443.pair.secure.default");
    assert_eq!(names(pair), ["d.example.com", "*.d.example.com"]);
    let termination = pair.termination.as_ref().expect("terminates");
    let sources: Vec<&str> = termination
        .certificates
        .iter()
        .map(|c| c.source.as_str())
        .collect();
    assert_eq!(sources, ["istio-system/d-rsa", "istio-system/d-ecdsa"]);
    assert_eq!(
        termination
            .client_validation
            .as_ref()
            .map(|v| v.source.as_str()),
        Some("istio-system/client-ca")
    );
    assert_eq!(termination.min_version, TlsVersion::Tls13);

    for host in [
        "a.example.com",
        "b.example.com",
        "c.example.com",
        "d.example.com",
    ] {
        let served = vhost(t, 443, host);
        assert_eq!(route_names(served), ["app"], "{host}");
        assert!(!served.require_tls);
    }
    assert!(vhost(t, 80, "a.example.com").require_tls);
    for listener in &status.listeners {
        assert_eq!(
            acceptance(&listener.conditions),
            ("True", "Accepted"),
            "{}",
            listener.name
        );
    }
    assert_eq!(status.listeners[1].attached_routes, 1);
}

fn tls_rejections(t: &Translation) {
    assert_eq!(listener_names(t), ["https.443"]);
    let https = listener(t, 443);
    assert_eq!(https.tls_servers.len(), 1);
    assert_eq!(https.tls_servers[0].name, "https.443.ok.bad.default");
    let status = gateway(t, "default", "bad");
    let outcome: Vec<(&str, &str, &str)> = status
        .listeners
        .iter()
        .map(|l| {
            let condition = accepted(&l.conditions);
            (
                l.name.as_str(),
                condition.reason,
                condition.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        outcome,
        [
            ("ok", "Accepted", ""),
            (
                "duplicate",
                "DuplicateHost",
                "host a.example.com is already served on port 443 by TLS server \
                 https.443.ok.bad.default"
            ),
            (
                // Served as a TLS (passthrough) server, as Istio does; 443
                // is already HTTPS here.
                "no-mode",
                "ProtocolConflict",
                "port 443 is already used with another protocol"
            ),
            (
                "istio-mutual",
                "InvalidTLSConfig",
                "tls.mode ISTIO_MUTUAL is not supported: it needs mesh-issued workload \
                 certificates, which this gateway does not have"
            ),
            (
                "auto-passthrough",
                "InvalidTLSConfig",
                "tls.mode AUTO_PASSTHROUGH is not supported: it needs mesh SNI-DNAT routing \
                 (the SNI names the destination cluster), which this gateway does not do"
            ),
            (
                "file-paths",
                "InvalidTLSConfig",
                "tls.serverCertificate and tls.privateKey (file paths) are not supported by \
                 this gateway: use credentialName"
            ),
            (
                "no-ca",
                "InvalidTLSConfig",
                "MUTUAL and OPTIONAL_MUTUAL need a CA for client certificates: ca.crt or \
                 cacert in Secret istio-system/good, a Secret istio-system/good-cacert, or \
                 tls.caCertCredentialName"
            ),
            (
                "old-max",
                "InvalidTLSConfig",
                "tls.maxProtocolVersion TLSV1_1 is below TLSV1_2, the oldest version served"
            ),
            (
                "mismatch",
                "InvalidTLSConfig",
                "Secret istio-system/mismatch: the private key does not match the certificate \
                 in tls.crt"
            ),
            (
                "elsewhere",
                "InvalidTLSConfig",
                "Secret istio-system/elsewhere does not exist"
            ),
            (
                "garbage",
                "InvalidTLSConfig",
                "Secret istio-system/garbage: tls.crt holds no PEM certificate"
            ),
            (
                "three-names",
                "InvalidTLSConfig",
                "tls.credentialNames has 3 entries; at most 2 (one RSA, one ECDSA)"
            ),
            (
                "no-tls",
                "InvalidTLSConfig",
                "a TLS server needs tls settings"
            ),
        ]
    );
}

fn stream_names(listener: &Listener) -> Vec<(&str, Vec<String>)> {
    listener
        .stream_routes
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.server_names.iter().map(ToString::to_string).collect(),
            )
        })
        .collect()
}

fn shares(listener: &Listener, index: usize) -> Vec<(&str, u32)> {
    listener.stream_routes[index]
        .backends
        .iter()
        .map(|b| (b.backend.as_deref().unwrap_or("<none>"), b.weight))
        .collect()
}

fn tls_and_tcp_routes(t: &Translation) {
    assert_eq!(
        listener_names(t),
        ["tls.8443", "tls.9443", "tcp.27017", "tcp.31400"]
    );
    let passthrough = listener(t, 8443);
    assert_eq!(passthrough.protocol, ListenerProtocol::Tls);
    assert!(passthrough.tls_servers[0].termination.is_none());
    assert_eq!(
        passthrough.tls_servers[0].server_names,
        [HostPattern::Suffix(".example.com".to_owned())]
    );
    assert_eq!(
        stream_names(passthrough),
        [
            (
                "default.passthrough.tls.0",
                vec!["a.example.com".to_owned()]
            ),
            (
                "default.passthrough.tls.1",
                vec!["b.example.com".to_owned()]
            ),
        ]
    );
    assert_eq!(
        shares(passthrough, 1),
        [
            ("outbound|443||svc-a.default.svc.cluster.local", 80),
            ("outbound|443||svc-b.default.svc.cluster.local", 20)
        ]
    );
    let terminate = listener(t, 9443);
    assert!(terminate.tls_servers[0].termination.is_some());
    assert_eq!(
        stream_names(terminate),
        [
            ("default.db.tcp.0", vec!["db.example.com".to_owned()]),
            ("default.tcp.tcp.1", vec!["db.example.com".to_owned()])
        ]
    );
    assert_eq!(
        stream_names(listener(t, 31400)),
        [("default.tcp.tcp.0", vec![]), ("default.tcp.tcp.1", vec![])]
    );
    assert_eq!(
        stream_names(listener(t, 27017)),
        [("default.tcp.tcp.1", vec![])]
    );
    assert_eq!(
        shares(listener(t, 27017), 0),
        [("outbound|27017||svc-mongo.default.svc.cluster.local", 1)]
    );
    for name in ["passthrough", "db", "tcp"] {
        assert_eq!(
            acceptance(&vs(t, "default", name).conditions),
            ("True", "Accepted")
        );
    }
    let no_sni = accepted(&vs(t, "default", "no-sni").conditions);
    assert_eq!(
        (no_sni.reason, no_sni.message.as_str()),
        (
            "Invalid",
            "spec.tls[0].match[0].sniHosts: sniHosts is required"
        )
    );
    let outside = accepted(&vs(t, "default", "outside").conditions);
    assert_eq!(
        outside.message,
        "spec.tls[0].match[0].sniHosts: sniHost z.example.com is not within the \
         VirtualService's hosts"
    );
    let attached: Vec<u32> = gateway(t, "default", "edge")
        .listeners
        .iter()
        .map(|l| l.attached_routes)
        .collect();
    assert_eq!(attached, [1, 2, 1, 1]);
}
