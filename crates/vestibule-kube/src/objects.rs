//! What the API server holds, as vestibule reads it: every watched object
//! converted once, when it arrives, to its typed form; the whole set is
//! assembled into [`Inputs`] when the control loop asks.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use vestibule_api::load::Diagnostic;
use vestibule_api::{Inputs, Loaded};

use crate::kinds::{Effect, KINDS, SECRET};
use crate::snapshot::Document;

/// `(kind index, namespace, name)`; the order is the order of the set.
pub(crate) type ObjectKey = (usize, String, String);

/// One object: its typed form (a one-resource [`Inputs`], or why it was
/// refused) and what the status writer needs of the raw object.
#[derive(Debug)]
pub(crate) struct Object {
    typed: Result<Inputs, Vec<Diagnostic>>,
    warnings: Vec<Diagnostic>,
    /// The JSON the typed form was read from, for [`Document`]s; none for
    /// a refused object or a Secret.
    json: Option<Arc<str>>,
    pub(crate) raw: Raw,
}

/// The parts of the raw object kept for writing status back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Raw {
    pub api_version: String,
    pub resource_version: String,
    /// `status`, for kinds whose status vestibule writes or reads.
    pub status: Option<Value>,
}

/// The objects of every kind, and what changed since the last look.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    objects: BTreeMap<ObjectKey, Object>,
    changed: Option<Effect>,
}

impl Objects {
    pub(crate) fn upsert(&mut self, kind: usize, value: Value) {
        let Some(key) = key_of(kind, &value) else {
            return;
        };
        let object = convert(kind, value);
        self.objects.insert(key, object);
        self.touch(kind);
    }

    pub(crate) fn remove(&mut self, kind: usize, namespace: &str, name: &str) {
        let key = (kind, namespace.to_owned(), name.to_owned());
        if self.objects.remove(&key).is_some() {
            self.touch(kind);
        }
    }

    /// Replaces every object of `kind` (a relist, or the kind going away).
    pub(crate) fn replace_kind(&mut self, kind: usize, values: Vec<Value>) {
        self.objects.retain(|key, _| key.0 != kind);
        for value in values {
            if let Some(key) = key_of(kind, &value) {
                self.objects.insert(key, convert(kind, value));
            }
        }
        self.touch(kind);
    }

    /// Keeps only the objects of `kind` that `keep` accepts.
    pub(crate) fn retain_kind(&mut self, kind: usize, keep: impl Fn(&str, &str) -> bool) {
        let before = self.objects.len();
        self.objects
            .retain(|key, _| key.0 != kind || keep(&key.1, &key.2));
        if self.objects.len() != before {
            self.touch(kind);
        }
    }

    pub(crate) fn resource_version(&self, key: &ObjectKey) -> Option<&str> {
        self.objects
            .get(key)
            .map(|object| object.raw.resource_version.as_str())
    }

    /// Ready addresses of the EndpointSlices of Service `namespace/name`.
    pub(crate) fn service_addresses(&self, namespace: &str, name: &str) -> Vec<String> {
        let Some(kind) = crate::kinds::index_of(crate::kinds::DISCOVERY, "EndpointSlice") else {
            return Vec::new();
        };
        let start = (kind, namespace.to_owned(), String::new());
        let mut addresses: Vec<String> = self
            .objects
            .range(start..)
            .take_while(|(key, _)| key.0 == kind && key.1 == namespace)
            .filter_map(|(_, object)| object.typed.as_ref().ok())
            .flat_map(|inputs| &inputs.endpoint_slices)
            .filter(|slice| {
                slice
                    .meta
                    .labels
                    .get("kubernetes.io/service-name")
                    .map(String::as_str)
                    == Some(name)
            })
            .flat_map(|slice| &slice.spec.endpoints)
            .filter(|endpoint| endpoint.conditions.ready != Some(false))
            .flat_map(|endpoint| endpoint.addresses.iter().cloned())
            .collect();
        addresses.sort();
        addresses.dedup();
        addresses
    }

    /// The accepted objects of `kind`, typed (one-resource [`Inputs`]).
    pub(crate) fn typed_of(&self, kind: usize) -> impl Iterator<Item = &Inputs> {
        self.objects
            .range((kind, String::new(), String::new())..)
            .take_while(move |(key, _)| key.0 == kind)
            .filter_map(|(_, object)| object.typed.as_ref().ok())
    }

