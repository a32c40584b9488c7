//! The Microsoft Graph calls az makes (v1.0): service principal lookups, the
//! `directoryObjects/getByIds` resolution behind `az role assignment create
//! --assignee`, and the application registrations behind `az ad sp
//! create-for-rbac` / `az ad app` / `az ad sp credential reset`: applications
//! (create, get, update, delete, `addPassword`, `removePassword`), service
//! principals for them (create, delete, their own passwords). Shapes are
//! azure-cli's recordings (`test_create_for_rbac_password.yaml`). Errors use
//! Graph's shape, a method a resource lacks included (405):
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
//! Any principal of the tenant may read and write (Graph's permissions,
//! `Application.ReadWrite.All` and the directory roles, are not modelled).
//!
//! Graph is reached at `graph.microsoft.com` (transparent mode) or at the
//! emulator's own host (explicit mode: the cloud metadata names it as
//! `microsoftGraphResourceId`, so az asks for tokens with that audience).

use super::directory::{Application, PasswordCredential, PrincipalKind, ServicePrincipal};
use super::token::{TokenError, v1_issuer, v2_issuer};
use crate::state::AppState;
use crate::web::BaseUrl;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;

const GRAPH_AUDIENCES: &[&str] = &[
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
];

#[derive(Debug)]
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

    fn unsupported_filter(raw: &str, entity: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported or invalid query filter clause specified for property '{raw}' of resource '{entity}'."
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

    /// A body that is not a JSON object.
    // TODO-fidelity: Graph's words for an unreadable payload are as clients
    // quote them; no recorded response was found (searched azure-cli's role
    // recordings).
    fn unreadable_payload() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }

    // TODO-fidelity: the directory's text for a property it does not know, as
    // clients quote it; not in azure-cli's recordings.
    fn undeclared_property(name: &str) -> Self {
        Self::request_bad(format!(
            "Property '{name}' does not exist as a declared property or extension property."
        ))
    }

    // TODO-fidelity: Graph names the OData type conversion that failed; no
    // recorded answer was found, so the property is named instead.
    fn invalid_value(name: &str) -> Self {
        Self::request_bad(format!(
            "Invalid value specified for property '{name}' of resource 'Application'."
        ))
    }

    // TODO-fidelity: Graph's text for a missing required property was not found.
    fn required_property(name: &str) -> Self {
        Self::request_bad(format!("Property '{name}' is required."))
    }

    // TODO-fidelity: Graph's text for an unknown keyId in removePassword was not found.
    fn no_such_credential(key_id: &str) -> Self {
        Self::request_bad(format!(
            "No password credential found with keyId '{key_id}'."
        ))
    }

    /// `POST /servicePrincipals` for an app id with no application object
    /// (Graph's words as quoted in msgraph-sdk-powershell#846; az retries on
    /// "does not reference").
    fn no_backing_application(app_id: &str) -> Self {
        Self::request_bad(format!(
            "The appId '{app_id}' of the service principal does not reference a valid application object."
        ))
    }

    // TODO-fidelity: Graph's status for a second principal of one application;
    // the code and words are as clients quote them, not from a recording.
    fn service_principal_exists(app_id: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            format!(
                "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
            ),
        )
    }

    // TODO-fidelity: Graph's answer to a password for a managed identity's
    // principal was not found; it is refused as a bad request.
    fn managed_identity_credentials() -> Self {
        Self::bad_request(
            "A managed identity's service principal has no client secrets: its tokens come from the identity endpoint.",
        )
    }

    // TODO-fidelity: Graph's answer to deleting a managed identity's principal
    // was not found; it is refused as a bad request.
    fn managed_identity_delete() -> Self {
        Self::bad_request(
            "A managed identity's service principal is deleted with its identity, not through Graph.",
        )
    }

    fn request_bad(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
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

impl From<crate::store::StoreError> for GraphError {
    fn from(e: crate::store::StoreError) -> Self {
        GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            e.to_string(),
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
        "keyCredentials": [],
        "passwordCredentials": state
            .directory
            .principal_passwords(&sp.object_id)
            .unwrap_or_default()
            .iter()
            .map(|p| password_json(p, false))
            .collect::<Vec<_>>(),
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

/// One clause of a `$filter`.
enum Clause {
    /// `field eq 'x'`
    Eq(String, String),
    /// `startswith(field,'x')`
    StartsWith(String, String),
    /// `collection/any(c:c eq 'x')`
    Any(String, String),
}

/// The `$filter`s az sends, over the JSON Graph returns: `appId eq 'x'`,
/// `displayName eq 'x'`, `id eq 'x'`, `startswith(displayName,'x')`,
/// `servicePrincipalNames/any(c:c eq 'x')`, `identifierUris/any(s:s eq 'x')`,
/// joined by `and`. String comparisons ignore case, as the directory's do.
pub struct Filter(Vec<Clause>);

const EQ_FIELDS: &[&str] = &[
    "appId",
    "displayName",
    "id",
    "servicePrincipalType",
    "signInAudience",
];
const ANY_FIELDS: &[&str] = &[
    "servicePrincipalNames",
    "identifierUris",
    "tags",
    "alternativeNames",
];

fn field(name: &str, allowed: &[&str]) -> Option<String> {
    allowed
        .iter()
        .find(|f| f.eq_ignore_ascii_case(name.trim()))
        .map(|f| f.to_string())
}

/// Split on ` and ` outside quoted literals.
fn split_and(raw: &str) -> Vec<&str> {
    let mut parts = vec![];
    let (mut quoted, mut start) = (false, 0);
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted
            && raw
                .get(i..i + 5)
                .is_some_and(|w| w.eq_ignore_ascii_case(" and "))
        {
            parts.push(&raw[start..i]);
            start = i + 5;
            i += 5;
            continue;
        }
        i += 1;
    }
    parts.push(&raw[start..]);
    parts
}

impl Filter {
    /// `entity` names the resource in Graph's error (`ServicePrincipal`, `Application`).
    pub fn parse(raw: &str, entity: &str) -> Result<Filter, GraphError> {
        let bad = || GraphError::unsupported_filter(raw.trim(), entity);
        let mut clauses = vec![];
        for part in split_and(raw) {
            let f = part.trim();
            let lower = f.to_ascii_lowercase();
            let clause = if lower.starts_with("startswith(") {
                let inner = f["startswith(".len()..].strip_suffix(')').ok_or_else(bad)?;
                let (name, lit) = inner.split_once(',').ok_or_else(bad)?;
                let name = field(name, &["displayName"]).ok_or_else(bad)?;
                Clause::StartsWith(name, unquote(lit).ok_or_else(bad)?)
            } else if let Some(at) = lower.find("/any(") {
                let name = field(&f[..at], ANY_FIELDS).ok_or_else(bad)?;
                let inner = f[at + "/any(".len()..].strip_suffix(')').ok_or_else(bad)?;
                let (var, cond) = inner.split_once(':').ok_or_else(bad)?;
                let (lhs, lit) = cond.split_once(" eq ").ok_or_else(bad)?;
                if lhs.trim() != var.trim() {
                    return Err(bad());
                }
                Clause::Any(name, unquote(lit).ok_or_else(bad)?)
            } else {
                let (name, lit) = f.split_once(" eq ").ok_or_else(bad)?;
                let name = field(name, EQ_FIELDS).ok_or_else(bad)?;
                Clause::Eq(name, unquote(lit).ok_or_else(bad)?)
            };
            clauses.push(clause);
        }
        Ok(Filter(clauses))
    }

    pub fn matches(&self, doc: &Value) -> bool {
        self.0.iter().all(|c| match c {
            Clause::Eq(f, want) => doc[f]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case(want)),
            Clause::StartsWith(f, want) => doc[f]
                .as_str()
                .is_some_and(|v| v.to_lowercase().starts_with(&want.to_lowercase())),
            Clause::Any(f, want) => doc[f].as_array().is_some_and(|a| {
                a.iter()
                    .any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(want)))
            }),
        })
    }
}

