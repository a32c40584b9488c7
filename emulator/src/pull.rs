//! The one pull sequence: pulling an image the way ACI does, over the
//! registry's own protocol ([`crate::server::loopback`]): an Entra token for
//! the group's identity, `POST /oauth2/exchange`, `/oauth2/token` for
//! `repository:<r>:pull` (the grant [`crate::acr::granted`] decides, which asks
//! `authorize()`), then the manifest and every blob by digest. Each request
//! goes through the registry's front door as ACI's egress (or the group's
//! VNet) — the network decision, trusted services, private endpoints — and is
//! in the request log; the trace names each one's request id.
//!
//! Images on emulated registries (`<name>.azurecr.io`) go through ACR's
//! checks; the offline public registries (`mcr.microsoft.com`, Docker Hub,
//! [`crate::public_registry`]) are pulled anonymously; any other host is
//! unreachable, as it would be from a network that cannot resolve it.
//! Task runs use [`from_registry`]: the same grant and content checks, with an
//! access token issued in process (a run without an engine is carried out
//! inside the store's transaction, whose rows — images an earlier step pushed —
//! a request from another thread would not see yet).

use crate::acr::{Caller, Scope};
use crate::arm::ArmError;
use crate::entra::Principal;
use crate::network::{AzureService, Origin, Reach, Source};
use crate::oci::blobs::parse_digest;
use crate::state::AppState;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

/// The public address container groups pull from (an Azure datacenter IP, for firewall messages).
pub const ACI_EGRESS_IP: [u8; 4] = [20, 42, 65, 91];

/// The fix for an image its registry does not hold.
const PUSH_FIRST: &str = "push the image first (azemu push, docker push, az acr import)";

/// What a pull's requests travel over: the registry's own protocol, which the
/// emulator serves to itself ([`crate::server::loopback`] implements it; the
/// server installs it in [`AppState::connector`] when it starts).
pub trait Connect: Send + Sync {
    /// A connection to registry `host` for requests from `source`.
    fn open(
        &self,
        state: &AppState,
        host: &str,
        source: Source,
    ) -> Result<Box<dyn Connection>, String>;
}

/// One connection to one registry host.
pub trait Connection {
    /// Send `req`; the answer's body is kept whole (manifests, tokens, errors).
    /// `Err`: no readable answer.
    fn send(&self, req: http::Request<axum::body::Body>) -> Result<Answer, String>;
    /// Send `req`; the answer's body is hashed with `algorithm` as it streams, not kept.
    fn digest(
        &self,
        req: http::Request<axum::body::Body>,
        algorithm: crate::oci::blobs::Algorithm,
    ) -> Result<Answer, String>;
}

/// An answer, as its client read it.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body, when kept whole (empty when digested).
    pub body: Bytes,
    /// The body's digest and size in the asked algorithm, when digested.
    pub digest: Option<(String, u64)>,
    /// The id the request log gave the request.
    pub request_id: String,
}

