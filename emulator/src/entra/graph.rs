//! The Microsoft Graph calls az makes (v1.0): service principal lookups, the
//! `directoryObjects/getByIds` resolution behind `az role assignment create
//! --assignee`, and application lookups. Errors use Graph's shape:
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
//!
//! Graph is reached at `graph.microsoft.com` (transparent mode) or at the
//! emulator's own host (explicit mode: the cloud metadata names it as
//! `microsoftGraphResourceId`, so az asks for tokens with that audience).

use super::directory::{PrincipalKind, ServicePrincipal};
use super::token::{TokenError, v1_issuer, v2_issuer};
use crate::state::AppState;
use crate::web::BaseUrl;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

const GRAPH_AUDIENCES: &[&str] = &[
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
];

pub struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl GraphError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: message.into(),
        }
    }

    fn unauthenticated(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    fn unsupported_filter(raw: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported or invalid query filter clause specified for property '{raw}' of resource 'ServicePrincipal'."
            ),
        )
    }

    /// Graph failed itself (a bug, not the request).
    // TODO-fidelity: Graph's 500 wording; `generalException` is the code its
    // SDKs name for unclassified service errors.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "An internal server error occurred.",
        )
    }

    fn bad_request(message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    // TODO-fidelity: Graph's 413 code is taken from clients' mocks of it
    // (`RequestEntityTooLarge`); no recorded Graph response was found, nor a 431.
    pub fn request_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request body exceeds the maximum allowed size of {limit} bytes."),
        )
    }

    pub fn headers_too_large(bytes: usize, limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "RequestHeaderFieldsTooLarge",
            format!("The request headers ({bytes} bytes) exceed the limit of {limit} bytes."),
        )
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let id = uuid::Uuid::new_v4().to_string();
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "innerError": {"date": date, "request-id": id, "client-request-id": id},
        }});
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED
            && let Ok(v) = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"".parse()
        {
            r.headers_mut().insert("www-authenticate", v);
        }
        r
    }
}

/// A Graph bearer: our signature, unexpired, a Graph audience (or this host), our tenant.
fn authenticate(state: &AppState, headers: &HeaderMap, base: &BaseUrl) -> Result<(), GraphError> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| GraphError::unauthenticated("Access token is empty."))?;
    let claims = state
        .tokens
        .validate(token, state.clock.now())
        .map_err(|e| match e {
            TokenError::Expired { .. } => {
                GraphError::unauthenticated("Lifetime validation failed, the token is expired.")
            }
            TokenError::NotYetValid { .. } => GraphError::unauthenticated(
                "Lifetime validation failed, the token is not yet valid.",
            ),
            TokenError::Malformed | TokenError::BadSignature => {
                GraphError::unauthenticated("Access token validation failure. Invalid signature.")
            }
        })?;
    let own = [base.0.clone(), format!("{}/", base.0)];
    if !GRAPH_AUDIENCES.contains(&claims.aud.as_str()) && !own.contains(&claims.aud) {
        return Err(GraphError::unauthenticated(
            "Access token validation failure. Invalid audience.",
        ));
    }
    let ours = claims.tid.eq_ignore_ascii_case(&state.tenant.id)
        && (claims.iss == v1_issuer(&claims.tid) || claims.iss == v2_issuer(&claims.tid));
    if !ours {
        return Err(GraphError::unauthenticated(
            "Access token validation failure. Invalid issuer.",
        ));
    }
    Ok(())
}

/// A service principal as Graph returns it.
pub fn service_principal_json(state: &AppState, sp: &ServicePrincipal) -> Value {
    let (sp_type, names, alternative) = match sp.kind {
        PrincipalKind::Application => ("Application", json!([sp.app_id]), json!([])),
        PrincipalKind::ManagedIdentity => (
            "ManagedIdentity",
            json!([
                sp.app_id,
                format!("https://identity.azure.net/{}", sp.object_id)
            ]),
            json!([
                "isExplicit=True",
                sp.mi_resource_id.clone().unwrap_or_default()
            ]),
        ),
    };
    json!({
        "@odata.type": "#microsoft.graph.servicePrincipal",
        "id": sp.object_id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "accountEnabled": true,
        "appOwnerOrganizationId": state.tenant.id,
        "servicePrincipalType": sp_type,
        "servicePrincipalNames": names,
        "alternativeNames": alternative,
        "tags": [],
    })
}

fn odata(base: &BaseUrl, set: &str, value: Vec<Value>) -> Value {
    json!({"@odata.context": format!("{}/v1.0/$metadata#{set}", base.0), "value": value})
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    s.strip_prefix('\'')?
        .strip_suffix('\'')
        .map(|x| x.replace("''", "'"))
}

/// The filters az sends: `servicePrincipalNames/any(c:c eq 'x')`, `appId eq 'x'`,
/// `displayName eq 'x'`, `id eq 'x'`, `startswith(displayName,'x')`.
/// A compiled `$filter`.
type SpFilter = Box<dyn Fn(&ServicePrincipal) -> bool>;

