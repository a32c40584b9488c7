//! A first run with no certificate pain (issue 24): the control API serves
//! the CA (`GET /_emulator/ca.pem`) and a script per shell
//! (`GET /_emulator/env?shell=bash|fish|powershell`) that writes the CA and a
//! bundle under `~/.azemu/<host>-<port>/` and exports what az and the SDKs
//! need. The bash and fish scripts run for real, in a fresh home, and the
//! venv's az logs in with what they set.

use crate::harness::{CLIENT_ID, CLIENT_SECRET, Emulator, Output, SUBSCRIPTION, TENANT, run, venv};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `GET http://localhost:<port><path>` (what `curl http://localhost:PORT/…` does):
/// status, content type, body.
pub async fn get(port: u16, path: &str) -> (u16, String, String) {
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://localhost:{port}{path}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

/// Run `line` in `shell` (`bash -c`, `fish -c`) as a user with nothing set up:
/// a fresh `HOME`, `PATH` with the venv's az first, no other variables.
pub async fn as_new_user(shell: &str, line: &str, home: &Path, env: &[(&str, &str)]) -> Output {
    let path = format!(
        "{}:{}",
        venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new(shell);
    cmd.env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(env.iter().copied())
        .current_dir(home)
        .args(["-c", line]);
    run(&mut cmd).await
}

/// Run `line` in `shell` as a new user against `em`: its stdout (it must
/// succeed), the directory the script filled (it holds azemu's CA), the home.
async fn run_script(
    em: &Emulator,
    shell: &str,
    line: &str,
) -> (String, PathBuf, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let out = as_new_user(shell, line, home.path(), &[]).await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let dir = home.path().join(format!(".azemu/localhost-{}", em.port));
    assert_eq!(std::fs::read(dir.join("ca.pem")).unwrap(), em.ca_pem());
    (out.stdout, dir, home)
}

#[tokio::test]
async fn the_ca_is_served_as_pem() {
    let em = Emulator::start();
    let (status, ct, body) = get(em.port, "/_emulator/ca.pem").await;
    assert_eq!((status, ct.as_str()), (200, "application/x-pem-file"));
    assert_eq!(body.as_bytes(), em.ca_pem().as_slice());
    // As over HTTPS: the same file the data dir holds.
    let over_tls = em
        .http()
        .get(format!("{}/_emulator/ca.pem", em.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(over_tls.status(), 200);
    assert_eq!(over_tls.text().await.unwrap(), body);
}

#[tokio::test]
async fn the_bash_script_writes_the_ca_and_az_logs_in_with_what_it_exports() {
    let em = Emulator::start();
    let (status, ct, script) = get(em.port, "/_emulator/env?shell=bash").await;
    assert_eq!((status, ct.as_str()), (200, "text/plain; charset=utf-8"));
    let dir = format!("$HOME/.azemu/localhost-{}", em.port);
    for line in [
        format!("export REQUESTS_CA_BUNDLE=\"{dir}/ca-bundle.pem\""),
        format!("export SSL_CERT_FILE=\"{dir}/ca-bundle.pem\""),
        format!("export NODE_EXTRA_CA_CERTS=\"{dir}/ca.pem\""),
        format!("export HTTPS_PROXY=http://localhost:{}", em.port),
        format!("export AZURE_TENANT_ID={TENANT}"),
        format!("export AZURE_CLIENT_ID={CLIENT_ID}"),
        format!("export AZURE_CLIENT_SECRET={CLIENT_SECRET}"),
        format!("export AZURE_SUBSCRIPTION_ID={SUBSCRIPTION}"),
        format!("export AZURE_CONFIG_DIR=\"{dir}/az\""),
    ] {
        assert!(script.lines().any(|l| l == line), "{line} in:\n{script}");
    }

    let url = format!("http://localhost:{}/_emulator/env?shell=bash", em.port);
    let (stdout, d, home) = run_script(
        &em,
        "bash",
        &format!(
            "set -e; eval \"$(curl -fsS '{url}')\"
             az login --service-principal -u \"$AZURE_CLIENT_ID\" -p \"$AZURE_CLIENT_SECRET\" --tenant \"$AZURE_TENANT_ID\" -o none
             az group create -n first -l westeurope -o none
             az group list --query '[].name' -o tsv
             env | grep -E '^(HTTPS_PROXY|AZURE_SUBSCRIPTION_ID|AZURE_CONFIG_DIR)=' | sort"
        ),
    )
    .await;
    assert_eq!(
        stdout,
        format!(
            "first\nAZURE_CONFIG_DIR={}\nAZURE_SUBSCRIPTION_ID={SUBSCRIPTION}\nHTTPS_PROXY=http://localhost:{}\n",
            d.join("az").display(),
            em.port
        )
    );
    // The bundle: this machine's CAs, then azemu's.
    let bundle = std::fs::read_to_string(d.join("ca-bundle.pem")).unwrap();
    let ca = String::from_utf8(em.ca_pem()).unwrap();
    assert!(bundle.ends_with(&ca), "the bundle ends with azemu's CA");
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > 1,
        "and holds the system CAs too"
    );
    // az's login went to the script's config dir, not the user's own.
    assert!(d.join("az/azureProfile.json").exists());
    assert!(!home.path().join(".azure").exists());
}

#[tokio::test]
async fn the_fish_script_sets_the_same_and_az_logs_in() {
    let em = Emulator::start();
    let url = format!("http://localhost:{}/_emulator/env?shell=fish", em.port);
    let (stdout, d, _home) = run_script(
        &em,
        "fish",
        &format!(
            "curl -fsS '{url}' | source
             and az login --service-principal -u \"$AZURE_CLIENT_ID\" -p \"$AZURE_CLIENT_SECRET\" --tenant \"$AZURE_TENANT_ID\" -o none
             and az group list -o json
             and printf '%s\\n' $REQUESTS_CA_BUNDLE $HTTPS_PROXY $AZURE_SUBSCRIPTION_ID"
        ),
    )
    .await;
    assert_eq!(
        stdout,
        format!(
            "[]\n{}\nhttp://localhost:{}\n{SUBSCRIPTION}\n",
            d.join("ca-bundle.pem").display(),
            em.port
        )
    );
}

/// No PowerShell on Debian: its script is checked line by line.
#[tokio::test]
async fn the_powershell_script_is_what_powershell_needs() {
    let em = Emulator::start();
    let (status, _, script) = get(em.port, "/_emulator/env?shell=powershell&mode=explicit").await;
    assert_eq!(status, 200);
    let p = em.port;
    let dir = format!("[IO.Path]::Combine($HOME, '.azemu', 'localhost-{p}'");
    let ca = String::from_utf8(em.ca_pem()).unwrap();
    let expected = format!(
        "# azemu at localhost:{p} (explicit mode). Use: Invoke-Expression (Invoke-RestMethod 'http://localhost:{p}/_emulator/env?shell=powershell')
# Writes azemu's CA and a bundle (this machine's CAs + azemu's) to ~/.azemu/localhost-{p}; az keeps its login there too.
$null = New-Item -ItemType Directory -Force -Path ({dir}))
Set-Content -NoNewline -Path ({dir}, 'ca.pem')) -Value '{ca}'
Set-Content -NoNewline -Path ({dir}, 'ca-bundle.pem')) -Value ((@('/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem') | Where-Object {{ Test-Path -PathType Leaf $_ }} | Select-Object -First 1 | ForEach-Object {{ (Get-Content -Raw $_) + \"`n\" }}) + (Get-Content -Raw ({dir}, 'ca.pem'))))
$env:REQUESTS_CA_BUNDLE = ({dir}, 'ca-bundle.pem'))
$env:SSL_CERT_FILE = ({dir}, 'ca-bundle.pem'))
$env:CURL_CA_BUNDLE = ({dir}, 'ca-bundle.pem'))
$env:NODE_EXTRA_CA_CERTS = ({dir}, 'ca.pem'))
$env:AZURE_TENANT_ID = '{TENANT}'
$env:AZURE_CLIENT_ID = '{CLIENT_ID}'
$env:AZURE_CLIENT_SECRET = '{CLIENT_SECRET}'
$env:AZURE_SUBSCRIPTION_ID = '{SUBSCRIPTION}'
$env:AZURE_CORE_COLLECT_TELEMETRY = 'false'
$env:AZURE_AUTHORITY_HOST = 'https://localhost:{p}'
$env:AZURE_RESOURCE_MANAGER_ENDPOINT = 'https://localhost:{p}/'
$env:AZURE_CORE_INSTANCE_DISCOVERY = 'false'
$env:AZURE_CONFIG_DIR = ({dir}, 'az'))
# Then: az login --service-principal -u $env:AZURE_CLIENT_ID -p $env:AZURE_CLIENT_SECRET --tenant $env:AZURE_TENANT_ID
"
    );
    assert_eq!(script, expected);
}

