//! Container groups (`Microsoft.ContainerInstance/containerGroups`): Azure's
//! rules for them, as a [`Behaviour`] of the spec layer
//! ([`crate::providers::by_spec`]), which routes, validates by the schema,
//! pages, shapes and runs the long-running operations of
//! `ContainerGroups_CreateOrUpdate` (201 `Pending` + `Azure-AsyncOperation`),
//! `_Get`, `_Update` (tags), `_Delete` (200 with the group), `_List`,
//! `_ListByResourceGroup`, `_Start`, `_Stop`, `_Restart` and
//! `Containers_ListLogs`.
//!
//! What is ACI's here: names, images, OS type, zones, DNS name labels, subnets
//! delegated to ACI, registry credentials and identities; defaults (`resources`,
//! `restartPolicy`, `sku`); the pull of every image through the one pull
//! sequence ([`super::pull`]) with ACI's events in the instance view; a group
//! whose pull fails ends `Failed`; secrets never returned (`secret: {}`, no
//! registry passwords or secure values); the field order of azure-cli's
//! recordings (`properties` first, then `identity`, `id`, `name`, `type`,
//! `location`, `zones`, `tags`).
//!
//! Validation and pull failures use ACI's codes and messages
//! (../shared/notes/acr-aci-semantics.md §4): InaccessibleImage,
//! DnsNameLabelAlreadyTaken, InvalidDnsNameLabel, and the registry's own text
//! in the container events when the registry's network refuses the pull.
//! With a container engine attached the group's containers run there
//! ([`crate::runtime::containers`]): the instance view, the logs and the
//! stop/start/restart/delete actions follow the engine. Without one a group
//! "runs" once every image has been pulled, and its events and logs say that
//! nothing was executed.

use crate::arm::{ArmError, envelope};
use crate::clock::arm_timestamp;
use crate::entra::{Principal, PrincipalKind};
use crate::providers::by_spec::{self, Behaviour, Ctx};
use crate::providers::{identity, json_response};
use crate::pull::{Login, PullFailure, parse_image, pull};
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// The `Started` event's message: ACI's ("Started container"), with the
/// simulation said where a user reads it (`az container show`).
const SIMULATED_START: &str = "Started container (simulated by azemu: nothing was executed)";

pub const TYPE: &str = "Microsoft.ContainerInstance/containerGroups";

pub const GROUPS: Behaviour = Behaviour {
    on_write: Some(on_write),
    on_delete: Some(on_delete),
    on_read: Some(on_read),
    on_removed: Some(on_removed),
    // The spec gives Restart and Stop only a 204, Start a 202.
    actions: &[("start", start), ("stop", stop), ("restart", restart)],
    provider_required: true,
    provisioning_fails: Some(pull_failed),
    delete_returns_row: true,
    ..Behaviour::of(TYPE)
};

/// A group's containers: what is read of them is their logs; `exec` opens a
/// terminal on a command in one, `attach` its output.
pub const CONTAINERS: Behaviour = Behaviour {
    actions: &[("logs", logs), ("exec", exec), ("attach", attach)],
    ..Behaviour::of("Microsoft.ContainerInstance/containerGroups/containers")
};

fn bad(code: &'static str, message: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, code, message)
}

/// An `imageRegistryCredentials` identity ACI will not pull with: one the group
/// does not carry, or its system-assigned identity on Windows. Azure's text:
/// Microsoft's troubleshooting article for ACI pulls with a managed identity
/// (SupportArticles-docs, acr-image-pull-failures-managed-identity.md, with the
/// final period) and MicrosoftDocs/azure-docs#117644.
fn identity_not_found(group: &str) -> ArmError {
    bad(
        "InvalidImageRegistryIdentity",
        format!(
            "The identity in the 'imageRegistryCredentials' of container group '{group}' not found in container group identity list."
        ),
    )
}

