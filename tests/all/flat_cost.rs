//! Issue 20's atomicity tests, end to end: uniqueness checks hold under truly
//! concurrent creates (one DNS name label per region, one registry name in
//! all of Azure), and a multi-row write cut off by a crash (`kill -9`) leaves
//! all of it or none after a restart (redb store, the default).
//!
//! The crash is injected at a named point inside the write
//! (`"crash": "identity.principal-written"`, a fault rule accepted only with
//! the hidden `--enable-test-crashes`; see `faults.rs`): the process aborts
//! after a container group's system-assigned principal is written and before
//! the group's own row. What survived is read offline with
//! `azemu state export` before the emulator starts again, since a start
//! removes orphaned principals (`AppState::reconcile`) and would hide a torn
//! write.

use crate::harness::{Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

const ACI: &str = "api-version=2023-05-01";
const ACR: &str = "api-version=2023-07-01";
/// Concurrent creates per round, and rounds.
const RACERS: usize = 4;
const ROUNDS: usize = 5;

fn rg(name: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}")
}

fn group_id(rg_name: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
        rg(rg_name)
    )
}

fn group_path(rg_name: &str, name: &str) -> String {
    format!("{}?{ACI}", group_id(rg_name, name))
}

fn registry_path(rg_name: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/{name}?{ACR}",
        rg(rg_name)
    )
}

/// A Linux group running a public image, with a public IP under `label` and,
/// if `identity`, a system-assigned identity.
fn group_body(label: Option<&str>, identity: bool) -> Value {
    let mut body = json!({"location": "eastus", "properties": {
        "osType": "Linux",
        "containers": [{"name": "app", "properties": {
            "image": "mcr.microsoft.com/azuredocs/aci-helloworld:latest",
            "ports": [{"port": 80}],
            "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}},
        }}],
    }});
    if let Some(label) = label {
        body["properties"]["ipAddress"] =
            json!({"type": "Public", "dnsNameLabel": label, "ports": [{"port": 80}]});
    }
    if identity {
        body["identity"] = json!({"type": "SystemAssigned"});
    }
    body
}

async fn ok(em: &Emulator, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = em.arm(token, method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

async fn groups(em: &Emulator, token: &str, names: &[String]) {
    for g in names {
        ok(
            em,
            token,
            Method::PUT,
            &format!("{}?api-version=2024-07-01", rg(g)),
            Some(json!({"location": "eastus"})),
        )
        .await;
    }
}

/// PUT each `(path, body)` at once, each on its own connection, released
/// together from a barrier on a multi-threaded runtime: (status, answer) in order.
async fn race(em: &Emulator, token: &str, puts: Vec<(String, Value)>) -> Vec<(u16, Value)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(puts.len()));
    let mut tasks = Vec::new();
    for (path, body) in puts {
        let (http, url, token) = (em.http(), format!("{}{path}", em.base()), token.to_string());
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            // The connection is made (and kept alive) before the start.
            let warm = http
                .get(url.replace(&path, "/_emulator/health"))
                .send()
                .await;
            assert_eq!(warm.expect("health").status(), 200);
            barrier.wait().await;
            Emulator::answer(http.put(url).bearer_auth(token).json(&body)).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("racer"));
    }
    out
}

/// (status, error code) of each answer: what a failed round prints.
fn outcomes(answers: &[(u16, Value)]) -> Vec<(u16, Value)> {
    answers
        .iter()
        .map(|(s, b)| (*s, b["error"]["code"].clone()))
        .collect()
}

