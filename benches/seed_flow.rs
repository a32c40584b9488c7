//! The first seed document's whole flow through the Rust client — resource
//! group, Premium registry, image pushed through ACR's token exchange, user-
//! assigned identity, AcrPull, container group Running — with the emulator in
//! this process (`azemu::Emulator`, in memory) and as a separate binary over
//! HTTP (durable data dir).
//!
//! `cargo bench --bench seed_flow`. Prints figures; asserts nothing about speed.

mod common;

use azemu_client::flows::AciWithIdentity;
use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: usize = 20;

fn proxied(port: u16, ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .proxy(reqwest::Proxy::https(format!("http://localhost:{port}")).unwrap())
        .build()
        .unwrap()
}

async fn flows(
    client: &azemu_client::Client,
    registry_http: reqwest::Client,
    tag: &str,
) -> Vec<Duration> {
    let layout = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world");
    let mut samples = Vec::new();
    for i in 0..RUNS {
        let (rg, registry) = (format!("seed-{tag}-{i}"), format!("seed{tag}{i:03}"));
        let mut spec = AciWithIdentity::seed(&registry, &layout);
        spec.resource_group = &rg;
        let t = Instant::now();
        let report = client
            .deploy_container_group_with_managed_identity(&spec, registry_http.clone())
            .await;
        samples.push(t.elapsed());
        let group = report
            .value("container create")
            .expect("the flow ends Running");
        assert_eq!(group["properties"]["instanceView"]["state"], "Running");
    }
    samples
}

#[tokio::main]
async fn main() {
    let em = azemu::Emulator::builder().start().await.unwrap();
    let client = azemu_client::Client::builder(&em.url())
        .ca_pem(em.ca_pem())
        .unwrap()
        .well_known_credentials()
        .poll_interval(Duration::ZERO)
        .build()
        .unwrap();
    let samples = flows(&client, proxied(em.port(), em.ca_pem()), "p").await;
    common::stats("seed flow, emulator in this process (memory)", samples);
    em.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = common::spawn(dir.path());
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let client = azemu_client::Client::builder(&format!("https://localhost:{port}"))
        .ca_pem(&ca)
        .unwrap()
        .well_known_credentials()
        .poll_interval(Duration::ZERO)
        .build()
        .unwrap();
    let samples = flows(&client, proxied(port, &ca), "h").await;
    common::stats("seed flow, azemu binary over HTTP (redb)", samples);
    child.kill().unwrap();
    child.wait().unwrap();
}
