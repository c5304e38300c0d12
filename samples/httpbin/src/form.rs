//! Query-string, urlencoded-form and multipart parsing, shaped like werkzeug's
//! `MultiDict`s and httpbin's `semiflatten`.

use std::collections::BTreeMap;

use percent_encoding::percent_decode;
use serde_json::{Map, Value};

use crate::json::json_safe;

/// An ordered multi-map: every (key, value) pair in arrival order.
pub(crate) type Pairs = Vec<(String, String)>;

/// `application/x-www-form-urlencoded` decoding as werkzeug does it: pairs split
/// on `&`, empty pairs skipped, a key without `=` gets the value `""`, `+` is a
/// space, invalid UTF-8 is replaced.
pub(crate) fn parse_urlencoded(input: &[u8]) -> Pairs {
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            (decode_component(key), decode_component(value))
        })
        .collect()
}

fn decode_component(raw: &[u8]) -> String {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-decodes a path segment (no `+` handling), like werkzeug's routing.
pub(crate) fn decode_path_segment(raw: &str) -> String {
    percent_decode(raw.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

/// httpbin's `semiflatten`: keys with one value map to a string, keys with
/// several map to an array of strings.
pub(crate) fn semiflatten(pairs: &[(String, String)]) -> Value {
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (key, value) in pairs {
        grouped.entry(key).or_default().push(value);
    }
    let map: Map<String, Value> = grouped
        .into_iter()
        .map(|(key, mut values)| {
            let value = if values.len() == 1 {
                Value::String(values.remove(0).to_owned())
            } else {
                Value::Array(
                    values
                        .into_iter()
                        .map(|v| Value::String(v.to_owned()))
                        .collect(),
                )
            };
            (key.to_owned(), value)
        })
        .collect();
    Value::Object(map)
}

/// The last value for `key` compared case-insensitively (httpbin reads some
/// parameters through a `CaseInsensitiveDict` built from the query items).
pub(crate) fn get_ci<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Parsed `multipart/form-data`: plain fields go to `form`, parts with a
/// filename go to `files` (already passed through `json_safe`).
#[derive(Default)]
pub(crate) struct Multipart {
    pub(crate) form: Pairs,
    pub(crate) files: Pairs,
}

/// A small, forgiving `multipart/form-data` parser (enough for curl `-F` and
/// the usual client libraries). Malformed input yields whatever parsed so far.
pub(crate) fn parse_multipart(body: &[u8], boundary: &str) -> Multipart {
    let mut result = Multipart::default();
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();

    let Some(mut pos) = find(body, delimiter, 0) else {
        return result;
    };
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            break; // closing delimiter
        }
        // Skip transport padding and the CRLF after the delimiter line.
        let Some(line_end) = find(body, b"\r\n", pos) else {
            break;
        };
        let part_start = line_end + 2;
        let Some(next) = find(body, delimiter, part_start) else {
            break;
        };
        // The CRLF preceding the next delimiter belongs to the delimiter.
        let part_end = if next >= 2 && &body[next - 2..next] == b"\r\n" {
            next - 2
        } else {
            next
        };
        if part_end >= part_start {
            parse_part(&body[part_start..part_end], &mut result);
        }
        pos = next;
    }
    result
}

fn parse_part(part: &[u8], result: &mut Multipart) {
    let (head, content) = match find(part, b"\r\n\r\n", 0) {
        Some(i) => (&part[..i], &part[i + 4..]),
        None if part.starts_with(b"\r\n") => (&b""[..], &part[2..]),
        None => return,
    };
    let head = String::from_utf8_lossy(head);
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let Some((header, value)) = line.split_once(':') else {
            continue;
        };
        let header = header.trim();
        if header.eq_ignore_ascii_case("content-disposition") {
            for param in value.split(';').skip(1) {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                let v = unquote(v.trim());
                match k.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(v),
                    "filename" => filename = Some(v),
                    _ => {}
                }
            }
        } else if header.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_owned());
        }
    }
    let Some(name) = name else {
        return;
    };
    if filename.is_some() {
        let content_type = content_type.unwrap_or_else(|| "application/octet-stream".to_owned());
        result.files.push((name, json_safe(content, &content_type)));
    } else {
        result
            .form
            .push((name, String::from_utf8_lossy(content).into_owned()));
    }
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_owned(),
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() || needle.is_empty() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| unquote(v.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urlencoded_like_werkzeug() {
        let pairs = parse_urlencoded(b"a=1&b=x+y%21&a=2&&flag&e=");
        assert_eq!(
            semiflatten(&pairs),
            json!({"a": ["1", "2"], "b": "x y!", "flag": "", "e": ""})
        );
        assert_eq!(get_ci(&pairs, "A"), Some("2"));
    }

    #[test]
    fn multipart_fields_and_files() {
        let body = b"--XyZ\r\n\
Content-Disposition: form-data; name=\"field\"\r\n\r\n\
value 1\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\n\
Content-Type: text/plain\r\n\r\n\
file\r\ncontent\r\n\
--XyZ--\r\n";
        let ct = "multipart/form-data; boundary=\"XyZ\"";
        let parsed = parse_multipart(body, &boundary(ct).unwrap());
        assert_eq!(parsed.form, vec![("field".into(), "value 1".into())]);
        assert_eq!(
            parsed.files,
            vec![("upload".into(), "file\r\ncontent".into())]
        );
    }
}
