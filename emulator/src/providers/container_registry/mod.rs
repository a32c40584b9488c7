//! Microsoft.ContainerRegistry, the control plane: registries (spec
//! `containerregistry.json` 2023-07-01). The OCI data plane each registry
//! serves at `<name>.azurecr.io` is [`crate::registry`]; its authentication
//! (token exchange, admin user) reads what this module stores.

pub mod children;
pub mod import;
pub mod registries;
pub mod scope_maps;
pub mod tasks;

use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::state::AppState;
use axum::response::Response;

pub const NAMESPACE: &str = "Microsoft.ContainerRegistry";

/// `{RG}/providers/Microsoft.ContainerRegistry/registries/{name}[/{action}]`
pub fn resource(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    tail: Option<&str>,
) -> Result<Response, ArmError> {
    let Some((registry, child)) = super::top_level(id, "registries") else {
        return Err(super::unknown_type(req, NAMESPACE, &id.resource_type()));
    };
    let tail = tail.map(str::to_ascii_lowercase);
    let tasks_and_runs = match (&child, tail.as_deref()) {
        (
            None,
            Some(
                "tasks"
                | "runs"
                | "taskruns"
                | "schedulerun"
                | "listbuildsourceuploadurl"
                | "getbuildsourceuploadurl",
            ),
        ) => true,
        (Some((t, _)), None) if t == "tasks" || t == "taskruns" || t == "runs" => true,
        (Some((t, _)), Some("listdetails")) if t == "tasks" || t == "taskruns" => true,
        (Some((t, _)), Some("cancel" | "listlogsasurl")) if t == "runs" => true,
        _ => false,
    };
    if !tasks_and_runs {
        // The registry and its other children: the spec layer.
        return Err(super::unknown_type(req, NAMESPACE, &id.resource_type()));
    }
    req.api_version(registries::TYPE)?;
    if registries::load(state, &registry)?.is_none() {
        return Err(ArmError::resource_not_found(
            &format!("{}/{}", registries::TYPE, registry.name()),
            registry.resource_group.as_deref().unwrap_or_default(),
        ));
    }
    match (child, tail.as_deref()) {
        (None, Some("tasks")) => tasks::tasks(state, req, &registry, None, None),
        (Some((t, n)), action) if t == "tasks" => {
            tasks::tasks(state, req, &registry, Some(n), action)
        }
        (None, Some("runs")) => tasks::runs(state, req, &registry, None, None),
        (None, Some("taskruns")) => tasks::task_runs(state, req, &registry, None, None),
        (Some((t, n)), action) if t == "taskruns" => {
            tasks::task_runs(state, req, &registry, Some(n), action)
        }
        (Some((t, n)), action) if t == "runs" => {
            tasks::runs(state, req, &registry, Some(n), action)
        }
        (None, Some("listbuildsourceuploadurl" | "getbuildsourceuploadurl")) => {
            tasks::source_upload_url(state, req, &registry)
        }
        (None, Some("schedulerun")) => {
            let row = tasks::registry_row(state, &registry)?;
            tasks::schedule_run(state, req, &registry, &row)
        }
        _ => Err(super::unknown_type(req, NAMESPACE, &id.resource_type())),
    }
}
