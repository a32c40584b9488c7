//! What MSAL reads before it asks for a token: the OpenID configuration (v1 and
//! v2.0), the signing keys (JWKS) and instance discovery. Every URL in them is
//! built on the host the client asked for, so the same documents work at
//! `https://localhost:8443/{tenant}` and at `https://login.microsoftonline.com/{tenant}`.

use super::oauth::OAuthError;
use super::token::{v1_issuer, v2_issuer};
use crate::state::AppState;
use crate::web::BaseUrl;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

/// `Some(AADSTS90002 response)` when the emulator does not host `tenant`.
fn unknown_tenant(state: &AppState, tenant: &str) -> Option<Response> {
    (!state.tenant.answers_to(tenant)).then(|| {
        OAuthError::invalid_tenant(tenant)
            .at(state.clock.now())
            .into_response()
    })
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`
pub async fn openid_configuration_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    base: BaseUrl,
) -> Response {
    if let Some(r) = unknown_tenant(&state, &tenant) {
        return r;
    }
    let b = &base.0;
    let tid = &state.tenant.id;
    // Entra answers "common" with a {tenantid} placeholder issuer; a named tenant gets its GUID.
    let issuer_tenant = if is_multi_tenant_alias(&tenant) {
        "{tenantid}".to_string()
    } else {
        tid.clone()
    };
    Json(json!({
        "token_endpoint": format!("{b}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{b}/{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{b}/{issuer_tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{b}/oidc/userinfo"),
        "authorization_endpoint": format!("{b}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{b}/{tenant}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{b}/{tenant}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{b}/{tenant}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }))
    .into_response()
}

/// `GET /{tenant}/.well-known/openid-configuration` (v1 endpoints)
pub async fn openid_configuration_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    base: BaseUrl,
) -> Response {
    if let Some(r) = unknown_tenant(&state, &tenant) {
        return r;
    }
    let b = &base.0;
    let tid = &state.tenant.id;
    Json(json!({
        "token_endpoint": format!("{b}/{tenant}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{b}/{tenant}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": v1_issuer(tid),
        "authorization_endpoint": format!("{b}/{tenant}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{b}/{tenant}/oauth2/devicecode"),
        "end_session_endpoint": format!("{b}/{tenant}/oauth2/logout"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    }))
    .into_response()
}

/// `GET /{tenant}/discovery/v2.0/keys`, `/{tenant}/discovery/keys`
pub async fn keys(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    if let Some(r) = unknown_tenant(&state, &tenant) {
        return r;
    }
    Json(json!({"keys": [state.tokens.key().jwk(&v2_issuer(&state.tenant.id))]})).into_response()
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…` (MSAL instance discovery)
pub async fn instance_discovery(
    base: BaseUrl,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let host = base.host().to_string();
    let tenant = q
        .get("authorization_endpoint")
        .and_then(|e| e.split('/').nth(3).map(str::to_string))
        .unwrap_or_else(|| "common".into());
    let mut aliases = vec![host.clone()];
    for h in [
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
    ] {
        if h != host {
            aliases.push(h.to_string());
        }
    }
    Json(json!({
        "tenant_discovery_endpoint": format!("{}/{tenant}/v2.0/.well-known/openid-configuration", base.0),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": aliases}],
    }))
}

fn is_multi_tenant_alias(t: &str) -> bool {
    ["common", "organizations", "consumers"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(t))
}
