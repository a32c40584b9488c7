use super::{Store, StoreResult};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// In-memory store: one ordered map per table.
///
/// std `RwLock`: never held across an `.await` (no method here is async).
#[derive(Default)]
pub struct MemoryStore {
    tables: RwLock<BTreeMap<String, BTreeMap<String, Value>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn get(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        Ok(tables.get(table).and_then(|t| t.get(key)).cloned())
    }

    fn put(&self, table: &str, key: &str, value: Value) -> StoreResult<Option<Value>> {
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        Ok(tables
            .entry(table.to_string())
            .or_default()
            .insert(key.to_string(), value))
    }

    fn delete(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        Ok(tables.get_mut(table).and_then(|t| t.remove(key)))
    }

    fn scan(&self, table: &str, prefix: &str) -> StoreResult<Vec<(String, Value)>> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let Some(t) = tables.get(table) else {
            return Ok(Vec::new());
        };
        Ok(t.range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn tables(&self) -> StoreResult<Vec<String>> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        Ok(tables
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(n, _)| n.clone())
            .collect())
    }

    fn clear(&self) -> StoreResult<()> {
        self.tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_store_conformance() {
        super::super::conformance::run(&super::MemoryStore::new());
    }
}
