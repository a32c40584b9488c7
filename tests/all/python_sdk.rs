//! The Azure SDK for Python (azure-identity + azure-mgmt-resource), both ways in.

use crate::harness::{Emulator, fixtures, python_env, run, venv};

async fn sdk(mode: &str) {
    let em = Emulator::start();
    let mut cmd = tokio::process::Command::new(venv().join("bin/python"));
    python_env(&mut cmd, &em);
    cmd.arg(fixtures().join("python/sdk_resource_groups.py"))
        .env("AZEMU_MODE", mode)
        .env("AZEMU_PORT", em.port.to_string());
    if mode == "transparent" {
        cmd.env("HTTPS_PROXY", format!("http://localhost:{}", em.port));
    }
    let out = run(&mut cmd).await;
    assert!(out.ok, "SDK script failed:\n{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("created sdk-rg Succeeded"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("deleted sdk-rg"), "{}", out.stdout);
    // And it really is gone, as seen by another client.
    assert!(
        em.client()
            .get_resource_group("sdk-rg")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn python_sdk_explicit_endpoints() {
    sdk("explicit").await;
}

#[tokio::test]
async fn python_sdk_transparent_proxy() {
    sdk("transparent").await;
}