fn sp_matches(filter: &str) -> Result<SpFilter, GraphError> {
    let f = filter.trim();
    let lower = f.to_ascii_lowercase();
    let bad = || GraphError::unsupported_filter(f);
    if let Some(rest) = lower.strip_prefix("serviceprincipalnames/any(") {
        let inner = &f[f.len() - rest.len()..];
        let inner = inner.strip_suffix(')').ok_or_else(bad)?;
        let (_, lit) = inner.split_once(" eq ").ok_or_else(bad)?;
        let want = unquote(lit).ok_or_else(bad)?;
        return Ok(Box::new(move |sp| {
            sp.app_id.eq_ignore_ascii_case(&want)
                || (sp.kind == PrincipalKind::ManagedIdentity
                    && format!("https://identity.azure.net/{}", sp.object_id)
                        .eq_ignore_ascii_case(&want))
        }));
    }
    if let Some(rest) = lower.strip_prefix("startswith(displayname,") {
        let lit = &f[f.len() - rest.len()..];
        let want = unquote(lit.strip_suffix(')').ok_or_else(bad)?)
            .ok_or_else(bad)?
            .to_ascii_lowercase();
        return Ok(Box::new(move |sp| {
            sp.display_name.to_ascii_lowercase().starts_with(&want)
        }));
    }
    let (field, lit) = f.split_once(" eq ").ok_or_else(bad)?;
    let want = unquote(lit).ok_or_else(bad)?;
    Ok(match field.trim().to_ascii_lowercase().as_str() {
        "appid" => Box::new(move |sp| sp.app_id.eq_ignore_ascii_case(&want)),
        "displayname" => Box::new(move |sp| sp.display_name == want),
        "id" => Box::new(move |sp| sp.object_id.eq_ignore_ascii_case(&want)),
        _ => return Err(bad()),
    })
}

fn principals(state: &AppState) -> Result<Vec<ServicePrincipal>, GraphError> {
    state.directory.all().map_err(|e| {
        GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            e.to_string(),
        )
    })
}

/// `GET /v1.0/servicePrincipals[?$filter=…]`
pub async fn list_service_principals(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    authenticate(&state, &headers, &base)?;
    let filter = q.get("$filter").map(|f| sp_matches(f)).transpose()?;
    let value = principals(&state)?
        .iter()
        .filter(|sp| filter.as_ref().is_none_or(|f| f(sp)))
        .map(|sp| service_principal_json(&state, sp))
        .collect();
    Ok(Json(odata(&base, "servicePrincipals", value)))
}

/// `GET /v1.0/servicePrincipals/{id}` (object id), or `(appId='…')`.
pub async fn get_service_principal(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    authenticate(&state, &headers, &base)?;
    let by_app = id
        .strip_prefix("(appId='")
        .and_then(|s| s.strip_suffix("')"));
    let found = principals(&state)?.into_iter().find(|sp| match by_app {
        Some(app) => sp.app_id.eq_ignore_ascii_case(app),
        None => sp.object_id.eq_ignore_ascii_case(&id),
    });
    let sp = found.ok_or_else(|| GraphError::not_found(&id))?;
    let mut v = service_principal_json(&state, &sp);
    v["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#servicePrincipals/$entity",
        base.0
    ));
    Ok(Json(v))
}

/// `POST /v1.0/directoryObjects/getByIds` `{"ids":[…],"types":[…]}`: the objects that exist, typed.
pub async fn get_by_ids(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, GraphError> {
    authenticate(&state, &headers, &base)?;
    let req: Value = serde_json::from_slice(&body)
        .map_err(|_| GraphError::bad_request("Invalid JSON in the request body."))?;
    let ids: Vec<String> = req["ids"]
        .as_array()
        .ok_or_else(|| GraphError::bad_request("The 'ids' property is required."))?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
        .collect();
    let types: Vec<String> = req["types"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    let wants_sp = types.is_empty()
        || types
            .iter()
            .any(|t| t == "serviceprincipal" || t == "directoryobject");
    let value = if wants_sp {
        principals(&state)?
            .iter()
            .filter(|sp| ids.contains(&sp.object_id.to_ascii_lowercase()))
            .map(|sp| service_principal_json(&state, sp))
            .collect()
    } else {
        vec![]
    };
    Ok(Json(odata(&base, "directoryObjects", value)))
}

/// `GET /v1.0/applications?$filter=appId eq '…'`: application objects behind
/// (non-managed) service principals.
pub async fn list_applications(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    authenticate(&state, &headers, &base)?;
    let filter = q.get("$filter").map(|f| sp_matches(f)).transpose()?;
    let value = principals(&state)?
        .iter()
        .filter(|sp| sp.kind == PrincipalKind::Application)
        .filter(|sp| filter.as_ref().is_none_or(|f| f(sp)))
        .map(|sp| {
            json!({
                "@odata.type": "#microsoft.graph.application",
                // An application object has its own id; derive a stable one from the app id.
                "id": application_object_id(&sp.app_id),
                "appId": sp.app_id,
                "displayName": sp.display_name,
                "signInAudience": "AzureADMyOrg",
                "passwordCredentials": [],
            })
        })
        .collect();
    Ok(Json(odata(&base, "applications", value)))
}

/// A stable application object id per app id (UUIDv5 in the URL namespace).
pub fn application_object_id(app_id: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("azemu:application:{app_id}").as_bytes(),
    )
    .to_string()
}

/// Anything else under `/v1.0/`.
pub async fn unsupported(uri: axum::http::Uri) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!(
            "Resource not found for the segment '{}'.",
            uri.path()
                .trim_start_matches("/v1.0/")
                .split('/')
                .next()
                .unwrap_or_default()
        ),
    )
}
