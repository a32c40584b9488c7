//! Role assignments by principal, so that authorize() reads a caller's own
//! assignments instead of scanning every assignment in the store. Built from
//! the store at start (and after a reset or a restored snapshot), kept in step
//! by [`super::access::put_assignment`] and [`super::access::delete_assignment`],
//! the only writers of the role-assignment table.

use crate::store::{Store, StoreResult, tables};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

#[derive(Default)]
pub struct AssignmentIndex(RwLock<HashMap<String, BTreeSet<String>>>);

fn principal_of(row: &Value) -> Option<String> {
    row["properties"]["principalId"]
        .as_str()
        .map(str::to_ascii_lowercase)
}

impl AssignmentIndex {
    /// Forget everything and read the table again.
    pub fn rebuild(&self, store: &dyn Store) -> StoreResult<()> {
        let mut map: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (k, v) in store.scan(tables::ROLE_ASSIGNMENTS, "")? {
            if let Some(p) = principal_of(&v) {
                map.entry(p).or_default().insert(k);
            }
        }
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    pub fn insert(&self, key: &str, row: &Value) {
        if let Some(p) = principal_of(row) {
            self.0
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(p)
                .or_default()
                .insert(key.to_string());
        }
    }

    pub fn remove(&self, key: &str, row: &Value) {
        if let Some(p) = principal_of(row) {
            let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
            if let Some(keys) = map.get_mut(&p) {
                keys.remove(key);
                if keys.is_empty() {
                    map.remove(&p);
                }
            }
        }
    }

    /// The store keys of the assignments naming `principal` (any case).
    pub fn keys_of(&self, principal: &str) -> Vec<String> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&principal.to_ascii_lowercase())
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Rows};
    use serde_json::json;

    #[test]
    fn follows_inserts_removes_and_rebuilds() {
        let store = MemoryStore::new();
        let row = |p: &str| json!({"properties": {"principalId": p}});
        store.put(tables::ROLE_ASSIGNMENTS, "a", row("P1")).unwrap();
        store.put(tables::ROLE_ASSIGNMENTS, "b", row("p2")).unwrap();
        let ix = AssignmentIndex::default();
        ix.rebuild(&store).unwrap();
        assert_eq!(ix.keys_of("p1"), ["a"]);
        ix.insert("c", &row("p1"));
        assert_eq!(ix.keys_of("P1"), ["a", "c"]);
        ix.remove("a", &row("p1"));
        ix.remove("c", &row("p1"));
        assert!(ix.keys_of("p1").is_empty());
        assert_eq!(ix.keys_of("p2"), ["b"]);
    }
}
