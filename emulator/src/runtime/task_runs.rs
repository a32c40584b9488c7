//! Carrying out an ACR task run when its operation settles.
//!
//! A run logs in to its home registry (the run's own token) and to every
//! custom registry in the task's credentials (the task's system- or
//! user-assigned identity, or a username and password), builds, and pushes
//! the images it names — each login and push through the same decisions any
//! client meets: the registry's network rules for a task agent
//! ([`crate::network::Origin::AcrTask`]), then [`crate::acr::granted`].
//!
//! The context is the uploaded tarball, or the local mirror of a git
//! context (`--task-context-dir`). With a container engine attached
//! (`--container-engine`), a build runs in it: every FROM is pulled through
//! the one pull sequence with the run's credentials and loaded first (the
//! engine never pulls), the engine's builder executes the Dockerfile, and the
//! image it made is saved back out and pushed; `cmd` steps run their image and
//! its exit code decides the step. Without an engine nothing is executed and
//! the log says so (a simulation): the image is a real OCI image whose
//! single layer records the build inputs. The log is written in ACR's style
//! and served through the run's log SAS URL ([`crate::storage`]).

use crate::acr::registry as registries;
use crate::acr::runs as tasks;
use crate::acr::{Caller, Scope, granted};
use crate::arm::lro::queue;
use crate::arm::{ArmError, ResourceId};
use crate::clock::arm_timestamp;
use crate::entra::{Principal, PrincipalKind};
use crate::network::{Origin, Reach, TaskAuth, registry_reachable};
use crate::runtime::scheduler::Finish;
use crate::state::AppState;
use crate::store::tables;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The public address task agents come from (for firewall messages).
pub const TASK_AGENT_IP: [u8; 4] = [20, 42, 66, 17];

/// A task's timer triggers are due (its row `key` in the schedule): queue a
/// run for every occurrence that emulated time has passed since the task was
/// last checked (at most 10 per trigger), and schedule the next occurrence.
pub fn fire_timers(
    state: &AppState,
    now: OffsetDateTime,
    task_key: &str,
    entry: &str,
) -> Result<usize, ArmError> {
    let fired = fire_timer(state, now, task_key)?;
    // A row the watch no longer names (it moved on, or went) goes.
    let current = state
        .store
        .get(tables::ACR_TASK_TIMERS, task_key)?
        .and_then(|w| w["due"].as_i64())
        .map(|due| timer_entry(task_key, due));
    if current.as_deref() != Some(entry) {
        state.store.delete(queue::TABLE, entry)?;
    }
    Ok(fired)
}

/// The runs one task's timers owe since it was last checked.
fn fire_timer(state: &AppState, now: OffsetDateTime, key: &str) -> Result<usize, ArmError> {
    let Some(watch) = state.store.get(tables::ACR_TASK_TIMERS, key)? else {
        return Ok(0);
    };
    let Some(task) = state.store.get(tables::RESOURCES, key)? else {
        unwatch_timers(state, key)?;
        return Ok(0);
    };
    let since = watch["checked"].as_str().and_then(|t| {
        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    });
    let Some(since) = since else {
        // Unreadable: start watching again from now (no occurrence is made up).
        watch_timers(state, key, &task, now)?;
        return Ok(0);
    };
    if since >= now {
        watch_timers(state, key, &task, since)?;
        return Ok(0);
    }
    watch_timers(state, key, &task, now)?;
    let Some(registry_id) = task["id"]
        .as_str()
        .and_then(|i| i.parse::<ResourceId>().ok())
        .and_then(|i| i.parent())
    else {
        return Ok(0);
    };
    let Some(registry) = registries::load(state, &registry_id)? else {
        return Ok(0);
    };
    let mut fired = 0;
    for (timer, cron) in timers(&task) {
        for at in cron.between(since, now, 10) {
            let body = json!({"type": "TaskRunRequest", "taskId": task["id"]});
            let trigger = json!({
                "timerTriggerName": timer["name"],
                "scheduleOccurrence": arm_timestamp(at),
            });
            if let Some(b) = body.as_object() {
                tasks::start_run(state, at, &registry_id, &registry, b, Some(trigger))?;
                fired += 1;
            }
        }
    }
    Ok(fired)
}

