//! Running a planned deployment. [`advance`] is called by the scheduler
//! ([`crate::runtime::scheduler`]) when a deployment has a round to take:
//! just created, or an operation one of its resources follows has ended
//! (the deployment waits in that operation's `waiters`, see [`followed`]; on
//! `/_emulator/step` in explicit simulation mode). Each round
//! starts every resource whose dependencies have succeeded —
//! independent resources start in the same round — by evaluating its body and
//! sending a PUT through the provider's own route as the deployment's caller,
//! then follows the provider's long-running operation until it is terminal.
//! When nothing is left to run it evaluates the outputs, applies Complete
//! mode, and finishes the operation the client polls.
//!
//! Any ARM request can run this, so one deployment must never fail another
//! request: a deployment that cannot be advanced — its row unreadable, its
//! run undecodable, a store error, even a panic — is failed on its own
//! ([`fail_alone`]) and the others move on. What a deployment evaluates is
//! paid for from its tree's budget ([`crate::templates::limits`]), so none
//! can take the process down either.

use super::{ResourceState, Run, Status, from_ms, iso_duration, ms};
use crate::arm::ArmError;
use crate::arm::lro::{OpStatus, Operation};
use crate::arm::request::Nesting;
use crate::clock::arm_timestamp;
use crate::providers::{InternalCall, InternalResponse};
use crate::state::AppState;
use crate::store::tables;
use crate::templates::eval::{EvalResult, Evaluator, Resolver, TemplateError};
use crate::templates::limits::{self, Budget};
use crate::templates::plan::{self, PlannedResource};
use http::Method;
use serde_json::{Value, json};
use std::rc::Rc;
use time::OffsetDateTime;

/// The header a nested deployment's PUT answers with when the engine made it:
/// how much of the tree's budget its plan used.
pub const WORK_HEADER: &str = "x-azemu-template-work";

/// Move the running deployments (`pending`: each with its operation) on.
/// Returns whether anything changed. Never fails: a deployment that cannot
/// be advanced is failed by itself.
pub fn advance(state: &AppState, pending: &[(String, String)]) -> bool {
    let mut moved = false;
    for (id, op) in pending {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| advance_one(state, id, op)));
        match outcome {
            Ok(Ok(m)) => moved |= m,
            // What this deployment asked for cannot be done (the store refuses
            // what it built: too deep or too large to read back): it fails
            // with that answer, and only it.
            Ok(Err(e)) if e.status.is_client_error() => {
                tracing::warn!(deployment = %id, code = %e.code, message = %e.message, "a deployment failed");
                fail_alone(state, id, op, e.body()["error"].clone());
                moved = true;
            }
            Ok(Err(e)) => {
                tracing::error!(deployment = %id, code = %e.code, message = %e.message, "deployment could not be advanced");
                fail_alone(state, id, op, internal_error());
                moved = true;
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(deployment = %id, panic = %what, "deployment engine panicked");
                fail_alone(state, id, op, internal_error());
                moved = true;
            }
        }
    }
    moved
}

fn advance_one(state: &AppState, id: &str, op: &str) -> Result<bool, ArmError> {
    let key = id.to_ascii_lowercase();
    let Some(mut row) = state.store.get(tables::DEPLOYMENTS, &key)? else {
        // Gone (its group deleted): nothing polls it any more.
        finish_operation(state, op, Some(internal_error()));
        return Ok(true);
    };
    if !super::is_active(&row) {
        // Finished, but its operation was not (a failure part-way): finish it now.
        let failed = row["properties"]["provisioningState"] != "Succeeded";
        let error = failed.then(|| row["properties"]["error"].clone());
        finish_operation(state, op, error.filter(|e| !e.is_null()));
        return Ok(true);
    }
    if !step(state, &mut row)? {
        return Ok(false);
    }
    // What is stored must read back (serde_json reads 127 levels).
    if crate::store::depth(&row) > limits::MAX_STORED_DEPTH {
        return Err(ArmError::internal(format!(
            "deployment {id}: its row would nest deeper than {} levels",
            limits::MAX_STORED_DEPTH
        )));
    }
    state.store.put(tables::DEPLOYMENTS, &key, row)?;
    Ok(true)
}

