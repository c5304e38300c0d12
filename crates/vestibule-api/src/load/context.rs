//! The per-object step: typed parse of metadata and body, checks, unknown
//! field warnings, and insertion into [`Inputs`] with duplicate detection.

use std::any::TypeId;
use std::hash::BuildHasher;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::cache::{Replay, Typed};
use super::doc::{Doc, Failure, Parsed};
use super::header::Header;
use super::path::{shape_is_under, FieldPath};
use super::{Diagnostic, Loaded};
use crate::{Inputs, ObjectMeta, Resource, Source, DEFAULT_NAMESPACE};

/// What a kind's body type must be to be read and kept by the parse cache.
pub(crate) trait Kind:
    DeserializeOwned + Default + Clone + std::fmt::Debug + Send + Sync + 'static
{
}

impl<S: DeserializeOwned + Default + Clone + std::fmt::Debug + Send + Sync + 'static> Kind for S {}

/// What the warning about a duplicate of an object says, but where the
/// other one was read.
#[derive(Debug, Clone)]
pub(crate) struct Note {
    /// `VirtualService default/reviews`.
    pub(crate) label: String,
    /// The warning, its message empty.
    pub(crate) at: Diagnostic,
}

/// The warning that `note`'s object replaced the one read at `previous`.
pub(crate) fn duplicate_warning(note: &Note, previous: &Source) -> Diagnostic {
    Diagnostic {
        message: format!(
            "duplicate {}: also defined at {previous}; the one read last (here) is used",
            note.label
        ),
        ..note.at.clone()
    }
}

/// Adds `resource` to its list, replacing one with the same namespace and
/// name; where the replaced one was read.
pub(crate) fn insert<S: 'static>(
    out: &mut Loaded,
    list: fn(&mut Inputs) -> &mut Vec<Resource<S>>,
    resource: Resource<S>,
) -> Option<Source> {
    let key = (
        TypeId::of::<S>(),
        resource.meta.namespace.as_str(),
        resource.meta.name.as_str(),
    );
    let duplicate = !out.seen.insert(rustc_hash::FxBuildHasher.hash_one(key));
    let list = list(&mut out.inputs);
    let previous = if duplicate {
        list.iter()
            .position(|r| {
                r.meta.namespace == resource.meta.namespace && r.meta.name == resource.meta.name
            })
            .map(|i| list.remove(i).source)
    } else {
        None
    };
    list.push(resource);
    previous
}

/// Top-level fields that are never reported as ignored.
const ALWAYS_TOLERATED: &[&str] = &["apiVersion", "kind", "metadata", "status"];

/// Where the typed body of a kind is in its document.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body {
    /// Under `spec`.
    Spec,
    /// Under `status` (Pod).
    Status,
    /// The document's top-level fields (EndpointSlice, Endpoints, Secret).
    Root,
}

/// How one kind is read.
pub(crate) struct Rules<S: 'static> {
    pub(crate) body: Body,
    /// Field shapes (`spec.ports[].nodePort`) that Kubernetes defines but
    /// vestibule does not model: not worth a warning.
    pub(crate) tolerated: &'static [&'static str],
    /// Checks the parse cannot express; returns (path, message) per problem.
    pub(crate) check: fn(&S) -> Vec<(FieldPath, String)>,
    pub(crate) list: fn(&mut Inputs) -> &mut Vec<Resource<S>>,
}

pub(crate) fn no_check<S>(_: &S) -> Vec<(FieldPath, String)> {
    Vec::new()
}

#[derive(Deserialize)]
struct MetaOf {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
}

#[derive(Deserialize)]
struct SpecOf<S> {
    #[serde(default = "Option::default")]
    spec: Option<S>,
}

#[derive(Deserialize)]
struct StatusOf<S> {
    #[serde(default = "Option::default")]
    status: Option<S>,
}

/// One object being loaded: a document, or one item of a List.
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
    pub(crate) doc: &'a Doc<'a>,
    /// `Some(i)` when the object is `items[i]` of `doc`, read in place.
    pub(crate) item: Option<usize>,
    /// Prepended to reported field paths (`items[i]` for a List item cut out of its List).
    pub(crate) prefix: FieldPath,
    pub(crate) header: &'a Header,
    /// File line of the object's first line.
    pub(crate) line: u32,
    pub(crate) out: &'a mut Loaded,
}

