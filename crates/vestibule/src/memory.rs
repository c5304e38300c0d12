//! Giving the kernel back the pages a configuration load left free.
//!
//! Reading and translating 10,000 routes allocates some 50 MiB that are
//! freed again at once; jemalloc keeps freed pages for its decay time
//! (10 s) before returning them, so the process looked 30 MiB larger than
//! it is for the first seconds after every load. Setting an arena's decay
//! time to 0 returns its free pages at once; the old time is then set
//! back, so that the request path's allocations keep their warm pages.

use tikv_jemalloc_ctl::{arenas, Access, AsName};

/// Returns every arena's free pages to the kernel. Arenas that no thread
/// has used yet are skipped (jemalloc has none to give).
pub fn release_free_pages() {
    let Ok(count) = arenas::narenas::read() else {
        return;
    };
    for key in [
        &b"arena.0.dirty_decay_ms\0"[..],
        &b"arena.0.muzzy_decay_ms\0"[..],
    ] {
        let Ok(mut mib) = key.name().mib::<[usize; 3]>() else {
            continue;
        };
        for arena in 0..count as usize {
            mib[1] = arena;
            let Ok(decay) = Access::<isize>::read(&mib) else {
                continue;
            };
            let _ = mib.write(0isize);
            let _ = mib.write(decay);
        }
    }
}
