//! ARM template deployments with the real az CLI: the first seed's
//! azuredeploy.json, a template that builds the whole pull path (registry,
//! identity, AcrPull assignment named with guid(), container group), what-if,
//! validate, and the refusals ARM gives at validation.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};
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
    az.acr_create("myResourceGroup", registry, "Basic").await;
    em.push_sample(&format!("{registry}.azurecr.io/hello-world:{tag}"))
        .unwrap();
    let identity = az.identity_create("myResourceGroup", "myACRId").await;
    let spid = identity["principalId"].as_str().unwrap().to_string();
    crate::aci::grant_acrpull(az, registry, &spid).await;
    spid
}

/// Acceptance: the seed's azuredeploy.json with `az deployment group create`;
/// the group pulls through its user-assigned identity and runs, and
/// `az deployment operation group list` shows the operation.
///
/// Taken literally the seed names its group `myContainerGroup`, which Azure
/// refuses: container group names are lower-case letters, digits and hyphens
/// (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules,
/// Microsoft.ContainerInstance; Azure/azure-powershell#10761 "ContainerGroup doesn't
/// allow uppercase"), so ARM fails the deployment with
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
        .deployment_operations("myResourceGroup", "azuredeploy")
        .await;
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
    az.acr_create("myResourceGroup", "myacr", "Basic").await;
    em.push_sample("myacr.azurecr.io/hello-world:latest")
        .unwrap();
    az.identity_create("myResourceGroup", "myACRId").await;
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
    let ops = az.deployment_operations("myResourceGroup", "nopull").await;
    let failed = &ops[0]["properties"];
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

/// Acceptance: one template creates the identity, an AcrPull assignment on the
/// registry named with guid() and a container group pulling with that identity;
/// its outputs give the login server and the identity's principalId. The
/// registry is declared too (PUT again, Incremental), holding the image pushed
/// before the deployment, as a registry must before anything can pull from it.
#[tokio::test]
async fn template_builds_the_whole_pull_path() {
    let em = Emulator::start();
    let az = logged_in(&em, "eastus").await;
    az.acr_create("myResourceGroup", "tplreg0001", "Basic")
        .await;
    em.push_sample("tplreg0001.azurecr.io/hello-world:v1")
        .unwrap();
    let file = template("registry-identity-role-aci");
    let file = file.to_string_lossy();
    let out = az
        .json(&[
            "deployment",
            "group",
            "create",
            "-g",
            "myResourceGroup",
            "-n",
            "pullpath",
            "--template-file",
            &file,
            "--parameters",
            "registryName=tplreg0001",
        ])
        .await;
    let props = &out["properties"];
    assert_eq!(props["provisioningState"], "Succeeded", "{out}");
    let outputs = &props["outputs"];
    assert_eq!(outputs["loginServer"]["value"], "tplreg0001.azurecr.io");
    let principal = az
        .ok(&[
            "identity",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "tplreg0001-pull",
            "--query",
            "principalId",
            "-o",
            "tsv",
        ])
        .await
        .trim()
        .to_string();
    assert_eq!(outputs["principalId"]["value"], principal.as_str());

    // guid(registryId, identityId, roleId): the assignment's name, computed as Azure does.
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/myResourceGroup");
    let registry_id = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/tplreg0001");
    let identity_id =
        format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/tplreg0001-pull");
    let role_id = format!(
        "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
    );
    let want = uuid::Uuid::new_v5(
        &uuid::uuid!("11fb06fb-712d-4ddd-98c7-e71bbd588830"),
        format!("{registry_id}-{identity_id}-{role_id}").as_bytes(),
    )
    .to_string();
    assert_eq!(outputs["roleAssignmentName"]["value"], want.as_str());
    let assignments = az
        .json(&["role", "assignment", "list", "--scope", &registry_id])
        .await;
    let a = assignments
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == want.as_str())
        .unwrap_or_else(|| panic!("{assignments}"));
    assert_eq!(a["principalId"], principal.as_str());
    assert_eq!(a["roleDefinitionName"], "AcrPull");

    let group = az
        .json(&[
            "container",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "tplreg0001-group",
        ])
        .await;
    assert_eq!(group["instanceView"]["state"], "Running", "{group}");
    assert_eq!(
        group["containers"][0]["image"],
        "tplreg0001.azurecr.io/hello-world:v1"
    );
    let fqdn = outputs["fqdn"]["value"].as_str().unwrap();
    assert!(
        fqdn.starts_with("aci-") && fqdn.ends_with(".eastus.azurecontainer.io"),
        "{fqdn}"
    );

    // Every resource action is an operation, plus the output evaluation.
    let ops = az
        .deployment_operations("myResourceGroup", "pullpath")
        .await;
    let mut kinds: Vec<String> = ops
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["properties"]["provisioningOperation"].as_str().unwrap(),
                o["properties"]["targetResource"]["resourceType"]
                    .as_str()
                    .unwrap_or("-")
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            "Create Microsoft.Authorization/roleAssignments",
            "Create Microsoft.ContainerInstance/containerGroups",
            "Create Microsoft.ContainerRegistry/registries",
            "Create Microsoft.ManagedIdentity/userAssignedIdentities",
            "EvaluateDeploymentOutput -",
        ]
    );
}

