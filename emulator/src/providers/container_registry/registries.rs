//! Registries, served by the spec layer ([`crate::providers::by_spec`]) with
//! the RP's rules on top: `Registries_Create` (201 `Creating` +
//! `Azure-AsyncOperation`), `_Update` (PATCH, 200), `_Delete` (with its runs,
//! webhook events and content), `_CheckNameAvailability`, `_ListCredentials`,
//! `_RegenerateCredential`, and the actions other modules hold (`importImage`,
//! `listUsages`, `generateCredentials`). The registry lookups every plane
//! uses are [`crate::acr::registry`].
//!
//! SKU rules (../shared/notes/acr-aci-semantics.md §2–3): network rules,
//! disabling public access and data endpoints are Premium-only; at most 100
//! IP rules. Names are 5–50 alphanumerics and globally unique (one DNS name,
//! `<name>.azurecr.io`, per registry).

use crate::acr::registry as domain;
use crate::arm::envelope;
use crate::arm::{ArmError, ResourceId};
use crate::clock::arm_timestamp;
use crate::providers::by_spec::{Behaviour, Ctx, Removal};
use crate::providers::{identity, json_response};
use crate::state::AppState;
use crate::store::tables;
use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

pub use crate::acr::registry::{TYPE, by_login_server, by_name, load};
/// Where every registry's data plane lives.
pub const LOGIN_SUFFIX: &str = "azurecr.io";
const MAX_IP_RULES: usize = 100;

/// Registries on the spec layer: Azure's rules for creating, changing and
/// deleting one, its identity type as the RP spells it, and its actions.
pub const REGISTRY: Behaviour = Behaviour {
    before_schema: Some(registry_request),
    on_write: Some(registry_write),
    on_removed: Some(registry_removed),
    // A PATCH is done when it answers (`test_acr_create_with_managed_registry`).
    statuses: &[("PATCH", 200)],
    on_read: Some(render),
    actions: &[
        ("listCredentials", list_credentials),
        ("regenerateCredential", regenerate_credential),
        ("importImage", super::import::import_image),
        ("listUsages", super::children::list_usages),
        (
            "generateCredentials",
            super::scope_maps::generate_credentials,
        ),
        ("scheduleRun", super::tasks::schedule_run),
        ("listBuildSourceUploadUrl", super::tasks::source_upload_url),
    ],
    ..Behaviour::of(TYPE)
};

/// `POST {S}/providers/Microsoft.ContainerRegistry/checkNameAvailability`.
pub const REGISTRY_NAMES: Behaviour = Behaviour {
    actions: &[("checkNameAvailability", check_name_availability)],
    ..Behaviour::of(super::NAMESPACE)
};

