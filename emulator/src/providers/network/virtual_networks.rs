//! Azure's rules for virtual networks, their subnets and peerings, served by
//! the spec layer ([`crate::providers::by_spec`], from `virtualNetwork.json`):
//! routing, api-versions, body validation, LROs, paging and 404s are its;
//! subnets and peerings live inline in the VNet's row, as Azure returns them.
//!
//! - Address prefixes must be valid CIDR blocks; a subnet must lie inside the
//!   VNet and not overlap its siblings ([`MAX_SUBNETS`] at most); a subnet in
//!   use (by a container group or a private endpoint) is not deleted.
//! - Delegations carry a `serviceName` (ACI needs
//!   `Microsoft.ContainerInstance/containerGroups`); service endpoints, the
//!   NSG and route table a subnet names (linked both ways by
//!   [`super::security_groups::relink`]), `defaultOutboundAccess` and the
//!   VNet's `dhcpOptions` round-trip.
//! - A peering is `Connected` once the remote VNet peers back, `Initiated`
//!   until then; [`routable`] is what the network model reads of it.

use crate::arm::{ArmError, ResourceId};
use crate::network::cidr::Cidr;
use crate::network::virtual_networks::{peerings, reaches};
use crate::providers::by_spec::{Behaviour, Ctx, Removal, network_etag};
use crate::state::AppState;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

pub const TYPE: &str = "Microsoft.Network/virtualNetworks";
const SUBNET_TYPE: &str = "Microsoft.Network/virtualNetworks/subnets";
const PEERING_TYPE: &str = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings";

pub const VNET: Behaviour = Behaviour {
    on_write: Some(vnet_write),
    on_delete: Some(vnet_delete),
    on_removed: Some(vnet_removed),
    actions: super::addresses::VNET_ACTIONS,
    ..Behaviour::of(TYPE)
};

pub const SUBNET: Behaviour = Behaviour {
    on_write: Some(subnet_write),
    on_delete: Some(subnet_delete),
    actions: super::subnet_links::SUBNET_ACTIONS,
    ..Behaviour::of(SUBNET_TYPE)
};

pub const PEERING: Behaviour = Behaviour {
    on_write: Some(peering_write),
    on_delete: Some(peering_delete),
    ..Behaviour::of(PEERING_TYPE)
};

fn bad(code: &'static str, message: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, code, message)
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
            "name": dname, "id": format!("{subnet_id}/delegations/{dname}"), "etag": network_etag(),
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
        json!({"name": name, "id": subnet_id.to_string(), "etag": network_etag(), "type": SUBNET_TYPE, "properties": p}),
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

/// A virtual network as Azure keeps it, from the row the spec layer built
/// (the body validated against the schema, `provisioningState` and
/// `resourceGuid` filled): its address space valid CIDR blocks, each subnet
/// normalised and inside it, no two overlapping; NSG and route table links
/// kept both ways ([`super::security_groups::relink`]).
fn vnet_write(cx: &Ctx, row: &mut Value, existing: Option<&Value>) -> Result<(), ArmError> {
    if cx.req.method == Method::PATCH {
        // `VirtualNetworks_UpdateTags`: the tags change, nothing else.
        return Ok(());
    }
    let (state, id) = (cx.state, &cx.id);
    let sent = row["properties"].as_object().cloned().unwrap_or_default();
    let props = Value::Object(sent.clone());
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
        .and_then(|e| e["properties"]["subnets"].as_array().cloned())
        .unwrap_or_default();
    let keeps_unsent = cx
        .req
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
    // Azure's order; what else the schema took stays, after Azure's own.
    let mut out = Map::new();
    for (k, v) in [
        ("provisioningState", props["provisioningState"].clone()),
        ("resourceGuid", props["resourceGuid"].clone()),
        ("addressSpace", json!({"addressPrefixes": space_raw})),
        ("subnets", json!(built)),
        // Peerings are their own resources: a VNet's PUT keeps the ones it has.
        (
            "virtualNetworkPeerings",
            existing
                .map(|e| e["properties"]["virtualNetworkPeerings"].clone())
                .filter(Value::is_array)
                .unwrap_or_else(|| json!([])),
        ),
        (
            "enableDdosProtection",
            json!(props["enableDdosProtection"].as_bool().unwrap_or(false)),
        ),
    ] {
        out.insert(k.into(), v);
    }
    for (k, v) in sent {
        if !out.contains_key(&k) && k != "dhcpOptions" {
            out.insert(k, v);
        }
    }
    if let Some(d) = dhcp_options(id, &props["dhcpOptions"])? {
        out.insert("dhcpOptions".into(), d);
    }
    row["properties"] = Value::Object(out);
    super::security_groups::relink(state, id, existing, Some(row))
}

/// `dhcpOptions` only when sent; `{}` comes back with an empty server list.
fn dhcp_options(id: &ResourceId, sent: &Value) -> Result<Option<Value>, ArmError> {
    let o = match sent {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => {
            return Err(ArmError::invalid_request_content(
                "Unexpected value for 'dhcpOptions'. Path 'properties.dhcpOptions'.",
            ));
        }
    };
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
                format!("DNS server IP address '{s}' of virtual network {id} is not valid."),
            ));
        }
    }
    Ok(Some(json!({"dnsServers": servers})))
}

