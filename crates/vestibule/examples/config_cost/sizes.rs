//! jemalloc's live regions per size class, from its own statistics
//! (`malloc_stats_print` as JSON), so that the bytes a stage kept can be
//! split by size: a size class points at the types that ask for it (a
//! `Vec<Route>` of one route takes `size_of::<Route>()` rounded up to its
//! class).

use serde_json::Value;
use tikv_jemalloc_ctl::stats_print::{stats_print, Options};

/// Live regions per size class: `(class size, count)`.
pub(crate) type Live = Vec<(u64, i64)>;

/// What is live now, per size class (small bins and large extents).
pub(crate) fn live() -> Live {
    let mut options = Options::default();
    options.json_format = true;
    options.skip_per_arena = true;
    options.skip_mutex_statistics = true;
    let mut text = Vec::new();
    stats_print(&mut text, options).expect("jemalloc stats");
    let stats: Value = serde_json::from_slice(&text).expect("jemalloc stats JSON");
    let jemalloc = &stats["jemalloc"];
    let classes = |kind: &str| -> Vec<u64> {
        jemalloc["arenas"][kind]
            .as_array()
            .map(|list| list.iter().filter_map(|c| c["size"].as_u64()).collect())
            .unwrap_or_default()
    };
    let merged = &jemalloc["stats.arenas"]["merged"];
    let counts = |kind: &str, field: &str| -> Vec<i64> {
        merged[kind]
            .as_array()
            .map(|list| list.iter().filter_map(|c| c[field].as_i64()).collect())
            .unwrap_or_default()
    };
    let small = classes("bin").into_iter().zip(counts("bins", "curregs"));
    let large = classes("lextent")
        .into_iter()
        .zip(counts("lextents", "curlextents"));
    small.chain(large).collect()
}

/// The regions kept since `before`, by size class, largest share first,
/// down to 1 % of the total, per `unit` (a route, a connection) of `count`.
pub(crate) fn print_kept(before: &Live, count: usize, unit: &str) {
    let mut kept: Vec<(u64, i64, i64)> = live()
        .iter()
        .zip(before)
        .map(|((size, now), (_, then))| (*size, now - then, (now - then) * *size as i64))
        .filter(|(_, count, _)| *count != 0)
        .collect();
    kept.sort_by_key(|(_, _, bytes)| -bytes.abs());
    let total: i64 = kept.iter().map(|(_, _, bytes)| bytes).sum();
    let per = count.max(1) as f64;
    println!(
        "  {:>8} {:>9} {:>9} {:>9}   ({:.0} bytes per {unit} in all)",
        "class",
        "regions",
        format!("per {unit}"),
        "bytes/each",
        total as f64 / per
    );
    for (size, count, bytes) in kept.iter().take_while(|(_, _, b)| b.abs() * 100 >= total) {
        println!(
            "  {size:>8} {count:>9} {:>9.2} {:>9.0}",
            *count as f64 / per,
            *bytes as f64 / per
        );
    }
}
