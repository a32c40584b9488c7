//! Secondary indexes, kept with the rows they index.
//!
//! [`Indexed`] wraps either store. A write to a table that has indexes (see
//! [`INDEXES`]) also writes, in the same transaction:
//!
//! - the row's **header** (`~head/{table}`): its creation sequence (a counter
//!   per table, kept when the row is replaced) and the terms each index files
//!   it under. Removing the old entries reads the header, never the old row,
//!   so a row that no longer decodes still leaves its indexes cleanly;
//! - one **entry** per term (`~index/{table}/{index}`), keyed
//!   `{term}\0{sequence}\0{row key}`: every row filed under a term is one
//!   range read, in creation order.
//!
//! Nothing else in the emulator writes these tables: they follow the rows
//! whoever writes them, inside or outside a transaction, and a transaction
//! that aborts drops them with its rows. They are not part of
//! [`Rows::tables`] (so snapshots leave them out; an import rebuilds them by
//! writing the rows). When a store is opened whose indexes are missing or out
//! of step (a data dir an older version wrote, rows planted from outside),
//! they are rebuilt from the rows, once, before anything is served.
//!
//! Modelled on garage's table indexes (`garage_table::schema` keeps derived
//! entries next to the row, updated in the row's transaction).

use super::{AfterCommit, Rows, Store, StoreError, StoreResult, check, tables};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A secondary index: what a row of `table` is found by.
pub struct Index {
    pub table: &'static str,
    pub name: &'static str,
    /// The terms the row is filed under (none: not in this index). Terms are
    /// compared exactly; the functions below lower-case what Azure compares
    /// case-insensitively.
    pub terms: fn(key: &str, row: &Value) -> Vec<String>,
}

/// Bump when an index is added or its terms change: stores opened with an
/// older version rebuild their indexes.
pub const VERSION: u64 = 1;

const META: &str = "~meta";
const VERSION_KEY: &str = "index-version";
const SEP: char = '\0';

fn head_table(table: &str) -> String {
    format!("~head/{table}")
}

fn index_table(ix: &Index) -> String {
    format!("~index/{}/{}", ix.table, ix.name)
}

/// Tables the store keeps for itself (headers, index entries, counters).
pub fn internal(table: &str) -> bool {
    table.starts_with('~')
}

fn entry(term: &str, seq: u64, key: &str) -> String {
    format!("{term}{SEP}{seq:016x}{SEP}{key}")
}

fn entry_key(entry: &str) -> Option<&str> {
    entry.splitn(3, SEP).nth(2)
}

/// What the store keeps about each row of an indexed table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// Creation order within the table (kept when the row is replaced).
    pub seq: u64,
    /// Index name → the terms the row is filed under.
    #[serde(default)]
    pub terms: BTreeMap<String, Vec<String>>,
}

/// The header the store keeps for `key` of `table` (`None` if it has none).
pub fn header(rows: &dyn Rows, table: &str, key: &str) -> StoreResult<Option<Header>> {
    Ok(rows
        .get(&head_table(table), key)?
        .and_then(|v| serde_json::from_value(v).ok()))
}

/// The indexes a store keeps.
pub type Indexes = &'static [&'static Index];

fn indexes_of(all: Indexes, table: &str) -> impl Iterator<Item = &'static Index> + '_ {
    all.iter().copied().filter(move |ix| ix.table == table)
}

fn terms_of(all: Indexes, table: &str, key: &str, row: &Value) -> BTreeMap<String, Vec<String>> {
    indexes_of(all, table)
        .map(|ix| {
            let mut t = (ix.terms)(key, row);
            t.retain(|t| !t.contains(SEP));
            t.sort();
            t.dedup();
            (ix.name.to_string(), t)
        })
        .filter(|(_, t)| !t.is_empty())
        .collect()
}

fn next_seq(rows: &dyn Rows, table: &str) -> StoreResult<u64> {
    let k = format!("seq/{table}");
    let n = rows.get(META, &k)?.and_then(|v| v.as_u64()).unwrap_or(0) + 1;
    rows.put(META, &k, Value::from(n))?;
    Ok(n)
}

