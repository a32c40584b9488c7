//! `azemu`: the one command-line binary.
//!
//! - `azemu serve` runs the emulator (HTTPS, Entra, ARM, transparent proxy) on one port.
//! - `azemu env` prints the shell exports that point az, the Azure SDKs and OCI
//!   clients at a running emulator.
//! - `azemu push` pushes an image through ACR's auth flow.
//! - `azemu state export|import` writes or restores a whole world.
//! - `azemu doctor` checks what breaks first runs, each problem with its fix.

use anyhow::Context;
use azemu_emulator::config::well_known;
use azemu_emulator::runtime::engine::Choice;
use azemu_emulator::{AppState, Config, SimMode};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod doctor;

#[derive(Parser)]
#[command(
    name = "azemu",
    version,
    about = "A local, offline emulator of the Azure control planes a container deployment touches"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the emulator.
    Serve(Serve),
    /// Print shell exports that make az, the Azure SDKs and OCI clients use a running emulator.
    Env(EnvCmd),
    /// Push an image (an OCI image layout directory) to an emulated registry, through ACR's real auth flow.
    Push(PushCmd),
    /// Explain the last decision the emulator traced for a resource (why a pull failed, and the fix).
    Explain(ExplainCmd),
    /// Export or import a whole world (the emulator must be stopped).
    #[command(subcommand)]
    State(StateCmd),
    /// Run scenarios (a world, actions, Azure's expected answers) against fresh emulators.
    #[command(subcommand)]
    Scenario(ScenarioCmd),
    /// Inject failures and latency into a running emulator (the control API's /_emulator/faults).
    #[command(subcommand)]
    Faults(FaultsCmd),
    /// Check what breaks first runs (the emulator, its CA, trust in az, Python, Node and
    /// Docker, proxy variables, instance discovery, clock skew); exits 1 on any problem.
    Doctor(DataDir),
    /// Exit 0 if the emulator on this machine answers /_emulator/health (the container image's HEALTHCHECK).
    Health(HealthCmd),
}

#[derive(Args)]
struct HealthCmd {
    #[command(flatten)]
    dir: DataDir,
    /// The emulator's port; 0: the one its data dir names.
    #[arg(long, env = "AZEMU_PORT", default_value_t = 8443)]
    port: u16,
}

#[derive(Subcommand)]
enum FaultsCmd {
    /// Add a rule: requests it matches are held back (--delay-ms) and/or answered with --status.
    Add {
        #[command(flatten)]
        dir: DataDir,
        /// Host name, or a suffix starting with a dot (`.azurecr.io`).
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        method: Option<String>,
        /// Path prefix (`/oauth2/exchange`, `/v2/`).
        #[arg(long)]
        path: Option<String>,
        /// Only requests whose bearer token names this object id.
        #[arg(long)]
        principal: Option<String>,
        /// Answer with this HTTP status (in the plane's error shape unless --body).
        #[arg(long)]
        status: Option<u16>,
        /// Hold each matching request back this long (alone: then serve it as usual).
        #[arg(long)]
        delay_ms: Option<u64>,
        /// Only the first N matches.
        #[arg(long)]
        times: Option<u64>,
        /// A response header, `Name=value` (repeatable), e.g. `Retry-After=2`.
        #[arg(long = "header", value_parser = parse_header)]
        headers: Vec<(String, String)>,
        /// The response body (JSON, or text).
        #[arg(long)]
        body: Option<String>,
    },
    /// The rules and how often each matched.
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Remove one rule, or all.
    Clear {
        #[command(flatten)]
        dir: DataDir,
        id: Option<String>,
    },
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("'{s}' is not Name=value"))
}

#[derive(Subcommand)]
enum ScenarioCmd {
    /// Run a scenario file, or every scenario under a directory; exit 1 if any fails.
    Run {
        /// A scenario file (YAML or JSON) or a directory of them (e.g. fixtures/scenarios).
        path: PathBuf,
        /// How many scenarios run at once (each has its own emulator).
        #[arg(long, default_value_t = 4)]
        jobs: usize,
    },
}

