//! Checks of the VirtualService delegation and `exportTo` cases
//! (`golden/istio/delegate_*.yaml`, `export_to.yaml`), in the style of
//! [`super::CHECKS`].

use std::time::Duration;

use vestibule_ir::status::ResourceStatus;
use vestibule_ir::{PathMatch, Route, RouteAction, StringMatcher, VirtualHost};
use vestibule_translate::Translation;

use super::{
    acceptance, accepted, backends, endpoints, pairs, path, prefix, route, route_names, vhost,
    vhost_names, vs, Check,
};

pub(crate) const CHECKS: &[(&str, Check)] = &[
    ("delegate_merge", delegate_merge),
    ("delegate_rejections", delegate_rejections),
    ("export_to", export_to),
];

const WEB: &str = "outbound|8000||web.default.svc.cluster.local";

/// `(header, exact value)` of a route's first match.
fn headers(route: &Route) -> Vec<(&str, &str)> {
    route.matches[0]
        .headers
        .iter()
        .map(|h| match &h.matcher {
            Some(StringMatcher::Exact(value)) => (h.name.as_str(), value.as_str()),
            other => panic!("{}: header {} is not exact: {other:?}", route.name, h.name),
        })
        .collect()
}

/// Asserts one warning of `status` contains every one of `parts`.
fn warned(status: &ResourceStatus, parts: &[&str]) {
    assert!(
        status
            .warnings
            .iter()
            .any(|w| parts.iter().all(|part| w.message.contains(part))),
        "{}/{}: no warning with {parts:?} in {:#?}",
        status.namespace,
        status.name,
        status.warnings
    );
}

fn routes_named<'v>(vhost: &'v VirtualHost, name: &str) -> Vec<&'v Route> {
    vhost
        .routes
        .iter()
        .map(AsRef::as_ref)
        .filter(|r| r.name == name)
        .collect()
}

fn delegate_merge(t: &Translation) {
    let host = vhost(t, 80, "bookinfo.example.com");
    assert_eq!(
        route_names(host),
        [
            "reviews-jason",
            "reviews-exact",
            "reviews-rest",
            "assets",
            "ab-get",
            "ab-get",
            "maint",
            "default.root.4",
            "default.root.5",
        ]
    );
    let reviews_bookinfo = "outbound|9080||reviews.bookinfo.svc.cluster.local";

    let jason = route(host, "reviews-jason");
    assert_eq!(path(jason), &prefix("/reviews/v2"));
    assert_eq!(headers(jason), [("end-user", "jason"), ("x-env", "prod")]);
    assert_eq!(jason.timeout, Some(Duration::from_secs(1)));
    assert_eq!(jason.response_headers.set(), pairs(&[("x-root", "yes")]));
    assert_eq!(backends(jason), [(reviews_bookinfo, 1)]);

    let exact = route(host, "reviews-exact");
    assert_eq!(
        path(exact),
        &PathMatch::Exact {
            value: "/reviews/list".to_owned(),
            ignore_case: false
        }
    );
    assert_eq!(headers(exact), [("x-env", "prod")]);
    assert_eq!(exact.timeout, Some(Duration::from_secs(5)));

    let rest = route(host, "reviews-rest");
    assert_eq!(path(rest), &prefix("/reviews"));
    assert_eq!(headers(rest), [("x-env", "prod")]);
    assert_eq!(backends(rest), [(reviews_bookinfo, 1)]);

    let assets = route(host, "assets");
    assert_eq!(path(assets), &prefix("/static"));
    assert_eq!(assets.timeout, None);
    assert_eq!(backends(assets), [(WEB, 1)]);

    let ab = routes_named(host, "ab-get");
    for (route, expected) in ab.iter().zip(["/a", "/b"]) {
        assert_eq!(path(route), &prefix(expected));
        assert_eq!(
            route.matches[0].method,
            Some(StringMatcher::Exact("GET".to_owned()))
        );
    }

    let maint = route(host, "maint");
    assert_eq!(path(maint), &prefix("/maintenance"));
    match &maint.action {
        RouteAction::DirectResponse(direct) => {
            assert_eq!(direct.status, 503);
            assert_eq!(direct.body, b"down for maintenance");
        }
        other => panic!("maint: {other:?}"),
    }

    assert_eq!(
        backends(route(host, "default.root.4")),
        [("outbound|9080||reviews.default.svc.cluster.local", 1)]
    );

    let root = vs(t, "default", "root");
    assert_eq!(acceptance(&root.conditions), ("True", "Accepted"));
    for rule in [2, 3, 4] {
        warned(
            root,
            &[
                "spec.http[0].delegate",
                &format!("bookinfo/reviews spec.http[{rule}].match[0]"),
                "route dropped",
            ],
        );
    }
    warned(
        root,
        &["spec.http[3].directResponse", "default/maint spec.http[0]"],
    );
    assert_eq!(root.warnings.len(), 4, "{:#?}", root.warnings);
    for (namespace, name) in [
        ("bookinfo", "reviews"),
        ("default", "static"),
        ("default", "ab"),
        ("default", "maint"),
    ] {
        let status = vs(t, namespace, name);
        assert_eq!(
            acceptance(&status.conditions),
            ("True", "Accepted"),
            "{name}"
        );
        assert_eq!(
            accepted(&status.conditions).message,
            "delegate of default/root"
        );
        assert!(status.warnings.is_empty(), "{name}: {:?}", status.warnings);
    }
}

