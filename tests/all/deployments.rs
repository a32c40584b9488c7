//! ARM template deployments with the real az CLI: the first seed's
//! azuredeploy.json, a template that builds the whole pull path (registry,
//! identity, AcrPull assignment named with guid(), container group), what-if,
//! validate, and the refusals ARM gives at validation.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn template(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/templates")
        .join(name)
        .join("azuredeploy.json")
}

/// A copy of a template file with the document's placeholders filled in, as a reader would.
fn filled(dir: &tempfile::TempDir, name: &str, pairs: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(template(name)).unwrap();
    for (from, to) in pairs {
        text = text.replace(from, to);
    }
    let path = dir.path().join("azuredeploy.json");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

async fn logged_in<'a>(em: &'a Emulator, location: &str) -> Az<'a> {
    let az = Az::new(em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&[
        "group",
        "create",
        "-n",
        "myResourceGroup",
        "-l",
        location,
        "-o",
        "none",
    ])
    .await;
    az
}

/// The seed's steps before the template: registry with the image, identity, AcrPull.
async fn seed_prerequisites(az: &Az<'_>, em: &Emulator, registry: &str, tag: &str) -> String {
    az.ok(&[
        "acr",
        "create",
        "-n",
        registry,
        "-g",
        "myResourceGroup",
        "--sku",
        "Basic",
        "-o",
        "none",
    ])
    .await;
    em.push_sample(&format!("{registry}.azurecr.io/hello-world:{tag}"))
        .unwrap();
    az.ok(&[
        "identity",
        "create",
        "--resource-group",
        "myResourceGroup",
        "--name",
        "myACRId",
        "-o",
        "none",
    ])
    .await;
    let spid = az
        .ok(&[
            "identity",
            "show",
            "--resource-group",
            "myResourceGroup",
            "--name",
            "myACRId",
            "--query",
            "principalId",
            "--output",
            "tsv",
        ])
        .await
        .trim()
        .to_string();
    let registry_id = az
        .ok(&[
            "acr", "show", "--name", registry, "--query", "id", "--output", "tsv",
        ])
        .await
        .trim()
        .to_string();
    az.ok(&[
        "role",
        "assignment",
        "create",
        "--assignee",
        &spid,
        "--scope",
        &registry_id,
        "--role",
        "acrpull",
        "-o",
        "none",
    ])
    .await;
    spid
}

/// Acceptance: the seed's azuredeploy.json with `az deployment group create`;
/// the group pulls through its user-assigned identity and runs, and
/// `az deployment operation group list` shows the operation.
///
/// Taken literally the seed names its group `myContainerGroup`, which Azure
/// refuses: container group names are lower-case letters, digits and hyphens
/// (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules,
/// Microsoft.ContainerInstance), so ARM fails the deployment with
/// InvalidContainerGroupName. The test checks that refusal, then deploys the
/// same template with the name in lower case.
#[tokio::test]
async fn seed_template_deploys_and_runs() {
    let em = Emulator::start();
    let az = logged_in(&em, "norwayeast").await;
    seed_prerequisites(&az, &em, "myacr", "latest").await;
    let dir = tempfile::tempdir().unwrap();
    let sub = ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxxx", SUBSCRIPTION);
    let literal = filled(&dir, "seed-aci-user-identity", &[sub]);
    let refused = az
        .run(&[
            "deployment",
            "group",
            "create",
            "--resource-group",
            "myResourceGroup",
            "--template-file",
            &literal,
            "-n",
            "literal",
        ])
        .await;
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("DeploymentFailed")
            && refused
                .stderr
                .contains("The container group name 'myContainerGroup' is invalid."),
        "{}",
        refused.stderr
    );
    let file = filled(
        &dir,
        "seed-aci-user-identity",
        &[sub, ("\"myContainerGroup\"", "\"mycontainergroup\"")],
    );
    let out: Value = az
        .json(&[
            "deployment",
            "group",
            "create",
            "--resource-group",
            "myResourceGroup",
            "--template-file",
            &file,
        ])
        .await;
    assert_eq!(out["properties"]["provisioningState"], "Succeeded", "{out}");
    assert_eq!(
        out["name"], "azuredeploy",
        "az names the deployment after the file"
    );

    let group = az
        .json(&[
            "container",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "mycontainergroup",
        ])
        .await;
    assert_eq!(group["provisioningState"], "Succeeded", "{group}");
    assert_eq!(group["instanceView"]["state"], "Running", "{group}");
    let events = group["containers"][0]["instanceView"]["events"].to_string();
    assert!(events.contains("Successfully pulled image"), "{events}");

    let ops = az
        .json(&[
            "deployment",
            "operation",
            "group",
            "list",
            "--resource-group",
            "myResourceGroup",
            "--name",
            "azuredeploy",
        ])
        .await;
    let ops = ops.as_array().unwrap();
    let create = ops
        .iter()
        .find(|o| {
            o["properties"]["targetResource"]["resourceType"]
                == "Microsoft.ContainerInstance/containerGroups"
        })
        .unwrap_or_else(|| panic!("{ops:?}"));
    assert_eq!(create["properties"]["provisioningOperation"], "Create");
    assert_eq!(create["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        create["properties"]["targetResource"]["resourceName"],
        "mycontainergroup"
    );
}

/// Without AcrPull the same template fails the way ARM reports it: the
/// deployment is Failed with DeploymentFailed, and the operation carries the pull error.
#[tokio::test]
async fn seed_template_without_acrpull_fails_with_the_pull_error() {
    let em = Emulator::start();
    let az = logged_in(&em, "norwayeast").await;
    az.ok(&[
        "acr",
        "create",
        "-n",
        "myacr",
        "-g",
        "myResourceGroup",
        "--sku",
        "Basic",
        "-o",
        "none",
    ])
    .await;
    em.push_sample("myacr.azurecr.io/hello-world:latest")
        .unwrap();
    az.ok(&[
        "identity",
        "create",
        "-g",
        "myResourceGroup",
        "-n",
        "myACRId",
        "-o",
        "none",
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = filled(
        &dir,
        "seed-aci-user-identity",
        &[
            ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxxx", SUBSCRIPTION),
            ("\"myContainerGroup\"", "\"mycontainergroup\""),
        ],
    );
    let out = az
        .run(&[
            "deployment",
            "group",
            "create",
            "-g",
            "myResourceGroup",
            "--template-file",
            &file,
            "-n",
            "nopull",
        ])
        .await;
    assert!(!out.ok, "{}", out.stdout);
    assert!(out.stderr.contains("DeploymentFailed"), "{}", out.stderr);
    let ops = az
        .json(&[
            "deployment",
            "operation",
            "group",
            "list",
            "-g",
            "myResourceGroup",
            "-n",
            "nopull",
        ])
        .await;
    let failed = &ops.as_array().unwrap()[0]["properties"];
    assert_eq!(failed["provisioningState"], "Failed", "{failed}");
    // ACI refuses the PUT itself (as `az container create` sees it): 400 InaccessibleImage.
    assert_eq!(failed["statusCode"], "BadRequest", "{failed}");
    assert_eq!(
        failed["statusMessage"]["error"]["code"], "InaccessibleImage",
        "{failed}"
    );
    let dep = az
        .json(&[
            "deployment",
            "group",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "nopull",
        ])
        .await;
    assert_eq!(dep["properties"]["provisioningState"], "Failed");
    assert_eq!(dep["properties"]["error"]["code"], "DeploymentFailed");
    assert_eq!(
        dep["properties"]["error"]["details"][0]["code"],
        "InaccessibleImage"
    );
}
