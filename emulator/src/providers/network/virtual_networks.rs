//! Virtual networks (`VirtualNetworks_CreateOrUpdate` as an LRO, `_Get`,
//! `_Delete`, `_List`) and subnets (`Subnets_*`), kept inline in the VNet as
//! Azure returns them. Address prefixes must be valid CIDR blocks; a subnet
//! must lie inside the VNet and not overlap its siblings; delegations carry
//! a `serviceName` (ACI needs `Microsoft.ContainerInstance/containerGroups`).

use crate::arm::envelope;
use crate::arm::lro::{Operation, OperationKind, set_polling_headers};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::network::cidr::Cidr;
use crate::providers::{json_response, lro_delay};
use crate::state::AppState;
use crate::store::tables;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

pub const TYPE: &str = "Microsoft.Network/virtualNetworks";
const SUBNET_TYPE: &str = "Microsoft.Network/virtualNetworks/subnets";

fn bad(code: &'static str, message: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, code, message)
}

fn etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
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

fn prefixes(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["addressPrefixes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    if let Some(p) = v["addressPrefix"].as_str() {
        out.push(p.to_string());
    }
    out
}

/// Azure's limit on subnets in one virtual network (the `SubnetsPerVirtualNetwork`
/// usage; "Azure networking limits": 3,000).
pub const MAX_SUBNETS: usize = 3000;

// TODO-fidelity: the code and wording of the error past the limit. Searched
// azure-cli recordings, GitHub issues and code for "SubnetsPerVirtualNetwork",
// "LimitReached" and "subnets per virtual network": only the usage name and
// the figure were found.
fn too_many_subnets(vnet_name: &str, count: usize) -> ArmError {
    bad(
        "SubnetsPerVirtualNetworkLimitReached",
        format!(
            "Virtual network '{vnet_name}' cannot have {count} subnets: the limit is {MAX_SUBNETS} subnets per virtual network."
        ),
    )
}

fn overlap(name: &str, other: &str, vnet_name: &str) -> ArmError {
    bad(
        "NetcfgSubnetRangesOverlap",
        format!(
            "Subnet '{name}' is not valid because its IP address range overlaps with that of an existing subnet '{other}' in virtual network '{vnet_name}'."
        ),
    )
}

/// Normalise one subnet of `vnet` (inline or child PUT), checking its prefixes
/// against the VNet and `siblings`; the subnet and its address blocks.
fn build_subnet(
    vnet_id: &ResourceId,
    vnet_space: &[Cidr],
    name: &str,
    props: &Value,
    siblings: &[(String, Vec<Cidr>)],
) -> Result<(Value, Vec<Cidr>), ArmError> {
    let vnet_name = vnet_id.name();
    let raw = prefixes(props);
    if raw.is_empty() {
        return Err(bad(
            "NetcfgInvalidSubnet",
            format!("Subnet '{name}' is not valid in virtual network '{vnet_name}'."),
        ));
    }
    let mut mine = Vec::new();
    for p in &raw {
        let c = Cidr::parse(p).ok_or_else(|| bad("InvalidAddressPrefixFormat", format!("Address prefix {p} of resource {vnet_id}/subnets/{name} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24.")))?;
        if !vnet_space.iter().any(|v| v.contains(&c)) {
            return Err(bad(
                "NetcfgSubnetRangeOutsideVnet",
                format!(
                    "Subnet '{name}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet_name}'."
                ),
            ));
        }
        mine.push(c);
    }
    for (other, theirs) in siblings {
        if !other.eq_ignore_ascii_case(name)
            && mine.iter().any(|m| theirs.iter().any(|t| t.overlaps(m)))
        {
            return Err(overlap(name, other, vnet_name));
        }
    }
    let subnet_id = vnet_id.child(super::NAMESPACE, "subnets", name);
    let mut delegations = Vec::new();
    for d in props["delegations"].as_array().into_iter().flatten() {
        let service = d["properties"]["serviceName"]
            .as_str()
            .or_else(|| d["serviceName"].as_str())
            .unwrap_or_default();
        if service.is_empty() {
            return Err(bad(
                "InvalidServiceNameOnDelegation",
                format!("Delegation on subnet '{name}' has no serviceName."),
            ));
        }
        let dname = d["name"].as_str().unwrap_or(service).to_string();
        delegations.push(json!({
            "name": dname, "id": format!("{subnet_id}/delegations/{dname}"), "etag": etag(),
            "type": "Microsoft.Network/virtualNetworks/subnets/delegations",
            "properties": {"provisioningState": "Succeeded", "serviceName": service, "actions": ["Microsoft.Network/virtualNetworks/subnets/action"]},
        }));
    }
    let mut p = json!({
        "provisioningState": "Succeeded",
        "delegations": delegations,
        "privateEndpointNetworkPolicies": props["privateEndpointNetworkPolicies"].as_str().unwrap_or("Disabled"),
        "privateLinkServiceNetworkPolicies": props["privateLinkServiceNetworkPolicies"].as_str().unwrap_or("Enabled"),
    });
    if raw.len() == 1 {
        p["addressPrefix"] = json!(raw[0]);
    } else {
        p["addressPrefixes"] = json!(raw);
    }
    // The network security group and route table it is associated with (served from the specs).
    for link in ["networkSecurityGroup", "routeTable"] {
        if let Some(id) = props[link]["id"].as_str() {
            p[link] = json!({ "id": id });
        }
    }
    if let Some(eps) = props["serviceEndpoints"].as_array() {
        p["serviceEndpoints"] = json!(service_endpoints(vnet_id, name, eps)?);
    }
    match &props["defaultOutboundAccess"] {
        Value::Null => {}
        Value::Bool(b) => p["defaultOutboundAccess"] = json!(b),
        _ => {
            return Err(ArmError::invalid_request_content(
                "Error converting value to type 'System.Boolean'. Path 'properties.defaultOutboundAccess'.",
            ));
        }
    }
    Ok((
        json!({"name": name, "id": subnet_id.to_string(), "etag": etag(), "type": SUBNET_TYPE, "properties": p}),
        mine,
    ))
}

