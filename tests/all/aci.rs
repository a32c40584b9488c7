//! Azure Container Instances with the real az CLI: the seed document's
//! `az container create --acr-identity … --assign-identity …`, which pulls
//! through the emulated registry path (identity token → exchange → authorize()
//! → firewall → manifest and blobs), and the group's lifecycle commands.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator};
use serde_json::{Value, json};
use std::path::Path;

fn push(em: &Emulator, target: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["push", "--data-dir"])
        .arg(em.data_dir())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world"))
        .arg(target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A logged-in az with a group, a Premium registry holding hello-world:v1, and a user-assigned identity.
async fn setup<'a>(em: &'a Emulator, registry: &str) -> (Az<'a>, String, String) {
    let az = Az::new(em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&[
        "group",
        "create",
        "-n",
        "myResourceGroup",
        "-l",
        "eastus",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "acr",
        "create",
        "-n",
        registry,
        "-g",
        "myResourceGroup",
        "--sku",
        "Premium",
        "-o",
        "none",
    ])
    .await;
    push(em, &format!("{registry}.azurecr.io/hello-world:v1"));
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
    let userid = az
        .ok(&[
            "identity",
            "show",
            "--resource-group",
            "myResourceGroup",
            "--name",
            "myACRId",
            "--query",
            "id",
            "--output",
            "tsv",
        ])
        .await
        .trim()
        .to_string();
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
    (az, userid, spid)
}

#[tokio::test]
async fn seed_container_create_with_acr_identity() {
    let em = Emulator::start();
    let (az, userid, spid) = setup(&em, "acireg0001").await;
    let image = "acireg0001.azurecr.io/hello-world:v1";
    let create = |label: &'static str| {
        let az = &az;
        let userid = userid.clone();
        async move {
            az.run(&[
                "container",
                "create",
                "--name",
                "my-containergroup",
                "--resource-group",
                "myResourceGroup",
                "--image",
                image,
                "--acr-identity",
                &userid,
                "--assign-identity",
                &userid,
                "--ports",
                "80",
                "--dns-name-label",
                label,
                "-o",
                "json",
            ])
            .await
        }
    };
    // Without AcrPull: ACI's synchronous error.
    let out = create("aci-demo-label").await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("(InaccessibleImage) The image 'acireg0001.azurecr.io/hello-world:v1' in container group 'my-containergroup' is not accessible. Please check the image and registry credential."),
        "{}",
        out.stderr
    );
    // The seed's role assignment, then the same command succeeds.
    let regid = az
        .ok(&[
            "acr",
            "show",
            "-n",
            "acireg0001",
            "--query",
            "id",
            "-o",
            "tsv",
        ])
        .await;
    az.ok(&[
        "role",
        "assignment",
        "create",
        "--assignee",
        &spid,
        "--scope",
        regid.trim(),
        "--role",
        "acrpull",
        "-o",
        "none",
    ])
    .await;
    let out = create("aci-demo-label").await;
    assert!(out.ok, "{}", out.stderr);
    let cg: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(cg["provisioningState"], "Succeeded");
    assert_eq!(cg["instanceView"]["state"], "Running");
    assert_eq!(
        cg["ipAddress"]["fqdn"],
        "aci-demo-label.eastus.azurecontainer.io"
    );
    let c = &cg["containers"][0];
    assert_eq!(c["instanceView"]["currentState"]["state"], "Running");
    let events: Vec<&str> = c["instanceView"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["Pulling", "Pulled", "Created", "Started"]);
    // az sends no resources when --cpu/--memory are omitted: ACI defaults them.
    assert_eq!(c["resources"]["requests"]["cpu"], json!(1.0));
    assert_eq!(c["resources"]["requests"]["memoryInGb"], json!(1.5));
    assert!(
        cg["identity"]["userAssignedIdentities"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.eq_ignore_ascii_case(&userid))
    );

    // Lifecycle.
    let logs = az
        .ok(&[
            "container",
            "logs",
            "-g",
            "myResourceGroup",
            "-n",
            "my-containergroup",
        ])
        .await;
    assert!(
        logs.contains("Successfully pulled image \"acireg0001.azurecr.io/hello-world:v1@sha256:"),
        "{logs}"
    );
    az.ok(&[
        "container",
        "stop",
        "-g",
        "myResourceGroup",
        "-n",
        "my-containergroup",
    ])
    .await;
    assert_eq!(
        az.ok(&[
            "container",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "my-containergroup",
            "--query",
            "instanceView.state",
            "-o",
            "tsv"
        ])
        .await
        .trim(),
        "Stopped"
    );
    az.ok(&[
        "container",
        "start",
        "-g",
        "myResourceGroup",
        "-n",
        "my-containergroup",
    ])
    .await;
    az.ok(&[
        "container",
        "restart",
        "-g",
        "myResourceGroup",
        "-n",
        "my-containergroup",
    ])
    .await;
    let c = az
        .json(&[
            "container",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "my-containergroup",
        ])
        .await;
    assert_eq!(c["instanceView"]["state"], "Running");
    assert_eq!(c["containers"][0]["instanceView"]["restartCount"], 1);
    // The DNS label is taken in this region now.
    let out = az
        .run(&[
            "container",
            "create",
            "--name",
            "other-group",
            "--resource-group",
            "myResourceGroup",
            "--image",
            image,
            "--acr-identity",
            &userid,
            "--assign-identity",
            &userid,
            "--dns-name-label",
            "aci-demo-label",
        ])
        .await;
    assert!(out.stderr.contains("(DnsNameLabelAlreadyTaken) The DNS name label 'aci-demo-label' in container group 'other-group' is not available. Try using a different label."), "{}", out.stderr);
    az.ok(&[
        "container",
        "delete",
        "-g",
        "myResourceGroup",
        "-n",
        "my-containergroup",
        "--yes",
        "-o",
        "none",
    ])
    .await;
    assert_eq!(
        az.json(&["container", "list", "-g", "myResourceGroup"])
            .await,
        json!([])
    );
    az.ok(&["group", "delete", "-n", "myResourceGroup", "--yes"])
        .await;
}

