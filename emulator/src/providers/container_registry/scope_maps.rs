//! Repository-scoped access: scope maps (`ScopeMaps_*`) and tokens
//! (`Tokens_*`, `Registries_GenerateCredentials`), children of a registry.
//! Routing, validation, LROs, paging and shaping are the spec layer's
//! ([`crate::providers::by_spec`]); Azure's rules for them are here.
//!
//! A scope map lists actions `repositories/<name or prefix/*>/<content|metadata>/<read|write|delete>`
//! (or a connected registry's `gateway/…` actions); a token names one scope
//! map, has a status and up to two passwords, kept apart from the token in
//! [`tables::ACR_CREDENTIALS`] and never shown again after
//! `generateCredentials` answers them. On the data plane the token's name and
//! a password log in with exactly the scope map's actions (see
//! [`crate::acr::repository_tokens::token_grants`]). Registries carry three system scope maps,
//! `_repositories_admin`, `_repositories_pull` and `_repositories_push`:
//! built in ([`system_maps`]), never stored, never modified.
//!
//! As azure-cli's acr recordings (`test_repository_token_create`,
//! `test_acr_connectedregistry`) show them: `type`, `id`, `name`,
//! `systemData`, then the properties; a token's `credentials` list its
//! passwords' names and dates, not their values.
use crate::acr::repository_tokens::{SYSTEM_MAPS, system_map};
use crate::arm::{ArmError, ResourceId};
use crate::clock::arm_timestamp;
use crate::providers::by_spec::{Behaviour, Ctx};
use crate::providers::json_response;
use crate::state::AppState;
use crate::store::tables;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

pub use crate::acr::repository_tokens::SCOPE_MAP_TYPE;
pub const TOKEN_TYPE: &str = "Microsoft.ContainerRegistry/registries/tokens";

pub const SCOPE_MAPS: Behaviour = Behaviour {
    on_write: Some(scope_map_write),
    on_delete: Some(scope_map_delete),
    built_in: Some(system_maps),
    // As azure-cli's acr recordings have them (`test_repository_token_create`,
    // `test_acr_connectedregistry`): a PUT answers 200 `Succeeded`, done; a
    // PATCH 201 `Updating` with its operation, as ACR's other children.
    statuses: &[("PUT", 200)],
    ..Behaviour::of(SCOPE_MAP_TYPE)
};

pub const TOKENS: Behaviour = Behaviour {
    on_write: Some(token_write),
    // The token's passwords go with it: the spec layer removes every
    // credential row under a deleted resource.,
    on_read: Some(token_read),
    ..Behaviour::of(TOKEN_TYPE)
};

/// A registry's system scope maps (the spec layer's built-in resources).
pub fn system_maps(_state: &AppState, registry: &ResourceId) -> Result<Vec<Value>, ArmError> {
    Ok(SYSTEM_MAPS
        .iter()
        .filter_map(|(n, _, _)| system_map(registry, n))
        .collect())
}

fn bad(code: &'static str, message: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, code, message)
}

fn is_system(row: &Value) -> bool {
    row["properties"]["type"] == "SystemDefined"
}

fn cannot_modify() -> ArmError {
    bad(
        "CannotModifySystemScopeMap",
        "System defined scope maps cannot be modified or deleted.".into(),
    )
}

/// `repositories/<repository>/<content|metadata>/<verb>`, or a connected
/// registry's `gateway/<connected registry>/<config|message>/<read|write>`
/// (what `az acr scope-map create --gateway` builds: azure-cli's acr
/// `scope_map.py` GatewayScopeMapActions and `_utils.parse_scope_map_actions`).
fn valid_action(a: &str) -> bool {
    let parts: Vec<&str> = a.split('/').collect();
    if parts.len() < 4 || parts[1..parts.len() - 2].iter().any(|p| p.is_empty()) {
        return false;
    }
    let tail = (parts[parts.len() - 2], parts[parts.len() - 1]);
    match parts[0] {
        "repositories" => matches!(
            tail,
            ("content", "read" | "write" | "delete") | ("metadata", "read" | "write")
        ),
        "gateway" => parts.len() == 4 && matches!(tail, ("config" | "message", "read" | "write")),
        _ => false,
    }
}

/// `creationDate` kept across writes.
fn created(cx: &Ctx, old: Option<&Value>) -> Value {
    old.map(|e| e["properties"]["creationDate"].clone())
        .filter(|c| !c.is_null())
        .unwrap_or_else(|| json!(arm_timestamp(cx.req.now)))
}

