//! Microsoft.ManagedIdentity: user-assigned identities
//! (`UserAssignedIdentities_CreateOrUpdate`, `_Get`, `_Update`, `_Delete`,
//! `_ListByResourceGroup`, `_ListBySubscription`; spec `ManagedIdentity.json`
//! 2023-01-31).
//!
//! Each identity owns a service principal in the emulated directory:
//! `properties.principalId` is its object id, `properties.clientId` its app id.
//! The principal is created with the identity, kept across updates and deleted
//! with it (or with its resource group).

use crate::arm::envelope::{self, system_data};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::entra::{PrincipalKind, ServicePrincipal};
use crate::providers::json_response;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

pub const NAMESPACE: &str = "Microsoft.ManagedIdentity";
pub const TYPE: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";

/// `{scope}/providers/Microsoft.ManagedIdentity/{type}` (scope = subscription or resource group).
pub fn collection(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    ty: &str,
) -> Result<Response, ArmError> {
    if !ty.eq_ignore_ascii_case("userAssignedIdentities") {
        return Err(super::unknown_type(req, NAMESPACE, ty));
    }
    super::list_tracked(state, req, scope, TYPE, Value::clone)
}

/// `{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}`
pub fn resource(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    tail: Option<&str>,
) -> Result<Response, ArmError> {
    let is_uai = id.providers.len() == 1
        && id.providers[0].types.len() == 1
        && id.providers[0].types[0]
            .0
            .eq_ignore_ascii_case("userAssignedIdentities");
    if !is_uai || tail.is_some() || id.resource_group.is_none() {
        return Err(super::unknown_type(req, NAMESPACE, &id.resource_type()));
    }
    req.api_version(TYPE)?;
    match req.method {
        Method::PUT => create_or_update(state, req, id),
        Method::GET => Ok(json_response(StatusCode::OK, &require(state, id)?)),
        Method::PATCH => update(state, req, id),
        Method::DELETE => delete(state, id),
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

fn not_found(id: &ResourceId) -> ArmError {
    ArmError::resource_not_found(
        &format!("{TYPE}/{}", id.name()),
        id.resource_group.as_deref().unwrap_or_default(),
    )
}

pub fn load(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    Ok(state.resources().get(id)?)
}

fn require(state: &AppState, id: &ResourceId) -> Result<Value, ArmError> {
    load(state, id)?.ok_or_else(|| not_found(id))
}

/// Azure: 3–128 characters, letters, digits, `-` and `_`, starting with a letter or digit.
fn validate_name(name: &str) -> Result<(), ArmError> {
    let ok = (3..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ArmError::invalid_resource_name(name, TYPE))
    }
}

/// `PUT` → 201 created (with a new principal), 200 updated (same principal).
fn create_or_update(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    validate_name(id.name())?;
    let body = req.json_object()?;
    let location = envelope::location(&body)?;
    let tags = envelope::tags(&body)?;
    let existing = load(state, id)?;
    crate::arm::etag::check_preconditions(&req.headers, existing.as_ref().map(|_| ""))?;
    let (principal_id, client_id) = match &existing {
        Some(old) => {
            let old_location = old["location"].as_str().unwrap_or_default();
            if old_location != location {
                return Err(ArmError::invalid_resource_location(
                    id.name(),
                    old_location,
                    location,
                    id.resource_group.as_deref().unwrap_or_default(),
                ));
            }
            (
                old["properties"]["principalId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                old["properties"]["clientId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        }
        None => {
            let sp = ServicePrincipal {
                object_id: uuid::Uuid::new_v4().to_string(),
                app_id: uuid::Uuid::new_v4().to_string(),
                tenant_id: state.tenant.id.clone(),
                display_name: id.name().to_string(),
                kind: PrincipalKind::ManagedIdentity,
                secrets: Vec::new(),
                mi_resource_id: Some(id.to_string()),
                created_ms: Some((req.now.unix_timestamp_nanos() / 1_000_000) as i64),
            };
            state.directory.put(&sp)?;
            (sp.object_id, sp.app_id)
        }
    };
    let mut identity = json!({
        "id": id.to_string(),
        "name": id.name(),
        "type": TYPE,
        "location": location,
        "tags": tags.unwrap_or_else(|| json!({})),
        "properties": {
            "isolationScope": body.get("properties").and_then(|p| p.get("isolationScope")).cloned().unwrap_or(json!("None")),
            "tenantId": state.tenant.id,
            "principalId": principal_id,
            "clientId": client_id,
        },
        "systemData": system_data(&req.principal, req.now, existing.as_ref().map(|o| &o["systemData"])),
    });
    if identity["properties"]["isolationScope"].is_null() {
        identity["properties"]["isolationScope"] = json!("None");
    }
    state.resources().put(id, identity.clone())?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_response(status, &identity))
}

/// `PATCH` → 200: tags replace the map; the principal is untouched.
fn update(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    let mut identity = require(state, id)?;
    let body = req.json_object()?;
    if body.contains_key("tags") {
        identity["tags"] = envelope::tags(&body)?.unwrap_or_else(|| json!({}));
    }
    identity["systemData"] = system_data(&req.principal, req.now, Some(&identity["systemData"]));
    state.resources().put(id, identity.clone())?;
    Ok(json_response(StatusCode::OK, &identity))
}

/// `DELETE` → 200 deleted (its principal too), 204 when there was nothing to delete.
fn delete(state: &AppState, id: &ResourceId) -> Result<Response, ArmError> {
    match state.resources().delete(id)? {
        Some(_) => {
            state.directory.delete_identities_within(&id.to_string())?;
            Ok(StatusCode::OK.into_response())
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
