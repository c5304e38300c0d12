//! Kubernetes mode: the API server source, the leader election and the
//! status writer, started together and stopped together.

use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;
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
    election: Election,
    writer: JoinHandle<()>,
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
        };
        let writer = tokio::spawn(status::run(
            client,
            Arc::clone(&source),
            config,
            state.statuses.subscribe(),
            election.leading(),
        ));
        let _ = state.kubernetes.set(KubeView {
            source: Arc::clone(&source),
            leading: election.leading(),
        });
        Ok(Kubernetes {
            source,
            election,
            writer,
        })
    }

    pub fn source(&self) -> Arc<Source> {
        Arc::clone(&self.source)
    }

    /// Stops writing status and gives the Lease up at once.
    pub async fn stop(mut self) {
        self.writer.abort();
        self.election.release().await;
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
