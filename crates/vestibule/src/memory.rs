//! Giving the kernel back the pages a configuration load left free.
//!
//! Reading and translating 10,000 routes allocates some 50 MiB that are
//! freed again at once; jemalloc keeps freed pages for its decay time
//! (10 s) before returning them, so the process looked 30 MiB larger than
//! it is for the first seconds after every load. Setting an arena's decay
//! time to 0 returns its free pages at once; the old time is then set
//! back, so that the request path's allocations keep their warm pages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tikv_jemalloc_ctl::{arenas, Access, AsName};

/// How long after a small change its free pages are kept for the next one.
const KEEP_FOR_NEXT_CHANGE: Duration = Duration::from_secs(2);

/// Bumped by every release asked for: a release put off runs only if no
/// other was asked for since.
static LATEST: AtomicU64 = AtomicU64::new(0);

/// Held while a release runs: each arena's decay time is read, set to 0
/// and set back, and two releases at once could set back the other's 0
/// for good (the request path's arenas would then keep no warm pages).
static RELEASING: Mutex<()> = Mutex::new(());

/// Returns every arena's free pages to the kernel once no other release
/// has been asked for in [`KEEP_FOR_NEXT_CHANGE`]: a change made by hand
/// often comes in a burst, and each change of a burst would fault in again
/// the pages the one before gave back (a tenth of its time with 10,000
/// routes). Without a Tokio runtime, at once.
pub fn release_free_pages_later() {
    let ticket = LATEST.fetch_add(1, Ordering::Relaxed) + 1;
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        release_free_pages();
        return;
    };
    runtime.spawn(async move {
        tokio::time::sleep(KEEP_FOR_NEXT_CHANGE).await;
        let _ = tokio::task::spawn_blocking(move || {
            let _one = RELEASING.lock().unwrap_or_else(PoisonError::into_inner);
            // Checked under the lock: a release that ran meanwhile did
            // this one's work.
            if LATEST.load(Ordering::Relaxed) == ticket {
                release_all();
            }
        })
        .await;
    });
}

/// Returns every arena's free pages to the kernel. Arenas that no thread
/// has used yet are skipped (jemalloc has none to give).
pub fn release_free_pages() {
    let _one = RELEASING.lock().unwrap_or_else(PoisonError::into_inner);
    // A release put off until now has nothing left to do.
    LATEST.fetch_add(1, Ordering::Relaxed);
    release_all();
}

fn release_all() {
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

#[cfg(test)]
mod tests {
    use tikv_jemalloc_ctl::{arenas, Access, AsName};

    fn decay_times() -> Vec<isize> {
        let count = arenas::narenas::read().expect("arenas");
        (0..count)
            .filter_map(|arena| {
                let name = format!("arena.{arena}.dirty_decay_ms\0");
                Access::<isize>::read(name.as_bytes().name()).ok()
            })
            .collect()
    }

    /// Releases from two threads at once (a delayed one and a large
    /// load's) leave every arena's decay time as it was.
    #[test]
    fn concurrent_releases_keep_the_decay_times() {
        let before = decay_times();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..20_000 {
                        super::release_free_pages();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("release thread");
        }
        // Every arena, including those the two threads started, at the
        // configured time.
        let configured = before[0];
        assert!(configured != 0, "jemalloc decays pages by default");
        assert!(
            decay_times().iter().all(|&time| time == configured),
            "{:?}, configured {configured}",
            decay_times()
        );
    }
}
