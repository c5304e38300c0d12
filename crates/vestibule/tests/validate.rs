//! `vestibule validate`: exit codes and every problem with file, line and
//! field path; and every example in the repository validates.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::{ConfigDir, SEED_GATEWAY, SEED_VIRTUAL_SERVICE};

fn validate(paths: &[&Path]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("validate")
        .args(paths)
        .output()
        .expect("run vestibule validate")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_example_validates() {
    let examples = repository().join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).expect("examples/") {
        let directory = entry.unwrap().path();
        if !directory.is_dir() {
            continue;
        }
        let output = validate(&[&directory]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}:\n{stdout}",
            directory.display()
        );
        assert!(stdout.contains("ok: "), "{stdout}");
        assert!(
            !stdout.contains("warning"),
            "{}: {stdout}",
            directory.display()
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected the httpbin, browser and octopus examples"
    );
}

#[test]
fn broken_files_exit_non_zero_and_name_every_problem() {
    let config = ConfigDir::new();
    config.write(
        "gateway.yaml",
        &SEED_GATEWAY.replace("number: 80", "number: [80]"),
    );
    config.write(
        "virtualservice.yaml",
        &SEED_VIRTUAL_SERVICE.replace("number: 8000", "number: eight"),
    );
    config.write(
        "syntax.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: x\n",
    );
    let output = validate(&[config.path()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("gateway.yaml:11:") && stdout.contains("spec.servers[0].port.number"),
        "{stdout}"
    );
    assert!(
        stdout.contains("virtualservice.yaml:20:")
            && stdout.contains("spec.http[0].route[0].destination.port.number"),
        "{stdout}"
    );
    assert!(stdout.contains("syntax.yaml:"), "{stdout}");
    assert!(stdout.contains("invalid: 3 problems"), "{stdout}");
}

#[test]
fn translation_problems_fail_validation_with_their_source() {
    let config = ConfigDir::new();
    config.write("gateway.yaml", SEED_GATEWAY);
    config.write(
        "virtualservice.yaml",
        &SEED_VIRTUAL_SERVICE.replace("prefix: /delay", "regex: \"(\""),
    );
    let output = validate(&[config.path()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("virtualservice.yaml:2:"), "{stdout}");
    assert!(
        stdout.contains("spec.http[0].match[1].uri.regex"),
        "{stdout}"
    );
}

#[test]
fn unknown_kinds_are_warnings_not_errors() {
    let config = ConfigDir::new();
    config.write(
        "other.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    );
    let output = validate(&[config.path()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("warning:") && stdout.contains("other.yaml:1"),
        "{stdout}"
    );
}

/// A DestinationRule field vestibule reads but does not honour is a
/// warning naming the rule and the field, not an error (VST0201); an
/// invalid value left out is one too (VST0202).
#[test]
fn unhonoured_destination_rule_fields_are_warnings() {
    let config = ConfigDir::new();
    config.write(
        "dr.yaml",
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: reviews\nspec:\n  host: reviews\n  trafficPolicy:\n    tunnel: {protocol: CONNECT, targetHost: proxy, targetPort: 8080}\n    connectionPool:\n      tcp: {maxConnections: -1}\n",
    );
    let output = validate(&[config.path()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for (code, expected) in [
        ("VST0201", "trafficPolicy.tunnel is not honoured"),
        (
            "VST0202",
            "trafficPolicy.connectionPool.tcp.maxConnections: -1 is not a count",
        ),
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("warning[{code}]: "))
                    && line.contains("DestinationRule default/reviews")
                    && line.contains(expected)),
            "{code} {expected}: {stdout}"
        );
    }
}

#[test]
fn serve_refuses_to_start_on_an_invalid_configuration() {
    let config = ConfigDir::new();
    config.write(
        "virtualservice.yaml",
        &SEED_VIRTUAL_SERVICE.replace("number: 8000", "number: eight"),
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(["serve", "--admin", "127.0.0.1:0", "--config"])
        .arg(config.path())
        .output()
        .expect("run vestibule serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("virtualservice.yaml:20:") && stderr.contains("not starting"),
        "{stderr}"
    );
}

/// The analyzer (`istioctl analyze`'s findings, with its codes): a
/// gateway, a destination host, a port of it and a subset that nothing
/// defines are errors; a host no bound gateway
/// serves, a Gateway nothing binds, a rule an earlier prefix shadows and a
/// host shared by VirtualServices are reported without failing.
#[test]
fn the_analyzer_reports_what_istioctl_analyze_would() {
    let config = repository().join("crates/vestibule/tests/validate");
    let output = validate(&[&config]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for expected in [
        "error[IST0101]: ",
        "VirtualService default/vs1: Referenced gateway not found: \"missing\"",
        "VirtualService default/vs2: Referenced host+subset in destinationrule not found: \"nosvc+v9\"",
        "VirtualService default/vs4: Referenced host not found: \"reviews\"",
        "VirtualService default/vs4: Referenced host:port not found: \"nosvc:9000\"",
        "warning[IST0132]: ",
        "host [other.org] defined in VirtualService default/vs1 not found in Gateway default/gw",
        "warning[VST0001]: ",
        "Gateway default/lonely: no VirtualService binds this Gateway",
        "info[IST0131]: ",
        "rule #1 match is not used: an earlier rule's prefix \"/api\"",
        "info[VST0002]: ",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    // The subset a DestinationRule defines is not reported.
    assert!(!stdout.contains("nosvc+v1"), "{stdout}");
    // Findings name the file and the resource's line.
    assert!(
        stdout.contains("analyzer.yaml:15: VirtualService default/vs1"),
        "{stdout}"
    );
    // The Service defines nosvc and its port 80, short name or full.
    assert!(!stdout.contains("not found: \"nosvc\""), "{stdout}");
    assert!(
        !stdout.contains("nosvc.default.svc.cluster.local:80"),
        "{stdout}"
    );
    assert!(stdout.ends_with("invalid: 4 problems\n"), "{stdout}");

    let json = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(["validate", "-o", "json"])
        .arg(&config)
        .output()
        .expect("run vestibule validate -o json");
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    assert_eq!(report["ok"], false);
    assert_eq!(report["errors"], 4);
    let gateway = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "IST0101" && p["name"] == "vs1")
        .expect("IST0101 for vs1");
    assert_eq!(gateway["level"], "error");
    assert_eq!(gateway["kind"], "VirtualService");
    assert!(gateway["source"]
        .as_str()
        .unwrap()
        .ends_with("analyzer.yaml:15"));
}

/// Gateway API: what status would say, before applying. References that
/// resolve to nothing are errors (VST0101, with the condition's reason);
/// listeners that cannot be programmed are warnings (VST0103).
#[test]
fn the_analyzer_reports_gateway_api_status_problems() {
    let golden = repository().join("crates/vestibule-translate/tests/golden/gateway_api");
    let output = validate(&[&golden.join("invalid_backends.yaml")]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for expected in [
        "HTTPRoute default/missing: ResolvedRefs False (BackendNotFound) for parent default/gw",
        "HTTPRoute default/cross-ns: ResolvedRefs False (RefNotPermitted) for parent default/gw: no ReferenceGrant",
        "HTTPRoute default/unknown-kind: ResolvedRefs False (InvalidKind)",
    ] {
        let line = stdout
            .lines()
            .find(|line| line.contains(expected))
            .unwrap_or_else(|| panic!("{expected:?} missing:\n{stdout}"));
        assert!(line.starts_with("error[VST0101]: "), "{line}");
        assert!(line.contains("invalid_backends.yaml:"), "{line}");
    }
    // Istio's Gateways: a server that cannot be served, with its reason.
    let istio = repository().join("crates/vestibule-translate/tests/golden/istio");
    let output = validate(&[&istio.join("tls_rejections.yaml")]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("warning[VST0103]: ")
            && stdout.contains("Gateway default/bad: listener istio-mutual: Accepted False (InvalidTLSConfig): tls.mode ISTIO_MUTUAL is not supported"),
        "{stdout}"
    );
    let output = validate(&[&golden.join("https_certificates.yaml")]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("warning[VST0103]: ")
            && stdout.contains("listener missing-secret: Programmed False (Invalid): Secret default/no-such-secret does not exist"),
        "{stdout}"
    );
}
