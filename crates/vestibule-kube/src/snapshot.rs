//! The objects one translation read, each as the loader read it (its JSON
//! with the metadata trimmed and the status set aside): what the admin API
//! shows `explain --admin` in Kubernetes mode. A document shares its text
//! with the object set; assembling a snapshot copies no object.

use std::sync::Arc;

use crate::kinds::KINDS;

/// One object of a translated set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Index in [`KINDS`]: the snapshot's order is the object set's.
    kind: usize,
    pub namespace: String,
    pub name: String,
    /// `None` for a Secret: its data is kept once, for serving, never shown.
    json: Option<Arc<str>>,
}

impl Document {
    pub(crate) fn new(
        (kind, namespace, name): &crate::objects::ObjectKey,
        json: Option<Arc<str>>,
    ) -> Document {
        Document {
            kind: *kind,
            namespace: namespace.clone(),
            name: name.clone(),
            json,
        }
    }

    /// The API group, `""` for the core group.
    pub fn group(&self) -> &'static str {
        KINDS[self.kind].group
    }

    pub fn kind(&self) -> &'static str {
        KINDS[self.kind].kind
    }

    /// The object as JSON; `None` for a Secret.
    pub fn json(&self) -> Option<&str> {
        self.json.as_deref()
    }

    fn key(&self) -> (usize, &str, &str) {
        (self.kind, &self.namespace, &self.name)
    }
}

/// `current` after an endpoint-only change: its documents of the kinds
/// endpoints are resolved from replaced by `endpoints` (what
/// [`Change::documents`](crate::Change::documents) holds for such a change).
pub fn with_endpoints(current: &[Document], endpoints: Vec<Document>) -> Vec<Document> {
    let mut documents: Vec<Document> = current
        .iter()
        .filter(|document| !KINDS[document.kind].resolves_endpoints())
        .cloned()
        .chain(endpoints)
        .collect();
    documents.sort_by(|a, b| a.key().cmp(&b.key()));
    documents
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{index_of, CORE, DISCOVERY, ISTIO};

    fn document(group: &str, kind: &str, name: &str, json: &str) -> Document {
        let key = (
            index_of(group, kind).expect("a watched kind"),
            "default".to_owned(),
            name.to_owned(),
        );
        Document::new(&key, Some(Arc::from(json)))
    }

    #[test]
    fn an_endpoint_change_replaces_only_what_endpoints_are_resolved_from() {
        let service = document(CORE, "Service", "web", "{}");
        let route = document(ISTIO, "VirtualService", "web", "{}");
        let old_slice = document(DISCOVERY, "EndpointSlice", "web-1", "{\"old\":1}");
        let new_slice = document(DISCOVERY, "EndpointSlice", "web-1", "{\"new\":1}");
        let current = vec![service.clone(), old_slice, route.clone()];
        let updated = with_endpoints(&current, vec![service.clone(), new_slice.clone()]);
        assert_eq!(updated, vec![service, new_slice, route]);
    }
}
