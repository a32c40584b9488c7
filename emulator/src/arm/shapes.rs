//! Request bodies checked against the shapes Azure's specs give them, before
//! any provider reads them: a field of the wrong JSON kind (an array where an
//! object goes, an object where a string goes, `"seven"` where a number goes)
//! is refused as ARM refuses it — 400 `InvalidRequestContent`, worded as the
//! .NET deserializer behind ARM words it, with the path and position:
//!
//! ```text
//! The request content was invalid and could not be deserialized: 'Error converting
//! value "x" to type 'ContainerGroupProperties'. Path 'properties', line 1, position 41.'.
//! ```
//!
//! The shapes come from the OpenAPI specs of every emulated provider, compiled
//! by `scripts/gen-request-shapes` into `fixtures/request-shapes.json` (kinds
//! only: which fields are objects, arrays, maps, strings, numbers, booleans).
//! Unknown fields are left to the providers, as ARM leaves them; `null` is
//! "absent". Scalars convert where .NET converts them (`7` where a string
//! goes), so only what cannot be read is refused here.
//!
//! Providers may then index a body's objects and arrays without meeting a
//! value of another kind.

// Found: ARM's recorded errors (public issues and docs quoting real responses)
// show Newtonsoft.Json's templates inside InvalidRequestContent — "Error
// converting value \"https://schema.management.azure.com/…#\" to type
// 'Azure.Deployments.Core.Definitions.DeploymentParameterDefinition'. Path
// 'properties.parameters.$schema', line 1, position 6636." and "Cannot
// deserialize the current JSON object (e.g. {\"name\":\"value\"}) into type
// '…' because the type requires a JSON array … Path 'properties.lenses.0',
// line 1, position 97." The deployment parameter's type name is that one.
// TODO-fidelity: the other type names are the specs' definition names
// ('Registry', 'ContainerGroupProperties'): the providers' .NET type names are
// not published (searched recordings and issues for "could not be
// deserialized"). The position of "Unexpected character" errors (the count of
// characters before the character) follows Newtonsoft's reader as read, not
// a recorded response.

use super::error::ArmError;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The compiled table (generated; see the module docs).
const TABLE: &str = include_str!("../../../fixtures/request-shapes.json");

#[derive(Debug)]
enum Shape {
    Any,
    String,
    Int32,
    Int64,
    Number,
    Boolean,
    /// A named definition in the table.
    Named(String),
    /// A schema of the compiled spec table ([`super::spec::SCHEMAS`]), by index.
    Spec(u32),
    Object {
        fields: Vec<(String, Shape)>,
        type_name: String,
    },
    Map {
        values: Box<Shape>,
    },
    Array(Box<Shape>),
}

struct Table {
    operations: HashMap<String, Shape>,
    named: HashMap<String, Shape>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let doc: Value = serde_json::from_str(TABLE).expect("fixtures/request-shapes.json is JSON");
        let decode = |m: &Value| -> HashMap<String, Shape> {
            m.as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), decode(v)))
                .collect()
        };
        Table {
            operations: decode(&doc["operations"]),
            named: decode(&doc["shapes"]),
        }
    })
}

fn decode(v: &Value) -> Shape {
    match v {
        Value::String(s) => match s.as_str() {
            "s" => Shape::String,
            "i" => Shape::Int32,
            "l" => Shape::Int64,
            "n" => Shape::Number,
            "b" => Shape::Boolean,
            "any" => Shape::Any,
            name => Shape::Named(name.to_string()),
        },
        Value::Object(o) => {
            let type_name = o
                .get("t")
                .and_then(Value::as_str)
                .unwrap_or("Object")
                .to_string();
            if let Some(fields) = o.get("o").and_then(Value::as_object) {
                Shape::Object {
                    fields: fields.iter().map(|(k, v)| (k.clone(), decode(v))).collect(),
                    type_name,
                }
            } else if let Some(m) = o.get("m") {
                Shape::Map {
                    values: Box::new(decode(m)),
                }
            } else if let Some(a) = o.get("a") {
                Shape::Array(Box::new(decode(a)))
            } else {
                Shape::Any
            }
        }
        _ => Shape::Any,
    }
}