/// `azemu explain <resource id>`: the last decision traced for it.
/// `azemu explain --pull <image> [--identity … | --principal-id … | --username … --password …] [--subnet …]`:
/// would a container group pull it? Asked, not done.
#[derive(Args)]
struct ExplainCmd {
    #[command(flatten)]
    dir: DataDir,
    /// The resource id, e.g. a container group's or a registry's.
    #[arg(required_unless_present_any = ["pull", "id"])]
    resource: Option<String>,
    /// One trace, by its id (from /_emulator/traces).
    #[arg(long, conflicts_with_all = ["resource", "pull"])]
    id: Option<String>,
    /// Ask hypothetically: could this image be pulled as a container group would pull it?
    #[arg(long, conflicts_with = "resource")]
    pull: Option<String>,
    /// With --pull: a managed identity's resource id.
    #[arg(long, requires = "pull")]
    identity: Option<String>,
    /// With --pull: a service principal's object id.
    #[arg(long, requires = "pull", conflicts_with = "identity")]
    principal_id: Option<String>,
    /// With --pull: a registry username (admin user or token) and its password.
    #[arg(long, requires_all = ["pull", "password"])]
    username: Option<String>,
    #[arg(long, requires = "username")]
    password: Option<String>,
    /// With --pull: from a container group in this subnet (its VNet's DNS and private endpoints).
    #[arg(long, requires = "pull")]
    subnet: Option<String>,
    /// `text` (default), `mermaid` (a sequence diagram) or `json`.
    #[arg(long, default_value = "text")]
    format: String,
}

#[derive(Subcommand)]
enum StateCmd {
    /// Write `<dir>/state.json` (every table, sorted, diffable) and `<dir>/blobs/sha256/…`.
    Export {
        #[command(flatten)]
        dir: DataDir,
        /// Where to write the snapshot (must be empty or absent).
        out: PathBuf,
    },
    /// Restore a snapshot into a data dir that holds no state yet.
    Import {
        #[command(flatten)]
        dir: DataDir,
        /// A directory written by `azemu state export`.
        from: PathBuf,
    },
}

#[derive(Args)]
struct PushCmd {
    #[command(flatten)]
    dir: DataDir,
    /// An OCI image layout directory (oci-layout, index.json, blobs/), or an image
    /// tarball: an OCI archive or what `docker save` writes.
    source: PathBuf,
    /// `<registry>.azurecr.io/<repository>:<tag>`
    target: String,
    /// Registry admin user or repository token name (default: Entra login as the well-known service principal).
    #[arg(long, requires = "password")]
    username: Option<String>,
    #[arg(long, requires = "username")]
    password: Option<String>,
}

#[derive(Args)]
struct DataDir {
    /// Where the CA, signing keys, state and the chosen port live.
    #[arg(long, env = "AZEMU_DATA_DIR", default_value = ".azemu")]
    data_dir: PathBuf,
}