/// A registry as the ContainerRegistry RP returns it: the identity `type` in
/// camel case (`systemAssigned`, `userAssigned`, `systemAssigned,
/// userAssigned`), as azure-cli's recordings of `acr identity assign/show`
/// have it from `GET`, `PUT` and `PATCH` on the registry. ARM's own
/// `/resources` list keeps the stored `SystemAssigned` form, as recorded too.
fn render(_: &AppState, v: &mut Value) -> Result<(), ArmError> {
    if let Some(t) = v["identity"]["type"].as_str() {
        let camel = t
            .split(", ")
            .map(|part| {
                let mut c = part.chars();
                c.next()
                    .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(", ");
        v["identity"]["type"] = json!(camel);
    }
    Ok(())
}

fn require(state: &AppState, id: &ResourceId) -> Result<Value, ArmError> {
    load(state, id)?.ok_or_else(|| {
        ArmError::resource_not_found(
            &format!("{TYPE}/{}", id.name()),
            id.resource_group.as_deref().unwrap_or_default(),
        )
    })
}

fn valid_name(name: &str) -> bool {
    (5..=50).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn invalid_name(name: &str) -> ArmError {
    ArmError::new(
        StatusCode::BAD_REQUEST,
        "InvalidResourceName",
        format!(
            "The registry name '{name}' is invalid. Registry names may contain only alpha numeric characters and must be between 5 and 50 characters."
        ),
    )
}

fn bad(code: &'static str, message: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, code, message)
}

fn sku_of(v: &Value) -> Result<&'static str, ArmError> {
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("basic") => Ok("Basic"),
        Some("standard") => Ok("Standard"),
        Some("premium") => Ok("Premium"),
        Some(other) => Err(bad(
            "SkuNotSupported",
            format!(
                "The SKU '{other}' is not supported. Supported SKUs are 'Basic', 'Standard' and 'Premium'."
            ),
        )),
        None => Err(bad(
            "SkuRequired",
            "The sku property is required for this definition.".into(),
        )),
    }
}

fn default_properties(name: &str, now: &str) -> Value {
    json!({
        "loginServer": format!("{}.{LOGIN_SUFFIX}", name.to_ascii_lowercase()),
        "creationDate": now,
        "provisioningState": "Creating",
        "adminUserEnabled": false,
        "networkRuleSet": {"defaultAction": "Allow", "ipRules": []},
        "policies": {
            "quarantinePolicy": {"status": "disabled"},
            "trustPolicy": {"type": "Notary", "status": "disabled"},
            "retentionPolicy": {"days": 7, "lastUpdatedTime": now, "status": "disabled"},
            "exportPolicy": {"status": "enabled"},
            "azureADAuthenticationAsArmPolicy": {"status": "enabled"},
            "softDeletePolicy": {"retentionDays": 7, "lastUpdatedTime": now, "status": "disabled"},
        },
        "encryption": {"status": "disabled"},
        "status": null,
        "dataEndpointEnabled": false,
        "dataEndpointHostNames": [],
        "privateEndpointConnections": [],
        "publicNetworkAccess": "Enabled",
        "networkRuleBypassOptions": "AzureServices",
        "networkRuleBypassAllowedForTasks": false,
        "zoneRedundancy": "Disabled",
        "anonymousPullEnabled": false,
        "metadataSearch": "Disabled",
        "roleAssignmentMode": "LegacyRegistryPermissions",
    })
}

/// Copy the settable properties of `input` over `props`, validating values.
fn merge_properties(props: &mut Value, input: &Map<String, Value>) -> Result<(), ArmError> {
    let bool_keys = [
        "adminUserEnabled",
        "dataEndpointEnabled",
        "anonymousPullEnabled",
        "networkRuleBypassAllowedForTasks",
    ];
    for k in bool_keys {
        match input.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => props[k] = json!(b),
            Some(_) => {
                return Err(ArmError::invalid_request_content(&format!(
                    "Error converting value to type 'System.Boolean'. Path 'properties.{k}'."
                )));
            }
        }
    }
    let enums: [(&str, &[&str]); 5] = [
        ("publicNetworkAccess", &["Enabled", "Disabled"]),
        ("networkRuleBypassOptions", &["AzureServices", "None"]),
        ("zoneRedundancy", &["Enabled", "Disabled"]),
        (
            "roleAssignmentMode",
            &["LegacyRegistryPermissions", "AbacRepositoryPermissions"],
        ),
        ("metadataSearch", &["Enabled", "Disabled"]),
    ];
    for (k, allowed) in enums {
        if let Some(v) = input.get(k).filter(|v| !v.is_null()) {
            let s = v.as_str().unwrap_or_default();
            let Some(canon) = allowed.iter().find(|a| a.eq_ignore_ascii_case(s)) else {
                return Err(bad(
                    "InvalidParameter",
                    format!(
                        "The value '{v}' is not valid for 'properties.{k}'. Allowed values: {}.",
                        allowed.join(", ")
                    ),
                ));
            };
            props[k] = json!(canon);
        }
    }
    if let Some(nrs) = input.get("networkRuleSet").filter(|v| !v.is_null()) {
        let action = nrs["defaultAction"].as_str().unwrap_or("Allow");
        let action = ["Allow", "Deny"]
            .into_iter()
            .find(|a| a.eq_ignore_ascii_case(action))
            .ok_or_else(|| {
                bad(
                    "InvalidParameter",
                    format!(
                        "The value '{action}' is not valid for 'networkRuleSet.defaultAction'."
                    ),
                )
            })?;
        let mut rules = Vec::new();
        for r in nrs["ipRules"].as_array().into_iter().flatten() {
            let value = r["value"]
                .as_str()
                .or_else(|| r["ipAddressOrRange"].as_str())
                .unwrap_or_default();
            if crate::network::parse_ip_rule(value).is_none() {
                return Err(bad(
                    "InvalidIpRule",
                    format!(
                        "The IP rule value '{value}' is not a valid IPv4 address or CIDR range."
                    ),
                ));
            }
            rules.push(json!({"action": "Allow", "value": value}));
        }
        props["networkRuleSet"] = json!({"defaultAction": action, "ipRules": rules});
    }
    if let Some(pol) = input.get("policies").and_then(Value::as_object) {
        for (name, p) in pol {
            if let Some(status) = p.get("status").and_then(Value::as_str) {
                let status = status.to_ascii_lowercase();
                if status != "enabled" && status != "disabled" {
                    return Err(bad(
                        "InvalidParameter",
                        format!("The value '{status}' is not valid for 'policies.{name}.status'."),
                    ));
                }
                props["policies"][name]["status"] = json!(status);
            }
            for (k, v) in p.as_object().into_iter().flatten() {
                if k != "status" {
                    props["policies"][name][k] = v.clone();
                }
            }
        }
    }
    Ok(())
}

