//! Registry throughput: push and pull of one 256 MiB blob, and authenticated
//! manifest GETs per second, through the transparent proxy with ACR tokens.
//!
//! `cargo bench --bench registry`. Prints figures; asserts nothing about speed.

use azemu_client::oci::{RegistryAuth, RegistryClient, sha256_digest};
mod common;

use common::{SUB, spawn};
use std::time::Instant;

#[tokio::main]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let size: usize = if quick { 1 << 20 } else { 256 << 20 };
    let gets = if quick { 20 } else { 2000 };

    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = spawn(dir.path());
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let entra = azemu_client::Client::builder(&format!("https://localhost:{port}"))
        .ca_pem(&ca)
        .unwrap()
        .well_known_credentials()
        .build()
        .unwrap();
    let arm = entra
        .token(azemu_client::ARM_SCOPE)
        .await
        .unwrap()
        .access_token;
    let direct = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .no_proxy()
        .build()
        .unwrap();
    let rg = format!("https://localhost:{port}/subscriptions/{SUB}/resourceGroups/bench");
    let put =
        |url: String, body: serde_json::Value| direct.put(url).bearer_auth(&arm).json(&body).send();
    assert!(
        put(
            format!("{rg}?api-version=2024-07-01"),
            serde_json::json!({"location": "eastus"})
        )
        .await
        .unwrap()
        .status()
        .is_success()
    );
    let reg = format!(
        "{rg}/providers/Microsoft.ContainerRegistry/registries/benchreg01?api-version=2023-07-01"
    );
    assert!(
        put(
            reg,
            serde_json::json!({"location": "eastus", "sku": {"name": "Premium"}})
        )
        .await
        .unwrap()
        .status()
        .is_success()
    );

    let proxied = common::proxied(dir.path(), port);
    let client = RegistryClient::new(
        proxied.clone(),
        "benchreg01.azurecr.io",
        RegistryAuth::Entra {
            access_token: arm.clone(),
            tenant: "a2e0a2e0-0000-4000-8000-000000000001".into(),
        },
    );
    let token = client
        .access_token("repository:bench:pull,push")
        .await
        .unwrap();

    let blob: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let digest = sha256_digest(&blob);
    let t = Instant::now();
    client.push_blob(&token, "bench", blob).await.unwrap();
    let push = t.elapsed();
    let t = Instant::now();
    let back = client.get_blob(&token, "bench", &digest).await.unwrap();
    let pull = t.elapsed();
    assert_eq!(back.len(), size);
    let mib = size as f64 / (1 << 20) as f64;
    println!(
        "push {mib:.0} MiB blob: {push:.2?} ({:.0} MiB/s)",
        mib / push.as_secs_f64()
    );
    println!(
        "pull {mib:.0} MiB blob: {pull:.2?} ({:.0} MiB/s, digest verified)",
        mib / pull.as_secs_f64()
    );

    // A manifest to GET.
    let config = b"{}".to_vec();
    let cd = client
        .push_blob(&token, "bench", config.clone())
        .await
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}],
    });
    client
        .put_manifest(
            &token,
            "bench",
            "v1",
            "application/vnd.oci.image.manifest.v1+json",
            serde_json::to_vec(&manifest).unwrap(),
        )
        .await
        .unwrap();
    let t = Instant::now();
    for _ in 0..gets {
        client.get_manifest(&token, "bench", "v1").await.unwrap();
    }
    let e = t.elapsed();
    println!(
        "authenticated manifest GET, 1 conn: {gets} in {e:.2?} ({:.0}/s, {:.0?} each)",
        gets as f64 / e.as_secs_f64(),
        e / gets as u32
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
