//! ACR's token service and the credential check every data-plane request goes through.
//!
//! | request | answer |
//! |---|---|
//! | `POST /oauth2/exchange` `grant_type=access_token&service&tenant&access_token` | `{"refresh_token"}` (3 h) |
//! | `POST /oauth2/token` `grant_type=refresh_token&service&scope…&refresh_token` | `{"access_token"}` |
//! | `POST /oauth2/token` `grant_type=password&username&password&scope…` | `{"access_token"}` |
//! | `GET /oauth2/token?service&scope…` + `Authorization: Basic` | `{"access_token"}` |
//!
//! Tokens are RS256 JWTs with ACR's claims (`iss: "Azure Container Registry"`,
//! `aud: <login server>`, `grant_type`, `tenant`, `permissions`, `roles`, and
//! for access tokens `access: [{type, name, actions}]`).

use super::{Caller, NULL_GUID, Scope, granted, principal_of, registry_name_of_host};
use crate::arm::auth::ARM_AUDIENCES;
use crate::entra::Principal;
use crate::entra::token::{v1_issuer, v2_issuer};
use crate::network::{Origin, Reach, registry_reachable};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

/// ACR tokens (refresh and access) from an Entra exchange live three hours.
pub const LIFETIME_SECS: i64 = 3 * 3600;
const ISSUER: &str = "Azure Container Registry";
const ACR_AUDIENCES: &[&str] = &[
    "https://containerregistry.azure.net",
    "https://containerregistry.azure.net/",
];
const AUTH_REQUIRED: &str =
    "authentication required, visit https://aka.ms/acr/authorization for more information.";

/// An OCI-shaped error: `{"errors":[{"code","message","detail"?}]}`.
pub fn oci_error(status: StatusCode, code: &str, message: &str, detail: Option<Value>) -> Response {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = detail {
        e["detail"] = d;
    }
    let mut r = (status, Json(json!({"errors": [e]}))).into_response();
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    r
}

/// The 401 every protected route answers without (sufficient) credentials.
pub fn challenge(host: &str, scope: Option<&Scope>, insufficient: bool) -> Response {
    let mut value = format!("Bearer realm=\"https://{host}/oauth2/token\",service=\"{host}\"");
    if let Some(s) = scope {
        value.push_str(&format!(",scope=\"{}\"", s.render()));
    }
    if insufficient {
        value.push_str(",error=\"insufficient_scope\"");
    }
    let detail = scope.filter(|s| s.kind == "repository").map(|s| {
        Value::Array(
            s.actions
                .iter()
                .map(|a| json!({"Type": s.kind, "Name": s.name, "Action": a}))
                .collect(),
        )
    });
    let message = if insufficient {
        AUTH_REQUIRED
    } else {
        "authentication required"
    };
    let mut r = oci_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message, detail);
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    r
}

pub fn denied(message: &str) -> Response {
    oci_error(StatusCode::FORBIDDEN, "DENIED", message, None)
}

fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The registry row for a request's host, after the network decision.
pub fn registry_for(
    state: &AppState,
    host: &str,
    peer: Option<std::net::SocketAddr>,
) -> Result<Value, Response> {
    let Some(name) = registry_name_of_host(host) else {
        return Err(oci_error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "registry not found",
            None,
        ));
    };
    let row = crate::providers::container_registry::registries::by_name(state, &name)
        .ok()
        .flatten()
        .ok_or_else(|| {
            oci_error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                &format!("registry '{name}' not found"),
                None,
            )
        })?;
    let ip = peer
        .map(|p| p.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    match registry_reachable(&row, &Origin::Public(ip)) {
        Reach::Allowed { .. } => Ok(row),
        Reach::Denied { message } => Err(denied(&message)),
    }
}

fn sign(state: &AppState, claims: &Value) -> String {
    let key = state.tokens.key();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap_or_default()
}

/// Verify an ACR token for `host` and `grant_type` (`refresh_token` or `access_token`).
pub fn verify(state: &AppState, token: &str, host: &str, grant_type: &str) -> Option<Value> {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Value>(token, &state.tokens.key().decoding, &v).ok()?;
    let c = data.claims;
    let now = state.clock.now().unix_timestamp();
    let ok = c["iss"] == ISSUER
        && c["aud"]
            .as_str()
            .is_some_and(|a| a.eq_ignore_ascii_case(host))
        && c["grant_type"] == grant_type
        && c["exp"].as_i64().is_some_and(|e| now <= e)
        && c["nbf"].as_i64().is_none_or(|n| n <= now + 300);
    ok.then_some(c)
}

