//! What the network model reads of private endpoints and private DNS: the
//! address a registry's name resolves to from inside a virtual network, and
//! the approved private endpoint holding that address. Read from the stored
//! rows the Network providers write (an endpoint's `customDnsConfigs` and
//! connections, a registry's `privateEndpointConnections`, a zone's links
//! and A record sets); this module calls no provider.

use crate::state::AppState;
use crate::store::tables;
use serde_json::Value;

const ENDPOINT_TYPE: &str = "Microsoft.Network/privateEndpoints";
const ZONE_TYPE: &str = "Microsoft.Network/privateDnsZones";
/// The zone that names registries privately.
const REGISTRY_ZONE: &str = "privatelink.azurecr.io";

/// What `registry_name` resolves to from inside `vnet_id`: a private IP when a
/// linked `privatelink.azurecr.io` zone has an A record for the registry.
pub fn resolve_registry_privately(
    state: &AppState,
    vnet_id: &str,
    registry_name: &str,
) -> Option<String> {
    let zones = state.resources().of_type(ZONE_TYPE).ok()?;
    for (zid, _) in zones.iter().filter(|(_, z)| {
        z["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(REGISTRY_ZONE))
    }) {
        let linked = state
            .store
            .scan(tables::RESOURCES, &format!("{zid}/virtualnetworklinks/"))
            .ok()?
            .iter()
            .any(|(_, v)| {
                v["properties"]["virtualNetwork"]["id"]
                    .as_str()
                    .is_some_and(|i| i.eq_ignore_ascii_case(vnet_id))
            });
        if !linked {
            continue;
        }
        let record = format!("{zid}/a/{}", registry_name.to_ascii_lowercase());
        if let Some(rec) = state.store.get(tables::RESOURCES, &record).ok()? {
            return rec["properties"]["aRecords"][0]["ipv4Address"]
                .as_str()
                .map(str::to_string);
        }
    }
    None
}

/// The private endpoint owning `ip`, if its connection to `registry_id` is approved.
pub fn approved_endpoint_at(state: &AppState, ip: &str, registry_id: &str) -> Option<String> {
    state
        .resources()
        .of_type(ENDPOINT_TYPE)
        .ok()?
        .into_iter()
        .map(|(_, v)| v)
        .find_map(|pe| {
            let here = pe["properties"]["customDnsConfigs"]
                .as_array()?
                .iter()
                .any(|d| {
                    d["ipAddresses"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == ip))
                });
            let pe_id = pe["id"].as_str().unwrap_or_default();
            let ok = connections(&pe).any(|c| {
                c["properties"]["privateLinkServiceId"]
                    .as_str()
                    .is_some_and(|r| r.eq_ignore_ascii_case(registry_id))
                    && registry_connection_approved(state, registry_id, pe_id)
            });
            (here && ok).then(|| pe_id.to_string())
        })
}

/// A private endpoint row's connections, automatic then manual.
pub fn connections(pe: &Value) -> impl Iterator<Item = &Value> {
    pe["properties"]["privateLinkServiceConnections"]
        .as_array()
        .into_iter()
        .chain(pe["properties"]["manualPrivateLinkServiceConnections"].as_array())
        .flatten()
}

fn registry_connection_approved(state: &AppState, registry_id: &str, pe_id: &str) -> bool {
    state
        .store
        .get(tables::RESOURCES, &registry_id.to_ascii_lowercase())
        .ok()
        .flatten()
        .is_some_and(|r| {
            r["properties"]["privateEndpointConnections"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| {
                    c["properties"]["privateEndpoint"]["id"]
                        .as_str()
                        .is_some_and(|p| p.eq_ignore_ascii_case(pe_id))
                        && c["properties"]["privateLinkServiceConnectionState"]["status"]
                            == "Approved"
                })
        })
}
