//! ACR Tasks on the spec layer ([`crate::providers::by_spec`]), with the
//! RP's rules on top: `registries/{r}/tasks` (`Tasks_Create`, `_Get`,
//! `_Update`, `_Delete`, `_List`, `_GetDetails`), `registries/{r}/runs`
//! (`Runs_Get`, `_List` with `$filter`/`$top`, `_Update`, `_Cancel`,
//! `_GetLogSasUrl`), `registries/{r}/taskRuns` (`TaskRuns_*`), and the
//! registry's actions `scheduleRun` and `listBuildSourceUploadUrl` (listed in
//! [`super::registries::REGISTRY`]). Spec: `containerregistry_build.json`
//! 2019-06-01-preview; az sends azure-mgmt-containerregistrytasks'
//! 2025-03-01-preview, which the spec table answers with its newest version
//! not after it.
//!
//! A task carries an `identity` (the shared mechanism: system-assigned
//! principal, user-assigned identities behind `assign/action`) and
//! `credentials` (the source registry's login mode, custom registries keyed
//! by login server with `identity` `[system]` or a client id, or a
//! username/password). A scheduled run is a long-running operation like any
//! other: it is `Queued`, then `Running` while emulated time passes, and is
//! carried out by [`crate::runtime::task_runs`] when its operation settles.
//! Runs are not ARM resources: they live in their own table
//! ([`tables::ACR_RUNS`]), which the spec layer reads and writes through
//! [`RUN_ROWS`].
//!
//! Field order and status codes from azure-cli's recordings (`test_acr_task`,
//! `test_acr_taskrun`): a task PUT, PATCH and DELETE answer 200; `scheduleRun`
//! 200 with the queued run; a taskRun PUT 201 (200 again) with the run's
//! operation to poll.

use super::registries;
use crate::acr::runs::{RUN_TYPE, TASK_TYPE, require_task, run_key, start_run};
use crate::arm::lro::Operation;
use crate::arm::{ArmError, ResourceId, envelope};
use crate::clock::arm_timestamp;
use crate::providers::by_spec::{Behaviour, Ctx, Rows};
use crate::providers::{identity, json_response};
use crate::state::AppState;
use crate::store::tables;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

pub const TASK_RUN_TYPE: &str = "Microsoft.ContainerRegistry/registries/taskRuns";

/// Tasks: the RP's validation and defaults, the task's identity and timer
/// triggers; secrets only in `listDetails`. A PUT answers 200 at once, new or
/// not, as recorded (and az accepts nothing else).
pub const TASKS: Behaviour = Behaviour {
    before_schema: Some(task_request),
    on_write: Some(task_write),
    on_delete: Some(task_delete),
    on_read: Some(task_read),
    actions: &[("listDetails", task_details)],
    statuses: &[("PUT", 200), ("PATCH", 200)],
    ..Behaviour::of(TASK_TYPE)
};

/// Runs: rows of [`tables::ACR_RUNS`] (never ARM resources), listed newest
/// first with az's `$filter`s; a PATCH archives; `cancel` and `listLogSasUrl`.
pub const RUNS: Behaviour = Behaviour {
    on_write: Some(run_write),
    on_read: Some(run_read),
    actions: &[("cancel", cancel), ("listLogSasUrl", log_sas_url)],
    lists: &[("runs", list_runs)],
    rows: Some(&RUN_ROWS),
    statuses: &[("PATCH", 200)],
    ..Behaviour::of(RUN_TYPE)
};

/// Where runs live: [`tables::ACR_RUNS`], keyed by [`run_key`].
/// (The spec has no DELETE for a run: runs go with their registry.)
pub const RUN_ROWS: Rows = Rows {
    get: read_run,
    put: write_run,
    delete: delete_run,
    missing: None,
    remove_within: None,
};

/// TaskRuns: a run request kept as a resource (how templates run tasks). A
/// PUT queues the run and answers with the run's own operation to poll, so a
/// deployment's resource ends with its run; reads show the run, current, as
/// `runResult`.
pub const TASK_RUNS: Behaviour = Behaviour {
    on_write: Some(task_run_write),
    on_read: Some(task_run_read),
    actions: &[("listDetails", task_run_details)],
    write_operation: Some(task_run_operation),
    ..Behaviour::of(TASK_RUN_TYPE)
};

/// The registry a child's id names.
fn registry_of(id: &ResourceId) -> ResourceId {
    let mut r = id.clone();
    if let Some(p) = r.providers.first_mut() {
        p.types.truncate(1);
    }
    r
}

fn bad(code: &'static str, message: impl Into<String>) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, code, message)
}

