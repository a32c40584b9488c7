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

pub fn parse_lenient(body: &[u8]) -> Result<Value, ArmError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Object(Default::default()));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ArmError::invalid_request_content("The body is not valid UTF-8."))?;
    let text = text.trim_start_matches('\u{feff}');
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
}
