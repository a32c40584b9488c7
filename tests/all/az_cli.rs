//! The real az CLI, in both ways in:
//! - explicit: `az cloud register --endpoint-resource-manager https://localhost:PORT/`;
//! - transparent: az's default AzureCloud through `HTTPS_PROXY` (the emulator's
//!   CONNECT proxy), with nothing but the CA bundle and the proxy variable set.

use crate::harness::{
    CLIENT_ID, CLIENT_SECRET, Emulator, Output, SUBSCRIPTION, TENANT, python_env, run, venv,
};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Explicit,
    Transparent,
}

struct Az<'a> {
    em: &'a Emulator,
    config: tempfile::TempDir,
    mode: Mode,
}

impl<'a> Az<'a> {
    async fn new(em: &'a Emulator, mode: Mode) -> Az<'a> {
        let az = Az {
            em,
            config: tempfile::tempdir().unwrap(),
            mode,
        };
        if mode == Mode::Explicit {
            // MSAL validates authorities it does not know against login.microsoftonline.com
            // unless instance discovery is off (../shared/notes/real-clients.md §6).
            az.ok(&["config", "set", "core.instance_discovery=false"])
                .await;
            let arm = format!("https://localhost:{}/", em.port);
            az.ok(&[
                "cloud",
                "register",
                "-n",
                "azemu",
                "--endpoint-resource-manager",
                &arm,
            ])
            .await;
            az.ok(&["cloud", "set", "-n", "azemu"]).await;
        }
        az
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(venv().join("bin/az"));
        python_env(&mut cmd, self.em);
        cmd.env("AZURE_CONFIG_DIR", self.config.path()).args(args);
        if self.mode == Mode::Transparent {
            cmd.env("HTTPS_PROXY", format!("http://localhost:{}", self.em.port));
        }
        run(&mut cmd).await
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.ok,
            "az {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.ok(&all).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("az {args:?}: {e}: {out}"))
    }

    async fn login(&self, secret: &str) -> Output {
        self.run(&[
            "login",
            "--service-principal",
            "-u",
            CLIENT_ID,
            "-p",
            secret,
            "--tenant",
            TENANT,
            "-o",
            "json",
        ])
        .await
    }
}

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
