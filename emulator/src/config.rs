//! Configuration, and the well-known development credentials.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Well-known development identities, like Azurite's well-known account:
/// fixed so that scripts and docs can hard-code them. Override with flags or env.
pub mod well_known {
    pub const TENANT_ID: &str = "a2e0a2e0-0000-4000-8000-000000000001";
    pub const TENANT_DOMAIN: &str = "azemu.onmicrosoft.com";
    pub const SUBSCRIPTION_ID: &str = "a2e0a2e0-0000-4000-8000-000000000002";
    pub const SUBSCRIPTION_NAME: &str = "azemu";
    /// The bootstrap service principal's application (client) id.
    pub const CLIENT_ID: &str = "a2e0a2e0-0000-4000-8000-000000000003";
    /// ... its object id (what role assignments name).
    pub const CLIENT_OBJECT_ID: &str = "a2e0a2e0-0000-4000-8000-000000000004";
    pub const CLIENT_SECRET: &str = "azemu-well-known-secret-not-for-production";
}

/// How long-running operations finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimMode {
    /// They finish once emulated time passes `lro_delay`.
    Auto,
    /// They wait for `POST /_emulator/step`.
    Explicit,
}

/// Default cap on one blob upload: generous (10 GiB), so only a runaway or hostile client meets it.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: IpAddr,
    /// 0 picks a free port; the chosen one is written to `<data_dir>/port`.
    pub port: u16,
    pub data_dir: PathBuf,
    pub tenant_id: String,
    pub subscription_id: String,
    pub subscription_name: String,
    pub client_id: String,
    pub client_secret: String,
    pub strict_api_versions: bool,
    pub sim_mode: SimMode,
    pub lro_delay: Duration,
    /// Keep registry blobs in memory instead of `<data_dir>/registry`.
    pub blobs_in_memory: bool,
    /// Keep state in memory instead of `<data_dir>/state.redb` (throwaway runs).
    pub state_in_memory: bool,
    /// Local mirror of git build contexts for ACR task runs: one directory per
    /// repository, `<dir>/<host>/<path>` (e.g. `github.com/Azure-Samples/acr-build-helloworld-node`,
    /// with or without `.git`), optionally `<that>@<branch>` for a branch.
    pub task_context_dir: Option<PathBuf>,
    /// Azure's eventual consistency, opt-in: role assignments take effect (and
    /// deleted ones stop working) this long after the write, and a new principal
    /// is not visible for role assignment (without `principalType`) until then.
    pub rbac_propagation: Duration,
    /// How long a client may take to open a connection (first byte, TLS) and to
    /// send a request's headers before it is closed.
    pub header_read_timeout: Duration,
    /// How long Entra access tokens live (Entra: 3599 s).
    pub token_lifetime: Duration,
    /// Clock skew tolerated on a token's exp and nbf (ARM: five minutes).
    pub token_skew: Duration,
    /// Largest blob upload session a registry accepts; a larger one is
    /// refused and its partial bytes removed.
    pub max_upload_bytes: u64,
    /// Tests only: accept fault rules that panic inside a request's handling
    /// (`--enable-test-panics`, hidden), to prove panics are contained.
    pub enable_test_panics: bool,
    /// Tests only: accept fault rules that stop the process dead at a named
    /// point (`--enable-test-crashes`, hidden), to prove writes are atomic.
    pub enable_test_crashes: bool,
    /// Where container groups run (`--container-engine`): attached by `azemu serve`.
    pub container_engine: crate::runtime::engine::Choice,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8443,
            data_dir: data_dir.into(),
            tenant_id: well_known::TENANT_ID.into(),
            subscription_id: well_known::SUBSCRIPTION_ID.into(),
            subscription_name: well_known::SUBSCRIPTION_NAME.into(),
            client_id: well_known::CLIENT_ID.into(),
            client_secret: well_known::CLIENT_SECRET.into(),
            strict_api_versions: false,
            sim_mode: SimMode::Auto,
            lro_delay: Duration::ZERO,
            blobs_in_memory: false,
            state_in_memory: false,
            task_context_dir: None,
            rbac_propagation: Duration::ZERO,
            header_read_timeout: Duration::from_secs(30),
            token_lifetime: Duration::from_secs(crate::entra::token::LIFETIME_SECS as u64),
            token_skew: Duration::from_secs(crate::entra::token::SKEW_SECS as u64),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            enable_test_panics: false,
            enable_test_crashes: false,
            container_engine: Default::default(),
        }
    }

    pub fn ca_path(&self) -> PathBuf {
        self.data_dir.join("ca.pem")
    }

    pub fn bundle_path(&self) -> PathBuf {
        self.data_dir.join("ca-bundle.pem")
    }

    pub fn port_path(&self) -> PathBuf {
        self.data_dir.join("port")
    }
}

/// A random key of `len` bytes kept in `<data_dir>/<name>` (base64, mode
/// 0600): made on first start, read back after, so what was signed with it
/// survives restarts and resets. A file that holds less is an error.
pub fn load_or_create_key(data_dir: &Path, name: &str, len: usize) -> anyhow::Result<Vec<u8>> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let path = data_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = STANDARD
                .decode(text.trim())
                .ok()
                .filter(|k| k.len() >= len)
                .ok_or_else(|| {
                    anyhow::anyhow!("{} does not hold a {len}-byte key", path.display())
                })?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; len];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            write_private(&path, STANDARD.encode(&key).as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}

/// Write a secret file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}