#[derive(Args)]
struct Serve {
    #[command(flatten)]
    dir: DataDir,
    /// Port for HTTPS, plain HTTP and the CONNECT proxy; 0 picks a free one.
    #[arg(long, env = "AZEMU_PORT", default_value_t = 8443)]
    port: u16,
    /// Address to listen on.
    #[arg(long, env = "AZEMU_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Reject api-versions the emulated Azure service does not list.
    #[arg(long, env = "AZEMU_STRICT_API_VERSIONS")]
    strict_api_versions: bool,
    /// How long (in emulated time) a long-running operation stays in progress.
    #[arg(long, env = "AZEMU_LRO_DELAY_MS", default_value_t = 0)]
    lro_delay_ms: u64,
    /// `auto`: operations finish on their own; `explicit`: they wait for POST /_emulator/step.
    #[arg(long, env = "AZEMU_SIM_MODE", value_enum, default_value_t = Sim::Auto)]
    sim_mode: Sim,
    /// Local mirror of git build contexts for ACR task runs (azemu is offline):
    /// `<dir>/github.com/<org>/<repo>[@<branch>]`, holding the repository's files.
    #[arg(long, env = "AZEMU_TASK_CONTEXT_DIR")]
    task_context_dir: Option<PathBuf>,
    /// Build a world at start from a seed document (YAML or JSON): principals and
    /// their roles, a subscription-scope ARM template, images. See `emulator/src/seed.rs`.
    #[arg(long, env = "AZEMU_SEED")]
    seed: Option<PathBuf>,
    /// Azure's RBAC propagation, in emulated seconds: new role assignments take effect
    /// (and deleted ones stop working) this long after the write; new principals are
    /// not yet visible for role assignment. 0 (default): immediate.
    #[arg(
        long,
        env = "AZEMU_RBAC_PROPAGATION_DELAY_SECONDS",
        default_value_t = 0
    )]
    rbac_propagation_delay_seconds: u64,
    /// How long a client may take to open a connection and send a request's headers (ms).
    #[arg(long, env = "AZEMU_HEADER_READ_TIMEOUT_MS", default_value_t = 30_000)]
    header_read_timeout_ms: u64,
    /// How long Entra access tokens live, in seconds (Entra's own figure by default).
    #[arg(long, env = "AZEMU_TOKEN_LIFETIME_SECONDS", default_value_t = 3599)]
    token_lifetime_seconds: u64,
    /// Clock skew tolerated on a token's expiry and not-before, in seconds (ARM: 300).
    #[arg(long, env = "AZEMU_TOKEN_SKEW_SECONDS", default_value_t = 300)]
    token_skew_seconds: u64,
    /// Largest blob upload a registry accepts, in bytes (default 10 GiB); a larger
    /// upload is refused and its partial bytes removed.
    #[arg(long, env = "AZEMU_MAX_UPLOAD_BYTES", default_value_t = azemu_emulator::config::DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
    /// Tests only: accept fault rules with `"panic": true`, which panic while
    /// handling the requests they match (proves a panic is answered with a 500
    /// in the plane's shape and the connection lives on). Never in normal use.
    #[arg(long, env = "AZEMU_ENABLE_TEST_PANICS", hide = true)]
    enable_test_panics: bool,
    /// Tests only: accept fault rules with `"crash": "<point>"`, which stop the
    /// process dead at that point in the code (as `kill -9` would) to prove
    /// that a write cut off halfway leaves nothing behind. Never in normal use.
    #[arg(long, env = "AZEMU_ENABLE_TEST_CRASHES", hide = true)]
    enable_test_crashes: bool,
    /// Keep everything (state and registry blobs) in memory: nothing survives a restart.
    /// By default state persists in `<data-dir>/state.redb`, crash-safe.
    #[arg(long, env = "AZEMU_IN_MEMORY")]
    in_memory: bool,
    /// Where container groups and ACR task runs run: `docker` (the engine at DOCKER_HOST or the default
    /// socket), `none` (simulated: nothing is executed, and groups say so), or `auto`
    /// (docker when it answers, else none).
    #[arg(long, env = "AZEMU_CONTAINER_ENGINE", value_enum, default_value_t = EngineKind::Auto)]
    container_engine: EngineKind,
    /// Where registry blobs live: `disk` (`<data-dir>/registry`) or `memory`.
    #[arg(long, env = "AZEMU_BLOB_STORE", value_enum, default_value_t = BlobStoreKind::Disk)]
    blob_store: BlobStoreKind,
    /// Default tenant id.
    #[arg(long, env = "AZEMU_TENANT_ID", default_value = well_known::TENANT_ID)]
    tenant_id: String,
    /// Default subscription id.
    #[arg(long, env = "AZEMU_SUBSCRIPTION_ID", default_value = well_known::SUBSCRIPTION_ID)]
    subscription_id: String,
    /// Bootstrap service principal's client (application) id; it holds Owner on the subscription.
    #[arg(long, env = "AZEMU_CLIENT_ID", default_value = well_known::CLIENT_ID)]
    client_id: String,
    /// Bootstrap service principal's client secret.
    #[arg(long, env = "AZEMU_CLIENT_SECRET", default_value = well_known::CLIENT_SECRET, hide_default_value = true)]
    client_secret: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum BlobStoreKind {
    Disk,
    Memory,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineKind {
    Docker,
    None,
    Auto,
}

#[derive(Clone, Copy, ValueEnum)]
enum Sim {
    Auto,
    Explicit,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// HTTPS_PROXY through azemu; clients keep Azure's real host names (az's default AzureCloud).
    Transparent,
    /// Clients talk to https://localhost:PORT directly (az cloud register).
    Explicit,
}

#[derive(Args)]
struct EnvCmd {
    #[command(flatten)]
    dir: DataDir,
    /// Which way clients reach the emulator.
    #[arg(long, value_enum, default_value_t = Mode::Transparent)]
    mode: Mode,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(s) => serve(s),
        Command::Env(e) => env(e),
        Command::Push(p) => tokio::runtime::Runtime::new()?.block_on(push(p)),
        Command::State(c) => state(c),
        Command::Explain(e) => tokio::runtime::Runtime::new()?.block_on(explain(e)),
        Command::Faults(f) => tokio::runtime::Runtime::new()?.block_on(faults(f)),
        Command::Doctor(d) => {
            if !tokio::runtime::Runtime::new()?.block_on(doctor::run(&d.data_dir))? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Health(h) => health(h),
        Command::Scenario(ScenarioCmd::Run { path, jobs }) => {
            tokio::runtime::Runtime::new()?.block_on(scenarios(&path, jobs.max(1)))
        }
    }
}

/// `azemu scenario run`: each file against its own in-process emulator, `jobs` at a time.
async fn scenarios(path: &Path, jobs: usize) -> anyhow::Result<()> {
    let files = azemu::scenario::files(path)?;
    anyhow::ensure!(!files.is_empty(), "no scenarios under {}", path.display());
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut running = Vec::new();
    for f in files {
        let gate = gate.clone();
        running.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            azemu::scenario::run_file(&f).await
        }));
    }
    let mut failed = 0;
    let total = running.len();
    for r in running {
        let report = r.await?;
        if report.passed() {
            println!("PASS {}", report.file.display());
        } else {
            failed += 1;
            println!("FAIL {} — {}", report.file.display(), report.description);
            for f in &report.failures {
                println!("     {f}");
            }
        }
    }
    println!("{} of {total} scenarios passed", total - failed);
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn serve(s: Serve) -> anyhow::Result<()> {
    // AZEMU_LOG: the level filter (`info`: one line per request); AZEMU_LOG_FORMAT=json:
    // one JSON object per line, the event's fields at the top level.
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("AZEMU_LOG").unwrap_or_else(|_| "info".into());
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("AZEMU_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        log.json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        log.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let mut config = Config::new(&s.dir.data_dir);
    config.port = s.port;
    config.bind = s.bind;
    config.strict_api_versions = s.strict_api_versions;
    config.lro_delay = Duration::from_millis(s.lro_delay_ms);
    config.sim_mode = match s.sim_mode {
        Sim::Auto => SimMode::Auto,
        Sim::Explicit => SimMode::Explicit,
    };
    config.blobs_in_memory = s.in_memory || matches!(s.blob_store, BlobStoreKind::Memory);
    config.state_in_memory = s.in_memory;
    config.task_context_dir = s.task_context_dir;
    let seed = s.seed;
    config.rbac_propagation = Duration::from_secs(s.rbac_propagation_delay_seconds);
    config.token_lifetime = Duration::from_secs(s.token_lifetime_seconds);
    config.header_read_timeout = Duration::from_millis(s.header_read_timeout_ms.max(1));
    config.token_skew = Duration::from_secs(s.token_skew_seconds);
    config.max_upload_bytes = s.max_upload_bytes;
    config.enable_test_panics = s.enable_test_panics;
    config.enable_test_crashes = s.enable_test_crashes;
    config.container_engine = match s.container_engine {
        EngineKind::Docker => Choice::Docker,
        EngineKind::None => Choice::None,
        EngineKind::Auto => Choice::Auto,
    };
    config.tenant_id = s.tenant_id;
    config.subscription_id = s.subscription_id;
    config.client_id = s.client_id;
    config.client_secret = s.client_secret;

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let state = AppState::new(config).context("initialising the data dir")?;
        let inside = azemu_emulator::server::inside::serve(state.clone());
        state.containers.attach(&state, inside).await?;
        let server = azemu_emulator::start(state.clone())
            .await
            .context("binding the port")?;
        if let Some(path) = &seed {
            let doc = azemu_emulator::seed::load(path)?;
            let base = format!("https://localhost:{}", server.addr.port());
            azemu_emulator::seed::apply(&state, &doc, &base)
                .with_context(|| format!("seeding from {}", path.display()))?;
        }
        let c = &state.config;
        write_bundle(c)?;
        std::fs::write(c.port_path(), server.addr.port().to_string())?;
        let signalled = shutdown_signal()?;
        announce(c, server.addr.port());
        let stop = server.stopper();
        tokio::spawn(async move {
            signalled.await;
            eprintln!("azemu: shutting down");
            let _ = stop.send(true);
        });
        server.wait().await;
        state.containers.shutdown().await;
        let _ = std::fs::remove_file(state.config.port_path());
        anyhow::Ok(())
    })
}

