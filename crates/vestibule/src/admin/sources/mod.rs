//! `GET /config/sources`: the configuration this gateway serves, as it
//! read it, with who it is (its identity and scope), so that `vestibule
//! explain --admin ADDR` explains a request against exactly what is
//! serving, from anywhere the admin address is reachable.
//!
//! In file mode, the files ([`files`]); in Kubernetes mode, the objects
//! the serving generation was translated from, one YAML document each
//! ([`kubernetes`]). Secrets are withheld either way, and counted.

mod files;
mod kubernetes;

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

use crate::state::ControlState;

/// What the endpoint answers, and what `explain --admin` reads.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSources {
    pub generation: u64,
    /// The last reload was rejected: the files on disk (these) are not
    /// what serves (the generation before them). File mode only: in
    /// Kubernetes mode a refused object is left out, never the whole set.
    pub last_reload_rejected: bool,
    /// Secrets left out of the texts (file mode: documents blanked).
    pub secrets_withheld: usize,
    pub identity: Identity,
    /// `[namespace, name]` of the one Gateway this process is limited to.
    pub gateway: Option<(String, String)>,
    pub files: Vec<SourceFile>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub labels: std::collections::BTreeMap<String, String>,
    pub namespace: String,
    pub controller_names: Vec<String>,
    pub ingress_class: String,
}

/// A file, or in Kubernetes mode one object as a YAML document named
/// `kubernetes:NAMESPACE/KIND.GROUP/NAME`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

impl Identity {
    pub fn of(identity: &vestibule_translate::GatewayIdentity) -> Identity {
        Identity {
            labels: identity.labels.clone(),
            namespace: identity.namespace.clone(),
            controller_names: identity.controller_names.clone(),
            ingress_class: identity.ingress_class.clone(),
        }
    }

    pub fn into_identity(self) -> vestibule_translate::GatewayIdentity {
        vestibule_translate::GatewayIdentity {
            labels: self.labels,
            namespace: self.namespace,
            controller_names: self.controller_names,
            ingress_class: self.ingress_class,
        }
    }
}

pub(super) fn config_sources(state: &Arc<ControlState>) -> Response<Full<Bytes>> {
    let (Some(applied), Some(scope)) = (state.applied.load_full(), state.scope.get()) else {
        return super::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no configuration applied yet\n".to_owned(),
        );
    };
    let read = if state.kubernetes.get().is_some() {
        kubernetes::render(&applied.objects)
    } else {
        files::read(&applied.files)
    };
    let (files, secrets_withheld) = match read {
        Ok(read) => read,
        Err(error) => return super::text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    };
    super::json_response(&ConfigSources {
        generation: applied.generation,
        last_reload_rejected: !state.last_reload.load().ok,
        secrets_withheld,
        identity: Identity::of(&scope.identity),
        gateway: scope.gateway.clone(),
        files,
    })
}
