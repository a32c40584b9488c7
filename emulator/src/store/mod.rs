//! State sits behind one trait, [`Store`]: tables of JSON documents keyed by
//! case-folded strings (usually a lower-cased ARM resource id). Providers
//! never see how a store keeps its rows: [`MemoryStore`] (throwaway runs,
//! `--in-memory`) and [`RedbStore`] (the default: a crash-safe embedded
//! database in the data dir) pass the same conformance suite.
//!
//! Keys are ordered, so "everything under this resource group" is a prefix
//! scan over the `resources` table.
//!
//! ## Transactions
//!
//! Every single write commits on its own. A handler that writes more than one
//! row does it in one transaction, which commits once or not at all:
//!
//! ```ignore
//! state.store.transaction(|tx| {
//!     tx.put(tables::PRINCIPALS, &sp_key, principal)?;
//!     tx.put(tables::RESOURCES, &id.key(), row)?;
//!     Ok(response)          // Err(..) or a panic: nothing was written
//! })?
//! ```
//!
//! Inside, `tx` reads its own writes; nobody else sees any of them until the
//! closure returns `Ok`, and then sees all of them. Writers are serialised (one
//! transaction at a time, as redb does), so a check made inside a transaction
//! (is this name free?) still holds when it commits.
//!
//! A transaction belongs to the thread that opened it: while the closure
//! runs, everything that thread reads or writes through the store goes
//! through the transaction, so existing helpers that take `&dyn Store` (the
//! directory, operations, identity blocks) join it unchanged, and a whole
//! handler can be wrapped. A transaction opened inside another joins it (redb
//! has no savepoints inside a write transaction); if the inner one fails, the
//! outer one cannot commit.
//! The closure is synchronous, so it never moves threads. Modelled on
//! garage's `db` crate (`Db::transaction`, `ITx`, `on_commit`).
//!
//! ## Every row reads back
//!
//! A row is refused at the write ([`StoreError::TooDeep`],
//! [`StoreError::TooLarge`]) unless it can be read back from the store and from a
//! snapshot: serde_json reads at most 127 levels of nesting, and a snapshot
//! holds each row three levels down, so rows stop at [`MAX_ROW_DEPTH`]. A row
//! that cannot be decoded all the same (written by an older version, or
//! damaged on disk) fails only a read of that one key
//! ([`StoreError::Unreadable`]); scans leave it out (and log it), deletes remove
//! it, and [`Rows::keys`] still lists it.

pub mod index;
mod memory;
mod redb_store;
pub mod snapshot;

pub use index::Indexed;
pub use memory::MemoryStore;
pub use redb_store::RedbStore;

use serde_json::Value;

/// Table names used across the emulator, in one place so nobody invents a near-duplicate.
pub mod tables {
    /// ARM resources of every provider (resource groups included), keyed by [`crate::arm::ResourceId::key`].
    pub const RESOURCES: &str = "resources";
    /// Long-running operations, keyed by operation id.
    pub const OPERATIONS: &str = "operations";
    /// Entra directory objects (service principals), keyed by object id.
    pub const PRINCIPALS: &str = "principals";
    /// Entra application objects (app registrations made through Graph), keyed by lower-cased object id.
    pub const APPLICATIONS: &str = "applications";
    /// Client secrets added to service principals themselves (`servicePrincipals/{id}/addPassword`), keyed by lower-cased object id.
    pub const PRINCIPAL_PASSWORDS: &str = "principal_passwords";
    /// Resource-provider registration state per subscription, keyed by `{sub}/{namespace}` lower-cased.
    pub const REGISTRATIONS: &str = "registrations";
    /// Role assignments, keyed by their lower-cased ARM id (`{scope}/providers/microsoft.authorization/roleassignments/{guid}`),
    /// so everything assigned at or under a scope is a prefix scan.
    pub const ROLE_ASSIGNMENTS: &str = "role_assignments";
    /// Custom role definitions, keyed by lower-cased GUID (built-in roles are embedded, not stored).
    pub const ROLE_DEFINITIONS: &str = "role_definitions";
    /// Registry admin-user passwords, keyed by the registry's lower-cased ARM id (never returned by GET).
    pub const ACR_CREDENTIALS: &str = "acr_credentials";
    /// Template deployments (`Microsoft.Resources/deployments`), keyed by lower-cased id. Kept out of
    /// `resources` because ARM keeps them out of resource lists and Complete-mode deletes.
    pub const DEPLOYMENTS: &str = "deployments";
    /// ACR task runs, keyed `{registry key}/runs/{runId}` (not ARM-listable resources).
    pub const ACR_RUNS: &str = "acr_runs";
    /// ACR task run logs (the blobs behind `listLogSasUrl`), keyed like the runs.
    pub const ACR_RUN_LOGS: &str = "acr_run_logs";
    /// Build contexts uploaded through `listBuildSourceUploadUrl`, keyed by their relative path.
    pub const ACR_SOURCES: &str = "acr_sources";
    /// ACR tasks with enabled timer triggers, keyed by task id: when their schedules were last checked.
    pub const ACR_TASK_TIMERS: &str = "acr_task_timers";
    /// Deleted role assignments still propagating (`--rbac-propagation-delay-seconds`), keyed like role assignments.
    pub const ROLE_ASSIGNMENT_TOMBSTONES: &str = "role_assignment_tombstones";
}

