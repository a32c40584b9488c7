//! The template functions that depend only on their arguments. Functions that
//! read the deployment (parameters, variables, copyIndex, resourceGroup,
//! resourceId, reference, list*) live in [`super::eval`].
//!
//! Semantics and the examples in the tests follow Microsoft's function
//! reference pages (learn.microsoft.com/azure/azure-resource-manager/templates/
//! template-functions-{string,array,object,logical,comparison,numeric}).

use super::hash;
use base64::Engine;
use serde_json::{Map, Value, json};

pub type FnResult = Result<Value, String>;

/// Call a pure function by (case-insensitive) name. `None` when the name is
/// not a pure function (the evaluator handles it or reports it unknown).
pub fn call(name: &str, args: &[Value]) -> Option<FnResult> {
    let n = name.to_ascii_lowercase();
    let f: fn(&[Value]) -> FnResult = match n.as_str() {
        "concat" => concat,
        "format" => format,
        "tolower" => |a: &[Value]| str1(a, "toLower").map(|s| json!(s.to_lowercase())),
        "toupper" => |a: &[Value]| str1(a, "toUpper").map(|s| json!(s.to_uppercase())),
        "trim" => |a: &[Value]| str1(a, "trim").map(|s| json!(s.trim())),
        "startswith" => |a: &[Value]| {
            let (x, y) = str2(a, "startsWith")?;
            Ok(json!(x.to_lowercase().starts_with(&y.to_lowercase())))
        },
        "endswith" => |a: &[Value]| {
            let (x, y) = str2(a, "endsWith")?;
            Ok(json!(x.to_lowercase().ends_with(&y.to_lowercase())))
        },
        "indexof" => |a: &[Value]| {
            let (x, y) = str2(a, "indexOf")?;
            Ok(json!(char_index(
                &x.to_lowercase(),
                x.to_lowercase().find(&y.to_lowercase())
            )))
        },
        "lastindexof" => |a: &[Value]| {
            let (x, y) = str2(a, "lastIndexOf")?;
            Ok(json!(char_index(
                &x.to_lowercase(),
                x.to_lowercase().rfind(&y.to_lowercase())
            )))
        },
        "padleft" => pad_left,
        "replace" => |a: &[Value]| {
            arity(a, "replace", 3, 3)?;
            let s = as_str(&a[0], "replace")?;
            Ok(json!(s.replace(
                as_str(&a[1], "replace")?,
                as_str(&a[2], "replace")?
            )))
        },
        "split" => split,
        "substring" => substring,
        "string" => |a: &[Value]| {
            arity(a, "string", 1, 1)?;
            Ok(json!(to_text(&a[0])))
        },
        "base64" => |a: &[Value]| {
            str1(a, "base64").map(|s| json!(base64::engine::general_purpose::STANDARD.encode(s)))
        },
        "base64tostring" => |a: &[Value]| {
            let s = str1(a, "base64ToString")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|_| format!("The provided value '{s}' is not a valid base64 string."))?;
            Ok(json!(String::from_utf8_lossy(&bytes)))
        },
        "base64tojson" => |a: &[Value]| {
            let s = str1(a, "base64ToJson")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|_| format!("The provided value '{s}' is not a valid base64 string."))?;
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        },
        "uri" => uri,
        "uricomponent" => |a: &[Value]| str1(a, "uriComponent").map(|s| json!(escape_data(&s))),
        "uricomponenttostring" => {
            |a: &[Value]| str1(a, "uriComponentToString").map(|s| json!(unescape_data(&s)))
        }
        "datauri" => |a: &[Value]| {
            arity(a, "dataUri", 1, 1)?;
            let s = to_text(&a[0]);
            Ok(json!(format!(
                "data:text/plain;charset=utf8;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )))
        },
        "datauritostring" => |a: &[Value]| {
            let s = str1(a, "dataUriToString")?;
            let (head, data) = s
                .split_once(',')
                .filter(|(h, _)| h.starts_with("data:"))
                .ok_or_else(|| format!("The provided value '{s}' is not a valid data URI."))?;
            if head.ends_with(";base64") {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data.as_bytes())
                    .map_err(|_| format!("The provided value '{s}' is not a valid data URI."))?;
                Ok(json!(String::from_utf8_lossy(&bytes)))
            } else {
                Ok(json!(unescape_data(data)))
            }
        },
        "uniquestring" => |a: &[Value]| {
            let parts = strings(a, "uniqueString")?;
            Ok(json!(hash::unique_string(
                &parts.iter().map(String::as_str).collect::<Vec<_>>()
            )))
        },
        "guid" => |a: &[Value]| {
            let parts = strings(a, "guid")?;
            Ok(json!(hash::guid(
                &parts.iter().map(String::as_str).collect::<Vec<_>>()
            )))
        },
        "join" => |a: &[Value]| {
            arity(a, "join", 2, 2)?;
            let items = as_array(&a[0], "join")?;
            let sep = as_str(&a[1], "join")?;
            Ok(json!(
                items.iter().map(to_text).collect::<Vec<_>>().join(sep)
            ))
        },
        "length" => |a: &[Value]| {
            arity(a, "length", 1, 1)?;
            match &a[0] {
                Value::String(s) => Ok(json!(s.chars().count())),
                Value::Array(v) => Ok(json!(v.len())),
                Value::Object(m) => Ok(json!(m.len())),
                other => Err(type_error("length", "string, array or object", other)),
            }
        },
        "contains" => contains,
        "empty" => |a: &[Value]| {
            arity(a, "empty", 1, 1)?;
            Ok(json!(match &a[0] {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(v) => v.is_empty(),
                Value::Object(m) => m.is_empty(),
                _ => false,
            }))
        },
        "first" => |a: &[Value]| {
            arity(a, "first", 1, 1)?;
            match &a[0] {
                Value::String(s) => Ok(json!(
                    s.chars().next().map(String::from).unwrap_or_default()
                )),
                Value::Array(v) => Ok(v.first().cloned().unwrap_or(Value::Null)),
                other => Err(type_error("first", "string or array", other)),
            }
        },
        "last" => |a: &[Value]| {
            arity(a, "last", 1, 1)?;
            match &a[0] {
                Value::String(s) => Ok(json!(
                    s.chars().last().map(String::from).unwrap_or_default()
                )),
                Value::Array(v) => Ok(v.last().cloned().unwrap_or(Value::Null)),
                other => Err(type_error("last", "string or array", other)),
            }
        },
        "take" => |a: &[Value]| take_skip(a, "take"),
        "skip" => |a: &[Value]| take_skip(a, "skip"),
        "createarray" => |a: &[Value]| Ok(Value::Array(a.to_vec())),
        "array" => |a: &[Value]| {
            arity(a, "array", 1, 1)?;
            Ok(match &a[0] {
                Value::Array(v) => Value::Array(v.clone()),
                other => json!([other]),
            })
        },
        "createobject" => |a: &[Value]| {
            if !a.len().is_multiple_of(2) {
                return Err("The template language function 'createObject' must have an even number of parameters.".into());
            }
            let mut m = Map::new();
            for pair in a.chunks(2) {
                m.insert(
                    as_str(&pair[0], "createObject")?.to_string(),
                    pair[1].clone(),
                );
            }
            Ok(Value::Object(m))
        },
        "union" => union,
        "intersection" => intersection,
        "coalesce" => |a: &[Value]| {
            arity(a, "coalesce", 1, usize::MAX)?;
            Ok(a.iter()
                .find(|v| !v.is_null())
                .cloned()
                .unwrap_or(Value::Null))
        },
        "range" => |a: &[Value]| {
            arity(a, "range", 2, 2)?;
            let (start, count) = (as_int(&a[0], "range")?, as_int(&a[1], "range")?);
            // The documented limits: a count up to 10,000, and startIndex + count up to 2147483647.
            // TODO-fidelity: ARM's wording for these refusals not found (searched "language
            // function 'range'", "range function count 10000 error"); these are azemu's.
            if !(0..=10_000).contains(&count) {
                return Err("The 'count' parameter of the template language function 'range' must be between 0 and 10000.".into());
            }
            if start
                .checked_add(count)
                .is_none_or(|end| end > i64::from(i32::MAX))
            {
                return Err("The sum of the 'startIndex' and 'count' parameters of the template language function 'range' must be no greater than 2147483647.".into());
            }
            Ok(Value::Array((0..count).map(|i| json!(start + i)).collect()))
        },
        "min" => |a: &[Value]| min_max(a, "min", true),
        "max" => |a: &[Value]| min_max(a, "max", false),
        "items" => |a: &[Value]| {
            arity(a, "items", 1, 1)?;
            let m = as_object(&a[0], "items")?;
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| k.to_lowercase());
            Ok(Value::Array(
                keys.into_iter()
                    .map(|k| json!({"key": k, "value": m[k]}))
                    .collect(),
            ))
        },
        "json" => |a: &[Value]| {
            let s = str1(a, "json")?;
            serde_json::from_str(&s).map_err(|_| {
                format!("The template language function 'json' parameter is not valid. The provided value '{s}' cannot be parsed.")
            })
        },
        "null" => |a: &[Value]| arity(a, "null", 0, 0).map(|_| Value::Null),
        "true" => |a: &[Value]| arity(a, "true", 0, 0).map(|_| json!(true)),
        "false" => |a: &[Value]| arity(a, "false", 0, 0).map(|_| json!(false)),
        "and" => |a: &[Value]| {
            arity(a, "and", 2, usize::MAX)?;
            let mut all = true;
            for v in a {
                all &= as_bool(v, "and")?;
            }
            Ok(json!(all))
        },
        "or" => |a: &[Value]| {
            arity(a, "or", 2, usize::MAX)?;
            let mut any = false;
            for v in a {
                any |= as_bool(v, "or")?;
            }
            Ok(json!(any))
        },
        "not" => |a: &[Value]| {
            arity(a, "not", 1, 1)?;
            Ok(json!(!as_bool(&a[0], "not")?))
        },
        "if" => |a: &[Value]| {
            arity(a, "if", 3, 3)?;
            Ok(if as_bool(&a[0], "if")? {
                a[1].clone()
            } else {
                a[2].clone()
            })
        },
        "bool" => |a: &[Value]| {
            arity(a, "bool", 1, 1)?;
            match &a[0] {
                Value::Bool(b) => Ok(json!(b)),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(json!(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(json!(false)),
                Value::Number(n) => Ok(json!(n.as_f64() != Some(0.0))),
                other => Err(type_error("bool", "boolean, string or integer", other)),
            }
        },
        "int" => |a: &[Value]| {
            arity(a, "int", 1, 1)?;
            match &a[0] {
                Value::Number(n) => Ok(json!(n.as_i64().unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64))),
                Value::String(s) => s.trim().parse::<i64>().map(|i| json!(i)).map_err(|_| {
                    "The template language function 'int' was invoked with a parameter that is not valid. The value cannot be converted to the target type.".to_string()
                }),
                other => Err(type_error("int", "integer or string", other)),
            }
        },
        "float" => |a: &[Value]| {
            arity(a, "float", 1, 1)?;
            match &a[0] {
                Value::Number(n) => Ok(json!(n.as_f64())),
                Value::String(s) => s.trim().parse::<f64>().map(|f| json!(f)).map_err(|_| {
                    "The template language function 'float' was invoked with a parameter that is not valid.".to_string()
                }),
                other => Err(type_error("float", "number or string", other)),
            }
        },
        "equals" => |a: &[Value]| {
            arity(a, "equals", 2, 2)?;
            Ok(json!(a[0] == a[1]))
        },
        "less" => |a: &[Value]| compare(a, "less", |o| o.is_lt()),
        "lessorequals" => |a: &[Value]| compare(a, "lessOrEquals", |o| o.is_le()),
        "greater" => |a: &[Value]| compare(a, "greater", |o| o.is_gt()),
        "greaterorequals" => |a: &[Value]| compare(a, "greaterOrEquals", |o| o.is_ge()),
        "add" => |a: &[Value]| arith(a, "add", i64::checked_add),
        "sub" => |a: &[Value]| arith(a, "sub", i64::checked_sub),
        "mul" => |a: &[Value]| arith(a, "mul", i64::checked_mul),
        "div" => |a: &[Value]| {
            arith(
                a,
                "div",
                |x, y| if y == 0 { None } else { x.checked_div(y) },
            )
        },
        "mod" => |a: &[Value]| {
            arith(
                a,
                "mod",
                |x, y| if y == 0 { None } else { x.checked_rem(y) },
            )
        },
        _ => return None,
    };
    Some(f(args))
}

