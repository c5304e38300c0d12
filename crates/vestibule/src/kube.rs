//! Kubernetes mode: the API server source, the leader election, the status
//! writer and the deployer, started together and stopped together.
//!
//! A process scoped to one Gateway (`--gateway`, the pods of an
//! automatically deployed Gateway) only serves: as Istio's deployed
//! gateways leave status to istiod, it takes no Lease, writes no status and
//! deploys nothing; the controller's elected replica does all three.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vestibule_kube::deploy::{self, DeployConfig};
use vestibule_kube::leader::{Election, LeaseConfig};
use vestibule_kube::status::{self, WriterConfig};
use vestibule_kube::Source;

use crate::cli::ServeArgs;
use crate::config::Scope;
use crate::state::{ControlState, KubeView};

/// The Lease the replicas elect a status writer with.
const LEASE_NAME: &str = "vestibule-status-leader";
/// The gateway Service's name when `--gateway-service` does not say
/// (Istio's ingress gateway Service).
const DEFAULT_SERVICE: &str = "istio-ingressgateway";
const FIELD_MANAGER: &str = "vestibule";

pub struct Kubernetes {
    source: Arc<Source>,
    election: Option<Election>,
    tasks: Vec<JoinHandle<()>>,
}

impl Kubernetes {
    pub async fn start(
        args: &ServeArgs,
        state: Arc<ControlState>,
        scope: &Scope,
    ) -> anyhow::Result<Kubernetes> {
        let kube = &args.kube;
        let client = vestibule_kube::client(kube.kubeconfig.as_deref())
            .await
            .context("connecting to the Kubernetes API")?;
        let source = Arc::new(Source::start(client.clone(), kube.discovery_interval));
        if scope.gateway.is_some() {
            let _ = state.kubernetes.set(KubeView {
                source: Arc::clone(&source),
                leading: watch::channel(false).1,
            });
            return Ok(Kubernetes {
                source,
                election: None,
                tasks: Vec::new(),
            });
        }
        let namespace = &scope.identity.namespace;
        let election = Election::start(
            client.clone(),
            LeaseConfig {
                namespace: kube
                    .leader_election_namespace
                    .clone()
                    .unwrap_or_else(|| namespace.clone()),
                name: LEASE_NAME.to_owned(),
                holder: kube.pod_name.clone().unwrap_or_else(host_name),
                duration: kube.lease_duration,
            },
        );
        let config = WriterConfig {
            controller_names: scope.identity.controller_names.clone(),
            gateway_service: kube
                .gateway_service
                .clone()
                .unwrap_or_else(|| (namespace.clone(), DEFAULT_SERVICE.to_owned())),
            field_manager: FIELD_MANAGER.to_owned(),
            deploy_gateways: kube.deploy_gateways,
        };
        let mut tasks = vec![tokio::spawn(status::run(
            client.clone(),
            Arc::clone(&source),
            config,
            state.statuses.subscribe(),
            election.leading(),
        ))];
        if kube.deploy_gateways {
            let config = DeployConfig {
                controller_names: scope.identity.controller_names.clone(),
                image: kube.deploy_image.clone(),
                field_manager: FIELD_MANAGER.to_owned(),
                reader_role: kube.deploy_reader_role.clone(),
            };
            tasks.push(tokio::spawn(deploy::run(
                client,
                Arc::clone(&source),
                config,
                election.leading(),
            )));
        }
        let _ = state.kubernetes.set(KubeView {
            source: Arc::clone(&source),
            leading: election.leading(),
        });
        Ok(Kubernetes {
            source,
            election: Some(election),
            tasks,
        })
    }

    pub fn source(&self) -> Arc<Source> {
        Arc::clone(&self.source)
    }

    /// Stops writing status and deploying, and gives the Lease up at once.
    pub async fn stop(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(election) = self.election.as_mut() {
            election.release().await;
        }
    }
}

/// This host's name (a pod's name in Kubernetes), else a random one.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("vestibule-{}", std::process::id()))
}