/// Every read hides what Azure never returns (azure-cli's recordings of
/// `container create` with `--secrets` and with `--registry-password`): secure
/// environment values, the contents of secret volumes (`"secret": {}`) and
/// registry passwords. The stored values stay for the run.
fn on_read(state: &AppState, v: &mut Value) -> Result<(), ArmError> {
    state.containers.view(v);
    if let Some(cs) = v["properties"]["containers"].as_array_mut() {
        for c in cs {
            if let Some(env) = c["properties"]["environmentVariables"].as_array_mut() {
                for e in env {
                    if let Some(o) = e.as_object_mut() {
                        o.shift_remove("secureValue");
                    }
                }
            }
        }
    }
    if let Some(vols) = v["properties"]["volumes"].as_array_mut() {
        for vol in vols {
            if vol.get("secret").is_some_and(|s| !s.is_null()) {
                vol["secret"] = json!({});
            }
        }
    }
    if let Some(creds) = v["properties"]["imageRegistryCredentials"].as_array_mut() {
        for k in creds {
            if let Some(o) = k.as_object_mut() {
                o.shift_remove("password");
            }
        }
    }
    Ok(())
}

fn valid_dns_label(l: &str) -> bool {
    let b = l.as_bytes();
    (3..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !l.ends_with('-')
}

fn valid_container_name(n: &str) -> bool {
    (1..=63).contains(&n.len())
        && n.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !n.starts_with('-')
        && !n.ends_with('-')
}

fn principal_of(sp: &crate::entra::ServicePrincipal) -> Principal {
    Principal {
        object_id: sp.object_id.clone(),
        app_id: sp.app_id.clone(),
        tenant_id: sp.tenant_id.clone(),
        kind: PrincipalKind::ManagedIdentity,
    }
}

/// The group's availability `zones` (`az container create --zone 1`): kept and
/// returned as sent. ACI places a group in one zone. (The schema has checked
/// that they are strings.)
fn zones_of(zones: Option<&Value>) -> Result<Option<Value>, ArmError> {
    match zones {
        Some(Value::Array(a)) if a.len() > 1 => {
            // TODO-fidelity: ACI's code and words for more than one zone. Searched
            // azure-cli's container recordings (test_container_create_with_zone) and
            // GitHub issues for "zones" errors on container groups without finding them.
            Err(bad(
                "MultipleZonesNotSupported",
                "Container groups can be deployed to only one availability zone.".into(),
            ))
        }
        Some(Value::Array(a)) => Ok(Some(Value::Array(a.clone()))),
        _ => Ok(None),
    }
}

fn event(name: &str, message: String, kind: &str, now: &str) -> Value {
    json!({"count": 1, "firstTimestamp": now, "lastTimestamp": now, "name": name, "message": message, "type": kind})
}

const GROUP_ORDER: &[&str] = &[
    "properties",
    "identity",
    "id",
    "name",
    "type",
    "location",
    "zones",
    "tags",
];
const PROPERTIES_ORDER: &[&str] = &[
    "sku",
    "provisioningState",
    "containers",
    "initContainers",
    "imageRegistryCredentials",
    "restartPolicy",
    "ipAddress",
    "osType",
    "volumes",
    "instanceView",
    "subnetIds",
];
const CONTAINER_ORDER: &[&str] = &[
    "image",
    "command",
    "ports",
    "environmentVariables",
    "instanceView",
    "resources",
    "volumeMounts",
];
const IP_ORDER: &[&str] = &[
    "ports",
    "ip",
    "type",
    "dnsNameLabel",
    "autoGeneratedDomainNameLabelScope",
    "fqdn",
];

/// The first pull failure among the group's containers (ACI's `Failed`
/// event's text), if any: the group's operation then ends `Failed` with it.
pub fn pull_failure(row: &Value) -> Option<&str> {
    row["properties"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c["properties"]["instanceView"]["events"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .find(|e| e["name"] == "Failed")
        .and_then(|e| e["message"].as_str())
}

fn pull_failed(row: &Value) -> bool {
    pull_failure(row).is_some()
}

/// A PUT: the group as ACI stores it, every image pulled. A PATCH changes only
/// tags (the spec layer merged them).
fn on_write(cx: &Ctx, row: &mut Value, existing: Option<&Value>) -> Result<(), ArmError> {
    if cx.req.method == Method::PATCH {
        return Ok(());
    }
    let (state, req, id) = (cx.state, cx.req, &cx.id);
    let name = id.name().to_string();
    if !valid_container_name(&name) {
        return Err(bad(
            "InvalidContainerGroupName",
            format!(
                "The container group name '{name}' is invalid. The container group name must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?' (e.g. 'my-name')."
            ),
        ));
    }
    let location = row["location"].as_str().unwrap_or_default().to_string();
    let location = location.as_str();
    let zones = zones_of(row.get("zones"))?;
    let mut props = row["properties"].clone();
    if let Some(p) = props.as_object_mut() {
        p.shift_remove("provisioningState");
    }
    let os_type = match props["osType"]
        .as_str()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("windows") => "Windows",
        Some("linux") | None => "Linux",
        Some(other) => {
            return Err(bad(
                "InvalidOsType",
                format!("The OS type '{other}' is not supported."),
            ));
        }
    };
    props["osType"] = json!(os_type);
    let containers = props["containers"].as_array().cloned().unwrap_or_default();
    if containers.is_empty() {
        return Err(bad(
            "ContainerGroupContainersEmpty",
            format!("The container group '{name}' must have at least one container."),
        ));
    }

    // Containers: names, images, default resources.
    let mut out_containers = Vec::new();
    for c in containers {
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        if !valid_container_name(&cname) {
            return Err(bad(
                "InvalidContainerName",
                format!(
                    "The container name '{cname}' in container group '{name}' is invalid. The container name must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?' (e.g. 'my-name')."
                ),
            ));
        }
        let mut c = c.clone();
        let image = c["properties"]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if parse_image(&image).is_none() {
            return Err(bad(
                "InvalidContainerImage",
                format!(
                    "The container image of container '{cname}' in container group '{name}' is invalid or missing."
                ),
            ));
        }
        if c["properties"]["resources"].is_null() {
            c["properties"]["resources"] = json!({"requests": {"cpu": 1.0, "memoryInGB": 1.5}});
        }
        // Azure fills in empty ports and variables, and leaves `command` out when not sent.
        for k in ["ports", "environmentVariables"] {
            if c["properties"][k].is_null() {
                c["properties"][k] = json!([]);
            }
        }
        out_containers.push(c);
    }

    // DNS name label: syntax, and unique per region.
    if let Some(label) = props["ipAddress"]["dnsNameLabel"]
        .as_str()
        .map(str::to_string)
    {
        if !valid_dns_label(&label) {
            return Err(bad(
                "InvalidDnsNameLabel",
                format!(
                    "The DNS name label '{label}' in container group '{name}' is invalid. It can contain only lowercase letters, numbers and hyphens. The first character must be a letter. The value must be between 3 and 63 characters long."
                ),
            ));
        }
        // Inside the request's transaction: two creates of one label cannot both pass.
        let taken = crate::store::index::DNS_LABELS_BY_REGION
            .keys(
                state.store.as_ref(),
                &crate::store::index::dns_label(location, &label),
            )?
            .into_iter()
            .any(|k| k != id.key());
        if taken {
            return Err(bad(
                "DnsNameLabelAlreadyTaken",
                format!(
                    "The DNS name label '{label}' in container group '{name}' is not available. Try using a different label."
                ),
            ));
        }
        props["ipAddress"]["fqdn"] = json!(format!("{label}.{location}.azurecontainer.io"));
    }
    // Virtual network: every subnet must exist and be delegated to ACI; the group gets a private address from it.
    let mut private_ip = None;
    let mut group_vnet: Option<String> = None;
    for sid in props["subnetIds"].as_array().cloned().unwrap_or_default() {
        let sid = sid["id"].as_str().unwrap_or_default().to_string();
        let subnet =
            crate::network::virtual_networks::find_subnet(state, &sid).ok_or_else(|| {
                bad(
                    "SubnetNotFound",
                    format!("The subnet '{sid}' of container group '{name}' is not found."),
                )
            })?;
        let delegated = subnet["properties"]["delegations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| {
                d["properties"]["serviceName"].as_str().is_some_and(|s| {
                    s.eq_ignore_ascii_case("Microsoft.ContainerInstance/containerGroups")
                })
            });
        if !delegated {
            return Err(bad(
                "SubnetMissingRequiredDelegation",
                format!(
                    "Subnet missing required delegation 'Microsoft.ContainerInstance' for container group '{name}'."
                ),
            ));
        }
        if group_vnet.is_none() {
            group_vnet = sid
                .to_ascii_lowercase()
                .find("/subnets/")
                .map(|i| sid[..i].to_string());
        }
        if private_ip.is_none() {
            let prefix = subnet["properties"]["addressPrefix"]
                .as_str()
                .unwrap_or_default();
            if let Some(c) = crate::network::cidr::Cidr::parse(prefix) {
                let used = crate::providers::network::virtual_networks::in_use_by(state, &sid)
                    .iter()
                    .filter(|g| !g.eq_ignore_ascii_case(&id.to_string()))
                    .count() as u32;
                private_ip = c.host(used).map(|ip| ip.to_string());
            }
        }
    }
    if let Some(ip) = &private_ip {
        if !props["ipAddress"].is_object() {
            props["ipAddress"] = json!({"type": "Private", "ports": []});
        }
        props["ipAddress"]["ip"] = json!(ip);
    }
    if props["ipAddress"].is_object() && props["ipAddress"]["ip"].is_null() {
        let h = id
            .key()
            .bytes()
            .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
        props["ipAddress"]["ip"] = json!(format!(
            "20.{}.{}.{}",
            40 + h % 20,
            (h >> 8) % 256,
            1 + (h >> 16) % 250
        ));
    }

    // Registry credentials: what each field is must be right before anything is done.
    for (i, k) in props["imageRegistryCredentials"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("properties.imageRegistryCredentials[{i}]");
        if !k.is_object() || !k["server"].is_string() {
            return Err(ArmError::invalid_request_content(&format!(
                "Required property 'server' not found or not a string in JSON. Path '{path}'"
            )));
        }
        for f in ["identity", "username", "password", "identityUrl"] {
            if !k[f].is_null() && !k[f].is_string() {
                return Err(ArmError::invalid_request_content(&format!(
                    "Unexpected value for '{f}': a string is required. Path '{path}.{f}'"
                )));
            }
        }
    }
    let ident = identity::apply(state, req, id, row.get("identity"))?;
    let system_sp = state.directory.system_principal_of(&id.to_string())?;

    // Pull every image through the registry path.
    let now = arm_timestamp(req.now);
    let creds = props["imageRegistryCredentials"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut group_failed: Option<String> = None;
    let engine = state.containers.attached();
    for c in out_containers.iter_mut() {
        let image_str = c["properties"]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(image) = parse_image(&image_str) else {
            continue;
        };
        let cred = creds.iter().find(|k| {
            k["server"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&image.host))
        });
        let ident_ref = cred
            .and_then(|k| k["identity"].as_str())
            .unwrap_or_default()
            .to_string();
        let login = match cred {
            Some(k) if k["identity"].is_string() => {
                let ident_id = k["identity"].as_str().unwrap_or_default();
                let sp = if ident_id.eq_ignore_ascii_case("[system]") {
                    if os_type == "Windows" {
                        // "Windows containers don't support system-assigned managed
                        // identity-authenticated image pulls with ACR, only user-assigned"
                        // (the seed document's limitation). Azure refuses it as an identity
                        // it cannot find: Microsoft's troubleshooting article for ACI pulls
                        // with a managed identity (SupportArticles-docs,
                        // azure-container-instances/management/acr-image-pull-failures-managed-identity.md,
                        // "possible cause 2": the system-assigned identity as the pull identity).
                        return Err(identity_not_found(&name));
                    }
                    system_sp.clone()
                } else {
                    let attached = ident
                        .as_ref()
                        .and_then(|i| i["userAssignedIdentities"].as_object())
                        .is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case(ident_id)));
                    if !attached {
                        return Err(identity_not_found(&name));
                    }
                    state.directory.of_resource(ident_id)?.into_iter().next()
                };
                match sp {
                    Some(sp) => Login::Identity(principal_of(&sp)),
                    None => {
                        return Err(bad(
                            "InvalidImageRegistryIdentity",
                            format!(
                                "The container group '{name}' has no system-assigned identity for registry '{}'.",
                                image.host
                            ),
                        ));
                    }
                }
            }
            Some(k) => Login::Password {
                username: k["username"].as_str().unwrap_or_default(),
                password: k["password"].as_str().unwrap_or_default(),
            },
            None => Login::None,
        };
        let mut events = vec![event(
            "Pulling",
            format!("pulling image \"{image_str}\""),
            "Normal",
            &now,
        )];
        let mut trace =
            crate::trace::Trace::new("aci-pull", &id.to_string(), &image_str, now.clone());
        trace.subject = match &login {
            Login::Identity(p) => {
                json!({"kind": "identity", "principalId": p.object_id, "identity": ident_ref})
            }
            Login::Password { username, .. } => json!({"kind": "password", "username": username}),
            Login::None => json!({"kind": "anonymous"}),
        };
        let result = pull(state, &image, login, group_vnet.as_deref(), &mut trace);
        trace.outcome = match &result {
            Ok(d) => format!("pulled {image_str}@{d}"),
            Err(PullFailure::Inaccessible) => format!(
                "InaccessibleImage: The image '{image_str}' in container group '{name}' is not accessible. Please check the image and registry credential."
            ),
            Err(PullFailure::Unreachable) => format!(
                "RegistryErrorResponse: An error response is received from the docker registry '{}'. Please retry later.",
                image.host
            ),
            Err(PullFailure::Denied(t)) => format!("Failed to pull image \"{image_str}\": {t}"),
        };
        state.traces.record(trace);
        match result {
            Ok(digest) => {
                let detail = format!("Successfully pulled image \"{image_str}@{digest}\"");
                events.push(event("Pulled", detail, "Normal", &now));
                if engine {
                    // The engine creates and starts it: its events follow (runtime::containers).
                    c["properties"]["instanceView"] = json!({"restartCount": 0, "currentState": {"state": "Waiting", "detailStatus": ""}, "events": events});
                    continue;
                }
                events.push(event("Created", "Created container".into(), "Normal", &now));
                // ACI's event, labelled: nothing runs (the container's logs say so too).
                events.push(event("Started", SIMULATED_START.into(), "Normal", &now));
                c["properties"]["instanceView"] = json!({"restartCount": 0, "currentState": {"state": "Running", "startTime": now, "detailStatus": ""}, "events": events});
            }
            Err(PullFailure::Unreachable) => {
                return Err(bad(
                    "RegistryErrorResponse",
                    format!(
                        "An error response is received from the docker registry '{}'. Please retry later.",
                        image.host
                    ),
                ));
            }
            Err(PullFailure::Inaccessible) => {
                return Err(bad(
                    "InaccessibleImage",
                    format!(
                        "The image '{image_str}' in container group '{name}' is not accessible. Please check the image and registry credential."
                    ),
                ));
            }
            Err(PullFailure::Denied(text)) => {
                let msg = format!(
                    "Failed to pull image \"{image_str}\": rpc error: code Unknown desc Error response from daemon: {text}"
                );
                events.push(event("Failed", msg.clone(), "Warning", &now));
                events.push(event(
                    "BackOff",
                    format!("Back-off pulling image \"{image_str}\""),
                    "Normal",
                    &now,
                ));
                c["properties"]["instanceView"] = json!({"restartCount": 0, "currentState": {"state": "Waiting", "detailStatus": "ErrImagePull"}, "events": events});
                group_failed = Some(msg);
            }
        }
    }
    props["containers"] = Value::Array(
        out_containers
            .iter()
            .map(|c| {
                let mut c = c.clone();
                envelope::reorder(&mut c["properties"], CONTAINER_ORDER);
                c
            })
            .collect(),
    );
    if props["initContainers"].is_null() {
        props["initContainers"] = json!([]);
    }
    if props["restartPolicy"].is_null() {
        props["restartPolicy"] = json!("Always");
    }
    if props["sku"].is_null() {
        props["sku"] = json!("Standard");
    }
    if props["ipAddress"].is_object() {
        envelope::reorder(&mut props["ipAddress"], IP_ORDER);
    }
    // azure-cli's recordings: a new group answers `Pending` until its operation ends.
    props["provisioningState"] = json!(if existing.is_some() {
        "Updating"
    } else {
        "Pending"
    });
    props["instanceView"] =
        json!({"state": if group_failed.is_some() { "Pending" } else { "Running" }, "events": []});

    envelope::reorder(&mut props, PROPERTIES_ORDER);
    let mut out = Map::new();
    out.insert("properties".into(), props);
    if let Some(i) = ident {
        out.insert("identity".into(), i);
    }
    for k in ["id", "name", "type", "location"] {
        out.insert(k.into(), row[k].clone());
    }
    if let Some(z) = zones {
        out.insert("zones".into(), z);
    }
    out.insert(
        "tags".into(),
        row.get("tags")
            .filter(|t| t.is_object())
            .cloned()
            .unwrap_or_else(|| json!({})),
    );
    *row = Value::Object(out);
    envelope::reorder(row, GROUP_ORDER);
    if engine
        && group_failed.is_none()
        && let Some(plan) = crate::runtime::containers::plan_of(row)
    {
        state
            .containers
            .launch_after_commit(state.store.as_ref(), plan);
    }
    Ok(())
}

