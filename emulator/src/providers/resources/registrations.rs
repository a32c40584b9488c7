//! Resource providers and their registration (`Providers_List`, `Providers_Get`,
//! `Providers_Register`, `Providers_Unregister`). The catalog lists the
//! namespaces azemu knows; registration state is kept per subscription.

use crate::arm::{ArmError, ArmRequest, ResourceId, api_version, locations};
use crate::providers::json_response;
use crate::state::AppState;
use crate::store::tables;
use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// Namespace → resource types azemu knows of. A namespace listed here but not
/// yet served answers `InvalidResourceType` rather than `InvalidResourceNamespace`.
const CATALOG: &[(&str, &[&str])] = &[
    (
        "Microsoft.Resources",
        &[
            "subscriptions",
            "resourceGroups",
            "resources",
            "deployments",
            "tenants",
            "operationResults",
        ],
    ),
    (
        "Microsoft.Authorization",
        &[
            "roleAssignments",
            "roleDefinitions",
            "permissions",
            "denyAssignments",
        ],
    ),
    (
        "Microsoft.ManagedIdentity",
        &["userAssignedIdentities", "identities"],
    ),
    (
        "Microsoft.ContainerRegistry",
        &[
            "registries",
            "registries/tasks",
            "registries/runs",
            "registries/taskRuns",
            "registries/privateEndpointConnections",
        ],
    ),
    (
        "Microsoft.ContainerInstance",
        &["containerGroups", "locations", "locations/operations"],
    ),
    (
        "Microsoft.Network",
        &[
            "virtualNetworks",
            "virtualNetworks/subnets",
            "privateEndpoints",
            "privateDnsZones",
            "privateDnsZones/virtualNetworkLinks",
            "networkInterfaces",
        ],
    ),
];

/// Namespaces registered without asking, as in a new Azure subscription.
const ALWAYS_REGISTERED: &[&str] = &["Microsoft.Resources", "Microsoft.Authorization"];

pub fn catalog(namespace: &str) -> Option<(&'static str, &'static [&'static str])> {
    CATALOG
        .iter()
        .copied()
        .find(|(ns, _)| ns.eq_ignore_ascii_case(namespace))
}

fn state_of(state: &AppState, sub: &str, ns: &str) -> Result<String, ArmError> {
    if ALWAYS_REGISTERED.iter().any(|n| n.eq_ignore_ascii_case(ns)) {
        return Ok("Registered".into());
    }
    let key = format!("{sub}/{ns}").to_ascii_lowercase();
    Ok(state
        .store
        .get(tables::REGISTRATIONS, &key)?
        .and_then(|v| v.as_str().map(str::to_string))
        // Azure registers the common namespaces on first use; azemu starts them registered.
        .unwrap_or_else(|| "Registered".into()))
}

fn provider_body(
    state: &AppState,
    sub: &str,
    ns: &'static str,
    types: &[&str],
) -> Result<Value, ArmError> {
    let resource_types: Vec<Value> = types
        .iter()
        .map(|t| {
            let versions = api_version::supported_versions(&format!("{ns}/{t}"));
            json!({
                "resourceType": t,
                "locations": locations::ALL.iter().take(12).map(|l| l.to_string()).collect::<Vec<_>>(),
                "apiVersions": versions,
                "capabilities": "None",
            })
        })
        .collect();
    Ok(json!({
        "id": format!("/subscriptions/{sub}/providers/{ns}"),
        "namespace": ns,
        "registrationState": state_of(state, sub, ns)?,
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": resource_types,
    }))
}

/// `GET {S}/providers` → 200
pub fn providers_list(
    state: &AppState,
    req: &ArmRequest,
    sub: &ResourceId,
) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Resources/providers")?;
    if req.method != Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let value = CATALOG
        .iter()
        .map(|(ns, types)| provider_body(state, &sub.subscription, ns, types))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json_response(StatusCode::OK, &json!({ "value": value })))
}

/// `GET {S}/providers/{ns}` → 200, 404 for a namespace azemu doesn't know
pub fn providers_get(
    state: &AppState,
    req: &ArmRequest,
    sub: &ResourceId,
    ns: &str,
) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Resources/providers")?;
    if req.method != Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let (ns, types) = catalog(ns).ok_or_else(|| not_found(ns))?;
    Ok(json_response(
        StatusCode::OK,
        &provider_body(state, &sub.subscription, ns, types)?,
    ))
}

fn not_found(ns: &str) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "InvalidResourceNamespace",
        format!("The resource namespace '{ns}' is invalid."),
    )
}

/// `POST {S}/providers/{ns}/register|unregister` → 200 with the provider
pub fn providers_action(
    state: &AppState,
    req: &ArmRequest,
    sub: &ResourceId,
    ns: &str,
    action: &str,
) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Resources/providers")?;
    if req.method != Method::POST {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let (ns, types) = catalog(ns).ok_or_else(|| not_found(ns))?;
    if !ALWAYS_REGISTERED.contains(&ns) {
        let value = if action == "register" {
            "Registered"
        } else {
            "Unregistered"
        };
        state.store.put(
            tables::REGISTRATIONS,
            &format!("{}/{ns}", sub.subscription).to_ascii_lowercase(),
            json!(value),
        )?;
    }
    Ok(json_response(
        StatusCode::OK,
        &provider_body(state, &sub.subscription, ns, types)?,
    ))
}
