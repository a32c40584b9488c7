//! What a subnet is linked to, and what may be put behind a private
//! endpoint, as NRP computes them (served by [`crate::providers::by_spec`]):
//!
//! - `…/subnets/{s}/ServiceAssociationLinks`: a delegated subnet that ACI
//!   container groups use carries ACI's link (`acisal`, the spec example
//!   `VirtualNetworkGetServiceAssociationLinks.json`, in the field order
//!   azure-cli's `test_webapp_vnetDelegation` recorded for App Service's
//!   link) while any group uses it;
//! - `…/subnets/{s}/ResourceNavigationLinks`: made by services azemu does
//!   not emulate (Redis, App Service Environments): always none;
//! - `…/subnets/{s}/PrepareNetworkPolicies|UnprepareNetworkPolicies`: the
//!   network intent policies a delegated service (SQL Managed Instance) asks
//!   NRP for; azemu keeps no intent policies, so both acknowledge a
//!   well-formed request and change nothing;
//! - `locations/{l}/availablePrivateEndpointTypes`: the types azemu can put
//!   a private endpoint on (container registries).

use crate::arm::{ArmError, ResourceId, locations};
use crate::providers::by_spec::{ActionHook, Behaviour, Ctx, network_etag};
use crate::providers::json_response;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// A subnet's actions (its behaviour is [`super::virtual_networks::SUBNET`]).
pub const SUBNET_ACTIONS: &[(&str, ActionHook)] = &[
    ("ServiceAssociationLinks", service_association_links),
    ("ResourceNavigationLinks", resource_navigation_links),
    ("PrepareNetworkPolicies", network_policies),
    ("UnprepareNetworkPolicies", network_policies),
];

pub const ENDPOINT_TYPES: Behaviour = Behaviour {
    lists: &[("availablePrivateEndpointTypes", endpoint_types)],
    ..Behaviour::of("Microsoft.Network/locations/availablePrivateEndpointTypes")
};

const ACI_GROUP: &str = "Microsoft.ContainerInstance/containerGroups";

/// The container groups whose `subnetIds` name `subnet` (an index read).
fn groups_in(cx: &Ctx, subnet: &ResourceId) -> Vec<Value> {
    let key = subnet.to_string();
    crate::store::index::RESOURCES_BY_SUBNET
        .find(cx.state.store.as_ref(), &key.to_ascii_lowercase())
        .unwrap_or_default()
        .into_iter()
        .map(|(_, row)| row)
        .filter(|row| {
            row["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(ACI_GROUP))
                && row["properties"]["subnetIds"].as_array().is_some_and(|a| {
                    a.iter().any(|s| {
                        s["id"]
                            .as_str()
                            .is_some_and(|i| i.eq_ignore_ascii_case(&key))
                    })
                })
        })
        .collect()
}

/// `GET …/subnets/{s}/ServiceAssociationLinks` (`ServiceAssociationLinks_List`).
fn service_association_links(cx: &Ctx) -> Result<Response, ArmError> {
    let groups = groups_in(cx, &cx.id);
    let mut value = vec![];
    if !groups.is_empty() {
        let mut regions: Vec<String> = vec![];
        for g in &groups {
            if let Some(l) = g["location"].as_str().map(locations::normalize)
                && !regions.contains(&l)
            {
                regions.push(l);
            }
        }
        value.push(json!({
            "name": "acisal",
            "id": format!("{}/serviceAssociationLinks/acisal", cx.id),
            "etag": network_etag(),
            "type": "Microsoft.Network/virtualNetworks/subnets/serviceAssociationLinks",
            "properties": {
                "provisioningState": "Succeeded",
                "linkedResourceType": ACI_GROUP,
                "allowDelete": true,
                "locations": regions,
            },
        }));
    }
    Ok(json_response(StatusCode::OK, &json!({ "value": value })))
}

/// `GET …/subnets/{s}/ResourceNavigationLinks` (`ResourceNavigationLinks_List`).
fn resource_navigation_links(_cx: &Ctx) -> Result<Response, ArmError> {
    Ok(json_response(StatusCode::OK, &json!({ "value": [] })))
}

/// `POST …/subnets/{s}/PrepareNetworkPolicies` and `UnprepareNetworkPolicies`:
/// 200, no body (the spec's synchronous answer), for a body naming a service.
fn network_policies(cx: &Ctx) -> Result<Response, ArmError> {
    let body = cx.req.json_body()?;
    if body["serviceName"].as_str().is_none_or(str::is_empty) {
        // TODO-fidelity: NRP's words for a request without `serviceName` were
        // not found (searched azure-cli recordings and issues for
        // PrepareNetworkPolicies).
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestFormat",
            "Cannot parse the request. The serviceName is required.",
        ));
    }
    Ok(StatusCode::OK.into_response())
}

/// The types a private endpoint can connect to in azemu, with the service's name.
// TODO-fidelity: `displayName` as Azure words it for container registries
// was not found (searched azure-cli recordings and the docs for
// `availablePrivateEndpointTypes/Microsoft.ContainerRegistry`).
const ENDPOINT_TARGETS: &[(&str, &str)] = &[(
    "Microsoft.ContainerRegistry/registries",
    "Container Registry",
)];

/// `GET {S}[/resourceGroups/{g}]/providers/Microsoft.Network/locations/{l}/
/// availablePrivateEndpointTypes`: ids under the subscription or the group
/// (the spec's examples `AvailablePrivateEndpointTypes*Get.json`).
fn endpoint_types(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    let asked = cx.id.name();
    if locations::known(asked).is_none() {
        return Err(ArmError::no_registered_provider(
            asked,
            cx.req.query("api-version").unwrap_or_default(),
            "Microsoft.Network",
            "locations/availablePrivateEndpointTypes",
        ));
    }
    let scope = super::addresses::list_scope(&cx.id);
    Ok(ENDPOINT_TARGETS
        .iter()
        .map(|(ty, display)| {
            let name = ty.replace('/', ".");
            json!({
                "name": name,
                "id": format!("{scope}/providers/Microsoft.Network/availablePrivateEndpointTypes/{name}"),
                "type": "Microsoft.Network/availablePrivateEndpointTypes",
                "resourceName": ty,
                "displayName": display,
            })
        })
        .collect())
}
