//! explain agrees with the router: on every golden configuration of the
//! translator, for requests built to hit each rule (and some that hit
//! none), the rule explain reports is the one `select` picks, and explain
//! says no rule when `select` finds none.

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderValue, Method};
use vestibule_ir::{HostPattern, ListenerProtocol, PathMatch, RouteMatch, StringMatcher};
use vestibule_route::{normalize_host, normalize_path, select, HostIndex, RequestView};

use super::analyze::explain;
use super::request::Request;
use super::sources::Sources;

fn golden_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vestibule-translate/tests/golden");
    let mut files = Vec::new();
    for api in ["istio", "ingress", "gateway_api"] {
        let dir = root.join(api);
        for entry in std::fs::read_dir(&dir).expect("golden dir") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A host a domain pattern serves.
fn host_for(domain: &HostPattern) -> String {
    match domain {
        HostPattern::Exact(host) => host.clone(),
        HostPattern::Suffix(suffix) | HostPattern::SingleLabel(suffix) => format!("x{suffix}"),
        HostPattern::Any => "anything.example".to_owned(),
    }
}

/// A request target, method and headers that a match alternative accepts
/// (when its conditions are plain enough to invert).
fn request_for(route_match: &RouteMatch) -> (String, Method, Vec<(String, String)>) {
    let mut path = match &route_match.path {
        Some(PathMatch::Exact { value, .. } | PathMatch::Prefix { value, .. }) => value.clone(),
        Some(PathMatch::SegmentPrefix { value }) => value.clone(),
        Some(PathMatch::Regex { .. }) | None => "/".to_owned(),
    };
    if path.is_empty() || !path.starts_with('/') {
        path.insert(0, '/');
    }
    let method = match &route_match.method {
        Some(StringMatcher::Exact(method)) => {
            Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET)
        }
        _ => Method::GET,
    };
    let mut headers = Vec::new();
    for header in &route_match.headers {
        if header.invert {
            continue;
        }
        let value = match &header.matcher {
            Some(StringMatcher::Exact(v) | StringMatcher::Prefix(v) | StringMatcher::Suffix(v)) => {
                v.clone()
            }
            _ => "x".to_owned(),
        };
        headers.push((header.name.clone(), value));
    }
    let query: Vec<String> = route_match
        .query_params
        .iter()
        .map(|q| match &q.matcher {
            Some(StringMatcher::Exact(v)) => format!("{}={v}", q.name),
            _ => format!("{}=x", q.name),
        })
        .collect();
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    (path, method, headers)
}

fn request(
    scheme: &str,
    host: &str,
    port: u16,
    target: &str,
    method: Method,
    headers: &[(String, String)],
) -> Request {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    map.insert(http::header::HOST, HeaderValue::from_str(host).unwrap());
    Request {
        method,
        scheme: scheme.to_owned(),
        url_host: host.to_owned(),
        authority: host.to_owned(),
        port,
        port_origin: "test".to_owned(),
        target: target.to_owned(),
        headers: map,
    }
}

#[test]
fn explain_picks_the_rule_select_picks_on_every_golden_configuration() {
    let mut checked = 0;
    let mut matched = 0;
    for file in golden_files() {
        let loaded = vestibule_api::load::load_paths(std::slice::from_ref(&file));
        if !loaded.errors.is_empty() {
            continue;
        }
        let translation = vestibule_translate::translate(
            &loaded.inputs,
            &vestibule_translate::GatewayIdentity::default(),
        );
        let sources = Sources::new(&loaded.inputs);
        for listener in &translation.table.listeners {
            let scheme = match listener.protocol {
                ListenerProtocol::Http => "http",
                ListenerProtocol::Https => "https",
                _ => continue,
            };
            let index = HostIndex::new(&listener.virtual_hosts);
            for vhost in &listener.virtual_hosts {
                let Some(domain) = vhost.domains.first() else {
                    continue;
                };
                let host = host_for(domain);
                let mut requests: Vec<_> = vhost
                    .routes
                    .iter()
                    .flat_map(|route| &route.matches)
                    .map(request_for)
                    .collect();
                requests.push(("/".to_owned(), Method::GET, Vec::new()));
                requests.push(("/no/such/path".to_owned(), Method::DELETE, Vec::new()));
                for (target, method, headers) in requests {
                    let req = request(scheme, &host, listener.port, &target, method, &headers);
                    let report = explain(&req, &translation, &sources);
                    // What the router itself picks, step by step as the proxy does.
                    let normalized_host = normalize_host(&host).unwrap();
                    let expected = index.find(&normalized_host).and_then(|position| {
                        let vhost = &listener.virtual_hosts[position];
                        if scheme == "http" && vhost.require_tls {
                            return None;
                        }
                        let path = normalize_path(&target).ok()?;
                        let view = RequestView::new(
                            &req.method,
                            scheme,
                            &req.authority,
                            &path.path,
                            path.query,
                            &req.headers,
                        );
                        select(&vhost.routes, &view).map(|s| s.route_index)
                    });
                    let what = format!(
                        "{}: {} {scheme}://{host}:{}{target}",
                        file.display(),
                        req.method,
                        listener.port
                    );
                    assert!(
                        !report.notes.iter().any(|n| n.starts_with("internal")),
                        "{what}: {:?}",
                        report.notes
                    );
                    if report.outcome.kind == "misdirected"
                        || report.outcome.kind.starts_with("tls")
                    {
                        continue;
                    }
                    assert_eq!(
                        report.route.as_ref().map(|r| r.index),
                        expected,
                        "{what}: {}",
                        report.outcome.summary
                    );
                    checked += 1;
                    matched += usize::from(expected.is_some());
                }
            }
        }
    }
    assert!(checked > 200, "only {checked} requests checked");
    assert!(matched > 100, "only {matched} requests matched a rule");
}

#[test]
fn rule_lines_point_into_the_golden_files() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vestibule-translate/tests/golden/istio/first_match_order.yaml");
    let loaded = vestibule_api::load::load_paths(std::slice::from_ref(&file));
    let translation = vestibule_translate::translate(
        &loaded.inputs,
        &vestibule_translate::GatewayIdentity::default(),
    );
    let sources = Sources::new(&loaded.inputs);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut seen = 0;
    for listener in &translation.table.listeners {
        for vhost in &listener.virtual_hosts {
            for route in &vhost.routes {
                let rule = sources.rule(route);
                let field = rule.field.expect("a VirtualService rule's field");
                assert!(field.starts_with("spec.http["), "{field}");
                let line: usize = rule.source.rsplit(':').next().unwrap().parse().unwrap();
                // The rule's line is an item of `http:`: `- match:`, `- route:`...
                assert!(
                    lines[line - 1].trim_start().starts_with("- "),
                    "{}: {:?}",
                    rule.source,
                    lines[line - 1]
                );
                seen += 1;
            }
        }
    }
    assert!(seen > 1);
}
