//! The first seed document, "Deploy to Azure Container Instances from Azure
//! Container Registry using a managed identity", against an emulator in this
//! process: first without the AcrPull role (ACI refuses the image), then with
//! it (the group runs). Each step is printed with what Azure answered.
//!
//! `cargo run --example seed_aci`

use azemu_client::flows::{AciWithIdentity, FlowReport};
use std::path::Path;

fn print(title: &str, report: &FlowReport) {
    println!("== {title}");
    for step in &report.steps {
        match &step.result {
            Ok(v) => {
                let what = v["properties"]["provisioningState"]
                    .as_str()
                    .or(v["digest"].as_str())
                    .unwrap_or("ok");
                println!("  ✓ {:<24} {what}", step.name);
            }
            Err(e) => println!("  ✗ {:<24} {e}", step.name),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let em = azemu::Emulator::builder().start().await?;
    let client = em.client()?;
    let layout = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world");

    let mut spec = AciWithIdentity::seed("myregistry", &layout);
    spec.grant_acr_pull = false;
    let report = client
        .deploy_container_group_with_managed_identity(&spec, em.proxied_http()?)
        .await;
    print(
        "without `az role assignment create --role acrpull`",
        &report,
    );

    let spec = AciWithIdentity::seed("myregistry", &layout);
    let report = client
        .deploy_container_group_with_managed_identity(&spec, em.proxied_http()?)
        .await;
    print("with it", &report);
    if let Some(group) = report.value("container create") {
        println!(
            "  container group {}: {}",
            group["name"], group["properties"]["instanceView"]["state"]
        );
    }
    em.stop().await;
    Ok(())
}
