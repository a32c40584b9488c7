//! The token endpoints, `POST /{tenant}/oauth2/v2.0/token` (scope=) and
//! `POST /{tenant}/oauth2/token` (v1, resource=), and Entra's error shape:
//! `{error, error_description, error_codes, timestamp, trace_id, correlation_id, error_uri}`
//! with the real AADSTS codes.

use super::directory::ServicePrincipal;
use crate::state::AppState;
use crate::web::Who;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
    pub at: Option<OffsetDateTime>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, code: u32, description: String) -> Self {
        OAuthError {
            status,
            error,
            code,
            description,
            at: None,
        }
    }

    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    /// Discovery documents answer an unknown tenant with `invalid_tenant`.
    pub fn invalid_tenant(tenant: &str) -> Self {
        OAuthError {
            error: "invalid_tenant",
            ..Self::tenant_not_found(tenant)
        }
    }

    pub fn application_not_found(app_id: &str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{app_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    pub fn invalid_client_secret(app_id: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app_id}'."
            ),
        )
    }

    /// Every matching secret of the application has expired.
    // TODO-fidelity: AADSTS7000222's words as quoted in public issues (no
    // recorded token response was found).
    pub fn client_secret_expired(app_id: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{app_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
            ),
        )
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    pub fn missing_credential() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
        )
    }

    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }

    pub fn invalid_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }

    pub fn missing_scope() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90014,
            "The required field 'scope' is missing from the credential. Ensure that you have all the necessary parameters for the login request.".into(),
        )
    }

    pub fn malformed_body() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.".into(),
        )
    }

    /// A token request whose body is over the limit (413). Entra's closest text:
    /// a form body is the request's query string.
    // TODO-fidelity: what login.microsoftonline.com answers an oversized POST body
    // was not found (searched azure-sdk and MSAL issues: AADSTS90015 and
    // AADSTS50091 are the query-string limits); AADSTS90015's words are used.
    pub fn request_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            90015,
            "Requested query string is too long.".into(),
        )
    }

    /// Request headers over the limit (431).
    // TODO-fidelity: no Entra answer to oversized headers was found (same search);
    // AADSTS9002313 is Entra's own text for a malformed request.
    pub fn headers_too_large() -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            9002313,
            "Invalid request. Request is malformed or invalid.".into(),
        )
    }

    /// The token service failed itself (a bug, not the request): 500 `server_error`.
    // TODO-fidelity: the AADSTS code and wording of Entra's own 500s; searched
    // for recorded `"error":"server_error"` bodies and found only test doubles.
    // AADSTS50000 (TokenIssuanceError) is the documented code closest to it.
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            "There was an error issuing a token or an issue with our sign-in service.".into(),
        )
    }

    pub fn at(mut self, now: OffsetDateTime) -> Self {
        self.at = Some(now);
        self
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let now = self.at.unwrap_or_else(OffsetDateTime::now_utc);
        let ts = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let trace = uuid::Uuid::new_v4();
        let corr = uuid::Uuid::new_v4();
        let body = json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}", self.code, self.description),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            "cache-control",
            HeaderValue::from_static("no-store, no-cache"),
        );
        resp
    }
}

/// Parsed form fields (repeated keys keep the first value).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        serde_urlencoded::from_bytes(body)
            .map(Form)
            .map_err(|_| OAuthError::malformed_body())
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
    fn require(&self, k: &str) -> Result<&str, OAuthError> {
        self.get(k).ok_or_else(|| OAuthError::missing_parameter(k))
    }
}

/// OpenID scopes that may ride along with a resource scope.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "offline_access", "email"];

/// The resource a v2 `scope` asks for: `https://management.core.windows.net//.default` →
/// `https://management.core.windows.net/`.
fn resource_from_scope(scope: &str) -> Result<String, OAuthError> {
    let wanted: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect();
    let Some(first) = wanted.first() else {
        return Err(OAuthError::missing_scope());
    };
    match first.strip_suffix("/.default") {
        Some(resource) if !resource.is_empty() => Ok(resource.to_string()),
        _ => Err(OAuthError::invalid_scope(first)),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    V1,
    V2,
}

/// `POST /{tenant}/oauth2/v2.0/token`
pub async fn token_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    who: Option<Extension<Who>>,
    body: Bytes,
) -> Response {
    token(&state, &tenant, &body, Flavor::V2, who)
}

/// `POST /{tenant}/oauth2/token`
pub async fn token_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    who: Option<Extension<Who>>,
    body: Bytes,
) -> Response {
    token(&state, &tenant, &body, Flavor::V1, who)
}

fn token(
    state: &AppState,
    tenant: &str,
    body: &[u8],
    flavor: Flavor,
    who: Option<Extension<Who>>,
) -> Response {
    let now = state.clock.now();
    let result = issue(state, tenant, body, flavor, now);
    let caller = trace(state, tenant, body, &result, now);
    if let (Some(Extension(who)), Some(c)) = (who, caller) {
        who.set(c);
    }
    match result {
        Ok(r) => r,
        Err(e) => e.at(now).into_response(),
    }
}

