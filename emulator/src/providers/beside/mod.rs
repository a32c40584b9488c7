//! The resources ACI and ACR deployments commonly sit beside, served from
//! their specs through [`crate::providers::by_spec`] — **control plane only**:
//! Microsoft.Storage `storageAccounts` (keys for `--azure-file-volume-*`),
//! Microsoft.KeyVault `vaults`, Microsoft.OperationalInsights `workspaces`
//! (shared keys for `--log-analytics-workspace`). No blob, file, secret or
//! log data plane stands behind them: the endpoints they name are
//! descriptive, and nothing answers there.

pub mod key_vault;

pub use key_vault::{DELETED_HSMS, DELETED_VAULT, DELETED_VAULTS, VAULT, VAULT_NAMES};

use crate::arm::{ArmError, ResourceId};
use crate::providers::by_spec::{Behaviour, Ctx, Removal};
use crate::providers::json_response;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

pub const STORAGE_ACCOUNT: Behaviour = Behaviour {
    on_write: Some(storage_account),
    actions: &[("listKeys", list_keys), ("regenerateKey", regenerate_key)],
    ..Behaviour::of("Microsoft.Storage/storageAccounts")
};

pub const STORAGE_NAMES: Behaviour = Behaviour {
    actions: &[("checkNameAvailability", storage_name_available)],
    ..Behaviour::of("Microsoft.Storage")
};

pub const WORKSPACE: Behaviour = Behaviour {
    on_write: Some(workspace),
    on_removed: Some(workspace_soft_delete),
    on_read: Some(workspace_read),
    actions: &[
        ("sharedKeys", shared_keys),
        ("regenerateSharedKey", regenerate_shared_keys),
    ],
    ..Behaviour::of(WORKSPACE_TYPE)
};

/// `GET {S|RG}/providers/Microsoft.OperationalInsights/deletedWorkspaces`.
pub const DELETED_WORKSPACES: Behaviour = Behaviour {
    lists: &[("deletedWorkspaces", deleted_workspaces)],
    ..Behaviour::of(DELETED_WORKSPACE_TYPE)
};

const WORKSPACE_TYPE: &str = "Microsoft.OperationalInsights/workspaces";
const DELETED_WORKSPACE_TYPE: &str = "Microsoft.OperationalInsights/deletedWorkspaces";
/// How long a deleted workspace can be recovered (Azure's soft delete: 14 days).
const WORKSPACE_RECOVERY_DAYS: i64 = 14;

fn now_text(cx: &Ctx) -> String {
    crate::clock::arm_timestamp(cx.req.now)
}

/// What Azure fills in on a storage account (recorded by azure-cli's
/// `test_storage_account*`): endpoints by name, status, creation and key times.
fn storage_account(cx: &Ctx, row: &mut Value, old: Option<&Value>) -> Result<(), ArmError> {
    let name = cx.id.name().to_ascii_lowercase();
    let location = row["location"].as_str().unwrap_or("eastus").to_string();
    let kept = |field: &str| {
        old.map(|o| o["properties"][field].clone())
            .filter(|v| !v.is_null())
    };
    let created = kept("creationTime").unwrap_or_else(|| json!(now_text(cx)));
    let key_times = kept("keyCreationTime")
        .unwrap_or_else(|| json!({"key1": now_text(cx), "key2": now_text(cx)}));
    if row.get("kind").is_none() {
        row["kind"] = json!("StorageV2");
    }
    let p = &mut row["properties"];
    let endpoint = |svc: &str| format!("https://{name}.{svc}.core.windows.net/");
    p["primaryEndpoints"] = json!({
        "blob": endpoint("blob"), "queue": endpoint("queue"), "table": endpoint("table"),
        "file": endpoint("file"), "dfs": endpoint("dfs"), "web": format!("https://{name}.z13.web.core.windows.net/"),
    });
    p["primaryLocation"] = json!(location);
    p["statusOfPrimary"] = json!("available");
    p["creationTime"] = created;
    p["keyCreationTime"] = key_times;
    if p.get("accessTier").is_none() {
        p["accessTier"] = json!("Hot");
    }
    if p.get("supportsHttpsTrafficOnly").is_none() {
        p["supportsHttpsTrafficOnly"] = json!(true);
    }
    p["provisioningState"] = json!("Succeeded");
    Ok(())
}