/// File `key` under `new` terms (replacing what its header says it was filed under).
fn refile(
    all: Indexes,
    rows: &dyn Rows,
    table: &str,
    key: &str,
    new: Option<BTreeMap<String, Vec<String>>>,
) -> StoreResult<()> {
    let old = header(rows, table, key)?;
    let seq = match (&old, &new) {
        (Some(h), _) => h.seq,
        (None, Some(_)) => next_seq(rows, table)?,
        (None, None) => return Ok(()),
    };
    let empty = BTreeMap::new();
    let before = old.as_ref().map_or(&empty, |h| &h.terms);
    let after = new.as_ref().unwrap_or(&empty);
    for ix in indexes_of(all, table) {
        let was = before.get(ix.name).map(Vec::as_slice).unwrap_or_default();
        let is = after.get(ix.name).map(Vec::as_slice).unwrap_or_default();
        let name = index_table(ix);
        for t in was.iter().filter(|t| !is.contains(t)) {
            rows.delete(&name, &entry(t, seq, key))?;
        }
        for t in is.iter().filter(|t| !was.contains(t)) {
            rows.put(&name, &entry(t, seq, key), Value::Null)?;
        }
    }
    match new {
        Some(terms) => {
            let h = Header { seq, terms };
            rows.put(
                &head_table(table),
                key,
                serde_json::to_value(h).expect("a header serialises"),
            )?;
        }
        None => {
            rows.delete(&head_table(table), key)?;
        }
    }
    Ok(())
}

impl Index {
    /// The keys of the rows filed under `term`, in creation order.
    pub fn keys(&self, rows: &dyn Rows, term: &str) -> StoreResult<Vec<String>> {
        self.keys_under(rows, &format!("{term}{SEP}"))
    }

    /// The keys of the rows filed under any term that starts with `prefix`
    /// (in term order, then creation order).
    pub fn keys_under(&self, rows: &dyn Rows, prefix: &str) -> StoreResult<Vec<String>> {
        Ok(rows
            .keys(&index_table(self), prefix)?
            .iter()
            .filter_map(|e| entry_key(e).map(str::to_string))
            .collect())
    }

    /// The rows filed under `term`, in creation order (an unreadable one is left out).
    pub fn find(&self, rows: &dyn Rows, term: &str) -> StoreResult<Vec<(String, Value)>> {
        self.rows(rows, term)?.collect()
    }

    /// The first row (oldest) filed under `term`.
    pub fn first(&self, rows: &dyn Rows, term: &str) -> StoreResult<Option<(String, Value)>> {
        self.rows(rows, term)?.next().transpose()
    }

    /// The readable rows under `term`, read one at a time as they are taken.
    fn rows<'a>(
        &'a self,
        rows: &'a dyn Rows,
        term: &str,
    ) -> StoreResult<impl Iterator<Item = StoreResult<(String, Value)>> + 'a> {
        Ok(self
            .keys(rows, term)?
            .into_iter()
            .filter_map(move |k| match rows.get(self.table, &k) {
                Ok(Some(v)) => Some(Ok((k, v))),
                Ok(None) => None,
                Err(e @ StoreError::Unreadable { .. }) => {
                    super::skipped(&e);
                    None
                }
                Err(e) => Some(Err(e)),
            }))
    }
}

/// `rows` (of `table`) in the order they were created; rows without a header
/// (none, once the indexes are built) go last, in key order.
pub fn in_creation_order(
    rows: &dyn Rows,
    table: &str,
    found: Vec<(String, Value)>,
) -> StoreResult<Vec<(String, Value)>> {
    let mut keyed = Vec::with_capacity(found.len());
    for (k, v) in found {
        let seq = header(rows, table, &k)?.map_or(u64::MAX, |h| h.seq);
        keyed.push((seq, k, v));
    }
    keyed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
}

/// A store whose indexed tables keep their indexes (see the module docs).
pub struct Indexed<S> {
    inner: S,
    indexes: Indexes,
}

impl<S: Store> Indexed<S> {
    /// Wrap `inner` with the emulator's [`INDEXES`].
    pub fn new(inner: S) -> StoreResult<Self> {
        Self::with(inner, INDEXES)
    }

