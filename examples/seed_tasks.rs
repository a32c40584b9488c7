//! The second seed document, "Use an Azure-managed identity in ACR Tasks",
//! against an emulator in this process: a task with a system-assigned
//! identity runs the seed's build and logs in to another registry; a task
//! that runs an image from that registry fails without AcrPull and succeeds
//! with it. Each step is printed, then the run's log.
//!
//! `cargo run --example seed_tasks`

use azemu_client::flows::{FlowReport, TaskStep, TaskWithIdentity};
use std::path::Path;

fn print(title: &str, report: &FlowReport) {
    println!("== {title}");
    for step in &report.steps {
        match &step.result {
            Ok(v) => {
                let what = v["properties"]["status"]
                    .as_str()
                    .or(v["properties"]["provisioningState"].as_str())
                    .unwrap_or("ok");
                println!("  ✓ {:<24} {what}", step.name);
            }
            Err(e) => println!("  ✗ {:<24} {e}", step.name),
        }
    }
    if let Some(log) = report.value("run log").and_then(|v| v["log"].as_str()) {
        for line in log.lines() {
            println!("    | {line}");
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let em = azemu::Emulator::builder().start().await?;
    let client = em.client()?;
    let layout = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world");

    let spec = TaskWithIdentity::seed("myregistry", "targetregistry");
    let report = client
        .run_task_with_identity(&spec, em.proxied_http()?)
        .await;
    print(
        "the seed's task (system-assigned identity, Docker build)",
        &report,
    );

    let from_target = TaskStep::RunFromTarget {
        image_layout: &layout,
        repository: "baseimages/hello-world",
        tag: "v1",
    };
    let mut spec = TaskWithIdentity::seed("myregistry2", "targetregistry2");
    spec.step = from_target.clone();
    spec.grant_acr_pull = false;
    let report = client
        .run_task_with_identity(&spec, em.proxied_http()?)
        .await;
    print(
        "running an image from the other registry, without AcrPull",
        &report,
    );

    let mut spec = TaskWithIdentity::seed("myregistry3", "targetregistry3");
    spec.step = from_target;
    let report = client
        .run_task_with_identity(&spec, em.proxied_http()?)
        .await;
    print("the same with AcrPull", &report);
    em.stop().await;
    Ok(())
}
