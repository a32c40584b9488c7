//! The operations beside the resources: the subscription's locations, the
//! provider types' locations, and the lists and actions Azure computes
//! (ACI location usage and capabilities, NRP's private-endpoint types and
//! subnet links, zone peers, Key Vault's deleted vaults, RBAC permissions).

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION, python_env, run, venv, words};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn az_account_list_locations_lists_the_regions_in_azures_shape() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Explicit).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    let list = az.json(&["account", "list-locations"]).await;
    let list = list.as_array().unwrap();
    let eastus = list.iter().find(|l| l["name"] == "eastus").unwrap();
    let sub = format!("/subscriptions/{SUBSCRIPTION}");
    assert_eq!(eastus["id"], format!("{sub}/locations/eastus"));
    assert_eq!(eastus["displayName"], "East US");
    assert_eq!(eastus["regionalDisplayName"], "(US) East US");
    assert_eq!(eastus["type"], "Region");
    let m = &eastus["metadata"];
    assert_eq!(
        (
            &m["regionType"],
            &m["regionCategory"],
            &m["geography"],
            &m["geographyGroup"]
        ),
        (
            &json!("Physical"),
            &json!("Recommended"),
            &json!("United States"),
            &json!("US")
        )
    );
    assert_eq!(
        (&m["longitude"], &m["latitude"]),
        (&json!("-79.8164"), &json!("37.3719"))
    );
    assert_eq!(m["physicalLocation"], "Virginia");
    assert_eq!(m["pairedRegion"][0]["name"], "westus");
    assert_eq!(
        m["pairedRegion"][0]["id"],
        format!("{sub}/locations/westus")
    );
    // A script's usual query: the names.
    let names = az
        .json(&["account", "list-locations", "--query", "[].name"])
        .await;
    assert!(names.as_array().unwrap().contains(&json!("westeurope")));

    // The provider types list their regions by display name, as Azure does.
    let aci = az
        .json(&["provider", "show", "-n", "Microsoft.ContainerInstance"])
        .await;
    let types = aci["resourceTypes"].as_array().unwrap();
    let groups = types
        .iter()
        .find(|t| t["resourceType"] == "containerGroups")
        .unwrap();
    assert!(
        groups["locations"]
            .as_array()
            .unwrap()
            .contains(&json!("East US")),
        "{groups}"
    );
    let ops = types
        .iter()
        .find(|t| t["resourceType"] == "operations")
        .unwrap();
    assert_eq!(ops["locations"], json!([]));
}

