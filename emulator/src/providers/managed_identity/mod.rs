//! Microsoft.ManagedIdentity: Azure's rules for user-assigned identities.
//!
//! Routing, validation, paging and shaping are the spec layer's
//! ([`crate::providers::by_spec`], from `ManagedIdentity.json` 2023-01-31 and
//! 2024-11-30); federated identity credentials are served by it with no rules
//! of their own. What is Azure's here:
//! - the name (3–128 letters, digits, `-`, `_`, starting with a letter or digit);
//! - each identity owns a service principal in the emulated directory:
//!   `properties.principalId` is its object id, `properties.clientId` its app
//!   id, `tenantId` the emulated tenant. The principal is created with the
//!   identity and kept across updates; the spec layer's delete removes it with
//!   the identity (or its resource group), as it removes every principal that
//!   lived under a deleted resource;
//! - `isolationScope` (`None` unless sent) is writable although the spec marks
//!   the whole `properties` block read-only, so it is read from the body as sent;
//! - `tags` is always present, `{}` when none were sent (as azure-cli's
//!   recording `test_identity_management.yaml` shows it).

use super::by_spec::{Behaviour, Ctx};
use crate::arm::{ArmError, ResourceId, envelope};
use crate::entra::{PrincipalKind, ServicePrincipal};
use serde_json::{Value, json};

pub const TYPE: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";

pub const USER_ASSIGNED_IDENTITY: Behaviour = Behaviour {
    on_write: Some(on_write),
    ..Behaviour::of(TYPE)
};

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

fn on_write(cx: &Ctx, row: &mut Value, existing: Option<&Value>) -> Result<(), ArmError> {
    validate_name(cx.id.name())?;
    let (principal_id, client_id) = match existing {
        Some(old) => (
            old["properties"]["principalId"].clone(),
            old["properties"]["clientId"].clone(),
        ),
        None => {
            let sp = new_principal(cx, &cx.id);
            cx.state.directory.put(&sp)?;
            (json!(sp.object_id), json!(sp.app_id))
        }
    };
    let sent = cx.req.json_body()?;
    let scope = match &sent["properties"]["isolationScope"] {
        Value::String(s) => json!(s),
        _ => existing
            .map(|o| o["properties"]["isolationScope"].clone())
            .filter(|s| s.is_string())
            .unwrap_or_else(|| json!("None")),
    };
    row["properties"] = json!({
        "isolationScope": scope,
        "tenantId": cx.state.tenant.id,
        "principalId": principal_id,
        "clientId": client_id,
    });
    if !row["tags"].is_object() {
        envelope::set_tags(row, json!({}));
    }
    Ok(())
}

fn new_principal(cx: &Ctx, id: &ResourceId) -> ServicePrincipal {
    ServicePrincipal {
        object_id: uuid::Uuid::new_v4().to_string(),
        app_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: cx.state.tenant.id.clone(),
        display_name: id.name().to_string(),
        kind: PrincipalKind::ManagedIdentity,
        secrets: Vec::new(),
        mi_resource_id: Some(id.to_string()),
        created_ms: Some((cx.req.now.unix_timestamp_nanos() / 1_000_000) as i64),
    }
}
