//! The control API under `/_emulator`: not Azure, the emulator's own knobs.
//! Unauthenticated, so it answers only the local user ([`guard`]): requests
//! addressed to `localhost`, `127.0.0.1`, `[::1]` (any port) or the bind
//! address (else 403 `Forbidden`; under Azure's host names it does not exist:
//! ARM's 404), with no foreign `Origin` (403 `Forbidden`), and — for POST,
//! PUT, PATCH and DELETE — `Content-Type: application/json` (415
//! `UnsupportedMediaType`). Errors use the ARM error shape.
//!
//! | route | what |
//! |---|---|
//! | `GET /_emulator/health` | 200 `{"status":"ok"}` once serving |
//! | `GET /_emulator/version` | name and version |
//! | `GET /_emulator/info` | tenant, subscription and well-known credentials |
//! | `GET /_emulator/ca.pem` | the CA certificate clients must trust (`application/x-pem-file`) |
//! | `GET /_emulator/env?shell=bash\|fish\|powershell[&mode=transparent\|explicit]` | a script that writes the CA and a bundle under `~/.azemu/` and exports what clients need (see [`env`]) |
//! | `POST /_emulator/reset` | drop all state, re-seed, reset the clock |
//! | `GET /_emulator/clock` | emulated now and the offset from wall time |
//! | `POST /_emulator/clock/advance?seconds=N` | move emulated time forward, then settle what fell due |
//! | `POST /_emulator/step` | finish every pending long-running operation now |
//! | `POST /_emulator/principals` | create a service principal with a secret (body: optional `displayName`, `appId`, `secret`) |
//! | `GET /_emulator/principals` | list the directory's service principals (no secrets) |
//! | `GET /_emulator/routes` | every ARM operation served (`METHOD template`) |
//! | `GET /_emulator/identity-endpoint[?resourceId=…]` | `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` (that endpoint's own secret) for code running inside a resource, or for the root endpoint |
//! | `GET /_emulator/containers` | what the container engine runs: each group's `fqdn`, `ip` and ports with where they are published locally (`127.0.0.1:port`), and the managed-identity endpoint containers get |
//! | `POST /_emulator/state/export` `{"path"}` | write the world to a directory (as `azemu state export`) |
//! | `POST /_emulator/state/import` `{"path"}` | replace the world with a snapshot (verified first) |
//! | `GET /_emulator/traces?resource=&kind=&principal=&requestId=&failed=&limit=` | decision traces, newest first |
//! | `GET /_emulator/explain?resource=…\|id=…&format=text\|mermaid\|json\|sequence` | the latest trace for a resource (or one trace), explained |
//! | `GET /_emulator/ui` | the web console (see [`console`]) |
//! | `GET /_emulator/world` | everything the console draws, read-only, secrets removed |
//! | `POST /_emulator/explain/pull` | would this pull succeed? asked, not done (body: `image`, `identity`\|`principalId`\|`username`+`password`, `subnet`) |
//! | `POST /_emulator/faults`, `GET`, `DELETE [/{id}]` | fault injection rules (see [`crate::faults`]) |
//! | `/_emulator/identity/…`, `/metadata/identity/oauth2/token` | managed-identity token endpoints (see [`crate::entra::msi`]; local host names and the IMDS address) |

use crate::arm::ArmError;
use crate::clock::arm_timestamp;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;

pub mod console;
pub mod env;
pub mod guard;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/ui", get(console::page))
        .route("/_emulator/ui/", get(console::page))
        .route("/_emulator/ui/{asset}", get(console::asset))
        .route("/_emulator/world", get(console::world))
        .route("/_emulator/health", get(health))
        .route("/_emulator/version", get(version))
        .route("/_emulator/info", get(info))
        .route("/_emulator/ca.pem", get(env::ca_pem))
        .route("/_emulator/env", get(env::handler))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/clock", get(clock))
        .route("/_emulator/clock/advance", post(advance))
        .route("/_emulator/step", post(step))
        .route(
            "/_emulator/principals",
            post(create_principal).get(list_principals),
        )
        .route("/_emulator/identity-endpoint", get(identity_endpoint))
        .route("/_emulator/containers", get(containers))
        .route("/_emulator/routes", get(routes_list))
        .route(
            "/_emulator/faults",
            post(crate::faults::create)
                .get(crate::faults::list)
                .delete(crate::faults::clear),
        )
        .route("/_emulator/state/export", post(state_export))
        .route("/_emulator/state/import", post(state_import))
        .route("/_emulator/traces", get(traces))
        .route("/_emulator/explain", get(explain))
        .route("/_emulator/explain/pull", post(explain_pull))
        .route(
            "/_emulator/faults/{id}",
            axum::routing::delete(crate::faults::remove),
        )
}

