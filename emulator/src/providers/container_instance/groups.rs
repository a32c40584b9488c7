//! Container groups: `ContainerGroups_CreateOrUpdate` (LRO: 201 `Creating` +
//! `Azure-AsyncOperation`), `_Get`, `_Update` (tags), `_Delete`, `_List`,
//! `_ListByResourceGroup`, `_Start`, `_Stop`, `_Restart`, `Containers_ListLogs`.
//!
//! Validation and pull failures use ACI's codes and messages
//! (../shared/notes/acr-aci-semantics.md §4): InaccessibleImage,
//! DnsNameLabelAlreadyTaken, InvalidDnsNameLabel, and the registry's own text
//! in the container events when the registry's network refuses the pull.

use super::NAMESPACE;
use super::pull::{Login, PullFailure, parse_image, pull};
use crate::arm::envelope::{self, system_data};
use crate::arm::lro::{Operation, OperationKind, set_polling_headers};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::clock::arm_timestamp;
use crate::entra::{Principal, PrincipalKind};
use crate::providers::{identity, json_response, lro_delay};
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

pub const TYPE: &str = "Microsoft.ContainerInstance/containerGroups";

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

fn not_found(id: &ResourceId) -> ArmError {
    ArmError::resource_not_found(
        &format!("{TYPE}/{}", id.name()),
        id.resource_group.as_deref().unwrap_or_default(),
    )
}

fn load(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    Ok(state.resources().get(id)?)
}

fn require(state: &AppState, id: &ResourceId) -> Result<Value, ArmError> {
    load(state, id)?.ok_or_else(|| not_found(id))
}

/// Every response hides what Azure never returns (azure-cli's recordings of
/// `container create` with `--secrets` and with `--registry-password`): secure
/// environment values, the contents of secret volumes (`"secret": {}`) and
/// registry passwords. The stored values stay for the run.
fn render(row: &Value) -> Value {
    let mut v = row.clone();
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
    v
}

pub fn dispatch(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    tail: Option<&str>,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    match (tail.map(str::to_ascii_lowercase).as_deref(), &req.method) {
        (None, &Method::PUT) => create_or_update(state, req, id),
        (None, &Method::GET) => Ok(json_response(StatusCode::OK, &render(&require(state, id)?))),
        (None, &Method::PATCH) => update_tags(state, req, id),
        (None, &Method::DELETE) => delete(state, id),
        (Some("stop"), &Method::POST) => set_state(state, req, id, "Stopped", false),
        (Some("start"), &Method::POST) => set_state(state, req, id, "Running", true),
        // The spec gives Restart only a 204.
        (Some("restart"), &Method::POST) => set_state(state, req, id, "Running", false),
        (Some(t), _) => Err(crate::providers::unknown_type(
            req,
            NAMESPACE,
            &format!("containerGroups/{t}"),
        )),
        (None, m) => Err(ArmError::method_not_allowed(m.as_str())),
    }
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
/// returned as sent. ACI places a group in one zone.
fn zones_of(body: &serde_json::Map<String, Value>) -> Result<Option<Value>, ArmError> {
    match body.get("zones") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            if a.len() > 1 {
                // TODO-fidelity: ACI's code and words for more than one zone. Searched
                // azure-cli's container recordings (test_container_create_with_zone) and
                // GitHub issues for "zones" errors on container groups without finding them.
                return Err(bad(
                    "MultipleZonesNotSupported",
                    "Container groups can be deployed to only one availability zone.".into(),
                ));
            }
            Ok(Some(Value::Array(a.clone())))
        }
        Some(_) => Err(ArmError::invalid_request_content(
            "Error converting value to type 'System.Collections.Generic.List`1[System.String]'. Path 'zones'.",
        )),
    }
}

fn event(name: &str, message: String, kind: &str, now: &str) -> Value {
    json!({"count": 1, "firstTimestamp": now, "lastTimestamp": now, "name": name, "message": message, "type": kind})
}

