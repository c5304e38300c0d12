//! What the control plane knows, for the admin API: the applied
//! configuration, the outcome of the last reload, readiness.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;
use vestibule_api::load::Diagnostic;
use vestibule_proxy::DataPlane;

use crate::config::Applied;
use crate::metrics::Metrics;

/// The outcome of the most recent load attempt.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastReload {
    pub ok: bool,
    /// The generation serving after this attempt.
    pub generation: u64,
    /// Why the attempt was rejected (the previous configuration kept serving).
    pub errors: Vec<Diagnostic>,
}

pub struct ControlState {
    pub data_plane: DataPlane,
    pub metrics: Metrics,
    pub applied: ArcSwapOption<Applied>,
    pub last_reload: ArcSwap<LastReload>,
    ready: AtomicBool,
    draining: AtomicBool,
}

impl ControlState {
    pub fn new(data_plane: DataPlane) -> Arc<ControlState> {
        Arc::new(ControlState {
            data_plane,
            metrics: Metrics::default(),
            applied: ArcSwapOption::empty(),
            last_reload: ArcSwap::from_pointee(LastReload::default()),
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        })
    }

    /// Ready once the first configuration is loaded and its listeners were
    /// bound; not ready once draining started.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.draining.load(Ordering::Acquire)
    }

    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Swaps in a configuration that loaded cleanly.
    pub fn apply(&self, applied: Applied) {
        let translation = &applied.translation;
        self.data_plane.publish(
            applied.generation,
            &translation.table,
            &translation.endpoints,
        );
        self.metrics.record_reload(true, applied.generation, 0);
        self.last_reload.store(Arc::new(LastReload {
            ok: true,
            generation: applied.generation,
            errors: Vec::new(),
        }));
        self.applied.store(Some(Arc::new(applied)));
    }

    /// Records a successful load that changed nothing.
    pub fn confirm_unchanged(&self) {
        let generation = self.generation();
        self.metrics.record_reload(true, generation, 0);
        self.last_reload.store(Arc::new(LastReload {
            ok: true,
            generation,
            errors: Vec::new(),
        }));
    }

    /// Records a rejected reload; the current configuration keeps serving.
    pub fn reject(&self, errors: Vec<Diagnostic>) {
        let generation = self.generation();
        self.metrics.record_reload(false, generation, errors.len());
        self.last_reload.store(Arc::new(LastReload {
            ok: false,
            generation,
            errors,
        }));
    }

    pub fn generation(&self) -> u64 {
        self.applied
            .load()
            .as_ref()
            .map_or(0, |applied| applied.generation)
    }
}