fn base_claims(state: &AppState, host: &str, sub: &str, grant_type: &str) -> Value {
    let now = state.clock.now().unix_timestamp();
    json!({
        "jti": uuid::Uuid::new_v4().to_string(),
        "sub": sub,
        "nbf": now,
        "exp": now + LIFETIME_SECS,
        "iat": now,
        "iss": ISSUER,
        "aud": host,
        "version": "1.0",
        "grant_type": grant_type,
        "tenant": state.tenant.id,
        "permissions": {"actions": ["*"], "notActions": []},
        "roles": [],
    })
}

fn refresh_token_for(state: &AppState, host: &str, p: &Principal) -> String {
    let mut c = base_claims(state, host, &p.object_id, "refresh_token");
    c["appid"] = json!(p.app_id);
    c["mi"] = json!(p.kind == crate::entra::PrincipalKind::ManagedIdentity);
    sign(state, &c)
}

fn access_token_for(state: &AppState, host: &str, sub: &str, access: Vec<Value>) -> String {
    let mut c = base_claims(state, host, sub, "access_token");
    c["access"] = Value::Array(access);
    sign(state, &c)
}

fn form(body: &[u8], query: Option<&str>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if let Some(q) = query {
        v.extend(serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default());
    }
    v
}

fn get<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
    f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn unauthorized(message: &str) -> Response {
    oci_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message, None)
}

/// `POST /oauth2/exchange`
pub async fn exchange(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Extension(transport): axum::extract::Extension<crate::web::Transport>,
    body: axum::body::Bytes,
) -> Response {
    let host = host_of(&headers);
    let registry = match registry_for(&state, &host, Some(transport.peer)) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let f = form(&body, None);
    if get(&f, "grant_type") != Some("access_token") {
        return oci_error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            "grant_type must be access_token",
            None,
        );
    }
    if get(&f, "service").is_some_and(|s| !s.eq_ignore_ascii_case(&host)) {
        return unauthorized("the service does not match the registry login server");
    }
    let Some(aad) = get(&f, "access_token") else {
        return oci_error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            "access_token is required",
            None,
        );
    };
    let claims = match state.tokens.validate(aad, state.clock.now()) {
        Ok(c) => c,
        Err(e) => return unauthorized(&format!("the access token is invalid: {e}")),
    };
    let issuer_ok = claims.tid.eq_ignore_ascii_case(&state.tenant.id)
        && (claims.iss == v1_issuer(&claims.tid) || claims.iss == v2_issuer(&claims.tid));
    if !issuer_ok || get(&f, "tenant").is_some_and(|t| !t.eq_ignore_ascii_case(&state.tenant.id)) {
        return unauthorized("the access token is from the wrong tenant");
    }
    let arm_ok = registry["properties"]["policies"]["azureADAuthenticationAsArmPolicy"]["status"]
        != "disabled";
    let audience_ok = ACR_AUDIENCES.contains(&claims.aud.as_str())
        || (arm_ok && ARM_AUDIENCES.contains(&claims.aud.as_str()));
    if !audience_ok {
        return unauthorized(&format!(
            "the access token audience '{}' is not accepted by this registry",
            claims.aud
        ));
    }
    let p = Principal::from_claims(&claims);
    Json(json!({"refresh_token": refresh_token_for(&state, &host, &p)})).into_response()
}

/// Credentials on a request: `Authorization: Basic` (admin user, or the null GUID with an
/// ACR refresh token) or a form's username/password.
fn caller_from_basic(
    state: &AppState,
    registry: &Value,
    host: &str,
    user: &str,
    pass: &str,
) -> Option<Caller> {
    if user == NULL_GUID {
        let c = verify(state, pass, host, "refresh_token")?;
        return principal_of(&c).map(Caller::Principal);
    }
    if let Ok(Some((name, passwords))) =
        crate::providers::container_registry::registries::admin_passwords(state, registry)
        && user.eq_ignore_ascii_case(&name)
        && passwords.iter().any(|p| p == pass)
    {
        return Some(Caller::Admin);
    }
    crate::providers::container_registry::scope_maps::token_grants(state, registry, user, pass)
        .map(Caller::Token)
}

/// The caller a username/password pair logs in as (admin user, repository token, or null GUID + refresh token).
pub fn caller_for_password(
    state: &AppState,
    registry: &Value,
    host: &str,
    user: &str,
    pass: &str,
) -> Option<Caller> {
    caller_from_basic(state, registry, host, user, pass)
}

pub fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, t) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| t.trim().to_string())
}