/// Acceptance: `az deployment group validate` and `what-if` work; an
/// allowedValues violation and a dependsOn cycle are refused with InvalidTemplate.
#[tokio::test]
async fn validate_what_if_and_refusals() {
    let em = Emulator::start();
    let az = logged_in(&em, "eastus").await;
    let file = template("registry-identity-role-aci");
    let file = file.to_string_lossy();
    let deploy = |extra: &'static [&'static str], cmd: &'static str| {
        let az = &az;
        let file = file.to_string();
        async move {
            let mut args = vec!["deployment", "group", cmd, "-g", "myResourceGroup"];
            args.extend(["--template-file", &file]);
            args.extend(extra);
            az.run(&args).await
        }
    };

    let valid = deploy(
        &["--parameters", "registryName=wifreg0001", "-o", "json"],
        "validate",
    )
    .await;
    assert!(valid.ok, "{}", valid.stderr);
    let v: Value = serde_json::from_str(&valid.stdout).unwrap();
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        v["properties"]["validatedResources"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        v["properties"]["parameters"]["registrySku"]["value"],
        "Basic"
    );

    // Nothing exists yet: four creates.
    let wi = deploy(
        &[
            "--parameters",
            "registryName=wifreg0001",
            "--no-pretty-print",
            "-o",
            "json",
        ],
        "what-if",
    )
    .await;
    assert!(wi.ok, "{}", wi.stderr);
    let wi: Value = serde_json::from_str(&wi.stdout).unwrap();
    let changes = wi["changes"].as_array().unwrap_or_else(|| panic!("{wi}"));
    assert_eq!(changes.len(), 4, "{wi}");
    assert!(changes.iter().all(|c| c["changeType"] == "Create"), "{wi}");
    let pretty = deploy(&["--parameters", "registryName=wifreg0001"], "what-if").await;
    assert!(pretty.ok, "{}", pretty.stderr);
    assert!(
        pretty.stdout.contains("Resource changes: 4 to create."),
        "{}",
        pretty.stdout
    );

    // After the registry exists, what-if reports it unchanged, or modified with the delta.
    az.acr_create("myResourceGroup", "wifreg0001", "Basic")
        .await;
    let wi = deploy(
        &[
            "--parameters",
            "registryName=wifreg0001",
            "registrySku=Standard",
            "--no-pretty-print",
            "-o",
            "json",
        ],
        "what-if",
    )
    .await;
    assert!(wi.ok, "{}", wi.stderr);
    let wi: Value = serde_json::from_str(&wi.stdout).unwrap();
    let reg = wi["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resourceId"].as_str().unwrap().contains("/registries/"))
        .unwrap()
        .clone();
    assert_eq!(reg["changeType"], "Modify", "{reg}");
    assert_eq!(reg["delta"][0]["path"], "sku.name", "{reg}");
    assert_eq!(reg["delta"][0]["before"], "Basic");
    assert_eq!(reg["delta"][0]["after"], "Standard");

    // allowedValues.
    let bad = deploy(
        &[
            "--parameters",
            "registryName=wifreg0001",
            "registrySku=Gold",
        ],
        "validate",
    )
    .await;
    assert!(!bad.ok);
    assert!(
        bad.stderr.contains("InvalidTemplate")
            && bad.stderr.contains(
                "The provided value for the template parameter 'registrySku' is not valid. The value 'Gold' is not part of the allowed value(s): 'Basic,Standard,Premium'."
            ),
        "{}",
        bad.stderr
    );
    // ARM places the violation in the file az sent (az keeps its whitespace for this).
    let text = std::fs::read_to_string(template("registry-identity-role-aci")).unwrap();
    let (line, col) = text
        .lines()
        .enumerate()
        .find_map(|(n, l)| l.find("\"registrySku\"").map(|c| (n + 1, c + 1)))
        .unwrap();
    assert!(
        bad.stderr.contains(&format!(
            "\"lineNumber\": {line}, \"linePosition\": {col}, \"path\": \"parameters.registrySku\""
        )),
        "{}",
        bad.stderr
    );
    let bad = deploy(
        &[
            "--parameters",
            "registryName=wifreg0001",
            "registrySku=Gold",
        ],
        "create",
    )
    .await;
    assert!(
        !bad.ok && bad.stderr.contains("InvalidTemplate"),
        "{}",
        bad.stderr
    );

    // A dependsOn cycle.
    let dir = tempfile::tempdir().unwrap();
    let cyclic = dir.path().join("cycle.json");
    std::fs::write(
        &cyclic,
        r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "resources": [
    { "type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
      "name": "a", "location": "eastus", "dependsOn": [ "b" ] },
    { "type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
      "name": "b", "location": "eastus",
      "dependsOn": [ "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'a')]" ] }
  ]
}"#,
    )
    .unwrap();
    let cyclic = cyclic.to_string_lossy();
    for cmd in ["validate", "create"] {
        let out = az
            .run(&[
                "deployment",
                "group",
                cmd,
                "-g",
                "myResourceGroup",
                "--template-file",
                &cyclic,
            ])
            .await;
        assert!(!out.ok, "{}", out.stdout);
        assert!(
            out.stderr.contains("InvalidTemplate")
                && out
                    .stderr
                    .contains("Circular dependency detected on resource: '/subscriptions/"),
            "{}",
            out.stderr
        );
    }
    // Refused at validation: nothing was created, and no deployment was recorded.
    let ids = az
        .json(&["identity", "list", "-g", "myResourceGroup"])
        .await;
    assert_eq!(ids.as_array().unwrap().len(), 0, "{ids}");
    let deps = az
        .json(&["deployment", "group", "list", "-g", "myResourceGroup"])
        .await;
    assert_eq!(deps.as_array().unwrap().len(), 0, "{deps}");
}

