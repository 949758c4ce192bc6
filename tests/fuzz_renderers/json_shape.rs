//! The shape of a JSON document (Rumprun's command line, Firecracker's
//! config file): every object's keys in order, duplicates included (serde's
//! own maps would merge them), and every array's elements.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value's keys, in order and with duplicates, down every object.
#[derive(Debug, PartialEq, Eq)]
pub enum Json {
    /// An object's members.
    Object(Vec<(String, Json)>),
    /// An array's elements.
    Array(Vec<Json>),
    /// Anything else.
    Leaf,
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            members.push((key, map.next_value::<Json>()?));
        }
        Ok(Json::Object(members))
    }

    fn visit_str<E>(self, _: &str) -> Result<Json, E> {
        Ok(Json::Leaf)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Leaf)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Leaf)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut elements = Vec::new();
        while let Some(element) = seq.next_element::<Json>()? {
            elements.push(element);
        }
        Ok(Json::Array(elements))
    }
}
