//! `azemu doctor`: what breaks first runs, checked against a running emulator
//! and this shell's environment, each problem with the one command that fixes it.
//!
//! The trust checks run the real clients (az, Python's requests, Node, the
//! Docker engine) with this environment, as the user's own commands would.
//! Exit status 1 if anything is wrong.

use azemu_emulator::Config;
use azemu_emulator::admin::env::shell_quote;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Azure hosts the transparent proxy must see: a `NO_PROXY` entry matching one sends clients to the real Azure.
const AZURE_HOSTS: [&str; 4] = [
    "management.azure.com",
    "login.microsoftonline.com",
    "graph.microsoft.com",
    "myregistry.azurecr.io",
];

/// How far the emulator's clock may be from this machine's before tokens look
/// expired or not yet valid to clients (ARM's own tolerance).
const SKEW_SECONDS: i64 = 300;

enum Outcome {
    Ok(String),
    /// Not checked (a client that isn't installed).
    Skip(String),
    /// What is wrong, and the one command that fixes it.
    Fail(String, String),
}

/// The environment a check reads: the process's, so a test can hand the binary a broken one.
fn var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

pub async fn run(data_dir: &Path) -> anyhow::Result<bool> {
    let config = Config::new(data_dir);
    let dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    // Fix commands name the data dir as a shell reads it (a path may hold spaces).
    let dir_arg = shell_quote(&dir.display().to_string());
    let fix_env = format!("eval \"$(azemu env --data-dir {dir_arg})\"");
    let restart = format!("restart the emulator: azemu serve --data-dir {dir_arg}");
    println!("azemu doctor: {}", dir.display());
    let mut failed = 0;
    let mut report = |o: Outcome| match o {
        Outcome::Ok(m) => println!("  ok    {m}"),
        Outcome::Skip(m) => println!("  skip  {m}"),
        Outcome::Fail(m, fix) => {
            failed += 1;
            println!("  FAIL  {m}\n        fix: {fix}");
        }
    };

    // The emulator itself: nothing else can be checked without it.
    let port = match emulator(&config, &dir) {
        Ok((port, msg)) => {
            report(Outcome::Ok(msg));
            port
        }
        Err(o) => {
            report(o);
            println!("1 problem(s) found");
            return Ok(false);
        }
    };
    let base = format!("https://localhost:{port}/_emulator");
    let health = format!("{base}/health");
    let ca_path = config.ca_path();
    let ca = std::fs::read_to_string(&ca_path).unwrap_or_default();
    let http = reqwest::Certificate::from_pem(ca.as_bytes())
        .ok()
        .and_then(|c| {
            reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(c)
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .ok()
        });
    let Some(http) = http else {
        report(Outcome::Fail(
            format!(
                "CA: {} is missing or not a PEM certificate",
                ca_path.display()
            ),
            restart,
        ));
        println!("{failed} problem(s) found");
        return Ok(false);
    };
    report(match http.get(&health).send().await {
        Ok(r) if r.status().is_success() => Outcome::Ok(format!(
            "CA: {} signs the emulator's certificate",
            ca_path.display()
        )),
        Ok(r) => Outcome::Fail(
            format!("emulator: {health} answered {}", r.status()),
            restart.clone(),
        ),
        Err(e) => Outcome::Fail(
            format!(
                "CA: {} does not verify the emulator's certificate ({e})",
                ca_path.display()
            ),
            restart.clone(),
        ),
    });
    report(clock(&http, &base, &restart).await);
    report(proxy(port, &fix_env));
    report(no_proxy());
    report(instance_discovery(port));
    let certs = pem_blocks(&ca);
    for (var, who) in [
        ("REQUESTS_CA_BUNDLE", "az and Python's requests"),
        (
            "SSL_CERT_FILE",
            "OpenSSL and Go clients: curl, skopeo, Python's ssl",
        ),
        ("NODE_EXTRA_CA_CERTS", "Node"),
    ] {
        report(bundle_var(var, who, &certs, &fix_env));
    }
    let clients: [(&str, Vec<&str>); 3] = [
        (
            "az",
            vec![
                "az",
                "rest",
                "--method",
                "get",
                "--url",
                &health,
                "--skip-authorization-header",
                "-o",
                "none",
            ],
        ),
        (
            "Python's requests",
            vec![
                "python3",
                "-c",
                "import sys, requests; requests.get(sys.argv[1], timeout=10).raise_for_status()",
                &health,
            ],
        ),
        ("Node", vec!["node", "-e", NODE_GET, &health]),
    ];
    for (who, argv) in clients {
        report(client(who, &argv, &fix_env));
    }
    report(docker(port, &dir).await);
    if failed == 0 {
        println!("no problems found");
    } else {
        println!("{failed} problem(s) found");
    }
    Ok(failed == 0)
}

