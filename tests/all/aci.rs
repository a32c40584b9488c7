//! Azure Container Instances with the real az CLI: the seed document's
//! `az container create --acr-identity … --assign-identity …`, which pulls
//! through the emulated registry path (identity token → exchange → authorize()
//! → firewall → manifest and blobs), and the group's lifecycle commands.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator};
use serde_json::{Value, json};

fn push(em: &Emulator, target: &str) {
    em.push_sample(target).unwrap();
}

/// A logged-in az with a group, a Premium registry holding hello-world:v1, and a user-assigned identity.
pub(crate) async fn setup<'a>(em: &'a Emulator, registry: &str) -> (Az<'a>, String, String) {
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

/// Run the `fix: az …` line of an explained trace, as printed.
pub(crate) async fn run_fix(az: &Az<'_>, explained: &str) {
    let fix = explained
        .lines()
        .find_map(|l| l.trim().strip_prefix("fix: az "))
        .unwrap_or_else(|| panic!("no fix in:\n{explained}"));
    let args: Vec<&str> = fix.split_whitespace().collect();
    az.ok(&[args.as_slice(), &["-o", "none"]].concat()).await;
}

/// `az role assignment create --role acrpull` for principal `spid` on
/// `registry`; returns the registry's id.
pub(crate) async fn grant_acrpull(az: &Az<'_>, registry: &str, spid: &str) -> String {
    let regid = az
        .ok(&["acr", "show", "-n", registry, "--query", "id", "-o", "tsv"])
        .await
        .trim()
        .to_string();
    az.ok(&[
        "role",
        "assignment",
        "create",
        "--assignee",
        spid,
        "--scope",
        &regid,
        "--role",
        "acrpull",
        "-o",
        "none",
    ])
    .await;
    regid
}

/// The seed's `az container create --acr-identity <id> --assign-identity <id>` for
/// group `name` in myResourceGroup, with `extra` arguments after.
pub(crate) async fn create_with_identity(
    az: &Az<'_>,
    name: &str,
    image: &str,
    userid: &str,
    extra: &[&str],
) -> crate::harness::Output {
    let mut args = vec![
        "container",
        "create",
        "--name",
        name,
        "--resource-group",
        "myResourceGroup",
        "--image",
        image,
        "--acr-identity",
        userid,
        "--assign-identity",
        userid,
    ];
    args.extend_from_slice(extra);
    az.run(&args).await
}

#[tokio::test]
async fn seed_container_create_with_acr_identity() {
    let em = Emulator::start();
    let (az, userid, spid) = setup(&em, "acireg0001").await;
    let image = "acireg0001.azurecr.io/hello-world:v1";
    let create = |label: &'static str| {
        let (az, userid) = (&az, userid.clone());
        async move {
            let extra = ["--ports", "80", "--dns-name-label", label, "-o", "json"];
            create_with_identity(az, "my-containergroup", image, &userid, &extra).await
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
    // Nothing runs, and the event a user reads says so.
    assert_eq!(
        c["instanceView"]["events"][3]["message"],
        "Started container (simulated by azemu: nothing was executed)"
    );
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
    let out = create_with_identity(
        &az,
        "other-group",
        image,
        &userid,
        &["--dns-name-label", "aci-demo-label"],
    )
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
    grant_acrpull(&az, "acireg0002", &spid).await;
    let run = |name: &'static str, image: &'static str, extra: Vec<String>| {
        let az = &az;
        let userid = userid.clone();
        async move {
            let mut args = vec!["-o", "json"];
            args.extend(extra.iter().map(String::as_str));
            create_with_identity(az, name, image, &userid, &args).await
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
    // Registry firewall with trusted services off: the group fails with the registry's own text in its events.
    az.ok(&[
        "acr",
        "update",
        "-n",
        "acireg0002",
        "--public-network-enabled",
        "false",
        "--allow-trusted-services",
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
    // With trusted services on, ACI pulling with a managed identity passes the firewall.
    az.ok(&[
        "acr",
        "update",
        "-n",
        "acireg0002",
        "--allow-trusted-services",
        "true",
        "-o",
        "none",
    ])
    .await;
    let out = run("trusted", "acireg0002.azurecr.io/hello-world:v1", vec![]).await;
    assert!(out.ok, "{}", out.stderr);
    let cg: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(cg["instanceView"]["state"], "Running");
}

/// The seed's multi-container YAML (its registry, identity and subscription
/// filled in, the subnet left out). Azure refuses the seed's container names
/// as written (`myContainer-1`: ACI container names must match
/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, see MicrosoftDocs/azure-docs#15546), and so does azemu.
pub(crate) fn seed_yaml(registry: &str, userid: &str, names: [&str; 2]) -> String {
    format!(
        "{}  containers:
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
        yaml_head(registry, userid, ""),
        names[0],
        names[1]
    )
}

/// A group YAML's lines before its containers: the seed's, a user-assigned
/// identity pulling from `registry`, then `more` group properties.
pub(crate) fn yaml_head(registry: &str, userid: &str, more: &str) -> String {
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
{more}"
    )
}

#[tokio::test]
async fn container_create_from_the_seed_yaml() {
    let em = Emulator::start();
    let (az, userid, spid) = setup(&em, "acireg0003").await;
    grant_acrpull(&az, "acireg0003", &spid).await;
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
    assert!(
        created["properties"].is_object() || created["provisioningState"].is_string(),
        "{created}"
    );
    let cg = az
        .json(&[
            "container",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "yaml-group",
        ])
        .await;
    assert_eq!(cg["provisioningState"], "Succeeded", "{cg}");
    assert_eq!(cg["containers"].as_array().unwrap().len(), 2);
    for c in cg["containers"].as_array().unwrap() {
        assert_eq!(c["instanceView"]["currentState"]["state"], "Running", "{c}");
        assert_eq!(c["resources"]["requests"]["cpu"], json!(0.4));
    }
}

#[tokio::test]
async fn more_pull_failures_over_rest() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let s = format!("/subscriptions/{}", crate::harness::SUBSCRIPTION);
    let rg = format!("{s}/resourceGroups/aci");
    em.arm(
        &owner,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    for name in ["acireg0004", "acireg0005"] {
        let (st, b) = em
            .arm(&owner, Method::PUT, &format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{name}?api-version=2023-07-01"), Some(json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"adminUserEnabled": true}})))
            .await;
        assert_eq!(st, 201, "{b}");
    }
    push(&em, "acireg0004.azurecr.io/hello-world:v1");
    let uai = format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/puller");
    let (_, ident) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{uai}?api-version=2023-01-31"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    // AcrPull, but on the other registry.
    let (st, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{rg}/providers/Microsoft.ContainerRegistry/registries/acireg0005/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", uuid::Uuid::new_v4()),
            Some(json!({"properties": {"roleDefinitionId": format!("{s}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"), "principalId": ident["properties"]["principalId"]}})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let image = "acireg0004.azurecr.io/hello-world:v1";
    let group = |name: &str, os: &str, identity: Value, cred: Value| {
        (
            format!(
                "{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}?api-version=2023-05-01"
            ),
            json!({"location": "eastus", "identity": identity, "properties": {
                "osType": os, "imageRegistryCredentials": [cred],
                "containers": [{"name": "app", "properties": {"image": image}}],
            }}),
        )
    };
    let inaccessible = |g: &str| {
        format!(
            "The image '{image}' in container group '{g}' is not accessible. Please check the image and registry credential."
        )
    };

    let (url, body) = group(
        "wrong-registry",
        "Linux",
        json!({"type": "UserAssigned", "userAssignedIdentities": {uai.clone(): {}}}),
        json!({"server": "acireg0004.azurecr.io", "identity": uai}),
    );
    let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(
        (
            st,
            b["error"]["code"].as_str(),
            b["error"]["message"].as_str()
        ),
        (
            400,
            Some("InaccessibleImage"),
            Some(inaccessible("wrong-registry").as_str())
        )
    );

    let (url, body) = group(
        "not-attached",
        "Linux",
        json!({"type": "SystemAssigned"}),
        json!({"server": "acireg0004.azurecr.io", "identity": uai}),
    );
    let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("InvalidImageRegistryIdentity")),
        "{b}"
    );
    assert_eq!(
        b["error"]["message"],
        "The identity in the 'imageRegistryCredentials' of container group 'not-attached' not found in container group identity list."
    );

    let (url, body) = group(
        "windows-system",
        "Windows",
        json!({"type": "SystemAssigned"}),
        json!({"server": "acireg0004.azurecr.io", "identity": "[system]"}),
    );
    let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("InvalidImageRegistryIdentity")),
        "{b}"
    );
    // Windows containers cannot pull with the system-assigned identity (the seed's
    // limitation); Azure words it as an identity it cannot find (Microsoft's ACI
    // troubleshooting article, acr-image-pull-failures-managed-identity.md).
    assert_eq!(
        b["error"]["message"],
        "The identity in the 'imageRegistryCredentials' of container group 'windows-system' not found in container group identity list."
    );

    let (url, body) = group(
        "wrong-password",
        "Linux",
        Value::Null,
        json!({"server": "acireg0004.azurecr.io", "username": "acireg0004", "password": "not-the-password"}),
    );
    let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("InaccessibleImage")),
        "{b}"
    );
    // The admin's real password works.
    let (_, creds) = em.arm(&owner, Method::POST, &format!("{rg}/providers/Microsoft.ContainerRegistry/registries/acireg0004/listCredentials?api-version=2023-07-01"), None).await;
    let (url, body) = group(
        "right-password",
        "Linux",
        Value::Null,
        json!({"server": "acireg0004.azurecr.io", "username": "acireg0004", "password": creds["passwords"][0]["value"]}),
    );
    let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(
        b["properties"]["containers"][0]["properties"]["instanceView"]["currentState"]["state"],
        "Running"
    );
    // A restricted registry: trusted services let ACI in only with a managed identity, not with the admin password.
    let (st, b) = em
        .arm(&owner, Method::PATCH, &format!("{rg}/providers/Microsoft.ContainerRegistry/registries/acireg0004?api-version=2023-07-01"), Some(json!({"properties": {"publicNetworkAccess": "Disabled"}})))
        .await;
    assert_eq!(st, 200, "{b}");
    let (url, body) = group(
        "restricted-password",
        "Linux",
        Value::Null,
        json!({"server": "acireg0004.azurecr.io", "username": "acireg0004", "password": creds["passwords"][0]["value"]}),
    );
    let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(st, 201, "{b}");
    let events = b["properties"]["containers"][0]["properties"]["instanceView"]["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(events[1]["message"].as_str().unwrap().ends_with("denied: client with IP '20.42.65.91' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."), "{events:?}");
    let (_, got) = em.arm(&owner, Method::GET, &url, None).await;
    assert_eq!(got["properties"]["provisioningState"], "Failed");
}

#[tokio::test]
async fn code_inside_a_group_gets_tokens_for_its_own_identities_only() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = em.resource_group(&owner, "inside").await;
    let mut clients = Vec::new();
    for n in ["attached", "other"] {
        let (_, i) = em.arm(&owner, Method::PUT, &format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{n}?api-version=2023-01-31"), Some(json!({"location": "eastus"}))).await;
        clients.push((
            i["id"].as_str().unwrap().to_string(),
            i["properties"]["clientId"].as_str().unwrap().to_string(),
            i["properties"]["principalId"].as_str().unwrap().to_string(),
        ));
    }
    let group = format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups/app");
    let (st, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{group}?api-version=2023-05-01"),
            Some(json!({"location": "eastus", "identity": {"type": "UserAssigned", "userAssignedIdentities": {clients[0].0.clone(): {}}},
                "properties": {"osType": "Linux", "containers": [{"name": "app", "properties": {"image": "mcr.microsoft.com/azuredocs/aci-helloworld"}}]}})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    // What the group's containers would see in their environment.
    let env: Value = em
        .http()
        .get(format!(
            "{}/_emulator/identity-endpoint?resourceId={group}",
            em.base()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = env["IDENTITY_ENDPOINT"].as_str().unwrap().to_string();
    let header = env["IDENTITY_HEADER"].as_str().unwrap().to_string();
    let token_for = |client_id: String| {
        let mut cmd = tokio::process::Command::new(crate::harness::venv().join("bin/python"));
        crate::harness::python_env(&mut cmd, &em);
        cmd.arg(crate::harness::fixtures().join("python/managed_identity_token.py"))
            .env("AZEMU_CLIENT_ID", client_id)
            .env("IDENTITY_ENDPOINT", &endpoint)
            .env("IDENTITY_HEADER", &header);
        async move { crate::harness::run(&mut cmd).await }
    };
    let out = token_for(clients[0].1.clone()).await;
    assert!(out.ok, "{}", out.stderr);
    let claims: Value = {
        use base64::Engine;
        let t = out.stdout.trim();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["oid"], clients[0].2.as_str());
    let out = token_for(clients[1].1.clone()).await;
    assert!(
        !out.ok,
        "an identity not attached to the group gets no token"
    );
    // azure-identity reports any 400 from the endpoint as invalid_scope; the endpoint's own answer:
    let r = em
        .http()
        .get(format!(
            "{endpoint}?api-version=2019-08-01&resource=https://management.azure.com&client_id={}",
            clients[1].1
        ))
        .header("X-IDENTITY-HEADER", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "invalid_request", "error_description": "Identity not found"})
    );
}

#[tokio::test]
async fn python_sdk_creates_a_group_with_a_user_assigned_identity() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let s = format!("/subscriptions/{}", crate::harness::SUBSCRIPTION);
    let rg = format!("{s}/resourceGroups/sdk");
    em.arm(
        &owner,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/acireg0006");
    em.arm(
        &owner,
        Method::PUT,
        &format!("{reg}?api-version=2023-07-01"),
        Some(json!({"location": "eastus", "sku": {"name": "Standard"}})),
    )
    .await;
    push(&em, "acireg0006.azurecr.io/hello-world:v1");
    let (_, ident) = em.arm(&owner, Method::PUT, &format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/sdk-id?api-version=2023-01-31"), Some(json!({"location": "eastus"}))).await;
    let (st, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{reg}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", uuid::Uuid::new_v4()),
            Some(json!({"properties": {"roleDefinitionId": format!("{s}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"), "principalId": ident["properties"]["principalId"]}})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let mut cmd = tokio::process::Command::new(crate::harness::venv().join("bin/python"));
    crate::harness::python_env(&mut cmd, &em);
    cmd.arg(crate::harness::fixtures().join("python/sdk_container_group.py"))
        .env("HTTPS_PROXY", format!("http://localhost:{}", em.port))
        .env("AZEMU_IMAGE", "acireg0006.azurecr.io/hello-world:v1")
        .env("AZEMU_IDENTITY", ident["id"].as_str().unwrap());
    let out = crate::harness::run(&mut cmd).await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("provisioning Succeeded"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("state Running"), "{}", out.stdout);
    assert!(out.stdout.contains("event Pulled Normal Successfully pulled image \"acireg0006.azurecr.io/hello-world:v1@sha256:"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("event Started Normal Started container"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn public_images_come_from_the_offline_public_registries() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = em.resource_group(&owner, "public").await;
    let create = |name: &str, image: &str| {
        let body = json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "app", "properties": {"image": image}}]}});
        (
            format!(
                "{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}?api-version=2023-05-01"
            ),
            body,
        )
    };
    // The built-in sample is on MCR and Docker Hub.
    for (name, image) in [
        ("mcr", "mcr.microsoft.com/azuredocs/aci-helloworld"),
        ("hub", "hello-world"),
    ] {
        let (url, body) = create(name, image);
        let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
        assert_eq!(st, 201, "{image}: {b}");
        let pulled =
            &b["properties"]["containers"][0]["properties"]["instanceView"]["events"][1]["message"];
        assert!(
            pulled.as_str().unwrap().starts_with(&format!(
                "Successfully pulled image \"{image}@sha256:81cf7d09"
            )),
            "{pulled}"
        );
    }
    // Not there: InaccessibleImage; not a registry azemu serves: RegistryErrorResponse.
    let (url, body) = create("missing", "nginx:1.27");
    let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("InaccessibleImage")),
        "{b}"
    );
    let (url, body) = create("elsewhere", "quay.io/prometheus/prometheus:v2");
    let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(st, 400);
    assert_eq!(b["error"]["code"], "RegistryErrorResponse");
    assert_eq!(
        b["error"]["message"],
        "An error response is received from the docker registry 'quay.io'. Please retry later."
    );
}

/// A seeded world (`--seed fixtures/seeds/aci-from-acr-managed-identity.yaml`)
/// is ready for the seed document's `az container create` with no setup calls:
/// registry with the image, identity, AcrPull, all built at start.
#[tokio::test]
async fn seeded_world_runs_the_seed_command() {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/seeds/aci-from-acr-managed-identity.yaml");
    let em = Emulator::start_with(&["--seed", &seed.to_string_lossy()]);
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    let userid = az
        .ok(&[
            "identity",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "myACRId",
            "--query",
            "id",
            "-o",
            "tsv",
        ])
        .await
        .trim()
        .to_string();
    let out = az
        .run(&[
            "container",
            "create",
            "--name",
            "my-containergroup",
            "--resource-group",
            "myResourceGroup",
            "--image",
            "myacr.azurecr.io/hello-world:v1",
            "--acr-identity",
            &userid,
            "--assign-identity",
            &userid,
            "--ports",
            "80",
            "--dns-name-label",
            "seeded-world-label",
            "-o",
            "json",
        ])
        .await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let group: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(group["instanceView"]["state"], "Running", "{group}");
    let dep = az
        .json(&["deployment", "sub", "show", "-n", "azemu-seed"])
        .await;
    assert_eq!(dep["properties"]["provisioningState"], "Succeeded");
}

/// `azemu explain` after a failed `az container create`: the trace names the
/// check that failed (authorize: no AcrPull, with the assignments considered)
/// and the exact fix; the Mermaid rendering is a well-formed sequence diagram.
/// Applying the fix makes the same command succeed.
#[tokio::test]
async fn explain_a_failed_pull() {
    let em = Emulator::start();
    let (az, userid, spid) = setup(&em, "explainreg1").await;
    let image = "explainreg1.azurecr.io/hello-world:v1";
    let create = || async {
        az.run(&[
            "container",
            "create",
            "--name",
            "explained",
            "--resource-group",
            "myResourceGroup",
            "--image",
            image,
            "--acr-identity",
            &userid,
            "--assign-identity",
            &userid,
            "-o",
            "none",
        ])
        .await
    };
    let failed = create().await;
    assert!(
        !failed.ok && failed.stderr.contains("InaccessibleImage"),
        "{}",
        failed.stderr
    );

    let group = format!(
        "/subscriptions/{}/resourceGroups/myResourceGroup/providers/Microsoft.ContainerInstance/containerGroups/explained",
        crate::harness::SUBSCRIPTION
    );
    let explain = |format: &'static str| {
        let group = group.clone();
        let em = &em;
        async move { em.explain(&["--format", format, &group]) }
    };
    let text = explain("text").await;
    let registry_id = format!(
        "/subscriptions/{}/resourceGroups/myResourceGroup/providers/Microsoft.ContainerRegistry/registries/explainreg1",
        crate::harness::SUBSCRIPTION
    );
    for needle in [
        "✓ registry".to_string(),
        "✓ network".to_string(),
        "✓ credentials".to_string(),
        format!(
            "✗ authorize    POST https://explainreg1.azurecr.io/oauth2/token for repository:hello-world:pull → 200: no pull on repository 'hello-world' of {registry_id} (the access token carries []); role assignments considered: none"
        ),
        // The refresh token the registry's token service gave the identity, over its own protocol.
        format!(
            "✓ exchange     POST https://explainreg1.azurecr.io/oauth2/exchange → 200: an ACR refresh token for principal {spid}"
        ),
        "InaccessibleImage".to_string(),
        format!(
            "fix: az role assignment create --assignee-object-id {spid} --assignee-principal-type ServicePrincipal --role AcrPull --scope {registry_id}"
        ),
    ] {
        assert!(text.contains(&needle), "{needle}\n---\n{text}");
    }

    // A grammar check of the Mermaid sequence diagram.
    let mermaid = explain("mermaid").await;
    let mut lines = mermaid.lines();
    assert_eq!(lines.next(), Some("sequenceDiagram"));
    for l in lines {
        let l = l.trim();
        let ok = l.starts_with("participant ") && l.contains(" as ")
            || l.starts_with("Note over ") && l.contains(": ")
            || ["->>", "-x"].iter().any(|a| {
                l.split_once(a).is_some_and(|(from, rest)| {
                    from.chars().all(|c| c.is_ascii_alphanumeric())
                        && rest
                            .split_once(": ")
                            .is_some_and(|(to, _)| to.chars().all(|c| c.is_ascii_alphanumeric()))
                })
            });
        assert!(ok, "not Mermaid: {l:?}\n{mermaid}");
    }
    assert!(mermaid.contains("R-xA: authorize"), "{mermaid}");

    // The fix, as printed, works.
    run_fix(&az, &text).await;
    let ok = create().await;
    assert!(ok.ok, "{}", ok.stderr);
    let text = explain("text").await;
    assert!(
        text.contains("✓ authorize") && text.contains("→ pulled "),
        "{text}"
    );
}

/// A container group over REST as azure-cli's recordings show ACI answering
/// (`test_container_create.yaml`, `_with_zone`, `_with_msi`, `_with_acr`):
/// 201 with `provisioningState: Pending` and an `Azure-AsyncOperation`, the
/// fields in ACI's order (`properties` first, `zones` before `tags`, no
/// `systemData`), `initContainers: []`, secret volumes as `secret: {}` and no
/// registry password; PATCH changes tags; stop and restart 204, start 202
/// polled; logs; DELETE 200 with the group, then 204.
#[tokio::test]
async fn rest_lifecycle_as_azures_recordings() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = em.resource_group(&owner, "rest").await;
    let path = format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups/cg");
    let url = format!("{path}?api-version=2023-05-01");
    let body = json!({"location": "eastus", "zones": ["1"], "properties": {
        "osType": "Linux", "restartPolicy": "Never",
        "containers": [{"name": "app", "properties": {"image": "mcr.microsoft.com/azuredocs/aci-helloworld",
            "volumeMounts": [{"name": "secrets", "mountPath": "/s"}]}}],
        "imageRegistryCredentials": [{"server": "other.azurecr.io", "username": "u", "password": "hidden"}],
        "volumes": [{"name": "secrets", "secret": {"k": "dmFsdWU="}}]}});
    let r = em
        .arm_response(&owner, reqwest::Method::PUT, &url, Some(body.clone()))
        .await;
    assert_eq!(r.status(), 201);
    let poll = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let created: Value = r.json().await.unwrap();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&created),
        [
            "properties",
            "id",
            "name",
            "type",
            "location",
            "zones",
            "tags"
        ],
        "{created}"
    );
    let props = &created["properties"];
    assert_eq!(
        keys(props),
        [
            "sku",
            "provisioningState",
            "containers",
            "initContainers",
            "imageRegistryCredentials",
            "restartPolicy",
            "osType",
            "volumes",
            "instanceView"
        ],
        "{props}"
    );
    assert_eq!(props["provisioningState"], "Pending");
    assert_eq!(props["initContainers"], json!([]));
    assert_eq!(props["volumes"], json!([{"name": "secrets", "secret": {}}]));
    assert_eq!(
        props["imageRegistryCredentials"],
        json!([{"server": "other.azurecr.io", "username": "u"}])
    );
    assert_eq!(
        keys(&props["containers"][0]["properties"]),
        [
            "image",
            "ports",
            "environmentVariables",
            "instanceView",
            "resources",
            "volumeMounts"
        ]
    );
    assert_eq!(created["tags"], json!({}));
    em.step().await;
    let (st, op) = em
        .arm(&owner, Method::GET, &poll[em.base().len()..], None)
        .await;
    assert_eq!(
        (st, op["status"].as_str()),
        (200, Some("Succeeded")),
        "{op}"
    );
    let (st, got) = em.arm(&owner, Method::GET, &url, None).await;
    assert_eq!(st, 200);
    assert_eq!(got["properties"]["provisioningState"], "Succeeded");
    assert_eq!(keys(&got), keys(&created));

    // PATCH: tags only.
    let (st, patched) = em
        .arm(
            &owner,
            Method::PATCH,
            &url,
            Some(json!({"tags": {"a": "b"}})),
        )
        .await;
    assert_eq!(st, 200, "{patched}");
    assert_eq!(patched["tags"], json!({"a": "b"}));
    assert_eq!(patched["properties"]["provisioningState"], "Succeeded");

    // stop and restart: 204; start: 202 with an operation to poll.
    for (action, status) in [("stop", 204), ("restart", 204)] {
        let (st, _) = em
            .arm(
                &owner,
                Method::POST,
                &format!("{path}/{action}?api-version=2023-05-01"),
                None,
            )
            .await;
        assert_eq!(st, status, "{action}");
    }
    let r = em
        .http()
        .post(format!("{}{path}/start?api-version=2023-05-01", em.base()))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers().contains_key("azure-asyncoperation"));
    let (_, got) = em.arm(&owner, Method::GET, &url, None).await;
    assert_eq!(got["properties"]["instanceView"]["state"], "Running");

    // Logs: what the emulator did, said as such.
    let (st, logs) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{path}/containers/app/logs?api-version=2023-05-01"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert!(
        logs["content"]
            .as_str()
            .unwrap()
            .ends_with("azemu does not execute container images; this log lists what the emulator did for this container.\n"),
        "{logs}"
    );

    // Exec: nothing runs, so there is nothing to exec into, said as such.
    let (st, refused) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{path}/containers/app/exec?api-version=2023-05-01"),
            Some(json!({"command": "/bin/sh", "terminalSize": {"rows": 24, "cols": 80}})),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(
        refused,
        json!({"error": {"code": "ContainerNotRunning", "message": "The container 'app' of container group 'cg' is not running: azemu runs no container engine (--container-engine none), so nothing was executed."}})
    );

    // DELETE answers the group, then nothing.
    let (st, gone) = em.arm(&owner, Method::DELETE, &url, None).await;
    assert_eq!(st, 200);
    assert_eq!(gone["name"], "cg");
    assert_eq!(gone["properties"]["volumes"][0]["secret"], json!({}));
    let (st, _) = em.arm(&owner, Method::DELETE, &url, None).await;
    assert_eq!(st, 204);
    let (st, _) = em.arm(&owner, Method::GET, &url, None).await;
    assert_eq!(st, 404);
}