/// The operations the running resources of deployment `id` follow: a round
/// that moved nothing waits for one of them to end (none, when it cannot be read).
pub fn followed(state: &AppState, id: &str) -> Vec<String> {
    let Ok(Some(row)) = state
        .store
        .get(tables::DEPLOYMENTS, &id.to_ascii_lowercase())
    else {
        return Vec::new();
    };
    let Ok(run) = run_of(&row) else {
        return Vec::new();
    };
    run.states
        .into_iter()
        .filter(|s| s.status == Status::Running)
        .filter_map(|s| s.poll)
        .collect()
}

/// ARM's answer for a failure of its own.
fn internal_error() -> Value {
    json!({
        "code": "InternalServerError",
        "message": "Encountered internal server error. Diagnostic information: timestamp, correlation id.",
    })
}

/// A deployment that could not be advanced fails by itself: its row (rewritten
/// readable if it was not) says `Failed` with `error` (ARM's internal-error
/// answer, or the refusal of what it asked for), and
/// the operation its client polls finishes with it. Nothing else is touched,
/// and nothing here fails: what cannot be written is logged.
fn fail_alone(state: &AppState, id: &str, op: &str, error: Value) {
    let key = id.to_ascii_lowercase();
    let now = state.clock.now();
    let row = match state.store.get(tables::DEPLOYMENTS, &key) {
        Ok(Some(mut row)) if row.is_object() && row["properties"].is_object() => {
            // Readable: keep what it shows, drop what may be what broke it.
            if serde_json::from_value::<Run>(row["_run"].clone()).is_err()
                || crate::store::depth(&row) > limits::MAX_STORED_DEPTH
            {
                if let Some(o) = row.as_object_mut() {
                    o.shift_remove("_run");
                }
                if let Some(p) = row["properties"].as_object_mut() {
                    p.shift_remove("outputs");
                }
            }
            Some(row)
        }
        Ok(None) => None,
        // Unreadable (or not a deployment at all): replaced by a readable one.
        _ => Some(json!({
            "id": id,
            "name": id.rsplit('/').next().unwrap_or_default(),
            "type": super::TYPE,
            "properties": {},
        })),
    };
    if let Some(mut row) = row {
        row["properties"]["provisioningState"] = json!("Failed");
        row["properties"]["timestamp"] = json!(arm_timestamp(now));
        row["properties"]["error"] = error.clone();
        if let Err(e) = state.store.put(tables::DEPLOYMENTS, &key, row) {
            tracing::error!(deployment = %id, error = %e, "the failed deployment could not be stored");
        }
    }
    finish_operation(state, op, Some(error));
}

/// Finish a deployment's operation (logged, not failed, if it cannot be).
fn finish_operation(state: &AppState, op: &str, error: Option<Value>) {
    let done = Operation::load(state.store.as_ref(), op).and_then(|o| match o {
        Some(mut o) if o.status == OpStatus::InProgress => {
            o.finish(state.clock.now(), error);
            o.save(state.store.as_ref()).map(|_| ())
        }
        _ => Ok(()),
    });
    if let Err(e) = done {
        tracing::error!(operation = %op, error = %e, "deployment operation could not be finished");
    }
}

/// The action type of a resource id, as RBAC names it (`ns/type/childType`).
pub fn action_type(id: &str, declared: &str) -> String {
    id.parse::<crate::arm::ResourceId>()
        .map(|r| r.resource_type())
        .unwrap_or_else(|_| declared.to_string())
}

/// Reads for `reference()`/`list*()` at execution time, as the caller.
pub(super) struct Live<'a> {
    state: &'a AppState,
    pub(super) call: InternalCall<'a>,
    run: &'a Run,
}

impl<'a> Live<'a> {
    pub(super) fn new(state: &'a AppState, run: &'a Run) -> Self {
        Live {
            state,
            call: InternalCall {
                principal: &run.principal,
                base: &run.base,
                correlation_id: &run.correlation_id,
                nesting: None,
            },
            run,
        }
    }