fn identity(name: &str) -> Value {
    json!({
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
        "apiVersion": "2023-01-31",
        "name": name,
        "location": "[resourceGroup().location]"
    })
}

fn registry(name: &str) -> Value {
    json!({
        "type": "Microsoft.ContainerRegistry/registries",
        "apiVersion": "2023-07-01",
        "name": name,
        "location": "[resourceGroup().location]",
        "sku": {"name": "Basic"}
    })
}

fn body(resources: Vec<Value>) -> Value {
    json!({"properties": {"mode": "Incremental", "template": {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": resources
    }}})
}

const RG: &str = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/rg1";
const API: &str = "api-version=2024-07-01";

async fn put_group(em: &Emulator, owner: &str) {
    let (s, _) = em
        .arm(
            owner,
            Method::PUT,
            &format!("{RG}?{API}"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(s, 201);
}

/// A deployment runs as its caller: it is refused (403) without
/// `deployments/write`, and preflight refuses (400 InvalidTemplateDeployment
/// with the AuthorizationFailed inside) a template holding a resource the
/// caller may not write, before anything is created.
#[tokio::test]
async fn deployment_cannot_do_what_its_caller_may_not() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    put_group(&em, &owner).await;
    let p = em.new_principal().await;
    // Managed Identity Contributor: identities and deployments, not registries.
    let ra = format!(
        "{RG}/providers/Microsoft.Authorization/roleAssignments/5b0c6a3e-0000-4000-8000-00000000000a?api-version=2022-04-01"
    );
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &ra,
            Some(json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/e40ec5ca-96e0-45a2-b4ff-59039f2c2b59"),
                "principalId": p.object_id,
                "principalType": "ServicePrincipal"
            }})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let dep = format!("{RG}/providers/Microsoft.Resources/deployments/d1?{API}");

    let (s, b) = em
        .arm(
            &p.token,
            Method::PUT,
            &dep,
            Some(body(vec![identity("id1"), registry("depreg0001")])),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "InvalidTemplateDeployment", "{b}");
    assert_eq!(
        b["error"]["details"][0]["code"], "AuthorizationFailed",
        "{b}"
    );
    let m = b["error"]["details"][0]["message"].as_str().unwrap();
    assert!(
        m.contains("'Microsoft.ContainerRegistry/registries/write'")
            && m.contains("/registries/depreg0001"),
        "{m}"
    );
    let (s, _) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1?api-version=2023-01-31"),
            None,
        )
        .await;
    assert_eq!(s, 404, "nothing was created");

    let (s, b) = em
        .arm(
            &p.token,
            Method::PUT,
            &dep,
            Some(body(vec![identity("id1")])),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["properties"]["provisioningState"], "Accepted");
    let (_, b) = em.arm(&p.token, Method::GET, &dep, None).await;
    assert_eq!(b["properties"]["provisioningState"], "Succeeded", "{b}");
    assert_eq!(
        b["properties"]["outputResources"][0]["id"],
        format!("{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1")
    );

    // A principal with no role may not deploy at all.
    let nobody = em.new_principal().await;
    let (s, b) = em
        .arm(
            &nobody.token,
            Method::PUT,
            &dep,
            Some(body(vec![identity("id2")])),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Microsoft.Resources/deployments/write'"),
        "{b}"
    );
}

