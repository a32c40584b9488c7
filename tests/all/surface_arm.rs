//! What the spec table gives every provider: api-versions known per type
//! (the providers API, `az resource show --ids` without `--api-version`,
//! `--strict-api-versions` with ARM's text), operations lists, and the
//! generic resource commands over every emulated type.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn strict_api_versions_for_every_provider() {
    let em = Emulator::start_with(&["--strict-api-versions"]);
    let token = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/strict");
    let (s, _) = em
        .arm(
            &token,
            Method::PUT,
            &format!("{rg}?api-version=2024-07-01"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(s, 201);
    // (collection under the group, a version the specs define, the type as ARM names it)
    let cases = [
        ("Microsoft.ContainerRegistry/registries", "2023-07-01"),
        ("Microsoft.ContainerInstance/containerGroups", "2023-05-01"),
        (
            "Microsoft.ManagedIdentity/userAssignedIdentities",
            "2023-01-31",
        ),
        ("Microsoft.Network/virtualNetworks", "2024-03-01"),
        ("Microsoft.Network/networkSecurityGroups", "2024-03-01"),
        ("Microsoft.Network/privateDnsZones", "2024-06-01"),
        ("Microsoft.Authorization/roleAssignments", "2022-04-01"),
    ];
    for (ty, good) in cases {
        let (ns, short) = ty.split_once('/').unwrap();
        let path = format!("{rg}/providers/{ty}");
        let (s, body) = em
            .arm(
                &token,
                Method::GET,
                &format!("{path}?api-version={good}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{ty} {good}: {body}");
        let (s, body) = em
            .arm(
                &token,
                Method::GET,
                &format!("{path}?api-version=2099-01-01"),
                None,
            )
            .await;
        assert_eq!(s, 400, "{ty}: {body}");
        assert_eq!(body["error"]["code"], "InvalidResourceType", "{ty}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        let prefix = format!(
            "The resource type '{short}' could not be found in the namespace '{ns}' for api version '2099-01-01'. The supported api-versions are '"
        );
        assert!(message.starts_with(&prefix), "{ty}: {message}");
        assert!(message.contains(good), "{ty}: {message}");
    }
    // Microsoft.Resources keeps its own words.
    let (s, body) = em
        .arm(
            &token,
            Method::GET,
            &format!("{rg}?api-version=2099-01-01"),
            None,
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("InvalidApiVersionParameter"))
    );
}

#[tokio::test]
async fn providers_list_every_type_with_its_versions() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    let acr = az
        .json(&["provider", "show", "-n", "Microsoft.ContainerRegistry"])
        .await;
    let versions = |p: &Value, t: &str| -> Vec<String> {
        p["resourceTypes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resourceType"].as_str().unwrap().eq_ignore_ascii_case(t))
            .unwrap_or_else(|| panic!("{t} not listed: {p}"))["apiVersions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(versions(&acr, "registries").contains(&"2023-07-01".to_string()));
    assert!(versions(&acr, "registries/replications").contains(&"2023-07-01".to_string()));
    assert!(versions(&acr, "registries/webhooks").contains(&"2023-07-01".to_string()));
    let net = az
        .json(&["provider", "show", "-n", "Microsoft.Network"])
        .await;
    assert!(versions(&net, "networkSecurityGroups").contains(&"2024-03-01".to_string()));
    assert!(versions(&net, "privateDnsZones").contains(&"2024-06-01".to_string()));
    // Newest first, as ARM lists them.
    let rg_versions = versions(
        &az.json(&["provider", "show", "-n", "Microsoft.Resources"])
            .await,
        "resourceGroups",
    );
    let mut sorted = rg_versions.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(rg_versions, sorted);

    // Tenant scope, and each namespace's operations.
    let token = em.arm_token().await;
    let (s, body) = em
        .arm(
            &token,
            Method::GET,
            "/providers/Microsoft.Network?api-version=2024-07-01",
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["namespace"], "Microsoft.Network");
    assert!(body.get("registrationState").is_none());
    let (s, body) = em
        .arm(
            &token,
            Method::GET,
            "/providers/Microsoft.Network/operations?api-version=2024-03-01",
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let names: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for want in [
        "Microsoft.Network/networkSecurityGroups/write",
        "Microsoft.Network/networkSecurityGroups/securityRules/delete",
        "Microsoft.Network/virtualNetworks/CheckIPAddressAvailability/action",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
}

#[tokio::test]
async fn resource_commands_work_by_id_for_every_type() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "ids", "-l", "eastus", "-o", "none"])
        .await;
    let mut ids: Vec<String> = Vec::new();
    let id_of = |v: &Value| v["id"].as_str().unwrap().to_string();
    ids.push(id_of(
        &az.json(&["identity", "create", "-g", "ids", "-n", "id1"])
            .await,
    ));
    az.acr_create("ids", "idsreg0001", "Basic").await;
    ids.push(id_of(&az.json(&["acr", "show", "-n", "idsreg0001"]).await));
    let vnet = az
        .json(&[
            "network",
            "vnet",
            "create",
            "-g",
            "ids",
            "-n",
            "v1",
            "--address-prefix",
            "10.1.0.0/16",
            "--subnet-name",
            "s1",
            "--subnet-prefix",
            "10.1.0.0/24",
        ])
        .await;
    ids.push(id_of(&vnet["newVNet"]));
    ids.push(id_of(&vnet["newVNet"]["subnets"][0]));
    ids.push(id_of(
        &az.json(&["network", "nsg", "create", "-g", "ids", "-n", "nsg1"])
            .await["NewNSG"],
    ));
    ids.push(id_of(
        &az.json(&["network", "route-table", "create", "-g", "ids", "-n", "rt1"])
            .await,
    ));
    ids.push(id_of(
        &az.json(&[
            "network",
            "public-ip",
            "create",
            "-g",
            "ids",
            "-n",
            "ip1",
            "--sku",
            "Standard",
        ])
        .await["publicIp"],
    ));
    ids.push(id_of(
        &az.json(&[
            "network",
            "private-dns",
            "zone",
            "create",
            "-g",
            "ids",
            "-n",
            "example.internal",
        ])
        .await,
    ));
    for id in &ids {
        let shown = az.json(&["resource", "show", "--ids", id]).await;
        assert!(
            shown["id"].as_str().unwrap().eq_ignore_ascii_case(id),
            "{id}: {shown}"
        );
        if id.contains("/subnets/") {
            continue; // Subnets have no tags.
        }
        let updated = az
            .json(&["resource", "update", "--ids", id, "--set", "tags.env=test"])
            .await;
        assert_eq!(updated["tags"]["env"], "test", "{id}: {updated}");
        let shown = az.json(&["resource", "show", "--ids", id]).await;
        assert_eq!(shown["tags"]["env"], "test", "{id}: {shown}");
    }
}

