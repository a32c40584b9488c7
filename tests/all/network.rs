//! Virtual networks and subnets with the real az CLI, and container groups in
//! them (`az container create --vnet --subnet`, as the seed shows).

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator};
use serde_json::json;

#[tokio::test]
async fn vnets_subnets_and_container_groups_in_them() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "net", "-l", "eastus", "-o", "none"])
        .await;
    let vnet = az
        .json(&[
            "network",
            "vnet",
            "create",
            "-g",
            "net",
            "-n",
            "myVNet",
            "--address-prefix",
            "10.1.0.0/16",
            "--subnet-name",
            "plain",
            "--subnet-prefix",
            "10.1.0.0/24",
        ])
        .await;
    assert_eq!(
        vnet["newVNet"]["addressSpace"]["addressPrefixes"],
        json!(["10.1.0.0/16"])
    );
    let sub = az
        .json(&[
            "network",
            "vnet",
            "subnet",
            "create",
            "-g",
            "net",
            "--vnet-name",
            "myVNet",
            "-n",
            "aci",
            "--address-prefixes",
            "10.1.1.0/24",
            "--delegations",
            "Microsoft.ContainerInstance/containerGroups",
        ])
        .await;
    assert_eq!(
        sub["delegations"][0]["serviceName"],
        "Microsoft.ContainerInstance/containerGroups"
    );
    // Azure's address checks.
    let out = az
        .run(&[
            "network",
            "vnet",
            "subnet",
            "create",
            "-g",
            "net",
            "--vnet-name",
            "myVNet",
            "-n",
            "clash",
            "--address-prefixes",
            "10.1.1.128/25",
        ])
        .await;
    assert!(out.stderr.contains("(NetcfgSubnetRangesOverlap) Subnet 'clash' is not valid because its IP address range overlaps with that of an existing subnet 'aci' in virtual network 'myVNet'."), "{}", out.stderr);
    let out = az
        .run(&[
            "network",
            "vnet",
            "subnet",
            "create",
            "-g",
            "net",
            "--vnet-name",
            "myVNet",
            "-n",
            "outside",
            "--address-prefixes",
            "10.9.0.0/24",
        ])
        .await;
    assert!(out.stderr.contains("(NetcfgSubnetRangeOutsideVnet) Subnet 'outside' is not valid because its IP address range is outside the IP address range of virtual network 'myVNet'."), "{}", out.stderr);

    // A group in the delegated subnet gets a private address from it.
    let cg = az
        .json(&[
            "container",
            "create",
            "-g",
            "net",
            "-n",
            "in-vnet",
            "--image",
            "mcr.microsoft.com/azuredocs/aci-helloworld",
            "--vnet",
            "myVNet",
            "--subnet",
            "aci",
        ])
        .await;
    assert_eq!(cg["provisioningState"], "Succeeded");
    assert_eq!(cg["ipAddress"]["type"], "Private");
    assert_eq!(cg["ipAddress"]["ip"], "10.1.1.4");
    // An existing subnet without the delegation: az adds it, as the seed describes.
    let cg = az
        .json(&[
            "container",
            "create",
            "-g",
            "net",
            "-n",
            "in-plain",
            "--image",
            "mcr.microsoft.com/azuredocs/aci-helloworld",
            "--vnet",
            "myVNet",
            "--subnet",
            "plain",
        ])
        .await;
    assert_eq!(cg["provisioningState"], "Succeeded");
    let plain = az
        .json(&[
            "network",
            "vnet",
            "subnet",
            "show",
            "-g",
            "net",
            "--vnet-name",
            "myVNet",
            "-n",
            "plain",
        ])
        .await;
    assert_eq!(
        plain["delegations"][0]["serviceName"],
        "Microsoft.ContainerInstance/containerGroups"
    );
    // A subnet in use cannot go.
    let out = az
        .run(&[
            "network",
            "vnet",
            "subnet",
            "delete",
            "-g",
            "net",
            "--vnet-name",
            "myVNet",
            "-n",
            "aci",
        ])
        .await;
    assert!(
        out.stderr
            .contains("(InUseSubnetCannotBeDeleted) Subnet aci is in use by"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn subnet_without_the_aci_delegation_is_refused() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = format!(
        "/subscriptions/{}/resourceGroups/net",
        crate::harness::SUBSCRIPTION
    );
    em.arm(
        &owner,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1");
    let (st, b) = em
        .arm(&owner, Method::PUT, &format!("{vnet}?api-version=2024-05-01"), Some(json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "s1", "properties": {"addressPrefix": "10.0.0.0/24"}}]}})))
        .await;
    assert_eq!(st, 201, "{b}");
    let (st, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups/cg?api-version=2023-05-01"),
            Some(json!({"location": "eastus", "properties": {"osType": "Linux", "subnetIds": [{"id": format!("{vnet}/subnets/s1")}], "containers": [{"name": "app", "properties": {"image": "mcr.microsoft.com/azuredocs/aci-helloworld"}}]}})),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(b["error"]["code"], "SubnetMissingRequiredDelegation");
    assert_eq!(
        b["error"]["message"],
        "Subnet missing required delegation 'Microsoft.ContainerInstance' for container group 'cg'."
    );
    // Bad prefixes.
    let (st, b) = em
        .arm(&owner, Method::PUT, &format!("{vnet}?api-version=2024-05-01"), Some(json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.1/16"]}}})))
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("InvalidAddressPrefixFormat")),
        "{b}"
    );
}

