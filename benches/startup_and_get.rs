//! Start-up to first 200, and ARM GET latency.
//!
//! `cargo bench --bench startup_and_get` (release build of the real binary).
//! Prints one line per figure; nothing is asserted.
//!
//! - start-up, cold: a fresh data dir (CA and RSA signing key are generated);
//! - start-up, warm: the same data dir again (keys loaded);
//!   both from process spawn to the first 200 on `/_emulator/health`;
//! - ARM GET of a resource group over one keep-alive HTTPS connection
//!   (bearer validated, RS256 verify, store read), beside the unauthenticated
//!   health endpoint on the same connection to show what ARM's work costs;
//! - the same ARM GET from 16 concurrent connections (throughput).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SUB: &str = "a2e0a2e0-0000-4000-8000-000000000002";

fn spawn(dir: &std::path::Path) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
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

fn client(dir: &std::path::Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .no_proxy()
        .build()
        .unwrap()
}

fn stats(name: &str, mut samples: Vec<Duration>) {
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

async fn startup(cold: bool, runs: usize) -> Vec<Duration> {
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
        let t = Instant::now();
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

async fn token(http: &reqwest::Client, base: &str) -> String {
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

async fn timed_gets(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    n: usize,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut req = http.get(url);
        if let Some(tok) = token {
            req = req.bearer_auth(tok);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        samples.push(t.elapsed());
    }
    samples
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that fast.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (runs, gets) = if quick { (1, 20) } else { (10, 3000) };

    stats(
        "start-up to first 200, cold data dir",
        startup(true, runs).await,
    );
    stats(
        "start-up to first 200, warm data dir",
        startup(false, runs).await,
    );

    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = spawn(dir.path());
    let base = format!("https://localhost:{port}");
    let http = client(dir.path());
    let tok = token(&http, &base).await;
    let rg = format!("{base}/subscriptions/{SUB}/resourcegroups/bench?api-version=2024-07-01");
    let r = http
        .put(&rg)
        .bearer_auth(&tok)
        .json(&serde_json::json!({"location": "westeurope"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // Warm the connection, then measure.
    timed_gets(&http, &rg, Some(&tok), 50).await;
    stats(
        "GET /_emulator/health (no auth), 1 conn",
        timed_gets(&http, &format!("{base}/_emulator/health"), None, gets).await,
    );
    stats(
        "ARM GET resource group, 1 conn",
        timed_gets(&http, &rg, Some(&tok), gets).await,
    );

    let conc = 16;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let http = client(dir.path());
        let (rg, tok) = (rg.clone(), tok.clone());
        tasks.push(tokio::spawn(async move {
            timed_gets(&http, &rg, Some(&tok), gets / 4).await
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = t.elapsed();
    let total = all.len();
    stats(&format!("ARM GET resource group, {conc} conns"), all);
    println!(
        "{:<44} {:.0} requests/s",
        format!("ARM GET throughput, {conc} conns"),
        total as f64 / elapsed.as_secs_f64()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
