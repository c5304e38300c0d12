//! Server-side apply of the rendered objects (field manager `vestibule`,
//! forced: these objects are the deployer's), each sent only when it
//! differs from what this replica last applied.

use std::collections::BTreeMap;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::Client;
use serde_json::Value;

use super::render::{Object, MANAGED};
use super::DeployError;

/// `(kind, namespace, name)`.
type ObjectId = (&'static str, String, String);

/// What this replica applied, by object: a pass sends only the objects
/// whose rendering changed since.
pub(super) struct Applier {
    client: Client,
    field_manager: String,
    applied: BTreeMap<ObjectId, Value>,
}

impl Applier {
    pub(super) fn new(client: Client, field_manager: String) -> Applier {
        Applier {
            client,
            field_manager,
            applied: BTreeMap::new(),
        }
    }

    /// Forgets what was applied: the next pass sends everything again (a
    /// new leader, or the periodic re-assertion that restores an object
    /// deleted by hand; server-side apply of an unchanged object changes
    /// nothing there).
    pub(super) fn forget(&mut self) {
        self.applied.clear();
    }

    /// Applies every object of `desired` that changed; forgets the objects
    /// no longer desired (their Gateway went: garbage collection removes
    /// them). Returns how many were written.
    pub(super) async fn sync(&mut self, desired: Vec<Object>) -> usize {
        let wanted: Vec<ObjectId> = desired.iter().map(id).collect();
        self.applied.retain(|key, _| wanted.contains(key));
        let mut written = 0;
        for object in desired {
            let key = id(&object);
            if self.applied.get(&key) == Some(&object.body) {
                continue;
            }
            match self.apply(&object, !self.applied.contains_key(&key)).await {
                Ok(sent) => {
                    written += usize::from(sent);
                    self.applied.insert(key, object.body);
                }
                Err(error) => tracing::warn!(
                    kind = object.kind,
                    namespace = %object.namespace,
                    name = %object.name,
                    %error,
                    "automated deployment: apply failed; retried on the next pass"
                ),
            }
        }
        written
    }

    /// Applies `object`; the first time, only if the object is absent or
    /// already the deployer's (Istio's rule: an object someone else made
    /// under that name is never taken over). `Ok(false)`: left alone.
    async fn apply(&self, object: &Object, first: bool) -> Result<bool, DeployError> {
        let api = self.api(object);
        if first {
            if let Some(existing) = api.get_opt(&object.name).await? {
                if !existing
                    .metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(MANAGED))
                {
                    tracing::warn!(
                        kind = object.kind,
                        namespace = %object.namespace,
                        name = %object.name,
                        "automated deployment: an object of that name exists and is not ours ({MANAGED}); left alone"
                    );
                    return Ok(false);
                }
            }
        }
        let params = PatchParams::apply(&self.field_manager).force();
        api.patch(&object.name, &params, &Patch::Apply(&object.body))
            .await?;
        tracing::info!(kind = object.kind, namespace = %object.namespace, name = %object.name, "automated deployment: applied");
        Ok(true)
    }

    fn api(&self, object: &Object) -> Api<DynamicObject> {
        let (group, version) = object
            .api_version
            .rsplit_once('/')
            .unwrap_or(("", object.api_version));
        let resource = ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            api_version: object.api_version.to_owned(),
            kind: object.kind.to_owned(),
            plural: object.plural.to_owned(),
        };
        if object.namespace.is_empty() {
            Api::all_with(self.client.clone(), &resource)
        } else {
            Api::namespaced_with(self.client.clone(), &object.namespace, &resource)
        }
    }
}

fn id(object: &Object) -> ObjectId {
    (object.kind, object.namespace.clone(), object.name.clone())
}