const NODE_GET: &str = "require('https').get(process.argv[1], r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', e => { console.error(e.message); process.exit(1) })";

/// Running, and reachable on the port it wrote.
fn emulator(config: &Config, dir: &Path) -> Result<(u16, String), Outcome> {
    let serve = format!(
        "azemu serve --data-dir {}",
        shell_quote(&dir.display().to_string())
    );
    let Ok(text) = std::fs::read_to_string(config.port_path()) else {
        return Err(Outcome::Fail(
            format!("emulator: none has run on {} (no port file)", dir.display()),
            serve,
        ));
    };
    let Ok(port) = text.trim().parse::<u16>() else {
        return Err(Outcome::Fail(
            format!(
                "emulator: the port file {} is malformed",
                config.port_path().display()
            ),
            serve,
        ));
    };
    if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_err() {
        return Err(Outcome::Fail(
            format!("emulator: nothing listens on port {port} (it wrote that port, then stopped)"),
            serve,
        ));
    }
    Ok((
        port,
        format!("emulator: listening on https://localhost:{port}"),
    ))
}

/// The emulator's clock against this machine's: tokens carry its times.
async fn clock(http: &reqwest::Client, base: &str, restart: &str) -> Outcome {
    let body: serde_json::Value = match http.get(format!("{base}/clock")).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => return Outcome::Fail(format!("clock: not readable ({e})"), restart.into()),
    };
    let Some(now) = body["now"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    else {
        return Outcome::Fail(format!("clock: unreadable answer {body}"), restart.into());
    };
    let skew = (now - OffsetDateTime::now_utc()).whole_seconds();
    let moved = body["offsetSeconds"].as_i64().unwrap_or(0);
    if skew.abs() <= SKEW_SECONDS {
        return Outcome::Ok(format!("clock: {skew:+} s from this machine's"));
    }
    if moved != 0 {
        Outcome::Fail(
            format!(
                "clock: the emulator's clock was moved {moved} s ahead (POST /_emulator/clock/advance): its tokens look not yet valid to clients that check"
            ),
            format!("{restart} (the offset is kept in memory only)"),
        )
    } else {
        Outcome::Fail(
            format!(
                "clock: the emulator's clock is {skew:+} s from this machine's: tokens look expired or not yet valid"
            ),
            "sync the clocks: timedatectl set-ntp true (or restart the container running azemu)"
                .into(),
        )
    }
}

