//! List responses: `{"value":[…],"nextLink":…}`. `nextLink` is absent when the
//! list is done (never ""), and carries `$skipToken` otherwise.

use super::request::ArmRequest;
use serde_json::{Value, json};

/// ARM's usual page size when the client gives no `$top`.
pub const DEFAULT_PAGE: usize = 1000;

pub fn page(items: Vec<Value>, req: &ArmRequest) -> Value {
    let skip: usize = req
        .query("$skipToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let top: usize = req
        .query("$top")
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PAGE);
    let total = items.len();
    let value: Vec<Value> = items.into_iter().skip(skip).take(top).collect();
    let mut body = json!({ "value": value });
    if skip + top < total {
        let mut params: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skipToken"))
            .cloned()
            .collect();
        params.push(("$skipToken".into(), (skip + top).to_string()));
        let qs = serde_urlencoded::to_string(&params).unwrap_or_default();
        body["nextLink"] = json!(format!("{}{}?{}", req.base.0, req.path, qs));
    }
    body
}
