//! The one `authorize()`: every plane (ARM, the registry data plane, container
//! pulls, task runs) asks it, with the caller, an action or data action, a
//! scope and the request's attributes. It loads the role assignments and
//! definitions from the store and hands them to the pure [`super::engine`].

use super::engine::{self, ActionKind, Assignment, Decision};
use super::roles::{self, RoleDefinition};
use crate::arm::{ArmError, ArmRequest};
use crate::entra::Principal;
use crate::state::AppState;
use crate::store::{StoreResult, tables};
use serde_json::Value;

/// One authorization question.
pub struct Question<'a> {
    pub principal: &'a Principal,
    pub action: &'a str,
    pub kind: ActionKind,
    /// An ARM id (`/subscriptions/…`), compared case-insensitively.
    pub scope: &'a str,
    /// Request attributes for ABAC conditions (`Microsoft.ContainerRegistry/registries/repositories:name`).
    pub attributes: &'a dyn Fn(&str) -> Option<String>,
}

fn no_attributes(_: &str) -> Option<String> {
    None
}

/// Decide. The [`Decision`] names the assignments that granted, or why none did.
pub fn authorize(state: &AppState, q: &Question) -> StoreResult<Decision> {
    let assignments = assignments_of(state, &q.principal.object_id)?;
    let ids = [q.principal.object_id.to_ascii_lowercase()];
    let req = engine::Request {
        principal_ids: &ids,
        action: q.action,
        kind: q.kind,
        scope: q.scope,
        attributes: q.attributes,
    };
    let lookup = |guid: &str| role_definition(state, guid);
    Ok(engine::evaluate(&req, &assignments, &[], &lookup))
}

/// ARM's check: `action` on `scope` or 403 AuthorizationFailed.
pub fn require(
    state: &AppState,
    req: &ArmRequest,
    action: &str,
    scope: &str,
) -> Result<(), ArmError> {
    if allows(state, &req.principal, action, scope)? {
        Ok(())
    } else {
        let err = ArmError::authorization_failed(
            &req.principal.app_id,
            &req.principal.object_id,
            action,
            scope,
        );
        trace_refusal(state, req, action, scope, &err);
        Err(err)
    }
}

/// A refused ARM call (`action` on `scope`, the request's own or a linked one),
/// kept as a decision trace (kind `arm`) for `azemu explain`.
pub fn trace_refusal(
    state: &AppState,
    req: &ArmRequest,
    action: &str,
    scope: &str,
    err: &ArmError,
) {
    let p = &req.principal;
    let mut t = crate::trace::Trace::new(
        "arm",
        scope,
        &format!("{} {} ({action})", req.method, req.path),
        crate::clock::arm_timestamp(state.clock.now()),
    );
    t.request_id = ["x-ms-correlation-request-id", "x-ms-client-request-id"]
        .iter()
        .find_map(|h| req.headers.get(*h)?.to_str().ok().map(str::to_string));
    t.subject = serde_json::json!({
        "kind": "principal", "principalId": p.object_id, "appId": p.app_id,
        "type": if p.kind == crate::entra::PrincipalKind::ManagedIdentity { "managed identity" } else { "service principal" },
    });
    t.step(
        "credentials",
        true,
        format!("Entra token for tenant {} verified", p.tenant_id),
    );
    let held = describe_assignments(state, &p.object_id);
    t.step(
        "authorize",
        false,
        format!(
            "no role grants '{action}' at {scope}; role assignments considered: {}",
            if held.is_empty() {
                "none".to_string()
            } else {
                held.join("; ")
            }
        ),
    );
    let role = if action
        .eq_ignore_ascii_case("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action")
    {
        "\"Managed Identity Operator\""
    } else {
        "Contributor"
    };
    t.fix = Some(format!(
        "assign a role whose actions include '{action}' at {scope} or above, e.g. az role assignment create --assignee-object-id {} --assignee-principal-type ServicePrincipal --role {role} --scope {scope}",
        p.object_id
    ));
    t.finish(&state.traces, format!("{}: {}", err.code, err.message));
}

/// May `principal` perform control-plane `action` on `scope`?
pub fn allows(
    state: &AppState,
    principal: &Principal,
    action: &str,
    scope: &str,
) -> StoreResult<bool> {
    let d = authorize(
        state,
        &Question {
            principal,
            action,
            kind: ActionKind::Control,
            scope,
            attributes: &no_attributes,
        },
    )?;
    Ok(matches!(d, Decision::Allowed { .. }))
}

/// Does `principal` hold any role assignment at, above or below `scope`?
/// (ARM shows a subscription to anyone with access somewhere inside it.)
pub fn has_any_access_within(
    state: &AppState,
    principal: &Principal,
    scope: &str,
) -> StoreResult<bool> {
    Ok(assignments_of(state, &principal.object_id)?
        .iter()
        .any(|a| engine::scope_covers(&a.scope, scope) || engine::scope_covers(scope, &a.scope)))
}

