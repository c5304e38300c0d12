//! `vestibule validate`: every problem, with file, line and field path,
//! and the analyzer's findings (`analyze`). Exit 1 on an error, 0 with
//! warnings only.

use std::io::Write as _;
use std::process::ExitCode;

use serde_json::json;
use vestibule_ir::status::{ResourceStatus, Statuses, WarningKind};

use crate::analyze::{self, Finding, Level};
use crate::cli::{ValidateArgs, ValidateOutput};
use crate::config;

/// One line of the report.
struct Problem {
    level: Level,
    code: Option<&'static str>,
    text: String,
    finding: Option<Finding>,
}

impl Problem {
    fn plain(level: Level, text: String) -> Problem {
        Problem {
            level,
            code: None,
            text,
            finding: None,
        }
    }
}

pub fn run(args: &ValidateArgs) -> ExitCode {
    let max_file_bytes = args.max_config_file_mb.saturating_mul(1024 * 1024);
    let loaded = vestibule_api::load::load_paths_with_limit(&args.paths, max_file_bytes);
    let mut problems: Vec<Problem> = loaded
        .warnings
        .iter()
        .map(|warning| Problem::plain(Level::Warning, warning.to_string()))
        .collect();
    problems.extend(
        loaded
            .errors
            .iter()
            .map(|error| Problem::plain(Level::Error, error.to_string())),
    );
    if loaded.errors.is_empty() {
        let identity = args.identity.identity();
        let translation = vestibule_translate::translate(&loaded.inputs, &identity);
        problems.extend(
            config::translation_problems(&translation)
                .into_iter()
                .map(|problem| Problem::plain(Level::Error, problem)),
        );
        problems.extend(status_warnings(&translation.statuses));
        problems.extend(
            analyze::analyze(&loaded.inputs, &identity, &translation.statuses)
                .into_iter()
                .map(|finding| Problem {
                    level: finding.level,
                    code: Some(finding.code),
                    text: finding.to_string(),
                    finding: Some(finding),
                }),
        );
    }
    let errors = problems.iter().filter(|p| p.level == Level::Error).count();
    match args.output {
        ValidateOutput::Text => print_text(&problems, errors, loaded.files.len()),
        ValidateOutput::Json => print_json(&problems, errors, loaded.files.len()),
    }
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_text(problems: &[Problem], errors: usize, files: usize) {
    // Warnings first, then errors, as before the analyzer: the verdict
    // closes the report.
    for problem in problems.iter().filter(|p| p.level != Level::Error) {
        match problem.code {
            Some(_) => println!("{}", problem.text),
            None => println!("warning: {}", problem.text),
        }
    }
    for problem in problems.iter().filter(|p| p.level == Level::Error) {
        match problem.code {
            Some(_) => println!("{}", problem.text),
            None => println!("error: {}", problem.text),
        }
    }
    if errors == 0 {
        println!("ok: {files} files, 0 problems");
    } else {
        println!("invalid: {errors} problems");
    }
}

/// A translator warning's code, by the kind the translator gave it:
/// VST0201 a field read and not honoured (or not supported), VST0202 a
/// resource, rule or value not applied, VST0200 the rest. (VST0203: an
/// Ingress this gateway does not serve.)
fn warning_code(kind: WarningKind) -> &'static str {
    match kind {
        WarningKind::NotHonoured => "VST0201",
        WarningKind::NotApplied => "VST0202",
        WarningKind::Other => "VST0200",
    }
}

fn print_json(problems: &[Problem], errors: usize, files: usize) {
    let listed: Vec<_> = problems
        .iter()
        .map(|problem| match (&problem.finding, problem.code) {
            (Some(finding), _) => json!(finding),
            (None, Some(code)) => {
                json!({"code": code, "level": problem.level, "message": problem.text})
            }
            (None, None) => json!({"level": problem.level, "message": problem.text}),
        })
        .collect();
    let report = json!({"ok": errors == 0, "files": files, "errors": errors, "problems": listed});
    // A reader that stops early (`| head`) is not an error of ours.
    let _ = writeln!(std::io::stdout(), "{report:#}");
}

/// What the translator accepted but says is not honoured, or not served,
/// must be seen, never silently ignored. Each gets a code by its kind
/// (see [`warning_code`]).
fn status_warnings(statuses: &Statuses) -> Vec<Problem> {
    let mut warnings = Vec::new();
    coded(&mut warnings, "VirtualService", &statuses.virtual_services);
    coded(
        &mut warnings,
        "DestinationRule",
        &statuses.destination_rules,
    );
    coded(&mut warnings, "ServiceEntry", &statuses.service_entries);
    coded(&mut warnings, "Telemetry", &statuses.telemetries);
    // An Ingress that is not ours is not an error (another controller
    // may serve it), but the user should know this gateway ignores it.
    for ingress in &statuses.ingresses {
        for c in ingress.conditions.iter().filter(|c| !c.is_true()) {
            warnings.push(Problem {
                level: Level::Warning,
                code: Some("VST0203"),
                text: format!(
                    "warning[VST0203]: {}: Ingress {}/{}: not served ({}): {}",
                    ingress.source, ingress.namespace, ingress.name, c.reason, c.message
                ),
                finding: None,
            });
        }
    }
    // What of a served Ingress is not: by kind, as for the others.
    coded(&mut warnings, "Ingress", &statuses.ingresses);
    warnings
}

/// The warnings on the statuses of resources of `kind`, coded.
fn coded<S: std::borrow::Borrow<ResourceStatus>>(
    problems: &mut Vec<Problem>,
    kind: &str,
    list: &[S],
) {
    for status in list.iter().map(S::borrow) {
        for warning in &status.warnings {
            let code = warning_code(warning.kind);
            problems.push(Problem {
                level: Level::Warning,
                code: Some(code),
                text: format!(
                    "warning[{code}]: {}: {kind} {}/{}: {warning}",
                    status.source, status.namespace, status.name
                ),
                finding: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use vestibule_ir::status::{ResourceStatus, Statuses, Warning};

    use super::status_warnings;

    /// The code follows the kind the translator gave, never the words:
    /// a warning of another kind that says "not honoured" is not VST0201.
    #[test]
    fn each_warning_kind_gets_its_code() {
        let warnings = vec![
            Warning::not_honoured("spec.x is not honoured"),
            Warning::not_applied("spec.y: 0 is not a port; the default applies"),
            Warning::other("spec.z: referenced service is not honoured anywhere"),
        ];
        let status = ResourceStatus {
            namespace: "default".to_owned(),
            name: "r".to_owned(),
            source: "r.yaml:1".to_owned(),
            conditions: Vec::new(),
            warnings,
        };
        let statuses = Statuses {
            destination_rules: vec![status.clone()],
            ingresses: vec![status],
            ..Statuses::default()
        };
        let problems = status_warnings(&statuses);
        let codes: Vec<_> = problems.iter().filter_map(|p| p.code).collect();
        let expected = ["VST0201", "VST0202", "VST0200"];
        assert_eq!(codes, [expected, expected].concat());
        assert_eq!(
            problems[0].text,
            "warning[VST0201]: r.yaml:1: DestinationRule default/r: spec.x is not honoured"
        );
        assert!(problems[5].text.contains("Ingress default/r"));
    }
}