/// `GET /_emulator/traces[?resource=&kind=&principal=&requestId=&failed=&limit=]`:
/// decision traces, newest first.
async fn traces(
    State(s): State<AppState>,
    q: Result<Query<crate::trace::Filter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match q {
        Ok(Query(f)) => Json(crate::trace::list_json(&s.traces.query(&f))).into_response(),
        Err(e) => {
            ArmError::invalid_request_content(&format!("Bad trace filter: {}", e.body_text()))
                .into_response()
        }
    }
}

/// `GET /_emulator/explain?resource=<id>|id=<trace id>[&format=text|mermaid]`: the latest
/// trace for a resource (or one trace), explained.
async fn explain(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let found = match (q.get("id"), q.get("resource")) {
        (Some(id), _) => s
            .traces
            .query(&crate::trace::Filter::default())
            .into_iter()
            .find(|t| &t.id == id),
        (None, Some(r)) => s
            .traces
            .query(&crate::trace::Filter::resource(r))
            .into_iter()
            .next(),
        (None, None) => {
            return ArmError::invalid_request_content(
                "The query parameter 'resource' (or 'id') is required.",
            )
            .into_response();
        }
    };
    let Some(t) = found else {
        let what = q
            .get("id")
            .or(q.get("resource"))
            .cloned()
            .unwrap_or_default();
        return (
            http::StatusCode::NOT_FOUND,
            format!("No decision was traced for {what}.\n"),
        )
            .into_response();
    };
    rendered(&t, q.get("format").map(String::as_str))
}

fn rendered(t: &crate::trace::Trace, format: Option<&str>) -> Response {
    let text = match format {
        Some("mermaid") => crate::trace::render_mermaid(t),
        Some("json") => return Json(t).into_response(),
        Some("sequence") => return Json(crate::trace::sequence(t)).into_response(),
        _ => crate::trace::render_text(t),
    };
    (
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `POST /_emulator/explain/pull[?format=text|mermaid|json]` `{image, identity?|principalId?|username?+password?, subnet?}`:
/// would this pull succeed? A container group's pull, made as far as a `HEAD`
/// of the manifest: nothing is pulled or changed, and its own trace is not
/// kept; the requests it made are in the request log, as any client's.
async fn explain_pull(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let req: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ArmError::invalid_request_content(&format!("The body is not JSON: {e}"))
                .into_response();
        }
    };
    // The store, and requests to the registry on a runtime of their own: on the blocking pool.
    let asked = crate::web::blocking(move || crate::pull::hypothetical(&s, &req)).await;
    match asked {
        Ok(t) => rendered(&t, q.get("format").map(String::as_str)),
        Err(e) => e.into_response(),
    }
}

/// The `path` of a `/_emulator/state/*` body.
fn snapshot_path(body: &[u8]) -> Result<std::path::PathBuf, Response> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["path"].as_str().map(std::path::PathBuf::from))
        .filter(|p| p.is_absolute())
        .ok_or_else(|| {
            ArmError::invalid_request_content(
                "The body must be {\"path\": \"<absolute directory on the emulator's machine>\"}.",
            )
            .into_response()
        })
}

fn summary_json(verb: &str, s: &crate::store::snapshot::Summary) -> Response {
    let mut body = json!({"status": verb, "tables": s.tables, "rows": s.rows, "blobs": s.blobs});
    // Rows left out because they cannot be read (named, so they can be found).
    if !s.unreadable.is_empty() {
        body["unreadable"] = json!(s.unreadable);
    }
    Json(body).into_response()
}

