//! Template deployments against the alternative, direct PUTs.
//!
//! `cargo bench --bench deployments`. Prints figures; asserts nothing about speed.
//!
//! - N user-assigned identities as one template (a copy loop, all started in
//!   one round), from the PUT to the GET that reads Succeeded;
//! - the same N as a serial copy loop (batchSize 1: one after another);
//! - the same N as N direct ARM PUTs over one connection (what a script
//!   does), before and after the deployments (stored deployments must not
//!   tax later requests), and with `--in-memory` state (what durable
//!   commits cost).

mod common;

use common::{SUB, client, spawn, token};
use serde_json::json;
use std::time::{Duration, Instant};

fn template(n: usize, serial: bool) -> serde_json::Value {
    let mut copy = json!({"name": "ids", "count": n});
    if serial {
        copy["mode"] = json!("serial");
        copy["batchSize"] = json!(1);
    }
    json!({"properties": {"mode": "Incremental", "template": {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "apiVersion": "2023-01-31",
            "name": "[format('id-{0}', copyIndex())]",
            "location": "[resourceGroup().location]",
            "copy": copy
        }]
    }}})
}

async fn deploy(
    http: &reqwest::Client,
    rg: &str,
    tok: &str,
    name: &str,
    body: serde_json::Value,
) -> Duration {
    let url =
        format!("{rg}/providers/Microsoft.Resources/deployments/{name}?api-version=2024-07-01");
    let t = Instant::now();
    let r = http
        .put(&url)
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    loop {
        let v: serde_json::Value = http
            .get(&url)
            .bearer_auth(tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match v["properties"]["provisioningState"].as_str() {
            Some("Succeeded") => return t.elapsed(),
            Some("Accepted" | "Running") => continue,
            other => panic!("{other:?}: {v}"),
        }
    }
}

async fn direct(http: &reqwest::Client, rg: &str, tok: &str, n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        let url = format!(
            "{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-{i}?api-version=2023-01-31"
        );
        let r = http
            .put(&url)
            .bearer_auth(tok)
            .json(&json!({"location": "westeurope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    t.elapsed()
}

#[tokio::main]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 20 } else { 500 };
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = spawn(dir.path());
    let base = format!("https://localhost:{port}");
    let http = client(dir.path());
    let tok = token(&http, &base).await;
    for g in ["parallel", "serial", "direct", "direct2"] {
        let r = http
            .put(format!(
                "{base}/subscriptions/{SUB}/resourcegroups/{g}?api-version=2024-07-01"
            ))
            .bearer_auth(&tok)
            .json(&json!({"location": "westeurope"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let rg = |g: &str| format!("{base}/subscriptions/{SUB}/resourceGroups/{g}");
    let line = |what: &str, d: Duration| {
        println!(
            "{what:<52} {:>9.3?} total  {:>8.1} resources/s",
            d,
            n as f64 / d.as_secs_f64()
        )
    };
    line(
        &format!("{n} direct PUTs, 1 connection"),
        direct(&http, &rg("direct"), &tok, n).await,
    );
    line(
        &format!("template, copy loop of {n} identities (parallel)"),
        deploy(&http, &rg("parallel"), &tok, "p", template(n, false)).await,
    );
    line(
        &format!("template, copy loop of {n} identities (serial)"),
        deploy(&http, &rg("serial"), &tok, "s", template(n, true)).await,
    );
    // The same direct PUTs with state in memory (`--in-memory`): what durability costs.
    {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, port) = common::spawn_with(dir.path(), &["--in-memory"]);
        let base = format!("https://localhost:{port}");
        let http = client(dir.path());
        let tok = token(&http, &base).await;
        let g = format!("{base}/subscriptions/{SUB}/resourcegroups/mem");
        let r = http
            .put(format!("{g}?api-version=2024-07-01"))
            .bearer_auth(&tok)
            .json(&json!({"location": "westeurope"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        line(
            &format!("{n} direct PUTs, --in-memory"),
            direct(
                &http,
                &format!("{base}/subscriptions/{SUB}/resourceGroups/mem"),
                &tok,
                n,
            )
            .await,
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // Stored deployments must not slow later requests down.
    line(
        &format!("{n} direct PUTs, after the deployments"),
        direct(&http, &rg("direct2"), &tok, n).await,
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