fn filter_of(q: &HashMap<String, String>, entity: &str) -> Result<Option<Filter>, GraphError> {
    q.get("$filter")
        .map(|f| Filter::parse(f, entity))
        .transpose()
}

fn principals(state: &AppState) -> Result<Vec<ServicePrincipal>, GraphError> {
    Ok(state.directory.all()?)
}

/// `GET /v1.0/servicePrincipals[?$filter=…]`
pub async fn list_service_principals(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    authenticate(&state, &headers, &base)?;
    let filter = filter_of(&q, "ServicePrincipal")?;
    let value = principals(&state)?
        .iter()
        .map(|sp| service_principal_json(&state, sp))
        .filter(|v| filter.as_ref().is_none_or(|f| f.matches(v)))
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

/// The application document Graph creates (azure-cli's recording
/// `test_create_for_rbac_password.yaml`, `POST /v1.0/applications` → 201).
fn application_defaults(state: &AppState, created: &str) -> Value {
    json!({
        "deletedDateTime": null,
        "applicationTemplateId": null,
        "disabledByMicrosoftStatus": null,
        "createdDateTime": created,
        "displayName": null,
        "description": null,
        "groupMembershipClaims": null,
        "identifierUris": [],
        "isDeviceOnlyAuthSupported": null,
        "isFallbackPublicClient": null,
        "notes": null,
        "publisherDomain": state.tenant.domain,
        "serviceManagementReference": null,
        "signInAudience": "AzureADandPersonalMicrosoftAccount",
        "tags": [],
        "tokenEncryptionKeyId": null,
        "samlMetadataUrl": null,
        "defaultRedirectUri": null,
        "certification": null,
        "optionalClaims": null,
        "servicePrincipalLockConfiguration": null,
        "requestSignatureVerification": null,
        "addIns": [],
        "api": {
            "acceptMappedClaims": null,
            "knownClientApplications": [],
            "requestedAccessTokenVersion": 2,
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": [],
        },
        "appRoles": [],
        "info": {
            "logoUrl": null,
            "marketingUrl": null,
            "privacyStatementUrl": null,
            "supportUrl": null,
            "termsOfServiceUrl": null,
        },
        "keyCredentials": [],
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [],
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
        "web": {
            "homePageUrl": null,
            "logoutUrl": null,
            "redirectUris": [],
            "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false},
            "redirectUriSettings": [],
        },
        "spa": {"redirectUris": []},
    })
}

/// Properties Graph computes: a create or update leaves them as they are.
const APP_READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "createdDateTime",
    "deletedDateTime",
    "publisherDomain",
    "passwordCredentials",
    "disabledByMicrosoftStatus",
    "certification",
    "verifiedPublisher",
    "applicationTemplateId",
    "@odata.type",
    "@odata.context",
];