/// A VNet with a subnet in use is not deleted; its NSGs and route tables
/// forget its subnets.
fn vnet_delete(cx: &Ctx, row: &Value) -> Result<(), ArmError> {
    for s in row["properties"]["subnets"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let by = occupants(cx.state, s["id"].as_str().unwrap_or_default());
        if !by.is_empty() {
            return Err(in_use(s["name"].as_str().unwrap_or_default(), &by));
        }
    }
    super::security_groups::relink(cx.state, &cx.id, Some(row), None)
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

/// The VNet a subnet or peering is under, as stored (the spec layer has
/// checked that it exists).
fn parent_row(cx: &Ctx) -> Result<(ResourceId, Value), ArmError> {
    let vnet = cx
        .id
        .parent()
        .ok_or_else(|| ArmError::no_route(&cx.req.path))?;
    let row = load(cx.state, &vnet)?.ok_or_else(|| not_found(&vnet))?;
    Ok((vnet, row))
}

/// `{vnet}/subnets/{name}` PUT: the subnet normalised, inside the VNet's
/// address space and clear of its siblings; its NSG and route table links
/// kept both ways.
fn subnet_write(cx: &Ctx, row: &mut Value, existing: Option<&Value>) -> Result<(), ArmError> {
    let (vnet, parent) = parent_row(cx)?;
    let name = cx.id.name();
    let subnets = parent["properties"]["subnets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if existing.is_none() && subnets.len() >= MAX_SUBNETS {
        return Err(too_many_subnets(vnet.name(), subnets.len() + 1));
    }
    let space = space_of(&parent);
    let siblings: Vec<(String, Vec<Cidr>)> = subnets
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or_default().to_string(),
                subnet_space(b),
            )
        })
        .collect();
    let (built, _) = build_subnet(&vnet, &space, name, &row["properties"], &siblings)?;
    let after = with_subnet(&subnets, name, Some(&built));
    super::security_groups::relink(
        cx.state,
        &vnet,
        Some(&json!({"properties": {"subnets": subnets}})),
        Some(&json!({"properties": {"subnets": after}})),
    )?;
    *row = built;
    Ok(())
}

