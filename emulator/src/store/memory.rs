use super::{AfterCommit, Rows, Store, StoreResult, Writer, check};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

type Tables = BTreeMap<String, BTreeMap<String, Value>>;

/// In-memory store: one ordered map per table.
///
/// Transactions behave as redb's do: one writer at a time, its writes kept
/// aside (an `Overlay`) until it commits, then applied under one write lock,
/// so that readers see all of a transaction or none of it.
///
/// std locks: never held across an `.await` (no method here is async).
#[derive(Default)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
    writer: Writer<Overlay>,
}

/// A transaction's writes, not yet applied.
#[derive(Default)]
struct Overlay {
    /// table → key → the row written (`None`: deleted).
    writes: BTreeMap<String, BTreeMap<String, Option<Value>>>,
    /// `clear` was called: the committed rows count as gone.
    cleared: bool,
}

fn range<'a>(
    t: &'a BTreeMap<String, Value>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
    t.range(prefix.to_string()..)
        .take_while(move |(k, _)| k.starts_with(prefix))
}

impl Overlay {
    fn get(&self, base: &Tables, table: &str, key: &str) -> Option<Value> {
        match self.writes.get(table).and_then(|t| t.get(key)) {
            Some(w) => w.clone(),
            None if self.cleared => None,
            None => base.get(table).and_then(|t| t.get(key)).cloned(),
        }
    }

    fn write(&mut self, base: &Tables, table: &str, key: &str, v: Option<Value>) -> Option<Value> {
        let old = self.get(base, table, key);
        self.writes
            .entry(table.to_string())
            .or_default()
            .insert(key.to_string(), v);
        old
    }

    /// The rows under `prefix` as the transaction sees them.
    fn merged(&self, base: &Tables, table: &str, prefix: &str) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        if !self.cleared
            && let Some(t) = base.get(table)
        {
            out.extend(range(t, prefix).map(|(k, v)| (k.clone(), v.clone())));
        }
        if let Some(w) = self.writes.get(table) {
            for (k, v) in w
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                match v {
                    Some(v) => out.insert(k.clone(), v.clone()),
                    None => out.remove(k),
                };
            }
        }
        out
    }

    fn tables(&self, base: &Tables) -> Vec<String> {
        let mut names: BTreeSet<&String> = self.writes.keys().collect();
        if !self.cleared {
            names.extend(base.keys());
        }
        names
            .into_iter()
            .filter(|n| !self.merged(base, n, "").is_empty())
            .cloned()
            .collect()
    }

    fn clear(&mut self) {
        self.cleared = true;
        self.writes.clear();
    }

    fn apply(self, base: &mut Tables) {
        if self.cleared {
            base.clear();
        }
        for (name, rows) in self.writes {
            let t = base.entry(name).or_default();
            for (k, v) in rows {
                match v {
                    Some(v) => t.insert(k, v),
                    None => t.remove(&k),
                };
            }
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    /// `f` on the open transaction (if this thread holds one) or on the
    /// committed rows, committing at once.
    fn writing<R>(
        &self,
        in_tx: impl FnOnce(&mut Overlay, &Tables) -> R,
        alone: impl FnOnce(&mut Tables) -> R,
    ) -> R {
        self.writer
            .mine(|o| in_tx(o, &self.read()))
            .unwrap_or_else(|| self.writer.alone(|| alone(&mut self.write())))
    }

    /// `f` on the open transaction (if this thread holds one) or on the committed rows.
    fn reading<R>(
        &self,
        in_tx: impl FnOnce(&Overlay, &Tables) -> R,
        alone: impl FnOnce(&Tables) -> R,
    ) -> R {
        self.writer
            .mine(|o| in_tx(o, &self.read()))
            .unwrap_or_else(|| alone(&self.read()))
    }
}

impl Rows for MemoryStore {
    fn get(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        Ok(self.reading(
            |o, base| o.get(base, table, key),
            |base| base.get(table).and_then(|t| t.get(key)).cloned(),
        ))
    }

    fn put(&self, table: &str, key: &str, value: Value) -> StoreResult<Option<Value>> {
        check(table, key, &value)?;
        // Taken by whichever of the two closures runs.
        let value = std::cell::Cell::new(Some(value));
        Ok(self.writing(
            |o, base| o.write(base, table, key, value.take()),
            |base| {
                base.entry(table.to_string())
                    .or_default()
                    .insert(key.to_string(), value.take().expect("once"))
            },
        ))
    }

    fn delete(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        Ok(self.writing(
            |o, base| o.write(base, table, key, None),
            |base| base.get_mut(table).and_then(|t| t.remove(key)),
        ))
    }

    fn scan(&self, table: &str, prefix: &str) -> StoreResult<Vec<(String, Value)>> {
        Ok(self.reading(
            |o, base| o.merged(base, table, prefix).into_iter().collect(),
            |base| {
                base.get(table)
                    .map(|t| {
                        range(t, prefix)
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            },
        ))
    }

    fn keys(&self, table: &str, prefix: &str) -> StoreResult<Vec<String>> {
        Ok(self.reading(
            |o, base| o.merged(base, table, prefix).into_keys().collect(),
            |base| {
                base.get(table)
                    .map(|t| range(t, prefix).map(|(k, _)| k.clone()).collect())
                    .unwrap_or_default()
            },
        ))
    }

    fn first_keys(&self, table: &str, prefix: &str, limit: usize) -> StoreResult<Vec<String>> {
        Ok(self.reading(
            |o, base| {
                o.merged(base, table, prefix)
                    .into_keys()
                    .take(limit)
                    .collect()
            },
            |base| {
                base.get(table)
                    .map(|t| {
                        range(t, prefix)
                            .take(limit)
                            .map(|(k, _)| k.clone())
                            .collect()
                    })
                    .unwrap_or_default()
            },
        ))
    }

    fn tables(&self) -> StoreResult<Vec<String>> {
        Ok(self.reading(
            |o, base| o.tables(base),
            |base| {
                base.iter()
                    .filter(|(_, t)| !t.is_empty())
                    .map(|(n, _)| n.clone())
                    .collect()
            },
        ))
    }

    fn clear(&self) -> StoreResult<()> {
        self.writing(|o, _| o.clear(), |base| base.clear());
        Ok(())
    }
}

impl Store for MemoryStore {
    fn transact(&self, body: &mut dyn FnMut(&dyn Rows) -> bool) -> StoreResult<()> {
        self.writer.run(
            self,
            || Ok(Overlay::default()),
            body,
            |overlay, commit| {
                if commit {
                    overlay.apply(&mut self.write());
                }
                Ok(())
            },
        )
    }

    fn after_commit(&self, f: AfterCommit) {
        self.writer.after_commit(f)
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;

    use super::super::Indexed;

    #[test]
    fn memory_store_conformance() {
        conformance::run(&super::MemoryStore::new());
        conformance::run(
            &Indexed::with(super::MemoryStore::new(), conformance::TEST_INDEXES).unwrap(),
        );
    }

    proptest::proptest! {
        #[test]
        fn memory_store_follows_the_model(ops in proptest::collection::vec(conformance::op_strategy(), 0..40)) {
            conformance::check_sequence(&super::MemoryStore::new(), &ops, &[]);
        }

        #[test]
        fn indexed_memory_store_follows_the_model(ops in proptest::collection::vec(conformance::op_strategy(), 0..40)) {
            let store = Indexed::with(super::MemoryStore::new(), conformance::TEST_INDEXES).unwrap();
            conformance::check_sequence(&store, &ops, conformance::TEST_INDEXES);
        }
    }
}
