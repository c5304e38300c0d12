//! One kind's watch: kube-rs' watcher (list, then watch; relist on 410
//! Gone; backoff on errors) feeding the object set.

use std::sync::Arc;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use serde_json::Value;

use super::Shared;

/// Watches `kind` until the task is aborted.
pub(crate) async fn run(client: Client, kind: usize, resource: ApiResource, shared: Arc<Shared>) {
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures_util::pin_mut!(stream);
    // Objects of a relist, until it is complete.
    let mut relist: Option<Vec<Value>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => relist = Some(Vec::new()),
            Ok(Event::InitApply(object)) => {
                relist.get_or_insert_with(Vec::new).push(to_value(object));
            }
            Ok(Event::InitDone) => {
                let objects = relist.take().unwrap_or_default();
                // Listed before the wake-up: the control loop, woken,
                // must see this kind as listed.
                shared.health.synced(kind);
                shared.update(kind, |set| set.replace_kind(kind, objects));
            }
            Ok(Event::Apply(object)) => {
                let value = to_value(object);
                shared.update(kind, |set| set.upsert(kind, value));
            }
            Ok(Event::Delete(object)) => {
                let namespace = object.metadata.namespace.clone().unwrap_or_default();
                let name = object.metadata.name.clone().unwrap_or_default();
                shared.update(kind, |set| set.remove(kind, &namespace, &name));
            }
            Err(error) => {
                tracing::warn!(kind = crate::kinds::KINDS[kind].kind, %error, "watch failed; retrying");
                shared.health.failed(kind, &error.to_string());
            }
        }
    }
}

fn to_value(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}
