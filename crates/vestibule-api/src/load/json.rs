//! JSON parsing through serde_json (one object per file).

use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::doc::{tracked, Doc, Failure, Parsed};
use super::path::FieldPath;

pub(crate) fn parse<T: DeserializeOwned>(
    doc: &Doc<'_>,
    item: Option<usize>,
) -> Result<Parsed<T>, Failure> {
    let mut ignored = Vec::new();
    let mut failed_at = FieldPath::default();
    let mut de = serde_json::Deserializer::from_str(doc.text);
    let result = tracked(&mut de, item, &mut ignored, &mut failed_at).and_then(|value| {
        de.end()?;
        Ok(value)
    });
    match result {
        Ok(value) => Ok(Parsed { value, ignored }),
        Err(err) => {
            let mut failure = failure(&err, failed_at);
            if failure.line > 0 {
                failure.line = failure.line.saturating_add(doc.line_offset);
            }
            Err(failure)
        }
    }
}

/// A serde_json error as a [`Failure`]; `failed_at` is kept for data errors only.
pub(crate) fn failure(err: &serde_json::Error, failed_at: FieldPath) -> Failure {
    let syntax = matches!(err.classify(), Category::Syntax | Category::Eof);
    let line = u32::try_from(err.line()).unwrap_or(u32::MAX);
    let column = u32::try_from(err.column()).unwrap_or(u32::MAX);
    let full = err.to_string();
    // serde_json appends the position, which the diagnostic already carries.
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    Failure {
        line,
        column,
        path: if syntax {
            FieldPath::default()
        } else {
            failed_at
        },
        message,
    }
}