fn run_not_found(registry: &ResourceId, run: &str) -> ArmError {
    ArmError::resource_not_found(
        &format!("{RUN_TYPE}/{}/{run}", registry.name()),
        registry.resource_group.as_deref().unwrap_or_default(),
    )
}

/// What the RP refuses before reading the body: a task name it does not allow.
fn task_request(cx: &Ctx, _: &Value) -> Result<(), ArmError> {
    let name = cx.id.name();
    if cx.req.method == Method::PUT && !valid_task_name(name) {
        return Err(bad(
            "InvalidTaskName",
            format!(
                "The task name '{name}' is invalid. It must be 5-50 characters long and contain only alphanumerics, hyphens and underscores."
            ),
        ));
    }
    Ok(())
}

/// A task as stored: PUT fills the defaults and computed properties; PATCH
/// merges properties (RFC 7396: `null` removes, so a custom registry
/// credential set to null is dropped) and replaces the identity it sends.
/// Either way the result is checked as Azure checks a task, and its timer
/// triggers are watched on the emulated clock.
fn task_write(cx: &Ctx, row: &mut Value, existing: Option<&Value>) -> Result<(), ArmError> {
    let (state, req, id) = (cx.state, cx.req, &cx.id);
    let body = req.json_object()?;
    if !row["properties"].is_object() {
        row["properties"] = json!({});
    }
    let system_task = row["properties"]["isSystemTask"].as_bool() == Some(true);
    normalise(&mut row["properties"], system_task)?;
    if req.method == Method::PUT {
        let created = existing
            .map(|e| e["properties"]["creationDate"].clone())
            .filter(|c| !c.is_null())
            .unwrap_or_else(|| json!(arm_timestamp(req.now)));
        row["properties"]["provisioningState"] = json!("Succeeded");
        row["properties"]["creationDate"] = created;
        row["properties"]["isSystemTask"] = json!(system_task);
        envelope::reorder(
            &mut row["properties"],
            &["provisioningState", "creationDate"],
        );
    }
    if req.method == Method::PUT || body.contains_key("identity") {
        match identity::apply(state, req, id, body.get("identity"))? {
            Some(i) => row["identity"] = i,
            None => {
                if let Some(o) = row.as_object_mut() {
                    o.shift_remove("identity");
                }
            }
        }
    }
    envelope::reorder(
        row,
        &[
            "type",
            "identity",
            "properties",
            "id",
            "name",
            "location",
            "tags",
            "systemData",
        ],
    );
    // Tasks with enabled timer triggers are watched on the emulated clock.
    crate::runtime::task_runs::sync_timers(state, row, req.now)
}

/// A task goes with its system-assigned principal.
fn task_delete(cx: &Ctx, _: &Value) -> Result<(), ArmError> {
    identity::resource_deleted(cx.state, &cx.id.to_string())
}

fn task_read(_: &AppState, row: &mut Value) -> Result<(), ArmError> {
    *row = render_task(row, false);
    Ok(())
}

/// `POST …/tasks/{name}/listDetails`: the task with its secrets.
fn task_details(cx: &Ctx) -> Result<Response, ArmError> {
    let row = require_task(cx.state, &registry_of(&cx.id), cx.id.name())?;
    Ok(json_response(StatusCode::OK, &render_task(&row, true)))
}

