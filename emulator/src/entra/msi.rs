//! Managed-identity token endpoints, in the shapes the clients probe for
//! (../shared/notes/real-clients.md §5):
//!
//! | style | request |
//! |---|---|
//! | IMDS (`AZURE_POD_IDENTITY_AUTHORITY_HOST`, or the VM address) | `GET {base}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…[&client_id=…]`, `Metadata: true` |
//! | App Service (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) | `GET {endpoint}?api-version=2019-08-01&resource=…[&client_id=…]`, `X-IDENTITY-HEADER` |
//! | Cloud Shell (`MSI_ENDPOINT`) | `POST {endpoint}` form `resource=…`, `Metadata: true` |
//! | `MSI_ENDPOINT` + `MSI_SECRET` | `GET {endpoint}?api-version=2017-09-01&resource=…`, `secret` |
//!
//! Two places serve them: the emulator root (`/metadata/identity/oauth2/token`,
//! `/_emulator/identity/token`), which can hand out a token for any managed
//! identity in the directory; and a per-resource endpoint,
//! `/_emulator/identity/{resource}/…` (`{resource}` = base64url of a resource
//! id), which knows only the identities attached to that resource — what code
//! "running inside" an emulated container group gets as its `IDENTITY_ENDPOINT`.

use super::directory::{PrincipalKind, ServicePrincipal};
use crate::state::AppState;
use crate::store::tables;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The identity header value the per-resource endpoints expect (any non-empty value is accepted at the root).
pub const IDENTITY_HEADER: &str = "azemu-identity-header";

fn error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_request", "error_description": description})),
    )
        .into_response()
}

/// `IDENTITY_ENDPOINT` for code running inside `resource_id`.
pub fn identity_endpoint(base: &str, resource_id: &str) -> String {
    format!(
        "{base}/_emulator/identity/{}/token",
        URL_SAFE_NO_PAD.encode(resource_id.as_bytes())
    )
}

fn decode_resource(enc: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(enc).ok()?).ok()
}

/// The managed identities a resource can use: its system-assigned principal
/// and the user-assigned identities in its `identity` block.
fn attached(state: &AppState, resource_id: &str) -> Vec<ServicePrincipal> {
    let all = state.directory.all().unwrap_or_default();
    let mut out: Vec<ServicePrincipal> = all
        .iter()
        .filter(|sp| sp.kind == PrincipalKind::ManagedIdentity)
        .filter(|sp| {
            sp.mi_resource_id
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(resource_id))
        })
        .cloned()
        .collect();
    let key = resource_id.to_ascii_lowercase();
    if let Ok(Some(row)) = state.store.get(tables::RESOURCES, &key)
        && let Some(uais) = row["identity"]["userAssignedIdentities"].as_object()
    {
        for uai in uais.keys() {
            if let Some(sp) = all.iter().find(|sp| {
                sp.mi_resource_id
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(uai))
            }) {
                out.push(sp.clone());
            }
        }
    }
    out
}

fn all_identities(state: &AppState) -> Vec<ServicePrincipal> {
    state
        .directory
        .all()
        .unwrap_or_default()
        .into_iter()
        .filter(|sp| sp.kind == PrincipalKind::ManagedIdentity)
        .collect()
}

fn param<'a>(q: &'a HashMap<String, String>, names: &[&str]) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map(|(_, v)| v.as_str())
}

/// Pick the identity the request names (client id, object id or resource id), or the only one;
/// the error is IMDS's `error_description`.
fn select(
    candidates: Vec<ServicePrincipal>,
    q: &HashMap<String, String>,
) -> Result<ServicePrincipal, &'static str> {
    let client = param(q, &["client_id", "clientid"]);
    let object = param(q, &["object_id", "principal_id", "objectid", "principalid"]);
    let res = param(
        q,
        &[
            "msi_res_id",
            "mi_res_id",
            "msi_resource_id",
            "mi_resource_id",
        ],
    );
    let chosen: Vec<ServicePrincipal> = candidates
        .into_iter()
        .filter(|sp| client.is_none_or(|c| sp.app_id.eq_ignore_ascii_case(c)))
        .filter(|sp| object.is_none_or(|o| sp.object_id.eq_ignore_ascii_case(o)))
        .filter(|sp| {
            res.is_none_or(|r| {
                sp.mi_resource_id
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(r))
            })
        })
        .collect();
    match chosen.len() {
        0 => Err("Identity not found"),
        1 => chosen.into_iter().next().ok_or("Identity not found"),
        _ => Err(
            "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
        ),
    }
}

fn issue(state: &AppState, sp: &ServicePrincipal, resource: &str) -> Response {
    let resource = resource.strip_suffix("/.default").unwrap_or(resource);
    let now = state.clock.now();
    let claims = state.tokens.claims_for(sp, resource, now);
    let token = state.tokens.sign(&claims);
    let expires_in = claims.exp - claims.iat;
    Json(json!({
        "access_token": token,
        "client_id": sp.app_id,
        "expires_in": expires_in.to_string(),
        "expires_on": claims.exp.to_string(),
        "ext_expires_in": expires_in.to_string(),
        "not_before": claims.nbf.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    }))
    .into_response()
}

/// Common path for every style: header check, `resource`, selection, token.
fn token(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    mut q: HashMap<String, String>,
    body: &[u8],
    candidates: Vec<ServicePrincipal>,
) -> Response {
    let has = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.is_empty())
    };
    let metadata = headers
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !(metadata || has("x-identity-header") || has("secret")) {
        return error("Required metadata header not specified");
    }
    if method == Method::POST
        && let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(body)
    {
        q.extend(form);
    }
    let Some(resource) = param(&q, &["resource"]).map(str::to_string) else {
        return error("Required query variable 'resource' is missing");
    };
    match select(candidates, &q) {
        Ok(sp) => issue(state, &sp, &resource),
        Err(description) => error(description),
    }
}

/// Root endpoints: any managed identity in the directory.
pub async fn root_token(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let all = all_identities(&state);
    token(&state, &method, &headers, q, &body, all)
}

/// Per-resource endpoints: only the identities attached to that resource.
pub async fn resource_token(
    State(state): State<AppState>,
    Path(enc): Path<String>,
    method: Method,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let Some(resource_id) = decode_resource(&enc) else {
        return error("Identity not found");
    };
    let ids = attached(&state, &resource_id);
    token(&state, &method, &headers, q, &body, ids)
}

/// Helper for tests and docs: `{"IDENTITY_ENDPOINT", "IDENTITY_HEADER"}` for a resource id.
pub fn endpoint_env(base: &str, resource_id: &str) -> Value {
    json!({"IDENTITY_ENDPOINT": identity_endpoint(base, resource_id), "IDENTITY_HEADER": IDENTITY_HEADER})
}
