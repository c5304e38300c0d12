//! Documents read by an earlier load, found again by their file and a hash
//! of their text: a reload parses only the documents that changed and
//! replays the others.
//!
//! A document is kept when it held one object that loaded without errors.
//! Its entry is what loading it did to a [`Loaded`]: the warnings it raised,
//! then the insertion of its object. Replaying an entry does the same, in
//! the same order, including the duplicate check against what came before
//! (the only part that depends on other documents), so a load through the
//! cache equals a load from scratch. Lists and documents with errors are
//! parsed every time: they are rare, and errors must be reported afresh.
//!
//! The key is the document's file and a 128-bit hash of its text, not the
//! text: a reload then reads each document once, to hash it, and never the
//! copy an earlier load would otherwise keep (3 MB for 10,000 routes, cold
//! by the time the next reload compares it). Two different documents of one
//! file share a hash by chance with odds of about n² in 2¹²⁹ (10⁻²⁷ for a
//! million documents); by design only for someone who knows the cache's
//! seed, drawn at random per cache, and who writes that file already. A
//! document that moved (a line added above it) is replayed with every line
//! it reports, in its source and its warnings, moved by as many lines.

use std::hash::{BuildHasher as _, Hasher as _};

use rustc_hash::FxHashMap as HashMap;

use super::context::{duplicate_warning, insert, Note};
use super::doc::Doc;
use super::{Diagnostic, Loaded};
use crate::{Inputs, Resource};

/// What a reload can reuse of the last one.
#[derive(Debug)]
pub struct ParseCache {
    /// By file, then by text hash (entries of equal texts in order).
    files: HashMap<String, HashMap<u128, Same>>,
    /// Seeds the text hash (see the module's note).
    seed: u64,
    /// Documents the load that filled it took from the one before.
    reused: usize,
    /// Documents the load that filled it parsed.
    parsed: usize,
    /// Whether that load kept every document it could (see [`Keep`]).
    complete: bool,
}

/// What a load through a [`ParseCache`] keeps of the documents it parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every document that can be kept.
    All,
    /// A file's changed documents only when they are few (see [`few`]): a
    /// file that changed much is read as without a cache, at the same cost,
    /// and the cache is left incomplete, for [`Keep::All`] to fill later,
    /// when no one waits for it.
    Few,
}

/// How many changed documents of a file of `documents` are few: a change
/// someone makes by hand, or a tool makes to a few objects.
fn few(documents: usize) -> usize {
    (documents / 16).max(64)
}

impl Default for ParseCache {
    /// Empty, with a seed drawn at random.
    fn default() -> ParseCache {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        ParseCache::seeded(seed)
    }
}

impl ParseCache {
    /// Empty and not complete: nothing loaded into it yet.
    fn seeded(seed: u64) -> ParseCache {
        ParseCache {
            files: HashMap::default(),
            seed,
            reused: 0,
            parsed: 0,
            complete: false,
        }
    }

    /// Documents kept.
    pub fn len(&self) -> usize {
        self.files
            .values()
            .flat_map(HashMap::values)
            .map(smallvec::SmallVec::len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Documents the last load reused rather than parsed.
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// Documents the last load parsed.
    pub fn parsed(&self) -> usize {
        self.parsed
    }

    /// Ready to be filled by a load: what it held, taken out for the load
    /// to reuse. The seed stays, for the next load to find these hashes.
    pub(crate) fn start(&mut self) -> ParseCache {
        let next = ParseCache {
            complete: true,
            ..ParseCache::seeded(self.seed)
        };
        std::mem::replace(self, next)
    }

    /// Whether the last load kept every document it could: false before
    /// the first load, and after a [`Keep::Few`] load that changed much.
    pub fn complete(&self) -> bool {
        self.complete
    }
}

/// A document's text, hashed to find its entry: a reload hashes every
/// document of a changed file, so the hash is a fast one, and wide enough
/// to stand for the text (see the module's note).
fn hash_of(text: &str, seed: u64) -> u128 {
    xxhash_rust::xxh3::xxh3_128_with_seed(text.as_bytes(), seed)
}

/// Lines a document moved by since it was parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moved(i64);

impl Moved {
    /// `line` moved; 0 (unknown) stays 0.
    pub(crate) fn line(self, line: u32) -> u32 {
        if line == 0 {
            return 0;
        }
        u32::try_from(i64::from(line) + self.0).unwrap_or(line)
    }

    fn diagnostic(self, diagnostic: &Diagnostic) -> Diagnostic {
        Diagnostic {
            line: self.line(diagnostic.line),
            ..diagnostic.clone()
        }
    }
}

/// Entries of one text hash: one, unless a file repeats a document.
type Same = smallvec::SmallVec<[Entry; 1]>;

/// One document's effect on a [`Loaded`].
#[derive(Debug)]
struct Entry {
    /// Lines of the file before the document when it was parsed.
    line_offset: u32,
    warnings: Vec<Diagnostic>,
    object: Box<dyn Replay>,
}

/// An object as it was inserted, to be inserted again.
pub(crate) trait Replay: std::fmt::Debug + Send + Sync {
    fn insert_into(&self, out: &mut Loaded, moved: Moved);

    /// Makes room in its list for `additional` more objects.
    fn reserve(&self, out: &mut Loaded, additional: usize);
}

/// What [`Loaded`] records while a document is parsed for the cache.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    /// Each insertion, with the number of warnings before it and whether it
    /// replaced a duplicate.
    pub(crate) inserted: Vec<(Box<dyn Replay>, usize, bool)>,
}

/// A typed object and the list it goes to.
#[derive(Debug)]
pub(crate) struct Typed<S: 'static> {
    pub(crate) resource: Resource<S>,
    pub(crate) list: fn(&mut Inputs) -> &mut Vec<Resource<S>>,
    pub(crate) note: Note,
}