/// Graph's seconds-precision UTC time (`2023-02-14T07:55:05Z`).
fn graph_time(t: time::OffsetDateTime) -> String {
    format!("{}Z", &crate::clock::arm_timestamp(t)[..19])
}

fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(GraphError::unreadable_payload()),
    }
}

/// The properties a request may set, and their JSON kinds: `s` nullable
/// string, `b` nullable bool, `a` array, `o` object, `n` nullable object.
const APP_WRITABLE: &[(&str, char)] = &[
    ("displayName", 's'),
    ("description", 's'),
    ("groupMembershipClaims", 's'),
    ("identifierUris", 'a'),
    ("isDeviceOnlyAuthSupported", 'b'),
    ("isFallbackPublicClient", 'b'),
    ("notes", 's'),
    ("serviceManagementReference", 's'),
    ("signInAudience", 's'),
    ("tags", 'a'),
    ("tokenEncryptionKeyId", 's'),
    ("samlMetadataUrl", 's'),
    ("defaultRedirectUri", 's'),
    ("optionalClaims", 'n'),
    ("servicePrincipalLockConfiguration", 'n'),
    ("requestSignatureVerification", 'n'),
    ("addIns", 'a'),
    ("api", 'o'),
    ("appRoles", 'a'),
    ("info", 'o'),
    ("keyCredentials", 'a'),
    ("parentalControlSettings", 'o'),
    ("publicClient", 'o'),
    ("requiredResourceAccess", 'a'),
    ("web", 'o'),
    ("spa", 'o'),
];

