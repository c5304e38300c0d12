//! How the API server connection is doing, per kind: what `/status` and
//! the metrics show while the last good configuration keeps serving.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use crate::kinds::KINDS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum KindState {
    /// The cluster does not serve this kind (its CRD is not installed).
    Absent,
    /// Served; the first list has not completed.
    Syncing,
    /// Listed and watching.
    Synced,
    /// The watch fails and is being retried; what was read stays in use.
    Failing { error: String, since: String },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindHealth {
    pub kind: String,
    pub group: String,
    /// The version watched (empty when absent).
    pub version: String,
    #[serde(flatten)]
    pub state: KindState,
}

/// Every kind's state, and the count of failures seen.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Kind → (version, state, listed at least once).
    kinds: Mutex<BTreeMap<usize, (String, KindState, bool)>>,
    failures: std::sync::atomic::AtomicU64,
}

impl Health {
    pub(crate) fn watching(&self, kind: usize, version: &str) {
        self.set(kind, version.to_owned(), KindState::Syncing);
    }

    /// Not served: nothing to list, so it counts as listed.
    pub(crate) fn absent(&self, kind: usize) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds.insert(kind, (String::new(), KindState::Absent, true));
    }

    pub(crate) fn knows(&self, kind: usize) -> bool {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds.contains_key(&kind)
    }

    pub(crate) fn synced(&self, kind: usize) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = kinds.get_mut(&kind) {
            entry.1 = KindState::Synced;
            entry.2 = true;
        }
    }

    pub(crate) fn failed(&self, kind: usize, error: &str) {
        self.failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = kinds.get_mut(&kind) {
            if !matches!(entry.1, KindState::Failing { .. }) {
                entry.1 = KindState::Failing {
                    error: error.to_owned(),
                    since: crate::time::rfc3339(SystemTime::now()),
                };
            }
        }
    }

    /// A watch that failed delivered again.
    pub(crate) fn recovered(&self, kind: usize) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = kinds.get_mut(&kind) {
            if matches!(entry.1, KindState::Failing { .. }) {
                entry.1 = KindState::Synced;
            }
        }
    }

    /// Sets a kind's version and state; whether it was listed is kept.
    fn set(&self, kind: usize, version: String, state: KindState) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let listed = kinds.get(&kind).is_some_and(|entry| entry.2);
        kinds.insert(kind, (version, state, listed));
    }

    /// Whether discovery placed every kind and each served one was
    /// listed at least once: the first configuration waits for it.
    pub(crate) fn all_listed(&self) -> bool {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds.len() == KINDS.len() && kinds.values().all(|entry| entry.2)
    }

    pub(crate) fn snapshot(&self) -> Vec<KindHealth> {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds
            .iter()
            .map(|(kind, (version, state, _))| KindHealth {
                kind: KINDS[*kind].kind.to_owned(),
                group: KINDS[*kind].group.to_owned(),
                version: version.clone(),
                state: state.clone(),
            })
            .collect()
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether any watch is failing now.
    pub(crate) fn degraded(&self) -> bool {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds
            .values()
            .any(|(_, state, _)| matches!(state, KindState::Failing { .. }))
    }
}
