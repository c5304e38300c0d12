//! YAML parsing through serde-saphyr, with budgets against YAML bombs.

use serde::de::DeserializeOwned;
use serde_saphyr::{Budget, Error, ExternalMessageSource, MessageFormatter, Options};

use super::doc::{tracked, Doc, Failure, Parsed};
use super::path::FieldPath;

/// Parser options for untrusted manifests: no snippets in messages (the
/// loader formats its own), and budgets far above any real manifest but low
/// enough that an alias bomb or deep nesting fails fast.
pub(crate) fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = 128;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_recorded_anchor_events = 50_000;
    budget.max_recorded_anchor_bytes = 16 * 1024 * 1024;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_alias_expansions_per_anchor = 10_000;
    options.with_snippet = false;
    options
}

pub(crate) fn parse<T: DeserializeOwned>(
    doc: &Doc<'_>,
    item: Option<usize>,
) -> Result<Parsed<T>, Failure> {
    let mut ignored = Vec::new();
    let mut failed_at = FieldPath::default();
    let result = serde_saphyr::with_deserializer_from_str_with_options(doc.text, options(), |de| {
        tracked(de, item, &mut ignored, &mut failed_at)
    });
    match result {
        Ok(value) => Ok(Parsed { value, ignored }),
        Err(err) => Err(failure(doc, &err, failed_at)),
    }
}

fn failure(doc: &Doc<'_>, err: &Error, failed_at: FieldPath) -> Failure {
    let err = err.without_snippet();
    let (line, column) = err
        .location()
        .map(|loc| (clamp(loc.line()), clamp(loc.column())))
        .unwrap_or((0, 0));
    let syntax = is_syntax(err);
    let mut message = plain_words(&sanitize(
        &serde_saphyr::UserMessageFormatter.format_message(err),
    ));
    if !syntax && line > 0 && is_value_complaint(&message) {
        if let Some(found) = token_at(doc.text, line, column) {
            message = format!("{message}, found `{found}`");
        }
    }
    Failure {
        line: if line > 0 {
            line.saturating_add(doc.line_offset)
        } else {
            0
        },
        column,
        path: if syntax {
            FieldPath::default()
        } else {
            failed_at
        },
        message,
    }
}

/// Errors of the YAML text itself (as opposed to a value of the wrong type).
fn is_syntax(err: &Error) -> bool {
    match err {
        Error::ExternalMessage { source, .. } => {
            matches!(**source, ExternalMessageSource::Parser(_))
        }
        Error::AliasError { error, .. } => is_syntax(error),
        Error::Budget { .. }
        | Error::AliasReplayCounterOverflow { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. } => true,
        _ => false,
    }
}

/// serde-saphyr's type errors are terse (`invalid u32`): these are worth
/// completing with the text that was found.
fn is_value_complaint(message: &str) -> bool {
    message.starts_with("invalid ")
        || message.starts_with("expected ")
        || message.contains("did not match")
}

/// The text at a document position, up to the end of the line or a comment.
fn token_at(text: &str, line: u32, column: u32) -> Option<String> {
    let row = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let skip = usize::try_from(column).ok()?.saturating_sub(1);
    let rest: String = row.chars().skip(skip).collect();
    let rest = rest.split(" #").next().unwrap_or("").trim();
    if rest.is_empty() {
        return None;
    }
    const MAX: usize = 40;
    if rest.chars().count() > MAX {
        return Some(format!("{}…", rest.chars().take(MAX).collect::<String>()));
    }
    Some(rest.to_owned())
}

/// Parser event names read as jargon in a manifest error.
fn plain_words(message: &str) -> String {
    message
        .replace("expected mapping start", "expected a mapping")
        .replace("expected sequence start", "expected a list")
        .replace(
            "data did not match any variant of untagged enum IntOrString",
            "expected a number or a name",
        )
}

/// Messages are embedded in single-line diagnostics.
fn sanitize(message: &str) -> String {
    message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