    pub(super) fn run(&self) -> &'a Run {
        self.run
    }

    pub(super) fn api_version_for(&self, id: &str) -> String {
        let p = &self.run.plan.resources;
        p.iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
            .or_else(|| {
                let ty = action_type(id, "");
                p.iter()
                    .find(|r| action_type(&r.id, &r.resource_type).eq_ignore_ascii_case(&ty))
            })
            .map(|r| r.api_version.clone())
            .unwrap_or_else(|| "2022-09-01".to_string())
    }

    fn answer(resp: InternalResponse) -> EvalResult {
        if resp.status.is_success() {
            return Ok(resp.body);
        }
        Err(TemplateError(
            resp.body["error"]["message"]
                .as_str()
                .unwrap_or("The resource could not be read.")
                .to_string(),
        ))
    }
}

impl Resolver for Live<'_> {
    fn get(&self, id: &str, api_version: Option<&str>) -> EvalResult {
        let api = api_version
            .map(str::to_string)
            .unwrap_or_else(|| self.api_version_for(id));
        Live::answer(self.call.call(self.state, Method::GET, id, &api, None))
    }

    fn post(&self, id: &str, action: &str, api_version: &str, body: Option<&Value>) -> EvalResult {
        let path = format!("{}/{action}", id.trim_end_matches('/'));
        Live::answer(
            self.call
                .call(self.state, Method::POST, &path, api_version, body),
        )
    }
}

pub(super) fn evaluator<'a>(
    run: &'a Run,
    resolver: &'a Live<'a>,
    budget: &Rc<Budget>,
) -> Evaluator<'a> {
    let mut ev = Evaluator::new(
        &run.scope,
        &run.plan.parameters,
        &run.plan.variables,
        &run.plan.names,
    )
    .with_budget(budget.clone());
    ev.resolver = Some(resolver);
    ev.deployment = Some(&run.request);
    ev
}

/// What the deployment's tree has used so far: (deployments, work). The root
/// keeps the count; a nested deployment reads its root's.
fn tree_totals(state: &AppState, run: &Run) -> Result<(u32, u64), ArmError> {
    let Some(root) = &run.tree.root else {
        return Ok((run.tree.deployments, run.tree.work));
    };
    Ok(match state.store.get(tables::DEPLOYMENTS, root)? {
        Some(row) => (
            row["_run"]["tree"]["deployments"]
                .as_u64()
                .map_or(limits::MAX_TREE, |n| n.min(u64::from(u32::MAX)) as u32),
            row["_run"]["tree"]["work"].as_u64().unwrap_or(limits::WORK),
        ),
        // The root is gone (canceled and deleted): nothing more is evaluated.
        None => (limits::MAX_TREE, limits::WORK),
    })
}

/// Record what the tree has used (on the root: in `run`, stored with it).
fn save_totals(
    state: &AppState,
    run: &mut Run,
    deployments: u32,
    work: u64,
) -> Result<(), ArmError> {
    let Some(root) = &run.tree.root else {
        run.tree.deployments = deployments;
        run.tree.work = work;
        return Ok(());
    };
    if let Some(mut row) = state.store.get(tables::DEPLOYMENTS, root)?
        && row["_run"]["tree"].is_object()
    {
        row["_run"]["tree"]["deployments"] = json!(deployments);
        row["_run"]["tree"]["work"] = json!(work);
        state.store.put(tables::DEPLOYMENTS, root, row)?;
    }
    Ok(())
}

fn run_of(row: &Value) -> Result<Run, ArmError> {
    serde_json::from_value(row["_run"].clone()).map_err(ArmError::internal)
}

