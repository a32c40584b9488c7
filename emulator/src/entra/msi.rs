//! Managed-identity token endpoints, in the shapes the clients probe for
//! (../shared/notes/real-clients.md §5):
//!
//! | style | request | checked |
//! |---|---|---|
//! | IMDS (`AZURE_POD_IDENTITY_AUTHORITY_HOST`, or the VM address) | `GET {base}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…[&client_id=…]`, `Metadata: true` | `Metadata: true`, no `X-Forwarded-For` |
//! | App Service (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) | `GET {endpoint}?api-version=2019-08-01&resource=…[&client_id=…]`, `X-IDENTITY-HEADER` | the header equals the endpoint's secret |
//! | `MSI_ENDPOINT` + `MSI_SECRET` | `GET {endpoint}?api-version=2017-09-01&resource=…`, `secret` | the same, under the old name |
//! | Cloud Shell (`MSI_ENDPOINT`, root only) | `POST {endpoint}` form `resource=…`, `Metadata: true` | as IMDS |
//!
//! Two places serve them: the emulator root (`/metadata/identity/oauth2/token`,
//! `/_emulator/identity/token`), which can hand out a token for any managed
//! identity in the directory; and a per-resource endpoint,
//! `/_emulator/identity/{resource}/…` (`{resource}` = base64url of a resource
//! id), which knows only the identities attached to that resource — what code
//! "running inside" an emulated container group gets as its `IDENTITY_ENDPOINT`.
//! Both answer only on local host names (see [`crate::admin::guard`]).
//!
//! Each App Service–style endpoint has its own secret, as App Service gives
//! each app its own `IDENTITY_HEADER`: an HMAC-SHA256 of the resource id (`/`
//! for the root) under a per-instance key kept in the data dir
//! (`identity-header.key`), handed out by `GET /_emulator/identity-endpoint`.
//! A caller holding one resource's secret cannot use another resource's
//! endpoint. A missing or wrong secret gets App Service's error shape,
//! `{"statusCode", "message", "correlationId"}`, and no token.

use super::directory::{PrincipalKind, ServicePrincipal};
use crate::state::AppState;
use crate::store::tables;
use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The key behind every App Service–style endpoint's secret (`IDENTITY_HEADER`).
pub struct IdentitySecrets {
    key: ring::hmac::Key,
}

/// The scope the root endpoints' secret is derived from (resource ids never are `/`).
const ROOT: &str = "/";

impl IdentitySecrets {
    /// The key in `<dir>/identity-header.key` (32 random bytes, base64, mode
    /// 0600), made on first start; secrets handed out survive restarts and resets.
    pub fn load_or_create(dir: &std::path::Path) -> anyhow::Result<Self> {
        let key = crate::config::load_or_create_key(dir, "identity-header.key", 32)?;
        Ok(Self::from_key(&key))
    }

    pub fn from_key(bytes: &[u8]) -> Self {
        IdentitySecrets {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes),
        }
    }

    fn message(scope: &str) -> Vec<u8> {
        format!("azemu-identity-header:{}", scope.to_ascii_lowercase()).into_bytes()
    }

    /// `IDENTITY_HEADER` for code running inside `resource_id` (any casing gives the same).
    pub fn for_resource(&self, resource_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(ring::hmac::sign(&self.key, &Self::message(resource_id)))
    }

    /// `IDENTITY_HEADER` for the root endpoint (any identity).
    pub fn root(&self) -> String {
        self.for_resource(ROOT)
    }

    /// Is `presented` the secret of `scope`? (Constant-time.)
    fn verify(&self, scope: &str, presented: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(presented.trim())
            .is_ok_and(|tag| ring::hmac::verify(&self.key, &Self::message(scope), &tag).is_ok())
    }
}

/// IMDS's error shape (`{"error", "error_description"}`), 400.
fn error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_request", "error_description": description})),
    )
        .into_response()
}

/// App Service's identity endpoint's error shape: `{"statusCode", "message", "correlationId"}`
/// (what MSAL's and azure-identity's tests mock it with: "An unexpected error occured
/// while fetching the AAD Token.").
// TODO-fidelity: the status and message App Service gives a missing or wrong
// X-IDENTITY-HEADER were not found (searched azure-sdk-for-python/-net/-js and
// MSAL issues and tests, MicrosoftDocs app-service overview-managed-identity);
// 401 with the header named is our choice.
fn app_service_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({
            "statusCode": status.as_u16(),
            "message": message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
        })),
    )
        .into_response()
}

