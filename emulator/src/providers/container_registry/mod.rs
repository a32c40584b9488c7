//! Microsoft.ContainerRegistry, the control plane: registries (spec
//! `containerregistry.json` 2023-07-01). The OCI data plane each registry
//! serves at `<name>.azurecr.io` is [`crate::registry`]; its authentication
//! (token exchange, admin user) reads what this module stores.

pub mod registries;

use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::state::AppState;
use axum::response::Response;

pub const NAMESPACE: &str = "Microsoft.ContainerRegistry";

/// `{scope}/providers/Microsoft.ContainerRegistry/{type}`
pub fn collection(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    ty: &str,
) -> Result<Response, ArmError> {
    match ty.to_ascii_lowercase().as_str() {
        "registries" => registries::list(state, req, scope),
        "checknameavailability" if scope.resource_group.is_none() => {
            registries::check_name_availability(state, req)
        }
        _ => Err(super::unknown_type(req, NAMESPACE, ty)),
    }
}

/// `{RG}/providers/Microsoft.ContainerRegistry/registries/{name}[/{action}]`
pub fn resource(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    tail: Option<&str>,
) -> Result<Response, ArmError> {
    let section = id.providers.first().filter(|_| id.providers.len() == 1);
    let is_registry = section
        .is_some_and(|p| p.types.len() == 1 && p.types[0].0.eq_ignore_ascii_case("registries"));
    if !is_registry || id.resource_group.is_none() {
        return Err(super::unknown_type(req, NAMESPACE, &id.resource_type()));
    }
    registries::dispatch(state, req, id, tail)
}
