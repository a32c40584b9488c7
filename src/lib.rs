//! azemu as a library: an isolated emulator inside your own test process.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let em = azemu::Emulator::builder().start().await?;
//! let client = em.client()?;                       // the typed client, trusting em's CA
//! client.create_resource_group("demo", "westeurope").await?;
//! println!("ARM at {}, tenant {}", em.url(), em.tenant_id());
//! em.stop().await;                                 // or just drop it
//! # Ok(()) }
//! ```
//!
//! Each instance has its own port, CA, keys and state; by default state and
//! registry blobs stay in memory and the data dir is a temporary directory,
//! so starting one takes milliseconds and nothing outlives it. The `azemu`
//! binary (`azemu serve`) is the same server with persistent state.

pub mod scenario;

/// The README's Rust blocks run as doctests: its library quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use azemu_emulator::{AppState, Config, RunningServer};
use std::path::PathBuf;
use std::time::Duration;

pub use azemu_emulator::SimMode;

/// How to start an [`Emulator`].
pub struct Builder {
    config: Config,
    temp: Option<tempfile::TempDir>,
}

impl Builder {
    /// Keep state in `dir` (persistent, crash-safe) instead of memory and a temp dir.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = dir.into();
        self.config.state_in_memory = false;
        self.config.blobs_in_memory = false;
        self.temp = None;
        self
    }

    /// How long (emulated time) long-running operations stay in progress.
    pub fn lro_delay(mut self, d: Duration) -> Self {
        self.config.lro_delay = d;
        self
    }

    /// `Explicit`: long-running operations wait for `POST /_emulator/step`.
    pub fn sim_mode(mut self, m: SimMode) -> Self {
        self.config.sim_mode = m;
        self
    }

    /// Azure's RBAC propagation delay (emulated time): role assignments take effect
    /// (and deleted ones stop working) this long after the write.
    pub fn rbac_propagation(mut self, d: Duration) -> Self {
        self.config.rbac_propagation = d;
        self
    }

    /// Entra access-token lifetime and the clock skew tolerated when checking tokens.
    pub fn token_timing(mut self, lifetime: Duration, skew: Duration) -> Self {
        self.config.token_lifetime = lifetime;
        self.config.token_skew = skew;
        self
    }

    /// Reject api-versions the emulated services do not list.
    pub fn strict_api_versions(mut self, yes: bool) -> Self {
        self.config.strict_api_versions = yes;
        self
    }

    /// Bind a free port on 127.0.0.1 and serve.
    pub async fn start(mut self) -> anyhow::Result<Emulator> {
        self.config.port = 0;
        let state = AppState::new(self.config)?;
        let server = azemu_emulator::start(state.clone()).await?;
        let ca_pem = std::fs::read(state.config.ca_path())?;
        Ok(Emulator {
            port: server.addr.port(),
            server: Some(server),
            state,
            ca_pem,
            _temp: self.temp,
        })
    }
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    server: Option<RunningServer>,
    state: AppState,
    port: u16,
    ca_pem: Vec<u8>,
    _temp: Option<tempfile::TempDir>,
}

impl Emulator {
    /// In memory, in a temporary data dir, on a free port.
    pub fn builder() -> Builder {
        let temp = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::new(temp.path());
        config.state_in_memory = true;
        config.blobs_in_memory = true;
        Builder {
            config,
            temp: Some(temp),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://localhost:<port>`: ARM, Entra and the control API.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The CA (PEM) every certificate of this instance chains to.
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }

    pub fn tenant_id(&self) -> &str {
        &self.state.config.tenant_id
    }

    pub fn subscription_id(&self) -> &str {
        &self.state.config.subscription_id
    }

    /// The bootstrap service principal (Owner of the subscription): client id and secret.
    pub fn credentials(&self) -> (&str, &str) {
        (
            &self.state.config.client_id,
            &self.state.config.client_secret,
        )
    }

    /// The typed client, logged in as the bootstrap principal.
    pub fn client(&self) -> anyhow::Result<azemu_client::Client> {
        let (id, secret) = self.credentials();
        Ok(azemu_client::Client::builder(&self.url())
            .ca_pem(&self.ca_pem)?
            .credentials(self.tenant_id(), id, secret)
            .build()?)
    }

    /// An HTTPS client that reaches Azure's host names (`<name>.azurecr.io`,
    /// the task-log blob host) through this emulator's CONNECT proxy, trusting
    /// only its CA — what registry pushes and pulls need.
    pub fn proxied_http(&self) -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem)?)
            .proxy(reqwest::Proxy::https(format!(
                "http://localhost:{}",
                self.port
            ))?)
            .build()?)
    }

    /// Stop serving and wait for the server to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.stopper().send(true);
        }
    }
}