/// One racing create in every group of `rgs` at once (`path` of a group and
/// the round, one `body` per round): per round, exactly one 201, whose answer
/// `won` checks; every other PUT answers `refused` of the round and stores
/// nothing (a GET of it is 404), while the winner's GET is 200.
async fn one_winner_per_round(
    prefix: &str,
    path: impl Fn(&str, usize) -> String,
    body: impl Fn(usize) -> Value,
    refused: impl Fn(usize) -> (u16, Value),
    won: impl Fn(usize, &Value),
) {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let rgs: Vec<String> = (0..RACERS).map(|i| format!("{prefix}-{i}")).collect();
    groups(&em, &token, &rgs).await;
    for round in 0..ROUNDS {
        let puts = rgs.iter().map(|g| (path(g, round), body(round))).collect();
        let answers = race(&em, &token, puts).await;
        let winners: Vec<usize> = (0..RACERS)
            .filter(|i| (200..300).contains(&answers[*i].0))
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {:?}", outcomes(&answers));
        let winner = winners[0];
        assert_eq!(
            answers[winner].0, 201,
            "round {round}: {:?}",
            answers[winner]
        );
        won(round, &answers[winner].1);
        for (i, answer) in answers.iter().enumerate() {
            let (status, _) = em
                .arm(&token, Method::GET, &path(&rgs[i], round), None)
                .await;
            if i == winner {
                assert_eq!(status, 200, "round {round}: the winner was stored");
            } else {
                assert_eq!(answer, &refused(round), "round {round}, racer {i}");
                assert_eq!(status, 404, "round {round}: the refused one was not stored");
            }
        }
    }
}

/// Two (here four) concurrent creates of one DNS name label in one region, in
/// different resource groups: exactly one group is created; every other PUT
/// gets ACI's `DnsNameLabelAlreadyTaken` naming its own group, and leaves no
/// group behind. Several rounds, each a new label.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_dns_label_give_exactly_one_group() {
    let label = |round: usize| format!("racing-label-{round}");
    one_winner_per_round(
        "label-race",
        |g, round| group_path(g, &format!("racer{round}")),
        |round| group_body(Some(&label(round)), false),
        |round| {
            (
                400,
                json!({"error": {
                    "code": "DnsNameLabelAlreadyTaken",
                    "message": format!("The DNS name label '{}' in container group 'racer{round}' is not available. Try using a different label.", label(round)),
                }}),
            )
        },
        |round, made| {
            assert_eq!(
                made["properties"]["ipAddress"]["fqdn"],
                format!("{}.eastus.azurecontainer.io", label(round))
            )
        },
    )
    .await;
}

/// Concurrent creates of one registry name in different resource groups:
/// exactly one registry; every other PUT gets ACR's 409 `AlreadyInUse`, in
/// Azure's words (az acr create's output in MicrosoftDocs/azure-dev-docs#1303:
/// "(AlreadyInUse) The registry DNS name webappacr123.azurecr.io is already in
/// use. You can check if the name is already claimed using following API: …").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_registry_name_give_exactly_one_registry() {
    let name = |round: usize| format!("racingreg{round}");
    one_winner_per_round(
        "registry-race",
        |g, round| registry_path(g, &name(round)),
        |_| json!({"location": "eastus", "sku": {"name": "Premium"}}),
        |round| {
            (
                409,
                json!({"error": {
                    "code": "AlreadyInUse",
                    "message": format!("The registry DNS name {}.azurecr.io is already in use. You can check if the name is already claimed using following API: https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability", name(round)),
                }}),
            )
        },
        |round, made| {
            assert_eq!(
                made["properties"]["loginServer"],
                format!("{}.azurecr.io", name(round))
            )
        },
    )
    .await;
}

