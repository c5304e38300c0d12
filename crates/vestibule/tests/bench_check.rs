//! The benchmark harness's routing checks pass against vestibule: the job
//! it measures (Host + /status → upstream, everything else 404, h2c) is the
//! job vestibule does. Benchmarks themselves are not tests.

use std::path::Path;
use std::process::Command;

#[test]
fn benchmark_routing_checks_pass_against_vestibule() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("python3")
        .arg(repository.join("bench/run"))
        .args(["--check-only", "--proxies", "vestibule", "--vestibule-bin"])
        .arg(env!("CARGO_BIN_EXE_vestibule"))
        .current_dir(&repository)
        .output()
        .expect("run bench/run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench/run --check-only failed:\n{stdout}\n{stderr}"
    );
}