/// A subnet's `serviceEndpoints` as Azure returns them: each with its
/// `provisioningState` and the `locations` it reaches (`["*"]` unless the
/// request names them: azure-cli's recordings of `network vnet subnet create
/// --service-endpoints Microsoft.Storage`).
fn service_endpoints(
    vnet_id: &ResourceId,
    subnet: &str,
    eps: &[Value],
) -> Result<Vec<Value>, ArmError> {
    let mut out = Vec::with_capacity(eps.len());
    for e in eps {
        let service = e["service"].as_str().unwrap_or_default();
        if !service.starts_with("Microsoft.") || service.len() <= "Microsoft.".len() {
            // TODO-fidelity: Azure's refusal of an unknown service. Searched azure-cli's
            // network recordings (test_network_service_endpoints,
            // test_network_subnet_endpoint_service) and GitHub issues for
            // "InvalidServiceNameOnServiceEndpoint" without finding its wording.
            return Err(bad(
                "InvalidServiceNameOnServiceEndpoint",
                format!(
                    "Service name '{service}' on service endpoint of subnet {vnet_id}/subnets/{subnet} is not valid."
                ),
            ));
        }
        let locations = match e["locations"].as_array() {
            Some(l) if !l.is_empty() => json!(l),
            _ => json!(["*"]),
        };
        out.push(
            json!({"provisioningState": "Succeeded", "service": service, "locations": locations}),
        );
    }
    Ok(out)
}

fn subnet_space(s: &Value) -> Vec<Cidr> {
    prefixes(&s["properties"])
        .iter()
        .filter_map(|p| Cidr::parse(p))
        .collect()
}

/// A network PUT's answer: `status` with the body, `provisioningState` finishing
/// through an Azure-AsyncOperation LRO.
pub(super) fn accepted(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    location: &str,
    status: StatusCode,
    body: &Value,
) -> Result<Response, ArmError> {
    let op = Operation::start(
        &id.subscription,
        OperationKind::Provision {
            resource_id: id.to_string(),
        },
        "virtualNetworks",
        req.now,
        lro_delay(state),
    );
    op.save(state.store.as_ref())?;
    let mut resp = json_response(status, body);
    let v = req.query("api-version").unwrap_or_default();
    set_polling_headers(
        &mut resp,
        None,
        Some(&op.async_operation_url(&req.base.0, super::NAMESPACE, location, v)),
    );
    Ok(resp)
}