/// The resource's envelope in Azure's order, with `properties`.
fn envelope(row: &Value, properties: Map<String, Value>) -> Value {
    let mut out = Map::new();
    for k in ["type", "id", "name", "systemData"] {
        if let Some(v) = row.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    out.insert("properties".into(), Value::Object(properties));
    Value::Object(out)
}

/// A PUT replaces the map (its description only when sent); a PATCH keeps
/// what it does not send. Every action must read as one of the two kinds.
fn scope_map_write(cx: &Ctx, row: &mut Value, old: Option<&Value>) -> Result<(), ArmError> {
    if old.is_some_and(is_system) {
        return Err(cannot_modify());
    }
    let props = &row["properties"];
    let actions: Vec<String> = props["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if actions.is_empty() || !actions.iter().all(|a| valid_action(a)) {
        return Err(bad(
            "InvalidScopeMapActions",
            format!(
                "The scope map actions {actions:?} are invalid. Each action must look like 'repositories/<repository>/content/read'."
            ),
        ));
    }
    let mut p = Map::new();
    // `description` only when there is one (none in Azure's answer to `acr scope-map create` without it).
    if let Some(d) = props["description"].as_str() {
        p.insert("description".into(), json!(d));
    }
    p.insert("type".into(), json!("UserDefined"));
    p.insert("creationDate".into(), created(cx, old));
    p.insert("provisioningState".into(), layer_state(row));
    p.insert("actions".into(), json!(actions));
    *row = envelope(row, p);
    Ok(())
}

fn scope_map_delete(_cx: &Ctx, row: &Value) -> Result<(), ArmError> {
    if is_system(row) {
        return Err(cannot_modify());
    }
    Ok(())
}

/// A token names a scope map of its registry (system or user-defined) and is
/// `enabled` or `disabled`; what a write does not send, it keeps.
fn token_write(cx: &Ctx, row: &mut Value, old: Option<&Value>) -> Result<(), ArmError> {
    let registry = cx
        .id
        .parent()
        .ok_or_else(|| ArmError::no_route(&cx.req.path))?;
    let kept = |field: &str| {
        row["properties"][field]
            .as_str()
            .or_else(|| old.and_then(|e| e["properties"][field].as_str()))
            .map(str::to_string)
    };
    let scope_map_id = kept("scopeMapId").ok_or_else(|| {
        ArmError::invalid_request_content("The property 'scopeMapId' is required.")
    })?;
    let map_name = scope_map_id.rsplit('/').next().unwrap_or_default();
    let map_ok = system_map(&registry, map_name).is_some()
        || cx
            .state
            .resources()
            .get(&registry.child(super::NAMESPACE, "scopeMaps", map_name))?
            .is_some();
    if !map_ok {
        return Err(bad(
            "ScopeMapNotFound",
            format!("The scope map '{scope_map_id}' does not exist."),
        ));
    }
    let status = match row["properties"]["status"]
        .as_str()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("disabled") => "disabled",
        Some("enabled") => "enabled",
        Some(other) => {
            return Err(bad(
                "InvalidParameter",
                format!("The token status '{other}' is not valid."),
            ));
        }
        None => match old.and_then(|e| e["properties"]["status"].as_str()) {
            Some("disabled") => "disabled",
            _ => "enabled",
        },
    };
    let mut p = Map::new();
    p.insert("creationDate".into(), created(cx, old));
    p.insert("provisioningState".into(), layer_state(row));
    p.insert("scopeMapId".into(), json!(scope_map_id));
    p.insert("status".into(), json!(status));
    *row = envelope(row, p);
    Ok(())
}

/// The `provisioningState` the spec layer gave the write (`Creating` for a
/// long-running create, `Succeeded` for one done when it answers).
fn layer_state(row: &Value) -> Value {
    match &row["properties"]["provisioningState"] {
        Value::String(s) => json!(s),
        _ => json!("Succeeded"),
    }
}