/// An upper bound of what the function would allocate for its value, for the
/// functions whose value can be much larger than their arguments (every other
/// function's value is made from its arguments, already paid for). `None`: no
/// such bound needed, or the arguments are of the wrong kind (the call says why).
pub fn predict(name: &str, a: &[Value]) -> Option<u64> {
    use super::limits::{MAX_VALUE_BYTES, measure, text_len};
    const BASE: u64 = 32;
    // A value costs at least this much per element (see `limits::measure`).
    const ITEM: u64 = 64;
    let cap = MAX_VALUE_BYTES;
    let s = |i: usize| a.get(i).and_then(Value::as_str);
    let len = |i: usize| s(i).map_or(0, |x| x.len() as u64);
    let n = name.to_ascii_lowercase();
    let bound = match n.as_str() {
        "concat" if a.iter().all(Value::is_array) => a
            .iter()
            .map(|v| measure(v, cap).bytes)
            .fold(BASE, u64::saturating_add),
        "concat" => a
            .iter()
            .map(|v| text_len(v, cap))
            .fold(BASE, u64::saturating_add),
        "format" => {
            // Each `{…}` item is an argument's text, or a number formatted to at most 99 digits.
            let holes = s(0)?.matches('{').count() as u64;
            let widest = a[1..].iter().map(|v| text_len(v, cap)).max().unwrap_or(0) + 160;
            BASE.saturating_add(len(0))
                .saturating_add(holes.saturating_mul(widest))
        }
        "padleft" => {
            // Wider than 16,384 is refused by `padLeft` itself.
            let width = a.get(1)?.as_i64()?.clamp(0, 16_384) as u64;
            BASE.saturating_add(width.saturating_mul(4))
                .saturating_add(len(0).max(24))
        }
        "replace" => {
            let (text, old, new) = (s(0)?, s(1)?, s(2)?);
            let hits = if old.is_empty() {
                text.chars().count() as u64 + 1
            } else {
                text.matches(old).count() as u64
            };
            BASE.saturating_add(text.len() as u64)
                .saturating_add(hits.saturating_mul(new.len() as u64))
        }
        "string" => BASE.saturating_add(text_len(a.first()?, cap)),
        "join" => {
            let items = a.first()?.as_array()?;
            let sep = len(1).saturating_mul(items.len() as u64);
            items
                .iter()
                .map(|v| text_len(v, cap))
                .fold(BASE.saturating_add(sep), u64::saturating_add)
        }
        "base64" => BASE + len(0) / 3 * 4 + 4,
        "datauri" => {
            let t = text_len(a.first()?, cap);
            64u64.saturating_add(t / 3 * 4 + 4)
        }
        "uricomponent" => BASE.saturating_add(len(0).saturating_mul(3)),
        "tolower" | "toupper" => BASE.saturating_add(len(0).saturating_mul(3)),
        "split" => {
            let text = s(0)?;
            let pieces: u64 = match a.get(1)? {
                Value::String(d) if !d.is_empty() => text.matches(d.as_str()).count() as u64,
                Value::Array(ds) => ds
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|d| !d.is_empty())
                    .map(|d| text.matches(d).count() as u64)
                    .sum(),
                _ => 0,
            };
            BASE.saturating_add(text.len() as u64)
                .saturating_add((pieces + 1).saturating_mul(ITEM))
        }
        "range" => {
            let count = a.get(1)?.as_i64()?.clamp(0, 10_001) as u64;
            BASE + count * ITEM
        }
        "items" => {
            let m = a.first()?.as_object()?;
            measure(&a[0], cap)
                .bytes
                .saturating_add((m.len() as u64).saturating_mul(4 * ITEM))
        }
        "json" => BASE.saturating_add(json_bound(s(0)?.as_bytes())),
        "base64tojson" => BASE.saturating_add(len(0) / 4 * 3 * ITEM),
        "createarray" | "createobject" | "union" => a
            .iter()
            .map(|v| measure(v, cap).bytes.saturating_add(ITEM))
            .fold(BASE, u64::saturating_add),
        _ => return None,
    };
    Some(bound)
}

