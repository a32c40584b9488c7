//! Private endpoints (`PrivateEndpoints_CreateOrUpdate` as an LRO, `_Get`,
//! `_Delete`, `_List`) to registries (group id `registry`), their DNS zone
//! groups (which write the A records into private DNS zones), and what makes
//! a VNet resolve a registry to one (the zones themselves are
//! [`super::private_dns`]'s).
//!
//! Creating an endpoint allocates its addresses in the subnet and adds a
//! private endpoint connection to the registry: approved when the caller may
//! approve (`…/privateEndpointConnectionsApproval/action` on the registry),
//! pending otherwise.

use crate::arm::envelope;
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::network::cidr::Cidr;
use crate::providers::json_response;
use crate::state::AppState;
use crate::store::tables;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

pub const TYPE: &str = "Microsoft.Network/privateEndpoints";
pub use super::private_dns::ZONE_TYPE;
const APPROVE: &str =
    "Microsoft.ContainerRegistry/registries/privateEndpointConnectionsApproval/action";

fn bad(code: &'static str, message: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, code, message)
}

fn etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
}

/// Addresses already taken in a subnet (container groups and endpoints).
fn used_addresses(state: &AppState, subnet_id: &str) -> u32 {
    let groups = super::virtual_networks::in_use_by(state, subnet_id).len() as u32;
    let endpoints: u32 = crate::store::index::RESOURCES_BY_SUBNET
        .find(
            state.store.as_ref(),
            &subnet_id.trim_end_matches('/').to_ascii_lowercase(),
        )
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| {
            v["type"] == TYPE
                && v["properties"]["subnet"]["id"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(subnet_id))
        })
        .map(|(_, v)| {
            v["properties"]["customDnsConfigs"]
                .as_array()
                .map(|a| a.len() as u32)
                .unwrap_or(0)
        })
        .sum();
    groups + endpoints
}

