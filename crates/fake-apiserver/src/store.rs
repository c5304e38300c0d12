//! The objects, their resourceVersions, the change history watches replay
//! from, and the open watches themselves.
//!
//! One global counter gives every write a resourceVersion, as etcd's
//! revision does. Every write goes through [`Store::commit`], which also
//! hands the change to the open watches while the store is locked, so a
//! watch sees changes in resourceVersion order and never misses one that
//! happened between its replay and its registration.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::discovery::ResourceType;
use crate::error::ApiError;
use crate::patch::{self, Managers, Scope};
use crate::selectors::Selector;
use crate::watch::WatchMsg;

/// (group, plural): one storage whatever the version.
pub(crate) type GroupResource = (String, String);
/// (namespace, name); the namespace is `""` for cluster-scoped objects.
pub(crate) type ObjKey = (String, String);

/// The field manager the test-side control API writes as.
pub(crate) const ADMIN_MANAGER: &str = "fake-apiserver-test";

#[derive(Debug, Clone)]
struct Stored {
    obj: Value,
    managers: Managers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    gr: GroupResource,
    kind: ChangeType,
    old: Option<Value>,
    new: Value,
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The resource itself, through the API.
    Main,
    /// The `/status` subresource.
    Status,
    /// The test's own writes, which may touch anything.
    Admin,
}