/// `azemu state export|import`: straight on the data dir's store and blobs.
fn state(c: StateCmd) -> anyhow::Result<()> {
    use azemu_emulator::store::{Indexed, RedbStore, snapshot};
    let (data_dir, import) = match &c {
        StateCmd::Export { dir, .. } => (&dir.data_dir, false),
        StateCmd::Import { dir, .. } => (&dir.data_dir, true),
    };
    if !import && !data_dir.join("state.redb").exists() {
        anyhow::bail!("{} holds no state (no state.redb)", data_dir.display());
    }
    std::fs::create_dir_all(data_dir)?;
    let store = RedbStore::open(&data_dir.join("state.redb"))
        .and_then(Indexed::new)
        .with_context(|| {
            format!(
                "opening {}/state.redb (is an emulator running on this data dir? stop it first)",
                data_dir.display()
            )
        })?;
    let blobs = azemu_emulator::oci::blobs::BlobStore::open(data_dir.join("registry"))?;
    let bar = bytes_bar(if import {
        "checking blobs"
    } else {
        "exporting blobs"
    });
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let s = match &c {
        StateCmd::Export { out, .. } => snapshot::export_reporting(&store, &blobs, out, &progress)?,
        StateCmd::Import { from, .. } => {
            snapshot::import_reporting(&store, &blobs, from, &progress)?
        }
    };
    bar.finish_and_clear();
    println!(
        "{} {} tables, {} rows, {} blobs",
        if import { "imported" } else { "exported" },
        s.tables,
        s.rows,
        s.blobs
    );
    for row in &s.unreadable {
        println!("left out (unreadable): {row}");
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when it is first polled, so call it before announcing readiness.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// System CAs + the emulator CA, for clients that take one bundle file
/// (REQUESTS_CA_BUNDLE replaces Python's trust store rather than adding to it).
fn write_bundle(c: &Config) -> anyhow::Result<()> {
    let mut bundle = String::new();
    for sys in azemu_emulator::admin::env::SYSTEM_BUNDLES {
        if let Ok(s) = std::fs::read_to_string(sys) {
            bundle.push_str(&s);
            if !bundle.ends_with('\n') {
                bundle.push('\n');
            }
            break;
        }
    }
    bundle.push_str(&std::fs::read_to_string(c.ca_path())?);
    std::fs::write(c.bundle_path(), bundle)?;
    Ok(())
}

fn announce(c: &Config, port: u16) {
    if !c.bind.is_loopback() {
        eprintln!(
            "azemu: WARNING: listening on {} — other machines can reach this emulator, including its unauthenticated control API (/_emulator) and well-known credentials. Bind to 127.0.0.1 unless you mean it.",
            c.bind
        );
    }
    let host = if c.bind.is_unspecified() || c.bind.is_loopback() {
        "localhost".to_string()
    } else {
        c.bind.to_string()
    };
    let base = format!("https://{host}:{port}");
    println!(
        "azemu {} listening on {}:{port}",
        env!("CARGO_PKG_VERSION"),
        c.bind
    );
    println!("  ARM              {base}/");
    println!("  Entra (login)    {base}/{}", c.tenant_id);
    println!("  metadata         {base}/metadata/endpoints?api-version=2022-09-01");
    println!("  control API      {base}/_emulator/health");
    println!("  CONNECT proxy    http://{host}:{port}  (transparent mode: HTTPS_PROXY)");
    println!("  CA certificate   {}", c.ca_path().display());
    println!("  CA bundle        {}", c.bundle_path().display());
    println!("credentials (well-known unless overridden):");
    println!("  tenant           {}", c.tenant_id);
    println!(
        "  subscription     {} ({})",
        c.subscription_id, c.subscription_name
    );
    println!("  client id        {}", c.client_id);
    if c.client_secret == well_known::CLIENT_SECRET {
        println!("  client secret    {}", c.client_secret);
    } else {
        println!("  client secret    (the one given with --client-secret; not printed)");
    }
    println!(
        "shell setup: eval \"$(azemu env --data-dir {})\"",
        c.data_dir.display()
    );
    // From a container's host too, through the published port.
    println!(
        "  or, from any shell that reaches it as localhost:{port}: eval \"$(curl -fsS http://localhost:{port}/_emulator/env)\""
    );
    println!("azemu ready on port {port}");
}

fn env(e: EnvCmd) -> anyhow::Result<()> {
    print!("{}", env_exports(&e.dir.data_dir, e.mode)?);
    Ok(())
}

fn env_exports(data_dir: &Path, mode: Mode) -> anyhow::Result<String> {
    let config = Config::new(data_dir);
    let port = std::fs::read_to_string(config.port_path()).with_context(|| {
        format!(
            "no running emulator found ({} missing): start `azemu serve` first",
            config.port_path().display()
        )
    })?;
    let port: u16 = port.trim().parse().context("malformed port file")?;
    use azemu_emulator::admin::env;
    let dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let var = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.into());
    let (tenant, client, secret, sub) = (
        var("AZEMU_TENANT_ID", well_known::TENANT_ID),
        var("AZEMU_CLIENT_ID", well_known::CLIENT_ID),
        var("AZEMU_CLIENT_SECRET", well_known::CLIENT_SECRET),
        var("AZEMU_SUBSCRIPTION_ID", well_known::SUBSCRIPTION_ID),
    );
    let creds = env::Credentials {
        tenant_id: &tenant,
        client_id: &client,
        client_secret: &secret,
        subscription_id: &sub,
    };
    let way = match mode {
        Mode::Transparent => env::Way::Transparent,
        Mode::Explicit => env::Way::Explicit,
    };
    let vars = env::variables(&creds, &format!("localhost:{port}"), way);
    Ok(env::render(env::Shell::Bash, &vars, &env::Files::At(dir)))
}

/// `myreg.azurecr.io/team/app:v1` → (`myreg.azurecr.io`, `team/app`, `v1`).
fn parse_target(t: &str) -> anyhow::Result<(String, String, String)> {
    let (server, rest) = t
        .split_once('/')
        .context("target must be <registry>.azurecr.io/<repository>:<tag>")?;
    let (repo, tag) = rest.rsplit_once(':').unwrap_or((rest, "latest"));
    anyhow::ensure!(
        server.ends_with(".azurecr.io") && !repo.is_empty(),
        "target must be <registry>.azurecr.io/<repository>:<tag>"
    );
    Ok((server.to_string(), repo.to_string(), tag.to_string()))
}

/// `azemu health`: GET /_emulator/health over plain HTTP on 127.0.0.1 (no CA
/// needed, nothing to resolve); exit 0 on 200.
fn health(h: HealthCmd) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let port = match h.port {
        0 => running(&h.dir.data_dir)?.0,
        p => p,
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("nothing answers on {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let status = answer.lines().next().unwrap_or_default();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    anyhow::ensure!(
        status.starts_with("HTTP/1.1 200"),
        "{addr} answered {status:?}: {body}"
    );
    println!("{body}");
    Ok(())
}

/// The port and CA of the emulator running on `data_dir`.
fn running(data_dir: &Path) -> anyhow::Result<(u16, Vec<u8>)> {
    let config = Config::new(data_dir);
    let port: u16 = std::fs::read_to_string(config.port_path())
        .context("no running emulator found: start `azemu serve` first")?
        .trim()
        .parse()
        .context("malformed port file")?;
    Ok((port, std::fs::read(config.ca_path())?))
}

/// `azemu faults add|list|clear`: the running emulator's fault rules.
async fn faults(f: FaultsCmd) -> anyhow::Result<()> {
    let dir = match &f {
        FaultsCmd::Add { dir, .. } | FaultsCmd::List { dir } | FaultsCmd::Clear { dir, .. } => dir,
    };
    let (port, ca) = running(&dir.data_dir)?;
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .no_proxy()
        .build()?;
    let base = format!("https://localhost:{port}/_emulator/faults");
    let r = match f {
        FaultsCmd::Add {
            host,
            method,
            path,
            principal,
            status,
            delay_ms,
            times,
            headers,
            body,
            ..
        } => {
            let mut rule = serde_json::json!({
                "host": host, "method": method, "path": path, "principal": principal,
                "status": status, "delayMs": delay_ms, "times": times,
                "headers": headers.into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            });
            if let Some(b) = body {
                rule["body"] = serde_json::from_str(&b).unwrap_or(serde_json::json!(b));
            }
            http.post(&base).json(&rule).send().await?
        }
        FaultsCmd::List { .. } => http.get(&base).send().await?,
        FaultsCmd::Clear { id, .. } => match id {
            // The control API takes state-changing calls only as JSON.
            Some(id) => {
                http.delete(format!("{base}/{id}"))
                    .json(&serde_json::json!({}))
                    .send()
                    .await?
            }
            None => {
                http.delete(&base)
                    .json(&serde_json::json!({}))
                    .send()
                    .await?
            }
        },
    };
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        anyhow::bail!("{status}: {}", text.trim());
    }
    if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}

