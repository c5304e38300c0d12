//! `vestibule serve`: load, translate, publish; reload on change; drain on
//! SIGTERM.

use std::sync::Arc;

use anyhow::{bail, Context};
use vestibule_proxy::{
    AccessLogConfig, AccessLogEncoding, DataPlane, HeadLimits, Http2Limits, ProxyConfig,
    TracingConfig,
};

use crate::cli::{AccessLogEncodingArg, ServeArgs};
use crate::config::{self, Scope};
use crate::control::{self, Source};
use crate::metrics::SourceLabels;
use crate::state::ControlState;
use crate::{admin, kube, watch};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Before anything answers: a SIGTERM sent as soon as the admin API
    // does must start a drain, not end the process by its default action.
    let signals = ShutdownSignals::register()?;
    let scope = Scope {
        identity: args.identity.identity(),
        gateway: args.gateway.clone(),
    };
    let data_plane = DataPlane::new(proxy_config(&args))?;
    let state = ControlState::new(data_plane);
    let _ = state.scope.set(scope.clone());
    let source = SourceLabels::of(&args.identity.labels, &args.identity.namespace);
    let _ = state.metrics.source.set(Arc::new(source));
    let admin_listener = admin::bind(args.admin)
        .await
        .with_context(|| format!("binding the admin API on {}", args.admin))?;
    let admin_address = admin_listener.local_addr()?;
    let status_listener = match args.status {
        Some(address) => Some(
            admin::bind(address)
                .await
                .with_context(|| format!("binding the status address {address}"))?,
        ),
        None => None,
    };

    let (source, kube) = if args.kubernetes {
        start_kubernetes(&args, &state, &scope).await?
    } else {
        (start_files(&args, &state, &scope)?, None)
    };

    tokio::spawn(admin::serve(
        admin_listener,
        Arc::clone(&state),
        admin::Api::Full,
    ));
    println!("vestibule admin listening on http://{admin_address}");
    if let Some(listener) = status_listener {
        println!(
            "vestibule status listening on http://{}",
            listener.local_addr()?
        );
        tokio::spawn(admin::serve(
            listener,
            Arc::clone(&state),
            admin::Api::Health,
        ));
    }
    let control = tokio::spawn(control::run(Arc::clone(&state), source, scope));
    if kube.is_none() {
        print_listeners(&state);
    }

    signals.recv().await;
    tracing::info!("shutting down: draining connections");
    state.start_draining();
    if let Some(kube) = kube {
        kube.stop().await;
    }
    if !args.shutdown_delay.is_zero() {
        tracing::info!(delay = ?args.shutdown_delay, "not ready; still accepting until the delay ends");
        tokio::time::sleep(args.shutdown_delay).await;
    }
    control.abort();
    state.data_plane.shutdown().await;
    tracing::info!("drained; exiting");
    Ok(())
}

/// File mode: the first load must succeed (an invalid set refuses to
/// start); later ones keep the last good set serving.
fn start_files(
    args: &ServeArgs,
    state: &Arc<ControlState>,
    scope: &Scope,
) -> anyhow::Result<Source> {
    // Watch before the first load, so an edit made while starting is not missed.
    let (watcher, changes) = watch::watch(&args.config).context("watching the configuration")?;
    // The watcher lives as long as the process.
    std::mem::forget(watcher);
    let max_file_bytes = args.limits.max_config_file_mb.saturating_mul(1024 * 1024);
    let candidate = match config::load(&args.config, scope, max_file_bytes, None) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for error in &errors {
                tracing::error!("{error}");
            }
            bail!(
                "configuration is invalid ({} errors); not starting",
                errors.len()
            );
        }
    };
    crate::control::publish(state, candidate);
    Ok(Source::Files {
        paths: args.config.clone(),
        max_file_bytes,
        changes,
    })
}

/// Kubernetes mode: ready once the first complete set is served.
async fn start_kubernetes(
    args: &ServeArgs,
    state: &Arc<ControlState>,
    scope: &Scope,
) -> anyhow::Result<(Source, Option<kube::Kubernetes>)> {
    let kube = kube::Kubernetes::start(args, Arc::clone(state), scope).await?;
    println!("vestibule watching the Kubernetes API");
    Ok((Source::Kubernetes(kube.source()), Some(kube)))
}

fn print_listeners(state: &ControlState) {
    for listener in state.data_plane.listeners() {
        match (listener.address, &listener.error) {
            (Some(address), _) => println!("vestibule listener {} on {address}", listener.port),
            (None, Some(error)) => println!("vestibule listener {} failed: {error}", listener.port),
            (None, None) => {}
        }
    }
}

fn proxy_config(args: &ServeArgs) -> ProxyConfig {
    let limits = &args.limits;
    ProxyConfig {
        server_name: args.server_name.clone(),
        bind_address: args.bind_address,
        port_map: args.port_map.iter().copied().collect(),
        drain_timeout: args.drain_timeout,
        idle_timeout: args.idle_timeout,
        header_read_timeout: limits.header_read_timeout,
        connect_timeout: limits.connect_timeout,
        head_limits: HeadLimits {
            bytes: limits.max_request_headers_kb.saturating_mul(1024),
            count: limits.max_request_headers,
        },
        max_connections: limits.max_connections,
        max_connections_per_listener: limits.max_connections_per_listener,
        http2: Http2Limits {
            max_concurrent_streams: limits.http2_max_concurrent_streams,
            initial_stream_window: limits.http2_initial_stream_window_size,
            initial_connection_window: limits.http2_initial_connection_window_size,
        },
        stream_idle_timeout: (!limits.stream_idle_timeout.is_zero())
            .then_some(limits.stream_idle_timeout),
        access_log: AccessLogConfig {
            enabled: args.telemetry.access_log_file.is_some(),
            path: args
                .telemetry
                .access_log_file
                .clone()
                .unwrap_or_else(|| AccessLogConfig::default().path),
            encoding: match args.telemetry.access_log_encoding {
                AccessLogEncodingArg::Text => AccessLogEncoding::Text,
                AccessLogEncodingArg::Json => AccessLogEncoding::Json,
            },
        },
        tracing: TracingConfig {
            endpoint: args.telemetry.tracing_otlp_endpoint.clone(),
            sampling: args.telemetry.tracing_sampling,
            // Istio names a gateway's spans by its workload and namespace.
            service_name: format!(
                "{}.{}",
                SourceLabels::of(&args.identity.labels, &args.identity.namespace).workload,
                args.identity.namespace
            ),
        },
        workers: args.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
    }
}

/// SIGTERM and SIGINT, listened for from the start.
struct ShutdownSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn register() -> anyhow::Result<ShutdownSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(ShutdownSignals {
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
        })
    }

    async fn recv(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {},
            _ = self.interrupt.recv() => {},
        }
    }
}