#[tokio::test]
async fn container_group_in_a_vnet_pulls_through_a_private_endpoint() {
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
    az.ok(&[
        "acr",
        "create",
        "-n",
        "privreg0001",
        "-g",
        "myResourceGroup",
        "--sku",
        "Premium",
        "-o",
        "none",
    ])
    .await;
    let out = em.push_sample("privreg0001.azurecr.io/hello-world:v1");
    out.unwrap();
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
    let spid = az
        .ok(&[
            "identity",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "myACRId",
            "--query",
            "principalId",
            "-o",
            "tsv",
        ])
        .await
        .trim()
        .to_string();
    let regid = crate::aci::grant_acrpull(&az, "privreg0001", &spid).await;
    // Public access off and no trusted-service bypass: only a private path works.
    az.ok(&[
        "acr",
        "update",
        "-n",
        "privreg0001",
        "--public-network-enabled",
        "false",
        "--allow-trusted-services",
        "false",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "network",
        "vnet",
        "create",
        "-g",
        "myResourceGroup",
        "-n",
        "myVNet",
        "--address-prefix",
        "10.0.0.0/16",
        "--subnet-name",
        "endpoints",
        "--subnet-prefix",
        "10.0.1.0/24",
        "-o",
        "none",
    ])
    .await;
    let pe = az
        .json(&[
            "network",
            "private-endpoint",
            "create",
            "-g",
            "myResourceGroup",
            "-n",
            "myPE",
            "--vnet-name",
            "myVNet",
            "--subnet",
            "endpoints",
            "--private-connection-resource-id",
            &regid,
            "--group-id",
            "registry",
            "--connection-name",
            "myConnection",
        ])
        .await;
    let ip = pe["customDnsConfigs"][0]["ipAddresses"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(pe["customDnsConfigs"][0]["fqdn"], "privreg0001.azurecr.io");
    assert_eq!(
        pe["privateLinkServiceConnections"][0]["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );
    let conns = az
        .json(&[
            "acr",
            "private-endpoint-connection",
            "list",
            "-r",
            "privreg0001",
        ])
        .await;
    assert_eq!(
        conns[0]["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );

    let create = |name: &'static str| {
        let az = &az;
        let userid = userid.clone();
        async move {
            az.run(&[
                "container",
                "create",
                "-g",
                "myResourceGroup",
                "-n",
                name,
                "--image",
                "privreg0001.azurecr.io/hello-world:v1",
                "--acr-identity",
                &userid,
                "--assign-identity",
                &userid,
                "--vnet",
                "myVNet",
                "--subnet",
                "aci",
                "--subnet-address-prefix",
                "10.0.2.0/24",
                "-o",
                "json",
            ])
            .await
        }
    };
    // The private DNS zone exists but is not linked to the VNet: the name resolves publicly, and the firewall says no.
    az.ok(&[
        "network",
        "private-dns",
        "zone",
        "create",
        "-g",
        "myResourceGroup",
        "-n",
        "privatelink.azurecr.io",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "network",
        "private-dns",
        "record-set",
        "a",
        "add-record",
        "-g",
        "myResourceGroup",
        "-z",
        "privatelink.azurecr.io",
        "-n",
        "privreg0001",
        "--ipv4-address",
        &ip,
        "-o",
        "none",
    ])
    .await;
    let out = create("unlinked").await;
    assert!(!out.ok);
    assert!(out.stderr.contains("denied: client with IP '20.42.65.91' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."), "{}", out.stderr);
    // Linked: the group reaches the registry through the private endpoint.
    az.ok(&[
        "network",
        "private-dns",
        "link",
        "vnet",
        "create",
        "-g",
        "myResourceGroup",
        "-z",
        "privatelink.azurecr.io",
        "-n",
        "myLink",
        "--virtual-network",
        "myVNet",
        "--registration-enabled",
        "false",
        "-o",
        "none",
    ])
    .await;
    let out = create("linked").await;
    assert!(out.ok, "{}", out.stderr);
    let cg: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(cg["provisioningState"], "Succeeded");
    assert_eq!(cg["instanceView"]["state"], "Running");
    assert_eq!(cg["ipAddress"]["type"], "Private");

    // The seed's multi-container YAML with subnetIds (container names in lower case, as ACI requires).
    let subnet_id = az
        .ok(&[
            "network",
            "vnet",
            "subnet",
            "show",
            "-g",
            "myResourceGroup",
            "--vnet-name",
            "myVNet",
            "-n",
            "aci",
            "--query",
            "id",
            "-o",
            "tsv",
        ])
        .await
        .trim()
        .to_string();
    let yaml = format!(
        "apiVersion: '2021-10-01'\nlocation: eastus\ntype: Microsoft.ContainerInstance/containerGroups\nidentity: \n  type: UserAssigned\n  userAssignedIdentities: {{\n    '{userid}': {{}}\n    }}\nproperties:\n  osType: Linux\n  imageRegistryCredentials:\n  - server: privreg0001.azurecr.io\n    identity: '{userid}'\n  subnetIds:\n  - id: '{subnet_id}'\n    name: aci\n  containers:\n  - name: mycontainer-1\n    properties:\n      resources:\n        requests:\n          cpu: '.4'\n          memoryInGb: '1'\n      environmentVariables:\n        - name: CONTAINER\n          value: 1\n      image: 'privreg0001.azurecr.io/hello-world:v1'\n  - name: mycontainer-2\n    properties:\n      resources:\n        requests:\n          cpu: '.4'\n          memoryInGb: '1'\n      environmentVariables:\n        - name: CONTAINER\n          value: 2\n      image: 'privreg0001.azurecr.io/hello-world:v1'\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my.yaml");
    std::fs::write(&file, yaml).unwrap();
    az.ok(&[
        "container",
        "create",
        "-g",
        "myResourceGroup",
        "-n",
        "seed-yaml",
        "--file",
        file.to_str().unwrap(),
        "-o",
        "none",
    ])
    .await;
    let cg = az
        .json(&[
            "container",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "seed-yaml",
        ])
        .await;
    assert_eq!(cg["instanceView"]["state"], "Running", "{cg}");
    assert_eq!(cg["containers"].as_array().unwrap().len(), 2);

    // A manual request waits for the registry owner's approval.
    let pe = az
        .json(&[
            "network",
            "private-endpoint",
            "create",
            "-g",
            "myResourceGroup",
            "-n",
            "manualPE",
            "--vnet-name",
            "myVNet",
            "--subnet",
            "endpoints",
            "--private-connection-resource-id",
            &regid,
            "--group-id",
            "registry",
            "--connection-name",
            "manualConnection",
            "--manual-request",
            "true",
            "--request-message",
            "please",
        ])
        .await;
    assert_eq!(
        pe["manualPrivateLinkServiceConnections"][0]["privateLinkServiceConnectionState"]["status"],
        "Pending"
    );
    let conns = az
        .json(&[
            "acr",
            "private-endpoint-connection",
            "list",
            "-r",
            "privreg0001",
        ])
        .await;
    let pending = conns
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["privateLinkServiceConnectionState"]["status"] == "Pending")
        .expect("a pending connection")
        .clone();
    let approved = az
        .json(&[
            "acr",
            "private-endpoint-connection",
            "approve",
            "-r",
            "privreg0001",
            "-n",
            pending["name"].as_str().unwrap(),
            "--description",
            "ok",
        ])
        .await;
    assert_eq!(
        approved["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );
}

#[tokio::test]
async fn private_endpoints_need_a_premium_registry() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = format!(
        "/subscriptions/{}/resourceGroups/pe",
        crate::harness::SUBSCRIPTION
    );
    em.arm(
        &owner,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/basicpe001");
    em.arm(
        &owner,
        Method::PUT,
        &format!("{reg}?api-version=2023-07-01"),
        Some(json!({"location": "eastus", "sku": {"name": "Basic"}})),
    )
    .await;
    let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1");
    em.arm(&owner, Method::PUT, &format!("{vnet}?api-version=2024-05-01"), Some(json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "s1", "properties": {"addressPrefix": "10.0.0.0/24"}}]}}))).await;
    let (st, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{rg}/providers/Microsoft.Network/privateEndpoints/pe1?api-version=2024-05-01"),
            Some(json!({"location": "eastus", "properties": {"subnet": {"id": format!("{vnet}/subnets/s1")}, "privateLinkServiceConnections": [{"name": "c1", "properties": {"privateLinkServiceId": reg, "groupIds": ["registry"]}}]}})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["error"]["code"], "PrivateEndpointBadRequest");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not supported for the SKU Basic"),
        "{b}"
    );
    // Nothing half-made: no endpoint, no connection on the registry.
    let (st, _) = em
        .arm(
            &owner,
            Method::GET,
            &format!(
                "{rg}/providers/Microsoft.Network/privateEndpoints/pe1?api-version=2024-05-01"
            ),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (_, r) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{reg}?api-version=2023-07-01"),
            None,
        )
        .await;
    assert_eq!(r["properties"]["privateEndpointConnections"], json!([]));
}

