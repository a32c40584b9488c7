//! Resource groups (`ResourceGroups_CreateOrUpdate`, `_Get`, `_CheckExistence`,
//! `_Update`, `_Delete`, `_List`). Spec: `resources.json` 2024-07-01.
//!
//! Delete is a long-running operation: 202 + `Location`; the group shows
//! `provisioningState: Deleting` until the operation finishes, which removes
//! the group and every resource in it.

use crate::arm::error::valid_rg_char;
use crate::arm::etag::check_preconditions;
use crate::arm::lro::{self, Operation, OperationKind};
use crate::arm::{ArmError, ArmRequest, ResourceId, locations, paging};
use crate::config::SimMode;
use crate::providers::json_response;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const TYPE: &str = "Microsoft.Resources/resourceGroups";

pub fn dispatch(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    match req.method {
        Method::PUT => resource_groups_create_or_update(state, req, id),
        Method::GET => resource_groups_get(state, req, id),
        Method::HEAD => resource_groups_check_existence(state, req, id),
        Method::PATCH => resource_groups_update(state, req, id),
        Method::DELETE => resource_groups_delete(state, req, id),
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

fn rg_name(id: &ResourceId) -> &str {
    id.resource_group.as_deref().expect("resource group id")
}

/// The stored group, if any.
pub fn load(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    let rg_only = ResourceId::resource_group(&id.subscription, rg_name(id));
    Ok(state.resources().get(&rg_only)?)
}

/// Routes inside a resource group need it to exist.
pub fn require(state: &AppState, id: &ResourceId) -> Result<Value, ArmError> {
    load(state, id)?.ok_or_else(|| ArmError::resource_group_not_found(rg_name(id)))
}

fn is_deleting(rg: &Value) -> bool {
    rg["properties"]["provisioningState"] == "Deleting"
}

fn validate_name(name: &str) -> Result<(), ArmError> {
    if name.chars().count() > 90 {
        return Err(ArmError::resource_group_name_too_long(name));
    }
    if !name.chars().all(valid_rg_char) || name.ends_with('.') {
        return Err(ArmError::invalid_resource_group_name(name));
    }
    Ok(())
}

/// `PUT {RG}` → 201 created, 200 updated; 400 LocationRequired / InvalidResourceGroup;
/// 409 InvalidResourceGroupLocation / ResourceGroupBeingDeleted; 412 on a failed precondition.
pub fn resource_groups_create_or_update(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    let name = rg_name(id);
    validate_name(name)?;
    let body = req.json_object()?;
    let location = match body.get("location") {
        Some(Value::String(l)) if !l.trim().is_empty() => l.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ArmError::location_required());
        }
        Some(_) => {
            return Err(ArmError::invalid_request_content(
                "Unexpected value for 'location'. Path 'location'.",
            ));
        }
    };
    let location =
        locations::known(&location).ok_or_else(|| ArmError::invalid_location(&location))?;
    let tags = crate::arm::envelope::tags(&body)?;
    let existing = load(state, id)?;
    check_preconditions(&req.headers, existing.as_ref().map(|_| ""))?;
    if let Some(old) = &existing {
        if is_deleting(old) {
            return Err(ArmError::resource_group_being_deleted(name));
        }
        let old_loc = old["location"].as_str().unwrap_or_default();
        if old_loc != location {
            return Err(ArmError::invalid_resource_group_location(location, old_loc));
        }
    }
    let rg_id = ResourceId::resource_group(&id.subscription, name);
    let mut rg = json!({
        "id": rg_id.to_string(),
        "name": name,
        "type": TYPE,
        "location": location,
        "properties": {"provisioningState": "Succeeded"},
    });
    if let Some(t) = tags {
        crate::arm::envelope::set_tags(&mut rg, t);
    }
    if let Some(Value::String(m)) = body.get("managedBy") {
        rg["managedBy"] = json!(m);
    }
    state.resources().put(&rg_id, rg.clone())?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_response(status, &rg))
}

/// `GET {RG}` → 200, 404 ResourceGroupNotFound
pub fn resource_groups_get(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    Ok(json_response(StatusCode::OK, &require(state, id)?))
}

/// `HEAD {RG}` → 204 exists, 404 not (no body either way)
pub fn resource_groups_check_existence(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    Ok(match load(state, id)? {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

/// `PATCH {RG}` → 200; tags replace the whole map; 404 if missing
pub fn resource_groups_update(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    let mut rg = require(state, id)?;
    let body = req.json_object()?;
    check_preconditions(&req.headers, Some(""))?;
    if is_deleting(&rg) {
        return Err(ArmError::resource_group_being_deleted(rg_name(id)));
    }
    if let Some(Value::String(l)) = body.get("location")
        && locations::normalize(l) != rg["location"].as_str().unwrap_or_default()
    {
        return Err(ArmError::invalid_resource_group_location(
            l,
            rg["location"].as_str().unwrap_or_default(),
        ));
    }
    if body.contains_key("tags") {
        match crate::arm::envelope::tags(&body)? {
            Some(t) => rg["tags"] = t,
            None => {
                rg.as_object_mut()
                    .expect("stored group is an object")
                    .shift_remove("tags");
            }
        }
    }
    if let Some(Value::String(m)) = body.get("managedBy") {
        rg["managedBy"] = json!(m);
    }
    state.resources().put(id, rg.clone())?;
    Ok(json_response(StatusCode::OK, &rg))
}

/// `DELETE {RG}` → 202 + Location (poll it: 202 while deleting, then 200); 404 if missing.
pub fn resource_groups_delete(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    let v = req.api_version(TYPE)?;
    let mut rg = require(state, id)?;
    check_preconditions(&req.headers, Some(""))?;
    rg["properties"]["provisioningState"] = json!("Deleting");
    state.resources().put(id, rg)?;
    let delay = match state.config.sim_mode {
        SimMode::Auto => Some(state.config.lro_delay),
        SimMode::Explicit => None,
    };
    let job = format!(
        "RESOURCEGROUPDELETIONJOB-{}",
        rg_name(id).to_ascii_uppercase()
    );
    let op = Operation::start(
        &id.subscription,
        OperationKind::DeleteResourceGroup {
            resource_group_id: id.to_string(),
        },
        &job,
        req.now,
        delay,
    );
    op.save(state.store.as_ref())?;
    Ok(lro::accepted(&op.location_url(&req.base.0, v.as_str())))
}

/// Finish a delete: the group and everything under it go.
pub fn finish_delete(state: &AppState, rg_id: &str) -> Result<(), ArmError> {
    let id: ResourceId = rg_id.parse().map_err(ArmError::internal)?;
    state.resources().delete(&id)?;
    // Everything under it goes (unreadable rows too): resources, role
    // assignments, deployments, and the principals of the managed identities
    // that lived in it.
    crate::providers::remove_within(state, &id)
}

/// `GET {S}/resourcegroups` → 200 `{value, nextLink?}`; `$filter=tagName eq '…' [and tagValue eq '…']`, `$top`.
pub fn resource_groups_list(
    state: &AppState,
    req: &ArmRequest,
    sub: &ResourceId,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    if req.method != Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let filter = super::generic::Filter::parse(req.query("$filter"))?;
    let groups: Vec<Value> = state
        .resources()
        .in_scope(sub, TYPE)?
        .into_iter()
        .filter(|v| filter.matches(v))
        .filter(|v| crate::providers::caller_may_read(state, req, v))
        .collect();
    Ok(json_response(StatusCode::OK, &paging::page(groups, req)))
}
