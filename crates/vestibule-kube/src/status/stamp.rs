//! `lastTransitionTime`: when a condition last changed status. A condition
//! whose status is what the object already says keeps its time; only a
//! new condition or a changed status gets the time of this write.

use std::time::SystemTime;

use serde_json::Value;

/// Fields that identify an entry of a status list (a listener by name, a
/// parent by its reference and controller).
const IDENTITY: &[&str] = &["name", "parentRef", "ancestorRef", "controllerName"];

pub(super) fn now() -> String {
    crate::time::rfc3339(SystemTime::now())
}

/// Sets `lastTransitionTime` on every condition in `wanted`, taking it
/// from the matching condition of `current` when the status is the same.
pub(super) fn transition_times(wanted: &mut Value, current: &Value, now: &str) {
    let Some(fields) = wanted.as_object_mut() else {
        return;
    };
    for (field, value) in fields.iter_mut() {
        let before = current.get(field).unwrap_or(&Value::Null);
        if field == "conditions" {
            conditions(value, before, now);
            continue;
        }
        if let Some(entries) = value.as_array_mut() {
            for entry in entries {
                if entry.get("lastTransitionTime").is_some() {
                    continue; // another controller's entry, kept as it is
                }
                let matching = before
                    .as_array()
                    .and_then(|list| list.iter().find(|candidate| same_entry(entry, candidate)))
                    .unwrap_or(&Value::Null);
                transition_times(entry, matching, now);
            }
        }
    }
}

fn same_entry(wanted: &Value, candidate: &Value) -> bool {
    IDENTITY
        .iter()
        .filter_map(|field| Some((wanted.get(field)?, *field)))
        .all(|(value, field)| candidate.get(field) == Some(value))
}

fn conditions(wanted: &mut Value, current: &Value, now: &str) {
    let Some(list) = wanted.as_array_mut() else {
        return;
    };
    for condition in list {
        let kind = condition.get("type").cloned();
        let status = condition.get("status").cloned();
        let time = current
            .as_array()
            .and_then(|old| {
                old.iter()
                    .find(|c| c.get("type") == kind.as_ref() && c.get("status") == status.as_ref())
            })
            .and_then(|old| old.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| Value::String(now.to_owned()));
        if let Some(fields) = condition.as_object_mut() {
            fields.insert("lastTransitionTime".to_owned(), time);
        }
    }
}
