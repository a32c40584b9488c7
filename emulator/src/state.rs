//! `AppState`: one cheap-to-clone handle (a few `Arc`s) passed to every handler.

use crate::clock::Clock;
use crate::config::Config;
use crate::entra::keys::SigningKey;
use crate::entra::token::TokenService;
use crate::entra::{Directory, PrincipalKind, ServicePrincipal, Tenant};
use crate::server::tls::CertAuthority;
use crate::store::{Indexed, MemoryStore, Store};
use std::sync::Arc;

/// Owner's built-in role definition GUID.
const OWNER_ROLE: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// The name of the seeded Owner assignment of the bootstrap principal.
const BOOTSTRAP_OWNER_ASSIGNMENT: &str = "a2e0a2e0-0000-4000-8000-0000000000a1";

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<Clock>,
    pub tokens: Arc<TokenService>,
    pub directory: Directory,
    pub tenant: Arc<Tenant>,
    pub ca: Arc<CertAuthority>,
    /// Registry blobs, content-addressed, under `<data-dir>/registry`.
    pub blobs: Arc<crate::oci::blobs::BlobStore>,
    /// One settle at a time: concurrent requests would otherwise finish the
    /// same operation, or start the same deployment resource, twice.
    pub settling: Arc<std::sync::Mutex<()>>,
    /// Injected failures (`/_emulator/faults`).
    pub faults: crate::faults::Faults,
    /// Decision traces (`/_emulator/traces`, `/_emulator/explain`).
    pub traces: crate::trace::Traces,
    /// The task-log storage account's key: SAS links are signed with it.
    pub storage_key: Arc<crate::storage::AccountKey>,
    /// When housekeeping last swept (upload sessions, tombstones, build contexts).
    pub maintenance: Arc<crate::maintenance::Schedule>,
    /// The key behind each managed-identity endpoint's `IDENTITY_HEADER`.
    pub identity_secrets: Arc<crate::entra::msi::IdentitySecrets>,
    /// The scheduler's cached head of its queue (what is due next).
    pub schedule: Arc<crate::runtime::scheduler::Schedule>,
    /// The container engine container groups run in, once attached (`azemu serve`).
    pub containers: crate::runtime::containers::Containers,
    /// How a pull reaches a registry over its own protocol: installed by the
    /// server when it starts ([`crate::pull::Connect`]).
    pub connector: Arc<std::sync::OnceLock<Arc<dyn crate::pull::Connect>>>,
}

