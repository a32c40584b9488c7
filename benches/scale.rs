//! Cost as the world grows (issue 20): the same three requests against worlds
//! of 10 to 50,000 resources, 200 registries, and 2,000 to 100,000 finished
//! long-running operations, on the release binary with the redb store (the
//! default). Prints a table in the issue's shape; nothing is asserted.
//!
//! ```text
//! cargo bench --bench scale                        # every row, reqwest as the load generator
//! cargo bench --bench scale -- --load wrk          # the same with wrk (bench/scale does this)
//! cargo bench --bench scale -- --only 50,000 --only memory --seconds 5
//! cargo bench --bench scale -- --keep /tmp/worlds   # keep the snapshots and data dirs
//! ```
//!
//! `--only` picks rows by part of their name; the 10-resource row, the
//! reference, always runs. On a shared machine the figures move by up to 2×
//! from run to run: judge the 1.2× goal on a quiet one, with `--seconds 10`.
//!
//! Columns, each measured for `--seconds` (default 3) after a warm-up:
//! - ARM GET of one resource group, 16 keep-alive connections: throughput and p50;
//! - authenticated manifest GET (`Host: <registry>.azurecr.io`, a bearer token
//!   from the real ACR exchange: Entra token → refresh token → access token),
//!   16 connections: throughput and p50;
//! - container-group PUT (a new group each time: public image, DNS name label,
//!   system-assigned identity), one connection, sequential: p50;
//! - the emulator's RSS (`VmRSS`) after the three.
//!
//! The last column checks the issue's goal: every cell within 1.2× of the
//! 10-resource row (throughput at least ÷1.2, p50 at most ×1.2).
//!
//! The memory row is issue 20's memory figure: 10,000 resources and 100,000
//! role assignments, RSS after start and after the same requests (goal ≤ 200 MB).
//!
//! How the worlds are made, so that the bench keeps working while the store's
//! internals change: a small template world is built through ARM and the
//! registry (one of everything: resource group, Premium registry holding a
//! pushed image, user-assigned identity, virtual network with a delegated
//! subnet, a container group with a DNS name label and a system-assigned
//! identity, one in the subnet, an AcrPull role assignment) and exported with
//! `POST /_emulator/state/export`. Its rows are cloned under new names and new
//! GUIDs into a snapshot, which a fresh emulator imports with
//! `POST /_emulator/state/import` (the normal write path); the emulator is then
//! restarted on that data dir (so RSS is not the import's), and measured.
//! Resource worlds hold no operation rows beyond the template's; the LRO rows
//! are the 10-resource world plus that many finished operations.

mod common;

use common::{SUB, client, spawn, token};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

const TENANT: &str = "a2e0a2e0-0000-4000-8000-000000000001";
const CONNS: usize = 16;
/// Resources per generated resource group (the group itself included).
const PER_GROUP: usize = 100;
/// Every this many units holds a registry.
const REGISTRY_EVERY: usize = 5;
/// The registry holding the image the manifest GETs read.
const REGISTRY: &str = "benchreg";
const REPO: &str = "hello-world";
const ACI: &str = "api-version=2023-05-01";

/// Built-in roles the memory world's assignments use.
const ROLES: [&str; 8] = [
    "7f951dda-4ed3-4680-a7ca-43fe172d538d", // AcrPull
    "acdd72a7-3385-48ef-bd42-f606fba81ae7", // Reader
    "b24988ac-6180-42a0-ab88-20f7382dd24c", // Contributor
    "8311e382-0749-4cb8-b61a-304f252e45ec", // AcrPush
    "f1a07417-d97a-45cb-824c-7a7467783830", // Managed Identity Operator
    "4d97b98b-1d4f-4787-a291-c67834d212e7", // Network Contributor
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", // User Access Administrator
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", // Owner
];

/// Name markers of the template's cloned resource group (replaced per clone).
const MARKERS: [&str; 7] = [
    "zzrgzz",
    "zzregzz",
    "zzidzz",
    "zzvnetzz",
    "zzcgpzz",
    "zzcgzz",
    "zzlabelzz",
];

#[derive(Clone, Copy, PartialEq)]
enum Load {
    Reqwest,
    Wrk,
}

struct Args {
    quick: bool,
    load: Load,
    seconds: f64,
    only: Vec<String>,
    /// Keep the snapshots and data dirs here (`--keep DIR`) instead of deleting them.
    keep: Option<PathBuf>,
}

