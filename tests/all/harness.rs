//! Start an emulator process and build clients for it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const TENANT: &str = "a2e0a2e0-0000-4000-8000-000000000001";
pub const SUBSCRIPTION: &str = "a2e0a2e0-0000-4000-8000-000000000002";
pub const CLIENT_ID: &str = "a2e0a2e0-0000-4000-8000-000000000003";
pub const CLIENT_SECRET: &str = "azemu-well-known-secret-not-for-production";

/// A running `azemu serve`, killed when dropped.
pub struct Emulator {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Emulator {
    pub fn start() -> Emulator {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Emulator {
        Self::start_in(tempfile::tempdir().expect("temp dir"), args)
    }

    /// Start on an existing data dir (a restart).
    pub fn start_in(dir: tempfile::TempDir, args: &[&str]) -> Emulator {
        Self::start_logging(dir, args, Stdio::null(), &[])
    }

    /// [`Emulator::start_in`] with extra environment.
    pub fn start_in_env(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Emulator {
        Self::start_logging(dir, &[], Stdio::null(), env)
    }

    /// Start with the server's log (stderr) in `<data dir>/stderr.log`; read it with [`Emulator::log`].
    pub fn start_logged(args: &[&str]) -> Emulator {
        Self::start_logged_env(args, &[])
    }

    /// [`Emulator::start_logged`] with extra environment (`AZEMU_LOG_FORMAT=json`).
    pub fn start_logged_env(args: &[&str], env: &[(&str, &str)]) -> Emulator {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log file");
        Self::start_logging(dir, args, Stdio::from(log), env)
    }

    /// What the server has logged (started with [`Emulator::start_logged`]).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).expect("stderr.log")
    }

    fn start_logging(
        dir: tempfile::TempDir,
        args: &[&str],
        stderr: Stdio,
        env: &[(&str, &str)],
    ) -> Emulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_azemu"))
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .env_remove("AZEMU_PORT")
            .env_remove("AZEMU_LOG")
            .env_remove("AZEMU_LOG_FORMAT")
            // Nothing runs unless a test asks for an engine (CI's DOCKER_HOST is its own).
            .env("AZEMU_CONTAINER_ENGINE", "none")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn azemu");
        let stdout = child.stdout.take().expect("stdout");
        let mut port = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read azemu stdout");
            if let Some(p) = line.strip_prefix("azemu ready on port ") {
                port = Some(p.trim().parse().expect("port"));
                break;
            }
        }
        let port = port.expect("azemu exited before it was ready");
        let written: u16 = std::fs::read_to_string(dir.path().join("port"))
            .expect("port file")
            .trim()
            .parse()
            .expect("port file content");
        assert_eq!(written, port, "the port file names the chosen port");
        Emulator {
            port,
            dir,
            child: Some(child),
        }
    }