/// The SKU rules Azure applies to the final state.
fn check_sku_rules(sku: &str, props: &Value) -> Result<(), ArmError> {
    if sku != "Premium" {
        if props["publicNetworkAccess"] == "Disabled" {
            return Err(bad(
                "DisablingPublicNetworkAccessNotSupported",
                format!(
                    "Disabling public network access is not supported for the SKU {sku}. For more information, please visit https://aka.ms/acr/private-link."
                ),
            ));
        }
        let nrs = &props["networkRuleSet"];
        if nrs["ipRules"].as_array().is_some_and(|r| !r.is_empty()) {
            return Err(bad(
                "NetworkRuleNotSupported",
                format!("The requested feature IP rule is not supported for the SKU {sku}."),
            ));
        }
        if nrs["defaultAction"] == "Deny" {
            return Err(bad(
                "NetworkRuleNotSupported",
                format!(
                    "The requested feature network rule set is not supported for the SKU {sku}."
                ),
            ));
        }
        if props["dataEndpointEnabled"] == true {
            return Err(bad(
                "DataEndpointNotSupported",
                format!(
                    "The requested feature dedicated data endpoint is not supported for the SKU {sku}."
                ),
            ));
        }
    }
    if sku == "Basic" && props["anonymousPullEnabled"] == true {
        // Azure's words, as az prints them (MicrosoftDocs/azure-docs#94535 and
        // PR #101641): "(BadRequest) Anonymous pull is not supported for SKU
        // Managed_Basic. For more information on SKU tiers, …".
        return Err(bad(
            "BadRequest",
            "Anonymous pull is not supported for SKU Managed_Basic. For more information on SKU tiers, please visit https://aka.ms/acr/tiers.".to_string(),
        ));
    }
    if props["networkRuleSet"]["ipRules"]
        .as_array()
        .is_some_and(|r| r.len() > MAX_IP_RULES)
    {
        return Err(bad(
            "QuotaExceeded",
            format!(
                "The requested feature IP rule exceeds allowed quota {MAX_IP_RULES} for the SKU {sku}."
            ),
        ));
    }
    Ok(())
}