#[tokio::test]
async fn locations_by_api_version_and_refused_without_a_role() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let path = format!("/subscriptions/{SUBSCRIPTION}/locations");
    // The 2019-11-01 shape (azure-cli's recording): no type, geography or zones.
    let (s, old) = em
        .arm(
            &token,
            Method::GET,
            &format!("{path}?api-version=2019-11-01"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{old}");
    let westus = old["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "westus")
        .unwrap();
    assert_eq!(
        westus,
        &json!({
            "id": format!("/subscriptions/{SUBSCRIPTION}/locations/westus"),
            "name": "westus", "displayName": "West US", "regionalDisplayName": "(US) West US",
            "metadata": {
                "regionType": "Physical", "regionCategory": "Other", "geographyGroup": "US",
                "longitude": "-122.417", "latitude": "37.783", "physicalLocation": "California",
                "pairedRegion": [{"name": "eastus", "id": format!("/subscriptions/{SUBSCRIPTION}/locations/eastus")}],
            }
        })
    );
    // The current shape, with the subscription's zone mapping where a region has zones.
    let (s, new) = em
        .arm(
            &token,
            Method::GET,
            &format!("{path}?api-version=2022-12-01&includeExtendedLocations=true"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{new}");
    let value = new["value"].as_array().unwrap();
    assert!(value.iter().all(|l| l["type"] == "Region"));
    let ne = value.iter().find(|l| l["name"] == "northeurope").unwrap();
    assert_eq!(
        ne["availabilityZoneMappings"][0],
        json!({"logicalZone": "1", "physicalZone": "northeurope-az1"})
    );
    let stage = value.iter().find(|l| l["name"] == "eastusstage").unwrap();
    assert_eq!(stage["metadata"].get("pairedRegion"), None);
    assert_eq!(stage.get("availabilityZoneMappings"), None);

    // No role anywhere in the subscription: ARM's 403.
    let nobody = em.new_principal().await;
    let (s, body) = em
        .arm(
            &nobody.token,
            Method::GET,
            &format!("{path}?api-version=2022-12-01"),
            None,
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    // Another subscription: ARM's 404.
    let (s, body) = em
        .arm(
            &token,
            Method::GET,
            "/subscriptions/00000000-0000-0000-0000-0000000000ff/locations?api-version=2022-12-01",
            None,
        )
        .await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["error"]["code"], "SubscriptionNotFound");
}

/// Run `tests/python/sdk_surface_ops.py` with `args` through the proxy; its JSON.
async fn sdk(em: &Emulator, args: &[&str]) -> Value {
    sdk_as(em, None, args).await
}

/// [`sdk`], signed in as `who` (app id, secret) rather than the default principal.
async fn sdk_as(em: &Emulator, who: Option<(&str, &str)>, args: &[&str]) -> Value {
    let mut cmd = tokio::process::Command::new(venv().join("bin/python"));
    python_env(&mut cmd, em);
    cmd.arg(crate::harness::fixtures().join("python/sdk_surface_ops.py"))
        .args(args)
        .env("HTTPS_PROXY", format!("http://localhost:{}", em.port));
    if let Some((id, secret)) = who {
        cmd.env("AZEMU_CLIENT_ID", id)
            .env("AZEMU_CLIENT_SECRET", secret);
    }
    let out = run(&mut cmd).await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|_| panic!("{}", out.stdout))
}

/// The status and ARM error code of a refused call.
async fn refusal(
    em: &Emulator,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let (s, b) = em.arm(token, method, path, body).await;
    let code = b["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: {s} {b}"));
    (s, code.to_string())
}

/// A resource group made over HTTP; its id.
async fn group(em: &Emulator, token: &str, name: &str, location: &str) -> String {
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}");
    let body = json!({ "location": location });
    put(em, token, &format!("{rg}?api-version=2024-07-01"), body).await;
    rg
}

async fn put(em: &Emulator, token: &str, path: &str, body: Value) -> Value {
    let (s, b) = em.arm(token, Method::PUT, path, Some(body)).await;
    assert!(s == 200 || s == 201, "{path}: {s} {b}");
    b
}

fn group_body(location: &str, subnet: Option<&str>) -> Value {
    let mut p = json!({"osType": "Linux", "containers": [{"name": "c1", "properties": {
        "image": "mcr.microsoft.com/azuredocs/aci-helloworld",
        "resources": {"requests": {"cpu": 1.0, "memoryInGB": 1.5}}}}]});
    if let Some(s) = subnet {
        p["subnetIds"] = json!([{"id": s}]);
    }
    json!({"location": location, "properties": p})
}

#[tokio::test]
async fn aci_location_usage_counts_the_groups_and_lists_capabilities() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let rg = group(&em, &token, "usage", "westeurope").await;
    let cg = format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups");
    for (name, location) in [("a", "westeurope"), ("b", "West Europe"), ("c", "eastus")] {
        put(
            &em,
            &token,
            &format!("{cg}/{name}?api-version=2023-05-01"),
            group_body(location, None),
        )
        .await;
    }
    let got = sdk(&em, &["aci_location", "westeurope"]).await;
    assert_eq!(
        got["usage"],
        json!([{"unit": "Count", "current_value": 2, "limit": 100,
                "name": {"value": "ContainerGroups", "localized_value": "Container Groups"}}])
    );
    let caps = got["capabilities"].as_array().unwrap();
    assert_eq!(caps.len(), 2);
    assert_eq!(caps[0]["location"], "West Europe");
    assert_eq!(caps[0]["os_type"], "Linux");
    assert_eq!(caps[0]["capabilities"]["max_cpu"], 4.0);
    assert_eq!(got["cachedImages"][0]["os_type"], "Windows");
    // Over HTTP: another region counts its own.
    let usages =
        format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.ContainerInstance/locations");
    let (s, b) = em
        .arm(
            &token,
            Method::GET,
            &format!("{usages}/eastus/usages?api-version=2023-05-01"),
            None,
        )
        .await;
    assert_eq!((s, &b["value"][0]["currentValue"]), (200, &json!(1)), "{b}");
    // A region Azure does not have: ARM's routing answer.
    let (s, b) = em
        .arm(
            &token,
            Method::GET,
            &format!("{usages}/marsnorth/usages?api-version=2023-05-01"),
            None,
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "NoRegisteredProviderFound");
    let message = b["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("No registered resource provider found for location 'marsnorth' and API version '2023-05-01' for type 'locations/usages'. The supported api-versions are '"),
        "{message}"
    );
    let got = sdk(&em, &["aci_location", "marsnorth"]).await;
    assert_eq!(got["error"]["status"], 400, "{got}");
    // No role: 403.
    let nobody = em.new_principal().await;
    assert_eq!(
        refusal(
            &em,
            &nobody.token,
            Method::GET,
            &format!("{usages}/eastus/capabilities?api-version=2023-05-01"),
            None
        )
        .await,
        (403, "AuthorizationFailed".to_string())
    );
}

