//! The emulated Entra directory: the tenant and its service principals
//! (applications with client secrets, and later managed identities).
//! Rows live in the store's `principals` table keyed by object id.

use crate::store::{Store, StoreResult, tables};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalKind {
    /// An application's service principal (client credentials).
    Application,
    /// The service principal behind a managed identity.
    ManagedIdentity,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServicePrincipal {
    pub object_id: String,
    pub app_id: String,
    pub tenant_id: String,
    pub display_name: String,
    pub kind: PrincipalKind,
    /// Client secret values. An emulator keeps them in the clear; they are test credentials.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// For managed identities: the resource id the identity belongs to (`xms_mirid`).
    #[serde(default)]
    pub mi_resource_id: Option<String>,
    /// When it was created (emulated Unix ms), for directory replication delay.
    #[serde(default)]
    pub created_ms: Option<i64>,
}

/// The tenant this emulator is the directory of.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub display_name: String,
}

impl Tenant {
    /// Does a tenant in a URL path (`{tenant}/oauth2/...`) name this tenant?
    /// Accepts the GUID, the initial domain, and the multi-tenant aliases.
    pub fn answers_to(&self, path_tenant: &str) -> bool {
        path_tenant.eq_ignore_ascii_case(&self.id)
            || path_tenant.eq_ignore_ascii_case(&self.domain)
            || ["common", "organizations"]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(path_tenant))
    }
}

#[derive(Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
}

impl Directory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Directory { store }
    }

    pub fn put(&self, sp: &ServicePrincipal) -> StoreResult<()> {
        let row = serde_json::to_value(sp).expect("service principal serialises");
        self.store
            .put(tables::PRINCIPALS, &sp.object_id.to_ascii_lowercase(), row)?;
        Ok(())
    }

    pub fn delete(&self, object_id: &str) -> StoreResult<Option<ServicePrincipal>> {
        Ok(self
            .store
            .delete(tables::PRINCIPALS, &object_id.to_ascii_lowercase())?
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Remove the managed-identity principals of `resource_id` and of every
    /// resource under it (an identity's resource, or a whole resource group).
    pub fn delete_identities_within(&self, resource_id: &str) -> StoreResult<usize> {
        let scope = resource_id.trim_end_matches('/').to_ascii_lowercase();
        let ix = &crate::store::index::PRINCIPALS_BY_RESOURCE;
        let rows = self.store.as_ref();
        let mut keys = ix.keys(rows, &scope)?;
        keys.extend(ix.keys_under(rows, &format!("{scope}/"))?);
        for k in &keys {
            self.delete(k)?;
        }
        Ok(keys.len())
    }

    pub fn get(&self, object_id: &str) -> StoreResult<Option<ServicePrincipal>> {
        Ok(self
            .store
            .get(tables::PRINCIPALS, &object_id.to_ascii_lowercase())?
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    pub fn by_app_id(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> StoreResult<Option<ServicePrincipal>> {
        Ok(crate::store::index::PRINCIPALS_BY_APP_ID
            .find(
                self.store.as_ref(),
                &crate::store::index::app_id(tenant_id, app_id),
            )?
            .into_iter()
            .find_map(|(_, v)| serde_json::from_value(v).ok()))
    }

    /// The managed identities' principals of the resource `resource_id` (any case).
    pub fn of_resource(&self, resource_id: &str) -> StoreResult<Vec<ServicePrincipal>> {
        Ok(crate::store::index::PRINCIPALS_BY_RESOURCE
            .find(self.store.as_ref(), &resource_id.to_ascii_lowercase())?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value(v).ok())
            .collect())
    }

    pub fn all(&self) -> StoreResult<Vec<ServicePrincipal>> {
        Ok(self
            .store
            .scan(tables::PRINCIPALS, "")?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value(v).ok())
            .collect())
    }
}