pub fn endpoint(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    match req.method {
        Method::GET => state
            .resources()
            .get(id)?
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(|| {
                ArmError::resource_not_found(
                    &format!("{TYPE}/{}", id.name()),
                    id.resource_group.as_deref().unwrap_or_default(),
                )
            }),
        Method::DELETE => match state.resources().delete(id)? {
            Some(pe) => {
                forget_connections(state, id, &pe)?;
                Ok(StatusCode::OK.into_response())
            }
            None => Ok(StatusCode::NO_CONTENT.into_response()),
        },
        Method::PUT => create(state, req, id),
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

/// The registries `pe` connects to forget its connections.
fn forget_connections(state: &AppState, id: &ResourceId, pe: &Value) -> Result<(), ArmError> {
    for c in pe["properties"]["privateLinkServiceConnections"]
        .as_array()
        .into_iter()
        .chain(pe["properties"]["manualPrivateLinkServiceConnections"].as_array())
        .flatten()
    {
        if let Some(reg) = c["properties"]["privateLinkServiceId"]
            .as_str()
            .and_then(|r| r.parse::<ResourceId>().ok())
            && let Some(mut row) = state.resources().get(&reg)?
            && let Some(list) = row["properties"]["privateEndpointConnections"].as_array_mut()
        {
            list.retain(|x| {
                !x["properties"]["privateEndpoint"]["id"]
                    .as_str()
                    .is_some_and(|p| p.eq_ignore_ascii_case(&id.to_string()))
            });
            state.resources().put(&reg, row)?;
        }
    }
    Ok(())
}

/// PUT: a new endpoint, or one replaced. A replaced endpoint's registries
/// forget its old connections before the new ones are made (a repeated PUT
/// leaves one connection, not two), and it keeps the addresses it had in the
/// same subnet for the same registries.
fn create(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    let body = req.json_object()?;
    let existing = state.resources().get(id)?;
    if let Some(old) = &existing {
        forget_connections(state, id, old)?;
    }
    let location = envelope::location(&body)?;
    let props = body.get("properties").cloned().unwrap_or(json!({}));
    let subnet_id = props["subnet"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let subnet = super::virtual_networks::find_subnet(state, &subnet_id)
        .ok_or_else(|| bad("InvalidResourceReference", format!("Resource {subnet_id} referenced by resource {id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.")))?;
    let prefix = Cidr::parse(
        subnet["properties"]["addressPrefix"]
            .as_str()
            .unwrap_or_default(),
    )
    .ok_or_else(|| {
        bad(
            "InvalidResourceReference",
            format!("Subnet {subnet_id} has no address prefix."),
        )
    })?;
    let (auto, manual) = (
        props["privateLinkServiceConnections"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        props["manualPrivateLinkServiceConnections"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    let mut connections = Vec::new();
    // Registry rows are written only once every connection has been checked.
    let mut registry_updates: Vec<(String, Value)> = Vec::new();
    let mut dns = Vec::new();
    // The addresses the endpoint already holds in this subnet, by name.
    let held: Vec<(String, Value)> = existing
        .as_ref()
        .filter(|e| {
            e["properties"]["subnet"]["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&subnet_id))
        })
        .and_then(|e| e["properties"]["customDnsConfigs"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            (
                d["fqdn"].as_str().unwrap_or_default().to_string(),
                d["ipAddresses"].clone(),
            )
        })
        .collect();
    let held_ip = |fqdn: &str| {
        held.iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(fqdn))
            .map(|(_, ips)| ips.clone())
    };
    let base = used_addresses(state, &subnet_id);
    for (c, is_manual) in auto
        .iter()
        .map(|c| (c, false))
        .chain(manual.iter().map(|c| (c, true)))
    {
        let cname = c["name"].as_str().unwrap_or("connection");
        let target = c["properties"]["privateLinkServiceId"]
            .as_str()
            .unwrap_or_default();
        let reg_id: ResourceId = target.parse().map_err(|_| {
            bad(
                "InvalidResourceReference",
                format!("Resource {target} referenced by resource {id} was not found."),
            )
        })?;
        let mut reg = state
            .resources()
            .get(&reg_id)?
            .filter(|r| {
                r["type"].as_str().is_some_and(|t| {
                    t.eq_ignore_ascii_case(crate::providers::container_registry::registries::TYPE)
                })
            })
            .ok_or_else(|| {
                bad(
                    "InvalidResourceReference",
                    format!("Resource {target} referenced by resource {id} was not found."),
                )
            })?;
        let groups: Vec<&str> = c["properties"]["groupIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if groups != ["registry"] {
            return Err(bad(
                "PrivateEndpointBadRequest",
                format!(
                    "Call to Microsoft.ContainerRegistry/registries failed. Error message: The group ids {groups:?} are not valid. Supported group id: 'registry'."
                ),
            ));
        }
        let sku = reg["sku"]["name"].as_str().unwrap_or_default().to_string();
        if sku != "Premium" {
            // ACR's refusal text for non-Premium registries is not confirmed (../shared/notes/acr-aci-semantics.md §2).
            return Err(bad(
                "PrivateEndpointBadRequest",
                format!(
                    "Call to Microsoft.ContainerRegistry/registries failed. Error message: The requested feature private endpoint is not supported for the SKU {sku}. For more information, please visit https://aka.ms/acr/private-link."
                ),
            ));
        }
        let approved = !is_manual
            && crate::authz::access::allows(state, &req.principal, APPROVE, &reg_id.to_string())?;
        let st = if approved {
            json!({"status": "Approved", "description": "Auto-Approved", "actionsRequired": "None"})
        } else {
            json!({"status": "Pending", "description": c["properties"]["requestMessage"].as_str().unwrap_or(""), "actionsRequired": "None"})
        };
        connections.push((is_manual, json!({
            "name": cname, "id": format!("{id}/privateLinkServiceConnections/{cname}"), "etag": etag(),
            "type": "Microsoft.Network/privateEndpoints/privateLinkServiceConnections",
            "properties": {"provisioningState": "Succeeded", "privateLinkServiceId": target, "groupIds": ["registry"], "privateLinkServiceConnectionState": st.clone()},
        })));
        let name = reg["name"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let (fqdn_reg, fqdn_data) = (
            format!("{name}.azurecr.io"),
            format!("{name}.{location}.data.azurecr.io"),
        );
        let (ips_reg, ips_data) = match (held_ip(&fqdn_reg), held_ip(&fqdn_data)) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                let n = base + dns.len() as u32;
                let full = || {
                    bad(
                        "SubnetIsFull",
                        format!("Subnet {subnet_id} has no free addresses."),
                    )
                };
                let ip_reg = prefix.host(n).ok_or_else(full)?;
                let ip_data = prefix.host(n + 1).ok_or_else(full)?;
                (json!([ip_reg.to_string()]), json!([ip_data.to_string()]))
            }
        };
        dns.push(json!({"fqdn": fqdn_reg, "ipAddresses": ips_reg}));
        dns.push(json!({"fqdn": fqdn_data, "ipAddresses": ips_data}));
        // The registry's side of the connection.
        let conn_name = format!("{}.{}", id.name(), uuid::Uuid::new_v4().simple());
        let pec = json!({
            "id": format!("{reg_id}/privateEndpointConnections/{conn_name}"), "name": conn_name,
            "type": "Microsoft.ContainerRegistry/registries/privateEndpointConnections",
            "properties": {"privateEndpoint": {"id": id.to_string()}, "privateLinkServiceConnectionState": st, "provisioningState": "Succeeded"},
        });
        match reg["properties"]["privateEndpointConnections"].as_array_mut() {
            Some(list) => list.push(pec),
            None => reg["properties"]["privateEndpointConnections"] = json!([pec]),
        }
        registry_updates.push((reg_id.key(), reg));
    }
    let mut row = json!({
        "name": id.name(), "id": id.to_string(), "etag": etag(), "type": TYPE, "location": location,
        "properties": {
            "provisioningState": "Updating", "resourceGuid": uuid::Uuid::new_v4().to_string(),
            "privateLinkServiceConnections": connections.iter().filter(|(m, _)| !m).map(|(_, c)| c.clone()).collect::<Vec<_>>(),
            "manualPrivateLinkServiceConnections": connections.iter().filter(|(m, _)| *m).map(|(_, c)| c.clone()).collect::<Vec<_>>(),
            "subnet": {"id": subnet_id},
            "ipConfigurations": [],
            "networkInterfaces": [{"id": format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkInterfaces/{}.nic.{}", id.subscription, id.resource_group.as_deref().unwrap_or_default(), id.name(), uuid::Uuid::new_v4())}],
            "customDnsConfigs": dns,
        },
    });
    super::set_tags(&mut row, &body)?;
    for (key, reg) in registry_updates {
        state.store.put(tables::RESOURCES, &key, reg)?;
    }
    state.resources().put(id, row.clone())?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    super::virtual_networks::accepted(state, req, id, location, status, &row)
}

/// What `host` resolves to from inside `vnet_id`: a private IP when a linked
/// `privatelink.azurecr.io` zone has an A record for the registry.
pub fn resolve_registry_privately(
    state: &AppState,
    vnet_id: &str,
    registry_name: &str,
) -> Option<String> {
    let zones = state.resources().of_type(ZONE_TYPE).ok()?;
    for (zid, _) in zones.iter().filter(|(_, z)| {
        z["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case("privatelink.azurecr.io"))
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
        .of_type(TYPE)
        .ok()?
        .into_iter()
        .map(|(_, v)| v)
        .find_map(|pe| {
            let here = pe["type"] == TYPE
                && pe["properties"]["customDnsConfigs"]
                    .as_array()?
                    .iter()
                    .any(|d| {
                        d["ipAddresses"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x == ip))
                    });
            let ok = pe["properties"]["privateLinkServiceConnections"]
                .as_array()
                .into_iter()
                .chain(pe["properties"]["manualPrivateLinkServiceConnections"].as_array())
                .flatten()
                .any(|c| {
                    c["properties"]["privateLinkServiceId"]
                        .as_str()
                        .is_some_and(|r| r.eq_ignore_ascii_case(registry_id))
                        && registry_connection_approved(
                            state,
                            registry_id,
                            pe["id"].as_str().unwrap_or_default(),
                        )
                });
            (here && ok).then(|| pe["id"].as_str().unwrap_or_default().to_string())
        })
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

/// `{pe}/privateDnsZoneGroups/{name}`: PUT registers the endpoint's addresses
/// as A records in each named zone (`myreg` and `myreg.<region>.data` in
/// `privatelink.azurecr.io`); GET returns the group; DELETE removes it.
pub fn zone_group(
    state: &AppState,
    req: &ArmRequest,
    pe: &ResourceId,
    name: &str,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    let mut row = state.resources().get(pe)?.ok_or_else(|| {
        ArmError::resource_not_found(
            &format!("{TYPE}/{}", pe.name()),
            pe.resource_group.as_deref().unwrap_or_default(),
        )
    })?;
    let gid = format!("{pe}/privateDnsZoneGroups/{name}");
    match req.method {
        Method::GET => row["properties"]["privateDnsZoneGroups"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|g| {
                        g["name"]
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    })
                    .cloned()
            })
            .map(|g| json_response(StatusCode::OK, &g))
            .ok_or_else(|| {
                ArmError::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("Resource {gid} not found."),
                )
            }),
        Method::DELETE => {
            if let Some(a) = row["properties"]["privateDnsZoneGroups"].as_array_mut() {
                a.retain(|g| {
                    !g["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                });
            }
            state.resources().put(pe, row)?;
            Ok(StatusCode::OK.into_response())
        }
        Method::PUT => {
            let body = req.json_object()?;
            let configs = body
                .get("properties")
                .and_then(|p| p["privateDnsZoneConfigs"].as_array().cloned())
                .unwrap_or_default();
            // Every zone is resolved before any record is written: a group
            // naming a missing zone leaves nothing behind.
            let mut resolved = Vec::new();
            for c in configs {
                let zone_id = c["properties"]["privateDnsZoneId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let zid: ResourceId = zone_id.parse().map_err(|_| {
                    bad(
                        "InvalidResourceReference",
                        format!("Resource {zone_id} referenced by resource {gid} was not found."),
                    )
                })?;
                let zone = state.resources().get(&zid)?.ok_or_else(|| {
                    bad(
                        "InvalidResourceReference",
                        format!("Resource {zone_id} referenced by resource {gid} was not found."),
                    )
                })?;
                resolved.push((c, zone_id, zid, zone));
            }
            let mut out_configs = Vec::new();
            for (c, zone_id, zid, zone) in resolved {
                let suffix = format!(
                    ".{}",
                    zone["name"]
                        .as_str()
                        .unwrap_or_default()
                        .trim_start_matches("privatelink.")
                );
                let mut records = Vec::new();
                for d in row["properties"]["customDnsConfigs"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let fqdn = d["fqdn"].as_str().unwrap_or_default();
                    let Some(rel) = fqdn.strip_suffix(&suffix) else {
                        continue;
                    };
                    let ips: Vec<Value> = d["ipAddresses"].as_array().cloned().unwrap_or_default();
                    let rid = zid.child(super::NAMESPACE, "A", rel);
                    state.store.put(
                        tables::RESOURCES,
                        &rid.key(),
                        json!({
                            "id": rid.to_string(), "name": rel, "type": format!("{ZONE_TYPE}/A"), "etag": uuid::Uuid::new_v4().to_string(),
                            "properties": {"fqdn": format!("{rel}.{}.", zone["name"].as_str().unwrap_or_default()), "ttl": 10, "aRecords": ips.iter().map(|ip| json!({"ipv4Address": ip})).collect::<Vec<_>>(), "isAutoRegistered": false},
                        }),
                    )?;
                    records.push(json!({"relativeRecordSetName": rel, "recordType": "A", "recordSetName": rel, "fqdn": fqdn, "provisioningState": "Succeeded", "ttl": 10, "ipAddresses": ips}));
                }
                out_configs.push(json!({"name": c["name"], "properties": {"privateDnsZoneId": zone_id, "recordSets": records}}));
            }
            let group = json!({"name": name, "id": gid, "etag": etag(), "properties": {"provisioningState": "Succeeded", "privateDnsZoneConfigs": out_configs}});
            let mut groups = row["properties"]["privateDnsZoneGroups"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            groups.retain(|g| {
                !g["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
            groups.push(group.clone());
            row["properties"]["privateDnsZoneGroups"] = json!(groups);
            state.resources().put(pe, row.clone())?;
            let location = row["location"].as_str().unwrap_or("eastus").to_string();
            super::virtual_networks::accepted(state, req, pe, &location, StatusCode::OK, &group)
        }
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}
