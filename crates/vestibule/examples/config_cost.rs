//! What a configuration costs to load and to keep, stage by stage: time and
//! heap bytes (jemalloc's own count of live allocations) after reading the
//! files, after translating, and after the data plane built its snapshot.
//! The total is what `serve` keeps: the translation and the snapshot (the
//! objects read are dropped once translated).
//!
//! ```sh
//! cargo run --release -p vestibule --example config_cost -- DIR_OR_FILE...
//! ```

use std::path::PathBuf;
use std::time::Instant;

use tikv_jemalloc_ctl::{epoch, stats};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn allocated() -> usize {
    epoch::advance().expect("jemalloc epoch");
    stats::allocated::read().expect("jemalloc stats")
}

fn report(stage: &str, started: Instant, before: usize) -> usize {
    let now = allocated();
    let delta = now.saturating_sub(before);
    println!(
        "{stage:<12} {:>8.1} ms {:>10.1} KiB kept",
        started.elapsed().as_secs_f64() * 1e3,
        delta as f64 / 1024.0
    );
    now
}

fn main() -> anyhow::Result<()> {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    anyhow::ensure!(!paths.is_empty(), "usage: config_cost PATH...");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = runtime.enter();
    let base = allocated();

    let started = Instant::now();
    let loaded = vestibule_api::load::load_paths(&paths);
    anyhow::ensure!(loaded.is_valid(), "invalid: {:?}", loaded.errors.first());
    let after_load = report("load", started, base);

    let started = Instant::now();
    let identity = vestibule_translate::GatewayIdentity::default();
    let translation = vestibule_translate::translate(&loaded.inputs, &identity);
    report("translate", started, after_load);
    // `serve` keeps the translation, not the objects it came from.
    drop(loaded);
    let before_publish = allocated();

    let started = Instant::now();
    let config = vestibule_proxy::ProxyConfig {
        bind_address: "127.0.0.1".parse()?,
        port_map: translation
            .table
            .listeners
            .iter()
            .map(|l| (l.port, 0))
            .collect(),
        ..vestibule_proxy::ProxyConfig::default()
    };
    let plane = vestibule_proxy::DataPlane::new(config)?;
    plane.publish(1, &translation.table, &translation.endpoints);
    report("publish", started, before_publish);

    let routes: usize = translation
        .table
        .listeners
        .iter()
        .flat_map(|l| &l.virtual_hosts)
        .map(|v| v.routes.len())
        .sum();
    let total = allocated().saturating_sub(base);
    println!(
        "{routes} routes: {:.1} MiB kept in all, {:.0} bytes per route",
        total as f64 / 1048576.0,
        total as f64 / routes.max(1) as f64
    );
    drop(plane);
    drop(translation);
    Ok(())
}