    pub fn base(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("ca.pem")).expect("ca.pem")
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("ca-bundle.pem")
    }

    /// A raw HTTPS client trusting only the emulator's CA.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem()).expect("CA pem"))
            .no_proxy()
            .build()
            .expect("http client")
    }

    /// `azemu <command> <args> --data-dir <this emulator's>`: its stdout (it must succeed).
    pub fn cli(&self, command: &str, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_azemu"))
            .arg(command)
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .output()
            .expect("run azemu");
        assert!(
            out.status.success(),
            "azemu {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    /// `azemu explain <args>` against this emulator: its stdout.
    pub fn explain(&self, args: &[&str]) -> String {
        self.cli("explain", args)
    }

    /// Send `req` and read its JSON answer (`null` when it has none).
    pub async fn json_of(req: reqwest::RequestBuilder) -> serde_json::Value {
        Self::answer(req).await.1
    }

    /// Send `req`: its status and JSON answer (`null` when it has none).
    pub async fn answer(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `GET <base><path>` on the control API (or any unauthenticated route), as JSON.
    pub async fn control_json(&self, path: &str) -> serde_json::Value {
        self.http()
            .get(format!("{}{path}", self.base()))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("a JSON answer")
    }

    /// An HTTPS client that reaches Azure host names (`<name>.azurecr.io`)
    /// through the emulator's CONNECT proxy, trusting only its CA.
    pub fn proxied(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem()).expect("CA pem"))
            .proxy(reqwest::Proxy::https(format!("http://localhost:{}", self.port)).expect("proxy"))
            .build()
            .expect("proxied client")
    }

    /// The typed client with the well-known credentials.
    pub fn client(&self) -> azemu_client::Client {
        azemu_client::Client::builder(&self.base())
            .ca_pem(&self.ca_pem())
            .expect("CA pem")
            .well_known_credentials()
            .poll_interval(Duration::ZERO)
            .build()
            .expect("client")
    }

    /// An ARM token for the bootstrap principal.
    pub async fn arm_token(&self) -> String {
        self.client()
            .token(azemu_client::ARM_SCOPE)
            .await
            .expect("token")
            .access_token
    }

    /// A new service principal (control API) with no role, and an ARM token for it.
    pub async fn new_principal(&self) -> TestPrincipal {
        let made: serde_json::Value = self
            .http()
            .post(format!("{}/_emulator/principals", self.base()))
            .json(&serde_json::json!({"displayName": "test-principal"}))
            .send()
            .await
            .expect("create principal")
            .json()
            .await
            .expect("principal JSON");
        let field = |k: &str| made[k].as_str().expect("principal field").to_string();
        let client = azemu_client::Client::builder(&self.base())
            .ca_pem(&self.ca_pem())
            .expect("CA pem")
            .credentials(TENANT, &field("appId"), &field("secret"))
            .build()
            .expect("client");
        let token = client
            .token(azemu_client::ARM_SCOPE)
            .await
            .expect("token")
            .access_token;
        TestPrincipal {
            object_id: field("objectId"),
            app_id: field("appId"),
            secret: field("secret"),
            token,
        }
    }

    /// An ARM call with `token`: (status, JSON body or null).
    pub async fn arm(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let r = self.arm_response(token, method, path, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// An ARM call with `token`: the whole response (headers too).
    pub async fn arm_response(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http()
            .request(method, format!("{}{path}", self.base()))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("ARM request")
    }

    /// A new resource group `name` in eastus, made by `token`'s caller: its path.
    pub async fn resource_group(&self, token: &str, name: &str) -> String {
        let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}");
        let (status, body) = self
            .arm(
                token,
                reqwest::Method::PUT,
                &format!("{rg}?api-version=2024-07-01"),
                Some(serde_json::json!({"location": "eastus"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        rg
    }

    /// `azemu push` of the sample image (`fixtures/images/hello-world`) to `target`; did it succeed?
    pub fn push_sample(&self, target: &str) -> Result<(), String> {
        self.push_layout(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world"),
            target,
        )
    }

    /// `azemu push` of the OCI layout (or `docker save` archive) `image` to `target`.
    pub fn push_layout(&self, image: &Path, target: &str) -> Result<(), String> {
        let out = Command::new(env!("CARGO_BIN_EXE_azemu"))
            .args(["push", "--data-dir"])
            .arg(self.dir.path())
            .arg(image)
            .arg(target)
            .output()
            .expect("run azemu push");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `POST /_emulator/step`: finish every pending long-running operation (explicit mode).
    pub async fn step(&self) {
        let r = self
            .http()
            .post(format!("{}/_emulator/step", self.base()))
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("step");
        assert_eq!(r.status(), 200, "step");
    }

    /// Move the emulator's clock forward.
    pub async fn advance_clock(&self, seconds: i64) {
        let r = self
            .http()
            .post(format!(
                "{}/_emulator/clock/advance?seconds={seconds}",
                self.base()
            ))
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("advance clock");
        assert_eq!(r.status(), 200);
    }

    /// SIGKILL (a crash: no shutdown code runs); the (kept) data dir.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9");
        let _ = child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    /// SIGTERM; the exit status and the (kept) data dir.
    pub fn terminate(mut self) -> (std::process::ExitStatus, tempfile::TempDir) {
        let mut child = self.child.take().expect("running");
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
        let status = child.wait().expect("wait");
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        (status, dir)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A principal made through the control API.
pub struct TestPrincipal {
    pub object_id: String,
    pub app_id: String,
    /// Its client secret (for `az login --service-principal`).
    pub secret: String,
    pub token: String,
}

/// The Python venv holding azure-cli, azure-identity and azure-mgmt-resource.
pub fn venv() -> PathBuf {
    let v = std::env::var_os("AZEMU_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv"));
    assert!(
        v.join("bin/python").exists(),
        "no Python venv at {} — run scripts/test (it creates one) or set AZEMU_VENV",
        v.display()
    );
    v
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Environment for Python clients: only what we set, plus PATH/HOME basics.
pub fn python_env(cmd: &mut tokio::process::Command, em: &Emulator) {
    cmd.env_clear();
    for k in ["PATH", "HOME", "LANG", "TMPDIR"] {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    cmd.env("REQUESTS_CA_BUNDLE", em.bundle())
        .env("SSL_CERT_FILE", em.bundle())
        .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
        .env("PYTHONDONTWRITEBYTECODE", "1");
}

pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub async fn run(cmd: &mut tokio::process::Command) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.kill_on_drop(true).output())
        .await
        .expect("command finished within 300 s")
        .expect("command ran");
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `"acr show -n x"` → `["acr", "show", "-n", "x"]`: az arguments without spaces.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The `name` of each item of a JSON list (az output, an ARM list's `value`), in order.
pub fn names(list: &serde_json::Value) -> Vec<&str> {
    let items = list.get("value").unwrap_or(list);
    items
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default()
}

/// JSON merge: `patch`'s objects merged into `target`'s, anything else replaced.
pub fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}
