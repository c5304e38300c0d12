//! Secrets and ConfigMaps: only those the configuration names are read.
//! A metadata-only watch tells which exist and when they change; the
//! named ones are then fetched whole. No other credential is kept.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Shared;

/// `(namespace, name)`.
pub(crate) type Name = (String, String);

/// Keeps the named objects of kind `K` (index `kind`) fetched.
pub(crate) async fn run<K>(client: Client, kind: usize, shared: Arc<Shared>)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static,
{
    let api: Api<PartialObjectMeta<K>> = Api::all(client.clone());
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures_util::pin_mut!(stream);
    // Every object of the kind that exists: name → resourceVersion.
    let mut present: BTreeMap<Name, String> = BTreeMap::new();
    let mut relist: Option<BTreeMap<Name, String>> = None;
    let mut listed = false;
    let mut wanted = shared.references.subscribe();
    loop {
        tokio::select! {
            event = stream.next() => {
                let Some(event) = event else { return };
                match event {
                    Ok(Event::Init) => relist = Some(BTreeMap::new()),
                    Ok(Event::InitApply(meta)) => {
                        if let Some((name, version)) = identity(&meta) {
                            relist.get_or_insert_with(BTreeMap::new).insert(name, version);
                        }
                    }
                    Ok(Event::InitDone) => {
                        present = relist.take().unwrap_or_default();
                        listed = true;
                        shared.health.synced(kind);
                        // The first set may have been waiting for this kind.
                        shared.wake();
                    }
                    Ok(Event::Apply(meta)) => {
                        if let Some((name, version)) = identity(&meta) {
                            present.insert(name, version);
                        }
                        shared.health.recovered(kind);
                    }
                    Ok(Event::Delete(meta)) => {
                        if let Some((name, _)) = identity(&meta) {
                            present.remove(&name);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(kind = crate::kinds::KINDS[kind].kind, %error, "watch failed; retrying");
                        shared.health.failed(kind, &error.to_string());
                        continue;
                    }
                }
            }
            changed = wanted.changed() => if changed.is_err() { return },
        }
        if listed {
            let references = wanted.borrow_and_update().clone();
            let names = &references.names[Shared::slot(kind)];
            reconcile::<K>(&client, kind, &shared, &present, names).await;
            shared.reconciled[Shared::slot(kind)].send_replace(references.number);
        }
    }
}

/// Fetches the named objects that changed, drops those no longer named
/// or gone.
async fn reconcile<K>(
    client: &Client,
    kind: usize,
    shared: &Shared,
    present: &BTreeMap<Name, String>,
    wanted: &BTreeSet<Name>,
) where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize,
{
    shared.update(kind, |set| {
        set.retain_kind(kind, |namespace, name| {
            let key = (namespace.to_owned(), name.to_owned());
            wanted.contains(&key) && present.contains_key(&key)
        });
    });
    for name in wanted {
        let Some(version) = present.get(name) else {
            continue;
        };
        let held = shared.resource_version(kind, name);
        if held.as_deref() == Some(version.as_str()) {
            continue;
        }
        let api: Api<K> = Api::namespaced(client.clone(), &name.0);
        match api.get_opt(&name.1).await {
            Ok(Some(object)) => {
                let value = serde_json::to_value(object).unwrap_or_default();
                shared.update(kind, |set| set.upsert(kind, value));
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(namespace = %name.0, name = %name.1, %error, "cannot read a named credential");
                shared.health.failed(kind, &error.to_string());
            }
        }
    }
}

fn identity<K: Resource>(meta: &PartialObjectMeta<K>) -> Option<(Name, String)> {
    let metadata = &meta.metadata;
    Some((
        (metadata.namespace.clone()?, metadata.name.clone()?),
        metadata.resource_version.clone().unwrap_or_default(),
    ))
}
