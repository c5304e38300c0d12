//! Kubernetes object metadata shared by every kind, and where a resource came from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The namespace of a resource that does not name one (as `kubectl apply` does).
pub const DEFAULT_NAMESPACE: &str = "default";

/// `apiVersion` and `kind` of a document: read first to pick the typed parser.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
}

impl TypeMeta {
    /// The API group: the part of `apiVersion` before `/`, empty for the core group.
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(group, _)| group)
            .unwrap_or("")
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    /// Empty when the document did not say; the loader fills in [`DEFAULT_NAMESPACE`].
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339, as Kubernetes writes it. Compared as a string: the format sorts chronologically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// Kubernetes starts it at 1; a file that does not say is at 1 too.
    #[serde(default = "first_generation")]
    pub generation: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

fn first_generation() -> i64 {
    1
}

/// Where a resource was declared, for error messages and status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    /// The file it was read from; empty for objects from the Kubernetes API.
    /// Shared by every object of the file.
    pub file: std::sync::Arc<str>,
    /// 1-based line of the document's first line; 0 when unknown.
    pub line: u32,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.file.is_empty() {
            return f.write_str("<kubernetes>");
        }
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One typed resource: its metadata, its spec, and where it came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Resource<S> {
    /// Shared, as the metadata is (two strings a copy would allocate).
    pub type_meta: std::sync::Arc<TypeMeta>,
    /// Shared, as the spec is: a reload that replays a document copies its
    /// resource, and the metadata was most of that copy's cost (two
    /// strings, and the maps).
    pub meta: std::sync::Arc<ObjectMeta>,
    /// Shared: a reload that finds a document unchanged takes its parsed
    /// spec again rather than a copy (and the translator can tell it is
    /// the same spec by its address).
    pub spec: std::sync::Arc<S>,
    pub source: Source,
}

impl<S> Resource<S> {
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    pub fn namespace(&self) -> &str {
        &self.meta.namespace
    }

    /// `namespace/name`, the key resources are reported under.
    pub fn key(&self) -> String {
        format!("{}/{}", self.meta.namespace, self.meta.name)
    }
}
