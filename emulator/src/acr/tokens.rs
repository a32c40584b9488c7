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
use crate::network::{Reach, Source};
use crate::state::AppState;
use crate::trace::Trace;
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
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(crate::oci::errors::JSON),
    );
    r.extensions_mut()
        .insert(OciErrorText(format!("{code}: {message}")));
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
    // Anonymous or short of scope, ACR says the same: a live conformance run
    // against ACR (opencontainers/oci-conformance, distribution-spec v1.1, June
    // 2024) recorded this text on all 118 of its unauthenticated 401s.
    let mut r = oci_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        AUTH_REQUIRED,
        detail,
    );
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

/// The registry row for a request's host, after the network decision for a
/// request `from` there; the `registry` and `network` checks go into `t`.
pub(crate) fn registry_for_traced(
    state: &AppState,
    host: &str,
    from: &Source,
    t: &mut Trace,
) -> Result<Value, Response> {
    t.resource = host.to_string();
    let row = registry_name_of_host(host)
        .and_then(|name| super::registry::by_name(state, &name).ok().flatten());
    let Some(row) = row else {
        t.step("registry", false, format!("no registry serves {host}"));
        let message = match registry_name_of_host(host) {
            Some(name) => format!("registry '{name}' not found"),
            None => "registry not found".to_string(),
        };
        return Err(oci_error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            &message,
            None,
        ));
    };
    t.resource = row["id"].as_str().unwrap_or(host).to_string();
    t.step("registry", true, t.resource.clone());
    let ip = from.ip();
    let whence = from.describe();
    match from.reach(state, &row) {
        Reach::Allowed { via } => {
            t.step("network", true, format!("{whence}: allowed via {via}"));
            Ok(row)
        }
        Reach::Denied { message } => {
            t.step("network", false, format!("{whence}: {message}"));
            t.fix = Some(format!(
                "allow the caller's address: az acr network-rule add -n {} --ip-address {ip} (and --public-network-enabled true), or come through a private endpoint",
                row["name"].as_str().unwrap_or_default()
            ));
            Err(denied(&message))
        }
    }
}

/// The role assignment that would give `object_id` pull (or push) on `registry`.
pub fn role_fix(registry: &Value, object_id: &str, push: bool) -> String {
    let role = match (super::is_abac(registry), push) {
        (false, false) => "AcrPull",
        (false, true) => "AcrPush",
        (true, false) => "\"Container Registry Repository Reader\"",
        (true, true) => "\"Container Registry Repository Writer\"",
    };
    format!(
        "az role assignment create --assignee-object-id {object_id} --assignee-principal-type ServicePrincipal --role {role} --scope {}",
        registry["id"].as_str().unwrap_or_default()
    )
}

/// Keep `t` with the outcome the client was told, and hand back the response.
pub(crate) fn told(state: &AppState, t: Trace, resp: Response) -> Response {
    let outcome = if resp.status().is_success() {
        t.outcome.clone()
    } else {
        format!("{} {}", resp.status().as_u16(), error_text(&resp))
    };
    t.finish(&state.traces, outcome);
    resp
}

/// The OCI error a response carries, as `CODE: message` (what its body says).
fn error_text(resp: &Response) -> String {
    resp.extensions()
        .get::<OciErrorText>()
        .map(|e| e.0.clone())
        .unwrap_or_default()
}

/// The error text of an [`oci_error`] response, kept beside the body for traces.
#[derive(Clone)]
struct OciErrorText(String);

