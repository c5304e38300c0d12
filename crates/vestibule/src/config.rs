//! One configuration load: read files, translate, and keep what the admin
//! API and the metrics show.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use vestibule_api::load::{Diagnostic, Keep, Loaded, ParseCache};
use vestibule_api::Inputs;
use vestibule_kube::Document;
use vestibule_translate::{translate_cached, GatewayIdentity, TranslateCache, Translation};

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
    /// What was done again, when the load went through a [`Reuse`].
    pub counts: Option<Counts>,
}

/// What a load through a [`Reuse`] did again.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// Documents parsed (the others were reused from the last load).
    pub parsed: usize,
    /// VirtualServices bound (the others' last bindings were reused).
    pub bound: usize,
}

impl Counts {
    /// A change someone makes by hand: a few documents read again, a few
    /// VirtualServices bound again.
    pub fn small(self) -> bool {
        const FEW: usize = 64;
        self.parsed <= FEW && self.bound <= FEW
    }
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
    pub fn translate(&self, inputs: Inputs) -> Translation {
        self.translate_cached(inputs, &mut TranslateCache::default(), false)
    }

    /// [`Scope::translate`], reusing what `cache` kept of the last
    /// translation (the result is the same).
    pub fn translate_cached(
        &self,
        mut inputs: Inputs,
        cache: &mut TranslateCache,
        keep: bool,
    ) -> Translation {
        if let Some((namespace, name)) = &self.gateway {
            // Only that Gateway: no Istio Gateway, no Ingress, no other.
            inputs
                .kube_gateways
                .retain(|gateway| gateway.namespace() == namespace && gateway.name() == name);
            inputs.gateways.clear();
            inputs.ingresses.clear();
        }
        translate_cached(&inputs, &self.identity, cache, keep)
    }
}

/// What a reload reuses of the last one: the documents it parsed and the
/// VirtualServices it bound. A reload through it equals one from scratch.
///
/// A reload keeps what it parsed and bound only when it changed little
/// (see [`Keep::Few`]): keeping costs, and a reload that changed much would
/// serve later for it. The cache is filled afterwards instead, once the
/// reload serves ([`refill`]). The first load keeps nothing either: a
/// gateway that never reloads keeps no parsed documents and no second copy
/// of the statuses.
#[derive(Default)]
pub struct Reuse {
    pub parse: ParseCache,
    pub translate: TranslateCache,
}

impl Reuse {
    /// Whether the last load kept all the next one may reuse.
    pub fn complete(&self) -> bool {
        self.parse.complete() && self.translate.complete()
    }
}

/// Reads and translates the configured paths, reusing what `reuse` kept of
/// the last load and keeping this one's for the next (`None`: nothing is
/// reused or kept). `Err` holds every load error; per-resource translation
/// problems are in the statuses instead.
pub fn load(
    paths: &[PathBuf],
    scope: &Scope,
    max_file_bytes: u64,
    reuse: Option<&mut Reuse>,
) -> Result<Candidate, Vec<Diagnostic>> {
    let Some(reuse) = reuse else {
        let started = Instant::now();
        let loaded = vestibule_api::load::load_paths_with_limit(paths, max_file_bytes);
        return candidate(loaded, started, |inputs| (scope.translate(inputs), None));
    };
    load_kept(paths, scope, max_file_bytes, reuse, Keep::Few)
}

/// Loads the paths again to keep all of it in `reuse` (after a reload that
/// kept only part), dropping the result.
pub fn refill(paths: &[PathBuf], scope: &Scope, max_file_bytes: u64, reuse: &mut Reuse) {
    // Its errors, if any, were reported by the reload.
    let _ = load_kept(paths, scope, max_file_bytes, reuse, Keep::All);
}

fn load_kept(
    paths: &[PathBuf],
    scope: &Scope,
    max_file_bytes: u64,
    reuse: &mut Reuse,
    keep: Keep,
) -> Result<Candidate, Vec<Diagnostic>> {
    let started = Instant::now();
    let parse = &mut reuse.parse;
    let loaded = vestibule_api::load::load_paths_cached(paths, max_file_bytes, parse, keep);
    let (parsed, complete) = (parse.parsed(), parse.complete());
    candidate(loaded, started, |inputs| {
        // Bindings are kept when every document was: a binding names the
        // spec its document was parsed into.
        let translation = scope.translate_cached(inputs, &mut reuse.translate, complete);
        let counts = Counts {
            parsed,
            bound: reuse.translate.bound(),
        };
        (translation, Some(counts))
    })
}

/// `loaded` translated with `translate`, unless it has errors.
fn candidate(
    loaded: Loaded,
    started: Instant,
    translate: impl FnOnce(Inputs) -> (Translation, Option<Counts>),
) -> Result<Candidate, Vec<Diagnostic>> {
    let Loaded {
        inputs,
        errors,
        warnings,
        files,
        ..
    } = loaded;
    if !errors.is_empty() {
        return Err(errors);
    }
    let loaded = Instant::now();
    let (translation, counts) = translate(inputs);
    Ok(Candidate {
        translation,
        warnings,
        files,
        objects: Arc::new([]),
        took: Took {
            load: loaded - started,
            translate: loaded.elapsed(),
            counts,
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