/// One round for one deployment. Returns whether anything changed.
fn step(state: &AppState, row: &mut Value) -> Result<bool, ArmError> {
    let mut run = run_of(row)?;
    let now = state.clock.now();
    let mut changed = false;
    if row["properties"]["provisioningState"] == "Accepted" {
        row["properties"]["provisioningState"] = json!("Running");
        changed = true;
    }
    // Poll what runs; then start what is ready (in index order, all in this round).
    for i in 0..run.states.len() {
        if run.states[i].status == Status::Running {
            changed |= poll(state, &mut run.states[i], now);
        }
    }
    // What the tree may still evaluate, and how many deployments it may still add.
    let (spawned, work) = tree_totals(state, &run)?;
    let mut deployments = spawned;
    let budget = Rc::new(Budget::new(limits::WORK.saturating_sub(work)));
    let root_key = run
        .tree
        .root
        .clone()
        .unwrap_or_else(|| row["id"].as_str().unwrap_or_default().to_ascii_lowercase());
    let snapshot = run.clone();
    let live = Live::new(state, &snapshot);
    for i in 0..run.states.len() {
        if run.states[i].status != Status::Waiting {
            continue;
        }
        let r = &snapshot.plan.resources[i];
        if r.skipped {
            run.states[i].status = Status::Skipped;
            changed = true;
            continue;
        }
        let deps: Vec<Status> = r.depends_on.iter().map(|&d| run.states[d].status).collect();
        if deps
            .iter()
            .any(|s| matches!(s, Status::Failed | Status::Blocked | Status::Canceled))
        {
            run.states[i].status = Status::Blocked;
            changed = true;
            continue;
        }
        if deps
            .iter()
            .all(|s| matches!(s, Status::Succeeded | Status::Skipped))
        {
            let ev = evaluator(&snapshot, &live, &budget);
            let nested = r
                .resource_type
                .eq_ignore_ascii_case("Microsoft.Resources/deployments");
            let st = &mut run.states[i];
            if nested && let Err(e) = nest(&snapshot, &mut deployments) {
                st.started_ms = Some(ms(now));
                fail_state(st, now, "BadRequest", e);
            } else {
                start(state, &live, &ev, r, st, &root_key, now);
            }
            changed = true;
        }
    }
    let done = run
        .states
        .iter()
        .all(|s| !matches!(s.status, Status::Waiting | Status::Running));
    if done {
        finish(state, row, &mut run, &live, &budget, now)?;
        changed = true;
    }
    if deployments != spawned || budget.used() > 0 {
        let work = work.saturating_add(budget.used());
        save_totals(state, &mut run, deployments, work)?;
    }
    row["_run"] = serde_json::to_value(&run).map_err(ArmError::internal)?;
    Ok(changed)
}

/// How many errors deep a deployment's error may nest. Each nested deployment
/// wraps its child's error twice (`ResourceDeploymentFailure`, `DeploymentFailed`):
/// unbounded, a deep tree would store an error too deep to read back.
const MAX_ERROR_NESTING: usize = 12;

/// Keep an error at most `levels` errors deep: below that, an error's `details`
/// become the root causes under it (its innermost errors), so the reason
/// stays visible however deep the tree was.
fn bound_error(e: &mut Value, levels: usize) {
    let Some(details) = e.get_mut("details").and_then(Value::as_array_mut) else {
        return;
    };
    if levels > 1 {
        for d in details.iter_mut() {
            bound_error(d, levels - 1);
        }
        return;
    }
    let mut causes = Vec::new();
    let mut stack: Vec<&Value> = details.iter().rev().collect();
    while let Some(d) = stack.pop() {
        match d.get("details").and_then(Value::as_array) {
            Some(inner) if !inner.is_empty() => stack.extend(inner.iter().rev()),
            _ if causes.len() < 100 => {
                let mut c = d.clone();
                if let Some(o) = c.as_object_mut() {
                    o.shift_remove("details");
                }
                causes.push(c);
            }
            _ => {}
        }
    }
    *details = causes;
}

