//! The `identity` block every resource type that takes managed identities
//! shares (container groups, registries, ACR tasks):
//!
//! ```json
//! "identity": {"type": "SystemAssigned, UserAssigned",
//!              "userAssignedIdentities": {"<identity id>": {}}}
//! ```
//!
//! A system-assigned principal is created when a PUT first asks for one, kept
//! across updates, and removed when the type drops it or the resource is
//! deleted. User-assigned identities must exist, and attaching one needs
//! `Microsoft.ManagedIdentity/userAssignedIdentities/assign/action` on it
//! (`LinkedAuthorizationFailed` otherwise). The response carries
//! `principalId`/`tenantId` for the system identity and
//! `userAssignedIdentities{id: {principalId, clientId}}`, as Azure returns them.

use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::entra::{PrincipalKind, ServicePrincipal};
use crate::state::AppState;
use http::StatusCode;
use serde_json::{Map, Value, json};

const ASSIGN_ACTION: &str = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kinds {
    system: bool,
    user: bool,
}

fn parse_type(raw: &str) -> Option<Kinds> {
    let mut k = Kinds {
        system: false,
        user: false,
    };
    for part in raw.split(',') {
        match part.trim().to_ascii_lowercase().as_str() {
            "systemassigned" => k.system = true,
            "userassigned" => k.user = true,
            "none" if raw.split(',').count() == 1 => {}
            _ => return None,
        }
    }
    Some(k)
}

fn type_name(k: Kinds) -> &'static str {
    match (k.system, k.user) {
        (true, true) => "SystemAssigned, UserAssigned",
        (true, false) => "SystemAssigned",
        (false, true) => "UserAssigned",
        (false, false) => "None",
    }
}

fn invalid(message: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, "InvalidIdentity", message)
}

/// Work out the stored `identity` block for a PUT (or PATCH carrying `identity`)
/// of `resource`: create or drop the system principal, check and describe the
/// user-assigned ones. `requested` is the body's `identity` (absent = `None`).
/// Returns `None` when the resource ends up with no identity.
pub fn apply(
    state: &AppState,
    req: &ArmRequest,
    resource: &ResourceId,
    requested: Option<&Value>,
) -> Result<Option<Value>, ArmError> {
    let rid = resource.to_string();
    let (kinds, uais) = match requested {
        None | Some(Value::Null) => (
            Kinds {
                system: false,
                user: false,
            },
            Map::new(),
        ),
        Some(v) => {
            let raw = v["type"].as_str().unwrap_or("None");
            let kinds = parse_type(raw).ok_or_else(|| {
                invalid(format!(
                    "The identity type '{raw}' is not supported. Supported types are 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned' and 'None'."
                ))
            })?;
            let uais = v["userAssignedIdentities"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            if kinds.user && uais.is_empty() {
                return Err(invalid(
                    "The identity type 'UserAssigned' requires at least one entry in 'userAssignedIdentities'.".into(),
                ));
            }
            if !kinds.user && !uais.is_empty() {
                return Err(invalid(
                    "'userAssignedIdentities' can only be given with identity type 'UserAssigned' or 'SystemAssigned, UserAssigned'.".into(),
                ));
            }
            (kinds, uais)
        }
    };

    // User-assigned: each must exist, and the caller must be allowed to assign it.
    let mut described = Map::new();
    for uai in uais.keys() {
        let uai_id: ResourceId = uai.parse().map_err(|_| {
            invalid(format!(
                "The user-assigned identity id '{uai}' is not a valid resource id."
            ))
        })?;
        let row = state.resources().get(&uai_id)?.filter(|r| {
            r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(super::managed_identity::TYPE))
        });
        let Some(row) = row else {
            return Err(ArmError::new(
                StatusCode::BAD_REQUEST,
                "FailedIdentityOperation",
                format!(
                    "Identity operation for resource '{rid}' failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: 'The user-assigned identity '{uai}' was not found.''."
                ),
            ));
        };
        if !crate::authz::access::allows(state, &req.principal, ASSIGN_ACTION, &uai_id.to_string())?
        {
            let err = ArmError::linked_authorization_failed(
                &req.principal.app_id,
                &req.principal.object_id,
                &format!("{}/write", resource.resource_type()),
                &rid,
                ASSIGN_ACTION,
                &uai_id.to_string(),
            );
            crate::authz::access::trace_refusal(
                state,
                req,
                ASSIGN_ACTION,
                &uai_id.to_string(),
                &err,
            );
            return Err(err);
        }
        described.insert(
            row["id"].as_str().unwrap_or(uai).to_string(),
            json!({"principalId": row["properties"]["principalId"], "clientId": row["properties"]["clientId"]}),
        );
    }

    // System-assigned: reuse, create or drop.
    let existing = state.directory.system_principal_of(&rid)?;
    let system = match (kinds.system, existing) {
        (true, Some(sp)) => Some(sp),
        (true, None) => {
            let sp = ServicePrincipal {
                object_id: uuid::Uuid::new_v4().to_string(),
                app_id: uuid::Uuid::new_v4().to_string(),
                tenant_id: state.tenant.id.clone(),
                display_name: resource.name().to_string(),
                kind: PrincipalKind::ManagedIdentity,
                secrets: Vec::new(),
                mi_resource_id: Some(rid.clone()),
                created_ms: Some((req.now.unix_timestamp_nanos() / 1_000_000) as i64),
            };
            state.directory.put(&sp)?;
            // Tests only (`--enable-test-crashes`): a crash between this row and the resource's.
            state.faults.crash_point("identity.principal-written");
            Some(sp)
        }
        (false, Some(sp)) => {
            state.directory.delete(&sp.object_id)?;
            None
        }
        (false, None) => None,
    };

    if !kinds.system && !kinds.user {
        return Ok(None);
    }
    let mut block = json!({"type": type_name(kinds)});
    if let Some(sp) = system {
        block["principalId"] = json!(sp.object_id);
        block["tenantId"] = json!(sp.tenant_id);
    }
    if kinds.user {
        block["userAssignedIdentities"] = Value::Object(described);
    }
    Ok(Some(block))
}

/// A resource was deleted: its system-assigned principal goes with it.
pub fn resource_deleted(state: &AppState, resource_id: &str) -> Result<(), ArmError> {
    if let Some(sp) = state.directory.system_principal_of(resource_id)? {
        state.directory.delete(&sp.object_id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_types() {
        let k = |s, u| Some(Kinds { system: s, user: u });
        assert_eq!(parse_type("SystemAssigned"), k(true, false));
        assert_eq!(parse_type("userassigned"), k(false, true));
        assert_eq!(parse_type("SystemAssigned, UserAssigned"), k(true, true));
        assert_eq!(parse_type("SystemAssigned,UserAssigned"), k(true, true));
        assert_eq!(parse_type("None"), k(false, false));
        assert_eq!(parse_type("None, SystemAssigned"), None);
        assert_eq!(parse_type("Bogus"), None);
        assert_eq!(
            type_name(Kinds {
                system: true,
                user: true
            }),
            "SystemAssigned, UserAssigned"
        );
    }
}