/// The deepest nesting serde_json reads back (it refuses the 128th level).
pub const READABLE_DEPTH: usize = 127;
/// How deep a stored row may nest: a snapshot's `state.json` holds each row
/// three levels down (document → `tables` → table), and must read back too.
pub const MAX_ROW_DEPTH: usize = READABLE_DEPTH - 3;
/// The largest row stored, encoded: four times ARM's 4 MiB request limit
/// ([`crate::web::MAX_BODY`]), room for what the emulator adds to a body.
pub const MAX_ROW_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store backend failed: {0}")]
    Backend(String),
    /// A stored row that does not decode (an older version's row, or damaged bytes).
    #[error("the row '{key}' of table '{table}' cannot be read: {reason}")]
    Unreadable {
        table: String,
        key: String,
        reason: String,
    },
    /// Refused at the write: it would not read back.
    #[error(
        "the row '{key}' of table '{table}' would nest {depth} levels deep (at most {MAX_ROW_DEPTH})"
    )]
    TooDeep {
        table: String,
        key: String,
        depth: usize,
    },
    /// Refused at the write: larger than [`MAX_ROW_BYTES`].
    #[error(
        "the row '{key}' of table '{table}' would take {bytes} bytes (at most {MAX_ROW_BYTES})"
    )]
    TooLarge {
        table: String,
        key: String,
        bytes: usize,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Reading and writing rows: what the store offers directly (each write
/// commits alone) and what a transaction offers (see the module docs).
pub trait Rows {
    /// The row, `None` if absent; [`StoreError::Unreadable`] if it cannot be decoded.
    fn get(&self, table: &str, key: &str) -> StoreResult<Option<Value>>;
    /// Insert or replace; returns the previous row (`None` if there was none,
    /// or if it was unreadable: replacing a broken row repairs it).
    fn put(&self, table: &str, key: &str, value: Value) -> StoreResult<Option<Value>>;
    /// Remove; returns the removed row (`None` if absent or unreadable: the
    /// row is removed either way).
    fn delete(&self, table: &str, key: &str) -> StoreResult<Option<Value>>;
    /// Every readable row whose key starts with `prefix`, in key order
    /// (an unreadable one is left out and logged).
    fn scan(&self, table: &str, prefix: &str) -> StoreResult<Vec<(String, Value)>>;
    /// Every key that starts with `prefix`, in order: unreadable rows' too.
    fn keys(&self, table: &str, prefix: &str) -> StoreResult<Vec<String>>;
    /// The first `limit` keys that start with `prefix`, in order: a range read
    /// that stops early (the head of a queue kept in key order).
    fn first_keys(&self, table: &str, prefix: &str, limit: usize) -> StoreResult<Vec<String>>;
    /// The names of the tables that hold rows, sorted.
    fn tables(&self) -> StoreResult<Vec<String>>;
    /// Drop every row of every table.
    fn clear(&self) -> StoreResult<()>;
}

pub trait Store: Rows + Send + Sync + 'static {
    /// One write transaction around `body` (the object-safe form of
    /// `transaction`): the writes this thread makes while `body` runs (through
    /// its argument or through the store itself) are committed, all together,
    /// if it returns `true`, and dropped if it returns `false` or panics (the
    /// panic goes on after the abort).
    fn transact(&self, body: &mut dyn FnMut(&dyn Rows) -> bool) -> StoreResult<()>;

    /// Run `f` once the transaction this thread holds has committed (never,
    /// if it aborts), or now when it holds none: how state kept beside the
    /// store (an index in memory) follows the rows.
    fn after_commit(&self, f: AfterCommit);
}

impl dyn Store {
    /// Run `body` in one write transaction: committed if it returns `Ok`,
    /// nothing written if it returns `Err` or panics. While it runs, this
    /// thread's reads and writes through the store (helpers that take the
    /// store included) belong to the transaction; other threads see the last
    /// commit, and their writes wait for this one to end.
    pub fn transaction<R, E: From<StoreError>>(
        &self,
        body: impl FnOnce(&dyn Rows) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut body = Some(body);
        let mut out = None;
        self.transact(&mut |tx| {
            let r = (body.take().expect("a transaction body runs once"))(tx);
            let commit = r.is_ok();
            out = Some(r);
            commit
        })?;
        out.expect("the transaction body ran")
    }
}

/// The nesting depth of `v` (a scalar is 0, `[]` and `{}` are 1), without recursing.
pub fn depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(a) => {
                max = max.max(d + 1);
                stack.extend(a.iter().map(|x| (x, d + 1)));
            }
            Value::Object(o) => {
                max = max.max(d + 1);
                stack.extend(o.values().map(|x| (x, d + 1)));
            }
            _ => {}
        }
    }
    max
}

