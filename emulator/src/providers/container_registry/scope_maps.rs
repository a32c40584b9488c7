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
//! [`token_grants`]). Registries carry three system scope maps,
//! `_repositories_admin`, `_repositories_pull` and `_repositories_push`:
//! built in ([`system_maps`]), never stored, never modified.
//!
//! As azure-cli's acr recordings (`test_repository_token_create`,
//! `test_acr_connectedregistry`) show them: `type`, `id`, `name`,
//! `systemData`, then the properties; a token's `credentials` list its
//! passwords' names and dates, not their values.
use crate::arm::{ArmError, ResourceId};
use crate::clock::arm_timestamp;
use crate::providers::by_spec::{Behaviour, Ctx};
use crate::providers::json_response;
use crate::state::AppState;
use crate::store::tables;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

pub const SCOPE_MAP_TYPE: &str = "Microsoft.ContainerRegistry/registries/scopeMaps";
pub const TOKEN_TYPE: &str = "Microsoft.ContainerRegistry/registries/tokens";

const SYSTEM_MAPS: &[(&str, &str, &[&str])] = &[
    (
        "_repositories_admin",
        "Can perform all read, write and delete operations on the registry",
        &[
            "repositories/*/metadata/read",
            "repositories/*/metadata/write",
            "repositories/*/content/read",
            "repositories/*/content/write",
            "repositories/*/content/delete",
        ],
    ),
    (
        "_repositories_pull",
        "Can pull any repository of the registry",
        &["repositories/*/content/read"],
    ),
    (
        "_repositories_push",
        "Can push to any repository of the registry",
        &[
            "repositories/*/content/read",
            "repositories/*/content/write",
        ],
    ),
];

fn system_map(registry: &ResourceId, name: &str) -> Option<Value> {
    let (n, desc, actions) = SYSTEM_MAPS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))?;
    Some(json!({
        "id": registry.child(super::NAMESPACE, "scopeMaps", n).to_string(),
        "name": n,
        "type": SCOPE_MAP_TYPE,
        "properties": {"description": desc, "type": "SystemDefined", "creationDate": "2019-01-01T00:00:00.0000000Z", "provisioningState": "Succeeded", "actions": actions},
    }))
}

pub const SCOPE_MAPS: Behaviour = Behaviour {
    on_write: Some(scope_map_write),
    on_delete: Some(scope_map_delete),
    built_in: Some(system_maps),
    // As azure-cli's acr recordings have them (`test_repository_token_create`,
    // `test_acr_connectedregistry`): a creating PUT answers 200, a PATCH 201.
    statuses: &[("PUT", 200), ("PATCH", 201)],
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
    p.insert("provisioningState".into(), json!("Succeeded"));
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
    p.insert("provisioningState".into(), json!("Succeeded"));
    p.insert("scopeMapId".into(), json!(scope_map_id));
    p.insert("status".into(), json!(status));
    *row = envelope(row, p);
    Ok(())
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

/// Is a stored password still valid at `now`? No expiry: yes; an expiry that
/// has passed, or that cannot be read: no (never valid forever by accident).
fn password_current(p: &Value, now: time::OffsetDateTime) -> bool {
    match &p["expiry"] {
        Value::Null => true,
        Value::String(e) => {
            time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339)
                .is_ok_and(|t| t > now)
        }
        _ => false,
    }
}

/// A repository token logging in with `password`: its scope map's actions, if the
/// token exists, is enabled and the password matches and has not expired.
pub fn token_grants(
    state: &AppState,
    registry: &Value,
    user: &str,
    password: &str,
) -> Option<Vec<String>> {
    let reg: ResourceId = registry["id"].as_str()?.parse().ok()?;
    let id = reg.child(super::NAMESPACE, "tokens", user);
    let row = state.resources().get(&id).ok()??;
    if row["properties"]["status"] != "enabled" {
        return None;
    }
    let secrets = state.store.get(tables::ACR_CREDENTIALS, &id.key()).ok()??;
    let now = state.clock.now();
    let ok = ["password1", "password2"].iter().any(|n| {
        let p = &secrets[*n];
        p["value"].as_str() == Some(password) && password_current(p, now)
    });
    if !ok {
        return None;
    }
    let map_name = row["properties"]["scopeMapId"]
        .as_str()?
        .rsplit('/')
        .next()?
        .to_string();
    let map = system_map(&reg, &map_name).or_else(|| {
        state
            .store
            .get(
                tables::RESOURCES,
                &reg.child(super::NAMESPACE, "scopeMaps", &map_name).key(),
            )
            .ok()?
    })?;
    serde_json::from_value(map["properties"]["actions"].clone()).ok()
}

/// Does a scope-map action list allow `verb` (`content/read`, …) on `repository`?
pub fn scope_map_allows(actions: &[String], repository: &str, verb: &str) -> bool {
    actions.iter().any(|a| {
        let Some(pattern) = a
            .strip_prefix("repositories/")
            .and_then(|r| r.strip_suffix(&format!("/{verb}")))
        else {
            return false;
        };
        pattern == "*"
            || pattern.eq_ignore_ascii_case(repository)
            || pattern.strip_suffix("/*").is_some_and(|prefix| {
                repository
                    .to_ascii_lowercase()
                    .starts_with(&format!("{}/", prefix.to_ascii_lowercase()))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_expiry_fails_closed() {
        let now = time::OffsetDateTime::now_utc();
        let later = arm_timestamp(now + time::Duration::days(1));
        assert!(password_current(&json!({"expiry": null}), now));
        assert!(password_current(&json!({}), now));
        assert!(password_current(&json!({"expiry": later}), now));
        for bad in [
            json!("never"),
            json!("2020-01-01T00:00:00Z"),
            json!(1),
            json!("2030-01-01T00:00:00"),
        ] {
            assert!(!password_current(&json!({"expiry": bad}), now), "{bad}");
        }
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
    fn scope_map_matching() {
        let a = vec![
            "repositories/team-a/*/content/read".to_string(),
            "repositories/hello/content/write".to_string(),
        ];
        assert!(scope_map_allows(&a, "team-a/app", "content/read"));
        assert!(!scope_map_allows(&a, "team-b/app", "content/read"));
        assert!(!scope_map_allows(&a, "team-a", "content/read"));
        assert!(scope_map_allows(&a, "hello", "content/write"));
        assert!(!scope_map_allows(&a, "hello", "content/read"));
        assert!(valid_action("repositories/a/b/content/delete"));
        assert!(!valid_action("repositories/content/read"));
        assert!(!valid_action("registries/x/content/read"));
        assert!(valid_action("gateway/edge1/config/read"));
        assert!(valid_action("gateway/edge1/message/write"));
        assert!(!valid_action("gateway/edge1/content/read"));
        assert!(!valid_action("gateway/a/b/config/read"));
        // A gateway action grants nothing on repositories.
        let g = vec!["gateway/edge1/config/read".to_string()];
        assert!(!scope_map_allows(&g, "edge1", "config/read"));
    }
}
