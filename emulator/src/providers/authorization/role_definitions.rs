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
    let s = scope.to_string();
    match req.method {
        Method::GET => {
            require(
                state,
                req,
                "Microsoft.Authorization/roleDefinitions/read",
                &s,
            )?;
            let role = access::role_definition(state, guid)
                .ok_or_else(ArmError::role_definition_not_found)?;
            Ok(json_response(StatusCode::OK, &render(&role, scope)))
        }
        Method::PUT => create_or_update(state, req, scope, guid),
        Method::DELETE => {
            require(
                state,
                req,
                "Microsoft.Authorization/roleDefinitions/delete",
                &s,
            )?;
            if roles::builtin_by_guid(guid).is_some() {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "CannotModifyBuiltInRole",
                    "Built-in roles cannot be modified or deleted.",
                ));
            }
            match state
                .store
                .delete(tables::ROLE_DEFINITIONS, &guid.to_ascii_lowercase())?
            {
                Some(row) => match RoleDefinition::from_arm_json(&row) {
                    Some(r) => Ok(json_response(StatusCode::OK, &render(&r, scope))),
                    None => Ok(StatusCode::NO_CONTENT.into_response()),
                },
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

/// `PUT …/roleDefinitions/{guid}` → 201: a custom role.
fn create_or_update(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    guid: &str,
) -> Result<Response, ArmError> {
    require(
        state,
        req,
        "Microsoft.Authorization/roleDefinitions/write",
        &scope.to_string(),
    )?;
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
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "CannotModifyBuiltInRole",
            "Built-in roles cannot be modified or deleted.",
        ));
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
    let taken = visible(state, scope)?.iter().any(|r| {
        r.role_name.eq_ignore_ascii_case(role_name) && !r.id_guid.eq_ignore_ascii_case(guid)
    });
    if taken {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "RoleDefinitionWithSameNameExists",
            "A custom role with the same name already exists in this directory. Use a different name.",
        ));
    }
    let existed = state
        .store
        .get(tables::ROLE_DEFINITIONS, &guid.to_ascii_lowercase())?;
    let now = crate::clock::arm_timestamp(req.now);
    let row = json!({
        "id": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{guid}", id_scope(scope)),
        "name": guid.to_ascii_lowercase(),
        "type": TYPE,
        "properties": {
            "roleName": role_name,
            "type": "CustomRole",
            "description": props["description"].as_str().unwrap_or_default(),
            "assignableScopes": scopes,
            "permissions": props.get("permissions").cloned().unwrap_or(json!([])),
            "createdOn": existed.as_ref().map(|e| e["properties"]["createdOn"].clone()).unwrap_or(json!(now)),
            "updatedOn": now,
            "createdBy": req.principal.object_id,
            "updatedBy": req.principal.object_id,
        }
    });
    let role = RoleDefinition::from_arm_json(&row).ok_or_else(|| {
        ArmError::invalid_request_content("The role definition's permissions are malformed.")
    })?;
    state
        .store
        .put(tables::ROLE_DEFINITIONS, &guid.to_ascii_lowercase(), row)?;
    Ok(json_response(StatusCode::CREATED, &render(&role, scope)))
}