/// Check a row against the limits and encode it (what redb stores).
pub(crate) fn encode(table: &str, key: &str, value: &Value) -> StoreResult<Vec<u8>> {
    check_depth(table, key, value)?;
    let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Backend(e.to_string()))?;
    if bytes.len() > MAX_ROW_BYTES {
        return Err(StoreError::TooLarge {
            table: table.into(),
            key: key.into(),
            bytes: bytes.len(),
        });
    }
    Ok(bytes)
}

/// Check a row against the limits without keeping its encoding (the memory store keeps values).
pub(crate) fn check(table: &str, key: &str, value: &Value) -> StoreResult<()> {
    /// Counts what serde_json writes, keeping none of it.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    check_depth(table, key, value)?;
    let mut n = Count(0);
    serde_json::to_writer(&mut n, value).map_err(|e| StoreError::Backend(e.to_string()))?;
    if n.0 > MAX_ROW_BYTES {
        return Err(StoreError::TooLarge {
            table: table.into(),
            key: key.into(),
            bytes: n.0,
        });
    }
    Ok(())
}

fn check_depth(table: &str, key: &str, value: &Value) -> StoreResult<()> {
    let d = depth(value);
    if d > MAX_ROW_DEPTH {
        return Err(StoreError::TooDeep {
            table: table.into(),
            key: key.into(),
            depth: d,
        });
    }
    Ok(())
}

/// Decode a stored row; a failure names the row.
pub(crate) fn decode(table: &str, key: &str, bytes: &[u8]) -> StoreResult<Value> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Unreadable {
        table: table.into(),
        key: key.into(),
        reason: e.to_string(),
    })
}

/// A row a scan leaves out: logged, so that the operator can find it.
pub(crate) fn skipped(e: &StoreError) {
    tracing::warn!(error = %e, "left an unreadable row out of a scan");
}

/// What runs once a transaction has committed (dropped if it aborts).
pub type AfterCommit = Box<dyn FnOnce() + Send>;

/// A number for the current thread (0 is nobody).
fn thread_key() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static KEY: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    KEY.with(|k| *k)
}

/// The one write transaction a store has open, bound to the thread that
/// opened it: that thread's reads and writes go through it, everybody else
/// sees the last commit, and writers wait their turn.
pub(crate) struct Writer<T> {
    /// The open transaction. std Mutex: held only for one operation, never across an await.
    slot: std::sync::Mutex<Option<OpenTx<T>>>,
    /// Signalled when the slot empties.
    free: std::sync::Condvar,
    /// [`thread_key`] of the thread holding the slot, 0 when empty: lets the
    /// other threads go their way without touching the lock.
    owner: std::sync::atomic::AtomicU64,
}

