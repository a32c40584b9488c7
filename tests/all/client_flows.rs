//! The typed client's seed flow against the emulator: "Deploy to Azure
//! Container Instances from Azure Container Registry using a managed
//! identity", step by step through azemu-client — the image pushed through
//! ACR's token exchange with an Entra token, the group pulling with its
//! user-assigned identity — failing with ACI's InaccessibleImage without the
//! role assignment, Running with it.

use crate::harness::Emulator;
use std::path::PathBuf;

/// The sample image as an OCI layout.
fn layout() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world")
}
use azemu_client::Error;
use azemu_client::flows::AciWithIdentity;

#[tokio::test]
async fn seed_flow_through_the_client_fails_without_acrpull_and_runs_with_it() {
    let em = Emulator::start();
    let client = em.client();
    let layout = layout();

    let mut spec = AciWithIdentity::seed("clientflow01", &layout);
    spec.grant_acr_pull = false;
    let report = client
        .deploy_container_group_with_managed_identity(&spec, em.proxied())
        .await;
    let names: Vec<&str> = report.steps.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "group create",
            "acr create",
            "image push",
            "identity create",
            "container create"
        ],
        "{report:?}"
    );
    let (step, err) = report.failure().expect("the pull fails");
    assert_eq!(step, "container create");
    match err {
        Error::Arm {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!((*status, code.as_str()), (400, "InaccessibleImage"));
            assert_eq!(
                message,
                "The image 'clientflow01.azurecr.io/hello-world:v1' in container group 'my-containergroup' is not accessible. Please check the image and registry credential."
            );
        }
        e => panic!("expected ACI's error, got {e}"),
    }
    assert!(
        report.value("image push").unwrap()["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    // The same flow with the seed's `az role assignment create --role acrpull`.
    let spec = AciWithIdentity::seed("clientflow01", &layout);
    let report = client
        .deploy_container_group_with_managed_identity(&spec, em.proxied())
        .await;
    assert!(report.failure().is_none(), "{report:?}");
    let group = report.value("container create").unwrap();
    assert_eq!(
        group["properties"]["provisioningState"], "Succeeded",
        "{group}"
    );
    assert_eq!(
        group["properties"]["instanceView"]["state"], "Running",
        "{group}"
    );
    let assignment = report.value("role assignment create").unwrap();
    assert!(
        assignment["properties"]["roleDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with(azemu_client::flows::ACR_PULL)
    );
}

/// The same client code against real Azure's URL shapes — ARM at
/// `https://management.azure.com`, tokens from `https://login.microsoftonline.com`
/// — reached through azemu's transparent mode (its CONNECT proxy).
#[tokio::test]
async fn the_client_speaks_to_azures_real_hosts_through_transparent_mode() {
    let em = Emulator::start();
    let client = azemu_client::Client::builder("https://management.azure.com")
        .authority_host("https://login.microsoftonline.com")
        .proxy(&format!("http://localhost:{}", em.port))
        .unwrap()
        .ca_pem(&em.ca_pem())
        .unwrap()
        .well_known_credentials()
        .poll_interval(std::time::Duration::ZERO)
        .build()
        .unwrap();
    let layout = layout();
    let spec = AciWithIdentity::seed("clientflow02", &layout);
    let report = client
        .deploy_container_group_with_managed_identity(&spec, em.proxied())
        .await;
    assert!(report.failure().is_none(), "{report:?}");
    let group = report.value("container create").unwrap();
    assert!(
        group["id"].as_str().unwrap().starts_with(
            "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/myResourceGroup/"
        ),
        "{group}"
    );
    let groups = client.list_resource_groups().await.unwrap();
    assert!(groups.iter().any(|g| g.name == "myResourceGroup"));
    client
        .delete_resource_group("myResourceGroup")
        .await
        .unwrap();
    assert!(
        client
            .get_resource_group("myResourceGroup")
            .await
            .unwrap()
            .is_none()
    );
}

/// Code inside the container group: the client with the group's
/// `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` acts as its user-assigned identity —
/// refused an ARM read until the identity holds Reader, then allowed; IMDS
/// style too, and a static token.
#[tokio::test]
async fn managed_identity_credentials_act_as_the_identity() {
    use azemu_client::Credential;
    let em = Emulator::start();
    let owner = em.client();
    let layout = layout();
    let spec = AciWithIdentity::seed("clientflow03", &layout);
    let report = owner
        .deploy_container_group_with_managed_identity(&spec, em.proxied())
        .await;
    let group_id = report.value("container create").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let identity = report.value("identity create").unwrap().clone();
    let client_id = identity["properties"]["clientId"].as_str().unwrap();
    let principal = identity["properties"]["principalId"].as_str().unwrap();
    let env = em
        .control_json(&format!(
            "/_emulator/identity-endpoint?resourceId={group_id}"
        ))
        .await;
    let inside = |credential: Credential| {
        azemu_client::Client::builder(&em.base())
            .ca_pem(&em.ca_pem())
            .unwrap()
            .credential(credential)
            .build()
            .unwrap()
    };
    let from_group = inside(Credential::IdentityEndpoint {
        endpoint: env["IDENTITY_ENDPOINT"].as_str().unwrap().into(),
        header: env["IDENTITY_HEADER"].as_str().unwrap().into(),
        client_id: Some(client_id.into()),
    });
    let err = from_group
        .get_resource(&group_id, "2023-05-01")
        .await
        .unwrap_err();
    assert_eq!(err.arm_code(), Some("AuthorizationFailed"), "{err}");
    assert!(
        err.to_string().contains(principal),
        "the identity is named: {err}"
    );

    // Reader on the group (Azure's built-in role id), then the same read succeeds.
    let reader = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    let sub = format!("/subscriptions/{}", owner.subscription_id());
    owner
        .put_resource(
            &format!("{group_id}/providers/Microsoft.Authorization/roleAssignments/0b9f0bf7-6f0f-4a47-9c4e-6f5f3b1c2d01"),
            "2022-04-01",
            &serde_json::json!({"properties": {
                "roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{reader}"),
                "principalId": principal, "principalType": "ServicePrincipal"}}),
        )
        .await
        .unwrap();
    let g = from_group
        .get_resource(&group_id, "2023-05-01")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g["properties"]["instanceView"]["state"], "Running");

    // IMDS style, and a token the caller already holds.
    let imds = inside(Credential::Imds {
        host: em.base(),
        client_id: Some(client_id.into()),
    });
    let token = imds.token(azemu_client::ARM_SCOPE).await.unwrap();
    assert!(token.expires_in > 0);
    let fixed = inside(Credential::StaticToken(token.access_token));
    assert!(
        fixed
            .get_resource(&group_id, "2023-05-01")
            .await
            .unwrap()
            .is_some()
    );
}