/// The group has gone (its DELETE, or its resource group's): so do its containers.
fn on_removed(r: &by_spec::Removal) -> Result<(), ArmError> {
    r.state
        .containers
        .remove_after_commit(r.state.store.as_ref(), r.id.key());
    Ok(())
}

fn on_delete(cx: &Ctx, _: &Value) -> Result<(), ArmError> {
    identity::resource_deleted(cx.state, &cx.id.to_string())
}

fn start(cx: &Ctx) -> Result<Response, ArmError> {
    let row = set_state(cx, "Running")?;
    act(cx, "start");
    let location = row["location"].as_str().unwrap_or("eastus");
    by_spec::accepted_async(cx, TYPE, location)
}

fn stop(cx: &Ctx) -> Result<Response, ArmError> {
    set_state(cx, "Stopped")?;
    act(cx, "stop");
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn restart(cx: &Ctx) -> Result<Response, ArmError> {
    set_state(cx, "Running")?;
    act(cx, "restart");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The engine's part of an action, once it has committed (the containers
/// stop, start anew, or restart).
fn act(cx: &Ctx, action: &'static str) {
    cx.state
        .containers
        .act_after_commit(cx.state.store.as_ref(), cx.id.key(), action);
}

/// Stop leaves the group `Stopped`, start and restart `Running` (a restart of
/// a running container counts). The group as stored.
fn set_state(cx: &Ctx, to: &str) -> Result<Value, ArmError> {
    let Some(mut row) = cx.state.resources().get(&cx.id)? else {
        return Err(ArmError::resource_not_found(
            &format!("{TYPE}/{}", cx.id.name()),
            cx.id.resource_group.as_deref().unwrap_or_default(),
        ));
    };
    let now = arm_timestamp(cx.req.now);
    row["properties"]["instanceView"]["state"] = json!(to);
    if let Some(cs) = row["properties"]["containers"].as_array_mut() {
        for c in cs {
            let iv = &mut c["properties"]["instanceView"];
            if to == "Stopped" {
                iv["currentState"] =
                    json!({"state": "Terminated", "finishTime": now, "detailStatus": "Stopped"});
            } else {
                iv["restartCount"] = json!(
                    iv["restartCount"]
                        .as_u64()
                        .unwrap_or(0)
                        .saturating_add(u64::from(iv["currentState"]["state"] == "Running"))
                );
                iv["currentState"] =
                    json!({"state": "Running", "startTime": now, "detailStatus": ""});
            }
        }
    }
    cx.state.resources().put(&cx.id, row.clone())?;
    Ok(row)
}

/// `GET …/containers/{name}/logs` → `{"content"}`: honest about what happened,
/// since nothing runs (the spec layer has found the container in its group).
fn logs(cx: &Ctx) -> Result<Response, ArmError> {
    let group = cx
        .id
        .parent()
        .ok_or_else(|| ArmError::no_route(&cx.req.path))?;
    let row = cx.state.resources().get(&group)?.unwrap_or_default();
    let container = cx.id.name();
    let c = row["properties"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(container))
        })
        .cloned()
        .unwrap_or_default();
    if let Some(content) = cx.state.containers.logs(&group.key(), container) {
        return Ok(json_response(StatusCode::OK, &json!({"content": content})));
    }
    let mut content = String::new();
    for e in c["properties"]["instanceView"]["events"]
        .as_array()
        .into_iter()
        .flatten()
    {
        content.push_str(&format!(
            "{} {}: {}\n",
            e["lastTimestamp"].as_str().unwrap_or_default(),
            e["name"].as_str().unwrap_or_default(),
            e["message"].as_str().unwrap_or_default()
        ));
    }
    content.push_str("azemu does not execute container images; this log lists what the emulator did for this container.\n");
    Ok(json_response(StatusCode::OK, &json!({"content": content})))
}