/// The deployment follows emulated time: with a 5 s provider delay the
/// registry runs while the independent identity is done; its dependent waits;
/// a second PUT of the same name is refused with DeploymentActive; moving the
/// clock finishes everything. Copy loops start their instances together.
#[tokio::test]
async fn deployment_follows_the_clock() {
    let em = Emulator::start_with(&["--lro-delay-ms", "5000"]);
    let owner = em.arm_token().await;
    put_group(&em, &owner).await;
    let dep = format!("{RG}/providers/Microsoft.Resources/deployments/timed?{API}");
    let mut after = identity("after");
    after["dependsOn"] = json!(["clockreg0001"]);
    let mut many = identity("[format('many-{0}', copyIndex())]");
    many["copy"] = json!({"name": "many", "count": 3});
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &dep,
            Some(body(vec![
                identity("first"),
                registry("clockreg0001"),
                after,
                many,
            ])),
        )
        .await;
    assert_eq!(s, 201, "{b}");

    let (_, b) = em.arm(&owner, Method::GET, &dep, None).await;
    assert_eq!(b["properties"]["provisioningState"], "Running", "{b}");
    let ops_url = format!("{RG}/deployments/timed/operations?{API}");
    let (_, ops) = em.arm(&owner, Method::GET, &ops_url, None).await;
    let state_of = |ops: &Value, name: &str| -> Option<String> {
        ops["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["properties"]["targetResource"]["resourceName"] == name)
            .map(|o| {
                o["properties"]["provisioningState"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
    };
    assert_eq!(
        state_of(&ops, "first").as_deref(),
        Some("Succeeded"),
        "{ops}"
    );
    assert_eq!(
        state_of(&ops, "clockreg0001").as_deref(),
        Some("Running"),
        "{ops}"
    );
    assert_eq!(
        state_of(&ops, "after"),
        None,
        "waits for the registry: {ops}"
    );
    for i in 0..3 {
        assert_eq!(
            state_of(&ops, &format!("many-{i}")).as_deref(),
            Some("Succeeded"),
            "{ops}"
        );
    }
    let (s, b) = em
        .arm(&owner, Method::PUT, &dep, Some(body(vec![identity("x")])))
        .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["error"]["code"], "DeploymentActive");

    em.advance_clock(5).await;
    let (_, b) = em.arm(&owner, Method::GET, &dep, None).await;
    assert_eq!(b["properties"]["provisioningState"], "Succeeded", "{b}");
    let (_, ops) = em.arm(&owner, Method::GET, &ops_url, None).await;
    assert_eq!(
        state_of(&ops, "after").as_deref(),
        Some("Succeeded"),
        "{ops}"
    );
    assert_eq!(ops["value"].as_array().unwrap().len(), 6, "{ops}");

    // Deleting the deployment forgets the history, not the resources.
    let (s, _) = em.arm(&owner, Method::DELETE, &dep, None).await;
    assert_eq!(s, 202);
    let (s, b) = em.arm(&owner, Method::GET, &dep, None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("DeploymentNotFound"))
    );
    let (s, _) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/after?api-version=2023-01-31"),
            None,
        )
        .await;
    assert_eq!(s, 200);
}

