//! The one `authorize()`: every plane (ARM, the registry data plane, container
//! pulls, task runs) asks it, with the caller, an action or data action, a
//! scope and the request's attributes. It loads the role assignments and
//! definitions from the store and hands them to the pure [`super::engine`].

use super::condition::{self, Attributes};
use super::engine::{self, ActionKind, Assignment, Decision};
use super::roles::{self, RoleDefinition};
use crate::arm::{ArmError, ArmRequest};
use crate::entra::Principal;
use crate::state::AppState;
use crate::store::index::{ASSIGNMENTS_BY_PRINCIPAL, TOMBSTONES_BY_PRINCIPAL};
use crate::store::{StoreResult, tables};
use serde_json::Value;

/// One authorization question.
pub struct Question<'a> {
    pub principal: &'a Principal,
    pub action: &'a str,
    pub kind: ActionKind,
    /// An ARM id (`/subscriptions/…`), compared case-insensitively.
    pub scope: &'a str,
    /// Request and resource attributes for ABAC conditions
    /// (`@Request[Microsoft.ContainerRegistry/registries/repositories:name]`).
    pub attributes: Attributes<'a>,
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

/// May `principal` perform control-plane `action` on `scope`? (A request
/// without attributes: an assignment whose condition compares any attribute
/// grants nothing here, see [`condition`].)
pub fn allows(
    state: &AppState,
    principal: &Principal,
    action: &str,
    scope: &str,
) -> StoreResult<bool> {
    allows_with(state, principal, action, scope, &condition::no_attributes)
}

/// [`allows`], for a request carrying `attributes` for ABAC conditions
/// (role-assignment writes and deletes).
pub fn allows_with(
    state: &AppState,
    principal: &Principal,
    action: &str,
    scope: &str,
    attributes: Attributes,
) -> StoreResult<bool> {
    let d = authorize(
        state,
        &Question {
            principal,
            action,
            kind: ActionKind::Control,
            scope,
            attributes,
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

/// A propagation timestamp (`createdOn`, `deletedOn`) of a row.
enum Stamp {
    Absent,
    At(time::OffsetDateTime),
    /// Present but not a time: never trusted (fail closed).
    Unreadable,
}

fn stamp(v: &Value, field: &str) -> Stamp {
    match &v["properties"][field] {
        Value::Null => Stamp::Absent,
        Value::String(t) => {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_or(Stamp::Unreadable, Stamp::At)
        }
        _ => Stamp::Unreadable,
    }
}

/// Does an assignment count yet (`createdOn + delay` has passed)? One without
/// `createdOn` counts (rows written before it was kept); one whose `createdOn`
/// is unreadable never does.
fn created_propagated(v: &Value, delay: std::time::Duration, now: time::OffsetDateTime) -> bool {
    match stamp(v, "createdOn") {
        Stamp::Absent => true,
        Stamp::At(t) => t + delay <= now,
        Stamp::Unreadable => false,
    }
}

/// Does a deleted assignment still count (`deletedOn + delay` is ahead)? A
/// tombstone whose `deletedOn` is missing or unreadable does not.
fn deletion_pending(v: &Value, delay: std::time::Duration, now: time::OffsetDateTime) -> bool {
    match stamp(v, "deletedOn") {
        Stamp::At(t) => t + delay > now,
        Stamp::Absent | Stamp::Unreadable => false,
    }
}

/// The assignments naming `object_id`.
pub fn assignments_of(state: &AppState, object_id: &str) -> StoreResult<Vec<Assignment>> {
    let delay = state.config.rbac_propagation;
    let now = state.clock.now();
    // With a propagation delay, what authorize() sees lags the writes: an
    // assignment counts once `createdOn + delay` has passed, and a deleted one
    // keeps counting until `deletedOn + delay`.
    let mut rows = assignment_rows_of(state, object_id)?;
    if !delay.is_zero() {
        rows.retain(|v| created_propagated(v, delay, now));
        rows.extend(
            TOMBSTONES_BY_PRINCIPAL
                .find(state.store.as_ref(), &object_id.to_ascii_lowercase())?
                .into_iter()
                .map(|(_, v)| v)
                .filter(|v| created_propagated(v, delay, now) && deletion_pending(v, delay, now)),
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

/// Remove the tombstones of deleted assignments that no longer count (their
/// `deletedOn + delay` has passed, or it is unreadable, or there is no delay
/// any more). Returns how many went.
pub fn prune_tombstones(state: &AppState, now: time::OffsetDateTime) -> StoreResult<usize> {
    let delay = state.config.rbac_propagation;
    let mut n = 0;
    for (k, v) in state.store.scan(tables::ROLE_ASSIGNMENT_TOMBSTONES, "")? {
        if delay.is_zero() || !deletion_pending(&v, delay, now) {
            state.store.delete(tables::ROLE_ASSIGNMENT_TOMBSTONES, &k)?;
            n += 1;
        }
    }
    Ok(n)
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

/// Write a role assignment (the only way one is written); the store files it
/// by principal ([`ASSIGNMENTS_BY_PRINCIPAL`]) in the same write.
pub fn put_assignment(state: &AppState, key: &str, row: Value) -> StoreResult<()> {
    state.store.put(tables::ROLE_ASSIGNMENTS, key, row)?;
    Ok(())
}

/// Delete a role assignment (the only way one is deleted).
pub fn delete_assignment(state: &AppState, key: &str) -> StoreResult<Option<Value>> {
    state.store.delete(tables::ROLE_ASSIGNMENTS, key)
}

/// The assignments naming `object_id`, as stored (ARM JSON), without the
/// propagation delay: one index read.
pub fn assignment_rows_of(state: &AppState, object_id: &str) -> StoreResult<Vec<Value>> {
    Ok(ASSIGNMENTS_BY_PRINCIPAL
        .find(state.store.as_ref(), &object_id.to_ascii_lowercase())?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Propagation stamps: an unreadable `createdOn` never grants, an unreadable
    /// `deletedOn` never keeps a deleted assignment alive.
    #[test]
    fn unreadable_stamps_fail_closed() {
        let delay = std::time::Duration::from_secs(60);
        let now = time::OffsetDateTime::now_utc();
        let at = |f: &str, t: time::OffsetDateTime| json!({"properties": {f: crate::clock::arm_timestamp(t)}});
        let raw = |f: &str, v: Value| json!({"properties": {f: v}});
        assert!(created_propagated(&json!({"properties": {}}), delay, now));
        assert!(created_propagated(
            &at("createdOn", now - time::Duration::minutes(2)),
            delay,
            now
        ));
        assert!(!created_propagated(&at("createdOn", now), delay, now));
        assert!(!created_propagated(
            &raw("createdOn", json!("garbage")),
            delay,
            now
        ));
        assert!(!created_propagated(
            &raw("createdOn", json!(12)),
            delay,
            now
        ));
        assert!(deletion_pending(&at("deletedOn", now), delay, now));
        assert!(!deletion_pending(
            &at("deletedOn", now - time::Duration::minutes(2)),
            delay,
            now
        ));
        assert!(!deletion_pending(
            &raw("deletedOn", json!("garbage")),
            delay,
            now
        ));
        assert!(!deletion_pending(&json!({"properties": {}}), delay, now));
    }
}