/// Azure: 5–50 characters, letters, digits, `-` and `_`.
fn valid_task_name(n: &str) -> bool {
    (5..=50).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

const STEP_TYPES: &[&str] = &["Docker", "FileTask", "EncodedTask"];

/// Check a task's properties as Azure does and fill its defaults.
fn normalise(props: &mut Value, system_task: bool) -> Result<(), ArmError> {
    if !system_task {
        let step_type = props["step"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(canonical) = STEP_TYPES
            .iter()
            .find(|t| t.eq_ignore_ascii_case(&step_type))
        else {
            return Err(bad(
                "InvalidParameter",
                format!(
                    "The value '{step_type}' of 'properties.step.type' is not valid. Valid values are 'Docker, FileTask, EncodedTask'."
                ),
            ));
        };
        props["step"]["type"] = json!(canonical);
        if *canonical == "Docker"
            && props["step"]["dockerFilePath"]
                .as_str()
                .is_none_or(str::is_empty)
        {
            return Err(bad(
                "InvalidParameter",
                "The 'properties.step.dockerFilePath' is required for a Docker step.",
            ));
        }
        if props["platform"]["os"].as_str().is_none() {
            return Err(bad(
                "InvalidParameter",
                "The 'properties.platform.os' is required.",
            ));
        }
    }
    if props["status"].is_null() {
        props["status"] = json!("Enabled");
    }
    if props["timeout"].is_null() {
        props["timeout"] = json!(3600);
    }
    match props["timeout"].as_i64() {
        Some(t) if (300..=28800).contains(&t) => {}
        _ => {
            return Err(bad(
                "InvalidParameter",
                "The value of 'properties.timeout' must be between 300 and 28800 seconds.",
            ));
        }
    }
    if props["agentConfiguration"].is_null() && !system_task {
        props["agentConfiguration"] = json!({"cpu": 2});
    }
    // Commit triggers need a reachable git service; offline they are kept but cannot fire.
    Ok(())
}

/// A task as GET shows it: secrets (git access token, secret arguments and
/// values, custom registry passwords) only in `listDetails`.
fn render_task(row: &Value, details: bool) -> Value {
    let mut r = row.clone();
    if details {
        return r;
    }
    let step = &mut r["properties"]["step"];
    if let Some(o) = step.as_object_mut() {
        o.shift_remove("contextAccessToken");
        o.shift_remove("encodedValuesContent");
    }
    for list in ["arguments", "values"] {
        for a in step[list].as_array_mut().into_iter().flatten() {
            if a["isSecret"].as_bool() == Some(true)
                && let Some(o) = a.as_object_mut()
            {
                o.shift_remove("value");
            }
        }
    }
    if let Some(regs) = r["properties"]["credentials"]["customRegistries"].as_object_mut() {
        for (_, c) in regs.iter_mut() {
            for secret in ["userName", "password"] {
                if let Some(o) = c[secret].as_object_mut() {
                    o.shift_remove("value");
                }
            }
        }
    }
    r
}

// ---- runs -------------------------------------------------------------------

pub fn render_run(row: &Value) -> Value {
    let mut r = row.clone();
    if let Some(o) = r.as_object_mut() {
        o.shift_remove("_run");
    }
    r
}

fn read_run(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    Ok(state
        .store
        .get(tables::ACR_RUNS, &run_key(&registry_of(id), id.name()))?)
}

fn write_run(cx: &Ctx, id: &ResourceId, row: Value) -> Result<Value, ArmError> {
    let key = run_key(&registry_of(id), id.name());
    cx.state.store.put(tables::ACR_RUNS, &key, row.clone())?;
    Ok(row)
}

fn delete_run(cx: &Ctx, id: &ResourceId) -> Result<(), ArmError> {
    let key = run_key(&registry_of(id), id.name());
    cx.state.store.delete(tables::ACR_RUNS, &key)?;
    Ok(())
}

fn run_read(_: &AppState, row: &mut Value) -> Result<(), ArmError> {
    *row = render_run(row);
    Ok(())
}

/// `PATCH …/runs/{runId}` (`RunUpdateParameters`, flat): `isArchiveEnabled`
/// is the run's property; the run's `lastUpdatedTime` moves, as recorded.
fn run_write(cx: &Ctx, row: &mut Value, _: Option<&Value>) -> Result<(), ArmError> {
    let sent = row
        .as_object_mut()
        .and_then(|o| o.shift_remove("isArchiveEnabled"));
    if let Some(a) = sent.filter(|a| !a.is_null()) {
        row["properties"]["isArchiveEnabled"] = a;
    }
    row["properties"]["lastUpdatedTime"] = json!(arm_timestamp(cx.req.now));
    Ok(())
}

fn require_run(state: &AppState, registry: &ResourceId, run: &str) -> Result<Value, ArmError> {
    state
        .store
        .get(tables::ACR_RUNS, &run_key(registry, run))?
        .ok_or_else(|| run_not_found(registry, run))
}

/// `POST …/runs/{runId}/cancel`: a run not yet finished ends `Canceled`.
fn cancel(cx: &Ctx) -> Result<Response, ArmError> {
    let registry = registry_of(&cx.id);
    let row = require_run(cx.state, &registry, cx.id.name())?;
    crate::runtime::task_runs::cancel(cx.state, &run_key(&registry, cx.id.name()), row)?;
    Ok(StatusCode::OK.into_response())
}

/// `POST …/runs/{runId}/listLogSasUrl`: the run's log blob, behind a SAS.
fn log_sas_url(cx: &Ctx) -> Result<Response, ArmError> {
    let registry = registry_of(&cx.id);
    require_run(cx.state, &registry, cx.id.name())?;
    let key = run_key(&registry, cx.id.name());
    let link = crate::storage::log_link(cx.state, &cx.req.base, &key, cx.req.now)?;
    Ok(json_response(StatusCode::OK, &json!({"logLink": link})))
}

/// `GET …/runs?$filter=…&$top=N`: newest first, at most `$top` (no further
/// page: az's `--top` is the whole answer). Filters az sends:
/// `TaskName eq 'x'`, `Status eq 'x'`, `RunId eq 'x'`,
/// `contains(OutputImageManifests, 'repo@digest')`, joined by `and`.
fn list_runs(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    let (state, req, registry) = (cx.state, cx.req, &cx.id);
    registry_row(state, registry)?;
    let filter = req.query("$filter").unwrap_or_default().to_string();
    let mut conds: Vec<(String, String, bool)> = Vec::new();
    for part in filter
        .split(" and ")
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if let Some(inner) = part
            .strip_prefix("contains(")
            .and_then(|p| p.strip_suffix(')'))
        {
            let (k, v) = inner
                .split_once(',')
                .ok_or_else(|| ArmError::invalid_filter(&filter))?;
            conds.push((
                k.trim().to_string(),
                v.trim().trim_matches('\'').to_string(),
                true,
            ));
        } else {
            let (k, v) = part
                .split_once(" eq ")
                .ok_or_else(|| ArmError::invalid_filter(&filter))?;
            conds.push((
                k.trim().to_string(),
                v.trim().trim_matches('\'').to_string(),
                false,
            ));
        }
    }
    let mut items: Vec<Value> = state
        .store
        .scan(tables::ACR_RUNS, &format!("{}/runs/", registry.key()))?
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| {
            conds
                .iter()
                .all(|(k, want, contains)| matches(v, k, want, *contains))
        })
        .collect();
    // Newest first, by the counter in the id.
    items.sort_by_key(|v| {
        std::cmp::Reverse(
            v["properties"]["runId"]
                .as_str()
                .and_then(|r| r.get(2..)?.parse::<u64>().ok())
                .unwrap_or(0),
        )
    });
    if let Some(top) = req.query("$top").and_then(|t| t.parse::<usize>().ok()) {
        items.truncate(top);
    }
    Ok(items)
}