/// Room in the tree for one more nested deployment under `run`, counted; or the refusal.
// TODO-fidelity: no ARM text found for nested-deployment limits (see `limits::MAX_TREE`).
fn nest(run: &Run, deployments: &mut u32) -> Result<(), Value> {
    if run.tree.depth + 1 > limits::MAX_NESTING {
        return Err(json!({
            "code": "InvalidTemplate",
            "message": format!(
                "The deployment '{}' is nested '{}' deployments deep, the most azemu deploys: a deployment can't deploy further nested deployments.",
                run.scope.deployment_name, run.tree.depth
            ),
        }));
    }
    if *deployments >= limits::MAX_TREE {
        return Err(json!({
            "code": "InvalidTemplate",
            "message": format!(
                "The deployment '{}' can't deploy another nested deployment: its tree of nested deployments already holds '{}' deployments, the most azemu deploys.",
                run.scope.deployment_name, limits::MAX_TREE
            ),
        }));
    }
    *deployments += 1;
    Ok(())
}

/// A resource that failed before (or without) its PUT.
fn fail_state(st: &mut ResourceState, now: OffsetDateTime, status: &str, error: Value) {
    st.status = Status::Failed;
    st.ended_ms = Some(ms(now));
    st.status_code = Some(status.into());
    st.error = Some(error);
}

fn status_code_text(s: http::StatusCode) -> String {
    s.canonical_reason()
        .unwrap_or("Unknown")
        .split_whitespace()
        .collect::<String>()
}

/// PUT one resource through its provider.
fn start(
    state: &AppState,
    live: &Live<'_>,
    ev: &Evaluator<'_>,
    r: &PlannedResource,
    st: &mut ResourceState,
    root_key: &str,
    now: OffsetDateTime,
) {
    st.started_ms = Some(ms(now));
    let run = live.run();
    let body = match plan::evaluate_body(r, run.plan.body_of(r), ev) {
        Ok(b) => b,
        Err(e) => {
            let error = json!({
                "code": "InvalidTemplate",
                "message": format!(
                    "Unable to process template language expressions for resource '{}' at line '0' and column '0'. '{}'",
                    r.id, e.0
                ),
            });
            fail_state(st, now, "BadRequest", error);
            return;
        }
    };
    // The PUT is a request like a client's: no more than ARM takes in one.
    if limits::json_len(&body, limits::MAX_REQUEST_BYTES).is_none() {
        let e = ArmError::request_too_large(limits::MAX_REQUEST_BYTES);
        fail_state(st, now, "RequestEntityTooLarge", e.body()["error"].clone());
        return;
    }
    let nested = r
        .resource_type
        .eq_ignore_ascii_case("Microsoft.Resources/deployments");
    let call = InternalCall {
        nesting: nested.then(|| Nesting {
            root: root_key.to_string(),
            depth: run.tree.depth,
            work_left: ev.budget().left(),
        }),
        ..live.call.clone()
    };
    let resp = call.call(state, Method::PUT, &r.id, &r.api_version, Some(&body));
    // A nested deployment's plan was paid from this tree's budget.
    if let Some(work) = resp
        .headers
        .get(WORK_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        let _ = ev.budget().charge(work);
    }
    st.status_code = Some(status_code_text(resp.status));
    if !resp.status.is_success() {
        st.status = Status::Failed;
        st.ended_ms = Some(ms(now));
        st.error = Some(resp.body.get("error").cloned().unwrap_or_else(
            || json!({"code": status_code_text(resp.status), "message": resp.body.to_string()}),
        ));
        return;
    }
    let poll_url = ["azure-asyncoperation", "location"]
        .iter()
        .find_map(|h| resp.headers.get(*h).and_then(|v| v.to_str().ok()));
    st.poll = poll_url.and_then(operation_id_of);
    let state_now = resp.body["properties"]["provisioningState"].as_str();
    let terminal = state_now.is_none_or(|s| matches!(s, "Succeeded" | "Failed" | "Canceled"));
    if st.poll.is_some() || !terminal {
        st.status = Status::Running;
        // The provider may already have finished (zero delay): look once now.
        poll(state, st, now);
    } else if state_now == Some("Failed") {
        st.status = Status::Failed;
        st.ended_ms = Some(ms(now));
        st.error = Some(
            json!({"code": "ResourceFailed", "message": format!("The resource '{}' is in the terminal provisioning state 'Failed'.", r.id)}),
        );
    } else {
        st.status = Status::Succeeded;
        st.ended_ms = Some(ms(now));
    }
}

