//! Entry point for the manifest-loader fuzz target (`fuzz/`, libFuzzer on
//! nightly) and for the replay of its committed corpus (a plain test on
//! stable). Panics when a property does not hold.

use crate::load::split::split_documents;
use crate::load::{load_str, Loaded};

/// Loads `data` as a YAML file and as a JSON file: never panics, and every
/// problem points at a line of the file (YAML breaks lines at CR, LF and
/// CRLF alike). Each of its documents that the YAML subset reader reads
/// gives the tree serde-saphyr gives.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for chunk in split_documents(text) {
        if let Some(tree) = crate::load::subset::parse(chunk.text) {
            let full = crate::load::tree::full_tree(chunk.text);
            assert_eq!(Some(&tree), full.as_ref(), "{:?}", chunk.text);
        }
    }
    let breaks = text.matches('\n').count() + text.replace("\r\n", "\n").matches('\r').count();
    let lines = u32::try_from(breaks + 1).unwrap_or(u32::MAX);
    for file in ["fuzz.yaml", "fuzz.json"] {
        let mut loaded = Loaded::default();
        load_str(file, text, &mut loaded);
        for diagnostic in loaded.errors.iter().chain(&loaded.warnings) {
            assert!(
                diagnostic.line <= lines,
                "{file}: line {} of {lines}: {diagnostic}",
                diagnostic.line
            );
        }
    }
}
