//! The control loop: one input source (files or the Kubernetes API) feeds
//! translate-and-publish; everything after loading is shared by both modes.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use vestibule_api::Diagnostic;
use vestibule_kube::{Change, ChangeEffect};
use vestibule_translate::TranslateCache;

use crate::config::{self, Applied, Candidate, Reuse, Scope};
use crate::state::ControlState;

/// Where configuration comes from.
pub enum Source {
    Files {
        paths: Vec<PathBuf>,
        max_file_bytes: u64,
        /// Yields once per burst of file changes.
        changes: mpsc::Receiver<()>,
    },
    Kubernetes(Arc<vestibule_kube::Source>),
}

/// What the source has for the loop.
pub enum Input {
    /// The files changed: read them again.
    Files,
    /// Boxed: a whole object set is large and the other inputs are empty.
    Kubernetes(Box<Change>),
    /// The source ended (the process is stopping).
    Closed,
}

impl Source {
    pub async fn next(&mut self) -> Input {
        match self {
            Source::Files { changes, .. } => match changes.recv().await {
                Some(()) => Input::Files,
                None => Input::Closed,
            },
            Source::Kubernetes(source) => Input::Kubernetes(Box::new(source.next().await)),
        }
    }
}

/// Runs the loop until the source closes. Each input is handled off the
/// threads that serve traffic: translating a large set takes a while.
pub async fn run(state: Arc<ControlState>, mut source: Source, scope: Scope) {
    // Filled by the first reload; moved to each reload's thread and back.
    let mut reuse = Box::<Reuse>::default();
    loop {
        let input = source.next().await;
        let (state, scope) = (Arc::clone(&state), scope.clone());
        let done = match (input, &source) {
            (Input::Closed, _) => return,
            (
                Input::Files,
                Source::Files {
                    paths,
                    max_file_bytes,
                    ..
                },
            ) => {
                let (paths, max_file_bytes) = (paths.clone(), *max_file_bytes);
                let mut taken = std::mem::take(&mut reuse);
                tokio::task::spawn_blocking(move || {
                    reload_files(&state, &paths, &scope, max_file_bytes, &mut taken);
                    taken
                })
                .await
                .map(|back| reuse = back)
            }
            (Input::Kubernetes(change), Source::Kubernetes(kube)) => {
                let kube = Arc::clone(kube);
                apply_change(state, kube, scope, *change, &mut reuse.translate).await
            }
            _ => Ok(()),
        };
        if let Err(error) = done {
            tracing::error!(%error, "configuration update failed");
        }
    }
}

/// Loads the paths again; a set with errors keeps the current one serving.
pub fn reload_files(
    state: &ControlState,
    paths: &[PathBuf],
    scope: &Scope,
    max_file_bytes: u64,
    reuse: &mut Reuse,
) {
    match config::load(paths, scope, max_file_bytes, Some(&mut *reuse)) {
        Ok(candidate) => {
            publish(state, candidate);
            if !reuse.complete() {
                // Serving already: what was not kept is kept now, for the
                // next reload.
                let started = std::time::Instant::now();
                config::refill(paths, scope, max_file_bytes, reuse);
                crate::memory::release_free_pages();
                tracing::debug!(took_ms = millis(started.elapsed()), "reload cache filled");
            }
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

/// Serves a change of the API server's objects. Objects that were refused
/// are left out (and reported); the rest serve.
async fn apply_change(
    state: Arc<ControlState>,
    kube: Arc<vestibule_kube::Source>,
    scope: Scope,
    change: Change,
    cache: &mut TranslateCache,
) -> Result<(), tokio::task::JoinError> {
    let Change {
        effect,
        loaded,
        documents,
    } = change;
    if effect == ChangeEffect::Endpoints && state.applied.load().is_some() {
        return tokio::task::spawn_blocking(move || {
            if let Some(current) = state.applied.load_full() {
                let endpoints =
                    vestibule_translate::endpoints(&loaded.inputs, &current.translation);
                state.apply_endpoints(endpoints, documents);
            }
        })
        .await;
    }
    let mut warnings: Vec<Diagnostic> = loaded.errors;
    warnings.extend(loaded.warnings);
    let inputs = loaded.inputs;
    let started = std::time::Instant::now();
    // As for files, the first translation keeps nothing: a gateway whose
    // objects never change keeps no second copy of what it serves.
    let reused = state.applied.load().is_some();
    let mut taken = std::mem::take(cache);
    let (translation, back) = tokio::task::spawn_blocking(move || {
        let translation = if reused {
            scope.translate_cached(inputs, &mut taken, true)
        } else {
            scope.translate(inputs)
        };
        (translation, taken)
    })
    .await?;
    *cache = back;
    let took = config::Took {
        load: std::time::Duration::ZERO,
        translate: started.elapsed(),
        counts: reused.then(|| config::Counts {
            parsed: 0,
            bound: cache.bound(),
        }),
    };
    let references = &translation.references;
    let pending = kube
        .fetch(references.secrets.clone(), references.config_maps.clone())
        .await;
    if pending {
        // A Secret it names arrived meanwhile: the next change (already
        // waiting) translates with it.
        return Ok(());
    }
    tokio::task::spawn_blocking(move || {
        publish(
            &state,
            Candidate {
                translation,
                warnings,
                files: Vec::new(),
                objects: documents.into(),
                took,
            },
        );
    })
    .await
}

/// Swaps `candidate` in, unless it changes nothing.
pub fn publish(state: &ControlState, candidate: Candidate) {
    let unchanged = state.applied.load().as_ref().is_some_and(|applied| {
        applied.translation == candidate.translation && applied.warnings == candidate.warnings
    });
    if unchanged {
        // Valid again (or touched without change): nothing to swap, but
        // the last attempt succeeded.
        tracing::debug!("configuration unchanged");
        state.confirm_unchanged();
        return;
    }
    let generation = state.generation() + 1;
    for warning in &candidate.warnings {
        tracing::warn!("{warning}");
    }
    let took = candidate.took;
    let applied = Applied::new(generation, candidate);
    for problem in config::translation_problems(&applied.translation) {
        tracing::warn!("{problem}");
    }
    let started = std::time::Instant::now();
    state.apply(applied);
    // Ready once the first complete set serves.
    state.mark_ready();
    tracing::info!(
        generation,
        load_ms = millis(took.load),
        translate_ms = millis(took.translate),
        publish_ms = millis(started.elapsed()),
        documents_parsed = took.counts.map(|counts| counts.parsed),
        virtual_services_bound = took.counts.map(|counts| counts.bound),
        "configuration applied"
    );
    // What reading and translating it left free, and the generation it
    // replaced, go back to the kernel rather than after jemalloc's decay
    // time: at once (6-9 ms with 10,000 routes: after it serves, not
    // before), or, after a small change, once no other change followed.
    if took.counts.is_some_and(config::Counts::small) {
        crate::memory::release_free_pages_later();
    } else {
        let started = std::time::Instant::now();
        crate::memory::release_free_pages();
        tracing::debug!(took_ms = millis(started.elapsed()), "free pages released");
    }
}

fn millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1e4).round() / 10.0
}
