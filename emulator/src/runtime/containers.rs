//! Container groups that really run: a group's pulled images are loaded into a
//! container engine ([`super::engine`]) from the registry's own content, and
//! its containers started with their command, environment (secure values
//! included), CPU and memory, in the network namespace of the group's sandbox
//! ([`super::sandbox`]), which publishes its ports on 127.0.0.1. What the
//! engine then reports (starts, exits, restarts) becomes the containers'
//! instance view, in ACI's words: `currentState`/`previousState` with exit
//! codes and times, `restartCount`, and events counted as ACI counts them
//! (`Started`, `Killing`, `BackOff`).
//!
//! The provider decides (schema, pull, RBAC) and stores the group; once its
//! write has committed it hands a [`Plan`] here. Containers carry the labels
//! `azemu.instance` (this data dir's), `azemu.group` (the group's id) and
//! `azemu.container`; they go with their group, and with the emulator
//! ([`Containers::shutdown`]); those a crashed emulator left are swept when
//! it starts again ([`Containers::attach`]).
//!
//! With no engine nothing here runs, and groups keep their simulated state.

use super::engine::{Choice, ContainerSpec, Engine, Event};
use crate::clock::Clock;
use crate::oci::blobs::BlobStore;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

const GROUP_TYPE: &str = "Microsoft.ContainerInstance/containerGroups";
const INSTANCE_LABEL: &str = "azemu.instance";
const GROUP_LABEL: &str = "azemu.group";
const CONTAINER_LABEL: &str = "azemu.container";
/// On a group's sandbox ([`super::sandbox`]) and its image.
const SANDBOX_LABEL: &str = "azemu.sandbox";

/// The engine, when one is attached (cheap to clone: one `Arc`).
#[derive(Clone, Default)]
pub struct Containers {
    runner: Arc<OnceLock<Arc<Runner>>>,
    /// `az container exec`'s sessions, handed out and not yet opened.
    pub exec: Arc<super::exec::Sessions>,
}

/// What a group runs: decided by the provider, from the group as stored.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The group's key (its id, lower case).
    pub key: String,
    pub group_id: String,
    pub group_name: String,
    /// ACI's `restartPolicy`: `Always`, `OnFailure`, `Never`.
    pub restart_policy: String,
    /// The group's ports (`80/tcp`), published from its sandbox.
    pub ports: Vec<String>,
    pub containers: Vec<PlannedContainer>,
    /// The group's volumes, made on this machine when it (re)starts.
    pub volumes: Vec<super::volumes::Volume>,
    /// The group's address as ARM reports it (`ipAddress.ip`) and its public
    /// name (`ipAddress.fqdn`): what ACI's front end answers for it.
    pub ip: Option<String>,
    pub fqdn: Option<String>,
    /// The group has managed identities: its containers get `IDENTITY_ENDPOINT`
    /// and `IDENTITY_HEADER`.
    pub identities: bool,
}

#[derive(Debug, Clone)]
pub struct PlannedContainer {
    pub name: String,
    /// The pulled image's manifest, by digest (its blobs are in the registry's store).
    pub digest: String,
    pub command: Vec<String>,
    /// `NAME=value`, secure values included.
    pub env: Vec<String>,
    pub cpu: f64,
    pub memory_gb: f64,
    pub mounts: Vec<super::volumes::Mount>,
}

pub struct Runner {
    engine: Arc<dyn Engine>,
    instance: String,
    clock: Arc<Clock>,
    blobs: Arc<BlobStore>,
    /// Where groups' volumes are made: `<data dir>/volumes/<instance>/<group>/`.
    volumes: std::path::PathBuf,
    /// The local git mirrors `gitRepo` volumes copy (`--task-context-dir`).
    mirrors: Option<std::path::PathBuf>,
    handle: tokio::runtime::Handle,
    /// std Mutex: never held across an await.
    groups: Mutex<HashMap<String, Group>>,
    /// The managed-identity endpoint containers reach (on the engine's gateway).
    inside: Option<Inside>,
    /// The sandbox image, once loaded (`None`: there is none for this
    /// machine, or the engine refused it; groups then do without).
    sandbox_image: tokio::sync::OnceCell<Option<String>>,
}

/// Listens, on the address given, for the managed-identity endpoint containers
/// reach, and serves it at [`INSIDE_TOKEN_PATH`] in the background: the address bound.
pub type ServeInside = Box<
    dyn FnOnce(
            std::net::IpAddr,
        )
            -> futures_util::future::BoxFuture<'static, std::io::Result<std::net::SocketAddr>>
        + Send,
>;

/// The path of `IDENTITY_ENDPOINT`, App Service's.
pub const INSIDE_TOKEN_PATH: &str = "/msi/token";

/// What containers of a group with identities are handed: the endpoint the
/// emulator serves on the engine network's gateway ([`ServeInside`]) and each
/// group's own secret.
struct Inside {
    endpoint: String,
    secrets: Arc<crate::entra::msi::IdentitySecrets>,
}