/// Issue 23: ACI's pull goes over the registry's own protocol. The group's
/// `aci-pull` trace names each request it made — the exchange, the token, the
/// manifest and every blob — with the request id the request log gave it, and
/// each of those lines is the registry's answer to that request.
#[tokio::test]
async fn the_pull_trace_names_its_requests_as_the_request_log_does() {
    let em = Emulator::start_logged_env(&[], &[("AZEMU_LOG_FORMAT", "json")]);
    let (az, userid, spid) = setup(&em, "tracedreg1").await;
    grant_acrpull(&az, "tracedreg1", &spid).await;
    let image = "tracedreg1.azurecr.io/hello-world:v1";
    let out = create_with_identity(&az, "traced", image, &userid, &["-o", "none"]).await;
    assert!(out.ok, "{}", out.stderr);

    let traces = em.control_json("/_emulator/traces?kind=aci-pull").await;
    let trace = &traces["value"][0];
    assert!(
        trace["outcome"].as_str().unwrap().starts_with("pulled "),
        "{trace}"
    );
    let steps = trace["steps"].as_array().unwrap();
    let on_requests: Vec<&Value> = steps
        .iter()
        .filter(|s| s["requestId"].is_string())
        .collect();
    let checks: Vec<&str> = on_requests
        .iter()
        .map(|s| s["check"].as_str().unwrap())
        .collect();
    // The first request also carries the network's verdict; then one step per request.
    assert_eq!(
        checks,
        [
            "network",
            "exchange",
            "authorize",
            "manifest",
            "blob",
            "blob"
        ],
        "{trace}"
    );
    assert!(steps.iter().all(|s| s["passed"] == true), "{trace}");

    let log = em.log();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    let line_of = |id: &str| {
        let found: Vec<&Value> = lines.iter().filter(|v| v["request_id"] == id).collect();
        assert_eq!(found.len(), 1, "request id {id} in the log:\n{log}");
        found[0]
    };
    let expect = [
        ("POST", "/oauth2/exchange".to_string()),
        ("POST", "/oauth2/token".to_string()),
        ("GET", "/v2/hello-world/manifests/v1".to_string()),
    ];
    for (step, (method, path)) in on_requests[1..].iter().zip(expect.iter()) {
        let line = line_of(step["requestId"].as_str().unwrap());
        assert_eq!(line["method"], *method, "{line}");
        assert_eq!(line["path"], path.as_str(), "{line}");
    }
    // The network's verdict came on the exchange: the same request.
    assert_eq!(on_requests[0]["requestId"], on_requests[1]["requestId"]);
    for step in &on_requests[1..] {
        let line = line_of(step["requestId"].as_str().unwrap());
        assert_eq!(line["plane"], "registry", "{line}");
        assert_eq!(line["host"], "tracedreg1.azurecr.io", "{line}");
        assert_eq!(line["status"], 200, "{line}");
        let detail = step["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!(
                "{} https://tracedreg1.azurecr.io{}",
                line["method"].as_str().unwrap(),
                line["path"].as_str().unwrap()
            )),
            "{detail} / {line}"
        );
    }
    // The manifest and the blobs were asked for with the identity's access token.
    for step in &on_requests[3..] {
        let line = line_of(step["requestId"].as_str().unwrap());
        assert_eq!(line["principal"], spid.as_str(), "{line}");
    }
    for step in &on_requests[4..] {
        let line = line_of(step["requestId"].as_str().unwrap());
        assert!(
            line["path"]
                .as_str()
                .unwrap()
                .starts_with("/v2/hello-world/blobs/sha256:"),
            "{line}"
        );
        assert!(
            step["detail"]
                .as_str()
                .unwrap()
                .ends_with("digest verified"),
            "{step}"
        );
    }
}

