//! One document of a file and the typed parse of it: every parse records the
//! fields it ignored and, on failure, the field path and the file position.

use std::cell::OnceCell;

use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer};
use serde_json::Value;

use super::path::FieldPath;
use super::select::Select;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Yaml,
    Json,
}

/// A document: its text and where it sits in its file.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    pub(crate) text: &'a str,
    pub(crate) format: Format,
    /// Lines of the file before `text`: added to every line a parser reports.
    pub(crate) line_offset: u32,
    /// 1-based file line of the document's first non-empty line.
    pub(crate) line: u32,
    /// The YAML text parsed once into a tree, on first use ([`super::tree`]).
    tree: OnceCell<Option<Value>>,
}

/// A successful parse and the fields it skipped (unknown to the target type).
pub(crate) struct Parsed<T> {
    pub(crate) value: T,
    pub(crate) ignored: Vec<FieldPath>,
}

/// Why a parse failed, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// File line, 0 when the parser did not say.
    pub(crate) line: u32,
    pub(crate) column: u32,
    /// Empty for syntax errors.
    pub(crate) path: FieldPath,
    pub(crate) message: String,
}

impl<'a> Doc<'a> {
    pub(crate) fn new(text: &'a str, format: Format, line_offset: u32, line: u32) -> Self {
        Doc {
            text,
            format,
            line_offset,
            line,
            tree: OnceCell::new(),
        }
    }

    /// Reads the document (or its `items[item]`) as `T`: from the document's
    /// tree when `T` fits it (see [`super::tree`]), else as [`Doc::parse`]
    /// does. `T` must not hold [`serde_saphyr::Spanned`] values: a tree has
    /// no positions.
    pub(crate) fn read<T: DeserializeOwned>(
        &self,
        item: Option<usize>,
    ) -> Result<Parsed<T>, Failure> {
        #[cfg(test)]
        if super::tree::DIRECT_ONLY.with(std::cell::Cell::get) {
            return self.parse(item);
        }
        if let (Format::Yaml, None) = (self.format, item) {
            let tree = self.tree.get_or_init(|| super::tree::parse_tree(self.text));
            if let Some(parsed) = tree.as_ref().and_then(super::tree::read) {
                return Ok(parsed);
            }
        }
        self.parse(item)
    }

    /// Parses the document's text (or its `items[item]`) as `T`.
    pub(crate) fn parse<T: DeserializeOwned>(
        &self,
        item: Option<usize>,
    ) -> Result<Parsed<T>, Failure> {
        match self.format {
            Format::Yaml => super::yaml::parse(self, item),
            Format::Json => super::json::parse(self, item),
        }
    }

    /// File line and column of the value at `path`, when the format keeps positions.
    pub(crate) fn locate(&self, path: &FieldPath) -> Option<(u32, u32)> {
        match self.format {
            Format::Yaml => super::locate::locate(self, path),
            Format::Json => None,
        }
    }
}

/// Runs `T`'s deserialization for `item` on `de`, recording ignored fields
/// and, on error, the path of the failing field in `failed_at`.
pub(crate) fn tracked<'de, D, T>(
    de: D,
    item: Option<usize>,
    ignored: &mut Vec<FieldPath>,
    failed_at: &mut FieldPath,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let mut on_ignored =
        |path: serde_ignored::Path<'_>| ignored.push(FieldPath::from_ignored(&path));
    let de = serde_ignored::Deserializer::new(de, &mut on_ignored);
    let mut track = serde_path_to_error::Track::new();
    let result =
        Select::<T>::new(item).deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
    if result.is_err() {
        *failed_at = FieldPath::from_tracked(&track.path());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::header::Header;

    const VIRTUAL_SERVICE: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs
spec:
  hosts: [a.example.com]
";

    #[test]
    fn a_document_is_parsed_once_and_read_from_its_tree() {
        let doc = Doc::new(VIRTUAL_SERVICE, Format::Yaml, 0, 1);
        let header = doc.read::<Header>(None).expect("reads").value;
        assert_eq!(header.type_meta.kind, "VirtualService");
        let tree = doc.tree.get().expect("tree built on first read");
        let tree = tree.as_ref().expect("the document parses into a tree");
        // What `read` returned came from this tree: reading it again agrees.
        let from_tree = super::super::tree::read::<Header>(tree).expect("fits the tree");
        assert_eq!(from_tree.value, header);
    }

    #[test]
    fn json_documents_and_list_items_do_not_build_a_tree() {
        let json = Doc::new(
            r#"{"apiVersion": "v1", "kind": "Namespace"}"#,
            Format::Json,
            0,
            1,
        );
        json.read::<Header>(None).expect("reads");
        assert!(json.tree.get().is_none());
        let yaml = Doc::new(VIRTUAL_SERVICE, Format::Yaml, 0, 1);
        let _ = yaml.read::<Header>(Some(0));
        assert!(yaml.tree.get().is_none(), "items are read in place");
    }
}
