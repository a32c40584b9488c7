//! Microsoft.KeyVault `vaults`, control plane only: a vault's `vaultUri` and
//! defaults, global names, and soft delete as azure-cli's
//! `test_keyvault_softdelete` recording shows it:
//! - deleting a vault (soft delete is on unless the vault says otherwise)
//!   keeps it as `/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{l}/deletedVaults/{name}`
//!   with `vaultId`, `location`, `tags`, `deletionDate` and `scheduledPurgeDate`
//!   (`softDeleteRetentionInDays` later), listed by `deletedVaults`;
//! - its name stays taken: a PUT of a vault with that name is 409
//!   `ConflictError` unless it asks `createMode: recover`, which brings the
//!   vault back as it was (`az keyvault recover`);
//! - `purge` (202, with a `Location` to poll) forgets it for good.

use crate::arm::{ArmError, ResourceId};
use crate::providers::by_spec::{self, Behaviour, Ctx, Removal};
use crate::providers::json_response;
use crate::state::AppState;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

const VAULT_TYPE: &str = "Microsoft.KeyVault/vaults";
const DELETED_TYPE: &str = "Microsoft.KeyVault/deletedVaults";
/// Where a deleted vault keeps the vault it was, for `recover` (never shown).
const KEPT: &str = "_vault";

pub const VAULT: Behaviour = Behaviour {
    on_write: Some(vault),
    on_removed: Some(soft_delete),
    ..Behaviour::of(VAULT_TYPE)
};

pub const VAULT_NAMES: Behaviour = Behaviour {
    actions: &[("checkNameAvailability", vault_name_available)],
    ..Behaviour::of("Microsoft.KeyVault")
};

/// `GET {S}/providers/Microsoft.KeyVault/deletedVaults`.
pub const DELETED_VAULTS: Behaviour = Behaviour {
    on_read: Some(hide_kept),
    lists: &[("deletedVaults", deleted_vaults)],
    ..Behaviour::of(DELETED_TYPE)
};

/// `GET {S}/providers/Microsoft.KeyVault/deletedManagedHSMs` (which `az
/// keyvault list-deleted` reads too): azemu emulates no managed HSMs, so none
/// was ever deleted.
pub const DELETED_HSMS: Behaviour = Behaviour {
    lists: &[("deletedManagedHSMs", |_| Ok(Vec::new()))],
    ..Behaviour::of("Microsoft.KeyVault/deletedManagedHSMs")
};

/// `GET …/locations/{l}/deletedVaults/{name}` and its `purge`.
pub const DELETED_VAULT: Behaviour = Behaviour {
    on_read: Some(hide_kept),
    actions: &[("purge", purge)],
    ..Behaviour::of("Microsoft.KeyVault/locations/deletedVaults")
};

fn deleted_id(subscription: &str, location: &str, name: &str) -> Result<ResourceId, ArmError> {
    format!(
        "/subscriptions/{subscription}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}"
    )
    .parse()
    .map_err(|_| ArmError::invalid_request_content("The vault name is not valid."))
}

/// The soft-deleted vault named `name`, anywhere (vault names are global).
fn deleted_named(state: &AppState, name: &str) -> Result<Option<(String, Value)>, ArmError> {
    Ok(state
        .resources()
        .of_type(DELETED_TYPE)?
        .into_iter()
        .find(|(_, v)| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }))
}

/// A vault's `vaultUri` and defaults (azure-cli's `test_keyvault*` recordings);
/// a name a deleted vault still holds is refused, or recovered when asked.
fn vault(cx: &Ctx, row: &mut Value, old: Option<&Value>) -> Result<(), ArmError> {
    if old.is_none()
        && let Some((key, deleted)) = deleted_named(cx.state, cx.id.name())?
    {
        let sent = cx.req.json_body()?;
        if !sent["properties"]["createMode"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("recover"))
        {
            // Azure's words as deployments quote them (alan-turing-institute/
            // data-safe-haven#2523: "Status=409 Code=\"ConflictError\" …").
            return Err(ArmError::new(
                StatusCode::CONFLICT,
                "ConflictError",
                "A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault. Follow this link https://go.microsoft.com/fwlink/?linkid=2149745 for more information on soft delete.",
            ));
        }
        // Recovered as it was; what the recovering PUT sends (tags, a changed
        // setting) still applies over it.
        if let Some(Value::Object(was)) = deleted.get(KEPT) {
            let mut props = was.get("properties").cloned().unwrap_or_else(|| json!({}));
            if let Some(Value::Object(now)) = row.get("properties") {
                for (k, v) in now {
                    props[k.as_str()] = v.clone();
                }
            }
            row["properties"] = props;
            if row.get("tags").is_none()
                && let Some(t) = was.get("tags")
            {
                crate::arm::envelope::set_tags(row, t.clone());
            }
        }
        cx.state
            .store
            .delete(crate::store::tables::RESOURCES, &key)?;
    }
    let name = cx.id.name().to_ascii_lowercase();
    let p = &mut row["properties"];
    if let Some(o) = p.as_object_mut() {
        // A request-time switch, not part of the vault.
        o.shift_remove("createMode");
    }
    p["vaultUri"] = json!(format!("https://{name}.vault.azure.net/"));
    p["provisioningState"] = json!("Succeeded");
    for (field, default) in [
        ("enableSoftDelete", json!(true)),
        ("softDeleteRetentionInDays", json!(90)),
        ("enableRbacAuthorization", json!(true)),
        ("publicNetworkAccess", json!("Enabled")),
    ] {
        if p.get(field).is_none() {
            p[field] = default;
        }
    }
    if p.get("accessPolicies").is_none() {
        p["accessPolicies"] = json!([]);
    }
    Ok(())
}