/// `POST …/containers/{name}/exec` (`Containers_ExecuteCommand`): a websocket
/// address and its password, as ACI answers (200, `webSocketUri` then
/// `password`: azure-cli's recording test_container_exec). The websocket
/// ([`crate::server::exec_stream`]) runs the command in the container with a
/// terminal of the requested size.
fn exec(cx: &Ctx) -> Result<Response, ArmError> {
    let body = cx.req.json_body()?;
    let command = crate::runtime::exec::argv(body["command"].as_str().unwrap_or_default());
    if command.is_empty() {
        // TODO-fidelity: ACI's code and words for an exec without a command; searched
        // azure-cli's container recordings (only test_container_exec, which sends one).
        return Err(bad(
            "InvalidExecCommand",
            "The command of the exec request must not be empty.".into(),
        ));
    }
    let size = |k: &str, default: u16| {
        body["terminalSize"][k]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let (rows, cols) = (size("rows", 24), size("cols", 80));
    let what = crate::runtime::exec::What::Exec {
        command,
        rows,
        cols,
    };
    session(cx, what, &format!("&rows={rows}&cols={cols}"))
}

/// `POST …/containers/{name}/attach` (`Containers_Attach`): the same answer as
/// exec's (the spec's example), for a websocket that streams the container's
/// output. (az's `container attach` polls the group and its logs instead.)
// TODO-fidelity: whether ACI's attach starts with the output so far or only
// what comes next; searched azure-cli's container recordings (none of attach)
// and the spec (its example only). This one sends it all, then what comes.
fn attach(cx: &Ctx) -> Result<Response, ArmError> {
    session(cx, crate::runtime::exec::What::Attach, "")
}

/// A session on the running container the path names: `{"webSocketUri",
/// "password"}`. ACI's socket is on a host of its own
/// (`wss://<node>.<region>.atlas.cloudapp.azure.com:19390/execstream/sessionId/<id>?api-version=1.0&rows=24&cols=80`);
/// azemu's is on the host the request came to (localhost, or
/// management.azure.com through the proxy), which az reaches the same way.
fn session(cx: &Ctx, what: crate::runtime::exec::What, query: &str) -> Result<Response, ArmError> {
    let group = cx
        .id
        .parent()
        .ok_or_else(|| ArmError::no_route(&cx.req.path))?;
    let container = cx.id.name();
    let Some((engine, id)) = cx.state.containers.running(&group.key(), container) else {
        // TODO-fidelity: ACI's answer to an exec into a container that is not running;
        // searched azure-cli's container recordings and GitHub issues ("az container
        // exec" not running) without finding it.
        let why = if cx.state.containers.attached() {
            "is not running"
        } else {
            "is not running: azemu runs no container engine (--container-engine none), so nothing was executed"
        };
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "ContainerNotRunning",
            format!(
                "The container '{container}' of container group '{}' {why}.",
                group.name()
            ),
        ));
    };
    let ticket = cx.state.containers.exec.open(engine, id, what, cx.req.now);
    let scheme = if cx.req.base.0.starts_with("http://") {
        "ws"
    } else {
        "wss"
    };
    let host = cx.req.base.host();
    let uri = format!(
        "{scheme}://{host}/execstream/sessionId/{}?api-version=1.0{query}",
        ticket.id
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({"webSocketUri": uri, "password": ticket.password}),
    ))
}