impl Shape {
    fn resolve(&self) -> &Shape {
        let mut s = self;
        // Names resolve to non-names (the generator stores definitions, never aliases).
        for _ in 0..8 {
            match s {
                Shape::Named(n) => match table().named.get(n) {
                    Some(t) => s = t,
                    None => return &Shape::Any,
                },
                Shape::Spec(i) => return from_spec(*i),
                _ => return s,
            }
        }
        &Shape::Any
    }

    /// The .NET type name Newtonsoft.Json would name.
    fn type_name(&self) -> String {
        match self.resolve() {
            Shape::Any | Shape::Named(_) | Shape::Spec(_) => "System.Object".into(),
            Shape::String => "System.String".into(),
            Shape::Int32 => "System.Int32".into(),
            Shape::Int64 => "System.Int64".into(),
            Shape::Number => "System.Double".into(),
            Shape::Boolean => "System.Boolean".into(),
            Shape::Object { type_name, .. } => type_name.clone(),
            Shape::Map { values } => format!(
                "System.Collections.Generic.Dictionary`2[System.String,{}]",
                values.type_name()
            ),
            Shape::Array(item) => {
                format!("System.Collections.Generic.List`1[{}]", item.type_name())
            }
        }
    }
}

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Where a message's position is taken: after the offending token (what
/// Newtonsoft reports once it has read it), or at it (a character it could
/// not start a value with).
#[derive(Debug, Clone, Copy, PartialEq)]
enum At {
    After,
    Start,
}

struct Mismatch {
    path: Vec<Step>,
    message: String,
    at: At,
}

/// The shape of the body `METHOD resource_type` takes (`PUT
/// Microsoft.ContainerInstance/containerGroups`, `POST
/// Microsoft.ContainerRegistry/registries/scheduleRun`), if the specs give one.
fn operation(method: &str, resource_type: &str) -> Option<&'static Shape> {
    let t = table();
    let key = format!("{method} {}", resource_type.to_ascii_lowercase());
    if let Some(s) = t.operations.get(&key) {
        return Some(s);
    }
    // A type named by a placeholder in the spec (a DNS record type: `A`, `CNAME`).
    let (head, _) = key.rsplit_once('/')?;
    t.operations.get(&format!("{head}/*"))
}

/// Check `body` (parsed from `raw`) against what `METHOD resource_type` takes.
pub fn check(method: &str, resource_type: &str, body: &Value, raw: &[u8]) -> Result<(), ArmError> {
    let Some(shape) = operation(method, resource_type) else {
        return Ok(());
    };
    let mut path = Vec::new();
    match walk(body, shape, &mut path) {
        Ok(()) => Ok(()),
        Err(m) => Err(ArmError::invalid_request_content(&with_position(&m, raw))),
    }
}

/// Check `body` (parsed from `raw`) against schema `schema` of the compiled spec table.
pub fn check_spec(schema: u32, body: &Value, raw: &[u8]) -> Result<(), ArmError> {
    let mut path = Vec::new();
    match walk(body, &Shape::Spec(schema), &mut path) {
        Ok(()) => Ok(()),
        Err(m) => Err(ArmError::invalid_request_content(&with_position(&m, raw))),
    }
}

/// An `InvalidRequestContent` for `message` about the value at `path` in `raw`,
/// positioned after its first token (Newtonsoft's words and position).
pub fn refuse(path: &[Step], message: String, raw: &[u8]) -> ArmError {
    let m = Mismatch {
        path: path.to_vec(),
        message,
        at: At::After,
    };
    ArmError::invalid_request_content(&with_position(&m, raw))
}

