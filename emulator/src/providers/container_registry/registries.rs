//! Registries: `Registries_Create` (LRO: 201 `Creating` + `Azure-AsyncOperation`),
//! `_Get`, `_Update` (PATCH), `_Delete`, `_List`, `_ListByResourceGroup`,
//! `_CheckNameAvailability`, `_ListCredentials`, `_RegenerateCredential`.
//!
//! SKU rules (../shared/notes/acr-aci-semantics.md §2–3): network rules,
//! disabling public access and data endpoints are Premium-only; at most 100
//! IP rules. Names are 5–50 alphanumerics and globally unique (one DNS name,
//! `<name>.azurecr.io`, per registry).

use super::NAMESPACE;
use crate::arm::envelope::{self, system_data};
use crate::arm::lro::{Operation, OperationKind, set_polling_headers};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::clock::arm_timestamp;
use crate::providers::{identity, json_response, lro_delay};
use crate::state::AppState;
use crate::store::tables;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

pub const TYPE: &str = "Microsoft.ContainerRegistry/registries";
/// Where every registry's data plane lives.
pub const LOGIN_SUFFIX: &str = "azurecr.io";
const MAX_IP_RULES: usize = 100;

pub fn dispatch(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    tail: Option<&str>,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    match (tail.map(str::to_ascii_lowercase).as_deref(), &req.method) {
        (None, &Method::PUT) => create_or_update(state, req, id),
        (None, &Method::GET) => Ok(json_response(StatusCode::OK, &render(&require(state, id)?))),
        (None, &Method::PATCH) => update(state, req, id),
        (None, &Method::DELETE) => delete(state, id),
        (Some("listcredentials"), &Method::POST) => list_credentials(state, id),
        (Some("regeneratecredential"), &Method::POST) => regenerate_credential(state, req, id),
        (Some(t), _) => Err(crate::providers::unknown_type(
            req,
            NAMESPACE,
            &format!("registries/{t}"),
        )),
        (None, m) => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

/// A registry as the ContainerRegistry RP returns it: the identity `type` in
/// camel case (`systemAssigned`, `userAssigned`, `systemAssigned,
/// userAssigned`), as azure-cli's recordings of `acr identity assign/show`
/// have it from `GET`, `PUT` and `PATCH` on the registry. ARM's own
/// `/resources` list keeps the stored `SystemAssigned` form, as recorded too.
fn render(row: &Value) -> Value {
    let mut v = row.clone();
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
    v
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

/// The registry whose name (`myreg` of `myreg.azurecr.io`) is `name`.
pub fn by_name(state: &AppState, name: &str) -> Result<Option<Value>, ArmError> {
    by_login_server(
        state,
        &format!("{}.{LOGIN_SUFFIX}", name.to_ascii_lowercase()),
    )
}

/// The registry whose login server is `host` (any case): an index read, the
/// one registry lookup of the data plane, ACI pulls and task runs.
pub fn by_login_server(state: &AppState, host: &str) -> Result<Option<Value>, ArmError> {
    Ok(crate::store::index::REGISTRIES_BY_LOGIN_SERVER
        .first(state.store.as_ref(), &host.to_ascii_lowercase())?
        .map(|(_, v)| v))
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

/// `PUT` → 201 `Creating` (+ `Azure-AsyncOperation`), 200 for an update.
fn create_or_update(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    let name = id.name();
    if !valid_name(name) {
        return Err(invalid_name(name));
    }
    let body = req.json_object()?;
    let location = envelope::location(&body)?;
    let tags = envelope::tags(&body)?;
    let sku = sku_of(
        &body
            .get("sku")
            .map(|s| s["name"].clone())
            .unwrap_or(Value::Null),
    )?;
    let existing = load(state, id)?;
    crate::arm::etag::check_preconditions(&req.headers, existing.as_ref().map(|_| ""))?;
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
    if let Some(old) = &existing {
        let old_location = old["location"].as_str().unwrap_or_default();
        if old_location != location {
            return Err(ArmError::invalid_resource_location(
                name,
                old_location,
                location,
                id.resource_group.as_deref().unwrap_or_default(),
            ));
        }
    }
    let now = arm_timestamp(req.now);
    // PUT replaces the registry: settings it does not send go back to their
    // defaults; what the service computed (creation date, connections) stays.
    let mut props = default_properties(name, &now);
    if let Some(old) = &existing {
        for k in ["creationDate", "privateEndpointConnections"] {
            props[k] = old["properties"][k].clone();
        }
    }
    let input = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    merge_properties(&mut props, &input)?;
    check_sku_rules(sku, &props)?;
    let ident = identity::apply(state, req, id, body.get("identity"))?;
    props["provisioningState"] = json!(if existing.is_some() {
        "Updating"
    } else {
        "Creating"
    });

    let mut row = json!({
        "sku": {"name": sku, "tier": sku},
        "type": TYPE,
        "id": id.to_string(),
        "name": name,
        "location": location,
        "tags": tags.unwrap_or_else(|| json!({})),
        "systemData": system_data(&req.principal, req.now, existing.as_ref().map(|o| &o["systemData"])),
        "properties": props,
    });
    if let Some(i) = ident {
        row["identity"] = i;
    }
    if existing.is_none() {
        ensure_credentials(state, id)?;
    }
    row["properties"]["dataEndpointHostNames"] =
        super::children::data_endpoint_host_names(state, id, &row, None, None)?;
    state.resources().put(id, row.clone())?;
    super::children::ensure_home_replication(state, id, &row, &row["systemData"])?;
    let op = Operation::start(
        &id.subscription,
        OperationKind::Provision {
            resource_id: id.to_string(),
        },
        "registries",
        req.now,
        lro_delay(state),
    );
    op.save(state.store.as_ref())?;
    let v = req.query("api-version").unwrap_or_default();
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = json_response(status, &render(&row));
    let async_url = op.async_operation_url(&req.base.0, NAMESPACE, location, v);
    set_polling_headers(&mut resp, None, Some(&async_url));
    Ok(resp)
}

/// `PATCH` → 200 with the result (sku, tags, identity, properties).
fn update(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    let mut row = require(state, id)?;
    let body = req.json_object()?;
    let sku = match body.get("sku") {
        Some(s) => sku_of(&s["name"])?,
        None => sku_of(&row["sku"]["name"])?,
    };
    if body.contains_key("tags") {
        envelope::set_tags(
            &mut row,
            envelope::tags(&body)?.unwrap_or_else(|| json!({})),
        );
    }
    let input = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    merge_properties(&mut row["properties"], &input)?;
    check_sku_rules(sku, &row["properties"])?;
    if body.contains_key("identity") {
        match identity::apply(state, req, id, body.get("identity"))? {
            Some(i) => row["identity"] = i,
            None => {
                if let Some(o) = row.as_object_mut() {
                    o.shift_remove("identity");
                }
            }
        }
    }
    row["sku"] = json!({"name": sku, "tier": sku});
    row["systemData"] = system_data(&req.principal, req.now, Some(&row["systemData"]));
    row["properties"]["dataEndpointHostNames"] =
        super::children::data_endpoint_host_names(state, id, &row, None, None)?;
    state.resources().put(id, row.clone())?;
    super::children::ensure_home_replication(state, id, &row, &row["systemData"])?;
    Ok(json_response(StatusCode::OK, &render(&row)))
}

/// `DELETE` → 200 (the registry, its credentials and its system identity go), 204 if absent.
fn delete(state: &AppState, id: &ResourceId) -> Result<Response, ArmError> {
    match state.resources().delete(id)? {
        Some(_) => {
            state.store.delete(tables::ACR_CREDENTIALS, &id.key())?;
            identity::resource_deleted(state, &id.to_string())?;
            // Its children (scope maps, tokens, tasks and their identities) and runs go with it.
            let prefix = format!("{}/", id.key());
            for (k, v) in state.store.scan(tables::RESOURCES, &prefix)? {
                state.store.delete(tables::RESOURCES, &k)?;
                if let Some(child) = v["id"].as_str() {
                    identity::resource_deleted(state, child)?;
                }
            }
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
            for (k, _) in state
                .store
                .scan(tables::ROLE_ASSIGNMENTS, &format!("{}/", id.key()))?
            {
                crate::authz::access::delete_assignment(state, &k)?;
            }
            // Its content: a registry created again under the name starts empty.
            // The blob files nothing refers to any more are swept at the next start.
            let content = format!("{}/", id.name().to_ascii_lowercase());
            for table in [
                crate::oci::tables::TAGS,
                crate::oci::tables::MANIFESTS,
                crate::oci::tables::BLOB_LINKS,
            ] {
                for (k, _) in state.store.scan(table, &content)? {
                    state.store.delete(table, &k)?;
                }
            }
            Ok(StatusCode::OK.into_response())
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// `GET {S|RG}/providers/Microsoft.ContainerRegistry/registries`
pub fn list(state: &AppState, req: &ArmRequest, scope: &ResourceId) -> Result<Response, ArmError> {
    crate::providers::list_tracked(state, req, scope, TYPE, render)
}

/// `POST {S}/providers/Microsoft.ContainerRegistry/checkNameAvailability` `{name, type}`
pub fn check_name_availability(state: &AppState, req: &ArmRequest) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    if req.method != Method::POST {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let body = req.json_object()?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    let answer = if !valid_name(name) {
        json!({"nameAvailable": false, "reason": "Invalid", "message": "The specified resource name is invalid. Registry names may contain only alpha numeric characters and must be between 5 and 50 characters."})
    } else if by_name(state, name)?.is_some() {
        json!({"nameAvailable": false, "reason": "AlreadyExists", "message": format!("The registry {name} is already in use.")})
    } else {
        json!({"nameAvailable": true})
    };
    Ok(json_response(StatusCode::OK, &answer))
}

fn new_password() -> String {
    // ACR admin passwords are 52 characters of base64-like text.
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{}", &b[..20])
}

fn ensure_credentials(state: &AppState, id: &ResourceId) -> Result<Value, ArmError> {
    if let Some(c) = state.store.get(tables::ACR_CREDENTIALS, &id.key())? {
        return Ok(c);
    }
    let c = json!({"password": new_password(), "password2": new_password()});
    state
        .store
        .put(tables::ACR_CREDENTIALS, &id.key(), c.clone())?;
    Ok(c)
}

/// The admin user's passwords, when the admin user is enabled.
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
    let c = ensure_credentials(state, &id)?;
    let pw = ["password", "password2"]
        .iter()
        .filter_map(|k| c[*k].as_str().map(str::to_string))
        .collect();
    Ok(Some((
        registry["name"].as_str().unwrap_or_default().to_string(),
        pw,
    )))
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
fn list_credentials(state: &AppState, id: &ResourceId) -> Result<Response, ArmError> {
    let row = require(state, id)?;
    if row["properties"]["adminUserEnabled"] != true {
        return Err(admin_disabled());
    }
    let c = ensure_credentials(state, id)?;
    Ok(json_response(
        StatusCode::OK,
        &credentials_body(row["name"].as_str().unwrap_or_default(), &c),
    ))
}

/// `POST …/regenerateCredential` `{"name": "password"|"password2"}`.
fn regenerate_credential(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    let row = require(state, id)?;
    if row["properties"]["adminUserEnabled"] != true {
        return Err(admin_disabled());
    }
    let body = req.json_object()?;
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
    let mut c = ensure_credentials(state, id)?;
    c[which] = json!(new_password());
    state
        .store
        .put(tables::ACR_CREDENTIALS, &id.key(), c.clone())?;
    Ok(json_response(
        StatusCode::OK,
        &credentials_body(row["name"].as_str().unwrap_or_default(), &c),
    ))
}