/// `POST /_emulator/state/export` `{"path"}`: settle what is due, then write the
/// whole world there, as `azemu state export` does (the directory must be empty
/// or absent).
async fn state_export(State(s): State<AppState>, body: axum::body::Bytes) -> Response {
    let dir = match snapshot_path(&body) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let done = tokio::task::spawn_blocking(move || {
        // What is due finishes first, as it would for any request: the
        // snapshot holds the world a client would see now.
        crate::providers::settle(&s, false).map_err(|e| anyhow::anyhow!(e.message))?;
        let _settling = s.settling.lock().unwrap_or_else(|e| e.into_inner());
        crate::store::snapshot::export(s.store.as_ref(), &s.blobs, &dir)
    })
    .await;
    match done {
        Ok(Ok(summary)) => summary_json("exported", &summary),
        Ok(Err(e)) => ArmError::new(
            http::StatusCode::CONFLICT,
            "SnapshotFailed",
            format!("The snapshot could not be written: {e:#}"),
        )
        .into_response(),
        Err(e) => ArmError::internal(anyhow::anyhow!(e)).into_response(),
    }
}

/// `POST /_emulator/state/import` `{"path"}`: replace the world with a snapshot
/// (read and verified first: a bad one changes nothing). The CA and keys stay.
async fn state_import(State(s): State<AppState>, body: axum::body::Bytes) -> Response {
    let dir = match snapshot_path(&body) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match tokio::task::spawn_blocking(move || s.restore(&dir)).await {
        Ok(Ok(summary)) => summary_json("imported", &summary),
        Ok(Err(e)) => ArmError::new(
            http::StatusCode::BAD_REQUEST,
            "InvalidSnapshot",
            format!("The snapshot was not imported: {e:#}"),
        )
        .into_response(),
        Err(e) => ArmError::internal(anyhow::anyhow!(e)).into_response(),
    }
}

/// `GET /_emulator/routes`: every ARM operation served, `METHOD template`.
async fn routes_list() -> Json<serde_json::Value> {
    Json(json!({"value": crate::providers::OPERATIONS}))
}

/// `POST /_emulator/principals` → 201 `{objectId, appId, secret, tenantId, displayName}`.
/// The new principal has no role: assign one like in Azure.
async fn create_principal(State(s): State<AppState>, body: axum::body::Bytes) -> Response {
    let req: serde_json::Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return ArmError::invalid_request_content("The request body is not valid JSON.")
                    .into_response();
            }
        }
    };
    let app_id = match req["appId"].as_str() {
        Some(a) if uuid::Uuid::parse_str(a).is_ok() => a.to_ascii_lowercase(),
        Some(a) => {
            return ArmError::invalid_request_content(&format!("appId '{a}' is not a GUID."))
                .into_response();
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    if matches!(s.directory.by_app_id(&s.tenant.id, &app_id), Ok(Some(_))) {
        return ArmError::new(
            http::StatusCode::CONFLICT,
            "PrincipalExists",
            format!("A service principal with appId '{app_id}' already exists."),
        )
        .into_response();
    }
    let secret = req["secret"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("azemu-{}", uuid::Uuid::new_v4().simple()));
    let sp = crate::entra::ServicePrincipal {
        object_id: uuid::Uuid::new_v4().to_string(),
        app_id,
        tenant_id: s.tenant.id.clone(),
        display_name: req["displayName"]
            .as_str()
            .unwrap_or("azemu-principal")
            .to_string(),
        kind: crate::entra::PrincipalKind::Application,
        secrets: vec![secret.clone()],
        mi_resource_id: None,
        created_ms: Some((s.clock.now().unix_timestamp_nanos() / 1_000_000) as i64),
    };
    if let Err(e) = s.directory.put(&sp) {
        return ArmError::from(e).into_response();
    }
    (
        http::StatusCode::CREATED,
        Json(json!({
            "objectId": sp.object_id, "appId": sp.app_id, "secret": secret,
            "tenantId": sp.tenant_id, "displayName": sp.display_name,
        })),
    )
        .into_response()
}

async fn list_principals(State(s): State<AppState>) -> Response {
    match s.directory.all() {
        Ok(all) => Json(json!({"value": all.iter().map(|sp| json!({
            "objectId": sp.object_id, "appId": sp.app_id, "displayName": sp.display_name,
            "kind": sp.kind, "managedIdentityResourceId": sp.mi_resource_id,
        })).collect::<Vec<_>>()}))
        .into_response(),
        Err(e) => ArmError::from(e).into_response(),
    }
}

/// `GET /_emulator/identity-endpoint[?resourceId=…]`: `IDENTITY_ENDPOINT` and
/// `IDENTITY_HEADER` (that endpoint's own secret) for code running inside the
/// resource, or for the root endpoint (any identity) without `resourceId`.
async fn identity_endpoint(
    State(s): State<AppState>,
    base: crate::web::BaseUrl,
    Query(q): Query<HashMap<String, String>>,
) -> Json<serde_json::Value> {
    let id = q.get("resourceId").map(String::as_str);
    Json(crate::entra::msi::endpoint_env(&s, &base.0, id))
}

/// `GET /_emulator/containers`: the engine (`null`: none, groups are
/// simulated), the managed-identity endpoint its containers get, and each
/// running group's local endpoints ([`crate::runtime::containers::Containers::endpoints`]).
async fn containers(State(s): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "engine": s.containers.engine(),
        "identityEndpoint": s.containers.identity_endpoint(),
        "value": s.containers.endpoints().await,
    }))
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn version() -> Json<serde_json::Value> {
    Json(json!({"name": "azemu", "version": env!("CARGO_PKG_VERSION")}))
}

