//! ACR Tasks, the control plane: `registries/{r}/tasks` (`Tasks_Create`,
//! `_Get`, `_Update`, `_Delete`, `_List`, `_GetDetails`), `scheduleRun`, and
//! `registries/{r}/runs` (`Runs_Get`, `_List`, `_Update`, `_Cancel`,
//! `_GetLogSasUrl`). Spec: `containerregistry_build.json` 2019-06-01-preview;
//! az sends azure-mgmt-containerregistrytasks' 2025-03-01-preview.
//!
//! A task carries an `identity` (the shared mechanism: system-assigned
//! principal, user-assigned identities behind `assign/action`) and
//! `credentials` (the source registry's login mode, custom registries keyed
//! by login server with `identity` `[system]` or a client id, or a
//! username/password). A scheduled run is a long-running operation like any
//! other: it is `Queued`, then `Running` while emulated time passes, and is
//! carried out by [`crate::runtime::task_runs`] when its operation settles.

use super::registries;
use crate::arm::envelope::{self, system_data};
use crate::arm::lro::{Operation, OperationKind};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::clock::arm_timestamp;
use crate::providers::{identity, json_response, lro_delay};
use crate::state::AppState;
use crate::store::tables;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

pub const TASK_TYPE: &str = "Microsoft.ContainerRegistry/registries/tasks";
pub const TASK_RUN_TYPE: &str = "Microsoft.ContainerRegistry/registries/taskRuns";
pub const RUN_TYPE: &str = "Microsoft.ContainerRegistry/registries/runs";

fn bad(code: &'static str, message: impl Into<String>) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, code, message)
}

fn task_not_found(registry: &ResourceId, name: &str) -> ArmError {
    ArmError::resource_not_found(
        &format!("{TASK_TYPE}/{}/{name}", registry.name()),
        registry.resource_group.as_deref().unwrap_or_default(),
    )
}

fn run_not_found(registry: &ResourceId, run: &str) -> ArmError {
    ArmError::resource_not_found(
        &format!("{RUN_TYPE}/{}/{run}", registry.name()),
        registry.resource_group.as_deref().unwrap_or_default(),
    )
}

fn task_id(registry: &ResourceId, name: &str) -> ResourceId {
    let mut id = registry.clone();
    if let Some(p) = id.providers.first_mut() {
        p.types.push(("tasks".into(), name.to_string()));
    }
    id
}

/// Runs live in their own table (ARM lists never show them), keyed `{registry key}/runs/{runId}`.
pub fn run_key(registry: &ResourceId, run: &str) -> String {
    format!("{}/runs/{}", registry.key(), run.to_ascii_lowercase())
}

// ---- tasks ------------------------------------------------------------------

