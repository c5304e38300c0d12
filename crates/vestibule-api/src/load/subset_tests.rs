use serde_json::json;

use super::parse;
use crate::load::split::split_documents;
use crate::load::tree::full_tree;

/// The subset reader either declines `text` or gives serde-saphyr's tree.
fn agrees(text: &str) -> bool {
    match parse(text) {
        Some(tree) => {
            assert_eq!(Some(&tree), full_tree(text).as_ref(), "differs on {text:?}");
            true
        }
        None => false,
    }
}

fn reads(text: &str) -> serde_json::Value {
    assert!(agrees(text), "declined {text:?}");
    parse(text).expect("read")
}

fn declines(text: &str) {
    assert!(parse(text).is_none(), "read {text:?}: {:?}", parse(text));
}

#[test]
fn reads_a_virtual_service_as_written() {
    let text = "---
apiVersion: networking.istio.io/v1
kind: VirtualService   # a comment
metadata:
  name: route-1
  labels:
    app.kubernetes.io/name: httpbin
spec:
  hosts:
  - \"h1.example.com\"
  gateways:
    - bench-gateway
  http:
  - match:
    - uri:
        prefix: /status
      headers:
        x-version: {exact: 'v1'}
    route:
    - destination:
        host: httpbin
        port:
          number: 8000
      weight: 100
    timeout: 10s
    retries: {attempts: 3, retryOn: \"5xx,reset\"}
";
    let tree = reads(text);
    assert_eq!(tree["spec"]["hosts"], json!(["h1.example.com"]));
    assert_eq!(
        tree["spec"]["http"][0]["route"][0]["destination"]["port"]["number"],
        json!(8000)
    );
    assert_eq!(tree["spec"]["http"][0]["timeout"], json!("10s"));
}

#[test]
fn reads_the_shapes_manifests_use() {
    for text in [
        "a: 1\nb: true\nc: false\nd: 0\ne: 123456789012345678\n",
        "a:\nb: x\n",
        "a:\n- 1\n- - 2\n  - 3\n-\n  x: z\n- # empty\nb: c\n",
        "- name: a\n  port: 80\n-   name: b\n    port: 81\n",
        "a: [x, \"y\", 'z''s', [1, 2], {k: v}]\nb: {}\nc: []\n",
        "a: \"q \\\" \\\\ \\n \\t \\u00e9 \\/\"\nb: 'single # not a comment'\n",
        "a: text with spaces and a#hash\nb: http://example.com:8080/x # comment\n",
        "a: 127.0.0.1\nb: 250ms\nc: 5m\nd: /path/to\ne: _x\nf: x é\n",
        "\"quoted key\": 1\n'k2': 2\nmeta:\n  \"x-y/z\": w\n",
        "  indented: document\n  second: key\n",
        "a:\n  b:\n    c:\n      d: deep\n",
    ] {
        reads(text);
    }
}

#[test]
fn declines_what_the_parser_must_decide() {
    for text in [
        "a: yes\n",
        "a: No\n",
        "a: on\n",
        "a: ~\n",
        "a: null\n",
        "a: Null\n",
        "a: True\n",
        "a: 1.5\n",
        "a: 0x10\n",
        "a: 0o17\n",
        "a: 007\n",
        "a: 1e3\n",
        "a: 1_000\n",
        "a: 10:30\n",
        "a: 2001-12-14\n",
        "a: -1\n",
        "a: .inf\n",
        "a: +1\n",
        "a: 1234567890123456789\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: |\n  text\n",
        "a: >\n  text\n",
        "a: plain\n  continued\n",
        "a: \"open\n  close\"\n",
        "a: 1\na: 2\n",
        "a: {k: 1, k: 2}\n",
        "? a\n: b\n",
        "<<: {a: 1}\n",
        "a: b: c\n",
        "a:\tb\n",
        "a: b\r\n",
        "--- x\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: 1\n---\nb: 2\n",
        "plain scalar\n",
        "a: [1,\n  2]\n",
        "a: [x, ]\n",
        "a: \"x\" y\n",
        "a:b\n",
        "- a\nb: c\n",
        "a:\n  - x\n   - y\n",
        "a: \"\\x41\"\n",
        "1key: v\n",
        "a: x\u{1}\n",
        "a: é\u{85}\n",
        "a: é\u{2028}b\n",
        "null: x\n",
    ] {
        declines(text);
    }
    // The parser stops looking ahead past 96 comments (granit-parser's
    // `max_buffered_comment_events`): found by the fuzzer.
    let comments = "# a comment\n".repeat(100);
    declines(&format!("a:\n  - name: # c\n{comments}b: 1\n"));
    // YAML's limit on an implicit key (1,024 characters), which the parser
    // enforces; and documents past the parser's node budget.
    let long = "k".repeat(1100);
    declines(&format!("{long}: 1\n"));
    declines(&format!("\"{long}\": 1\n"));
    declines(&format!("a: {{{long}: 1}}\n"));
    declines(&"- 1\n".repeat(100_000));
    {}
}

#[test]
fn never_disagrees_on_near_misses() {
    // Inputs close to the subset's edges: whatever it does, it must not
    // give a tree serde-saphyr would not.
    for text in [
        "a: -\n",
        "a: - x\n",
        "- - - a\n",
        "a:\n-\n-\n",
        "a: []\n- x\n",
        "a: {b: [c, {d: e}]}\n",
        "a: 'x' # c\n",
        "a: \"x\"#c\n",
        "a: [\"a, b\", 'c]']\n",
        "a: x #\n",
        "a: y\n",
        "a: n\n",
        "a: Yes\n",
        "a: nan\n",
        "a: inf\n",
        "a: 0\nb: 00\n",
        "a: 18446744073709551615\n",
        "key with space: 1\n",
        "a.b/c-d_e: 1\n",
        "a:   \n  b: 1\n",
        "a: x\n b: y\n",
        "  a: 1\nb: 2\n",
        "a: \"\\u0000\"\n",
        "a: \"\\ud800\"\n",
        "---\n---\n",
        "---\n",
        "# only a comment\n",
        "a: {}\n  b: 1\n",
        "a:\n  - b: 1\n    c: 2\n  - d\n",
    ] {
        agrees(text);
    }
}

/// Every document of every manifest in the repository: the subset reader
/// agrees with serde-saphyr, and reads most of them (else the fast path
/// buys nothing).
#[test]
fn agrees_on_every_manifest_in_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["examples", "crates/vestibule-translate/tests", "deploy"] {
        yaml_files(&root.join(dir), &mut files);
    }
    let (mut documents, mut read) = (0, 0);
    for path in files {
        let text = std::fs::read_to_string(&path).expect("utf-8");
        for chunk in split_documents(&text) {
            documents += 1;
            read += usize::from(agrees(chunk.text));
        }
    }
    assert!(documents > 100, "documents found: {documents}");
    eprintln!("the subset read {read} of {documents} documents");
    assert!(
        read * 10 >= documents * 7,
        "the subset read {read} of {documents} documents"
    );
}

fn yaml_files(dir: &std::path::Path, into: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|entry| entry.path()) {
        if path.is_dir() {
            yaml_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            into.push(path);
        }
    }
}

#[test]
fn lines_and_comments_are_found_as_the_standard_searches_find_them() {
    for text in [
        "",
        "\n",
        "a",
        "a\n",
        "\na",
        "a\n\nb\n",
        "key: value # note",
        "key: x#y # z",
        "#",
        " #",
        "# #",
        "a #b #c",
        "a\t#b",
        "url: http://x/#frag",
    ] {
        let split: Vec<&str> = super::split_lines(text).collect();
        assert_eq!(split, text.split('\n').collect::<Vec<_>>(), "{text:?}");
        assert_eq!(super::comment_start(text), text.find(" #"), "{text:?}");
    }
}
