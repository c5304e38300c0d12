//! The path sent upstream, or put in a redirect `Location`, after a rewrite.
//! The query is not part of it: the caller re-attaches the request's query.

use regex::{Captures, Replacer};
use vestibule_ir::{PathMatch, PathRewrite};

use crate::matcher::{raw_prefix_len, segment_prefix_len};

/// Rewrites `path` (normalized, without query). `matched` is the path
/// condition of the match alternative that selected the route, which tells a
/// prefix rewrite how much of the path to replace.
pub fn rewrite_path(path: &str, matched: Option<&PathMatch>, rewrite: &PathRewrite) -> String {
    match rewrite {
        PathRewrite::Full(replacement) => replacement.clone(),
        PathRewrite::Prefix(replacement) => replace_prefix(path, matched, replacement),
        PathRewrite::Regex {
            pattern,
            substitution,
        } => pattern
            .regex()
            .replace_all(path, Re2Substitution(substitution))
            .into_owned(),
    }
}

fn replace_prefix(path: &str, matched: Option<&PathMatch>, replacement: &str) -> String {
    let prefix_len = match matched {
        Some(PathMatch::Prefix { value, ignore_case }) => {
            raw_prefix_len(path, value, *ignore_case).filter(|&len| path.is_char_boundary(len))
        }
        Some(PathMatch::SegmentPrefix { value }) => {
            return segment_prefix_len(path, value).map_or_else(
                || replacement.to_owned(),
                |len| replace_prefix_match(replacement, &path[len..]),
            );
        }
        _ => None,
    };
    match prefix_len {
        // Envoy `prefix_rewrite`: exactly the matched characters are replaced
        // (`/foo` → `/bar` turns `/foobar` into `/barbar`).
        Some(len) => format!("{replacement}{}", &path[len..]),
        // No prefix was matched: the replacement is the whole path.
        None => replacement.to_owned(),
    }
}

/// Gateway API `ReplacePrefixMatch`. `rest` is what follows the matched path
/// elements: empty or starting with `/`. The spec's table, which this
/// implements:
///
/// ```text
/// Request Path | Prefix Match | Replace Prefix | Modified Path
/// /foo/bar     | /foo         | /xyz           | /xyz/bar
/// /foo/bar     | /foo         | /xyz/          | /xyz/bar
/// /foo/bar     | /foo/        | /xyz           | /xyz/bar
/// /foo         | /foo         | /xyz           | /xyz
/// /foo/        | /foo         | /xyz           | /xyz/
/// /foo/bar     | /foo         | <empty string> | /bar
/// /foo/        | /foo         | <empty string> | /
/// /foo         | /foo         | <empty string> | /
/// /foo/        | /foo         | /              | /
/// ```
///
/// Dropping the replacement's trailing `/` is what keeps `//` out.
fn replace_prefix_match(replacement: &str, rest: &str) -> String {
    let replacement = replacement.trim_end_matches('/');
    let mut path = String::with_capacity(1 + replacement.len() + rest.len());
    let leading = if replacement.is_empty() {
        rest
    } else {
        replacement
    };
    if !leading.starts_with('/') {
        path.push('/');
    }
    path.push_str(replacement);
    path.push_str(rest);
    path
}

/// Envoy `regex_rewrite` substitution syntax (RE2 `Rewrite`): `\0`–`\9`
/// insert a capture group, `\\` a backslash; everything else is literal
/// (unlike the `regex` crate's own `$name` templates, so a `$` in a path
/// stays a `$`). Expanded directly from the IR string: nothing is parsed
/// into a template per request.
struct Re2Substitution<'s>(&'s str);

impl Replacer for Re2Substitution<'_> {
    fn replace_append(&mut self, captures: &Captures<'_>, dst: &mut String) {
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                dst.push(c);
                continue;
            }
            match chars.next() {
                Some(digit @ '0'..='9') => {
                    let group = digit as usize - '0' as usize;
                    if let Some(text) = captures.get(group) {
                        dst.push_str(text.as_str());
                    }
                }
                Some('\\') => dst.push('\\'),
                Some(other) => {
                    dst.push('\\');
                    dst.push(other);
                }
                None => dst.push('\\'),
            }
        }
    }
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