fn delegate_rejections(t: &Translation) {
    let host = vhost(t, 80, "root.example.com");
    assert_eq!(route_names(host), ["shared", "inner", "fallback"]);
    assert_eq!(path(route(host, "shared")), &prefix("/shared"));
    assert_eq!(
        backends(route(host, "shared")),
        [("outbound|8000||web.team.svc.cluster.local", 1)]
    );
    assert_eq!(path(route(host, "inner")), &prefix("/nested"));

    let root = vs(t, "default", "root");
    assert_eq!(acceptance(&root.conditions), ("True", "Accepted"));
    warned(
        root,
        &[
            "spec.http[0].delegate",
            "default/nowhere",
            "not found",
            "rule skipped",
        ],
    );
    warned(
        root,
        &[
            "spec.http[1].delegate",
            "default/hosted",
            "has hosts",
            "rule skipped",
        ],
    );
    warned(
        root,
        &[
            "spec.http[2].delegate",
            "team/private",
            "exportTo [\".\"]",
            "\"default\"",
            "rule skipped",
        ],
    );
    warned(
        root,
        &[
            "spec.http[4].delegate",
            "default/with-gateways",
            "is invalid (spec.gateways",
            "rule skipped",
        ],
    );
    warned(
        root,
        &[
            "spec.http[5].delegate",
            "default/nested spec.http[0]",
            "one level",
            "route dropped",
        ],
    );
    assert_eq!(root.warnings.len(), 5, "{:#?}", root.warnings);

    // The hosted VirtualService serves its own host, and says a root
    // named it as a delegate.
    let hosted = vs(t, "default", "hosted");
    assert_eq!(acceptance(&hosted.conditions), ("True", "Accepted"));
    warned(
        hosted,
        &["default/root", "spec.http[1].delegate", "has hosts"],
    );
    assert_eq!(route_names(vhost(t, 80, "hosted.example.com")), ["hosted"]);

    let private = vs(t, "team", "private");
    warned(
        private,
        &[
            "exportTo [\".\"]",
            "\"default\"",
            "default/root",
            "not merged there",
        ],
    );
    let with_gateways = vs(t, "default", "with-gateways");
    assert_eq!(acceptance(&with_gateways.conditions), ("False", "Invalid"));
    assert!(accepted(&with_gateways.conditions)
        .message
        .starts_with("spec.gateways:"));
    let nested = vs(t, "default", "nested");
    assert_eq!(acceptance(&nested.conditions), ("True", "Accepted"));
    warned(
        nested,
        &["spec.http[0].delegate", "one level", "rule skipped"],
    );

    let invalid = vs(t, "default", "invalid-root");
    assert_eq!(acceptance(&invalid.conditions), ("False", "Invalid"));
    assert!(
        accepted(&invalid.conditions)
            .message
            .starts_with("spec.http[0]: delegate and route cannot both be set"),
        "{:?}",
        invalid.conditions
    );
    assert!(!vhost_names(t, 80).contains(&"invalid.example.com:80"));

    let unused = vs(t, "default", "unused");
    assert_eq!(acceptance(&unused.conditions), ("False", "UnusedDelegate"));
}

fn export_to(t: &Translation) {
    let names = vhost_names(t, 80);
    for served in ["a", "b", "d", "e"] {
        assert!(
            names.contains(&format!("{served}.example.com:80").as_str()),
            "{served}: {names:?}"
        );
    }
    for hidden in ["c", "f"] {
        assert!(
            !names.contains(&format!("{hidden}.example.com:80").as_str()),
            "{hidden}: {names:?}"
        );
    }
    for (namespace, name) in [
        ("default", "everyone"),
        ("default", "star"),
        ("default", "to-gateway"),
        ("istio-system", "own"),
    ] {
        let status = vs(t, namespace, name);
        assert_eq!(
            acceptance(&status.conditions),
            ("True", "Accepted"),
            "{name}"
        );
    }
    for (name, export) in [("private", "[\".\"]"), ("others", "[\"team\"]")] {
        let status = vs(t, "default", name);
        assert_eq!(
            acceptance(&status.conditions),
            ("False", "NotExported"),
            "{name}"
        );
        warned(
            status,
            &[
                &format!("exportTo {export}"),
                "does not include the gateway's namespace \"istio-system\": not applied",
            ],
        );
    }

    let host = vhost(t, 80, "a.example.com");
    let hidden = "outbound|443||hidden.api.example";
    assert_eq!(backends(route(host, "hidden")), [(hidden, 1)]);
    assert!(endpoints(t, hidden).is_empty());
    warned(
        vs(t, "default", "everyone"),
        &[
            "spec.http[0].route[0].destination",
            "hidden.api.example",
            "not found",
        ],
    );
    let shared = "outbound|443||shared.api.example";
    assert_eq!(backends(route(host, "shared")), [(shared, 1)]);
    assert_eq!(endpoints(t, shared), ["10.0.0.2:443"]);

    let entry = |name: &str| {
        t.statuses
            .service_entries
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no status for ServiceEntry {name}"))
    };
    let hidden_entry = entry("hidden-api");
    assert_eq!(
        acceptance(&hidden_entry.conditions),
        ("False", "NotExported")
    );
    warned(
        hidden_entry,
        &["exportTo [\".\"] does not include the gateway's namespace \"istio-system\""],
    );
    assert_eq!(
        acceptance(&entry("shared-api").conditions),
        ("True", "Accepted")
    );
}
