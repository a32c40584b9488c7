//! What the network model reads of virtual networks: a subnet by its id, a
//! VNet's peerings, and whether traffic from one VNet reaches another. Read
//! from the rows the Network provider writes
//! ([`crate::providers::network::virtual_networks`]); this module calls no
//! provider.

use crate::arm::ResourceId;
use crate::state::AppState;
use serde_json::Value;

/// The stored subnet a resource id names, if its VNet exists.
pub fn find_subnet(state: &AppState, subnet_id: &str) -> Option<Value> {
    let id: ResourceId = subnet_id.parse().ok()?;
    let mut vnet = id.clone();
    vnet.providers.first_mut()?.types.truncate(1);
    let row = state.resources().get(&vnet).ok()??;
    row["properties"]["subnets"]
        .as_array()?
        .iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(subnet_id))
        })
        .cloned()
}

/// The peerings of `vnet` (a row).
pub fn peerings(vnet: &Value) -> impl Iterator<Item = &Value> {
    vnet["properties"]["virtualNetworkPeerings"]
        .as_array()
        .into_iter()
        .flatten()
}

/// Does peering `p` reach the VNet `to`?
pub fn reaches(p: &Value, to: &str) -> bool {
    p["properties"]["remoteVirtualNetwork"]["id"]
        .as_str()
        .is_some_and(|r| r.eq_ignore_ascii_case(to))
}

/// Can traffic from `from_vnet` reach `to_vnet` (the same VNet, or a connected peering with access allowed)?
pub fn routable(state: &AppState, from_vnet: &str, to_vnet: &str) -> bool {
    if from_vnet.eq_ignore_ascii_case(to_vnet) {
        return true;
    }
    let Ok(id) = from_vnet.parse::<ResourceId>() else {
        return false;
    };
    state.resources().get(&id).ok().flatten().is_some_and(|v| {
        peerings(&v).any(|p| {
            reaches(p, to_vnet)
                && p["properties"]["peeringState"] == "Connected"
                && p["properties"]["allowVirtualNetworkAccess"] != false
        })
    })
}