impl<S: std::fmt::Debug + Clone + Send + Sync + 'static> Replay for Typed<S> {
    fn reserve(&self, out: &mut Loaded, additional: usize) {
        (self.list)(&mut out.inputs).reserve(additional);
    }

    fn insert_into(&self, out: &mut Loaded, moved: Moved) {
        let mut resource = self.resource.clone();
        resource.source.line = moved.line(resource.source.line);
        if let Some(previous) = insert(out, self.list, resource) {
            let warning = duplicate_warning(&self.note, &previous);
            out.warnings.push(moved.diagnostic(&warning));
        }
    }
}

/// Loads the documents of one file into `into`: each from `old` when it is
/// there unchanged, else parsed; the entries of this load go to `new`.
pub(crate) fn load_documents(
    file: &str,
    docs: &[Doc<'_>],
    into: &mut Loaded,
    old: &mut ParseCache,
    new: &mut ParseCache,
    keep: Keep,
) {
    let mut old_entries = old.files.remove(file).unwrap_or_default();
    // Each document's hash and entry, taken out of the old ones, whether it
    // is then kept or not.
    let found: Vec<(u128, Option<Entry>)> = docs
        .iter()
        .map(|doc| {
            let hash = hash_of(doc.text, old.seed);
            (hash, take(&mut old_entries, hash))
        })
        .collect();
    let record = keep == Keep::All || {
        let changed = found.iter().filter(|(_, entry)| entry.is_none()).count();
        changed <= few(docs.len())
    };
    new.complete &= record;
    into.seen.reserve(docs.len());
    let mut reserved = false;
    let mut kept: HashMap<u128, Same> =
        HashMap::with_capacity_and_hasher(docs.len(), Default::default());
    for (index, (doc, (hash, found))) in docs.iter().zip(found).enumerate() {
        let entry = match found {
            Some(entry) => {
                // A large file holds mostly objects of one kind: room for
                // them at once, rather than growing (and copying) the list
                // ten times over.
                if !reserved {
                    entry.object.reserve(into, docs.len() - index);
                    reserved = true;
                }
                replay(&entry, doc, into);
                new.reused += 1;
                Some(entry)
            }
            None if record => {
                new.parsed += 1;
                parse(file, doc, into)
            }
            None => {
                new.parsed += 1;
                super::dispatch::load_document(file, doc, into);
                None
            }
        };
        if let Some(entry) = entry {
            kept.entry(hash).or_default().push(entry);
        }
    }
    new.files.insert(file.to_owned(), kept);
}

/// The first entry of the text `hash` stands for, taken out.
fn take(entries: &mut HashMap<u128, Same>, hash: u128) -> Option<Entry> {
    let same = entries.get_mut(&hash)?;
    (!same.is_empty()).then(|| same.remove(0))
}

fn replay(entry: &Entry, doc: &Doc<'_>, into: &mut Loaded) {
    let moved = Moved(i64::from(doc.line_offset) - i64::from(entry.line_offset));
    into.warnings.extend(
        entry
            .warnings
            .iter()
            .map(|warning| moved.diagnostic(warning)),
    );
    entry.object.insert_into(into, moved);
}

/// Parses `doc` into `into`; its entry when it can be kept.
fn parse(file: &str, doc: &Doc<'_>, into: &mut Loaded) -> Option<Entry> {
    let (errors, warnings) = (into.errors.len(), into.warnings.len());
    into.recording = Some(Recording::default());
    super::dispatch::load_document(file, doc, into);
    let recording = into.recording.take().unwrap_or_default();
    let [(object, before, duplicate)] = <[_; 1]>::try_from(recording.inserted).ok()?;
    // Nothing but the duplicate warning after the insertion: the entry
    // replays everything the document did.
    let after = into.warnings.len() - before;
    if into.errors.len() != errors || after != usize::from(duplicate) {
        return None;
    }
    Some(Entry {
        line_offset: doc.line_offset,
        warnings: into.warnings[warnings..before].to_vec(),
        object,
    })
}