    /// Wrap `inner` with `indexes`, rebuilding them if they are missing or out of step.
    pub fn with(inner: S, indexes: Indexes) -> StoreResult<Self> {
        let s = Indexed { inner, indexes };
        if !s.in_step()? {
            let n = s.rebuild()?;
            tracing::info!(rows = n, "rebuilt the store's indexes");
        }
        Ok(s)
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Built by this version, and one header per row of every indexed table.
    fn in_step(&self) -> StoreResult<bool> {
        if self.inner.get(META, VERSION_KEY)? != Some(Value::from(VERSION)) {
            return Ok(false);
        }
        for table in self.tables_indexed() {
            if self.inner.keys(table, "")? != self.inner.keys(&head_table(table), "")? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Drop every header and entry and file every row again (in key order).
    pub fn rebuild(&self) -> StoreResult<usize> {
        let inner: &dyn Store = &self.inner;
        inner.transaction(|tx| {
            for name in tx.tables()? {
                if internal(&name) {
                    for k in tx.keys(&name, "")? {
                        tx.delete(&name, &k)?;
                    }
                }
            }
            let mut n = 0;
            for table in self.tables_indexed() {
                for k in tx.keys(table, "")? {
                    let terms = match tx.get(table, &k) {
                        Ok(Some(v)) => terms_of(self.indexes, table, &k, &v),
                        Ok(None) => continue,
                        Err(StoreError::Unreadable { .. }) => BTreeMap::new(),
                        Err(e) => return Err(e),
                    };
                    refile(self.indexes, tx, table, &k, Some(terms))?;
                    n += 1;
                }
            }
            tx.put(META, VERSION_KEY, Value::from(VERSION))?;
            Ok::<_, StoreError>(n)
        })
    }

    /// `f` in a transaction of the inner store (joining this thread's, if it holds one).
    fn atomically<R>(&self, f: impl FnOnce() -> StoreResult<R>) -> StoreResult<R> {
        let inner: &dyn Store = &self.inner;
        inner.transaction(|_| f())
    }

    fn indexed(&self, table: &str) -> bool {
        indexes_of(self.indexes, table).next().is_some()
    }

    fn tables_indexed(&self) -> Vec<&'static str> {
        let mut t: Vec<&'static str> = self.indexes.iter().map(|ix| ix.table).collect();
        t.sort();
        t.dedup();
        t
    }
}

impl<S: Store> Rows for Indexed<S> {
    fn get(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        self.inner.get(table, key)
    }

    fn put(&self, table: &str, key: &str, value: Value) -> StoreResult<Option<Value>> {
        if !self.indexed(table) {
            return self.inner.put(table, key, value);
        }
        // Refused rows are refused before anything is written.
        check(table, key, &value)?;
        let terms = terms_of(self.indexes, table, key, &value);
        self.atomically(|| {
            let old = self.inner.put(table, key, value)?;
            refile(self.indexes, &self.inner, table, key, Some(terms))?;
            Ok(old)
        })
    }

    fn delete(&self, table: &str, key: &str) -> StoreResult<Option<Value>> {
        if !self.indexed(table) {
            return self.inner.delete(table, key);
        }
        self.atomically(|| {
            let old = self.inner.delete(table, key)?;
            refile(self.indexes, &self.inner, table, key, None)?;
            Ok(old)
        })
    }

    fn scan(&self, table: &str, prefix: &str) -> StoreResult<Vec<(String, Value)>> {
        self.inner.scan(table, prefix)
    }

    fn keys(&self, table: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.inner.keys(table, prefix)
    }

    fn first_keys(&self, table: &str, prefix: &str, limit: usize) -> StoreResult<Vec<String>> {
        self.inner.first_keys(table, prefix, limit)
    }

    fn tables(&self) -> StoreResult<Vec<String>> {
        let mut t = self.inner.tables()?;
        t.retain(|n| !internal(n));
        Ok(t)
    }

    fn clear(&self) -> StoreResult<()> {
        self.atomically(|| {
            self.inner.clear()?;
            self.inner.put(META, VERSION_KEY, Value::from(VERSION))?;
            Ok(())
        })
    }
}

impl<S: Store> Store for Indexed<S> {
    fn transact(&self, body: &mut dyn FnMut(&dyn Rows) -> bool) -> StoreResult<()> {
        // The body writes through this wrapper, so its rows keep their indexes.
        self.inner.transact(&mut |_| body(self))
    }

    fn after_commit(&self, f: AfterCommit) {
        self.inner.after_commit(f)
    }
}

// ---- The indexes ----------------------------------------------------------

fn str_at<'a>(row: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(row, |v, p| v.get(*p))?.as_str()
}

fn is_type(row: &Value, ty: &str) -> bool {
    str_at(row, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case(ty))
}

/// The key of the subscription (`/subscriptions/{s}`) and resource group
/// (`…/resourcegroups/{g}`) a resource key sits in.
fn scopes_of(key: &str) -> (Option<&str>, Option<&str>) {
    // `/subscriptions/{s}/resourcegroups/{g}/…`: the ends of the 3rd and 5th segments.
    let ends: Vec<usize> = key
        .match_indices('/')
        .map(|(i, _)| i)
        .chain([key.len()])
        .skip(1)
        .collect();
    let seg = |n: usize| key.split('/').nth(n);
    let sub = (seg(1) == Some("subscriptions"))
        .then(|| ends.get(1).map(|&e| &key[..e]))
        .flatten();
    let rg = (sub.is_some() && seg(3) == Some("resourcegroups"))
        .then(|| ends.get(3).map(|&e| &key[..e]))
        .flatten();
    (sub, rg)
}

/// The key of what a resource key sits directly under: a resource group's
/// subscription, a top-level resource's group (or scope), a child's parent.
pub fn parent_key(key: &str) -> Option<&str> {
    let strip = |k: &str, n: usize| -> Option<usize> {
        let mut end = k.len();
        for _ in 0..n {
            end = k[..end].rfind('/')?;
        }
        Some(end)
    };
    let end = strip(key, 2)?;
    let up = &key[..end];
    // `{scope}/providers/{namespace}`: the scope is the parent.
    if let Some(end2) = strip(up, 2)
        && up[end2..].starts_with("/providers/")
    {
        return Some(&key[..end2]);
    }
    (!up.is_empty()).then_some(up)
}

pub const REGISTRY_TYPE: &str = "Microsoft.ContainerRegistry/registries";
pub const CONTAINER_GROUP_TYPE: &str = "Microsoft.ContainerInstance/containerGroups";

/// Resources by what they sit directly under (lists are range reads).
pub static RESOURCES_BY_PARENT: Index = Index {
    table: tables::RESOURCES,
    name: "parent",
    terms: |key, _| parent_key(key).map(str::to_string).into_iter().collect(),
};

/// Resources by type (lower-cased), globally and within their subscription and
/// resource group: `{type}`, `{subscription key}|{type}`, `{group key}|{type}`.
pub static RESOURCES_BY_TYPE: Index = Index {
    table: tables::RESOURCES,
    name: "type",
    terms: |key, row| {
        let Some(ty) = str_at(row, &["type"]).map(str::to_ascii_lowercase) else {
            return vec![];
        };
        let (sub, rg) = scopes_of(key);
        let mut t: Vec<String> = [sub, rg]
            .into_iter()
            .flatten()
            .map(|s| scoped(s, &ty))
            .collect();
        t.push(ty);
        t
    },
};

/// The term of [`RESOURCES_BY_TYPE`] for `ty` within the scope whose key is `scope`.
pub fn scoped(scope: &str, ty: &str) -> String {
    format!("{scope}|{}", ty.to_ascii_lowercase())
}

/// Registries by login server (`myreg.azurecr.io`, lower-cased): the one
/// lookup the data plane, ACI pulls and task runs make.
pub static REGISTRIES_BY_LOGIN_SERVER: Index = Index {
    table: tables::RESOURCES,
    name: "login-server",
    terms: |_, row| {
        if !is_type(row, REGISTRY_TYPE) {
            return vec![];
        }
        str_at(row, &["properties", "loginServer"])
            .map(str::to_ascii_lowercase)
            .into_iter()
            .collect()
    },
};

/// Container groups by DNS name label within their region: `{region}|{label}`.
pub static DNS_LABELS_BY_REGION: Index = Index {
    table: tables::RESOURCES,
    name: "dns-label",
    terms: |_, row| {
        if !is_type(row, CONTAINER_GROUP_TYPE) {
            return vec![];
        }
        match (
            str_at(row, &["location"]),
            str_at(row, &["properties", "ipAddress", "dnsNameLabel"]),
        ) {
            (Some(l), Some(d)) => vec![dns_label(l, d)],
            _ => vec![],
        }
    },
};

/// The term of [`DNS_LABELS_BY_REGION`].
pub fn dns_label(region: &str, label: &str) -> String {
    format!(
        "{}|{}",
        region.replace(' ', "").to_ascii_lowercase(),
        label.to_ascii_lowercase()
    )
}

/// Principals by application id within their tenant: `{tenant}|{appId}`.
pub static PRINCIPALS_BY_APP_ID: Index = Index {
    table: tables::PRINCIPALS,
    name: "app-id",
    terms: |_, row| match (str_at(row, &["tenant_id"]), str_at(row, &["app_id"])) {
        (Some(t), Some(a)) => vec![app_id(t, a)],
        _ => vec![],
    },
};

/// The term of [`PRINCIPALS_BY_APP_ID`].
pub fn app_id(tenant: &str, app_id: &str) -> String {
    format!(
        "{}|{}",
        tenant.to_ascii_lowercase(),
        app_id.to_ascii_lowercase()
    )
}

/// Graph application objects by application id (lower-cased): the token
/// endpoint reads an application's secrets by the client id it is given.
pub static APPLICATIONS_BY_APP_ID: Index = Index {
    table: tables::APPLICATIONS,
    name: "app-id",
    terms: |_, row| {
        str_at(row, &["app_id"])
            .map(str::to_ascii_lowercase)
            .into_iter()
            .collect()
    },
};

/// Managed identities' principals by the resource they belong to (lower-cased id).
pub static PRINCIPALS_BY_RESOURCE: Index = Index {
    table: tables::PRINCIPALS,
    name: "resource",
    terms: |_, row| {
        str_at(row, &["mi_resource_id"])
            .map(str::to_ascii_lowercase)
            .into_iter()
            .collect()
    },
};

/// Role assignments by principal (lower-cased object id): what authorize() reads.
/// (By scope is the table's own key order: `{scope}/providers/…`.)
pub static ASSIGNMENTS_BY_PRINCIPAL: Index = Index {
    table: tables::ROLE_ASSIGNMENTS,
    name: "principal",
    terms: assignment_principal,
};

fn assignment_principal(_: &str, row: &Value) -> Vec<String> {
    str_at(row, &["properties", "principalId"])
        .map(str::to_ascii_lowercase)
        .into_iter()
        .collect()
}

/// Deleted role assignments still propagating, by principal.
pub static TOMBSTONES_BY_PRINCIPAL: Index = Index {
    table: tables::ROLE_ASSIGNMENT_TOMBSTONES,
    name: "principal",
    terms: assignment_principal,
};

/// Resources by the subnets they name (`properties.subnetIds[].id` of a
/// container group, `properties.subnet.id` of a private endpoint), lower-cased.
pub static RESOURCES_BY_SUBNET: Index = Index {
    table: tables::RESOURCES,
    name: "subnet",
    terms: |_, row| {
        let p = &row["properties"];
        p["subnetIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str())
            .chain(p["subnet"]["id"].as_str())
            .map(|s| s.trim_end_matches('/').to_ascii_lowercase())
            .collect()
    },
};

/// Every index, grouped by table.
pub static INDEXES: Indexes = &[
    &RESOURCES_BY_PARENT,
    &RESOURCES_BY_TYPE,
    &REGISTRIES_BY_LOGIN_SERVER,
    &DNS_LABELS_BY_REGION,
    &RESOURCES_BY_SUBNET,
    &PRINCIPALS_BY_APP_ID,
    &APPLICATIONS_BY_APP_ID,
    &PRINCIPALS_BY_RESOURCE,
    &ASSIGNMENTS_BY_PRINCIPAL,
    &TOMBSTONES_BY_PRINCIPAL,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use serde_json::json;

    #[test]
    fn parents_and_scopes_of_resource_keys() {
        let rg = "/subscriptions/s/resourcegroups/g";
        assert_eq!(parent_key("/subscriptions/s"), None);
        assert_eq!(parent_key(rg), Some("/subscriptions/s"));
        let reg = format!("{rg}/providers/microsoft.containerregistry/registries/r");
        assert_eq!(parent_key(&reg), Some(rg));
        let child = format!("{reg}/scopemaps/m");
        assert_eq!(parent_key(&child), Some(reg.as_str()));
        // An extension resource sits under its scope.
        let ra = format!("{reg}/providers/microsoft.authorization/roleassignments/x");
        assert_eq!(parent_key(&ra), Some(reg.as_str()));
        assert_eq!(scopes_of(&child), (Some("/subscriptions/s"), Some(rg)));
        assert_eq!(scopes_of(rg), (Some("/subscriptions/s"), Some(rg)));
        assert_eq!(
            scopes_of("/subscriptions/s"),
            (Some("/subscriptions/s"), None)
        );
        assert_eq!(scopes_of("/providers/x/y/z"), (None, None));
    }

    fn registry(rg: &str, name: &str) -> (String, Value) {
        let key = format!(
            "/subscriptions/s/resourcegroups/{rg}/providers/microsoft.containerregistry/registries/{name}"
        );
        let row = json!({
            "id": key, "name": name, "type": REGISTRY_TYPE,
            "properties": {"loginServer": format!("{name}.azurecr.io")},
        });
        (key, row)
    }

    #[test]
    fn the_emulators_indexes_follow_resources() {
        let store: std::sync::Arc<dyn Store> =
            std::sync::Arc::new(Indexed::new(MemoryStore::new()).unwrap());
        let (k1, r1) = registry("g", "zeta");
        let (k2, r2) = registry("g", "alpha");
        let (k3, r3) = registry("h", "mid");
        for (k, r) in [(&k1, &r1), (&k2, &r2), (&k3, &r3)] {
            store.put(tables::RESOURCES, k, r.clone()).unwrap();
        }
        // Lists by parent and by type within a scope: creation order, not name order.
        let rg = "/subscriptions/s/resourcegroups/g";
        assert_eq!(
            RESOURCES_BY_PARENT.keys(&*store, rg).unwrap(),
            [k1.as_str(), k2.as_str()]
        );
        let ty = REGISTRY_TYPE.to_ascii_lowercase();
        assert_eq!(
            RESOURCES_BY_TYPE
                .keys(&*store, &scoped("/subscriptions/s", &ty))
                .unwrap(),
            [k1.as_str(), k2.as_str(), k3.as_str()]
        );
        assert_eq!(
            RESOURCES_BY_TYPE.keys(&*store, &ty).unwrap(),
            [k1.as_str(), k2.as_str(), k3.as_str()]
        );
        let hit = REGISTRIES_BY_LOGIN_SERVER
            .first(&*store, "mid.azurecr.io")
            .unwrap();
        assert_eq!(hit.map(|(k, _)| k), Some(k3.clone()));
        // A replaced row keeps its place; a changed term moves it.
        let mut moved = r1.clone();
        moved["properties"]["loginServer"] = json!("other.azurecr.io");
        store.put(tables::RESOURCES, &k1, moved).unwrap();
        assert!(
            REGISTRIES_BY_LOGIN_SERVER
                .keys(&*store, "zeta.azurecr.io")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            REGISTRIES_BY_LOGIN_SERVER
                .keys(&*store, "other.azurecr.io")
                .unwrap(),
            [k1.as_str()]
        );
        assert_eq!(
            RESOURCES_BY_PARENT.keys(&*store, rg).unwrap(),
            [k1.as_str(), k2.as_str()]
        );
        // Deleted: gone from every index; its header too.
        store.delete(tables::RESOURCES, &k2).unwrap();
        assert_eq!(
            RESOURCES_BY_PARENT.keys(&*store, rg).unwrap(),
            [k1.as_str()]
        );
        assert_eq!(
            store
                .keys(&head_table(tables::RESOURCES), "")
                .unwrap()
                .len(),
            2
        );
        // A transaction that aborts takes its index entries with it.
        let r: Result<(), StoreError> = store.transaction(|tx| {
            let (k, r) = registry("g", "gone");
            tx.put(tables::RESOURCES, &k, r)?;
            assert_eq!(
                REGISTRIES_BY_LOGIN_SERVER
                    .keys(tx, "gone.azurecr.io")?
                    .len(),
                1
            );
            Err(StoreError::Backend("refused".into()))
        });
        assert!(r.is_err());
        assert!(
            REGISTRIES_BY_LOGIN_SERVER
                .keys(&*store, "gone.azurecr.io")
                .unwrap()
                .is_empty()
        );
        // The tables a snapshot sees hold no index rows.
        assert_eq!(store.tables().unwrap(), [tables::RESOURCES]);
    }

    #[test]
    fn rows_written_without_indexes_are_filed_when_the_store_opens() {
        let raw = MemoryStore::new();
        let (k1, r1) = registry("g", "one");
        let (k2, r2) = registry("g", "two");
        raw.put(tables::RESOURCES, &k2, r2).unwrap();
        raw.put(tables::RESOURCES, &k1, r1).unwrap();
        let store = Indexed::new(raw).unwrap();
        assert_eq!(
            REGISTRIES_BY_LOGIN_SERVER
                .keys(&store, "two.azurecr.io")
                .unwrap(),
            [k2.as_str()]
        );
        // Rows that predate the indexes come in key order.
        assert_eq!(
            RESOURCES_BY_PARENT
                .keys(&store, "/subscriptions/s/resourcegroups/g")
                .unwrap(),
            [k1.as_str(), k2.as_str()]
        );
        // A row planted behind the store's back (no header) is found at the next open.
        let (k3, r3) = registry("g", "three");
        store.inner().put(tables::RESOURCES, &k3, r3).unwrap();
        let store = Indexed::new(store.inner).unwrap();
        assert_eq!(
            REGISTRIES_BY_LOGIN_SERVER
                .keys(&store, "three.azurecr.io")
                .unwrap(),
            [k3.as_str()]
        );
    }

    #[test]
    fn an_unreadable_row_leaves_its_indexes_cleanly() {
        let dir = crate::store::redb_store::tests::tempfile_dir();
        let path = dir.join("state.redb");
        let (k, r) = registry("g", "broken");
        {
            let store = Indexed::new(crate::store::RedbStore::open(&path).unwrap()).unwrap();
            store.put(tables::RESOURCES, &k, r.clone()).unwrap();
            store
                .inner()
                .put_raw(tables::RESOURCES, &k, b"{\"damaged")
                .unwrap();
            // Still filed (its header says so), but a lookup leaves it out.
            assert_eq!(
                REGISTRIES_BY_LOGIN_SERVER
                    .keys(&store, "broken.azurecr.io")
                    .unwrap(),
                [k.as_str()]
            );
            assert!(
                REGISTRIES_BY_LOGIN_SERVER
                    .find(&store, "broken.azurecr.io")
                    .unwrap()
                    .is_empty()
            );
            // Deleting it removes its entries, read from the header.
            assert_eq!(store.delete(tables::RESOURCES, &k).unwrap(), None);
            assert!(
                REGISTRIES_BY_LOGIN_SERVER
                    .keys(&store, "broken.azurecr.io")
                    .unwrap()
                    .is_empty()
            );
            store
                .inner()
                .put_raw(tables::RESOURCES, &k, b"{\"damaged")
                .unwrap();
        }
        // Planted while stopped: the rebuild files it under nothing, and keeps going.
        let store = Indexed::new(crate::store::RedbStore::open(&path).unwrap()).unwrap();
        assert!(
            REGISTRIES_BY_LOGIN_SERVER
                .keys(&store, "broken.azurecr.io")
                .unwrap()
                .is_empty()
        );
        store.put(tables::RESOURCES, &k, r).unwrap();
        assert_eq!(
            REGISTRIES_BY_LOGIN_SERVER
                .keys(&store, "broken.azurecr.io")
                .unwrap(),
            [k.as_str()]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
