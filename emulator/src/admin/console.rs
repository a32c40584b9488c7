//! The web console at `/_emulator/ui`: a page and its script, built into the
//! binary (no separate server, nothing fetched from the network), drawing what
//! `GET /_emulator/world` and the trace endpoints return. It only reads Azure
//! resources; the buttons it has call the control API (reset, snapshot,
//! fault rules), and changes to resources go through ARM like everywhere else.
//!
//! `/_emulator/world` is one read of the whole emulated world: ARM resources
//! (as GET shows them: secret values removed), service principals, role
//! assignments with their role names, each registry's repositories, tags and
//! manifest sizes, ACR task runs with their logs, and the container groups the
//! engine runs with their local endpoints (`containers`; empty without an engine).

use crate::arm::ArmError;
use crate::oci::tables as oci;
use crate::state::AppState;
use crate::store::tables;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// `GET /_emulator/ui`
pub async fn page() -> Response {
    served("text/html; charset=utf-8", INDEX)
}

/// `GET /_emulator/ui/{console.js|console.css}`
pub async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "console.js" => served("text/javascript; charset=utf-8", SCRIPT),
        "console.css" => served("text/css; charset=utf-8", STYLE),
        _ => ArmError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("The console has no asset '{name}'."),
        )
        .into_response(),
    }
}

fn served(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Keys whose values never leave the emulator through a read.
const SECRET_KEYS: &[&str] = &["secureValue", "password", "clientSecret", "secret"];

/// `value` with every secret-bearing key and every internal (`_`-prefixed) key removed.
fn without_secrets(value: &Value) -> Value {
    match value {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with('_') && !SECRET_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), without_secrets(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_secrets).collect()),
        v => v.clone(),
    }
}

/// `GET /_emulator/world`
pub async fn world(State(s): State<AppState>) -> Response {
    match read_world(&s) {
        Ok(mut v) => {
            // Where the engine's groups answer locally.
            v["containers"] = Value::Array(s.containers.endpoints().await);
            Json(v).into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn read_world(s: &AppState) -> Result<Value, ArmError> {
    let resources: Vec<Value> = s
        .store
        .scan(tables::RESOURCES, "")?
        .into_iter()
        .map(|(_, v)| without_secrets(&v))
        .collect();
    let principals: Vec<Value> = s
        .directory
        .all()?
        .into_iter()
        .map(|p| {
            json!({
                "objectId": p.object_id,
                "appId": p.app_id,
                "displayName": p.display_name,
                "kind": format!("{:?}", p.kind),
                "resourceId": p.mi_resource_id,
            })
        })
        .collect();
    let role_assignments: Vec<Value> = crate::authz::access::all_assignment_rows(s)?
        .iter()
        .filter_map(|row| {
            let a = crate::authz::access::assignment_from_row(row)?;
            let role = crate::authz::access::role_definition(s, &a.role_definition_guid)
                .map(|d| d.role_name)
                .unwrap_or_else(|| a.role_definition_guid.clone());
            Some(json!({
                "id": a.id,
                "principalId": a.principal_id,
                "role": role,
                "scope": a.scope,
                "condition": a.condition,
            }))
        })
        .collect();
    Ok(json!({
        "tenantId": s.tenant.id,
        "subscriptionId": s.config.subscription_id,
        "now": crate::clock::arm_timestamp(s.clock.now()),
        "resources": resources,
        "principals": principals,
        "roleAssignments": role_assignments,
        "registries": registries(s)?,
        "runs": runs(s)?,
    }))
}

/// Repositories, tags and manifests per registry (keyed by registry name).
fn registries(s: &AppState) -> Result<Value, ArmError> {
    // registry → repository → (tags, manifests)
    type Repositories = BTreeMap<String, (Vec<Value>, Vec<Value>)>;
    let mut out: BTreeMap<String, Repositories> = BTreeMap::new();
    let split = |k: &str| -> Option<(String, String, String)> {
        // `{registry}/{repo with slashes}/{last}`
        let (reg, rest) = k.split_once('/')?;
        let (repo, last) = rest.rsplit_once('/')?;
        Some((reg.into(), repo.into(), last.into()))
    };
    for (k, v) in s.store.scan(oci::MANIFESTS, "")? {
        if let Some((reg, repo, digest)) = split(&k) {
            let entry = out.entry(reg).or_default().entry(repo).or_default();
            // An image's size: its config and layers, as the manifest lists them.
            let image_size = s
                .blobs
                .read(&digest)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .filter(|m| m["layers"].is_array())
                .map(|m| {
                    let layers = m["layers"].as_array().into_iter().flatten();
                    // Sizes are what the pusher declared: add without overflowing.
                    layers.filter_map(|l| l["size"].as_u64()).fold(
                        m["config"]["size"].as_u64().unwrap_or(0),
                        u64::saturating_add,
                    )
                });
            entry.1.push(json!({
                "digest": digest,
                "mediaType": v["mediaType"],
                "size": v["size"],
                "imageSize": image_size,
                "artifactType": v["artifactType"],
            }));
        }
    }
    for (k, v) in s.store.scan(oci::TAGS, "")? {
        if let Some((reg, repo, tag)) = split(&k) {
            let entry = out.entry(reg).or_default().entry(repo).or_default();
            entry.0.push(json!({"tag": tag, "digest": v["digest"]}));
        }
    }
    Ok(Value::Object(
        out.into_iter()
            .map(|(reg, repos)| {
                let list: Vec<Value> = repos
                    .into_iter()
                    .map(|(name, (tags, manifests))| {
                        json!({"name": name, "tags": tags, "manifests": manifests})
                    })
                    .collect();
                (reg, Value::Array(list))
            })
            .collect(),
    ))
}

/// ACR task runs with their logs.
fn runs(s: &AppState) -> Result<Vec<Value>, ArmError> {
    let mut out = Vec::new();
    for (k, v) in s.store.scan(tables::ACR_RUNS, "")? {
        let log = s
            .store
            .get(tables::ACR_RUN_LOGS, &k)?
            .and_then(|l| l["text"].as_str().map(str::to_string));
        let mut run = without_secrets(&v);
        run["log"] = json!(log);
        out.push(run);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_internals_are_removed() {
        let v = json!({"a": 1, "_run": {"x": 1}, "properties": {"containers": [{"properties": {
            "environmentVariables": [{"name": "K", "secureValue": "s3cret"}, {"name": "V", "value": "v"}]}}],
            "imageRegistryCredentials": [{"server": "r.azurecr.io", "username": "u", "password": "p"}]}});
        let out = without_secrets(&v).to_string();
        assert!(
            !out.contains("s3cret") && !out.contains("\"p\"") && !out.contains("_run"),
            "{out}"
        );
        assert!(
            out.contains("\"value\":\"v\"") && out.contains("\"username\":\"u\""),
            "{out}"
        );
    }
}
