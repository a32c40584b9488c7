use super::{AfterCommit, Rows, Store, StoreError, StoreResult, Writer, decode, encode, skipped};
use redb::{
    Database, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle, WriteTransaction,
};
use serde_json::Value;
use std::path::Path;

/// The persistent store: one redb database (`<data dir>/state.redb`), one redb
/// table per store table, JSON values. Every write (a single one, or a
/// transaction's) is committed durably before it returns: an acknowledged
/// write survives a crash, and a half-done one is never visible.
pub struct RedbStore {
    db: Database,
    /// The open write transaction and its thread (redb itself lets one writer in at a time).
    writer: Writer<WriteTransaction>,
}

/// redb's page cache. Its default (1 GiB) lets the cache grow with the data;
/// this keeps a big world's memory flat (the OS page cache still holds the file).
const CACHE_BYTES: usize = 64 * 1024 * 1024;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

type Def<'a> = TableDefinition<'a, &'static str, &'static [u8]>;

fn def(table: &str) -> Def<'_> {
    TableDefinition::new(table)
}

/// A removed or replaced row, decoded if it can be (see [`Rows::put`]).
fn previous(table: &str, key: &str, bytes: Option<&[u8]>) -> Option<Value> {
    match decode(table, key, bytes?) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "replaced or removed an unreadable row");
            None
        }
    }
}

fn get_in(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    table: &str,
    key: &str,
) -> StoreResult<Option<Value>> {
    match t.get(key).map_err(backend)? {
        Some(v) => Ok(Some(decode(table, key, v.value())?)),
        None => Ok(None),
    }
}

fn scan_in(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    table: &str,
    prefix: &str,
) -> StoreResult<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for row in t.range(prefix..).map_err(backend)? {
        let (k, v) = row.map_err(backend)?;
        let k = k.value();
        if !k.starts_with(prefix) {
            break;
        }
        match decode(table, k, v.value()) {
            Ok(v) => out.push((k.to_string(), v)),
            Err(e) => skipped(&e),
        }
    }
    Ok(out)
}

fn keys_in(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
    limit: usize,
) -> StoreResult<Vec<String>> {
    let mut out = Vec::new();
    for row in t.range(prefix..).map_err(backend)? {
        let (k, _) = row.map_err(backend)?;
        if !k.value().starts_with(prefix) || out.len() == limit {
            break;
        }
        out.push(k.value().to_string());
    }
    Ok(out)
}

/// What a write transaction can do, whether it is a transaction's or a single write's.
mod write {
    use super::*;

    pub fn get(tx: &WriteTransaction, table: &str, key: &str) -> StoreResult<Option<Value>> {
        get_in(&tx.open_table(def(table)).map_err(backend)?, table, key)
    }

    pub fn put(
        tx: &WriteTransaction,
        table: &str,
        key: &str,
        value: &Value,
    ) -> StoreResult<Option<Value>> {
        let bytes = encode(table, key, value)?;
        let mut t = tx.open_table(def(table)).map_err(backend)?;
        let old = t.insert(key, bytes.as_slice()).map_err(backend)?;
        Ok(previous(table, key, old.as_ref().map(|o| o.value())))
    }

    pub fn delete(tx: &WriteTransaction, table: &str, key: &str) -> StoreResult<Option<Value>> {
        let mut t = tx.open_table(def(table)).map_err(backend)?;
        let old = t.remove(key).map_err(backend)?;
        Ok(previous(table, key, old.as_ref().map(|o| o.value())))
    }

    pub fn scan(
        tx: &WriteTransaction,
        table: &str,
        prefix: &str,
    ) -> StoreResult<Vec<(String, Value)>> {
        scan_in(&tx.open_table(def(table)).map_err(backend)?, table, prefix)
    }

    pub fn keys(
        tx: &WriteTransaction,
        table: &str,
        prefix: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        keys_in(&tx.open_table(def(table)).map_err(backend)?, prefix, limit)
    }

