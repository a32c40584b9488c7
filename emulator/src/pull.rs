//! The one pull sequence: pulling an image the way ACI and ACR Tasks do, through the same
//! decisions an external client meets: the identity's (or credentials')
//! login to the registry, [`crate::acr::granted`] (which asks `authorize()`),
//! the registry's network decision, then the manifest and its blobs with
//! their digests.
//!
//! Images on emulated registries (`<name>.azurecr.io`) go through ACR's
//! checks; the offline public registries (`mcr.microsoft.com`, Docker Hub,
//! [`crate::public_registry`]) are pulled anonymously; any other host is
//! unreachable, as it would be from a network that cannot resolve it.

use crate::acr::{Caller, Scope};
use crate::arm::ArmError;
use crate::entra::Principal;
use crate::network::{AzureService, Origin, Reach, registry_reachable};
use crate::oci::blobs::parse_digest;
use crate::state::AppState;
use serde_json::Value;

/// The public address container groups pull from (an Azure datacenter IP, for firewall messages).
pub const ACI_EGRESS_IP: [u8; 4] = [20, 42, 65, 91];

/// The fix for an image its registry does not hold.
const PUSH_FIRST: &str = "push the image first (azemu push, docker push, az acr import)";

/// An image reference split the way Docker does: `host/repo:tag` or `host/repo@digest`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRef {
    pub host: String,
    pub repository: String,
    pub reference: String,
}

pub fn parse_image(image: &str) -> Option<ImageRef> {
    let image = image.trim();
    if image.is_empty() || image.contains(char::is_whitespace) {
        return None;
    }
    let (host, rest) = match image.split_once('/') {
        Some((h, r)) if h.contains('.') || h.contains(':') || h == "localhost" => {
            (h.to_ascii_lowercase(), r.to_string())
        }
        _ => (
            "docker.io".to_string(),
            if image.contains('/') {
                image.to_string()
            } else {
                format!("library/{image}")
            },
        ),
    };
    let (repository, reference) = if let Some((r, d)) = rest.split_once('@') {
        (r.to_string(), d.to_string())
    } else {
        match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (rest.clone(), "latest".to_string()),
        }
    };
    (!repository.is_empty()).then_some(ImageRef {
        host,
        repository,
        reference,
    })
}

/// How a pull failed, as ACI reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum PullFailure {
    /// ACI answers the PUT with 400 InaccessibleImage.
    Inaccessible,
    /// The registry refused at the network: the group fails with this event text.
    Denied(String),
    /// Not a registry the emulator serves: ACI's 400 RegistryErrorResponse.
    Unreachable,
}

/// What the group has to log in with for one registry.
pub enum Login<'a> {
    Identity(Principal),
    Password {
        username: &'a str,
        password: &'a str,
    },
    None,
}

/// Pull `image` (manifest + blobs) from an emulated registry; `Ok(digest)` of the manifest.
/// `vnet`: the VNet of the group's subnet, if it is deployed into one. Every
/// check is recorded in `trace`, with the fix when one fails.
pub fn pull(
    state: &AppState,
    image: &ImageRef,
    login: Login<'_>,
    vnet: Option<&str>,
    trace: &mut crate::trace::Trace,
) -> Result<String, PullFailure> {
    pull_as(
        state,
        AzureService::ContainerInstances,
        image,
        login,
        vnet,
        trace,
    )
}