/// A task's enabled timer triggers with their schedules.
fn timers(task: &Value) -> impl Iterator<Item = (&Value, Cron)> {
    task["properties"]["trigger"]["timerTriggers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["status"] != "Disabled")
        .filter_map(|t| Some((t, t["schedule"].as_str().and_then(Cron::parse)?)))
}

/// The schedule's row for a task's next timer occurrence.
fn timer_entry(task_key: &str, due_ms: i64) -> String {
    queue::key(queue::TIMED, due_ms, &format!("{}{task_key}", queue::TIMER))
}

/// Watch the timer triggers of `task` (stored at `key`) from `checked` on:
/// the watch row (`acr_task_timers`) and, in the schedule, its next
/// occurrence, replacing what was there.
pub fn watch_timers(
    state: &AppState,
    key: &str,
    task: &Value,
    checked: OffsetDateTime,
) -> Result<(), ArmError> {
    unschedule(state, key)?;
    let mut watch = json!({"checked": arm_timestamp(checked)});
    if let Some(next) = timers(task)
        .filter_map(|(_, c)| c.next_after(checked))
        .min()
    {
        let due = (next.unix_timestamp_nanos() / 1_000_000) as i64;
        watch["due"] = json!(due);
        queue::put(state.store.as_ref(), &timer_entry(key, due))?;
    }
    state.store.put(tables::ACR_TASK_TIMERS, key, watch)?;
    Ok(())
}

/// Stop watching a task's timers.
pub fn unwatch_timers(state: &AppState, key: &str) -> Result<(), ArmError> {
    unschedule(state, key)?;
    state.store.delete(tables::ACR_TASK_TIMERS, key)?;
    Ok(())
}

/// Remove the schedule's row the watch at `key` names (an unreadable watch names none).
fn unschedule(state: &AppState, key: &str) -> Result<(), ArmError> {
    let watch = match state.store.get(tables::ACR_TASK_TIMERS, key) {
        Ok(w) => w,
        Err(crate::store::StoreError::Unreadable { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(due) = watch.and_then(|w| w["due"].as_i64()) {
        state.store.delete(queue::TABLE, &timer_entry(key, due))?;
    }
    Ok(())
}

/// A task was written: tasks with enabled timer triggers are watched from
/// now on (occurrences before a task had its timer do not fire), a watched
/// one keeps the moment it was last checked (its schedule may have changed),
/// and one without any stops being watched.
pub fn sync_timers(state: &AppState, task: &Value, now: OffsetDateTime) -> Result<(), ArmError> {
    let key = task["id"].as_str().unwrap_or_default().to_ascii_lowercase();
    let enabled = task["properties"]["status"] != "Disabled"
        && task["properties"]["trigger"]["timerTriggers"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["status"] != "Disabled"));
    match (enabled, state.store.get(tables::ACR_TASK_TIMERS, &key)?) {
        (true, None) => watch_timers(state, &key, task, now),
        (true, Some(watch)) => {
            let checked = checked_of(&watch).unwrap_or(now);
            watch_timers(state, &key, task, checked)
        }
        (false, Some(_)) => unwatch_timers(state, &key),
        (false, None) => Ok(()),
    }
}

fn checked_of(watch: &Value) -> Option<OffsetDateTime> {
    watch["checked"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
}

/// Rebuilding the schedule: a watched task's next occurrence goes back in
/// (a watch whose task is gone goes).
pub fn rewatch_timers(
    state: &AppState,
    key: &str,
    watch: &Value,
    now: OffsetDateTime,
) -> Result<(), ArmError> {
    match state.store.get(tables::RESOURCES, key) {
        Ok(Some(task)) => watch_timers(state, key, &task, checked_of(watch).unwrap_or(now)),
        Ok(None) => unwatch_timers(state, key),
        // Unreadable: left as it is, as settling leaves it.
        Err(crate::store::StoreError::Unreadable { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A five-field cron schedule (minute hour day-of-month month day-of-week, UTC)
/// as timer triggers write it: `*`, `a`, `a-b`, `*/n`, `a-b/n` and lists.
pub struct Cron {
    fields: [Vec<bool>; 5],
    dom_any: bool,
    dow_any: bool,
}

impl Cron {
    pub fn parse(s: &str) -> Option<Cron> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.len() != 5 {
            return None;
        }
        let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
        let mut fields: [Vec<bool>; 5] = Default::default();
        for (i, (p, (lo, hi))) in parts.iter().zip(ranges).enumerate() {
            let mut set = vec![false; hi + 1];
            for item in p.split(',') {
                let (range, step) = match item.split_once('/') {
                    Some((r, st)) => (r, st.parse::<usize>().ok().filter(|s| *s > 0)?),
                    None => (item, 1),
                };
                let (a, b) = match range {
                    "*" => (lo, hi),
                    r => match r.split_once('-') {
                        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                        None => {
                            let v: usize = r.parse().ok()?;
                            (v, if item.contains('/') { hi } else { v })
                        }
                    },
                };
                if a < lo || b > hi || a > b {
                    return None;
                }
                for v in (a..=b).step_by(step) {
                    set[v] = true;
                }
            }
            if i == 4 && set[7] {
                set[0] = true;
            }
            fields[i] = set;
        }
        Some(Cron {
            fields,
            dom_any: parts[2] == "*",
            dow_any: parts[4] == "*",
        })
    }

    pub fn matches(&self, t: OffsetDateTime) -> bool {
        let f = &self.fields;
        f[0][t.minute() as usize]
            && f[1][t.hour() as usize]
            && f[3][t.month() as u8 as usize]
            && self.day_matches(t)
    }

    fn day_matches(&self, t: OffsetDateTime) -> bool {
        let f = &self.fields;
        let dom = f[2][t.day() as usize];
        let dow = f[4][t.weekday().number_days_from_sunday() as usize];
        match (self.dom_any, self.dow_any) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// The first occurrence after `from` (whole minutes, UTC), looking at
    /// most five years ahead: months, days and hours that cannot match are
    /// skipped whole.
    pub fn next_after(&self, from: OffsetDateTime) -> Option<OffsetDateTime> {
        use time::{Duration, Month};
        let from = from.to_offset(time::UtcOffset::UTC);
        let end = from + Duration::days(5 * 366);
        let mut t = from.replace_second(0).ok()?.replace_nanosecond(0).ok()? + Duration::minutes(1);
        let f = &self.fields;
        while t <= end {
            if !f[3][t.month() as u8 as usize] {
                let (y, m) = match t.month() {
                    Month::December => (t.year() + 1, Month::January),
                    m => (t.year(), m.next()),
                };
                t = time::Date::from_calendar_date(y, m, 1)
                    .ok()?
                    .midnight()
                    .assume_utc();
            } else if !self.day_matches(t) {
                t = t.date().next_day()?.midnight().assume_utc();
            } else if !f[1][t.hour() as usize] {
                t = t.replace_minute(0).ok()? + Duration::hours(1);
            } else if !f[0][t.minute() as usize] {
                t += Duration::minutes(1);
            } else {
                return Some(t);
            }
        }
        None
    }

    /// Occurrences in (`from`, `to`], whole minutes, at most `limit` (the latest ones).
    pub fn between(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: usize,
    ) -> Vec<OffsetDateTime> {
        let mut out = Vec::new();
        // Look back at most 31 days: older occurrences are not worth a run each.
        let start = from.max(to - time::Duration::days(31));
        let Ok(mut t) = start
            .replace_second(0)
            .and_then(|t| t.replace_nanosecond(0))
        else {
            return out;
        };
        t += time::Duration::minutes(1);
        while t <= to {
            if self.matches(t) {
                out.push(t);
            }
            t += time::Duration::minutes(1);
        }
        let skip = out.len().saturating_sub(limit);
        out.split_off(skip)
    }
}

/// A queued run is picked up (its operation's wake time has come): `Running`.
pub fn mark_running(state: &AppState, key: &str, now: OffsetDateTime) -> Result<(), ArmError> {
    if let Some(mut row) = state.store.get(tables::ACR_RUNS, key)?
        && row["properties"]["status"] == "Queued"
    {
        row["properties"]["status"] = json!("Running");
        row["properties"]["startTime"] = json!(arm_timestamp(now));
        row["properties"]["lastUpdatedTime"] = json!(arm_timestamp(now));
        state.store.put(tables::ACR_RUNS, key, row)?;
    }
    Ok(())
}

/// `POST runs/{id}/cancel`: a run not yet finished ends Canceled.
pub fn cancel(state: &AppState, key: &str, mut row: Value) -> Result<(), ArmError> {
    let status = row["properties"]["status"].as_str().unwrap_or_default();
    if !matches!(status, "Queued" | "Started" | "Running") {
        return Ok(());
    }
    let now = state.clock.now();
    let mut log = Log::new(now);
    log.line("Run was canceled by the user.");
    row["properties"]["status"] = json!("Canceled");
    row["properties"]["finishTime"] = json!(arm_timestamp(now));
    row["properties"]["lastUpdatedTime"] = json!(arm_timestamp(now));
    state.store.put(tables::ACR_RUNS, key, row)?;
    crate::storage::write_log(state, key, &log.text, Some("canceled"))
}

/// The run's log, in ACR's format (`YYYY/MM/DD HH:MM:SS message`, CRLF line ends,
/// which az's streamer splits on).
struct Log {
    text: String,
    now: OffsetDateTime,
    /// The run's decisions (logins, pulls, pushes), kept as a trace (kind `acr-task-run`).
    trace: crate::trace::Trace,
    /// Where the log so far is written as the run goes ([`Log::flush`]): a
    /// run carried out away from the settle. `None`: written once, at its end.
    sink: Option<(AppState, String)>,
}

impl Log {
    fn new(now: OffsetDateTime) -> Self {
        Log {
            text: String::new(),
            now,
            trace: crate::trace::Trace::new("acr-task-run", "", "", arm_timestamp(now)),
            sink: None,
        }
    }

    /// The trace names the run stored at `key` (`row`).
    fn follow(&mut self, row: &Value, key: String) {
        self.trace.resource = row["id"].as_str().map(str::to_string).unwrap_or(key);
        self.trace.target = match row["properties"]["task"].as_str() {
            Some(t) => format!("run of task {t}"),
            None => "a quick run".to_string(),
        };
    }

    /// Write the log so far (not complete), if it has a sink.
    fn flush(&self) {
        if let Some((state, key)) = &self.sink
            && let Err(e) = crate::storage::write_log(state, key, &self.text, None)
        {
            tracing::warn!(run = %key, error = %e.message, "the run's log so far was not written");
        }
    }

    /// Record one check of the run's auth path.
    fn check(&mut self, check: &str, passed: bool, detail: impl Into<String>) {
        self.trace.step(check, passed, detail);
    }

    fn line(&mut self, msg: &str) {
        let t = self.now;
        self.text.push_str(&format!(
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02} {msg}\r\n",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ));
    }

    fn raw(&mut self, msg: &str) {
        self.text.push_str(msg);
        self.text.push_str("\r\n");
    }
}

/// What a run presents to one registry.
struct Login {
    caller: Caller,
    auth: TaskAuth,
}

/// The run stored at `key` is due. Without a container engine it is quick
/// and pure (nothing executes): carried out here, in the settle's
/// transaction. With one, its steps build and run in the engine, which takes
/// as long as they take: the run is `Running` now, and the rest goes on away
/// from the settle with no transaction held ([`Finish::Later`]), so other
/// requests do not wait for the engine; its outcome commits with the
/// operation's end.
pub fn finish(state: &AppState, key: &str) -> Finish {
    if state.containers.engine_label().is_none() {
        return Finish::Done(execute(state, key));
    }
    match state.store.get(tables::ACR_RUNS, key) {
        Ok(Some(row)) if !ended(&row) => {}
        Ok(_) => return Finish::Done(Ok(())),
        Err(e) => return Finish::Done(Err(e.into())),
    }
    if let Err(e) = mark_running(state, key, state.clock.now()) {
        return Finish::Done(Err(e));
    }
    let (state, key) = (state.clone(), key.to_string());
    Finish::Later(Box::new(move || {
        let begun = state
            .store
            .get(tables::ACR_RUNS, &key)
            .map_err(ArmError::from)
            .map(|row| row.filter(|r| !ended(r)));
        let (log, outcome) = match begun {
            Ok(Some(row)) => {
                let mut log = Log::new(state.clock.now());
                log.follow(&row, key.clone());
                // The log grows as the run goes (az streams it meanwhile).
                log.sink = Some((state.clone(), key.clone()));
                let outcome = run(&state, &key, &row, &mut log);
                (Some(log), outcome)
            }
            Ok(None) => (None, Ok(Vec::new())),
            Err(e) => return Box::new(move || Err(e)),
        };
        Box::new(move || match log {
            Some(log) => conclude(&state, &key, log, outcome),
            None => Ok(()),
        })
    }))
}

/// Whether a run has ended (a canceled one included).
fn ended(row: &Value) -> bool {
    matches!(
        row["properties"]["status"].as_str(),
        Some("Canceled" | "Succeeded" | "Failed" | "Error" | "Timeout")
    )
}

/// Carry out the run stored at `key` (its operation is due) in the
/// caller's transaction. The run's failure is the run's status, and its
/// operation's.
pub fn execute(state: &AppState, key: &str) -> Result<(), ArmError> {
    let Some(row) = state.store.get(tables::ACR_RUNS, key)? else {
        return Ok(());
    };
    if ended(&row) {
        return Ok(());
    }
    let mut log = Log::new(state.clock.now());
    log.follow(&row, key.to_string());
    let outcome = run(state, key, &row, &mut log);
    conclude(state, key, log, outcome)
}

/// The run's end: its status, output images and log, written to the run as
/// it is now (one canceled meanwhile stays canceled). The run's failure
/// fails its operation: a taskRun (and a deployment waiting on one) reports it.
fn conclude(
    state: &AppState,
    key: &str,
    mut log: Log,
    outcome: Result<Vec<Value>, String>,
) -> Result<(), ArmError> {
    let Some(mut row) = state.store.get(tables::ACR_RUNS, key)? else {
        return Ok(());
    };
    if ended(&row) {
        return Ok(());
    }
    let now = state.clock.now();
    let started = row["properties"]["startTime"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| arm_timestamp(now));
    let (status, complete) = match &outcome {
        Ok(_) => ("Succeeded", "succeeded"),
        Err(_) => ("Failed", "failed"),
    };
    let run_id = row["properties"]["runId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match &outcome {
        Ok(images) => {
            row["properties"]["outputImages"] = json!(images);
            log.raw("");
            log.raw(&format!("Run ID: {run_id} was successful after 0s"));
        }
        Err(reason) => {
            log.raw(&format!("failed to run step: {reason}"));
            log.raw(&format!(
                "Run ID: {run_id} failed after 0s. Error: {reason}"
            ));
            row["properties"]["runErrorMessage"] = json!(reason);
        }
    }
    row["properties"]["status"] = json!(status);
    row["properties"]["startTime"] = json!(started);
    row["properties"]["finishTime"] = json!(arm_timestamp(now));
    row["properties"]["lastUpdatedTime"] = json!(arm_timestamp(now));
    let outcome_text = match &outcome {
        Ok(_) => format!("Run ID: {run_id} was successful"),
        Err(reason) => format!("Run ID: {run_id} failed. Error: {reason}"),
    };
    log.trace.clone().finish(&state.traces, outcome_text);
    state.store.put(tables::ACR_RUNS, key, row)?;
    crate::storage::write_log(state, key, &log.text, Some(complete))?;
    match outcome {
        Ok(_) => Ok(()),
        Err(reason) => Err(ArmError::new(
            http::StatusCode::BAD_REQUEST,
            "TaskRunFailed",
            format!("Run ID: {run_id} failed. Error: {reason}"),
        )),
    }
}

/// Whether the run at `key` was canceled while it ran (`POST runs/{id}/cancel`),
/// or is gone.
fn canceled(state: &AppState, key: &str) -> bool {
    state
        .store
        .get(tables::ACR_RUNS, key)
        .ok()
        .flatten()
        .is_none_or(|r| r["properties"]["status"] == "Canceled")
}

/// The run itself: the images it pushed, or why it failed.
fn run(state: &AppState, key: &str, row: &Value, log: &mut Log) -> Result<Vec<Value>, String> {
    let internals = &row["_run"];
    let step = &internals["step"];
    let registry_id: ResourceId = internals["registry"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or("the run's registry is gone")?;
    let home = registries::load(state, &registry_id)
        .ok()
        .flatten()
        .ok_or("the run's registry is gone")?;
    let home_server = home["properties"]["loginServer"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let run_id = row["properties"]["runId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let task = match row["properties"]["task"].as_str() {
        Some(t) => tasks::load_task(state, &registry_id, t).ok().flatten(),
        None => None,
    };
    let run_date = log.now.date().to_string().replace('-', "");
    let vars = |s: &str| {
        s.replace("{{.Run.ID}}", &run_id)
            .replace("{{.Run.Registry}}", &home_server)
            .replace("{{.Run.RegistryName}}", registry_id.name())
            .replace("{{.Run.Date}}", &run_date)
            .replace("{{.Run.OS}}", "linux")
            .replace("{{.Run.Architecture}}", "amd64")
    };

    // Source: an uploaded context (az acr build / task run -c <dir>), or a URL.
    log.line("Downloading source code...");
    let context = step["contextPath"]
        .as_str()
        .or_else(|| step["sourceLocation"].as_str())
        .unwrap_or("")
        .to_string();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut source = Source::None;
    if context.starts_with("source/") {
        let bytes = crate::storage::uploaded_source(state, &registry_id.key(), &context)
            .ok_or_else(|| format!("the uploaded source '{context}' was not found"))?;
        files = untar_gz(&bytes).map_err(|e| format!("failed to unpack the source: {e}"))?;
        source = Source::Uploaded(bytes);
    } else if context.is_empty() || context == "/dev/null" {
        log.line("No source context: building from the task definition.");
    } else {
        match mirror_of(state, &context) {
            Some(dir) => {
                files = read_dir_files(&dir).map_err(|e| format!("failed to read the local mirror of '{context}': {e}"))?;
                log.line(&format!("Using the local mirror of '{context}' at '{}'", dir.display()));
                source = Source::Mirror(dir);
            }
            None => log.line(&format!(
                "azemu is offline and no local mirror is configured for '{context}': building from the task definition alone."
            )),
        }
    }
    log.line("Finished downloading source code");
    log.line("Setting up Docker configuration...");
    log.line("Successfully set up Docker configuration");

    // Logins: the home registry with the run's token, then the task's custom registries.
    log.line(&format!("Logging in to registry: {home_server}"));
    // The run's own token has the home registry's data access, except in ABAC
    // mode, where a task has only what `credentials.sourceRegistry.identity` is granted.
    let home_login = if home["properties"]["roleAssignmentMode"] == "AbacRepositoryPermissions" {
        match task
            .as_ref()
            .and_then(|t| t["properties"]["credentials"]["sourceRegistry"]["identity"].as_str())
        {
            Some(ident) => identity_login(state, task.as_ref(), ident)?,
            None => Login {
                caller: Caller::Anonymous,
                auth: TaskAuth::SystemIdentity,
            },
        }
    } else {
        Login {
            caller: Caller::Admin,
            auth: TaskAuth::SystemIdentity,
        }
    };
    if let Err(m) = reach(&home, &home_login) {
        log.check(
            "network",
            false,
            format!("{home_server} from the task agent: {m}"),
        );
        return Err(m);
    }
    log.check(
        "network",
        true,
        format!("{home_server} reachable from the task agent"),
    );
    log.line(&format!("Successfully logged into {home_server}"));
    let mut logins: Vec<(String, Value, Login)> = Vec::new();
    // The task's credentials, or a quick run's own (`credentials` in the run request).
    if let Some(creds) = task
        .as_ref()
        .and_then(|t| t["properties"]["credentials"]["customRegistries"].as_object())
        .or_else(|| internals["request"]["credentials"]["customRegistries"].as_object())
    {
        for (server, cred) in creds {
            if cred.is_null() {
                continue;
            }
            log.line(&format!("Logging in to registry: {server}"));
            let (registry, login) = login_to(state, task.as_ref(), server, cred).map_err(|e| {
                let check = if e.starts_with("denied:") {
                    "network"
                } else if e.starts_with("dial tcp") {
                    "registry"
                } else {
                    "credentials"
                };
                log.check(check, false, format!("login to {server}: {e}"));
                log.line(&format!(
                    "Error response from daemon: Get \"https://{server}/v2/\": {e}"
                ));
                format!("failed to login to registry '{server}': {e}")
            })?;
            log.check("credentials", true, format!("logged in to {server}"));
            log.line(&format!("Successfully logged into {server}"));
            logins.push((server.to_ascii_lowercase(), registry, login));
        }
    }

    // Steps: a Docker step is a build then a push; a task file (FileTask) or
    // an encoded one (EncodedTask, `az acr run`) lists its own.
    let ctx = Ctx {
        state,
        home: &home,
        home_login: &home_login,
        logins: &logins,
        home_server: &home_server,
        run_id: &run_id,
        files: &files,
        source,
        context: &context,
        task: row["properties"]["task"].clone(),
        created: arm_timestamp(log.now),
        engine: RunEngine::of(state, &run_id).transpose()?,
    };
    let steps = match step["type"].as_str().unwrap_or("Docker") {
        "Docker" => {
            let tags: Vec<String> = step["imageNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(vars)
                .collect();
            let args = step["arguments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| {
                    Some((
                        a["name"].as_str()?.to_string(),
                        a["value"].as_str().unwrap_or("").to_string(),
                    ))
                })
                .collect();
            let mut steps = vec![Step::Build {
                id: "build".into(),
                tags: tags.clone(),
                dockerfile: step["dockerFilePath"]
                    .as_str()
                    .unwrap_or("Dockerfile")
                    .to_string(),
                args,
            }];
            if step["isPushEnabled"] != false && !tags.is_empty() {
                steps.push(Step::Push {
                    id: "push".into(),
                    tags,
                });
            }
            steps
        }
        "EncodedTask" | "FileTask" => {
            let yaml = if step["type"] == "EncodedTask" {
                use base64::Engine;
                let raw = step["encodedTaskContent"].as_str().unwrap_or_default();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(raw.as_bytes())
                    .map_err(|_| "the encoded task content is not valid base64".to_string())?;
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                let path = step["taskFilePath"].as_str().unwrap_or("acb.yaml");
                files
                    .iter()
                    .find(|(n, _)| n.trim_start_matches("./") == path.trim_start_matches("./"))
                    .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
                    .ok_or_else(|| format!("the task file '{path}' is not in the source context"))?
            };
            parse_task_file(&yaml, &vars)?
        }
        other => return Err(format!("the step type '{other}' is not valid")),
    };

    let mut built: Vec<(String, std::rc::Rc<Built>)> = Vec::new();
    let mut pushed = Vec::new();
    for s in &steps {
        log.flush();
        if canceled(state, key) {
            // Canceled while it ran: what is left does not start.
            return Err("the run was canceled".into());
        }
        match s {
            Step::Build {
                id,
                tags,
                dockerfile,
                args,
            } => {
                log.line(&format!(
                    "Executing step ID: {id}. Timeout(sec): 3600, Working directory: '', Network: ''"
                ));
                let b = std::rc::Rc::new(build(&ctx, log, id, dockerfile, args)?);
                for t in tags {
                    let full = qualified(t, &home_server);
                    log.raw(&format!("Successfully tagged {full}"));
                    built.push((full.to_ascii_lowercase(), b.clone()));
                }
                log.line(&format!(
                    "Step ID: {id} marked as successful (elapsed time in seconds: 0.000000)"
                ));
            }
            Step::Push { id, tags } => {
                log.line(&format!(
                    "Executing step ID: {id}. Timeout(sec): 3600, Working directory: '', Network: ''"
                ));
                for t in tags {
                    let full = qualified(t, &home_server);
                    let Some((_, b)) = built.iter().find(|(k, _)| *k == full.to_ascii_lowercase())
                    else {
                        let e = format!("An image does not exist locally with the tag: {full}");
                        log.raw(&e);
                        return Err(e);
                    };
                    pushed.push(push(&ctx, log, b, &full)?);
                }
                log.line(&format!(
                    "Step ID: {id} marked as successful (elapsed time in seconds: 0.000000)"
                ));
            }
            Step::Cmd { id, image, args } => {
                log.line(&format!(
                    "Executing step ID: {id}. Timeout(sec): 3600, Working directory: '', Network: ''"
                ));
                let full = qualified(image, &home_server);
                let ours = built
                    .iter()
                    .find(|(k, _)| *k == full.to_ascii_lowercase())
                    .map(|(_, b)| b.engine_tag.clone());
                let runnable = match (&ctx.engine, ours) {
                    (Some(_), Some(Some(tag))) => Some(tag),
                    (Some(engine), None) => {
                        let (digest, _) =
                            pull_base(state, image, &home, &home_login, &logins, log)?;
                        Some(engine.load(&digest, image)?)
                    }
                    (None, Some(_)) | (Some(_), Some(None)) => {
                        log.line(&format!(
                            "Launching container with name: {id}: azemu: simulation: no container engine ran it; {full} was built by this run and its command is not executed."
                        ));
                        None
                    }
                    (None, None) => {
                        pull_base(state, image, &home, &home_login, &logins, log)?;
                        log.line(&format!(
                            "Launching container with name: {id}: azemu: simulation: no container engine is attached; {image} was pulled and its command is not executed."
                        ));
                        None
                    }
                };
                if let (Some(engine), Some(tag)) = (&ctx.engine, runnable) {
                    log.line(&format!("Launching container with name: {id}"));
                    let (code, output) = engine.run(id, &tag, args)?;
                    for l in output.lines() {
                        log.raw(l);
                    }
                    if code != 0 {
                        // TODO-fidelity: ACR's words for a cmd step whose container
                        // exits non-zero; found only "failed to run step ID: <id>:
                        // ... exit status 1" (Azure/azure-cli#21846), which the run's
                        // end line then carries.
                        log.line(&format!(
                            "Container failed during run: {id}. No retries remaining."
                        ));
                        return Err(format!("failed to run step ID: {id}: exit status {code}"));
                    }
                }
                log.line(&format!("Successfully executed container: {id}"));
                log.line(&format!(
                    "Step ID: {id} marked as successful (elapsed time in seconds: 0.000000)"
                ));
            }
        }
    }
    log.line("The following dependencies were found:");
    for p in &pushed {
        log.line(&format!(
            "\r\n- image:\r\n    registry: {}\r\n    repository: {}\r\n    tag: {}\r\n    digest: {}\r\n  runtime-dependency: null\r\n  git: {{}}",
            p["registry"].as_str().unwrap_or_default(),
            p["repository"].as_str().unwrap_or_default(),
            p["tag"].as_str().unwrap_or_default(),
            p["digest"].as_str().unwrap_or_default()
        ));
    }
    Ok(pushed)
}

/// What every step of one run shares.
struct Ctx<'a> {
    state: &'a AppState,
    home: &'a Value,
    home_login: &'a Login,
    logins: &'a [(String, Value, Login)],
    home_server: &'a str,
    run_id: &'a str,
    files: &'a [(String, Vec<u8>)],
    /// Where `files` came from, for the engine's build context.
    source: Source,
    context: &'a str,
    task: Value,
    created: String,
    /// The container engine, when one is attached: the run builds and runs in it.
    engine: Option<RunEngine<'a>>,
}

enum Step {
    Build {
        id: String,
        tags: Vec<String>,
        dockerfile: String,
        args: Vec<(String, String)>,
    },
    Push {
        id: String,
        tags: Vec<String>,
    },
    Cmd {
        id: String,
        image: String,
        /// The container's command (after the image in `cmd:`).
        args: Vec<String>,
    },
}

/// An image built by this run, not yet pushed.
struct Built {
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
    base_layers: Vec<(String, usize)>,
    /// Its tag in the container engine, when an engine built it.
    engine_tag: Option<String>,
}

/// `docker build`: read the Dockerfile from the context, pull its FROMs, record the rest.
fn build(
    ctx: &Ctx<'_>,
    log: &mut Log,
    id: &str,
    dockerfile: &str,
    args: &[(String, String)],
) -> Result<Built, String> {
    log.line("Scanning for dependencies...");
    let wanted = dockerfile.trim_start_matches("./");
    let dockerfile_text = ctx
        .files
        .iter()
        .find(|(n, _)| n.trim_start_matches("./") == wanted)
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned());
    let instructions = match &dockerfile_text {
        Some(text) => parse_dockerfile(text, args),
        None if ctx.files.is_empty() => {
            log.line(&format!(
                "The Dockerfile '{dockerfile}' is not available offline: no base image to pull."
            ));
            Vec::new()
        }
        None => {
            return Err(format!(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat /workspace/{wanted}: no such file or directory"
            ));
        }
    };
    log.line("Successfully obtained source code and scanned for dependencies");
    if let (Some(engine), Some(_)) = (ctx.engine.as_ref(), &dockerfile_text) {
        return engine_build(ctx, log, engine, id, dockerfile, &instructions, args);
    }
    log.line(if ctx.engine.is_some() {
        "azemu: simulation: the Dockerfile is not available offline, so nothing is executed; the image records the build inputs."
    } else {
        "azemu: simulation: no container engine is attached, so RUN, COPY and the other instructions are not executed; the image records the build inputs."
    });
    let total = instructions.len() + 1;
    let mut base: Option<crate::oci::images::Base> = None;
    let mut stages: Vec<String> = Vec::new();
    for (n, ins) in instructions.iter().enumerate() {
        log.raw(&format!("Step {}/{total} : {}", n + 1, ins.text));
        if let Some((image, alias)) = &ins.from {
            if stages.iter().any(|s| s.eq_ignore_ascii_case(image)) || image == "scratch" {
                base = None;
            } else {
                base =
                    Some(pull_base(ctx.state, image, ctx.home, ctx.home_login, ctx.logins, log)?.1);
            }
            if let Some(a) = alias {
                stages.push(a.clone());
            }
        }
        log.raw(&format!(
            " ---> {}",
            &crate::oci::blobs::digest_of(ins.text.as_bytes())[7..19]
        ));
    }
    let inputs = json!({
        "runId": ctx.run_id,
        "registry": ctx.home_server,
        "task": ctx.task,
        "context": ctx.context,
        "dockerfile": dockerfile,
        "instructions": instructions.iter().map(|i| i.text.clone()).collect::<Vec<_>>(),
        "contextFiles": ctx.files.iter().map(|(n, b)| json!({"name": n, "size": b.len()})).collect::<Vec<_>>(),
        "buildArgs": args.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
    });
    let labels = json!({
        "io.azemu.run-id": ctx.run_id,
        "io.azemu.context": ctx.context,
        "io.azemu.dockerfile": dockerfile,
    });
    let mut layer_files: Vec<(&str, Vec<u8>)> = vec![(
        "azemu-build.json",
        serde_json::to_vec_pretty(&inputs).unwrap_or_default(),
    )];
    if let Some(text) = &dockerfile_text {
        layer_files.push(("Dockerfile", text.as_bytes().to_vec()));
    }
    let (manifest, blobs) =
        crate::oci::images::build(&layer_files, &labels, &ctx.created, base.as_ref());
    log.raw(&format!(
        "Step {total}/{total} : LABEL io.azemu.run-id={}",
        ctx.run_id
    ));
    let digest = crate::oci::blobs::digest_of(&manifest);
    log.raw(&format!("Successfully built {}", &digest[7..19]));
    let base_layers = base
        .as_ref()
        .map(|b| {
            b.layers
                .iter()
                .filter_map(|l| {
                    Some((
                        l["digest"].as_str()?.to_string(),
                        l["size"].as_u64().unwrap_or(0) as usize,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Built {
        manifest,
        blobs,
        base_layers,
        engine_tag: None,
    })
}

/// A run's source context.
enum Source {
    None,
    /// The tarball az uploaded (gzip'd; the engine takes it as it is, modes and all).
    Uploaded(Vec<u8>),
    /// A local mirror of a git context.
    Mirror(std::path::PathBuf),
}

impl Source {
    /// A tar of the context for the engine's builder (a mirror's files keep
    /// their modes; its `.git` stays out).
    fn tar(&self) -> std::io::Result<Vec<u8>> {
        let dir = match self {
            Source::Uploaded(bytes) => return Ok(bytes.clone()),
            Source::None => return ::tar::Builder::new(Vec::new()).into_inner(),
            Source::Mirror(dir) => dir,
        };
        let mut out = ::tar::Builder::new(Vec::new());
        out.follow_symlinks(false);
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d)? {
                let e = e?;
                if e.file_name() == ".git" {
                    continue;
                }
                let rel = e.path().strip_prefix(dir).map(|p| p.to_path_buf());
                let rel = rel.map_err(std::io::Error::other)?;
                if e.file_type()?.is_dir() {
                    stack.push(e.path());
                }
                out.append_path_with_name(e.path(), rel)?;
            }
        }
        out.into_inner()
    }
}

/// The container engine a run builds and runs in, and what the run left in
/// it (base images, built images), removed when the run ends.
///
/// A run that has an engine is carried out on a thread of its own, away
/// from the settle ([`finish`]), not on the server's runtime: it waits for
/// the engine on a runtime and a connection of its own.
struct RunEngine<'a> {
    state: &'a AppState,
    runtime: Option<tokio::runtime::Runtime>,
    engine: std::sync::Arc<dyn crate::runtime::engine::Engine>,
    /// The label that makes a container this emulator's (swept with the rest).
    label: (String, String),
    /// The engine's names for this run (lower case, what a tag allows).
    prefix: String,
    images: std::cell::RefCell<Vec<String>>,
}

impl<'a> RunEngine<'a> {
    /// The engine, if one is attached (an error: it does not answer now).
    fn of(state: &'a AppState, run_id: &str) -> Option<Result<RunEngine<'a>, String>> {
        let label = state.containers.engine_label()?;
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => return Some(Err(e.to_string())),
        };
        let connected = off_thread(&runtime, async {
            crate::runtime::engine::docker::DockerEngine::connect().await
        });
        let engine: std::sync::Arc<dyn crate::runtime::engine::Engine> = match connected {
            Ok(e) => std::sync::Arc::new(e),
            Err(e) => {
                runtime.shutdown_background();
                return Some(Err(format!("the container engine: {e}")));
            }
        };
        let run: String = run_id
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let prefix = format!("azemu-{}-run-{run}", label.1);
        Some(Ok(RunEngine {
            state,
            runtime: Some(runtime),
            engine,
            label,
            prefix,
            images: Default::default(),
        }))
    }

    /// Wait for the engine from the run's synchronous code.
    fn wait<T: Send>(
        &self,
        fut: impl std::future::Future<Output = Result<T, String>> + Send,
    ) -> Result<T, String> {
        match &self.runtime {
            Some(r) => off_thread(r, fut),
            None => Err("the container engine went away".into()),
        }
    }

    /// A name for step `id` of this run in the engine.
    fn name(&self, id: &str) -> String {
        let id: String = id
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("{}-{id}", self.prefix)
    }

    /// Load the pulled image `digest` into the engine as `image` (as a FROM
    /// or a `cmd` names it, `:latest` when it names no tag): what the engine
    /// then finds locally, so it never pulls. An image named by digest gets
    /// a tag made of it (`repo:azemu-<digest>`: the engine loads tags, not
    /// digests), which is what this returns.
    fn load(&self, digest: &str, image: &str) -> Result<String, String> {
        let last = image.rsplit('/').next().unwrap_or(image);
        let tag = if let Some((name, by)) = image.split_once('@') {
            let hex: String = by.chars().filter(char::is_ascii_alphanumeric).collect();
            format!("{}:azemu-{hex}", name.to_ascii_lowercase())
        } else if last.contains(':') {
            image.to_string()
        } else {
            format!("{image}:latest")
        };
        let tar = crate::runtime::containers::archive(&self.state.blobs, digest, &tag)?;
        self.wait(self.engine.load(tar))?;
        self.images.borrow_mut().push(tag.clone());
        Ok(tag)
    }

    /// Run `image` to its end as step `id`'s container: exit code and output.
    fn run(&self, id: &str, image: &str, args: &[String]) -> Result<(i64, String), String> {
        let labels = std::collections::HashMap::from([self.label.clone()]);
        let name = self.name(id);
        self.wait(self.engine.run_to_end(&name, image, args, labels))
    }
}

impl Drop for RunEngine<'_> {
    fn drop(&mut self) {
        // The newest first: an image built on a base goes before the base.
        for image in self.images.take().into_iter().rev() {
            if let Err(e) = self.wait(self.engine.remove_image(&image)) {
                tracing::warn!(image, "the engine did not remove it: {e}");
            }
        }
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

/// `fut` to its end on `runtime`, driven by a thread of its own (from a
/// worker of the server's runtime, made blocking meanwhile).
fn off_thread<T: Send>(
    runtime: &tokio::runtime::Runtime,
    fut: impl std::future::Future<Output = Result<T, String>> + Send,
) -> Result<T, String> {
    let go = || {
        std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(fut))
                .join()
                .unwrap_or_else(|_| Err("the engine's thread panicked".into()))
        })
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(go)
        }
        _ => go(),
    }
}

/// `docker build` in the container engine: every FROM is pulled through the
/// one pull sequence with the run's credentials and loaded first (the engine
/// never pulls), then the engine's builder runs the Dockerfile on the
/// context (`RUN` executes, `COPY` copies); a failing instruction fails the
/// step with the builder's words. The image is taken back out of the engine
/// (`docker save`) to be pushed.
fn engine_build(
    ctx: &Ctx<'_>,
    log: &mut Log,
    engine: &RunEngine<'_>,
    id: &str,
    dockerfile: &str,
    instructions: &[Instruction],
    args: &[(String, String)],
) -> Result<Built, String> {
    let mut stages: Vec<&str> = Vec::new();
    // The FROMs (by their place among the FROMs) that name a digest: the tag
    // each was loaded as.
    let mut by_digest: Vec<(usize, &str, String)> = Vec::new();
    for (n, ins) in instructions.iter().filter(|i| i.from.is_some()).enumerate() {
        let Some((image, alias)) = &ins.from else {
            continue;
        };
        if image != "scratch" && !stages.iter().any(|s| s.eq_ignore_ascii_case(image)) {
            let (digest, _) =
                pull_base(ctx.state, image, ctx.home, ctx.home_login, ctx.logins, log)?;
            let tag = engine.load(&digest, image)?;
            if image.contains('@') {
                by_digest.push((n, image, tag));
            }
        }
        if let Some(a) = alias {
            stages.push(a);
        }
    }
    let mut context = ctx
        .source
        .tar()
        .map_err(|e| format!("failed to prepare the build context: {e}"))?;
    let mut dockerfile = dockerfile.trim_start_matches("./").to_string();
    if !by_digest.is_empty() {
        // The engine builds a copy of the Dockerfile whose FROMs name those
        // tags, added to the context as the docker CLI adds a Dockerfile from
        // outside it (a hidden name, listed in .dockerignore, so that the
        // engine drops it from the context and COPY never sees it).
        let text = ctx
            .files
            .iter()
            .find(|(n, _)| n.trim_start_matches("./") == dockerfile)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let name = format!(
            ".dockerfile.azemu-{}",
            &engine.prefix[engine.prefix.len().saturating_sub(12)..]
        );
        context = with_dockerfile(&context, &name, &from_tags(&text, &by_digest))
            .map_err(|e| format!("failed to prepare the build context: {e}"))?;
        dockerfile = name;
    }
    let tag = format!(
        "{}:step-{}",
        engine.prefix,
        &crate::oci::blobs::digest_of(id.as_bytes())[7..19]
    );
    engine.images.borrow_mut().push(tag.clone());
    let (builder, tag_ref) = (engine.engine.clone(), tag.as_str());
    let file = dockerfile.as_str();
    let built =
        engine.wait(async move { Ok(builder.build(context, file, tag_ref, args).await) })?;
    let (mut output, failure) = match built {
        Ok(out) => (out, None),
        Err((out, e)) => (out, Some(e)),
    };
    // The log names the FROMs as the Dockerfile does.
    for (_, image, tag) in &by_digest {
        output = output.replace(tag.as_str(), image);
    }
    for l in output.lines() {
        // The engine's own name for the image is not the run's business.
        if !l.starts_with("Successfully tagged azemu-") {
            log.raw(l.trim_end());
        }
    }
    if let Some(e) = failure {
        log.raw(&e);
        return Err(e);
    }
    let saved = engine.wait(engine.engine.save(&tag))?;
    let (manifest, blobs) = image_of_saved(&saved)?;
    Ok(Built {
        manifest,
        blobs,
        base_layers: Vec::new(),
        engine_tag: Some(tag),
    })
}

/// `text` (a Dockerfile) with its `n`th FROM naming `tag` for each
/// `(n, _, tag)` in `by_digest` (flags and the stage name kept).
fn from_tags(text: &str, by_digest: &[(usize, &str, String)]) -> String {
    let mut n = 0;
    let mut out = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut line = line.to_string();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            if let Some((_, _, tag)) = by_digest.iter().find(|(i, _, _)| *i == n) {
                let mut rewritten = vec!["FROM".to_string()];
                let mut replaced = false;
                for w in &words[1..] {
                    if !replaced && !w.starts_with("--") {
                        rewritten.push(tag.clone());
                        replaced = true;
                    } else {
                        rewritten.push(w.to_string());
                    }
                }
                line = rewritten.join(" ");
            }
            n += 1;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The build context `context` (a tar, gzip'd or not) with the file `name`
/// holding `dockerfile` added, and `name` listed in its `.dockerignore` (one
/// made for it lists itself too).
fn with_dockerfile(context: &[u8], name: &str, dockerfile: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut raw = Vec::new();
    if context.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(context).read_to_end(&mut raw)?;
    } else {
        raw = context.to_vec();
    }
    let mut out = ::tar::Builder::new(Vec::new());
    let mut ignore = None;
    for entry in ::tar::Archive::new(&raw[..]).entries()? {
        let mut entry = entry?;
        // az's archive names its root `/`; the builder takes relative names.
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string();
        if path.is_empty() || path == "." || path == "./" {
            continue;
        }
        if path.trim_start_matches("./") == ".dockerignore" {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            ignore = Some(text);
            continue;
        }
        let mut header = entry.header().clone();
        out.append_data(&mut header, &path, &mut entry)?;
    }
    let ignore = match ignore {
        Some(text) => format!("{text}\n{name}\n"),
        None => format!(".dockerignore\n{name}\n"),
    };
    for (path, data) in [
        (".dockerignore", ignore.as_bytes()),
        (name, dockerfile.as_bytes()),
    ] {
        let mut h = ::tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, path, data)?;
    }
    out.into_inner()
}

/// A `docker save` archive's (first) image as an OCI manifest and its blobs:
/// the config, then the layers (uncompressed, as the engine keeps them).
fn image_of_saved(saved: &[u8]) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let files: std::collections::HashMap<String, Vec<u8>> = untar(saved, u64::MAX)
        .map_err(|e| format!("the engine's image archive: {e}"))?
        .into_iter()
        .collect();
    let unreadable = || "the engine's image archive is unreadable".to_string();
    let index: Value = files
        .get("manifest.json")
        .and_then(|m| serde_json::from_slice(m).ok())
        .ok_or_else(unreadable)?;
    let image = &index[0];
    let file = |v: &Value| {
        v.as_str()
            .and_then(|name| files.get(name))
            .cloned()
            .ok_or_else(unreadable)
    };
    let config = file(&image["Config"])?;
    let descriptor = |media: &str, data: &[u8]| json!({"mediaType": media, "digest": crate::oci::blobs::digest_of(data), "size": data.len()});
    let mut blobs = vec![config];
    let mut layers = Vec::new();
    for l in image["Layers"].as_array().into_iter().flatten() {
        let data = file(l)?;
        layers.push(descriptor("application/vnd.oci.image.layer.v1.tar", &data));
        blobs.push(data);
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &blobs[0]),
        "layers": layers,
    });
    Ok((
        serde_json::to_vec(&manifest).map_err(|e| e.to_string())?,
        blobs,
    ))
}

/// `docker push`: the target registry's network rules and the run's grant there.
fn push(ctx: &Ctx<'_>, log: &mut Log, b: &Built, full: &str) -> Result<Value, String> {
    let (server, rest) = full.split_once('/').unwrap_or((ctx.home_server, full));
    let (repo, tag) = rest.rsplit_once(':').unwrap_or((rest, "latest"));
    log.line(&format!("Pushing image: {full}, attempt 1"));
    let (target, login) = if server.eq_ignore_ascii_case(ctx.home_server) {
        (ctx.home, ctx.home_login)
    } else {
        match ctx
            .logins
            .iter()
            .find(|(s, _, _)| s.eq_ignore_ascii_case(server))
        {
            Some((_, r, l)) => (r, l),
            None => {
                log.raw(&format!(
                    "unauthorized: authentication required, visit https://aka.ms/acr/authorization for more information. (no credentials for {server} in the task)"
                ));
                return Err(format!("failed to push image {full}"));
            }
        }
    };
    reach(target, login).map_err(|e| {
        log.check("network", false, format!("pushing {full}: {e}"));
        log.raw(&format!("denied: {e}"));
        format!("failed to push image {full}")
    })?;
    let scope = Scope {
        kind: "repository".into(),
        name: repo.to_string(),
        actions: vec!["pull".into(), "push".into()],
    };
    if !granted(ctx.state, target, &login.caller, &scope)
        .iter()
        .any(|a| a == "push")
    {
        log.check(
            "authorize",
            false,
            format!("no push on repository '{repo}' of {server}"),
        );
        log.raw("unauthorized: authentication required, visit https://aka.ms/acr/authorization for more information.");
        return Err(format!("failed to push image {full}"));
    }
    log.check(
        "authorize",
        true,
        format!("push on repository '{repo}' of {server} granted"),
    );
    let reg = target["name"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let digest = crate::oci::blobs::digest_of(&b.manifest);
    // The registry's locks ([`crate::oci::acr_meta`]) refuse the push as they refuse docker's.
    if crate::oci::locks::write_refused(ctx.state.store.as_ref(), &reg, repo, Some(tag), &digest)
        .unwrap_or(true)
    {
        log.check(
            "locks",
            false,
            format!(
                "writeEnabled is false on {server}/{repo}:{tag} (its tag, manifest or repository)"
            ),
        );
        log.trace.fix = Some(format!(
            "az acr repository update -n {reg} --image {repo}:{tag} --write-enabled true (or --repository {repo})"
        ));
        log.raw(&format!("The push refers to repository [{server}/{repo}]"));
        log.raw(&format!(
            "unknown: {}",
            crate::oci::locks::disallowed().message
        ));
        return Err(format!("failed to push image {full}"));
    }
    store_image(ctx.state, &reg, repo, tag, b, &ctx.created)
        .map_err(|e| format!("failed to push image {full}: {e}"))?;
    log.raw(&format!("The push refers to repository [{server}/{repo}]"));
    log.raw(&format!(
        "{tag}: digest: {digest} size: {}",
        b.manifest.len()
    ));
    Ok(json!({"registry": server, "repository": repo, "tag": tag, "digest": digest}))
}

/// An ACR task file (`acb.yaml`): `steps` of `build` (docker build arguments),
/// `push` (a list or one image) and `cmd` (an image and its arguments), with
/// the run variables (`{{.Run.ID}}`, `$ID`, `$Registry`, …) substituted, in
/// the order they run ([`Graph`]).
fn parse_task_file(text: &str, vars: &dyn Fn(&str) -> String) -> Result<Vec<Step>, String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text)
        .map_err(|e| format!("failed to parse the task file: {e}"))?;
    let doc = docs.into_iter().next().ok_or("the task file is empty")?;
    let steps = doc["steps"]
        .as_vec()
        .ok_or("the task file has no 'steps'")?;
    let sub = |s: &str| {
        vars(s)
            .replace("$Registry", &vars("{{.Run.Registry}}"))
            .replace("$ID", &vars("{{.Run.ID}}"))
            .replace("$RegistryName", &vars("{{.Run.RegistryName}}"))
    };
    let mut out = Vec::new();
    let mut graph = Graph::default();
    for (n, s) in steps.iter().enumerate() {
        let id = scalar(&s["id"]).unwrap_or_else(|| format!("acb_step_{n}"));
        let when = match &s["when"] {
            yaml_rust2::Yaml::BadValue | yaml_rust2::Yaml::Null => Vec::new(),
            yaml_rust2::Yaml::Array(list) => {
                list.iter().map(|w| scalar(w).unwrap_or_default()).collect()
            }
            // TODO-fidelity: acr-builder's YAML decoder refuses a scalar for a
            // list ("cannot unmarshal !!str `-` into []string", with the line);
            // the line is not known here.
            other => {
                return Err(unmarshal(&format!(
                    "failed to deserialize task and validate: yaml: unmarshal errors: cannot unmarshal {} into []string",
                    scalar(other).map_or("a mapping".to_string(), |v| format!("!!str `{v}`"))
                )));
            }
        };
        let kinds = ["build", "cmd", "push"]
            .iter()
            .filter(|k| !s[**k].is_badvalue() && !s[**k].is_null())
            .count();
        graph.add(&id, &when, kinds)?;
        if let Some(b) = s["build"].as_str() {
            let words = shell_words(&sub(b));
            let mut tags = Vec::new();
            let mut dockerfile = "Dockerfile".to_string();
            let mut args = Vec::new();
            let mut it = words.iter();
            while let Some(w) = it.next() {
                let (flag, inline) = w
                    .split_once('=')
                    .map_or((w.as_str(), None), |(f, v)| (f, Some(v.to_string())));
                let mut value = || {
                    inline
                        .clone()
                        .or_else(|| it.next().cloned())
                        .unwrap_or_default()
                };
                match flag {
                    "-t" | "--tag" => tags.push(value()),
                    "-f" | "--file" => dockerfile = value(),
                    "--build-arg" => {
                        let v = value();
                        let (k, val) = v.split_once('=').unwrap_or((&v, ""));
                        args.push((k.to_string(), val.to_string()));
                    }
                    "--target" | "--platform" | "--label" | "--network" => {
                        value();
                    }
                    _ => {}
                }
            }
            out.push(Step::Build {
                id,
                tags,
                dockerfile,
                args,
            });
        } else if !s["push"].is_badvalue() {
            let tags = match s["push"].as_vec() {
                Some(list) => list.iter().filter_map(|t| t.as_str()).map(sub).collect(),
                None => s["push"].as_str().map(|t| vec![sub(t)]).unwrap_or_default(),
            };
            out.push(Step::Push { id, tags });
        } else if let Some(c) = s["cmd"].as_str() {
            let mut words = shell_words(&sub(c)).into_iter();
            let image = words.next().ok_or("a 'cmd' step names no image")?;
            out.push(Step::Cmd {
                id,
                image,
                args: words.collect(),
            });
        } else {
            return Err(unmarshal(MISSING_PROPS));
        }
    }
    let mut out: Vec<Option<Step>> = out.into_iter().map(Some).collect();
    Ok(graph
        .order()
        .into_iter()
        .filter_map(|i| out.get_mut(i).and_then(Option::take))
        .collect())
}

/// acr-builder's words for a step that is none of build, cmd or push.
const MISSING_PROPS: &str = "step is missing a cmd, build, or push property";

/// A task file acr-builder refuses, in its words (`acb exec` wraps them).
fn unmarshal(e: &str) -> String {
    format!("failed to unmarshal task before running: {e}")
}

/// A YAML scalar as a string field reads it (`id: 1` is the ID "1").
fn scalar(v: &yaml_rust2::Yaml) -> Option<String> {
    use yaml_rust2::Yaml;
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The steps of a task file as ACR Tasks orders them (acr-builder's DAG,
/// `graph/dag.go`): a step with `when: ["-"]` starts at once; one without
/// `when` waits for the step before it in the file; `when: [a, b]` waits for
/// those steps, which must come before it in the file. Steps are checked as
/// acr-builder checks them, and refused in its words.
///
/// ACR runs steps whose dependencies are met side by side; here they run one
/// after another: by how many steps they wait behind (a step that starts at
/// once first), then in file order. What each step logs is the same; only
/// how concurrent steps' lines interleave differs.
#[derive(Default)]
struct Graph {
    ids: Vec<String>,
    /// How many steps each waits behind, at most (0: it starts at once).
    depth: Vec<usize>,
}

impl Graph {
    /// Add the step `id` with its `when` and how many of build, cmd and
    /// push it has (`Step.Validate`, then `AddVertex` and `AddEdge`).
    fn add(&mut self, id: &str, when: &[String], kinds: usize) -> Result<(), String> {
        if kinds > 1 {
            return Err(unmarshal(
                "step must only contain a single build, cmd, or push property",
            ));
        }
        if id.chars().any(char::is_whitespace) {
            return Err(unmarshal("step ID cannot contain spaces"));
        }
        if kinds == 0 {
            return Err(unmarshal(MISSING_PROPS));
        }
        for dep in when {
            if dep == "-" && when.len() > 1 {
                return Err(unmarshal(
                    "step cannot contain other IDs in when if the immediate execution token is specified",
                ));
            }
            if dep == id {
                return Err(unmarshal(&format!("Step ID: {id} is self-referenced")));
            }
        }
        if id == "acb_root" {
            return Err(unmarshal("acb_root is a reserved ID, it can't be used"));
        }
        if self.ids.iter().any(|i| i == id) {
            return Err(unmarshal(&format!("{id} already exists as a vertex")));
        }
        let after: Vec<usize> = match when {
            [only] if only == "-" => Vec::new(),
            [] => self.ids.len().checked_sub(1).into_iter().collect(),
            deps => {
                let mut after = Vec::new();
                for dep in deps {
                    if dep.is_empty() {
                        return Err(unmarshal("from cannot be empty"));
                    }
                    let i = self.ids.iter().position(|i| i == dep).ok_or_else(|| {
                        unmarshal(&format!(
                            "{dep} does not exist as a vertex [from: {dep}, to: {id}]"
                        ))
                    })?;
                    after.push(i);
                }
                after
            }
        };
        let depth = after.iter().map(|&i| self.depth[i] + 1).max().unwrap_or(0);
        self.ids.push(id.to_string());
        self.depth.push(depth);
        Ok(())
    }

    /// The steps' indices in the order they run.
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.ids.len()).collect();
        order.sort_by_key(|&i| (self.depth[i], i));
        order
    }
}

/// Split a command line on whitespace, honouring single and double quotes.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `repo:tag` → `<home>/repo:tag`; a reference with a registry host stays as it is.
fn qualified(image: &str, home: &str) -> String {
    match image.split_once('/') {
        Some((h, _)) if h.contains('.') || h.contains(':') => image.to_string(),
        _ => format!("{home}/{image}"),
    }
}

fn reach(registry: &Value, login: &Login) -> Result<(), String> {
    match registry_reachable(
        registry,
        &Origin::AcrTask {
            ip: TASK_AGENT_IP.into(),
            auth: login.auth,
        },
    ) {
        Reach::Allowed { .. } => Ok(()),
        Reach::Denied { message } => Err(message),
    }
}

/// Log in to a custom registry with one credential of the task.
fn login_to(
    state: &AppState,
    task: Option<&Value>,
    server: &str,
    cred: &Value,
) -> Result<(Value, Login), String> {
    let name = crate::acr::registry_name_of_host(server)
        .ok_or_else(|| format!("dial tcp: lookup {server}: no such host"))?;
    let registry = registries::by_name(state, &name)
        .ok()
        .flatten()
        .ok_or_else(|| format!("dial tcp: lookup {server}: no such host"))?;
    let login = match cred["identity"].as_str() {
        Some(ident) => identity_login(state, task, ident)?,
        None => {
            let user = cred["userName"]["value"].as_str().unwrap_or_default();
            let pass = cred["password"]["value"].as_str().unwrap_or_default();
            let caller =
                crate::acr::tokens::caller_for_password(state, &registry, server, user, pass)
                    .ok_or("unauthorized: incorrect username or password")?;
            Login {
                caller,
                auth: TaskAuth::Password,
            }
        }
    };
    // `docker login` reaches the registry: its network rules apply to the task's agent.
    reach(&registry, &login).map_err(|m| format!("denied: {m}"))?;
    Ok((registry, login))
}

/// The task's system identity (`[system]`) or its user-assigned identity with this client id.
fn identity_login(state: &AppState, task: Option<&Value>, ident: &str) -> Result<Login, String> {
    let task = task.ok_or("a run without a task has no managed identity to log in with")?;
    let task_id = task["id"].as_str().unwrap_or_default();
    let (sp, auth) = if ident.eq_ignore_ascii_case("[system]") {
        let sp = state
            .directory
            .system_principal_of(task_id)
            .ok()
            .flatten()
            .ok_or("the task has no system-assigned identity")?;
        (sp, TaskAuth::SystemIdentity)
    } else {
        let attached = task["identity"]["userAssignedIdentities"]
            .as_object()
            .and_then(|m| {
                m.values().find(|v| {
                    v["clientId"]
                        .as_str()
                        .is_some_and(|c| c.eq_ignore_ascii_case(ident))
                })
            })
            .and_then(|v| v["principalId"].as_str())
            .ok_or_else(|| {
                format!("the identity with client id '{ident}' is not assigned to the task")
            })?;
        let sp = state
            .directory
            .all()
            .ok()
            .and_then(|all| {
                all.into_iter()
                    .find(|s| s.object_id.eq_ignore_ascii_case(attached))
            })
            .ok_or("the task's identity no longer exists")?;
        (sp, TaskAuth::UserIdentity)
    };
    Ok(Login {
        caller: Caller::Principal(Principal {
            object_id: sp.object_id,
            app_id: sp.app_id,
            tenant_id: sp.tenant_id,
            kind: PrincipalKind::ManagedIdentity,
        }),
        auth,
    })
}

/// The mirror directory of a git context URL (`https://host/org/repo.git#branch[:subdir]`).
fn mirror_of(state: &AppState, url: &str) -> Option<std::path::PathBuf> {
    super::mirrors::dir_of(state.config.task_context_dir.as_ref()?, url)
}

/// Every regular file under `dir` (relative names), bounded like an uploaded context.
fn read_dir_files(dir: &std::path::Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    const MAX_FILES: usize = 10_000;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let ft = e.file_type()?;
            let name = e.file_name();
            if name == ".git" {
                continue;
            }
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                if out.len() >= MAX_FILES {
                    return Err(std::io::Error::other("the context has too many files"));
                }
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((rel, std::fs::read(e.path())?));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One Dockerfile instruction: its text, and for FROM the image and stage alias.
struct Instruction {
    text: String,
    from: Option<(String, Option<String>)>,
}

/// Dockerfile instructions with line continuations joined; `ARG`s before the
/// first FROM (defaults, overridden by the run's arguments) substituted into FROM.
fn parse_dockerfile(text: &str, args: &[(String, String)]) -> Vec<Instruction> {
    let mut joined: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if current.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        joined.push(std::mem::take(&mut current));
    }
    if !current.trim().is_empty() {
        joined.push(current);
    }
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut seen_from = false;
    let mut out = Vec::new();
    for text in joined {
        let (keyword, rest) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "ARG" && !seen_from {
            let (name, default) = rest.trim().split_once('=').unwrap_or((rest.trim(), ""));
            let value = args
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| default.trim_matches('"').to_string());
            vars.push((name.to_string(), value));
        }
        let from = (keyword == "FROM").then(|| {
            seen_from = true;
            let mut words = rest.split_whitespace().filter(|w| !w.starts_with("--"));
            let mut image = words.next().unwrap_or("").to_string();
            for (n, v) in &vars {
                image = image
                    .replace(&format!("${{{n}}}"), v)
                    .replace(&format!("${n}"), v);
            }
            let alias = match (words.next(), words.next()) {
                (Some(a), Some(name)) if a.eq_ignore_ascii_case("as") => Some(name.to_string()),
                _ => None,
            };
            (image, alias)
        });
        out.push(Instruction { text, from });
    }
    out
}

/// Unpack a gzip'd tar (az's build context): regular files only, bounded.
fn untar_gz(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    untar(flate2::read::GzDecoder::new(bytes), 512 * 1024 * 1024)
}

/// Unpack a tar: its regular files, at most 10,000 of them and `max_total` bytes.
fn untar(tar: impl std::io::Read, max_total: u64) -> Result<Vec<(String, Vec<u8>)>, String> {
    use std::io::Read;
    const MAX_FILES: usize = 10_000;
    let mut archive = ::tar::Archive::new(tar);
    let mut out = Vec::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        total += entry.size();
        if out.len() >= MAX_FILES || total > max_total {
            return Err("the build context is too large".into());
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
        out.push((name, data));
    }
    Ok(out)
}

/// Pull a FROM image the way the build agent's docker does: the registry's
/// network rules, the credential the run has for it (the home registry's run
/// token, a task credential, or none), then the manifest and config by digest.
/// How the Docker engine reports a tag its registry does not hold.
fn not_found(image: &str, reference: &str) -> String {
    format!(
        "Error response from daemon: manifest for {image} not found: manifest unknown: manifest tagged by \"{reference}\" is not found"
    )
}

fn pull_base(
    state: &AppState,
    image: &str,
    home: &Value,
    home_login: &Login,
    logins: &[(String, Value, Login)],
    log: &mut Log,
) -> Result<(String, crate::oci::images::Base), String> {
    use crate::pull::{Refusal, fetch, parse_image};
    let r = parse_image(image).ok_or_else(|| format!("invalid reference format: '{image}'"))?;
    let head = format!(
        "Head \"https://{}/v2/{}/manifests/{}\"",
        r.host, r.repository, r.reference
    );
    let digest = if let Some(name) = crate::acr::registry_name_of_host(&r.host) {
        let home_name = home["name"].as_str().unwrap_or_default();
        let anonymous = Login {
            caller: Caller::Anonymous,
            auth: TaskAuth::Password,
        };
        let (registry, login) = if name.eq_ignore_ascii_case(home_name) {
            (home.clone(), home_login)
        } else {
            match logins
                .iter()
                .find(|(s, _, _)| s.eq_ignore_ascii_case(&r.host))
            {
                Some((_, reg, l)) => (reg.clone(), l),
                None => match registries::by_name(state, &name).ok().flatten() {
                    Some(reg) => (reg, &anonymous),
                    None => {
                        let e = format!(
                            "Error response from daemon: {head}: dial tcp: lookup {}: no such host",
                            r.host
                        );
                        log.check("registry", false, format!("no registry serves {}", r.host));
                        log.raw(&e);
                        return Err(e);
                    }
                },
            }
        };
        if let Err(m) = reach(&registry, login) {
            let e = format!("Error response from daemon: {head}: denied: {m}");
            log.check("network", false, format!("pulling {image}: {m}"));
            log.trace.fix = Some(format!(
                "let task runs through: az acr update -n {name} --allow-trusted-services true and set networkRuleBypassAllowedForTasks, or give the task a user-assigned identity"
            ));
            log.raw(&e);
            return Err(e);
        }
        // The registry's own part, as for every pull (crate::pull::from_registry).
        let refused = |log: &mut Log, fix: String, e: String| {
            log.trace.fix = Some(fix);
            log.raw(&e);
            Err(e)
        };
        match crate::pull::from_registry(state, &registry, &r, &login.caller, None, &mut log.trace)
        {
            Ok(digest) => digest,
            Err(Refusal::Unauthorized) => {
                return refused(
                    log,
                    format!(
                        "give the task's identity AcrPull: az role assignment create --assignee <the task identity's principal id> --role AcrPull --scope {}",
                        registry["id"].as_str().unwrap_or_default()
                    ),
                    format!(
                        "Error response from daemon: {head}: unauthorized: authentication required, visit https://aka.ms/acr/authorization for more information."
                    ),
                );
            }
            Err(Refusal::Locked(locked)) => {
                return refused(
                    log,
                    format!(
                        "az acr repository update -n {name} {} --read-enabled true",
                        locked.arg
                    ),
                    format!(
                        "Error response from daemon: unknown: {}",
                        crate::oci::locks::disallowed().message
                    ),
                );
            }
            Err(Refusal::NotFound) => {
                return refused(
                    log,
                    "push the base image first (docker push, az acr import)".into(),
                    not_found(image, &r.reference),
                );
            }
        }
    } else if let Some(public) = crate::public_registry::registry_of_host(&r.host) {
        let digest = fetch(state, public, &r).map_err(|_| {
            let e = not_found(image, &r.reference);
            log.check("manifest", false, format!("{image}: not found"));
            log.raw(&e);
            e
        })?;
        log.check("manifest", true, format!("{image} is {digest}"));
        digest
    } else {
        let e = format!(
            "Error response from daemon: {head}: dial tcp: lookup {}: no such host",
            r.host
        );
        log.raw(&e);
        return Err(e);
    };
    let manifest: Value = state
        .blobs
        .read(&digest)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the base image's manifest is unreadable")?;
    let config: Value = manifest["config"]["digest"]
        .as_str()
        .and_then(|d| state.blobs.read(d).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    log.raw(&format!("{}: Pulling from {}", r.reference, r.repository));
    log.raw(&format!("Digest: {digest}"));
    log.raw(&format!("Status: Downloaded newer image for {image}"));
    let base = crate::oci::images::Base {
        config,
        layers: manifest["layers"].as_array().cloned().unwrap_or_default(),
    };
    Ok((digest, base))
}

fn store_image(
    state: &AppState,
    registry: &str,
    repo: &str,
    tag: &str,
    b: &Built,
    now: &str,
) -> Result<(), String> {
    let (manifest, blobs, base_layers) = (&b.manifest, &b.blobs, &b.base_layers);
    let mut links: Vec<(String, usize)> = base_layers.to_vec();
    for b in blobs {
        let d = state.blobs.put(b).map_err(|e| e.to_string())?;
        links.push((d, b.len()));
    }
    let m = state.blobs.put(manifest).map_err(|e| e.to_string())?;
    crate::oci::images::link(
        state.store.as_ref(),
        registry,
        repo,
        &links,
        (&m, manifest.len()),
        Some(tag),
        now,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// A `docker save` archive (what the engine gives back) becomes an OCI
    /// manifest whose config and layers are the archive's files, by digest.
    #[test]
    fn an_engine_image_becomes_an_oci_manifest() {
        let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
        let layer = b"a layer tar".to_vec();
        let index = br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]"#;
        let mut tar = ::tar::Builder::new(Vec::new());
        for (name, data) in [
            ("c.json", &config[..]),
            ("l/layer.tar", &layer[..]),
            ("manifest.json", &index[..]),
        ] {
            let mut h = ::tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_cksum();
            tar.append_data(&mut h, name, data).unwrap();
        }
        let (manifest, blobs) = image_of_saved(&tar.into_inner().unwrap()).unwrap();
        let manifest: Value = serde_json::from_slice(&manifest).unwrap();
        let digest = crate::oci::blobs::digest_of;
        assert_eq!(
            manifest,
            json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len()},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(&layer), "size": layer.len()}],
            })
        );
        assert_eq!(blobs, vec![config, layer]);
        let e = image_of_saved(b"not a tar").unwrap_err();
        assert!(e.starts_with("the engine's image archive"), "{e}");
    }

    /// A FROM by digest names the tag its base was loaded as; other lines
    /// (and other FROMs) stay as they are.
    #[test]
    fn froms_by_digest_name_their_loaded_tags() {
        let text = "ARG X=1\nFROM --platform=linux/amd64 r.io/b@sha256:ab AS base\nRUN true\nFROM base\nfrom r.io/c@sha256:cd\n";
        let by_digest = [
            (0, "r.io/b@sha256:ab", "r.io/b:azemu-sha256ab".to_string()),
            (2, "r.io/c@sha256:cd", "r.io/c:azemu-sha256cd".to_string()),
        ];
        assert_eq!(
            from_tags(text, &by_digest),
            "ARG X=1\nFROM --platform=linux/amd64 r.io/b:azemu-sha256ab AS base\nRUN true\nFROM base\nFROM r.io/c:azemu-sha256cd\n"
        );
    }

    fn ids(yaml: &str) -> Result<Vec<String>, String> {
        let steps = parse_task_file(yaml, &|s: &str| s.to_string())?;
        Ok(steps
            .iter()
            .map(|s| match s {
                Step::Build { id, .. } | Step::Push { id, .. } | Step::Cmd { id, .. } => id.clone(),
            })
            .collect())
    }

    /// `when` orders a task file's steps as ACR's DAG does: `["-"]` starts at
    /// once, no `when` waits for the step before, a list waits for those.
    #[test]
    fn task_file_steps_run_in_their_dependency_order() {
        let file = "version: v1.1.0\nsteps:\n  - id: a\n    build: -t r/a .\n  - id: show-a\n    cmd: r/a\n  - id: b\n    build: -t r/b .\n    when: [\"-\"]\n  - push: [r/a, r/b]\n    when: [a, b]\n  - cmd: r/b\n";
        assert_eq!(
            ids(file).unwrap(),
            ["a", "b", "show-a", "acb_step_3", "acb_step_4"]
        );
        let plain = "steps:\n  - build: -t r/a .\n  - push: [r/a]\n  - cmd: r/a\n";
        assert_eq!(
            ids(plain).unwrap(),
            ["acb_step_0", "acb_step_1", "acb_step_2"],
            "file order"
        );
        let refused = |steps: &str| ids(&format!("steps:\n{steps}")).unwrap_err();
        let prefix = "failed to unmarshal task before running: ";
        for (steps, error) in [
            (
                "  - id: a\n    cmd: r/a\n    when: [nosuch]\n",
                "nosuch does not exist as a vertex [from: nosuch, to: a]",
            ),
            (
                "  - id: a\n    cmd: r/a\n    when: [b]\n  - id: b\n    cmd: r/b\n",
                "b does not exist as a vertex [from: b, to: a]",
            ),
            (
                "  - id: a\n    cmd: r/a\n    when: [\"-\", b]\n",
                "step cannot contain other IDs in when if the immediate execution token is specified",
            ),
            (
                "  - id: a\n    cmd: r/a\n    when: [a]\n",
                "Step ID: a is self-referenced",
            ),
            (
                "  - id: a\n    cmd: r/a\n  - id: a\n    cmd: r/b\n",
                "a already exists as a vertex",
            ),
            (
                "  - id: a b\n    cmd: r/a\n",
                "step ID cannot contain spaces",
            ),
            (
                "  - id: acb_root\n    cmd: r/a\n",
                "acb_root is a reserved ID, it can't be used",
            ),
            (
                "  - cmd: r/a\n    push: [r/a]\n",
                "step must only contain a single build, cmd, or push property",
            ),
            (
                "  - id: a\n",
                "step is missing a cmd, build, or push property",
            ),
        ] {
            assert_eq!(refused(steps), format!("{prefix}{error}"), "{steps}");
        }
    }

    #[test]
    fn cron_schedules() {
        let hourly = Cron::parse("0 * * * *").unwrap();
        let from = datetime!(2026-11-23 07:30:10 UTC);
        let to = datetime!(2026-11-23 10:00:00 UTC);
        assert_eq!(
            hourly.between(from, to, 10),
            vec![
                datetime!(2026-11-23 08:00 UTC),
                datetime!(2026-11-23 09:00 UTC),
                datetime!(2026-11-23 10:00 UTC)
            ]
        );
        let weekdays = Cron::parse("30 21 * * 1-5").unwrap();
        assert!(
            weekdays.matches(datetime!(2026-11-23 21:30 UTC)),
            "a Monday"
        );
        assert!(
            !weekdays.matches(datetime!(2026-11-22 21:30 UTC)),
            "a Sunday"
        );
        let every5 = Cron::parse("*/5 * * * *").unwrap();
        assert_eq!(
            every5
                .between(from, datetime!(2026-11-23 08:00 UTC), 100)
                .len(),
            6
        );
        assert_eq!(
            every5
                .between(from, datetime!(2026-11-23 08:00 UTC), 2)
                .len(),
            2,
            "capped, latest kept"
        );
        assert!(
            Cron::parse("0 0 * * 7")
                .unwrap()
                .matches(datetime!(2026-11-22 00:00 UTC)),
            "7 is Sunday"
        );
        assert_eq!(
            hourly.next_after(from),
            Some(datetime!(2026-11-23 08:00 UTC))
        );
        assert_eq!(
            hourly.next_after(datetime!(2026-11-23 08:00 UTC)),
            Some(datetime!(2026-11-23 09:00 UTC)),
            "after, not at"
        );
        assert_eq!(
            weekdays.next_after(datetime!(2026-11-21 22:00 UTC)),
            Some(datetime!(2026-11-23 21:30 UTC)),
            "Saturday night: Monday's"
        );
        for (schedule, next, why) in [
            (
                "15 4 29 2 *",
                Some(datetime!(2028-02-29 04:15 UTC)),
                "a leap day",
            ),
            ("0 0 31 2 *", None, "never"),
        ] {
            let cron = Cron::parse(schedule).unwrap();
            assert_eq!(
                cron.next_after(datetime!(2026-03-01 00:00 UTC)),
                next,
                "{why}"
            );
        }
        assert_eq!(
            every5.next_after(datetime!(2026-12-31 23:58:30 UTC)),
            Some(datetime!(2027-01-01 00:00 UTC))
        );
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "*/0 * * * *",
            "a * * * *",
            "5-1 * * * *",
        ] {
            assert!(Cron::parse(bad).is_none(), "{bad}");
        }
    }
}
