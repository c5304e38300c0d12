//! Checks of the DestinationRule subset and load-balancing golden cases
//! (`golden/istio/dr_*.yaml`).

use std::time::Duration;
use vestibule_ir::status::{ResourceStatus, Warning, WarningKind};

use vestibule_ir::{
    AppProtocol, Backend, ConnectionPool, ConsistentHash, HashKey, HashTable, LoadBalancer,
    OutlierDetection, RouteAction, Warmup,
};
use vestibule_translate::Translation;

use super::{acceptance, backends, endpoints, route, vhost, vs, Check};

pub(crate) const CHECKS: &[(&str, Check)] = &[
    ("dr_subsets", dr_subsets),
    ("dr_merge_and_export", dr_merge_and_export),
    ("dr_load_balancer", dr_load_balancer),
    ("dr_connection_pool", dr_connection_pool),
];

fn backend<'t>(t: &'t Translation, key: &str) -> &'t Backend {
    t.table.backends.get(key).unwrap_or_else(|| {
        let keys: Vec<&String> = t.table.backends.keys().collect();
        panic!("no backend {key}: {keys:?}")
    })
}

fn rule<'t>(t: &'t Translation, namespace: &str, name: &str) -> &'t ResourceStatus {
    t.statuses
        .destination_rules
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)
        .unwrap_or_else(|| panic!("no status for DestinationRule {namespace}/{name}"))
}

/// Whether one of `warnings` is of `kind` and contains every one of `parts`.
fn warned(warnings: &[Warning], kind: WarningKind, parts: &[&str]) -> bool {
    warnings
        .iter()
        .any(|w| w.kind == kind && parts.iter().all(|part| w.message.contains(part)))
}

const REVIEWS: &str = "reviews.default.svc.cluster.local";

fn dr_subsets(t: &Translation) {
    let key = |subset: &str| format!("outbound|9080|{subset}|{REVIEWS}");
    assert_eq!(
        endpoints(t, &key("v1")),
        ["127.0.0.1:9080", "127.0.0.4:9080"]
    );
    assert_eq!(endpoints(t, &key("v2")), ["127.0.0.2:9080"]);
    assert_eq!(endpoints(t, &key("v3")), ["127.0.0.3:9080"]);
    assert!(endpoints(t, &key("v4")).is_empty());
    assert_eq!(
        endpoints(t, &key("")),
        [
            "127.0.0.1:9080",
            "127.0.0.2:9080",
            "127.0.0.3:9080",
            "127.0.0.4:9080"
        ]
    );
    let host = vhost(t, 80, "*");
    assert_eq!(backends(route(host, "jason")), [(key("v2").as_str(), 1)]);
    assert_eq!(
        backends(route(host, "shift")),
        [(key("v1").as_str(), 50), (key("v3").as_str(), 50)]
    );
    let RouteAction::Forward(mirrored) = &route(host, "mirrored").action else {
        panic!("mirrored does not forward");
    };
    assert_eq!(mirrored.mirrors.len(), 1);
    assert_eq!(
        mirrored.mirrors[0].backend.as_deref(),
        Some(key("v3").as_str())
    );
    let status = vs(t, "default", "reviews");
    assert_eq!(acceptance(&status.conditions), ("True", "Accepted"));
    assert!(
        warned(
            &status.warnings,
            WarningKind::Other,
            &["http[2].route[0].destination.subset", "\"v4\"", REVIEWS]
        ),
        "{:?}",
        status.warnings
    );
    assert_eq!(status.warnings.len(), 1, "{:?}", status.warnings);
}