/// `azemu explain <resource>`: ask the running emulator (control API) and print its answer.
async fn explain(e: ExplainCmd) -> anyhow::Result<()> {
    let (port, ca) = running(&e.dir.data_dir)?;
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .no_proxy()
        .build()?;
    let base = format!("https://localhost:{port}/_emulator/explain");
    let r = if let Some(image) = &e.pull {
        let mut body = serde_json::json!({"image": image});
        for (k, v) in [
            ("identity", &e.identity),
            ("principalId", &e.principal_id),
            ("username", &e.username),
            ("password", &e.password),
            ("subnet", &e.subnet),
        ] {
            if let Some(v) = v {
                body[k] = serde_json::json!(v);
            }
        }
        http.post(format!("{base}/pull"))
            .query(&[("format", e.format.as_str())])
            .json(&body)
            .send()
            .await?
    } else {
        let (k, v) = match (&e.id, &e.resource) {
            (Some(id), _) => ("id", id.as_str()),
            (None, Some(r)) => ("resource", r.as_str()),
            (None, None) => anyhow::bail!("name a resource, --id or --pull"),
        };
        http.get(base)
            .query(&[(k, v), ("format", e.format.as_str())])
            .send()
            .await?
    };
    let ok = r.status().is_success();
    let text = r.text().await?;
    if !ok {
        anyhow::bail!("{}", text.trim());
    }
    print!("{text}");
    Ok(())
}