/// What the RP refuses before it reads the body against its schema: the
/// registry's name, then (on a PUT) its location and SKU, in its own words.
fn registry_request(cx: &Ctx, body: &Value) -> Result<(), ArmError> {
    let name = cx.id.name();
    if !valid_name(name) {
        return Err(invalid_name(name));
    }
    let body = body.as_object().cloned().unwrap_or_default();
    match cx.req.method {
        Method::PUT => {
            envelope::location(&body)?;
            sku_of(
                &body
                    .get("sku")
                    .map(|s| s["name"].clone())
                    .unwrap_or(Value::Null),
            )?;
        }
        _ => {
            if let Some(s) = body.get("sku") {
                sku_of(&s["name"])?;
            }
        }
    }
    Ok(())
}

/// A PUT replaces the registry (201 `Creating` + `Azure-AsyncOperation` for a
/// new one, 200 `Updating`); a PATCH changes what it sends (200). Settings a
/// PUT does not send go back to their defaults; what the service computed
/// (creation date, connections) stays.
fn registry_write(cx: &Ctx, row: &mut Value, existing: Option<&Value>) -> Result<(), ArmError> {
    let (state, req, id) = (cx.state, cx.req, &cx.id);
    let body = req.json_object()?;
    let input = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let next = match (&req.method, existing) {
        (&Method::PATCH, Some(old)) => {
            let mut next = old.clone();
            let sku = match body.get("sku") {
                Some(s) => sku_of(&s["name"])?,
                None => sku_of(&old["sku"]["name"])?,
            };
            // The tags and systemData the layer worked out.
            envelope::set_tags(&mut next, row["tags"].clone());
            merge_properties(&mut next["properties"], &input)?;
            check_sku_rules(sku, &next["properties"])?;
            if body.contains_key("identity") {
                match identity::apply(state, req, id, body.get("identity"))? {
                    Some(i) => next["identity"] = i,
                    None => {
                        if let Some(o) = next.as_object_mut() {
                            o.shift_remove("identity");
                        }
                    }
                }
            }
            next["sku"] = json!({"name": sku, "tier": sku});
            next["systemData"] = row["systemData"].clone();
            next
        }
        _ => {
            let name = id.name();
            let sku = sku_of(
                &body
                    .get("sku")
                    .map(|s| s["name"].clone())
                    .unwrap_or(Value::Null),
            )?;
            if existing.is_none() && by_name(state, name)?.is_some() {
                return Err(ArmError::new(
                    StatusCode::CONFLICT,
                    "AlreadyInUse",
                    format!(
                        "The registry DNS name {}.{LOGIN_SUFFIX} is already in use. You can check if the name is already claimed using following API: https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability",
                        name.to_ascii_lowercase()
                    ),
                ));
            }
            let now = arm_timestamp(req.now);
            let mut props = default_properties(name, &now);
            if let Some(old) = existing {
                for k in ["creationDate", "privateEndpointConnections"] {
                    props[k] = old["properties"][k].clone();
                }
            }
            merge_properties(&mut props, &input)?;
            check_sku_rules(sku, &props)?;
            let ident = identity::apply(state, req, id, body.get("identity"))?;
            props["provisioningState"] = json!(if existing.is_some() {
                "Updating"
            } else {
                "Creating"
            });
            // The RP's field order (azure-cli's recordings).
            let mut next = json!({
                "sku": {"name": sku, "tier": sku},
                "type": TYPE,
                "id": id.to_string(),
                "name": name,
                "location": row["location"],
                "tags": envelope::tags(&body)?.unwrap_or_else(|| json!({})),
                "systemData": row["systemData"],
                "properties": props,
            });
            if let Some(i) = ident {
                next["identity"] = i;
            }
            if existing.is_none() {
                domain::credentials(state, id)?;
            }
            next
        }
    };
    *row = next;
    row["properties"]["dataEndpointHostNames"] =
        super::children::data_endpoint_host_names(state, id, row, None, None)?;
    super::children::ensure_home_replication(state, id, row, &row["systemData"])?;
    Ok(())
}