/// Keep the decision as a trace (kind `entra-token`, resource: the client id).
/// Returns the caller: the client's principal (object id), else the client id it sent.
fn trace(
    state: &AppState,
    tenant: &str,
    body: &[u8],
    result: &Result<Response, OAuthError>,
    now: OffsetDateTime,
) -> Option<String> {
    let form = Form::parse(body).ok();
    let get = |k: &str| form.as_ref().and_then(|f| f.get(k)).unwrap_or_default();
    let client = get("client_id");
    let target = match (get("scope"), get("resource")) {
        ("", r) => r,
        (s, _) => s,
    };
    let mut t = crate::trace::Trace::new(
        "entra-token",
        client,
        &format!("a token for {target}"),
        crate::clock::arm_timestamp(now),
    );
    let mut caller = (!client.is_empty()).then(|| client.to_string());
    if let Ok(Some(sp)) = state.directory.by_app_id(&state.tenant.id, client) {
        t.subject = json!({"kind": "principal", "principalId": sp.object_id, "appId": sp.app_id, "type": "service principal"});
        caller = Some(sp.object_id);
    }
    let outcome = match result {
        Ok(_) => {
            t.step("tenant", true, format!("tenant {tenant}"));
            t.step(
                "credentials",
                true,
                format!("client {client}: secret matches"),
            );
            "access token issued".to_string()
        }
        Err(e) => {
            let check = match e.code {
                90002 => "tenant",
                700016 | 7000215 | 7000218 | 7000222 => "credentials",
                _ => "request",
            };
            if check != "tenant" {
                t.step("tenant", true, format!("tenant {tenant}"));
            }
            t.step(check, false, e.description.clone());
            t.fix = Some(match check {
                "tenant" => format!("sign in to the emulated tenant: {}", state.tenant.id),
                "credentials" => "use the principal's application (client) id and a current secret (az ad sp credential reset)".into(),
                _ => "send grant_type=client_credentials with client_id, client_secret and scope".into(),
            });
            format!(
                "{} AADSTS{}: {}",
                e.error,
                e.code,
                e.description.lines().next().unwrap_or_default()
            )
        }
    };
    t.finish(&state.traces, outcome);
    caller
}

fn issue(
    state: &AppState,
    tenant: &str,
    body: &[u8],
    flavor: Flavor,
    now: OffsetDateTime,
) -> Result<Response, OAuthError> {
    if !state.tenant.answers_to(tenant) {
        return Err(OAuthError::tenant_not_found(tenant));
    }
    let form = Form::parse(body)?;
    let grant = form.require("grant_type")?;
    if grant != "client_credentials" {
        return Err(OAuthError::unsupported_grant_type(grant));
    }
    let client_id = form.require("client_id")?;
    let resource = match flavor {
        Flavor::V2 => {
            resource_from_scope(form.get("scope").ok_or_else(OAuthError::missing_scope)?)?
        }
        Flavor::V1 => form.require("resource")?.to_string(),
    };
    let sp = client_credentials(state, tenant, client_id, form.get("client_secret"), now)?;
    let claims = state.tokens.claims_for(&sp, &resource, now);
    let access_token = state.tokens.sign(&claims);
    let expires_in = claims.exp - claims.iat;
    let body = match flavor {
        Flavor::V2 => json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        }),
        Flavor::V1 => json!({
            "token_type": "Bearer",
            "expires_in": expires_in.to_string(),
            "ext_expires_in": expires_in.to_string(),
            "expires_on": claims.exp.to_string(),
            "not_before": claims.nbf.to_string(),
            "resource": resource,
            "access_token": access_token,
        }),
    };
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("no-store, no-cache"),
    );
    Ok(resp)
}

/// Who is this client, and does the secret match?
fn client_credentials(
    state: &AppState,
    path_tenant: &str,
    client_id: &str,
    secret: Option<&str>,
    now: OffsetDateTime,
) -> Result<ServicePrincipal, OAuthError> {
    let sp = state
        .directory
        .by_app_id(&state.tenant.id, client_id)
        .ok()
        .flatten()
        .ok_or_else(|| OAuthError::application_not_found(client_id, path_tenant))?;
    let Some(secret) = secret else {
        return Err(OAuthError::missing_credential());
    };
    if sp.secrets.iter().any(|s| s == secret) {
        return Ok(sp);
    }
    // Secrets added through Graph (the principal's own, its application's),
    // within their validity.
    let creds = state.directory.credentials_of(&sp).unwrap_or_default();
    let Some(cred) = creds.iter().find(|p| p.secret == secret) else {
        return Err(OAuthError::invalid_client_secret(client_id));
    };
    let parse =
        |t: &str| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok();
    if parse(&cred.end).is_some_and(|end| end <= now) {
        return Err(OAuthError::client_secret_expired(client_id));
    }
    if parse(&cred.start).is_some_and(|start| start > now) {
        return Err(OAuthError::invalid_client_secret(client_id));
    }
    Ok(sp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_to_resource() {
        assert_eq!(
            resource_from_scope("https://management.core.windows.net//.default").unwrap(),
            "https://management.core.windows.net/"
        );
        assert_eq!(
            resource_from_scope("https://management.azure.com/.default offline_access").unwrap(),
            "https://management.azure.com"
        );
        assert_eq!(resource_from_scope("openid").unwrap_err().code, 90014);
        assert_eq!(
            resource_from_scope("https://x/user_impersonation")
                .unwrap_err()
                .code,
            1002012
        );
    }
}
