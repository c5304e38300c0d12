//! A load through the parse cache equals a load from scratch: after every
//! edit of a sequence (a changed document, one added, one removed, a
//! duplicate, a List, an error, documents moved by a line, a document
//! written twice in one file), the inputs, errors, warnings and files are
//! the same both ways.

use std::fs;
use std::path::{Path, PathBuf};

use vestibule_api::load::{load_paths_cached, Keep, ParseCache, DEFAULT_MAX_FILE_BYTES};
use vestibule_api::{load_paths, Loaded};

fn virtual_service(name: &str, host: &str, prefix: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: {name}
spec:
  hosts:
  - {host}
  gateways:
  - gw
  http:
  - match:
    - uri:
        prefix: {prefix}
    route:
    - destination:
        host: httpbin
        port:
          number: 8000
"
    )
}

fn many(count: usize, changed: Option<(usize, &str)>) -> String {
    (0..count)
        .map(|i| {
            let prefix = match changed {
                Some((at, prefix)) if at == i => prefix,
                _ => "/status",
            };
            format!(
                "---\n{}",
                virtual_service(&format!("vs-{i}"), &format!("h{i}.example"), prefix)
            )
        })
        .collect()
}

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: httpbin
spec:
  ports:
  - port: 8000
  unknownField: 1
";

const LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: one
- apiVersion: v1
  kind: Namespace
  metadata:
    name: two
";

fn assert_same(cached: &Loaded, scratch: &Loaded, step: &str) {
    assert_eq!(cached.inputs, scratch.inputs, "inputs after {step}");
    assert_eq!(cached.errors, scratch.errors, "errors after {step}");
    assert_eq!(cached.warnings, scratch.warnings, "warnings after {step}");
    assert_eq!(cached.files, scratch.files, "files after {step}");
}

/// One step of the sequence: what it does to the directory.
type Edit = Box<dyn Fn(&Path)>;

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

#[test]
fn every_edit_loads_the_same_through_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = vec![dir.path().to_path_buf()];
    let steps: Vec<(&str, Edit)> = vec![
        (
            "the first load",
            Box::new(|d| {
                write(d, "a.yaml", &many(20, None));
                write(d, "b.yaml", SERVICE);
            }),
        ),
        (
            "one route changed",
            Box::new(|d| write(d, "a.yaml", &many(20, Some((7, "/new"))))),
        ),
        (
            "one route added",
            Box::new(|d| write(d, "a.yaml", &many(21, Some((7, "/new"))))),
        ),
        (
            "one route removed",
            Box::new(|d| write(d, "a.yaml", &many(19, None))),
        ),
        (
            "a duplicate in another file",
            Box::new(|d| write(d, "c.yaml", &virtual_service("vs-3", "dup.example", "/"))),
        ),
        (
            "the duplicate's file unchanged",
            Box::new(|d| write(d, "b.yaml", SERVICE)),
        ),
        (
            "a List and an error",
            Box::new(|d| {
                let broken = virtual_service("bad", "bad.example", "/").replace("8000", "eight");
                write(d, "d.yaml", &format!("{LIST}---\n{broken}"));
            }),
        ),
        (
            "the documents moved down a line",
            Box::new(|d| write(d, "a.yaml", &format!("# moved\n{}", many(19, None)))),
        ),
        (
            "the duplicate removed",
            Box::new(|d| fs::remove_file(d.join("c.yaml")).unwrap()),
        ),
        ("the error fixed", Box::new(|d| write(d, "d.yaml", LIST))),
        (
            "a document written twice in one file",
            Box::new(|d| {
                let twice = virtual_service("twice", "twice.example", "/");
                write(d, "e.yaml", &format!("{twice}---\n{twice}"));
            }),
        ),
        (
            "its second copy changed",
            Box::new(|d| {
                let first = virtual_service("twice", "twice.example", "/");
                let second = virtual_service("twice", "twice.example", "/second");
                write(d, "e.yaml", &format!("{first}---\n{second}"));
            }),
        ),
        (
            "the two copies swapped",
            Box::new(|d| {
                let first = virtual_service("twice", "twice.example", "/second");
                let second = virtual_service("twice", "twice.example", "/");
                write(d, "e.yaml", &format!("{first}---\n{second}"));
            }),
        ),
    ];
    let mut cache = ParseCache::default();
    for (step, edit) in steps {
        edit(dir.path());
        let cached = load_paths_cached(&paths, DEFAULT_MAX_FILE_BYTES, &mut cache, Keep::Few);
        let scratch = load_paths(&paths);
        assert_same(&cached, &scratch, step);
    }
    assert!(!cache.is_empty());
}