struct Group {
    plan: Plan,
    /// Which launch this is (a new PUT, a start after a stop): an older
    /// launch still loading leaves what it made to be removed.
    generation: u64,
    stopped: bool,
    /// The container holding the group's network namespace, once made.
    sandbox: Option<String>,
    containers: Vec<Run>,
}

#[derive(Default)]
struct Run {
    id: Option<String>,
    /// When azemu last asked the engine to start it (wall clock, not the emulator's).
    started_at: Option<std::time::Instant>,
    started: bool,
    /// A stop or restart azemu asked for: the exit it causes is not a failure.
    asked: bool,
    restart_count: u64,
    current: Value,
    previous: Option<Value>,
    events: Vec<Value>,
}

/// ACI's state times carry milliseconds; its event times, seconds.
fn millis(t: time::OffsetDateTime) -> String {
    let s = crate::clock::arm_timestamp(t);
    format!("{}Z", &s[..23])
}

fn seconds(t: time::OffsetDateTime) -> String {
    let s = crate::clock::arm_timestamp(t);
    format!("{}Z", &s[..19])
}

impl Run {
    fn waiting() -> Run {
        Run {
            current: json!({"state": "Waiting", "detailStatus": ""}),
            ..Default::default()
        }
    }

    /// ACI counts repeats of one event: one entry, its count and its first and last times.
    fn event(&mut self, now: time::OffsetDateTime, name: &str, message: String, kind: &str) {
        let at = seconds(now);
        if let Some(e) = self
            .events
            .iter_mut()
            .find(|e| e["name"] == name && e["message"] == message.as_str())
        {
            e["count"] = json!(e["count"].as_u64().unwrap_or(0) + 1);
            e["lastTimestamp"] = json!(at);
            return;
        }
        self.events.push(json!({"count": 1, "firstTimestamp": at, "lastTimestamp": at, "name": name, "message": message, "type": kind}));
    }
}

impl Containers {
    /// Connect the engine `choice` names (`Auto`: Docker if it answers) and
    /// sweep what a crashed emulator of this data dir left in it. Call once,
    /// inside the runtime, before serving.
    ///
    /// The groups the store holds run again (their containers went with the
    /// emulator that ran them), but not those stopped or whose pull failed.
    ///
    /// `serve_inside` listens for the managed-identity endpoint containers get
    /// on the address it is given (the server provides it: `server::inside`).
    pub async fn attach(
        &self,
        state: &crate::state::AppState,
        serve_inside: ServeInside,
    ) -> anyhow::Result<()> {
        let data_dir = &state.config.data_dir;
        let engine: Arc<dyn Engine> = match state.config.container_engine {
            Choice::None => return Ok(()),
            Choice::Docker => Arc::new(
                super::engine::docker::DockerEngine::connect()
                    .await
                    .map_err(|e| anyhow::anyhow!("the Docker engine: {e}"))?,
            ),
            Choice::Auto => match super::engine::docker::DockerEngine::connect().await {
                Ok(d) => Arc::new(d),
                Err(e) => {
                    tracing::info!("no container engine ({e}): container groups are simulated");
                    return Ok(());
                }
            },
        };
        let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let digest = crate::oci::blobs::digest_of(dir.to_string_lossy().as_bytes());
        let instance = digest.trim_start_matches("sha256:")[..16].to_string();
        let volumes = dir.join("volumes").join(&instance);
        let inside = Self::serve_inside(state, engine.as_ref(), serve_inside).await;
        let runner = Arc::new(Runner {
            engine,
            instance,
            clock: state.clock.clone(),
            blobs: state.blobs.clone(),
            volumes,
            mirrors: state.config.task_context_dir.clone(),
            handle: tokio::runtime::Handle::current(),
            groups: Mutex::new(HashMap::new()),
            inside,
            sandbox_image: tokio::sync::OnceCell::new(),
        });
        let swept = runner.remove_labelled().await;
        // Volumes are made anew when their groups start.
        let _ = std::fs::remove_dir_all(&runner.volumes);
        tracing::info!(
            engine = runner.engine.describe(),
            instance = runner.instance,
            swept,
            "container groups run in a container engine"
        );
        // Events first: nothing is started before they are heard.
        let events = runner.engine.events(&runner.label());
        let r = runner.clone();
        tokio::spawn(async move { r.listen(events).await });
        let _ = self.runner.set(runner.clone());
        for (_, row) in state.resources().of_type(GROUP_TYPE)? {
            if row["properties"]["instanceView"]["state"] == "Stopped" {
                continue;
            }
            if let Some(plan) = plan_of(&row) {
                runner.clone().launch(plan);
            }
        }
        Ok(())
    }