/// [`pull`] as `service` would do it (its egress, its standing with trusted services).
fn pull_as(
    state: &AppState,
    service: AzureService,
    image: &ImageRef,
    login: Login<'_>,
    vnet: Option<&str>,
    trace: &mut crate::trace::Trace,
) -> Result<String, PullFailure> {
    let Some(name) = crate::acr::registry_name_of_host(&image.host) else {
        return match crate::public_registry::registry_of_host(&image.host) {
            Some(public) => {
                trace.step(
                    "registry",
                    true,
                    format!("{} (offline public registry, anonymous pull)", image.host),
                );
                fetched(trace, fetch(state, public, image))
                    .inspect_err(|_| trace.fix = Some(PUSH_FIRST.into()))
            }
            None => {
                trace.step(
                    "registry",
                    false,
                    format!(
                        "{} is not a registry azemu serves (unreachable)",
                        image.host
                    ),
                );
                Err(PullFailure::Unreachable)
            }
        };
    };
    let Some(registry) = crate::acr::registry::by_name(state, &name).ok().flatten() else {
        trace.step(
            "registry",
            false,
            format!("no registry named '{name}' exists"),
        );
        trace.fix = Some(format!(
            "create the registry: az acr create -n {name} -g <group> --sku Basic"
        ));
        return Err(PullFailure::Inaccessible);
    };
    let registry_id = registry["id"].as_str().unwrap_or_default().to_string();
    trace.step("registry", true, registry_id.clone());
    let origin = Origin::AzureService {
        service,
        ip: ACI_EGRESS_IP.into(),
        managed_identity: matches!(login, Login::Identity(_)),
    };
    let reach = match vnet {
        Some(v) => crate::network::registry_reachable_from_vnet(state, &registry, v, &origin),
        None => registry_reachable(&registry, &origin),
    };
    match &reach {
        Reach::Allowed { via } => trace.step("network", true, format!("allowed via {via}")),
        Reach::Denied { message } => {
            trace.step("network", false, message.clone());
            trace.fix = Some(if service != AzureService::ContainerInstances {
                format!(
                    "{} is not one of ACR's trusted services (https://aka.ms/acr/trusted-services): allow its outbound addresses in the registry's firewall (az acr network-rule add -n {name} --ip-address …) or reach the registry through a private endpoint in its virtual network",
                    service.name()
                )
            } else {
                format!(
                    "open the path: allow ACI's address in the registry's firewall, pull with a managed identity through trusted services (az acr update -n {name} --allow-trusted-services true), or reach it through an approved private endpoint"
                )
            });
        }
    }
    if let Reach::Denied { message } = reach {
        // A refusal from the registry reads "denied: …"; an unreachable address is a dial error.
        let reason = if message.starts_with("dial tcp") {
            message
        } else {
            format!("denied: {message}")
        };
        return Err(PullFailure::Denied(format!(
            "Head \"https://{}/v2/{}/manifests/{}\": {reason}",
            image.host, image.repository, image.reference
        )));
    }
    let principal_id = match &login {
        Login::Identity(p) => Some(p.object_id.clone()),
        _ => None,
    };
    let host = image.host.clone();
    let mut username = None;
    let caller = match login {
        Login::Identity(p) => {
            // What ACI's backend gets from the registry's token service at /oauth2/exchange,
            // issued and verified by its own code, here inside the process.
            let Some(refresh) = crate::acr::tokens::refresh_token_in_process(state, &host, &p)
            else {
                trace.step(
                    "credentials",
                    false,
                    format!(
                        "{host}'s token service issued no valid refresh token for principal {}",
                        p.object_id
                    ),
                );
                return Err(PullFailure::Inaccessible);
            };
            trace.step(
                "credentials",
                true,
                format!(
                    "refresh token for principal {} issued by {host}'s token service (as /oauth2/exchange issues it; in process), expires {}",
                    p.object_id,
                    unix_time(&refresh["exp"])
                ),
            );
            Caller::Principal(p)
        }
        Login::Password {
            username: user,
            password,
        } => {
            match crate::acr::tokens::caller_for_password(
                state,
                &registry,
                &image.host,
                user,
                password,
            ) {
                Some(c) => {
                    trace.step(
                        "credentials",
                        true,
                        format!("username '{user}' and password accepted"),
                    );
                    username = Some(user);
                    c
                }
                None => {
                    trace.step(
                        "credentials",
                        false,
                        format!(
                            "username '{user}' or its password is not valid for {}",
                            image.host
                        ),
                    );
                    trace.fix = Some(format!(
                        "use the registry's current credentials: az acr credential show -n {name}"
                    ));
                    return Err(PullFailure::Inaccessible);
                }
            }
        }
        Login::None => {
            trace.step("credentials", true, "none (anonymous)");
            Caller::Anonymous
        }
    };
    match from_registry(state, &registry, image, &caller, username, trace) {
        Ok(digest) => Ok(digest),
        Err(Refusal::Unauthorized) => {
            trace.fix = Some(match principal_id {
                Some(oid) => crate::acr::tokens::role_fix(&registry, &oid, false),
                None => format!(
                    "give the group credentials for {}: a managed identity with AcrPull, or a username/password",
                    image.host
                ),
            });
            Err(PullFailure::Inaccessible)
        }
        Err(Refusal::Locked(locked)) => {
            trace.fix = Some(format!(
                "az acr repository update -n {name} {} --read-enabled true",
                locked.arg
            ));
            Err(locked_refusal())
        }
        Err(Refusal::NotFound) => {
            trace.fix = Some(PUSH_FIRST.into());
            Err(PullFailure::Inaccessible)
        }
    }
}