/// `az deployment sub create`: a subscription-scope template creates a
/// resource group and deploys a nested template (Bicep's module shape) into
/// it; the outer outputs read the nested deployment's outputs.
#[tokio::test]
async fn subscription_deployment_with_a_nested_module() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    let file = template("subscription-group-and-module");
    let out = az
        .json(&[
            "deployment",
            "sub",
            "create",
            "--location",
            "westeurope",
            "-n",
            "platform",
            "--template-file",
            &file.to_string_lossy(),
            "--parameters",
            "rgName=platform-rg",
            "count=3",
        ])
        .await;
    assert_eq!(out["properties"]["provisioningState"], "Succeeded", "{out}");
    assert_eq!(
        out["properties"]["outputs"]["names"]["value"],
        json!(["id-0", "id-1", "id-2"])
    );
    let group = az.json(&["group", "show", "-n", "platform-rg"]).await;
    assert_eq!(group["location"], "westeurope");
    assert_eq!(group["tags"]["createdBy"], "platform");
    let first = az
        .json(&["identity", "show", "-g", "platform-rg", "-n", "id-0"])
        .await;
    assert_eq!(
        out["properties"]["outputs"]["firstPrincipalId"]["value"],
        first["principalId"]
    );
    let nested = az
        .json(&[
            "deployment",
            "group",
            "show",
            "-g",
            "platform-rg",
            "-n",
            "identities",
        ])
        .await;
    assert_eq!(nested["properties"]["provisioningState"], "Succeeded");
    let listed = az.json(&["deployment", "sub", "list"]).await;
    assert_eq!(listed[0]["name"], "platform", "{listed}");
}

