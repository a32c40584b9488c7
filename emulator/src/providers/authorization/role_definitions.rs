//! Role definitions (`RoleDefinitions_List`, `_Get`, `_CreateOrUpdate`, `_Delete`;
//! spec `authorization-RoleDefinitionsCalls.json` 2022-04-01).
//!
//! Lists at a scope show the built-in roles and the custom roles assignable
//! there; `$filter=roleName eq '…'` (case-insensitive, as az sends the name as
//! typed) and `type eq 'BuiltInRole'|'CustomRole'`. Ids come back under the
//! subscription of the scope (`/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}`),
//! which is what az copies into a role assignment.

use super::is_guid;
use crate::arm::{ArmError, ArmRequest, ResourceId, paging};
use crate::authz::access::{self, require};
use crate::authz::engine::scope_covers;
use crate::authz::roles::{self, RoleDefinition, RoleType};
use crate::providers::json_response;
use crate::state::AppState;
use crate::store::tables;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

pub const TYPE: &str = "Microsoft.Authorization/roleDefinitions";

/// Role definition ids live under the subscription.
fn id_scope(scope: &ResourceId) -> String {
    ResourceId::subscription(&scope.subscription).to_string()
}

fn render(role: &RoleDefinition, scope: &ResourceId) -> Value {
    role.to_arm_json(&id_scope(scope))
}

/// Built-ins and the custom roles whose assignable scopes cover `scope`.
fn visible(state: &AppState, scope: &ResourceId) -> Result<Vec<RoleDefinition>, ArmError> {
    let mut all: Vec<RoleDefinition> = roles::builtin().to_vec();
    let s = scope.to_string();
    for (_, row) in state.store.scan(tables::ROLE_DEFINITIONS, "")? {
        if let Some(r) = RoleDefinition::from_arm_json(&row)
            && r.assignable_scopes
                .iter()
                .any(|a| scope_covers(a, &s) || scope_covers(&s, a))
        {
            all.push(r);
        }
    }
    Ok(all)
}

/// `GET {scope}/providers/Microsoft.Authorization/roleDefinitions[?$filter=…]`
pub fn list(state: &AppState, req: &ArmRequest, scope: &ResourceId) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    if req.method != Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    require(
        state,
        req,
        "Microsoft.Authorization/roleDefinitions/read",
        &scope.to_string(),
    )?;
    let (name, ty) = parse_filter(req.query("$filter"))?;
    let items: Vec<Value> = visible(state, scope)?
        .iter()
        .filter(|r| {
            name.as_ref()
                .is_none_or(|n| r.role_name.eq_ignore_ascii_case(n))
        })
        .filter(|r| ty.is_none_or(|t| r.role_type == t))
        .map(|r| render(r, scope))
        .collect();
    Ok(json_response(StatusCode::OK, &paging::page(items, req)))
}

/// `roleName eq '…'`, `type eq '…'`, joined by `and`.
fn parse_filter(raw: Option<&str>) -> Result<(Option<String>, Option<RoleType>), ArmError> {
    let (mut name, mut ty) = (None, None);
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok((name, ty));
    };
    for clause in raw.split(" and ") {
        let (field, value) = clause
            .trim()
            .split_once(" eq ")
            .ok_or_else(|| ArmError::invalid_filter(raw))?;
        let value = value.trim().trim_matches('\'').to_string();
        match field.trim().to_ascii_lowercase().as_str() {
            "rolename" => name = Some(value),
            "type" if value.eq_ignore_ascii_case("BuiltInRole") => ty = Some(RoleType::BuiltIn),
            "type" if value.eq_ignore_ascii_case("CustomRole") => ty = Some(RoleType::Custom),
            _ => return Err(ArmError::invalid_filter(raw)),
        }
    }
    Ok((name, ty))
}