/// `subnets` with `name` replaced by `subnet` (appended if new), or removed (`None`).
fn with_subnet(subnets: &[Value], name: &str, subnet: Option<&Value>) -> Vec<Value> {
    let same = |s: &Value| {
        s["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    };
    let mut out: Vec<Value> = subnets
        .iter()
        .map(|s| match subnet {
            Some(new) if same(s) => new.clone(),
            _ => s.clone(),
        })
        .filter(|s| subnet.is_some() || !same(s))
        .collect();
    if let Some(new) = subnet
        && !subnets.iter().any(same)
    {
        out.push(new.clone());
    }
    out
}

/// A subnet in use is not deleted; its NSG and route table forget it.
fn subnet_delete(cx: &Ctx, row: &Value) -> Result<(), ArmError> {
    let by = occupants(cx.state, row["id"].as_str().unwrap_or_default());
    if !by.is_empty() {
        return Err(in_use(cx.id.name(), &by));
    }
    let (vnet, parent) = parent_row(cx)?;
    let subnets = parent["properties"]["subnets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let after = with_subnet(&subnets, cx.id.name(), None);
    super::security_groups::relink(
        cx.state,
        &vnet,
        Some(&json!({"properties": {"subnets": subnets}})),
        Some(&json!({"properties": {"subnets": after}})),
    )
}

/// `{vnet}/virtualNetworkPeerings/{name}` PUT: the remote VNet exists and its
/// address space does not overlap this one's. A peering is `Connected` once
/// the remote VNet has one back, `Initiated` until then; the remote's
/// peering back turns `Connected` with it.
fn peering_write(cx: &Ctx, row: &mut Value, _existing: Option<&Value>) -> Result<(), ArmError> {
    let (vnet, parent) = parent_row(cx)?;
    let pid = cx.id.to_string();
    let props = &row["properties"];
    let remote = props["remoteVirtualNetwork"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let unknown = || {
        bad(
            "InvalidResourceReference",
            format!("Resource {remote} referenced by resource {pid} was not found."),
        )
    };
    let remote_id: ResourceId = remote.parse().map_err(|_| unknown())?;
    let remote_row = load(cx.state, &remote_id)?.ok_or_else(unknown)?;
    let mine = space_of(&parent);
    let theirs = space_of(&remote_row);
    if mine.iter().any(|a| theirs.iter().any(|b| a.overlaps(b))) {
        return Err(bad(
            "VnetAddressSpacesOverlap",
            format!(
                "Cannot create or update peering {pid}. Virtual networks {vnet} and {remote} cannot be peered because their address spaces overlap."
            ),
        ));
    }
    // The remote's peering back, left `Disconnected` when this side (or this
    // VNet) was deleted, must be updated or re-created first. Azure's words:
    // hashicorp/terraform#18091, hashicorp/terraform-provider-azurerm#14051.
    if let Some(back) = peerings(&remote_row).find(|p| reaches(p, &vnet.to_string()))
        && back["properties"]["peeringState"] == "Disconnected"
    {
        return Err(bad(
            "RemotePeeringIsDisconnected",
            format!(
                "Cannot create or update peering {pid} because remote peering {} referencing parent virtual network {vnet} is in Disconnected state. Update or re-create the remote peering to get it back to Initiated state. Peering gets Disconnected when remote vnet or remote peering is deleted and re-created.",
                back["id"].as_str().unwrap_or_default()
            ),
        ));
    }
    let state = if peers_to(&remote_row, &vnet.to_string()) {
        "Connected"
    } else {
        "Initiated"
    };
    *row = json!({
        "name": cx.id.name(), "id": pid, "etag": network_etag(), "type": PEERING_TYPE,
        "properties": {
            "provisioningState": "Succeeded", "peeringState": state, "peeringSyncLevel": "FullyInSync",
            "remoteVirtualNetwork": {"id": remote},
            "allowVirtualNetworkAccess": props["allowVirtualNetworkAccess"].as_bool().unwrap_or(true),
            "allowForwardedTraffic": props["allowForwardedTraffic"].as_bool().unwrap_or(false),
            "allowGatewayTransit": props["allowGatewayTransit"].as_bool().unwrap_or(false),
            "useRemoteGateways": props["useRemoteGateways"].as_bool().unwrap_or(false),
            "remoteAddressSpace": remote_row["properties"]["addressSpace"].clone(),
        },
    });
    set_peering_states(cx.state, &remote_id, remote_row, &vnet, "Connected")
}

/// A peering removed: the remote VNet's peering back is `Disconnected`
/// (unless another peering of this VNet still reaches it) until it is
/// updated or re-created, as Azure has it.
fn peering_delete(cx: &Ctx, row: &Value) -> Result<(), ArmError> {
    let (vnet, parent) = parent_row(cx)?;
    let remote = row["properties"]["remoteVirtualNetwork"]["id"]
        .as_str()
        .unwrap_or_default();
    let Ok(remote_id) = remote.parse::<ResourceId>() else {
        return Ok(());
    };
    let Some(remote_row) = load(cx.state, &remote_id)? else {
        return Ok(());
    };
    let still = peerings(&parent).any(|p| {
        !p["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(cx.id.name()))
            && reaches(p, remote)
    });
    if still {
        return Ok(());
    }
    set_peering_states(cx.state, &remote_id, remote_row, &vnet, "Disconnected")
}

/// A VNet gone (by its own DELETE or its group's): the peerings back to it
/// from the VNets it peered with are `Disconnected`.
fn vnet_removed(r: &Removal) -> Result<(), ArmError> {
    for p in peerings(r.row) {
        let Some(remote_id) = p["properties"]["remoteVirtualNetwork"]["id"]
            .as_str()
            .and_then(|i| i.parse::<ResourceId>().ok())
        else {
            continue;
        };
        if let Some(remote_row) = load(r.state, &remote_id)? {
            set_peering_states(r.state, &remote_id, remote_row, r.id, "Disconnected")?;
        }
    }
    Ok(())
}

fn space_of(vnet: &Value) -> Vec<Cidr> {
    prefixes(&vnet["properties"]["addressSpace"])
        .iter()
        .filter_map(|p| Cidr::parse(p))
        .collect()
}

/// Does `vnet` (a row) have a peering to `to`?
fn peers_to(vnet: &Value, to: &str) -> bool {
    peerings(vnet).any(|p| reaches(p, to))
}

/// The peerings of `remote` (stored as `row`) that reach `vnet` take the state `to`.
fn set_peering_states(
    state: &AppState,
    remote: &ResourceId,
    mut row: Value,
    vnet: &ResourceId,
    to: &str,
) -> Result<(), ArmError> {
    let vnet = vnet.to_string();
    let Some(ps) = row["properties"]["virtualNetworkPeerings"].as_array_mut() else {
        return Ok(());
    };
    let mut changed = false;
    for p in ps.iter_mut().filter(|p| reaches(p, &vnet)) {
        p["properties"]["peeringState"] = json!(to);
        changed = true;
    }
    if changed {
        state.resources().put(remote, row)?;
    }
    Ok(())
}