impl AppState {
    /// Load (or create on first start) the CA and signing key from the data dir, and seed the store.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)?;
        let ca = CertAuthority::load_or_create(&config.data_dir)?;
        let key = SigningKey::load_or_create(&config.data_dir)?;
        let storage_key = crate::storage::AccountKey::load_or_create(&config.data_dir)?;
        let identity_secrets =
            crate::entra::msi::IdentitySecrets::load_or_create(&config.data_dir)?;
        let store: Arc<dyn Store> = if config.state_in_memory {
            Arc::new(Indexed::new(MemoryStore::new())?)
        } else {
            Arc::new(Indexed::new(crate::store::RedbStore::open(
                &config.data_dir.join("state.redb"),
            )?)?)
        };
        let state = AppState {
            tenant: Arc::new(Tenant {
                id: config.tenant_id.clone(),
                domain: crate::config::well_known::TENANT_DOMAIN.into(),
                display_name: "azemu".into(),
            }),
            directory: Directory::new(store.clone()),
            store,
            clock: Arc::new(Clock::default()),
            tokens: Arc::new(TokenService::new(key).with_timing(
                config.token_lifetime.as_secs() as i64,
                config.token_skew.as_secs() as i64,
            )),
            ca: Arc::new(ca),
            blobs: Arc::new(if config.blobs_in_memory {
                crate::oci::blobs::BlobStore::in_memory()
            } else {
                crate::oci::blobs::BlobStore::open(config.data_dir.join("registry"))?
            }),
            config: Arc::new(config),
            settling: Arc::new(std::sync::Mutex::new(())),
            faults: Default::default(),
            traces: Default::default(),
            storage_key: Arc::new(storage_key),
            maintenance: Default::default(),
            identity_secrets: Arc::new(identity_secrets),
            schedule: Default::default(),
            containers: Default::default(),
            connector: Default::default(),
        };
        state.store.transaction(|_| state.seed())?;
        state.reconcile()?;
        if crate::runtime::scheduler::rebuild_if_missing(&state)? {
            tracing::info!("built the schedule from the stored operations and timers");
        }
        crate::maintenance::run_if_due(&state);
        let (files, bytes) = state.collect_garbage()?;
        if files > 0 {
            tracing::info!(files, bytes, "removed registry blobs nothing refers to");
        }
        Ok(state)
    }

    /// Blob files no row refers to any more (a deleted registry's content, a
    /// blob whose link a crash cut off, temp files of interrupted writes) are
    /// removed. Run at start, before anything is served.
    pub fn collect_garbage(&self) -> anyhow::Result<(usize, u64)> {
        let keep = crate::store::snapshot::referenced_blobs(self.store.as_ref())?;
        let sessions = self
            .store
            .scan(crate::oci::tables::UPLOADS, "")?
            .into_iter()
            .map(|(k, _)| k.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        Ok(self.blobs.sweep(&keep, &sessions)?)
    }

    /// Replace the whole world with a snapshot (`POST /_emulator/state/import`).
    /// The snapshot is read and every blob verified before anything changes,
    /// and its rows replace the old ones in one transaction; nothing settles
    /// meanwhile.
    pub fn restore(
        &self,
        dir: &std::path::Path,
    ) -> anyhow::Result<crate::store::snapshot::Summary> {
        let snap = crate::store::snapshot::Snapshot::read(dir)?;
        let _settling = self.settling.lock().unwrap_or_else(|e| e.into_inner());
        // One transaction: the old world is kept if any row is refused.
        let summary = self.store.transaction(|_| {
            self.store.clear()?;
            snap.write(self.store.as_ref(), &self.blobs)
        })?;
        self.reconcile()?;
        // Derived state: built again from the rows it schedules (a snapshot
        // an older version wrote has none).
        crate::runtime::scheduler::rebuild(self)?;
        Ok(summary)
    }

    /// The `resources` table, typed (keyed by `ResourceId`).
    pub fn resources(&self) -> crate::arm::Resources<'_> {
        crate::arm::Resources::of(self.store.as_ref())
    }

    /// Remove the principals whose resource is gone. Writes that span rows are
    /// one transaction now, but a data dir an older version left after a crash
    /// can hold a managed identity's principal without its resource.
    pub fn reconcile(&self) -> anyhow::Result<usize> {
        let mut removed = 0;
        for sp in self.directory.all()? {
            let Some(owner) = sp.mi_resource_id.as_deref() else {
                continue;
            };
            let key = owner.to_ascii_lowercase();
            // An unreadable resource is still there (deleting it takes its principal).
            let gone = match self.store.get(crate::store::tables::RESOURCES, &key) {
                Ok(row) => row.is_none(),
                Err(crate::store::StoreError::Unreadable { .. }) => false,
                Err(e) => return Err(e.into()),
            };
            if gone {
                self.directory.delete(&sp.object_id)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The state every fresh emulator starts from: the bootstrap service principal.
    pub fn seed(&self) -> anyhow::Result<()> {
        let c = &self.config;
        self.directory.put(&ServicePrincipal {
            object_id: crate::config::well_known::CLIENT_OBJECT_ID.into(),
            app_id: c.client_id.clone(),
            tenant_id: c.tenant_id.clone(),
            display_name: "azemu-bootstrap".into(),
            kind: PrincipalKind::Application,
            secrets: vec![c.client_secret.clone()],
            mi_resource_id: None,
            created_ms: None,
        })?;
        crate::public_registry::seed(self)?;
        // The bootstrap principal is Owner of the subscription.
        let scope = format!("/subscriptions/{}", c.subscription_id);
        let id = format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments/{BOOTSTRAP_OWNER_ASSIGNMENT}"
        );
        // Kept as first written (a restart or a restored snapshot changes nothing).
        if self
            .store
            .get(
                crate::store::tables::ROLE_ASSIGNMENTS,
                &id.to_ascii_lowercase(),
            )?
            .is_some()
        {
            return Ok(());
        }
        crate::authz::access::put_assignment(
            self,
            &id.to_ascii_lowercase(),
            serde_json::json!({
                "properties": {
                    "roleDefinitionId": format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{OWNER_ROLE}"),
                    "principalId": crate::config::well_known::CLIENT_OBJECT_ID,
                    "principalType": "ServicePrincipal",
                    "scope": scope,
                    "condition": null,
                    "conditionVersion": null,
                    // Fixed: the world starts with it (and snapshots stay deterministic).
                    "createdOn": "2026-01-01T00:00:00Z",
                    "updatedOn": "2026-01-01T00:00:00Z",
                    "createdBy": null,
                    "updatedBy": null,
                    "delegatedManagedIdentityResourceId": null,
                    "description": "azemu bootstrap principal",
                },
                "id": id,
                "type": "Microsoft.Authorization/roleAssignments",
                "name": BOOTSTRAP_OWNER_ASSIGNMENT,
            }),
        )?;
        Ok(())
    }

    /// Drop all state and re-seed (`POST /_emulator/reset`). Keys and CA stay.
    pub fn reset(&self) -> anyhow::Result<()> {
        self.clock.reset();
        // One transaction: never a world half cleared.
        self.store.transaction(|_| {
            self.store.clear()?;
            self.seed()
        })?;
        crate::runtime::scheduler::rebuild(self)?;
        Ok(())
    }
}
