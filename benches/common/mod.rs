//! What the benchmarks share: start the real binary, an HTTPS client that
//! trusts its CA, a token for the well-known principal, summary lines.
#![allow(dead_code)] // each bench uses its own subset

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const SUB: &str = "a2e0a2e0-0000-4000-8000-000000000002";

pub fn spawn(dir: &std::path::Path) -> (Child, u16) {
    spawn_with(dir, &[])
}

pub fn spawn_with(dir: &std::path::Path, args: &[&str]) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
        .args(args)
        .env("AZEMU_CONTAINER_ENGINE", "none")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn azemu");
    let out = child.stdout.take().unwrap();
    for line in BufReader::new(out).lines() {
        if let Some(p) = line.unwrap().strip_prefix("azemu ready on port ") {
            return (child, p.trim().parse().unwrap());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("azemu exited before it was ready");
}

pub fn client(dir: &std::path::Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .no_proxy()
        .build()
        .unwrap()
}

/// An HTTPS client that reaches `<name>.azurecr.io` through the emulator's CONNECT proxy.
pub fn proxied(dir: &std::path::Path, port: u16) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .proxy(reqwest::Proxy::https(format!("http://localhost:{port}")).unwrap())
        .build()
        .unwrap()
}

pub fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / n as u32;
    let pct = |p: f64| samples[((n as f64 * p) as usize).min(n - 1)];
    println!(
        "{name:<44} n={n:<5} mean={:>9.3?} p50={:>9.3?} p99={:>9.3?} min={:>9.3?}",
        mean,
        pct(0.50),
        pct(0.99),
        samples[0]
    );
}

pub async fn token(http: &reqwest::Client, base: &str) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "a2e0a2e0-0000-4000-8000-000000000003"),
        (
            "client_secret",
            "azemu-well-known-secret-not-for-production",
        ),
        ("scope", "https://management.azure.com/.default"),
    ];
    let v: serde_json::Value = http
        .post(format!(
            "{base}/a2e0a2e0-0000-4000-8000-000000000001/oauth2/v2.0/token"
        ))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// Spawn → the first 200 on `/_emulator/health`, `runs` times; `cold`: a fresh data dir each time.
pub async fn startup(cold: bool, runs: usize) -> Vec<Duration> {
    let warm_dir = tempfile::tempdir().unwrap();
    if !cold {
        let (mut c, _) = spawn(warm_dir.path());
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let mut samples = Vec::new();
    for _ in 0..runs {
        let fresh = tempfile::tempdir().unwrap();
        let dir = if cold { fresh.path() } else { warm_dir.path() };
        let t = std::time::Instant::now();
        let (mut child, port) = spawn(dir);
        let http = client(dir);
        let r = http
            .get(format!("https://localhost:{port}/_emulator/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        samples.push(t.elapsed());
        child.kill().unwrap();
        child.wait().unwrap();
    }
    samples
}
