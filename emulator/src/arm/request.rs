//! `ArmRequest`: one ARM call, parsed at the edge. Handlers get this, never
//! raw axum types: method, path, case-insensitive query, body parsed leniently,
//! the caller, the time, and the URL base to build links on.

use super::api_version::{self, ApiVersion};
use super::error::ArmError;
use crate::entra::Principal;
use crate::web::BaseUrl;
use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use serde_json::Value;
use time::OffsetDateTime;

pub struct ArmRequest {
    pub method: Method,
    /// The path as sent (percent-decoded), before any case folding.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub base: BaseUrl,
    pub principal: Principal,
    pub now: OffsetDateTime,
    pub strict_api_versions: bool,
    /// The deployment this call comes from, when the deployment engine makes it
    /// (a nested deployment's PUT); `None` for a client's request.
    pub nesting: Option<Nesting>,
}

/// Where a nested deployment's PUT comes from: the root of its tree, the
/// depth of the deployment making it, and the evaluation budget the tree has left.
#[derive(Debug, Clone)]
pub struct Nesting {
    pub root: String,
    pub depth: u32,
    pub work_left: u64,
}

impl ArmRequest {
    /// A query parameter; ARM matches names case-insensitively (`$filter`, `$skipToken`, `api-version`).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The api-version, checked against `resource_type`'s table in strict mode.
    pub fn api_version(&self, resource_type: &str) -> Result<ApiVersion, ArmError> {
        api_version::require(
            self.query("api-version"),
            resource_type,
            self.strict_api_versions,
        )
    }

    /// The body as JSON. Clients send non-JSON too (az deployment's unquoted keys and
    /// comments), so a strict parse falls back to JSON5. An empty body is `{}`.
    pub fn json_body(&self) -> Result<Value, ArmError> {
        parse_lenient(&self.body)
    }

    /// The JSON body, which must be an object.
    pub fn json_object(&self) -> Result<serde_json::Map<String, Value>, ArmError> {
        match self.json_body()? {
            Value::Object(m) => Ok(m),
            other => Err(ArmError::invalid_request_content(&format!(
                "Unexpected {} where an object was expected. Path '', line 1, position 1.",
                kind_of(&other)
            ))),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How deep a request body's arrays and objects may nest (serde_json's own limit).
const MAX_DEPTH: usize = 128;

/// The deepest nesting of `[`/`{` outside strings (single- or double-quoted,
/// with escapes), as JSON and JSON5 read them.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    max
}

pub fn parse_lenient(body: &[u8]) -> Result<Value, ArmError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Object(Default::default()));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ArmError::invalid_request_content("The body is not valid UTF-8."))?;
    let text = text.trim_start_matches('\u{feff}');
    // json5's parser recurses once per level: a deeply nested body would
    // overflow the stack, so refuse what serde_json would refuse (its limit is
    // 128) before json5 sees it.
    if nesting_depth(text) > MAX_DEPTH {
        return Err(ArmError::invalid_request_content(&format!(
            "The content is nested more than {MAX_DEPTH} levels deep."
        )));
    }
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(strict) => json5::from_str(text)
            .map_err(|_| ArmError::invalid_request_content(&strict.to_string())),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_bodies() {
        assert_eq!(parse_lenient(b"").unwrap(), serde_json::json!({}));
        assert_eq!(
            parse_lenient(br#"{"a":1}"#).unwrap(),
            serde_json::json!({"a":1})
        );
        // az deployment group create sends unquoted keys and comments
        assert_eq!(
            parse_lenient(b"{template: {/* c */ a: 1, // x\n}}").unwrap(),
            serde_json::json!({"template":{"a":1}})
        );
        assert_eq!(
            parse_lenient(b"{nope").unwrap_err().code,
            "InvalidRequestContent"
        );
        assert_eq!(
            parse_lenient(&[0xff, 0xfe]).unwrap_err().code,
            "InvalidRequestContent"
        );
    }

    // Fuzzing (bench/fuzz runs these for minutes with PROPTEST_CASES): whatever arrives as a body,
    // the answer is a value or InvalidRequestContent — never a panic, never a
    // stack overflow.
    proptest::proptest! {
        #[test]
        fn lenient_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Err(e) = parse_lenient(&bytes) {
                proptest::prop_assert_eq!(e.code, "InvalidRequestContent");
            }
        }

        #[test]
        fn lenient_near_json(s in r#"[\{\}\[\]:,"a-z0-9 /*\n\\.+-]{0,200}"#) {
            if let Err(e) = parse_lenient(s.as_bytes()) {
                proptest::prop_assert_eq!(e.code, "InvalidRequestContent");
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let body = format!("{}1{}", open.repeat(200_000), close.repeat(200_000));
            // Run where a stack overflow would show: a thread with a small stack.
            let r = std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    parse_lenient(body.as_bytes())
                        .map(|_| ())
                        .map_err(|e| e.code)
                })
                .unwrap()
                .join()
                .expect("no overflow");
            assert_eq!(r, Err("InvalidRequestContent"));
        }
    }
}
