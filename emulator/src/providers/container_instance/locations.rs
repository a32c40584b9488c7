//! What ACI answers about a region (`{S}/providers/Microsoft.ContainerInstance/
//! locations/{l}/…`), served by the spec layer ([`crate::providers::by_spec`]):
//! `usages` counts the subscription's container groups in the region;
//! `capabilities` and `cachedImages` are the facts Azure publishes about the
//! service, the same for every region azemu knows. A region azemu does not
//! know is ARM's `NoRegisteredProviderFound`.

use super::NAMESPACE;
use crate::arm::{ArmError, locations};
use crate::providers::by_spec::{Behaviour, Ctx};
use serde_json::{Value, json};

pub const USAGES: Behaviour = Behaviour {
    lists: &[("usages", usages)],
    ..Behaviour::of("Microsoft.ContainerInstance/locations/usages")
};

pub const CAPABILITIES: Behaviour = Behaviour {
    lists: &[("capabilities", capabilities)],
    ..Behaviour::of("Microsoft.ContainerInstance/locations/capabilities")
};

pub const CACHED_IMAGES: Behaviour = Behaviour {
    lists: &[("cachedImages", cached_images)],
    ..Behaviour::of("Microsoft.ContainerInstance/locations/cachedImages")
};

/// Container groups per region per subscription: ACI's documented default
/// quota ("Container groups per region per subscription: 100", Azure docs
/// "Resource availability & quota limits for ACI"). azemu counts against it
/// but does not refuse a group beyond it.
// TODO-fidelity: the spec example `ContainerGroupUsage.json` shows a limit of
// 2000 (an example's number); no recording of Location_ListUsage was found
// (searched azure-cli recordings for `Microsoft.ContainerInstance/locations`).
const CONTAINER_GROUPS_LIMIT: u64 = 100;

/// The region the path names, or ARM's answer for a region the provider is
/// not in (the words of `../shared/notes/arm-conventions.md`).
fn region(cx: &Ctx, list: &str) -> Result<&'static locations::Region, ArmError> {
    let asked = cx.id.name();
    locations::region(asked).ok_or_else(|| {
        ArmError::no_registered_provider(
            asked,
            cx.req.query("api-version").unwrap_or_default(),
            NAMESPACE,
            &format!("locations/{list}"),
        )
    })
}

/// `GET …/locations/{l}/usages` (`Location_ListUsage`): the subscription's
/// container groups in the region, against the quota.
fn usages(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    let region = region(cx, "usages")?;
    let sub = crate::arm::ResourceId::subscription(&cx.id.subscription);
    let groups = cx
        .state
        .resources()
        .in_scope(&sub, "Microsoft.ContainerInstance/containerGroups")?
        .iter()
        .filter(|g| {
            g["location"]
                .as_str()
                .is_some_and(|l| locations::normalize(l) == region.name)
        })
        .count();
    Ok(vec![json!({
        "unit": "Count",
        "currentValue": groups,
        "limit": CONTAINER_GROUPS_LIMIT,
        "name": {"value": "ContainerGroups", "localizedValue": "Container Groups"},
    })])
}

/// `GET …/locations/{l}/capabilities` (`Location_ListCapabilities`): what a
/// container group may ask for, per OS, as the spec example
/// `CapabilitiesList.json` shapes it (the region by display name). The
/// numbers are ACI's published per-group maximums for standard (non-GPU)
/// groups: 4 vCPU and 16 GB (Azure docs "Resource availability & quota
/// limits for ACI"); GPU SKUs are retired, so no entry offers one.
fn capabilities(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    let region = region(cx, "capabilities")?;
    Ok(["Linux", "Windows"]
        .iter()
        .map(|os| {
            json!({
                "resourceType": "containerGroups",
                "osType": os,
                "location": region.display_name,
                "ipAddressType": "Public",
                "gpu": "None",
                "capabilities": {"maxMemoryInGB": 16, "maxCpu": 4, "maxGpuCount": 0},
            })
        })
        .collect())
}

/// `GET …/locations/{l}/cachedImages` (`Location_ListCachedImages`): the
/// base images Azure keeps cached on ACI hosts so that groups built on them
/// start sooner (Azure docs, "Deploy a Windows container": the Windows
/// Server 2019 base images). A fact about Azure's hosts: azemu pulls every
/// image the same way.
// TODO-fidelity: the exact list Azure answers today was not found (searched
// azure-cli recordings for `cachedImages`); the spec example lists
// `ubuntu:16.04`, `alpine:3.6` and a 2018 nanoserver, an example's words.
fn cached_images(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    region(cx, "cachedImages")?;
    Ok([
        "mcr.microsoft.com/windows/servercore:ltsc2019",
        "mcr.microsoft.com/windows/nanoserver:1809",
    ]
    .iter()
    .map(|image| json!({"osType": "Windows", "image": image}))
    .collect())
}