/// Transparent mode's proxy variables name this emulator, and agree.
fn proxy(port: u16, fix_env: &str) -> Outcome {
    let upper = var("HTTPS_PROXY");
    let lower = var("https_proxy");
    let explicit = var("AZURE_AUTHORITY_HOST").is_some_and(|h| is_local(&h, port));
    match (upper.as_deref(), lower.as_deref()) {
        (None, None) if explicit => {
            Outcome::Ok("proxy: none set; AZURE_AUTHORITY_HOST names the emulator (explicit endpoints)".into())
        }
        (None, None) => Outcome::Fail(
            "proxy: neither HTTPS_PROXY nor explicit endpoints point at the emulator: clients reach the real Azure".into(),
            fix_env.into(),
        ),
        (Some(a), Some(b)) if a != b => Outcome::Fail(
            format!("proxy: HTTPS_PROXY={a} and https_proxy={b} disagree (curl and Python read the lower-case one first)"),
            fix_env.into(),
        ),
        (Some(p), _) | (None, Some(p)) if is_local(p, port) => {
            Outcome::Ok(format!("proxy: {p} is the emulator's transparent proxy"))
        }
        (Some(p), _) | (None, Some(p)) => Outcome::Fail(
            format!("proxy: HTTPS_PROXY={p} is not this emulator (port {port})"),
            fix_env.into(),
        ),
    }
}

/// `http://localhost:8443`, `https://127.0.0.1:8443/`… on `port`.
fn is_local(url: &str, port: u16) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|h| authority == format!("{h}:{port}"))
}

/// `NO_PROXY` entries that send an Azure host around the proxy, to the internet.
fn no_proxy() -> Outcome {
    let (name, value) = match (var("NO_PROXY"), var("no_proxy")) {
        (Some(v), _) => ("NO_PROXY", v),
        (None, Some(v)) => ("no_proxy", v),
        (None, None) => return Outcome::Ok("NO_PROXY: not set".into()),
    };
    let entries: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let bypass: Vec<&str> = entries
        .iter()
        .copied()
        .filter(|e| AZURE_HOSTS.iter().any(|h| bypasses(e, h)))
        .collect();
    if bypass.is_empty() {
        return Outcome::Ok(format!("{name}: no Azure host bypasses the proxy"));
    }
    let kept: Vec<&str> = entries
        .into_iter()
        .filter(|e| !bypass.contains(e))
        .collect();
    Outcome::Fail(
        format!(
            "{name}: {} send Azure's hosts around the proxy, to the real Azure",
            bypass.join(", ")
        ),
        format!("export {name}={}", shell_words(&kept.join(","))),
    )
}

/// curl's and Python's `NO_PROXY` rule: `*`, the host itself, or a domain suffix (with or without its dot).
fn bypasses(entry: &str, host: &str) -> bool {
    let e = entry
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .to_ascii_lowercase();
    entry == "*" || host == e || host.ends_with(&format!(".{e}"))
}

/// Always single-quoted (a `NO_PROXY` list reads as one word either way).
fn shell_words(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Explicit endpoints need MSAL's instance discovery off: it asks the real login.microsoftonline.com about the authority.
fn instance_discovery(port: u16) -> Outcome {
    let Some(authority) = var("AZURE_AUTHORITY_HOST").filter(|h| is_local(h, port)) else {
        return Outcome::Skip("instance discovery: not needed (transparent mode)".into());
    };
    match var("AZURE_CORE_INSTANCE_DISCOVERY").map(|v| v.to_ascii_lowercase()) {
        Some(v) if v == "false" || v == "0" => {
            Outcome::Ok("instance discovery: off, as explicit endpoints need".into())
        }
        _ => Outcome::Fail(
            format!(
                "instance discovery: on, so az validates the authority {authority} against login.microsoftonline.com and fails"
            ),
            "export AZURE_CORE_INSTANCE_DISCOVERY=false".into(),
        ),
    }
}

/// The base64 bodies of a PEM text's certificates.
fn pem_blocks(pem: &str) -> Vec<String> {
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|b| b.split("-----END CERTIFICATE-----").next())
        .map(|b| b.split_whitespace().collect())
        .collect()
}