/// Why a registry refused a pull its network let through (the failed step is in the trace).
pub(crate) enum Refusal {
    /// The access token for `repository:<r>:pull` does not carry pull.
    Unauthorized,
    /// `readEnabled: false` on the repository, the tag or the manifest.
    Locked(crate::oci::locks::Locked),
    /// No such tag or manifest, or content that does not match its digest.
    NotFound,
}

/// The registry's part of every pull (ACI's, task runs'), once its network let
/// the caller in: the access token its token service issues `caller` for
/// `repository:<r>:pull` (verified as the data plane verifies it), the read
/// locks, then the manifest and every blob by digest. Each step goes into `trace`;
/// the callers add their own fix and wire message to a refusal.
pub(crate) fn from_registry(
    state: &AppState,
    registry: &Value,
    image: &ImageRef,
    caller: &Caller,
    username: Option<&str>,
    trace: &mut crate::trace::Trace,
) -> Result<String, Refusal> {
    let registry_id = registry["id"].as_str().unwrap_or_default();
    let scope = Scope {
        kind: "repository".into(),
        name: image.repository.clone(),
        actions: vec!["pull".into()],
    };
    let access = crate::acr::tokens::access_token_in_process(
        state,
        registry,
        &image.host,
        caller,
        username,
        &scope,
    );
    let actions: Vec<&str> = access
        .as_ref()
        .and_then(|c| c["access"][0]["actions"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !actions.contains(&"pull") {
        let held = match caller {
            Caller::Principal(p) => crate::authz::access::describe_assignments(state, &p.object_id),
            _ => Vec::new(),
        };
        trace.step(
            "authorize",
            false,
            format!(
                "no pull on repository '{}' of {registry_id} (the access token for {} carries [{}]); role assignments considered: {}",
                image.repository,
                scope.render(),
                actions.join(","),
                if held.is_empty() {
                    "none".to_string()
                } else {
                    held.join("; ")
                }
            ),
        );
        return Err(Refusal::Unauthorized);
    }
    trace.step(
        "authorize",
        true,
        format!(
            "pull on repository '{}' granted: the access token for {} carries [{}]",
            image.repository,
            scope.render(),
            actions.join(",")
        ),
    );
    let reg = registry["name"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if let Some(locked) = read_lock(state, &reg, image) {
        let message = crate::oci::locks::disallowed().message;
        trace.step(
            "locks",
            false,
            format!(
                "readEnabled is false on {}: the registry refuses the pull ({message})",
                locked.what
            ),
        );
        return Err(Refusal::Locked(locked));
    }
    fetched(trace, fetch(state, &reg, image)).map_err(|_| Refusal::NotFound)
}

/// "Could this identity pull this image (from this subnet)?", asked without doing it:
/// the checks of [`pull`] as a container group would meet them, returned as a
/// trace (kind `explain-pull`) that is not recorded. `req`: `{image, identity?
/// (a managed identity's resource id) | principalId? | username?+password?,
/// subnet? (a subnet id: the group's VNet)}`.
pub fn hypothetical(state: &AppState, req: &Value) -> Result<crate::trace::Trace, ArmError> {
    let bad = |m: String| ArmError::invalid_request_content(&m);
    let image_str = req["image"]
        .as_str()
        .ok_or_else(|| bad("'image' is required.".into()))?;
    let image = parse_image(image_str)
        .ok_or_else(|| bad(format!("'{image_str}' is not an image reference.")))?;
    let now = crate::clock::arm_timestamp(state.clock.now());
    let mut trace = crate::trace::Trace::new("explain-pull", "", image_str, now);
    let as_identity = |sp: &crate::entra::ServicePrincipal| Principal {
        object_id: sp.object_id.clone(),
        app_id: sp.app_id.clone(),
        tenant_id: sp.tenant_id.clone(),
        kind: sp.kind,
    };
    let login = if let Some(id) = req["identity"].as_str() {
        let sp = state
            .directory
            .of_resource(id.trim_end_matches('/'))?
            .into_iter()
            .next()
            .ok_or_else(|| bad(format!("No managed identity '{id}' exists.")))?;
        trace.subject =
            serde_json::json!({"kind": "identity", "principalId": sp.object_id, "identity": id});
        Login::Identity(as_identity(&sp))
    } else if let Some(oid) = req["principalId"].as_str() {
        let sp = state
            .directory
            .get(oid)?
            .ok_or_else(|| bad(format!("No principal '{oid}' exists in the directory.")))?;
        trace.subject = serde_json::json!({"kind": "principal", "principalId": sp.object_id, "appId": sp.app_id, "type": "service principal"});
        Login::Identity(as_identity(&sp))
    } else if let (Some(username), Some(password)) =
        (req["username"].as_str(), req["password"].as_str())
    {
        trace.subject = serde_json::json!({"kind": "password", "username": username});
        Login::Password { username, password }
    } else {
        trace.subject = serde_json::json!({"kind": "anonymous"});
        Login::None
    };
    let vnet = match req["subnet"].as_str() {
        Some(sid) => {
            crate::network::virtual_networks::find_subnet(state, sid)
                .ok_or_else(|| bad(format!("No subnet '{sid}' exists.")))?;
            sid.to_ascii_lowercase()
                .find("/subnets/")
                .map(|i| sid[..i].to_string())
        }
        None => None,
    };
    let service = match req["from"].as_str() {
        None | Some("containerInstances") => AzureService::ContainerInstances,
        Some("containerApps") => AzureService::ContainerApps,
        Some("appService") => AzureService::AppService,
        Some(other) => {
            return Err(bad(format!(
                "'from' must be containerInstances, containerApps or appService, not '{other}'."
            )));
        }
    };
    trace.step("origin", true, format!("as {} would pull", service.name()));
    let result = pull_as(state, service, &image, login, vnet.as_deref(), &mut trace);
    trace.resource = crate::acr::registry_name_of_host(&image.host)
        .and_then(|n| crate::acr::registry::by_name(state, &n).ok().flatten())
        .and_then(|r| r["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| image.host.clone());
    trace.outcome = match result {
        Ok(d) => format!("would pull {image_str}@{d}"),
        Err(PullFailure::Inaccessible) => format!(
            "would fail: InaccessibleImage: The image '{image_str}' in container group '<group>' is not accessible. Please check the image and registry credential."
        ),
        Err(PullFailure::Unreachable) => format!(
            "would fail: RegistryErrorResponse: An error response is received from the docker registry '{}'. Please retry later.",
            image.host
        ),
        Err(PullFailure::Denied(t)) => {
            format!("would fail: Failed to pull image \"{image_str}\": {t}")
        }
    };
    Ok(trace)
}

/// A token's `exp` (seconds since the epoch) as ARM writes times.
fn unix_time(exp: &Value) -> String {
    exp.as_i64()
        .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok())
        .map(crate::clock::arm_timestamp)
        .unwrap_or_default()
}

fn fetched(
    trace: &mut crate::trace::Trace,
    r: Result<String, PullFailure>,
) -> Result<String, PullFailure> {
    match &r {
        Ok(d) => trace.step("manifest", true, format!("found {d}; every blob verified")),
        Err(_) => {
            trace.step(
                "manifest",
                false,
                "manifest unknown: no such tag or digest in the repository",
            );
        }
    }
    r
}

/// A read lock's refusal, as the Docker engine reports the registry's 405
/// `REGISTRY_DISALLOWED_OPERATION` (a code it does not know: `unknown:`).
pub(crate) fn locked_refusal() -> PullFailure {
    PullFailure::Denied(format!(
        "unknown: {}",
        crate::oci::locks::disallowed().message
    ))
}

/// The read lock (`readEnabled:false`, [`crate::oci::acr_meta`]) that refuses
/// pulling `image` from registry `reg`: what is locked, and how
/// `az acr repository update` names it.
pub(crate) fn read_lock(
    state: &AppState,
    reg: &str,
    image: &ImageRef,
) -> Option<crate::oci::locks::Locked> {
    let by_tag = parse_digest(&image.reference).is_none();
    let digest = if by_tag {
        let key = format!("{reg}/{}/{}", image.repository, image.reference);
        let tag = state.store.get(crate::oci::tables::TAGS, &key).ok()??;
        tag["digest"].as_str()?.to_string()
    } else {
        image.reference.clone()
    };
    let tag = by_tag.then_some(image.reference.as_str());
    crate::oci::locks::read_lock(state.store.as_ref(), reg, &image.repository, tag, &digest)
        .ok()
        .flatten()
}

/// The manifest `image` names in registry `reg`, then every blob it names, by digest.
pub(crate) fn fetch(state: &AppState, reg: &str, image: &ImageRef) -> Result<String, PullFailure> {
    let key = |rest: &str| format!("{reg}/{}/{rest}", image.repository);
    let digest = if parse_digest(&image.reference).is_some() {
        image.reference.clone()
    } else {
        let tag = state
            .store
            .get(crate::oci::tables::TAGS, &key(&image.reference))
            .ok()
            .flatten()
            .ok_or(PullFailure::Inaccessible)?;
        tag["digest"].as_str().unwrap_or_default().to_string()
    };
    state
        .store
        .get(crate::oci::tables::MANIFESTS, &key(&digest))
        .ok()
        .flatten()
        .ok_or(PullFailure::Inaccessible)?;
    // A read lock refuses every puller, as the registry refuses a client.
    if read_lock(state, reg, image).is_some() {
        return Err(locked_refusal());
    }
    let bytes = state
        .blobs
        .read(&digest)
        .map_err(|_| PullFailure::Inaccessible)?;
    if !matches_digest(&bytes, &digest) {
        return Err(PullFailure::Inaccessible);
    }
    let manifest: Value = serde_json::from_slice(&bytes).map_err(|_| PullFailure::Inaccessible)?;
    let mut blobs: Vec<&str> = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["digest"].as_str())
        .collect();
    blobs.extend(manifest["config"]["digest"].as_str());
    for b in blobs {
        let data = state.blobs.read(b).map_err(|_| PullFailure::Inaccessible)?;
        if !matches_digest(&data, b) {
            return Err(PullFailure::Inaccessible);
        }
    }
    Ok(digest)
}

/// `bytes` hash to `digest`, in the digest's own algorithm (sha256 or sha512).
fn matches_digest(bytes: &[u8], digest: &str) -> bool {
    crate::oci::blobs::Algorithm::of(digest)
        .is_some_and(|a| crate::oci::blobs::digest_with(a, bytes) == digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::blobs::Algorithm;

    /// An image whose blobs and manifest are all addressed by sha512 is fetched,
    /// by tag and by digest, each blob checked in its own algorithm.
    #[test]
    fn sha512_images_are_fetched() {
        let mut c = crate::Config::new(std::env::temp_dir().join("azemu-pull-unit-keys"));
        c.state_in_memory = true;
        c.blobs_in_memory = true;
        let state = AppState::new(c).expect("state");
        let put = |b: &[u8]| state.blobs.put_with(Algorithm::Sha512, b).unwrap();
        let (layer, config) = (put(b"layer"), put(b"{}"));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 5}],
        })
        .to_string();
        let m = put(manifest.as_bytes());
        let blobs = [(layer, 5), (config, 2)];
        crate::oci::images::link(
            state.store.as_ref(),
            "reg",
            "app",
            &blobs,
            (&m, manifest.len()),
            Some("v1"),
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        for image in [
            "reg.azurecr.io/app:v1".to_string(),
            format!("reg.azurecr.io/app@{m}"),
        ] {
            assert_eq!(
                fetch(&state, "reg", &parse_image(&image).unwrap()),
                Ok(m.clone()),
                "{image}"
            );
        }
    }

    #[test]
    fn image_references() {
        let r = parse_image("myreg.azurecr.io/team/app:v1").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("myreg.azurecr.io", "team/app", "v1")
        );
        let r = parse_image("nginx").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("docker.io", "library/nginx", "latest")
        );
        let r = parse_image("mcr.microsoft.com/azuredocs/aci-helloworld").unwrap();
        assert_eq!(r.reference, "latest");
        let r = parse_image("myreg.azurecr.io/app@sha256:abc").unwrap();
        assert_eq!(r.reference, "sha256:abc");
        assert!(parse_image("").is_none());
        assert!(parse_image("a b").is_none());
    }
}