/// The kinds a compiled spec schema gives, converted once per schema and
/// kept for the process (children stay [`Shape::Spec`] until walked into).
fn from_spec(i: u32) -> &'static Shape {
    use super::spec::{Kind, SCHEMAS};
    static CONVERTED: OnceLock<Vec<OnceLock<Shape>>> = OnceLock::new();
    let slots = CONVERTED.get_or_init(|| SCHEMAS.iter().map(|_| OnceLock::new()).collect());
    let Some(slot) = slots.get(i as usize) else {
        return &Shape::Any;
    };
    slot.get_or_init(|| {
        let s = &SCHEMAS[i as usize];
        match s.kind {
            Kind::Any => Shape::Any,
            Kind::String => Shape::String,
            Kind::Integer if s.format == "int64" => Shape::Int64,
            Kind::Integer => Shape::Int32,
            Kind::Number => Shape::Number,
            Kind::Boolean => Shape::Boolean,
            Kind::Array => Shape::Array(Box::new(s.items.map_or(Shape::Any, Shape::Spec))),
            Kind::Object if s.props.is_empty() => match s.additional {
                Some(a) => Shape::Map {
                    values: Box::new(Shape::Spec(a)),
                },
                None => Shape::Any,
            },
            Kind::Object => {
                // Polymorphic: the union of its subtypes' fields (as the generator does).
                let mut fields: Vec<(String, Shape)> = Vec::new();
                let subtypes = s.subtypes.iter().map(|(_, j)| &SCHEMAS[*j as usize]);
                for p in s.props.iter().chain(subtypes.flat_map(|t| t.props.iter())) {
                    if !fields.iter().any(|(n, _)| n == p.name) {
                        fields.push((p.name.to_string(), Shape::Spec(p.schema)));
                    }
                }
                Shape::Object {
                    fields,
                    type_name: s.type_name().to_string(),
                }
            }
        }
    })
}

/// Newtonsoft's `Path '…', line L, position P.` suffix.
fn with_position(m: &Mismatch, raw: &[u8]) -> String {
    let mut text = m.message.clone();
    if !text.ends_with("\r\n") {
        text.push(' ');
    }
    text.push_str(&format!("Path '{}'", path_text(&m.path)));
    if let Some((line, col)) = locate(raw, &m.path, m.at) {
        text.push_str(&format!(", line {line}, position {col}"));
    }
    text.push('.');
    text
}

/// `properties.containers[0].properties`, with `['…']` around names that need it.
pub fn path_text(path: &[Step]) -> String {
    const SPECIAL: &[char] = &[
        '.', ' ', '\'', '/', '"', '[', ']', '(', ')', '\t', '\n', '\r', '\u{c}', '\u{8}', '\\',
        '\u{85}', '\u{2028}', '\u{2029}',
    ];
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) if k.contains(SPECIAL) => {
                s.push_str("['");
                s.push_str(&k.replace('\\', "\\\\").replace('\'', "\\'"));
                s.push_str("']");
            }
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A scalar as Newtonsoft prints it in "Error converting value …".
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "{null}".into(),
        other => other.to_string(),
    }
}

fn container_into(found: &Value, target: &Shape) -> String {
    match found {
        Value::Array(_) => format!(
            "Cannot deserialize the current JSON array (e.g. [1,2,3]) into type '{}' because the type requires a JSON object (e.g. {{\"name\":\"value\"}}) to deserialize correctly.\r\nTo fix this error either change the JSON to a JSON object (e.g. {{\"name\":\"value\"}}) or change the deserialized type to an array or a type that implements a collection interface (e.g. ICollection, IList) like List<T> that can be deserialized from a JSON array. JsonArrayAttribute can also be added to the type to force it to deserialize from a JSON array.\r\n",
            target.type_name()
        ),
        _ => format!(
            "Cannot deserialize the current JSON object (e.g. {{\"name\":\"value\"}}) into type '{}' because the type requires a JSON array (e.g. [1,2,3]) to deserialize correctly.\r\nTo fix this error either change the JSON to a JSON array (e.g. [1,2,3]) or change the deserialized type so that it is a normal .NET type (e.g. not a primitive type like integer, not a collection type like an array or List<T>) that can be deserialized from a JSON object. JsonObjectAttribute can also be added to the type to force it to deserialize from a JSON object.\r\n",
            target.type_name()
        ),
    }
}