/// Does run `v` pass one `$filter` condition?
fn matches(v: &Value, key: &str, want: &str, contains: bool) -> bool {
    let p = &v["properties"];
    let eq = |field: &str| {
        p[field]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(want))
    };
    match (key.to_ascii_lowercase().as_str(), contains) {
        ("taskname", false) => eq("task"),
        ("status", false) => eq("status"),
        ("runid", false) => eq("runId"),
        ("outputimagemanifests", true) => {
            p["outputImages"].as_array().into_iter().flatten().any(|i| {
                format!(
                    "{}@{}",
                    i["repository"].as_str().unwrap_or_default(),
                    i["digest"].as_str().unwrap_or_default()
                )
                .eq_ignore_ascii_case(want)
            })
        }
        _ => false,
    }
}

// ---- the registry's actions ---------------------------------------------------

/// `POST registries/{r}/scheduleRun` → 200 with the queued run (az accepts
/// only 200; recorded so).
pub fn schedule_run(cx: &Ctx) -> Result<Response, ArmError> {
    let registry_row = registry_row(cx.state, &cx.id)?;
    let body = cx.req.json_object()?;
    let (run, _) = start_run(cx.state, cx.req.now, &cx.id, &registry_row, &body, None)?;
    Ok(json_response(StatusCode::OK, &render_run(&run)))
}

/// `POST registries/{r}/listBuildSourceUploadUrl`: where to upload a build context.
pub fn source_upload_url(cx: &Ctx) -> Result<Response, ArmError> {
    let (url, relative) =
        crate::storage::upload_location(cx.state, &cx.req.base, &cx.id.key(), cx.req.now)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"uploadUrl": url, "relativePath": relative}),
    ))
}

fn registry_row(state: &AppState, registry: &ResourceId) -> Result<Value, ArmError> {
    registries::load(state, registry)?.ok_or_else(|| {
        ArmError::resource_not_found(
            &format!("{}/{}", registries::TYPE, registry.name()),
            registry.resource_group.as_deref().unwrap_or_default(),
        )
    })
}

// ---- taskRuns -----------------------------------------------------------------

