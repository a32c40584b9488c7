//! Private DNS (`Microsoft.Network/privateDnsZones`, its own resource
//! provider behind the Network namespace): Azure's rules for zones, their
//! virtual network links and record sets. Routing, validation, LROs, paging
//! and shaping are the spec layer's ([`crate::providers::by_spec`], from
//! `privatedns.json`); what resolves through these zones is
//! [`crate::network::private_path::resolve_registry_privately`].
//!
//! As azure-cli's privatedns recordings show them:
//! - a zone is `global`, carries a bare-GUID `etag`, and is created with its
//!   SOA record set `@`; its counts and limits are computed when it is read;
//! - a link names an existing virtual network, and reads `registrationEnabled`
//!   (false unless sent) and `virtualNetworkLinkState: Completed`;
//! - a record set has its `fqdn`, `isAutoRegistered: false`, an empty record
//!   list of its type when none was sent, a bare-GUID `etag` and no
//!   `provisioningState`;
//! - `{zone}/ALL` lists every record set of the zone, SOA included.

use crate::arm::{ArmError, ResourceId};
use crate::providers::by_spec::{self, Behaviour, Ctx};
use crate::state::AppState;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

pub const ZONE_TYPE: &str = "Microsoft.Network/privateDnsZones";
const LINK_TYPE: &str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";

/// Azure's limits per zone (the zone's `maxNumberOf…` properties).
const MAX_RECORD_SETS: u32 = 25000;
const MAX_LINKS: u32 = 1000;
const MAX_REGISTERING_LINKS: u32 = 100;

pub const ZONE: Behaviour = Behaviour {
    on_write: Some(zone_write),
    on_read: Some(zone_read),
    precondition_failed: Some(modified),
    ..Behaviour::of(ZONE_TYPE)
};

pub const LINK: Behaviour = Behaviour {
    on_write: Some(link_write),
    precondition_failed: Some(modified),
    ..Behaviour::of(LINK_TYPE)
};

/// `GET {zone}/ALL`: every record set of the zone.
pub const ALL: Behaviour = Behaviour {
    lists: &[("ALL", all_record_sets)],
    ..Behaviour::of("Microsoft.Network/privateDnsZones/ALL")
};

const fn record_set(resource_type: &'static str) -> Behaviour {
    Behaviour {
        on_write: Some(record_write),
        precondition_failed: Some(record_set_modified),
        ..Behaviour::of(resource_type)
    }
}

pub const A: Behaviour = record_set("Microsoft.Network/privateDnsZones/A");
pub const AAAA: Behaviour = record_set("Microsoft.Network/privateDnsZones/AAAA");
pub const CNAME: Behaviour = record_set("Microsoft.Network/privateDnsZones/CNAME");
pub const MX: Behaviour = record_set("Microsoft.Network/privateDnsZones/MX");
pub const PTR: Behaviour = record_set("Microsoft.Network/privateDnsZones/PTR");
pub const SOA: Behaviour = record_set("Microsoft.Network/privateDnsZones/SOA");
pub const SRV: Behaviour = record_set("Microsoft.Network/privateDnsZones/SRV");
pub const TXT: Behaviour = record_set("Microsoft.Network/privateDnsZones/TXT");

/// A zone or link write with a stale `If-Match`: accepted, its operation
/// failed `PreconditionFailed` (azure-cli's privatedns recordings
/// `test_PatchZone_ZoneExistsIfMatchFailure_ExpectError`,
/// `test_PatchLink_LinkExistsIfMatchFailure_ExpectError`). Other refusals
/// stay ARM's 412 (none recorded).
fn modified(cx: &Ctx, existing: Option<&Value>, e: ArmError) -> Result<Response, ArmError> {
    if existing.is_none() || cx.req.headers.get("if-match").is_none() {
        return Err(e);
    }
    let ty = cx.id.resource_type();
    let message = if ty.eq_ignore_ascii_case(LINK_TYPE) {
        let zone = cx
            .id
            .parent()
            .map(|z| z.name().to_string())
            .unwrap_or_default();
        format!(
            "The Virtual Network link '{}' for the Private DNS zone '{zone}' has been modified (etag mismatch).",
            cx.id.name()
        )
    } else {
        format!(
            "The Zone {} has been modified (etag mismatch).",
            cx.id.name()
        )
    };
    by_spec::accepted_failed(
        cx,
        &ty,
        json!({"code": "PreconditionFailed", "message": message}),
    )
}

