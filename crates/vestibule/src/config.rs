//! One configuration load: read files, translate, and keep what the admin
//! API and the metrics show.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use vestibule_api::load::{Diagnostic, Loaded};
use vestibule_api::Inputs;
use vestibule_kube::Document;
use vestibule_translate::{translate, GatewayIdentity, Translation};

/// A configuration that loaded without errors, translated.
#[derive(Debug, Serialize)]
pub struct Applied {
    pub generation: u64,
    pub translation: Translation,
    pub warnings: Vec<Diagnostic>,
    pub files: Vec<PathBuf>,
    /// Kubernetes mode: the objects translated (empty in file mode).
    #[serde(skip)]
    pub objects: Arc<[Document]>,
}

impl Applied {
    /// A configuration that loaded cleanly, as generation `generation`.
    pub fn new(generation: u64, candidate: Candidate) -> Applied {
        Applied {
            generation,
            translation: candidate.translation,
            warnings: candidate.warnings,
            files: candidate.files,
            objects: candidate.objects,
        }
    }
}

/// A loaded, translated configuration not yet serving.
pub struct Candidate {
    pub translation: Translation,
    pub warnings: Vec<Diagnostic>,
    pub files: Vec<PathBuf>,
    pub objects: Arc<[Document]>,
    /// How long reading and translating took (logged when it serves).
    pub took: Took,
}

/// The time each step of a load took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Took {
    pub load: std::time::Duration,
    pub translate: std::time::Duration,
}

/// Who this process serves: the gateway identity, and the one Gateway
/// API Gateway it is limited to (an automatically deployed Gateway's pods).
#[derive(Debug, Clone)]
pub struct Scope {
    pub identity: GatewayIdentity,
    pub gateway: Option<(String, String)>,
}

impl Scope {
    /// Translates `inputs` for this scope.
    pub fn translate(&self, mut inputs: Inputs) -> Translation {
        if let Some((namespace, name)) = &self.gateway {
            // Only that Gateway: no Istio Gateway, no Ingress, no other.
            inputs
                .kube_gateways
                .retain(|gateway| gateway.namespace() == namespace && gateway.name() == name);
            inputs.gateways.clear();
            inputs.ingresses.clear();
        }
        translate(&inputs, &self.identity)
    }
}

/// Reads and translates the configured paths. `Err` holds every load error;
/// per-resource translation problems are in the statuses instead.
pub fn load(
    paths: &[PathBuf],
    scope: &Scope,
    max_file_bytes: u64,
) -> Result<Candidate, Vec<Diagnostic>> {
    let started = Instant::now();
    let Loaded {
        inputs,
        errors,
        warnings,
        files,
        ..
    } = vestibule_api::load::load_paths_with_limit(paths, max_file_bytes);
    if !errors.is_empty() {
        return Err(errors);
    }
    let loaded = Instant::now();
    let translation = scope.translate(inputs);
    Ok(Candidate {
        translation,
        warnings,
        files,
        objects: Arc::new([]),
        took: Took {
            load: loaded - started,
            translate: loaded.elapsed(),
        },
    })
}

/// Translation problems, one line each, naming the resource and its source.
pub fn translation_problems(translation: &Translation) -> Vec<String> {
    let statuses = &translation.statuses;
    let mut problems: Vec<String> = statuses.errors.clone();
    for vs in &statuses.virtual_services {
        for condition in vs
            .conditions
            .iter()
            .filter(|c| !c.is_true() && c.reason == "Invalid")
        {
            problems.push(format!(
                "{}: VirtualService {}/{}: {}",
                vs.source, vs.namespace, vs.name, condition.message
            ));
        }
    }
    problems
}