/// What parsing `text` as JSON can allocate: its characters, plus a value for
/// every comma, colon and bracket (there is at most one more value than those).
fn json_bound(text: &[u8]) -> u64 {
    let structural = text
        .iter()
        .filter(|b| matches!(b, b',' | b':' | b'[' | b'{'))
        .count() as u64;
    (text.len() as u64).saturating_add((structural + 1).saturating_mul(96))
}

// ---- argument helpers ------------------------------------------------------

pub fn arity(a: &[Value], f: &str, min: usize, max: usize) -> Result<(), String> {
    if a.len() < min || a.len() > max {
        let expected = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(format!(
            "The template language function '{f}' must have {expected} parameter(s). The function was invoked with '{}' parameter(s). Please see https://aka.ms/arm-functions for usage details.",
            a.len()
        ));
    }
    Ok(())
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_f64() => "Float",
        Value::Number(_) => "Integer",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

fn type_error(f: &str, expected: &str, got: &Value) -> String {
    format!(
        "The template language function '{f}' expects its parameter to be of type {expected}. The provided value is of type '{}'. Please see https://aka.ms/arm-functions for usage details.",
        kind(got)
    )
}

pub fn as_str<'a>(v: &'a Value, f: &str) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| type_error(f, "string", v))
}

fn as_int(v: &Value, f: &str) -> Result<i64, String> {
    v.as_i64().ok_or_else(|| type_error(f, "integer", v))
}