pub fn dispatch(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    match req.method {
        Method::PUT => create_or_update(state, req, id),
        Method::GET => load(state, id)?
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(|| not_found(id)),
        Method::DELETE => {
            if let Some(v) = load(state, id)? {
                if let Some(s) = v["properties"]["subnets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| !occupants(state, s["id"].as_str().unwrap_or_default()).is_empty())
                {
                    return Err(in_use(
                        s["name"].as_str().unwrap_or_default(),
                        &occupants(state, s["id"].as_str().unwrap_or_default()),
                    ));
                }
                super::security_groups::relink(state, id, Some(&v), None)?;
                state.resources().delete(id)?;
                return Ok(StatusCode::OK.into_response());
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

fn create_or_update(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    let body = req.json_object()?;
    let location = envelope::location(&body)?;
    let tags = envelope::tags(&body)?;
    let existing = load(state, id)?;
    let props = body.get("properties").cloned().unwrap_or(json!({}));
    let space_raw = prefixes(&props["addressSpace"]);
    if space_raw.is_empty() {
        return Err(bad(
            "InvalidRequestFormat",
            "Cannot parse the request: the virtual network needs addressSpace.addressPrefixes."
                .into(),
        ));
    }
    let mut space = Vec::new();
    for p in &space_raw {
        space.push(Cidr::parse(p).ok_or_else(|| bad("InvalidAddressPrefixFormat", format!("Address prefix {p} of resource {id} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24.")))?);
    }
    // Subnets: those sent inline. A PUT without `subnets` keeps the ones it had
    // from api-version 2023-11-01 on, and removes them before ("Azure Virtual
    // Network now supports updates without subnet property", Azure networking
    // blog, 2024; Azure/bicep-types-az#1687, Azure/bicep#4653).
    let had = existing
        .as_ref()
        .and_then(|e| e["properties"]["subnets"].as_array().cloned())
        .unwrap_or_default();
    let keeps_unsent = req
        .query("api-version")
        .is_none_or(|v| v.get(..10).unwrap_or(v) >= "2023-11-01");
    let subnets_in = match props["subnets"].as_array() {
        Some(sent) => sent.clone(),
        None if keeps_unsent => had.clone(),
        None => Vec::new(),
    };
    // A subnet left out is deleted, which a subnet in use refuses.
    for old in &had {
        let name = old["name"].as_str().unwrap_or_default();
        let kept = subnets_in.iter().any(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        let by = occupants(state, old["id"].as_str().unwrap_or_default());
        if !kept && !by.is_empty() {
            return Err(in_use(name, &by));
        }
    }
    if subnets_in.len() > MAX_SUBNETS {
        return Err(too_many_subnets(id.name(), subnets_in.len()));
    }
    // Each subnet on its own, then all against each other at once: sorted by
    // address, in O(n log n) (thousands of inline subnets are allowed).
    let mut built: Vec<Value> = Vec::with_capacity(subnets_in.len());
    let mut blocks: Vec<(String, Cidr)> = Vec::new();
    for s in &subnets_in {
        let name = s["name"].as_str().unwrap_or_default();
        let (subnet, mine) = build_subnet(id, &space, name, &s["properties"], &[])?;
        built.push(subnet);
        let owner = name.to_ascii_lowercase();
        blocks.extend(mine.into_iter().map(|c| (owner.clone(), c)));
    }
    if let Some((a, b)) = crate::network::cidr::first_overlap(&blocks) {
        let position = |owner: &str| {
            built
                .iter()
                .position(|s| {
                    s["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(owner))
                })
                .unwrap_or(0)
        };
        // Named as a subnet meeting an existing one: the later in the request, then the earlier.
        let (mut later, mut earlier) = (&blocks[b].0, &blocks[a].0);
        if position(later) < position(earlier) {
            std::mem::swap(&mut later, &mut earlier);
        }
        let name_of = |owner: &str| {
            built[position(owner)]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        return Err(overlap(&name_of(later), &name_of(earlier), id.name()));
    }
    let mut row = json!({
        "name": id.name(), "id": id.to_string(), "etag": etag(), "type": TYPE, "location": location,
        "properties": {
            "provisioningState": "Updating",
            "resourceGuid": existing.as_ref().map(|e| e["properties"]["resourceGuid"].clone()).unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string())),
            "addressSpace": {"addressPrefixes": space_raw},
            "subnets": built,
            "virtualNetworkPeerings": [],
            "enableDdosProtection": false,
        },
    });
    if let Some(t) = tags {
        envelope::set_tags(&mut row, t);
    }
    // `dhcpOptions` only when sent; `{}` comes back with an empty server list.
    match &props["dhcpOptions"] {
        Value::Null => {}
        Value::Object(o) => {
            let servers = match o.get("dnsServers") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) if a.iter().all(Value::is_string) => a.clone(),
                Some(_) => {
                    return Err(ArmError::invalid_request_content(
                        "Error converting value to type 'System.Collections.Generic.List`1[System.String]'. Path 'properties.dhcpOptions.dnsServers'.",
                    ));
                }
            };
            for s in &servers {
                let s = s.as_str().unwrap_or_default();
                if s.parse::<std::net::IpAddr>().is_err() {
                    // TODO-fidelity: Azure's code and words for a DNS server that is not an
                    // IP address. Searched azure-cli's network recordings (test_network_vnet)
                    // and GitHub issues for "dnsServers" errors without finding them.
                    return Err(bad(
                        "InvalidDnsServerIPAddress",
                        format!(
                            "DNS server IP address '{s}' of virtual network {id} is not valid."
                        ),
                    ));
                }
            }
            row["properties"]["dhcpOptions"] = json!({"dnsServers": servers});
        }
        _ => {
            return Err(ArmError::invalid_request_content(
                "Unexpected value for 'dhcpOptions'. Path 'properties.dhcpOptions'.",
            ));
        }
    }
    super::security_groups::relink(state, id, existing.as_ref(), Some(&row))?;
    state.resources().put(id, row.clone())?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    accepted(state, req, id, location, status, &row)
}

/// Container groups whose `subnetIds` name this subnet.
pub fn in_use_by(state: &AppState, subnet_id: &str) -> Vec<String> {
    crate::store::index::RESOURCES_BY_SUBNET
        .find(
            state.store.as_ref(),
            &subnet_id.trim_end_matches('/').to_ascii_lowercase(),
        )
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| {
            v["properties"]["subnetIds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| {
                    s["id"]
                        .as_str()
                        .is_some_and(|i| i.eq_ignore_ascii_case(subnet_id))
                })
        })
        .filter_map(|(_, v)| v["id"].as_str().map(str::to_string))
        .collect()
}

/// What keeps a subnet from being deleted: its container groups, and the
/// network interface configuration of each private endpoint in it (as Azure
/// names it in `InUseSubnetCannotBeDeleted`, Azure/bicep#13267).
fn occupants(state: &AppState, subnet_id: &str) -> Vec<String> {
    let mut by = in_use_by(state, subnet_id);
    by.extend(
        crate::store::index::RESOURCES_BY_SUBNET
            .find(
                state.store.as_ref(),
                &subnet_id.trim_end_matches('/').to_ascii_lowercase(),
            )
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, v)| {
                v["type"] == super::private_endpoints::TYPE
                    && v["properties"]["subnet"]["id"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(subnet_id))
            })
            .filter_map(|(_, v)| {
                let nic = v["properties"]["networkInterfaces"][0]["id"].as_str()?;
                let guid = v["properties"]["resourceGuid"].as_str().unwrap_or_default();
                Some(format!(
                    "{nic}/ipConfigurations/privateEndpointIpConfig.{guid}"
                ))
            }),
    );
    by
}