/// Merge a request's properties into an application document: writable
/// properties of the right JSON kind; read-only ones ignored.
fn merge_application(
    doc: &mut Value,
    body: &serde_json::Map<String, Value>,
) -> Result<(), GraphError> {
    for (k, v) in body {
        if APP_READ_ONLY.contains(&k.as_str()) {
            continue;
        }
        let Some((_, kind)) = APP_WRITABLE.iter().find(|(name, _)| name == k) else {
            return Err(GraphError::undeclared_property(k));
        };
        let ok = match kind {
            's' => v.is_string() || v.is_null(),
            'b' => v.is_boolean() || v.is_null(),
            'a' => v.is_array(),
            'o' => v.is_object(),
            _ => v.is_object() || v.is_null(),
        };
        // A name is never null.
        if !ok || (k == "displayName" && !v.is_string()) {
            return Err(GraphError::invalid_value(k));
        }
        match (&mut doc[k], v) {
            // Complex values merge (`web`, `api`…), as Graph's PATCH does.
            (Value::Object(old), Value::Object(new)) => {
                for (nk, nv) in new {
                    old.insert(nk.clone(), nv.clone());
                }
            }
            (slot, v) => *slot = v.clone(),
        }
    }
    Ok(())
}

fn password_json(p: &PasswordCredential, secret: bool) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": p.display_name,
        "endDateTime": p.end,
        "hint": p.hint,
        "keyId": p.key_id,
        "secretText": if secret { json!(p.secret) } else { Value::Null },
        "startDateTime": p.start,
    })
}

/// An application as Graph returns it.
fn application_json(app: &Application) -> Value {
    let mut v = json!({"id": app.object_id, "appId": app.app_id});
    if let (Value::Object(out), Value::Object(doc)) = (&mut v, &app.doc) {
        for (k, x) in doc {
            out.insert(k.clone(), x.clone());
        }
        out.insert(
            "passwordCredentials".into(),
            app.passwords
                .iter()
                .map(|p| password_json(p, false))
                .collect(),
        );
    }
    v
}

/// The application object Graph shows for a principal seeded without one
/// (the bootstrap principal, `POST /_emulator/principals`).
fn seeded_application_json(sp: &ServicePrincipal) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.application",
        // An application object has its own id; derive a stable one from the app id.
        "id": application_object_id(&sp.app_id),
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "signInAudience": "AzureADMyOrg",
        "passwordCredentials": [],
    })
}

fn entity(base: &BaseUrl, set: &str, mut v: Value) -> Value {
    v["@odata.context"] = json!(format!("{}/v1.0/$metadata#{set}/$entity", base.0));
    v
}

/// Run a directory write on the blocking pool, in one store transaction.
async fn write<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&AppState) -> Result<T, GraphError> + Send + 'static,
) -> Result<T, GraphError> {
    let state = state.clone();
    crate::web::blocking(move || state.store.transaction(|_| f(&state))).await
}

