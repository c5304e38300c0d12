//! The test-side control API: starting the server, writing objects as an
//! admin, outages, compaction, and what was asked of the server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::discovery::{self, Registry, ResourceType};
use crate::store::{Store, Target, ADMIN_MANAGER};
use crate::{http, patch, Shared, State};

/// A simulated API server outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Every request is answered 503 with a `Status`.
    Unavailable,
    /// Open connections (and so open watches) are dropped, and new ones are
    /// closed as soon as they are accepted.
    Refuse,
    /// Requests get no answer until the outage is cleared (then they are
    /// served). Open watches go on.
    Hang,
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// The `Content-Type` header, `""` when absent.
    pub content_type: String,
    /// The request body as text.
    pub body: String,
    /// The status code answered (200 for a watch that was started).
    pub status: u16,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often watches that allow bookmarks get one; `None`: only on
    /// [`FakeApiServer::send_bookmarks`].
    pub bookmark_interval: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bookmark_interval: Some(Duration::from_secs(1)),
        }
    }
}

/// The fake API server. Dropping it stops it.
///
/// What it implements: discovery (legacy and aggregated v2), list (label
/// and `metadata.name`/`metadata.namespace` field selectors, `limit` and
/// `continue`), watch (from a resourceVersion, from now with initial
/// events, streaming lists, bookmarks, 410 after [`compact`](Self::compact),
/// `timeoutSeconds`), get, create, replace, delete (with garbage collection
/// of owned objects), merge patch, server-side apply (a per-manager record
/// of leaf fields; lists are atomic), and the `/status` subresource.
///
/// What it refuses, recording the request for [`assert_clean`](Self::assert_clean):
/// strategic merge and JSON patches (415), `deletecollection`, `dryRun`,
/// query parameters it does not implement, field selectors other than
/// `metadata.name` and `metadata.namespace`, subresources other than
/// `status`, and resources of a registered group that it does not serve.
/// A request for a group that is not registered is answered 404, as a real
/// server without that CRD would, and is not recorded as unknown.
///
/// What it does not model: authentication and authorization, admission
/// (objects may be created in namespaces that do not exist), finalizers
/// and graceful deletion (deletion is immediate), `metadata.managedFields`
/// in responses (see [`managers`](Self::managers) instead), validation
/// against schemas, and version conversion (all versions of a type share
/// one schema).
pub struct FakeApiServer {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    /// For [`start_in_thread`](Self::start_in_thread): the runtime thread
    /// and the signal that stops it.
    thread: Option<(
        std::thread::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    )>,
}

