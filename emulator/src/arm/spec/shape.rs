//! A stored resource turned into what Azure returns for it, by the
//! response schema: `x-ms-secret` properties and properties without `read`
//! mutability are never returned; properties never set stay absent.

use super::{Kind, Schema};
use serde_json::{Map, Value};

/// `stored` as the response schema `schema` lets it be read.
pub fn shape(schema: &'static Schema, stored: &Value) -> Value {
    let schema = schema.subtype(stored);
    match stored {
        Value::Object(o) if !schema.props.is_empty() => {
            let mut out = Map::new();
            for (k, v) in o {
                match schema.prop(k) {
                    Some(p) if !p.readable() => {}
                    Some(p) => {
                        out.insert(k.clone(), shape(p.schema(), v));
                    }
                    None => match schema.additional() {
                        Some(values) => {
                            out.insert(k.clone(), shape(values, v));
                        }
                        // Kept: what a behaviour computed that the spec does not name.
                        None => {
                            out.insert(k.clone(), v.clone());
                        }
                    },
                }
            }
            Value::Object(out)
        }
        Value::Object(o) if schema.kind == Kind::Object => match schema.additional() {
            Some(values) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), shape(values, v)))
                    .collect(),
            ),
            None => stored.clone(),
        },
        Value::Array(a) => match schema.items() {
            Some(items) => Value::Array(a.iter().map(|v| shape(items, v)).collect()),
            None => stored.clone(),
        },
        _ => stored.clone(),
    }
}
