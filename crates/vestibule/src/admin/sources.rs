//! `GET /config/sources`: the configuration files this gateway serves, as
//! it read them, with who it is (its identity and scope), so that
//! `vestibule explain --admin ADDR` explains a request against exactly
//! what is serving, from anywhere the admin address is reachable.
//!
//! File mode only: in Kubernetes mode the resources live in the API
//! server, and the answer says so (501). Secrets are withheld: each
//! Secret document's lines are blanked (so every other line keeps its
//! number), and the answer counts them.

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
    /// what serves (the generation before them).
    pub last_reload_rejected: bool,
    /// Secret documents left out of the texts.
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
    if state.kubernetes.get().is_some() {
        return super::text(
            StatusCode::NOT_IMPLEMENTED,
            "Kubernetes mode: the resources are the API server's; run explain --config on \
             the manifests\n"
                .to_owned(),
        );
    }
    let (Some(applied), Some(scope)) = (state.applied.load_full(), state.scope.get()) else {
        return super::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no configuration applied yet\n".to_owned(),
        );
    };
    let mut files = Vec::with_capacity(applied.files.len());
    let mut secrets_withheld = 0;
    for path in &applied.files {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let (text, withheld) = without_secrets(&text);
                secrets_withheld += withheld;
                files.push(SourceFile {
                    path: path.display().to_string(),
                    text,
                });
            }
            Err(error) => {
                return super::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{}: {error}\n", path.display()),
                )
            }
        }
    }
    super::json_response(&ConfigSources {
        generation: applied.generation,
        last_reload_rejected: !state.last_reload.load().ok,
        secrets_withheld,
        identity: Identity::of(&scope.identity),
        gateway: scope.gateway.clone(),
        files,
    })
}

/// `text` with every `kind: Secret` document's lines blanked (the `---`
/// between documents kept), and how many there were.
fn without_secrets(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut withheld = 0;
    let mut document: Vec<&str> = Vec::new();
    let mut flush = |document: &mut Vec<&str>, out: &mut String| {
        let secret = document
            .iter()
            .any(|line| line.trim_end() == "kind: Secret" || line.trim_end() == "kind: \"Secret\"");
        withheld += usize::from(secret);
        for line in document.drain(..) {
            if !secret {
                out.push_str(line);
            }
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with("---") {
            flush(&mut document, &mut out);
            out.push_str(line);
            out.push('\n');
        } else {
            document.push(line);
        }
    }
    flush(&mut document, &mut out);
    (out, withheld)
}

#[cfg(test)]
mod tests {
    use super::without_secrets;

    #[test]
    fn secret_documents_are_blanked_line_for_line() {
        let text = "kind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\ndata:\n  tls.key: c2VjcmV0\n---\nkind: Service\n";
        let (kept, withheld) = without_secrets(text);
        assert_eq!(withheld, 1);
        assert!(!kept.contains("c2VjcmV0"));
        assert_eq!(kept.lines().count(), text.lines().count());
        assert_eq!(kept.lines().nth(8), Some("kind: Service"));
    }
}
