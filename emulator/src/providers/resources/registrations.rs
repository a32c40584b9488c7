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
    namespaces()
        .iter()
        .find(|(ns, _)| ns.eq_ignore_ascii_case(namespace))
        .copied()
}

/// Every namespace azemu serves: the hand-written ones, then those only the
/// spec table serves, each with the types listed by hand.
/// Worked out once (asked on every request the spec layer serves).
fn namespaces() -> &'static [(&'static str, &'static [&'static str])] {
    type Namespaces = Vec<(&'static str, &'static [&'static str])>;
    static ALL: std::sync::OnceLock<Namespaces> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Namespaces = CATALOG.to_vec();
        for ns in crate::arm::spec::namespaces() {
            if !all.iter().any(|(n, _)| n.eq_ignore_ascii_case(ns)) {
                all.push((ns, &[]));
            }
        }
        all
    })
}

/// A namespace's resource types: those listed by hand, then every type the
/// specs define (actions included, as ARM lists `registries/listCredentials`),
/// each once, in the specs' spelling.
fn resource_types(ns: &str, listed: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = listed.iter().map(|t| t.to_string()).collect();
    for (t, _) in crate::arm::spec::resource_types(ns) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&t)) {
            out.push(t);
        }
    }
    out
}

/// The regions a type is offered in, as Azure lists them: display names
/// ("East US"), and none for what is not regional (`operations`,
/// `checkNameAvailability`: azure-cli's recording of `az provider show -n
/// Microsoft.KeyVault` in `storage/…/test_customer_managed_key.yaml`).
fn type_locations(resource_type: &str) -> Vec<&'static str> {
    if ["operations", "checkNameAvailability"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(resource_type))
    {
        return vec![];
    }
    locations::REGIONS
        .iter()
        .take(12)
        .map(|r| r.display_name)
        .collect()
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
    let resource_types: Vec<Value> = resource_types(ns, types)
        .iter()
        .map(|t| {
            let versions = api_version::supported_versions(&format!("{ns}/{t}"));
            json!({
                "resourceType": t,
                "locations": type_locations(t),
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
    let value = namespaces()
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

/// A provider as the tenant-scope API shows it: no registration, the types
/// with their versions and `defaultApiVersion` (the newest stable).
fn tenant_body(ns: &'static str, types: &[&str]) -> Value {
    let resource_types: Vec<Value> = resource_types(ns, types)
        .iter()
        .map(|t| {
            let versions = api_version::supported_versions(&format!("{ns}/{t}"));
            let mut body = json!({
                "resourceType": t,
                "locations": type_locations(t),
                "apiVersions": versions,
            });
            if let Some(d) = versions.iter().find(|v| !v.contains('-') || v.len() == 10) {
                body["defaultApiVersion"] = json!(d);
            }
            body["capabilities"] = json!("None");
            body
        })
        .collect();
    json!({ "namespace": ns, "resourceTypes": resource_types })
}

/// `GET /providers` → 200: every namespace at tenant scope.
pub fn tenant_providers_list(req: &ArmRequest) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Resources/providers")?;
    if req.method != Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let value: Vec<Value> = namespaces()
        .iter()
        .map(|(ns, types)| tenant_body(ns, types))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "value": value })))
}

/// `GET /providers/{ns}` → 200, 404 for a namespace azemu doesn't know.
pub fn tenant_provider_get(req: &ArmRequest, ns: &str) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Resources/providers")?;
    if req.method != Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let (ns, types) = catalog(ns).ok_or_else(|| not_found(ns))?;
    Ok(json_response(StatusCode::OK, &tenant_body(ns, types)))
}

/// `GET /providers/{ns}/operations` → 200: the namespace's operations, from
/// the specs — `read`, `write`, `delete` of each resource type and each
/// action — shaped as the providers' own operations lists are
/// (`display.provider/resource/operation/description`).
// TODO-fidelity: the display texts are built from the specs' operation
// descriptions; Azure's lists are each provider's own words (only
// Microsoft.ManagedIdentity's example, MsiOperationsList.json, is in the specs).
pub fn provider_operations(req: &ArmRequest, ns: &str) -> Result<Response, ArmError> {
    let (ns, _) = catalog(ns).ok_or_else(|| not_found(ns))?;
    req.api_version(&format!("{ns}/operations"))?;
    if req.method != Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let mut value: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for op in crate::arm::spec::OPS {
        if !op.namespace().is_some_and(|n| n.eq_ignore_ascii_case(ns)) {
            continue;
        }
        let Some(name) = crate::arm::spec::operation_name(op) else {
            continue;
        };
        if !seen.insert(name.to_ascii_lowercase()) {
            continue;
        }
        let (resource, verb) = name
            .rsplit_once('/')
            .map(|(r, v)| (r.split_once('/').map(|x| x.1).unwrap_or(r), v))
            .unwrap_or_default();
        let operation = match verb {
            "read" => format!("Get {resource}"),
            "write" => format!("Create or Update {resource}"),
            "delete" => format!("Delete {resource}"),
            _ => format!("{resource}/{verb}"),
        };
        value.push(json!({
            "name": name,
            "display": {
                "provider": ns,
                "resource": resource,
                "operation": operation,
                "description": op.description,
            },
            "origin": "user,system",
        }));
    }
    Ok(json_response(StatusCode::OK, &json!({ "value": value })))
}
