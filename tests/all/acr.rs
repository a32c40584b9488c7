//! Azure Container Registry with the real az CLI: the control plane (create,
//! show, update, credentials, SKU rules).

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION};
use serde_json::{Value, json};

#[tokio::test]
async fn az_acr_control_plane() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
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

    let reg = az
        .json(&[
            "acr",
            "create",
            "-n",
            "mycontainerregistry007",
            "-g",
            "myResourceGroup",
            "--sku",
            "Premium",
        ])
        .await;
    assert_eq!(reg["loginServer"], "mycontainerregistry007.azurecr.io");
    assert_eq!(reg["provisioningState"], "Succeeded");
    assert_eq!(reg["sku"]["name"], "Premium");
    assert_eq!(reg["adminUserEnabled"], false);
    let id = az
        .ok(&[
            "acr",
            "show",
            "-n",
            "mycontainerregistry007",
            "--query",
            "id",
            "-o",
            "tsv",
        ])
        .await;
    assert_eq!(
        id.trim(),
        format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/myResourceGroup/providers/Microsoft.ContainerRegistry/registries/mycontainerregistry007"
        )
    );

    // Names are global.
    let taken = az
        .run(&[
            "acr",
            "create",
            "-n",
            "mycontainerregistry007",
            "-g",
            "myResourceGroup",
            "--sku",
            "Basic",
            "-l",
            "westus",
        ])
        .await;
    assert!(!taken.ok);
    let check = az
        .json(&["acr", "check-name", "-n", "mycontainerregistry007"])
        .await;
    assert_eq!(check["nameAvailable"], false);
    assert_eq!(check["reason"], "AlreadyExists");

    // Admin user and its credentials.
    let out = az
        .run(&["acr", "credential", "show", "-n", "mycontainerregistry007"])
        .await;
    assert!(!out.ok, "credentials need the admin user");
    let updated = az
        .json(&[
            "acr",
            "update",
            "-n",
            "mycontainerregistry007",
            "--admin-enabled",
            "true",
        ])
        .await;
    assert_eq!(updated["adminUserEnabled"], true);
    let creds = az
        .json(&["acr", "credential", "show", "-n", "mycontainerregistry007"])
        .await;
    assert_eq!(creds["username"], "mycontainerregistry007");
    let passwords = creds["passwords"].as_array().unwrap();
    assert_eq!(passwords.len(), 2);
    assert_ne!(passwords[0]["value"], passwords[1]["value"]);
    let renewed = az
        .json(&[
            "acr",
            "credential",
            "renew",
            "-n",
            "mycontainerregistry007",
            "--password-name",
            "password2",
        ])
        .await;
    assert_eq!(renewed["passwords"][0]["value"], passwords[0]["value"]);
    assert_ne!(renewed["passwords"][1]["value"], passwords[1]["value"]);

    // Public network access: Premium may turn it off; Basic may not.
    let closed = az
        .json(&[
            "acr",
            "update",
            "-n",
            "mycontainerregistry007",
            "--public-network-enabled",
            "false",
        ])
        .await;
    assert_eq!(closed["publicNetworkAccess"], "Disabled");
    az.ok(&[
        "acr",
        "create",
        "-n",
        "basicregistry01",
        "-g",
        "myResourceGroup",
        "--sku",
        "Basic",
        "-o",
        "none",
    ])
    .await;
    let out = az
        .run(&[
            "acr",
            "update",
            "-n",
            "basicregistry01",
            "--public-network-enabled",
            "false",
        ])
        .await;
    assert!(!out.ok, "Basic cannot disable public access");

    let list = az.json(&["acr", "list", "-g", "myResourceGroup"]).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    az.ok(&["acr", "delete", "-n", "basicregistry01", "--yes"])
        .await;
    let list = az.json(&["acr", "list"]).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sku_rules_on_the_wire() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/skus");
    em.arm(
        &owner,
        reqwest::Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let reg = |name: &str| {
        format!(
            "{rg}/providers/Microsoft.ContainerRegistry/registries/{name}?api-version=2023-07-01"
        )
    };
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "basicclosed",
            json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": {"publicNetworkAccess": "Disabled"}}),
            400,
            "DisablingPublicNetworkAccessNotSupported",
        ),
        (
            "stdrules01",
            json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "1.2.3.4"}]}}}),
            400,
            "NetworkRuleNotSupported",
        ),
        (
            "bad",
            json!({"location": "eastus", "sku": {"name": "Premium"}}),
            400,
            "InvalidResourceName",
        ),
        (
            "nosku0001",
            json!({"location": "eastus"}),
            400,
            "SkuRequired",
        ),
        (
            "toomanyrules",
            json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": (0..101).map(|i| json!({"action": "Allow", "value": format!("10.0.{}.{}", i / 256, i % 256)})).collect::<Vec<_>>()}}}),
            400,
            "QuotaExceeded",
        ),
    ];
    for (name, body, status, code) in cases {
        let (s, b) = em
            .arm(&owner, reqwest::Method::PUT, &reg(name), Some(body))
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (status, Some(code)),
            "{name}: {b}"
        );
    }
    // Premium with a firewall is fine; the create is an LRO with Azure-AsyncOperation.
    let r = em
        .http()
        .put(format!("{}{}", em.base(), reg("premiumfw01")))
        .bearer_auth(&owner)
        .json(&json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "10.0.0.0/8"}]}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let poll = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["properties"]["provisioningState"], "Creating");
    let status: Value = em
        .http()
        .get(&poll)
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "Succeeded");
    let (_, got) = em
        .arm(&owner, reqwest::Method::GET, &reg("premiumfw01"), None)
        .await;
    assert_eq!(got["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        got["properties"]["networkRuleSet"]["ipRules"][0]["value"],
        "10.0.0.0/8"
    );
}