/// The control-plane resources deployments sit beside, with az: a storage
/// account and its keys, a Log Analytics workspace and its shared keys, a
/// key vault.
#[tokio::test]
async fn storage_accounts_workspaces_and_vaults_control_plane_only() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&[
        "group", "create", "-n", "beside", "-l", "eastus", "-o", "none",
    ])
    .await;
    let account = az
        .json(&[
            "storage",
            "account",
            "create",
            "-g",
            "beside",
            "-n",
            "azemust0001",
            "-l",
            "eastus",
            "--sku",
            "Standard_LRS",
        ])
        .await;
    assert_eq!(account["provisioningState"], "Succeeded", "{account}");
    assert_eq!(
        account["primaryEndpoints"]["file"],
        "https://azemust0001.file.core.windows.net/"
    );
    assert_eq!(account["sku"]["name"], "Standard_LRS");
    let keys = az
        .json(&[
            "storage",
            "account",
            "keys",
            "list",
            "-g",
            "beside",
            "-n",
            "azemust0001",
        ])
        .await;
    let value = |k: &Value, i: usize| k[i]["value"].as_str().unwrap().to_string();
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert_eq!(value(&keys, 0).len(), 88);
    assert_ne!(value(&keys, 0), value(&keys, 1));
    em.advance_clock(5).await;
    let renewed = az
        .json(&[
            "storage",
            "account",
            "keys",
            "renew",
            "-g",
            "beside",
            "-n",
            "azemust0001",
            "--key",
            "primary",
        ])
        .await;
    assert_ne!(value(&renewed, 0), value(&keys, 0), "key1 is new");
    assert_eq!(value(&renewed, 1), value(&keys, 1), "key2 is kept");
    let name = az
        .json(&["storage", "account", "check-name", "-n", "azemust0001"])
        .await;
    assert_eq!(name["nameAvailable"], false);
    assert_eq!(name["reason"], "AlreadyExists");

    let ws = az
        .json(&[
            "monitor",
            "log-analytics",
            "workspace",
            "create",
            "-g",
            "beside",
            "-n",
            "azemuws1",
        ])
        .await;
    let customer = ws["customerId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(customer).is_ok(), "{ws}");
    let shared = az
        .json(&[
            "monitor",
            "log-analytics",
            "workspace",
            "get-shared-keys",
            "-g",
            "beside",
            "-n",
            "azemuws1",
        ])
        .await;
    assert_eq!(shared["primarySharedKey"].as_str().unwrap().len(), 88);
    let shown = az
        .json(&[
            "monitor",
            "log-analytics",
            "workspace",
            "show",
            "-g",
            "beside",
            "-n",
            "azemuws1",
        ])
        .await;
    assert_eq!(shown["customerId"], customer);
}