/// `…/operationStatuses/{id}?…` or `…/operationresults/{id}?…` → `{id}`.
fn operation_id_of(url: &str) -> Option<String> {
    let path = url.split('?').next()?;
    path.rsplit('/').next().map(str::to_string)
}

fn poll(state: &AppState, st: &mut ResourceState, now: OffsetDateTime) -> bool {
    let Some(op_id) = &st.poll else {
        // No operation to follow: the provider finished synchronously.
        st.status = Status::Succeeded;
        st.ended_ms = Some(ms(now));
        return true;
    };
    let Ok(Some(op)) = Operation::load(state.store.as_ref(), op_id) else {
        st.status = Status::Succeeded;
        st.ended_ms = Some(ms(now));
        return true;
    };
    match op.status {
        OpStatus::InProgress => false,
        OpStatus::Succeeded => {
            st.status = Status::Succeeded;
            st.status_code = Some("OK".into());
            st.ended_ms = Some(op.ended_ms.unwrap_or(ms(now)));
            true
        }
        OpStatus::Failed | OpStatus::Canceled => {
            st.status = Status::Failed;
            st.status_code = Some("Conflict".into());
            st.ended_ms = Some(op.ended_ms.unwrap_or(ms(now)));
            let mut error = op
                .error
                .clone()
                .unwrap_or(json!({"code": "Failed", "message": "The operation failed."}));
            bound_error(&mut error, MAX_ERROR_NESTING);
            st.error = Some(error);
            true
        }
    }
}

fn finish(
    state: &AppState,
    row: &mut Value,
    run: &mut Run,
    live: &Live<'_>,
    budget: &Rc<Budget>,
    now: OffsetDateTime,
) -> Result<(), ArmError> {
    let dep_id = row["id"].as_str().unwrap_or_default().to_string();
    let mut failures: Vec<Value> = Vec::new();
    for (r, st) in run.plan.resources.iter().zip(&run.states) {
        if st.status != Status::Failed {
            continue;
        }
        let err = st.error.clone().unwrap_or(json!({}));
        // An asynchronous failure is wrapped as ARM wraps it; a refused PUT is reported as is.
        if st.status_code.as_deref() == Some("Conflict") && st.poll.is_some() {
            failures.push(json!({
                "code": "ResourceDeploymentFailure",
                "target": r.id,
                "message": "The resource write operation failed to complete successfully, because it reached terminal provisioning state 'Failed'.",
                "details": [err],
            }));
        } else {
            failures.push(err);
        }
    }
    let mut error: Option<Value> = None;
    if !failures.is_empty() {
        error = Some(json!({
            "code": "DeploymentFailed",
            "target": dep_id,
            "message": "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
            "details": failures,
        }));
    } else {
        let evaluated = {
            let ev = evaluator(live.run, live, budget);
            plan::outputs(&live.run.request["template"], &ev)
        };
        match evaluated {
            Ok(Some(out)) => {
                row["properties"]["outputs"] = out;
                let mut st = ResourceState::new(Status::Succeeded, "EvaluateDeploymentOutput");
                st.started_ms = Some(ms(now));
                st.ended_ms = Some(ms(now));
                st.status_code = Some("OK".into());
                run.extra.push((Value::Null, st));
            }
            Ok(None) => {}
            Err(e) => {
                error = Some(json!({
                    "code": "InvalidTemplate",
                    "message": format!("Unable to evaluate template outputs: '{}'. Please see error details and deployment operations. Please see https://aka.ms/arm-common-errors for usage details.", e.0),
                }));
            }
        }
        if error.is_none() && run.request["mode"] == "Complete" {
            complete_mode_deletes(state, run, live, now)?;
        }
    }
    let ok = error.is_none();
    row["properties"]["provisioningState"] = json!(if ok { "Succeeded" } else { "Failed" });
    row["properties"]["timestamp"] = json!(arm_timestamp(now));
    row["properties"]["duration"] = json!(iso_duration(ms(now) - run.started_ms));
    row["properties"]["outputResources"] = json!(
        run.plan
            .resources
            .iter()
            .zip(&run.states)
            .filter(|(_, s)| s.status == Status::Succeeded)
            .map(|(r, _)| json!({"id": r.id}))
            .collect::<Vec<_>>()
    );
    let error = error.map(|mut e| {
        bound_error(&mut e, MAX_ERROR_NESTING);
        e
    });
    if let Some(e) = &error {
        row["properties"]["error"] = e.clone();
        if run.tree.root.is_none() {
            roll_back(state, row, live);
        }
    }
    if let Some(failed) = &run.rollback_of {
        rolled_back(state, failed, if ok { "Succeeded" } else { "Failed" })?;
    }
    if let Some(mut op) = Operation::load(state.store.as_ref(), &run.operation)? {
        op.finish(now, error);
        op.save(state.store.as_ref())?;
    }
    Ok(())
}