async fn push(p: PushCmd) -> anyhow::Result<()> {
    use azemu_client::oci::{RegistryAuth, RegistryClient};
    let (port, ca) = running(&p.dir.data_dir)?;
    let (server, repo, tag) = parse_target(&p.target)?;
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .proxy(reqwest::Proxy::https(format!("http://localhost:{port}"))?)
        .build()?;
    let auth = match (p.username, p.password) {
        (Some(username), Some(password)) => RegistryAuth::Basic { username, password },
        _ => {
            let entra = azemu_client::Client::builder(&format!("https://localhost:{port}"))
                .ca_pem(&ca)?
                .well_known_credentials()
                .build()?;
            let token = entra
                .token("https://containerregistry.azure.net/.default")
                .await?;
            RegistryAuth::Entra {
                access_token: token.access_token,
                tenant: well_known::TENANT_ID.into(),
            }
        }
    };
    let bar = bytes_bar("pushing");
    let shown = bar.clone();
    let client = RegistryClient::new(http, &server, auth).on_progress(move |p| match p {
        azemu_client::oci::Progress::Planned { bytes, .. } => shown.set_length(bytes),
        azemu_client::oci::Progress::Blob {
            digest,
            bytes,
            existed,
        } => {
            let short = digest.get(..19).unwrap_or(&digest);
            let what = if existed { "already there" } else { "pushed" };
            shown.set_message(format!("{short} {what}"));
            shown.inc(bytes);
        }
    });
    // A tarball is unpacked first; then an OCI layout (index.json) or a `docker save` archive (manifest.json).
    let unpacked;
    let dir: &Path = if p.source.is_file() {
        unpacked = tempfile::tempdir()?;
        tar::Archive::new(std::fs::File::open(&p.source)?)
            .unpack(unpacked.path())
            .with_context(|| format!("unpacking {}", p.source.display()))?;
        unpacked.path()
    } else {
        &p.source
    };
    let digest = if dir.join("index.json").exists() {
        client.push_oci_layout(dir, &repo, &tag).await?
    } else if dir.join("manifest.json").exists() {
        client.push_docker_archive(dir, &repo, &tag).await?
    } else {
        anyhow::bail!(
            "{} is neither an OCI image layout nor a `docker save` archive",
            p.source.display()
        );
    };
    bar.finish_and_clear();
    println!("pushed {server}/{repo}:{tag}@{digest}");
    Ok(())
}

/// A progress bar in bytes on stderr, drawn only when stderr is a terminal.
fn bytes_bar(what: &str) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} {{bar:20}} {{bytes}}/{{total_bytes}} {{msg}}"
        ))
        .expect("a valid template"),
    );
    bar
}
