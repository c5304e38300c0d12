//! Deserializes either a whole document or one item of a `kind: List`
//! document, reading the item in place so that positions and field paths
//! (`items[3].spec.…`) stay those of the file.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};

use super::header::Scalar;

/// Seed for `T` at the document root (`item: None`) or at `items[item]`.
pub(crate) struct Select<T> {
    item: Option<usize>,
    target: PhantomData<T>,
}

impl<T> Select<T> {
    pub(crate) fn new(item: Option<usize>) -> Self {
        Select {
            item,
            target: PhantomData,
        }
    }
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Select<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<T, D::Error> {
        match self.item {
            None => T::deserialize(de),
            Some(index) => de.deserialize_map(ItemsField::<T> {
                index,
                target: PhantomData,
            }),
        }
    }
}

/// Visits the List's top-level mapping, reading only `items`.
struct ItemsField<T> {
    index: usize,
    target: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for ItemsField<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a List with items")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut found = None;
        while let Some(Scalar(key)) = map.next_key()? {
            if key.as_deref() == Some("items") && found.is_none() {
                found = Some(map.next_value_seed(NthItem::<T> {
                    index: self.index,
                    target: PhantomData,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        found.ok_or_else(|| de::Error::custom(format_args!("List has no items[{}]", self.index)))
    }
}

/// Reads element `index` of a sequence as `T`, skipping the others.
struct NthItem<T> {
    index: usize,
    target: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for NthItem<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<T, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for NthItem<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let mut found = None;
        for i in 0.. {
            if i == self.index {
                match seq.next_element::<T>()? {
                    Some(value) => found = Some(value),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
        }
        found.ok_or_else(|| de::Error::custom(format_args!("List has no items[{}]", self.index)))
    }
}