#[tokio::test]
async fn private_endpoint_types_and_subnet_links() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let az = Az::new(&em, Mode::Explicit).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "links", "-l", "eastus"])
        .await;
    // The types a private endpoint can be put on, at both levels.
    let types = az
        .json(&["network", "private-endpoint", "list-types", "-l", "eastus"])
        .await;
    let registry = json!({
        "name": "Microsoft.ContainerRegistry.registries",
        "id": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Network/availablePrivateEndpointTypes/Microsoft.ContainerRegistry.registries"),
        "type": "Microsoft.Network/availablePrivateEndpointTypes",
        "resourceName": "Microsoft.ContainerRegistry/registries",
        "displayName": "Container Registry",
    });
    assert_eq!(types, json!([registry]));
    let in_group = az
        .json(&words(
            "network private-endpoint list-types -l eastus -g links",
        ))
        .await;
    assert_eq!(
        in_group[0]["id"],
        format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/links/providers/Microsoft.Network/availablePrivateEndpointTypes/Microsoft.ContainerRegistry.registries"
        )
    );
    let unknown = az
        .run(&words("network private-endpoint list-types -l marsnorth"))
        .await;
    assert!(!unknown.ok);
    assert!(
        unknown.stderr.contains("NoRegisteredProviderFound"),
        "{}",
        unknown.stderr
    );

    // A subnet delegated to ACI: ACI's link while a group uses it.
    az.ok(&words("network vnet create -g links -n v1 --address-prefixes 10.0.0.0/16 --subnet-name aci --subnet-prefixes 10.0.1.0/24"))
    .await;
    az.ok(&words("network vnet subnet update -g links --vnet-name v1 -n aci --delegations Microsoft.ContainerInstance/containerGroups"))
    .await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/links");
    let subnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1/subnets/aci");
    let links = |which: &'static str| {
        let (em, token, subnet) = (&em, &token, &subnet);
        async move {
            let path = format!("{subnet}/{which}?api-version=2024-03-01");
            em.arm(token, Method::GET, &path, None).await
        }
    };
    assert_eq!(
        links("ServiceAssociationLinks").await,
        (200, json!({"value": []}))
    );
    assert_eq!(
        links("ResourceNavigationLinks").await,
        (200, json!({"value": []}))
    );
    for action in ["PrepareNetworkPolicies", "UnprepareNetworkPolicies"] {
        let body = json!({"serviceName": "Microsoft.Sql/managedInstances"});
        let path = format!("{subnet}/{action}?api-version=2024-03-01");
        let (s, b) = em.arm(&token, Method::POST, &path, Some(body)).await;
        assert_eq!(s, 200, "{action}: {b}");
    }
    let cg = format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups/in-vnet");
    put(
        &em,
        &token,
        &format!("{cg}?api-version=2023-05-01"),
        group_body("eastus", Some(&subnet)),
    )
    .await;
    let (s, b) = links("ServiceAssociationLinks").await;
    assert_eq!(s, 200, "{b}");
    let etag = b["value"][0]["etag"].clone();
    assert!(etag.as_str().unwrap().starts_with("W/\""), "{b}");
    assert_eq!(
        b["value"][0],
        json!({
            "name": "acisal",
            "id": format!("{subnet}/serviceAssociationLinks/acisal"),
            "etag": etag,
            "type": "Microsoft.Network/virtualNetworks/subnets/serviceAssociationLinks",
            "properties": {
                "provisioningState": "Succeeded",
                "linkedResourceType": "Microsoft.ContainerInstance/containerGroups",
                "allowDelete": true,
                "locations": ["eastus"],
            },
        })
    );
    // Gone with the group.
    let (s, _) = em
        .arm(
            &token,
            Method::DELETE,
            &format!("{cg}?api-version=2023-05-01"),
            None,
        )
        .await;
    assert!(s == 200 || s == 202 || s == 204);
    em.step().await;
    assert_eq!(
        links("ServiceAssociationLinks").await,
        (200, json!({"value": []}))
    );
    // A subnet that does not exist: ARM's 404; a body without a service: 400.
    let nope = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1/subnets/nope");
    assert_eq!(
        refusal(
            &em,
            &token,
            Method::GET,
            &format!("{nope}/ServiceAssociationLinks?api-version=2024-03-01"),
            None
        )
        .await,
        (404, "ResourceNotFound".to_string())
    );
    let path = format!("{subnet}/PrepareNetworkPolicies?api-version=2024-03-01");
    let (s, b) = em.arm(&token, Method::POST, &path, Some(json!({}))).await;
    assert_eq!(
        (s, &b["error"]["code"]),
        (400, &json!("InvalidRequestFormat")),
        "{b}"
    );
}

