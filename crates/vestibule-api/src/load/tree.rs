//! The fast path for YAML documents: the text is parsed once into a plain
//! tree, and the header, metadata and body are read from that tree instead of
//! from three more parses of the text (a YAML parse is most of the cost of
//! loading: 10,000 VirtualServices took 2.4 s that way).
//!
//! The tree is read strictly: a value whose YAML type does not fit its field
//! (a number where text is expected, say) is a failure here, and the caller
//! then parses the text directly, as before. That direct parse decides how a
//! scalar converts and reports any error with its line, column and field
//! path. So whenever the tree read succeeds it yields what the direct parse
//! would have, and when it fails nothing is lost but time.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::doc::Parsed;
use super::path::FieldPath;

/// Parses a YAML document into a tree, under the same budgets as the direct
/// parse. `None` for anything the parser rejects (the direct parse will say
/// why).
pub(crate) fn parse_tree(text: &str) -> Option<Value> {
    serde_saphyr::from_str_with_options(text, super::yaml::options()).ok()
}

/// Reads `T` from `tree`, recording the fields `T` does not know. `None` on
/// any mismatch.
pub(crate) fn read<T: DeserializeOwned>(tree: &Value) -> Option<Parsed<T>> {
    let mut ignored = Vec::new();
    let mut on_ignored =
        |path: serde_ignored::Path<'_>| ignored.push(FieldPath::from_ignored(&path));
    let value = serde_ignored::deserialize(tree, &mut on_ignored).ok()?;
    Some(Parsed { value, ignored })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Port {
        name: String,
        number: u32,
        #[serde(default)]
        target: Option<u16>,
    }

    fn tree(text: &str) -> Value {
        parse_tree(text).expect("parses")
    }

    #[test]
    fn reads_matching_types_and_records_unknown_fields() {
        let parsed = read::<Port>(&tree("name: http\nnumber: 0x50\nextra: [1]\n")).unwrap();
        assert_eq!(
            parsed.value,
            Port {
                name: "http".into(),
                number: 80,
                target: None
            }
        );
        assert_eq!(parsed.ignored.len(), 1);
        assert_eq!(parsed.ignored[0].to_string(), "extra");
    }

    #[test]
    fn a_type_mismatch_is_left_to_the_direct_parse() {
        // The direct parse reads a plain `8080` as the text "8080"; the tree
        // holds a number, so the tree read declines rather than guess.
        assert!(read::<Port>(&tree("name: 8080\nnumber: 1\n")).is_none());
        assert!(read::<Port>(&tree("name: http\nnumber: \"1\"\n")).is_none());
        assert!(read::<Port>(&tree("name: http\nnumber: 1.5\n")).is_none());
        assert!(read::<Port>(&tree("name: http\nnumber: 1\ntarget: 70000\n")).is_none());
    }

    #[test]
    fn documents_the_parser_rejects_have_no_tree() {
        assert!(parse_tree("a: 1\na: 2\n").is_none(), "duplicate keys");
        assert!(parse_tree("a: [1\n").is_none(), "syntax");
        assert!(parse_tree("a: .nan\n").is_none(), "non-finite float");
    }
}
