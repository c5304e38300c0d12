//! The API server as the configuration source: discovery finds which kinds
//! the cluster serves, one watcher per kind keeps the object set, and the
//! control loop takes a consistent [`Loaded`] set whenever it changed.

mod credentials;
mod discovery;
mod watch;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::discovery::ApiResource;
use kube::Client;
use serde_json::Value;
use tokio::sync::{watch as signal, Notify};
use tokio::task::JoinHandle;
use vestibule_api::{GatewayClass, KubeGateway, Loaded, Service};

use crate::health::{Health, KindHealth};
use crate::kinds::{Effect, CONFIG_MAP, KINDS, SECRET};
use crate::objects::{Objects, Raw};
use crate::snapshot::Document;

pub use crate::kinds::Effect as ChangeEffect;

/// How long a new configuration waits for the credentials it names.
const FETCH_WAIT: Duration = Duration::from_secs(5);

/// A change of the object set, for the control loop.
#[derive(Debug)]
pub struct Change {
    pub effect: Effect,
    /// The whole set; its errors are objects refused (the rest serve).
    pub loaded: Loaded,
    /// The objects of `loaded`, as read (for the admin API): every one for
    /// a change of routes, those endpoints are resolved from for a change
    /// of endpoints (see [`with_endpoints`](crate::snapshot::with_endpoints)).
    pub documents: Vec<Document>,
}

/// The Gateway API objects automated deployment and per-Gateway
/// addresses are decided from.
#[derive(Debug, Clone, Default)]
pub struct GatewayApi {
    pub gateways: Vec<KubeGateway>,
    pub classes: Vec<GatewayClass>,
}

/// What the watchers share with the control loop.
/// The Secrets and ConfigMaps named, with a number that grows with each
/// change.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct References {
    pub(crate) number: u64,
    pub(crate) names: [BTreeSet<(String, String)>; 2],
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    objects: Mutex<Objects>,
    changed: Notify,
    /// Bumped on every change, for readers other than the control loop
    /// (the deployer): `changed` wakes one waiter only.
    revision: signal::Sender<u64>,
    pub(crate) health: Health,
    /// Secrets and ConfigMaps the configuration names, numbered.
    pub(crate) references: tokio::sync::watch::Sender<References>,
    /// The number of the references each credential task (Secrets,
    /// ConfigMaps) last acted on.
    pub(crate) reconciled: [tokio::sync::watch::Sender<u64>; 2],
    /// Whether a first set was handed out (later ones need not wait for
    /// every kind to be listed).
    started: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Applies `change` to the object set and wakes the control loop.
    pub(crate) fn update(&self, kind: usize, change: impl FnOnce(&mut Objects)) {
        change(&mut self.objects.lock().unwrap_or_else(|e| e.into_inner()));
        self.health.recovered(kind);
        self.changed.notify_one();
        self.revision.send_modify(|revision| *revision += 1);
    }

    /// Wakes the control loop (a kind was listed).
    pub(crate) fn wake(&self) {
        self.changed.notify_one();
    }

    pub(crate) fn resource_version(&self, kind: usize, name: &(String, String)) -> Option<String> {
        let objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects
            .resource_version(&(kind, name.0.clone(), name.1.clone()))
            .map(str::to_owned)
    }

    /// The credential slot of a kind: 0 for Secrets, 1 for ConfigMaps.
    pub(crate) fn slot(kind: usize) -> usize {
        usize::from(kind != SECRET)
    }
}

/// The running source: discovery and watchers, until dropped.
pub struct Source {
    shared: Arc<Shared>,
    discovery: JoinHandle<()>,
}

impl Drop for Source {
    fn drop(&mut self) {
        self.discovery.abort();
    }
}

impl Source {
    /// Starts discovery (again every `rediscover`) and the watchers.
    pub fn start(client: Client, rediscover: Duration) -> Source {
        let shared = Arc::new(Shared::default());
        let discovery = tokio::spawn(discover(client, Arc::clone(&shared), rediscover));
        Source { shared, discovery }
    }

    /// Waits until the set changed (the first time: until every served
    /// kind was listed), and returns it.
    pub async fn next(&self) -> Change {
        loop {
            let notified = self.shared.changed.notified();
            if let Some(change) = self.take() {
                return change;
            }
            notified.await;
        }
    }

    fn take(&self) -> Option<Change> {
        use std::sync::atomic::Ordering;
        if !self.shared.started.load(Ordering::Acquire) {
            if !self.shared.health.all_listed() {
                return None;
            }
            self.shared.started.store(true, Ordering::Release);
        }
        let mut objects = self
            .shared
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let effect = objects.take_change()?;
        let (loaded, documents) = objects.assemble(effect);
        Some(Change {
            effect,
            loaded,
            documents,
        })
    }

    /// Names the Secrets and ConfigMaps the configuration uses, and waits
    /// (a few seconds at most) until they were fetched and the others
    /// forgotten: a listener is not served without its certificate just
    /// because it was named a moment ago. Returns whether the object set
    /// has a change of routes waiting (then translate again first).
    pub async fn fetch(
        &self,
        secrets: BTreeSet<(String, String)>,
        config_maps: BTreeSet<(String, String)>,
    ) -> bool {
        let names = [secrets, config_maps];
        let mut number = 0;
        self.shared.references.send_if_modified(|references| {
            number = references.number;
            if references.names == names {
                return false;
            }
            references.number += 1;
            references.names = names;
            number = references.number;
            true
        });
        let waits = self.shared.reconciled.iter().map(|reconciled| {
            let mut reconciled = reconciled.subscribe();
            async move {
                let _ = reconciled.wait_for(|done| *done >= number).await;
            }
        });
        let all = futures_util::future::join_all(waits);
        if tokio::time::timeout(FETCH_WAIT, all).await.is_err() {
            tracing::warn!(
                "named Secrets and ConfigMaps not fetched in time; serving without them"
            );
        }
        let objects = self
            .shared
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        objects.pending() == Some(Effect::Routes)
    }

