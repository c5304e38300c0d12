//! The admin API (DESIGN.md): `/ready`, `/status`, `/config_dump`,
//! `/metrics`, the figures per route (`/routes`) and a live page of them
//! all at `/`. Bind it to localhost; it is never served on data ports.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;

use crate::metrics;
use crate::state::ControlState;

mod sources;

pub use sources::ConfigSources;
mod matches;
mod page;
mod routes;

pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Which routes an address serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Everything: bind it to localhost.
    Full,
    /// Health and metrics only: what probes and scrapers reach.
    Health,
}

pub async fn serve(listener: TcpListener, state: Arc<ControlState>, api: Api) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        let service = service_fn(move |request| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(route(&state, &request, api)) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(connection);
    }
}

fn route(
    state: &Arc<ControlState>,
    request: &Request<Incoming>,
    api: Api,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".to_owned());
    }
    let path = request.uri().path();
    let health = matches!(
        path,
        "/ready" | "/healthz/ready" | "/healthz/live" | "/metrics" | "/stats/prometheus"
    );
    if api == Api::Health && !health {
        return text(StatusCode::NOT_FOUND, "not found\n".to_owned());
    }
    match path {
        "/" => page::page(),
        "/routes" => json_response(&routes::routes(state)),
        // Alive as long as the process answers: neither the configuration
        // nor the API server decides it.
        "/healthz/live" => text(StatusCode::OK, "live\n".to_owned()),
        "/ready" | "/healthz/ready" => {
            if state.is_ready() {
                text(StatusCode::OK, "ready\n".to_owned())
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned())
            }
        }
        "/status" => json_response(&status(state)),
        "/config_dump" => json_response(&config_dump(state)),
        "/config/sources" => sources::config_sources(state),
        "/metrics" | "/stats/prometheus" => {
            // OpenMetrics for a scraper that asks for it, else Prometheus'
            // text format (what `curl` and older scrapers read).
            let openmetrics = request
                .headers()
                .get_all(header::ACCEPT)
                .iter()
                .any(|accept| {
                    accept
                        .as_bytes()
                        .starts_with(b"application/openmetrics-text")
                });
            let rendered = metrics::render(state);
            let (body, content_type) = if openmetrics {
                (
                    rendered,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
            } else {
                (
                    metrics::prometheus_text(&rendered),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            };
            let mut response = text(StatusCode::OK, body);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(content_type),
            );
            response
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".to_owned()),
    }
}

/// What the translator decided per resource, plus load errors and listeners.
fn status(state: &ControlState) -> serde_json::Value {
    let applied = state.applied.load_full();
    let last_reload = state.last_reload.load_full();
    let statuses = applied.as_ref().map(|a| &a.translation.statuses);
    let mut errors: Vec<String> = last_reload.errors.iter().map(ToString::to_string).collect();
    if let Some(applied) = &applied {
        errors.extend(crate::config::translation_problems(&applied.translation));
    }
    json!({
        "generation": state.generation(),
        "ready": state.is_ready(),
        "lastReload": &*last_reload,
        "recentReloads": state.reloads.recent(),
        "gatewayClasses": statuses.map(|s| &s.gateway_classes),
        "gateways": statuses.map(|s| &s.gateways),
        "routes": statuses.map(|s| &s.routes),
        "ingresses": statuses.map(|s| &s.ingresses),
        "virtualServices": statuses.map(|s| &s.virtual_services),
        "destinationRules": statuses.map(|s| &s.destination_rules),
        "serviceEntries": statuses.map(|s| &s.service_entries),
        "telemetries": statuses.map(|s| &s.telemetries),
        "policies": statuses.map(|s| &s.policies),
        "listeners": state.data_plane.listeners(),
        "errors": errors,
        "kubernetes": state.kubernetes.get().map(|kube| json!({
            "leader": *kube.leading.borrow(),
            "degraded": kube.source.degraded(),
            "objects": kube.source.object_count(),
            "kinds": kube.source.health(),
        })),
        "warnings": applied.as_ref().map(|a| a.warnings.iter().map(ToString::to_string).collect::<Vec<_>>()),
    })
}

fn config_dump(state: &ControlState) -> serde_json::Value {
    let applied = state.applied.load_full();
    json!({
        "generation": state.generation(),
        "files": applied.as_ref().map(|a| &a.files),
        "routeTable": applied.as_ref().map(|a| &a.translation.table),
        "endpoints": applied.as_ref().map(|a| &a.translation.endpoints),
        "listeners": state.data_plane.listeners(),
    })
}

fn json_response(value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned());
    body.push('\n');
    let mut response = text(StatusCode::OK, body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
