//! The typed client's seed flow against the emulator: "Deploy to Azure
//! Container Instances from Azure Container Registry using a managed
//! identity", step by step through azemu-client — the image pushed through
//! ACR's token exchange with an Entra token, the group pulling with its
//! user-assigned identity — failing with ACI's InaccessibleImage without the
//! role assignment, Running with it.

use crate::harness::Emulator;
use azemu_client::Error;
use azemu_client::flows::AciWithIdentity;

#[tokio::test]
async fn seed_flow_through_the_client_fails_without_acrpull_and_runs_with_it() {
    let em = Emulator::start();
    let client = em.client();
    let layout =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world");

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
    let layout =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world");
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
