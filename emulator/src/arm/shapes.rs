//! Request bodies checked against the kinds Azure's specs give their fields,
//! before any provider reads them: a field of the wrong JSON kind (an array
//! where an object goes, an object where a string goes, `"seven"` where a
//! number goes) is refused as ARM refuses it — 400 `InvalidRequestContent`,
//! worded as the .NET deserializer behind ARM words it, with the path and
//! position:
//!
//! ```text
//! The request content was invalid and could not be deserialized: 'Error converting
//! value "x" to type 'ContainerGroupProperties'. Path 'properties', line 1, position 41.'.
//! ```
//!
//! The kinds are those of the operation's body schema in the compiled spec
//! table ([`super::spec::SCHEMAS`], the spec version the request's
//! api-version picks), walked as they are: nothing is read or converted per
//! request. Unknown fields are left to the providers, as ARM leaves them;
//! `null` is "absent". Scalars convert where .NET converts them (`7` where a
//! string goes), so only what cannot be read is refused here.
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
// ('Registry', 'Container'), and an inline object is named after the type it
// is a field of and the field ('ContainerGroupProperties'), as AutoRest names
// them: the providers' .NET type names are not published (searched recordings
// and issues for "could not be deserialized"). The position of "Unexpected
// character" errors (the count of characters before the character) follows
// Newtonsoft's reader as read, not a recorded response.

use super::error::ArmError;
use super::spec::{Kind, Prop, SCHEMAS, Schema};
use serde_json::{Map, Value};

/// .NET type names ARM's own errors show where they differ from the spec's
/// definition name. Not in any spec: taken from a recorded error (see the
/// `Found:` note above), so kept here, beside the check that words it.
const KNOWN_TYPE_NAMES: &[(&str, &str)] = &[(
    "DeploymentParameter",
    "Azure.Deployments.Core.Definitions.DeploymentParameterDefinition",
)];