#[tokio::test]
async fn key_vaults_control_plane_only() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "kv", "-l", "eastus", "-o", "none"])
        .await;
    let vault = az
        .json(&["keyvault", "create", "-g", "kv", "-n", "azemukv0001"])
        .await;
    assert_eq!(
        vault["properties"]["vaultUri"], "https://azemukv0001.vault.azure.net/",
        "{vault}"
    );
    assert_eq!(vault["properties"]["enableRbacAuthorization"], true);
    let shown = az.json(&["keyvault", "show", "-n", "azemukv0001"]).await;
    assert_eq!(shown["name"], "azemukv0001");
}

/// One refusal per validation class per provider, over raw HTTP: the JSON kind
/// (Newtonsoft's words), a closed enum, a required property, a linked id that
/// is not one, a create-only property changed, `location` missing.
#[tokio::test]
async fn validation_classes_per_provider() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/val");
    let put = |path: String, body: Value| {
        let (em, token) = (&em, &token);
        async move { em.arm(token, Method::PUT, &path, Some(body)).await }
    };
    let (s, _) = put(
        format!("{rg}?api-version=2024-07-01"),
        json!({"location": "eastus"}),
    )
    .await;
    assert_eq!(s, 201);
    let acr = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/valreg0001");
    let v = "api-version=2023-07-01";
    let (s, b) = put(
        format!("{acr}?{v}"),
        json!({"location": "eastus", "sku": {"name": "Premium"}}),
    )
    .await;
    assert!(s == 200 || s == 201, "{b}");
    let st = format!(
        "{rg}/providers/Microsoft.Storage/storageAccounts/valst0001?api-version=2023-05-01"
    );
    let (s, b) = put(
        st.clone(),
        json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
               "properties": {"encryption": {"keySource": "Microsoft.Storage", "services": {"queue": {"keyType": "Service"}}}}}),
    )
    .await;
    assert!(s == 200 || s == 201, "{b}");
    let aci = format!(
        "{rg}/providers/Microsoft.ContainerInstance/containerGroups/cg?api-version=2023-05-01"
    );
    let group = |extra: Value| {
        let mut g = json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [
            {"name": "c", "properties": {"image": "x", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}}]}});
        crate::harness::merge(&mut g, &extra);
        g
    };
    // (provider, class, path, body, status, code, words the message has)
    let cases: Vec<(&str, &str, String, Value, u16, &str, &str)> = vec![
        (
            "ContainerRegistry",
            "kind",
            format!("{acr}?{v}"),
            json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": []}),
            400,
            "InvalidRequestContent",
            "Path 'properties'",
        ),
        (
            "ContainerRegistry",
            "enum",
            format!("{acr}?{v}"),
            json!({"location": "eastus", "sku": {"name": "Premium"}, "identity": {"type": "Bogus"}}),
            400,
            "InvalidRequestContent",
            "Error converting value \"Bogus\" to type 'ResourceIdentityType'. Path 'identity.type'",
        ),
        (
            "ContainerRegistry",
            "linked id",
            format!("{acr}/connectedRegistries/cr1?api-version=2023-11-01-preview"),
            json!({"properties": {"mode": "ReadOnly", "parent": {"id": "not-an-id",
                   "syncProperties": {"tokenId": format!("{acr}/tokens/t1"), "messageTtl": "P2D"}}}}),
            400,
            "LinkedInvalidPropertyId",
            "Property id 'not-an-id' at path 'properties.parent.id' is invalid.",
        ),
        (
            "ContainerRegistry",
            "required",
            format!("{acr}/webhooks/hook1?{v}"),
            json!({"location": "eastus", "properties": {"actions": ["push"]}}),
            400,
            "InvalidRequestContent",
            "Required property 'serviceUri' not found in JSON. Path 'properties'",
        ),
        (
            "ContainerInstance",
            "kind",
            aci.clone(),
            group(json!({"properties": {"containers": {}}})),
            400,
            "InvalidRequestContent",
            "Path 'properties.containers'",
        ),
        (
            "ContainerInstance",
            "enum",
            aci.clone(),
            group(json!({"identity": {"type": "Sometimes"}})),
            400,
            "InvalidRequestContent",
            "Error converting value \"Sometimes\" to type 'ResourceIdentityType'. Path 'identity.type'",
        ),
        (
            "ContainerInstance",
            "linked id",
            aci.clone(),
            group(json!({"properties": {"subnetIds": [{"id": "sub"}]}})),
            400,
            "LinkedInvalidPropertyId",
            "Property id 'sub' at path 'properties.subnetIds[0].id' is invalid.",
        ),
        (
            "ManagedIdentity",
            "location",
            format!(
                "{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ident1?api-version=2023-01-31"
            ),
            json!({}),
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        ),
        (
            "ManagedIdentity",
            "kind",
            format!(
                "{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ident1?api-version=2023-01-31"
            ),
            json!({"location": "eastus", "tags": ["a"]}),
            400,
            "InvalidRequestContent",
            "Path 'tags'",
        ),
        (
            "Authorization",
            "kind",
            format!(
                "{rg}/providers/Microsoft.Authorization/roleAssignments/6b8c9f2e-1111-4222-8333-944444444444?api-version=2022-04-01"
            ),
            json!({"properties": {"roleDefinitionId": [], "principalId": "x"}}),
            400,
            "InvalidRequestContent",
            "Path 'properties.roleDefinitionId'",
        ),
        (
            "Resources",
            "enum",
            format!("{rg}/providers/Microsoft.Resources/deployments/d1?api-version=2024-07-01"),
            json!({"properties": {"mode": "Sometimes", "template": {}}}),
            400,
            "InvalidRequestContent",
            "Error converting value \"Sometimes\" to type 'DeploymentMode'. Path 'properties.mode'",
        ),
        (
            "Resources",
            "location",
            format!("{rg}2?api-version=2024-07-01"),
            json!({}),
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        ),
        (
            "Storage",
            "required",
            format!(
                "{rg}/providers/Microsoft.Storage/storageAccounts/valst0002?api-version=2023-05-01"
            ),
            json!({"location": "eastus", "kind": "StorageV2"}),
            400,
            "InvalidRequestContent",
            "Required property 'sku' not found in JSON. Path ''",
        ),
        (
            "Storage",
            "enum",
            st.clone(),
            json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "properties": {"accessTier": "Lukewarm"}}),
            400,
            "InvalidRequestContent",
            "Error converting value \"Lukewarm\" to type 'AccessTier'. Path 'properties.accessTier'",
        ),
        (
            "Storage",
            "create-only",
            st.clone(),
            json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
                "properties": {"encryption": {"keySource": "Microsoft.Storage", "services": {"queue": {"keyType": "Account"}}}}}),
            409,
            "PropertyChangeNotAllowed",
            "Changing property 'encryption.services.queue.keyType' is not allowed.",
        ),
        (
            "Storage",
            "location",
            format!(
                "{rg}/providers/Microsoft.Storage/storageAccounts/valst0003?api-version=2023-05-01"
            ),
            json!({"sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        ),
        (
            "KeyVault",
            "required",
            format!("{rg}/providers/Microsoft.KeyVault/vaults/valkv0001?api-version=2023-07-01"),
            json!({"location": "eastus", "properties": {"sku": {"family": "A", "name": "standard"}}}),
            400,
            "InvalidRequestContent",
            "Required property 'tenantId' not found in JSON. Path 'properties'",
        ),
        (
            "OperationalInsights",
            "enum",
            format!(
                "{rg}/providers/Microsoft.OperationalInsights/workspaces/valws0001?api-version=2023-09-01"
            ),
            json!({"location": "eastus", "identity": {"type": "Bogus"}}),
            400,
            "InvalidRequestContent",
            "Error converting value \"Bogus\" to type",
        ),
        (
            "Network (private DNS)",
            "kind",
            format!(
                "{rg}/providers/Microsoft.Network/privateDnsZones/val.internal?api-version=2024-06-01"
            ),
            json!({"location": "global", "properties": "x"}),
            400,
            "InvalidRequestContent",
            "Path 'properties'",
        ),
    ];
    for (provider, class, path, body, status, code, words) in cases {
        let (s, b) = put(path.clone(), body).await;
        assert_eq!(s, status, "{provider} {class}: {b}");
        assert_eq!(b["error"]["code"], code, "{provider} {class}: {b}");
        let message = b["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{provider} {class}: {message}");
    }
    // Nothing refused was stored.
    for path in [
        format!(
            "{rg}/providers/Microsoft.Storage/storageAccounts/valst0002?api-version=2023-05-01"
        ),
        format!("{acr}/webhooks/hook1?{v}"),
    ] {
        let (s, _) = em.arm(&token, Method::GET, &path, None).await;
        assert_eq!(s, 404, "{path}");
    }
}

/// ACI's container group profiles, served from the 2025-09-01 spec (az sends
/// 2024-05-01-preview): create, show, update.
#[tokio::test]
async fn container_group_profiles() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "cgp", "-l", "eastus", "-o", "none"])
        .await;
    let created = az
        .json(&[
            "container",
            "container-group-profile",
            "create",
            "-g",
            "cgp",
            "-n",
            "profile1",
            "--image",
            "mcr.microsoft.com/azuredocs/aci-helloworld:latest",
            "--cpu",
            "1",
            "--memory",
            "1.5",
            "--os-type",
            "Linux",
        ])
        .await;
    assert_eq!(created["name"], "profile1", "{created}");
    let shown = az
        .json(&[
            "container",
            "container-group-profile",
            "show",
            "-g",
            "cgp",
            "-n",
            "profile1",
        ])
        .await;
    assert_eq!(
        shown["containers"][0]["image"], "mcr.microsoft.com/azuredocs/aci-helloworld:latest",
        "{shown}"
    );
    // az has no `update`: a second create replaces the profile (a PUT).
    let updated = az
        .json(&[
            "container",
            "container-group-profile",
            "create",
            "-g",
            "cgp",
            "-n",
            "profile1",
            "--image",
            "mcr.microsoft.com/azuredocs/aci-helloworld:v2",
            "--cpu",
            "1",
            "--memory",
            "1.5",
            "--os-type",
            "Linux",
        ])
        .await;
    assert_eq!(
        updated["containers"][0]["image"], "mcr.microsoft.com/azuredocs/aci-helloworld:v2",
        "{updated}"
    );
    let listed = az
        .json(&["container", "container-group-profile", "list", "-g", "cgp"])
        .await;
    assert_eq!(crate::harness::names(&listed), ["profile1"]);
    az.ok(&[
        "container",
        "container-group-profile",
        "delete",
        "-g",
        "cgp",
        "-n",
        "profile1",
        "-y",
    ])
    .await;
    let listed = az
        .json(&["container", "container-group-profile", "list", "-g", "cgp"])
        .await;
    assert!(crate::harness::names(&listed).is_empty());
}