impl FakeApiServer {
    /// Starts a server on `127.0.0.1:0` on the current tokio runtime, with
    /// the built-in types registered.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// [`start`](Self::start) with settings.
    pub async fn start_with(options: Options) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let mut registry = Registry::default();
        registry.register(discovery::builtin_types());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                registry,
                store: Store::default(),
                requests: Vec::new(),
                unknown: Vec::new(),
            }),
            outage: tokio::sync::watch::channel(None).0,
            kill: tokio::sync::watch::channel(0).0,
            changed: tokio::sync::watch::channel(0).0,
            addr,
        });
        let mut tasks = vec![tokio::spawn(http::serve(listener, shared.clone()))];
        if let Some(every) = options.bookmark_interval {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    shared.lock().store.bookmark_all();
                }
            }));
        }
        FakeApiServer {
            shared,
            tasks,
            thread: None,
        }
    }

    /// Starts a server on a runtime of its own, in a thread, for tests
    /// that are not async or that block (waiting on processes).
    pub fn start_in_thread() -> Self {
        Self::start_in_thread_with(Options::default())
    }

    /// [`start_in_thread`](Self::start_in_thread) with settings.
    pub fn start_in_thread_with(options: Options) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-apiserver".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                rt.block_on(async move {
                    let server = FakeApiServer::start_with(options).await;
                    let _ = ready_tx.send(server);
                    let _ = stop_rx.await;
                });
            })
            .expect("spawn the fake-apiserver thread");
        let mut server: FakeApiServer = ready_rx.recv().expect("the fake-apiserver thread started");
        server.thread = Some((thread, stop_tx));
        server
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Writes `dir/kubeconfig` naming this server (plain HTTP, no
    /// credentials, namespace `default`) and returns its path.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\n\
             users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
             current-context: fake\n",
            self.url()
        );
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    // ---- types -------------------------------------------------------

    /// Serves more types, as if their CRDs were installed now.
    pub fn register(&self, types: Vec<ResourceType>) {
        self.shared.mutate(|s| s.registry.register(types));
    }

    /// Installs the Gateway API CRDs ([`discovery::gateway_api_types`]).
    pub fn register_gateway_api(&self) {
        self.register(discovery::gateway_api_types());
    }

    /// Installs Istio's networking CRDs ([`discovery::istio_types`]).
    pub fn register_istio(&self) {
        self.register(discovery::istio_types());
    }

    /// Uninstalls a group: its objects are deleted (watches see DELETED
    /// events, then end) and its paths answer 404.
    pub fn unregister_group(&self, group: &str) {
        self.shared.mutate(|s| {
            for rt in s.registry.unregister_group(group) {
                s.store.drop_type(&rt);
            }
        });
    }

    fn type_of(&self, state: &State, api_version: &str, kind: &str) -> ResourceType {
        match state.registry.by_kind(api_version, kind) {
            Some(rt) => rt.clone(),
            None => panic!("fake-apiserver: {api_version} {kind} is not registered"),
        }
    }

    fn type_named(state: &State, kind: &str) -> ResourceType {
        match state.registry.by_kind_name(kind).as_slice() {
            [rt] => (*rt).clone(),
            [] => panic!("fake-apiserver: no registered kind {kind:?}"),
            many => panic!(
                "fake-apiserver: kind {kind:?} is ambiguous ({}); write it as Kind.group",
                many.iter()
                    .map(|t| t.group.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    // ---- objects, as an admin ----------------------------------------

    /// Creates or replaces an object (`apiVersion`, `kind`,
    /// `metadata.name` and, if namespaced, `metadata.namespace` required).
    /// Bypasses preconditions and the status subresource split: `status`
    /// is written when given and kept when not. Returns the stored object.
    pub fn apply(&self, value: Value) -> Value {
        let api_version = value["apiVersion"]
            .as_str()
            .expect("apiVersion")
            .to_string();
        let kind = value["kind"].as_str().expect("kind").to_string();
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .expect("metadata.name")
            .to_string();
        self.shared.mutate(|s| {
            let rt = self.type_of(s, &api_version, &kind);
            let ns = if rt.namespaced {
                value
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string()
            } else {
                String::new()
            };
            let mut value = value;
            if let Some(m) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            let result = match s.store.get(&rt, &ns, &name) {
                Ok(_) => s
                    .store
                    .update(&rt, &ns, &name, value, ADMIN_MANAGER, Target::Admin),
                Err(_) => s
                    .store
                    .create(&rt, &ns, value, ADMIN_MANAGER, Target::Admin),
            };
            result.unwrap_or_else(|e| panic!("fake-apiserver: apply {kind} {ns}/{name}: {e}"))
        })
    }

    /// [`apply`](Self::apply) of every document of a multi-document YAML.
    pub fn apply_yaml(&self, yaml: &str) -> Vec<Value> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(yaml)
            .unwrap_or_else(|e| panic!("fake-apiserver: bad YAML: {e}"));
        docs.into_iter()
            .filter(|d| !d.is_null())
            .map(|d| self.apply(d))
            .collect()
    }

    /// Deletes an object (and, through garbage collection, what it owns);
    /// `ns` is `""` for cluster-scoped kinds. Returns it, if it existed.
    pub fn delete(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        self.shared.mutate(|s| {
            let rt = self.type_of(s, api_version, kind);
            let registry = s.registry.all().to_vec();
            s.store.delete(&rt, ns, name, None, false, &registry).ok()
        })
    }

    /// An object; `ns` is `""` for cluster-scoped kinds.
    pub fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let s = self.shared.lock();
        let rt = self.type_of(&s, api_version, kind);
        s.store.get(&rt, ns, name).ok()
    }

    /// Every object of a kind, in all namespaces. `kind` may be written
    /// `Kind.group` where several groups have it (`Gateway.networking.istio.io`).
    pub fn list(&self, kind: &str) -> Vec<Value> {
        let s = self.shared.lock();
        let rt = Self::type_named(&s, kind);
        s.store.all_of(&rt)
    }

    /// Merge-patches an object's status as another controller would (field
    /// manager `fake-apiserver-test`), through the same path as a client's
    /// `/status` patch. `kind` as for [`list`](Self::list).
    pub fn patch_status(&self, kind: &str, ns: &str, name: &str, merge_patch: Value) -> Value {
        self.shared.mutate(|s| {
            let rt = Self::type_named(s, kind);
            let target = if rt.status {
                Target::Status
            } else {
                Target::Main
            };
            s.store
                .merge_patch(&rt, ns, name, &merge_patch, ADMIN_MANAGER, target)
                .unwrap_or_else(|e| panic!("fake-apiserver: patch_status {kind} {ns}/{name}: {e}"))
        })
    }

    /// The field managers of an object and the fields (dotted paths) each
    /// owns: server-side apply's bookkeeping, for asserting who wrote what.
    pub fn managers(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> BTreeMap<String, Vec<String>> {
        let s = self.shared.lock();
        let rt = self.type_of(&s, api_version, kind);
        s.store
            .managers(&rt, ns, name)
            .unwrap_or_default()
            .into_iter()
            .map(|(m, paths)| (m, paths.iter().map(|p| patch::display(p)).collect()))
            .collect()
    }

    /// The newest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().store.resource_version()
    }

    /// Polls an object (`None` when absent) until `predicate` holds; returns
    /// what it saw then. Panics after `timeout`, showing the last state.
    pub async fn wait_for(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        timeout: Duration,
        predicate: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let mut changed = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changed.mark_unchanged();
            let current = self.get(api_version, kind, ns, name);
            if predicate(current.as_ref()) {
                return current;
            }
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                panic!("fake-apiserver: timed out after {timeout:?} waiting on {kind} {ns}/{name}; it is {current:#?}");
            }
        }
    }

    /// [`wait_for`](Self::wait_for) for code that is not async.
    pub fn wait_for_blocking(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        timeout: Duration,
        predicate: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let current = self.get(api_version, kind, ns, name);
            if predicate(current.as_ref()) {
                return current;
            }
            if std::time::Instant::now() >= deadline {
                panic!("fake-apiserver: timed out after {timeout:?} waiting on {kind} {ns}/{name}; it is {current:#?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    // ---- watches -----------------------------------------------------

    /// Discards the change history: watches from any resourceVersion handed
    /// out so far get an ERROR event with a 410 `Status`, and the client
    /// must list again. Open watches go on.
    pub fn compact(&self) {
        self.shared.mutate(|s| s.store.compact());
    }

    /// [`compact`](Self::compact), then ends every open watch, so that
    /// watching clients come back with an old resourceVersion and get 410.
    pub fn compact_and_close_watches(&self) {
        self.shared.mutate(|s| {
            s.store.compact();
            s.store.close_watches();
        });
    }

    /// Ends every open watch (clients resume from their last version).
    pub fn close_watches(&self) {
        self.shared.mutate(|s| s.store.close_watches());
    }

    /// Sends a BOOKMARK now to every watch that allows bookmarks.
    pub fn send_bookmarks(&self) {
        self.shared.lock().store.bookmark_all();
    }

    /// How many watches are open.
    pub fn open_watches(&self) -> usize {
        self.shared.lock().store.open_watches()
    }

    // ---- outages -----------------------------------------------------

    /// Starts an outage.
    pub fn set_outage(&self, outage: Outage) {
        self.shared.outage.send_replace(Some(outage));
        if outage == Outage::Refuse {
            self.shared.mutate(|s| s.store.close_watches());
            self.shared.kill.send_modify(|n| *n += 1);
        }
    }

    /// Ends the outage; hung requests are then served.
    pub fn clear_outage(&self) {
        self.shared.outage.send_replace(None);
    }

    // ---- what was asked ----------------------------------------------

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the request log (not the unknown requests).
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Requests the fake does not implement.
    pub fn unknown_requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().unknown.clone()
    }

    /// Panics, listing them, if any request was one the fake does not
    /// implement: the code under test asked for something the tests do not
    /// cover.
    pub fn assert_clean(&self) {
        let unknown = self.unknown_requests();
        if !unknown.is_empty() {
            let list: Vec<String> = unknown
                .iter()
                .map(|r| {
                    format!(
                        "  {} {} [{}] -> {}",
                        r.method, r.path, r.content_type, r.status
                    )
                })
                .collect();
            panic!(
                "fake-apiserver: {} request(s) it does not implement:\n{}",
                unknown.len(),
                list.join("\n")
            );
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.shared.kill.send_modify(|n| *n += 1);
        self.shared.lock().store.close_watches();
        if let Some((thread, stop)) = self.thread.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}
