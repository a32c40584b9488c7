//! Long-running operations, as ARM runs them and as clients poll them.
//!
//! An [`Operation`] is a row in the store's `operations` table. It finishes
//! when emulated time passes its deadline (`SimMode::Auto`, `--lro-delay-ms`)
//! or when `POST /_emulator/step` finishes it (`SimMode::Explicit`). Nothing
//! runs on a timer: the scheduler ([`crate::runtime::scheduler`]) settles
//! what is due at the start of an ARM request, when the clock is advanced and
//! on step, so tests move time with the clock instead of sleeping.
//!
//! The scheduler finds what is due through [`queue`]: rows ordered by due
//! time that [`Operation::save`] writes in the same transaction as the
//! operation, so the two never disagree.
//!
//! Clients poll either `Location` (202 while running, then what the call
//! would have returned) or `Azure-AsyncOperation` (200 with `status`). Both
//! always carry `Retry-After: 1`; without it clients wait 30 s a poll. A
//! finished operation is kept for [`RETENTION`], then pruned; its URLs then
//! answer as for an operation never known.

use crate::clock::arm_timestamp;
use crate::store::{Store, StoreResult, tables};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpStatus {
    InProgress,
    Succeeded,
    Failed,
    Canceled,
}

/// What finishing an operation does; the provider that started it carries it out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum OperationKind {
    /// Delete a resource group and everything in it.
    DeleteResourceGroup { resource_group_id: String },
    /// A PUT that answered `provisioningState: Creating|Updating`: set it to `Succeeded`.
    Provision { resource_id: String },
    /// A PUT whose deployment will fail (a container group whose image pull failed):
    /// `provisioningState` becomes `Failed` and the operation fails.
    FailProvisioning { resource_id: String },
    /// A template deployment: finished by the deployment engine when its last
    /// resource is done, never by the clock.
    Deployment { deployment_id: String },
    /// An ACR task run: carried out (build, push, log) when due; `Running` until then.
    TaskRun { run_key: String },
    /// A resource group's export (`exportTemplate`): its result, what the
    /// `Location` poll answers once the operation is done.
    ExportTemplate { result: Value },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    /// Opaque id used in the polling URLs.
    pub id: String,
    pub subscription: String,
    pub status: OpStatus,
    pub kind: OperationKind,
    /// Unix milliseconds.
    pub started_ms: i64,
    /// When it finishes by itself; `None` waits for `/_emulator/step`.
    pub deadline_ms: Option<i64>,
    #[serde(default)]
    pub ended_ms: Option<i64>,
    #[serde(default)]
    pub error: Option<Value>,
    /// A moment, before its deadline, when the scheduler must look at it: a
    /// task run's pick-up (`Queued` → `Running`), a deployment's next round
    /// (`None` for a deployment: it waits for an operation in whose
    /// `waiters` it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_ms: Option<i64>,
    /// The deployments' operations to wake when this one ends (their
    /// resources wait on it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiters: Vec<String>,
}

