//! Request-path costs of routing: host lookup, route selection and path
//! normalization, at 10 to 100k hosts or routes. Kept short (small samples,
//! 2 s measurements) so `cargo bench -p vestibule-route` stays under two
//! minutes on a 2-core machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, Method};
use vestibule_ir::{
    DirectResponse, HeaderMutations, HostPattern, PathMatch, RetryPolicy, Route, RouteAction,
    RouteMatch, RouteOrigin, VirtualHost,
};
use vestibule_route::{normalize_host, normalize_path, select, HostIndex, RequestView};

const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];

fn prefix_route(index: usize) -> Route {
    Route {
        name: format!("route-{index}"),
        origin: RouteOrigin {
            kind: "HTTPRoute",
            namespace: "default".to_owned(),
            name: format!("route-{index}"),
        },
        matches: vec![RouteMatch {
            path: Some(PathMatch::SegmentPrefix {
                value: format!("/svc{index}"),
            }),
            ..RouteMatch::default()
        }],
        action: RouteAction::DirectResponse(DirectResponse {
            status: 200,
            body: Vec::new(),
        }),
        request_headers: HeaderMutations::default(),
        response_headers: HeaderMutations::default(),
        timeout: None,
        retry: RetryPolicy::disabled(),
        cors: None,
        fault: None,
    }
}

/// `count` virtual hosts, `host{i}.example.com`, each with one prefix route.
fn many_virtual_hosts(count: usize) -> Vec<VirtualHost> {
    (0..count)
        .map(|index| VirtualHost {
            name: format!("host{index}.example.com:80"),
            domains: vec![HostPattern::Exact(format!("host{index}.example.com"))],
            routes: vec![prefix_route(index).into()],
            require_tls: false,
        })
        .collect()
}

fn bench_host_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("host_lookup_then_select");
    for count in SIZES {
        let virtual_hosts = many_virtual_hosts(count);
        let index = HostIndex::new(&virtual_hosts);
        let middle = count / 2;
        let authority = format!("Host{middle}.example.com:8080");
        let path = format!("/svc{middle}/get");
        let headers = HeaderMap::new();
        let method = Method::GET;
        group.bench_function(BenchmarkId::from_parameter(count), |b| {
            b.iter(|| {
                let host = normalize_host(black_box(&authority)).expect("a valid authority");
                let vhost = &virtual_hosts[index.find(&host).unwrap()];
                let request = RequestView::new(&method, "http", &authority, &path, None, &headers);
                select(&vhost.routes, &request).unwrap().route_index
            })
        });
    }
    group.finish();
}

fn bench_linear_routes(c: &mut Criterion) {
    let mut group = c.benchmark_group("select_last_of_n_routes");
    for count in SIZES {
        let routes: Vec<Route> = (0..count).map(prefix_route).collect();
        let path = format!("/svc{}/get", count - 1);
        let headers = HeaderMap::new();
        let method = Method::GET;
        group.bench_function(BenchmarkId::from_parameter(count), |b| {
            b.iter(|| {
                let request = RequestView::new(
                    &method,
                    "http",
                    "example.com",
                    black_box(&path),
                    None,
                    &headers,
                );
                select(&routes, &request).unwrap().route_index
            })
        });
    }
    group.finish();
}

fn bench_normalize(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalize_path");
    group.bench_function("already_normal", |b| {
        b.iter(|| normalize_path(black_box("/api/v1/users/12345/orders?limit=10")).is_ok())
    });
    group.bench_function("typical_dirty", |b| {
        b.iter(|| {
            normalize_path(black_box(
                "/api//v1/./users/%7Ejohn/../12345/orders?limit=10",
            ))
            .is_ok()
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_host_lookup, bench_linear_routes, bench_normalize
}
criterion_main!(benches);
