//! Istio `HTTPMatchRequest` → IR `RouteMatch`.

use vestibule_api::istio::{HttpMatchRequest, StringMatch};
use vestibule_ir::{HeaderMatch, PathMatch, Pattern, QueryMatch, RouteMatch, StringMatcher};

/// A field of a match, for error messages (`spec.http[0].match[1].uri`).
pub(crate) type FieldError = (String, String);

pub(crate) fn convert_match(
    input: &HttpMatchRequest,
    field: &str,
) -> Result<RouteMatch, FieldError> {
    let path = match &input.uri {
        // Concatenated: `format!` cost more than the match (one a route).
        Some(uri) => path_match(uri, input.ignore_uri_case, &[field, ".uri"].concat())?,
        None => None,
    };
    Ok(RouteMatch {
        path,
        method: optional(&input.method, || format!("{field}.method"))?,
        scheme: optional(&input.scheme, || format!("{field}.scheme"))?,
        authority: optional(&input.authority, || format!("{field}.authority"))?,
        headers: header_matches(input, field)?,
        query_params: query_matches(input, field)?,
    })
}

fn path_match(
    uri: &StringMatch,
    ignore_case: bool,
    field: &str,
) -> Result<Option<PathMatch>, FieldError> {
    Ok(match string_matcher(uri, field)? {
        None => None,
        Some(StringMatcher::Exact(value)) => Some(PathMatch::Exact { value, ignore_case }),
        Some(StringMatcher::Prefix(value)) => Some(PathMatch::Prefix { value, ignore_case }),
        Some(StringMatcher::Regex(pattern)) => Some(PathMatch::Regex { pattern }),
        Some(StringMatcher::Suffix(_)) => unreachable!("Istio has no suffix match"),
    })
}

/// The field's name is made only when the field is set: a route table of
/// ten thousand matches would format thirty thousand names for nothing.
fn optional(
    value: &Option<StringMatch>,
    field: impl FnOnce() -> String,
) -> Result<Option<StringMatcher>, FieldError> {
    match value {
        Some(value) => string_matcher(value, &field()),
        None => Ok(None),
    }
}

/// One of exact/prefix/regex; none set means "present" (headers, query).
pub(crate) fn string_matcher(
    value: &StringMatch,
    field: &str,
) -> Result<Option<StringMatcher>, FieldError> {
    let set = [&value.exact, &value.prefix, &value.regex]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if set > 1 {
        return Err((
            field.to_owned(),
            "only one of exact, prefix or regex may be set".to_owned(),
        ));
    }
    if let Some(exact) = &value.exact {
        return Ok(Some(StringMatcher::Exact(exact.clone())));
    }
    if let Some(prefix) = &value.prefix {
        return Ok(Some(StringMatcher::Prefix(prefix.clone())));
    }
    match value.regex.as_deref() {
        // Istio treats regex "*" as "present".
        Some("*") | None => Ok(None),
        Some(regex) => Pattern::new(regex)
            .map(|pattern| Some(StringMatcher::Regex(pattern)))
            .map_err(|error| {
                (
                    format!("{field}.regex"),
                    format!("invalid regex {regex:?}: {error}"),
                )
            }),
    }
}

fn header_matches(input: &HttpMatchRequest, field: &str) -> Result<Vec<HeaderMatch>, FieldError> {
    let present = input
        .headers
        .iter()
        .map(|(name, value)| (name, value, false));
    let absent = input
        .without_headers
        .iter()
        .map(|(name, value)| (name, value, true));
    present
        .chain(absent)
        .map(|(name, value, invert)| {
            let list = if invert { "withoutHeaders" } else { "headers" };
            let field = format!("{field}.{list}.{name}");
            validate_header_name(name, &field)?;
            Ok(HeaderMatch {
                name: name.to_ascii_lowercase(),
                matcher: string_matcher(value, &field)?,
                invert,
            })
        })
        .collect()
}

fn query_matches(input: &HttpMatchRequest, field: &str) -> Result<Vec<QueryMatch>, FieldError> {
    input
        .query_params
        .iter()
        .map(|(name, value)| {
            let field = format!("{field}.queryParams.{name}");
            Ok(QueryMatch {
                name: name.clone(),
                matcher: string_matcher(value, &field)?,
            })
        })
        .collect()
}

pub(crate) fn validate_header_name(name: &str, field: &str) -> Result<(), FieldError> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map(drop)
        .map_err(|_| (field.to_owned(), format!("invalid header name {name:?}")))
}