#[tokio::test]
async fn an_unknown_shell_or_mode_is_a_400_in_the_control_apis_shape() {
    let em = Emulator::start();
    for (query, message) in [
        (
            "shell=zsh",
            "Query parameter 'shell' must be one of bash, fish, powershell; 'zsh' is not.",
        ),
        (
            "shell=",
            "Query parameter 'shell' must be one of bash, fish, powershell; '' is not.",
        ),
        (
            "shell=bash&mode=direct",
            "Query parameter 'mode' must be one of transparent, explicit; 'direct' is not.",
        ),
    ] {
        let (status, ct, body) = get(em.port, &format!("/_emulator/env?{query}")).await;
        assert_eq!((status, ct.as_str()), (400, "application/json"), "{query}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": "InvalidParameter", "message": message}}),
            "{query}"
        );
    }
    // Without `shell`: bash.
    let (status, _, script) = get(em.port, "/_emulator/env").await;
    assert_eq!(status, 200);
    assert!(script.contains("\nexport HTTPS_PROXY="), "{script}");
}

/// The script carries the client secret: like all of the control API, it
/// answers only requests addressed to this machine.
#[tokio::test]
async fn the_script_is_for_the_local_user_only() {
    let em = Emulator::start();
    for path in ["/_emulator/env?shell=bash", "/_emulator/ca.pem"] {
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{}{path}", em.port))
            .header("host", "rebound.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "Forbidden", "{path}: {body}");
    }
}

/// `azemu health` (the image's HEALTHCHECK): 0 and the body when the
/// emulator answers, non-zero when nothing does.
#[test]
fn the_health_probe() {
    let em = Emulator::start();
    let probe = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_azemu"))
            .arg("health")
            .args(args)
            .env_remove("AZEMU_PORT")
            .output()
            .unwrap()
    };
    let port = em.port.to_string();
    let data_dir = em.data_dir().display().to_string();
    for args in [
        vec!["--port", &port],
        vec!["--port", "0", "--data-dir", &data_dir],
    ] {
        let out = probe(&args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_eq!(out.stdout, b"{\"status\":\"ok\"}\n", "{args:?}");
    }
    let closed = crate::container_image::free_port().to_string();
    let out = probe(&["--port", &closed]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("nothing answers on 127.0.0.1:{closed}")),
        "{stderr}"
    );
}
