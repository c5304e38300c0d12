//! Writes what the translator decided back to `.status`, from the elected
//! replica only: Gateway API GatewayClass, Gateway (conditions, listeners,
//! addresses), route parents, policy ancestors, and Ingress
//! `status.loadBalancer`. Writes are merge patches of vestibule's own
//! fields, sent only when they change something; entries of other
//! controllers in shared lists are kept as they are.

mod addresses;
mod desired;
mod stamp;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::Client;
use serde_json::{json, Value};
use tokio::sync::watch;
use vestibule_ir::status::Statuses;

use crate::source::Source;
pub use desired::Desired;

/// How often a pass runs even with nothing new: a write refused with a
/// conflict is tried again from the object as it is now.
const RESYNC: Duration = Duration::from_secs(5);

/// The status writer's settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// GatewayClass `controllerName`s that are this gateway's: entries with
    /// these names in shared lists are vestibule's to replace.
    pub controller_names: Vec<String>,
    /// The Service in front of this gateway, `(namespace, name)`.
    pub gateway_service: (String, String),
    pub field_manager: String,
    /// Whether Gateways of our classes are deployed automatically: then
    /// each one's addresses are its own Service's.
    pub deploy_gateways: bool,
}

/// Runs until the process stops: a pass whenever the statuses change,
/// this replica becomes the leader, or [`RESYNC`] passes.
pub async fn run(
    client: Client,
    source: Arc<Source>,
    config: WriterConfig,
    mut statuses: watch::Receiver<Option<Arc<Statuses>>>,
    mut leading: watch::Receiver<bool>,
) {
    loop {
        let current = statuses.borrow_and_update().clone();
        if *leading.borrow_and_update() {
            if let Some(current) = current {
                pass(&client, &source, &config, &current).await;
            }
        }
        tokio::select! {
            changed = statuses.changed() => if changed.is_err() { return },
            changed = leading.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(RESYNC) => {}
        }
    }
}

/// Writes every status that differs from what the API server holds.
pub async fn pass(client: &Client, source: &Source, config: &WriterConfig, statuses: &Statuses) {
    let shared = addresses::shared(source, &config.gateway_service);
    let own = addresses::Own::new(source, config);
    for desired in desired::all(statuses, &shared, &|namespace, name| {
        own.of(namespace, name)
    }) {
        if let Err(error) = write(client, source, config, &desired).await {
            tracing::warn!(
                kind = desired.kind,
                namespace = %desired.namespace,
                name = %desired.name,
                %error,
                "status write failed; retried on the next pass"
            );
        }
    }
}

async fn write(
    client: &Client,
    source: &Source,
    config: &WriterConfig,
    desired: &Desired,
) -> Result<(), kube::Error> {
    // Only objects vestibule has seen (and so knows the version of).
    let Some(raw) = source.raw(
        desired.group,
        desired.kind,
        &desired.namespace,
        &desired.name,
    ) else {
        return Ok(());
    };
    let current = raw.status.clone().unwrap_or(Value::Null);
    let Some(status) = desired.status_against(&current, &config.controller_names) else {
        return Ok(());
    };
    let mut patch = json!({ "status": status });
    if desired.shared_list.is_some() {
        // A list shared with other controllers is replaced whole: make the
        // write conditional on the version it was computed from.
        patch["metadata"] = json!({ "resourceVersion": raw.resource_version });
    }
    let resource = api_resource(&raw.api_version, desired.kind, desired.plural);
    let api: Api<DynamicObject> = if desired.namespace.is_empty() {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), &desired.namespace, &resource)
    };
    let params = PatchParams {
        field_manager: Some(config.field_manager.clone()),
        ..PatchParams::default()
    };
    match api
        .patch_status(&desired.name, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            tracing::debug!(kind = desired.kind, namespace = %desired.namespace, name = %desired.name, "status written");
            Ok(())
        }
        // Someone wrote meanwhile: the watch brings the new version, and
        // the next pass computes from it.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error),
    }
}

fn api_resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}