/// What goes with a registry, by its own DELETE or its group's, besides the
/// resources under it (which the layer removes): its runs and their logs, its
/// webhook events, its uploaded sources and its content. A registry created
/// again under the name starts empty; blob files nothing refers to any more
/// are swept at the next start.
fn registry_removed(r: &Removal) -> Result<(), ArmError> {
    let (state, id) = (r.state, r.id);
    let prefix = format!("{}/", id.key());
    for table in [
        tables::ACR_RUNS,
        tables::ACR_RUN_LOGS,
        crate::acr::webhooks::EVENTS,
        crate::acr::webhooks::CALLBACKS,
    ] {
        for (k, _) in state.store.scan(table, &prefix)? {
            state.store.delete(table, &k)?;
        }
    }
    crate::storage::delete_sources_of(state, &id.key())?;
    let content = format!("{}/", id.name().to_ascii_lowercase());
    for table in [
        crate::oci::tables::TAGS,
        crate::oci::tables::MANIFESTS,
        crate::oci::tables::BLOB_LINKS,
        crate::oci::tables::REPOSITORIES,
    ] {
        for (k, _) in state.store.scan(table, &content)? {
            state.store.delete(table, &k)?;
        }
    }
    Ok(())
}

/// `POST {S}/providers/Microsoft.ContainerRegistry/checkNameAvailability` `{name, type}`
fn check_name_availability(cx: &Ctx) -> Result<Response, ArmError> {
    let body = cx.req.json_object()?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    let answer = if !valid_name(name) {
        json!({"nameAvailable": false, "reason": "Invalid", "message": "The specified resource name is invalid. Registry names may contain only alpha numeric characters and must be between 5 and 50 characters."})
    } else if by_name(cx.state, name)?.is_some() {
        json!({"nameAvailable": false, "reason": "AlreadyExists", "message": format!("The registry {name} is already in use.")})
    } else {
        json!({"nameAvailable": true})
    };
    Ok(json_response(StatusCode::OK, &answer))
}

fn admin_disabled() -> ArmError {
    ArmError::new(
        StatusCode::BAD_REQUEST,
        "AdminUserDisabled",
        "Admin user is disabled.",
    )
}

fn credentials_body(name: &str, c: &Value) -> Value {
    json!({
        "username": name,
        "passwords": [
            {"name": "password", "value": c["password"]},
            {"name": "password2", "value": c["password2"]},
        ]
    })
}

/// `POST …/listCredentials` → `{username, passwords:[{name,value}×2]}`.
fn list_credentials(cx: &Ctx) -> Result<Response, ArmError> {
    let row = require(cx.state, &cx.id)?;
    if row["properties"]["adminUserEnabled"] != true {
        return Err(admin_disabled());
    }
    let c = domain::credentials(cx.state, &cx.id)?;
    Ok(json_response(
        StatusCode::OK,
        &credentials_body(row["name"].as_str().unwrap_or_default(), &c),
    ))
}

/// `POST …/regenerateCredential` `{"name": "password"|"password2"}`.
fn regenerate_credential(cx: &Ctx) -> Result<Response, ArmError> {
    let row = require(cx.state, &cx.id)?;
    if row["properties"]["adminUserEnabled"] != true {
        return Err(admin_disabled());
    }
    let body = cx.req.json_object()?;
    let which = match body.get("name").and_then(Value::as_str) {
        Some(n) if n.eq_ignore_ascii_case("password") => "password",
        Some(n) if n.eq_ignore_ascii_case("password2") => "password2",
        _ => {
            return Err(bad(
                "InvalidParameter",
                "The value of 'name' must be 'password' or 'password2'.".into(),
            ));
        }
    };
    let c = domain::regenerate(cx.state, &cx.id, which)?;
    Ok(json_response(
        StatusCode::OK,
        &credentials_body(row["name"].as_str().unwrap_or_default(), &c),
    ))
}