/// A token's `credentials`, from its password rows: each password's name,
/// creation time and expiry, never its value. After `scopeMapId`, as Azure
/// orders them.
fn token_read(state: &AppState, row: &mut Value) -> Result<(), ArmError> {
    let key = row["id"].as_str().unwrap_or_default().to_ascii_lowercase();
    let secrets = state.store.get(tables::ACR_CREDENTIALS, &key)?;
    let passwords: Vec<Value> = ["password1", "password2"]
        .iter()
        .filter_map(|n| {
            secrets.as_ref().and_then(|s| s.get(*n)).map(
                |p| json!({"name": n, "creationTime": p["creationTime"], "expiry": p["expiry"]}),
            )
        })
        .collect();
    let Some(props) = row["properties"].as_object() else {
        return Ok(());
    };
    let mut p = Map::new();
    for (k, v) in props {
        if k == "credentials" {
            continue;
        }
        if k == "status" {
            p.insert("credentials".into(), json!({ "passwords": passwords }));
        }
        p.insert(k.clone(), v.clone());
    }
    if !p.contains_key("credentials") {
        p.insert("credentials".into(), json!({ "passwords": passwords }));
    }
    row["properties"] = Value::Object(p);
    Ok(())
}

/// `POST {REG}/generateCredentials` `{tokenId, name?: password1|password2, expiry?}`:
/// new passwords, answered once with their values.
pub fn generate_credentials(cx: &Ctx) -> Result<Response, ArmError> {
    let (state, req, registry) = (cx.state, cx.req, &cx.id);
    let body = req.json_object()?;
    let token_id = body
        .get("tokenId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = token_id.rsplit('/').next().unwrap_or_default();
    let id = registry.child(super::NAMESPACE, "tokens", name);
    if token_id.is_empty() || state.resources().get(&id)?.is_none() {
        return Err(bad(
            "TokenNotFound",
            format!("The token '{token_id}' does not exist."),
        ));
    }
    let which: Vec<&str> = match body.get("name").and_then(Value::as_str) {
        Some("password1") => vec!["password1"],
        Some("password2") => vec!["password2"],
        Some(other) => {
            return Err(bad(
                "InvalidParameter",
                format!("The password name '{other}' is not valid."),
            ));
        }
        None => vec!["password1", "password2"],
    };
    let mut secrets = state
        .store
        .get(tables::ACR_CREDENTIALS, &id.key())?
        .unwrap_or(json!({}));
    let expiry = match body.get("expiry") {
        None | Some(Value::Null) => Value::Null,
        Some(v) => json!(arm_timestamp(password_expiry(v, req.now)?)),
    };
    let mut out = Vec::new();
    for n in which {
        let value = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        secrets[n] =
            json!({"value": value, "creationTime": arm_timestamp(req.now), "expiry": expiry});
        out.push(json!({"name": n, "value": value, "creationTime": arm_timestamp(req.now), "expiry": expiry}));
    }
    state
        .store
        .put(tables::ACR_CREDENTIALS, &id.key(), secrets)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"username": name, "passwords": out}),
    ))
}

/// A password's `expiry`: ISO 8601 with a UTC offset (`Z` or `±hh:mm`), in the future.
fn password_expiry(v: &Value, now: time::OffsetDateTime) -> Result<time::OffsetDateTime, ArmError> {
    // TODO-fidelity: ACR's words for a malformed or past expiry (searched the
    // azure-cli ACR recordings (test_repository_token_create), azure-cli's ACR
    // module, which checks the format itself ("Input '…' is not valid datetime."),
    // and public issues; ACR's own answer is not recorded anywhere found).
    let text = v.as_str().unwrap_or_default();
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!(
                    "The expiry '{}' is not valid. It must be an ISO 8601 date and time with a UTC offset, for example 2030-12-31T23:59:59Z.",
                    if text.is_empty() { v.to_string() } else { text.to_string() }
                ),
            )
        })?;
    if t <= now {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!("The expiry '{text}' is in the past. It must be later than the current time."),
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_expiry_is_iso_8601_in_the_future() {
        let now = time::OffsetDateTime::now_utc();
        let later = arm_timestamp(now + time::Duration::days(1));
        assert!(password_expiry(&json!(later), now).is_ok());
        assert!(password_expiry(&json!("9999-12-31T23:59:59.999999Z"), now).is_ok());
        for bad in [
            json!("2030-01-01T00:00:00"),
            json!("tomorrow"),
            json!(5),
            json!("2000-01-01T00:00:00Z"),
        ] {
            let e = password_expiry(&bad, now).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, "InvalidParameter"),
                "{bad}"
            );
        }
    }

    #[test]
    fn scope_map_actions() {
        assert!(valid_action("repositories/a/b/content/delete"));
        assert!(!valid_action("repositories/content/read"));
        assert!(!valid_action("registries/x/content/read"));
        assert!(valid_action("gateway/edge1/config/read"));
        assert!(valid_action("gateway/edge1/message/write"));
        assert!(!valid_action("gateway/edge1/content/read"));
        assert!(!valid_action("gateway/a/b/config/read"));
    }
}
