//! The `resources` table, typed: rows keyed by [`ResourceId`] (case-folded by
//! [`ResourceId::key`], never built by hand), each with the header the store
//! keeps beside it ([`RowHeader`]: type, parent, creation sequence), and
//! lists read through the store's indexes in creation order.
//!
//! ```ignore
//! let rows = Resources::of(state.store.as_ref());
//! let vnet = rows.get(&id)?;                 // Option<Value>
//! rows.put(&id, body)?;                      // keeps its place in lists
//! let subnets = rows.children(&id, "Microsoft.Network/virtualNetworks/subnets")?;
//! ```

use super::ResourceId;
use crate::store::index::{self, RESOURCES_BY_PARENT};
use crate::store::{Rows, StoreResult, tables};
use serde_json::Value;

/// What the store keeps about a resource row besides its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowHeader {
    /// Creation order among all resources (kept when the row is replaced).
    pub seq: u64,
    /// The resource type, lower-cased (`microsoft.network/virtualnetworks`).
    pub resource_type: Option<String>,
    /// The key of what it sits directly under (its group, scope or parent resource).
    pub parent: Option<String>,
}

/// The `resources` table seen through `rows` (the store, or a transaction).
#[derive(Clone, Copy)]
pub struct Resources<'a> {
    rows: &'a dyn Rows,
}

impl<'a> Resources<'a> {
    pub fn of(rows: &'a dyn Rows) -> Self {
        Resources { rows }
    }

    pub fn get(&self, id: &ResourceId) -> StoreResult<Option<Value>> {
        self.rows.get(tables::RESOURCES, &id.key())
    }

    /// Insert or replace (a replaced row keeps its creation sequence); the previous row.
    pub fn put(&self, id: &ResourceId, body: Value) -> StoreResult<Option<Value>> {
        self.rows.put(tables::RESOURCES, &id.key(), body)
    }

    pub fn delete(&self, id: &ResourceId) -> StoreResult<Option<Value>> {
        self.rows.delete(tables::RESOURCES, &id.key())
    }

    pub fn header(&self, id: &ResourceId) -> StoreResult<Option<RowHeader>> {
        Ok(
            index::header(self.rows, tables::RESOURCES, &id.key())?.map(|h| {
                let first = |ix: &index::Index| {
                    h.terms.get(ix.name).and_then(|t| {
                        // The type index files a row under `{type}` and `{scope}|{type}`: the bare one.
                        t.iter().find(|t| !t.contains('|')).cloned()
                    })
                };
                RowHeader {
                    seq: h.seq,
                    resource_type: first(&index::RESOURCES_BY_TYPE),
                    parent: first(&RESOURCES_BY_PARENT),
                }
            }),
        )
    }

    /// The rows of `resource_type` under `scope`, oldest first: an index read
    /// for a subscription or resource group, a range read below a resource.
    pub fn in_scope(&self, scope: &ResourceId, resource_type: &str) -> StoreResult<Vec<Value>> {
        let found = if scope.providers.is_empty() {
            let term = index::scoped(&scope.key(), resource_type);
            index::RESOURCES_BY_TYPE.find(self.rows, &term)?
        } else {
            let under = self
                .rows
                .scan(tables::RESOURCES, &format!("{}/", scope.key()))?;
            index::in_creation_order(self.rows, tables::RESOURCES, under)?
        };
        Ok(of_kind(found, resource_type))
    }

    /// Every row of `resource_type` (any case), with its key, oldest first: an index read.
    pub fn of_type(&self, resource_type: &str) -> StoreResult<Vec<(String, Value)>> {
        index::RESOURCES_BY_TYPE.find(self.rows, &resource_type.to_ascii_lowercase())
    }

    /// Every row directly under `parent`, whatever its type, oldest first.
    pub fn all_children(&self, parent: &ResourceId) -> StoreResult<Vec<Value>> {
        let found = RESOURCES_BY_PARENT.find(self.rows, &parent.key())?;
        Ok(found.into_iter().map(|(_, v)| v).collect())
    }

    /// The rows directly under `parent` of `resource_type` (any case), oldest first.
    pub fn children(&self, parent: &ResourceId, resource_type: &str) -> StoreResult<Vec<Value>> {
        let found = RESOURCES_BY_PARENT.find(self.rows, &parent.key())?;
        Ok(of_kind(found, resource_type))
    }
}

/// The bodies of `found` whose type is `resource_type` (any case), in order.
fn of_kind(found: Vec<(String, Value)>, resource_type: &str) -> Vec<Value> {
    found
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| {
            v["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(resource_type))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Indexed, MemoryStore};
    use serde_json::json;

    #[test]
    fn rows_by_resource_id_with_their_headers() {
        let store = Indexed::new(MemoryStore::new()).unwrap();
        let rows = Resources::of(&store);
        let rg: ResourceId = "/subscriptions/s/resourceGroups/G".parse().unwrap();
        let vnet: ResourceId =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/V"
                .parse()
                .unwrap();
        let row = json!({"id": vnet.to_string(), "type": "Microsoft.Network/virtualNetworks"});
        rows.put(&rg, json!({"type": "Microsoft.Resources/resourceGroups"}))
            .unwrap();
        rows.put(&vnet, row.clone()).unwrap();
        // Keys fold case: the same row by any spelling of its id.
        let other: ResourceId = vnet
            .to_string()
            .to_uppercase()
            .replace("SUBSCRIPTIONS", "subscriptions")
            .parse()
            .unwrap();
        assert_eq!(rows.get(&other).unwrap(), Some(row));
        let h = rows.header(&vnet).unwrap().unwrap();
        assert_eq!(
            h.resource_type.as_deref(),
            Some("microsoft.network/virtualnetworks")
        );
        assert_eq!(
            h.parent.as_deref(),
            Some("/subscriptions/s/resourcegroups/g")
        );
        assert_eq!(h.seq, rows.header(&rg).unwrap().unwrap().seq + 1);
        assert_eq!(
            rows.children(&rg, "microsoft.network/VIRTUALNETWORKS")
                .unwrap()
                .len(),
            1
        );
        rows.delete(&vnet).unwrap();
        assert_eq!(rows.header(&vnet).unwrap(), None);
    }
}
