//! `GET {scope}/providers/Microsoft.Authorization/permissions`
//! (`Permissions_ListForResourceGroup`, `Permissions_ListForResource`): what
//! the caller may do at a scope, answered from the one RBAC engine's inputs
//! ([`crate::authz::access`]): for each of the caller's role assignments at
//! or above the scope (as the engine counts them, propagation delay
//! included), each permission block of its role definition, as Azure lists
//! them (`actions`, `notActions`, `dataActions`, `notDataActions`). Any
//! signed-in caller may ask about itself: no role is needed, and one with
//! none gets an empty list.

use crate::arm::{ArmError, ArmRequest, ResourceId, paging};
use crate::authz::{access, engine};
use crate::providers::json_response;
use crate::state::AppState;
use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// `GET {scope}/providers/Microsoft.Authorization/permissions` → 200
pub fn list(state: &AppState, req: &ArmRequest, scope: &ResourceId) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Authorization/permissions")?;
    if req.method != Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    // TODO-fidelity: whether ARM answers 404 for a resource scope whose
    // resource does not exist was not found (searched azure-cli recordings and
    // issues for `Microsoft.Authorization/permissions`); the group is checked
    // (ResourceGroupNotFound), the resource is not.
    let at = scope.to_string();
    let mut value: Vec<Value> = vec![];
    for a in access::assignments_of(state, &req.principal.object_id)? {
        if !engine::scope_covers(&a.scope, &at) {
            continue;
        }
        let Some(role) = access::role_definition(state, &a.role_definition_guid) else {
            continue;
        };
        value.extend(role.permissions.iter().map(|p| {
            json!({
                "actions": p.actions,
                "notActions": p.not_actions,
                "dataActions": p.data_actions,
                "notDataActions": p.not_data_actions,
            })
        }));
    }
    Ok(json_response(StatusCode::OK, &paging::page(value, req)))
}