fn in_use(name: &str, by: &[String]) -> ArmError {
    bad(
        "InUseSubnetCannotBeDeleted",
        format!(
            "Subnet {name} is in use by {} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.",
            by.join(", ")
        ),
    )
}

/// `{vnet}/subnets/{name}`: GET, PUT (LRO), DELETE.
pub fn subnet(
    state: &AppState,
    req: &ArmRequest,
    vnet: &ResourceId,
    name: &str,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    let sid = vnet.child(super::NAMESPACE, "subnets", name);
    let missing = || {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Resource {sid} not found."),
        )
    };
    let Some(mut row) = load(state, vnet)? else {
        return Err(match req.method {
            Method::GET => missing(),
            _ => not_found(vnet),
        });
    };
    let subnets = row["properties"]["subnets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let pos = subnets.iter().position(|s| {
        s["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    });
    match req.method {
        Method::GET => pos
            .map(|i| json_response(StatusCode::OK, &subnets[i]))
            .ok_or_else(missing),
        Method::PUT => {
            let body = req.json_object()?;
            let props = body.get("properties").cloned().unwrap_or(json!({}));
            let space: Vec<Cidr> = prefixes(&row["properties"]["addressSpace"])
                .iter()
                .filter_map(|p| Cidr::parse(p))
                .collect();
            let siblings: Vec<(String, Vec<Cidr>)> = subnets
                .iter()
                .map(|b| {
                    (
                        b["name"].as_str().unwrap_or_default().to_string(),
                        subnet_space(b),
                    )
                })
                .collect();
            if pos.is_none() && subnets.len() >= MAX_SUBNETS {
                return Err(too_many_subnets(vnet.name(), subnets.len() + 1));
            }
            let (built, _) = build_subnet(vnet, &space, name, &props, &siblings)?;
            let mut all = subnets.clone();
            match pos {
                Some(i) => all[i] = built.clone(),
                None => all.push(built.clone()),
            }
            let before = std::mem::replace(&mut row["properties"]["subnets"], json!(all));
            let before = json!({"properties": {"subnets": before}});
            super::security_groups::relink(state, vnet, Some(&before), Some(&row))?;
            state.resources().put(vnet, row.clone())?;
            let location = row["location"].as_str().unwrap_or("eastus").to_string();
            accepted(
                state,
                req,
                vnet,
                &location,
                if pos.is_some() {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                },
                &built,
            )
        }
        Method::DELETE => {
            let Some(i) = pos else {
                return Ok(StatusCode::NO_CONTENT.into_response());
            };
            let by = occupants(state, &sid.to_string());
            if !by.is_empty() {
                return Err(in_use(name, &by));
            }
            let mut all = subnets;
            all.remove(i);
            let before = std::mem::replace(&mut row["properties"]["subnets"], json!(all));
            let before = json!({"properties": {"subnets": before}});
            super::security_groups::relink(state, vnet, Some(&before), Some(&row))?;
            state.resources().put(vnet, row)?;
            Ok(StatusCode::OK.into_response())
        }
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

pub fn subnets_list(
    state: &AppState,
    req: &ArmRequest,
    vnet: &ResourceId,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    let row = load(state, vnet)?.ok_or_else(|| not_found(vnet))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"value": row["properties"]["subnets"]}),
    ))
}

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

