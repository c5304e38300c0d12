//! The lenient first read of a document: `apiVersion`, `kind` and the
//! metadata name and namespace, tolerating any shape, so that a document with
//! a bad body can still be named in its errors and dispatched on its kind.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::TypeMeta;

/// What the dispatcher needs to know about a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Header {
    /// False for a null document (`~`, or a key with no value in a List).
    pub(crate) present: bool,
    /// False when the document is a scalar or a sequence instead of a mapping.
    pub(crate) is_map: bool,
    pub(crate) type_meta: TypeMeta,
    pub(crate) name: String,
    pub(crate) namespace: String,
}

impl Header {
    /// `Kind namespace/name`, as diagnostics name resources; `None` without a name.
    pub(crate) fn resource(&self) -> Option<String> {
        if self.name.is_empty() {
            return None;
        }
        let (kind, ns, name) = (
            &self.type_meta.kind,
            self.namespace_or_default(),
            &self.name,
        );
        Some(format!("{kind} {ns}/{name}"))
    }

    pub(crate) fn namespace_or_default(&self) -> &str {
        if self.namespace.is_empty() {
            crate::DEFAULT_NAMESPACE
        } else {
            &self.namespace
        }
    }
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut h = Header {
            present: true,
            is_map: true,
            ..Header::default()
        };
        while let Some(Scalar(key)) = map.next_key()? {
            match key.as_deref() {
                Some("apiVersion") => h.type_meta.api_version = map.next_value::<Scalar>()?.text(),
                Some("kind") => h.type_meta.kind = map.next_value::<Scalar>()?.text(),
                Some("metadata") => {
                    let meta: MetaHeader = map.next_value()?;
                    h.name = meta.name;
                    h.namespace = meta.namespace;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(h)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Header, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(not_a_map())
    }

    fn visit_unit<E>(self) -> Result<Header, E> {
        Ok(Header::default())
    }

    fn visit_none<E>(self) -> Result<Header, E> {
        Ok(Header::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Header, D::Error> {
        de.deserialize_any(self)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Header, E> {
        Ok(not_a_map())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Header, E> {
        Ok(not_a_map())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Header, E> {
        Ok(not_a_map())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Header, E> {
        Ok(not_a_map())
    }

    fn visit_str<E>(self, _: &str) -> Result<Header, E> {
        Ok(not_a_map())
    }
}

fn not_a_map() -> Header {
    Header {
        present: true,
        ..Header::default()
    }
}

/// `metadata.name` and `metadata.namespace`, whatever else `metadata` holds.
#[derive(Default)]
struct MetaHeader {
    name: String,
    namespace: String,
}

impl<'de> Deserialize<'de> for MetaHeader {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(MetaVisitor)
    }
}

struct MetaVisitor;

impl<'de> Visitor<'de> for MetaVisitor {
    type Value = MetaHeader;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("object metadata")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetaHeader, A::Error> {
        let mut m = MetaHeader::default();
        while let Some(Scalar(key)) = map.next_key()? {
            match key.as_deref() {
                Some("name") => m.name = map.next_value::<Scalar>()?.text(),
                Some("namespace") => m.namespace = map.next_value::<Scalar>()?.text(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(m)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MetaHeader, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(MetaHeader::default())
    }

    fn visit_unit<E>(self) -> Result<MetaHeader, E> {
        Ok(MetaHeader::default())
    }

    fn visit_none<E>(self) -> Result<MetaHeader, E> {
        Ok(MetaHeader::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<MetaHeader, D::Error> {
        de.deserialize_any(self)
    }

    fn visit_bool<E>(self, _: bool) -> Result<MetaHeader, E> {
        Ok(MetaHeader::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<MetaHeader, E> {
        Ok(MetaHeader::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<MetaHeader, E> {
        Ok(MetaHeader::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<MetaHeader, E> {
        Ok(MetaHeader::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<MetaHeader, E> {
        Ok(MetaHeader::default())
    }
}

/// Any value read as text when it is a scalar, `None` otherwise.
pub(crate) struct Scalar(pub(crate) Option<String>);

impl Scalar {
    fn text(self) -> String {
        self.0.unwrap_or_default()
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar(Some(v)))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }

    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Scalar, D::Error> {
        de.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
        IgnoredAny.visit_map(map)?;
        Ok(Scalar(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Scalar(None))
    }
}
