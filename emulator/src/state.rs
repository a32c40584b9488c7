//! `AppState`: one cheap-to-clone handle (a few `Arc`s) passed to every handler.

use crate::clock::Clock;
use crate::config::Config;
use crate::entra::keys::SigningKey;
use crate::entra::token::TokenService;
use crate::entra::{Directory, PrincipalKind, ServicePrincipal, Tenant};
use crate::server::tls::CertAuthority;
use crate::store::{MemoryStore, Store};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<Clock>,
    pub tokens: Arc<TokenService>,
    pub directory: Directory,
    pub tenant: Arc<Tenant>,
    pub ca: Arc<CertAuthority>,
}

impl AppState {
    /// Load (or create on first start) the CA and signing key from the data dir, and seed the store.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)?;
        let ca = CertAuthority::load_or_create(&config.data_dir)?;
        let key = SigningKey::load_or_create(&config.data_dir)?;
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let state = AppState {
            tenant: Arc::new(Tenant {
                id: config.tenant_id.clone(),
                domain: crate::config::well_known::TENANT_DOMAIN.into(),
                display_name: "azemu".into(),
            }),
            directory: Directory::new(store.clone()),
            store,
            clock: Arc::new(Clock::default()),
            tokens: Arc::new(TokenService::new(key)),
            ca: Arc::new(ca),
            config: Arc::new(config),
        };
        state.seed()?;
        Ok(state)
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
        })?;
        Ok(())
    }

    /// Drop all state and re-seed (`POST /_emulator/reset`). Keys and CA stay.
    pub fn reset(&self) -> anyhow::Result<()> {
        self.store.clear()?;
        self.clock.reset();
        self.seed()
    }
}