/// A record set write whose precondition fails: 412 at once, its body the
/// bare `{code, message}` Private DNS answers (`test_PatchRecordSet_IfMatchFailure_ExpectError`,
/// and a create with `If-None-Match: *` of one that exists).
fn record_set_modified(
    cx: &Ctx,
    existing: Option<&Value>,
    e: ArmError,
) -> Result<Response, ArmError> {
    let name = cx.id.name();
    let message = match existing {
        Some(_) if cx.req.headers.get("if-none-match").is_some() => {
            format!("The Record set {name} exists already and hence cannot be created again.")
        }
        Some(_) => format!("The Record set {name} has been modified (etag mismatch)."),
        None => return Err(e),
    };
    Ok(crate::providers::json_response(
        StatusCode::PRECONDITION_FAILED,
        &json!({"code": "PreconditionFailed", "message": message}),
    ))
}

/// Record types and the property holding their records (`None`: a single
/// record object, which has no empty default).
const RECORD_TYPES: &[(&str, &str, bool)] = &[
    ("SOA", "soaRecord", false),
    ("A", "aRecords", true),
    ("AAAA", "aaaaRecords", true),
    ("CNAME", "cnameRecord", false),
    ("MX", "mxRecords", true),
    ("PTR", "ptrRecords", true),
    ("SRV", "srvRecords", true),
    ("TXT", "txtRecords", true),
];

fn record_word(resource_type: &str) -> Option<&'static (&'static str, &'static str, bool)> {
    let word = resource_type.rsplit('/').next()?;
    RECORD_TYPES
        .iter()
        .find(|(w, _, _)| w.eq_ignore_ascii_case(word))
}

fn is_record_set(row: &Value) -> bool {
    row["type"].as_str().is_some_and(|t| {
        t.to_ascii_lowercase()
            .starts_with("microsoft.network/privatednszones/")
            && record_word(t).is_some()
    })
}

fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn zone_write(cx: &Ctx, row: &mut Value, existing: Option<&Value>) -> Result<(), ArmError> {
    row["location"] = json!("global");
    row["etag"] = json!(guid());
    if existing.is_none() {
        // Azure creates every zone with its SOA record set.
        let soa: ResourceId = format!("{}/SOA/@", cx.id)
            .parse()
            .map_err(|_| ArmError::no_route(&cx.req.path))?;
        cx.state.resources().put(
            &soa,
            json!({
                "id": soa.to_string(),
                "name": "@",
                "type": format!("{ZONE_TYPE}/SOA"),
                "etag": guid(),
                "properties": {
                    "fqdn": format!("{}.", cx.id.name()),
                    "ttl": 3600,
                    "soaRecord": {
                        "email": "azureprivatedns-host.microsoft.com",
                        "expireTime": 2419200,
                        "host": "azureprivatedns.net",
                        "minimumTtl": 10,
                        "refreshTime": 3600,
                        "retryTime": 300,
                        "serialNumber": 1
                    },
                    "isAutoRegistered": false
                }
            }),
        )?;
    }
    Ok(())
}

/// A zone's limits and what it holds, ahead of its other properties.
fn zone_read(state: &AppState, row: &mut Value) -> Result<(), ArmError> {
    let Some(id) = row["id"]
        .as_str()
        .and_then(|i| i.parse::<ResourceId>().ok())
    else {
        return Ok(());
    };
    let children = state.resources().all_children(&id)?;
    let records = children.iter().filter(|c| is_record_set(c)).count();
    let links: Vec<&Value> = children
        .iter()
        .filter(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(LINK_TYPE))
        })
        .collect();
    let registering = links
        .iter()
        .filter(|l| l["properties"]["registrationEnabled"] == true)
        .count();
    let mut props = Map::new();
    props.insert("maxNumberOfRecordSets".into(), json!(MAX_RECORD_SETS));
    props.insert("maxNumberOfVirtualNetworkLinks".into(), json!(MAX_LINKS));
    props.insert(
        "maxNumberOfVirtualNetworkLinksWithRegistration".into(),
        json!(MAX_REGISTERING_LINKS),
    );
    props.insert("numberOfRecordSets".into(), json!(records));
    props.insert("numberOfVirtualNetworkLinks".into(), json!(links.len()));
    props.insert(
        "numberOfVirtualNetworkLinksWithRegistration".into(),
        json!(registering),
    );
    if let Some(stored) = row["properties"].as_object() {
        for (k, v) in stored {
            if !props.contains_key(k) {
                props.insert(k.clone(), v.clone());
            }
        }
    }
    row["properties"] = Value::Object(props);
    Ok(())
}