/// A role definition by GUID: built-in, or custom from the store.
pub fn role_definition(state: &AppState, guid: &str) -> Option<RoleDefinition> {
    if let Some(r) = roles::builtin_by_guid(guid) {
        return Some(r.clone());
    }
    let row = state
        .store
        .get(tables::ROLE_DEFINITIONS, &guid.to_ascii_lowercase())
        .ok()??;
    RoleDefinition::from_arm_json(&row)
}

/// The assignments naming `object_id`.
pub fn assignments_of(state: &AppState, object_id: &str) -> StoreResult<Vec<Assignment>> {
    let delay = state.config.rbac_propagation;
    let now = state.clock.now();
    // With a propagation delay, what authorize() sees lags the writes: an
    // assignment counts once `createdOn + delay` has passed, and a deleted one
    // keeps counting until `deletedOn + delay`.
    let propagated = |v: &Value, field: &str| {
        v["properties"][field]
            .as_str()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .is_none_or(|t| t + delay <= now)
    };
    let mut rows = assignment_rows_of(state, object_id)?;
    if !delay.is_zero() {
        rows.retain(|v| propagated(v, "createdOn"));
        rows.extend(
            state
                .store
                .scan(tables::ROLE_ASSIGNMENT_TOMBSTONES, "")?
                .into_iter()
                .map(|(_, v)| v)
                .filter(|v| propagated(v, "createdOn") && !propagated(v, "deletedOn")),
        );
    }
    Ok(rows
        .iter()
        .filter(|v| {
            v["properties"]["principalId"]
                .as_str()
                .is_some_and(|p| p.eq_ignore_ascii_case(object_id))
        })
        .filter_map(assignment_from_row)
        .collect())
}

/// A principal's role assignments as people read them: `RoleName @ scope`.
pub fn describe_assignments(state: &AppState, object_id: &str) -> Vec<String> {
    assignments_of(state, object_id)
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let guid = &a.role_definition_guid;
            let name = role_definition(state, guid)
                .map(|r| r.role_name)
                .unwrap_or_else(|| guid.to_string());
            format!("{name} @ {}", a.scope)
        })
        .collect()
}

/// Write a role assignment (the only way one is written): the store, then the
/// index (at once: should the write be rolled back, the entry only points at
/// a row that is not there).
pub fn put_assignment(state: &AppState, key: &str, row: Value) -> StoreResult<()> {
    state
        .store
        .put(tables::ROLE_ASSIGNMENTS, key, row.clone())?;
    state.assignment_index.insert(key, &row);
    Ok(())
}

/// Delete a role assignment (the only way one is deleted): the store, then
/// the index, once the deletion has committed (a transaction that aborts
/// keeps the assignment, so the index must too; an index entry whose row is
/// gone is harmless: [`assignment_rows_of`] reads the rows).
pub fn delete_assignment(state: &AppState, key: &str) -> StoreResult<Option<Value>> {
    let gone = state.store.delete(tables::ROLE_ASSIGNMENTS, key)?;
    if let Some(row) = gone.clone() {
        let (index, store) = (state.assignment_index.clone(), state.store.clone());
        let key = key.to_string();
        state.store.after_commit(Box::new(move || {
            index.remove(&key, &row);
            // Written again later in the same transaction: indexed again.
            if let Ok(Some(now)) = store.get(tables::ROLE_ASSIGNMENTS, &key) {
                index.insert(&key, &now);
            }
        }));
    }
    Ok(gone)
}

/// The assignments naming `object_id`, as stored (ARM JSON), without the propagation delay.
pub fn assignment_rows_of(state: &AppState, object_id: &str) -> StoreResult<Vec<Value>> {
    let mut rows = Vec::new();
    for k in state.assignment_index.keys_of(object_id) {
        if let Some(v) = state.store.get(tables::ROLE_ASSIGNMENTS, &k)? {
            rows.push(v);
        }
    }
    Ok(rows)
}

pub fn all_assignment_rows(state: &AppState) -> StoreResult<Vec<Value>> {
    Ok(state
        .store
        .scan(tables::ROLE_ASSIGNMENTS, "")?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// The engine's view of a stored role assignment (ARM JSON).
pub fn assignment_from_row(v: &Value) -> Option<Assignment> {
    let p = &v["properties"];
    Some(Assignment {
        id: v["id"].as_str()?.to_string(),
        scope: p["scope"].as_str()?.to_string(),
        role_definition_guid: p["roleDefinitionId"]
            .as_str()?
            .rsplit('/')
            .next()?
            .to_ascii_lowercase(),
        principal_id: p["principalId"].as_str()?.to_ascii_lowercase(),
        condition: p["condition"].as_str().map(str::to_string),
        condition_version: p["conditionVersion"].as_str().map(str::to_string),
    })
}