/// `registries/{r}/tasks[/{name}[/listDetails]]`
pub fn tasks(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
    name: Option<&str>,
    action: Option<&str>,
) -> Result<Response, ArmError> {
    match (name, action, &req.method) {
        (None, None, &Method::GET) => {
            let items: Vec<Value> = state
                .resources()
                .children(registry, TASK_TYPE)?
                .iter()
                .map(|v| render_task(v, false))
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &crate::arm::paging::page(items, req),
            ))
        }
        (Some(n), None, &Method::PUT) => create(state, req, registry, n),
        (Some(n), None, &Method::GET) => Ok(json_response(
            StatusCode::OK,
            &render_task(&require_task(state, registry, n)?, false),
        )),
        (Some(n), None, &Method::PATCH) => update(state, req, registry, n),
        (Some(n), None, &Method::DELETE) => {
            let id = task_id(registry, n);
            match state.resources().delete(&id)? {
                Some(_) => {
                    identity::resource_deleted(state, &id.to_string())?;
                    Ok(StatusCode::OK.into_response())
                }
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        (Some(n), Some("listdetails"), &Method::POST) => Ok(json_response(
            StatusCode::OK,
            &render_task(&require_task(state, registry, n)?, true),
        )),
        (_, _, m) => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

pub fn load_task(
    state: &AppState,
    registry: &ResourceId,
    name: &str,
) -> Result<Option<Value>, ArmError> {
    Ok(state
        .store
        .get(tables::RESOURCES, &task_id(registry, name).key())?)
}

fn require_task(state: &AppState, registry: &ResourceId, name: &str) -> Result<Value, ArmError> {
    load_task(state, registry, name)?.ok_or_else(|| task_not_found(registry, name))
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

/// `PUT …/tasks/{name}` → 200 (az accepts nothing else, even on create).
fn create(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
    name: &str,
) -> Result<Response, ArmError> {
    if !valid_task_name(name) {
        return Err(bad(
            "InvalidTaskName",
            format!(
                "The task name '{name}' is invalid. It must be 5-50 characters long and contain only alphanumerics, hyphens and underscores."
            ),
        ));
    }
    let body = req.json_object()?;
    let location = envelope::location(&body)?;
    let tags = envelope::tags(&body)?;
    let id = task_id(registry, name);
    let existing = state.resources().get(&id)?;
    let mut props = body.get("properties").cloned().unwrap_or_else(|| json!({}));
    if !props.is_object() {
        return Err(ArmError::invalid_request_content(
            "'properties' must be an object.",
        ));
    }
    let system_task = props["isSystemTask"].as_bool() == Some(true);
    normalise(&mut props, system_task)?;
    props["provisioningState"] = json!("Succeeded");
    props["creationDate"] = existing
        .as_ref()
        .map(|e| e["properties"]["creationDate"].clone())
        .unwrap_or_else(|| json!(arm_timestamp(req.now)));
    props["isSystemTask"] = json!(system_task);
    let ident = identity::apply(state, req, &id, body.get("identity"))?;
    let mut row = json!({
        "type": TASK_TYPE,
        "id": id.to_string(),
        "name": name,
        "location": location,
        "tags": tags.unwrap_or_else(|| json!({})),
        "systemData": system_data(&req.principal, req.now, existing.as_ref().map(|e| &e["systemData"])),
        "properties": props,
    });
    if let Some(i) = ident {
        row["identity"] = i;
    }
    state.resources().put(&id, row.clone())?;
    sync_timers(state, &row, req.now)?;
    Ok(json_response(StatusCode::OK, &render_task(&row, false)))
}

/// Tasks with enabled timer triggers are watched on the emulated clock
/// ([`crate::runtime::task_runs::sync_timers`]).
fn sync_timers(state: &AppState, row: &Value, now: time::OffsetDateTime) -> Result<(), ArmError> {
    crate::runtime::task_runs::sync_timers(state, row, now)
}

/// `PATCH …/tasks/{name}`: properties merge (RFC 7396: `null` removes, so a
/// custom registry credential set to null is dropped); identity replaces.
fn update(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
    name: &str,
) -> Result<Response, ArmError> {
    let id = task_id(registry, name);
    let mut row = require_task(state, registry, name)?;
    let body = req.json_object()?;
    if body.contains_key("tags") {
        envelope::set_tags(
            &mut row,
            envelope::tags(&body)?.unwrap_or_else(|| json!({})),
        );
    }
    if let Some(p) = body.get("properties") {
        if !p.is_object() {
            return Err(ArmError::invalid_request_content(
                "'properties' must be an object.",
            ));
        }
        envelope::merge_patch(&mut row["properties"], p);
        let system_task = row["properties"]["isSystemTask"].as_bool() == Some(true);
        normalise(&mut row["properties"], system_task)?;
    }
    if body.contains_key("identity") {
        match identity::apply(state, req, &id, body.get("identity"))? {
            Some(i) => row["identity"] = i,
            None => {
                if let Some(o) = row.as_object_mut() {
                    o.shift_remove("identity");
                }
            }
        }
    }
    row["systemData"] = system_data(&req.principal, req.now, Some(&row["systemData"]));
    state.resources().put(&id, row.clone())?;
    sync_timers(state, &row, req.now)?;
    Ok(json_response(StatusCode::OK, &render_task(&row, false)))
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

/// `POST registries/{r}/scheduleRun` → 200 with the queued run (az accepts only 200).
pub fn schedule_run(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
    registry_row: &Value,
) -> Result<Response, ArmError> {
    if req.method != Method::POST {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let body = req.json_object()?;
    let (run, _) = start_run(state, req.now, registry, registry_row, &body, None)?;
    Ok(json_response(StatusCode::OK, &render_run(&run)))
}

/// Queue a run for a run request (`scheduleRun`'s body, a taskRun's `runRequest`).
pub fn start_run(
    state: &AppState,
    when: time::OffsetDateTime,
    registry: &ResourceId,
    registry_row: &Value,
    body: &Map<String, Value>,
    trigger: Option<Value>,
) -> Result<(Value, Operation), ArmError> {
    let kind = body
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (task_name, step) = match kind.as_str() {
        "TaskRunRequest" => {
            let task_ref = body
                .get("taskId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // A full task id (az) or, in older api-versions, the task's name.
            let name = task_ref.rsplit('/').next().unwrap_or_default().to_string();
            let task = require_task(state, registry, &name)?;
            if task["properties"]["status"] == "Disabled" {
                return Err(bad(
                    "TaskDisabled",
                    format!("The task '{name}' is disabled and cannot be run."),
                ));
            }
            let mut step = task["properties"]["step"].clone();
            if let Some(o) = body
                .get("overrideTaskStepProperties")
                .and_then(Value::as_object)
            {
                apply_overrides(&mut step, o);
            }
            (Some(name), step)
        }
        "DockerBuildRequest" | "FileTaskRunRequest" | "EncodedTaskRunRequest" => {
            let mut step = Value::Object(body.clone());
            step["type"] = json!(match kind.as_str() {
                "DockerBuildRequest" => "Docker",
                "FileTaskRunRequest" => "FileTask",
                _ => "EncodedTask",
            });
            (None, step)
        }
        other => {
            return Err(bad(
                "InvalidParameter",
                format!(
                    "The run request type '{other}' is not valid. Valid types are 'TaskRunRequest, DockerBuildRequest, FileTaskRunRequest, EncodedTaskRunRequest'."
                ),
            ));
        }
    };
    let run_id = next_run_id(state, registry)?;
    let now = arm_timestamp(when);
    let mut run_id_path = registry.clone();
    if let Some(p) = run_id_path.providers.first_mut() {
        p.types.push(("runs".into(), run_id.clone()));
    }
    let platform = match &task_name {
        Some(t) => require_task(state, registry, t)?["properties"]["platform"].clone(),
        None => body
            .get("platform")
            .cloned()
            .unwrap_or(json!({"os": "Linux", "architecture": "amd64"})),
    };
    let mut run = json!({
        "type": RUN_TYPE,
        "id": run_id_path.to_string(),
        "name": run_id,
        "properties": {
            "runId": run_id,
            "status": "Queued",
            "lastUpdatedTime": now,
            "runType": "QuickRun",
            "createTime": now,
            "task": task_name,
            "platform": platform,
            "agentConfiguration": {"cpu": 2},
            "provisioningState": "Succeeded",
            "isArchiveEnabled": false,
            "outputImages": [],
        },
        "_run": {
            "step": step,
            "registry": registry_row["id"],
            "request": Value::Object(body.clone()),
        },
    });
    if let Some(t) = trigger {
        run["properties"]["runType"] = json!("AutoRun");
        run["properties"]["timerTrigger"] = t;
    }
    let key = run_key(registry, &run_id);
    state.store.put(tables::ACR_RUNS, &key, run.clone())?;
    // An uploaded build context lives as long as the runs that use it.
    if let Some(context) = run["_run"]["step"]["contextPath"]
        .as_str()
        .or_else(|| run["_run"]["step"]["sourceLocation"].as_str())
        .filter(|c| c.starts_with("source/"))
    {
        crate::storage::claim_source(state, &registry.key(), context, &key, when)?;
    }
    let op = Operation::start(
        &registry.subscription,
        OperationKind::TaskRun { run_key: key },
        "runs",
        when,
        lro_delay(state),
    );
    op.save(state.store.as_ref())?;
    Ok((run, op))
}

fn apply_overrides(step: &mut Value, o: &Map<String, Value>) {
    let set = |step: &mut Value, key: &str, v: &Value| {
        if !v.is_null() {
            step[key] = v.clone();
        }
    };
    if let Some(c) = o.get("contextPath") {
        set(step, "contextPath", c);
    }
    if let Some(f) = o.get("file") {
        let key = if step["type"] == "Docker" {
            "dockerFilePath"
        } else {
            "taskFilePath"
        };
        set(step, key, f);
    }
    if let Some(t) = o.get("target") {
        set(step, "target", t);
    }
    for (list, key) in [("arguments", "arguments"), ("values", "values")] {
        if let Some(extra) = o
            .get(list)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            let mut current = step[key].as_array().cloned().unwrap_or_default();
            for e in extra {
                current.retain(|c| c["name"] != e["name"]);
                current.push(e.clone());
            }
            step[key] = Value::Array(current);
        }
    }
}

/// Run ids as ACR writes them: a two-letter prefix per registry and a counter (`ca1`, `ca2`, …).
fn next_run_id(state: &AppState, registry: &ResourceId) -> Result<String, ArmError> {
    // Keys, not rows: an unreadable run still holds its id.
    let n = state
        .store
        .keys(tables::ACR_RUNS, &format!("{}/runs/", registry.key()))?
        .len();
    Ok(format!("ca{}", n + 1))
}

pub fn render_run(row: &Value) -> Value {
    let mut r = row.clone();
    if let Some(o) = r.as_object_mut() {
        o.shift_remove("_run");
    }
    r
}

/// `registries/{r}/runs[/{runId}[/cancel|/listLogSasUrl]]`
pub fn runs(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
    run: Option<&str>,
    action: Option<&str>,
) -> Result<Response, ArmError> {
    match (run, action, &req.method) {
        (None, None, &Method::GET) => list_runs(state, req, registry),
        (Some(r), None, &Method::GET) => Ok(json_response(
            StatusCode::OK,
            &render_run(&require_run(state, registry, r)?),
        )),
        (Some(r), None, &Method::PATCH) => {
            let key = run_key(registry, r);
            let mut row = require_run(state, registry, r)?;
            let body = req.json_object()?;
            if let Some(a) = body.get("isArchiveEnabled") {
                let a = a.as_bool().ok_or_else(|| {
                    ArmError::invalid_request_content("'isArchiveEnabled' must be a boolean.")
                })?;
                row["properties"]["isArchiveEnabled"] = json!(a);
            }
            state.store.put(tables::ACR_RUNS, &key, row.clone())?;
            Ok(json_response(StatusCode::OK, &render_run(&row)))
        }
        (Some(r), Some("cancel"), &Method::POST) => {
            let key = run_key(registry, r);
            let row = require_run(state, registry, r)?;
            crate::runtime::task_runs::cancel(state, &key, row)?;
            Ok(StatusCode::OK.into_response())
        }
        (Some(r), Some("listlogsasurl"), &Method::POST) => {
            require_run(state, registry, r)?;
            let link = crate::storage::log_link(state, &req.base, &run_key(registry, r), req.now)?;
            Ok(json_response(StatusCode::OK, &json!({"logLink": link})))
        }
        (_, _, m) => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

fn require_run(state: &AppState, registry: &ResourceId, run: &str) -> Result<Value, ArmError> {
    state
        .store
        .get(tables::ACR_RUNS, &run_key(registry, run))?
        .ok_or_else(|| run_not_found(registry, run))
}

/// `GET …/runs?$filter=…&$top=N`: newest first. Filters az sends:
/// `TaskName eq 'x'`, `Status eq 'x'`, `contains(OutputImageManifests, 'repo@digest')`, joined by `and`.
fn list_runs(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
) -> Result<Response, ArmError> {
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
            conds.iter().all(|(k, want, contains)| {
                let p = &v["properties"];
                match (k.to_ascii_lowercase().as_str(), contains) {
                    ("taskname", false) => p["task"]
                        .as_str()
                        .is_some_and(|t| t.eq_ignore_ascii_case(want)),
                    ("status", false) => p["status"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(want)),
                    ("runid", false) => p["runId"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(want)),
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
            })
        })
        .map(|v| render_run(&v))
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
    Ok(json_response(StatusCode::OK, &json!({"value": items})))
}

/// `registries/{r}/taskRuns[/{name}[/listDetails]]`: a run request kept as a
/// resource (how templates run tasks). PUT queues the run; GETs show it as
/// `runResult`, current.
pub fn task_runs(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
    name: Option<&str>,
    action: Option<&str>,
) -> Result<Response, ArmError> {
    let id_of = |n: &str| {
        let mut id = registry.clone();
        if let Some(p) = id.providers.first_mut() {
            p.types.push(("taskRuns".into(), n.to_string()));
        }
        id
    };
    let current = |row: &Value, details: bool| -> Value {
        let mut r = row.clone();
        if let Some(run_id) = row["properties"]["runResult"]["name"].as_str()
            && let Ok(Some(run)) = state
                .store
                .get(tables::ACR_RUNS, &run_key(registry, run_id))
        {
            r["properties"]["provisioningState"] =
                json!(match run["properties"]["status"].as_str() {
                    Some("Succeeded") => "Succeeded",
                    Some("Queued" | "Started" | "Running") => "Creating",
                    Some("Canceled") => "Canceled",
                    _ => "Failed",
                });
            r["properties"]["runResult"] = render_run(&run);
        }
        if !details && let Some(o) = r["properties"]["runRequest"].as_object_mut() {
            o.shift_remove("encodedValuesContent");
        }
        r
    };
    match (name, action, &req.method) {
        (None, None, &Method::GET) => {
            let items: Vec<Value> = state
                .resources()
                .children(registry, TASK_RUN_TYPE)?
                .iter()
                .map(|v| current(v, false))
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &crate::arm::paging::page(items, req),
            ))
        }
        (Some(n), None, &Method::PUT) => {
            let body = req.json_object()?;
            let run_request = body
                .get("properties")
                .and_then(|p| p.get("runRequest"))
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| {
                    bad(
                        "InvalidParameter",
                        "The 'properties.runRequest' is required.",
                    )
                })?;
            let registry_row = registry_row(state, registry)?;
            let (run, op) = start_run(state, req.now, registry, &registry_row, &run_request, None)?;
            let id = id_of(n);
            let existing = state.resources().get(&id)?;
            let location = body
                .get("location")
                .and_then(Value::as_str)
                .unwrap_or(registry_row["location"].as_str().unwrap_or_default())
                .to_string();
            let row = json!({
                "type": TASK_RUN_TYPE,
                "id": id.to_string(),
                "name": n,
                "location": location,
                "systemData": system_data(&req.principal, req.now, existing.as_ref().map(|e| &e["systemData"])),
                "properties": {
                    "provisioningState": "Succeeded",
                    "runRequest": Value::Object(run_request),
                    "runResult": render_run(&run),
                    "forceUpdateTag": body.get("properties").and_then(|p| p.get("forceUpdateTag")).cloned().unwrap_or(Value::Null),
                },
            });
            state.resources().put(&id, row.clone())?;
            let status = if existing.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            // The taskRun provisions as its run goes: clients (and deployments) poll the run.
            let mut resp = json_response(status, &current(&row, false));
            let v = req.query("api-version").unwrap_or_default();
            let url = op.async_operation_url(&req.base.0, super::NAMESPACE, &location, v);
            crate::arm::lro::set_polling_headers(&mut resp, None, Some(&url));
            Ok(resp)
        }
        (Some(n), None, &Method::GET) => {
            let row = state
                .store
                .get(tables::RESOURCES, &id_of(n).key())?
                .ok_or_else(|| {
                    ArmError::resource_not_found(
                        &format!(
                            "Microsoft.ContainerRegistry/registries/taskRuns/{}/{n}",
                            registry.name()
                        ),
                        registry.resource_group.as_deref().unwrap_or_default(),
                    )
                })?;
            Ok(json_response(StatusCode::OK, &current(&row, false)))
        }
        (Some(n), Some("listdetails"), &Method::POST) => {
            let row = state
                .store
                .get(tables::RESOURCES, &id_of(n).key())?
                .ok_or_else(|| {
                    ArmError::resource_not_found(
                        &format!(
                            "Microsoft.ContainerRegistry/registries/taskRuns/{}/{n}",
                            registry.name()
                        ),
                        registry.resource_group.as_deref().unwrap_or_default(),
                    )
                })?;
            Ok(json_response(StatusCode::OK, &current(&row, true)))
        }
        (Some(n), None, &Method::DELETE) => {
            match state.store.delete(tables::RESOURCES, &id_of(n).key())? {
                Some(_) => Ok(StatusCode::OK.into_response()),
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        (_, _, m) => Err(ArmError::method_not_allowed(m.as_str())),
    }
}

/// `POST registries/{r}/listBuildSourceUploadUrl` (older api-versions: `getBuildSourceUploadUrl`).
pub fn source_upload_url(
    state: &AppState,
    req: &ArmRequest,
    registry: &ResourceId,
) -> Result<Response, ArmError> {
    if req.method != Method::POST {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let (url, relative) =
        crate::storage::upload_location(state, &req.base, &registry.key(), req.now)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"uploadUrl": url, "relativePath": relative}),
    ))
}

/// For the container_registry router: does this registry exist (for child routes)?
pub fn registry_row(state: &AppState, registry: &ResourceId) -> Result<Value, ArmError> {
    registries::load(state, registry)?.ok_or_else(|| {
        ArmError::resource_not_found(
            &format!("{}/{}", registries::TYPE, registry.name()),
            registry.resource_group.as_deref().unwrap_or_default(),
        )
    })
}
