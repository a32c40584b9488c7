//! Microsoft.Network. Private endpoints are routed here by hand; virtual
//! networks (with subnets and peerings), network security groups, route
//! tables, public IPs and private DNS are Behaviours of the spec layer
//! ([`crate::providers::by_spec`]).

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
    Err(super::unknown_type(req, NAMESPACE, &id.resource_type()))
}