    /// One accepted object, typed, with its raw parts.
    pub(crate) fn typed(&self, key: &ObjectKey) -> Option<(&Inputs, &Raw)> {
        let object = self.objects.get(key)?;
        Some((object.typed.as_ref().ok()?, &object.raw))
    }

    pub(crate) fn raw(&self, key: &ObjectKey) -> Option<&Raw> {
        self.objects.get(key).map(|object| &object.raw)
    }

    fn touch(&mut self, kind: usize) {
        let effect = KINDS[kind].effect;
        self.changed = match (self.changed, effect) {
            (Some(Effect::Routes), _) | (_, Effect::Routes) => Some(Effect::Routes),
            _ => Some(Effect::Endpoints),
        };
    }

    /// What changed since the last [`take_change`](Self::take_change).
    pub(crate) fn pending(&self) -> Option<Effect> {
        self.changed
    }

    /// What changed since the last call, and forgets it.
    pub(crate) fn take_change(&mut self) -> Option<Effect> {
        self.changed.take()
    }

    /// The set, in key order, with the problems of refused objects
    /// (errors) and of accepted ones (warnings), and the accepted objects'
    /// documents: whole for a change of routes; for a change of endpoints,
    /// only what endpoints are resolved from (10,000 routes are not copied
    /// for an EndpointSlice change).
    pub(crate) fn assemble(&self, effect: Effect) -> (Loaded, Vec<Document>) {
        let mut loaded = Loaded::default();
        let mut documents = Vec::new();
        for (key, object) in &self.objects {
            if effect == Effect::Endpoints && !KINDS[key.0].resolves_endpoints() {
                continue;
            }
            match &object.typed {
                Ok(inputs) => {
                    loaded.inputs.append(inputs.clone());
                    documents.push(Document::new(key, object.json.clone()));
                }
                Err(errors) => loaded.errors.extend(errors.iter().cloned()),
            }
            loaded.warnings.extend(object.warnings.iter().cloned());
        }
        (loaded, documents)
    }

    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }
}

fn key_of(kind: usize, value: &Value) -> Option<ObjectKey> {
    let metadata = value.get("metadata")?;
    let name = metadata.get("name")?.as_str()?;
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some((kind, namespace.to_owned(), name.to_owned()))
}

/// Metadata fields the typed form reads; the rest (managedFields,
/// ownerReferences, finalizers…) would only be warned about.
const KEPT_METADATA: &[&str] = &[
    "name",
    "namespace",
    "labels",
    "annotations",
    "creationTimestamp",
    "generation",
    "uid",
    "resourceVersion",
];

/// Reads a raw object into its typed form with the file loader's own
/// rules, so a field the files would refuse is refused here too.
fn convert(kind: usize, mut value: Value) -> Object {
    let def = &KINDS[kind];
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let resource_version = value
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(Value::Object(metadata)) = value.get_mut("metadata") {
        metadata.retain(|field, _| KEPT_METADATA.contains(&field.as_str()));
    }
    // A Pod's typed body is its status; other kinds keep theirs aside.
    let status = match value.as_object_mut() {
        Some(object) if def.kind != "Pod" => object.remove("status").filter(|_| def.status),
        _ => None,
    };
    let label = object_label(def.kind, &value);
    let json = value.to_string();
    let mut loaded = Loaded::default();
    vestibule_api::load_json(&label, &json, &mut loaded);
    let Loaded {
        mut inputs,
        errors,
        warnings,
        ..
    } = loaded;
    // Objects of the API come from no file: their status says so.
    inputs.clear_sources();
    // A Secret's data is kept once, typed, for serving: never as text.
    let json = (errors.is_empty() && kind != SECRET).then(|| Arc::from(json));
    Object {
        typed: if errors.is_empty() {
            Ok(inputs)
        } else {
            Err(errors)
        },
        warnings,
        json,
        raw: Raw {
            api_version,
            resource_version,
            status,
        },
    }
}

/// `HTTPRoute default/httpbin`, how problems name an object of the API.
fn object_label(kind: &str, value: &Value) -> String {
    let field = |name: &str| {
        value
            .pointer(&format!("/metadata/{name}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match field("namespace").as_str() {
        "" => format!("{kind} {}", field("name")),
        namespace => format!("{kind} {namespace}/{}", field("name")),
    }
}
