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

/// An application object (an app registration made through Graph's
/// `POST /applications`). Its client secrets are what its service principal
/// signs in with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    pub object_id: String,
    pub app_id: String,
    /// Graph's document of the application, without `id`, `appId` and
    /// `passwordCredentials` (those are rendered from the fields here).
    pub doc: serde_json::Value,
    #[serde(default)]
    pub passwords: Vec<PasswordCredential>,
}

/// A client secret of an application (Graph's `passwordCredential`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordCredential {
    pub key_id: String,
    pub display_name: Option<String>,
    /// RFC 3339, as Graph returns them.
    pub start: String,
    pub end: String,
    /// The first three characters of the secret.
    pub hint: String,
    /// The secret itself. An emulator keeps it in the clear; Graph returns it
    /// only once, from `addPassword`.
    pub secret: String,
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
        self.store
            .delete(tables::PRINCIPAL_PASSWORDS, &object_id.to_ascii_lowercase())?;
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

    /// The system-assigned managed identity's principal of `resource_id`, if it has one.
    pub fn system_principal_of(&self, resource_id: &str) -> StoreResult<Option<ServicePrincipal>> {
        Ok(self
            .of_resource(resource_id)?
            .into_iter()
            .find(|sp| sp.kind == PrincipalKind::ManagedIdentity))
    }

    /// The client secrets added to a service principal itself.
    pub fn principal_passwords(&self, object_id: &str) -> StoreResult<Vec<PasswordCredential>> {
        Ok(self
            .store
            .get(tables::PRINCIPAL_PASSWORDS, &object_id.to_ascii_lowercase())?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default())
    }

    pub fn put_principal_passwords(
        &self,
        object_id: &str,
        passwords: &[PasswordCredential],
    ) -> StoreResult<()> {
        let key = object_id.to_ascii_lowercase();
        if passwords.is_empty() {
            self.store.delete(tables::PRINCIPAL_PASSWORDS, &key)?;
        } else {
            let row = serde_json::to_value(passwords).expect("passwords serialise");
            self.store.put(tables::PRINCIPAL_PASSWORDS, &key, row)?;
        }
        Ok(())
    }

    /// Every client secret `sp` signs in with that has an expiry: its own,
    /// and its application's (when it was registered through Graph).
    pub fn credentials_of(&self, sp: &ServicePrincipal) -> StoreResult<Vec<PasswordCredential>> {
        let mut all = self.principal_passwords(&sp.object_id)?;
        if let Some(app) = self.application_by_app_id(&sp.app_id)? {
            all.extend(app.passwords);
        }
        Ok(all)
    }

    pub fn put_application(&self, app: &Application) -> StoreResult<()> {
        let row = serde_json::to_value(app).expect("application serialises");
        self.store.put(
            tables::APPLICATIONS,
            &app.object_id.to_ascii_lowercase(),
            row,
        )?;
        Ok(())
    }

    pub fn application(&self, object_id: &str) -> StoreResult<Option<Application>> {
        Ok(self
            .store
            .get(tables::APPLICATIONS, &object_id.to_ascii_lowercase())?
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    pub fn delete_application(&self, object_id: &str) -> StoreResult<Option<Application>> {
        Ok(self
            .store
            .delete(tables::APPLICATIONS, &object_id.to_ascii_lowercase())?
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Every application object, in creation order (the order the store keeps
    /// for an indexed table).
    pub fn applications(&self) -> StoreResult<Vec<Application>> {
        let rows = self.store.scan(tables::APPLICATIONS, "")?;
        Ok(
            crate::store::index::in_creation_order(
                self.store.as_ref(),
                tables::APPLICATIONS,
                rows,
            )?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value(v).ok())
            .collect(),
        )
    }

    /// The application object of an app id (none for principals seeded
    /// without one, and for managed identities).
    pub fn application_by_app_id(&self, app_id: &str) -> StoreResult<Option<Application>> {
        Ok(crate::store::index::APPLICATIONS_BY_APP_ID
            .find(self.store.as_ref(), &app_id.to_ascii_lowercase())?
            .into_iter()
            .find_map(|(_, v)| serde_json::from_value(v).ok()))
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