impl Target {
    fn scope(self, rt: &ResourceType) -> Scope {
        match self {
            Target::Main if rt.status => Scope::AllButStatus,
            Target::Status => Scope::StatusOnly,
            _ => Scope::All,
        }
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchStart {
    /// After this resourceVersion: replay the history from there.
    After(u64),
    /// Now, with an ADDED event for every current object first; when
    /// `initial_end` (a streaming list), a BOOKMARK marking their end.
    Current { initial_end: bool },
}

struct Watcher {
    gr: GroupResource,
    namespace: Option<String>,
    selector: Selector,
    api_version: String,
    kind: String,
    bookmarks: bool,
    tx: UnboundedSender<WatchMsg>,
}

/// A page of a list.
pub(crate) struct ListPage {
    pub(crate) items: Vec<Value>,
    pub(crate) resource_version: u64,
    pub(crate) continue_token: Option<String>,
}

#[derive(Default)]
pub(crate) struct Store {
    rv: u64,
    /// Watches and continue tokens from a resourceVersion below this are
    /// answered 410 Gone.
    horizon: u64,
    tables: BTreeMap<GroupResource, BTreeMap<ObjKey, Stored>>,
    history: Vec<Change>,
    watchers: Vec<Watcher>,
}

fn gr_of(rt: &ResourceType) -> GroupResource {
    (rt.group.clone(), rt.plural.clone())
}

/// The object as served at `api_version`.
pub(crate) fn present(obj: &Value, api_version: &str) -> Value {
    let mut v = obj.clone();
    v["apiVersion"] = Value::String(api_version.to_string());
    v
}

fn rv_of(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The object without what the server maintains, to tell whether a write
/// changes anything.
fn content(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    v
}

/// The object less `metadata` and `status`: what `generation` counts.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

impl Store {
    pub(crate) fn resource_version(&self) -> u64 {
        self.rv
    }

    fn table(&self, rt: &ResourceType) -> Option<&BTreeMap<ObjKey, Stored>> {
        self.tables.get(&gr_of(rt))
    }

    pub(crate) fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.table(rt)
            .and_then(|t| t.get(&(ns.to_string(), name.to_string())))
            .map(|s| s.obj.clone())
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    pub(crate) fn managers(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Managers> {
        self.table(rt)
            .and_then(|t| t.get(&(ns.to_string(), name.to_string())))
            .map(|s| s.managers.clone())
    }

    /// Lists `rt` in `ns` (all namespaces when `None`), `limit` at a time
    /// from `continue_token`.
    pub(crate) fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        selector: &Selector,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        let (rv, after) = match continue_token {
            None => (self.rv, None),
            Some(tok) => {
                let bad = || ApiError::bad_request(format!("continue key is not valid: {tok:?}"));
                let (rv, key) = tok.split_once(':').ok_or_else(bad)?;
                let (kns, kname) = key.split_once('/').ok_or_else(bad)?;
                let rv: u64 = rv.parse().map_err(|_| bad())?;
                if rv < self.horizon {
                    return Err(ApiError::gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."));
                }
                (rv, Some((kns.to_string(), kname.to_string())))
            }
        };
        let mut items = Vec::new();
        let mut continue_out = None;
        for (key, s) in self.table(rt).into_iter().flatten() {
            if after.as_ref().is_some_and(|a| key <= a)
                || ns.is_some_and(|n| n != key.0)
                || !selector.matches(&s.obj)
            {
                continue;
            }
            if limit.is_some_and(|l| l > 0 && items.len() == l) {
                continue_out = Some(format!("{rv}:{}/{}", key.0, key.1));
                break;
            }
            items.push(s.obj.clone());
        }
        // The token names the last item served, not the first one held back.
        if continue_out.is_some() {
            let last = items.last().expect("a full page is not empty");
            let ns = last
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            let name = last
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            continue_out = Some(format!("{rv}:{ns}/{name}"));
        }
        Ok(ListPage {
            items,
            resource_version: rv,
            continue_token: continue_out,
        })
    }

    /// Every object of `rt`, for the test side.
    pub(crate) fn all_of(&self, rt: &ResourceType) -> Vec<Value> {
        self.table(rt)
            .into_iter()
            .flatten()
            .map(|(_, s)| s.obj.clone())
            .collect()
    }

    /// POST: a new object named by its metadata (or `generateName`).
    pub(crate) fn create(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        mut obj: Value,
        manager: &str,
        target: Target,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body is not an object"));
        }
        let body_ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        if rt.namespaced && !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let mut name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            let prefix = obj
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if prefix.is_empty() {
                return Err(ApiError::invalid(format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    rt.kind
                )));
            }
            name = format!(
                "{prefix}{}",
                &uuid::Uuid::new_v4().simple().to_string()[..5]
            );
        }
        let key = (ns.to_string(), name.clone());
        if self.table(rt).is_some_and(|t| t.contains_key(&key)) {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        if rt.status && target != Target::Admin {
            // Status is not settable on create through the main resource.
            obj.as_object_mut().expect("checked above").remove("status");
        }
        let meta = obj
            .as_object_mut()
            .expect("checked above")
            .entry("metadata")
            .or_insert_with(|| json!({}));
        if !meta.is_object() {
            return Err(ApiError::bad_request("metadata is not an object"));
        }
        meta["name"] = json!(name);
        if rt.namespaced {
            meta["namespace"] = json!(ns);
        }
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["creationTimestamp"] = json!(now_rfc3339());
        meta["generation"] = json!(1);
        let mut managers = Managers::new();
        patch::record_update(&mut managers, manager, &json!({}), &obj, target.scope(rt));
        Ok(self.commit(rt, key, None, obj, managers))
    }

    /// PUT: replaces the object (or its status), refusing a stale
    /// `metadata.resourceVersion`.
    pub(crate) fn update(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        manager: &str,
        target: Target,
    ) -> Result<Value, ApiError> {
        let old = self.stored(rt, ns, name)?;
        self.check_precondition(rt, name, &old.obj, &obj)?;
        let new = merge_by_target(rt, &old.obj, obj, target);
        self.write_existing(rt, ns, name, old, new, manager, target)
    }

    /// PATCH with `application/merge-patch+json`.
    pub(crate) fn merge_patch(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        patch_body: &Value,
        manager: &str,
        target: Target,
    ) -> Result<Value, ApiError> {
        let old = self.stored(rt, ns, name)?;
        self.check_precondition(rt, name, &old.obj, patch_body)?;
        let mut patched = old.obj.clone();
        patch::merge_patch(&mut patched, patch_body);
        let new = merge_by_target(rt, &old.obj, patched, target);
        self.write_existing(rt, ns, name, old, new, manager, target)
    }

    /// PATCH with `application/apply-patch+yaml`: server-side apply,
    /// creating the object when it does not exist (main resource only).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        config: &Value,
        manager: &str,
        force: bool,
        target: Target,
    ) -> Result<Value, ApiError> {
        let body_name = config
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let existing = self
            .table(rt)
            .and_then(|t| t.get(&(ns.to_string(), name.to_string())))
            .cloned();
        let Some(old) = existing else {
            if target == Target::Status {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            }
            let mut obj = json!({ "apiVersion": rt.preferred_api_version(), "kind": rt.kind, "metadata": { "name": name } });
            let mut managers = Managers::new();
            patch::apply(
                &mut obj,
                &mut managers,
                manager,
                config,
                target.scope(rt),
                force,
            )
            .map_err(|c| ApiError::apply_conflict(&rt.group, &rt.plural, name, &c))?;
            let created = self.create(rt, ns, obj, manager, target)?;
            // create() recorded an "Update"; the fields are the applier's.
            self.set_managers(rt, ns, name, managers);
            return Ok(created);
        };
        self.check_precondition(rt, name, &old.obj, config)?;
        let mut new = old.obj.clone();
        let mut managers = old.managers.clone();
        patch::apply(
            &mut new,
            &mut managers,
            manager,
            config,
            target.scope(rt),
            force,
        )
        .map_err(|c| ApiError::apply_conflict(&rt.group, &rt.plural, name, &c))?;
        let key = (ns.to_string(), name.to_string());
        let new = finish_update(&old.obj, new);
        Ok(self.commit(rt, key, Some(old.obj), new, managers))
    }

    /// DELETE, then the objects it owns (unless orphaned), as the garbage
    /// collector would. Returns the deleted object.
    pub(crate) fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        precondition_rv: Option<&str>,
        orphan: bool,
        registry: &[ResourceType],
    ) -> Result<Value, ApiError> {
        let old = self.stored(rt, ns, name)?;
        if precondition_rv.is_some_and(|p| Some(p) != rv_of(&old.obj)) {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        let gone = self.remove(rt, ns, name);
        if !orphan {
            let uid = gone
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            self.collect_garbage(&uid, registry);
        }
        Ok(gone)
    }

    fn collect_garbage(&mut self, owner_uid: &str, registry: &[ResourceType]) {
        let mut dependents = Vec::new();
        for rt in registry {
            for ((ns, name), s) in self.table(rt).into_iter().flatten() {
                let owned = s
                    .obj
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
                    });
                if owned {
                    dependents.push((rt.clone(), ns.clone(), name.clone()));
                }
            }
        }
        for (rt, ns, name) in dependents {
            if self
                .table(&rt)
                .is_some_and(|t| t.contains_key(&(ns.clone(), name.clone())))
            {
                let gone = self.remove(&rt, &ns, &name);
                let uid = gone
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                self.collect_garbage(&uid, registry);
            }
        }
    }

    fn remove(&mut self, rt: &ResourceType, ns: &str, name: &str) -> Value {
        let gr = gr_of(rt);
        let s = self
            .tables
            .get_mut(&gr)
            .and_then(|t| t.remove(&(ns.to_string(), name.to_string())))
            .expect("caller checked the object exists");
        self.rv += 1;
        let mut obj = s.obj;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(Change {
            rv: self.rv,
            gr,
            kind: ChangeType::Deleted,
            old: None,
            new: obj.clone(),
        });
        obj
    }

    /// Drops every object of a type (its CRD was deleted), with DELETED
    /// events for open watches.
    pub(crate) fn drop_type(&mut self, rt: &ResourceType) {
        let keys: Vec<ObjKey> = self
            .table(rt)
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        for (ns, name) in keys {
            self.remove(rt, &ns, &name);
        }
        let gr = gr_of(rt);
        for w in self.watchers.iter().filter(|w| w.gr == gr) {
            let _ = w.tx.send(WatchMsg::End);
        }
        self.watchers.retain(|w| w.gr != gr);
    }

    fn stored(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Stored, ApiError> {
        self.table(rt)
            .and_then(|t| t.get(&(ns.to_string(), name.to_string())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    fn set_managers(&mut self, rt: &ResourceType, ns: &str, name: &str, managers: Managers) {
        if let Some(s) = self
            .tables
            .get_mut(&gr_of(rt))
            .and_then(|t| t.get_mut(&(ns.to_string(), name.to_string())))
        {
            s.managers = managers;
        }
    }

    fn check_precondition(
        &self,
        rt: &ResourceType,
        name: &str,
        current: &Value,
        body: &Value,
    ) -> Result<(), ApiError> {
        match rv_of(body) {
            Some(want) if Some(want) != rv_of(current) => {
                Err(ApiError::conflict(&rt.group, &rt.plural, name))
            }
            _ => Ok(()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_existing(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        old: Stored,
        new: Value,
        manager: &str,
        target: Target,
    ) -> Result<Value, ApiError> {
        let new = finish_update(&old.obj, new);
        let mut managers = old.managers;
        patch::record_update(&mut managers, manager, &old.obj, &new, target.scope(rt));
        Ok(self.commit(
            rt,
            (ns.to_string(), name.to_string()),
            Some(old.obj),
            new,
            managers,
        ))
    }

    /// Stores `new`, unless it equals `old` (then nothing happens, as on
    /// the real server: no new resourceVersion, no event).
    fn commit(
        &mut self,
        rt: &ResourceType,
        key: ObjKey,
        old: Option<Value>,
        mut new: Value,
        managers: Managers,
    ) -> Value {
        new["apiVersion"] = json!(rt.preferred_api_version());
        new["kind"] = json!(rt.kind);
        if let Some(old) = &old {
            if content(old) == content(&new) {
                self.set_managers(rt, &key.0, &key.1, managers);
                return old.clone();
            }
        }
        self.rv += 1;
        new["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let gr = gr_of(rt);
        self.tables.entry(gr.clone()).or_default().insert(
            key,
            Stored {
                obj: new.clone(),
                managers,
            },
        );
        let kind = if old.is_some() {
            ChangeType::Modified
        } else {
            ChangeType::Added
        };
        self.record(Change {
            rv: self.rv,
            gr,
            kind,
            old,
            new: new.clone(),
        });
        new
    }

    fn record(&mut self, change: Change) {
        self.watchers.retain(|w| !w.tx.is_closed());
        for w in &self.watchers {
            if let Some(msg) = w.event_for(&change) {
                let _ = w.tx.send(msg);
            }
        }
        self.history.push(change);
    }

    /// Opens a watch; the returned messages are the replayed or initial
    /// events, then live ones as they happen.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn watch(
        &mut self,
        rt: &ResourceType,
        api_version: &str,
        ns: Option<&str>,
        selector: Selector,
        start: WatchStart,
        bookmarks: bool,
        tx: UnboundedSender<WatchMsg>,
    ) {
        let w = Watcher {
            gr: gr_of(rt),
            namespace: ns.map(str::to_string),
            selector,
            api_version: api_version.to_string(),
            kind: rt.kind.clone(),
            bookmarks,
            tx,
        };
        match start {
            WatchStart::After(rv) if rv < self.horizon => {
                let status =
                    ApiError::gone(format!("too old resource version: {rv} ({})", self.horizon))
                        .to_status();
                let _ = w.tx.send(WatchMsg::Error(status));
                let _ = w.tx.send(WatchMsg::End);
                return;
            }
            WatchStart::After(rv) => {
                for c in self.history.iter().filter(|c| c.rv > rv) {
                    if let Some(msg) = w.event_for(c) {
                        let _ = w.tx.send(msg);
                    }
                }
            }
            WatchStart::Current { initial_end } => {
                for (key, s) in self.tables.get(&w.gr).into_iter().flatten() {
                    if w.namespace.as_ref().is_none_or(|n| *n == key.0)
                        && w.selector.matches(&s.obj)
                    {
                        let _ =
                            w.tx.send(WatchMsg::Event("ADDED", present(&s.obj, &w.api_version)));
                    }
                }
                if initial_end {
                    let _ = w.tx.send(w.bookmark(self.rv, true));
                }
            }
        }
        self.watchers.push(w);
    }

    /// A BOOKMARK at the current resourceVersion to every watch that asked
    /// for bookmarks.
    pub(crate) fn bookmark_all(&mut self) {
        self.watchers.retain(|w| !w.tx.is_closed());
        for w in self.watchers.iter().filter(|w| w.bookmarks) {
            let _ = w.tx.send(w.bookmark(self.rv, false));
        }
    }

    /// Forgets the history: every resourceVersion handed out so far becomes
    /// too old to watch from. The counter moves on by one so that a fresh
    /// list's resourceVersion is still a valid place to watch from.
    pub(crate) fn compact(&mut self) {
        self.rv += 1;
        self.horizon = self.rv;
        self.history.clear();
    }

    /// Ends every open watch.
    pub(crate) fn close_watches(&mut self) {
        for w in self.watchers.drain(..) {
            let _ = w.tx.send(WatchMsg::End);
        }
    }

    pub(crate) fn open_watches(&mut self) -> usize {
        self.watchers.retain(|w| !w.tx.is_closed());
        self.watchers.len()
    }
}

impl Watcher {
    fn sees(&self, obj: &Value) -> bool {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        self.namespace.as_ref().is_none_or(|n| n == ns) && self.selector.matches(obj)
    }

    /// The event this watch gets for `c`: an object moving into or out of
    /// the selector is ADDED or DELETED for it, as on the real server.
    fn event_for(&self, c: &Change) -> Option<WatchMsg> {
        if c.gr != self.gr {
            return None;
        }
        let now = self.sees(&c.new);
        let before = c.old.as_ref().is_some_and(|o| self.sees(o));
        let ty = match c.kind {
            ChangeType::Added if now => "ADDED",
            ChangeType::Deleted if now => "DELETED",
            ChangeType::Modified if now && before => "MODIFIED",
            ChangeType::Modified if now => "ADDED",
            ChangeType::Modified if before => "DELETED",
            _ => return None,
        };
        Some(WatchMsg::Event(ty, present(&c.new, &self.api_version)))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> WatchMsg {
        let mut meta = json!({ "resourceVersion": rv.to_string() });
        if initial_end {
            meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        WatchMsg::Event(
            "BOOKMARK",
            json!({ "kind": self.kind, "apiVersion": self.api_version, "metadata": meta }),
        )
    }
}

/// The stored object after a PUT or patch of `target`: only `status` from
/// a `/status` write; everything but `status` from a main write to a type
/// with a status subresource.
fn merge_by_target(rt: &ResourceType, old: &Value, mut new: Value, target: Target) -> Value {
    match target {
        Target::Status => {
            let mut out = old.clone();
            match new.get("status") {
                Some(s) => out["status"] = s.clone(),
                None => {
                    out.as_object_mut().map(|m| m.remove("status"));
                }
            }
            out
        }
        Target::Main if rt.status => {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    new.as_object_mut().map(|m| m.remove("status"));
                }
            }
            new
        }
        Target::Admin if new.get("status").is_none() => {
            if let Some(s) = old.get("status") {
                new["status"] = s.clone();
            }
            new
        }
        _ => new,
    }
}

/// Server-kept metadata carried over from `old`, and `generation` bumped
/// when the spec part changed.
fn finish_update(old: &Value, mut new: Value) -> Value {
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
    ] {
        match old["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                new["metadata"].as_object_mut().map(|m| m.remove(k));
            }
        }
    }
    if spec_part(old) != spec_part(&new) {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
    new
}

/// RFC 3339 UTC, seconds precision, as metadata timestamps are written.
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
