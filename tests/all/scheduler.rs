//! The scheduler (issue 20, item 3): what happens later sits in a queue
//! ordered by due time on the emulated clock. Operations finish exactly when
//! their time comes, explicit mode waits for step, task runs are picked up
//! and run on time, timer triggers fire, finished operations answer for a
//! day and then as unknown ones do, and the queue is built again from the
//! operations when a data dir (or a snapshot) has none.

use crate::harness::{Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};

const RG_API: &str = "api-version=2024-07-01";
const ACR_API: &str = "api-version=2023-07-01";
const TASK_API: &str = "api-version=2025-03-01-preview";

fn rg(name: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}")
}

async fn ok(em: &Emulator, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = em.arm(token, method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

async fn group(em: &Emulator, token: &str, name: &str) {
    let body = json!({"location": "eastus"});
    ok(
        em,
        token,
        Method::PUT,
        &format!("{}?{RG_API}", rg(name)),
        Some(body),
    )
    .await;
}

/// DELETE a resource group: its operation's id (from the 202's `Location`).
async fn delete_group(em: &Emulator, token: &str, name: &str) -> String {
    let r = em
        .http()
        .delete(format!("{}{}?{RG_API}", em.base(), rg(name)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let path = location.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_string()
}

/// The operation's two status URLs (paths): `Location` and `Azure-AsyncOperation`.
fn status_urls(op: &str) -> [String; 2] {
    let sub = format!("/subscriptions/{SUBSCRIPTION}");
    [
        format!("{sub}/operationresults/{op}?{RG_API}"),
        format!(
            "{sub}/providers/Microsoft.Resources/locations/eastus/operationStatuses/{op}?{RG_API}"
        ),
    ]
}

/// Poll both status URLs: `Location`'s status, then `Azure-AsyncOperation`'s (status, body).
async fn poll(em: &Emulator, token: &str, op: &str) -> (u16, (u16, Value)) {
    let [location, status] = status_urls(op);
    let (l, _) = em.arm(token, Method::GET, &location, None).await;
    (l, em.arm(token, Method::GET, &status, None).await)
}

/// An emulator started with `args`, whose group `name` is being deleted:
/// the emulator, the owner's token, the delete's operation id.
async fn deleting(args: &[&str], name: &str) -> (Emulator, String, String) {
    let em = Emulator::start_with(args);
    let token = em.arm_token().await;
    group(&em, &token, name).await;
    let op = delete_group(&em, &token, name).await;
    (em, token, op)
}

async fn group_state(em: &Emulator, token: &str, name: &str) -> (u16, Value) {
    let (s, body) = em
        .arm(token, Method::GET, &format!("{}?{RG_API}", rg(name)), None)
        .await;
    (s, body["properties"]["provisioningState"].clone())
}

#[tokio::test]
async fn an_operation_finishes_at_its_due_time_and_not_before() {
    let (em, token, op) = deleting(&["--lro-delay-ms", "30000"], "slow").await;
    let (l, (s, body)) = poll(&em, &token, &op).await;
    assert_eq!((l, s, &body["status"]), (202, 200, &json!("InProgress")));
    em.advance_clock(29).await;
    let (l, (_, body)) = poll(&em, &token, &op).await;
    assert_eq!(
        (l, &body["status"]),
        (202, &json!("InProgress")),
        "not before"
    );
    assert_eq!(
        group_state(&em, &token, "slow").await,
        (200, json!("Deleting"))
    );
    em.advance_clock(1).await;
    let (l, (s, body)) = poll(&em, &token, &op).await;
    assert_eq!(
        (l, s, &body["status"]),
        (200, 200, &json!("Succeeded")),
        "{body}"
    );
    assert!(body["endTime"].is_string(), "{body}");
    assert_eq!(group_state(&em, &token, "slow").await.0, 404);
}

#[tokio::test]
async fn explicit_mode_waits_for_step() {
    let (em, _, op) = deleting(&["--sim-mode", "explicit"], "held").await;
    em.advance_clock(30 * 86400).await;
    // Tokens are older than that: a fresh one.
    let token = em.arm_token().await;
    let (l, (_, body)) = poll(&em, &token, &op).await;
    assert_eq!((l, &body["status"]), (202, &json!("InProgress")));
    assert_eq!(
        group_state(&em, &token, "held").await,
        (200, json!("Deleting"))
    );
    let step = Emulator::json_of(
        em.http()
            .post(format!("{}/_emulator/step", em.base()))
            .json(&json!({})),
    )
    .await;
    assert_eq!(step, json!({"completed": 1}));
    let (l, (_, body)) = poll(&em, &token, &op).await;
    assert_eq!((l, &body["status"]), (200, &json!("Succeeded")));
    assert_eq!(group_state(&em, &token, "held").await.0, 404);
}

/// A Basic registry in a new group `g`: its id.
async fn registry(em: &Emulator, token: &str, g: &str) -> String {
    group(em, token, g).await;
    let reg = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/{g}reg01",
        rg(g)
    );
    let body = json!({"location": "eastus", "sku": {"name": "Basic"}});
    ok(
        em,
        token,
        Method::PUT,
        &format!("{reg}?{ACR_API}"),
        Some(body),
    )
    .await;
    reg
}

/// Task `build` (a Docker build without context) in registry `reg`, with `trigger` if any.
async fn task(em: &Emulator, token: &str, reg: &str, trigger: Option<Value>) {
    let mut task = json!({"location": "eastus", "properties": {
        "platform": {"os": "Linux"},
        "step": {"type": "Docker", "dockerFilePath": "Dockerfile", "imageNames": ["out:{{.Run.ID}}"], "contextPath": "/dev/null"},
    }});
    if let Some(t) = trigger {
        task["properties"]["trigger"] = t;
    }
    let path = format!("{reg}/tasks/build?{TASK_API}");
    ok(em, token, Method::PUT, &path, Some(task)).await;
}

#[tokio::test]
async fn a_task_run_is_queued_then_running_then_succeeded_on_time() {
    let em = Emulator::start_with(&["--lro-delay-ms", "10000"]);
    let token = em.arm_token().await;
    let reg = registry(&em, &token, "runs").await;
    // The registry's own creation takes the delay too.
    em.advance_clock(10).await;
    task(&em, &token, &reg, None).await;
    let request = json!({"type": "TaskRunRequest", "taskId": format!("{reg}/tasks/build")});
    let path = format!("{reg}/scheduleRun?{TASK_API}");
    let queued = ok(&em, &token, Method::POST, &path, Some(request)).await;
    assert_eq!(queued["properties"]["status"], "Queued", "{queued}");
    let run = queued["properties"]["runId"].as_str().unwrap().to_string();
    let get = || async {
        let path = format!("{reg}/runs/{run}?{TASK_API}");
        ok(&em, &token, Method::GET, &path, None).await["properties"].clone()
    };
    let running = get().await;
    assert_eq!(running["status"], "Running", "picked up at once: {running}");
    let (created, started) = (&queued["properties"]["createTime"], &running["startTime"]);
    assert!(created.as_str() <= started.as_str(), "{created} {started}");
    em.advance_clock(9).await;
    assert_eq!(get().await["status"], "Running", "not before its time");
    em.advance_clock(1).await;
    let done = get().await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(done["startTime"], *started, "started when picked up");
    assert!(done["finishTime"].as_str() > started.as_str(), "{done}");
}

/// Seconds to advance so that emulated time stands one minute past a
/// five-minute mark.
async fn to_a_minute_past_five(em: &Emulator) -> i64 {
    let now = em.control_json("/_emulator/clock").await["now"]
        .as_str()
        .unwrap()
        .to_string();
    let minute: i64 = now[14..16].parse().unwrap();
    let second: i64 = now[17..19].parse().unwrap();
    300 - ((minute % 5) * 60 + second) + 60
}

async fn runs(em: &Emulator, token: &str, reg: &str) -> Vec<Value> {
    let path = format!("{reg}/runs?{TASK_API}");
    ok(em, token, Method::GET, &path, None).await["value"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn timer_triggers_fire_on_their_schedule() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let skip = to_a_minute_past_five(&em).await;
    em.advance_clock(skip).await;
    let every5 = json!({"timerTriggers": [{"name": "every5", "schedule": "*/5 * * * *", "status": "Enabled"}]});
    let reg = registry(&em, &token, "timed").await;
    task(&em, &token, &reg, Some(every5)).await;
    assert!(
        runs(&em, &token, &reg).await.is_empty(),
        "none before its time"
    );
    em.advance_clock(200).await;
    assert!(
        runs(&em, &token, &reg).await.is_empty(),
        "none before its time"
    );
    em.advance_clock(100).await;
    let fired = runs(&em, &token, &reg).await;
    assert_eq!(fired.len(), 1, "the five-minute mark: {fired:?}");
    let occurrence = fired[0]["properties"]["timerTrigger"]["scheduleOccurrence"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(occurrence.ends_with(":00.0000000Z"), "{occurrence}");
    assert_eq!(fired[0]["properties"]["runType"], "AutoRun");
    em.advance_clock(600).await;
    assert_eq!(runs(&em, &token, &reg).await.len(), 3, "two more marks");
}

#[tokio::test]
async fn a_finished_operation_answers_for_a_day_then_as_an_unknown_one() {
    let (em, token, op) = deleting(&[], "gone").await;
    let (l, (s, body)) = poll(&em, &token, &op).await;
    assert_eq!((l, s, &body["status"]), (200, 200, &json!("Succeeded")));
    em.advance_clock(23 * 3600).await;
    let token = em.arm_token().await;
    let (l, (s, body)) = poll(&em, &token, &op).await;
    assert_eq!(
        (l, s, &body["status"]),
        (200, 200, &json!("Succeeded")),
        "kept for a day"
    );
    em.advance_clock(3600).await;
    let token = em.arm_token().await;
    let unknown = |id: &str| {
        json!({"error": {
            "code": "OperationNotFound",
            "message": format!("The operation '{id}' could not be found."),
        }})
    };
    for url in status_urls(&op) {
        assert_eq!(
            em.arm(&token, Method::GET, &url, None).await,
            (404, unknown(&op)),
            "{url}"
        );
    }
    // As an operation never known.
    let never = "eyJqb2JJZCI6Im5ldmVyIn0";
    for url in status_urls(never) {
        assert_eq!(
            em.arm(&token, Method::GET, &url, None).await,
            (404, unknown(never))
        );
    }
}

/// The schedule's rows, read from a stopped emulator's data dir.
fn queue_rows(dir: &std::path::Path) -> Vec<String> {
    use azemu_emulator::store::{RedbStore, Rows};
    let store = RedbStore::open(&dir.join("state.redb")).unwrap();
    store.keys("lro_queue", "").unwrap()
}

#[tokio::test]
async fn a_data_dir_without_the_queue_has_it_built_again() {
    let args = ["--lro-delay-ms", "60000"];
    let (em, _, op) = deleting(&args, "older").await;
    let (_, dir) = em.terminate();
    let rows = queue_rows(dir.path());
    assert!(
        rows.iter().any(|k| k.starts_with("t/") && k.ends_with(&op)),
        "{rows:?}"
    );
    {
        // What a data dir from before the queue holds: the operations alone.
        use azemu_emulator::store::{RedbStore, Rows};
        let store = RedbStore::open(&dir.path().join("state.redb")).unwrap();
        for k in &rows {
            store.delete("lro_queue", k).unwrap();
        }
    }
    let em = Emulator::start_in(dir, &args);
    let token = em.arm_token().await;
    let (l, _) = poll(&em, &token, &op).await;
    assert_eq!(l, 202, "still pending after the restart");
    em.advance_clock(60).await;
    let (l, (_, body)) = poll(&em, &token, &op).await;
    assert_eq!((l, &body["status"]), (200, &json!("Succeeded")));
    assert_eq!(group_state(&em, &token, "older").await.0, 404);
    let (_, dir) = em.terminate();
    assert!(queue_rows(dir.path()).contains(&"built".to_string()));
}

#[tokio::test]
async fn an_imported_snapshot_without_the_queue_has_it_built_again() {
    let (em, token, op) = deleting(&["--lro-delay-ms", "60000"], "snap").await;
    let snap = tempfile::tempdir().unwrap();
    let dir = snap.path().join("s");
    let control = |path: &str, dir: &std::path::Path| {
        em.http()
            .post(format!("{}/_emulator/state/{path}", em.base()))
            .json(&json!({"path": dir}))
            .send()
    };
    assert_eq!(control("export", &dir).await.unwrap().status(), 200);
    // A snapshot an older version wrote: no queue in it.
    let file = dir.join("state.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(state["tables"]["lro_queue"].is_object());
    state["tables"].as_object_mut().unwrap().remove("lro_queue");
    std::fs::write(&file, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    assert_eq!(control("import", &dir).await.unwrap().status(), 200);
    let (l, _) = poll(&em, &token, &op).await;
    assert_eq!(l, 202);
    em.advance_clock(60).await;
    let (l, (_, body)) = poll(&em, &token, &op).await;
    assert_eq!((l, &body["status"]), (200, &json!("Succeeded")));
    assert_eq!(group_state(&em, &token, "snap").await.0, 404);
}