#[tokio::test]
async fn private_endpoint_in_a_peered_vnet() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "hub", "-l", "eastus", "-o", "none"])
        .await;
    az.ok(&[
        "acr",
        "create",
        "-n",
        "peerreg0001",
        "-g",
        "hub",
        "--sku",
        "Premium",
        "-o",
        "none",
    ])
    .await;
    let out = em.push_sample("peerreg0001.azurecr.io/hello-world:v1");
    out.unwrap();
    az.ok(&[
        "acr",
        "update",
        "-n",
        "peerreg0001",
        "--public-network-enabled",
        "false",
        "--allow-trusted-services",
        "false",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "identity", "create", "-g", "hub", "-n", "puller", "-o", "none",
    ])
    .await;
    let userid = az
        .ok(&[
            "identity", "show", "-g", "hub", "-n", "puller", "--query", "id", "-o", "tsv",
        ])
        .await
        .trim()
        .to_string();
    let spid = az
        .ok(&[
            "identity",
            "show",
            "-g",
            "hub",
            "-n",
            "puller",
            "--query",
            "principalId",
            "-o",
            "tsv",
        ])
        .await
        .trim()
        .to_string();
    let regid = crate::aci::grant_acrpull(&az, "peerreg0001", &spid).await;
    // The endpoint lives in the hub; the group in a spoke.
    az.ok(&[
        "network",
        "vnet",
        "create",
        "-g",
        "hub",
        "-n",
        "hubVNet",
        "--address-prefix",
        "10.0.0.0/16",
        "--subnet-name",
        "endpoints",
        "--subnet-prefix",
        "10.0.1.0/24",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "network",
        "vnet",
        "create",
        "-g",
        "hub",
        "-n",
        "spokeVNet",
        "--address-prefix",
        "10.1.0.0/16",
        "-o",
        "none",
    ])
    .await;
    let pe = az
        .json(&[
            "network",
            "private-endpoint",
            "create",
            "-g",
            "hub",
            "-n",
            "hubPE",
            "--vnet-name",
            "hubVNet",
            "--subnet",
            "endpoints",
            "--private-connection-resource-id",
            &regid,
            "--group-id",
            "registry",
            "--connection-name",
            "c",
        ])
        .await;
    let ip = pe["customDnsConfigs"][0]["ipAddresses"][0]
        .as_str()
        .unwrap()
        .to_string();
    az.ok(&[
        "network",
        "private-dns",
        "zone",
        "create",
        "-g",
        "hub",
        "-n",
        "privatelink.azurecr.io",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "network",
        "private-dns",
        "record-set",
        "a",
        "add-record",
        "-g",
        "hub",
        "-z",
        "privatelink.azurecr.io",
        "-n",
        "peerreg0001",
        "--ipv4-address",
        &ip,
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "network",
        "private-dns",
        "link",
        "vnet",
        "create",
        "-g",
        "hub",
        "-z",
        "privatelink.azurecr.io",
        "-n",
        "spokeLink",
        "--virtual-network",
        "spokeVNet",
        "--registration-enabled",
        "false",
        "-o",
        "none",
    ])
    .await;
    let create = |name: &'static str| {
        let az = &az;
        let userid = userid.clone();
        async move {
            az.run(&[
                "container",
                "create",
                "-g",
                "hub",
                "-n",
                name,
                "--image",
                "peerreg0001.azurecr.io/hello-world:v1",
                "--acr-identity",
                &userid,
                "--assign-identity",
                &userid,
                "--vnet",
                "spokeVNet",
                "--subnet",
                "aci",
                "--subnet-address-prefix",
                "10.1.2.0/24",
                "-o",
                "json",
            ])
            .await
        }
    };
    // Not peered: the spoke resolves the private address but cannot reach it.
    let out = create("unpeered").await;
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains(&format!("dial tcp {ip}:443: i/o timeout")),
        "{}",
        out.stderr
    );
    // Peered both ways: the pull goes through the hub's endpoint.
    az.ok(&[
        "network",
        "vnet",
        "peering",
        "create",
        "-g",
        "hub",
        "-n",
        "spoke-to-hub",
        "--vnet-name",
        "spokeVNet",
        "--remote-vnet",
        "hubVNet",
        "--allow-vnet-access",
        "-o",
        "none",
    ])
    .await;
    let state = az
        .ok(&[
            "network",
            "vnet",
            "peering",
            "show",
            "-g",
            "hub",
            "-n",
            "spoke-to-hub",
            "--vnet-name",
            "spokeVNet",
            "--query",
            "peeringState",
            "-o",
            "tsv",
        ])
        .await;
    assert_eq!(state.trim(), "Initiated");
    az.ok(&[
        "network",
        "vnet",
        "peering",
        "create",
        "-g",
        "hub",
        "-n",
        "hub-to-spoke",
        "--vnet-name",
        "hubVNet",
        "--remote-vnet",
        "spokeVNet",
        "--allow-vnet-access",
        "-o",
        "none",
    ])
    .await;
    let state = az
        .ok(&[
            "network",
            "vnet",
            "peering",
            "show",
            "-g",
            "hub",
            "-n",
            "spoke-to-hub",
            "--vnet-name",
            "spokeVNet",
            "--query",
            "peeringState",
            "-o",
            "tsv",
        ])
        .await;
    assert_eq!(state.trim(), "Connected");
    let out = create("peered").await;
    assert!(out.ok, "{}", out.stderr);
    let cg: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(cg["instanceView"]["state"], "Running");
}