/// What a schema is, for the kind check.
enum Shape {
    Any,
    String,
    Int32,
    Int64,
    Number,
    Boolean,
    /// Fields: the schema's, then its discriminated subtypes' (a body may be any of them).
    Object,
    Map(&'static Schema),
    Array(&'static Schema),
}

fn shape(s: &Schema) -> Shape {
    match s.kind {
        Kind::Any => Shape::Any,
        Kind::String => Shape::String,
        Kind::Integer if s.format == "int64" => Shape::Int64,
        Kind::Integer => Shape::Int32,
        Kind::Number => Shape::Number,
        Kind::Boolean => Shape::Boolean,
        // Items of no given schema: SCHEMAS[0], which takes anything.
        Kind::Array => Shape::Array(s.items().unwrap_or(&SCHEMAS[0])),
        // A free-form object (`type: object` and nothing else) takes any JSON.
        Kind::Object if s.props.is_empty() => s.additional().map_or(Shape::Any, Shape::Map),
        Kind::Object => Shape::Object,
    }
}

/// The fields an object schema reads: its own, then its subtypes' (the first
/// of a name wins).
fn fields(s: &'static Schema) -> impl Iterator<Item = &'static Prop> {
    let own: &'static [Prop] = s.props;
    own.iter().chain(
        s.subtypes
            .iter()
            .flat_map(|(_, j)| SCHEMAS[*j as usize].props.iter()),
    )
}

/// The name of the type a value deserializes into: a definition's name, or,
/// for an inline schema, the enclosing type's name and the field's
/// (`ContainerGroup` + `properties`); array items and map values take their
/// container's. Rendered only for a message.
#[derive(Clone, Copy)]
enum Name<'a> {
    /// An inline body: no name.
    None,
    Def(&'static str),
    Field(&'a Name<'a>, &'static str),
}

impl Name<'_> {
    /// The name a schema reached under `self` goes by.
    fn of(self, s: &Schema) -> Self {
        if s.name.is_empty() {
            self
        } else {
            Name::Def(s.name)
        }
    }

    fn push_to(&self, out: &mut String) {
        match self {
            Name::None => {}
            Name::Def(n) => out.push_str(n),
            Name::Field(parent, field) => {
                parent.push_to(out);
                let mut c = field.chars();
                if let Some(first) = c.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(c.as_str());
                }
            }
        }
    }
}

/// The .NET type name Newtonsoft.Json would name for `s`, reached as `name`.
fn type_name(s: &'static Schema, name: Name<'_>) -> String {
    let name = name.of(s);
    match shape(s) {
        Shape::Any => "System.Object".into(),
        Shape::String => "System.String".into(),
        Shape::Int32 => "System.Int32".into(),
        Shape::Int64 => "System.Int64".into(),
        Shape::Number => "System.Double".into(),
        Shape::Boolean => "System.Boolean".into(),
        Shape::Object => {
            if let Some((_, known)) = KNOWN_TYPE_NAMES.iter().find(|(n, _)| *n == s.name) {
                return (*known).into();
            }
            let mut out = String::new();
            name.push_to(&mut out);
            if out.is_empty() {
                out.push_str("System.Object");
            }
            out
        }
        Shape::Map(values) => format!(
            "System.Collections.Generic.Dictionary`2[System.String,{}]",
            type_name(values, name)
        ),
        Shape::Array(item) => {
            format!(
                "System.Collections.Generic.List`1[{}]",
                type_name(item, name)
            )
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

/// Check `body` (parsed from `raw`) against schema `schema` of the compiled spec table.
pub fn check_spec(schema: u32, body: &Value, raw: &[u8]) -> Result<(), ArmError> {
    let Some(s) = SCHEMAS.get(schema as usize) else {
        return Ok(());
    };
    let mut path = Vec::new();
    match walk(body, s, Name::None, &mut path) {
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

fn container_into(found: &Value, target: String) -> String {
    match found {
        Value::Array(_) => format!(
            "Cannot deserialize the current JSON array (e.g. [1,2,3]) into type '{target}' because the type requires a JSON object (e.g. {{\"name\":\"value\"}}) to deserialize correctly.\r\nTo fix this error either change the JSON to a JSON object (e.g. {{\"name\":\"value\"}}) or change the deserialized type to an array or a type that implements a collection interface (e.g. ICollection, IList) like List<T> that can be deserialized from a JSON array. JsonArrayAttribute can also be added to the type to force it to deserialize from a JSON array.\r\n"
        ),
        _ => format!(
            "Cannot deserialize the current JSON object (e.g. {{\"name\":\"value\"}}) into type '{target}' because the type requires a JSON array (e.g. [1,2,3]) to deserialize correctly.\r\nTo fix this error either change the JSON to a JSON array (e.g. [1,2,3]) or change the deserialized type so that it is a normal .NET type (e.g. not a primitive type like integer, not a collection type like an array or List<T>) that can be deserialized from a JSON object. JsonObjectAttribute can also be added to the type to force it to deserialize from a JSON object.\r\n"
        ),
    }
}

fn walk(
    v: &Value,
    s: &'static Schema,
    name: Name<'_>,
    path: &mut Vec<Step>,
) -> Result<(), Mismatch> {
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
    let name = name.of(s);
    let shape = shape(s);
    match (&shape, v) {
        (Shape::Any, _) => Ok(()),
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
            let (min, max, int) = match shape {
                Shape::Int32 => (i32::MIN as i64, i32::MAX as i64, "Int32"),
                _ => (i64::MIN, i64::MAX, "Int64"),
            };
            match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(()),
                Some(_) => fail(
                    format!("JSON integer {n} is too large or small for an {int}."),
                    At::After,
                    path,
                ),
                None if n.is_u64() => fail(
                    format!("JSON integer {n} is too large or small for an {int}."),
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
        (Shape::Int32 | Shape::Int64, Value::String(t)) if t.trim().parse::<i64>().is_err() => {
            fail(
                format!("Could not convert string to integer: {t}."),
                At::After,
                path,
            )
        }
        (Shape::Number, Value::String(t)) if t.trim().parse::<f64>().is_err() => fail(
            format!("Could not convert string to double: {t}."),
            At::After,
            path,
        ),
        (Shape::Boolean, Value::String(t))
            if !t.eq_ignore_ascii_case("true") && !t.eq_ignore_ascii_case("false") =>
        {
            fail(
                format!("Could not convert string to boolean: {t}."),
                At::After,
                path,
            )
        }
        (Shape::Int32 | Shape::Int64 | Shape::Number | Shape::Boolean, _) => Ok(()),
        (Shape::Object, Value::Object(o)) => walk_fields(o, s, name, path),
        (Shape::Map(values), Value::Object(o)) => {
            for (k, item) in o {
                path.push(Step::Key(k.clone()));
                walk(item, values, name, path)?;
                path.pop();
            }
            Ok(())
        }
        (Shape::Array(item), Value::Array(a)) => {
            for (i, e) in a.iter().enumerate() {
                path.push(Step::Index(i));
                walk(e, item, name, path)?;
                path.pop();
            }
            Ok(())
        }
        (Shape::Object | Shape::Map(_), Value::Array(_)) | (Shape::Array(_), Value::Object(_)) => {
            fail(container_into(v, type_name(s, name)), At::After, path)
        }
        (Shape::Object | Shape::Map(_) | Shape::Array(_), scalar) => fail(
            format!(
                "Error converting value {} to type '{}'.",
                shown(scalar),
                type_name(s, name)
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
    s: &'static Schema,
    name: Name<'_>,
    path: &mut Vec<Step>,
) -> Result<(), Mismatch> {
    for (k, item) in o {
        let field = fields(s)
            .find(|p| p.name == k)
            .or_else(|| fields(s).find(|p| p.name.eq_ignore_ascii_case(k)));
        if let Some(p) = field {
            path.push(Step::Key(k.clone()));
            walk(item, p.schema(), Name::Field(&name, p.name), path)?;
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

    /// `body` written to a resource of type `ty` (a path naming one, at the
    /// api-version clients send), checked against its operation's schema.
    fn check(method: &str, ty: &str, body: &Value, raw: &[u8]) -> Result<(), ArmError> {
        let (ns, types) = ty.split_once('/').unwrap();
        let version = match ns {
            "Microsoft.ContainerInstance" => "2023-05-01",
            "Microsoft.ContainerRegistry" => "2023-07-01",
            "Microsoft.Network" if types.starts_with("privateDnsZones") => "2024-06-01",
            "Microsoft.Network" => "2024-03-01",
            _ => "2024-07-01",
        };
        let mut path = "/subscriptions/s/resourceGroups/g".to_string();
        if ty != "Microsoft.Resources/resourceGroups" {
            path.push_str("/providers/");
            path.push_str(ns);
            for (i, t) in types.split('/').enumerate() {
                path.push_str(&format!("/{t}/n{i}"));
            }
        }
        match crate::arm::spec::find_for(method, &path, Some(version)) {
            Some((op, _)) => check_spec(op.body.unwrap(), body, raw),
            None => Ok(()),
        }
    }

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
    fn type_names_are_the_definitions_the_fields_and_the_recorded_one() {
        let cg = "Microsoft.ContainerInstance/containerGroups";
        // An inline object: the type it is a field of, and the field.
        let m = message(
            "PUT",
            cg,
            r#"{"properties":{"containers":[{"properties":{"instanceView":7}}]}}"#,
        )
        .unwrap();
        assert!(
            m.contains("Error converting value 7 to type 'ContainerPropertiesInstanceView'. Path 'properties.containers[0].properties.instanceView'"),
            "{m}"
        );
        // The deployment parameter's name is the one ARM's recorded error shows.
        let m = message(
            "PUT",
            "Microsoft.Resources/deployments",
            r#"{"properties":{"mode":"Incremental","parameters":{"a":[]}}}"#,
        )
        .unwrap();
        assert!(
            m.contains(
                "into type 'Azure.Deployments.Core.Definitions.DeploymentParameterDefinition'"
            ),
            "{m}"
        );
        let m = message(
            "PUT",
            "Microsoft.Resources/deployments",
            r#"{"properties":{"mode":"Incremental","parameters":[]}}"#,
        )
        .unwrap();
        assert!(
            m.contains("into type 'System.Collections.Generic.Dictionary`2[System.String,Azure.Deployments.Core.Definitions.DeploymentParameterDefinition]'"),
            "{m}"
        );
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