fn create_or_update(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    let name = id.name().to_string();
    if !valid_container_name(&name) {
        return Err(bad(
            "InvalidContainerGroupName",
            format!(
                "The container group name '{name}' is invalid. The container group name must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?' (e.g. 'my-name')."
            ),
        ));
    }
    let body = req.json_object()?;
    let location = envelope::location(&body)?;
    let tags = envelope::tags(&body)?;
    let existing = load(state, id)?;
    let zones = zones_of(&body)?;
    let mut props = body.get("properties").cloned().unwrap_or(json!({}));
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
        let subnet = crate::providers::network::virtual_networks::find_subnet(state, &sid)
            .ok_or_else(|| {
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
    let ident = identity::apply(state, req, id, body.get("identity"))?;
    let system_sp = identity::system_principal(state, &id.to_string())?;

    // Pull every image through the registry path.
    let now = arm_timestamp(req.now);
    let creds = props["imageRegistryCredentials"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut group_failed: Option<String> = None;
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
                events.push(event("Created", "Created container".into(), "Normal", &now));
                events.push(event("Started", "Started container".into(), "Normal", &now));
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
    props["containers"] = json!(out_containers);
    if props["restartPolicy"].is_null() {
        props["restartPolicy"] = json!("Always");
    }
    if props["sku"].is_null() {
        props["sku"] = json!("Standard");
    }
    props["provisioningState"] = json!(if existing.is_some() {
        "Updating"
    } else {
        "Creating"
    });
    props["instanceView"] =
        json!({"state": if group_failed.is_some() { "Pending" } else { "Running" }, "events": []});

    let mut row = json!({
        "id": id.to_string(), "name": name, "type": TYPE, "location": location,
        "tags": tags.unwrap_or_else(|| json!({})),
        "systemData": system_data(&req.principal, req.now, existing.as_ref().map(|o| &o["systemData"])),
        "properties": props,
    });
    if let Some(i) = ident {
        row["identity"] = i;
    }
    if let Some(z) = zones {
        row["zones"] = z;
    }
    state.resources().put(id, row.clone())?;
    let kind = match &group_failed {
        Some(_) => OperationKind::FailProvisioning {
            resource_id: id.to_string(),
        },
        None => OperationKind::Provision {
            resource_id: id.to_string(),
        },
    };
    let op = Operation::start(
        &id.subscription,
        kind,
        "containerGroups",
        req.now,
        lro_delay(state),
    );
    op.save(state.store.as_ref())?;
    let v = req.query("api-version").unwrap_or_default();
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = json_response(status, &render(&row));
    set_polling_headers(
        &mut resp,
        None,
        Some(&op.async_operation_url(&req.base.0, NAMESPACE, location, v)),
    );
    Ok(resp)
}

fn update_tags(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    let mut row = require(state, id)?;
    let body = req.json_object()?;
    if body.contains_key("tags") {
        envelope::set_tags(
            &mut row,
            envelope::tags(&body)?.unwrap_or_else(|| json!({})),
        );
    }
    state.resources().put(id, row.clone())?;
    Ok(json_response(StatusCode::OK, &render(&row)))
}

fn delete(state: &AppState, id: &ResourceId) -> Result<Response, ArmError> {
    match state.resources().delete(id)? {
        Some(row) => {
            identity::resource_deleted(state, &id.to_string())?;
            Ok(json_response(StatusCode::OK, &render(&row)))
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// stop and restart → 204; start → 202 (+ Azure-AsyncOperation). Stop leaves the
/// group `Stopped`, start and restart `Running` (restart counts a restart).
fn set_state(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    to: &str,
    lro: bool,
) -> Result<Response, ArmError> {
    let mut row = require(state, id)?;
    let now = arm_timestamp(req.now);
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
    state.resources().put(id, row.clone())?;
    if !lro {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let op = Operation::start(
        &id.subscription,
        OperationKind::Provision {
            resource_id: id.to_string(),
        },
        "containerGroups",
        req.now,
        lro_delay(state),
    );
    op.save(state.store.as_ref())?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    let loc = row["location"].as_str().unwrap_or("eastus");
    let v = req.query("api-version").unwrap_or_default();
    set_polling_headers(
        &mut resp,
        None,
        Some(&op.async_operation_url(&req.base.0, NAMESPACE, loc, v)),
    );
    Ok(resp)
}

pub fn list(state: &AppState, req: &ArmRequest, scope: &ResourceId) -> Result<Response, ArmError> {
    crate::providers::list_tracked(state, req, scope, TYPE, render)
}

/// `GET …/containers/{name}/logs` → `{"content"}`: honest about what happened, since nothing runs.
pub fn logs(
    state: &AppState,
    req: &ArmRequest,
    group: &ResourceId,
    container: &str,
) -> Result<Response, ArmError> {
    req.api_version(TYPE)?;
    let row = require(state, group)?;
    let c = row["properties"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"].as_str() == Some(container))
        .ok_or_else(|| {
            bad(
                "ContainerNotFound",
                format!(
                    "The container '{container}' is not found in container group '{}'.",
                    group.name()
                ),
            )
        })?;
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