/// `{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}`
pub fn dispatch(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    guid: &str,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    match req.method {
        Method::GET => {
            require(
                state,
                req,
                "Microsoft.Authorization/roleDefinitions/read",
                &definition_id(scope, guid),
            )?;
            // A custom role shows only where it is assignable (at, above or
            // below the URL's scope), as in the list.
            let s = scope.to_string();
            let role = access::role_definition(state, guid)
                .filter(|r| {
                    r.role_type == RoleType::BuiltIn
                        || r.assignable_scopes
                            .iter()
                            .any(|a| scope_covers(a, &s) || scope_covers(&s, a))
                })
                .ok_or_else(ArmError::role_definition_not_found)?;
            Ok(json_response(StatusCode::OK, &render(&role, scope)))
        }
        Method::PUT => create_or_update(state, req, scope, guid),
        Method::DELETE => delete(state, req, scope, guid),
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

/// The id a role definition is addressed by in this request's URL.
fn definition_id(scope: &ResourceId, guid: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
}

/// `action` at the URL's scope was allowed; is it allowed at every one of
/// `scopes` too? Otherwise 403 naming the scopes it is not.
fn require_at_every_scope(
    state: &AppState,
    req: &ArmRequest,
    action: &str,
    url_scope: &ResourceId,
    scopes: &[String],
) -> Result<(), ArmError> {
    let mut missing: Vec<String> = Vec::new();
    for s in scopes {
        if !access::allows(state, &req.principal, action, s)?
            && !missing.iter().any(|m| same_scope(m, s))
        {
            missing.push(s.clone());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let err = ArmError::role_definition_linked_authorization_failed(
        &req.principal.app_id,
        &req.principal.object_id,
        action,
        &url_scope.to_string(),
        &missing,
    );
    access::trace_refusal(state, req, action, &missing.join(","), &err);
    Err(err)
}

fn same_scope(a: &str, b: &str) -> bool {
    scope_covers(a, b) && scope_covers(b, a)
}

/// An assignable scope of a custom role: an ARM scope (subscription,
/// resource group, resource), no wildcard, no dot segments, not `/`.
fn valid_assignable_scope(s: &str) -> bool {
    let segments_ok = s
        .split('/')
        .all(|seg| !seg.contains('*') && seg != "." && seg != "..");
    segments_ok
        && s.starts_with('/')
        && ResourceId::parse_prefix(s).is_some_and(|(_, rest)| rest.is_empty())
}

/// The role assignments (stored rows) that use role `guid`.
fn assignments_of_role(state: &AppState, guid: &str) -> Result<Vec<Value>, ArmError> {
    Ok(access::all_assignment_rows(state)?
        .into_iter()
        .filter(|v| {
            v["properties"]["roleDefinitionId"]
                .as_str()
                .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
                .is_some_and(|g| g.eq_ignore_ascii_case(guid))
        })
        .collect())
}

/// `PUT …/roleDefinitions/{guid}` → 201: a custom role.
fn create_or_update(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    guid: &str,
) -> Result<Response, ArmError> {
    const WRITE: &str = "Microsoft.Authorization/roleDefinitions/write";
    require(state, req, WRITE, &definition_id(scope, guid))?;
    if !is_guid(guid) {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRoleDefinitionId",
            format!(
                "The role definition ID '{guid}' is not valid. The role definition ID must be a GUID."
            ),
        ));
    }
    if roles::builtin_by_guid(guid).is_some() {
        return Err(ArmError::cannot_modify_built_in_role());
    }
    let body = req.json_object()?;
    let props = body.get("properties").cloned().unwrap_or(json!({}));
    let role_name = props["roleName"]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ArmError::new(
                StatusCode::BAD_REQUEST,
                "RoleDefinitionNameNullOrEmpty",
                "The role definition name cannot be null or empty.",
            )
        })?;
    let scopes: Vec<String> = props["assignableScopes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if scopes.is_empty() {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "MissingAssignableScopes",
            "The role definition must have at least one assignable scope.",
        ));
    }
    if let Some(bad) = scopes.iter().find(|s| !valid_assignable_scope(s)) {
        return Err(ArmError::invalid_assignable_scope(bad));
    }
    let key = guid.to_ascii_lowercase();
    let existed = state.store.get(tables::ROLE_DEFINITIONS, &key)?;
    let old_scopes: Vec<String> = existed
        .as_ref()
        .and_then(RoleDefinition::from_arm_json)
        .map(|r| r.assignable_scopes)
        .unwrap_or_default();
    // Every scope the role is, or was, assignable at.
    let every: Vec<String> = scopes.iter().chain(&old_scopes).cloned().collect();
    require_at_every_scope(state, req, WRITE, scope, &every)?;

    // Role names are unique in the tenant (built-in names included).
    let taken = roles::builtin()
        .iter()
        .any(|r| r.role_name.eq_ignore_ascii_case(role_name))
        || state
            .store
            .scan(tables::ROLE_DEFINITIONS, "")?
            .iter()
            .filter_map(|(_, row)| RoleDefinition::from_arm_json(row))
            .any(|r| {
                r.role_name.eq_ignore_ascii_case(role_name) && !r.id_guid.eq_ignore_ascii_case(guid)
            });
    if taken {
        return Err(ArmError::role_definition_with_same_name_exists());
    }
    // A scope may go only if no assignment of the role is left under it alone.
    if !old_scopes.is_empty() {
        let assigned = assignments_of_role(state, guid)?;
        for old in old_scopes
            .iter()
            .filter(|o| !scopes.iter().any(|n| same_scope(n, o)))
        {
            let orphaned = assigned.iter().any(|a| {
                a["properties"]["scope"].as_str().is_some_and(|at| {
                    scope_covers(old, at) && !scopes.iter().any(|n| scope_covers(n, at))
                })
            });
            if orphaned {
                return Err(ArmError::role_scope_being_removed_contains_assignments(old));
            }
        }
    }
    let now = crate::clock::arm_timestamp(req.now);
    let row = json!({
        "id": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{guid}", id_scope(scope)),
        "name": key,
        "type": TYPE,
        "properties": {
            "roleName": role_name,
            "type": "CustomRole",
            "description": props["description"].as_str().unwrap_or_default(),
            "assignableScopes": scopes,
            "permissions": props.get("permissions").cloned().unwrap_or(json!([])),
            "createdOn": existed.as_ref().map(|e| e["properties"]["createdOn"].clone()).unwrap_or(json!(now)),
            "updatedOn": now,
            "createdBy": existed.as_ref().map(|e| e["properties"]["createdBy"].clone()).unwrap_or(json!(req.principal.object_id)),
            "updatedBy": req.principal.object_id,
        }
    });
    let role = RoleDefinition::from_arm_json(&row).ok_or_else(|| {
        ArmError::invalid_request_content("The role definition's permissions are malformed.")
    })?;
    state.store.put(tables::ROLE_DEFINITIONS, &key, row)?;
    Ok(json_response(StatusCode::CREATED, &render(&role, scope)))
}

/// `DELETE …/roleDefinitions/{guid}` → 200 with the role, 204 if there was none.
fn delete(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    guid: &str,
) -> Result<Response, ArmError> {
    const DELETE: &str = "Microsoft.Authorization/roleDefinitions/delete";
    require(state, req, DELETE, &definition_id(scope, guid))?;
    if roles::builtin_by_guid(guid).is_some() {
        return Err(ArmError::cannot_modify_built_in_role());
    }
    let key = guid.to_ascii_lowercase();
    let Some(row) = state.store.get(tables::ROLE_DEFINITIONS, &key)? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let role = RoleDefinition::from_arm_json(&row);
    if let Some(r) = &role {
        require_at_every_scope(state, req, DELETE, scope, &r.assignable_scopes)?;
    }
    if !assignments_of_role(state, guid)?.is_empty() {
        return Err(ArmError::role_definition_has_assignments());
    }
    state.store.delete(tables::ROLE_DEFINITIONS, &key)?;
    match role {
        Some(r) => Ok(json_response(StatusCode::OK, &render(&r, scope))),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