/// The language end to end: a secure parameter and output stay hidden, a
/// property copy loop builds an array, `listCredentials()` POSTs to the
/// registry it names (and so waits for it), and exportTemplate gives the template back.
#[tokio::test]
async fn template_language_through_the_providers() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    put_group(&em, &owner).await;
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "secret": {"type": "securestring"},
            "allowed": {"type": "array", "defaultValue": ["20.1.1.1", "20.2.2.2"]}
        },
        "variables": {"name": "[concat('lang', uniqueString(resourceGroup().id))]"},
        "resources": [{
            "type": "Microsoft.ContainerRegistry/registries",
            "apiVersion": "2023-07-01",
            "name": "[variables('name')]",
            "location": "[resourceGroup().location]",
            "sku": {"name": "Premium"},
            "properties": {
                "adminUserEnabled": true,
                "networkRuleSet": {
                    "defaultAction": "Deny",
                    "copy": [{
                        "name": "ipRules",
                        "count": "[length(parameters('allowed'))]",
                        "input": {"action": "Allow", "value": "[parameters('allowed')[copyIndex('ipRules')]]"}
                    }]
                }
            }
        }],
        "outputs": {
            "user": {"type": "string", "value": "[listCredentials(resourceId('Microsoft.ContainerRegistry/registries', variables('name')), '2023-07-01').username]"},
            "echo": {"type": "securestring", "value": "[parameters('secret')]"},
            "name": {"type": "string", "value": "[variables('name')]"}
        }
    });
    let dep = format!("{RG}/providers/Microsoft.Resources/deployments/lang?{API}");
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &dep,
            Some(json!({"properties": {"mode": "Incremental", "template": template, "parameters": {"secret": {"value": "hunter2"}}}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        b["properties"]["parameters"]["secret"],
        json!({"type": "SecureString"})
    );
    let (_, b) = em.arm(&owner, Method::GET, &dep, None).await;
    let props = &b["properties"];
    assert_eq!(props["provisioningState"], "Succeeded", "{b}");
    assert!(!b.to_string().contains("hunter2"), "{b}");
    assert_eq!(props["outputs"]["echo"], json!({"type": "SecureString"}));
    let name = props["outputs"]["name"]["value"].as_str().unwrap();
    // uniqueString(resourceGroup().id), as Azure computes it.
    assert_eq!(name.len(), "lang".len() + 13);
    assert_eq!(
        props["outputs"]["user"]["value"], name,
        "the admin user is the registry's name"
    );
    let (_, reg) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/providers/Microsoft.ContainerRegistry/registries/{name}?api-version=2023-07-01"),
            None,
        )
        .await;
    assert_eq!(
        reg["properties"]["networkRuleSet"]["ipRules"],
        json!([{"action": "Allow", "value": "20.1.1.1"}, {"action": "Allow", "value": "20.2.2.2"}]),
        "{reg}"
    );
    let (s, t) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{RG}/providers/Microsoft.Resources/deployments/lang/exportTemplate?{API}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(t["template"], template);
}