/// A taskRun as stored. A PUT queues its run request's run (as today's ARM
/// does on every PUT); a PATCH queues a new one when the request or its
/// `forceUpdateTag` changes. The location defaults to the registry's.
fn task_run_write(cx: &Ctx, row: &mut Value, existing: Option<&Value>) -> Result<(), ArmError> {
    let (state, req) = (cx.state, cx.req);
    let registry = registry_of(&cx.id);
    let registry_row = registry_row(state, &registry)?;
    let sent = req.json_object()?;
    let sent_props = sent.get("properties").cloned().unwrap_or(Value::Null);
    let run_request = match sent_props.get("runRequest").and_then(Value::as_object) {
        Some(r) => Some(r.clone()),
        None if req.method == Method::PUT => {
            return Err(bad(
                "InvalidParameter",
                "The 'properties.runRequest' is required.",
            ));
        }
        None => None,
    };
    let old = |k: &str| existing.map(|e| e["properties"][k].clone());
    let rerun = req.method == Method::PUT
        || run_request
            .as_ref()
            .is_some_and(|r| old("runRequest") != Some(Value::Object(r.clone())))
        || sent_props
            .get("forceUpdateTag")
            .is_some_and(|t| old("forceUpdateTag").as_ref() != Some(t));
    let props = &mut row["properties"];
    if let Some(r) = run_request.clone() {
        props["runRequest"] = Value::Object(r);
    }
    if rerun {
        let request = props["runRequest"].as_object().cloned().unwrap_or_default();
        let (run, _) = start_run(state, req.now, &registry, &registry_row, &request, None)?;
        props["runResult"] = render_run(&run);
    }
    props["provisioningState"] = json!("Succeeded");
    if props.get("forceUpdateTag").is_some_and(Value::is_null)
        && let Some(o) = props.as_object_mut()
    {
        o.shift_remove("forceUpdateTag");
    }
    envelope::reorder(
        props,
        &[
            "provisioningState",
            "runRequest",
            "runResult",
            "forceUpdateTag",
        ],
    );
    if row["location"].as_str().is_none() {
        row["location"] = registry_row["location"].clone();
    }
    envelope::reorder(
        row,
        &[
            "type",
            "identity",
            "properties",
            "location",
            "id",
            "name",
            "systemData",
        ],
    );
    Ok(())
}

/// A taskRun shows its run as it is now: `provisioningState` follows the run
/// (`Creating` while it is queued or running), `runResult` is the run.
fn current(state: &AppState, row: &mut Value, details: bool) -> Result<(), ArmError> {
    let registry = row["id"]
        .as_str()
        .and_then(|i| i.parse::<ResourceId>().ok())
        .map(|i| registry_of(&i));
    if let (Some(registry), Some(run_id)) =
        (registry, row["properties"]["runResult"]["name"].as_str())
        && let Some(run) = state
            .store
            .get(tables::ACR_RUNS, &run_key(&registry, run_id))?
    {
        row["properties"]["provisioningState"] =
            json!(match run["properties"]["status"].as_str() {
                Some("Succeeded") => "Succeeded",
                Some("Queued" | "Started" | "Running") => "Creating",
                Some("Canceled") => "Canceled",
                _ => "Failed",
            });
        row["properties"]["runResult"] = render_run(&run);
    }
    if !details && let Some(o) = row["properties"]["runRequest"].as_object_mut() {
        o.shift_remove("encodedValuesContent");
    }
    Ok(())
}

fn task_run_read(state: &AppState, row: &mut Value) -> Result<(), ArmError> {
    current(state, row, false)
}

/// `POST …/taskRuns/{name}/listDetails`: the taskRun with its run request's secrets.
fn task_run_details(cx: &Ctx) -> Result<Response, ArmError> {
    let mut row = cx.state.resources().get(&cx.id)?.ok_or_else(|| {
        ArmError::resource_not_found(
            &format!(
                "{TASK_RUN_TYPE}/{}/{}",
                registry_of(&cx.id).name(),
                cx.id.name()
            ),
            cx.id.resource_group.as_deref().unwrap_or_default(),
        )
    })?;
    current(cx.state, &mut row, true)?;
    Ok(json_response(StatusCode::OK, &row))
}

/// What a taskRun's writer polls: its run's own operation, which ends when
/// the run does (and fails with it, `TaskRunFailed`).
fn task_run_operation(cx: &Ctx, row: &Value) -> Result<Option<Operation>, ArmError> {
    let Some(run_id) = row["properties"]["runResult"]["name"].as_str() else {
        return Ok(None);
    };
    let Some(run) = cx
        .state
        .store
        .get(tables::ACR_RUNS, &run_key(&registry_of(&cx.id), run_id))?
    else {
        return Ok(None);
    };
    match run["_run"]["operation"].as_str() {
        Some(op) => Ok(Operation::load(cx.state.store.as_ref(), op)?),
        None => Ok(None),
    }
}
