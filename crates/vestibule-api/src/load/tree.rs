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

#[cfg(test)]
thread_local! {
    /// Tests compare loading with and without the tree.
    pub(crate) static DIRECT_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Parses a YAML document into a tree: the manifest subset of YAML by
/// [`super::subset`], the rest by serde-saphyr under the same budgets as
/// the direct parse. `None` for anything the parser rejects (the direct
/// parse will say why).
pub(crate) fn parse_tree(text: &str) -> Option<Value> {
    super::subset::parse(text).or_else(|| full_tree(text))
}

/// The tree serde-saphyr gives (what the subset reader must agree with).
pub(crate) fn full_tree(text: &str) -> Option<Value> {
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

    /// Loads `text` with and without the tree: everything must come out the
    /// same (objects, errors, warnings with their positions).
    fn assert_same_both_ways(file: &str, text: &str) {
        let load = |direct: bool| {
            DIRECT_ONLY.with(|d| d.set(direct));
            let mut loaded = crate::load::Loaded::default();
            crate::load::load_str(file, text, &mut loaded);
            DIRECT_ONLY.with(|d| d.set(false));
            loaded
        };
        let (fast, direct) = (load(false), load(true));
        assert_eq!(fast.inputs, direct.inputs, "{file}: objects differ");
        assert_eq!(fast.errors, direct.errors, "{file}: errors differ");
        assert_eq!(fast.warnings, direct.warnings, "{file}: warnings differ");
    }

    fn yaml_files(dir: &std::path::Path, into: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                yaml_files(&path, into);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                into.push(path);
            }
        }
    }

    #[test]
    fn every_manifest_in_the_repository_loads_the_same_through_the_tree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        yaml_files(&root.join("examples"), &mut files);
        yaml_files(&root.join("crates/vestibule-translate/tests"), &mut files);
        assert!(files.len() > 20, "fixtures found: {}", files.len());
        for path in files {
            let text = std::fs::read_to_string(&path).expect("utf-8");
            assert_same_both_ways(&path.display().to_string(), &text);
        }
    }

    #[test]
    fn scalars_that_read_differently_by_type_load_the_same_through_the_tree() {
        let text = r#"apiVersion: v1
kind: Service
metadata:
  name: svc
  labels:
    version: 1.10
    enabled: yes
    count: 0x10
    empty:
    quoted: "8080"
  annotations:
    nothing: ~
spec:
  selector:
    app: 123
  ports:
  - name: 8080
    port: "80"
    targetPort: http
  - &second
    name: grpc
    port: 0o777
    targetPort: 9000
  - <<: *second
    name: merged
    port: !!int "81"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: 7}
spec:
  hosts: [a.example.com, 1.2]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /}, headers: {x-n: {exact: 1}}}]
    route: [{destination: {host: svc, port: {number: 80}}, weight: 100}]
    timeout: 1.5
  - bogus: field
---
apiVersion: v1
kind: Service
metadata:
  name: dup
  name: again
---
apiVersion: v1
kind: Service
metadata:
  name: nan
spec:
  ports:
  - port: .nan
"#;
        assert_same_both_ways("tricky.yaml", text);
    }

    #[test]
    fn documents_the_parser_rejects_have_no_tree() {
        assert!(parse_tree("a: 1\na: 2\n").is_none(), "duplicate keys");
        assert!(parse_tree("a: [1\n").is_none(), "syntax");
        assert!(parse_tree("a: .nan\n").is_none(), "non-finite float");
    }
}
