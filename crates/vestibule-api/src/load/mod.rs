//! The manifest loader: reads Kubernetes and Istio objects from YAML and JSON
//! files into typed [`Inputs`], and reports every problem with file, line,
//! column and field path.
//!
//! How a document is read:
//! 1. YAML files are split at `---`/`...` lines ([`split`]); each document
//!    keeps its line offset so that reported lines are lines of the file.
//! 2. A lenient header read (`apiVersion`, `kind`, `metadata.name`) picks the
//!    kind from the dispatch table ([`kinds`]); `List`s are read item by item.
//! 3. The typed read of metadata and body runs under `serde_path_to_error`
//!    (the field path of an error) and `serde_ignored` (unknown fields); the
//!    parser supplies the line and column.
//!
//! Steps 2 and 3 first try the document's tree ([`tree`]): the text parsed
//! once, read strictly. Only a document whose values do not fit their
//! fields is parsed again, directly, which is where every diagnostic comes
//! from; so diagnostics are unchanged and a large set costs one parse per
//! document instead of three.

mod cache;
mod context;
mod diagnostic;
mod dispatch;
mod doc;
mod files;
mod header;
mod json;
mod kinds;
mod list;
mod locate;
mod path;
mod select;
pub(crate) mod split;
pub(crate) mod subset;
pub(crate) mod tree;
mod yaml;

use std::path::PathBuf;

pub use cache::{Keep, ParseCache};
pub use diagnostic::Diagnostic;
pub use files::DEFAULT_MAX_FILE_BYTES;

use crate::Inputs;
use doc::{Doc, Format};

/// What loading a set of files produced.
#[derive(Debug, Default)]
pub struct Loaded {
    pub inputs: Inputs,
    /// Any error means the set is invalid.
    pub errors: Vec<Diagnostic>,
    /// Unknown kinds, unknown fields, duplicates: things ignored or overridden.
    pub warnings: Vec<Diagnostic>,
    /// Files actually read, in order.
    pub files: Vec<PathBuf>,
    /// A hash of every (kind, namespace, name) inserted so far: duplicates
    /// are found without scanning the lists (10k objects would make that
    /// quadratic), and without a copy of each name. A hash seen before is
    /// confirmed in the list: two names may share one.
    seen: rustc_hash::FxHashSet<u64>,
    /// Set while a document is parsed for the [`ParseCache`].
    recording: Option<cache::Recording>,
    /// The name of the file being read, shared by its objects' sources.
    file: Option<std::sync::Arc<str>>,
}

impl Loaded {
    /// `file`, shared with the objects read from it before.
    pub(crate) fn shared_file(&mut self, file: &str) -> std::sync::Arc<str> {
        match &self.file {
            Some(shared) if **shared == *file => std::sync::Arc::clone(shared),
            _ => std::sync::Arc::clone(self.file.insert(file.into())),
        }
    }

    /// Whether the set can be used: no errors.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Why a file could not be read (its path is in the [`Diagnostic`]).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("file is {size} bytes, larger than the limit of {limit} bytes (--max-config-file-mb)")]
    TooLarge { size: u64, limit: u64 },
    #[error("file is not valid UTF-8 (line {line})")]
    NotUtf8 { line: u32 },
}

/// Loads files and directories. A directory is read non-recursively: files
/// ending `.yaml`/`.yml`/`.json`, skipping dotfiles, sorted by name. A path
/// that does not exist or cannot be read is an error [`Diagnostic`].
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    load_paths_with_limit(paths, DEFAULT_MAX_FILE_BYTES)
}

/// [`load_paths`], refusing files larger than `max_file_bytes`.
pub fn load_paths_with_limit(paths: &[PathBuf], max_file_bytes: u64) -> Loaded {
    files::load_paths(paths, max_file_bytes, &mut load_str)
}

/// [`load_paths_with_limit`], parsing only the documents that are not in
/// `cache` unchanged (same file, place and text); the result is the same
/// as without it. `cache` is left holding this load's documents.
pub fn load_paths_cached(
    paths: &[PathBuf],
    max_file_bytes: u64,
    cache: &mut ParseCache,
    keep: Keep,
) -> Loaded {
    let mut old = cache.start();
    let loaded = files::load_paths(paths, max_file_bytes, &mut |file, text, into| {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let docs = documents(file, text);
        cache::load_documents(file, &docs, into, &mut old, cache, keep);
    });
    loaded
}

/// Loads one file's text into `into`. `file` is only used in messages and to
/// pick the format: JSON when it ends with `.json`, YAML otherwise.
pub fn load_str(file: &str, text: &str, into: &mut Loaded) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for doc in documents(file, text) {
        dispatch::load_document(file, &doc, into);
    }
}

/// Loads one JSON object (an object read from the Kubernetes API) into
/// `into`; `label` names it in messages.
pub fn load_json(label: &str, text: &str, into: &mut Loaded) {
    for doc in json_document(text) {
        dispatch::load_document(label, &doc, into);
    }
}

/// The file line of the field at `path` (`spec.http[2]`, keys joined by
/// `.`, list indices in brackets) in the resource whose [`crate::Source`]
/// line is `resource_line` in the YAML file `text`: where a rule or a
/// backend of a resource was written, for tools that point at it (`vestibule
/// explain`). A resource that is an item of a `kind: List` is found among
/// the list's `items`. `None` when the field cannot be placed (a JSON file,
/// a path that is not there).
pub fn locate_field(text: &str, resource_line: u32, path: &str) -> Option<u32> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let field = parse_field_path(path)?;
    let chunk = split::split_documents(text)
        .into_iter()
        .rev()
        .find(|chunk| chunk.first_line <= resource_line)?;
    let doc = Doc::new(
        chunk.text,
        Format::Yaml,
        chunk.line_offset,
        chunk.first_line,
    );
    if chunk.first_line == resource_line {
        return doc.locate(&field).map(|(line, _)| line);
    }
    // A List item: the item whose first line is the resource's.
    (0..)
        .map_while(|index| {
            let item = path::FieldPath::default().key("items").index(index);
            let (line, _) = doc.locate(&item)?;
            Some((line, item))
        })
        .find(|(line, _)| *line == resource_line)
        .and_then(|(_, item)| doc.locate(&item.join(&field)))
        .map(|(line, _)| line)
}

/// `spec.rules[0].http.paths[1]` as a [`path::FieldPath`].
fn parse_field_path(path: &str) -> Option<path::FieldPath> {
    let mut field = path::FieldPath::default();
    for piece in path.split('.').filter(|piece| !piece.is_empty()) {
        let (key, mut rest) = piece
            .split_once('[')
            .map_or((piece, ""), |(key, rest)| (key, rest));
        if !key.is_empty() {
            field = field.key(key);
        }
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']')?;
            field = field.index(index.parse().ok()?);
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    Some(field)
}

fn documents<'a>(file: &str, text: &'a str) -> Vec<Doc<'a>> {
    if file.to_ascii_lowercase().ends_with(".json") {
        return json_document(text);
    }
    split::split_documents(text)
        .into_iter()
        .map(|chunk| {
            Doc::new(
                chunk.text,
                Format::Yaml,
                chunk.line_offset,
                chunk.first_line,
            )
        })
        .collect()
}

fn json_document(text: &str) -> Vec<Doc<'_>> {
    let first = text.lines().position(|l| !l.trim().is_empty());
    first
        .map(|i| {
            Doc::new(
                text,
                Format::Json,
                0,
                u32::try_from(i + 1).unwrap_or(u32::MAX),
            )
        })
        .into_iter()
        .collect()
}