struct OpenTx<T> {
    tx: T,
    /// A transaction nested in this one aborted: this one cannot commit.
    doomed: bool,
    after: Vec<AfterCommit>,
}

impl<T> Default for Writer<T> {
    fn default() -> Self {
        Writer {
            slot: std::sync::Mutex::new(None),
            free: std::sync::Condvar::new(),
            owner: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl<T> Writer<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OpenTx<T>>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn holds(&self) -> bool {
        self.owner.load(std::sync::atomic::Ordering::Acquire) == thread_key()
    }

    /// `f` on the open transaction, if this thread holds it.
    pub(crate) fn mine<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if !self.holds() {
            return None;
        }
        self.lock().as_mut().map(|o| f(&mut o.tx))
    }

    /// `f` once nobody holds a transaction, keeping anyone from opening one
    /// meanwhile: a single write of a store with no transactions of its own.
    pub(crate) fn alone<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut g = self.lock();
        while g.is_some() {
            g = self.free.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        f()
    }

    /// After this thread's transaction commits, or now when it holds none.
    pub(crate) fn after_commit(&self, f: AfterCommit) {
        if self.holds()
            && let Some(o) = self.lock().as_mut()
        {
            o.after.push(f);
            return;
        }
        f()
    }

    /// One transaction around `body`, seen through `store`. `begin` opens it
    /// (and may wait for another writer), `finish` commits or aborts it while
    /// no other writer can start. A transaction opened inside one this
    /// thread holds joins it; if the inner one aborts, the outer one cannot
    /// commit.
    pub(crate) fn run(
        &self,
        store: &dyn Rows,
        begin: impl FnOnce() -> StoreResult<T>,
        body: &mut dyn FnMut(&dyn Rows) -> bool,
        finish: impl FnOnce(T, bool) -> StoreResult<()>,
    ) -> StoreResult<()> {
        use std::sync::atomic::Ordering;
        if self.holds() {
            if !body(store)
                && let Some(o) = self.lock().as_mut()
            {
                o.doomed = true;
            }
            return Ok(());
        }
        let tx = begin()?;
        {
            let mut g = self.lock();
            while g.is_some() {
                g = self.free.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            *g = Some(OpenTx {
                tx,
                doomed: false,
                after: Vec::new(),
            });
            self.owner.store(thread_key(), Ordering::Release);
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(store)));
        let asked = matches!(outcome, Ok(true));
        let (finished, after, doomed) = {
            let mut g = self.lock();
            let open = g.take().expect("the open transaction");
            self.owner.store(0, Ordering::Release);
            let commit = asked && !open.doomed;
            (finish(open.tx, commit), open.after, open.doomed)
        };
        self.free.notify_all();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        finished?;
        if asked && doomed {
            return Err(StoreError::Backend(
                "a transaction nested in this one aborted: nothing was written".into(),
            ));
        }
        if asked {
            for f in after {
                f();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod conformance {
    //! One suite, run against every `Store` implementation (garage's
    //! `db/test.rs` is the model): the basic operations, transactions, the
    //! row limits, and a proptest of random operation sequences checked
    //! against a model (a `BTreeMap`).
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    pub fn run(store: &dyn Store) {
        basics(store);
        store.clear().unwrap();
        transactions(store);
        store.clear().unwrap();
        limits(store);
        store.clear().unwrap();
        readers_never_see_half_a_transaction(store);
        store.clear().unwrap();
        writers_take_turns(store);
        store.clear().unwrap();
    }

    fn basics(store: &dyn Store) {
        assert_eq!(store.get("t", "a").unwrap(), None);
        assert_eq!(store.put("t", "a/1", json!(1)).unwrap(), None);
        assert_eq!(store.put("t", "a/2", json!(2)).unwrap(), None);
        assert_eq!(store.put("t", "b/1", json!(3)).unwrap(), None);
        assert_eq!(store.put("u", "a/9", json!(9)).unwrap(), None);
        assert_eq!(store.put("t", "a/1", json!(10)).unwrap(), Some(json!(1)));
        assert_eq!(store.get("t", "a/1").unwrap(), Some(json!(10)));
        let keys: Vec<_> = store
            .scan("t", "a/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec!["a/1", "a/2"]);
        assert_eq!(store.keys("t", "a/").unwrap(), vec!["a/1", "a/2"]);
        assert_eq!(store.first_keys("t", "a/", 1).unwrap(), vec!["a/1"]);
        assert_eq!(
            store.first_keys("t", "", 9).unwrap(),
            vec!["a/1", "a/2", "b/1"]
        );
        assert!(store.first_keys("t", "c/", 9).unwrap().is_empty());
        assert_eq!(store.delete("t", "a/2").unwrap(), Some(json!(2)));
        assert_eq!(store.delete("t", "a/2").unwrap(), None);
        assert_eq!(store.scan("t", "").unwrap().len(), 2);
        assert_eq!(store.tables().unwrap(), vec!["t", "u"]);
        assert_eq!(store.delete("u", "a/9").unwrap(), Some(json!(9)));
        assert_eq!(
            store.tables().unwrap(),
            vec!["t"],
            "empty tables are not listed"
        );
        store.clear().unwrap();
        assert!(store.tables().unwrap().is_empty());
        assert!(store.scan("t", "").unwrap().is_empty());
        assert!(store.scan("u", "").unwrap().is_empty());
    }

    #[derive(Debug)]
    struct Refused;
    impl From<StoreError> for Refused {
        fn from(e: StoreError) -> Self {
            panic!("unexpected store error {e}")
        }
    }

    fn transactions(store: &dyn Store) {
        store.put("t", "kept", json!("before")).unwrap();
        // Committed: every write, visible together; the body read its own writes.
        let n = store
            .transaction(|tx| {
                tx.put("t", "a", json!(1))?;
                tx.put("u", "b", json!(2))?;
                assert_eq!(tx.get("t", "a")?, Some(json!(1)));
                assert_eq!(tx.put("t", "a", json!(3))?, Some(json!(1)));
                assert_eq!(tx.delete("t", "kept")?, Some(json!("before")));
                assert_eq!(tx.keys("t", "")?, vec!["a"]);
                assert_eq!(tx.scan("t", "")?, vec![("a".to_string(), json!(3))]);
                // Other threads see none of it yet.
                std::thread::scope(|s| {
                    s.spawn(|| {
                        assert_eq!(store.get("t", "a").unwrap(), None);
                        assert_eq!(store.get("t", "kept").unwrap(), Some(json!("before")));
                        assert_eq!(store.keys("u", "").unwrap(), Vec::<String>::new());
                    });
                });
                Ok::<_, StoreError>(7)
            })
            .unwrap();
        assert_eq!(n, 7);
        assert_eq!(store.get("t", "a").unwrap(), Some(json!(3)));
        assert_eq!(store.get("u", "b").unwrap(), Some(json!(2)));
        assert_eq!(store.get("t", "kept").unwrap(), None);

        // Aborted: nothing.
        let before = everything(store);
        let r: Result<(), Refused> = store.transaction(|tx| {
            tx.put("t", "a", json!("changed")).unwrap();
            tx.put("v", "new", json!(1)).unwrap();
            tx.delete("u", "b").unwrap();
            Err(Refused)
        });
        assert!(r.is_err());
        assert_eq!(everything(store), before);

        // Panicking: nothing, and the store goes on working.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), StoreError> = store.transaction(|tx| {
                tx.put("t", "a", json!("changed"))?;
                tx.clear()?;
                panic!("a handler bug");
            });
        }));
        assert!(panicked.is_err());
        assert_eq!(everything(store), before);
        store.put("t", "after", json!(1)).unwrap();
        assert_eq!(store.delete("t", "after").unwrap(), Some(json!(1)));

        // Clear inside a transaction, then writes: only those remain.
        store
            .transaction(|tx| {
                tx.clear()?;
                assert!(tx.tables()?.is_empty());
                tx.put("w", "only", json!(true))?;
                assert_eq!(tx.tables()?, vec!["w"]);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(store.tables().unwrap(), vec!["w"]);

        // On the transaction's thread, the store itself is the transaction.
        let r: Result<(), Refused> = store.transaction(|_| {
            store.put("w", "ambient", json!(1)).unwrap();
            assert_eq!(store.get("w", "ambient").unwrap(), Some(json!(1)));
            assert_eq!(store.keys("w", "").unwrap(), vec!["ambient", "only"]);
            // Other threads see the last commit.
            std::thread::scope(|s| {
                s.spawn(|| assert_eq!(store.get("w", "ambient").unwrap(), None));
            });
            Err(Refused)
        });
        assert!(r.is_err());
        assert_eq!(store.get("w", "ambient").unwrap(), None);

        // A transaction opened inside another joins it...
        store
            .transaction(|_| {
                store.put("w", "outer", json!(1))?;
                store.transaction(|tx| tx.put("w", "inner", json!(2)))?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(store.keys("w", "").unwrap(), vec!["inner", "only", "outer"]);
        // ... and when it aborts, the outer one cannot commit.
        let r = store.transaction(|_| {
            store.put("w", "outer2", json!(1))?;
            let inner: Result<(), Refused> = store.transaction(|tx| {
                tx.put("w", "inner2", json!(2)).unwrap();
                Err(Refused)
            });
            assert!(inner.is_err());
            Ok::<_, StoreError>(())
        });
        assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
        assert_eq!(store.keys("w", "").unwrap(), vec!["inner", "only", "outer"]);

        // after_commit: after the commit, never after an abort, at once outside a transaction.
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = |n: usize| {
            let ran = ran.clone();
            Box::new(move || {
                ran.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
            }) as AfterCommit
        };
        let seen = || ran.load(std::sync::atomic::Ordering::SeqCst);
        store
            .transaction(|_| {
                store.after_commit(counter(1));
                assert_eq!(seen(), 0);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(seen(), 1);
        let _: Result<(), Refused> = store.transaction(|_| {
            store.after_commit(counter(10));
            Err(Refused)
        });
        assert_eq!(seen(), 1);
        store.after_commit(counter(100));
        assert_eq!(seen(), 101);
    }

    /// Two threads increment one counter in transactions (read, then write):
    /// no increment is lost, because writers take turns.
    fn writers_take_turns(store: &dyn Store) {
        store.put("n", "counter", json!(0)).unwrap();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..50 {
                        store
                            .transaction(|tx| {
                                let n = tx.get("n", "counter")?.and_then(|v| v.as_i64()).unwrap();
                                tx.put("n", "counter", json!(n + 1))
                            })
                            .unwrap();
                    }
                });
            }
            // Single writes from a third thread wait their turn too.
            s.spawn(|| {
                for i in 0..50 {
                    store.put("n", &format!("single{i:02}"), json!(i)).unwrap();
                }
            });
        });
        assert_eq!(store.get("n", "counter").unwrap(), Some(json!(100)));
        assert_eq!(store.keys("n", "single").unwrap().len(), 50);
    }

    /// Every row of every table.
    pub fn everything(store: &dyn Store) -> BTreeMap<String, Vec<(String, Value)>> {
        store
            .tables()
            .unwrap()
            .into_iter()
            .map(|t| {
                let rows = store.scan(&t, "").unwrap();
                (t, rows)
            })
            .collect()
    }

    pub fn nested(depth: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..depth {
            v = json!({ "a": v });
        }
        v
    }

    fn limits(store: &dyn Store) {
        // As deep as allowed: stored, and read back.
        store.put("t", "deep", nested(MAX_ROW_DEPTH)).unwrap();
        assert_eq!(store.get("t", "deep").unwrap(), Some(nested(MAX_ROW_DEPTH)));
        assert_eq!(store.scan("t", "deep").unwrap().len(), 1);
        // One more level: refused, in or out of a transaction, and nothing changed.
        let e = store
            .put("t", "deeper", nested(MAX_ROW_DEPTH + 1))
            .unwrap_err();
        assert!(
            matches!(e, StoreError::TooDeep { depth, .. } if depth == MAX_ROW_DEPTH + 1),
            "{e:?}"
        );
        let e = store
            .transaction(|tx| {
                tx.put("t", "other", json!(1))?;
                tx.put("t", "deeper", json!([nested(MAX_ROW_DEPTH)]))
            })
            .unwrap_err();
        assert!(matches!(e, StoreError::TooDeep { .. }), "{e:?}");
        assert_eq!(store.keys("t", "").unwrap(), vec!["deep"]);
        // Too large: refused.
        let big = json!("x".repeat(MAX_ROW_BYTES));
        let e = store.put("t", "big", big).unwrap_err();
        assert!(matches!(e, StoreError::TooLarge { .. }), "{e:?}");
        assert_eq!(store.get("t", "big").unwrap(), None);
        // The largest allowed fits (two quotes around the string).
        let fits = json!("x".repeat(MAX_ROW_BYTES - 2));
        store.put("t", "big", fits).unwrap();
        assert!(store.delete("t", "big").unwrap().is_some());
    }

    /// A writer commits `x` and `y` together, again and again; a reader's
    /// scan always finds them equal.
    fn readers_never_see_half_a_transaction(store: &dyn Store) {
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                for n in 0..200 {
                    store
                        .transaction(|tx| {
                            tx.put("pair", "x", json!(n))?;
                            tx.put("pair", "y", json!(n))?;
                            Ok::<_, StoreError>(())
                        })
                        .unwrap();
                }
            });
            while !writer.is_finished() {
                let rows = store.scan("pair", "").unwrap();
                if let [(_, x), (_, y)] = rows.as_slice() {
                    assert_eq!(x, y, "a reader saw half a transaction");
                }
            }
        });
    }

    /// One step of a random sequence.
    #[derive(Debug, Clone)]
    pub enum Op {
        Put(&'static str, String, i64),
        Delete(&'static str, String),
        Get(&'static str, String),
        Scan(&'static str, String),
        Clear,
        /// A transaction of these steps, then commit, abort or panic.
        Tx(Vec<Op>, End),
    }

    #[derive(Debug, Clone, Copy)]
    pub enum End {
        Commit,
        Abort,
        Panic,
    }

    pub fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let table = prop_oneof![Just("t"), Just("u")];
        let key = "[ab]{0,1}/?[ab]{0,2}";
        let simple = prop_oneof![
            4 => (table.clone(), key, -3i64..3).prop_map(|(t, k, v)| Op::Put(t, k, v)),
            2 => (table.clone(), key).prop_map(|(t, k)| Op::Delete(t, k)),
            2 => (table.clone(), key).prop_map(|(t, k)| Op::Get(t, k)),
            2 => (table, "[ab]{0,1}/?").prop_map(|(t, p)| Op::Scan(t, p)),
            1 => Just(Op::Clear),
        ];
        prop_oneof![
            4 => simple.clone(),
            1 => (
                proptest::collection::vec(simple, 0..8),
                prop_oneof![Just(End::Commit), Just(End::Abort), Just(End::Panic)],
            )
                .prop_map(|(ops, end)| Op::Tx(ops, end)),
        ]
    }

    /// The panic a transaction ending in [`End::Panic`] raises.
    struct Deliberate;

    /// The rows, and the order their keys were created in.
    #[derive(Clone, Default)]
    struct Model {
        rows: BTreeMap<(&'static str, String), Value>,
        created: Vec<(&'static str, String)>,
    }

    impl Model {
        fn insert(&mut self, t: &'static str, k: &str, v: Value) -> Option<Value> {
            let old = self.rows.insert((t, k.to_string()), v);
            if old.is_none() {
                self.created.push((t, k.to_string()));
            }
            old
        }

        fn remove(&mut self, t: &'static str, k: &str) -> Option<Value> {
            self.created.retain(|(mt, mk)| !(*mt == t && mk == k));
            self.rows.remove(&(t, k.to_string()))
        }
    }

    /// Indexes on table `t` for the suite: by the value's sign, and by the key's first letter.
    pub static TEST_INDEXES: index::Indexes = &[&BY_SIGN, &BY_FIRST];
    static BY_SIGN: index::Index = index::Index {
        table: "t",
        name: "sign",
        terms: |_, v| match v.as_i64() {
            Some(n) if n < 0 => vec!["neg".into()],
            Some(0) => vec!["zero".into()],
            Some(_) => vec!["pos".into()],
            None => vec![],
        },
    };
    static BY_FIRST: index::Index = index::Index {
        table: "t",
        name: "first",
        terms: |k, _| k.chars().next().map(String::from).into_iter().collect(),
    };

    /// Each test index answers, for every term, the model's rows in creation order.
    fn check_indexes(rows: &dyn Rows, model: &Model, indexes: index::Indexes) {
        for ix in indexes {
            for term in ["neg", "zero", "pos", "a", "b", "/"] {
                let want: Vec<String> = model
                    .created
                    .iter()
                    .filter(|(t, _)| *t == ix.table)
                    .filter(|(t, k)| {
                        (ix.terms)(k, &model.rows[&(*t, k.clone())]).contains(&term.to_string())
                    })
                    .map(|(_, k)| k.clone())
                    .collect();
                assert_eq!(
                    ix.keys(rows, term).unwrap(),
                    want,
                    "index {} term {term}",
                    ix.name
                );
                let found: Vec<String> = ix
                    .find(rows, term)
                    .unwrap()
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                assert_eq!(found, want);
            }
        }
    }

    /// Apply `op` to `rows` (the store, or a transaction of it) and to `model`, comparing what each answers.
    fn step(rows: &dyn Rows, model: &mut Model, op: &Op, indexes: index::Indexes) {
        match op {
            Op::Put(t, k, v) => assert_eq!(
                rows.put(t, k, json!(v)).unwrap(),
                model.insert(t, k, json!(v)),
                "{op:?}"
            ),
            Op::Delete(t, k) => {
                assert_eq!(rows.delete(t, k).unwrap(), model.remove(t, k), "{op:?}")
            }
            Op::Get(t, k) => assert_eq!(
                rows.get(t, k).unwrap(),
                model.rows.get(&(*t, k.clone())).cloned(),
                "{op:?}"
            ),
            Op::Scan(t, p) => {
                let want: Vec<(String, Value)> = model
                    .rows
                    .iter()
                    .filter(|((mt, k), _)| mt == t && k.starts_with(p.as_str()))
                    .map(|((_, k), v)| (k.clone(), v.clone()))
                    .collect();
                let keys: Vec<String> = want.iter().map(|(k, _)| k.clone()).collect();
                assert_eq!(rows.scan(t, p).unwrap(), want, "{op:?}");
                assert_eq!(rows.keys(t, p).unwrap(), keys, "{op:?}");
            }
            Op::Clear => {
                rows.clear().unwrap();
                *model = Model::default();
            }
            Op::Tx(..) => unreachable!("transactions do not nest"),
        }
        let mut tables: Vec<&str> = model.rows.keys().map(|(t, _)| *t).collect();
        tables.dedup();
        assert_eq!(rows.tables().unwrap(), tables, "after {op:?}");
        check_indexes(rows, model, indexes);
    }

    /// Run `ops` against `store` (emptied first) and the model; `indexes`
    /// are those the store keeps (checked after every step).
    pub fn check_sequence(store: &dyn Store, ops: &[Op], indexes: index::Indexes) {
        store.clear().unwrap();
        let mut model = Model::default();
        for op in ops {
            let Op::Tx(inner, end) = op else {
                step(store, &mut model, op, indexes);
                continue;
            };
            let mut scratch = model.clone();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                store.transaction(|tx| {
                    for op in inner {
                        step(tx, &mut scratch, op, indexes);
                    }
                    match end {
                        End::Commit => Ok(()),
                        End::Abort => Err(Refused),
                        End::Panic => std::panic::panic_any(Deliberate),
                    }
                })
            }));
            match (end, outcome) {
                (End::Commit, Ok(Ok(()))) => model = scratch,
                (End::Abort, Ok(Err(Refused))) => {}
                (End::Panic, Err(p)) if p.is::<Deliberate>() => {}
                // A failed assertion inside the transaction.
                (_, Err(p)) => std::panic::resume_unwind(p),
                (end, _) => panic!("transaction ending {end:?} did not end so"),
            }
            check_indexes(store, &model, indexes);
            for t in ["t", "u"] {
                let want: Vec<(String, Value)> = model
                    .rows
                    .iter()
                    .filter(|((mt, _), _)| *mt == t)
                    .map(|((_, k), v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(store.scan(t, "").unwrap(), want, "after {op:?}");
            }
        }
    }
}
