//! The shared `identity` block, exercised through registries: system-assigned
//! principals come and go with the resource, user-assigned identities are
//! described as Azure does, and attaching one needs `assign/action` on it.

use crate::harness::{Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};

const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";

async fn principals(em: &Emulator) -> Vec<String> {
    let v: Value = em
        .http()
        .get(format!("{}/_emulator/principals", em.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["objectId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn system_and_user_assigned_identities_on_a_registry() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let s = format!("/subscriptions/{SUBSCRIPTION}");
    for rg in ["apps", "ids"] {
        em.arm(
            &owner,
            Method::PUT,
            &format!("{s}/resourceGroups/{rg}?api-version=2024-07-01"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    }
    let uai = format!(
        "{s}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pull-id"
    );
    let (_, ident) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{uai}?api-version=2023-01-31"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    let reg = format!(
        "{s}/resourceGroups/apps/providers/Microsoft.ContainerRegistry/registries/identreg01"
    );
    let url = format!("{reg}?api-version=2023-07-01");

    let (st, body) = em
        .arm(&owner, Method::PUT, &url, Some(json!({"location": "eastus", "sku": {"name": "Premium"}, "identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {uai.clone(): {}}}})))
        .await;
    assert_eq!(st, 201, "{body}");
    let identity = &body["identity"];
    // The ContainerRegistry RP answers in camel case (azure-cli's test_acr_identity recording).
    assert_eq!(identity["type"], "systemAssigned, userAssigned");
    let system = identity["principalId"].as_str().unwrap().to_string();
    assert_eq!(identity["tenantId"], crate::harness::TENANT);
    assert_eq!(
        identity["userAssignedIdentities"][&uai]["principalId"],
        ident["properties"]["principalId"]
    );
    assert_eq!(
        identity["userAssignedIdentities"][&uai]["clientId"],
        ident["properties"]["clientId"]
    );
    assert!(principals(&em).await.contains(&system));

    // Kept across updates...
    let (_, again) = em
        .arm(
            &owner,
            Method::PATCH,
            &url,
            Some(json!({"identity": {"type": "SystemAssigned"}})),
        )
        .await;
    assert_eq!(again["identity"]["principalId"], system.as_str());
    assert!(
        again["identity"].get("userAssignedIdentities").is_none(),
        "{again}"
    );
    // ... dropped with the type ...
    let (_, none) = em
        .arm(
            &owner,
            Method::PATCH,
            &url,
            Some(json!({"identity": {"type": "None"}})),
        )
        .await;
    assert!(none.get("identity").is_none(), "{none}");
    assert!(!principals(&em).await.contains(&system));
    // ... and removed with the resource.
    let (_, back) = em
        .arm(
            &owner,
            Method::PATCH,
            &url,
            Some(json!({"identity": {"type": "SystemAssigned"}})),
        )
        .await;
    let second = back["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(second, system, "a new system identity is a new principal");
    em.arm(&owner, Method::DELETE, &url, None).await;
    assert!(!principals(&em).await.contains(&second));

    // A missing user-assigned identity is refused.
    let (st, body) = em
        .arm(&owner, Method::PUT, &url, Some(json!({"location": "eastus", "sku": {"name": "Premium"}, "identity": {"type": "UserAssigned", "userAssignedIdentities": {format!("{uai}-nope"): {}}}})))
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (400, Some("FailedIdentityOperation")),
        "{body}"
    );
}

#[tokio::test]
async fn attaching_an_identity_needs_assign_action_on_it() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let s = format!("/subscriptions/{SUBSCRIPTION}");
    for rg in ["apps", "ids"] {
        em.arm(
            &owner,
            Method::PUT,
            &format!("{s}/resourceGroups/{rg}?api-version=2024-07-01"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    }
    let uai = format!(
        "{s}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pull-id"
    );
    em.arm(
        &owner,
        Method::PUT,
        &format!("{uai}?api-version=2023-01-31"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    // Contributor on "apps" only.
    let p = em.new_principal().await;
    let name = uuid::Uuid::new_v4();
    let (st, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{s}/resourceGroups/apps/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"),
            Some(json!({"properties": {"roleDefinitionId": format!("{s}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}"), "principalId": p.object_id}})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let reg = format!(
        "{s}/resourceGroups/apps/providers/Microsoft.ContainerRegistry/registries/linkedreg01"
    );
    let (st, body) = em
        .arm(&p.token, Method::PUT, &format!("{reg}?api-version=2023-07-01"), Some(json!({"location": "eastus", "sku": {"name": "Basic"}, "identity": {"type": "UserAssigned", "userAssignedIdentities": {uai.clone(): {}}}})))
        .await;
    assert_eq!(st, 403, "{body}");
    assert_eq!(body["error"]["code"], "LinkedAuthorizationFailed");
    assert_eq!(
        body["error"]["message"],
        format!(
            "The client '{}' with object id '{}' has permission to perform action 'Microsoft.ContainerRegistry/registries/write' on scope '{reg}'; however, it does not have permission to perform action(s) 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '{uai}' or the linked scope(s) are invalid.",
            p.app_id, p.object_id
        )
    );
    // Without the identity, the same principal may create the registry.
    let (st, body) = em
        .arm(
            &p.token,
            Method::PUT,
            &format!("{reg}?api-version=2023-07-01"),
            Some(json!({"location": "eastus", "sku": {"name": "Basic"}})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
}
