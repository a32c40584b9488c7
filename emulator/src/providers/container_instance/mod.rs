//! Microsoft.ContainerInstance: container groups (spec
//! `containerInstance.json` 2023-05-01). azemu does not run containers: a
//! group "runs" once every image has been pulled through the emulated
//! registry path ([`pull`]), and its instance view says so, with ACI's events.

pub mod groups;
pub mod locations;
pub mod pull;

use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::state::AppState;
use axum::response::Response;

pub const NAMESPACE: &str = "Microsoft.ContainerInstance";

pub fn collection(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    ty: &str,
) -> Result<Response, ArmError> {
    match ty.to_ascii_lowercase().as_str() {
        "containergroups" => groups::list(state, req, scope),
        _ => Err(super::unknown_type(req, NAMESPACE, ty)),
    }
}

pub fn resource(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    tail: Option<&str>,
) -> Result<Response, ArmError> {
    let Some((group, child)) = super::top_level(id, "containerGroups") else {
        return Err(super::unknown_type(req, NAMESPACE, &id.resource_type()));
    };
    match (child, tail) {
        (None, t) => groups::dispatch(state, req, id, t),
        // containers/{name}/logs
        (Some((t, name)), Some(last))
            if t.eq_ignore_ascii_case("containers") && last.eq_ignore_ascii_case("logs") =>
        {
            groups::logs(state, req, &group, name)
        }
        _ => Err(super::unknown_type(req, NAMESPACE, &id.resource_type())),
    }
}