/// The managed-identity principals in `/_emulator/principals`, as
/// (objectId, resource id lower-cased), sorted.
async fn identity_principals(em: &Emulator) -> Vec<(String, String)> {
    let all = em.control_json("/_emulator/principals").await;
    let mut out: Vec<(String, String)> = all["value"]
        .as_array()
        .expect("principals")
        .iter()
        .filter_map(|p| {
            Some((
                p["objectId"].as_str()?.to_string(),
                p["managedIdentityResourceId"]
                    .as_str()?
                    .to_ascii_lowercase(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// The stopped data dir's rows, read offline (`azemu state export`): no start,
/// so nothing is reconciled away.
fn rows_on_disk(dir: &std::path::Path) -> Value {
    let out = dir.join(format!("offline-{}", uuid::Uuid::new_v4().simple()));
    let done = std::process::Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["state", "export", "--data-dir"])
        .arg(dir)
        .arg(&out)
        .output()
        .expect("azemu state export");
    assert!(
        done.status.success(),
        "azemu state export: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    let doc: Value =
        serde_json::from_slice(&std::fs::read(out.join("state.json")).expect("state.json"))
            .expect("JSON");
    doc["tables"].clone()
}

/// The principals rows naming `resource` as their managed identity's.
fn principals_of(tables: &Value, resource: &str) -> Vec<String> {
    tables["principals"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| {
            v["mi_resource_id"]
                .as_str()
                .is_some_and(|r| r.eq_ignore_ascii_case(resource))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// A container-group PUT with a system-assigned identity writes two rows (the
/// principal, then the group) in one transaction. Killed between them, the
/// emulator comes back with neither — on disk, before anything is reconciled,
/// and as served — and the same PUT then succeeds. A group written before the
/// crash is all there: its row and its principal.
#[tokio::test]
async fn a_crash_between_principal_and_group_leaves_neither() {
    let em = Emulator::start_with(&["--enable-test-crashes"]);
    let token = em.arm_token().await;
    groups(&em, &token, &["crash".to_string()]).await;
    let before = ok(
        &em,
        &token,
        Method::PUT,
        &group_path("crash", "before"),
        Some(group_body(Some("crash-before"), true)),
    )
    .await;
    let before_principal = before["identity"]["principalId"]
        .as_str()
        .expect("a principal")
        .to_string();
    let principals_before = identity_principals(&em).await;
    let rule = em
        .http()
        .post(format!("{}/_emulator/faults", em.base()))
        .json(&json!({"crash": "identity.principal-written", "times": 1}))
        .send()
        .await
        .expect("faults");
    assert_eq!(rule.status(), 201);

    // The write dies with the process: no answer at all.
    let cut = em
        .http()
        .put(format!("{}{}", em.base(), group_path("crash", "cut")))
        .bearer_auth(&token)
        .json(&group_body(Some("crash-cut"), true))
        .send()
        .await;
    assert!(cut.is_err(), "the emulator answered: {cut:?}");
    let alive = em
        .http()
        .get(format!("{}/_emulator/health", em.base()))
        .send()
        .await;
    assert!(alive.is_err(), "the emulator still runs: {alive:?}");
    let dir = em.kill9();

    let (cut_id, before_id) = (group_id("crash", "cut"), group_id("crash", "before"));
    // On disk: none of the cut write, all of the one before.
    let tables = rows_on_disk(dir.path());
    assert_eq!(principals_of(&tables, &cut_id), Vec::<String>::new());
    assert!(
        tables["resources"]
            .get(cut_id.to_ascii_lowercase())
            .is_none()
    );
    assert_eq!(
        principals_of(&tables, &before_id),
        vec![before_principal.clone()]
    );
    assert_eq!(
        tables["resources"][before_id.to_ascii_lowercase()]["identity"]["principalId"],
        before_principal.as_str()
    );

    // Served after a restart (without the crash flag): the same.
    let em = Emulator::start_in(dir, &[]);
    assert_eq!(identity_principals(&em).await, principals_before);
    let (status, body) = em
        .arm(&token, Method::GET, &group_path("crash", "cut"), None)
        .await;
    assert_eq!(status, 404, "{body}");
    let got = ok(
        &em,
        &token,
        Method::GET,
        &group_path("crash", "before"),
        None,
    )
    .await;
    assert_eq!(got["identity"]["principalId"], before_principal.as_str());
    assert_eq!(
        got["properties"]["ipAddress"]["dnsNameLabel"],
        "crash-before"
    );

    // The PUT that was cut off now succeeds, label and all.
    let (status, made) = em
        .arm(
            &token,
            Method::PUT,
            &group_path("crash", "cut"),
            Some(group_body(Some("crash-cut"), true)),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let principal = made["identity"]["principalId"]
        .as_str()
        .expect("a principal");
    let mut expected = principals_before.clone();
    expected.push((principal.to_string(), cut_id.to_ascii_lowercase()));
    expected.sort();
    assert_eq!(identity_principals(&em).await, expected);
}

/// Crash rules are for tests: refused without `--enable-test-crashes`, and
/// only at a known point with it.
#[tokio::test]
async fn crash_rules_need_the_test_flag_and_a_known_point() {
    let post = |em: &Emulator, rule: Value| {
        Emulator::answer(
            em.http()
                .post(format!("{}/_emulator/faults", em.base()))
                .json(&rule),
        )
    };
    let em = Emulator::start();
    assert_eq!(
        post(&em, json!({"crash": "identity.principal-written"})).await,
        (
            400,
            json!({"error": {"code": "InvalidParameter", "message": "'crash' rules are for tests: start the emulator with --enable-test-crashes."}})
        )
    );
    let em = Emulator::start_with(&["--enable-test-crashes"]);
    assert_eq!(
        post(&em, json!({"crash": "nowhere"})).await,
        (
            400,
            json!({"error": {"code": "InvalidParameter", "message": "'nowhere' is not a crash point. Crash points: identity.principal-written."}})
        )
    );
    assert_eq!(
        post(
            &em,
            json!({"crash": "identity.principal-written", "status": 503})
        )
        .await,
        (
            400,
            json!({"error": {"code": "InvalidParameter", "message": "A 'crash' rule answers nothing itself: leave out 'status', 'delayMs' and 'panic'."}})
        )
    );
    // A crash rule matches no request: everything is served as usual meanwhile.
    let (status, rule) = post(&em, json!({"crash": "identity.principal-written"})).await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(rule["crash"], "identity.principal-written");
    let token = em.arm_token().await;
    groups(&em, &token, &["calm".to_string()]).await;
    ok(
        &em,
        &token,
        Method::PUT,
        &group_path("calm", "no-identity"),
        Some(group_body(None, false)),
    )
    .await;
}

/// Lists are range reads of the store's indexes and come back in creation
/// order, as Azure's do, not sorted by name: `az identity list` (in a group
/// and in the subscription), `az group list`, and the registry's scope maps
/// after its system ones.
#[tokio::test]
async fn lists_come_back_in_creation_order() {
    use crate::az::{Az, Mode};
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(crate::harness::CLIENT_SECRET).await.ok);
    for g in ["order-zz", "order-aa"] {
        az.ok(&["group", "create", "-n", g, "-l", "eastus", "-o", "none"])
            .await;
    }
    for (g, name) in [
        ("order-zz", "zeta"),
        ("order-aa", "mid"),
        ("order-zz", "alpha"),
    ] {
        az.identity_create(g, name).await;
    }
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    let in_group = az.json(&["identity", "list", "-g", "order-zz"]).await;
    assert_eq!(names(in_group), ["zeta", "alpha"]);
    let everywhere = az.json(&["identity", "list"]).await;
    assert_eq!(names(everywhere), ["zeta", "mid", "alpha"]);
    let groups: Vec<String> = names(az.json(&["group", "list"]).await)
        .into_iter()
        .filter(|n| n.starts_with("order-"))
        .collect();
    assert_eq!(groups, ["order-zz", "order-aa"]);
    // Replacing a resource keeps its place.
    az.ok(&[
        "identity", "update", "-g", "order-zz", "-n", "zeta", "--tags", "k=v", "-o", "none",
    ])
    .await;
    let in_group = az.json(&["identity", "list", "-g", "order-zz"]).await;
    assert_eq!(names(in_group), ["zeta", "alpha"]);
}
