//! Microsoft.Authorization: role definitions and role assignments, at any
//! scope (subscription, resource group, resource, child resource), and what
//! the caller may do at a scope (`permissions`).
//!
//! Both are extension resources: `{scope}/providers/Microsoft.Authorization/{type}/{guid}`.
//! Built-in role definitions are embedded ([`crate::authz::roles`]); custom ones
//! and every assignment are stored. Decisions are [`crate::authz`]'s.

pub mod permissions;
pub mod role_assignments;
pub mod role_definitions;

use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::state::AppState;
use axum::response::Response;

pub const NAMESPACE: &str = "Microsoft.Authorization";

/// The scope an extension resource hangs off: the id without its last provider section.
pub fn extension_scope(id: &ResourceId) -> ResourceId {
    let mut scope = id.clone();
    scope.providers.pop();
    scope
}

/// `{scope}/providers/Microsoft.Authorization/{type}`
pub fn collection(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    ty: &str,
) -> Result<Response, ArmError> {
    match ty.to_ascii_lowercase().as_str() {
        "roleassignments" => role_assignments::list(state, req, scope),
        "roledefinitions" => role_definitions::list(state, req, scope),
        "permissions" => permissions::list(state, req, scope),
        _ => Err(super::unknown_type(req, NAMESPACE, ty)),
    }
}

/// `{scope}/providers/Microsoft.Authorization/{type}/{name}`
pub fn resource(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    tail: Option<&str>,
) -> Result<Response, ArmError> {
    let Some(section) = id.providers.last().filter(|p| p.types.len() == 1) else {
        return Err(super::unknown_type(req, NAMESPACE, &id.resource_type()));
    };
    if tail.is_some() {
        return Err(super::unknown_type(req, NAMESPACE, &id.resource_type()));
    }
    let (ty, name) = &section.types[0];
    let scope = extension_scope(id);
    match ty.to_ascii_lowercase().as_str() {
        "roleassignments" => role_assignments::dispatch(state, req, &scope, name),
        "roledefinitions" => role_definitions::dispatch(state, req, &scope, name),
        _ => Err(super::unknown_type(req, NAMESPACE, ty)),
    }
}

/// Scope strings as ARM writes them in `properties.scope`.
pub fn scope_string(scope: &ResourceId) -> String {
    scope.to_string()
}

pub fn is_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}