#[tokio::test]
async fn pull_failures_as_aci_reports_them() {
    let em = Emulator::start();
    let (az, userid, spid) = setup(&em, "acireg0002").await;
    let regid = az
        .ok(&[
            "acr",
            "show",
            "-n",
            "acireg0002",
            "--query",
            "id",
            "-o",
            "tsv",
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
        &regid,
        "--role",
        "acrpull",
        "-o",
        "none",
    ])
    .await;
    let run = |name: &'static str, image: &'static str, extra: Vec<String>| {
        let az = &az;
        let userid = userid.clone();
        async move {
            let mut args: Vec<String> = [
                "container",
                "create",
                "--name",
                name,
                "--resource-group",
                "myResourceGroup",
                "--image",
                image,
                "--acr-identity",
                &userid,
                "--assign-identity",
                &userid,
                "-o",
                "json",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            az.run(&refs).await
        }
    };
    let inaccessible = |image: &str, group: &str| {
        format!(
            "(InaccessibleImage) The image '{image}' in container group '{group}' is not accessible. Please check the image and registry credential."
        )
    };
    // Tag missing; image missing.
    let out = run(
        "tag-missing",
        "acireg0002.azurecr.io/hello-world:v9",
        vec![],
    )
    .await;
    assert!(
        out.stderr.contains(&inaccessible(
            "acireg0002.azurecr.io/hello-world:v9",
            "tag-missing"
        )),
        "{}",
        out.stderr
    );
    let out = run(
        "image-missing",
        "acireg0002.azurecr.io/nothing-here:v1",
        vec![],
    )
    .await;
    assert!(
        out.stderr.contains(&inaccessible(
            "acireg0002.azurecr.io/nothing-here:v1",
            "image-missing"
        )),
        "{}",
        out.stderr
    );
    // Bad DNS label.
    let out = run(
        "bad-label",
        "acireg0002.azurecr.io/hello-world:v1",
        vec!["--dns-name-label".into(), "9-Bad".into()],
    )
    .await;
    assert!(out.stderr.contains("(InvalidDnsNameLabel) The DNS name label '9-Bad' in container group 'bad-label' is invalid."), "{}", out.stderr);
    // Registry firewall: the group fails with the registry's own text in its events.
    az.ok(&[
        "acr",
        "update",
        "-n",
        "acireg0002",
        "--public-network-enabled",
        "false",
        "-o",
        "none",
    ])
    .await;
    let out = run(
        "behind-firewall",
        "acireg0002.azurecr.io/hello-world:v1",
        vec![],
    )
    .await;
    assert!(!out.ok);
    assert!(out.stderr.contains("denied: client with IP '20.42.65.91' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."), "{}", out.stderr);
    let cg = az
        .json(&[
            "container",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "behind-firewall",
        ])
        .await;
    assert_eq!(cg["provisioningState"], "Failed");
    let names: Vec<&str> = cg["containers"][0]["instanceView"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Pulling", "Failed", "BackOff"]);
}

/// The seed's multi-container YAML (its registry, identity and subscription
/// filled in, the subnet left out). Azure refuses the seed's container names
/// as written (`myContainer-1`: ACI container names must match
/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, see MicrosoftDocs/azure-docs#15546), and so does azemu.
fn seed_yaml(registry: &str, userid: &str, names: [&str; 2]) -> String {
    format!(
        "apiVersion: '2021-10-01'
location: eastus
type: Microsoft.ContainerInstance/containerGroups
identity: 
  type: UserAssigned
  userAssignedIdentities: {{
    '{userid}': {{}}
    }}
properties:
  osType: Linux
  imageRegistryCredentials:
  - server: {registry}.azurecr.io
    identity: '{userid}'
  containers:
  - name: {}
    properties:
      resources:
        requests:
          cpu: '.4'
          memoryInGb: '1'
      environmentVariables:
        - name: CONTAINER
          value: 1
      image: '{registry}.azurecr.io/hello-world:v1'
  - name: {}
    properties:
      resources:
        requests:
          cpu: '.4'
          memoryInGb: '1'
      environmentVariables:
        - name: CONTAINER
          value: 2
      image: '{registry}.azurecr.io/hello-world:v1'
",
        names[0], names[1]
    )
}

#[tokio::test]
async fn container_create_from_the_seed_yaml() {
    let em = Emulator::start();
    let (az, userid, spid) = setup(&em, "acireg0003").await;
    let regid = az
        .ok(&[
            "acr",
            "show",
            "-n",
            "acireg0003",
            "--query",
            "id",
            "-o",
            "tsv",
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
        &regid,
        "--role",
        "acrpull",
        "-o",
        "none",
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my.yaml");

    std::fs::write(
        &file,
        seed_yaml("acireg0003", &userid, ["myContainer-1", "myContainer-2"]),
    )
    .unwrap();
    let out = az
        .run(&[
            "container",
            "create",
            "--resource-group",
            "myResourceGroup",
            "--name",
            "yaml-group",
            "--file",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("(InvalidContainerName) The container name 'myContainer-1' in container group 'yaml-group' is invalid. The container name must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?' (e.g. 'my-name')."),
        "{}",
        out.stderr
    );

    std::fs::write(
        &file,
        seed_yaml("acireg0003", &userid, ["mycontainer-1", "mycontainer-2"]),
    )
    .unwrap();
    let out = az
        .run(&[
            "container",
            "create",
            "--resource-group",
            "myResourceGroup",
            "--name",
            "yaml-group",
            "--file",
            file.to_str().unwrap(),
            "-o",
            "json",
        ])
        .await;
    assert!(out.ok, "{}", out.stderr);
    // With --file, az prints the ARM resource as returned (properties nested).
    let created: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(created["properties"].is_object() || created["provisioningState"].is_string(), "{created}");
    let cg = az.json(&["container", "show", "-g", "myResourceGroup", "-n", "yaml-group"]).await;
    assert_eq!(cg["provisioningState"], "Succeeded", "{cg}");
    assert_eq!(cg["containers"].as_array().unwrap().len(), 2);
    for c in cg["containers"].as_array().unwrap() {
        assert_eq!(c["instanceView"]["currentState"]["state"], "Running", "{c}");
        assert_eq!(c["resources"]["requests"]["cpu"], json!(0.4));
    }
}
