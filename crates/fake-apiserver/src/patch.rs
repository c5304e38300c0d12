//! JSON merge patch (RFC 7386) and a small server-side apply.
//!
//! Server-side apply here is "managedFields-lite": each manager owns a set
//! of leaf paths (object keys down to a scalar or a list; an empty map owns
//! nothing).
//! Lists are atomic, as in a CRD schema without `x-kubernetes-list-type`:
//! a manager that applies a list owns all of it. That is enough for what
//! vestibule needs to be checked against: conflicts with another writer's
//! fields, `force`, and fields dropped from a manager's next apply being
//! removed unless someone else still owns them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// A path of object keys from the root.
pub(crate) type FieldPath = Vec<String>;

/// Who owns which leaf paths of one object.
pub(crate) type Managers = BTreeMap<String, BTreeSet<FieldPath>>;

/// Which part of an object a write may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Everything but `status`: the main resource of a type with a status
    /// subresource.
    AllButStatus,
    /// Only `status`: the `/status` subresource.
    StatusOnly,
    /// Everything: types without a status subresource, and the test's admin.
    All,
}

impl Scope {
    pub(crate) fn covers(self, path: &[String]) -> bool {
        if is_system(path) {
            return false;
        }
        let status = path.first().is_some_and(|k| k == "status");
        match self {
            Scope::AllButStatus => !status,
            Scope::StatusOnly => status,
            Scope::All => true,
        }
    }
}

/// Fields the server owns: identity and bookkeeping.
fn is_system(path: &[String]) -> bool {
    match path {
        [k] => k == "apiVersion" || k == "kind" || k == "metadata",
        [m, f, ..] if m == "metadata" => matches!(
            f.as_str(),
            "name"
                | "namespace"
                | "resourceVersion"
                | "uid"
                | "managedFields"
                | "creationTimestamp"
                | "generation"
                | "deletionTimestamp"
                | "selfLink"
        ),
        _ => false,
    }
}

/// Applies an RFC 7386 merge patch to `target`.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The leaf paths of `v` (an object at the root).
pub(crate) fn leaves(v: &Value) -> BTreeSet<FieldPath> {
    fn walk(v: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    path.push(k.clone());
                    walk(x, path, out);
                    path.pop();
                }
            }
            _ if !path.is_empty() => {
                out.insert(path.clone());
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

pub(crate) fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn set_path(v: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for k in parents {
        if !cur.get(k).is_some_and(Value::is_object) {
            cur[k.as_str()] = Value::Object(Map::new());
        }
        cur = cur.get_mut(k).expect("inserted above");
    }
    cur[last.as_str()] = value;
}

/// Removes the field at `path`, then parents left empty.
fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if let Some(Value::Object(m)) = parents.iter().try_fold(&mut *v, |v, k| v.get_mut(k)) {
        m.remove(last);
        if m.is_empty() && !parents.is_empty() {
            remove_path(v, parents);
        }
    }
}

/// One path is the other or lies under it.
fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Dotted form for messages (`spec.rules`).
pub(crate) fn display(path: &[String]) -> String {
    path.join(".")
}