fn args() -> Args {
    let all: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --benches` runs this without `--bench`: one small row, briefly.
    let quick = !all.iter().any(|a| a == "--bench");
    let mut a = Args {
        quick,
        load: Load::Reqwest,
        seconds: if quick { 0.3 } else { 3.0 },
        only: Vec::new(),
        keep: None,
    };
    let mut it = all.into_iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--load" => {
                a.load = match it.next().as_deref() {
                    Some("wrk") => Load::Wrk,
                    Some("reqwest") => Load::Reqwest,
                    other => panic!("--load wrk|reqwest, not {other:?}"),
                }
            }
            "--seconds" => a.seconds = it.next().and_then(|s| s.parse().ok()).expect("--seconds N"),
            "--only" => a
                .only
                .push(it.next().expect("--only <part of a row's name>")),
            "--keep" => a.keep = Some(it.next().expect("--keep DIR").into()),
            _ => {}
        }
    }
    a
}

// ---- the worlds ---------------------------------------------------------------

#[derive(Clone, Copy)]
enum World {
    Resources(usize),
    Registries(usize),
    Operations(usize),
    /// Resources and role assignments (the memory figure).
    Memory(usize, usize),
}

impl World {
    fn label(self) -> String {
        match self {
            World::Resources(n) => format!("{} resources", thousands(n)),
            World::Registries(n) => format!("{} registries", thousands(n)),
            World::Operations(n) => format!("{} finished LROs", thousands(n)),
            World::Memory(r, a) => format!(
                "memory: {} resources + {} role assignments",
                thousands(r),
                thousands(a)
            ),
        }
    }
}

/// The template world's rows, by table, and where its blobs are.
struct Template {
    tables: BTreeMap<String, BTreeMap<String, Value>>,
    blobs: PathBuf,
}

/// A template row: (table, key, value).
type Row = (String, String, Value);

impl Template {
    /// Rows that belong to the world every row starts from: everything but the clone markers and operations.
    fn base(&self) -> Vec<Row> {
        self.rows()
            .filter(|(t, k, v)| t != "operations" && !marked(k, v))
            .collect()
    }

    fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        self.tables.iter().flat_map(|(t, m)| {
            m.iter()
                .map(move |(k, v)| (t.clone(), k.clone(), v.clone()))
        })
    }

    /// The rows of one kind of the cloned group: `rg`, `reg`, `id`, `vnet`, `cg`, `cgp`, `ra`.
    fn kind(&self, kind: &str) -> Vec<Row> {
        self.rows()
            .filter(|(t, k, v)| t != "operations" && marked(k, v) && kind_of(t, k, v) == kind)
            .collect()
    }

    /// A finished operation row (the template's container-group provisioning).
    fn operation(&self) -> Value {
        self.tables["operations"]
            .values()
            .find(|v| v["status"] == "Succeeded")
            .expect("a finished operation")
            .clone()
    }
}

fn marked(k: &str, v: &Value) -> bool {
    k.contains("zzrgzz") || v.to_string().contains("zzrgzz")
}

fn kind_of(table: &str, key: &str, v: &Value) -> &'static str {
    if table == "role_assignments" {
        return "ra";
    }
    let text = format!("{key} {v}");
    for (m, kind) in [
        ("zzcgpzz", "cgp"),
        ("zzcgzz", "cg"),
        ("zzregzz", "reg"),
        ("zzidzz", "id"),
        ("zzvnetzz", "vnet"),
    ] {
        if text.contains(m) {
            return kind;
        }
    }
    "rg"
}

/// Every GUID in `text`, lower-case.
fn guids(text: &str) -> BTreeSet<String> {
    let b = text.as_bytes();
    let mut out = BTreeSet::new();
    let shape = |s: &[u8]| {
        s.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    };
    let mut i = 0;
    while i + 36 <= b.len() {
        if shape(&b[i..i + 36]) {
            out.insert(text[i..i + 36].to_ascii_lowercase());
            i += 36;
        } else {
            i += 1;
        }
    }
    out
}

/// Clones the template's marked rows under new names and GUIDs.
struct Cloner {
    kinds: BTreeMap<&'static str, Vec<Row>>,
    /// The GUIDs a clone gets new ones for (principals, client ids, etags, resource GUIDs…).
    fresh: Vec<String>,
}

impl Cloner {
    fn new(t: &Template) -> Cloner {
        let mut kinds = BTreeMap::new();
        for k in ["rg", "reg", "id", "vnet", "cg", "cgp", "ra"] {
            kinds.insert(k, t.kind(k));
        }
        let kept: BTreeSet<String> = guids(&serde_json::to_string(&t.base()).unwrap());
        let all: Vec<&Row> = kinds.values().flatten().collect();
        let mut fresh = guids(&serde_json::to_string(&all).unwrap());
        // Built-in role ids are the same everywhere.
        for (_, _, v) in &kinds["ra"] {
            fresh.retain(|g| {
                !v["properties"]["roleDefinitionId"]
                    .as_str()
                    .unwrap()
                    .contains(g.as_str())
            });
        }
        fresh.retain(|g| !kept.contains(g));
        Cloner {
            kinds,
            fresh: fresh.into_iter().collect(),
        }
    }

    /// The rows of `kind` for unit `u` in resource group `group`.
    fn clone(&self, kind: &str, group: &str, u: usize) -> Vec<Row> {
        let mut text = serde_json::to_string(&self.kinds[kind]).unwrap();
        let names = [
            group.to_string(),
            format!("reg{u:06}"),
            format!("id{u:06}"),
            format!("vnet{u:06}"),
            format!("cgp{u:06}"),
            format!("cg{u:06}"),
            format!("lbl{u:06}"),
        ];
        for (m, n) in MARKERS.iter().zip(&names) {
            text = text.replace(m, n);
        }
        for (i, g) in self.fresh.iter().enumerate() {
            text = text.replace(g.as_str(), &fresh_guid(0xb, i, u));
        }
        serde_json::from_str(&text).unwrap()
    }
}

/// A GUID unique to (`family`, `i`, `n`).
fn fresh_guid(family: u32, i: usize, n: usize) -> String {
    format!("{family:x}0000000-{i:04x}-4000-8000-{n:012x}")
}

/// What a built world holds, for the table and the role assignments.
#[derive(Default)]
struct Built {
    resources: usize,
    /// Per unit: its resource group's id, its resources' ids and its principals.
    units: Vec<(String, Vec<String>, Vec<String>)>,
}

/// Write the snapshot of `world` to `dir` (state.json and the template's blobs).
fn build(t: &Template, world: World, dir: &Path) -> Built {
    let cloner = Cloner::new(t);
    let mut rows = t.base();
    let mut built = Built {
        resources: rows.iter().filter(|r| r.0 == "resources").count(),
        ..Default::default()
    };
    let (resources, registries_only) = match world {
        World::Resources(n) | World::Memory(n, _) => (n, false),
        World::Registries(n) => (n, true),
        World::Operations(_) => (10, false),
    };
    let is_registry =
        |key: &str| key.contains("/providers/microsoft.containerregistry/registries/");
    let mut registries = rows
        .iter()
        .filter(|(t, k, _)| t == "resources" && is_registry(k))
        .count();
    let done = |built: &Built, registries: usize| {
        if registries_only {
            registries >= resources
        } else {
            built.resources >= resources
        }
    };
    let (mut group_no, mut in_group, mut group) = (0usize, PER_GROUP, String::new());
    let mut u = 0usize;
    'fill: while !done(&built, registries) {
        let kinds: &[&str] = if registries_only {
            &["reg"]
        } else if u.is_multiple_of(REGISTRY_EVERY) {
            &["vnet", "id", "cg", "cgp", "reg"]
        } else {
            &["vnet", "id", "cg", "cgp"]
        };
        let mut unit = (String::new(), Vec::new(), Vec::new());
        for kind in kinds {
            if done(&built, registries) {
                break;
            }
            if in_group >= PER_GROUP {
                group_no += 1;
                group = format!("rg{group_no:05}");
                in_group = 0;
                rows.extend(cloner.clone("rg", &group, u));
                built.resources += 1;
                in_group += 1;
                if done(&built, registries) {
                    break 'fill;
                }
            }
            for row in cloner.clone(kind, &group, u) {
                if row.0 == "resources" {
                    built.resources += 1;
                    in_group += 1;
                    registries += usize::from(*kind == "reg");
                    // Keys are lower-cased ids: scopes as good as any.
                    unit.1.push(row.1.clone());
                }
                if row.0 == "principals" {
                    unit.2.push(row.1.clone());
                }
                rows.push(row);
            }
        }
        unit.0 = format!("/subscriptions/{SUB}/resourceGroups/{group}");
        built.units.push(unit);
        u += 1;
    }
    match world {
        World::Operations(n) => {
            let op = t.operation();
            for i in 0..n {
                let mut o = op.clone();
                let id = operation_id(i);
                o["id"] = json!(id);
                rows.push(("operations".into(), id, o));
            }
        }
        World::Memory(_, n) => rows.extend(assignments(t, &built, n)),
        _ => {}
    }
    let mut tables: Map<String, Value> = Map::new();
    for (table, key, value) in rows {
        tables
            .entry(table)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap()
            .insert(key, value);
    }
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let doc = json!({"format": "azemu-state/1", "tables": tables});
    std::fs::write(dir.join("state.json"), serde_json::to_vec(&doc).unwrap()).unwrap();
    for e in std::fs::read_dir(&t.blobs).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join("blobs/sha256").join(e.file_name())).unwrap();
    }
    built
}

/// An operation id in ARM's shape: base64url of `{"jobId":"…"}`.
fn operation_id(i: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{{\"jobId\":\"containerGroups-{i:08x}\"}}"))
}

/// `n` role assignments over the world's principals: each principal gets
/// assignments at its own unit's resources, its group and the subscription,
/// with different built-in roles (no two alike).
fn assignments(t: &Template, built: &Built, n: usize) -> Vec<Row> {
    let template = t
        .kind("ra")
        .pop()
        .expect("the template's role assignment")
        .2;
    let people: Vec<(usize, &String)> = built
        .units
        .iter()
        .enumerate()
        .flat_map(|(i, u)| u.2.iter().map(move |p| (i, p)))
        .collect();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (unit, principal) = people[i % people.len()];
        let j = i / people.len();
        let (group, resources, _) = &built.units[unit];
        let mut scopes = vec![format!("/subscriptions/{SUB}"), group.clone()];
        scopes.extend(resources.iter().cloned());
        let scope = &scopes[j % scopes.len()];
        let role = ROLES[(j / scopes.len()) % ROLES.len()];
        let name = fresh_guid(0xa, 0, i);
        let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
        let mut row = template.clone();
        row["id"] = json!(id);
        row["name"] = json!(name);
        row["properties"]["principalId"] = json!(principal);
        row["properties"]["scope"] = json!(scope);
        row["properties"]["roleDefinitionId"] = json!(format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}"
        ));
        out.push(("role_assignments".into(), id.to_ascii_lowercase(), row));
    }
    out
}

// ---- the template -------------------------------------------------------------

async fn arm_put(http: &reqwest::Client, base: &str, tok: &str, path: &str, body: Value) {
    let r = http
        .put(format!("{base}/subscriptions/{SUB}{path}"))
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        r.text().await.unwrap()
    );
}

fn group_body(label: &str, identity: bool, subnet: Option<&str>) -> Value {
    let mut props = json!({
        "osType": "Linux",
        "containers": [{"name": "app", "properties": {
            "image": "mcr.microsoft.com/azuredocs/aci-helloworld:latest",
            "ports": [{"port": 80}],
            "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}},
        }}],
    });
    match subnet {
        Some(s) => {
            props["subnetIds"] = json!([{"id": s}]);
            props["ipAddress"] = json!({"type": "Private", "ports": [{"port": 80}]});
        }
        None => {
            props["ipAddress"] =
                json!({"type": "Public", "dnsNameLabel": label, "ports": [{"port": 80}]})
        }
    }
    let mut body = json!({"location": "eastus", "properties": props});
    if identity {
        body["identity"] = json!({"type": "SystemAssigned"});
    }
    body
}

/// `POST /_emulator/state/{verb}` `{"path"}` (export or import), which must succeed.
async fn state_call(http: &reqwest::Client, base: &str, verb: &str, path: &Path) {
    let r = http
        .post(format!("{base}/_emulator/state/{verb}"))
        .json(&json!({"path": path}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, 200, "{verb}: {}", r.text().await.unwrap());
}

/// Build the template world through ARM and the registry, and export it.
async fn template(root: &Path) -> Template {
    let dir = root.join("template");
    let (mut child, port) = spawn(&dir);
    let base = format!("https://localhost:{port}");
    let http = client(&dir);
    let tok = token(&http, &base).await;
    let put = |path: String, body: Value| {
        let (http, base, tok) = (http.clone(), base.clone(), tok.clone());
        async move { arm_put(&http, &base, &tok, &path, body).await }
    };
    let reg = |g: &str, n: &str| {
        format!(
            "/resourceGroups/{g}/providers/Microsoft.ContainerRegistry/registries/{n}?api-version=2023-07-01"
        )
    };
    let registry = json!({"location": "eastus", "sku": {"name": "Premium"}});
    put(
        "/resourceGroups/bench?api-version=2024-07-01".into(),
        json!({"location": "eastus"}),
    )
    .await;
    put(reg("bench", REGISTRY), registry.clone()).await;
    let g = "/resourceGroups/zzrgzz";
    put(
        format!("{g}?api-version=2024-07-01"),
        json!({"location": "eastus"}),
    )
    .await;
    put(reg("zzrgzz", "zzregzz"), registry).await;
    put(
        format!("{g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/zzidzz?api-version=2023-01-31"),
        json!({"location": "eastus"}),
    )
    .await;
    put(
        format!("{g}/providers/Microsoft.Network/virtualNetworks/zzvnetzz?api-version=2023-09-01"),
        json!({"location": "eastus", "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "aci", "properties": {"addressPrefix": "10.0.1.0/24",
                "delegations": [{"name": "aci", "properties": {"serviceName": "Microsoft.ContainerInstance/containerGroups"}}]}}],
        }}),
    )
    .await;
    put(
        format!("{g}/providers/Microsoft.ContainerInstance/containerGroups/zzcgzz?{ACI}"),
        group_body("zzlabelzz", true, None),
    )
    .await;
    let subnet = format!(
        "/subscriptions/{SUB}{g}/providers/Microsoft.Network/virtualNetworks/zzvnetzz/subnets/aci"
    );
    put(
        format!("{g}/providers/Microsoft.ContainerInstance/containerGroups/zzcgpzz?{ACI}"),
        group_body("", false, Some(&subnet)),
    )
    .await;
    // AcrPull for the user-assigned identity on the group's registry.
    let principal = http
        .get(format!(
            "{base}/subscriptions/{SUB}{g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/zzidzz?api-version=2023-01-31"
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["properties"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        format!(
            "{g}/providers/Microsoft.ContainerRegistry/registries/zzregzz/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
            uuid::Uuid::new_v4()
        ),
        json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{}", ROLES[0]),
            "principalId": principal, "principalType": "ServicePrincipal",
        }}),
    )
    .await;
    let pushed = std::process::Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["push", "--data-dir"])
        .arg(&dir)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world"))
        .arg(format!("{REGISTRY}.azurecr.io/{REPO}:v1"))
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let snap = root.join("template-snapshot");
    state_call(&http, &base, "export", &snap).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let doc: Value =
        serde_json::from_slice(&std::fs::read(snap.join("state.json")).unwrap()).unwrap();
    let tables = doc["tables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, m)| {
            let rows = m
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (t.clone(), rows)
        })
        .collect();
    Template {
        tables,
        blobs: snap.join("blobs/sha256"),
    }
}

// ---- one emulator holding a world ---------------------------------------------

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
    arm: String,
    acr: String,
    /// RSS right after the restart, before any request.
    rss_start: f64,
}

impl Server {
    fn base(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    fn rss_mb(&self) -> f64 {
        rss_mb(&self.child)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The process's resident set (`VmRSS`), in MB.
fn rss_mb(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

/// A fresh emulator that imports `snapshot`, restarted on that data dir, with its tokens.
async fn serve(snapshot: &Path, dir: PathBuf) -> (Server, Duration) {
    let (mut child, port) = spawn(&dir);
    let http = client(&dir);
    let t = Instant::now();
    state_call(
        &http,
        &format!("https://localhost:{port}"),
        "import",
        snapshot,
    )
    .await;
    let import = t.elapsed();
    // A clean stop, then a start on the imported data dir.
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    child.wait().unwrap();
    let (child, port) = spawn(&dir);
    let rss_start = rss_mb(&child);
    let base = format!("https://localhost:{port}");
    let arm = token(&http, &base).await;
    let acr = acr_token(&dir, port, &arm).await;
    (
        Server {
            child,
            port,
            dir,
            arm,
            acr,
            rss_start,
        },
        import,
    )
}

/// A pull token for the bench repository from ACR's exchange (Entra → refresh → access).
async fn acr_token(dir: &Path, port: u16, arm: &str) -> String {
    let proxied = common::proxied(dir, port);
    azemu_client::oci::RegistryClient::new(
        proxied,
        &format!("{REGISTRY}.azurecr.io"),
        azemu_client::oci::RegistryAuth::Entra {
            access_token: arm.to_string(),
            tenant: TENANT.into(),
        },
    )
    .access_token(&format!("repository:{REPO}:pull"))
    .await
    .unwrap()
}

// ---- measuring ----------------------------------------------------------------

/// A measured cell: requests per second (GETs) and the median latency.
#[derive(Clone, Copy)]
struct Cell {
    rps: f64,
    p50: Duration,
    errors: usize,
}

/// What to send: method, path and query, headers, body (for PUTs: `{n}` is replaced by a counter).
#[derive(Clone)]
struct Req {
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Req {
    fn build(&self, http: &reqwest::Client, base: &str, n: usize) -> reqwest::RequestBuilder {
        let mut r = http.request(
            self.method.clone(),
            format!("{base}{}", self.path.replace("{n}", &n.to_string())),
        );
        for (k, v) in &self.headers {
            r = r.header(k, v);
        }
        if let Some(b) = &self.body {
            r = r
                .header("content-type", "application/json")
                .body(b.replace("{n}", &n.to_string()));
        }
        r
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// `conns` connections sending `req` for `seconds` (each sends at least one), reqwest.
async fn with_reqwest(s: &Server, req: &Req, conns: usize, seconds: f64) -> Cell {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(conns + 1));
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (http, base, req) = (client(&s.dir), s.base(), req.clone());
        let (barrier, counter) = (barrier.clone(), counter.clone());
        let stop = Duration::from_secs_f64(seconds);
        tasks.push(tokio::spawn(async move {
            use std::sync::atomic::Ordering::Relaxed;
            // The connection's handshake before the clock starts (the health
            // endpoint: the same pooled connection, whatever the Host header).
            let warm = http.get(format!("{base}/_emulator/health")).send().await;
            let _ = warm.unwrap().bytes().await;
            barrier.wait().await;
            let t0 = Instant::now();
            let (mut samples, mut errors) = (Vec::new(), 0);
            while samples.len() + errors == 0 || t0.elapsed() < stop {
                let t = Instant::now();
                let r = req
                    .build(&http, &base, counter.fetch_add(1, Relaxed))
                    .send()
                    .await
                    .unwrap();
                let ok = r.status().is_success();
                r.bytes().await.unwrap();
                if ok {
                    samples.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (samples, errors)
        }));
    }
    barrier.wait().await;
    let t0 = Instant::now();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (s, e) = t.await.unwrap();
        all.extend(s);
        errors += e;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    Cell {
        rps: (all.len() + errors) as f64 / elapsed,
        p50: median(all),
        errors,
    }
}

/// The same with wrk (`wrk -t1 -cN --latency`); PUTs get unique names from a Lua counter.
/// wrk counts only the requests answered before its time is up, so it runs
/// long enough for `conns` requests of `single` each, one after another.
fn with_wrk(s: &Server, req: &Req, conns: usize, seconds: f64, single: Duration) -> Cell {
    let seconds = seconds.max((single.as_secs_f64() * conns as f64 * 1.5).min(600.0));
    let script = s.dir.join("wrk.lua");
    let lua_str = |x: &str| serde_json::to_string(x).unwrap();
    let headers: Vec<String> = req
        .headers
        .iter()
        .map(|(k, v)| format!("[{}] = {}", lua_str(k), lua_str(v)))
        .chain(
            req.body
                .as_ref()
                .map(|_| "[\"Content-Type\"] = \"application/json\"".to_string()),
        )
        .collect();
    let (path, body) = (
        req.path.split("{n}").collect::<Vec<_>>(),
        req.body.as_deref().unwrap_or(""),
    );
    let body: Vec<&str> = body.split("{n}").collect();
    let join = |parts: &[&str]| {
        parts
            .iter()
            .map(|p| lua_str(p))
            .collect::<Vec<_>>()
            .join(" .. n .. ")
    };
    std::fs::write(
        &script,
        format!(
            "local n = 0\nlocal h = {{{}}}\nrequest = function()\n  n = n + 1\n  return wrk.format({}, {}, h, {})\nend\n",
            headers.join(", "),
            lua_str(req.method.as_str()),
            join(&path),
            if req.body.is_some() { join(&body) } else { "nil".into() },
        ),
    )
    .unwrap();
    let out = std::process::Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{}s", seconds.ceil() as u64),
        ])
        .args(["--latency", "--timeout", "120s", "-s"])
        .arg(&script)
        .arg(s.base())
        .output()
        .expect("wrk (apt-get install wrk, or bench/scale installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    };
    let rps: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let p50 = field("50%").map(|v| wrk_duration(&v)).unwrap_or_default();
    let non2xx: usize = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let socket: usize = field("Socket errors:")
        .map(|v| {
            v.split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<usize>().ok())
                .sum()
        })
        .unwrap_or(0);
    Cell {
        rps,
        p50,
        errors: non2xx + socket,
    }
}

/// wrk's `1.23ms`, `456.00us`, `2.10s`, `1.50m`.
fn wrk_duration(v: &str) -> Duration {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().unwrap_or(0.0);
    Duration::from_secs_f64(match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => 0.0,
    })
}

/// One request on a connection of its own, after its handshake: how long it took.
async fn once(s: &Server, req: &Req, n: usize) -> Duration {
    let http = client(&s.dir);
    http.get(format!("{}/_emulator/health", s.base()))
        .send()
        .await
        .unwrap();
    let t = Instant::now();
    let r = req.build(&http, &s.base(), n).send().await.unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert!(
        status.is_success(),
        "{} {}: {status} {body}",
        req.method,
        req.path
    );
    t.elapsed()
}

/// A warm-up request, then the cell.
async fn measure(s: &Server, load: Load, req: &Req, conns: usize, seconds: f64) -> Cell {
    // PUTs name their resources after the counter: the warm-up's is apart.
    let single = once(s, req, 1_000_000).await;
    match load {
        Load::Reqwest => with_reqwest(s, req, conns, seconds).await,
        Load::Wrk => with_wrk(s, req, conns, seconds, single),
    }
}

struct Measured {
    world: World,
    resources: usize,
    import: Duration,
    arm: Cell,
    manifest: Cell,
    put: Cell,
    rss_start: f64,
    rss: f64,
}

async fn measure_world(
    s: &Server,
    a: &Args,
    world: World,
    built: &Built,
    import: Duration,
) -> Measured {
    let arm = Req {
        method: reqwest::Method::GET,
        path: format!("/subscriptions/{SUB}/resourceGroups/bench?api-version=2024-07-01"),
        headers: vec![("Authorization".into(), format!("Bearer {}", s.arm))],
        body: None,
    };
    let manifest = Req {
        method: reqwest::Method::GET,
        path: format!("/v2/{REPO}/manifests/v1"),
        headers: vec![
            ("Host".into(), format!("{REGISTRY}.azurecr.io")),
            ("Authorization".into(), format!("Bearer {}", s.acr)),
            (
                "Accept".into(),
                "application/vnd.oci.image.manifest.v1+json".into(),
            ),
        ],
        body: None,
    };
    let mut body = group_body("benchput-{n}", true, None);
    body["properties"]["ipAddress"]["dnsNameLabel"] = json!("benchput-{n}");
    let put = Req {
        method: reqwest::Method::PUT,
        path: format!(
            "/subscriptions/{SUB}/resourceGroups/bench/providers/Microsoft.ContainerInstance/containerGroups/benchput{{n}}?{ACI}"
        ),
        headers: vec![("Authorization".into(), format!("Bearer {}", s.arm))],
        body: Some(body.to_string()),
    };
    let arm_cell = measure(s, a.load, &arm, CONNS, a.seconds).await;
    let manifest_cell = measure(s, a.load, &manifest, CONNS, a.seconds).await;
    let put_cell = measure(s, a.load, &put, 1, a.seconds).await;
    Measured {
        world,
        resources: built.resources,
        import,
        arm: arm_cell,
        manifest: manifest_cell,
        put: put_cell,
        rss_start: s.rss_start,
        rss: s.rss_mb(),
    }
}

// ---- the table ----------------------------------------------------------------

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn rate(c: &Cell) -> String {
    let mut s = if c.rps >= 100.0 {
        format!("{}/s, p50 {}", thousands(c.rps.round() as usize), ms(c.p50))
    } else {
        format!("{:.1}/s, p50 {}", c.rps, ms(c.p50))
    };
    if c.errors > 0 {
        s.push_str(&format!(" ({} errors)", c.errors));
    }
    s
}

/// How far `m` is from `base`: the cells outside 1.2×, with their factor.
fn goal(m: &Measured, base: &Measured) -> String {
    let mut off = Vec::new();
    let mut check = |name: &str, c: &Cell, b: &Cell, throughput: bool| {
        let slow = c.p50.as_secs_f64() / b.p50.as_secs_f64().max(1e-9);
        let fewer = b.rps / c.rps.max(1e-9);
        let worst = if throughput { slow.max(fewer) } else { slow };
        if worst > 1.2 || c.errors > 0 {
            off.push(format!("{name} {worst:.1}×"));
        }
    };
    check("ARM GET", &m.arm, &base.arm, true);
    check("manifest GET", &m.manifest, &base.manifest, true);
    check("PUT", &m.put, &base.put, false);
    if off.is_empty() {
        "yes".into()
    } else {
        format!("no: {}", off.join(", "))
    }
}

fn table(rows: &[Measured]) {
    println!();
    println!(
        "| world | resources | ARM GET (one resource group) | authenticated manifest GET | container-group PUT | RSS | within 1.2× of the 10-resource row |"
    );
    println!("|---|---|---|---|---|---|---|");
    let base = rows
        .iter()
        .find(|m| matches!(m.world, World::Resources(10)));
    for m in rows {
        if matches!(m.world, World::Memory(..)) {
            continue;
        }
        let check = match base {
            Some(b) if std::ptr::eq(b, m) => "(the reference)".into(),
            Some(b) => goal(m, b),
            None => "(no 10-resource row)".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.0} MB | {} |",
            m.world.label(),
            thousands(m.resources),
            rate(&m.arm),
            rate(&m.manifest),
            ms(m.put.p50),
            m.rss,
            check
        );
    }
    for m in rows.iter().filter(|m| matches!(m.world, World::Memory(..))) {
        println!();
        println!(
            "{}: RSS {:.0} MB after start, {:.0} MB after the requests (goal ≤ 200 MB: {})",
            m.world.label(),
            m.rss_start,
            m.rss,
            if m.rss <= 200.0 { "met" } else { "not met" }
        );
        println!(
            "  (ARM GET {}, manifest GET {}, container-group PUT {})",
            rate(&m.arm),
            rate(&m.manifest),
            ms(m.put.p50)
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = args();
    if a.load == Load::Wrk
        && std::process::Command::new("wrk")
            .arg("--version")
            .output()
            .is_err()
    {
        eprintln!("scale: wrk is not installed (apt-get install wrk; bench/scale does it)");
        std::process::exit(2);
    }
    let worlds: Vec<World> = if a.quick {
        vec![World::Resources(10)]
    } else {
        vec![
            World::Resources(10),
            World::Resources(1_000),
            World::Resources(10_000),
            World::Resources(50_000),
            World::Registries(200),
            World::Operations(2_000),
            World::Operations(10_000),
            World::Operations(100_000),
            World::Memory(10_000, 100_000),
        ]
    };
    let worlds: Vec<World> = worlds
        .into_iter()
        .filter(|w| {
            a.only.is_empty()
                || matches!(w, World::Resources(10))
                || a.only.iter().any(|o| w.label().contains(o.as_str()))
        })
        .collect();
    let temp = tempfile::tempdir().unwrap();
    let root = match &a.keep {
        Some(k) => {
            std::fs::create_dir_all(k).unwrap();
            k.canonicalize().unwrap()
        }
        None => temp.path().to_path_buf(),
    };
    let t = Instant::now();
    let tmpl = template(&root).await;
    eprintln!(
        "scale: template world built and exported in {:.1?}",
        t.elapsed()
    );
    let mut rows = Vec::new();
    for (i, world) in worlds.into_iter().enumerate() {
        let t = Instant::now();
        let snap = root.join(format!("snapshot-{i}"));
        let built = build(&tmpl, world, &snap);
        let data = root.join(format!("data-{i}"));
        let (server, import) = serve(&snap, data.clone()).await;
        let m = measure_world(&server, &a, world, &built, import).await;
        eprintln!(
            "scale: {} ({} resources): imported in {:.1?}; ARM GET {}; manifest GET {}; PUT p50 {}; RSS {:.0} → {:.0} MB; {:.0?} in all",
            world.label(),
            thousands(m.resources),
            m.import,
            rate(&m.arm),
            rate(&m.manifest),
            ms(m.put.p50),
            m.rss_start,
            m.rss,
            t.elapsed()
        );
        server.stop();
        if a.keep.is_none() {
            let _ = std::fs::remove_dir_all(&snap);
            let _ = std::fs::remove_dir_all(&data);
        }
        rows.push(m);
    }
    println!(
        "\nscale: release binary, redb store, {} as the load generator, {} s per cell, {CONNS} connections for GETs, 1 for PUTs",
        if a.load == Load::Wrk {
            "wrk"
        } else {
            "reqwest"
        },
        a.seconds
    );
    table(&rows);
}