/// `GET|POST /oauth2/token`
pub async fn token(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    axum::extract::Extension(transport): axum::extract::Extension<crate::web::Transport>,
    body: axum::body::Bytes,
) -> Response {
    let host = host_of(&headers);
    let registry = match registry_for(&state, &host, Some(transport.peer)) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let f = form(
        if method == Method::POST { &body } else { &[] },
        uri.query(),
    );
    let caller = match (get(&f, "grant_type"), basic(&headers)) {
        (Some("refresh_token"), _) => {
            let Some(c) =
                get(&f, "refresh_token").and_then(|t| verify(&state, t, &host, "refresh_token"))
            else {
                return unauthorized(AUTH_REQUIRED);
            };
            match principal_of(&c) {
                Some(p) => Caller::Principal(p),
                None => return unauthorized(AUTH_REQUIRED),
            }
        }
        (Some("password"), _) => match (get(&f, "username"), get(&f, "password")) {
            (Some(u), Some(p)) => match caller_from_basic(&state, &registry, &host, u, p) {
                Some(c) => c,
                None => return unauthorized(AUTH_REQUIRED),
            },
            _ => return unauthorized(AUTH_REQUIRED),
        },
        (None, Some((u, p))) => match caller_from_basic(&state, &registry, &host, &u, &p) {
            Some(c) => c,
            None => return unauthorized(AUTH_REQUIRED),
        },
        (None, None) => Caller::Anonymous,
        (Some(other), _) => {
            return oci_error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                &format!("grant_type '{other}' is not supported"),
                None,
            );
        }
    };
    if matches!(caller, Caller::Anonymous) && registry["properties"]["anonymousPullEnabled"] != true
    {
        return unauthorized(AUTH_REQUIRED);
    }
    let access: Vec<Value> = f
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' '))
        .filter_map(Scope::parse)
        .map(|s| {
            let actions = granted(&state, &registry, &caller, &s);
            json!({"type": s.kind, "name": s.name, "actions": actions})
        })
        .collect();
    let sub = match &caller {
        Caller::Admin => registry["name"].as_str().unwrap_or_default().to_string(),
        Caller::Principal(p) => p.object_id.clone(),
        Caller::Token(_) => basic(&headers)
            .map(|(u, _)| u)
            .or_else(|| get(&f, "username").map(str::to_string))
            .unwrap_or_default(),
        Caller::Anonymous => String::new(),
    };
    Json(json!({"access_token": access_token_for(&state, &host, &sub, access)})).into_response()
}

/// What the data plane asks before serving: may this request do `actions` on `repository`?
/// `repository: None` is `/v2/` (any valid credential) or the catalog (`catalog: true`).
pub fn check(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    repository: Option<&str>,
    actions: &[&str],
    catalog: bool,
) -> Result<(), Response> {
    let host = host_of(headers);
    let registry = registry_for(state, &host, peer)?;
    let scope = match (repository, catalog) {
        (Some(r), _) => Some(Scope {
            kind: "repository".into(),
            name: r.to_string(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }),
        (None, true) => Some(Scope {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }),
        (None, false) => None,
    };
    // Bearer: an ACR access token whose `access` claim covers the request.
    if let Some(t) = bearer(headers) {
        let Some(c) = verify(state, &t, &host, "access_token") else {
            return Err(challenge(&host, scope.as_ref(), false));
        };
        let Some(scope) = scope else { return Ok(()) };
        let covered = scope.actions.iter().all(|a| {
            c["access"].as_array().into_iter().flatten().any(|e| {
                e["type"] == scope.kind.as_str()
                    && e["name"].as_str().is_some_and(|n| n == scope.name)
                    && e["actions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|x| x == a || x == "*")
            })
        });
        return if covered {
            Ok(())
        } else {
            Err(challenge(&host, Some(&scope), true))
        };
    }
    // Basic: admin user or the null-GUID user with a refresh token, checked directly.
    let caller = match basic(headers) {
        Some((u, p)) => match caller_from_basic(state, &registry, &host, &u, &p) {
            Some(c) => c,
            None => return Err(unauthorized(AUTH_REQUIRED)),
        },
        None => Caller::Anonymous,
    };
    let Some(scope) = scope else {
        return match caller {
            Caller::Anonymous => Err(challenge(&host, None, false)),
            _ => Ok(()),
        };
    };
    let got = granted(state, &registry, &caller, &scope);
    let all = scope
        .actions
        .iter()
        .all(|a| got.contains(a) || got.iter().any(|g| g == "*"));
    if all {
        Ok(())
    } else {
        Err(challenge(
            &host,
            Some(&scope),
            !matches!(caller, Caller::Anonymous),
        ))
    }
}
