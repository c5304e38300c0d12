//! The one error type: a refusal the API server sends back as a
//! Kubernetes `Status` object.

use serde_json::{json, Value};

/// An answer that is not a success, in the shape kube-rs parses into
/// `kube::core::Status` (`kube::Error::Api`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code, also the `code` of the `Status` body.
    pub code: u16,
    /// The machine-readable `reason` (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// The human-readable message.
    pub message: String,
    /// `details`, as the real server fills it for object errors.
    pub details: Option<Box<Value>>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, name: &str, group: &str, plural: &str) -> Self {
        self.details = Some(Box::new(
            json!({ "name": name, "group": group, "kind": plural }),
        ));
        self
    }

    /// 404 for a path the server does not serve.
    pub(crate) fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 404 for an object that does not exist.
    pub(crate) fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
        )
        .with_details(name, group, plural)
    }

    /// 409 on create of an existing name.
    pub(crate) fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        )
        .with_details(name, group, plural)
    }

    /// 409 on a stale `metadata.resourceVersion` (optimistic concurrency).
    pub(crate) fn conflict(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
        )
        .with_details(name, group, plural)
    }

    /// 409 on a server-side apply that would take fields from another manager.
    pub(crate) fn apply_conflict(
        group: &str,
        plural: &str,
        name: &str,
        fields: &[(String, String)],
    ) -> Self {
        let list: Vec<String> = fields
            .iter()
            .map(|(m, p)| format!("conflict with \"{m}\": .{p}"))
            .collect();
        let causes: Vec<Value> = fields
            .iter()
            .map(|(m, p)| json!({ "reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": format!(".{p}") }))
            .collect();
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Apply failed with {} conflicts: {}",
                fields.len(),
                list.join("; ")
            ),
        )
        .with_details(name, group, plural);
        if let Some(Value::Object(d)) = e.details.as_deref_mut() {
            d.insert("causes".into(), Value::Array(causes));
        }
        e
    }

    /// 400 for a malformed request.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 422 for a request whose object is invalid.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// 405 for a verb the resource does not support.
    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415 for a patch type the fake does not implement.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (fake-apiserver does not implement {content_type})"))
    }

    /// 410 for a watch or list from a compacted resourceVersion.
    pub(crate) fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 503 during a simulated outage.
    pub(crate) fn unavailable() -> Self {
        Self::new(
            503,
            "ServiceUnavailable",
            "fake-apiserver: simulated outage",
        )
    }

    /// The `Status` object of this error.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = (**d).clone();
        }
        v
    }
}

/// `leases.coordination.k8s.io`, or `configmaps` for the core group.
fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}
