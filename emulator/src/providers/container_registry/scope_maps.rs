//! Repository-scoped access: scope maps (`ScopeMaps_*`) and tokens
//! (`Tokens_*`, `Registries_GenerateCredentials`), children of a registry.
//!
//! A scope map lists actions `repositories/<name or prefix/*>/<content|metadata>/<read|write|delete>`;
//! a token names one scope map, has a status and up to two passwords. On the
//! data plane the token's name and a password log in with exactly the scope
//! map's actions (see [`token_grants`]). Registries carry three system scope
//! maps: `_repositories_admin`, `_repositories_pull`, `_repositories_push`.

use crate::arm::{ArmError, ArmRequest, ResourceId, paging};
use crate::clock::arm_timestamp;
use crate::providers::json_response;
use crate::state::AppState;
use crate::store::tables;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

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

fn load(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    Ok(state.resources().get(id)?)
}

fn not_found(id: &ResourceId, registry: &ResourceId) -> ArmError {
    ArmError::resource_not_found(
        &format!("{}/{}", id.resource_type(), id.name()),
        registry.resource_group.as_deref().unwrap_or_default(),
    )
}

/// Children of `registry` of `ty`, as stored (plus the system scope maps).
fn children(state: &AppState, registry: &ResourceId, ty: &str) -> Result<Vec<Value>, ArmError> {
    let mut out = state.resources().children(registry, ty)?;
    if ty == SCOPE_MAP_TYPE {
        out.extend(
            SYSTEM_MAPS
                .iter()
                .filter_map(|(n, _, _)| system_map(registry, n)),
        );
    }
    Ok(out)
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

/// `{REG}/scopeMaps[/{name}]`
pub fn scope_maps(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
    name: Option<&str>,
) -> Result<Response, ArmError> {
    let Some(name) = name else {
        return match req.method {
            Method::GET => Ok(json_response(
                StatusCode::OK,
                &paging::page(children(state, registry, SCOPE_MAP_TYPE)?, req),
            )),
            ref m => Err(ArmError::method_not_allowed(m.as_str())),
        };
    };
    let id = registry.child(super::NAMESPACE, "scopeMaps", name);
    let system = system_map(registry, name);
    match req.method {
        Method::GET => system
            .or(load(state, &id)?)
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(|| not_found(&id, registry)),
        Method::PUT | Method::PATCH => {
            if system.is_some() {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "CannotModifySystemScopeMap",
                    "System defined scope maps cannot be modified or deleted.",
                ));
            }
            let existing = load(state, &id)?;
            if req.method == Method::PATCH && existing.is_none() {
                return Err(not_found(&id, registry));
            }
            let body = req.json_object()?;
            let props = body.get("properties").cloned().unwrap_or(json!({}));
            // PUT replaces the map; PATCH keeps what it does not send.
            let kept = existing.as_ref().filter(|_| req.method == Method::PATCH);
            let actions: Vec<String> = match props["actions"].as_array() {
                Some(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                None => kept
                    .and_then(|e| serde_json::from_value(e["properties"]["actions"].clone()).ok())
                    .unwrap_or_default(),
            };
            if actions.is_empty() || !actions.iter().all(|a| valid_action(a)) {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidScopeMapActions",
                    format!(
                        "The scope map actions {actions:?} are invalid. Each action must look like 'repositories/<repository>/content/read'."
                    ),
                ));
            }
            let created = existing
                .as_ref()
                .map(|e| e["properties"]["creationDate"].clone())
                .unwrap_or(json!(arm_timestamp(req.now)));
            let mut row = json!({
                "id": id.to_string(), "name": name, "type": SCOPE_MAP_TYPE,
                "properties": {
                    "type": "UserDefined", "creationDate": created, "provisioningState": "Succeeded", "actions": actions,
                },
            });
            // `description` only when there is one (none in Azure's answer to `acr scope-map create` without it).
            if let Some(d) = props["description"]
                .as_str()
                .or(kept.and_then(|e| e["properties"]["description"].as_str()))
            {
                row["properties"]["description"] = json!(d);
            }
            state.resources().put(&id, row.clone())?;
            // Azure's statuses as recorded in azure-cli's acr tests: PUT answers 200
            // even when it creates the map (`acr scope-map create`, `acr token
            // create`), PATCH 201 (`acr connected-registry permissions update`).
            Ok(json_response(
                if req.method == Method::PATCH {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &row,
            ))
        }
        Method::DELETE => {
            if system.is_some() {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "CannotModifySystemScopeMap",
                    "System defined scope maps cannot be modified or deleted.",
                ));
            }
            match state.resources().delete(&id)? {
                Some(_) => Ok(StatusCode::OK.into_response()),
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

fn render_token(row: &Value, secrets: Option<&Value>) -> Value {
    let mut r = row.clone();
    let passwords: Vec<Value> = ["password1", "password2"]
        .iter()
        .filter_map(|n| {
            secrets.and_then(|s| s.get(*n)).map(
                |p| json!({"name": n, "creationTime": p["creationTime"], "expiry": p["expiry"]}),
            )
        })
        .collect();
    r["properties"]["credentials"] = json!({"certificates": [], "passwords": passwords});
    r
}

/// `{REG}/tokens[/{name}]`
pub fn tokens(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
    name: Option<&str>,
) -> Result<Response, ArmError> {
    let Some(name) = name else {
        return match req.method {
            Method::GET => {
                let items = children(state, registry, TOKEN_TYPE)?
                    .iter()
                    .map(|t| {
                        let key = t["id"].as_str().unwrap_or_default().to_ascii_lowercase();
                        render_token(
                            t,
                            state
                                .store
                                .get(tables::ACR_CREDENTIALS, &key)
                                .ok()
                                .flatten()
                                .as_ref(),
                        )
                    })
                    .collect();
                Ok(json_response(StatusCode::OK, &paging::page(items, req)))
            }
            ref m => Err(ArmError::method_not_allowed(m.as_str())),
        };
    };
    let id = registry.child(super::NAMESPACE, "tokens", name);
    let secrets = state.store.get(tables::ACR_CREDENTIALS, &id.key())?;
    match req.method {
        Method::GET => {
            let row = load(state, &id)?.ok_or_else(|| not_found(&id, registry))?;
            Ok(json_response(
                StatusCode::OK,
                &render_token(&row, secrets.as_ref()),
            ))
        }
        Method::PUT | Method::PATCH => {
            let existing = load(state, &id)?;
            if req.method == Method::PATCH && existing.is_none() {
                return Err(not_found(&id, registry));
            }
            let body = req.json_object()?;
            let props = body.get("properties").cloned().unwrap_or(json!({}));
            let scope_map_id = props["scopeMapId"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    existing
                        .as_ref()
                        .and_then(|e| e["properties"]["scopeMapId"].as_str().map(str::to_string))
                })
                .ok_or_else(|| {
                    ArmError::invalid_request_content("The property 'scopeMapId' is required.")
                })?;
            let map_name = scope_map_id.rsplit('/').next().unwrap_or_default();
            let map_ok = system_map(registry, map_name).is_some()
                || load(
                    state,
                    &registry.child(super::NAMESPACE, "scopeMaps", map_name),
                )?
                .is_some();
            if !map_ok {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "ScopeMapNotFound",
                    format!("The scope map '{scope_map_id}' does not exist."),
                ));
            }
            let status = match props["status"]
                .as_str()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("disabled") => "disabled",
                Some("enabled") => "enabled",
                Some(other) => {
                    return Err(ArmError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameter",
                        format!("The token status '{other}' is not valid."),
                    ));
                }
                None => existing
                    .as_ref()
                    .and_then(|e| e["properties"]["status"].as_str())
                    .map(|s| {
                        if s == "disabled" {
                            "disabled"
                        } else {
                            "enabled"
                        }
                    })
                    .unwrap_or("enabled"),
            };
            let created = existing
                .as_ref()
                .map(|e| e["properties"]["creationDate"].clone())
                .unwrap_or(json!(arm_timestamp(req.now)));
            let row = json!({
                "id": id.to_string(), "name": name, "type": TOKEN_TYPE,
                "properties": {"creationDate": created, "scopeMapId": scope_map_id, "provisioningState": "Succeeded", "status": status},
            });
            state.resources().put(&id, row.clone())?;
            Ok(json_response(
                if existing.is_some() {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                },
                &render_token(&row, secrets.as_ref()),
            ))
        }
        Method::DELETE => {
            state.store.delete(tables::ACR_CREDENTIALS, &id.key())?;
            match state.resources().delete(&id)? {
                Some(_) => Ok(StatusCode::OK.into_response()),
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

/// `POST {REG}/generateCredentials` `{tokenId, name?: password1|password2, expiry?}`
pub fn generate_credentials(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
) -> Result<Response, ArmError> {
    let body = req.json_object()?;
    let token_id = body
        .get("tokenId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = token_id.rsplit('/').next().unwrap_or_default();
    let id = registry.child(super::NAMESPACE, "tokens", name);
    if token_id.is_empty() || load(state, &id)?.is_none() {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "TokenNotFound",
            format!("The token '{token_id}' does not exist."),
        ));
    }
    let which: Vec<&str> = match body.get("name").and_then(Value::as_str) {
        Some("password1") => vec!["password1"],
        Some("password2") => vec!["password2"],
        Some(other) => {
            return Err(ArmError::new(
                StatusCode::BAD_REQUEST,
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
