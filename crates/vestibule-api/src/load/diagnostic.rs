//! [`Diagnostic`]: one problem found while loading, with where it is.

use std::fmt;

/// One problem found while loading, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The path as given or joined, e.g. `examples/httpbin/gateway.yaml`.
    pub file: String,
    /// 1-based; 0 if unknown.
    pub line: u32,
    /// 1-based; 0 if unknown.
    pub column: u32,
    /// Field path within the document, e.g. `spec.http[0].route[1].weight`;
    /// empty for the whole document.
    pub field: String,
    /// Human text.
    pub message: String,
    /// `Kind namespace/name` when known.
    pub resource: Option<String>,
}

/// `FILE:LINE:COL: FIELD: MESSAGE (RESOURCE)`, leaving out the parts that are unknown.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            f.write_str(&self.file)?;
            if self.line > 0 {
                write!(f, ":{}", self.line)?;
                if self.column > 0 {
                    write!(f, ":{}", self.column)?;
                }
            }
            f.write_str(": ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(resource) = &self.resource {
            write!(f, " ({resource})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: u32, column: u32, field: &str, resource: Option<&str>) -> Diagnostic {
        Diagnostic {
            file: "cfg/vs.yaml".into(),
            line,
            column,
            field: field.into(),
            message: "bad".into(),
            resource: resource.map(str::to_owned),
        }
    }

    #[test]
    fn omits_unknown_parts() {
        let full = diag(12, 17, "spec.x", Some("VirtualService default/httpbin"));
        assert_eq!(
            full.to_string(),
            "cfg/vs.yaml:12:17: spec.x: bad (VirtualService default/httpbin)"
        );
        assert_eq!(diag(12, 0, "", None).to_string(), "cfg/vs.yaml:12: bad");
        assert_eq!(diag(0, 5, "", None).to_string(), "cfg/vs.yaml: bad");
    }
}