fn subject_of(caller: &Caller, username: Option<&str>) -> Value {
    match caller {
        Caller::Principal(p) => json!({
            "kind": if p.kind == crate::entra::PrincipalKind::ManagedIdentity { "identity" } else { "principal" },
            "principalId": p.object_id, "appId": p.app_id, "type": "service principal",
        }),
        Caller::Admin => json!({"kind": "admin", "username": username}),
        Caller::Token(_) => json!({"kind": "token", "username": username}),
        Caller::Anonymous => json!({"kind": "anonymous"}),
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
        // A not-before that is present must be a time (an unreadable one is invalid).
        && match &c["nbf"] {
            Value::Null => true,
            n => n.as_i64().is_some_and(|n| n <= now + 300),
        };
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

/// For a client inside the emulator: the access token `/oauth2/token` gives
/// `caller` for `scope` on `registry` (its actions are what [`granted`] allows),
/// signed and then verified as the data plane verifies bearer tokens. Its claims.
pub fn access_token_in_process(
    state: &AppState,
    registry: &Value,
    host: &str,
    caller: &Caller,
    username: Option<&str>,
    scope: &Scope,
) -> Option<Value> {
    let actions = granted(state, registry, caller, scope);
    // The subject as `/oauth2/token` names it.
    let sub = match caller {
        Caller::Principal(p) => p.object_id.clone(),
        Caller::Token(_) | Caller::Admin => username.unwrap_or_default().to_string(),
        Caller::Anonymous => String::new(),
    };
    let access = vec![json!({"type": scope.kind, "name": scope.name, "actions": actions})];
    verify(
        state,
        &access_token_for(state, host, &sub, access),
        host,
        "access_token",
    )
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

/// `POST /oauth2/exchange` (synchronous work, as [`token`]: on the blocking pool).
pub async fn exchange(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: http::Extensions,
    body: axum::body::Bytes,
) -> Response {
    let from = crate::web::source_of(&ext);
    crate::web::blocking(move || exchange_now(state, headers, from, body)).await
}

fn exchange_now(
    state: AppState,
    headers: HeaderMap,
    from: Source,
    body: axum::body::Bytes,
) -> Response {
    let host = host_of(&headers);
    let mut t = Trace::new(
        "acr-exchange",
        &host,
        "an ACR refresh token for an Entra token",
        crate::clock::arm_timestamp(state.clock.now()),
    );
    let registry = match registry_for_traced(&state, &host, &from, &mut t) {
        Ok(r) => r,
        Err(resp) => return told(&state, t, resp),
    };
    let f = form(&body, None);
    if get(&f, "grant_type") != Some("access_token") {
        t.step("credentials", false, "grant_type is not access_token");
        let resp = oci_error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            "grant_type must be access_token",
            None,
        );
        return told(&state, t, resp);
    }
    let refuse = |t: Trace, detail: String, fix: Option<String>, message: &str| {
        let mut t = t;
        t.step("credentials", false, detail);
        t.fix = fix;
        told(&state, t, unauthorized(message))
    };
    if get(&f, "service").is_some_and(|s| !s.eq_ignore_ascii_case(&host)) {
        let m = "the service does not match the registry login server";
        return refuse(t, m.into(), Some(format!("send service={host}")), m);
    }
    let Some(aad) = get(&f, "access_token") else {
        t.step("credentials", false, "no access_token in the form");
        let resp = oci_error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            "access_token is required",
            None,
        );
        return told(&state, t, resp);
    };
    let claims = match state.tokens.validate(aad, state.clock.now()) {
        Ok(c) => c,
        Err(e) => {
            let m = format!("the access token is invalid: {e}");
            return refuse(
                t,
                format!("Entra token rejected: {e}"),
                Some(
                    "get a fresh token from this tenant's Entra ID (az login; az acr login)".into(),
                ),
                &m,
            );
        }
    };
    let p = Principal::from_claims(&claims);
    t.subject = subject_of(&Caller::Principal(p.clone()), None);
    let issuer_ok = claims.tid.eq_ignore_ascii_case(&state.tenant.id)
        && (claims.iss == v1_issuer(&claims.tid) || claims.iss == v2_issuer(&claims.tid));
    if !issuer_ok || get(&f, "tenant").is_some_and(|t| !t.eq_ignore_ascii_case(&state.tenant.id)) {
        return refuse(
            t,
            format!(
                "the token is from tenant {} (issuer {}); the registry is in tenant {}",
                claims.tid, claims.iss, state.tenant.id
            ),
            Some(format!(
                "sign in to the registry's tenant: az login --tenant {}",
                state.tenant.id
            )),
            "the access token is from the wrong tenant",
        );
    }
    let arm_ok = registry["properties"]["policies"]["azureADAuthenticationAsArmPolicy"]["status"]
        != "disabled";
    let audience_ok = ACR_AUDIENCES.contains(&claims.aud.as_str())
        || (arm_ok && ARM_AUDIENCES.contains(&claims.aud.as_str()));
    if !audience_ok {
        let m = format!(
            "the access token audience '{}' is not accepted by this registry",
            claims.aud
        );
        return refuse(
            t,
            m.clone(),
            Some("ask Entra for https://containerregistry.azure.net/.default".into()),
            &m,
        );
    }
    t.step(
        "credentials",
        true,
        format!(
            "Entra token for principal {} (tenant {}, audience {}) verified",
            p.object_id, claims.tid, claims.aud
        ),
    );
    t.outcome = "refresh token issued".into();
    let resp = Json(json!({"refresh_token": refresh_token_for(&state, &host, &p)})).into_response();
    told(&state, t, resp)
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
    if let Ok(Some((name, passwords))) = super::registry::admin_passwords(state, registry)
        && user.eq_ignore_ascii_case(&name)
        && passwords.iter().any(|p| p == pass)
    {
        return Some(Caller::Admin);
    }
    super::repository_tokens::token_grants(state, registry, user, pass).map(Caller::Token)
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

/// `GET|POST /oauth2/token`. The registry lookup, the role assignments behind
/// the grant and the signature are synchronous: on the blocking pool.
pub async fn token(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    ext: http::Extensions,
    body: axum::body::Bytes,
) -> Response {
    let from = crate::web::source_of(&ext);
    crate::web::blocking(move || token_now(state, method, headers, uri, from, body)).await
}

fn token_now(
    state: AppState,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    from: Source,
    body: axum::body::Bytes,
) -> Response {
    let host = host_of(&headers);
    let f = form(
        if method == Method::POST { &body } else { &[] },
        uri.query(),
    );
    let scopes: Vec<Scope> = f
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' '))
        .filter_map(Scope::parse)
        .collect();
    let wanted = scopes
        .iter()
        .map(Scope::render)
        .collect::<Vec<_>>()
        .join(" ");
    let mut t = Trace::new(
        "acr-token",
        &host,
        &format!(
            "an access token for {}",
            if wanted.is_empty() {
                "no scope"
            } else {
                &wanted
            }
        ),
        crate::clock::arm_timestamp(state.clock.now()),
    );
    let registry = match registry_for_traced(&state, &host, &from, &mut t) {
        Ok(r) => r,
        Err(resp) => return told(&state, t, resp),
    };
    let name = registry["name"].as_str().unwrap_or_default().to_string();
    let refused = |mut t: Trace, detail: String, fix: String| {
        t.step("credentials", false, detail);
        t.fix = Some(fix);
        told(&state, t, unauthorized(AUTH_REQUIRED))
    };
    let bad_password = |t: Trace, u: &str| {
        refused(
            t,
            format!("username '{u}' or its password is not valid for {host}"),
            format!(
                "use current credentials: az acr credential show -n {name} (admin user), or az acr token credential generate (repository tokens)"
            ),
        )
    };
    let (caller, username) = match (get(&f, "grant_type"), basic(&headers)) {
        (Some("refresh_token"), _) => {
            let Some(c) =
                get(&f, "refresh_token").and_then(|t| verify(&state, t, &host, "refresh_token"))
            else {
                return refused(
                    t,
                    format!(
                        "the refresh token is not a valid, unexpired ACR refresh token for {host}"
                    ),
                    format!("exchange a fresh Entra token: az acr login -n {name}"),
                );
            };
            match principal_of(&c) {
                Some(p) => (Caller::Principal(p), None),
                None => {
                    return refused(
                        t,
                        "the refresh token names no principal".into(),
                        format!("exchange a fresh Entra token: az acr login -n {name}"),
                    );
                }
            }
        }
        (Some("password"), _) => match (get(&f, "username"), get(&f, "password")) {
            (Some(u), Some(p)) => match caller_from_basic(&state, &registry, &host, u, p) {
                Some(c) => (c, Some(u.to_string())),
                None => return bad_password(t, u),
            },
            _ => {
                return refused(
                    t,
                    "grant_type=password without username and password".into(),
                    "send username and password".into(),
                );
            }
        },
        (None, Some((u, p))) => match caller_from_basic(&state, &registry, &host, &u, &p) {
            Some(c) => (c, Some(u)),
            None => return bad_password(t, &u),
        },
        (None, None) => (Caller::Anonymous, None),
        (Some(other), _) => {
            t.step(
                "credentials",
                false,
                format!("grant_type '{other}' is not supported"),
            );
            let resp = oci_error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                &format!("grant_type '{other}' is not supported"),
                None,
            );
            return told(&state, t, resp);
        }
    };
    t.subject = subject_of(&caller, username.as_deref());
    if matches!(caller, Caller::Anonymous) && registry["properties"]["anonymousPullEnabled"] != true
    {
        let sku = registry["sku"]["name"].as_str().unwrap_or("Basic");
        return refused(
            t,
            "no credentials, and anonymous pull is not enabled on the registry".into(),
            if sku.eq_ignore_ascii_case("basic") {
                format!(
                    "sign in (az acr login -n {name}); anonymous pull needs a Standard or Premium registry: az acr update -n {name} --sku Standard --anonymous-pull-enabled true"
                )
            } else {
                format!(
                    "sign in (az acr login -n {name}), or az acr update -n {name} --anonymous-pull-enabled true"
                )
            },
        );
    }
    t.step(
        "credentials",
        true,
        match &caller {
            Caller::Principal(p) => {
                format!("ACR refresh token for principal {} verified", p.object_id)
            }
            Caller::Admin => "admin user and password accepted".into(),
            Caller::Token(_) => format!(
                "token '{}' and password accepted",
                username.as_deref().unwrap_or_default()
            ),
            Caller::Anonymous => "none (anonymous pull is enabled)".into(),
        },
    );
    let mut short = Vec::new();
    let access: Vec<Value> = scopes
        .iter()
        .map(|s| {
            let actions = granted(&state, &registry, &caller, s);
            let missing: Vec<&String> = s
                .actions
                .iter()
                .filter(|a| !actions.contains(a) && !actions.iter().any(|g| g == "*"))
                .collect();
            if !missing.is_empty() {
                short.push(format!(
                    "{}:{} lacks {}",
                    s.kind,
                    s.name,
                    missing
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
            json!({"type": s.kind, "name": s.name, "actions": actions})
        })
        .collect();
    if short.is_empty() {
        t.step(
            "authorize",
            true,
            if scopes.is_empty() {
                "no scope asked".to_string()
            } else {
                format!("granted all of {wanted}")
            },
        );
    } else {
        let held = match &caller {
            Caller::Principal(p) => {
                let h = crate::authz::access::describe_assignments(&state, &p.object_id);
                format!(
                    "; role assignments considered: {}",
                    if h.is_empty() {
                        "none".into()
                    } else {
                        h.join("; ")
                    }
                )
            }
            _ => String::new(),
        };
        t.step("authorize", false, format!("{}{held}", short.join("; ")));
        let push = scopes.iter().any(|s| s.actions.iter().any(|a| a == "push"));
        t.fix = Some(match &caller {
            Caller::Principal(p) => role_fix(&registry, &p.object_id, push),
            Caller::Token(_) => format!(
                "add the repository to the token's scope map: az acr scope-map update -n <scope map> -r {name} --add-repository <repository> content/read"
            ),
            Caller::Anonymous => format!("sign in: az acr login -n {name}"),
            Caller::Admin => String::new(),
        });
    }
    let sub = match &caller {
        Caller::Admin => registry["name"].as_str().unwrap_or_default().to_string(),
        Caller::Principal(p) => p.object_id.clone(),
        Caller::Token(_) => username.clone().unwrap_or_default(),
        Caller::Anonymous => String::new(),
    };
    t.outcome = format!(
        "access token issued for {}",
        if short.is_empty() {
            "everything asked".to_string()
        } else {
            format!("less than asked ({})", short.join("; "))
        }
    );
    let resp = Json(json!({"access_token": access_token_for(&state, &host, &sub, access)}))
        .into_response();
    told(&state, t, resp)
}

/// What the data plane asks before serving: may this request do `actions` on `repository`?
/// `repository: None` is `/v2/` (any valid credential) or the catalog (`catalog: true`).
///
/// A refusal of a request that carried credentials is kept as a trace (kind
/// `acr-request`); the unauthenticated first request of every login (`GET /v2/`
/// answered with a challenge) is not.
pub fn check(
    state: &AppState,
    headers: &HeaderMap,
    from: &Source,
    repository: Option<&str>,
    actions: &[&str],
    catalog: bool,
    who: Option<&crate::web::Who>,
) -> Result<(), Response> {
    let target = match repository {
        Some(r) => format!("{} on repository {r}", actions.join(",")),
        None if catalog => "the catalog".to_string(),
        None => "/v2/".to_string(),
    };
    let mut t = Trace::new(
        "acr-request",
        "",
        &target,
        crate::clock::arm_timestamp(state.clock.now()),
    );
    let outcome = checked(state, headers, from, repository, actions, catalog, &mut t);
    // The caller as the checks found it: an access token's subject, or the
    // user named in Basic credentials (refused ones too).
    if let Some(who) = who {
        let caller = t.subject["principalId"]
            .as_str()
            .or_else(|| t.subject["username"].as_str())
            .map(str::to_string)
            .or_else(|| basic(headers).map(|(u, _)| u));
        if let Some(c) = caller {
            who.set(c);
        }
    }
    match outcome {
        Ok(()) => Ok(()),
        Err(resp)
            if headers.contains_key(http::header::AUTHORIZATION)
                || t.failed_check() == Some("network") =>
        {
            Err(told(state, t, resp))
        }
        Err(resp) => Err(resp),
    }
}

fn checked(
    state: &AppState,
    headers: &HeaderMap,
    from: &Source,
    repository: Option<&str>,
    actions: &[&str],
    catalog: bool,
    t: &mut Trace,
) -> Result<(), Response> {
    let host = host_of(headers);
    let registry = registry_for_traced(state, &host, from, t)?;
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
    if let Some(token) = bearer(headers) {
        let Some(c) = verify(state, &token, &host, "access_token") else {
            t.step(
                "credentials",
                false,
                format!("the bearer token is not a valid, unexpired ACR access token for {host}"),
            );
            t.fix = Some("get a fresh access token from the registry's /oauth2/token".into());
            return Err(challenge(&host, scope.as_ref(), false));
        };
        t.subject = json!({"kind": "principal", "principalId": c["sub"], "type": "holder of an ACR access token:"});
        t.step("credentials", true, "ACR access token verified");
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
            t.step(
                "authorize",
                false,
                format!(
                    "the access token does not grant {} on {}:{} (it grants {})",
                    scope.actions.join(","),
                    scope.kind,
                    scope.name,
                    c["access"]
                ),
            );
            // The token was issued with less than this request needs (see the
            // acr-token trace before this one); for a principal, the fix is a role.
            let sub = c["sub"].as_str().unwrap_or_default();
            t.fix = Some(if uuid::Uuid::parse_str(sub).is_ok() {
                role_fix(&registry, sub, scope.actions.iter().any(|a| a == "push"))
            } else {
                format!(
                    "the credentials behind this token ({sub}) lack {} on {}: widen them (the admin user, or the token's scope map)",
                    scope.actions.join(","),
                    scope.name
                )
            });
            Err(challenge(&host, Some(&scope), true))
        };
    }
    // Basic: admin user or the null-GUID user with a refresh token, checked directly.
    let caller = match basic(headers) {
        Some((u, p)) => match caller_from_basic(state, &registry, &host, &u, &p) {
            Some(c) => {
                t.subject = subject_of(&c, Some(&u));
                t.step("credentials", true, format!("username '{u}' accepted"));
                c
            }
            None => {
                t.step(
                    "credentials",
                    false,
                    format!("username '{u}' or its password is not valid for {host}"),
                );
                return Err(unauthorized(AUTH_REQUIRED));
            }
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
        t.step(
            "authorize",
            false,
            format!(
                "{} on {}:{} not granted (granted: {})",
                scope.actions.join(","),
                scope.kind,
                scope.name,
                if got.is_empty() {
                    "nothing".into()
                } else {
                    got.join(",")
                }
            ),
        );
        Err(challenge(
            &host,
            Some(&scope),
            !matches!(caller, Caller::Anonymous),
        ))
    }
}
