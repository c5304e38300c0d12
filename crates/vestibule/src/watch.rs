//! Watches the configured paths and reloads on change. Directories are
//! watched (not files): editors and Kubernetes ConfigMap volumes replace
//! files by renaming, which a file watch would miss.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Quiet time after the last event before reloading: editors write a file
/// in several steps.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Starts watching; the receiver yields once per burst of changes.
pub fn watch(
    paths: &[PathBuf],
) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<()>();
    let relevant: Vec<PathBuf> = paths.iter().map(|p| absolute(p)).collect();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            // Reading the files (our own reloads) produces access events;
            // reacting to them would reload forever.
            if is_change(&event.kind) && event.paths.iter().any(|path| is_relevant(path, &relevant))
            {
                let _ = events_tx.send(());
            }
        }
    })?;
    for directory in watched_directories(paths) {
        watcher.watch(&directory, RecursiveMode::NonRecursive)?;
    }
    let (reload_tx, reload_rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while events_rx.recv().await.is_some() {
            // Swallow the rest of the burst.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, events_rx.recv()).await {}
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