fn walk(v: &Value, shape: &Shape, path: &mut Vec<Step>) -> Result<(), Mismatch> {
    let fail = |message: String, at: At, path: &Vec<Step>| {
        Err(Mismatch {
            path: path.clone(),
            message,
            at,
        })
    };
    if v.is_null() {
        return Ok(());
    }
    let shape = shape.resolve();
    match (shape, v) {
        (Shape::Any | Shape::Named(_) | Shape::Spec(_), _) => Ok(()),
        // Objects and arrays where a scalar goes: the reader cannot start the value.
        (
            Shape::String | Shape::Int32 | Shape::Int64 | Shape::Number | Shape::Boolean,
            Value::Object(_) | Value::Array(_),
        ) => {
            let c = if v.is_object() { '{' } else { '[' };
            fail(
                format!("Unexpected character encountered while parsing value: {c}."),
                At::Start,
                path,
            )
        }
        (Shape::String, _) => Ok(()),
        (Shape::Int32 | Shape::Int64, Value::Number(n)) => {
            let (min, max, name) = match shape {
                Shape::Int32 => (i32::MIN as i64, i32::MAX as i64, "Int32"),
                _ => (i64::MIN, i64::MAX, "Int64"),
            };
            match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(()),
                Some(_) => fail(
                    format!("JSON integer {n} is too large or small for an {name}."),
                    At::After,
                    path,
                ),
                None if n.is_u64() => fail(
                    format!("JSON integer {n} is too large or small for an {name}."),
                    At::After,
                    path,
                ),
                None => fail(
                    format!("Input string '{n}' is not a valid integer."),
                    At::After,
                    path,
                ),
            }
        }
        (Shape::Int32 | Shape::Int64, Value::String(s)) if s.trim().parse::<i64>().is_err() => {
            fail(
                format!("Could not convert string to integer: {s}."),
                At::After,
                path,
            )
        }
        (Shape::Number, Value::String(s)) if s.trim().parse::<f64>().is_err() => fail(
            format!("Could not convert string to double: {s}."),
            At::After,
            path,
        ),
        (Shape::Boolean, Value::String(s))
            if !s.eq_ignore_ascii_case("true") && !s.eq_ignore_ascii_case("false") =>
        {
            fail(
                format!("Could not convert string to boolean: {s}."),
                At::After,
                path,
            )
        }
        (Shape::Int32 | Shape::Int64 | Shape::Number | Shape::Boolean, _) => Ok(()),
        (Shape::Object { fields, .. }, Value::Object(o)) => walk_fields(o, fields, path),
        (Shape::Map { values }, Value::Object(o)) => {
            for (k, item) in o {
                path.push(Step::Key(k.clone()));
                walk(item, values, path)?;
                path.pop();
            }
            Ok(())
        }
        (Shape::Array(item), Value::Array(a)) => {
            for (i, e) in a.iter().enumerate() {
                path.push(Step::Index(i));
                walk(e, item, path)?;
                path.pop();
            }
            Ok(())
        }
        (Shape::Object { .. } | Shape::Map { .. }, Value::Array(_))
        | (Shape::Array(_), Value::Object(_)) => fail(container_into(v, shape), At::After, path),
        (Shape::Object { .. } | Shape::Map { .. } | Shape::Array(_), scalar) => fail(
            format!(
                "Error converting value {} to type '{}'.",
                shown(scalar),
                shape.type_name()
            ),
            At::After,
            path,
        ),
    }
}

/// Fields match by name ignoring case, as the deserializer matches them;
/// unknown fields are not this module's business.
fn walk_fields(
    o: &Map<String, Value>,
    fields: &[(String, Shape)],
    path: &mut Vec<Step>,
) -> Result<(), Mismatch> {
    for (k, item) in o {
        let field = fields
            .iter()
            .find(|(f, _)| f == k)
            .or_else(|| fields.iter().find(|(f, _)| f.eq_ignore_ascii_case(k)));
        if let Some((_, shape)) = field {
            path.push(Step::Key(k.clone()));
            walk(item, shape, path)?;
            path.pop();
        }
    }
    Ok(())
}