/// `{vnet}/virtualNetworkPeerings/{name}`: GET, PUT (LRO), DELETE. A peering
/// is `Connected` once the remote VNet has one back, `Initiated` until then.
pub fn peering(
    state: &AppState,
    req: &ArmRequest,
    vnet: &ResourceId,
    name: &str,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    let mut row = load(state, vnet)?.ok_or_else(|| not_found(vnet))?;
    let pid = vnet
        .child(super::NAMESPACE, "virtualNetworkPeerings", name)
        .to_string();
    let peerings = row["properties"]["virtualNetworkPeerings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let pos = peerings.iter().position(|p| {
        p["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    });
    match req.method {
        Method::GET => pos
            .map(|i| json_response(StatusCode::OK, &peerings[i]))
            .ok_or_else(|| {
                ArmError::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("Resource {pid} not found."),
                )
            }),
        Method::DELETE => {
            if let Some(i) = pos {
                let mut all = peerings;
                all.remove(i);
                row["properties"]["virtualNetworkPeerings"] = json!(all);
                state.resources().put(vnet, row)?;
                refresh_peering_states(state)?;
            }
            Ok(StatusCode::OK.into_response())
        }
        Method::PUT => {
            let body = req.json_object()?;
            let props = body.get("properties").cloned().unwrap_or(json!({}));
            let remote = props["remoteVirtualNetwork"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let remote_id: ResourceId = remote.parse().map_err(|_| {
                bad(
                    "InvalidResourceReference",
                    format!("Resource {remote} referenced by resource {pid} was not found."),
                )
            })?;
            let remote_row = load(state, &remote_id)?.ok_or_else(|| {
                bad(
                    "InvalidResourceReference",
                    format!("Resource {remote} referenced by resource {pid} was not found."),
                )
            })?;
            let mine: Vec<Cidr> = prefixes(&row["properties"]["addressSpace"])
                .iter()
                .filter_map(|p| Cidr::parse(p))
                .collect();
            let theirs: Vec<Cidr> = prefixes(&remote_row["properties"]["addressSpace"])
                .iter()
                .filter_map(|p| Cidr::parse(p))
                .collect();
            if mine.iter().any(|a| theirs.iter().any(|b| a.overlaps(b))) {
                return Err(bad(
                    "VnetAddressSpacesOverlap",
                    format!(
                        "Cannot create or update peering {pid}. Virtual networks {vnet} and {remote} cannot be peered because their address spaces overlap."
                    ),
                ));
            }
            let peering = json!({
                "name": name, "id": pid, "etag": etag(), "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
                "properties": {
                    "provisioningState": "Succeeded", "peeringState": "Initiated", "peeringSyncLevel": "FullyInSync",
                    "remoteVirtualNetwork": {"id": remote},
                    "allowVirtualNetworkAccess": props["allowVirtualNetworkAccess"].as_bool().unwrap_or(true),
                    "allowForwardedTraffic": props["allowForwardedTraffic"].as_bool().unwrap_or(false),
                    "allowGatewayTransit": props["allowGatewayTransit"].as_bool().unwrap_or(false),
                    "useRemoteGateways": props["useRemoteGateways"].as_bool().unwrap_or(false),
                    "remoteAddressSpace": remote_row["properties"]["addressSpace"].clone(),
                },
            });
            let mut all = peerings;
            match pos {
                Some(i) => all[i] = peering,
                None => all.push(peering),
            }
            row["properties"]["virtualNetworkPeerings"] = json!(all);
            state.resources().put(vnet, row.clone())?;
            refresh_peering_states(state)?;
            let fresh = load(state, vnet)?.unwrap_or(row);
            let out = fresh["properties"]["virtualNetworkPeerings"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|p| {
                            p["name"]
                                .as_str()
                                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                        })
                        .cloned()
                })
                .unwrap_or(Value::Null);
            let location = fresh["location"].as_str().unwrap_or("eastus").to_string();
            accepted(
                state,
                req,
                vnet,
                &location,
                if pos.is_some() {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                },
                &out,
            )
        }
        ref m => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

/// Mark each peering `Connected` when the remote VNet peers back, `Initiated` otherwise.
fn refresh_peering_states(state: &AppState) -> Result<(), ArmError> {
    let vnets = state.resources().of_type(TYPE)?;
    let peers_back = |from: &str, to: &str| {
        vnets.iter().any(|(_, v)| {
            v["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(to))
                && v["properties"]["virtualNetworkPeerings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| {
                        p["properties"]["remoteVirtualNetwork"]["id"]
                            .as_str()
                            .is_some_and(|r| r.eq_ignore_ascii_case(from))
                    })
        })
    };
    for (k, v) in &vnets {
        let mut v = v.clone();
        let me = v["id"].as_str().unwrap_or_default().to_string();
        if let Some(ps) = v["properties"]["virtualNetworkPeerings"].as_array_mut() {
            for p in ps.iter_mut() {
                let remote = p["properties"]["remoteVirtualNetwork"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                p["properties"]["peeringState"] = json!(if peers_back(&me, &remote) {
                    "Connected"
                } else {
                    "Initiated"
                });
            }
        }
        state.store.put(tables::RESOURCES, k, v)?;
    }
    Ok(())
}

/// Can traffic from `from_vnet` reach `to_vnet` (the same VNet, or a connected peering with access allowed)?
pub fn routable(state: &AppState, from_vnet: &str, to_vnet: &str) -> bool {
    if from_vnet.eq_ignore_ascii_case(to_vnet) {
        return true;
    }
    let Ok(id) = from_vnet.parse::<ResourceId>() else {
        return false;
    };
    load(state, &id).ok().flatten().is_some_and(|v| {
        v["properties"]["virtualNetworkPeerings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| {
                p["properties"]["remoteVirtualNetwork"]["id"]
                    .as_str()
                    .is_some_and(|r| r.eq_ignore_ascii_case(to_vnet))
                    && p["properties"]["peeringState"] == "Connected"
                    && p["properties"]["allowVirtualNetworkAccess"] != false
            })
    })
}