/// A failed deployment with an `onErrorDeployment`: the deployment it names
/// runs again, as it ran before (its template and parameters) in Complete
/// mode (the rollback-on-error docs), through the deployments route as the
/// failed deployment's caller. Its state shows in the failed deployment's
/// `onErrorDeployment.provisioningState`.
// TODO-fidelity: the name of the redeployment in the group's history was not
// found (searched azure-cli's on-error recordings, which never fail, and the
// rollback-on-error docs); the earlier deployment runs again under its own name.
fn roll_back(state: &AppState, row: &mut Value, live: &Live<'_>) {
    let Some(name) = row["properties"]["onErrorDeployment"]["deploymentName"]
        .as_str()
        .map(str::to_string)
    else {
        return;
    };
    let dep_id = row["id"].as_str().unwrap_or_default().to_string();
    let target = dep_id
        .parse::<crate::arm::ResourceId>()
        .ok()
        .and_then(|id| id.parent())
        .map(|rg| rg.child("Microsoft.Resources", "deployments", &name));
    let earlier = target.as_ref().and_then(|t| {
        state
            .store
            .get(tables::DEPLOYMENTS, &t.key())
            .ok()
            .flatten()
    });
    let (Some(target), Some(earlier)) = (target, earlier) else {
        row["properties"]["onErrorDeployment"]["provisioningState"] = json!("Failed");
        return;
    };
    let request = &earlier["_run"]["request"];
    let body = json!({"properties": {
        "template": request["template"],
        "parameters": request["parameters"],
        "mode": "Complete",
    }});
    let resp = live.call.call(
        state,
        Method::PUT,
        &target.to_string(),
        super::ROLLBACK_API_VERSION,
        Some(&body),
    );
    let started = resp.status.is_success()
        && state
            .store
            .get(tables::DEPLOYMENTS, &target.key())
            .ok()
            .flatten()
            .is_some_and(|mut t| {
                t["_run"]["rollback_of"] = json!(dep_id.to_ascii_lowercase());
                state
                    .store
                    .put(tables::DEPLOYMENTS, &target.key(), t)
                    .is_ok()
            });
    if !started {
        tracing::warn!(deployment = %dep_id, rollback = %name, body = %resp.body, "the deployment to be used on error could not start");
    }
    row["properties"]["onErrorDeployment"]["provisioningState"] = match started {
        true => resp.body["properties"]["provisioningState"].clone(),
        false => json!("Failed"),
    };
}

/// The redeployment of a failed deployment's `onErrorDeployment` ended.
fn rolled_back(state: &AppState, failed: &str, outcome: &str) -> Result<(), ArmError> {
    if let Some(mut f) = state.store.get(tables::DEPLOYMENTS, failed)? {
        f["properties"]["onErrorDeployment"]["provisioningState"] = json!(outcome);
        state.store.put(tables::DEPLOYMENTS, failed, f)?;
    }
    Ok(())
}

