//! Microsoft.Authorization: role definitions and role assignments, at any
//! scope (subscription, resource group, resource, child resource), and what
//! the caller may do at a scope (`permissions`).
//!
//! Both are extension resources: `{scope}/providers/Microsoft.Authorization/{type}/{guid}`,
//! served by the spec layer with these modules' rules. Built-in role
//! definitions are embedded ([`crate::authz::roles`]); custom ones and every
//! assignment are stored. Decisions are [`crate::authz`]'s.

pub mod permissions;
pub mod role_assignments;
pub mod role_definitions;

use super::by_spec::{Behaviour, GateHook, ListHook, Rows, WriteHook};
use crate::arm::spec::Target;
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::authz::access::require;
use crate::state::AppState;
use axum::response::Response;

pub const NAMESPACE: &str = "Microsoft.Authorization";

/// The scope an extension resource hangs off: the id without its last provider section.
pub fn extension_scope(id: &ResourceId) -> ResourceId {
    let mut scope = id.clone();
    scope.providers.pop();
    scope
}

/// `{scope}/providers/Microsoft.Authorization/permissions` at any scope (the
/// spec's templates name only resource groups and resources with a parent
/// path). Role definitions and assignments are the spec layer's
/// ([`role_definitions::ROLE_DEFINITIONS`], [`role_assignments::ROLE_ASSIGNMENTS`]).
pub fn collection(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    ty: &str,
) -> Result<Response, ArmError> {
    match ty.to_ascii_lowercase().as_str() {
        "permissions" => permissions::list(state, req, scope),
        _ => Err(super::unknown_type(req, NAMESPACE, ty)),
    }
}

/// What role definitions and assignments share on the spec layer: served
/// under any scope; their own authorization before anything is read
/// (`authorize_route` leaves Microsoft.Authorization to them); rows in their
/// own tables; the body's required properties checked in their own words;
/// 201 for every PUT (an update, or the same again, too); a DELETE answering
/// 200 with what it removed.
pub(super) const fn extension_type(
    resource_type: &'static str,
    before_read: GateHook,
    rows: &'static Rows,
    on_write: WriteHook,
    lists: &'static [(&'static str, ListHook)],
) -> Behaviour {
    Behaviour {
        any_scope: true,
        before_read: Some(before_read),
        rows: Some(rows),
        on_write: Some(on_write),
        lists,
        statuses: &[("PUT", 201)],
        provider_required: true,
        delete_returns_row: true,
        ..Behaviour::of(resource_type)
    }
}

/// A list's authorization, `{type}/read` at the scope listed; `None` for the
/// resource routes.
pub(super) fn list_read(
    cx: &super::by_spec::Ctx,
    resource_type: &str,
) -> Option<Result<(), ArmError>> {
    matches!(cx.op.target(), Target::Collection { .. }).then(|| {
        require(
            cx.state,
            cx.req,
            &format!("{resource_type}/read"),
            &cx.id.to_string(),
        )
    })
}

/// Scope strings as ARM writes them in `properties.scope`.
pub fn scope_string(scope: &ResourceId) -> String {
    scope.to_string()
}

pub fn is_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}