/// Which request styles an endpoint accepts.
#[derive(Clone, Copy)]
enum Style<'a> {
    /// IMDS: `Metadata: true`.
    Imds,
    /// App Service: `X-IDENTITY-HEADER` (or `secret`) must be the secret of
    /// `scope`; `cloud_shell` also accepts `Metadata: true` alone (the root).
    AppService { scope: &'a str, cloud_shell: bool },
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request's proof that it may ask this endpoint, checked as the real endpoint checks it.
fn admitted(state: &AppState, style: Style, headers: &HeaderMap) -> Result<(), Response> {
    let metadata = header(headers, "metadata").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    // IMDS refuses anything that came through a proxy.
    // TODO-fidelity: IMDS documents the rule ("Must not contain an X-Forwarded-For
    // header", virtual-machines/instance-metadata-service.md) but not its answer;
    // searched MicrosoftDocs, azure-sdk issues and the code corpus.
    let forwarded = || {
        headers.contains_key("x-forwarded-for").then(|| {
            error("Request contains an X-Forwarded-For header: the Instance Metadata Service does not accept requests through a proxy")
        })
    };
    match style {
        Style::Imds => {
            if !metadata {
                return Err(error("Required metadata header not specified"));
            }
            forwarded().map_or(Ok(()), Err)
        }
        Style::AppService { scope, cloud_shell } => {
            let presented = [
                ("X-IDENTITY-HEADER", "x-identity-header"),
                ("secret", "secret"),
            ]
            .into_iter()
            .find_map(|(shown, name)| header(headers, name).map(|v| (shown, v)));
            match presented {
                Some((_, v)) if state.identity_secrets.verify(scope, v) => Ok(()),
                Some((shown, _)) => Err(app_service_error(
                    StatusCode::UNAUTHORIZED,
                    &format!(
                        "The {shown} header does not match this endpoint's IDENTITY_HEADER. No token was issued."
                    ),
                )),
                None if cloud_shell && metadata => forwarded().map_or(Ok(()), Err),
                None => Err(app_service_error(
                    StatusCode::UNAUTHORIZED,
                    "The request has no X-IDENTITY-HEADER header: send the IDENTITY_HEADER this endpoint was handed out with. No token was issued.",
                )),
            }
        }
    }
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
    let of = |id: &str| state.directory.of_resource(id).unwrap_or_default();
    let mut out: Vec<ServicePrincipal> = of(resource_id)
        .into_iter()
        .filter(|sp| sp.kind == PrincipalKind::ManagedIdentity)
        .collect();
    let key = resource_id.to_ascii_lowercase();
    if let Ok(Some(row)) = state.store.get(tables::RESOURCES, &key)
        && let Some(uais) = row["identity"]["userAssignedIdentities"].as_object()
    {
        for uai in uais.keys() {
            out.extend(of(uai).into_iter().take(1));
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

/// What a token request brings, in any style: method, headers, query, and
/// (POST, Cloud Shell's) form body.
pub struct TokenRequest {
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    body: axum::body::Bytes,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for TokenRequest {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Query(query) = Query::<HashMap<String, String>>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (method, headers) = (parts.method.clone(), parts.headers.clone());
        let req = axum::extract::Request::from_parts(parts, body);
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(TokenRequest {
            method,
            headers,
            query,
            body,
        })
    }
}

/// Common path for every style: admission, `resource`, selection, token.
fn token(
    state: &AppState,
    style: Style,
    req: TokenRequest,
    candidates: impl FnOnce() -> Vec<ServicePrincipal>,
) -> Response {
    token_with(state, style, req, candidates, error)
}

/// [`token`], with the endpoint's own answer to an identity it does not have (`refuse`).
fn token_with(
    state: &AppState,
    style: Style,
    req: TokenRequest,
    candidates: impl FnOnce() -> Vec<ServicePrincipal>,
    refuse: impl FnOnce(&str) -> Response,
) -> Response {
    if let Err(refused) = admitted(state, style, &req.headers) {
        return refused;
    }
    let mut q = req.query;
    if req.method == Method::POST
        && let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&req.body)
    {
        q.extend(form);
    }
    let Some(resource) = param(&q, &["resource"]).map(str::to_string) else {
        return error("Required query variable 'resource' is missing");
    };
    match select(candidates(), &q) {
        Ok(sp) => issue(state, &sp, &resource),
        Err(description) => refuse(description),
    }
}

/// `/metadata/identity/oauth2/token` (IMDS): any managed identity in the directory.
pub async fn imds_token(State(state): State<AppState>, req: TokenRequest) -> Response {
    token(&state, Style::Imds, req, || all_identities(&state))
}

/// `/_emulator/identity/token` (App Service style, or Cloud Shell's): any managed identity.
pub async fn root_token(State(state): State<AppState>, req: TokenRequest) -> Response {
    let style = Style::AppService {
        scope: ROOT,
        cloud_shell: true,
    };
    token(&state, style, req, || all_identities(&state))
}

/// `/_emulator/identity/{resource}/token` (App Service style): only the identities
/// attached to that resource, with that resource's secret.
pub async fn resource_token(
    State(state): State<AppState>,
    Path(enc): Path<String>,
    req: TokenRequest,
) -> Response {
    let Some(resource_id) = decode_resource(&enc) else {
        return app_service_error(
            StatusCode::NOT_FOUND,
            "No managed-identity endpoint is served at this path.",
        );
    };
    let style = Style::AppService {
        scope: &resource_id,
        cloud_shell: false,
    };
    token(&state, style, req, || attached(&state, &resource_id))
}

/// `/_emulator/identity/{resource}/metadata/identity/oauth2/token` (IMDS style,
/// `AZURE_POD_IDENTITY_AUTHORITY_HOST`): only the identities attached to that resource.
pub async fn resource_imds_token(
    State(state): State<AppState>,
    Path(enc): Path<String>,
    req: TokenRequest,
) -> Response {
    let Some(resource_id) = decode_resource(&enc) else {
        return error("Identity not found");
    };
    token(&state, Style::Imds, req, || attached(&state, &resource_id))
}

/// `{IDENTITY_ENDPOINT}` inside containers (`/msi/token`, App Service's path, on the
/// engine network's gateway: [`crate::server::inside`]): the container group the
/// request comes from is decided by its source address, and the request must carry
/// that group's own `IDENTITY_HEADER`; only that group's identities are served.
/// An identity it does not have gets App Service's 400, "No MSI found for specified
/// ClientId/ResourceId." (its answer quoted in MicrosoftDocs/azure-docs#43543).
pub async fn inside_token(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    req: TokenRequest,
) -> Response {
    let Some(group) = state.containers.group_at(peer.ip()).await else {
        // TODO-fidelity: no platform answers a caller outside its sandbox (App
        // Service's endpoint is reachable from the app only); the words are ours.
        return app_service_error(
            StatusCode::FORBIDDEN,
            &format!(
                "This managed-identity endpoint serves only containers of the container groups azemu runs; {} is not one. No token was issued.",
                peer.ip()
            ),
        );
    };
    let style = Style::AppService {
        scope: &group,
        cloud_shell: false,
    };
    let refuse = |description: &str| match description {
        "Identity not found" => app_service_error(
            StatusCode::BAD_REQUEST,
            "No MSI found for specified ClientId/ResourceId.",
        ),
        other => app_service_error(StatusCode::BAD_REQUEST, other),
    };
    token_with(&state, style, req, || attached(&state, &group), refuse)
}

/// `{"IDENTITY_ENDPOINT", "IDENTITY_HEADER"}` for code running inside `resource_id`
/// (`None`: the root endpoint, any identity). The header also serves as
/// `MSI_SECRET` (the `secret` header) at the same endpoint.
pub fn endpoint_env(state: &AppState, base: &str, resource_id: Option<&str>) -> Value {
    match resource_id {
        Some(id) => json!({
            "IDENTITY_ENDPOINT": identity_endpoint(base, id),
            "IDENTITY_HEADER": state.identity_secrets.for_resource(id),
        }),
        None => json!({
            "IDENTITY_ENDPOINT": format!("{base}/_emulator/identity/token"),
            "IDENTITY_HEADER": state.identity_secrets.root(),
        }),
    }
}

/// The managed-identity routes (answered on local host names only: the server's guard).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/metadata/identity/oauth2/token",
            get(imds_token).post(imds_token),
        )
        .route(
            "/_emulator/identity/token",
            get(root_token).post(root_token),
        )
        .route(
            "/_emulator/identity/{resource}/token",
            get(resource_token).post(resource_token),
        )
        .route(
            "/_emulator/identity/{resource}/metadata/identity/oauth2/token",
            get(resource_imds_token).post(resource_imds_token),
        )
}

#[cfg(test)]
mod tests {
    use super::IdentitySecrets;

    #[test]
    fn secrets_are_per_resource_and_case_insensitive() {
        let s = IdentitySecrets::from_key(&[7; 32]);
        let a = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/a";
        let b = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/b";
        assert_eq!(s.for_resource(a), s.for_resource(&a.to_uppercase()));
        assert_ne!(s.for_resource(a), s.for_resource(b));
        assert_ne!(s.for_resource(a), s.root());
        assert!(s.verify(a, &s.for_resource(a)));
        assert!(!s.verify(b, &s.for_resource(a)));
        assert!(!s.verify(a, ""));
        assert!(!s.verify(a, "not base64 !"));
        let other = IdentitySecrets::from_key(&[8; 32]);
        assert!(!other.verify(a, &s.for_resource(a)));
    }

    #[test]
    fn the_key_is_kept_in_the_data_dir() {
        let dir = tempfile_dir();
        let first = IdentitySecrets::load_or_create(&dir).unwrap().root();
        let again = IdentitySecrets::load_or_create(&dir).unwrap().root();
        assert_eq!(first, again);
        std::fs::write(dir.join("identity-header.key"), "short").unwrap();
        assert!(IdentitySecrets::load_or_create(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("azemu-msi-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
