//! One configuration load: read files, translate, and keep what the admin
//! API and the metrics show.

use std::path::PathBuf;

use serde::Serialize;
use vestibule_api::load::{Diagnostic, Loaded};
use vestibule_translate::{translate, GatewayIdentity, Translation};

/// A configuration that loaded without errors, translated.
#[derive(Debug, Serialize)]
pub struct Applied {
    pub generation: u64,
    pub translation: Translation,
    pub warnings: Vec<Diagnostic>,
    pub files: Vec<PathBuf>,
}

impl Applied {
    /// A configuration that loaded cleanly, as generation `generation`.
    pub fn new(generation: u64, candidate: Candidate) -> Applied {
        Applied {
            generation,
            translation: candidate.translation,
            warnings: candidate.warnings,
            files: candidate.files,
        }
    }
}

/// A loaded, translated configuration not yet serving.
pub struct Candidate {
    pub translation: Translation,
    pub warnings: Vec<Diagnostic>,
    pub files: Vec<PathBuf>,
}

/// Reads and translates the configured paths. `Err` holds every load error;
/// per-resource translation problems are in the statuses instead.
pub fn load(
    paths: &[PathBuf],
    identity: &GatewayIdentity,
    max_file_bytes: u64,
) -> Result<Candidate, Vec<Diagnostic>> {
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
    let translation = translate(&inputs, identity);
    Ok(Candidate {
        translation,
        warnings,
        files,
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
