//! The control API under `/_emulator`: not Azure, the emulator's own knobs.
//! Unauthenticated (it listens on loopback); errors use the ARM error shape.
//!
//! | route | what |
//! |---|---|
//! | `GET /_emulator/health` | 200 `{"status":"ok"}` once serving |
//! | `GET /_emulator/version` | name and version |
//! | `GET /_emulator/info` | tenant, subscription and well-known credentials |
//! | `POST /_emulator/reset` | drop all state, re-seed, reset the clock |
//! | `GET /_emulator/clock` | emulated now and the offset from wall time |
//! | `POST /_emulator/clock/advance?seconds=N` | move emulated time forward |
//! | `POST /_emulator/step` | finish every pending long-running operation now |

use crate::arm::ArmError;
use crate::clock::arm_timestamp;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/health", get(health))
        .route("/_emulator/version", get(version))
        .route("/_emulator/info", get(info))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/clock", get(clock))
        .route("/_emulator/clock/advance", post(advance))
        .route("/_emulator/step", post(step))
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
    s.clock.advance(time::Duration::seconds(secs));
    Json(clock_body(&s)).into_response()
}

async fn step(State(s): State<AppState>) -> Response {
    match crate::providers::settle(&s, true) {
        Ok(n) => Json(json!({"completed": n})).into_response(),
        Err(e) => e.into_response(),
    }
}
