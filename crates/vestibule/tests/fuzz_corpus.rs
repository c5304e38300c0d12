//! Replays the fuzzers' committed corpus (`fuzz/corpus/<target>/`, inputs
//! that reach new code, and `fuzz/regressions/<target>/`, inputs that once
//! failed) through the same entry points the fuzz targets call, on stable:
//! every finding stays fixed on any machine, without a fuzzer.

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("request_head", vestibule_proxy::fuzzing::request_head),
    ("chunked", vestibule_proxy::fuzzing::chunked),
    ("response_head", vestibule_proxy::fuzzing::response_head),
    ("path", vestibule_route::fuzzing::path),
    ("host", vestibule_route::fuzzing::host),
    ("manifest", vestibule_api::fuzzing::manifest),
    ("h2_frames", vestibule_h2::fuzzing::frames),
    ("hpack", vestibule_h2::fuzzing::hpack),
    ("h2_connection", vestibule_h2::fuzzing::connection),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_fuzz_input_passes_its_target() {
    for (name, target) in TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "no corpus for fuzz target {name}: run scripts/fuzz"
        );
        let regressions = inputs(&fuzz_dir().join("regressions").join(name));
        for input in corpus.iter().chain(&regressions) {
            // A fuzzer running in this checkout replaces inputs as it goes.
            let Ok(data) = std::fs::read(input) else {
                continue;
            };
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} fails its properties",
                input.display()
            );
        }
    }
}

#[test]
fn every_fuzz_target_is_replayed() {
    let targets = fuzz_dir().join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&targets)
        .expect("fuzz targets")
        .map(|entry| {
            let path = entry.expect("entry").path();
            path.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    let mut replayed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    replayed.sort();
    assert_eq!(names, replayed);
}
