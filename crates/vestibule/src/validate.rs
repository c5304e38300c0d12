//! `vestibule validate`: every problem, with file, line and field path.

use std::process::ExitCode;

use crate::cli::ValidateArgs;
use crate::config;

pub fn run(args: &ValidateArgs) -> ExitCode {
    let max_file_bytes = args.max_config_file_mb.saturating_mul(1024 * 1024);
    let loaded = vestibule_api::load::load_paths_with_limit(&args.paths, max_file_bytes);
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
    let mut problems: Vec<String> = loaded
        .errors
        .iter()
        .map(|error| format!("error: {error}"))
        .collect();
    if loaded.errors.is_empty() {
        let translation = vestibule_translate::translate(&loaded.inputs, &args.identity.identity());
        problems.extend(
            config::translation_problems(&translation)
                .into_iter()
                .map(|problem| format!("error: {problem}")),
        );
        for vs in &translation.statuses.virtual_services {
            for warning in &vs.warnings {
                println!(
                    "warning: {}: VirtualService {}/{}: {warning}",
                    vs.source, vs.namespace, vs.name
                );
            }
        }
        // What a DestinationRule says that is not honoured (or not
        // applied) must be seen, never silently ignored.
        for rule in &translation.statuses.destination_rules {
            for warning in &rule.warnings {
                println!(
                    "warning: {}: DestinationRule {}/{}: {warning}",
                    rule.source, rule.namespace, rule.name
                );
            }
        }
        for telemetry in &translation.statuses.telemetries {
            for warning in &telemetry.warnings {
                println!(
                    "warning: {}: Telemetry {}/{}: {warning}",
                    telemetry.source, telemetry.namespace, telemetry.name
                );
            }
        }
        // An Ingress that is not ours is not an error (another controller
        // may serve it), but the user should know this gateway ignores it.
        for ingress in &translation.statuses.ingresses {
            let not_served = ingress.conditions.iter().filter(|c| !c.is_true());
            let lines = not_served
                .map(|c| format!("not served ({}): {}", c.reason, c.message))
                .chain(ingress.warnings.iter().cloned());
            for line in lines {
                println!(
                    "warning: {}: Ingress {}/{}: {line}",
                    ingress.source, ingress.namespace, ingress.name
                );
            }
        }
    }
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        println!("ok: {} files, {} problems", loaded.files.len(), 0);
        ExitCode::SUCCESS
    } else {
        println!("invalid: {} problems", problems.len());
        ExitCode::FAILURE
    }
}
