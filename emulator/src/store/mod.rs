//! State sits behind one trait, [`Store`]: tables of JSON documents keyed by
//! case-folded strings (usually a lower-cased ARM resource id). Providers
//! never see how a store keeps its rows: [`MemoryStore`] (throwaway runs,
//! `--in-memory`) and [`RedbStore`] (the default: a crash-safe embedded
//! database in the data dir) pass the same conformance suite.
//!
//! Keys are ordered, so "everything under this resource group" is a prefix
//! scan over the `resources` table.

mod memory;
mod redb_store;
pub mod snapshot;

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store backend failed: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub trait Store: Send + Sync + 'static {
    fn get(&self, table: &str, key: &str) -> StoreResult<Option<Value>>;
    /// Insert or replace; returns the previous row.
    fn put(&self, table: &str, key: &str, value: Value) -> StoreResult<Option<Value>>;
    /// Remove; returns the removed row.
    fn delete(&self, table: &str, key: &str) -> StoreResult<Option<Value>>;
    /// Every row whose key starts with `prefix`, in key order.
    fn scan(&self, table: &str, prefix: &str) -> StoreResult<Vec<(String, Value)>>;
    /// Drop every row of every table.
    fn clear(&self) -> StoreResult<()>;
    /// The names of the tables that hold rows, sorted.
    fn tables(&self) -> StoreResult<Vec<String>>;
}

#[cfg(test)]
pub(crate) mod conformance {
    //! One suite, run against every `Store` implementation.
    use super::*;
    use serde_json::json;

    pub fn run(store: &dyn Store) {
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
}
