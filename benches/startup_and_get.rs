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

mod common;

use common::{SUB, client, spawn, startup, stats, token};
use std::time::{Duration, Instant};

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
