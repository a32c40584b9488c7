use super::{Store, StoreError, StoreResult};
use redb::{Database, TableDefinition, TableHandle};
use serde_json::Value;
use std::path::Path;

/// The persistent store: one redb database (`<data dir>/state.redb`), one redb
/// table per store table, JSON values. Every write is its own transaction,
/// committed durably before it returns: an acknowledged write survives a
/// crash, and a half-done one is never visible.
pub struct RedbStore {
    db: Database,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn def(table: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(table)
}

fn decode(bytes: &[u8]) -> StoreResult<Value> {
    serde_json::from_slice(bytes).map_err(backend)
}

impl RedbStore {
    pub fn open(path: &Path) -> StoreResult<Self> {
        Ok(RedbStore {
            db: Database::create(path).map_err(backend)?,
        })
    }
}

impl Store for RedbStore {
    fn get(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = match tx.open_table(def(table)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        match t.get(key).map_err(backend)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    fn put(&self, table: &str, key: &str, value: Value) -> StoreResult<Option<Value>> {
        let bytes = serde_json::to_vec(&value).map_err(backend)?;
        let tx = self.db.begin_write().map_err(backend)?;
        let old = {
            let mut t = tx.open_table(def(table)).map_err(backend)?;
            let old = t.insert(key, bytes.as_slice()).map_err(backend)?;
            old.map(|o| decode(o.value())).transpose()?
        };
        tx.commit().map_err(backend)?;
        Ok(old)
    }

    fn delete(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        let tx = self.db.begin_write().map_err(backend)?;
        let old = {
            let mut t = tx.open_table(def(table)).map_err(backend)?;
            let old = t.remove(key).map_err(backend)?;
            old.map(|o| decode(o.value())).transpose()?
        };
        tx.commit().map_err(backend)?;
        Ok(old)
    }

    fn scan(&self, table: &str, prefix: &str) -> StoreResult<Vec<(String, Value)>> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = match tx.open_table(def(table)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(backend(e)),
        };
        let mut out = Vec::new();
        for row in t.range(prefix..).map_err(backend)? {
            let (k, v) = row.map_err(backend)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_string(), decode(v.value())?));
        }
        Ok(out)
    }

    fn tables(&self) -> StoreResult<Vec<String>> {
        let tx = self.db.begin_read().map_err(backend)?;
        let mut names: Vec<String> = tx
            .list_tables()
            .map_err(backend)?
            .map(|h| h.name().to_string())
            .filter(|n| self.scan(n, "").is_ok_and(|rows| !rows.is_empty()))
            .collect();
        names.sort();
        Ok(names)
    }

    fn clear(&self) -> StoreResult<()> {
        let tx = self.db.begin_write().map_err(backend)?;
        let names: Vec<String> = tx
            .list_tables()
            .map_err(backend)?
            .map(|h| h.name().to_string())
            .collect();
        for n in names {
            tx.delete_table(def(&n)).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redb_store_conformance() {
        let dir = tempfile_dir();
        super::super::conformance::run(&RedbStore::open(&dir.join("state.redb")).unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn survives_reopening() {
        let dir = tempfile_dir();
        let path = dir.join("state.redb");
        {
            let s = RedbStore::open(&path).unwrap();
            s.put("t", "k", serde_json::json!({"a": 1})).unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.get("t", "k").unwrap(), Some(serde_json::json!({"a": 1})));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("azemu-redb-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
