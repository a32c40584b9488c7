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

/// Does `value` read as `schema` describes it (JSON kinds, closed enums,
/// discriminated subtypes)? The first difference, with its JSON path.
/// For tests that hold responses against the specs.
pub fn conforms(schema: &'static Schema, value: &Value) -> Result<(), String> {
    fn walk(schema: &'static Schema, v: &Value, path: &mut String) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        let schema = schema.subtype(v);
        let kind_ok = match schema.kind {
            Kind::Any => true,
            Kind::Object => v.is_object(),
            Kind::Array => v.is_array(),
            Kind::String => v.is_string(),
            Kind::Integer => v.is_i64() || v.is_u64(),
            Kind::Number => v.is_number(),
            Kind::Boolean => v.is_boolean(),
        };
        if !kind_ok {
            return Err(format!("{path}: {v} is not {:?}", schema.kind));
        }
        match v {
            Value::String(s)
                if !schema.enum_values.is_empty()
                    && !schema.model_as_string
                    && !schema.enum_values.iter().any(|e| e.eq_ignore_ascii_case(s)) =>
            {
                Err(format!(
                    "{path}: '{s}' is not one of {:?}",
                    schema.enum_values
                ))
            }
            Value::Object(o) => {
                for (k, item) in o {
                    let inner = match schema.prop(k) {
                        Some(p) => p.schema(),
                        None => match schema.additional() {
                            Some(a) => a,
                            None => continue,
                        },
                    };
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    walk(inner, item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Array(a) => {
                if let Some(items) = schema.items() {
                    for (i, item) in a.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        walk(items, item, path)?;
                        path.truncate(len);
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(schema, value, &mut String::new())
}
