//! The sizes 10,000 host routes keep 10,000 of (`docs/benchmarks.md`,
//! "Issue 17"): each a single allocation in jemalloc's size class just
//! above it, so a few bytes over a class boundary cost the next class.

use std::mem::size_of;

use vestibule_ir::status::Condition;
use vestibule_ir::{Route, RouteMatch, WeightedBackend};

#[test]
fn a_route_fits_the_320_byte_class() {
    // 672 bytes (the 768 class) with CORS, faults, header edits and
    // rewrites inline.
    assert!(size_of::<Route>() <= 320, "{}", size_of::<Route>());
}

#[test]
fn a_route_match_fits_the_192_byte_class() {
    // 272 (the 320 class) with its patterns inline.
    assert!(
        size_of::<RouteMatch>() <= 192,
        "{}",
        size_of::<RouteMatch>()
    );
}

#[test]
fn a_weighted_backend_fits_the_96_byte_class() {
    // 216 (the 224 class) with its header edits inline.
    let size = size_of::<WeightedBackend>();
    assert!(size <= 96, "{size}");
}

#[test]
fn a_condition_fits_the_80_byte_class() {
    // 104 (the 112 class), and three small strings, when its type,
    // status and reason were `String`s.
    assert!(size_of::<Condition>() <= 80, "{}", size_of::<Condition>());
}
