//! Finds the file position of a field path in a YAML document, for problems
//! found after parsing (ignored fields, bad base64) that the parser could not
//! place. Parses the document again into a tree of [`Spanned`] nodes: only
//! done when there is something to report.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::doc::Doc;
use super::path::{FieldPath, Seg};

/// File line and column of the key (for a mapping entry) or the element (for
/// a sequence item) at `path`; of the document itself for an empty path.
pub(crate) fn locate(doc: &Doc<'_>, path: &FieldPath) -> Option<(u32, u32)> {
    let root: Spanned<Node> =
        serde_saphyr::from_str_with_options(doc.text, super::yaml::options()).ok()?;
    let mut node = &root;
    let mut at = root.referenced;
    for seg in path.segments() {
        (node, at) = match (&node.value, seg) {
            (Node::Map(entries), Seg::Key(key)) => {
                let (k, v) = entries.iter().rev().find(|(k, _)| k.value.0 == *key)?;
                (v, k.referenced)
            }
            (Node::Seq(items), Seg::Index(index)) => {
                let v = items.get(*index)?;
                (v, v.referenced)
            }
            _ => return None,
        };
    }
    position(doc, at)
}

fn position(doc: &Doc<'_>, at: Location) -> Option<(u32, u32)> {
    let line = u32::try_from(at.line()).ok().filter(|l| *l > 0)?;
    let column = u32::try_from(at.column()).unwrap_or(0);
    Some((line.saturating_add(doc.line_offset), column))
}

/// A YAML node reduced to its structure.
enum Node {
    Map(Vec<(Spanned<Key>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Leaf,
}

/// A mapping key as text: read as a string so that `y` stays `y`, as serde
/// sees it when matching field names.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        String::deserialize(de).map(Key)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Node, D::Error> {
        de.deserialize_any(self)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::doc::Format;

    fn doc(text: &str, line_offset: u32) -> Doc<'_> {
        Doc::new(text, Format::Yaml, line_offset, line_offset + 1)
    }

    #[test]
    fn finds_keys_and_items() {
        let text = "kind: A\nitems:\n- spec:\n    y: 1\n- {x: [a, b]}\n";
        let d = doc(text, 10);
        let p = FieldPath::default()
            .key("items")
            .index(0)
            .key("spec")
            .key("y");
        assert_eq!(locate(&d, &p), Some((14, 5)));
        let p = FieldPath::default().key("items").index(1);
        assert_eq!(locate(&d, &p), Some((15, 3)));
        let p = FieldPath::default().key("items").index(1).key("x").index(1);
        assert_eq!(locate(&d, &p), Some((15, 11)));
        assert_eq!(locate(&d, &FieldPath::default().key("nope")), None);
    }
}