    /// The managed-identity endpoint on the engine network's gateway, and
    /// only there: containers reach the host at that address, nothing beyond
    /// the machine does. `None` (with a warning) when the engine has no
    /// gateway this host holds, as with a remote `DOCKER_HOST`.
    async fn serve_inside(
        state: &crate::state::AppState,
        engine: &dyn Engine,
        serve: ServeInside,
    ) -> Option<Inside> {
        let gateway = match engine.gateway().await {
            Ok(Some(g)) => g,
            Ok(None) => {
                tracing::warn!(
                    "the container engine's network has no gateway: containers get no managed-identity endpoint"
                );
                return None;
            }
            Err(e) => {
                tracing::warn!(
                    "the container engine's network: {e}: containers get no managed-identity endpoint"
                );
                return None;
            }
        };
        match serve(gateway).await {
            Ok(addr) => {
                tracing::info!(%addr, "the managed-identity endpoint for containers");
                Some(Inside {
                    endpoint: format!("http://{addr}{INSIDE_TOKEN_PATH}"),
                    secrets: state.identity_secrets.clone(),
                })
            }
            Err(e) => {
                tracing::warn!(%gateway, "containers get no managed-identity endpoint: cannot listen there: {e}");
                None
            }
        }
    }

    /// `IDENTITY_ENDPOINT` as containers of a group with identities get it.
    pub fn identity_endpoint(&self) -> Option<String> {
        Some(self.runner.get()?.inside.as_ref()?.endpoint.clone())
    }