/// A key of a control-plane resource: derived from the instance's key, the
/// resource and the time the key was last made (regenerating changes it).
fn derived(cx: &Ctx, which: &str, made: &Value) -> String {
    cx.state.storage_key.derive(&format!(
        "{}|{which}|{}",
        cx.id.key(),
        made.as_str().unwrap_or_default()
    ))
}

fn storage_keys(cx: &Ctx, row: &Value) -> Value {
    let times = &row["properties"]["keyCreationTime"];
    let keys: Vec<Value> = ["key1", "key2"]
        .iter()
        .map(|k| {
            json!({
                "creationTime": times[*k],
                "keyName": k,
                "value": derived(cx, k, &times[*k]),
                "permissions": "FULL",
            })
        })
        .collect();
    json!({ "keys": keys })
}

fn row(cx: &Ctx) -> Result<Value, ArmError> {
    cx.state.resources().get(&cx.id)?.ok_or_else(|| {
        ArmError::resource_not_found(
            &format!("{}/{}", cx.id.resource_type(), cx.id.name()),
            cx.id.resource_group.as_deref().unwrap_or_default(),
        )
    })
}

/// `POST …/storageAccounts/{a}/listKeys` → `{"keys":[key1, key2]}`.
fn list_keys(cx: &Ctx) -> Result<Response, ArmError> {
    let row = row(cx)?;
    Ok(json_response(StatusCode::OK, &storage_keys(cx, &row)))
}

/// `POST …/regenerateKey {"keyName":"key1"}` → the keys, that one new.
fn regenerate_key(cx: &Ctx) -> Result<Response, ArmError> {
    let mut row = row(cx)?;
    let body = cx.req.json_body()?;
    let which = body["keyName"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if which != "key1" && which != "key2" {
        // TODO-fidelity: Storage's answer to an unknown keyName was not found
        // (searched azure-cli storage recordings for regenerateKey errors).
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidValuesForRequestParameters",
            "Values for request parameters are invalid: keyName.",
        ));
    }
    row["properties"]["keyCreationTime"][&which] = json!(now_text(cx));
    cx.state.resources().put(&cx.id, row.clone())?;
    Ok(json_response(StatusCode::OK, &storage_keys(cx, &row)))
}

/// Is a resource of `resource_type` named `name` (any case) anywhere in azemu?
pub(super) fn name_taken(cx: &Ctx, resource_type: &str, name: &str) -> Result<bool, ArmError> {
    Ok(cx
        .state
        .resources()
        .of_type(resource_type)?
        .iter()
        .any(|(_, v)| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }))
}

/// `POST {S}/providers/Microsoft.Storage/checkNameAvailability`: account names are global.
fn storage_name_available(cx: &Ctx) -> Result<Response, ArmError> {
    let body = cx.req.json_body()?;
    let name = body["name"].as_str().unwrap_or_default();
    let valid = (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !valid {
        return Ok(json_response(
            StatusCode::OK,
            &json!({
                "nameAvailable": false, "reason": "AccountNameInvalid",
                "message": format!("{name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only."),
            }),
        ));
    }
    let taken = name_taken(cx, "Microsoft.Storage/storageAccounts", name)?;
    Ok(json_response(
        StatusCode::OK,
        &if taken {
            json!({"nameAvailable": false, "reason": "AlreadyExists",
               "message": format!("The storage account named {name} is already taken.")})
        } else {
            json!({"nameAvailable": true})
        },
    ))
}

/// Where a soft-deleted workspace waits: beside its group's workspaces, under
/// a type no list of workspaces reads.
fn deleted_workspace_id(id: &ResourceId) -> Option<ResourceId> {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/deletedWorkspaces/{}",
        id.subscription,
        id.resource_group.as_deref()?,
        id.name()
    )
    .parse()
    .ok()
}

/// Still recoverable at `now`?
fn recoverable(cx: &Ctx, deleted: &Value) -> bool {
    deleted["deletedAt"]
        .as_str()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .is_some_and(|t| cx.req.now < t + time::Duration::days(WORKSPACE_RECOVERY_DAYS))
}