/// The pull's logins over the registry's protocol, asked hypothetically:
/// without credentials (anonymous pull off) and with a wrong password, the
/// token request is refused and that is where the trace stops — on a request
/// the log names — with no authorize or manifest step after it.
#[tokio::test]
async fn a_refused_login_stops_the_pull_at_its_token_request() {
    let em = Emulator::start();
    let (_az, _userid, _spid) = setup(&em, "loginreg01").await;
    let ask = |body: Value| {
        let em = &em;
        async move {
            let resp = em
                .http()
                .post(format!("{}/_emulator/explain/pull?format=json", em.base()))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    let image = "loginreg01.azurecr.io/hello-world:v1";
    for (body, detail) in [
        (
            json!({"image": image}),
            "none (anonymous): GET https://loginreg01.azurecr.io/oauth2/token → 401: anonymous pull is not enabled on the registry",
        ),
        (
            json!({"image": image, "username": "loginreg01", "password": "wrong"}),
            "GET https://loginreg01.azurecr.io/oauth2/token as 'loginreg01' → 401: username 'loginreg01' or its password is not valid for loginreg01.azurecr.io",
        ),
    ] {
        let t = ask(body).await;
        let steps = t["steps"].as_array().unwrap();
        let last = steps.last().unwrap();
        assert_eq!(last["check"], "credentials", "{t}");
        assert_eq!(last["passed"], false, "{t}");
        assert_eq!(last["detail"], detail, "{t}");
        assert!(last["requestId"].is_string(), "{t}");
        assert!(
            t["outcome"].as_str().unwrap().contains("InaccessibleImage"),
            "{t}"
        );
    }
}