// ---- where a value is in the text ------------------------------------------------

/// Line and position (1-based line; position counted in characters on the
/// line, as Newtonsoft counts) of the value at `path` in `raw`.
fn locate(raw: &[u8], path: &[Step], at: At) -> Option<(usize, usize)> {
    let mut s = Scan { b: raw, i: 0 };
    // A byte-order mark is not part of the text.
    if raw.starts_with(&[0xef, 0xbb, 0xbf]) {
        s.i = 3;
    }
    let (start, end) = s.find(path)?;
    let offset = match at {
        At::After => end,
        At::Start => start,
    };
    let before = std::str::from_utf8(raw.get(..offset)?).ok()?;
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .trim_start_matches('\u{feff}')
        .chars()
        .count();
    Some((line, col))
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// At a `"`: move past the closing quote; the string's text.
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return serde_json::from_slice(&self.b[start..self.i]).ok();
                }
                _ => self.i += 1,
            }
        }
    }

    /// The bounds of the first token of the value here; the scan ends past the whole value.
    fn token(&mut self) -> Option<(usize, usize)> {
        self.ws();
        let start = self.i;
        match self.peek()? {
            b'{' | b'[' => {
                self.skip()?;
                Some((start, start + 1))
            }
            b'"' => {
                self.string()?;
                Some((start, self.i))
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
                {
                    self.i += 1;
                }
                (self.i > start).then_some((start, self.i))
            }
        }
    }

    /// Move past one whole value.
    fn skip(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => self.token().map(|_| ()),
        }
    }

    fn find(&mut self, path: &[Step]) -> Option<(usize, usize)> {
        self.ws();
        let Some((first, rest)) = path.split_first() else {
            return self.token();
        };
        match first {
            Step::Key(key) => {
                (self.peek()? == b'{').then_some(())?;
                self.i += 1;
                loop {
                    self.ws();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let k = self.string()?;
                    self.ws();
                    (self.peek()? == b':').then_some(())?;
                    self.i += 1;
                    if &k == key {
                        return self.find(rest);
                    }
                    self.skip()?;
                    self.ws();
                    (self.peek()? == b',').then_some(())?;
                    self.i += 1;
                }
            }
            Step::Index(n) => {
                (self.peek()? == b'[').then_some(())?;
                self.i += 1;
                for _ in 0..*n {
                    self.skip()?;
                    self.ws();
                    (self.peek()? == b',').then_some(())?;
                    self.i += 1;
                }
                self.find(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(method: &str, ty: &str, body: &str) -> Option<String> {
        let v: Value = serde_json::from_str(body).unwrap();
        check(method, ty, &v, body.as_bytes())
            .err()
            .map(|e| e.message)
    }

    #[test]
    fn wrong_kinds_are_refused_with_path_and_position() {
        let cg = "Microsoft.ContainerInstance/containerGroups";
        assert_eq!(
            message("PUT", cg, r#"{"location":"eastus","properties":"x"}"#).unwrap(),
            "The request content was invalid and could not be deserialized: 'Error converting value \"x\" to type 'ContainerGroupProperties'. Path 'properties', line 1, position 37.'."
        );
        let m = message("PUT", cg, r#"{"properties":{"containers":{}}}"#).unwrap();
        assert!(
            m.contains("Cannot deserialize the current JSON object (e.g. {\"name\":\"value\"}) into type 'System.Collections.Generic.List`1[Container]'"),
            "{m}"
        );
        assert!(
            m.ends_with("\r\nPath 'properties.containers', line 1, position 29.'."),
            "{m}"
        );
        let m = message("PUT", cg, "{\"properties\": {\n  \"osType\": {\"a\": 1}}}").unwrap();
        assert!(
            m.ends_with("'Unexpected character encountered while parsing value: {. Path 'properties.osType', line 2, position 12.'."),
            "{m}"
        );
        let m = message(
            "PUT",
            "Microsoft.Network/virtualNetworks",
            r#"{"properties":{"subnets":[{"name":"a","properties":{"addressPrefix":[]}}]}}"#,
        )
        .unwrap();
        assert!(
            m.contains("Path 'properties.subnets[0].properties.addressPrefix'"),
            "{m}"
        );
        // Map keys that need quoting, and tags.
        let m = message(
            "PUT",
            "Microsoft.ContainerRegistry/registries",
            r#"{"identity":{"type":"UserAssigned","userAssignedIdentities":{"/a/b":7}}}"#,
        )
        .unwrap();
        assert!(
            m.contains("Error converting value 7 to type ")
                && m.contains("Path 'identity.userAssignedIdentities['/a/b']'"),
            "{m}"
        );
        assert_eq!(
            message(
                "PATCH",
                "Microsoft.Resources/resourceGroups",
                r#"{"tags":[]}"#
            )
            .map(|m| m.contains(
                "into type 'System.Collections.Generic.Dictionary`2[System.String,System.String]'"
            )),
            Some(true)
        );
        // Numbers and booleans that cannot be read.
        let m = message(
            "PUT",
            cg,
            r#"{"properties":{"containers":[{"properties":{"resources":{"requests":{"cpu":"lots"}}}}]}}"#,
        )
        .unwrap();
        assert!(
            m.contains("Could not convert string to double: lots."),
            "{m}"
        );
        let m = message(
            "PUT",
            "Microsoft.ContainerRegistry/registries",
            r#"{"properties":{"adminUserEnabled":"yes"}}"#,
        )
        .unwrap();
        assert!(
            m.contains("Could not convert string to boolean: yes."),
            "{m}"
        );
    }

    #[test]
    fn what_converts_or_is_unknown_passes() {
        for (method, ty, body) in [
            (
                "PUT",
                "Microsoft.ContainerInstance/containerGroups",
                json!({"location": 7, "properties": null, "unknown": [1]}),
            ),
            (
                "PUT",
                "Microsoft.ContainerRegistry/registries",
                json!({"properties": {"adminUserEnabled": "TRUE", "policies": {"retentionPolicy": {"days": "7"}}}}),
            ),
            (
                "PUT",
                "Microsoft.Network/privateDnsZones/A",
                json!({"properties": {"ttl": 3600, "aRecords": [{"ipv4Address": "10.0.0.1"}]}}),
            ),
            ("PUT", "Microsoft.Unknown/things", json!({"properties": []})),
            (
                "PUT",
                "Microsoft.Resources/deployments",
                json!({"properties": {"template": "anything", "parameters": {"a": {"value": [1]}}}}),
            ),
        ] {
            let text = body.to_string();
            assert!(
                check(method, ty, &body, text.as_bytes()).is_ok(),
                "{method} {ty} {body}"
            );
        }
    }

    #[test]
    fn dns_record_types_use_the_record_set_shape() {
        assert!(
            message(
                "PUT",
                "Microsoft.Network/privateDnsZones/CNAME",
                r#"{"properties":{"ttl":{}}}"#
            )
            .is_some()
        );
    }

    #[test]
    fn positions_count_characters_on_the_line() {
        let raw = "{\n  \"a\": [1, {\"b\": \"é\"}],\n  \"c\": true\n}";
        let at = |path: &[Step], at| locate(raw.as_bytes(), path, at);
        assert_eq!(at(&[Step::Key("c".into())], At::After), Some((3, 11)));
        assert_eq!(
            at(
                &[Step::Key("a".into()), Step::Index(1), Step::Key("b".into())],
                At::After
            ),
            Some((2, 20))
        );
        assert_eq!(at(&[Step::Key("a".into())], At::Start), Some((2, 7)));
        assert_eq!(at(&[Step::Key("zz".into())], At::After), None);
    }
}
