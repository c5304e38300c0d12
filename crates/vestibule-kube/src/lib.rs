//! Kubernetes mode: the API server as the configuration source (kube-rs
//! watchers per kind, the same translator as file mode), status written
//! back by one elected replica, and the gateway's own addresses.
#![forbid(unsafe_code)]

pub mod deploy;
mod health;
mod kinds;
pub mod leader;
mod objects;
pub mod snapshot;
pub mod source;
pub mod status;
mod time;

pub use health::{KindHealth, KindState};
pub use objects::Raw;
pub use snapshot::Document;
pub use source::{Change, ChangeEffect, GatewayApi, Source};

/// Why the Kubernetes mode could not start or do its work.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("Kubernetes client configuration: {0}")]
    Config(String),
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
}

/// A client from `kubeconfig` if given, else `KUBECONFIG`, `~/.kube/config`
/// or the in-cluster service account.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, KubeError> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|error| KubeError::Config(format!("{}: {error}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|error| KubeError::Config(format!("{}: {error}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|error| KubeError::Config(error.to_string()))?,
    };
    Ok(kube::Client::try_from(config)?)
}