#[tokio::test]
async fn an_ip_rule_lets_aci_egress_in() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = format!(
        "/subscriptions/{}/resourceGroups/ip",
        crate::harness::SUBSCRIPTION
    );
    em.arm(
        &owner,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/iprulereg01");
    let props = |rules: serde_json::Value| json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"adminUserEnabled": true, "networkRuleBypassOptions": "None", "networkRuleSet": {"defaultAction": "Deny", "ipRules": rules}}});
    let (st, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{reg}?api-version=2023-07-01"),
            Some(props(json!([{"action": "Allow", "value": "1.2.3.4"}]))),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let (_, creds) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{reg}/listCredentials?api-version=2023-07-01"),
            None,
        )
        .await;
    let out = em.push_sample("iprulereg01.azurecr.io/hello-world:v1");
    // The local client is not in the IP rules either: the push is refused at the firewall.
    let err = out.unwrap_err();
    assert!(
        err.contains("DENIED") && err.contains("client with IP '127.0.0.1' is not allowed access"),
        "{err}"
    );
    em.arm(
        &owner,
        Method::PUT,
        &format!("{reg}?api-version=2023-07-01"),
        Some(props(json!([{"action": "Allow", "value": "127.0.0.0/8"}]))),
    )
    .await;
    let out = em.push_sample("iprulereg01.azurecr.io/hello-world:v1");
    out.unwrap();
    let group = |name: &str| {
        (
            format!(
                "{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}?api-version=2023-05-01"
            ),
            json!({"location": "eastus", "properties": {"osType": "Linux",
                "imageRegistryCredentials": [{"server": "iprulereg01.azurecr.io", "username": "iprulereg01", "password": creds["passwords"][0]["value"]}],
                "containers": [{"name": "app", "properties": {"image": "iprulereg01.azurecr.io/hello-world:v1"}}]}}),
        )
    };
    let (url, body) = group("outside");
    let (_, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(
        b["properties"]["containers"][0]["properties"]["instanceView"]["currentState"]["state"],
        "Waiting",
        "{b}"
    );
    // Allow ACI's egress address: the pull passes.
    em.arm(&owner, Method::PUT, &format!("{reg}?api-version=2023-07-01"), Some(props(json!([{"action": "Allow", "value": "127.0.0.0/8"}, {"action": "Allow", "value": "20.42.65.91"}])))).await;
    let (url, body) = group("allowed");
    let (st, b) = em.arm(&owner, Method::PUT, &url, Some(body)).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(
        b["properties"]["containers"][0]["properties"]["instanceView"]["currentState"]["state"],
        "Running",
        "{b}"
    );
}

