//! Fault injection: rules, set through the control API, that answer matching
//! requests with a chosen failure before they reach their plane — a registry
//! throttling (`429 TOOMANYREQUESTS` with `Retry-After`), a token endpoint
//! down (`503`), ARM refusing — for the first N matches or until removed.
//!
//! `POST /_emulator/faults` `{host?, method?, path?, principal?, status?, delayMs?, body?, headers?, times?}`
//! → 201 `{id, …}`; `GET /_emulator/faults` lists them with their `hits`;
//! `DELETE /_emulator/faults[/{id}]` removes them (`azemu faults add|list|clear`
//! does the same from a shell). `host` matches the request's host name exactly
//! or as a suffix (`.azurecr.io`), `path` as a prefix, `principal` the object
//! id a bearer token names (`oid`, or `sub` of an ACR token); `times` (default
//! unlimited) counts down with each match served. `delayMs` holds the answer
//! back that long (a slow or hanging plane; alone, the request then goes on to
//! its plane as usual); `status` answers in its place. Without `body`, the
//! failure is worded in the plane's own error shape. The control API itself is
//! never faulted.
//!
//! For tests only, `"panic": true` makes the matched request's handling panic
//! (proving that a panic is answered with a 500 in the plane's shape, logged,
//! and the connection and process live on: [`crate::server::recover`]). Such
//! rules are refused unless the emulator was started with the hidden flag
//! `--enable-test-panics` (`AZEMU_ENABLE_TEST_PANICS`); never use it otherwise.
//!
//! For tests only, `"crash": "<point>"` stops the process dead
//! (`std::process::abort`: no destructor, no flush, no commit; what `kill -9`
//! does) when the code reaches that named point, whatever the request: proof
//! that a write cut off halfway leaves all of it or none after a restart. The
//! points are [`CRASH_POINTS`]. Such rules are refused unless the emulator was
//! started with the hidden flag `--enable-test-crashes`
//! (`AZEMU_ENABLE_TEST_CRASHES`); never use it otherwise.

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
    /// The object id the request's bearer token names.
    #[serde(default)]
    pub principal: Option<String>,
    /// Answer with this status instead of the plane (none: only delay).
    #[serde(default)]
    pub status: Option<u16>,
    /// Hold the request (and its answer) back this long.
    #[serde(default, rename = "delayMs")]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
    /// Failures left to serve; `None`: every match.
    #[serde(default)]
    pub times: Option<u64>,
    #[serde(default)]
    pub hits: u64,
    /// Tests only: panic while handling the matched request (proves that a
    /// panic becomes a 500 in the plane's shape and the connection lives on).
    /// Refused unless the emulator runs with `--enable-test-panics`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub panic: bool,
    /// Tests only: stop the process dead when the code reaches this point
    /// (one of [`CRASH_POINTS`]); it matches no request itself.
    /// Refused unless the emulator runs with `--enable-test-crashes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<String>,
}

/// Where a `crash` rule can stop the process: named points inside multi-row writes.
pub const CRASH_POINTS: &[&str] = &[
    // A system-assigned identity's principal is written; the resource row is not yet.
    "identity.principal-written",
];

/// The rules of one emulator (configuration of the run, not part of the world's state).
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<Vec<Rule>>>);