fn dr_merge_and_export(t: &Translation) {
    assert_eq!(
        endpoints(t, &format!("outbound|9080|v1|{REVIEWS}")),
        ["127.0.0.1:9080"]
    );
    assert_eq!(
        endpoints(t, &format!("outbound|9080|v2|{REVIEWS}")),
        ["127.0.0.2:9080"]
    );
    for key in [
        format!("outbound|9080|v1|{REVIEWS}"),
        format!("outbound|9080|v2|{REVIEWS}"),
        format!("outbound|9080||{REVIEWS}"),
    ] {
        assert_eq!(
            backend(t, &key).load_balancer,
            LoadBalancer::Random,
            "{key}"
        );
    }
    let new = rule(t, "default", "new");
    assert!(
        warned(
            &new.warnings,
            WarningKind::NotApplied,
            &["subsets[0]", "\"v1\"", "default/old"]
        ),
        "{:?}",
        new.warnings
    );
    assert!(
        warned(
            &new.warnings,
            WarningKind::NotApplied,
            &["trafficPolicy", "default/old"]
        ),
        "{:?}",
        new.warnings
    );
    assert!(rule(t, "default", "old").warnings.is_empty());

    let ratings = "outbound|9080|v1|ratings.default.svc.cluster.local";
    assert!(endpoints(t, ratings).is_empty());
    assert!(warned(
        &vs(t, "default", "routes").warnings,
        WarningKind::Other,
        &[
            "http[1].route[0].destination.subset",
            "\"v1\"",
            "ratings.default.svc.cluster.local"
        ]
    ));
    assert!(warned(
        &rule(t, "default", "ratings-private").warnings,
        WarningKind::NotApplied,
        &["exportTo", "istio-system"]
    ));

    assert_eq!(
        endpoints(t, "outbound|9080|v1|details.default.svc.cluster.local"),
        ["127.0.0.12:9080"]
    );
    assert_eq!(
        endpoints(t, "outbound|8080|blue|api.example.com"),
        ["10.0.0.1:8080"]
    );
}

fn dr_load_balancer(t: &Translation) {
    let shop = "shop.default.svc.cluster.local";
    let balancer = |port: u16, subset: &str| {
        backend(t, &format!("outbound|{port}|{subset}|{shop}")).load_balancer
    };
    assert_eq!(balancer(80, ""), LoadBalancer::RoundRobin);
    assert_eq!(balancer(9090, ""), LoadBalancer::Random);
    assert_eq!(balancer(80, "lr"), LoadBalancer::LeastRequest);
    assert_eq!(balancer(80, "pt"), LoadBalancer::LeastRequest);
    assert_eq!(balancer(80, "plain"), LoadBalancer::RoundRobin);
    assert_eq!(balancer(80, "portless"), LoadBalancer::LeastRequest);
    assert_eq!(
        backend(t, "outbound|80||quiet.default.svc.cluster.local").load_balancer,
        LoadBalancer::LeastRequest
    );
    let status = rule(t, "default", "shop");
    for parts in [
        &[
            "subsets[1].trafficPolicy.loadBalancer.simple PASSTHROUGH",
            "LEAST_REQUEST",
        ][..],
        &["subsets[1].trafficPolicy.tls", "not honoured"],
        &[
            "subsets[3].trafficPolicy.loadBalancer.localityLbSetting",
            "not honoured",
        ],
    ] {
        assert!(
            warned(&status.warnings, WarningKind::NotHonoured, parts),
            "{parts:?} in {:?}",
            status.warnings
        );
    }
    assert_eq!(status.warnings.len(), 3, "{:?}", status.warnings);
    // The subset's consistentHash: a header key on Istio's default ring.
    assert_eq!(
        backend(t, &format!("outbound|80|hash|{shop}")).consistent_hash,
        Some(ConsistentHash {
            key: HashKey::Header("x-user".to_owned()),
            table: HashTable::Ring { minimum_size: 1024 },
        })
    );
    assert_eq!(
        backend(t, &format!("outbound|80||{shop}")).consistent_hash,
        None
    );
    let quiet = rule(t, "default", "quiet");
    assert_eq!(acceptance(&quiet.conditions), ("True", "Accepted"));
    assert!(quiet.warnings.is_empty(), "{:?}", quiet.warnings);
}