/// Complete mode deletes what the template does not name (what-if says so
/// first); Incremental leaves it alone (what-if: Ignore). A running deployment
/// can be canceled once.
#[tokio::test]
async fn complete_mode_and_cancel() {
    let em = Emulator::start_with(&["--sim-mode", "explicit"]);
    let owner = em.arm_token().await;
    put_group(&em, &owner).await;
    for n in ["keep", "stray"] {
        let (s, _) = em
            .arm(
                &owner,
                Method::PUT,
                &format!("{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{n}?api-version=2023-01-31"),
                Some(json!({"location": "eastus"})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let what_if = |mode: &'static str| {
        let em = &em;
        let owner = owner.clone();
        async move {
            let mut b = body(vec![identity("keep")]);
            b["properties"]["mode"] = json!(mode);
            let (s, r) = em
                .arm(
                    &owner,
                    Method::POST,
                    &format!("{RG}/providers/Microsoft.Resources/deployments/c/whatIf?{API}"),
                    Some(b),
                )
                .await;
            assert_eq!(s, 200, "{r}");
            r["properties"]["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        c["changeType"].as_str().unwrap(),
                        c["resourceId"]
                            .as_str()
                            .unwrap()
                            .rsplit('/')
                            .next()
                            .unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        what_if("Incremental").await,
        vec!["NoChange keep", "Ignore stray"]
    );
    assert_eq!(
        what_if("Complete").await,
        vec!["NoChange keep", "Delete stray"]
    );

    let dep = format!("{RG}/providers/Microsoft.Resources/deployments/c?{API}");
    let mut b = body(vec![identity("keep")]);
    b["properties"]["mode"] = json!("Complete");
    let (s, _) = em.arm(&owner, Method::PUT, &dep, Some(b)).await;
    assert_eq!(s, 201);
    em.step().await;
    let (_, d) = em.arm(&owner, Method::GET, &dep, None).await;
    assert_eq!(d["properties"]["provisioningState"], "Succeeded", "{d}");
    let (s, _) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/stray?api-version=2023-01-31"),
            None,
        )
        .await;
    assert_eq!(s, 404, "Complete mode deleted it");
    let (_, ops) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/deployments/c/operations?{API}"),
            None,
        )
        .await;
    assert!(
        ops["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["properties"]["provisioningOperation"] == "Delete"
                && o["properties"]["targetResource"]["resourceName"] == "stray"),
        "{ops}"
    );

    // Cancel: in explicit mode the deployment waits for a step, so it is still running.
    let run = format!("{RG}/providers/Microsoft.Resources/deployments/slow?{API}");
    let (s, _) = em
        .arm(
            &owner,
            Method::PUT,
            &run,
            Some(body(vec![registry("cancelreg01"), {
                let mut i = identity("later");
                i["dependsOn"] = json!(["cancelreg01"]);
                i
            }])),
        )
        .await;
    assert_eq!(s, 201);
    let cancel = format!("{RG}/providers/Microsoft.Resources/deployments/slow/cancel?{API}");
    let (s, _) = em.arm(&owner, Method::POST, &cancel, None).await;
    assert_eq!(s, 204);
    let (_, d) = em.arm(&owner, Method::GET, &run, None).await;
    assert_eq!(d["properties"]["provisioningState"], "Canceled", "{d}");
    let (s, e) = em.arm(&owner, Method::POST, &cancel, None).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("DeploymentCannotBeCancelled"))
    );
    em.step().await;
    let (s, _) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/later?api-version=2023-01-31"),
            None,
        )
        .await;
    assert_eq!(s, 404, "nothing starts after a cancel");
}

