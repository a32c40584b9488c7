//! Microsoft.Network: virtual networks and their subnets (spec
//! `virtualNetwork.json` 2024-05-01). Private endpoints and private DNS are
//! issue 6's next steps.

pub mod addresses;
pub mod private_dns;
pub mod private_endpoints;
pub mod security_groups;
pub mod subnet_links;
pub mod virtual_networks;

use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::state::AppState;
use axum::response::Response;

pub const NAMESPACE: &str = "Microsoft.Network";

/// `tags` as Microsoft.Network returns them: the request's map when it sent
/// one (`{}` included), no `tags` key at all when it did not (azure-cli's
/// recordings of `network vnet create`, `network private-endpoint create`,
/// `network private-dns zone create` and `link vnet create`).
fn set_tags(
    row: &mut serde_json::Value,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ArmError> {
    if let Some(t) = crate::arm::envelope::tags(body)? {
        crate::arm::envelope::set_tags(row, t);
    }
    Ok(())
}

pub fn collection(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    ty: &str,
) -> Result<Response, ArmError> {
    match ty.to_ascii_lowercase().as_str() {
        "virtualnetworks" => super::list_tracked(
            state,
            req,
            scope,
            virtual_networks::TYPE,
            serde_json::Value::clone,
        ),
        "privateendpoints" => super::list_tracked(
            state,
            req,
            scope,
            private_endpoints::TYPE,
            serde_json::Value::clone,
        ),
        _ => Err(super::unknown_type(req, NAMESPACE, ty)),
    }
}

pub fn resource(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    tail: Option<&str>,
) -> Result<Response, ArmError> {
    if let Some((pe, child)) = super::top_level(id, "privateEndpoints") {
        return match (child, tail) {
            (None, None) => private_endpoints::endpoint(state, req, &pe),
            (Some((t, name)), None) if t == "privatednszonegroups" => {
                private_endpoints::zone_group(state, req, &pe, name)
            }
            _ => Err(super::unknown_type(req, NAMESPACE, &id.resource_type())),
        };
    }
    let Some((vnet, child)) = super::top_level(id, "virtualNetworks") else {
        return Err(super::unknown_type(req, NAMESPACE, &id.resource_type()));
    };
    match (child, tail) {
        (None, None) => virtual_networks::dispatch(state, req, id),
        (None, Some(t)) if t.eq_ignore_ascii_case("subnets") => {
            virtual_networks::subnets_list(state, req, &vnet)
        }
        (Some((t, name)), None) if t.eq_ignore_ascii_case("subnets") => {
            virtual_networks::subnet(state, req, &vnet, name)
        }
        (Some((t, name)), None) if t == "virtualnetworkpeerings" => {
            virtual_networks::peering(state, req, &vnet, name)
        }
        _ => Err(super::unknown_type(req, NAMESPACE, &id.resource_type())),
    }
}