fn dr_connection_pool(t: &Translation) {
    let cart = "cart.default.svc.cluster.local";
    let backend = |port: u16, subset: &str| backend(t, &format!("outbound|{port}|{subset}|{cart}"));
    // The rule's policy, every field.
    let rule_pool = ConnectionPool {
        max_connections: Some(100),
        max_pending_requests: Some(10),
        max_requests: Some(1000),
        max_retries: Some(3),
        max_requests_per_connection: Some(50),
        connect_timeout: Some(Duration::from_millis(250)),
        idle_timeout: Some(Duration::from_secs(30)),
        tcp_idle_timeout: None,
        max_connection_duration: Some(Duration::from_secs(600)),
        tcp_keepalive: Some(vestibule_ir::TcpKeepalive {
            probes: Some(3),
            time: Some(Duration::from_secs(60)),
            interval: Some(Duration::from_secs(10)),
        }),
    };
    assert_eq!(backend(80, "").connection_pool, rule_pool);
    let rule_outlier = OutlierDetection {
        consecutive_5xx: 2,
        consecutive_gateway_errors: 1,
        interval: Duration::from_secs(1),
        base_ejection_time: Duration::from_secs(15),
        max_ejection_percent: 50,
        min_health_percent: 20,
        ..OutlierDetection::default()
    };
    assert_eq!(
        backend(80, "").outlier_detection.as_ref(),
        Some(&rule_outlier)
    );
    // A subset's connectionPool replaces the rule's; its outlierDetection,
    // unset, is the rule's (field by field).
    let small = backend(80, "small");
    assert_eq!(small.connection_pool.max_connections, Some(1));
    assert_eq!(small.connection_pool.max_pending_requests, Some(1));
    assert_eq!(small.connection_pool.connect_timeout, None);
    assert_eq!(small.outlier_detection.as_ref(), Some(&rule_outlier));
    // The port-level entry for 9090 replaces all: its own pool, no
    // outlier detection (port-level settings do not inherit).
    let admin = backend(9090, "");
    assert_eq!(admin.connection_pool.max_requests, Some(5));
    assert_eq!(admin.connection_pool.max_connections, None);
    assert_eq!(admin.outlier_detection, None);
    // h2UpgradePolicy: UPGRADE speaks HTTP/2 to the HTTP/1.1 port.
    assert_eq!(backend(80, "h2").protocol, AppProtocol::H2c);
    assert_eq!(backend(80, "").protocol, AppProtocol::Http1);
    // Istio's defaults where outlierDetection is given empty.
    assert_eq!(
        backend(80, "defaults").outlier_detection,
        Some(OutlierDetection::default())
    );
    assert_eq!(
        backend(80, "warm").warmup,
        Some(Warmup {
            duration: Duration::from_secs(30),
            minimum_percent: 20.0,
            aggression: 2.0,
        })
    );
    assert_eq!(
        backend(80, "warm-old").warmup,
        Some(Warmup {
            duration: Duration::from_secs(45),
            minimum_percent: 10.0,
            aggression: 1.0,
        })
    );
    assert_eq!(backend(80, "").warmup, None);
    let status = rule(t, "default", "cart");
    assert_eq!(acceptance(&status.conditions), ("True", "Accepted"));
    for (kind, parts) in [
        (
            WarningKind::NotApplied,
            &["subsets[2].trafficPolicy.connectionPool.tcp.maxConnections: -1"][..],
        ),
        (
            WarningKind::NotApplied,
            &[
                "subsets[2].trafficPolicy.connectionPool.http.idleTimeout",
                "ignored",
            ],
        ),
        (
            WarningKind::NotApplied,
            &["subsets[2].trafficPolicy.outlierDetection.maxEjectionPercent: 101"],
        ),
        (
            WarningKind::NotHonoured,
            &[
                "subsets[2].trafficPolicy.connectionPool.http.maxConcurrentStreams",
                "not honoured",
            ],
        ),
    ] {
        assert!(
            warned(&status.warnings, kind, parts),
            "{parts:?} in {:?}",
            status.warnings
        );
    }
    assert_eq!(status.warnings.len(), 4, "{:?}", status.warnings);
    // What is invalid is left out; the rest applies.
    let bad = backend(80, "bad");
    assert_eq!(bad.connection_pool.max_connections, None);
    assert_eq!(bad.connection_pool.max_retries, Some(1));
    assert_eq!(
        bad.outlier_detection
            .as_ref()
            .map(|o| o.max_ejection_percent),
        Some(10)
    );
}