/// Complete mode: the group's top-level resources the template does not name are deleted.
fn complete_mode_deletes(
    state: &AppState,
    run: &mut Run,
    live: &Live<'_>,
    now: OffsetDateTime,
) -> Result<(), ArmError> {
    let Some(rg_id) = run
        .scope
        .resource_group
        .as_ref()
        .and_then(|g| g["id"].as_str())
    else {
        return Ok(());
    };
    let prefix = format!("{}/providers/", rg_id.to_ascii_lowercase());
    let keep: Vec<String> = run
        .plan
        .resources
        .iter()
        .map(|r| r.id.to_ascii_lowercase())
        .collect();
    for (key, v) in state.store.scan(tables::RESOURCES, &prefix)? {
        // `{ns}/{type}/{name}`: top level only (children go with their parents).
        if key[prefix.len()..].split('/').count() != 3 || keep.contains(&key) {
            continue;
        }
        let id = v["id"].as_str().unwrap_or(&key).to_string();
        let ty = v["type"].as_str().unwrap_or_default().to_string();
        let api = live.api_version_for(&id);
        let resp = live.call.call(state, Method::DELETE, &id, &api, None);
        let mut st = ResourceState::new(
            if resp.status.is_success() {
                Status::Succeeded
            } else {
                Status::Failed
            },
            "Delete",
        );
        st.started_ms = Some(ms(now));
        st.ended_ms = Some(ms(now));
        st.status_code = Some(status_code_text(resp.status));
        st.error = resp.body.get("error").cloned();
        let name = id.rsplit('/').next().unwrap_or_default().to_string();
        run.extra.push((
            json!({"id": id, "resourceType": ty, "resourceName": name}),
            st,
        ));
    }
    Ok(())
}

/// Cancel a running deployment: nothing more starts; what runs is left to finish.
pub fn cancel(state: &AppState, row: &mut Value, now: OffsetDateTime) -> Result<(), ArmError> {
    let mut run = run_of(row)?;
    for st in run
        .states
        .iter_mut()
        .filter(|s| s.status == Status::Waiting)
    {
        st.status = Status::Canceled;
    }
    row["properties"]["provisioningState"] = json!("Canceled");
    row["properties"]["duration"] = json!(iso_duration(ms(now) - run.started_ms));
    if let Some(mut op) = Operation::load(state.store.as_ref(), &run.operation)? {
        op.finish(
            now,
            Some(json!({"code": "DeploymentCanceled", "message": "The deployment was canceled."})),
        );
        op.status = OpStatus::Canceled;
        op.save(state.store.as_ref())?;
    }
    row["_run"] = serde_json::to_value(&run).map_err(ArmError::internal)?;
    Ok(())
}

/// `GET …/operations`: one entry per resource action started, plus output evaluation.
pub fn operations(row: &Value) -> Vec<Value> {
    let Ok(run) = run_of(row) else {
        return Vec::new();
    };
    let dep_id = row["id"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    let entries = run
        .plan
        .resources
        .iter()
        .zip(&run.states)
        .map(|(r, st)| {
            (
                Some(json!({"id": r.id, "resourceType": r.resource_type, "resourceName": r.name, "apiVersion": r.api_version})),
                st,
            )
        })
        .chain(
            run.extra
                .iter()
                .map(|(t, st)| (Some(t.clone()).filter(|t| !t.is_null()), st)),
        );
    for (target, st) in entries {
        let Some(started) = st.started_ms else {
            continue;
        };
        let state = match st.status {
            Status::Running => "Running",
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
            Status::Canceled => "Canceled",
            _ => continue,
        };
        let ended = st.ended_ms.unwrap_or(started);
        let mut props = json!({
            "provisioningOperation": st.provisioning_operation,
            "provisioningState": state,
            "timestamp": arm_timestamp(from_ms(ended)),
            "duration": iso_duration(ended - started),
            "trackingId": st.tracking_id,
            "serviceRequestId": st.tracking_id,
            "statusCode": st.status_code.clone().unwrap_or_else(|| "OK".into()),
            "statusMessage": match &st.error {
                Some(e) => json!({"status": "Failed", "error": e}),
                None => json!({"status": "OK"}),
            },
        });
        if let Some(t) = target {
            props["targetResource"] = t;
        }
        out.push(json!({
            "id": format!("{dep_id}/operations/{}", st.operation_id),
            "operationId": st.operation_id,
            "properties": props,
        }));
    }
    out
}