/// `GET /v1.0/applications[?$filter=…]`: the application objects (app
/// registrations, then those behind seeded principals), in creation order.
pub async fn list_applications(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    authenticate(&state, &headers, &base)?;
    let filter = filter_of(&q, "Application")?;
    let apps = state.directory.applications()?;
    let registered = |app_id: &str| apps.iter().any(|a| a.app_id.eq_ignore_ascii_case(app_id));
    let seeded: Vec<Value> = principals(&state)?
        .iter()
        .filter(|sp| sp.kind == PrincipalKind::Application && !registered(&sp.app_id))
        .map(seeded_application_json)
        .collect();
    let value = apps
        .iter()
        .map(application_json)
        .chain(seeded)
        .filter(|v| filter.as_ref().is_none_or(|f| f.matches(v)))
        .collect();
    Ok(Json(odata(&base, "applications", value)))
}

/// `POST /v1.0/applications` → 201 with the application; `displayName` is required.
pub async fn create_application(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    authenticate(&state, &headers, &base)?;
    let req = json_object(&body)?;
    if !req.get("displayName").is_some_and(Value::is_string) {
        return Err(GraphError::required_property("displayName"));
    }
    let created = graph_time(state.clock.now());
    let mut doc = application_defaults(&state, &created);
    merge_application(&mut doc, &req)?;
    let app = write(&state, move |state| {
        let app = Application {
            object_id: uuid::Uuid::new_v4().to_string(),
            app_id: uuid::Uuid::new_v4().to_string(),
            doc,
            passwords: vec![],
        };
        state.directory.put_application(&app)?;
        Ok(app)
    })
    .await?;
    let location = format!(
        "{}/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.Application",
        base.0, state.tenant.id, app.object_id
    );
    let mut r = (
        StatusCode::CREATED,
        Json(entity(&base, "applications", application_json(&app))),
    )
        .into_response();
    if let Ok(v) = location.parse() {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(r)
}

fn require_application(state: &AppState, id: &str) -> Result<Application, GraphError> {
    state
        .directory
        .application(id)?
        .ok_or_else(|| GraphError::not_found(id))
}

/// `GET /v1.0/applications/{id}` (the object id).
pub async fn get_application(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    authenticate(&state, &headers, &base)?;
    let app = require_application(&state, &id)?;
    Ok(Json(entity(&base, "applications", application_json(&app))))
}

/// `PATCH /v1.0/applications/{id}` → 204: the properties sent replace theirs.
pub async fn update_application(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, GraphError> {
    authenticate(&state, &headers, &base)?;
    let req = json_object(&body)?;
    write(&state, move |state| {
        let mut app = require_application(state, &id)?;
        merge_application(&mut app.doc, &req)?;
        state.directory.put_application(&app)?;
        // The principal shows the application's name.
        if let Some(name) = app.doc["displayName"].as_str()
            && let Some(mut sp) = state.directory.by_app_id(&state.tenant.id, &app.app_id)?
            && sp.display_name != name
        {
            sp.display_name = name.to_string();
            state.directory.put(&sp)?;
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1.0/applications/{id}` → 204; its service principal goes with it.
pub async fn delete_application(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    authenticate(&state, &headers, &base)?;
    write(&state, move |state| {
        let app = require_application(state, &id)?;
        state.directory.delete_application(&app.object_id)?;
        if let Some(sp) = state.directory.by_app_id(&state.tenant.id, &app.app_id)? {
            state.directory.delete(&sp.object_id)?;
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new client secret: 40 characters of Entra's alphabet, with its `8Q~` marker.
fn new_secret() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-";
    let mut rng = rand::thread_rng();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect()
    };
    format!("{}8Q~{}", pick(3), pick(34))
}

fn parse_time(field: &str, v: &Value) -> Result<Option<time::OffsetDateTime>, GraphError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => time::OffsetDateTime::parse(s, &Rfc3339)
            .map(Some)
            .map_err(|_| GraphError::invalid_value(field)),
        _ => Err(GraphError::invalid_value(field)),
    }
}

/// Whose client secrets a request changes: an application's, or a service
/// principal's own (`az ad sp credential reset`); either signs the principal in.
#[derive(Clone, Copy)]
enum Owner {
    Application,
    ServicePrincipal,
}

impl Owner {
    /// The collection a credential route is under.
    fn of(uri: &axum::http::Uri) -> Owner {
        if uri.path().starts_with("/v1.0/servicePrincipals/") {
            Owner::ServicePrincipal
        } else {
            Owner::Application
        }
    }

    fn passwords(self, state: &AppState, id: &str) -> Result<Vec<PasswordCredential>, GraphError> {
        match self {
            Owner::Application => Ok(require_application(state, id)?.passwords),
            Owner::ServicePrincipal => {
                let sp = state
                    .directory
                    .get(id)?
                    .ok_or_else(|| GraphError::not_found(id))?;
                if sp.kind == PrincipalKind::ManagedIdentity {
                    return Err(GraphError::managed_identity_credentials());
                }
                Ok(state.directory.principal_passwords(&sp.object_id)?)
            }
        }
    }

    fn save(
        self,
        state: &AppState,
        id: &str,
        passwords: Vec<PasswordCredential>,
    ) -> Result<(), GraphError> {
        match self {
            Owner::Application => {
                let mut app = require_application(state, id)?;
                app.passwords = passwords;
                state.directory.put_application(&app)?;
            }
            Owner::ServicePrincipal => state.directory.put_principal_passwords(id, &passwords)?,
        }
        Ok(())
    }
}

/// `POST /v1.0/{applications|servicePrincipals}/{id}/addPassword`
/// `{"passwordCredential":{displayName?, startDateTime?, endDateTime?}}` → 200
/// with the credential and its `secretText` (the only time Graph shows it).
/// A secret lives two years unless the request says otherwise.
pub async fn add_password(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, GraphError> {
    let owner = Owner::of(&uri);
    authenticate(&state, &headers, &base)?;
    // An empty body is an empty credential.
    let req = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        json_object(&body)?
    };
    let cred = match req.get("passwordCredential") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(GraphError::invalid_value("passwordCredential")),
    };
    let now = state.clock.now();
    let start = parse_time(
        "startDateTime",
        cred.get("startDateTime").unwrap_or(&Value::Null),
    )?
    .unwrap_or(now);
    let end = parse_time(
        "endDateTime",
        cred.get("endDateTime").unwrap_or(&Value::Null),
    )?
    .unwrap_or(start + time::Duration::days(365 * 2));
    if end <= start {
        return Err(GraphError::bad_request(
            "Credential end date must be later than the start date.",
        ));
    }
    let display_name = match cred.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(GraphError::invalid_value("displayName")),
    };
    let secret = new_secret();
    let p = PasswordCredential {
        key_id: uuid::Uuid::new_v4().to_string(),
        display_name,
        start: graph_time(start),
        end: graph_time(end),
        hint: secret.chars().take(3).collect(),
        secret,
    };
    let saved = p.clone();
    write(&state, move |state| {
        let mut passwords = owner.passwords(state, &id)?;
        passwords.push(saved);
        owner.save(state, &id, passwords)
    })
    .await?;
    let mut v = password_json(&p, true);
    v["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#microsoft.graph.passwordCredential",
        base.0
    ));
    Ok(Json(v))
}

/// `POST /v1.0/{applications|servicePrincipals}/{id}/removePassword` `{"keyId": "…"}` → 204.
pub async fn remove_password(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, GraphError> {
    let owner = Owner::of(&uri);
    authenticate(&state, &headers, &base)?;
    let req = json_object(&body)?;
    let key_id = req
        .get("keyId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| GraphError::required_property("keyId"))?;
    write(&state, move |state| {
        let mut passwords = owner.passwords(state, &id)?;
        let before = passwords.len();
        passwords.retain(|p| !p.key_id.eq_ignore_ascii_case(&key_id));
        if passwords.len() == before {
            return Err(GraphError::no_such_credential(&key_id));
        }
        owner.save(state, &id, passwords)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1.0/servicePrincipals` `{"appId": "…"}` → 201: the principal of a
/// registered application (it signs in with the application's secrets).
pub async fn create_service_principal(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    authenticate(&state, &headers, &base)?;
    let req = json_object(&body)?;
    let app_id = match req.get("appId") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => return Err(GraphError::required_property("appId")),
        Some(_) => return Err(GraphError::invalid_value("appId")),
    };
    let now = state.clock.now();
    let sp = write(&state, move |state| {
        let app = state
            .directory
            .application_by_app_id(&app_id)?
            .ok_or_else(|| GraphError::no_backing_application(&app_id))?;
        if state
            .directory
            .by_app_id(&state.tenant.id, &app.app_id)?
            .is_some()
        {
            return Err(GraphError::service_principal_exists(&app.app_id));
        }
        let sp = ServicePrincipal {
            object_id: uuid::Uuid::new_v4().to_string(),
            app_id: app.app_id.clone(),
            tenant_id: state.tenant.id.clone(),
            display_name: app.doc["displayName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            kind: PrincipalKind::Application,
            // Its credentials are the application's.
            secrets: vec![],
            mi_resource_id: None,
            created_ms: Some((now.unix_timestamp_nanos() / 1_000_000) as i64),
        };
        state.directory.put(&sp)?;
        Ok(sp)
    })
    .await?;
    let location = format!(
        "{}/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.ServicePrincipal",
        base.0, state.tenant.id, sp.object_id
    );
    let v = entity(
        &base,
        "servicePrincipals",
        service_principal_json(&state, &sp),
    );
    let mut r = (StatusCode::CREATED, Json(v)).into_response();
    if let Ok(v) = location.parse() {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(r)
}

/// `DELETE /v1.0/servicePrincipals/{id}` → 204. A managed identity's
/// principal goes only with its identity.
pub async fn delete_service_principal(
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    authenticate(&state, &headers, &base)?;
    write(&state, move |state| {
        let sp = state
            .directory
            .get(&id)?
            .ok_or_else(|| GraphError::not_found(&id))?;
        if sp.kind == PrincipalKind::ManagedIdentity {
            return Err(GraphError::managed_identity_delete());
        }
        state.directory.delete(&sp.object_id)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A method the Graph resource does not have: 405 in Graph's shape.
/// (microsoftgraph/microsoft-graph-docs#119 quotes Graph's answer.)
pub async fn method_not_allowed() -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_az_sends() {
        let app =
            json!({"appId": "A1", "displayName": "Emu Deployer", "identifierUris": ["api://x"]});
        let f = |s: &str| Filter::parse(s, "Application").map(|f| f.matches(&app));
        assert!(f("appId eq 'a1'").unwrap());
        assert!(f("startswith(displayName,'emu')").unwrap());
        assert!(f("identifierUris/any(s:s eq 'api://x')").unwrap());
        assert!(f("displayName eq 'Emu Deployer' and appId eq 'A1'").unwrap());
        assert!(!f("displayName eq 'Emu Deployer' and appId eq 'B2'").unwrap());
        // `and` inside a literal is part of it.
        assert!(!f("displayName eq 'this and that'").unwrap());
        assert!(!f("displayName eq 'it''s'").unwrap());
        for bad in [
            "junk",
            "appId eq x",
            "colour eq 'red'",
            "identifierUris/any(s:t eq 'x')",
        ] {
            let e = Filter::parse(bad, "Application").err().expect(bad);
            assert_eq!(e.code, "Request_UnsupportedQuery");
        }
    }

    #[test]
    fn secrets_look_like_entra_ones() {
        let s = new_secret();
        assert_eq!(s.len(), 40);
        assert_eq!(&s[3..6], "8Q~");
        assert_ne!(s, new_secret());
    }
}