#[tokio::test]
async fn permissions_list_the_callers_roles_at_and_above_the_scope() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let s = format!("/subscriptions/{SUBSCRIPTION}");
    let rg = format!("{s}/resourceGroups/perms");
    put(
        &em,
        &owner,
        &format!("{rg}?api-version=2024-07-01"),
        json!({"location": "eastus"}),
    )
    .await;
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/permsreg1");
    put(
        &em,
        &owner,
        &format!("{reg}?api-version=2023-07-01"),
        json!({"location": "eastus", "sku": {"name": "Basic"}}),
    )
    .await;
    let p = em.new_principal().await;
    let who = Some((p.app_id.as_str(), p.secret.as_str()));
    // No role: nothing, but asking is allowed.
    assert_eq!(sdk_as(&em, who, &["permissions", "perms"]).await, json!([]));
    let assign = |scope: String, role: &'static str| {
        let (em, owner, p, s) = (&em, &owner, &p, &s);
        async move {
            let path = format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                uuid::Uuid::new_v4()
            );
            let body = json!({"properties": {"roleDefinitionId": format!("{s}/providers/Microsoft.Authorization/roleDefinitions/{role}"), "principalId": p.object_id}});
            put(em, owner, &path, body).await;
        }
    };
    // Reader on the group, AcrPull on the registry.
    assign(rg.clone(), "acdd72a7-3385-48ef-bd42-f606fba81ae7").await;
    assign(reg.clone(), "7f951dda-4ed3-4680-a7ca-43fe172d538d").await;
    let reader =
        json!({"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []});
    assert_eq!(
        sdk_as(&em, who, &["permissions", "perms"]).await,
        json!([reader])
    );
    let on_registry = sdk_as(
        &em,
        who,
        &[
            "permissions",
            "perms",
            "Microsoft.ContainerRegistry/registries/permsreg1",
        ],
    )
    .await;
    let acr_pull = json!({"actions": ["Microsoft.ContainerRegistry/registries/pull/read"], "notActions": [], "dataActions": [], "notDataActions": []});
    assert_eq!(on_registry, json!([reader, acr_pull]));
    // The subscription's owner: Owner's block, over HTTP in ARM's words.
    let (st, b) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{rg}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert!(
        b["value"].as_array().unwrap().contains(
            &json!({"actions": ["*"], "notActions": [], "dataActions": [], "notDataActions": []})
        ),
        "{b}"
    );
    // A group that does not exist: ARM's 404.
    let (st, b) = em
        .arm(&owner, Method::GET, &format!("{s}/resourceGroups/nope/providers/Microsoft.Authorization/permissions?api-version=2022-04-01"), None)
        .await;
    assert_eq!(
        (st, &b["error"]["code"]),
        (404, &json!("ResourceGroupNotFound")),
        "{b}"
    );
}

#[tokio::test]
async fn zone_peers_vault_names_and_connected_registry_deactivate() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let other = "11111111-1111-1111-1111-111111111111";
    // Every subscription's zones map alike in azemu: zone n peers with zone n.
    let peers = sdk(&em, &["zone_peers", "East US", other]).await;
    assert_eq!(peers["subscription_id"], SUBSCRIPTION);
    assert_eq!(peers["location"], "eastus");
    let zones = peers["availability_zone_peers"].as_array().unwrap();
    assert_eq!(zones.len(), 3);
    assert_eq!(
        zones[1],
        json!({"availability_zone": "2", "peers": [{"subscription_id": other, "availability_zone": "2"}]})
    );
    let bad = sdk(&em, &["zone_peers", "marsnorth", other]).await;
    assert_eq!(
        (&bad["error"]["status"], &bad["error"]["code"]),
        (&json!(400), &json!("InvalidLocation")),
        "{bad}"
    );

    // Vault names are global.
    assert_eq!(
        sdk(&em, &["vault_name", "azemu-kv1"]).await,
        json!({"nameAvailable": true})
    );
    let rg = group(&em, &token, "side", "eastus").await;
    let tenant = crate::harness::TENANT;
    let vault = json!({"location": "eastus", "properties": {"tenantId": tenant, "sku": {"family": "A", "name": "standard"}}});
    put(
        &em,
        &token,
        &format!("{rg}/providers/Microsoft.KeyVault/vaults/azemu-kv1?api-version=2023-07-01"),
        vault,
    )
    .await;
    let taken = sdk(&em, &["vault_name", "AZEMU-KV1"]).await;
    assert_eq!(
        (&taken["nameAvailable"], &taken["reason"]),
        (&json!(false), &json!("AlreadyExists")),
        "{taken}"
    );
    assert!(
        taken["message"]
            .as_str()
            .unwrap()
            .starts_with("The vault name 'AZEMU-KV1' is already in use.")
    );
    for invalid in ["kv", "1kv", "kv--1", "kv-", "kv_1"] {
        let got = sdk(&em, &["vault_name", invalid]).await;
        assert_eq!(
            (&got["nameAvailable"], &got["reason"]),
            (&json!(false), &json!("AccountNameInvalid")),
            "{invalid}: {got}"
        );
    }

    // A connected registry deactivated: never activated in azemu, it stays so.
    let az = Az::new(&em, Mode::Explicit).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "edge", "-l", "westus"])
        .await;
    az.ok(&words(
        "acr create -n edgereg02 -g edge --sku Premium -o none",
    ))
    .await;
    az.ok(&words(
        "acr update -n edgereg02 --data-endpoint-enabled true -o none",
    ))
    .await;
    az.ok(&words(
        "acr token create -r edgereg02 -n synctok --repository hello-world content/read -o none",
    ))
    .await;
    az.ok(&words(
        "acr connected-registry create -r edgereg02 -n edge1 --sync-token synctok -o none",
    ))
    .await;
    az.ok(&words(
        "acr connected-registry deactivate -r edgereg02 -n edge1 --yes",
    ))
    .await;
    let shown = az
        .json(&words("acr connected-registry show -r edgereg02 -n edge1"))
        .await;
    assert_eq!(shown["activation"], json!({"status": "Inactive"}));
    assert_eq!(shown["connectionState"], "Offline");
    // One that does not exist: ARM's 404.
    let reg = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/edge/providers/Microsoft.ContainerRegistry/registries/edgereg02"
    );
    assert_eq!(
        refusal(
            &em,
            &token,
            Method::POST,
            &format!("{reg}/connectedRegistries/nope/deactivate?api-version=2023-11-01-preview"),
            None
        )
        .await,
        (404, "ResourceNotFound".to_string())
    );
}

