//! The real az CLI, in both ways in:
//! - explicit: `az cloud register --endpoint-resource-manager https://localhost:PORT/`;
//! - transparent: az's default AzureCloud through `HTTPS_PROXY` (the emulator's
//!   CONNECT proxy), with nothing but the CA bundle and the proxy variable set.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION, TENANT};
use serde_json::Value;

async fn the_resource_group_flow(mode: Mode) {
    let em = Emulator::start();

    // A wrong secret first, in a fresh config dir (MSAL would otherwise answer from its token cache).
    let bad = Az::new(&em, mode).await;
    let out = bad.login("not-the-secret").await;
    assert!(!out.ok, "login with a wrong secret must fail");
    assert!(out.stderr.contains("AADSTS7000215"), "{}", out.stderr);

    let az = Az::new(&em, mode).await;
    let out = az.login(CLIENT_SECRET).await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let accounts: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(accounts[0]["id"], SUBSCRIPTION);
    assert_eq!(accounts[0]["name"], "azemu");

    let account = az.json(&["account", "show"]).await;
    assert_eq!(account["tenantId"], TENANT);
    assert_eq!(account["user"]["type"], "servicePrincipal");
    assert_eq!(
        account["environmentName"],
        if mode == Mode::Explicit {
            "azemu"
        } else {
            "AzureCloud"
        }
    );

    let rg = az
        .json(&[
            "group",
            "create",
            "-n",
            "az-rg",
            "-l",
            "westeurope",
            "--tags",
            "team=emu",
        ])
        .await;
    assert_eq!(rg["properties"]["provisioningState"], "Succeeded");
    assert_eq!(rg["tags"]["team"], "emu");
    let shown = az.json(&["group", "show", "-n", "AZ-RG"]).await;
    assert_eq!(
        shown["id"],
        format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/az-rg")
    );
    let list = az.json(&["group", "list"]).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "az-rg"),
        "{list}"
    );

    // Delete goes through the LRO: az polls the Location URL until it answers 200.
    az.ok(&["group", "delete", "-n", "az-rg", "--yes"]).await;
    assert_eq!(
        az.ok(&["group", "exists", "-n", "az-rg"]).await.trim(),
        "false"
    );
    let out = az.run(&["group", "show", "-n", "az-rg"]).await;
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("(ResourceGroupNotFound) Resource group 'az-rg' could not be found."),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn az_cli_explicit_endpoints() {
    the_resource_group_flow(Mode::Explicit).await;
}

#[tokio::test]
async fn az_cli_transparent_proxy() {
    the_resource_group_flow(Mode::Transparent).await;
}