impl Ctx<'_> {
    /// Reads the object as a `Resource<S>` and adds it, or reports why not.
    pub(crate) fn load<S: Kind>(&mut self, rules: &Rules<S>) {
        let meta = self
            .read::<MetaOf>()
            .map(|p| p.value.metadata.unwrap_or_default());
        let body = self.parse_body::<S>(rules.body);
        let (Some(mut meta), Some(body)) = (meta, body) else {
            return;
        };
        if meta.name.is_empty() {
            let path = self.in_object(FieldPath::default().key("metadata").key("name"));
            self.error(
                self.line,
                0,
                &path,
                "metadata.name is required; resource skipped",
            );
            return;
        }
        if meta.namespace.is_empty() {
            meta.namespace = DEFAULT_NAMESPACE.to_owned();
        }
        let problems = (rules.check)(&body.value);
        for (path, message) in &problems {
            self.error_at(&self.in_object(path.clone()), message);
        }
        if !problems.is_empty() {
            return;
        }
        self.warn_ignored(&body.ignored, rules.tolerated);
        let resource = Resource {
            type_meta: std::sync::Arc::new(self.header.type_meta.clone()),
            meta: std::sync::Arc::new(meta),
            spec: std::sync::Arc::new(body.value),
            source: Source {
                file: self.out.shared_file(self.file),
                line: self.line,
            },
        };
        self.insert(rules.list, resource);
    }

    fn parse_body<S: DeserializeOwned + Default>(&mut self, body: Body) -> Option<Parsed<S>> {
        match body {
            Body::Root => self.read::<S>(),
            Body::Spec => self.read::<SpecOf<S>>().map(|p| Parsed {
                value: p.value.spec.unwrap_or_default(),
                ignored: p.ignored,
            }),
            Body::Status => self.read::<StatusOf<S>>().map(|p| Parsed {
                value: p.value.status.unwrap_or_default(),
                ignored: p.ignored,
            }),
        }
    }

    /// Parses the object as `T`, reporting a failure as an error.
    pub(crate) fn parse<T: DeserializeOwned>(&mut self) -> Option<Parsed<T>> {
        let parsed = self.doc.parse::<T>(self.item);
        self.reported(parsed)
    }

    /// Like [`Ctx::parse`], from the document's tree when it fits ([`Doc::read`]).
    fn read<T: DeserializeOwned>(&mut self) -> Option<Parsed<T>> {
        let parsed = self.doc.read::<T>(self.item);
        self.reported(parsed)
    }

    fn reported<T>(&mut self, parsed: Result<Parsed<T>, Failure>) -> Option<Parsed<T>> {
        match parsed {
            Ok(parsed) => Some(parsed),
            Err(failure) => {
                self.failure(failure);
                None
            }
        }
    }

    pub(crate) fn failure(&mut self, failure: Failure) {
        let line = if failure.line > 0 {
            failure.line
        } else {
            self.line
        };
        self.error(line, failure.column, &failure.path, &failure.message);
    }

    /// The path, within `doc`, of a path within the object.
    pub(crate) fn in_object(&self, path: FieldPath) -> FieldPath {
        match self.item {
            Some(i) => FieldPath::default().key("items").index(i).join(&path),
            None => path,
        }
    }

    /// The path, within the object, of a path within `doc`.
    fn in_doc(&self, path: &FieldPath) -> Option<FieldPath> {
        match self.item {
            Some(i) => path.strip_prefix(&FieldPath::default().key("items").index(i)),
            None => Some(path.clone()),
        }
    }

    /// Warns about each field the typed parse skipped, unless tolerated.
    fn warn_ignored(&mut self, ignored: &[FieldPath], tolerated: &[&str]) {
        for path in ignored {
            let Some(relative) = self.in_doc(path) else {
                continue;
            };
            let shape = relative.shape();
            let skip = relative.is_empty()
                || ALWAYS_TOLERATED
                    .iter()
                    .chain(tolerated)
                    .any(|pattern| shape_is_under(&shape, pattern));
            if !skip {
                self.warn_at(path, "unknown or unsupported field, ignored");
            }
        }
    }

    /// Adds `resource`, replacing (and warning about) one with the same
    /// namespace and name; records it when the load is for the parse cache.
    fn insert<S: Kind>(
        &mut self,
        list: fn(&mut Inputs) -> &mut Vec<Resource<S>>,
        resource: Resource<S>,
    ) {
        let recorded = self.out.recording.is_some().then(|| Typed {
            resource: resource.clone(),
            list,
            note: self.note(),
        });
        let before = self.out.warnings.len();
        let previous = insert(self.out, list, resource);
        if let Some(previous) = &previous {
            let warning = duplicate_warning(&self.note(), previous);
            self.out.warnings.push(warning);
        }
        if let (Some(recording), Some(typed)) = (&mut self.out.recording, recorded) {
            let replay: Box<dyn Replay> = Box::new(typed);
            recording
                .inserted
                .push((replay, before, previous.is_some()));
        }
    }

    /// What a warning about a duplicate of this object says.
    fn note(&self) -> Note {
        Note {
            label: format!(
                "{} {}/{}",
                self.header.type_meta.kind,
                self.header.namespace_or_default(),
                self.header.name
            ),
            at: self.diagnostic(self.line, 0, &self.in_object(FieldPath::default()), ""),
        }
    }

    /// Position of a path within `doc`, falling back to the object's line.
    fn position(&self, path: &FieldPath) -> (u32, u32) {
        self.doc.locate(path).unwrap_or((self.line, 0))
    }

    /// An error at the position of `path` (a path within `doc`).
    fn error_at(&mut self, path: &FieldPath, message: &str) {
        let (line, column) = self.position(path);
        self.error(line, column, path, message);
    }

    /// A warning at the position of `path` (a path within `doc`).
    fn warn_at(&mut self, path: &FieldPath, message: &str) {
        let (line, column) = self.position(path);
        self.warn(line, column, path, message);
    }

    /// Reports an error; `path` is a path within `doc`.
    pub(crate) fn error(&mut self, line: u32, column: u32, path: &FieldPath, message: &str) {
        let d = self.diagnostic(line, column, path, message);
        self.out.errors.push(d);
    }

    /// Reports a warning; `path` is a path within `doc`.
    pub(crate) fn warn(&mut self, line: u32, column: u32, path: &FieldPath, message: &str) {
        let d = self.diagnostic(line, column, path, message);
        self.out.warnings.push(d);
    }

    fn diagnostic(&self, line: u32, column: u32, path: &FieldPath, message: &str) -> Diagnostic {
        Diagnostic {
            file: self.file.to_owned(),
            line,
            column,
            field: self.prefix.join(path).to_string(),
            message: message.to_owned(),
            resource: self.header.resource(),
        }
    }
}
