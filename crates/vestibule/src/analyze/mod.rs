//! `validate`'s analyzer: what `istioctl analyze` would tell a user before
//! they apply, on the same inputs the translator reads. Each finding has a
//! stable code (istioctl's where one exists, `VST…` where none does), a
//! level, and the resource and `file:line` it is about.

mod istio;
mod statuses;

use serde::Serialize;
use vestibule_api::{Inputs, Resource};
use vestibule_ir::status::Statuses;
use vestibule_translate::GatewayIdentity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub level: Level,
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// `file:line`.
    pub source: String,
    pub message: String,
}

impl Finding {
    fn about<S>(
        code: &'static str,
        level: Level,
        kind: &'static str,
        resource: &Resource<S>,
        message: String,
    ) -> Finding {
        Finding {
            code,
            level,
            kind,
            namespace: resource.namespace().to_owned(),
            name: resource.name().to_owned(),
            source: resource.source.to_string(),
            message,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
        };
        write!(
            f,
            "{level}[{}]: {}: {} {}/{}: {}",
            self.code, self.source, self.kind, self.namespace, self.name, self.message
        )
    }
}

/// Every finding, errors first, then by file and line.
pub fn analyze(inputs: &Inputs, identity: &GatewayIdentity, statuses: &Statuses) -> Vec<Finding> {
    let mut findings = istio::analyze(inputs, identity);
    findings.extend(statuses::analyze(statuses));
    findings.sort_by(|a, b| {
        let rank = |level: Level| level as u8;
        rank(a.level)
            .cmp(&rank(b.level))
            .then_with(|| a.source.cmp(&b.source))
    });
    findings
}
