//! Per document: the lenient header read, then dispatch on (group, kind).

use super::context::Ctx;
use super::doc::Doc;
use super::header::Header;
use super::kinds::{is_list, lookup};
use super::list::load_list;
use super::path::FieldPath;
use super::Loaded;

/// Loads one document of `file` into `out`.
pub(crate) fn load_document(file: &str, doc: &Doc<'_>, out: &mut Loaded) {
    let (header, failure) = match doc.read::<Header>(None) {
        Ok(parsed) => (parsed.value, None),
        Err(failure) => (Header::default(), Some(failure)),
    };
    let mut cx = Ctx {
        file,
        doc,
        item: None,
        prefix: FieldPath::default(),
        header: &header,
        line: doc.line,
        out,
    };
    if let Some(failure) = failure {
        return cx.failure(failure);
    }
    if !header.present {
        return; // `~` or `null`: an empty document
    }
    if header.is_map && is_list(&header.type_meta.kind) {
        return load_list(&mut cx);
    }
    object(&mut cx);
}

/// Loads one object (a document or a List item) according to its kind.
pub(crate) fn object(cx: &mut Ctx<'_>) {
    let header = cx.header;
    let here = cx.in_object(FieldPath::default());
    if !header.is_map {
        let message = "expected a Kubernetes object (a mapping with apiVersion and kind)";
        return cx.error(cx.line, 0, &here, message);
    }
    let type_meta = &header.type_meta;
    let mut missing = false;
    for (field, value) in [
        ("apiVersion", &type_meta.api_version),
        ("kind", &type_meta.kind),
    ] {
        if value.is_empty() {
            let path = cx.in_object(FieldPath::default().key(field));
            cx.error(cx.line, 0, &path, &format!("{field} is missing"));
            missing = true;
        }
    }
    if missing {
        return;
    }
    if is_list(&type_meta.kind) {
        let message = format!("nested {} is not supported, skipped", type_meta.kind);
        return cx.warn(cx.line, 0, &here, &message);
    }
    match lookup(type_meta.group(), &type_meta.kind) {
        Some(def) => (def.load)(cx),
        None => {
            let message = format!(
                "unknown kind {} {}, skipped",
                type_meta.api_version, type_meta.kind
            );
            cx.warn(cx.line, 0, &here, &message);
        }
    }
}
