//! The registries themselves, as every plane finds them: by name or login
//! server (an index read), and the admin user's passwords. The ARM rules for
//! creating and changing a registry are the provider's
//! ([`crate::providers::container_registry::registries`]); this is what the
//! data plane, ACI pulls, task runs and imports read.

use crate::arm::{ArmError, ResourceId};
use crate::state::AppState;
use crate::store::tables;
use serde_json::{Value, json};

pub const TYPE: &str = "Microsoft.ContainerRegistry/registries";

/// The registry `id` names, if it exists.
pub fn load(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    Ok(state.resources().get(id)?)
}

/// The registry whose name (`myreg` of `myreg.azurecr.io`) is `name`.
pub fn by_name(state: &AppState, name: &str) -> Result<Option<Value>, ArmError> {
    by_login_server(
        state,
        &format!("{}{}", name.to_ascii_lowercase(), super::LOGIN_SUFFIX),
    )
}

/// The registry whose login server is `host` (any case): an index read, the
/// one registry lookup of the data plane, ACI pulls and task runs.
pub fn by_login_server(state: &AppState, host: &str) -> Result<Option<Value>, ArmError> {
    Ok(crate::store::index::REGISTRIES_BY_LOGIN_SERVER
        .first(state.store.as_ref(), &host.to_ascii_lowercase())?
        .map(|(_, v)| v))
}

fn new_password() -> String {
    // ACR admin passwords are 52 characters of base64-like text.
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{}", &b[..20])
}

/// The admin user's two passwords (`password`, `password2`), made with the
/// registry and kept until regenerated or the registry goes.
pub fn credentials(state: &AppState, id: &ResourceId) -> Result<Value, ArmError> {
    if let Some(c) = state.store.get(tables::ACR_CREDENTIALS, &id.key())? {
        return Ok(c);
    }
    let c = json!({"password": new_password(), "password2": new_password()});
    state
        .store
        .put(tables::ACR_CREDENTIALS, &id.key(), c.clone())?;
    Ok(c)
}

/// A fresh value for one admin password (`password` or `password2`).
pub fn regenerate(state: &AppState, id: &ResourceId, which: &str) -> Result<Value, ArmError> {
    let mut c = credentials(state, id)?;
    c[which] = json!(new_password());
    state
        .store
        .put(tables::ACR_CREDENTIALS, &id.key(), c.clone())?;
    Ok(c)
}

/// The admin user's name and passwords, when the admin user is enabled.
pub fn admin_passwords(
    state: &AppState,
    registry: &Value,
) -> Result<Option<(String, Vec<String>)>, ArmError> {
    if registry["properties"]["adminUserEnabled"] != true {
        return Ok(None);
    }
    let Some(id) = registry["id"]
        .as_str()
        .and_then(|i| i.parse::<ResourceId>().ok())
    else {
        return Ok(None);
    };
    let c = credentials(state, &id)?;
    let pw = ["password", "password2"]
        .iter()
        .filter_map(|k| c[*k].as_str().map(str::to_string))
        .collect();
    Ok(Some((
        registry["name"].as_str().unwrap_or_default().to_string(),
        pw,
    )))
}
