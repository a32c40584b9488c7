//! Optimistic concurrency: `If-Match` / `If-None-Match` against a resource's ETag.
//! ARM answers 412 `PreconditionFailed` when a precondition does not hold.

use super::error::ArmError;
use axum::http::HeaderMap;

/// `current` is the stored resource's etag (`Some("")` for a resource that exists
/// but carries none), or `None` when the resource does not exist.
pub fn check_preconditions(headers: &HeaderMap, current: Option<&str>) -> Result<(), ArmError> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(want) = get("if-match") {
        let ok = match current {
            None => false,
            Some(_) if want == "*" => true,
            Some(cur) => want.split(',').any(|w| unquote(w.trim()) == unquote(cur)),
        };
        if !ok {
            return Err(ArmError::precondition_failed(&match current {
                None => "The resource does not exist, but the request specified an If-Match precondition.".to_string(),
                Some(cur) => format!("The specified precondition 'If-Match = {want}' failed. The current ETag is '{cur}'."),
            }));
        }
    }
    if let Some(want) = get("if-none-match") {
        let clash = match current {
            None => false,
            Some(_) if want == "*" => true,
            Some(cur) => want.split(',').any(|w| unquote(w.trim()) == unquote(cur)),
        };
        if clash {
            return Err(ArmError::precondition_failed(&format!(
                "The specified precondition 'If-None-Match = {want}' failed. The resource already exists."
            )));
        }
    }
    Ok(())
}

fn unquote(s: &str) -> &str {
    s.trim_start_matches("W/").trim_matches('"')
}

/// A fresh opaque ETag, quoted as ARM sends them.
pub fn new_etag() -> String {
    format!("\"{}\"", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &'static str, v: &'static str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(k, v.parse().unwrap());
        m
    }

    #[test]
    fn preconditions() {
        assert!(check_preconditions(&HeaderMap::new(), None).is_ok());
        assert!(check_preconditions(&h("if-match", "*"), None).is_err());
        assert!(check_preconditions(&h("if-match", "*"), Some("\"a\"")).is_ok());
        assert!(check_preconditions(&h("if-match", "\"a\""), Some("\"a\"")).is_ok());
        assert!(check_preconditions(&h("if-match", "\"b\""), Some("\"a\"")).is_err());
        assert!(check_preconditions(&h("if-none-match", "*"), Some("")).is_err());
        assert!(check_preconditions(&h("if-none-match", "*"), None).is_ok());
        assert_eq!(
            check_preconditions(&h("if-match", "x"), None)
                .unwrap_err()
                .status,
            412
        );
    }
}