    fn names(tx: &WriteTransaction) -> StoreResult<Vec<String>> {
        Ok(tx
            .list_tables()
            .map_err(backend)?
            .map(|h| h.name().to_string())
            .collect())
    }

    pub fn tables(tx: &WriteTransaction) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        for n in names(tx)? {
            let t = tx.open_table(def(&n)).map_err(backend)?;
            if !t.is_empty().map_err(backend)? {
                out.push(n);
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn clear(tx: &WriteTransaction) -> StoreResult<()> {
        for n in names(tx)? {
            tx.delete_table(def(&n)).map_err(backend)?;
        }
        Ok(())
    }
}

impl RedbStore {
    pub fn open(path: &Path) -> StoreResult<Self> {
        Ok(RedbStore {
            db: redb::Builder::new()
                .set_cache_size(CACHE_BYTES)
                .create(path)
                .map_err(backend)?,
            writer: Writer::default(),
        })
    }

    /// `f` over `table` in a read transaction; `None` when the table does not exist.
    fn reading<R>(
        &self,
        table: &str,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> StoreResult<R>,
    ) -> StoreResult<Option<R>> {
        let tx = self.db.begin_read().map_err(backend)?;
        match tx.open_table(def(table)) {
            Ok(t) => f(&t).map(Some),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// `f` in the transaction this thread holds, or else in a write transaction of its own, committed.
    fn writing<R>(&self, f: impl Fn(&WriteTransaction) -> StoreResult<R>) -> StoreResult<R> {
        if let Some(r) = self.writer.mine(|tx| f(tx)) {
            return r;
        }
        let tx = self.db.begin_write().map_err(backend)?;
        let r = f(&tx)?;
        tx.commit().map_err(backend)?;
        Ok(r)
    }

    /// Store `bytes` under `key` as they are, readable or not: how a test
    /// plants a row an older version wrote, or one damaged on disk.
    #[doc(hidden)]
    pub fn put_raw(&self, table: &str, key: &str, bytes: &[u8]) -> StoreResult<()> {
        let tx = self.db.begin_write().map_err(backend)?;
        tx.open_table(def(table))
            .map_err(backend)?
            .insert(key, bytes)
            .map_err(backend)?;
        tx.commit().map_err(backend)
    }
}

impl Rows for RedbStore {
    fn get(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        if let Some(r) = self.writer.mine(|tx| write::get(tx, table, key)) {
            return r;
        }
        Ok(self.reading(table, |t| get_in(t, table, key))?.flatten())
    }

    fn put(&self, table: &str, key: &str, value: Value) -> StoreResult<Option<Value>> {
        self.writing(|tx| write::put(tx, table, key, &value))
    }

    fn delete(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        self.writing(|tx| write::delete(tx, table, key))
    }

    fn scan(&self, table: &str, prefix: &str) -> StoreResult<Vec<(String, Value)>> {
        if let Some(r) = self.writer.mine(|tx| write::scan(tx, table, prefix)) {
            return r;
        }
        Ok(self
            .reading(table, |t| scan_in(t, table, prefix))?
            .unwrap_or_default())
    }

    fn keys(&self, table: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.first_keys(table, prefix, usize::MAX)
    }

    fn first_keys(&self, table: &str, prefix: &str, limit: usize) -> StoreResult<Vec<String>> {
        if let Some(r) = self.writer.mine(|tx| write::keys(tx, table, prefix, limit)) {
            return r;
        }
        Ok(self
            .reading(table, |t| keys_in(t, prefix, limit))?
            .unwrap_or_default())
    }

    fn tables(&self) -> StoreResult<Vec<String>> {
        if let Some(r) = self.writer.mine(|tx| write::tables(tx)) {
            return r;
        }
        let tx = self.db.begin_read().map_err(backend)?;
        let mut names = Vec::new();
        for h in tx.list_tables().map_err(backend)? {
            let t = tx.open_table(def(h.name())).map_err(backend)?;
            if !t.is_empty().map_err(backend)? {
                names.push(h.name().to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn clear(&self) -> StoreResult<()> {
        self.writing(write::clear)
    }
}

impl Store for RedbStore {
    fn transact(&self, body: &mut dyn FnMut(&dyn Rows) -> bool) -> StoreResult<()> {
        self.writer.run(
            self,
            || self.db.begin_write().map_err(backend),
            body,
            // Ended explicitly, panics included: redb does not abort a write
            // transaction dropped while panicking (the next writer would wait
            // for ever).
            |tx, commit| {
                if commit {
                    tx.commit().map_err(backend)
                } else {
                    tx.abort().map_err(backend)
                }
            },
        )
    }

    fn after_commit(&self, f: AfterCommit) {
        self.writer.after_commit(f)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn redb_store_conformance() {
        let dir = tempfile_dir();
        super::super::conformance::run(&RedbStore::open(&dir.join("state.redb")).unwrap());
        let indexed = super::super::Indexed::with(
            RedbStore::open(&dir.join("indexed.redb")).unwrap(),
            super::super::conformance::TEST_INDEXES,
        )
        .unwrap();
        super::super::conformance::run(&indexed);
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

    proptest::proptest! {
        // Each case commits durably many times: fewer cases than the memory store's.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn redb_store_follows_the_model(ops in proptest::collection::vec(super::super::conformance::op_strategy(), 0..40)) {
            let dir = tempfile_dir();
            super::super::conformance::check_sequence(&RedbStore::open(&dir.join("state.redb")).unwrap(), &ops, &[]);
            let _ = std::fs::remove_dir_all(dir);
        }

        #[test]
        fn indexed_redb_store_follows_the_model(ops in proptest::collection::vec(super::super::conformance::op_strategy(), 0..40)) {
            use super::super::conformance::TEST_INDEXES;
            let dir = tempfile_dir();
            let store = super::super::Indexed::with(RedbStore::open(&dir.join("state.redb")).unwrap(), TEST_INDEXES).unwrap();
            super::super::conformance::check_sequence(&store, &ops, TEST_INDEXES);
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// A row that does not decode (damaged bytes, or an older version's row
    /// nested deeper than serde_json reads) fails a read of its own key, and
    /// nothing else: scans leave it out, keys list it, delete and put work.
    #[test]
    fn an_unreadable_row_is_isolated() {
        use serde_json::json;
        let dir = tempfile_dir();
        let s = RedbStore::open(&dir.join("state.redb")).unwrap();
        s.put("t", "a", json!(1)).unwrap();
        s.put("t", "c", json!(3)).unwrap();
        let too_deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        for broken in [&b"{\"not json"[..], too_deep.as_bytes()] {
            s.put_raw("t", "b", broken).unwrap();
            let e = s.get("t", "b").unwrap_err();
            assert!(
                matches!(&e, StoreError::Unreadable { table, key, .. } if table == "t" && key == "b"),
                "{e:?}"
            );
            assert_eq!(
                s.scan("t", "").unwrap(),
                vec![("a".into(), json!(1)), ("c".into(), json!(3))]
            );
            assert_eq!(s.keys("t", "").unwrap(), vec!["a", "b", "c"]);
            assert_eq!(s.tables().unwrap(), vec!["t"]);
            // Inside a transaction too.
            (&s as &dyn crate::store::Store)
                .transaction(|tx| {
                    assert!(matches!(
                        tx.get("t", "b"),
                        Err(StoreError::Unreadable { .. })
                    ));
                    assert_eq!(tx.scan("t", "").unwrap().len(), 2);
                    Ok::<_, StoreError>(())
                })
                .unwrap();
            // Deleted like any other row.
            assert_eq!(s.delete("t", "b").unwrap(), None);
            assert_eq!(s.keys("t", "").unwrap(), vec!["a", "c"]);
            // Or repaired by a put.
            s.put_raw("t", "b", broken).unwrap();
            assert_eq!(s.put("t", "b", json!(2)).unwrap(), None);
            assert_eq!(s.get("t", "b").unwrap(), Some(json!(2)));
            s.delete("t", "b").unwrap();
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    pub(crate) fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("azemu-redb-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
