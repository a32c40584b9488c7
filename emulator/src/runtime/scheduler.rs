//! The scheduler: what is due on the emulated clock, found through a queue
//! instead of a scan.
//!
//! Everything that happens later sits in the schedule ([`queue`]) under its
//! due time: long-running operations at their deadline, a task run's pick-up
//! (`Queued` → `Running`) when it is queued, an ACR task's next timer-trigger
//! occurrence, a template deployment when it has a round to take (just
//! created, or an operation one of its resources follows has ended), and a
//! finished operation [`RETENTION`] after it ended (when it is pruned). Rows
//! of the schedule are written in the same transaction as the row they
//! schedule ([`Operation::save`], [`task_runs::watch_timers`]).
//!
//! [`settle`] runs at the start of every ARM request, after
//! `POST /_emulator/clock/advance` and on `POST /_emulator/step` (`force`:
//! everything pending, deadline or not). When nothing is due it costs two
//! atomic loads and a clock read: the head of the queue (the earliest due
//! time) is cached in [`Schedule`] and stays good until a commit adds a row
//! to the schedule ([`queue::writes`]). Only when something is due does it
//! take `AppState::settling`, settle that, and read the new head (a range
//! read of the first key of each part).
//!
//! In explicit simulation mode (`SimMode::Explicit`) operations have no
//! deadline: they wait in their own part of the queue (`x/`) that only step
//! drains, and deployments take rounds only on step, as they always have.
//!
//! Work that takes long (an ACR task run building in the container engine)
//! is not done under the settle: [`Work::finish`] answers [`Finish::Later`],
//! what it did so far commits, and the rest runs on a thread of its own with
//! no transaction and no settle held, while other requests go on; what it
//! returns then commits with the operation's end, in a transaction of its
//! own. Meanwhile the operation is *busy* ([`Schedule`]): settles pass it by,
//! so it is never carried out twice. Busy is kept in memory only: after a
//! restart the operation is due again and its work starts over, as an
//! operation whose work a crash cut short always has.
//!
//! ```text
//! t/0000019a2b3c4d5e/op/eyJqb2JJZCI6…     due at its deadline (or a run's pick-up)
//! t/0000019a2b3c9000/timer/<task key>      a timer trigger's next occurrence
//! x/op/eyJqb2JJZCI6…                       waits for step
//! d/0000019a2b3c4d5e/op/eyJqb2JJZCI6…      a deployment with a round to take
//! e/0000019a2b3c4d5e/op/eyJqb2JJZCI6…      finished: pruned 24 h after this
//! ```

use crate::arm::ArmError;
use crate::arm::error::unless_unreadable;
use crate::arm::lro::{OpStatus, Operation, OperationKind, RETENTION, queue};
use crate::config::SimMode;
use crate::runtime::task_runs;
use crate::state::AppState;
use crate::store::{StoreError, tables};
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use time::OffsetDateTime;

/// How many rounds one settle takes at most: each round can make more work
/// due at once (a deployment's next resource, with zero delay); a
/// deployment's depth bounds the rounds it needs.
const ROUNDS: usize = 256;
/// How many due rows of one part a round reads.
const BATCH: usize = 256;

/// The cached head of the queue.
#[derive(Debug)]
pub struct Schedule {
    /// The earliest due time (unix ms) when last read; `i64::MAX`: nothing.
    head: AtomicI64,
    /// [`queue::writes`] when `head` was read (`u64::MAX`: never).
    seen: AtomicU64,
    /// The operations whose work goes on away from the settle
    /// ([`Finish::Later`]): settles pass them by until it has ended.
    busy: Mutex<HashSet<String>>,
    /// Signalled when an operation stops being busy.
    idle: Condvar,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            head: AtomicI64::new(i64::MIN),
            seen: AtomicU64::new(u64::MAX),
            busy: Mutex::default(),
            idle: Condvar::new(),
        }
    }
}

