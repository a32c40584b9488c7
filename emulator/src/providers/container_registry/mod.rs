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
use crate::providers::json_response;
use crate::state::AppState;
use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::json;

pub const NAMESPACE: &str = "Microsoft.ContainerRegistry";

/// `POST registries/{r}/getBuildSourceUploadUrl`: `listBuildSourceUploadUrl`
/// under its 2018-02-01-preview name. That api-version's spec is not in the
/// spec table (`fixtures/specs`), so this one legacy action keeps a hand
/// route; everything else of this namespace is the spec layer's.
pub fn resource(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    tail: Option<&str>,
) -> Result<Response, ArmError> {
    let legacy = tail.is_some_and(|t| t.eq_ignore_ascii_case("getBuildSourceUploadUrl"));
    let registry = match super::top_level(id, "registries") {
        Some((registry, None)) if legacy => registry,
        _ => return Err(super::unknown_type(req, NAMESPACE, &id.resource_type())),
    };
    if req.method != Method::POST {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    req.api_version(registries::TYPE)?;
    if registries::load(state, &registry)?.is_none() {
        return Err(ArmError::resource_not_found(
            &format!("{}/{}", registries::TYPE, registry.name()),
            registry.resource_group.as_deref().unwrap_or_default(),
        ));
    }
    let (url, relative) =
        crate::storage::upload_location(state, &req.base, &registry.key(), req.now)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"uploadUrl": url, "relativePath": relative}),
    ))
}