fn invalid_vnet(vnet: &str) -> ArmError {
    // TODO-fidelity: the Private DNS RP's code for a link to a missing network;
    // kept from the hand-written provider (searched privatedns recordings for
    // "was not found", none with a missing network).
    ArmError::new(
        StatusCode::BAD_REQUEST,
        "InvalidResourceReference",
        format!("Virtual network {vnet} was not found."),
    )
}

fn link_write(cx: &Ctx, row: &mut Value, _existing: Option<&Value>) -> Result<(), ArmError> {
    row["location"] = json!("global");
    let sent = row["properties"].as_object().cloned().unwrap_or_default();
    let vnet = sent
        .get("virtualNetwork")
        .and_then(|v| v["id"].as_str())
        .unwrap_or_default()
        .to_string();
    let vid: ResourceId = vnet.parse().map_err(|_| invalid_vnet(&vnet))?;
    if super::virtual_networks::load(cx.state, &vid)?.is_none() {
        return Err(invalid_vnet(&vnet));
    }
    let mut props = Map::new();
    props.insert("provisioningState".into(), json!("Succeeded"));
    props.insert(
        "registrationEnabled".into(),
        sent.get("registrationEnabled")
            .cloned()
            .unwrap_or(json!(false)),
    );
    for (k, v) in &sent {
        if !props.contains_key(k) && k != "virtualNetworkLinkState" {
            props.insert(k.clone(), v.clone());
        }
    }
    props.insert("virtualNetworkLinkState".into(), json!("Completed"));
    row["properties"] = Value::Object(props);
    Ok(())
}

fn record_write(cx: &Ctx, row: &mut Value, _existing: Option<&Value>) -> Result<(), ArmError> {
    let zone = cx
        .id
        .parent()
        .ok_or_else(|| ArmError::no_route(&cx.req.path))?;
    let ty = row["type"].as_str().unwrap_or_default().to_string();
    let name = cx.id.name();
    let fqdn = if name == "@" {
        format!("{}.", zone.name())
    } else {
        format!("{name}.{}.", zone.name())
    };
    let sent = row["properties"].as_object().cloned().unwrap_or_default();
    let mut props = Map::new();
    props.insert("fqdn".into(), json!(fqdn));
    if let Some(ttl) = sent.get("ttl") {
        props.insert("ttl".into(), ttl.clone());
    }
    for (k, v) in &sent {
        if !["fqdn", "ttl", "provisioningState", "isAutoRegistered"].contains(&k.as_str()) {
            props.insert(k.clone(), v.clone());
        }
    }
    if let Some((_, field, true)) = record_word(&ty)
        && !props.contains_key(*field)
    {
        props.insert((*field).into(), json!([]));
    }
    props.insert("isAutoRegistered".into(), json!(false));
    row["properties"] = Value::Object(props);
    row["etag"] = json!(guid());
    Ok(())
}

/// `{zone}/ALL`: the zone's record sets, SOA first, then by type as Azure
/// groups them, each type in creation order.
fn all_record_sets(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    if cx.state.resources().get(&cx.id)?.is_none() {
        return Err(ArmError::resource_not_found(
            &format!("{ZONE_TYPE}/{}", cx.id.name()),
            cx.id.resource_group.as_deref().unwrap_or_default(),
        ));
    }
    let children = cx.state.resources().all_children(&cx.id)?;
    let mut out = Vec::new();
    for (word, _, _) in RECORD_TYPES {
        out.extend(children.iter().filter(|c| {
            c["type"]
                .as_str()
                .and_then(|t| t.rsplit('/').next())
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
                && is_record_set(c)
        }));
    }
    Ok(out.into_iter().cloned().collect())
}