    /// The raw parts of an object kept for status writing.
    pub fn raw(&self, group: &str, kind: &str, namespace: &str, name: &str) -> Option<Raw> {
        let index = crate::kinds::index_of(group, kind)?;
        let objects = self
            .shared
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        objects
            .raw(&(index, namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Gateway API Gateways and GatewayClasses as the API server has them
    /// now (refused ones left out).
    pub fn gateway_api(&self) -> GatewayApi {
        let objects = self.lock();
        let of = |kind: &str| crate::kinds::index_of(crate::kinds::GATEWAY_API, kind);
        let mut all = GatewayApi::default();
        if let Some(kind) = of("Gateway") {
            all.gateways = objects
                .typed_of(kind)
                .flat_map(|inputs| inputs.kube_gateways.iter().cloned())
                .collect();
        }
        if let Some(kind) = of("GatewayClass") {
            all.classes = objects
                .typed_of(kind)
                .flat_map(|inputs| inputs.gateway_classes.iter().cloned())
                .collect();
        }
        all
    }

    /// Service `namespace/name` as it is now, with its `status`.
    pub fn service(&self, namespace: &str, name: &str) -> Option<(Service, Option<Value>)> {
        let kind = crate::kinds::index_of(crate::kinds::CORE, "Service")?;
        let objects = self.lock();
        let (inputs, raw) = objects.typed(&(kind, namespace.to_owned(), name.to_owned()))?;
        Some((inputs.services.first()?.clone(), raw.status.clone()))
    }

    /// Whether every served kind was listed (a set from before is partial).
    pub fn listed(&self) -> bool {
        self.shared.health.all_listed()
    }

    /// Changes whenever the object set does.
    pub fn revisions(&self) -> signal::Receiver<u64> {
        self.shared.revision.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.shared
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Ready pod addresses behind Service `namespace/name`.
    pub fn service_addresses(&self, namespace: &str, name: &str) -> Vec<String> {
        let objects = self
            .shared
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        objects.service_addresses(namespace, name)
    }

    pub fn health(&self) -> Vec<KindHealth> {
        self.shared.health.snapshot()
    }

    /// Watch failures since start.
    pub fn failures(&self) -> u64 {
        self.shared.health.failures()
    }

    /// Whether a watch is failing now (the API server is unreachable or
    /// refusing): the last configuration keeps serving.
    pub fn degraded(&self) -> bool {
        self.shared.health.degraded()
    }

    pub fn object_count(&self) -> usize {
        self.shared
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

/// Runs discovery now and every `every`, starting and stopping watchers
/// as kinds appear and go.
async fn discover(client: Client, shared: Arc<Shared>, every: Duration) {
    let mut running: Vec<Option<(ApiResource, JoinHandle<()>)>> =
        (0..KINDS.len()).map(|_| None).collect();
    let mut backoff = Duration::from_millis(500);
    loop {
        match discovery::served(&client).await {
            Ok(served) => {
                backoff = Duration::from_millis(500);
                // The API server answers again. A watch that resumed sends
                // nothing until something changes; one still failing says
                // so again on its next error.
                for kind in 0..KINDS.len() {
                    shared.health.recovered(kind);
                }
                for (kind, resource) in served.into_iter().enumerate() {
                    reconcile(&client, &shared, kind, resource, &mut running[kind]);
                }
                tokio::time::sleep(every).await;
            }
            Err(error) => {
                tracing::warn!(%error, "API discovery failed; retrying");
                for (kind, watched) in running.iter().enumerate() {
                    if watched.is_some() {
                        shared.health.failed(kind, &error.to_string());
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(every);
            }
        }
    }
}

/// Starts, restarts (another version) or stops one kind's watcher.
fn reconcile(
    client: &Client,
    shared: &Arc<Shared>,
    kind: usize,
    served: Option<ApiResource>,
    running: &mut Option<(ApiResource, JoinHandle<()>)>,
) {
    let same = match (&served, &*running) {
        (Some(served), Some((watched, _))) => served.api_version == watched.api_version,
        (None, None) => {
            if !shared.health.knows(kind) {
                first_absent(shared, kind);
            }
            return;
        }
        _ => false,
    };
    if same {
        return;
    }
    if let Some((_, task)) = running.take() {
        task.abort();
    }
    match served {
        None => {
            tracing::info!(
                group = KINDS[kind].group,
                kind = KINDS[kind].kind,
                "kind no longer served; its objects are dropped"
            );
            shared.update(kind, |set| set.replace_kind(kind, Vec::new()));
            shared.health.absent(kind);
        }
        Some(resource) => {
            tracing::info!(api_version = %resource.api_version, kind = %resource.kind, "watching");
            shared.health.watching(kind, &resource.version);
            let task = spawn_watch(client.clone(), kind, resource.clone(), Arc::clone(shared));
            *running = Some((resource, task));
        }
    }
}

fn first_absent(shared: &Arc<Shared>, kind: usize) {
    tracing::info!(
        group = KINDS[kind].group,
        kind = KINDS[kind].kind,
        "the cluster does not serve this kind: its API is off until it is installed"
    );
    shared.health.absent(kind);
    shared.changed.notify_one();
}

fn spawn_watch(
    client: Client,
    kind: usize,
    resource: ApiResource,
    shared: Arc<Shared>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        match kind {
            SECRET => credentials::run::<Secret>(client, kind, shared).await,
            CONFIG_MAP => credentials::run::<ConfigMap>(client, kind, shared).await,
            _ => watch::run(client, kind, resource, shared).await,
        }
    })
}