#[tokio::test]
async fn a_dns_zone_group_registers_the_endpoint() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "zg", "-l", "eastus", "-o", "none"])
        .await;
    az.ok(&[
        "acr",
        "create",
        "-n",
        "zonereg0001",
        "-g",
        "zg",
        "--sku",
        "Premium",
        "-o",
        "none",
    ])
    .await;
    em.push_sample("zonereg0001.azurecr.io/hello-world:v1")
        .unwrap();
    az.ok(&[
        "acr",
        "update",
        "-n",
        "zonereg0001",
        "--public-network-enabled",
        "false",
        "--allow-trusted-services",
        "false",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "identity", "create", "-g", "zg", "-n", "puller", "-o", "none",
    ])
    .await;
    let userid = az
        .ok(&[
            "identity", "show", "-g", "zg", "-n", "puller", "--query", "id", "-o", "tsv",
        ])
        .await
        .trim()
        .to_string();
    let spid = az
        .ok(&[
            "identity",
            "show",
            "-g",
            "zg",
            "-n",
            "puller",
            "--query",
            "principalId",
            "-o",
            "tsv",
        ])
        .await
        .trim()
        .to_string();
    let regid = crate::aci::grant_acrpull(&az, "zonereg0001", &spid).await;
    az.ok(&[
        "network",
        "vnet",
        "create",
        "-g",
        "zg",
        "-n",
        "v",
        "--address-prefix",
        "10.0.0.0/16",
        "--subnet-name",
        "pe",
        "--subnet-prefix",
        "10.0.1.0/24",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "network",
        "private-endpoint",
        "create",
        "-g",
        "zg",
        "-n",
        "pe1",
        "--vnet-name",
        "v",
        "--subnet",
        "pe",
        "--private-connection-resource-id",
        &regid,
        "--group-id",
        "registry",
        "--connection-name",
        "c",
        "-o",
        "none",
    ])
    .await;
    let zone = az
        .json(&[
            "network",
            "private-dns",
            "zone",
            "create",
            "-g",
            "zg",
            "-n",
            "privatelink.azurecr.io",
        ])
        .await;
    az.ok(&[
        "network",
        "private-dns",
        "link",
        "vnet",
        "create",
        "-g",
        "zg",
        "-z",
        "privatelink.azurecr.io",
        "-n",
        "l",
        "--virtual-network",
        "v",
        "--registration-enabled",
        "false",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "network",
        "private-endpoint",
        "dns-zone-group",
        "create",
        "-g",
        "zg",
        "--endpoint-name",
        "pe1",
        "-n",
        "default",
        "--private-dns-zone",
        zone["id"].as_str().unwrap(),
        "--zone-name",
        "registry",
        "-o",
        "none",
    ])
    .await;
    let records = az
        .json(&[
            "network",
            "private-dns",
            "record-set",
            "a",
            "list",
            "-g",
            "zg",
            "-z",
            "privatelink.azurecr.io",
        ])
        .await;
    let names = crate::harness::names(&records);
    assert!(
        names.contains(&"zonereg0001") && names.contains(&"zonereg0001.eastus.data"),
        "{names:?}"
    );
    let out = az
        .run(&[
            "container",
            "create",
            "-g",
            "zg",
            "-n",
            "app",
            "--image",
            "zonereg0001.azurecr.io/hello-world:v1",
            "--acr-identity",
            &userid,
            "--assign-identity",
            &userid,
            "--vnet",
            "v",
            "--subnet",
            "aci",
            "--subnet-address-prefix",
            "10.0.2.0/24",
            "-o",
            "json",
        ])
        .await;
    assert!(out.ok, "{}", out.stderr);
}