/// User-assigned identities are served by the spec layer with MSI's rules as
/// a behaviour: az's create/update/show/list/delete, a principal per identity
/// (the one its tokens are issued to), `isolationScope` writable, tags always
/// present and replaced as a whole by PATCH, ARM's preconditions.
#[tokio::test]
async fn identities_through_the_spec_layer_keep_msis_rules() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "mi", "-l", "eastus"])
        .await;
    let created = az
        .json(&[
            "identity",
            "create",
            "-g",
            "mi",
            "-n",
            "app-id",
            "--isolation-scope",
            "Regional",
        ])
        .await;
    assert_eq!(created["isolationScope"], "Regional", "{created}");
    assert_eq!(created["tags"], json!({}), "{created}");
    let principal = created["principalId"].as_str().unwrap().to_string();
    let client = created["clientId"].as_str().unwrap().to_string();
    // The principal exists in the directory, named after the identity.
    let token = em.arm_token().await;
    let principal_of = |all: &Value| {
        all["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["objectId"] == principal.as_str())
            .cloned()
    };
    let sp = principal_of(&em.control_json("/_emulator/principals").await).unwrap();
    assert_eq!(sp["appId"], client.as_str(), "{sp}");
    assert_eq!(sp["managedIdentityResourceId"], created["id"], "{sp}");

    let updated = az
        .json(&[
            "identity", "update", "-g", "mi", "-n", "app-id", "--tags", "team=a",
        ])
        .await;
    assert_eq!(updated["tags"], json!({"team": "a"}), "{updated}");
    assert_eq!(updated["principalId"], principal.as_str(), "{updated}");
    assert_eq!(updated["isolationScope"], "Regional", "{updated}");

    // PATCH replaces the tags whole (ARM's rule), and keeps the principal.
    let id = created["id"].as_str().unwrap();
    let (s, body) = em
        .arm(
            &token,
            Method::PATCH,
            &format!("{id}?api-version=2024-11-30"),
            Some(json!({"tags": {"env": "dev"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tags"], json!({"env": "dev"}), "{body}");
    assert_eq!(body["properties"]["principalId"], principal.as_str());
    // The older spec version reads it too.
    let (s, body) = em
        .arm(
            &token,
            Method::GET,
            &format!("{id}?api-version=2023-01-31"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["properties"]["clientId"], client.as_str(), "{body}");

    // If-None-Match: * on an existing identity: 412, nothing changed.
    let r = em
        .http()
        .put(format!("{}{id}?api-version=2024-11-30", em.base()))
        .bearer_auth(&token)
        .header("If-None-Match", "*")
        .json(&json!({"location": "eastus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 412);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "PreconditionFailed", "{body}");

    // A bad name, in Azure's words; nothing stored.
    let (s, body) = em
        .arm(
            &token,
            Method::PUT,
            &format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/mi/providers/Microsoft.ManagedIdentity/userAssignedIdentities/-x?api-version=2024-11-30"
            ),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("InvalidResourceName")),
        "{body}"
    );
    let listed = az.json(&["identity", "list", "-g", "mi"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // Delete takes the principal with it.
    az.ok(&["identity", "delete", "-g", "mi", "-n", "app-id"])
        .await;
    assert!(principal_of(&em.control_json("/_emulator/principals").await).is_none());
}

/// Key Vault's soft delete (azure-cli's `test_keyvault_softdelete`): a
/// deleted vault is listed and shown as deleted and keeps its name (a new
/// vault of that name is refused, the name is not available) until it is
/// recovered (as it was) or purged.
#[tokio::test]
async fn deleted_vaults_keep_their_names_until_recovered_or_purged() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&[
        "group", "create", "-n", "kvsd", "-l", "eastus", "-o", "none",
    ])
    .await;
    let vault = ["keyvault", "create", "-g", "kvsd", "-n", "azemusd01"];
    az.ok(&[&vault[..], &["--retention-days", "7", "--tags", "team=a"]].concat())
        .await;
    az.ok(&["keyvault", "delete", "-n", "azemusd01"]).await;

    let deleted = az.json(&["keyvault", "list-deleted"]).await;
    let deleted = deleted.as_array().unwrap();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    let d = &deleted[0];
    assert_eq!(d["type"], "Microsoft.KeyVault/deletedVaults");
    assert_eq!(
        d["id"],
        format!(
            "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/azemusd01"
        )
    );
    assert_eq!(d["properties"]["location"], "eastus");
    assert_eq!(d["properties"]["tags"], json!({"team": "a"}));
    let when = |f: &str| {
        time::OffsetDateTime::parse(
            d["properties"][f].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(
        when("scheduledPurgeDate") - when("deletionDate"),
        time::Duration::days(7)
    );
    assert!(d.get("_vault").is_none(), "{d}");
    let shown = az
        .json(&[
            "keyvault",
            "show-deleted",
            "-n",
            "azemusd01",
            "-l",
            "eastus",
        ])
        .await;
    assert_eq!(shown["properties"]["vaultId"], d["properties"]["vaultId"]);
    assert!(shown.get("_vault").is_none(), "{shown}");

    // The name stays taken.
    let out = az.run(&vault).await;
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("A vault with the same name already exists in deleted state"),
        "{}",
        out.stderr
    );
    let token = em.arm_token().await;
    let (s, body) = em
        .arm(
            &token,
            Method::POST,
            &format!(
                "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.KeyVault/checkNameAvailability?api-version=2023-07-01"
            ),
            Some(json!({"name": "azemusd01", "type": "Microsoft.KeyVault/vaults"})),
        )
        .await;
    assert_eq!((s, &body["nameAvailable"]), (200, &json!(false)), "{body}");

    // Recovered as it was.
    let back = az.json(&["keyvault", "recover", "-n", "azemusd01"]).await;
    assert_eq!(back["properties"]["softDeleteRetentionInDays"], 7, "{back}");
    assert_eq!(back["tags"], json!({"team": "a"}), "{back}");
    assert!(back["properties"]["createMode"].is_null(), "{back}");
    let none = az.json(&["keyvault", "list-deleted"]).await;
    assert_eq!(none, json!([]));

    // Purged: gone, and the name is free again.
    az.ok(&["keyvault", "delete", "-n", "azemusd01"]).await;
    az.ok(&["keyvault", "purge", "-n", "azemusd01"]).await;
    let none = az.json(&["keyvault", "list-deleted"]).await;
    assert_eq!(none, json!([]));
    az.ok(&vault).await;
}

/// The customer ids of the deleted workspaces in group `lasd`.
async fn deleted_customers(az: &Az<'_>) -> Vec<String> {
    let all = az
        .json(&[
            "monitor",
            "log-analytics",
            "workspace",
            "list-deleted-workspaces",
            "-g",
            "lasd",
        ])
        .await;
    all.as_array()
        .unwrap()
        .iter()
        .map(|w| w["customerId"].as_str().unwrap().to_string())
        .collect()
}

/// Log Analytics' soft delete (azure-cli's
/// `test_monitor_log_analytics_workspace_recover`): a deleted workspace is
/// listed for 14 days of the emulated clock and recovered, customer id and
/// all, by `recover`; `--force` deletes it for good, and so do 14 days.
#[tokio::test]
async fn deleted_workspaces_recover_within_fourteen_days() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&[
        "group", "create", "-n", "lasd", "-l", "eastus", "-o", "none",
    ])
    .await;
    let ws = |verb: &'static str| {
        [
            "monitor",
            "log-analytics",
            "workspace",
            verb,
            "-g",
            "lasd",
            "-n",
            "azemuws9",
        ]
    };
    let created = az.json(&ws("create")).await;
    let customer = created["customerId"].as_str().unwrap().to_string();
    az.ok(&[&ws("delete")[..], &["-y"]].concat()).await;
    assert_eq!(
        deleted_customers(&az).await,
        std::slice::from_ref(&customer)
    );
    let out = az.run(&ws("show")).await;
    assert!(
        !out.ok && out.stderr.contains("ResourceNotFound"),
        "{}",
        out.stderr
    );

    let back = az.json(&ws("recover")).await;
    assert_eq!(back["customerId"], customer.as_str(), "{back}");
    assert!(deleted_customers(&az).await.is_empty());

    // Deleted with --force: not recoverable.
    az.ok(&[&ws("delete")[..], &["-y", "--force"]].concat())
        .await;
    assert!(deleted_customers(&az).await.is_empty());

    // Deleted, then 14 days pass: gone for good; the name makes a new workspace.
    let again = az.json(&ws("create")).await;
    let second = again["customerId"].as_str().unwrap().to_string();
    assert_ne!(second, customer);
    az.ok(&[&ws("delete")[..], &["-y"]].concat()).await;
    assert_eq!(deleted_customers(&az).await, std::slice::from_ref(&second));
    em.advance_clock(14 * 24 * 3600).await;
    // az's cached token has expired on the emulated clock: a fresh az.
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    assert!(deleted_customers(&az).await.is_empty());
    let fresh = az.json(&ws("create")).await;
    assert_ne!(fresh["customerId"], second.as_str(), "{fresh}");
}