impl Faults {
    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What to do to this request, if a rule matches (counting it).
    pub fn intercept(
        &self,
        host: &str,
        method: &str,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Option<Injected> {
        if path.starts_with("/_emulator") {
            return None;
        }
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let mut rules = self.rules();
        if rules.is_empty() {
            return None;
        }
        let principal = bearer_principal(headers);
        let rule = rules.iter_mut().find(|r| {
            r.times != Some(0)
                && r.crash.is_none()
                && r.host.as_deref().is_none_or(|h| {
                    let h = h.to_ascii_lowercase();
                    host == h || (h.starts_with('.') && host.ends_with(&h))
                })
                && r.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && r.path.as_deref().is_none_or(|p| path.starts_with(p))
                && r.principal.as_deref().is_none_or(|p| {
                    principal
                        .as_deref()
                        .is_some_and(|q| q.eq_ignore_ascii_case(p))
                })
        })?;
        rule.hits += 1;
        if let Some(t) = rule.times.as_mut() {
            *t -= 1;
        }
        Some(Injected {
            delay: rule.delay_ms.map(std::time::Duration::from_millis),
            response: rule.status.map(|st| render(rule, st, &host)),
            panic: rule
                .panic
                .then(|| format!("injected test panic (fault rule {})", rule.id)),
        })
    }

    /// Tests only: stop the process dead, as `kill -9` would, if a `crash`
    /// rule names `point` (see [`CRASH_POINTS`]).
    pub fn crash_point(&self, point: &str) {
        let mut rules = self.rules();
        if let Some(rule) = rules
            .iter_mut()
            .find(|r| r.times != Some(0) && r.crash.as_deref() == Some(point))
        {
            eprintln!(
                "azemu: injected test crash at {point} (fault rule {})",
                rule.id
            );
            std::process::abort();
        }
    }
}

/// What a matching rule does to a request.
pub struct Injected {
    /// Wait this long first.
    pub delay: Option<std::time::Duration>,
    /// Answer this instead of the plane; `None`: go on to the plane.
    pub response: Option<Response>,
    /// Panic with this message while handling the request (tests only).
    pub panic: Option<String>,
}

/// The object id a bearer token names (`oid` of an Entra token, `sub` of an ACR
/// one), read without verifying: matching only, the plane still checks it.
fn bearer_principal(headers: &http::HeaderMap) -> Option<String> {
    use base64::Engine;
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["oid"]
        .as_str()
        .or_else(|| claims["sub"].as_str())
        .map(str::to_string)
}

fn render(rule: &Rule, status: u16, host: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
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
            413 | 431 => "UNSUPPORTED",
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
    if rule.status.is_some_and(|st| !(100..=599).contains(&st)) {
        return crate::arm::ArmError::invalid_request_content(
            "'status' must be an HTTP status code.",
        )
        .into_response();
    }
    if rule.panic && !s.config.enable_test_panics {
        return crate::arm::ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "'panic' rules are for tests: start the emulator with --enable-test-panics.",
        )
        .into_response();
    }
    if rule.panic && rule.status.is_some() {
        return crate::arm::ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "A 'panic' rule answers nothing itself: leave out 'status'.",
        )
        .into_response();
    }
    if let Some(point) = &rule.crash {
        if !s.config.enable_test_crashes {
            return crate::arm::ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "'crash' rules are for tests: start the emulator with --enable-test-crashes.",
            )
            .into_response();
        }
        if !CRASH_POINTS.contains(&point.as_str()) {
            return crate::arm::ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!(
                    "'{point}' is not a crash point. Crash points: {}.",
                    CRASH_POINTS.join(", ")
                ),
            )
            .into_response();
        }
        if rule.status.is_some() || rule.delay_ms.is_some() || rule.panic {
            return crate::arm::ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "A 'crash' rule answers nothing itself: leave out 'status', 'delayMs' and 'panic'.",
            )
            .into_response();
        }
    }
    if rule.status.is_none() && rule.delay_ms.is_none() && !rule.panic && rule.crash.is_none() {
        return crate::arm::ArmError::invalid_request_content(
            "A rule needs a 'status' to answer with, a 'delayMs' to wait, or both.",
        )
        .into_response();
    }
    if rule.delay_ms.is_some_and(|d| d > 3_600_000) {
        return crate::arm::ArmError::invalid_request_content(
            "'delayMs' must be at most an hour (3600000).",
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
        let none = http::HeaderMap::new();
        let f = Faults::default();
        f.rules().push(Rule {
            id: "a".into(),
            host: Some(".azurecr.io".into()),
            method: Some("GET".into()),
            path: Some("/v2/".into()),
            principal: None,
            status: Some(429),
            delay_ms: None,
            body: None,
            headers: [("Retry-After".to_string(), json!("1"))]
                .into_iter()
                .collect(),
            times: Some(1),
            hits: 0,
            panic: false,
            crash: None,
        });
        assert!(
            f.intercept("myreg.azurecr.io", "POST", "/v2/x", &none)
                .is_none(),
            "method"
        );
        assert!(
            f.intercept("management.azure.com", "GET", "/v2/x", &none)
                .is_none(),
            "host"
        );
        assert!(
            f.intercept("myreg.azurecr.io:443", "GET", "/_emulator/health", &none)
                .is_none(),
            "control API"
        );
        let r = f
            .intercept("myreg.azurecr.io:443", "GET", "/v2/x/manifests/v1", &none)
            .and_then(|i| i.response)
            .unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(
            f.intercept("myreg.azurecr.io", "GET", "/v2/", &none)
                .is_none(),
            "served once"
        );
        assert_eq!(f.rules()[0].hits, 1);
        // By principal: the bearer token's oid (read, not verified).
        f.rules().push(Rule {
            id: "b".into(),
            host: None,
            method: None,
            path: None,
            principal: Some("5C1E0000-0000-4000-8000-000000000009".into()),
            status: Some(503),
            body: None,
            headers: Default::default(),
            delay_ms: Some(5),
            times: None,
            hits: 0,
            panic: false,
            crash: None,
        });
        let token = |oid: &str| {
            use base64::Engine;
            let b = |v: serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            let mut h = http::HeaderMap::new();
            h.insert(
                http::header::AUTHORIZATION,
                format!(
                    "Bearer {}.{}.sig",
                    b(json!({"alg": "RS256"})),
                    b(json!({"oid": oid}))
                )
                .parse()
                .unwrap(),
            );
            h
        };
        assert!(
            f.intercept(
                "management.azure.com",
                "GET",
                "/subscriptions",
                &token("someone-else")
            )
            .is_none()
        );
        let i = f
            .intercept(
                "management.azure.com",
                "GET",
                "/subscriptions",
                &token("5c1e0000-0000-4000-8000-000000000009"),
            )
            .unwrap();
        assert_eq!(i.delay, Some(std::time::Duration::from_millis(5)));
        assert_eq!(i.response.unwrap().status(), 503);
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