    /// The group (its id) of the container at `ip`, if this emulator runs it.
    /// A container's first request can come before the engine lists the
    /// container it has just started: an address not found is asked about
    /// again while a container of this emulator started in the last few seconds
    /// (a busy engine can take seconds to list it).
    pub async fn group_at(&self, ip: std::net::IpAddr) -> Option<String> {
        let r = self.runner.get()?;
        for _ in 0..100 {
            match r.engine.labels_at(&r.label(), ip).await {
                Ok(Some(mut labels)) => return labels.remove(GROUP_LABEL),
                Ok(None) if r.starting() => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(%ip, "the container engine did not say whose address it is: {e}");
                    return None;
                }
            }
        }
        None
    }

    pub fn attached(&self) -> bool {
        self.runner.get().is_some()
    }

    /// Run `plan` once the write that decided it has committed (and never if
    /// it aborts): replaces whatever the group ran before.
    pub fn launch_after_commit(&self, store: &dyn crate::store::Store, plan: Plan) {
        if let Some(r) = self.runner.get().cloned() {
            store.after_commit(Box::new(move || r.launch(plan)));
        }
    }

    /// The group has gone: its containers go, once that has committed.
    pub fn remove_after_commit(&self, store: &dyn crate::store::Store, key: String) {
        if let Some(r) = self.runner.get().cloned() {
            store.after_commit(Box::new(move || {
                let gone = r
                    .groups
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                if let Some(g) = gone {
                    r.block(r.remove_all(g.engine_ids()));
                    let _ = std::fs::remove_dir_all(r.volumes.join(group_dir(&key)));
                }
            }));
        }
    }

    /// `stop`, `start` or `restart` of the group, once committed. Whether the
    /// group is known here (an engine runs it).
    pub fn act_after_commit(
        &self,
        store: &dyn crate::store::Store,
        key: String,
        action: &'static str,
    ) -> bool {
        let Some(r) = self.runner.get().cloned() else {
            return false;
        };
        if !r
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&key)
        {
            return false;
        }
        store.after_commit(Box::new(move || match action {
            "start" => r.start(&key),
            _ => r.block(r.stop_or_restart(&key, action == "restart")),
        }));
        true
    }

    /// The instance view of a group the engine runs, over the one stored:
    /// each container's state, restarts and events, and the group's state.
    pub fn view(&self, row: &mut Value) {
        let Some(r) = self.runner.get() else { return };
        let key = row["id"].as_str().unwrap_or_default().to_ascii_lowercase();
        let groups = r.groups.lock().unwrap_or_else(|e| e.into_inner());
        let Some(g) = groups.get(&key) else { return };
        let Some(cs) = row["properties"]["containers"].as_array_mut() else {
            return;
        };
        for (c, run) in cs.iter_mut().zip(&g.containers) {
            let iv = &mut c["properties"]["instanceView"];
            let mut events = iv["events"].as_array().cloned().unwrap_or_default();
            events.extend(run.events.iter().cloned());
            let mut v = json!({"restartCount": run.restart_count, "currentState": run.current});
            if let Some(p) = &run.previous {
                v["previousState"] = p.clone();
            }
            v["events"] = Value::Array(events);
            *iv = v;
        }
        row["properties"]["instanceView"]["state"] = json!(g.state());
    }

    /// What the container wrote to stdout and stderr, if the engine runs it
    /// (`None`: not an engine's container; it has not been created yet: empty).
    pub fn logs(&self, group_key: &str, container: &str) -> Option<String> {
        let r = self.runner.get()?;
        let id = r.with_container(group_key, container, |run| run.id.clone())?;
        let Some(id) = id else {
            return Some(String::new());
        };
        Some(r.block(r.engine.logs(&id)).unwrap_or_else(|e| {
            format!("azemu: the container engine did not give the logs: {e}\n")
        }))
    }

    /// The engine and its id of `container` of the group, while it runs
    /// (`None`: no engine, no such container, or not `Running`).
    pub fn running(&self, group_key: &str, container: &str) -> Option<(Arc<dyn Engine>, String)> {
        let r = self.runner.get()?;
        let id = r.with_container(group_key, container, |run| {
            run.id.clone().filter(|_| run.current["state"] == "Running")
        })??;
        Some((r.engine.clone(), id))
    }

    /// Where the group's `port` (`80/tcp`) is published on 127.0.0.1.
    pub fn published(&self, group_key: &str, port: &str) -> Option<u16> {
        let r = self.runner.get()?;
        let id = {
            let groups = r.groups.lock().unwrap_or_else(|e| e.into_inner());
            groups.get(group_key)?.network_holder()?
        };
        r.block(r.engine.published(&id, port)).ok().flatten()
    }

    /// Where a request for `<label>.<region>.azurecontainer.io` (or for the
    /// group's reported IP) on `port` goes: the 127.0.0.1 port the engine
    /// published the group's `port/tcp` at. Only a group this emulator runs,
    /// with that port, has one.
    pub fn endpoint(&self, store: &dyn crate::store::Store, host: &str, port: u16) -> Option<u16> {
        let key = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => self.group_reporting(ip)?,
            Err(_) => {
                let name = host.strip_suffix(".azurecontainer.io")?;
                let (label, region) = name.split_once('.')?;
                let index = crate::store::index::dns_label(region, label);
                crate::store::index::DNS_LABELS_BY_REGION
                    .keys(store, &index)
                    .ok()?
                    .into_iter()
                    .next()?
            }
        };
        self.published(&key, &format!("{port}/tcp"))
    }

    /// The group (its key) the engine runs whose reported address is `ip`.
    pub fn group_reporting(&self, ip: std::net::IpAddr) -> Option<String> {
        let r = self.runner.get()?;
        let groups = r.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups
            .iter()
            .find(|(_, g)| {
                g.plan
                    .ip
                    .as_deref()
                    .and_then(|a| a.parse().ok())
                    .is_some_and(|a: std::net::IpAddr| a == ip)
            })
            .map(|(k, _)| k.clone())
    }

    /// What the engine runs, as the control API and the world show it: each
    /// group's public name and address, and where each of its ports is
    /// published on 127.0.0.1 (`null` until its sandbox exists), and its
    /// sandbox's container (`null` without one).
    pub async fn endpoints(&self) -> Vec<Value> {
        let Some(r) = self.runner.get() else {
            return Vec::new();
        };
        let groups: Vec<(Plan, Option<String>, Option<String>)> = {
            let groups = r.groups.lock().unwrap_or_else(|e| e.into_inner());
            let mut gs: Vec<_> = groups
                .values()
                .map(|g| (g.plan.clone(), g.network_holder(), g.sandbox.clone()))
                .collect();
            gs.sort_by(|a, b| a.0.key.cmp(&b.0.key));
            gs
        };
        let mut out = Vec::new();
        for (plan, holder, sandbox) in groups {
            let mut ports = Vec::new();
            for p in &plan.ports {
                let local = match &holder {
                    Some(id) => r.engine.published(id, p).await.ok().flatten(),
                    None => None,
                };
                let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                ports.push(json!({
                    "port": port.parse::<u16>().ok(),
                    "protocol": proto.to_ascii_uppercase(),
                    "local": local.map(|l| format!("127.0.0.1:{l}")),
                }));
            }
            out.push(json!({
                "id": plan.group_id,
                "fqdn": plan.fqdn,
                "ip": plan.ip,
                "ports": ports,
                "sandbox": sandbox,
            }));
        }
        out
    }

    /// The engine (for the control API), if one is attached.
    pub fn engine(&self) -> Option<String> {
        Some(self.runner.get()?.engine.describe())
    }

    /// The emulator stops: every container it ran goes.
    pub async fn shutdown(&self) {
        if let Some(r) = self.runner.get() {
            r.groups.lock().unwrap_or_else(|e| e.into_inner()).clear();
            let n = r.remove_labelled().await;
            tracing::info!(removed = n, "removed the containers this emulator ran");
        }
    }

    /// When an engine is attached (ACR task runs then use it too,
    /// [`super::task_runs`]): the label that makes a container this
    /// emulator's (swept with the rest).
    pub fn engine_label(&self) -> Option<(String, String)> {
        let r = self.runner.get()?;
        Some((INSTANCE_LABEL.to_string(), r.instance.clone()))
    }
}

impl Group {
    /// The engine's containers of the group: its sandbox and containers.
    fn engine_ids(&self) -> Vec<String> {
        let containers = self.containers.iter().filter_map(|c| c.id.clone());
        self.sandbox.iter().cloned().chain(containers).collect()
    }

    /// The container that holds the group's network (publishes its ports):
    /// its sandbox, or without one its first container.
    fn network_holder(&self) -> Option<String> {
        self.sandbox
            .clone()
            .or_else(|| self.containers.first()?.id.clone())
    }