/// A CA-bundle variable, if set, names a file holding the emulator's CA.
fn bundle_var(name: &str, who: &str, ca: &[String], fix_env: &str) -> Outcome {
    let Some(path) = var(name) else {
        return Outcome::Skip(format!(
            "{name}: not set ({who} use their own bundles; see the client checks)"
        ));
    };
    match std::fs::read_to_string(&path) {
        Err(e) => Outcome::Fail(
            format!("{name}={path}: unreadable ({e}); {who} fail on every TLS connection"),
            fix_env.into(),
        ),
        Ok(text) if pem_blocks(&text).iter().any(|c| ca.contains(c)) => {
            Outcome::Ok(format!("{name}: {path} holds the emulator's CA"))
        }
        Ok(_) => Outcome::Fail(
            format!("{name}={path} does not hold the emulator's CA (read by {who})"),
            fix_env.into(),
        ),
    }
}

/// Run a real client with this environment against the control API.
fn client(who: &str, argv: &[&str], fix_env: &str) -> Outcome {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::Skip(format!("{who}: {} is not installed", argv[0]));
        }
        Err(e) => {
            return Outcome::Fail(
                format!("{who}: could not run {} ({e})", argv[0]),
                fix_env.into(),
            );
        }
        Ok(o) => o,
    };
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Outcome::Ok(format!("{who}: trusts the emulator"));
    }
    if err.contains("No module named 'requests'") {
        return Outcome::Skip(format!("{who}: python3 has no requests module"));
    }
    // az says "ERROR: …"; a Python traceback ends with its exception; others say it first.
    let lines: Vec<&str> = err
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let exception = || lines.iter().rev().find(|l| l.contains("Error"));
    let first = if err.contains("Traceback") {
        exception()
    } else {
        None
    }
    .or_else(|| lines.iter().find(|l| l.starts_with("ERROR:")))
    .or(lines.first())
    .copied()
    .unwrap_or("failed");
    let first: String = first.chars().take(240).collect();
    Outcome::Fail(
        format!("{who}: refused the emulator: {first}"),
        fix_env.into(),
    )
}

/// A Docker engine, if one answers, sends registry traffic through this emulator.
async fn docker(port: u16, dir: &Path) -> Outcome {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.HTTPSProxy}}"])
        .stdin(Stdio::null())
        .output();
    let Ok(out) = out else {
        return Outcome::Skip("Docker: the docker CLI is not installed".into());
    };
    if !out.status.success() {
        return Outcome::Skip(
            "Docker: no engine answers (DOCKER_HOST or the default socket)".into(),
        );
    }
    let proxy = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // A pull from a registry no one has made: past TLS, azemu answers "not found";
    // an engine that does not trust its CA stops at the certificate.
    let trusted = || {
        let probe = Command::new("docker")
            .args(["pull", "azemudoctorprobe.azurecr.io/probe:doctor"])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        let err = String::from_utf8_lossy(&probe.stderr).into_owned();
        Some((!err.contains("x509") && !err.contains("certificate"), err))
    };
    let problem = if !is_local(&proxy, port) {
        format!(
            "Docker: the engine's HTTPS proxy is {}: docker push/pull to *.azurecr.io go to the internet",
            if proxy.is_empty() { "unset" } else { &proxy }
        )
    } else {
        match trusted() {
            Some((true, _)) => {
                return Outcome::Ok(format!(
                    "Docker: the engine's proxy is the emulator ({proxy}), and it trusts its CA"
                ));
            }
            Some((false, err)) => format!(
                "Docker: the engine goes through the emulator but does not trust its CA: {}",
                err.trim()
            ),
            None => return Outcome::Skip("Docker: docker pull could not run".into()),
        }
    };
    let bundle: PathBuf = dir.join("ca-bundle.pem");
    Outcome::Fail(
        problem,
        format!(
            "start an engine of azemu's own and use it: HTTPS_PROXY=http://localhost:{port} SSL_CERT_FILE={} dockerd -H unix:///tmp/azemu-docker.sock --data-root /tmp/azemu-docker --exec-root /tmp/azemu-docker-x --bridge=none --iptables=false --storage-driver=vfs & export DOCKER_HOST=unix:///tmp/azemu-docker.sock",
            shell_quote(&bundle.display().to_string())
        ),
    )
}