/// In explicit simulation mode a deployment waits for `/_emulator/step` like
/// any long-running operation; deleting its resource group under it fails the
/// operation its client polls.
#[tokio::test]
async fn deployment_waits_for_step_and_dies_with_its_group() {
    let em = Emulator::start_with(&["--sim-mode", "explicit"]);
    let owner = em.arm_token().await;
    put_group(&em, &owner).await;
    let url = format!(
        "{}{RG}/providers/Microsoft.Resources/deployments/w?{API}",
        em.base()
    );
    let r = em
        .http()
        .put(&url)
        .bearer_auth(&owner)
        .json(&body(vec![identity("w1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let poll = r
        .headers()
        .get("azure-asyncoperation")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let status = || async {
        let v: Value = em
            .http()
            .get(&poll)
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v
    };
    assert_eq!(status().await["status"], "InProgress");
    let (_, d) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/providers/Microsoft.Resources/deployments/w?{API}"),
            None,
        )
        .await;
    assert_eq!(
        d["properties"]["provisioningState"], "Accepted",
        "nothing moves without a step"
    );
    let (s, _) = em
        .arm(&owner, Method::DELETE, &format!("{RG}?{API}"), None)
        .await;
    assert_eq!(s, 202);
    // The group's deletion and the deployment are both pending; one step settles both.
    em.step().await;
    let st = status().await;
    assert_eq!(st["status"], "Failed", "{st}");
    assert_eq!(st["error"]["code"], "ResourceGroupNotFound", "{st}");
}

async fn get(em: &Emulator, token: &str, path: &str) -> (u16, Value) {
    em.arm(token, Method::GET, &format!("{path}?{API}"), None)
        .await
}

/// Deployments through the spec layer at both scopes: `validate` answers
/// ARM's zero time; HEAD is
/// `Deployments_CheckExistence` (204 with no body, 404 for none); a
/// deployment's operations read the same under `{RG}/deployments/…` (the
/// spec's spelling) and `{RG}/providers/Microsoft.Resources/deployments/…`,
/// each by its id; an operation or a deployment that is not there is ARM's
/// `DeploymentOperationNotFound` / `DeploymentNotFound`; and the group's
/// deletion takes its deployments with it.
#[tokio::test]
async fn deployments_at_both_scopes_through_the_spec_layer() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    put_group(&em, &owner).await;
    let sub = format!("/subscriptions/{SUBSCRIPTION}");
    let sub_body = json!({"location": "eastus", "properties": {"mode": "Incremental", "template": {
        "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01", "name": "rg-sub", "location": "eastus"}]
    }}});
    for (scope, body) in [
        (RG.to_string(), body(vec![identity("both1")])),
        (sub.clone(), sub_body),
    ] {
        let deps = format!("{scope}/providers/Microsoft.Resources/deployments");
        // Validation runs nothing: ARM's zero time (azure-cli's recordings).
        let (s, v) = em
            .arm(
                &owner,
                Method::POST,
                &format!("{deps}/v/validate?{API}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["properties"]["provisioningState"], "Succeeded");
        assert_eq!(v["properties"]["timestamp"], "0001-01-01T00:00:00Z");
        assert_eq!(v["properties"]["duration"], "PT0S");
        let (s, b) = em
            .arm(&owner, Method::PUT, &format!("{deps}/d?{API}"), Some(body))
            .await;
        assert_eq!(s, 201, "{b}");
        em.advance_clock(60).await;

        let r = em
            .arm_response(&owner, Method::HEAD, &format!("{deps}/d?{API}"), None)
            .await;
        assert_eq!(r.status(), 204);
        assert_eq!(r.text().await.unwrap(), "");
        let r = em
            .arm_response(&owner, Method::HEAD, &format!("{deps}/none?{API}"), None)
            .await;
        assert_eq!(r.status(), 404);

        let (s, d) = get(&em, &owner, &format!("{deps}/d")).await;
        assert_eq!(s, 200);
        assert_eq!(d["properties"]["provisioningState"], "Succeeded", "{d}");

        let spellings = if scope == RG {
            vec![
                format!("{RG}/deployments/d/operations"),
                format!("{deps}/d/operations"),
            ]
        } else {
            vec![format!("{deps}/d/operations")]
        };
        for ops in &spellings {
            let (s, list) = get(&em, &owner, ops).await;
            assert_eq!(s, 200, "{list}");
            let first = list["value"][0].clone();
            assert_eq!(
                first["properties"]["provisioningState"], "Succeeded",
                "{list}"
            );
            let id = first["operationId"].as_str().unwrap();
            assert_eq!(first["id"], format!("{deps}/d/operations/{id}"));
            let (s, one) = get(&em, &owner, &format!("{ops}/{id}")).await;
            assert_eq!((s, &one), (200, &first));
            let (s, e) = get(&em, &owner, &format!("{ops}/0858NONE")).await;
            assert_eq!(
                (s, e),
                (
                    404,
                    json!({"error": {"code": "DeploymentOperationNotFound", "message": "Deployment operation '0858NONE' could not be found."}})
                )
            );
        }
        let (s, e) = get(&em, &owner, &format!("{deps}/none/operations")).await;
        assert_eq!(
            (s, e),
            (
                404,
                json!({"error": {"code": "DeploymentNotFound", "message": "Deployment 'none' could not be found."}})
            )
        );
    }

    // The group goes, and its deployments with it: a group of the same name
    // starts with none.
    let (s, _) = em
        .arm(&owner, Method::DELETE, &format!("{RG}?{API}"), None)
        .await;
    assert_eq!(s, 202);
    em.advance_clock(60).await;
    put_group(&em, &owner).await;
    let (s, list) = get(
        &em,
        &owner,
        &format!("{RG}/providers/Microsoft.Resources/deployments"),
    )
    .await;
    assert_eq!((s, list), (200, json!({"value": []})));
    let (s, list) = get(
        &em,
        &owner,
        &format!("{sub}/providers/Microsoft.Resources/deployments"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");
}
