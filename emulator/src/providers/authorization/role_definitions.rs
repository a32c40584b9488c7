//! Role definitions (`RoleDefinitions_List`, `_Get`, `_CreateOrUpdate`, `_Delete`;
//! spec `authorization-RoleDefinitionsCalls.json` 2022-04-01), Azure's rules
//! as a [`Behaviour`] of the spec layer ([`crate::providers::by_spec`]), which
//! routes them (`/{scope}/…`, [`Behaviour::any_scope`]), checks api-versions,
//! pages and shapes. Built-in roles are the embedded catalog, custom ones rows
//! of `tables::ROLE_DEFINITIONS` ([`Behaviour::rows`]).
//!
//! Lists at a scope show the built-in roles and the custom roles assignable
//! there; `$filter=roleName eq '…'` (case-insensitive, as az sends the name as
//! typed) and `type eq 'BuiltInRole'|'CustomRole'`. Ids come back under the
//! subscription of the scope (`/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}`),
//! which is what az copies into a role assignment.

use super::{extension_scope, extension_type, is_guid, list_read};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::authz::access::{self, require};
use crate::authz::engine::scope_covers;
use crate::authz::roles::{self, RoleDefinition, RoleType};
use crate::providers::by_spec::{Behaviour, Ctx, Rows};
use crate::state::AppState;
use crate::store::tables;
use http::{Method, StatusCode};
use serde_json::{Value, json};

pub const TYPE: &str = "Microsoft.Authorization/roleDefinitions";

pub const ROLE_DEFINITIONS: Behaviour = Behaviour {
    on_delete: Some(on_delete),
    ..extension_type(
        TYPE,
        before_read,
        &ROWS,
        on_write,
        &[("roleDefinitions", list)],
    )
};

const ROWS: Rows = Rows {
    get,
    put,
    delete,
    missing: Some(|_| ArmError::role_definition_not_found()),
    remove_within: None,
};

/// Role definition ids live under the subscription.
fn id_scope(scope: &ResourceId) -> String {
    ResourceId::subscription(&scope.subscription).to_string()
}

fn render(role: &RoleDefinition, scope: &ResourceId) -> Value {
    role.to_arm_json(&id_scope(scope))
}

/// A custom role as Azure returns it: its stored properties (the dates and
/// who wrote it included), then `id` (under the URL's subscription), `type`
/// and `name`, in that order (azure-cli's recording
/// `test_role_definition_scenario.yaml`: PUT 201, list, DELETE 200).
fn render_custom(row: &Value, scope: &ResourceId) -> Value {
    let name = row["name"].as_str().unwrap_or_default();
    json!({
        "properties": row["properties"],
        "id": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{name}", id_scope(scope)),
        "type": TYPE,
        "name": name,
    })
}

/// Built-ins and the custom roles whose assignable scopes cover `scope`,
/// each with its answer.
fn visible(state: &AppState, scope: &ResourceId) -> Result<Vec<(RoleDefinition, Value)>, ArmError> {
    let mut all: Vec<(RoleDefinition, Value)> = roles::builtin()
        .iter()
        .map(|r| (r.clone(), render(r, scope)))
        .collect();
    let s = scope.to_string();
    for (_, row) in state.store.scan(tables::ROLE_DEFINITIONS, "")? {
        if let Some(r) = RoleDefinition::from_arm_json(&row)
            && r.assignable_scopes
                .iter()
                .any(|a| scope_covers(a, &s) || scope_covers(&s, a))
        {
            all.push((r, render_custom(&row, scope)));
        }
    }
    Ok(all)
}

