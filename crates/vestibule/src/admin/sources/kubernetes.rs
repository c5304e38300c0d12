//! Kubernetes mode's sources: the objects the applied generation was
//! translated from, one YAML document each, as the loader read them
//! (metadata trimmed to what it reads, status set aside). Each is named
//! as a file would be, `kubernetes:NAMESPACE/KIND.GROUP/NAME` (no
//! `NAMESPACE/` for a cluster-scoped object, no `.GROUP` for the core
//! group: `kubernetes:default/Service/httpbin`), so that explain's
//! `file:line` says which object and which line of it. The group is
//! needed: Istio and the Gateway API both have a `Gateway`. Secrets are
//! never rendered, only counted.

use vestibule_kube::Document;

use super::SourceFile;

/// The objects' documents and how many Secrets were left out.
pub(super) fn render(objects: &[Document]) -> Result<(Vec<SourceFile>, usize), String> {
    let mut files = Vec::with_capacity(objects.len());
    let mut secrets_withheld = 0;
    for object in objects {
        let Some(json) = object.json() else {
            secrets_withheld += 1;
            continue;
        };
        files.push(SourceFile {
            path: path(object),
            text: yaml(json).map_err(|error| format!("{}: {error}", path(object)))?,
        });
    }
    Ok((files, secrets_withheld))
}

/// The name an object's document goes by.
fn path(object: &Document) -> String {
    let mut path = String::from("kubernetes:");
    if !object.namespace.is_empty() {
        path.push_str(&object.namespace);
        path.push('/');
    }
    path.push_str(object.kind());
    if !object.group().is_empty() {
        path.push('.');
        path.push_str(object.group());
    }
    path.push('/');
    path.push_str(&object.name);
    path
}

/// JSON as block YAML, whose lines a rule can be placed at.
fn yaml(json: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    serde_saphyr::to_string(&value).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::yaml;

    #[test]
    fn yaml_reads_back_as_the_same_object() {
        let json = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","labels":{"n":"80","y":"yes","e":""}},"data":{"ca.crt":"-----BEGIN-----\nAB\n-----END-----\n","t":"true","star":"*"}}"#;
        let text = yaml(json).expect("YAML");
        assert!(
            text.starts_with("apiVersion: v1\nkind: ConfigMap\n"),
            "{text}"
        );
        let back: serde_json::Value = serde_saphyr::from_str(&text).expect("reads back");
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }
}