/// The second seed document through the client: a task with its system-
/// assigned identity and the seed's Docker step runs and logs in to the other
/// registry; a task that runs an image from that registry is refused the pull
/// without AcrPull (the run fails, the log says why) and runs it with AcrPull,
/// with a system-assigned identity and with a user-assigned one named by its
/// client id.
#[tokio::test]
async fn task_flow_through_the_client_with_both_kinds_of_identity() {
    use azemu_client::flows::{TaskIdentity, TaskStep, TaskWithIdentity};
    let em = Emulator::start();
    let client = em.client();
    let layout = layout();
    let from_target = TaskStep::RunFromTarget {
        image_layout: &layout,
        repository: "baseimages/hello-world",
        tag: "v1",
    };

    let spec = TaskWithIdentity::seed("taskflow01", "taskflowtarget01");
    let report = client.run_task_with_identity(&spec, em.proxied()).await;
    assert!(report.failure().is_none(), "{report:?}");
    let run = report.value("task run").unwrap();
    assert_eq!(run["properties"]["status"], "Succeeded", "{run}");
    let log = report.value("run log").unwrap()["log"].as_str().unwrap();
    assert!(
        log.contains("Successfully logged into taskflowtarget01.azurecr.io"),
        "{log}"
    );
    assert_eq!(
        report.value("task create").unwrap()["identity"]["type"],
        "SystemAssigned"
    );

    let mut spec = TaskWithIdentity::seed("taskflow02", "taskflowtarget02");
    spec.step = from_target.clone();
    spec.grant_acr_pull = false;
    let report = client.run_task_with_identity(&spec, em.proxied()).await;
    let run = report
        .value("task run")
        .unwrap_or_else(|| panic!("{report:?}"));
    assert_eq!(run["properties"]["status"], "Failed", "{run}");
    let log = report.value("run log").unwrap()["log"].as_str().unwrap();
    assert!(
        log.contains("Head \"https://taskflowtarget02.azurecr.io/v2/baseimages/hello-world/manifests/v1\": unauthorized: authentication required"),
        "{log}"
    );

    let mut spec = TaskWithIdentity::seed("taskflow03", "taskflowtarget03");
    spec.step = from_target.clone();
    succeeded(client.run_task_with_identity(&spec, em.proxied()).await);

    let mut spec = TaskWithIdentity::seed("taskflow04", "taskflowtarget04");
    spec.step = from_target;
    spec.identity = TaskIdentity::User("myUserAssignedIdentity");
    let report = succeeded(client.run_task_with_identity(&spec, em.proxied()).await);
    let creds = &report.value("task credential add").unwrap()["properties"]["credentials"];
    let client_id = report.value("identity create").unwrap()["properties"]["clientId"].clone();
    assert_eq!(
        creds["customRegistries"]["taskflowtarget04.azurecr.io"]["identity"], client_id,
        "{creds}"
    );
}

