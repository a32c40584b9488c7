//! ACR's runs: queuing one from a run request (`scheduleRun`'s body, a
//! taskRun's `runRequest`, a task's timer), as ACR builds it. The run is a
//! row of `acr_runs` with the long-running operation that carries it out
//! ([`crate::runtime::task_runs`]). The ARM routes are
//! [`crate::providers::container_registry::tasks`]; this module calls no provider.

use crate::arm::lro::{Operation, OperationKind, lro_delay};
use crate::arm::{ArmError, ResourceId};
use crate::clock::arm_timestamp;
use crate::state::AppState;
use crate::store::tables;
use http::StatusCode;
use serde_json::{Map, Value, json};

pub const TASK_TYPE: &str = "Microsoft.ContainerRegistry/registries/tasks";
pub const RUN_TYPE: &str = "Microsoft.ContainerRegistry/registries/runs";

fn bad(code: &'static str, message: impl Into<String>) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, code, message)
}

pub fn task_not_found(registry: &ResourceId, name: &str) -> ArmError {
    ArmError::resource_not_found(
        &format!("{TASK_TYPE}/{}/{name}", registry.name()),
        registry.resource_group.as_deref().unwrap_or_default(),
    )
}

pub fn task_id(registry: &ResourceId, name: &str) -> ResourceId {
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

pub fn load_task(
    state: &AppState,
    registry: &ResourceId,
    name: &str,
) -> Result<Option<Value>, ArmError> {
    Ok(state
        .store
        .get(tables::RESOURCES, &task_id(registry, name).key())?)
}

pub fn require_task(
    state: &AppState,
    registry: &ResourceId,
    name: &str,
) -> Result<Value, ArmError> {
    load_task(state, registry, name)?.ok_or_else(|| task_not_found(registry, name))
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
    // Azure's field order (azure-cli's recordings, `test_acr_task`): type, properties, id, name.
    let mut run = json!({
        "type": RUN_TYPE,
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
        "id": run_id_path.to_string(),
        "name": run_id,
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
    let op = Operation::start(
        &registry.subscription,
        OperationKind::TaskRun {
            run_key: key.clone(),
        },
        "runs",
        when,
        lro_delay(state),
    );
    // The operation that carries the run out: what a taskRun's writer polls.
    run["_run"]["operation"] = json!(op.id);
    state.store.put(tables::ACR_RUNS, &key, run.clone())?;
    // An uploaded build context lives as long as the runs that use it.
    if let Some(context) = run["_run"]["step"]["contextPath"]
        .as_str()
        .or_else(|| run["_run"]["step"]["sourceLocation"].as_str())
        .filter(|c| c.starts_with("source/"))
    {
        crate::storage::claim_source(state, &registry.key(), context, &key, when)?;
    }
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
