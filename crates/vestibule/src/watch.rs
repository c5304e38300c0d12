//! Watches the configured paths and reloads on change. Directories are
//! watched (not files): editors and Kubernetes ConfigMap volumes replace
//! files by renaming, which a file watch would miss.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Quiet time before reloading after an event that ends a write (a file
/// closed after writing, renamed into place, removed): the rest of the same
/// edit (another file of a `kubectl`-style apply, the link swap of a
/// ConfigMap volume) arrives within it. Short: a one-route change is served
/// this long after the write plus the reload itself.
const SETTLED: Duration = Duration::from_millis(2);

/// Quiet time after an event that may be the middle of a write (a file
/// created or truncated, data written, but not yet closed): editors write a
/// file in several steps, and a half-written file must not serve.
const UNSETTLED: Duration = Duration::from_millis(100);

/// Starts watching; the receiver yields once per burst of changes.
pub fn watch(
    paths: &[PathBuf],
) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    // Each relevant event, and whether it ends a write.
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<bool>();
    let relevant: Vec<PathBuf> = paths.iter().map(|p| absolute(p)).collect();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            // Reading the files (our own reloads) produces access events;
            // reacting to them would reload forever.
            if is_change(&event.kind) && event.paths.iter().any(|path| is_relevant(path, &relevant))
            {
                let _ = events_tx.send(ends_a_write(&event.kind));
            }
        }
    })?;
    for directory in watched_directories(paths) {
        watcher.watch(&directory, RecursiveMode::NonRecursive)?;
    }
    let (reload_tx, reload_rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while let Some(mut settled) = events_rx.recv().await {
            // Swallow the rest of the burst. Events that arrive while a
            // reload runs wait here and make one more reload after it.
            loop {
                let quiet = if settled { SETTLED } else { UNSETTLED };
                match tokio::time::timeout(quiet, events_rx.recv()).await {
                    Ok(Some(next)) => settled = next,
                    Ok(None) | Err(_) => break,
                }
            }
            if reload_tx.send(()).await.is_err() {
                return;
            }
        }
    });
    Ok((watcher, reload_rx))
}

fn is_change(kind: &notify::EventKind) -> bool {
    matches!(
        kind,
        notify::EventKind::Create(_)
            | notify::EventKind::Modify(_)
            | notify::EventKind::Remove(_)
            | notify::EventKind::Any
    ) || ends_a_write(kind)
}

/// Whether the event completes what a writer did to the file: closing it
/// after writing (only writers cause this one; our own reads do not),
/// renaming it, removing it.
fn ends_a_write(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    matches!(
        kind,
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write))
            | notify::EventKind::Modify(ModifyKind::Name(_))
            | notify::EventKind::Remove(_)
    )
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn watched_directories(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut directories: Vec<PathBuf> = paths
        .iter()
        .map(|path| absolute(path))
        .map(|path| {
            if path.is_dir() {
                path
            } else {
                path.parent().map(Path::to_path_buf).unwrap_or(path)
            }
        })
        .collect();
    directories.sort();
    directories.dedup();
    directories
}

/// A change matters when it touches a configured file, or a manifest file
/// (not a dotfile) inside a configured directory.
fn is_relevant(path: &Path, configured: &[PathBuf]) -> bool {
    configured.iter().any(|configured| {
        if path == configured {
            return true;
        }
        path.parent() == Some(configured.as_path()) && is_manifest(path)
    })
}

fn is_manifest(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.')
        && [".yaml", ".yml", ".json"]
            .iter()
            .any(|extension| name.ends_with(extension))
}