impl Answer {
    /// The first OCI error of the body, as `(code, message)` (empty when it has none).
    pub fn error(&self) -> (String, String) {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let e = &v["errors"][0];
        (
            e["code"].as_str().unwrap_or_default().to_string(),
            e["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

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
        Fetch::All,
        trace,
    )
}

/// [`pull`] as `service` would do it (its egress, its standing with trusted
/// services), over the registry's own protocol ([`crate::server::loopback`]):
/// the login, the access token for `repository:<r>:pull`, then the manifest
/// and (`fetch`) every blob by digest. Each request's check is traced with the
/// id the request log gave it.
fn pull_as(
    state: &AppState,
    service: AzureService,
    image: &ImageRef,
    login: Login<'_>,
    vnet: Option<&str>,
    fetch: Fetch,
    trace: &mut crate::trace::Trace,
) -> Result<String, PullFailure> {
    let managed_identity = matches!(login, Login::Identity(_));
    let source = Source {
        origin: Origin::AzureService {
            service,
            ip: ACI_EGRESS_IP.into(),
            managed_identity,
        },
        vnet: vnet.map(str::to_string),
    };
    let Some(name) = crate::acr::registry_name_of_host(&image.host) else {
        if crate::public_registry::registry_of_host(&image.host).is_none() {
            trace.step(
                "registry",
                false,
                format!(
                    "{} is not a registry azemu serves (unreachable)",
                    image.host
                ),
            );
            return Err(PullFailure::Unreachable);
        }
        trace.step(
            "registry",
            true,
            format!("{} (offline public registry, anonymous pull)", image.host),
        );
        let wire = Wire::open(state, image, source, trace)?;
        return wire
            .content(None, fetch, trace)
            .map_err(|_| PullFailure::Inaccessible)
            .inspect_err(|_| trace.fix = Some(PUSH_FIRST.into()));
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
    trace.step(
        "registry",
        true,
        registry["id"].as_str().unwrap_or_default(),
    );
    let network_fix = if service != AzureService::ContainerInstances {
        format!(
            "{} is not one of ACR's trusted services (https://aka.ms/acr/trusted-services): allow its outbound addresses in the registry's firewall (az acr network-rule add -n {name} --ip-address …) or reach the registry through a private endpoint in its virtual network",
            service.name()
        )
    } else {
        format!(
            "open the path: allow ACI's address in the registry's firewall, pull with a managed identity through trusted services (az acr update -n {name} --allow-trusted-services true), or reach it through an approved private endpoint"
        )
    };
    let head = format!(
        "Head \"https://{}/v2/{}/manifests/{}\"",
        image.host, image.repository, image.reference
    );
    // The connection: an address this network cannot reach never gets a request.
    let via = match source.reach(state, &registry) {
        Reach::Denied { message } if message.starts_with("dial tcp") => {
            trace.step(
                "network",
                false,
                format!(
                    "{}: {message} (no request reached the registry)",
                    source.describe()
                ),
            );
            trace.fix = Some(network_fix);
            return Err(PullFailure::Denied(format!("{head}: {message}")));
        }
        Reach::Denied { .. } => None,
        Reach::Allowed { via } => Some(via),
    };
    let wire = Wire::open(state, image, source, trace)?;
    // The registry's front door decides each request; its first answer says whether it let this one in.
    let mut first = Some((via, network_fix, head));
    let mut gate =
        |trace: &mut crate::trace::Trace, a: &Answer, what: &str| -> Result<(), PullFailure> {
            let Some((via, fix, head)) = first.take() else {
                return Ok(());
            };
            let (code, message) = a.error();
            if a.status == StatusCode::FORBIDDEN && code == "DENIED" {
                trace.step_on(
                    "network",
                    false,
                    format!("{}: {what} → 403 DENIED: {message}", wire.source.describe()),
                    &a.request_id,
                );
                trace.fix = Some(fix);
                return Err(PullFailure::Denied(format!("{head}: denied: {message}")));
            }
            trace.step_on(
                "network",
                true,
                format!(
                    "{}: allowed via {} (the registry's front door let {what} in)",
                    wire.source.describe(),
                    via.unwrap_or("its network rules")
                ),
                &a.request_id,
            );
            Ok(())
        };
    let principal_id = match &login {
        Login::Identity(p) => Some(p.object_id.clone()),
        _ => None,
    };
    let scope = format!("repository:{}:pull", image.repository);
    let host = image.host.clone();
    let form = |pairs: &[(&str, &str)]| serde_urlencoded::to_string(pairs).unwrap_or_default();
    let token_answer = match login {
        Login::Identity(p) => {
            let entra = entra_token(state, &p).ok_or_else(|| {
                trace.step(
                    "credentials",
                    false,
                    format!("principal {} is not in the directory", p.object_id),
                );
                PullFailure::Inaccessible
            })?;
            trace.step(
                "credentials",
                true,
                format!(
                    "Entra token for principal {} (audience {ACR_AUDIENCE}), issued in process by this tenant's token service: ACI's backend holds the identity's credential",
                    p.object_id
                ),
            );
            let what = format!("POST https://{host}/oauth2/exchange");
            let body = form(&[
                ("grant_type", "access_token"),
                ("service", &host),
                ("tenant", &p.tenant_id),
                ("access_token", &entra),
            ]);
            let a = wire.send(trace, Method::POST, "/oauth2/exchange", None, Some(body))?;
            gate(trace, &a, &what)?;
            let refresh = a.json()["refresh_token"].as_str().map(str::to_string);
            let Some(refresh) = refresh.filter(|_| a.status == StatusCode::OK) else {
                let (code, message) = a.error();
                trace.step_on(
                    "exchange",
                    false,
                    format!("{what} → {} {code}: {message}", a.status.as_u16()),
                    &a.request_id,
                );
                return Err(PullFailure::Inaccessible);
            };
            trace.step_on(
                "exchange",
                true,
                format!(
                    "{what} → 200: an ACR refresh token for principal {}",
                    p.object_id
                ),
                &a.request_id,
            );
            let what = format!("POST https://{host}/oauth2/token");
            let body = form(&[
                ("grant_type", "refresh_token"),
                ("service", &host),
                ("scope", &scope),
                ("refresh_token", &refresh),
            ]);
            let a = wire.send(trace, Method::POST, "/oauth2/token", None, Some(body))?;
            (a, what)
        }
        Login::Password { username, password } => {
            let what = format!("GET https://{host}/oauth2/token");
            let path = format!(
                "/oauth2/token?{}",
                form(&[("service", &host), ("scope", &scope)])
            );
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            let a = wire.send(
                trace,
                Method::GET,
                &path,
                Some(format!("Basic {basic}")),
                None,
            )?;
            gate(trace, &a, &what)?;
            if a.status == StatusCode::UNAUTHORIZED {
                trace.step_on(
                    "credentials",
                    false,
                    format!(
                        "{what} as '{username}' → 401: username '{username}' or its password is not valid for {host}"
                    ),
                    &a.request_id,
                );
                trace.fix = Some(format!(
                    "use the registry's current credentials: az acr credential show -n {name}"
                ));
                return Err(PullFailure::Inaccessible);
            }
            trace.step_on(
                "credentials",
                a.status == StatusCode::OK,
                format!("{what} as '{username}' → {}", a.status.as_u16()),
                &a.request_id,
            );
            if a.status != StatusCode::OK {
                return Err(PullFailure::Inaccessible);
            }
            (a, what)
        }
        Login::None => {
            let what = format!("GET https://{host}/oauth2/token");
            let path = format!(
                "/oauth2/token?{}",
                form(&[("service", &host), ("scope", &scope)])
            );
            let a = wire.send(trace, Method::GET, &path, None, None)?;
            gate(trace, &a, &what)?;
            trace.step_on(
                "credentials",
                a.status == StatusCode::OK,
                format!(
                    "none (anonymous): {what} → {}{}",
                    a.status.as_u16(),
                    if a.status == StatusCode::OK {
                        ""
                    } else {
                        ": anonymous pull is not enabled on the registry"
                    }
                ),
                &a.request_id,
            );
            if a.status != StatusCode::OK {
                trace.fix = Some(format!(
                    "give the group credentials for {host}: a managed identity with AcrPull, or a username/password"
                ));
                return Err(PullFailure::Inaccessible);
            }
            (a, what)
        }
    };
    let (a, what) = token_answer;
    let token = a.json()["access_token"].as_str().map(str::to_string);
    let actions = token.as_deref().map(granted_actions).unwrap_or_default();
    if a.status != StatusCode::OK || !actions.iter().any(|x| x == "pull" || x == "*") {
        let held = match &principal_id {
            Some(oid) => crate::authz::access::describe_assignments(state, oid),
            None => Vec::new(),
        };
        trace.step_on(
            "authorize",
            false,
            format!(
                "{what} for {scope} → {}: no pull on repository '{}' of {} (the access token carries [{}]); role assignments considered: {}",
                a.status.as_u16(),
                image.repository,
                registry["id"].as_str().unwrap_or_default(),
                actions.join(","),
                if held.is_empty() {
                    "none".to_string()
                } else {
                    held.join("; ")
                }
            ),
            &a.request_id,
        );
        trace.fix = Some(match &principal_id {
            Some(oid) => crate::acr::tokens::role_fix(&registry, oid, false),
            None => format!(
                "give the group credentials for {}: a managed identity with AcrPull, or a username/password",
                image.host
            ),
        });
        return Err(PullFailure::Inaccessible);
    }
    trace.step_on(
        "authorize",
        true,
        format!(
            "{what} for {scope} → 200: the access token carries [{}]",
            actions.join(",")
        ),
        &a.request_id,
    );
    match wire.content(token.as_deref(), fetch, trace) {
        Ok(digest) => Ok(digest),
        Err(Refusal::Locked(locked)) => {
            trace.fix = Some(format!(
                "az acr repository update -n {name} {} --read-enabled true",
                locked.arg
            ));
            Err(locked_refusal())
        }
        Err(_) => {
            trace.fix = Some(PUSH_FIRST.into());
            Err(PullFailure::Inaccessible)
        }
    }
}

/// How far a pull goes once it may read: the manifest and every blob, or (a
/// hypothetical pull) the manifest's existence only.
#[derive(Clone, Copy, PartialEq)]
enum Fetch {
    All,
    ManifestHead,
}

/// The audience of the Entra token ACI's backend presents to a registry.
const ACR_AUDIENCE: &str = "https://containerregistry.azure.net";

/// An Entra access token for `p` with the registry's audience, signed by the tenant's token service.
fn entra_token(state: &AppState, p: &Principal) -> Option<String> {
    let sp = state.directory.get(&p.object_id).ok().flatten()?;
    let claims = state
        .tokens
        .claims_for(&sp, ACR_AUDIENCE, state.clock.now());
    Some(state.tokens.sign(&claims))
}

/// The actions an ACR access token's `access` claim grants (read as its
/// client reads it, unverified: the registry verifies it on every request).
fn granted_actions(token: &str) -> Vec<String> {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or_default();
    claims["access"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["actions"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

/// One pull's connection to its registry.
struct Wire<'a> {
    state: &'a AppState,
    image: &'a ImageRef,
    source: Source,
    loopback: Box<dyn Connection>,
}

/// The manifest media types a pull accepts (what the Docker engine sends).
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

impl<'a> Wire<'a> {
    fn open(
        state: &'a AppState,
        image: &'a ImageRef,
        source: Source,
        trace: &mut crate::trace::Trace,
    ) -> Result<Wire<'a>, PullFailure> {
        let opened = match state.connector.get() {
            Some(c) => c.open(state, &image.host, source.clone()),
            None => Err("no connection to registries: the emulator's server is not running".into()),
        };
        match opened {
            Ok(loopback) => Ok(Wire {
                state,
                image,
                source,
                loopback,
            }),
            Err(e) => {
                trace.step("network", false, e);
                Err(PullFailure::Unreachable)
            }
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        authorization: Option<String>,
        form: Option<String>,
    ) -> http::Request<axum::body::Body> {
        let mut b = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.image.host)
            .header(http::header::USER_AGENT, USER_AGENT);
        if let Some(a) = authorization {
            b = b.header(http::header::AUTHORIZATION, a);
        }
        let body = match form {
            Some(f) => {
                b = b.header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                );
                axum::body::Body::from(f)
            }
            None => axum::body::Body::empty(),
        };
        b.body(body).unwrap_or_default()
    }

    /// Send a request; a request that got no readable answer ends the pull.
    fn send(
        &self,
        trace: &mut crate::trace::Trace,
        method: Method,
        path: &str,
        authorization: Option<String>,
        form: Option<String>,
    ) -> Result<Answer, PullFailure> {
        let what = format!(
            "{method} https://{}{}",
            self.image.host,
            path.split('?').next().unwrap_or(path)
        );
        self.loopback
            .send(self.request(method, path, authorization, form))
            .map_err(|e| {
                trace.step("network", false, format!("{what}: {e}"));
                PullFailure::Inaccessible
            })
    }

    /// The manifest, then (`Fetch::All`) every blob it names, by digest, each
    /// checked against its digest as the client reads it. `Ok`: the manifest's digest.
    fn content(
        &self,
        token: Option<&str>,
        fetch: Fetch,
        trace: &mut crate::trace::Trace,
    ) -> Result<String, Refusal> {
        let img = self.image;
        let bearer = token.map(|t| format!("Bearer {t}"));
        let path = format!("/v2/{}/manifests/{}", img.repository, img.reference);
        let method = if fetch == Fetch::All {
            Method::GET
        } else {
            Method::HEAD
        };
        let what = format!("{method} https://{}{path}", img.host);
        let mut req = self.request(method, &path, bearer.clone(), None);
        req.headers_mut()
            .insert(http::header::ACCEPT, http::HeaderValue::from_static(ACCEPT));
        let a = self.loopback.send(req).map_err(|e| {
            trace.step("manifest", false, format!("{what}: {e}"));
            Refusal::NotFound
        })?;
        let (code, message) = a.error();
        if a.status == StatusCode::METHOD_NOT_ALLOWED && code == "REGISTRY_DISALLOWED_OPERATION" {
            let reg = crate::acr::registry_name_of_host(&img.host).unwrap_or_default();
            let locked = read_lock(self.state, &reg, img).unwrap_or(crate::oci::locks::Locked {
                what: format!("repository '{}'", img.repository),
                arg: format!("--name {}", img.repository),
            });
            trace.step_on(
                "locks",
                false,
                format!(
                    "readEnabled is false on {}: the registry refuses the pull ({message}): {what} → 405 {code}",
                    locked.what
                ),
                &a.request_id,
            );
            return Err(Refusal::Locked(locked));
        }
        let digest = a
            .headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(digest) = digest.filter(|_| a.status == StatusCode::OK) else {
            trace.step_on(
                "manifest",
                false,
                format!(
                    "{what} → {} {code}: manifest unknown: no such tag or digest in the repository",
                    a.status.as_u16()
                ),
                &a.request_id,
            );
            return Err(Refusal::NotFound);
        };
        // The client checks what it was given against the digest it asked for, or was told.
        let expected = if parse_digest(&img.reference).is_some() {
            img.reference.clone()
        } else {
            digest.clone()
        };
        if fetch == Fetch::ManifestHead {
            let ok = expected == digest;
            trace.step_on(
                "manifest",
                ok,
                format!("{what} → 200: {digest} (not fetched: a hypothetical pull stops here)"),
                &a.request_id,
            );
            return if ok {
                Ok(digest)
            } else {
                Err(Refusal::NotFound)
            };
        }
        if !matches_digest(&a.body, &expected) {
            trace.step_on(
                "manifest",
                false,
                format!("{what} → 200, but its bytes do not hash to {expected}"),
                &a.request_id,
            );
            return Err(Refusal::NotFound);
        }
        trace.step_on(
            "manifest",
            true,
            format!("{what} → 200: {expected}"),
            &a.request_id,
        );
        let manifest = a.json();
        let mut blobs: Vec<String> = manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["digest"].as_str().map(str::to_string))
            .collect();
        blobs.extend(manifest["config"]["digest"].as_str().map(str::to_string));
        for b in blobs {
            let Some(algorithm) = crate::oci::blobs::Algorithm::of(&b) else {
                trace.step("blob", false, format!("{b} is not a digest"));
                return Err(Refusal::NotFound);
            };
            let path = format!("/v2/{}/blobs/{b}", img.repository);
            let what = format!("GET https://{}{path}", img.host);
            let a = self
                .loopback
                .digest(
                    self.request(Method::GET, &path, bearer.clone(), None),
                    algorithm,
                )
                .map_err(|e| {
                    trace.step("blob", false, format!("{what}: {e}"));
                    Refusal::NotFound
                })?;
            match a.digest {
                Some((got, size)) if a.status == StatusCode::OK && got == b => {
                    trace.step_on(
                        "blob",
                        true,
                        format!("{what} → 200: {size} bytes, digest verified"),
                        &a.request_id,
                    );
                }
                got => {
                    trace.step_on(
                        "blob",
                        false,
                        format!(
                            "{what} → {}{}",
                            a.status.as_u16(),
                            match got {
                                Some((g, _)) if a.status == StatusCode::OK =>
                                    format!(", but its bytes hash to {g}"),
                                _ => String::new(),
                            }
                        ),
                        &a.request_id,
                    );
                    return Err(Refusal::NotFound);
                }
            }
        }
        Ok(expected)
    }
}

/// What the requests say they are (the request log shows it).
const USER_AGENT: &str =
    "azemu-aci-backend (the emulated Azure Container Instances pulling an image)";

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

/// "Could this identity pull this image (from this subnet)?": [`pull`]'s
/// requests as a container group would make them, as far as a `HEAD` of the
/// manifest (nothing is fetched), returned as a trace (kind `explain-pull`)
/// that is not kept; the requests themselves are logged like any client's. `req`: `{image, identity?
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
    let result = pull_as(
        state,
        service,
        &image,
        login,
        vnet.as_deref(),
        Fetch::ManifestHead,
        &mut trace,
    );
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