fn as_bool(v: &Value, f: &str) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| type_error(f, "boolean", v))
}

fn as_array<'a>(v: &'a Value, f: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array().ok_or_else(|| type_error(f, "array", v))
}

fn as_object<'a>(v: &'a Value, f: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| type_error(f, "object", v))
}

fn str1(a: &[Value], f: &str) -> Result<String, String> {
    arity(a, f, 1, 1)?;
    Ok(as_str(&a[0], f)?.to_string())
}

fn str2(a: &[Value], f: &str) -> Result<(String, String), String> {
    arity(a, f, 2, 2)?;
    Ok((as_str(&a[0], f)?.to_string(), as_str(&a[1], f)?.to_string()))
}

fn strings(a: &[Value], f: &str) -> Result<Vec<String>, String> {
    arity(a, f, 1, usize::MAX)?;
    a.iter().map(|v| as_str(v, f).map(str::to_string)).collect()
}

fn char_index(s: &str, byte: Option<usize>) -> i64 {
    byte.map_or(-1, |b| s[..b].chars().count() as i64)
}

/// How a value reads as text in `concat`, `string`, `format`: strings as they
/// are, booleans as .NET writes them (`True`), arrays and objects as compact JSON.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

// ---- functions ---------------------------------------------------------------

fn concat(a: &[Value]) -> FnResult {
    arity(a, "concat", 1, usize::MAX)?;
    if a.iter().all(Value::is_array) {
        return Ok(Value::Array(
            a.iter()
                .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                .collect(),
        ));
    }
    if let Some(bad) = a.iter().find(|v| v.is_array() || v.is_object()) {
        return Err(type_error(
            "concat",
            "string or integer (or all arrays)",
            bad,
        ));
    }
    Ok(json!(a.iter().map(to_text).collect::<String>()))
}

/// `format`: .NET composite formatting, `{index[:format]}` with `{{`/`}}` escapes.
/// Supported format strings: `N<d>` (grouped), `D<d>` (zero-padded), `X`/`x` (hex).
fn format(a: &[Value]) -> FnResult {
    arity(a, "format", 1, usize::MAX)?;
    let fmt = as_str(&a[0], "format")?;
    let bad = || {
        format!("The format string '{fmt}' is not valid: Input string was not in a correct format.")
    };
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut item = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => item.push(c),
                        None => return Err(bad()),
                    }
                }
                let (index, spec) = item.split_once(':').unwrap_or((&item, ""));
                let index: usize = index.trim().parse().map_err(|_| bad())?;
                let v = a.get(index + 1).ok_or_else(|| {
                    format!("The format string '{fmt}' is not valid: Index (zero based) must be greater than or equal to zero and less than the size of the argument list.")
                })?;
                out.push_str(&format_item(v, spec));
            }
            '}' => return Err(bad()),
            c => out.push(c),
        }
    }
    Ok(json!(out))
}

fn format_item(v: &Value, spec: &str) -> String {
    let mut chars = spec.chars();
    let kind = chars.next().map(String::from).unwrap_or_default();
    let kind = kind.as_str();
    let digits = chars.as_str();
    // .NET caps precision at 99; so do we (and so no format asks for a huge string).
    let digits: usize = digits
        .parse::<usize>()
        .unwrap_or(if kind.eq_ignore_ascii_case("n") { 2 } else { 0 })
        .min(99);
    match (kind, v.as_i64()) {
        ("N" | "n", Some(i)) => {
            let s = i.unsigned_abs().to_string();
            let mut grouped = String::new();
            for (n, ch) in s.chars().enumerate() {
                if n > 0 && (s.len() - n) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(ch);
            }
            let sign = if i < 0 { "-" } else { "" };
            let frac = if digits > 0 {
                format!(".{}", "0".repeat(digits))
            } else {
                String::new()
            };
            format!("{sign}{grouped}{frac}")
        }
        ("D" | "d", Some(i)) => {
            let s = format!("{:0digits$}", i.unsigned_abs());
            if i < 0 { format!("-{s}") } else { s }
        }
        ("X", Some(i)) => format!("{i:X}"),
        ("x", Some(i)) => format!("{i:x}"),
        _ => to_text(v),
    }
}

fn pad_left(a: &[Value]) -> FnResult {
    arity(a, "padLeft", 2, 3)?;
    let s = match &a[0] {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() => n.to_string(),
        other => return Err(type_error("padLeft", "string or integer", other)),
    };
    let total = as_int(&a[1], "padLeft")?;
    let pad = match a.get(2) {
        Some(v) => {
            let p = as_str(v, "padLeft")?;
            let mut it = p.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => c,
                _ => return Err("The template language function 'padLeft' expects the padding character to be a single character.".into()),
            }
        }
        None => ' ',
    };
    let len = s.chars().count() as i64;
    if total > 16_384 {
        return Err(
            "The template language function 'padLeft' total length must not exceed 16384.".into(),
        );
    }
    let n = (total - len).max(0) as usize;
    Ok(json!(format!("{}{s}", pad.to_string().repeat(n))))
}

