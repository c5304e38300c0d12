//! `labelSelector` and `fieldSelector`, as list and watch take them.

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FieldReq {
    Eq(&'static str, String),
    NotEq(&'static str, String),
}

/// A parsed label and field selector pair; the empty one matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
}

impl Selector {
    /// Parses both selectors. An unsupported field is an error: the real
    /// server refuses field labels a type does not index.
    pub(crate) fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Self, ApiError> {
        let mut s = Selector::default();
        if let Some(l) = labels {
            for part in split_top_level(l) {
                s.labels.push(parse_label(part)?);
            }
        }
        if let Some(f) = fields {
            for part in f.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                s.fields.push(parse_field(part)?);
            }
        }
        Ok(s)
    }

    pub(crate) fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let label = |k: &str| labels.and_then(|m| m.get(k)).and_then(Value::as_str);
        let label_ok = self.labels.iter().all(|r| match r {
            LabelReq::Eq(k, v) => label(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => label(k) != Some(v.as_str()),
            LabelReq::Exists(k) => label(k).is_some(),
            LabelReq::NotExists(k) => label(k).is_none(),
            LabelReq::In(k, vs) => label(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => !label(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        });
        let field = |f: &str| {
            let ptr = if f == "metadata.name" {
                "/metadata/name"
            } else {
                "/metadata/namespace"
            };
            obj.pointer(ptr)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        label_ok
            && self.fields.iter().all(|r| match r {
                FieldReq::Eq(f, v) => field(f) == *v,
                FieldReq::NotEq(f, v) => field(f) != *v,
            })
    }
}

/// Splits at commas outside `( )`.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.into_iter().filter(|p| !p.is_empty()).collect()
}

fn parse_label(part: &str) -> Result<LabelReq, ApiError> {
    let bad = || ApiError::bad_request(format!("unable to parse requirement: {part:?}"));
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(LabelReq::NotEq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(LabelReq::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some(k) = part.strip_prefix('!') {
        return Ok(LabelReq::NotExists(k.trim().into()));
    }
    let words: Vec<&str> = part.splitn(3, ' ').map(str::trim).collect();
    match words.as_slice() {
        [k] => Ok(LabelReq::Exists((*k).into())),
        [k, op, set] if *op == "in" || *op == "notin" => {
            let inner = set
                .trim()
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(bad)?;
            let vs: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            Ok(if *op == "in" {
                LabelReq::In((*k).into(), vs)
            } else {
                LabelReq::NotIn((*k).into(), vs)
            })
        }
        _ => Err(bad()),
    }
}

fn parse_field(part: &str) -> Result<FieldReq, ApiError> {
    let (key, value, neg) = if let Some((k, v)) = part.split_once("!=") {
        (k, v, true)
    } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        (k, v, false)
    } else {
        return Err(ApiError::bad_request(format!("invalid selector: {part:?}")));
    };
    let field = match key.trim() {
        "metadata.name" => "metadata.name",
        "metadata.namespace" => "metadata.namespace",
        other => {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {other}"
            )))
        }
    };
    let value = value.trim().to_string();
    Ok(if neg {
        FieldReq::NotEq(field, value)
    } else {
        FieldReq::Eq(field, value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({ "metadata": { "name": "a", "namespace": "ns", "labels": { "app": "web", "tier": "front" } } })
    }

    #[test]
    fn label_forms() {
        let m = |l: &str| Selector::parse(Some(l), None).unwrap().matches(&obj());
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("!missing"));
        assert!(m("app in (web, api),tier notin (back)"));
        assert!(!m("app in (api)"));
        assert!(!m("missing"));
    }

    #[test]
    fn field_forms() {
        let m = |f: &str| Selector::parse(None, Some(f)).unwrap().matches(&obj());
        assert!(m("metadata.name=a,metadata.namespace==ns"));
        assert!(!m("metadata.name!=a"));
        assert!(Selector::parse(None, Some("spec.nodeName=x")).is_err());
    }
}