async fn info(State(s): State<AppState>) -> Json<serde_json::Value> {
    let c = &s.config;
    Json(json!({
        "tenantId": c.tenant_id,
        "subscriptionId": c.subscription_id,
        "subscriptionName": c.subscription_name,
        "clientId": c.client_id,
        "clientSecret": c.client_secret,
        "clientObjectId": crate::config::well_known::CLIENT_OBJECT_ID,
        "simMode": format!("{:?}", c.sim_mode),
        "lroDelayMs": c.lro_delay.as_millis() as u64,
    }))
}

async fn reset(State(s): State<AppState>) -> Response {
    match s.reset() {
        Ok(()) => Json(json!({"status": "reset"})).into_response(),
        Err(e) => ArmError::internal(e).into_response(),
    }
}

fn clock_body(s: &AppState) -> serde_json::Value {
    json!({"now": arm_timestamp(s.clock.now()), "offsetSeconds": s.clock.offset().whole_seconds()})
}

async fn clock(State(s): State<AppState>) -> Json<serde_json::Value> {
    Json(clock_body(&s))
}

async fn advance(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(secs) = q
        .get("seconds")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n >= 0)
    else {
        return ArmError::new(
            http::StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "Query parameter 'seconds' must be a non-negative whole number.",
        )
        .into_response();
    };
    if let Err(e) = s.clock.advance(time::Duration::seconds(secs)) {
        return ArmError::new(
            http::StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!(
                "Query parameter 'seconds' must be a whole number from 0 to {}: emulated time stays before {}.",
                e.max_seconds,
                arm_timestamp(crate::clock::LATEST)
            ),
        )
        .into_response();
    }
    // What expired while time jumped is swept now, as it would have been on
    // the way, and what fell due settles (operations, runs, timers).
    let settled = {
        let s = s.clone();
        tokio::task::spawn_blocking(move || crate::providers::settle(&s, false)).await
    };
    match settled {
        Ok(Ok(_)) => Json(clock_body(&s)).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ArmError::internal(anyhow::anyhow!(e)).into_response(),
    }
}

/// `POST /_emulator/step`: everything pending settles now (explicit mode's
/// only way forward); `{"completed": n}` operations finished.
async fn step(State(s): State<AppState>) -> Response {
    match tokio::task::spawn_blocking(move || crate::providers::settle(&s, true)).await {
        Ok(Ok(n)) => Json(json!({"completed": n})).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ArmError::internal(anyhow::anyhow!(e)).into_response(),
    }
}
