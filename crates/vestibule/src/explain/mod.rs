//! `vestibule explain`: how one request, written as curl would send it, is
//! routed by a configuration, and why it gets what it gets.
//!
//! The configuration is read and translated by the code `serve` and
//! `validate` use ([`crate::config::load`]); the request then walks the
//! routing table through the `vestibule-route` functions the proxy calls
//! ([`analyze`]), so explain and serve cannot disagree on a route.

mod action;
mod admin;
mod analyze;
mod report;
mod request;
mod sources;
mod text;
mod why;

use std::process::ExitCode;

use crate::cli::{ExplainArgs, OutputFormat};
use crate::config::Scope;

pub fn run(args: &ExplainArgs) -> ExitCode {
    let request = match request::Request::from_args(args) {
        Ok(request) => request,
        Err(error) => {
            eprintln!("vestibule explain: {error}");
            return ExitCode::from(2);
        }
    };
    let (loaded, scope, texts) = match &args.admin {
        Some(address) => match admin::fetch(address) {
            Ok(fetched) => fetched,
            Err(error) => {
                eprintln!("vestibule explain: {address}: {error}");
                return ExitCode::FAILURE;
            }
        },
        None => {
            let max_file_bytes = args.max_config_file_mb.saturating_mul(1024 * 1024);
            let loaded = vestibule_api::load::load_paths_with_limit(&args.config, max_file_bytes);
            let scope = Scope {
                identity: args.identity.identity(),
                gateway: args.gateway.clone(),
            };
            (loaded, scope, Default::default())
        }
    };
    if !loaded.errors.is_empty() {
        for error in &loaded.errors {
            eprintln!("error: {error}");
        }
        eprintln!(
            "vestibule explain: the configuration is invalid ({} errors); serve would not start with it",
            loaded.errors.len()
        );
        return ExitCode::FAILURE;
    }
    let translation = scope.translate(loaded.inputs.clone());
    let sources = sources::Sources::with_texts(&loaded.inputs, texts);
    let report = analyze::explain(&request, &translation, &sources);
    match args.output {
        OutputFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("vestibule explain: {error}");
                return ExitCode::FAILURE;
            }
        },
        OutputFormat::Text => print!("{}", text::render(&report)),
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests;