fn split(a: &[Value]) -> FnResult {
    arity(a, "split", 2, 2)?;
    let s = as_str(&a[0], "split")?;
    let delims: Vec<String> = match &a[1] {
        Value::String(d) => vec![d.clone()],
        Value::Array(v) => v
            .iter()
            .map(|d| as_str(d, "split").map(str::to_string))
            .collect::<Result<_, _>>()?,
        other => return Err(type_error("split", "string or array", other)),
    };
    let mut parts = vec![s.to_string()];
    for d in delims.iter().filter(|d| !d.is_empty()) {
        parts = parts
            .iter()
            .flat_map(|p| p.split(d.as_str()).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    Ok(json!(parts))
}

fn substring(a: &[Value]) -> FnResult {
    arity(a, "substring", 1, 3)?;
    let s = as_str(&a[0], "substring")?;
    let chars = s.chars().count() as i64;
    let start = a
        .get(1)
        .map(|v| as_int(v, "substring"))
        .transpose()?
        .unwrap_or(0);
    let len = match a.get(2) {
        Some(v) => as_int(v, "substring")?,
        None => chars.saturating_sub(start),
    };
    if start < 0 || len < 0 || start.checked_add(len).is_none_or(|end| end > chars) {
        return Err(format!(
            "The index and length parameters must refer to a location within the string. The index parameter: '{start}', the length parameter: '{len}', the length of the string parameter: '{chars}'. Please see https://aka.ms/arm-function-substring for usage details."
        ));
    }
    let from = byte_offset(s, start as usize);
    let to = from + byte_offset(&s[from..], len as usize);
    Ok(json!(&s[from..to]))
}

fn uri(a: &[Value]) -> FnResult {
    let (base, rel) = str2(a, "uri")?;
    if rel.contains("://") {
        return Ok(json!(rel));
    }
    let Some(scheme_end) = base.find("://") else {
        return Err(format!(
            "The template language function 'uri' expects an absolute base URI. The provided value is '{base}'."
        ));
    };
    if let Some(r) = rel.strip_prefix('/') {
        let host_end = base[scheme_end + 3..]
            .find('/')
            .map_or(base.len(), |i| i + scheme_end + 3);
        return Ok(json!(format!("{}/{r}", &base[..host_end])));
    }
    let dir_end = base[scheme_end + 3..]
        .rfind('/')
        .map_or(base.len(), |i| i + scheme_end + 3);
    let dir = &base[..dir_end];
    Ok(json!(format!("{dir}/{rel}")))
}

/// .NET `Uri.EscapeDataString`: everything but RFC 3986 unreserved characters.
fn escape_data(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape_data(s: &str) -> String {
    crate::web::percent_decode(s)
}

fn contains(a: &[Value]) -> FnResult {
    arity(a, "contains", 2, 2)?;
    Ok(json!(match &a[0] {
        Value::String(s) => s.contains(&to_text(&a[1])),
        Value::Array(v) => v.contains(&a[1]),
        Value::Object(m) => {
            let k = to_text(&a[1]);
            m.keys().any(|x| x.eq_ignore_ascii_case(&k))
        }
        other => return Err(type_error("contains", "string, array or object", other)),
    }))
}

fn take_skip(a: &[Value], f: &str) -> FnResult {
    arity(a, f, 2, 2)?;
    let n = as_int(&a[1], f)?.max(0) as usize;
    let take = f == "take";
    match &a[0] {
        Value::String(s) => {
            let at = byte_offset(s, n);
            Ok(json!(if take { &s[..at] } else { &s[at..] }))
        }
        Value::Array(v) => {
            let n = n.min(v.len());
            Ok(Value::Array(if take {
                v[..n].to_vec()
            } else {
                v[n..].to_vec()
            }))
        }
        other => Err(type_error(f, "string or array", other)),
    }
}

/// Where the `n`th character of `s` starts (`s.len()` past the end).
fn byte_offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Finds values already seen in O(1) (a hash of the value, then equality), so
/// `union` and `intersection` of long arrays stay linear.
#[derive(Default)]
pub(crate) struct Seen {
    buckets: std::collections::HashMap<u64, Vec<usize>>,
}

impl Seen {
    pub(crate) fn of(items: &[Value]) -> Seen {
        let mut s = Seen::default();
        for (i, v) in items.iter().enumerate() {
            s.buckets.entry(hash_value(v)).or_default().push(i);
        }
        s
    }

    pub(crate) fn contains(&self, items: &[Value], v: &Value) -> bool {
        self.buckets
            .get(&hash_value(v))
            .is_some_and(|b| b.iter().any(|&i| items[i] == *v))
    }

    /// Push `v` onto `items` unless an equal value is there.
    fn push_new(&mut self, items: &mut Vec<Value>, v: &Value) {
        let h = hash_value(v);
        let bucket = self.buckets.entry(h).or_default();
        if !bucket.iter().any(|&i| items[i] == *v) {
            bucket.push(items.len());
            items.push(v.clone());
        }
    }
}

/// A hash consistent with `Value`'s equality (objects are ordered maps).
fn hash_value(v: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Null => 0u8.hash(&mut h),
            Value::Bool(b) => (1u8, b).hash(&mut h),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => (2u8, u).hash(&mut h),
                (None, Some(i)) => (3u8, i).hash(&mut h),
                _ => (4u8, n.as_f64().unwrap_or(0.0).to_bits()).hash(&mut h),
            },
            Value::String(s) => (5u8, s).hash(&mut h),
            Value::Array(a) => {
                (6u8, a.len()).hash(&mut h);
                stack.extend(a.iter().rev());
            }
            Value::Object(m) => {
                (7u8, m.len()).hash(&mut h);
                for (k, x) in m {
                    k.hash(&mut h);
                    stack.push(x);
                }
            }
        }
    }
    h.finish()
}

/// `union`: objects merge (later keys win, nested objects and arrays merge
/// recursively); arrays keep the first occurrence of each element.
fn union(a: &[Value]) -> FnResult {
    arity(a, "union", 1, usize::MAX)?;
    if a.iter().all(Value::is_object) {
        let mut acc = Value::Object(Map::new());
        for v in a {
            acc = merge(acc, v);
        }
        return Ok(acc);
    }
    if a.iter().all(Value::is_array) {
        let mut out: Vec<Value> = Vec::new();
        let mut seen = Seen::default();
        for v in a.iter().flat_map(|v| v.as_array().into_iter().flatten()) {
            seen.push_new(&mut out, v);
        }
        return Ok(Value::Array(out));
    }
    Err("The template language function 'union' expects parameters that are all arrays or all objects.".into())
}