/// A VNet's peerings are their own resources: `az network vnet update` (a GET,
/// then a PUT of what it read) and a tags PATCH keep them, and their states
/// follow the peerings on both sides. A missing child of a network resource
/// is NRP's `NotFound`.
#[tokio::test]
async fn vnet_updates_keep_peerings_and_their_states() {
    use reqwest::Method;
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    let owner = em.arm_token().await;
    az.ok(&[
        "group", "create", "-n", "peer", "-l", "eastus", "-o", "none",
    ])
    .await;
    let v = "api-version=2024-05-01";
    let net = format!(
        "/subscriptions/{}/resourceGroups/peer/providers/Microsoft.Network",
        crate::harness::SUBSCRIPTION
    );
    for (name, prefix) in [("hub", "10.0.0.0/16"), ("spoke", "10.1.0.0/16")] {
        let (s, b) = em
            .arm(
                &owner,
                Method::PUT,
                &format!("{net}/virtualNetworks/{name}?{v}"),
                Some(json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": [prefix]}}})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let peer = |from: &'static str, to: &'static str| {
        let (em, owner, net) = (&em, &owner, &net);
        async move {
            em.arm(
                owner,
                Method::PUT,
                &format!("{net}/virtualNetworks/{from}/virtualNetworkPeerings/{from}-to-{to}?{v}"),
                Some(json!({"properties": {"remoteVirtualNetwork": {"id": format!("{net}/virtualNetworks/{to}")}}})),
            )
            .await
        }
    };
    let (s, b) = peer("hub", "spoke").await;
    assert_eq!(
        (s, &b["properties"]["peeringState"]),
        (201, &json!("Initiated")),
        "{b}"
    );
    let (s, b) = peer("spoke", "hub").await;
    assert_eq!(
        (s, &b["properties"]["peeringState"]),
        (201, &json!("Connected")),
        "{b}"
    );
    let state = |from: &'static str, to: &'static str| {
        let (em, owner, net) = (&em, &owner, &net);
        async move {
            let (s, b) = em
                .arm(
                    owner,
                    Method::GET,
                    &format!(
                        "{net}/virtualNetworks/{from}/virtualNetworkPeerings/{from}-to-{to}?{v}"
                    ),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{b}");
            b["properties"]["peeringState"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(state("hub", "spoke").await, "Connected");
    // az's update sends the VNet back whole; the peering stays, connected.
    let hub = az
        .json(&[
            "network",
            "vnet",
            "update",
            "-g",
            "peer",
            "-n",
            "hub",
            "--dns-servers",
            "10.0.0.4",
        ])
        .await;
    assert_eq!(hub["dhcpOptions"], json!({"dnsServers": ["10.0.0.4"]}));
    assert_eq!(hub["virtualNetworkPeerings"][0]["name"], "hub-to-spoke");
    assert_eq!(state("hub", "spoke").await, "Connected");
    // A tags PATCH (VirtualNetworks_UpdateTags) changes the tags only.
    let (s, b) = em
        .arm(
            &owner,
            Method::PATCH,
            &format!("{net}/virtualNetworks/hub?{v}"),
            Some(json!({"tags": {"env": "test"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["tags"], json!({"env": "test"}));
    assert_eq!(
        b["properties"]["dhcpOptions"],
        json!({"dnsServers": ["10.0.0.4"]})
    );
    assert_eq!(
        b["properties"]["virtualNetworkPeerings"][0]["name"],
        "hub-to-spoke"
    );
    // One side gone: the other is Disconnected (until updated or re-created).
    let (s, _) = em
        .arm(
            &owner,
            Method::DELETE,
            &format!("{net}/virtualNetworks/spoke/virtualNetworkPeerings/spoke-to-hub?{v}"),
            None,
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(state("hub", "spoke").await, "Disconnected");
    // Missing children, in NRP's words; under a missing parent, ARM's.
    for path in [
        format!("{net}/virtualNetworks/spoke/virtualNetworkPeerings/spoke-to-hub"),
        format!("{net}/virtualNetworks/hub/subnets/none"),
    ] {
        let (s, b) = em
            .arm(&owner, Method::GET, &format!("{path}?{v}"), None)
            .await;
        assert_eq!(
            (s, b),
            (
                404,
                json!({"error": {"code": "NotFound", "message": format!("Resource {path} not found.")}})
            )
        );
    }
    let (s, b) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{net}/virtualNetworks/nowhere/subnets/none?{v}"),
            None,
        )
        .await;
    assert_eq!(
        (s, b),
        (
            404,
            json!({"error": {"code": "ParentResourceNotFound", "message": "Can not perform requested operation on nested resource. Parent resource 'nowhere' not found."}})
        )
    );
    // Re-creating the deleted side is refused while the other is Disconnected
    // (Azure's words: hashicorp/terraform-provider-azurerm#14051); updating the
    // other side takes it back to Initiated, and then both connect again.
    let (s, b) = peer("spoke", "hub").await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["error"]["message"],
        format!(
            "Cannot create or update peering {net}/virtualNetworks/spoke/virtualNetworkPeerings/spoke-to-hub because remote peering {net}/virtualNetworks/hub/virtualNetworkPeerings/hub-to-spoke referencing parent virtual network {net}/virtualNetworks/spoke is in Disconnected state. Update or re-create the remote peering to get it back to Initiated state. Peering gets Disconnected when remote vnet or remote peering is deleted and re-created."
        )
    );
    assert_eq!(b["error"]["code"], "RemotePeeringIsDisconnected");
    for (from, to, status, now) in [
        ("hub", "spoke", 200, "Initiated"),
        ("spoke", "hub", 201, "Connected"),
    ] {
        let (s, b) = peer(from, to).await;
        assert_eq!(
            (s, b["properties"]["peeringState"].as_str()),
            (status, Some(now))
        );
    }
    assert_eq!(state("hub", "spoke").await, "Connected");
    // A peered VNet deleted: the peering back to it is Disconnected.
    az.ok(&["network", "vnet", "delete", "-g", "peer", "-n", "spoke"])
        .await;
    assert_eq!(state("hub", "spoke").await, "Disconnected");
}