/// Server-side apply of `config` by `manager` onto `object`. Returns the
/// conflicting (manager, path) pairs when `force` is off and another
/// manager owns a field `config` sets to a different value.
pub(crate) fn apply(
    object: &mut Value,
    managers: &mut Managers,
    manager: &str,
    config: &Value,
    scope: Scope,
    force: bool,
) -> Result<(), Vec<(String, String)>> {
    let wanted: BTreeSet<FieldPath> = leaves(config)
        .into_iter()
        .filter(|p| scope.covers(p))
        .collect();
    let mut conflicts = Vec::new();
    for p in &wanted {
        if get_path(object, p) == get_path(config, p) {
            continue; // same value: shared ownership, never a conflict
        }
        for (m, owned) in managers.iter() {
            if m != manager && owned.iter().any(|q| overlaps(p, q)) {
                conflicts.push((m.clone(), display(p)));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    for (m, owned) in managers.iter_mut() {
        if m != manager {
            owned.retain(|q| {
                !wanted
                    .iter()
                    .any(|p| overlaps(p, q) && get_path(object, p) != get_path(config, p))
            });
        }
    }
    let previous = managers.remove(manager).unwrap_or_default();
    for q in previous.difference(&wanted) {
        let still_owned = managers.values().any(|s| s.iter().any(|o| overlaps(o, q)));
        if !still_owned {
            remove_path(object, q);
        }
    }
    for p in &wanted {
        let value = get_path(config, p).cloned().unwrap_or(Value::Null);
        set_path(object, p, value);
    }
    managers.retain(|_, s| !s.is_empty());
    if !wanted.is_empty() {
        managers.insert(manager.to_string(), wanted);
    }
    Ok(())
}

/// Ownership after a non-apply write (create, update, merge patch): the
/// writer takes every field it changed, and fields that disappeared are
/// owned by no one, as the real server records an "Update" operation.
pub(crate) fn record_update(
    managers: &mut Managers,
    manager: &str,
    old: &Value,
    new: &Value,
    scope: Scope,
) {
    let new_leaves = leaves(new);
    let changed: Vec<FieldPath> = new_leaves
        .iter()
        .filter(|p| scope.covers(p) && get_path(old, p) != get_path(new, p))
        .cloned()
        .collect();
    let removed: Vec<FieldPath> = leaves(old)
        .into_iter()
        .filter(|p| scope.covers(p) && !new_leaves.contains(p))
        .collect();
    for owned in managers.values_mut() {
        owned.retain(|q| !changed.iter().chain(&removed).any(|p| overlaps(p, q)));
    }
    if !changed.is_empty() {
        managers
            .entry(manager.to_string())
            .or_default()
            .extend(changed);
    }
    managers.retain(|_, s| !s.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_examples() {
        let mut t = json!({ "a": "b", "c": { "d": "e", "f": "g" } });
        merge_patch(&mut t, &json!({ "a": "z", "c": { "f": null } }));
        assert_eq!(t, json!({ "a": "z", "c": { "d": "e" } }));
        let mut t = json!({ "a": [1, 2] });
        merge_patch(&mut t, &json!({ "a": [3] }));
        assert_eq!(t, json!({ "a": [3] }));
    }

    #[test]
    fn apply_conflicts_force_and_removal() {
        let mut obj = json!({ "spec": {} });
        let mut m = Managers::new();
        apply(
            &mut obj,
            &mut m,
            "a",
            &json!({ "spec": { "x": 1, "y": 2 } }),
            Scope::All,
            false,
        )
        .unwrap();
        // Same value: shared, no conflict.
        apply(
            &mut obj,
            &mut m,
            "b",
            &json!({ "spec": { "x": 1 } }),
            Scope::All,
            false,
        )
        .unwrap();
        // Different value: conflict, unless forced.
        let err = apply(
            &mut obj,
            &mut m,
            "b",
            &json!({ "spec": { "y": 3 } }),
            Scope::All,
            false,
        )
        .unwrap_err();
        assert_eq!(err, vec![("a".to_string(), "spec.y".to_string())]);
        // b dropped x, but a still owns it; y is b's now.
        apply(
            &mut obj,
            &mut m,
            "b",
            &json!({ "spec": { "y": 3 } }),
            Scope::All,
            true,
        )
        .unwrap();
        assert_eq!(obj, json!({ "spec": { "x": 1, "y": 3 } }));
        // a drops x: nobody owns it any more, so it goes.
        apply(
            &mut obj,
            &mut m,
            "a",
            &json!({ "spec": {} }),
            Scope::All,
            false,
        )
        .unwrap();
        assert_eq!(obj, json!({ "spec": { "y": 3 } }));
    }
}
