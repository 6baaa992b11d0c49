//! `Object<T>`: a JSON request body that must be an object, each member at
//! most once. serde's derive alone would also read a struct from an array in
//! field order (`["a@b", "pw"]`), and a map in between would let the last of
//! two `email` members win silently; neither is our API.

use std::fmt;
use std::marker::PhantomData;

use actix_web::web;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};

pub struct Object<T>(pub T);

/// The extractor for handlers: `body: JsonObject<LoginRequest>`.
pub type JsonObject<T> = web::Json<Object<T>>;

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            // The derived struct visitor refuses a repeated member.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_map(ObjectVisitor(PhantomData)).map(Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        a: String,
        #[allow(dead_code)]
        b: Option<u8>,
    }

    #[test]
    fn only_objects_without_repeats_pass() {
        assert_eq!(serde_json::from_str::<Object<Pair>>(r#"{"a":"x","b":1}"#).unwrap().0.a, "x");
        assert!(serde_json::from_str::<Object<Pair>>(r#"["x",1]"#).is_err());
        assert!(serde_json::from_str::<Object<Pair>>(r#"{"a":"x","a":"y"}"#).is_err());
        assert!(serde_json::from_str::<Object<Pair>>(r#"{"a":"x","c":1}"#).is_err());
        assert!(serde_json::from_str::<Object<Pair>>("null").is_err());
    }
}
