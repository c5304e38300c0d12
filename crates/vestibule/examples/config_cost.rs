//! What a configuration costs to load and to keep, stage by stage: time and
//! heap bytes (jemalloc's own count of live allocations) after reading the
//! files, after translating, and after the data plane built its snapshot.
//! The total is what `serve` keeps: the translation and the snapshot (the
//! objects read are dropped once translated).
//!
//! With `--sizes`, each kept stage also lists the allocations it left live
//! by requested size, largest share first: a size names a type (a
//! `Vec<Route>` of one route asks for `size_of::<Route>()` bytes), which is
//! how to find where the bytes go when a heap profiler cannot see jemalloc.
//!
//! ```sh
//! cargo run --release -p vestibule --example config_cost -- [--sizes] DIR_OR_FILE...
//! ```

use std::path::PathBuf;
use std::time::Instant;

use tikv_jemalloc_ctl::{epoch, stats};

#[path = "config_cost/sizes.rs"]
mod sizes;

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
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut by_size = false;
    for arg in std::env::args_os().skip(1) {
        match arg.to_str() {
            Some("--sizes") => by_size = true,
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    anyhow::ensure!(!paths.is_empty(), "usage: config_cost [--sizes] PATH...");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = runtime.enter();
    let base = allocated();

    let started = Instant::now();
    let loaded = vestibule_api::load::load_paths(&paths);
    anyhow::ensure!(loaded.is_valid(), "invalid: {:?}", loaded.errors.first());
    let after_load = report("load", started, base);

    let live = sizes::live();
    let started = Instant::now();
    let identity = vestibule_translate::GatewayIdentity::default();
    let translation = vestibule_translate::translate(&loaded.inputs, &identity);
    report("translate", started, after_load);
    let routes: usize = translation
        .table
        .listeners
        .iter()
        .flat_map(|l| &l.virtual_hosts)
        .map(|v| v.routes.len())
        .sum();
    if by_size {
        sizes::print_kept(&live, routes, "route");
    }
    // `serve` keeps the translation, not the objects it came from.
    drop(loaded);
    let before_publish = allocated();

    let live = sizes::live();
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
    if by_size {
        sizes::print_kept(&live, routes, "route");
    }

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