    /// ACI's group state: `Pending` while a container is not yet running,
    /// `Running`, `Stopped` after a stop; once every container has ended for
    /// good (`restartPolicy` `Never`, or `OnFailure` after a success),
    /// `Succeeded` when all exited 0, else `Failed`.
    fn state(&self) -> &'static str {
        if self.stopped {
            return "Stopped";
        }
        let states: Vec<&str> = self
            .containers
            .iter()
            .map(|c| c.current["state"].as_str().unwrap_or_default())
            .collect();
        if states.contains(&"Running") {
            return "Running";
        }
        if states.iter().all(|s| *s == "Terminated") {
            let ended = |c: &Run| {
                let code = c.current["exitCode"].as_i64().unwrap_or(0);
                !restarts(&self.plan.restart_policy, code)
            };
            if self.containers.iter().all(ended) {
                let ok = self
                    .containers
                    .iter()
                    .all(|c| c.current["exitCode"].as_i64() == Some(0));
                return if ok { "Succeeded" } else { "Failed" };
            }
            return "Running";
        }
        "Pending"
    }
}

/// What the engine runs for a group as stored: every container's pulled
/// image (the digest of its `Pulled` event), command, environment (secure
/// values too), CPU and memory (limits when set, else requests), and the
/// group's ports. `None` when an image was not pulled.
pub fn plan_of(row: &Value) -> Option<Plan> {
    let id = row["id"].as_str()?;
    let props = &row["properties"];
    let mut containers = Vec::new();
    for c in props["containers"].as_array()? {
        let p = &c["properties"];
        let digest = p["instanceView"]["events"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == "Pulled")?["message"]
            .as_str()?
            .trim_end_matches('"')
            .rsplit_once('@')?
            .1
            .to_string();
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let env = p["environmentVariables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                // A YAML file's `value: 1` reaches ARM as a number.
                let value = match e.get("value").or(e.get("secureValue")) {
                    Some(Value::String(v)) => v.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                Some(format!("{}={value}", e["name"].as_str()?))
            })
            .collect();
        let r = &p["resources"];
        let pick = |k: &str| r["limits"][k].as_f64().or(r["requests"][k].as_f64());
        containers.push(PlannedContainer {
            name: c["name"].as_str().unwrap_or_default().to_string(),
            digest,
            command: strings(&p["command"]),
            env,
            cpu: pick("cpu").unwrap_or(1.0),
            memory_gb: pick("memoryInGB").unwrap_or(1.5),
            mounts: super::volumes::mounts_of(p),
        });
    }
    let ports = props["ipAddress"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase();
            Some(format!("{}/{proto}", p["port"].as_u64()?))
        })
        .collect();
    Some(Plan {
        key: id.to_ascii_lowercase(),
        group_id: id.to_string(),
        group_name: id.rsplit('/').next().unwrap_or_default().to_string(),
        restart_policy: props["restartPolicy"]
            .as_str()
            .unwrap_or("Always")
            .to_string(),
        ports,
        containers,
        volumes: super::volumes::of_group(props),
        ip: props["ipAddress"]["ip"].as_str().map(str::to_string),
        fqdn: props["ipAddress"]["fqdn"].as_str().map(str::to_string),
        identities: row["identity"]["type"]
            .as_str()
            .is_some_and(|t| !t.eq_ignore_ascii_case("None")),
    })
}

/// A group's directory name (volumes) and image-name suffix: its key's digest, short.
fn group_dir(key: &str) -> String {
    crate::oci::blobs::digest_of(key.as_bytes())[7..15].to_string()
}

/// Whether ACI restarts a container that exited with `code` under `policy`.
fn restarts(policy: &str, code: i64) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

/// A `docker save` archive of the image `digest` names, tagged `tag`: the
/// manifest's config and layers as the registry holds them (the engine
/// decompresses the layers).
pub fn archive(blobs: &BlobStore, digest: &str, tag: &str) -> Result<Vec<u8>, String> {
    let read = |d: &str| blobs.read(d).map_err(|e| format!("blob {d}: {e}"));
    let mut manifest: Value =
        serde_json::from_slice(&read(digest)?).map_err(|e| format!("manifest {digest}: {e}"))?;
    // An index: its linux/amd64 image (what ACI runs on Linux).
    if let Some(list) = manifest["manifests"].as_array() {
        let pick = list
            .iter()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64")
            .or_else(|| list.first())
            .and_then(|m| m["digest"].as_str())
            .ok_or("an empty image index")?
            .to_string();
        manifest = serde_json::from_slice(&read(&pick)?).map_err(|e| e.to_string())?;
    }
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let config = manifest["config"]["digest"]
        .as_str()
        .ok_or("a manifest without a config")?
        .to_string();
    let mut files: Vec<(String, Vec<u8>)> =
        vec![(format!("{}.json", hex(&config)), read(&config)?)];
    let mut layers = Vec::new();
    for l in manifest["layers"].as_array().into_iter().flatten() {
        let d = l["digest"].as_str().ok_or("a layer without a digest")?;
        let name = format!("{}/layer.tar", hex(d));
        files.push((name.clone(), read(d)?));
        layers.push(name);
    }
    let index =
        json!([{"Config": format!("{}.json", hex(&config)), "RepoTags": [tag], "Layers": layers}]);
    files.push(("manifest.json".into(), index.to_string().into_bytes()));
    let mut out = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, &name, data.as_slice())
            .map_err(|e| e.to_string())?;
    }
    out.into_inner().map_err(|e| e.to_string())
}