/// A flow that ended with its run Succeeded.
fn succeeded(report: azemu_client::flows::FlowReport) -> azemu_client::flows::FlowReport {
    assert!(report.failure().is_none(), "{report:?}");
    let status = &report.value("task run").unwrap()["properties"]["status"];
    assert_eq!(status, "Succeeded", "{report:?}");
    report
}

/// Pull an image into an OCI layout with the client: every blob streamed to a
/// file and checked against its digest — the pulled layout holds the same
/// bytes as the one pushed; a registry answering a blob with other bytes (a
/// fault rule) is an error and leaves no file behind.
#[tokio::test]
async fn pull_to_an_oci_layout_verifies_every_blob() {
    use azemu_client::oci::{RegistryAuth, RegistryClient};
    let em = Emulator::start();
    let client = em.client();
    let rg = format!(
        "/subscriptions/{}/resourceGroups/pulls",
        client.subscription_id()
    );
    client
        .put_resource(
            &rg,
            "2024-07-01",
            &serde_json::json!({"location": "eastus"}),
        )
        .await
        .unwrap();
    let reg_id = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/clientflow05");
    let body = serde_json::json!({"location": "eastus", "sku": {"name": "Standard"}});
    client
        .put_resource(&reg_id, "2023-07-01", &body)
        .await
        .unwrap();
    let registry = RegistryClient::new(
        em.proxied(),
        "clientflow05.azurecr.io",
        RegistryAuth::Entra {
            access_token: em.arm_token().await,
            tenant: crate::harness::TENANT.into(),
        },
    );
    let pushed = registry
        .push_oci_layout(&layout(), "hello-world", "v1")
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let pulled = registry
        .pull_oci_layout("hello-world", "v1", dir.path())
        .await
        .unwrap();
    assert_eq!(pulled, pushed);
    for entry in std::fs::read_dir(layout().join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let mine = dir.path().join("blobs/sha256").join(entry.file_name());
        assert_eq!(
            std::fs::read(&mine).unwrap(),
            std::fs::read(entry.path()).unwrap()
        );
    }
    // The pulled layout is a layout: it pushes again, to the same digest.
    let again = registry
        .push_oci_layout(dir.path(), "copy/hello-world", "v1")
        .await
        .unwrap();
    assert_eq!(again, pushed);

    // Bytes that are not the blob.
    let rule = serde_json::json!({"host": "clientflow05.azurecr.io", "method": "GET",
        "path": "/v2/hello-world/blobs/", "status": 200, "body": "not the blob you asked for"});
    let r = em
        .http()
        .post(format!("{}/_emulator/faults", em.base()))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let bad = tempfile::tempdir().unwrap();
    let err = registry
        .pull_oci_layout("hello-world", "v1", bad.path())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
    let left = std::fs::read_dir(bad.path().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(left, 0, "no half-verified blob is left");
}

/// The typed views read what the emulator returns for each resource type the
/// flows and networking create.
#[tokio::test]
async fn typed_views_of_the_emulated_resource_types() {
    use azemu_client::flows::TaskWithIdentity;
    use azemu_client::resources::*;
    use serde_json::json;
    let em = Emulator::start();
    let client = em.client();
    let layout = layout();
    let report = client
        .deploy_container_group_with_managed_identity(
            &AciWithIdentity::seed("typedreg01", &layout),
            em.proxied(),
        )
        .await;
    assert!(report.failure().is_none(), "{report:?}");
    let id_of = |step: &str| {
        report.value(step).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let identity: Identity = client
        .get_typed(&id_of("identity create"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.properties.principal_id.len(), 36);
    let registry: Registry = client
        .get_typed(&id_of("acr create"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(registry.properties.login_server, "typedreg01.azurecr.io");
    assert_eq!(registry.sku.as_ref().unwrap()["name"], "Premium");
    let assignment: RoleAssignment = client
        .get_typed(&id_of("role assignment create"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        assignment.properties.principal_id,
        identity.properties.principal_id
    );
    assert!(
        assignment
            .properties
            .role_definition_id
            .ends_with(azemu_client::flows::ACR_PULL)
    );
    let definition: RoleDefinition = client
        .get_typed(&assignment.properties.role_definition_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(definition.properties.role_name, "AcrPull");
    let group: ContainerGroup = client
        .get_typed(&id_of("container create"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.properties.os_type, "Linux");
    assert_eq!(
        group
            .properties
            .instance_view
            .as_ref()
            .unwrap()
            .state
            .as_deref(),
        Some("Running")
    );
    let container = &group.properties.containers[0];
    assert_eq!(
        container.properties.image,
        "typedreg01.azurecr.io/hello-world:v1"
    );
    assert!(
        !container
            .properties
            .instance_view
            .as_ref()
            .unwrap()
            .events
            .is_empty()
    );
    let rg = id_of("group create");
    let groups: Vec<ContainerGroup> = client
        .list_typed(&format!(
            "{rg}/providers/Microsoft.ContainerInstance/containerGroups"
        ))
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);

    let report = client
        .run_task_with_identity(
            &TaskWithIdentity::seed("typedreg02", "typedreg03"),
            em.proxied(),
        )
        .await;
    assert!(report.failure().is_none(), "{report:?}");
    let task: Task = client
        .get_typed(report.value("task create").unwrap()["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.properties.status, "Enabled");
    assert!(task.properties.credentials.is_some());
    let runs: Vec<Run> = client
        .list_typed(&format!(
            "{rg}/providers/Microsoft.ContainerRegistry/registries/typedreg02/runs"
        ))
        .await
        .unwrap();
    assert_eq!(
        (
            runs[0].properties.run_id.as_str(),
            runs[0].properties.status.as_str()
        ),
        ("ca1", "Succeeded")
    );

    // Networking: a VNet with a subnet, a private endpoint to the Premium registry, a private DNS zone.
    let vnet_id = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1");
    let vnet: VirtualNetwork = client
        .put_typed(
            &vnet_id,
            &json!({"location": "eastus", "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "s1", "properties": {"addressPrefix": "10.0.0.0/24"}}]}}),
        )
        .await
        .unwrap();
    assert_eq!(vnet.properties.subnets.len(), 1);
    let subnet: Subnet = client
        .get_typed(&format!("{vnet_id}/subnets/s1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        subnet.properties.address_prefix.as_deref(),
        Some("10.0.0.0/24")
    );
    let pe: PrivateEndpoint = client
        .put_typed(&format!("{rg}/providers/Microsoft.Network/privateEndpoints/pe1"), &json!({
            "location": "eastus", "properties": {"subnet": {"id": format!("{vnet_id}/subnets/s1")},
            "privateLinkServiceConnections": [{"name": "c1", "properties": {"privateLinkServiceId": registry.id, "groupIds": ["registry"]}}]}}))
        .await
        .unwrap();
    assert!(!pe.properties.custom_dns_configs.is_empty(), "{pe:?}");
    let zone: PrivateDnsZone = client
        .put_typed(
            &format!("{rg}/providers/Microsoft.Network/privateDnsZones/privatelink.azurecr.io"),
            &json!({"location": "global"}),
        )
        .await
        .unwrap();
    assert_eq!(zone.name, "privatelink.azurecr.io");
    let registry: Registry = client.get_typed(&registry.id).await.unwrap().unwrap();
    assert_eq!(registry.properties.private_endpoint_connections.len(), 1);

    // A template deployment and its outputs.
    let deployment: Deployment = client
        .put_typed(&format!("{rg}/providers/Microsoft.Resources/deployments/d1"), &json!({"properties": {
            "mode": "Incremental",
            "template": {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0", "resources": [],
                "outputs": {"greeting": {"type": "string", "value": "[concat('hello ', 'world')]"}}}}}))
        .await
        .unwrap();
    assert_eq!(deployment.properties.provisioning_state, "Succeeded");
    assert_eq!(
        deployment.properties.outputs.unwrap()["greeting"]["value"],
        "hello world"
    );
}
