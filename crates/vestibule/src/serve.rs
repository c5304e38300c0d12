//! `vestibule serve`: load, translate, publish; reload on change; drain on
//! SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use vestibule_proxy::{DataPlane, HeadLimits, Http2Limits, ProxyConfig};
use vestibule_translate::GatewayIdentity;

use crate::cli::ServeArgs;
use crate::config::{self, Applied};
use crate::state::ControlState;
use crate::{admin, watch};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.kubernetes {
        bail!("--kubernetes is not available in this build yet; use --config PATH");
    }
    let identity = args.identity.identity();
    // Watch before the first load, so an edit made while starting is not missed.
    let (_watcher, mut changes) =
        watch::watch(&args.config).context("watching the configuration")?;
    let max_file_bytes = args.limits.max_config_file_mb.saturating_mul(1024 * 1024);
    let candidate = match config::load(&args.config, &identity, max_file_bytes) {
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
    log_warnings(&candidate.warnings);
    let data_plane = DataPlane::new(proxy_config(&args))?;
    let state = ControlState::new(data_plane);

    let admin_listener = admin::bind(args.admin)
        .await
        .with_context(|| format!("binding the admin API on {}", args.admin))?;
    let admin_address = admin_listener.local_addr()?;
    tokio::spawn(admin::serve(admin_listener, Arc::clone(&state)));

    let applied = Applied::new(1, candidate);
    log_translation_problems(&applied);
    state.apply(applied);
    state.mark_ready();
    println!("vestibule admin listening on http://{admin_address}");
    for listener in state.data_plane.listeners() {
        match (listener.address, &listener.error) {
            (Some(address), _) => println!("vestibule listener {} on {address}", listener.port),
            (None, Some(error)) => println!("vestibule listener {} failed: {error}", listener.port),
            (None, None) => {}
        }
    }

    let reloads = {
        let state = Arc::clone(&state);
        let paths = args.config.clone();
        tokio::spawn(async move {
            while changes.recv().await.is_some() {
                // Loading and translating a large set takes a while: keep it
                // off the threads that serve traffic.
                let (state, paths, identity) =
                    (Arc::clone(&state), paths.clone(), identity.clone());
                let done = tokio::task::spawn_blocking(move || {
                    reload(&state, &paths, &identity, max_file_bytes)
                });
                if let Err(error) = done.await {
                    tracing::error!(%error, "configuration reload failed");
                }
            }
        })
    };

    shutdown_signal().await;
    tracing::info!("shutting down: draining connections");
    state.start_draining();
    reloads.abort();
    state.data_plane.shutdown().await;
    tracing::info!("drained; exiting");
    Ok(())
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
    }
}

/// Loads the paths again; a set with errors keeps the current one serving.
fn reload(
    state: &ControlState,
    paths: &[PathBuf],
    identity: &GatewayIdentity,
    max_file_bytes: u64,
) {
    match config::load(paths, identity, max_file_bytes) {
        Ok(candidate) => {
            let unchanged = state
                .applied
                .load()
                .as_ref()
                .is_some_and(|applied| applied.translation == candidate.translation);
            if unchanged {
                // Valid again (or touched without change): nothing to swap,
                // but the last attempt succeeded.
                tracing::debug!("configuration unchanged");
                state.confirm_unchanged();
                return;
            }
            let generation = state.generation() + 1;
            log_warnings(&candidate.warnings);
            let applied = Applied::new(generation, candidate);
            log_translation_problems(&applied);
            state.apply(applied);
            tracing::info!(generation, "configuration reloaded");
        }
        Err(errors) => {
            for error in &errors {
                tracing::error!(
                    file = %error.file,
                    line = error.line,
                    field = %error.field,
                    "configuration rejected, previous one keeps serving: {error}"
                );
            }
            state.reject(errors);
        }
    }
}

fn log_warnings(warnings: &[vestibule_api::Diagnostic]) {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
}

fn log_translation_problems(applied: &Applied) {
    for problem in config::translation_problems(&applied.translation) {
        tracing::warn!("{problem}");
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