fn merge(base: Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match b.shift_remove(k) {
                    Some(old) => merge(old, v),
                    None => v.clone(),
                };
                b.insert(k.clone(), merged);
            }
            Value::Object(b)
        }
        (Value::Array(b), Value::Array(o)) => {
            let mut seen = Seen::of(&b);
            let mut out = b;
            for v in o {
                seen.push_new(&mut out, v);
            }
            Value::Array(out)
        }
        (_, o) => o.clone(),
    }
}

fn intersection(a: &[Value]) -> FnResult {
    arity(a, "intersection", 2, usize::MAX)?;
    if a.iter().all(Value::is_object) {
        let first = a[0].as_object().cloned().unwrap_or_default();
        let out: Map<String, Value> = first
            .into_iter()
            .filter(|(k, v)| a[1..].iter().all(|o| o.get(k) == Some(v)))
            .collect();
        return Ok(Value::Object(out));
    }
    if a.iter().all(Value::is_array) {
        let others: Vec<(&Vec<Value>, Seen)> = a[1..]
            .iter()
            .filter_map(Value::as_array)
            .map(|o| (o, Seen::of(o)))
            .collect();
        let mut out: Vec<Value> = Vec::new();
        let mut seen = Seen::default();
        for v in a[0].as_array().into_iter().flatten() {
            if others.iter().all(|(o, s)| s.contains(o, v)) {
                seen.push_new(&mut out, v);
            }
        }
        return Ok(Value::Array(out));
    }
    Err("The template language function 'intersection' expects parameters that are all arrays or all objects.".into())
}

fn min_max(a: &[Value], f: &str, min: bool) -> FnResult {
    arity(a, f, 1, usize::MAX)?;
    let items: &[Value] = match a {
        [Value::Array(items)] => items,
        _ => a,
    };
    let nums = items
        .iter()
        .map(|v| as_int(v, f))
        .collect::<Result<Vec<_>, _>>()?;
    let r = if min {
        nums.iter().min()
    } else {
        nums.iter().max()
    };
    r.map(|x| json!(x))
        .ok_or_else(|| format!("The template language function '{f}' expects at least one value."))
}

fn compare(a: &[Value], f: &str, ok: fn(std::cmp::Ordering) -> bool) -> FnResult {
    arity(a, f, 2, 2)?;
    let ord = match (&a[0], &a[1]) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().partial_cmp(&y.as_f64()).ok_or_else(|| {
                format!("The template language function '{f}' cannot compare these values.")
            })?
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => {
            return Err(format!(
                "The template language function '{f}' expects two integers or two strings. The provided values are of types '{}' and '{}'.",
                kind(&a[0]),
                kind(&a[1])
            ));
        }
    };
    Ok(json!(ok(ord)))
}