/// A POST to a provider-level operation needs that operation's action
/// (`Microsoft.Resources/checkZonePeers/action`, which Reader lacks); name
/// checks are reads in Azure's catalog (`…/checkNameAvailability/read`).
#[tokio::test]
async fn provider_actions_need_their_action_and_name_checks_a_read() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let s = format!("/subscriptions/{SUBSCRIPTION}");
    let p = em.new_principal().await;
    let path = format!(
        "{s}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
        uuid::Uuid::new_v4()
    );
    let reader = format!(
        "{s}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
    );
    let body = json!({"properties": {"roleDefinitionId": reader, "principalId": p.object_id}});
    put(&em, &owner, &path, body).await;

    let peers = format!("{s}/providers/Microsoft.Resources/checkZonePeers?api-version=2022-12-01");
    let ask =
        json!({"location": "eastus", "subscriptionIds": [format!("subscriptions/{SUBSCRIPTION}")]});
    let (status, code) = refusal(&em, &p.token, Method::POST, &peers, Some(ask.clone())).await;
    assert_eq!((status, code.as_str()), (403, "AuthorizationFailed"));
    let (_, b) = em
        .arm(&p.token, Method::POST, &peers, Some(ask.clone()))
        .await;
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Microsoft.Resources/checkZonePeers/action'"),
        "{b}"
    );
    let (status, b) = em.arm(&owner, Method::POST, &peers, Some(ask)).await;
    assert_eq!(status, 200, "{b}");

    let names =
        format!("{s}/providers/Microsoft.KeyVault/checkNameAvailability?api-version=2023-07-01");
    let (status, b) = em
        .arm(
            &p.token,
            Method::POST,
            &names,
            Some(json!({"name": "azemu-kv9", "type": "Microsoft.KeyVault/vaults"})),
        )
        .await;
    assert_eq!((status, &b["nameAvailable"]), (200, &json!(true)), "{b}");
}
