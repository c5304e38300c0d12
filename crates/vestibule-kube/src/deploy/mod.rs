//! Gateway API automated deployment, as Istio does it: every Gateway of
//! our classes that is not in the manual mode (see [`mode`]) gets a
//! ServiceAccount, a Service and a Deployment of its own (see [`render`]),
//! owned by the Gateway so that garbage collection removes them with it.
//! The pods run this image scoped to that one Gateway (`--gateway`); they
//! neither write status nor deploy: the elected replica of the controller
//! does both, as istiod does for Istio's gateways.
//!
//! Only the elected replica applies, with server-side apply, and only what
//! changed since it last applied (see [`apply`]).

mod apply;
pub mod mode;
pub mod render;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::watch;

use crate::source::Source;
pub use mode::Mode;

/// How often a pass runs with nothing new: a failed apply is tried again.
const RESYNC: Duration = Duration::from_secs(5);
/// How often everything is applied again even if this replica believes it
/// is in place (an object deleted by hand comes back).
const REASSERT: Duration = Duration::from_secs(600);

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
}

/// The deployer's settings.
#[derive(Debug, Clone)]
pub struct DeployConfig {
    /// GatewayClass `controllerName`s that are ours.
    pub controller_names: Vec<String>,
    /// The deployed pods' image: this process's own.
    pub image: String,
    pub field_manager: String,
    /// The ClusterRole the deployed pods need (read access, as the
    /// gateway's own): a ClusterRoleBinding of the same name lists every
    /// deployed Gateway's ServiceAccount. `None`: bound by the user.
    pub reader_role: Option<String>,
}

/// Runs until the process stops: a pass whenever the object set changes,
/// this replica becomes the leader, or [`RESYNC`] passes.
pub async fn run(
    client: Client,
    source: Arc<Source>,
    config: DeployConfig,
    mut leading: watch::Receiver<bool>,
) {
    let mut revisions = source.revisions();
    let mut applier = apply::Applier::new(client, config.field_manager.clone());
    let mut asserted = Instant::now();
    loop {
        revisions.borrow_and_update();
        let lead = *leading.borrow_and_update();
        if !lead {
            // Whoever leads next applies what it renders, from scratch.
            applier.forget();
        } else if source.listed() {
            if asserted.elapsed() >= REASSERT {
                applier.forget();
                asserted = Instant::now();
            }
            applier.sync(desired(&source, &config)).await;
        }
        tokio::select! {
            changed = revisions.changed() => if changed.is_err() { return },
            changed = leading.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(RESYNC) => {}
        }
    }
}

/// Every object the deployer wants, from the Gateways as they are now.
pub fn desired(source: &Source, config: &DeployConfig) -> Vec<render::Object> {
    let all = source.gateway_api();
    let settings = render::Settings {
        image: &config.image,
        controller_names: &config.controller_names,
    };
    let mut objects = Vec::new();
    let mut accounts = Vec::new();
    for gateway in &all.gateways {
        let deployed = matches!(
            mode::mode(gateway, &all.classes, &config.controller_names, true),
            Some(Mode::Automated { .. })
        );
        let controller = mode::class_controller(gateway, &all.classes);
        let (true, Some(controller)) = (deployed, controller) else {
            continue;
        };
        if let Some(rendered) = render::gateway_objects(gateway, controller, &settings) {
            objects.extend(rendered);
            accounts.push((
                gateway.meta.namespace.clone(),
                render::service_account_name(gateway),
            ));
        }
    }
    if let Some(role) = &config.reader_role {
        accounts.sort();
        accounts.dedup();
        objects.push(render::reader_binding(role, &accounts));
    }
    objects
}

#[cfg(test)]
pub(crate) mod tests {
    use vestibule_api::{Inputs, Loaded};

    /// The resources of a YAML text, as the file loader reads them.
    pub(crate) fn inputs(yaml: &str) -> Inputs {
        let mut loaded = Loaded::default();
        vestibule_api::load_str("test.yaml", yaml, &mut loaded);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        loaded.inputs
    }
}