/// How long a finished operation's status URLs keep answering: the Azure REST
/// API guidelines' `lro-status-monitor-retention` ("retain the status monitor
/// resource for some publicly documented period of time (at least 24 hours)
/// after the operation completes", microsoft/api-guidelines `azure/Guidelines.md`).
// TODO-fidelity: ARM documents no retention of its own for `operationresults` /
// `operationStatuses` (searched: azure-resource-manager-rpc async-api-reference.md,
// learn.microsoft.com "Track asynchronous Azure operations", azure-sdk issues on
// expired pollers); the guidelines' minimum is used.
pub const RETENTION: time::Duration = time::Duration::hours(24);

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(v: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(v as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Operation {
    /// A new in-progress operation. `delay` is `None` in explicit simulation mode.
    pub fn start(
        subscription: &str,
        kind: OperationKind,
        job: &str,
        now: OffsetDateTime,
        delay: Option<std::time::Duration>,
    ) -> Self {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{{\"jobId\":\"{job}-{}\"}}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        // A run is picked up, and a deployment takes its first round, at once.
        let wake_ms = matches!(
            kind,
            OperationKind::TaskRun { .. } | OperationKind::Deployment { .. }
        )
        .then_some(ms(now));
        Operation {
            id: token,
            subscription: subscription.to_string(),
            status: OpStatus::InProgress,
            kind,
            started_ms: ms(now),
            deadline_ms: delay.map(|d| ms(now) + d.as_millis() as i64),
            ended_ms: None,
            error: None,
            wake_ms,
            waiters: Vec::new(),
        }
    }

    pub fn due(&self, now: OffsetDateTime) -> bool {
        self.status == OpStatus::InProgress && self.deadline_ms.is_some_and(|d| d <= ms(now))
    }

    pub fn finish(&mut self, now: OffsetDateTime, error: Option<Value>) {
        self.status = if error.is_some() {
            OpStatus::Failed
        } else {
            OpStatus::Succeeded
        };
        self.error = error;
        self.ended_ms = Some(ms(now));
    }

    /// Store it, and its place in the [`queue`], in one transaction. An
    /// operation that ends here wakes the deployments waiting on it.
    pub fn save(&self, store: &dyn Store) -> StoreResult<()> {
        store.transaction(|_| {
            let previous = store
                .put(
                    tables::OPERATIONS,
                    &self.id,
                    serde_json::to_value(self).expect("operation serialises"),
                )?
                .and_then(|v| serde_json::from_value::<Operation>(v).ok());
            let old = previous
                .as_ref()
                .map(Operation::entries)
                .unwrap_or_default();
            let new = self.entries();
            for k in old.iter().filter(|k| !new.contains(k)) {
                store.delete(queue::TABLE, k)?;
            }
            for k in new.iter().filter(|k| !old.contains(k)) {
                queue::put(store, k)?;
            }
            let ended_now = previous
                .as_ref()
                .is_none_or(|p| p.status == OpStatus::InProgress);
            if self.status != OpStatus::InProgress && ended_now {
                let at = self.ended_ms.unwrap_or(self.started_ms);
                for w in &self.waiters {
                    if let Some(mut d) = Operation::load(store, w)?
                        && d.status == OpStatus::InProgress
                        && d.wake_ms.is_none()
                    {
                        d.wake_ms = Some(at);
                        d.save(store)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// The operation, `None` if absent or unreadable.
    pub fn load(store: &dyn Store, id: &str) -> StoreResult<Option<Operation>> {
        Ok(store
            .get(tables::OPERATIONS, id)?
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Its rows in the [`queue`]: where the scheduler finds it.
    pub fn entries(&self) -> Vec<String> {
        let what = format!("{}{}", queue::OP, self.id);
        if self.status != OpStatus::InProgress {
            let ended = self.ended_ms.unwrap_or(self.started_ms);
            return vec![queue::key(queue::ENDED, ended, &what)];
        }
        match (&self.kind, self.deadline_ms, self.wake_ms) {
            (OperationKind::Deployment { .. }, _, wake) => wake
                .map(|w| queue::key(queue::DEPLOYMENTS, w, &what))
                .into_iter()
                .collect(),
            (_, Some(d), wake) => vec![queue::key(
                queue::TIMED,
                wake.map_or(d, |w| w.min(d)),
                &what,
            )],
            (_, None, wake) => std::iter::once(format!("{}{what}", queue::STEP))
                .chain(wake.map(|w| queue::key(queue::TIMED, w, &what)))
                .collect(),
        }
    }

    /// `{base}/subscriptions/{s}/operationresults/{id}?api-version=…`: the Location URL.
    pub fn location_url(&self, base: &str, api_version: &str) -> String {
        format!(
            "{base}/subscriptions/{}/operationresults/{}?api-version={api_version}",
            self.subscription, self.id
        )
    }

    /// `{base}/subscriptions/{s}/providers/{ns}/locations/{loc}/operationStatuses/{id}?api-version=…`:
    /// the Azure-AsyncOperation URL.
    pub fn async_operation_url(
        &self,
        base: &str,
        namespace: &str,
        location: &str,
        api_version: &str,
    ) -> String {
        format!(
            "{base}/subscriptions/{}/providers/{namespace}/locations/{location}/operationStatuses/{}?api-version={api_version}",
            self.subscription, self.id
        )
    }

    /// The Azure-AsyncOperation status body.
    pub fn status_body(&self) -> Value {
        let mut b = json!({
            "id": self.id,
            "name": self.id,
            "status": format!("{:?}", self.status),
            "startTime": arm_timestamp(from_ms(self.started_ms)),
        });
        if let Some(e) = self.ended_ms {
            b["endTime"] = json!(arm_timestamp(from_ms(e)));
            b["percentComplete"] = json!(100);
        }
        if let Some(err) = &self.error {
            b["error"] = err.clone();
        }
        b
    }
}

/// The schedule: one table of empty rows whose keys say what needs the
/// scheduler and when, in key order (the due time is zero-padded hex):
///
/// | key | what |
/// |---|---|
/// | `t/{due}/op/{id}` | an operation due at its deadline, or a task run's pick-up |
/// | `t/{due}/timer/{task key}` | an ACR task's next timer-trigger occurrence |
/// | `x/op/{id}` | an operation with no deadline: it waits for `POST /_emulator/step` |
/// | `d/{since}/op/{id}` | a deployment that has a round to take (on step only, in explicit mode) |
/// | `e/{ended}/op/{id}` | a finished operation, pruned [`RETENTION`] after it ended |
/// | `built` | the schedule was built from the tables it derives from |
///
/// It is derived state, written with the rows it schedules; a data dir
/// without `built` (an older version's, an imported older snapshot) has it
/// rebuilt ([`crate::runtime::scheduler::rebuild`]).
pub mod queue {
    use crate::store::{Store, StoreResult};
    use std::sync::atomic::{AtomicU64, Ordering};

    pub const TABLE: &str = "lro_queue";
    pub const TIMED: &str = "t/";
    pub const STEP: &str = "x/";
    pub const DEPLOYMENTS: &str = "d/";
    pub const ENDED: &str = "e/";
    pub const BUILT: &str = "built";
    pub const OP: &str = "op/";
    pub const TIMER: &str = "timer/";

    /// How many commits have added rows to a schedule (any store in this
    /// process): the scheduler's cached head is good while this stands still.
    static WRITES: AtomicU64 = AtomicU64::new(0);

    pub fn writes() -> u64 {
        WRITES.load(Ordering::SeqCst)
    }

    /// `{part}{at:016x}/{what}`.
    pub fn key(part: &str, at_ms: i64, what: &str) -> String {
        format!("{part}{:016x}/{what}", at_ms.max(0))
    }

    /// A key of a timed part: its time and what it names.
    pub fn parse(part: &str, key: &str) -> Option<(i64, String)> {
        let (at, what) = key.strip_prefix(part)?.split_once('/')?;
        Some((i64::from_str_radix(at, 16).ok()?, what.to_string()))
    }

    /// Add `key`; the cached head is refreshed once the write commits.
    pub fn put(store: &dyn Store, key: &str) -> StoreResult<()> {
        store.put(TABLE, key, serde_json::json!({}))?;
        store.after_commit(Box::new(|| {
            WRITES.fetch_add(1, Ordering::SeqCst);
        }));
        Ok(())
    }
}

/// 202 Accepted with `Location` and `Retry-After: 1`, no body.
pub fn accepted(location: &str) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    set_polling_headers(&mut r, Some(location), None);
    r
}

pub fn set_polling_headers(r: &mut Response, location: Option<&str>, async_op: Option<&str>) {
    let h = r.headers_mut();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        h.insert(http::header::LOCATION, l);
    }
    if let Some(a) = async_op.and_then(|a| HeaderValue::from_str(a).ok()) {
        h.insert("azure-asyncoperation", a);
    }
    h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
}

/// The delay a new long-running operation gets: `None` waits for `/_emulator/step`.
pub fn lro_delay(state: &crate::state::AppState) -> Option<std::time::Duration> {
    match state.config.sim_mode {
        crate::config::SimMode::Auto => Some(state.config.lro_delay),
        crate::config::SimMode::Explicit => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn its_place_in_the_queue() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let t = ms(now);
        let run = OperationKind::TaskRun {
            run_key: "r/runs/ca1".into(),
        };
        let delay = Some(std::time::Duration::from_secs(10));
        let mut op = Operation::start("s", run.clone(), "runs", now, delay);
        let what = format!("op/{}", op.id);
        assert_eq!(
            op.entries(),
            vec![queue::key(queue::TIMED, t, &what)],
            "picked up at once"
        );
        op.wake_ms = None;
        assert_eq!(
            op.entries(),
            vec![queue::key(queue::TIMED, t + 10_000, &what)],
            "then due at its deadline"
        );
        let explicit = Operation::start("s", run, "runs", now, None);
        let what = format!("op/{}", explicit.id);
        assert_eq!(
            explicit.entries(),
            vec![format!("x/{what}"), queue::key(queue::TIMED, t, &what)],
            "waits for step, picked up at once"
        );
        let mut done = explicit.clone();
        done.finish(now, None);
        assert_eq!(done.entries(), vec![queue::key(queue::ENDED, t, &what)]);
    }

    #[test]
    fn an_operation_that_ends_wakes_the_deployments_waiting_on_it() {
        let store: std::sync::Arc<dyn Store> =
            std::sync::Arc::new(crate::store::MemoryStore::new());
        let store = store.as_ref();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let kind = OperationKind::Deployment {
            deployment_id:
                "/subscriptions/s/resourceGroups/r/providers/Microsoft.Resources/deployments/d"
                    .into(),
        };
        let mut deployment = Operation::start("s", kind, "D", now, None);
        deployment.wake_ms = None;
        deployment.save(store).unwrap();
        assert!(
            store
                .keys(queue::TABLE, queue::DEPLOYMENTS)
                .unwrap()
                .is_empty(),
            "waiting"
        );
        let kind = OperationKind::Provision {
            resource_id: "/subscriptions/s/resourceGroups/r/providers/Microsoft.X/y/z".into(),
        };
        let mut followed =
            Operation::start("s", kind, "P", now, Some(std::time::Duration::from_secs(5)));
        followed.waiters.push(deployment.id.clone());
        followed.save(store).unwrap();
        let end = now + time::Duration::seconds(5);
        followed.finish(end, None);
        followed.save(store).unwrap();
        let woken = Operation::load(store, &deployment.id).unwrap().unwrap();
        assert_eq!(woken.wake_ms, Some(ms(end)));
        assert_eq!(
            store.keys(queue::TABLE, queue::DEPLOYMENTS).unwrap(),
            vec![queue::key(
                queue::DEPLOYMENTS,
                ms(end),
                &format!("op/{}", deployment.id)
            )]
        );
    }

    #[test]
    fn lifecycle() {
        let now = OffsetDateTime::now_utc();
        let kind = OperationKind::DeleteResourceGroup {
            resource_group_id: "/subscriptions/s/resourceGroups/r".into(),
        };
        let mut op = Operation::start(
            "s",
            kind.clone(),
            "RG",
            now,
            Some(std::time::Duration::from_secs(5)),
        );
        assert!(!op.due(now));
        assert!(op.due(now + time::Duration::seconds(5)));
        assert_eq!(op.status_body()["status"], "InProgress");
        op.finish(now, None);
        assert!(!op.due(now + time::Duration::hours(1)));
        assert_eq!(op.status_body()["status"], "Succeeded");
        let explicit = Operation::start("s", kind, "RG", now, None);
        assert!(!explicit.due(now + time::Duration::days(365)));
        assert!(
            explicit
                .location_url("https://h", "2022-09-01")
                .starts_with("https://h/subscriptions/s/operationresults/")
        );
    }
}