fn arith(a: &[Value], f: &str, op: fn(i64, i64) -> Option<i64>) -> FnResult {
    arity(a, f, 2, 2)?;
    let (x, y) = (as_int(&a[0], f)?, as_int(&a[1], f)?);
    op(x, y).map(|r| json!(r)).ok_or_else(|| {
        if (f == "div" || f == "mod") && y == 0 {
            format!("The template language function '{f}' has an invalid parameter. The second parameter cannot be zero.")
        } else {
            format!("The template language function '{f}' overflowed.")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pure function against the examples on Microsoft's reference pages
    /// (inputs and outputs as the pages give them).
    #[test]
    fn documented_examples() {
        let cases: Vec<(&str, Vec<Value>, Value)> = vec![
            // template-functions-string
            (
                "base64",
                vec![json!("one, two, three")],
                json!("b25lLCB0d28sIHRocmVl"),
            ),
            (
                "base64ToString",
                vec![json!("b25lLCB0d28sIHRocmVl")],
                json!("one, two, three"),
            ),
            (
                "base64ToJson",
                vec![json!("eyJvbmUiOiAiYSIsICJ0d28iOiAiYiJ9")],
                json!({"one": "a", "two": "b"}),
            ),
            (
                "concat",
                vec![json!("prefix"), json!("-"), json!("5yj4yjf5mbg72")],
                json!("prefix-5yj4yjf5mbg72"),
            ),
            (
                "concat",
                vec![json!(["1-1", "1-2", "1-3"]), json!(["2-1", "2-2", "2-3"])],
                json!(["1-1", "1-2", "1-3", "2-1", "2-2", "2-3"]),
            ),
            (
                "contains",
                vec![json!("OneTwoThree"), json!("e")],
                json!(true),
            ),
            (
                "contains",
                vec![json!("OneTwoThree"), json!("z")],
                json!(false),
            ),
            (
                "contains",
                vec![json!({"one": "a", "two": "b", "three": "c"}), json!("one")],
                json!(true),
            ),
            (
                "contains",
                vec![json!(["one", "two", "three"]), json!("three")],
                json!(true),
            ),
            (
                "dataUri",
                vec![json!("Hello")],
                json!("data:text/plain;charset=utf8;base64,SGVsbG8="),
            ),
            (
                "dataUriToString",
                vec![json!("data:;base64,SGVsbG8sIFdvcmxkIQ==")],
                json!("Hello, World!"),
            ),
            ("empty", vec![json!([])], json!(true)),
            ("empty", vec![json!({})], json!(true)),
            ("empty", vec![json!("")], json!(true)),
            ("endsWith", vec![json!("abcdef"), json!("ef")], json!(true)),
            ("endsWith", vec![json!("abcdef"), json!("F")], json!(true)),
            ("endsWith", vec![json!("abcdef"), json!("e")], json!(false)),
            ("first", vec![json!(["one", "two", "three"])], json!("one")),
            ("first", vec![json!("One Two Three")], json!("O")),
            (
                "format",
                vec![
                    json!("{0}, {1}. Formatted number: {2:N0}"),
                    json!("Hello"),
                    json!("User"),
                    json!(8175133),
                ],
                json!("Hello, User. Formatted number: 8,175,133"),
            ),
            (
                "guid",
                vec![json!("test")],
                json!("d6a5baf1-8b9b-542a-8525-2982f1f98a0c"),
            ),
            ("indexOf", vec![json!("test"), json!("t")], json!(0)),
            ("indexOf", vec![json!("abcdef"), json!("CD")], json!(2)),
            ("indexOf", vec![json!("abcdef"), json!("z")], json!(-1)),
            (
                "join",
                vec![json!(["one", "two", "three"]), json!(",")],
                json!("one,two,three"),
            ),
            ("last", vec![json!(["one", "two", "three"])], json!("three")),
            ("last", vec![json!("One Two Three")], json!("e")),
            ("lastIndexOf", vec![json!("test"), json!("t")], json!(3)),
            ("lastIndexOf", vec![json!("abcdef"), json!("AB")], json!(0)),
            ("length", vec![json!(["a", "b", "c"])], json!(3)),
            ("length", vec![json!("One Two Three")], json!(13)),
            (
                "length",
                vec![
                    json!({"propA": "one", "propB": "two", "propC": "three", "propD": {"propD-1": "sub", "propD-2": "sub"}}),
                ],
                json!(4),
            ),
            (
                "padLeft",
                vec![json!("123"), json!(10), json!("0")],
                json!("0000000123"),
            ),
            (
                "replace",
                vec![json!("123-123-1234"), json!("-"), json!("")],
                json!("1231231234"),
            ),
            (
                "replace",
                vec![json!("123-123-1234"), json!("1234"), json!("xxxx")],
                json!("123-123-xxxx"),
            ),
            (
                "skip",
                vec![json!(["one", "two", "three"]), json!(2)],
                json!(["three"]),
            ),
            (
                "skip",
                vec![json!("one two three"), json!(4)],
                json!("two three"),
            ),
            (
                "split",
                vec![json!("one,two,three"), json!(",")],
                json!(["one", "two", "three"]),
            ),
            (
                "split",
                vec![json!("one;two,three"), json!([",", ";"])],
                json!(["one", "two", "three"]),
            ),
            (
                "startsWith",
                vec![json!("abcdef"), json!("ab")],
                json!(true),
            ),
            ("startsWith", vec![json!("abcdef"), json!("A")], json!(true)),
            (
                "startsWith",
                vec![json!("abcdef"), json!("e")],
                json!(false),
            ),
            (
                "string",
                vec![json!({"valueA": 10, "valueB": "Example Text"})],
                json!("{\"valueA\":10,\"valueB\":\"Example Text\"}"),
            ),
            (
                "string",
                vec![json!(["a", "b", "c"])],
                json!("[\"a\",\"b\",\"c\"]"),
            ),
            ("string", vec![json!(5)], json!("5")),
            ("string", vec![json!(true)], json!("True")),
            (
                "substring",
                vec![json!("hello world"), json!(1), json!(3)],
                json!("ell"),
            ),
            (
                "take",
                vec![json!(["one", "two", "three"]), json!(2)],
                json!(["one", "two"]),
            ),
            ("take", vec![json!("one two three"), json!(2)], json!("on")),
            (
                "toLower",
                vec![json!("One Two Three")],
                json!("one two three"),
            ),
            (
                "toUpper",
                vec![json!("One Two Three")],
                json!("ONE TWO THREE"),
            ),
            (
                "trim",
                vec![json!("    one two three   ")],
                json!("one two three"),
            ),
            ("uniqueString", vec![json!("test")], json!("rbgf3xv4ufgzg")),
            (
                "uri",
                vec![
                    json!("http://contoso.com/resources/"),
                    json!("nested/azuredeploy.json"),
                ],
                json!("http://contoso.com/resources/nested/azuredeploy.json"),
            ),
            (
                "uri",
                vec![
                    json!("http://contoso.com/resources/azuredeploy.json"),
                    json!("nested/azuredeploy.json"),
                ],
                json!("http://contoso.com/resources/nested/azuredeploy.json"),
            ),
            (
                "uriComponent",
                vec![json!(
                    "http://contoso.com/resources/nested/azuredeploy.json"
                )],
                json!("http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json"),
            ),
            (
                "uriComponentToString",
                vec![json!(
                    "http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json"
                )],
                json!("http://contoso.com/resources/nested/azuredeploy.json"),
            ),
            // template-functions-array / object
            ("array", vec![json!(1)], json!([1])),
            ("array", vec![json!("efgh")], json!(["efgh"])),
            (
                "array",
                vec![json!({"a": "b", "c": "d"})],
                json!([{"a": "b", "c": "d"}]),
            ),
            (
                "createArray",
                vec![json!("a"), json!("b"), json!("c")],
                json!(["a", "b", "c"]),
            ),
            (
                "createObject",
                vec![
                    json!("intProp"),
                    json!(1),
                    json!("stringProp"),
                    json!("abc"),
                    json!("boolProp"),
                    json!(true),
                ],
                json!({"intProp": 1, "stringProp": "abc", "boolProp": true}),
            ),
            (
                "coalesce",
                vec![Value::Null, Value::Null, json!("default")],
                json!("default"),
            ),
            (
                "intersection",
                vec![
                    json!({"one": "a", "two": "b", "three": "c"}),
                    json!({"one": "a", "two": "z", "three": "c"}),
                ],
                json!({"one": "a", "three": "c"}),
            ),
            (
                "intersection",
                vec![json!(["one", "two", "three"]), json!(["two", "three"])],
                json!(["two", "three"]),
            ),
            (
                "items",
                vec![json!({"item002": {"enabled": false}, "item001": {"enabled": true}})],
                json!([{"key": "item001", "value": {"enabled": true}}, {"key": "item002", "value": {"enabled": false}}]),
            ),
            ("json", vec![json!("{\"a\": \"b\"}")], json!({"a": "b"})),
            ("json", vec![json!("null")], Value::Null),
            ("json", vec![json!("true")], json!(true)),
            ("max", vec![json!([0, 3, 2, 5, 4])], json!(5)),
            (
                "max",
                vec![json!(0), json!(3), json!(2), json!(5), json!(4)],
                json!(5),
            ),
            ("min", vec![json!([0, 3, 2, 5, 4])], json!(0)),
            ("null", vec![], Value::Null),
            ("range", vec![json!(5), json!(3)], json!([5, 6, 7])),
            (
                "union",
                vec![
                    json!({"one": "a", "two": "b", "three": "c1"}),
                    json!({"three": "c2", "four": "d", "five": "e"}),
                ],
                json!({"one": "a", "two": "b", "three": "c2", "four": "d", "five": "e"}),
            ),
            (
                "union",
                vec![json!(["one", "two", "three"]), json!(["three", "four"])],
                json!(["one", "two", "three", "four"]),
            ),
            (
                "union",
                vec![
                    json!({"property": {"one": "a", "two": "b", "three": "c1"}, "nestedArray": [1, 2]}),
                    json!({"property": {"three": "c2", "four": "d", "five": "e"}, "nestedArray": [3, 4]}),
                ],
                json!({"property": {"one": "a", "two": "b", "three": "c2", "four": "d", "five": "e"}, "nestedArray": [1, 2, 3, 4]}),
            ),
            // template-functions-logical / comparison / numeric
            ("and", vec![json!(false), json!(true)], json!(false)),
            ("or", vec![json!(false), json!(true)], json!(true)),
            ("not", vec![json!(false)], json!(true)),
            ("bool", vec![json!("true")], json!(true)),
            ("bool", vec![json!(0)], json!(false)),
            ("if", vec![json!(true), json!(1), json!(2)], json!(1)),
            ("true", vec![], json!(true)),
            ("false", vec![], json!(false)),
            ("equals", vec![json!([1, 2]), json!([1, 2])], json!(true)),
            ("equals", vec![json!("a"), json!("A")], json!(false)),
            ("less", vec![json!(1), json!(2)], json!(true)),
            ("less", vec![json!("A"), json!("a")], json!(true)),
            ("lessOrEquals", vec![json!(2), json!(2)], json!(true)),
            ("greater", vec![json!(10), json!(5)], json!(true)),
            ("greater", vec![json!("A"), json!("a")], json!(false)),
            ("greaterOrEquals", vec![json!(10), json!(5)], json!(true)),
            ("add", vec![json!(5), json!(3)], json!(8)),
            ("sub", vec![json!(7), json!(3)], json!(4)),
            ("mul", vec![json!(5), json!(3)], json!(15)),
            ("div", vec![json!(8), json!(3)], json!(2)),
            ("mod", vec![json!(7), json!(3)], json!(1)),
            ("int", vec![json!("4")], json!(4)),
            ("float", vec![json!("4.5")], json!(4.5)),
        ];
        for (f, args, want) in cases {
            let got = call(f, &args).unwrap_or_else(|| panic!("{f} unknown"));
            assert_eq!(got.as_ref(), Ok(&want), "{f}({args:?})");
        }
    }

    const NAMES: &[&str] = &[
        "concat",
        "format",
        "toLower",
        "toUpper",
        "trim",
        "startsWith",
        "endsWith",
        "indexOf",
        "lastIndexOf",
        "padLeft",
        "replace",
        "split",
        "substring",
        "string",
        "base64",
        "base64ToString",
        "base64ToJson",
        "uri",
        "uriComponent",
        "uriComponentToString",
        "dataUri",
        "dataUriToString",
        "uniqueString",
        "guid",
        "join",
        "length",
        "contains",
        "empty",
        "first",
        "last",
        "take",
        "skip",
        "createArray",
        "array",
        "createObject",
        "union",
        "intersection",
        "coalesce",
        "range",
        "min",
        "max",
        "items",
        "json",
        "null",
        "true",
        "false",
        "and",
        "or",
        "not",
        "if",
        "bool",
        "int",
        "float",
        "equals",
        "less",
        "lessOrEquals",
        "greater",
        "greaterOrEquals",
        "add",
        "sub",
        "mul",
        "div",
        "mod",
    ];

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            (-1000i64..20000).prop_map(|i| json!(i)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
            "[{}0-9:N D,x]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-c]{1,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Any function, any arguments: a value or an error, never a panic.
        #[test]
        fn functions_never_panic(
            f in proptest::sample::select(NAMES),
            args in proptest::collection::vec(arb_json(), 0..4),
        ) {
            let _ = call(f, &args);
        }
    }

    #[test]
    fn errors_not_panics() {
        let cases: Vec<(&str, Vec<Value>)> = vec![
            ("substring", vec![json!("hello"), json!(3), json!(10)]),
            ("div", vec![json!(1), json!(0)]),
            ("add", vec![json!(i64::MAX), json!(1)]),
            ("concat", vec![]),
            ("length", vec![json!(1)]),
            ("createObject", vec![json!("a")]),
            ("json", vec![json!("{nope")]),
            ("base64ToString", vec![json!("!!")]),
            ("format", vec![json!("{5}"), json!(1)]),
            ("format", vec![json!("{x")]),
            ("range", vec![json!(i64::MAX), json!(2)]),
            ("substring", vec![json!("abc"), json!(i64::MAX), json!(1)]),
            ("range", vec![json!(0), json!(-1)]),
            ("padLeft", vec![json!("a"), json!(1_000_000)]),
            ("min", vec![json!([])]),
            ("less", vec![json!(1), json!("a")]),
        ];
        for (f, args) in cases {
            let r = call(f, &args).unwrap();
            assert!(r.is_err(), "{f}({args:?}) = {r:?}");
        }
        assert!(call("noSuchFunction", &[]).is_none());
    }
}