/// `GET {scope}/providers/Microsoft.Authorization/roleDefinitions[?$filter=…]`
/// (the caller may read at the scope: [`before_read`]).
fn list(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    let (name, ty) = parse_filter(cx.req.query("$filter"))?;
    Ok(visible(cx.state, &cx.id)?
        .into_iter()
        .filter(|(r, _)| {
            name.as_ref()
                .is_none_or(|n| r.role_name.eq_ignore_ascii_case(n))
        })
        .filter(|(r, _)| ty.is_none_or(|t| r.role_type == t))
        .map(|(_, v)| v)
        .collect())
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

const WRITE: &str = "Microsoft.Authorization/roleDefinitions/write";
const DELETE: &str = "Microsoft.Authorization/roleDefinitions/delete";

/// Before the spec layer reads anything: the caller's access (a list at its
/// scope; one role at `{scope}/providers/…/roleDefinitions/{guid}`), then what
/// the URL alone settles: a custom role read where it is not assignable is
/// not there; a write needs a GUID; built-in roles are never written or deleted.
fn before_read(cx: &Ctx) -> Result<(), ArmError> {
    let (state, req) = (cx.state, cx.req);
    if let Some(listing) = list_read(cx, TYPE) {
        return listing;
    }
    let scope = extension_scope(&cx.id);
    let guid = cx.id.name();
    match req.method {
        Method::PUT => {
            require(state, req, WRITE, &definition_id(&scope, guid))?;
            if !is_guid(guid) {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidRoleDefinitionId",
                    format!(
                        "The role definition ID '{guid}' is not valid. The role definition ID must be a GUID."
                    ),
                ));
            }
            refuse_built_in(guid)
        }
        Method::DELETE => {
            require(state, req, DELETE, &definition_id(&scope, guid))?;
            refuse_built_in(guid)
        }
        _ => {
            require(
                state,
                req,
                "Microsoft.Authorization/roleDefinitions/read",
                &definition_id(&scope, guid),
            )?;
            // A custom role shows only where it is assignable (at, above or
            // below the URL's scope), as in the list.
            let s = scope.to_string();
            access::role_definition(state, guid)
                .filter(|r| {
                    r.role_type == RoleType::BuiltIn
                        || r.assignable_scopes
                            .iter()
                            .any(|a| scope_covers(a, &s) || scope_covers(&s, a))
                })
                .map(|_| ())
                .ok_or_else(ArmError::role_definition_not_found)
        }
    }
}

fn refuse_built_in(guid: &str) -> Result<(), ArmError> {
    match roles::builtin_by_guid(guid) {
        Some(_) => Err(ArmError::cannot_modify_built_in_role()),
        None => Ok(()),
    }
}

/// A role definition by id: a built-in, or a custom role as stored (one that
/// does not read as a role comes back as stored), its id under the URL's subscription.
fn get(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    let scope = extension_scope(id);
    if let Some(r) = roles::builtin_by_guid(id.name()) {
        return Ok(Some(render(r, &scope)));
    }
    let Some(row) = state
        .store
        .get(tables::ROLE_DEFINITIONS, &id.name().to_ascii_lowercase())?
    else {
        return Ok(None);
    };
    Ok(Some(match RoleDefinition::from_arm_json(&row) {
        Some(_) => render_custom(&row, &scope),
        None => row,
    }))
}

/// Store the custom role [`on_write`] built; answered as a read shows it.
fn put(cx: &Ctx, id: &ResourceId, row: Value) -> Result<Value, ArmError> {
    RoleDefinition::from_arm_json(&row).ok_or_else(malformed)?;
    let key = id.name().to_ascii_lowercase();
    let answer = render_custom(&row, &extension_scope(id));
    cx.state.store.put(tables::ROLE_DEFINITIONS, &key, row)?;
    Ok(answer)
}

fn delete(cx: &Ctx, id: &ResourceId) -> Result<(), ArmError> {
    cx.state
        .store
        .delete(tables::ROLE_DEFINITIONS, &id.name().to_ascii_lowercase())?;
    Ok(())
}

fn malformed() -> ArmError {
    ArmError::invalid_request_content("The role definition's permissions are malformed.")
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

/// `PUT …/roleDefinitions/{guid}` → 201: a custom role (the caller may write
/// it at the URL's scope, and the guid is no built-in's: [`before_read`]).
/// `row` holds the body as the schema cleaned it; it becomes the row to store.
fn on_write(cx: &Ctx, row: &mut Value, _existing: Option<&Value>) -> Result<(), ArmError> {
    let (state, req) = (cx.state, cx.req);
    let scope = &extension_scope(&cx.id);
    let guid = cx.id.name();
    let props = row["properties"].clone();
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
    let stored = json!({
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
    RoleDefinition::from_arm_json(&stored).ok_or_else(malformed)?;
    *row = stored;
    Ok(())
}

/// `DELETE …/roleDefinitions/{guid}` of a custom role that exists (the spec
/// layer answers 204 for one that does not, 200 with the role once gone): the
/// caller may delete it at every scope it is assignable at, and nothing uses it.
fn on_delete(cx: &Ctx, role: &Value) -> Result<(), ArmError> {
    let scope = extension_scope(&cx.id);
    if let Some(r) = RoleDefinition::from_arm_json(role) {
        require_at_every_scope(cx.state, cx.req, DELETE, &scope, &r.assignable_scopes)?;
    }
    if !assignments_of_role(cx.state, cx.id.name())?.is_empty() {
        return Err(ArmError::role_definition_has_assignments());
    }
    Ok(())
}
