//! Field paths within a document (`spec.http[0].route[1].weight`), built from
//! what `serde_path_to_error` and `serde_ignored` record.

use std::fmt;

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Where a value sits in a document, from the document root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Seg>);

impl FieldPath {
    pub(crate) fn key(mut self, key: &str) -> Self {
        self.0.push(Seg::Key(key.to_owned()));
        self
    }

    pub(crate) fn index(mut self, index: usize) -> Self {
        self.0.push(Seg::Index(index));
        self
    }

    /// This path followed by `rest`.
    pub(crate) fn join(&self, rest: &FieldPath) -> FieldPath {
        let mut segs = self.0.clone();
        segs.extend(rest.0.iter().cloned());
        FieldPath(segs)
    }

    pub(crate) fn segments(&self) -> &[Seg] {
        &self.0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rest of this path when it lies under `prefix`.
    pub(crate) fn strip_prefix(&self, prefix: &FieldPath) -> Option<FieldPath> {
        self.0
            .strip_prefix(prefix.0.as_slice())
            .map(|rest| FieldPath(rest.to_vec()))
    }

    /// The path with indices erased (`spec.ports[].nodePort`), for matching
    /// against the per-kind lists of tolerated fields.
    pub(crate) fn shape(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Seg::Index(_) => out.push_str("[]"),
            }
        }
        out
    }

    pub(crate) fn from_tracked(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        let segs = path.iter().filter_map(|seg| match seg {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            Segment::Unknown => None,
        });
        FieldPath(segs.collect())
    }

    pub(crate) fn from_ignored(path: &serde_ignored::Path<'_>) -> Self {
        use serde_ignored::Path;
        let mut segs = Vec::new();
        let mut cur = path;
        loop {
            cur = match cur {
                Path::Root => break,
                Path::Seq { parent, index } => {
                    segs.push(Seg::Index(*index));
                    parent
                }
                Path::Map { parent, key } => {
                    segs.push(Seg::Key(key.clone()));
                    parent
                }
                Path::Some { parent }
                | Path::NewtypeStruct { parent }
                | Path::NewtypeVariant { parent } => parent,
            };
        }
        segs.reverse();
        FieldPath(segs)
    }
}

/// Whether a path's [`FieldPath::shape`] is `pattern` or lies under it.
/// Takes the shape, not the path: a path checked against a list of
/// patterns makes its shape once.
pub(crate) fn shape_is_under(shape: &str, pattern: &str) -> bool {
    match shape.strip_prefix(pattern) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(key) if i == 0 => f.write_str(key)?,
                Seg::Key(key) => write!(f, ".{key}")?,
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_shape() {
        let p = FieldPath::default()
            .key("spec")
            .key("http")
            .index(0)
            .key("route")
            .index(1)
            .key("weight");
        assert_eq!(p.to_string(), "spec.http[0].route[1].weight");
        assert_eq!(p.shape(), "spec.http[].route[].weight");
        let shape = p.shape();
        assert!(shape_is_under(&shape, "spec.http"));
        assert!(shape_is_under(&shape, "spec.http[].route"));
        assert!(!shape_is_under(&shape, "spec.htt"));
    }

    #[test]
    fn strip_prefix_of_list_item() {
        let item = FieldPath::default().key("items").index(2);
        let p = item.clone().key("spec").key("x");
        assert_eq!(
            p.strip_prefix(&item).map(|r| r.to_string()).as_deref(),
            Some("spec.x")
        );
        assert!(FieldPath::default()
            .key("kind")
            .strip_prefix(&item)
            .is_none());
    }
}