impl Schedule {
    fn busy(&self) -> MutexGuard<'_, HashSet<String>> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The operation's work away from the settle has ended (committed or
    /// not): settles look at it again, and the head is read again.
    fn release(&self, id: &str) {
        self.busy().remove(id);
        self.seen.store(u64::MAX, Ordering::SeqCst);
        self.idle.notify_all();
    }

    /// Wait until no operation is busy: whether one was.
    fn wait_idle(&self) -> bool {
        let mut busy = self.busy();
        if busy.is_empty() {
            return false;
        }
        while !busy.is_empty() {
            busy = self.idle.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        true
    }
}

/// The mark of an operation whose work goes on away from the settle: it is
/// released however that work ends (a panic included).
struct Busy<'a> {
    schedule: &'a Schedule,
    id: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.schedule.release(&self.id);
    }
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Might something be due now? `false` only when the cached head is good (no
/// row was added to the schedule since it was read) and lies ahead.
pub(crate) fn may_be_due(state: &AppState) -> bool {
    let s = &state.schedule;
    // `seen` before `head`: a settle stores `head` first.
    if s.seen.load(Ordering::SeqCst) != queue::writes() {
        return true;
    }
    ms(state.clock.now()) >= s.head.load(Ordering::SeqCst)
}

/// What carrying out due work does, given by the layer that owns that work
/// ([`crate::providers::settle`]): the scheduler finds what is due and commits
/// it; it never decides what finishing an operation means.
pub struct Work {
    /// An operation's work, done when it ends (its deadline has passed, or
    /// step); committed with the operation's end.
    pub finish: fn(&AppState, &OperationKind) -> Finish,
    /// A deployment takes a round (`[(deployment id, operation id)]`):
    /// whether it moved.
    pub advance_deployment: fn(&AppState, &[(String, String)]) -> bool,
    /// The operations a deployment waits on (its round comes when one ends).
    pub deployment_follows: fn(&AppState, &str) -> Vec<String>,
}

/// How an operation's work went ([`Work::finish`]), in the settle's transaction.
pub enum Finish {
    /// Done: committed with the operation's end.
    Done(Result<(), ArmError>),
    /// Begun (what it wrote commits now, the operation still in progress);
    /// the rest takes long and goes on away from the settle ([`Later`]).
    Later(Later),
}

/// Work carried out on a thread of its own, with no transaction and no
/// settle held; what it returns is committed with the operation's end, in a
/// transaction of its own (not at all if the operation is gone by then: a
/// reset, an imported state).
pub type Later = Box<dyn FnOnce() -> Commit + Send>;
/// What [`Later`] work commits with its operation's end: the operation's outcome.
pub type Commit = Box<dyn FnOnce() -> Result<(), ArmError> + Send>;

/// Settle what is due (everything pending, when `force`), doing it through
/// `work`. Returns how many operations finished. When `force`, it also waits
/// for work going on away from the settle to end (step finishes everything).
pub fn settle(state: &AppState, force: bool, work: &Work) -> Result<usize, ArmError> {
    if !force && !may_be_due(state) {
        return Ok(0);
    }
    // Synchronous throughout (no await while held).
    let _one_at_a_time = state.settling.lock().unwrap_or_else(|e| e.into_inner());
    let mut finished = 0;
    for _ in 0..ROUNDS {
        // Read before the queue: a row added after this makes the head stale.
        let seen = queue::writes();
        let now = state.clock.now();
        let items = due(state, now, force)?;
        if items.is_empty() {
            if force && state.schedule.wait_idle() {
                // What ended may wake deployments waiting on it.
                continue;
            }
            let s = &state.schedule;
            s.head.store(head(state)?, Ordering::SeqCst);
            s.seen.store(seen, Ordering::SeqCst);
            return Ok(finished);
        }
        for item in items {
            finished += carry_out(state, item, now, force, work)?;
        }
    }
    // Still more to do: the next settle goes on with it.
    state.schedule.seen.store(u64::MAX, Ordering::SeqCst);
    Ok(finished)
}

/// One thing the queue says is due, with its row in the queue.
#[derive(Debug)]
enum Item {
    Operation { key: String, id: String },
    Timer { key: String, task: String },
    Deployment { key: String, id: String },
    Prune(Vec<(String, String)>),
}

fn keys(state: &AppState, part: &str, all: bool) -> Result<Vec<String>, ArmError> {
    Ok(if all {
        state.store.keys(queue::TABLE, part)?
    } else {
        state.store.first_keys(queue::TABLE, part, BATCH)?
    })
}

/// What is due at `now`, in the order it is carried out: timed rows in due
/// order, then (on step) what waits for step, then deployments' rounds, then
/// pruning.
fn due(state: &AppState, now: OffsetDateTime, force: bool) -> Result<Vec<Item>, ArmError> {
    let now_ms = ms(now);
    let busy = state.schedule.busy().clone();
    let mut out = Vec::new();
    for key in keys(state, queue::TIMED, force)? {
        let Some((at, what)) = queue::parse(queue::TIMED, &key) else {
            continue;
        };
        if let Some(id) = what.strip_prefix(queue::OP) {
            if busy.contains(id) {
                // Its work goes on away from the settle.
            } else if force || at <= now_ms {
                let id = id.to_string();
                out.push(Item::Operation { key, id });
            }
        } else if let Some(task) = what.strip_prefix(queue::TIMER) {
            // Timers fire on their schedule, step or not.
            if at <= now_ms {
                let task = task.to_string();
                out.push(Item::Timer { key, task });
            }
        }
        if !force && at > now_ms {
            break;
        }
    }
    if force {
        for key in keys(state, queue::STEP, true)? {
            if let Some(id) = key
                .strip_prefix(queue::STEP)
                .and_then(|w| w.strip_prefix(queue::OP))
                .filter(|id| !busy.contains(*id))
            {
                let id = id.to_string();
                out.push(Item::Operation { key, id });
            }
        }
    }
    // A deployment is itself a long-running operation: in explicit
    // simulation mode it moves only when told to.
    if force || state.config.sim_mode == SimMode::Auto {
        for key in keys(state, queue::DEPLOYMENTS, false)? {
            let Some((at, what)) = queue::parse(queue::DEPLOYMENTS, &key) else {
                continue;
            };
            if at > now_ms && !force {
                break;
            }
            if let Some(id) = what.strip_prefix(queue::OP) {
                let id = id.to_string();
                out.push(Item::Deployment { key, id });
            }
        }
    }
    let mut pruned = Vec::new();
    for key in keys(state, queue::ENDED, false)? {
        let Some((ended, what)) = queue::parse(queue::ENDED, &key) else {
            continue;
        };
        if ended.saturating_add(RETENTION.whole_milliseconds() as i64) > now_ms {
            break;
        }
        if let Some(id) = what.strip_prefix(queue::OP) {
            let id = id.to_string();
            pruned.push((key, id));
        }
    }
    if !pruned.is_empty() {
        out.push(Item::Prune(pruned));
    }
    Ok(out)
}

/// The earliest time something in the queue falls due (`i64::MAX`: never,
/// short of a step). A busy operation's row is passed by (its work ends by
/// itself, and then the head is read again).
fn head(state: &AppState) -> Result<i64, ArmError> {
    let first = |part: &str| -> Result<Option<i64>, ArmError> {
        Ok(state
            .store
            .first_keys(queue::TABLE, part, 1)?
            .first()
            .and_then(|k| queue::parse(part, k))
            .map(|(at, _)| at))
    };
    let mut head = i64::MAX;
    let busy = state.schedule.busy().clone();
    let timed = if busy.is_empty() {
        first(queue::TIMED)?
    } else {
        let keys = state.store.first_keys(queue::TABLE, queue::TIMED, BATCH)?;
        let mut rows = keys.iter().filter_map(|k| queue::parse(queue::TIMED, k));
        // All busy, and more may follow: the last read stands for them.
        let more = (keys.len() == BATCH).then(|| rows.clone().next_back());
        rows.find(|(_, what)| {
            what.strip_prefix(queue::OP)
                .is_none_or(|id| !busy.contains(id))
        })
        .or(more.flatten())
        .map(|(at, _)| at)
    };
    if let Some(t) = timed {
        head = head.min(t);
    }
    if state.config.sim_mode == SimMode::Auto
        && let Some(t) = first(queue::DEPLOYMENTS)?
    {
        head = head.min(t);
    }
    if let Some(t) = first(queue::ENDED)? {
        head = head.min(t.saturating_add(RETENTION.whole_milliseconds() as i64));
    }
    Ok(head)
}

/// The operation `id`, if it is still there and in progress. An unreadable
/// one is left alone (logged): one row's trouble stops only its own work.
fn pending(state: &AppState, id: &str) -> Result<Option<Operation>, ArmError> {
    match Operation::load(state.store.as_ref(), id) {
        Ok(op) => Ok(op.filter(|o| o.status == OpStatus::InProgress)),
        Err(e @ StoreError::Unreadable { .. }) => {
            tracing::warn!(error = %e, "skipped an unreadable operation while settling");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Carry out one due item. Returns how many operations finished.
fn carry_out(
    state: &AppState,
    item: Item,
    now: OffsetDateTime,
    force: bool,
    work: &Work,
) -> Result<usize, ArmError> {
    let store = state.store.as_ref();
    match item {
        Item::Operation { key, id } => {
            // The operation's work and its end commit together: a crash never
            // leaves the work done and the operation pending, or the reverse.
            let mut later = None;
            let finished = store.transaction(|_| {
                let Some(mut op) = pending(state, &id)? else {
                    store.delete(queue::TABLE, &key)?;
                    return Ok(0);
                };
                let mut finished = 0;
                if matches!(op.kind, OperationKind::Deployment { .. }) {
                    // Finished by the deployment engine, never by the clock.
                } else if force || op.due(now) {
                    match (work.finish)(state, &op.kind) {
                        Finish::Done(outcome) => {
                            op.finish(now, outcome.err().map(|e| e.body()["error"].clone()));
                            op.save(store)?;
                            finished = 1;
                        }
                        Finish::Later(work) => later = Some(work),
                    }
                } else if op.wake_ms.is_some_and(|w| w <= ms(now)) {
                    // A run is picked up as soon as it is queued; it runs at its deadline.
                    if let OperationKind::TaskRun { run_key } = &op.kind {
                        unless_unreadable(task_runs::mark_running(state, run_key, now))?;
                    }
                    op.wake_ms = None;
                    op.save(store)?;
                }
                if !op.entries().contains(&key) {
                    store.delete(queue::TABLE, &key)?;
                }
                Ok::<_, ArmError>(finished)
            })?;
            if let Some(work) = later {
                // Busy before the settle lets go: no other settle starts it again.
                carry_on(state, id, work);
            }
            Ok(finished)
        }
        Item::Timer { key, task } => {
            // A task's check and the runs it queues commit together; a task
            // whose rows cannot be read stops only its own timers.
            let fired = store.transaction(|_| task_runs::fire_timers(state, now, &task, &key));
            if unless_unreadable(fired)?.is_none() {
                // Its rows cannot be read: it waits until the task is written again.
                store.delete(queue::TABLE, &key)?;
            }
            Ok(0)
        }
        Item::Deployment { key, id } => {
            let Some(op) = pending(state, &id)? else {
                store.delete(queue::TABLE, &key)?;
                return Ok(0);
            };
            let OperationKind::Deployment { deployment_id } = &op.kind else {
                store.delete(queue::TABLE, &key)?;
                return Ok(0);
            };
            if (work.advance_deployment)(state, &[(deployment_id.clone(), id.clone())]) {
                // It moved: it takes another round (what it started may be done).
                return Ok(0);
            }
            wait(
                state,
                &id,
                &(work.deployment_follows)(state, deployment_id),
                now,
            )?;
            Ok(0)
        }
        Item::Prune(rows) => {
            store.transaction(|_| {
                for (key, id) in &rows {
                    store.delete(tables::OPERATIONS, id)?;
                    store.delete(queue::TABLE, key)?;
                }
                Ok::<_, ArmError>(())
            })?;
            tracing::debug!(count = rows.len(), "pruned finished operations");
            Ok(0)
        }
    }
}

/// Go on with an operation's [`Later`] work on a thread of its own, then
/// commit what it returns with the operation's end. The operation is busy
/// until then; a thread that cannot be had leaves it due again (the next
/// settle tries again).
fn carry_on(state: &AppState, id: String, work: Later) {
    state.schedule.busy().insert(id.clone());
    let st = state.clone();
    let op = id.clone();
    let started = std::thread::Builder::new()
        .name("azemu-op-work".into())
        .spawn(move || {
            let _busy = Busy {
                schedule: &st.schedule,
                id: op.clone(),
            };
            let commit = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            if let Err(e) = end_later(&st, &op, commit) {
                // Not ended: due again, its work starts over on the next settle.
                tracing::warn!(operation = %op, error = %e.message, "an operation's outcome did not commit");
            }
        });
    if let Err(e) = started {
        tracing::warn!(operation = %id, error = %e, "no thread for an operation's work");
        state.schedule.release(&id);
    }
}

/// Commit [`Later`] work's outcome with its operation's end, in one
/// transaction; nothing, if the operation is no longer in progress.
fn end_later(
    state: &AppState,
    id: &str,
    commit: std::thread::Result<Commit>,
) -> Result<(), ArmError> {
    let store = state.store.as_ref();
    store.transaction(|_| {
        let Some(mut op) = pending(state, id)? else {
            return Ok(());
        };
        let outcome = match commit {
            Ok(commit) => commit(),
            Err(_) => Err(ArmError::internal(format!(
                "the work of operation {id} panicked"
            ))),
        };
        op.finish(
            state.clock.now(),
            outcome.err().map(|e| e.body()["error"].clone()),
        );
        op.save(store)?;
        Ok(())
    })
}

/// A deployment that did not move waits for the operations its running
/// resources follow: it joins their `waiters` and leaves the queue, all in
/// one transaction (so an operation that ends meanwhile either sees it
/// there or was seen ended). One already ended: it takes another round.
fn wait(
    state: &AppState,
    id: &str,
    followed: &[String],
    now: OffsetDateTime,
) -> Result<(), ArmError> {
    let store = state.store.as_ref();
    store.transaction(|_| {
        let Some(mut deployment) = pending(state, id)? else {
            return Ok(());
        };
        let mut ops = Vec::new();
        for f in followed {
            match pending(state, f)? {
                Some(op) => ops.push(op),
                None => return Ok(()),
            }
        }
        if ops.is_empty() {
            // TODO-correctness: not expected (a deployment that did not move
            // follows a running operation); look again in a second.
            tracing::warn!(operation = %id, "a deployment that did not move follows nothing");
            deployment.wake_ms = Some(ms(now) + 1000);
        } else {
            for mut op in ops {
                if !op.waiters.iter().any(|w| w == id) {
                    op.waiters.push(id.to_string());
                    op.save(store)?;
                }
            }
            deployment.wake_ms = None;
        }
        deployment.save(store)?;
        Ok(())
    })
}

/// Build the schedule from the rows it derives from, if the store has none
/// (a data dir an older version wrote, an imported older snapshot).
pub fn rebuild_if_missing(state: &AppState) -> anyhow::Result<bool> {
    if state.store.get(queue::TABLE, queue::BUILT)?.is_some() {
        return Ok(false);
    }
    rebuild(state)?;
    Ok(true)
}

/// Build the schedule again from the operations and the ACR task timers, in
/// one transaction. A pending task run or deployment is looked at once more
/// (harmless: picking up a run that is running, or a round that moves
/// nothing, changes nothing).
pub fn rebuild(state: &AppState) -> anyhow::Result<()> {
    let store = state.store.as_ref();
    let now = state.clock.now();
    store.transaction(|_| -> anyhow::Result<()> {
        for k in store.keys(queue::TABLE, "")? {
            store.delete(queue::TABLE, &k)?;
        }
        for (_, row) in store.scan(tables::OPERATIONS, "")? {
            let Ok(mut op) = serde_json::from_value::<Operation>(row) else {
                continue;
            };
            let wake = match op.kind {
                _ if op.status != OpStatus::InProgress || op.wake_ms.is_some() => None,
                OperationKind::TaskRun { .. } => Some(op.started_ms),
                OperationKind::Deployment { .. } => Some(ms(now)),
                _ => None,
            };
            if wake.is_some() {
                op.wake_ms = wake;
                op.save(store)?;
            } else {
                for k in op.entries() {
                    queue::put(store, &k)?;
                }
            }
        }
        for (key, watch) in store.scan(tables::ACR_TASK_TIMERS, "")? {
            task_runs::rewatch_timers(state, &key, &watch, now)
                .map_err(|e| anyhow::anyhow!(e.message))?;
        }
        queue::put(store, queue::BUILT)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A state in memory; the data dir (keys, CA) is made once and kept
    /// (it holds no state), so runs leave nothing new behind.
    fn state(mode: SimMode) -> AppState {
        static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
        let dir = DIR.get_or_init(|| {
            let d = std::env::temp_dir().join("azemu-scheduler-unit-keys");
            // Keys and CA made once, before the tests share the dir.
            let mut c = Config::new(&d);
            c.state_in_memory = true;
            c.blobs_in_memory = true;
            AppState::new(c).expect("state");
            d
        });
        let mut c = Config::new(dir);
        c.state_in_memory = true;
        c.blobs_in_memory = true;
        c.sim_mode = mode;
        AppState::new(c).expect("state")
    }

    /// The schedule alone: finishing an operation does nothing else.
    const NOTHING: Work = Work {
        finish: |_, _| Finish::Done(Ok(())),
        advance_deployment: |_, _| false,
        deployment_follows: |_, _| Vec::new(),
    };

    fn provision(state: &AppState, delay: Option<std::time::Duration>) -> Operation {
        let op = Operation::start(
            "s",
            OperationKind::Provision {
                resource_id: "/subscriptions/s/resourceGroups/r/providers/Microsoft.X/y/z".into(),
            },
            "T",
            state.clock.now(),
            delay,
        );
        op.save(state.store.as_ref()).unwrap();
        op
    }

    fn status(state: &AppState, id: &str) -> Option<OpStatus> {
        Operation::load(state.store.as_ref(), id)
            .unwrap()
            .map(|o| o.status)
    }

    #[test]
    fn an_operation_finishes_at_its_deadline_and_is_pruned_after_the_retention() {
        let st = state(SimMode::Auto);
        settle(&st, false, &NOTHING).unwrap();
        let op = provision(&st, Some(std::time::Duration::from_secs(30)));
        assert_eq!(
            st.store.keys(queue::TABLE, queue::TIMED).unwrap().len(),
            1,
            "scheduled with the operation"
        );
        assert_eq!(settle(&st, false, &NOTHING).unwrap(), 0);
        // (Whether it may be due also depends on other tests' schedules: the
        // count of writes is the process's.)
        let cached = st.schedule.head.load(Ordering::SeqCst);
        assert_eq!(Some(cached), op.deadline_ms, "the head is its deadline");
        assert_eq!(status(&st, &op.id), Some(OpStatus::InProgress));
        st.clock.advance(time::Duration::seconds(29)).unwrap();
        assert!(ms(st.clock.now()) < cached);
        settle(&st, false, &NOTHING).unwrap();
        assert_eq!(
            status(&st, &op.id),
            Some(OpStatus::InProgress),
            "not before"
        );
        st.clock.advance(time::Duration::seconds(1)).unwrap();
        assert!(may_be_due(&st));
        assert_eq!(settle(&st, false, &NOTHING).unwrap(), 1);
        assert_eq!(status(&st, &op.id), Some(OpStatus::Succeeded));
        assert!(
            st.store
                .keys(queue::TABLE, queue::TIMED)
                .unwrap()
                .is_empty()
        );
        assert_eq!(st.store.keys(queue::TABLE, queue::ENDED).unwrap().len(), 1);
        st.clock
            .advance(RETENTION - time::Duration::seconds(1))
            .unwrap();
        settle(&st, false, &NOTHING).unwrap();
        assert_eq!(status(&st, &op.id), Some(OpStatus::Succeeded), "kept");
        st.clock.advance(time::Duration::seconds(1)).unwrap();
        settle(&st, false, &NOTHING).unwrap();
        assert_eq!(status(&st, &op.id), None, "pruned");
        assert!(
            st.store
                .keys(queue::TABLE, queue::ENDED)
                .unwrap()
                .is_empty()
        );
        assert_eq!(head(&st).unwrap(), i64::MAX);
    }

    #[test]
    fn explicit_operations_wait_for_step() {
        let st = state(SimMode::Explicit);
        let op = provision(&st, None);
        assert_eq!(
            st.store.keys(queue::TABLE, queue::STEP).unwrap(),
            vec![format!("x/op/{}", op.id)]
        );
        st.clock.advance(time::Duration::days(300)).unwrap();
        assert_eq!(settle(&st, false, &NOTHING).unwrap(), 0);
        assert_eq!(status(&st, &op.id), Some(OpStatus::InProgress));
        assert_eq!(settle(&st, true, &NOTHING).unwrap(), 1);
        assert_eq!(status(&st, &op.id), Some(OpStatus::Succeeded));
        assert!(st.store.keys(queue::TABLE, queue::STEP).unwrap().is_empty());
    }

    #[test]
    fn the_schedule_is_rebuilt_from_the_operations() {
        let st = state(SimMode::Auto);
        let op = provision(&st, Some(std::time::Duration::from_secs(5)));
        let done = provision(&st, Some(std::time::Duration::ZERO));
        settle(&st, false, &NOTHING).unwrap();
        let before = st.store.keys(queue::TABLE, "").unwrap();
        // A data dir from before the schedule: operations, no queue.
        for k in &before {
            st.store.delete(queue::TABLE, k).unwrap();
        }
        assert!(rebuild_if_missing(&st).unwrap());
        assert!(!rebuild_if_missing(&st).unwrap(), "once");
        assert_eq!(st.store.keys(queue::TABLE, "").unwrap(), before);
        assert_eq!(status(&st, &done.id), Some(OpStatus::Succeeded));
        st.clock.advance(time::Duration::seconds(5)).unwrap();
        assert_eq!(settle(&st, false, &NOTHING).unwrap(), 1);
        assert_eq!(status(&st, &op.id), Some(OpStatus::Succeeded));
    }

    /// How often [`LATER`] began its work, and the gate its work waits at.
    static BEGUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

    /// Work that goes on away from the settle until [`GATE`] opens, then fails.
    const LATER: Work = Work {
        finish: |_, _| {
            BEGUN.fetch_add(1, Ordering::SeqCst);
            Finish::Later(Box::new(|| {
                let (open, opened) = &GATE;
                let mut o = open.lock().unwrap();
                while !*o {
                    o = opened.wait(o).unwrap();
                }
                Box::new(|| {
                    Err(ArmError::new(
                        http::StatusCode::BAD_REQUEST,
                        "WorkFailed",
                        "it failed",
                    ))
                })
            }))
        },
        advance_deployment: |_, _| false,
        deployment_follows: |_, _| Vec::new(),
    };

    #[test]
    fn long_work_goes_on_away_from_the_settle_and_ends_its_operation() {
        let st = state(SimMode::Auto);
        let op = provision(&st, Some(std::time::Duration::ZERO));
        assert_eq!(settle(&st, false, &LATER).unwrap(), 0);
        assert_eq!(BEGUN.load(Ordering::SeqCst), 1);
        assert_eq!(status(&st, &op.id), Some(OpStatus::InProgress));
        // While it works, writes commit (no transaction is held) and settles
        // pass it by: it is not begun twice.
        st.store
            .transaction(|tx| tx.put(tables::ACR_RUNS, "k", serde_json::json!({})))
            .unwrap();
        assert_eq!(settle(&st, false, &LATER).unwrap(), 0);
        assert_eq!(BEGUN.load(Ordering::SeqCst), 1, "begun once");
        assert_eq!(head(&st).unwrap(), i64::MAX, "the busy one is not due");
        *GATE.0.lock().unwrap() = true;
        GATE.1.notify_all();
        // Step waits for it to end.
        settle(&st, true, &LATER).unwrap();
        let ended = Operation::load(st.store.as_ref(), &op.id).unwrap().unwrap();
        assert_eq!(ended.status, OpStatus::Failed);
        assert_eq!(ended.error.unwrap()["code"], "WorkFailed");
        assert_eq!(BEGUN.load(Ordering::SeqCst), 1);
        assert!(st.schedule.busy().is_empty());
    }

    #[test]
    fn keys_sort_by_time() {
        let a = queue::key(queue::TIMED, 9, "op/a");
        let b = queue::key(queue::TIMED, 10, "op/a");
        assert!(a < b);
        assert_eq!(queue::parse(queue::TIMED, &b), Some((10, "op/a".into())));
        assert_eq!(
            queue::key(queue::TIMED, -5, "op/x"),
            "t/0000000000000000/op/x"
        );
    }
}