/// Deleting a vault keeps it, deleted, for its retention period.
fn soft_delete(r: &Removal) -> Result<(), ArmError> {
    let row = r.row;
    let p = &row["properties"];
    if p["enableSoftDelete"] == false {
        return Ok(());
    }
    let location = row["location"].as_str().unwrap_or("eastus").to_string();
    let id = deleted_id(&r.id.subscription, &location, r.id.name())?;
    let days = p["softDeleteRetentionInDays"].as_i64().unwrap_or(90);
    let now = r.now.replace_nanosecond(0).unwrap_or(r.now);
    let stamp = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut props = json!({
        "vaultId": row["id"],
        "location": location,
        "tags": row.get("tags").cloned().unwrap_or_else(|| json!({})),
        "deletionDate": stamp(now),
        "scheduledPurgeDate": stamp(now + time::Duration::days(days)),
    });
    if p["enablePurgeProtection"] == true {
        props["purgeProtectionEnabled"] = json!(true);
    }
    let mut deleted = json!({
        "id": id.to_string(),
        "name": r.id.name(),
        "type": DELETED_TYPE,
        "properties": props,
    });
    deleted[KEPT] = row.clone();
    r.state.resources().put(&id, deleted)?;
    Ok(())
}

fn hide_kept(_: &AppState, row: &mut Value) -> Result<(), ArmError> {
    if let Some(o) = row.as_object_mut() {
        o.shift_remove(KEPT);
    }
    Ok(())
}

fn deleted_vaults(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    Ok(cx.state.resources().in_scope(&cx.id, DELETED_TYPE)?)
}

/// `POST …/deletedVaults/{name}/purge` → 202; the vault is gone for good.
// TODO-fidelity: a vault with purge protection refuses purging until its date;
// the refusal's words were not found (searched keyvault recordings for "purge").
fn purge(cx: &Ctx) -> Result<Response, ArmError> {
    // The spec layer found it before calling: `cx.id` is the deleted vault.
    cx.state.resources().delete(&cx.id)?;
    by_spec::accepted(cx, "Microsoft.KeyVault/locations/deletedVaults")
}

/// Key Vault's name rule: 3–24 letters, digits and hyphens, starting with a
/// letter, ending with a letter or digit, no two hyphens in a row.
fn vault_name_valid(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=24).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !name.contains("--")
}

/// `POST {S}/providers/Microsoft.KeyVault/checkNameAvailability`: vault names
/// are global (their `vaultUri` is `https://{name}.vault.azure.net/`).
// TODO-fidelity: both refusal texts are Key Vault's as remembered from the
// portal and az output; azure-cli's keyvault recordings hold only an available
// name and a managed HSM's "The name '…' is already in use."
fn vault_name_available(cx: &Ctx) -> Result<Response, ArmError> {
    let body = cx.req.json_body()?;
    let name = body["name"].as_str().unwrap_or_default();
    if !vault_name_valid(name) {
        return Ok(json_response(
            StatusCode::OK,
            &json!({
                "nameAvailable": false, "reason": "AccountNameInvalid",
                "message": "Vault name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.",
            }),
        ));
    }
    // A soft-deleted vault keeps its name until it is purged.
    let taken =
        super::name_taken(cx, VAULT_TYPE, name)? || deleted_named(cx.state, name)?.is_some();
    Ok(json_response(
        StatusCode::OK,
        &if taken {
            json!({"nameAvailable": false, "reason": "AlreadyExists",
               "message": format!("The vault name '{name}' is already in use. Vault names are globally unique so it is possible that the name is already taken. If you are sure that the vault name was not taken then it is possible that a vault with the same name was recently deleted but not purged after being placed in a recoverable state. If the vault is in a recoverable state then the vault will need to be purged before reusing the name. For more information on soft delete and purging a vault follow this link https://go.microsoft.com/fwlink/?linkid=2147740.")})
        } else {
            json!({"nameAvailable": true})
        },
    ))
}
