//! Fault injection: rules, set through the control API, that answer matching
//! requests with a chosen failure before they reach their plane — a registry
//! throttling (`429 TOOMANYREQUESTS` with `Retry-After`), a token endpoint
//! down (`503`), ARM refusing — for the first N matches or until removed.
//!
//! `POST /_emulator/faults` `{host?, method?, path?, status, body?, headers?, times?}`
//! → 201 `{id, …}`; `GET /_emulator/faults` lists them with their `hits`;
//! `DELETE /_emulator/faults[/{id}]` removes them. `host` matches the
//! request's host name exactly or as a suffix (`.azurecr.io`), `path` as a
//! prefix; `times` (default unlimited) counts down with each failure served.
//! Without `body`, the failure is worded in the plane's own error shape. The
//! control API itself is never faulted.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
    /// Failures left to serve; `None`: every match.
    #[serde(default)]
    pub times: Option<u64>,
    #[serde(default)]
    pub hits: u64,
}

/// The rules of one emulator (configuration of the run, not part of the world's state).
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<Vec<Rule>>>);

impl Faults {
    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The failure to serve for this request, if a rule matches (counting it).
    pub fn intercept(&self, host: &str, method: &str, path: &str) -> Option<Response> {
        if path.starts_with("/_emulator") {
            return None;
        }
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let mut rules = self.rules();
        let rule = rules.iter_mut().find(|r| {
            r.times != Some(0)
                && r.host.as_deref().is_none_or(|h| {
                    let h = h.to_ascii_lowercase();
                    host == h || (h.starts_with('.') && host.ends_with(&h))
                })
                && r.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && r.path.as_deref().is_none_or(|p| path.starts_with(p))
        })?;
        rule.hits += 1;
        if let Some(t) = rule.times.as_mut() {
            *t -= 1;
        }
        Some(render(rule, &host))
    }
}

fn render(rule: &Rule, host: &str) -> Response {
    let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = rule
        .body
        .clone()
        .unwrap_or_else(|| default_body(status, host));
    let mut resp = match &body {
        Value::String(s) => (status, s.clone()).into_response(),
        other => (status, Json(other.clone())).into_response(),
    };
    for (k, v) in &rule.headers {
        let value = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::from_str(&value),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// The failure in the plane's own shape: OCI for registries, OAuth for login, ARM otherwise.
fn default_body(status: StatusCode, host: &str) -> Value {
    let reason = status.canonical_reason().unwrap_or("Injected fault");
    if host.ends_with(".azurecr.io") || crate::public_registry::registry_of_host(host).is_some() {
        let code = match status.as_u16() {
            429 => "TOOMANYREQUESTS",
            401 => "UNAUTHORIZED",
            403 => "DENIED",
            404 => "NAME_UNKNOWN",
            _ => "UNAVAILABLE",
        };
        return json!({"errors": [{"code": code, "message": reason.to_ascii_lowercase(), "detail": "injected by azemu"}]});
    }
    if host.starts_with("login.") || host == "sts.windows.net" {
        return json!({"error": "temporarily_unavailable", "error_description": format!("{reason} (injected by azemu)")});
    }
    let code = match status.as_u16() {
        429 => "TooManyRequests".to_string(),
        _ => reason.split_whitespace().collect::<String>(),
    };
    json!({"error": {"code": code, "message": format!("{reason} (injected by azemu).")}})
}

// ---- control API --------------------------------------------------------------

pub async fn create(State(s): State<crate::AppState>, body: axum::body::Bytes) -> Response {
    let mut rule: Rule = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return crate::arm::ArmError::invalid_request_content(&e.to_string()).into_response();
        }
    };
    if !(100..=599).contains(&rule.status) {
        return crate::arm::ArmError::invalid_request_content(
            "'status' must be an HTTP status code.",
        )
        .into_response();
    }
    rule.id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    rule.hits = 0;
    s.faults.rules().push(rule.clone());
    (StatusCode::CREATED, Json(rule)).into_response()
}

pub async fn list(State(s): State<crate::AppState>) -> Response {
    Json(json!({"value": *s.faults.rules()})).into_response()
}

pub async fn clear(State(s): State<crate::AppState>) -> Response {
    s.faults.rules().clear();
    StatusCode::NO_CONTENT.into_response()
}

pub async fn remove(State(s): State<crate::AppState>, Path(id): Path<String>) -> Response {
    let mut rules = s.faults.rules();
    let before = rules.len();
    rules.retain(|r| r.id != id);
    if rules.len() == before {
        StatusCode::NOT_FOUND.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_count_down_and_speak_the_plane() {
        let f = Faults::default();
        f.rules().push(Rule {
            id: "a".into(),
            host: Some(".azurecr.io".into()),
            method: Some("GET".into()),
            path: Some("/v2/".into()),
            status: 429,
            body: None,
            headers: [("Retry-After".to_string(), json!("1"))]
                .into_iter()
                .collect(),
            times: Some(1),
            hits: 0,
        });
        assert!(
            f.intercept("myreg.azurecr.io", "POST", "/v2/x").is_none(),
            "method"
        );
        assert!(
            f.intercept("management.azure.com", "GET", "/v2/x")
                .is_none(),
            "host"
        );
        assert!(
            f.intercept("myreg.azurecr.io:443", "GET", "/_emulator/health")
                .is_none(),
            "control API"
        );
        let r = f
            .intercept("myreg.azurecr.io:443", "GET", "/v2/x/manifests/v1")
            .unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(
            f.intercept("myreg.azurecr.io", "GET", "/v2/").is_none(),
            "served once"
        );
        assert_eq!(f.rules()[0].hits, 1);
        assert_eq!(
            default_body(StatusCode::SERVICE_UNAVAILABLE, "login.microsoftonline.com")["error"],
            "temporarily_unavailable"
        );
        assert_eq!(
            default_body(StatusCode::TOO_MANY_REQUESTS, "management.azure.com")["error"]["code"],
            "TooManyRequests"
        );
    }
}
