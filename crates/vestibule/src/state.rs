//! What the control plane knows, for the admin API: the applied
//! configuration, the outcome of the last reload, readiness.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;
use tokio::sync::watch;
use vestibule_api::load::Diagnostic;
use vestibule_ir::status::Statuses;
use vestibule_ir::EndpointTable;
use vestibule_kube::Document;
use vestibule_proxy::DataPlane;

use crate::config::Applied;
use crate::metrics::Metrics;
use crate::reloads::ReloadHistory;

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
    /// The most recent load attempts, newest first.
    pub reloads: ReloadHistory,
    /// The statuses of the applied configuration, for the status writer.
    pub statuses: watch::Sender<Option<Arc<Statuses>>>,
    /// Kubernetes mode: the API server source and the election.
    pub kubernetes: OnceLock<KubeView>,
    /// Who this gateway serves (what `explain --admin` translates with).
    pub scope: OnceLock<crate::config::Scope>,
    ready: AtomicBool,
    draining: AtomicBool,
}

/// What the admin API shows of the Kubernetes mode.
pub struct KubeView {
    pub source: Arc<vestibule_kube::Source>,
    pub leading: watch::Receiver<bool>,
}

impl ControlState {
    pub fn new(data_plane: DataPlane) -> Arc<ControlState> {
        Arc::new(ControlState {
            data_plane,
            metrics: Metrics::default(),
            applied: ArcSwapOption::empty(),
            last_reload: ArcSwap::from_pointee(LastReload::default()),
            reloads: ReloadHistory::default(),
            statuses: watch::Sender::new(None),
            kubernetes: OnceLock::new(),
            scope: OnceLock::new(),
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
        self.reloads.record(applied.generation, true, 0);
        self.last_reload.store(Arc::new(LastReload {
            ok: true,
            generation: applied.generation,
            errors: Vec::new(),
        }));
        self.statuses
            .send_replace(Some(Arc::new(applied.translation.statuses.clone())));
        self.applied.store(Some(Arc::new(applied)));
    }

    /// Serves new endpoints for the applied routes (an EndpointSlice
    /// changed): no generation, no route table, no status change. The
    /// `documents` endpoints were resolved from replace those applied.
    pub fn apply_endpoints(&self, endpoints: EndpointTable, documents: Vec<Document>) {
        let Some(current) = self.applied.load_full() else {
            return;
        };
        if current.translation.endpoints == endpoints {
            return;
        }
        self.data_plane
            .update_endpoints(&current.translation.table, &endpoints);
        let mut translation = current.translation.clone();
        translation.endpoints = endpoints;
        self.applied.store(Some(Arc::new(Applied {
            generation: current.generation,
            translation,
            warnings: current.warnings.clone(),
            files: current.files.clone(),
            objects: vestibule_kube::snapshot::with_endpoints(&current.objects, documents).into(),
        })));
    }

    /// Records a successful load that changed nothing.
    pub fn confirm_unchanged(&self) {
        let generation = self.generation();
        self.metrics.record_reload(true, generation, 0);
        self.reloads.record(generation, true, 0);
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
        self.reloads.record(generation, false, errors.len());
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