impl Runner {
    /// Whether a container of a group was started within the last few seconds
    /// (the engine may not list it yet).
    fn starting(&self) -> bool {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.values().any(|g| {
            g.containers.iter().any(|c| {
                c.started_at
                    .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(5))
            })
        })
    }

    fn label(&self) -> String {
        format!("{INSTANCE_LABEL}={}", self.instance)
    }

    /// `fut` to its end from synchronous code: a worker of the server's
    /// runtime (made blocking meanwhile) or a thread of its blocking pool.
    fn block<F: std::future::Future>(&self, fut: F) -> F::Output {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(fut))
            }
            // A thread outside the runtime. (An engine is attached only by
            // `azemu serve`, whose runtime is multi-threaded.)
            _ => self.handle.block_on(fut),
        }
    }

    async fn remove_labelled(&self) -> usize {
        let ids = self
            .engine
            .labelled(&self.label())
            .await
            .unwrap_or_default();
        let n = ids.len();
        self.remove_all(ids).await;
        n
    }

    async fn remove_all(&self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if let Err(e) = self.engine.remove(&id).await {
                tracing::warn!(container = id, "the engine did not remove it: {e}");
            }
        }
    }

    fn launch(self: Arc<Self>, plan: Plan) {
        let key = plan.key.clone();
        let old = {
            let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            let generation = groups.get(&key).map_or(0, |g| g.generation + 1);
            let containers = plan.containers.iter().map(|_| Run::waiting()).collect();
            groups
                .insert(
                    key.clone(),
                    Group {
                        plan,
                        generation,
                        stopped: false,
                        sandbox: None,
                        containers,
                    },
                )
                .map(|g| g.engine_ids())
                .unwrap_or_default()
        };
        let r = self.clone();
        self.handle.spawn(async move {
            r.remove_all(old).await;
            r.run(&key).await;
        });
    }

    /// A group's start after a stop: its containers again, from its plan (ACI
    /// starts a stopped group anew).
    fn start(self: Arc<Self>, key: &str) {
        let plan = {
            let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            groups.get(key).map(|g| g.plan.clone())
        };
        if let Some(plan) = plan {
            self.launch(plan);
        }
    }

    /// A stop ends the group's containers, then its sandbox (its ports go
    /// too); a restart restarts its containers in the sandbox it has (started
    /// first, should it have been stopped).
    async fn stop_or_restart(&self, key: &str, restart: bool) {
        let (sandbox, ids): (Option<String>, Vec<String>) = {
            let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            let Some(g) = groups.get_mut(key) else { return };
            g.stopped = !restart;
            let sandbox = g.sandbox.clone();
            let now = self.clock.now();
            let ids = g
                .containers
                .iter_mut()
                .filter_map(|c| {
                    let id = c.id.clone()?;
                    c.asked = true;
                    if c.current["state"] == "Running" {
                        c.event(
                            now,
                            "Killing",
                            format!("Killing container with id {id}."),
                            "Normal",
                        );
                    }
                    Some(id)
                })
                .collect();
            (sandbox, ids)
        };
        if let Some(id) = sandbox.as_deref().filter(|_| restart)
            && let Err(e) = self.engine.start(id).await
        {
            tracing::warn!(sandbox = id, "the engine did not start it: {e}");
        }
        for id in ids {
            let r = if restart {
                self.engine.restart(&id, 1).await
            } else {
                self.engine.stop(&id, 1).await
            };
            if let Err(e) = r {
                tracing::warn!(container = id, "the engine did not stop it: {e}");
            }
        }
        if let Some(id) = sandbox.filter(|_| !restart)
            && let Err(e) = self.engine.stop(&id, 1).await
        {
            tracing::warn!(sandbox = id, "the engine did not stop it: {e}");
        }
    }

    /// Whether `key`'s launch `generation` is still the group's.
    fn current(&self, key: &str, generation: u64) -> bool {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.get(key).is_some_and(|g| g.generation == generation)
    }

    /// `f` of the run of the group's container named `container` (any case).
    fn with_container<T>(
        &self,
        group_key: &str,
        container: &str,
        f: impl FnOnce(&Run) -> T,
    ) -> Option<T> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let g = groups.get(group_key)?;
        let i = g
            .plan
            .containers
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(container))?;
        Some(f(&g.containers[i]))
    }

    fn with_run(&self, key: &str, i: usize, f: impl FnOnce(&mut Run, time::OffsetDateTime)) {
        let now = self.clock.now();
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(run) = groups.get_mut(key).and_then(|g| g.containers.get_mut(i)) {
            f(run, now);
        }
    }

    /// Load, create and start the group's containers, in order.
    async fn run(&self, key: &str) {
        let Some((plan, generation)) = ({
            let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            groups.get(key).map(|g| (g.plan.clone(), g.generation))
        }) else {
            return;
        };
        let repo = format!("azemu/{}-{}", plan.group_name, group_dir(&plan.key));
        let volumes = super::volumes::make(
            &self.volumes.join(group_dir(&plan.key)),
            &plan.volumes,
            self.mirrors.as_deref(),
        );
        let sandbox = self.sandbox(&plan, &repo, generation).await;
        if let Some(id) = &sandbox {
            let kept = {
                let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
                let g = groups.get_mut(key).filter(|g| g.generation == generation);
                g.map(|g| g.sandbox = Some(id.clone())).is_some()
            };
            if !kept {
                // Deleted, replaced or restarted meanwhile: what this launch made goes.
                let _ = self.engine.remove(id).await;
                return;
            }
        }
        // Without a sandbox, the first container holds the group's network.
        let mut first: Option<String> = sandbox.clone();
        for (i, c) in plan.containers.iter().enumerate() {
            let tag = format!("{repo}:{}", c.name);
            let binds = match self.binds(key, i, &plan, c, &volumes) {
                Ok(b) => b,
                Err(()) => continue,
            };
            let mut env = c.env.clone();
            if let Some(inside) = self.inside.as_ref().filter(|_| plan.identities) {
                env.push(format!("IDENTITY_ENDPOINT={}", inside.endpoint));
                env.push(format!(
                    "IDENTITY_HEADER={}",
                    inside.secrets.for_resource(&plan.group_id)
                ));
            }
            let made = async {
                let tar = archive(&self.blobs, &c.digest, &tag)?;
                self.engine.load(tar).await?;
                let spec = ContainerSpec {
                    name: format!(
                        "azemu-{}-{}-{}-{generation}",
                        self.instance,
                        &repo[6..],
                        c.name
                    ),
                    image: tag.clone(),
                    command: c.command.clone(),
                    env,
                    labels: HashMap::from([
                        (INSTANCE_LABEL.to_string(), self.instance.clone()),
                        (GROUP_LABEL.to_string(), plan.group_id.clone()),
                        (CONTAINER_LABEL.to_string(), c.name.clone()),
                    ]),
                    cpu: c.cpu,
                    memory: (c.memory_gb * 1024.0 * 1024.0 * 1024.0) as i64,
                    restart: match plan.restart_policy.as_str() {
                        "Never" => "no",
                        "OnFailure" => "on-failure",
                        _ => "always",
                    },
                    publish: if first.is_none() {
                        plan.ports.clone()
                    } else {
                        Vec::new()
                    },
                    join: first.clone(),
                    binds,
                };
                self.engine.create(&spec).await
            }
            .await;
            let id = match made {
                Ok(id) => id,
                Err(e) => {
                    self.not_created(key, i, plan.group_id.as_str(), &c.name, &e.to_string());
                    continue;
                }
            };
            if !self.current(key, generation) {
                // Deleted, replaced or restarted meanwhile: what this launch made goes.
                let _ = self.engine.remove(&id).await;
                return;
            }
            self.with_run(key, i, |run, now| {
                run.id = Some(id.clone());
                run.event(now, "Created", "Created container".into(), "Normal");
            });
            if first.is_none() {
                first = Some(id.clone());
            }
            self.with_run(key, i, |run, _| {
                run.started_at = Some(std::time::Instant::now())
            });
            if let Err(e) = self.engine.start(&id).await {
                tracing::warn!(
                    group = plan.group_id,
                    container = c.name,
                    "not started: {e}"
                );
                self.with_run(key, i, |run, now| {
                    run.current = json!({"state": "Waiting", "detailStatus": "RunContainerError"});
                    run.event(now, "Failed", format!("Error: {e}"), "Warning");
                });
            }
        }
    }

    /// The group's sandbox, created and started on the engine's network with
    /// the group's ports published: its id. `None` (the group does without)
    /// when there is no sandbox image or the engine would not run it.
    async fn sandbox(&self, plan: &Plan, repo: &str, generation: u64) -> Option<String> {
        let image = self
            .sandbox_image
            .get_or_init(|| self.load_sandbox_image())
            .await
            .clone()?;
        let labels = HashMap::from([
            (INSTANCE_LABEL.to_string(), self.instance.clone()),
            (GROUP_LABEL.to_string(), plan.group_id.clone()),
            (SANDBOX_LABEL.to_string(), "true".to_string()),
        ]);
        let spec = ContainerSpec {
            // `_` is in no ACI container name: no container of the group has this one.
            name: format!(
                "azemu-{}-{}_sandbox-{generation}",
                self.instance,
                &repo[6..]
            ),
            image,
            labels,
            restart: "no",
            publish: plan.ports.clone(),
            ..Default::default()
        };
        let id = match self.engine.create(&spec).await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(
                    group = plan.group_id,
                    "no sandbox: {e}: its containers join its first one"
                );
                return None;
            }
        };
        if let Err(e) = self.engine.start(&id).await {
            tracing::warn!(
                group = plan.group_id,
                "the sandbox did not start: {e}: its containers join its first one"
            );
            let _ = self.engine.remove(&id).await;
            return None;
        }
        Some(id)
    }

    /// The sandbox image loaded into the engine ([`super::sandbox`]): its tag.
    async fn load_sandbox_image(&self) -> Option<String> {
        let tag = format!("azemu/sandbox:{}", self.instance);
        let labels = HashMap::from([
            (INSTANCE_LABEL.to_string(), self.instance.clone()),
            (SANDBOX_LABEL.to_string(), "true".to_string()),
        ]);
        let arch = super::sandbox::native_arch();
        let Some(archive) = super::sandbox::image(arch, &tag, &labels) else {
            tracing::info!(
                arch,
                "no sandbox for this architecture: a group's containers join its first one"
            );
            return None;
        };
        match self.engine.load(archive).await {
            Ok(()) => Some(tag),
            Err(e) => {
                tracing::warn!(
                    "the engine did not load the sandbox image: {e}: a group's containers join its first one"
                );
                None
            }
        }
    }

    /// Container `i` of group `key` could not be created: waiting, and its `Failed` event says why.
    fn not_created(&self, key: &str, i: usize, group: &str, container: &str, why: &str) {
        tracing::warn!(group, container, "not created: {why}");
        self.with_run(key, i, |run, now| {
            run.current = json!({"state": "Waiting", "detailStatus": "CreateContainerError"});
            run.event(now, "Failed", format!("Error: {why}"), "Warning");
        });
    }

    /// Container `i`'s bind mounts; a volume that could not be made keeps it
    /// from being created, with ACI's `Failed` event saying why (`Err`).
    fn binds(
        &self,
        key: &str,
        i: usize,
        plan: &Plan,
        c: &PlannedContainer,
        volumes: &HashMap<String, Result<std::path::PathBuf, String>>,
    ) -> Result<Vec<String>, ()> {
        let mut binds = Vec::new();
        for m in &c.mounts {
            let made = volumes.get(&m.volume).cloned().unwrap_or_else(|| {
                Err(format!(
                    "volume '{}' is not one of the group's volumes",
                    m.volume
                ))
            });
            match made {
                Ok(dir) => {
                    let ro = if m.read_only { ":ro" } else { "" };
                    binds.push(format!("{}:{}{ro}", dir.display(), m.path));
                    let azure_file = plan.volumes.iter().any(|v| {
                        v.name == m.volume && v.source == super::volumes::Source::AzureFile
                    });
                    if azure_file {
                        self.with_run(key, i, |run, now| {
                            run.event(now, "Mounted", format!("azureFile volume '{}' at {}: Azure Files is out of scope for azemu, so an empty directory is mounted instead (simulated)", m.volume, m.path), "Warning");
                        });
                    }
                }
                Err(why) => {
                    self.not_created(key, i, plan.group_id.as_str(), &c.name, &why);
                    return Err(());
                }
            }
        }
        Ok(binds)
    }

    async fn listen(
        self: Arc<Self>,
        mut events: futures_util::stream::BoxStream<'static, Result<Event, String>>,
    ) {
        while let Some(e) = events.next().await {
            match e {
                Ok(e) => self.heard(&e),
                Err(e) => {
                    tracing::warn!("the container engine's events stopped: {e}");
                    return;
                }
            }
        }
    }

    /// One engine event, on the container's instance view.
    fn heard(&self, e: &Event) {
        let now = self.clock.now();
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        for g in groups.values_mut() {
            let policy = g.plan.restart_policy.clone();
            let stopped = g.stopped;
            let Some(run) = g
                .containers
                .iter_mut()
                .find(|c| c.id.as_deref() == Some(e.container.as_str()))
            else {
                continue;
            };
            match e.action.as_str() {
                "start" => {
                    if run.started {
                        run.restart_count += 1;
                    }
                    run.started = true;
                    run.started_at = Some(std::time::Instant::now());
                    run.asked = false;
                    // The state that ended is `previousState` once another begins.
                    if run.current["state"] == "Terminated" {
                        run.previous = Some(run.current.take());
                    }
                    run.current =
                        json!({"state": "Running", "startTime": millis(now), "detailStatus": ""});
                    run.event(now, "Started", "Started container".into(), "Normal");
                }
                "die" => {
                    let code = e.exit_code.unwrap_or(0);
                    let mut ended = json!({"state": "Terminated"});
                    if let Some(t) = run.current.get("startTime") {
                        ended["startTime"] = t.clone();
                    }
                    ended["exitCode"] = json!(code);
                    ended["finishTime"] = json!(millis(now));
                    // TODO-fidelity: ACI's detailStatus of a failed exit; azure-cli's
                    // recordings show only "Completed" (exit 0). "Error" is Kubernetes'
                    // reason for a non-zero exit, which ACI's states follow.
                    ended["detailStatus"] = json!(if code == 0 { "Completed" } else { "Error" });
                    run.current = ended;
                    if !run.asked && !stopped && restarts(&policy, code) {
                        run.event(
                            now,
                            "BackOff",
                            "Back-off restarting failed container".into(),
                            "Warning",
                        );
                    }
                }
                _ => {}
            }
            return;
        }
    }
}