/// Deleting a workspace keeps it recoverable for 14 days (`az monitor
/// log-analytics workspace delete` without `--force`, as azure-cli's
/// `test_monitor_log_analytics_workspace_recover` recording shows): listed by
/// `deletedWorkspaces`, and brought back, with its customer id, by a PUT of
/// the same name in the same group. `?force=true` deletes it for good.
fn workspace_soft_delete(r: &Removal) -> Result<(), ArmError> {
    // `?force=true` deletes for good; a workspace that goes with its
    // resource group is soft-deleted like one deleted alone.
    if r.req.is_some_and(|req| {
        req.query("force")
            .is_some_and(|f| f.eq_ignore_ascii_case("true"))
    }) {
        return Ok(());
    }
    let Some(id) = deleted_workspace_id(r.id) else {
        return Ok(());
    };
    let mut kept = json!({
        "id": id.to_string(),
        "name": r.id.name(),
        "type": DELETED_WORKSPACE_TYPE,
        "deletedAt": crate::clock::arm_timestamp(r.now),
    });
    kept[KEPT_WORKSPACE] = r.row.clone();
    r.state.resources().put(&id, kept)?;
    Ok(())
}

/// What a deleted workspace keeps of the workspace it was (never shown).
const KEPT_WORKSPACE: &str = "_workspace";

fn deleted_workspaces(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    Ok(cx
        .state
        .resources()
        .in_scope(&cx.id, DELETED_WORKSPACE_TYPE)?
        .into_iter()
        .filter(|d| recoverable(cx, d))
        .filter_map(|mut d| d.get_mut(KEPT_WORKSPACE).map(Value::take))
        .collect())
}

/// Internal bookkeeping never leaves the row.
fn workspace_read(_: &crate::state::AppState, row: &mut Value) -> Result<(), ArmError> {
    if let Some(p) = row["properties"].as_object_mut() {
        p.shift_remove("keysMade");
    }
    Ok(())
}

/// A workspace's `customerId` (kept across updates), SKU and retention defaults;
/// a new workspace named as one deleted in its group within 14 days is that
/// workspace, recovered.
fn workspace(cx: &Ctx, row: &mut Value, old: Option<&Value>) -> Result<(), ArmError> {
    let mut recovered = None;
    if old.is_none()
        && let Some(id) = deleted_workspace_id(&cx.id)
        && let Some(deleted) = cx.state.resources().delete(&id)?
        && recoverable(cx, &deleted)
    {
        recovered = deleted.get(KEPT_WORKSPACE).cloned();
    }
    let old = old.or(recovered.as_ref());
    let customer = old
        .and_then(|o| o["properties"]["customerId"].as_str().map(str::to_string))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let created = old
        .and_then(|o| o["properties"]["createdDate"].as_str().map(str::to_string))
        .unwrap_or_else(|| now_text(cx));
    let p = &mut row["properties"];
    p["customerId"] = json!(customer);
    p["createdDate"] = json!(created);
    p["modifiedDate"] = json!(now_text(cx));
    p["provisioningState"] = json!("Succeeded");
    if p.get("sku").is_none() {
        p["sku"] = json!({"name": "PerGB2018"});
    }
    if p.get("retentionInDays").is_none() {
        p["retentionInDays"] = json!(30);
    }
    Ok(())
}

fn workspace_keys(cx: &Ctx, row: &Value) -> Value {
    let made = &row["properties"]["keysMade"];
    json!({
        "primarySharedKey": derived(cx, "primary", made),
        "secondarySharedKey": derived(cx, "secondary", made),
    })
}

/// `POST …/workspaces/{w}/sharedKeys` → both keys.
fn shared_keys(cx: &Ctx) -> Result<Response, ArmError> {
    let row = row(cx)?;
    Ok(json_response(StatusCode::OK, &workspace_keys(cx, &row)))
}

/// `POST …/workspaces/{w}/regenerateSharedKey` → new keys.
fn regenerate_shared_keys(cx: &Ctx) -> Result<Response, ArmError> {
    let mut row = row(cx)?;
    row["properties"]["keysMade"] = json!(now_text(cx));
    cx.state.resources().put(&cx.id, row.clone())?;
    Ok(json_response(StatusCode::OK, &workspace_keys(cx, &row)))
}