#[test]
fn only_changed_documents_are_parsed_again() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", &many(50, None));
    let paths = vec![dir.path().to_path_buf()];
    let mut cache = ParseCache::default();
    load_paths_cached(&paths, DEFAULT_MAX_FILE_BYTES, &mut cache, Keep::Few);
    assert_eq!(cache.len(), 50);
    write(dir.path(), "a.yaml", &many(50, Some((10, "/new"))));
    let cached = load_paths_cached(&paths, DEFAULT_MAX_FILE_BYTES, &mut cache, Keep::Few);
    assert_eq!(cache.len(), 50);
    assert_eq!(cache.reused(), 49);
    assert_same(&cached, &load_paths(&paths), "one change");
    // Two lines added to the first document: the others moved, not changed.
    write(dir.path(), "a.yaml", &many(50, Some((0, "/new"))));
    let cached = load_paths_cached(&paths, DEFAULT_MAX_FILE_BYTES, &mut cache, Keep::Few);
    assert_eq!(cache.reused(), 48);
    assert_same(&cached, &load_paths(&paths), "lines added above the others");
}

#[test]
fn a_file_that_changed_much_is_kept_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let paths = vec![dir.path().to_path_buf()];
    let mut cache = ParseCache::default();
    assert!(!cache.complete(), "an empty cache is not complete");
    write(dir.path(), "a.yaml", &many(200, None));
    // Everything changed (nothing was kept): read as without a cache.
    let cached = load_paths_cached(&paths, DEFAULT_MAX_FILE_BYTES, &mut cache, Keep::Few);
    assert_same(&cached, &load_paths(&paths), "first load");
    assert!(!cache.complete());
    assert_eq!(cache.len(), 0);
    let cached = load_paths_cached(&paths, DEFAULT_MAX_FILE_BYTES, &mut cache, Keep::All);
    assert_same(&cached, &load_paths(&paths), "filled");
    assert!(cache.complete());
    assert_eq!((cache.len(), cache.parsed()), (200, 200));
    // One document changed: few; it is kept.
    write(dir.path(), "a.yaml", &many(200, Some((7, "/new"))));
    let cached = load_paths_cached(&paths, DEFAULT_MAX_FILE_BYTES, &mut cache, Keep::Few);
    assert_same(&cached, &load_paths(&paths), "one change");
    assert!(cache.complete());
    assert_eq!((cache.len(), cache.parsed(), cache.reused()), (200, 1, 199));
    // Half of them changed: many. The unchanged half is reused and kept,
    // the changed half is read but not kept.
    let half: String = (0..200)
        .map(|i| {
            let prefix = if i < 100 { "/other" } else { "/status" };
            let text = virtual_service(&format!("vs-{i}"), &format!("h{i}.example"), prefix);
            format!("---\n{text}")
        })
        .collect();
    write(dir.path(), "a.yaml", &half);
    let cached = load_paths_cached(&paths, DEFAULT_MAX_FILE_BYTES, &mut cache, Keep::Few);
    assert_same(&cached, &load_paths(&paths), "half changed");
    assert!(!cache.complete());
    assert_eq!(
        (cache.len(), cache.parsed(), cache.reused()),
        (100, 100, 100)
    );
}
