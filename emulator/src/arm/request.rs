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

/// How deep a request body's arrays and objects may nest. Below what serde_json
/// reads (127) and what the store keeps ([`crate::store::MAX_ROW_DEPTH`], 124),
/// so that what the emulator wraps around a body (`properties`, a deployment's
/// run record) still reads back.
pub const MAX_DEPTH: usize = 100;

/// The deepest nesting of `[`/`{` as JSON and JSON5 read them: outside strings
/// (single- or double-quoted, with escapes) and outside comments (`// …` to the
/// end of the line, `/* … */`), so that a quote or a bracket inside a comment
/// cannot hide or invent a level.
pub fn nesting_depth(text: &str) -> usize {
    #[derive(Clone, Copy)]
    enum In {
        Code,
        Str { quote: char, escaped: bool },
        LineComment,
        BlockComment { star: bool },
    }
    let (mut depth, mut max) = (0usize, 0usize);
    let mut at = In::Code;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        at = match at {
            In::Str { quote, escaped } => match c {
                _ if escaped => In::Str {
                    quote,
                    escaped: false,
                },
                '\\' => In::Str {
                    quote,
                    escaped: true,
                },
                _ if c == quote => In::Code,
                _ => at,
            },
            // JSON5's line terminators end a line comment.
            In::LineComment => match c {
                '\n' | '\r' | '\u{2028}' | '\u{2029}' => In::Code,
                _ => at,
            },
            In::BlockComment { star } => match c {
                '/' if star => In::Code,
                _ => In::BlockComment { star: c == '*' },
            },
            In::Code => match c {
                '"' | '\'' => In::Str {
                    quote: c,
                    escaped: false,
                },
                '/' if chars.peek() == Some(&'/') => {
                    chars.next();
                    In::LineComment
                }
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    In::BlockComment { star: false }
                }
                '[' | '{' => {
                    depth += 1;
                    max = max.max(depth);
                    at
                }
                ']' | '}' => {
                    depth = depth.saturating_sub(1);
                    at
                }
                _ => at,
            },
        };
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
    fn nesting_is_counted_through_comments_and_strings() {
        let cases: &[(&str, usize)] = &[
            ("1", 0),
            ("[]", 1),
            (r#"{"a": [{}]}"#, 3),
            (r#"["[[[", '{{', "\"[", '\'{']"#, 1),
            // A quote in a comment opens no string: the brackets after it count.
            ("[ // don't\n [[1]] ]", 3),
            ("[ /* \" */ [[1]] ]", 3),
            ("{a: /* ' */ {b: {c: 1}}}", 3),
            // Brackets in comments count for nothing.
            ("[ // [[[[\n 1]", 1),
            ("[ /* {{{{ */ 1]", 1),
            ("/* [ */ [1] // ]", 1),
            // A comment ends at its line (any JSON5 line terminator) or at `*/`.
            ("[ // x\r[1]]", 2),
            ("[ // x\u{2028}[1]]", 2),
            ("[ /* x * / */ [1]]", 2),
            ("[ /*/ [ */ 1]", 1),
            // A slash in a string opens no comment.
            (r#"["//", ["/*"]]"#, 2),
        ];
        for (text, want) in cases {
            assert_eq!(nesting_depth(text), *want, "{text}");
        }
    }

    /// The review's case: a comment holding a quote hid the brackets after it
    /// from the count, and JSON5 then recursed far past the limit.
    #[test]
    fn a_comment_cannot_hide_nesting() {
        for comment in ["// \"\n", "// '\n", "/* \" */", "/* ' */"] {
            let body = format!(
                "{{a: {comment} {}1{}}}",
                "[".repeat(200_000),
                "]".repeat(200_000)
            );
            let r = parse_on_a_small_stack(body);
            assert_eq!(r, Err("InvalidRequestContent"), "{comment}");
        }
        // At the limit: accepted; one more level: refused.
        let at = |d: usize| {
            format!(
                "// \"\n{{a: /* ' */ {}1{}}}",
                "[".repeat(d - 1),
                "]".repeat(d - 1)
            )
        };
        assert!(parse_lenient(at(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            parse_lenient(at(MAX_DEPTH + 1).as_bytes())
                .unwrap_err()
                .code,
            "InvalidRequestContent"
        );
    }

    /// JSON5 text for `v` with comments (holding quotes and brackets) between tokens.
    fn with_comments(v: &Value, comment: &str, out: &mut String) {
        out.push_str(comment);
        match v {
            Value::Array(a) => {
                out.push('[');
                for x in a {
                    with_comments(x, comment, out);
                    out.push(',');
                }
                out.push_str(comment);
                out.push(']');
            }
            Value::Object(o) => {
                out.push('{');
                for (k, x) in o {
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push_str(comment);
                    out.push(':');
                    with_comments(x, comment, out);
                    out.push(',');
                }
                out.push('}');
            }
            v => out.push_str(&v.to_string()),
        }
    }

    fn json_tree() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i32>().prop_map(Value::from),
            r#"[a-z"'\[\]{}/*]{0,6}"#.prop_map(Value::from),
        ];
        leaf.prop_recursive(12, 64, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z'\"/]{1,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// The count through comments is the depth JSON5 reads.
        #[test]
        fn nesting_depth_is_the_parsed_depth(
            v in json_tree(),
            comment in proptest::prop_oneof![
                proptest::strategy::Just(String::new()),
                r#"/\*[ "'\[\]{}/]{0,6}\*/"#,
                r#"//[ "'\[\]{}*/]{0,6}\n"#,
            ],
        ) {
            let mut text = String::new();
            with_comments(&v, &comment, &mut text);
            proptest::prop_assert_eq!(nesting_depth(&text), crate::store::depth(&v), "{}", text);
            proptest::prop_assert_eq!(parse_lenient(text.as_bytes()).ok(), Some(v));
        }

        /// Whatever is accepted is no deeper than the limit.
        #[test]
        fn accepted_bodies_are_within_the_limit(s in r#"[\[\]{}a:,1"'/*\n ]{0,400}"#) {
            if let Ok(v) = parse_lenient(s.as_bytes()) {
                proptest::prop_assert!(crate::store::depth(&v) <= MAX_DEPTH);
            }
        }
    }

    /// Parse where a stack overflow would show: on a thread with a small stack.
    fn parse_on_a_small_stack(body: String) -> Result<(), &'static str> {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                parse_lenient(body.as_bytes())
                    .map(|_| ())
                    .map_err(|e| e.code)
            })
            .unwrap()
            .join()
            .expect("no overflow")
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let body = format!("{}1{}", open.repeat(200_000), close.repeat(200_000));
            let r = parse_on_a_small_stack(body);
            assert_eq!(r, Err("InvalidRequestContent"));
        }
    }
}
