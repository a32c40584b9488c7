//! Responses of the hand-written providers as Azure shapes them, driven by
//! the real az CLI and checked against azure-cli's recorded responses
//! (`src/azure-cli/azure/cli/command_modules/*/tests/latest/recordings`):
//! `tags` left out when none were sent, secrets never returned, settings
//! round-tripped, identity casing, gateway scope-map actions, PUT replacing
//! what it does not send, and lists in creation order.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};

fn no_tags(v: &Value) {
    assert!(v.get("tags").is_none(), "a `tags` key: {v}");
}

async fn ready<'a>(em: &'a Emulator, group: &str) -> Az<'a> {
    let az = Az::new(em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", group, "-l", "eastus", "-o", "none"])
        .await;
    az
}

/// Private DNS zones, VNet links, VNets and private endpoints created without
/// tags carry no `tags` key, in every response (azure-cli's privatedns
/// recordings: test_PutZone_ZoneNotExists_ExpectZoneCreated,
/// test_PutLink_LinkNotExistsWithoutRegistration_ExpectLinkCreated); record
/// sets have no `provisioningState`; `update --tags` adds them.
#[tokio::test]
async fn private_dns_and_network_resources_without_tags_have_no_tags_key() {
    let em = Emulator::start();
    let az = ready(&em, "fid").await;
    let vnet = az
        .json(&[
            "network",
            "vnet",
            "create",
            "-g",
            "fid",
            "-n",
            "v1",
            "--address-prefix",
            "10.0.0.0/16",
            "--subnet-name",
            "pe",
            "--subnet-prefix",
            "10.0.1.0/24",
        ])
        .await;
    no_tags(&vnet["newVNet"]);
    no_tags(
        &az.json(&["network", "vnet", "show", "-g", "fid", "-n", "v1"])
            .await,
    );
    let zone = az
        .json(&[
            "network",
            "private-dns",
            "zone",
            "create",
            "-g",
            "fid",
            "-n",
            "privatelink.azurecr.io",
        ])
        .await;
    no_tags(&zone);
    assert_eq!(zone["location"], "global");
    assert_eq!(zone["provisioningState"], "Succeeded");
    assert_eq!(zone["maxNumberOfRecordSets"], 25000);
    assert_eq!(zone["numberOfRecordSets"], 1, "the SOA record set: {zone}");
    let link = az
        .json(&[
            "network",
            "private-dns",
            "link",
            "vnet",
            "create",
            "-g",
            "fid",
            "-z",
            "privatelink.azurecr.io",
            "-n",
            "l1",
            "--virtual-network",
            "v1",
            "--registration-enabled",
            "false",
        ])
        .await;
    no_tags(&link);
    assert_eq!(link["virtualNetworkLinkState"], "Completed");
    assert_eq!(link["registrationEnabled"], false);
    let show = |args: &'static [&'static str]| {
        let az = &az;
        async move { az.json(args).await }
    };
    let link = show(&[
        "network",
        "private-dns",
        "link",
        "vnet",
        "show",
        "-g",
        "fid",
        "-z",
        "privatelink.azurecr.io",
        "-n",
        "l1",
    ])
    .await;
    no_tags(&link);
    let links = show(&[
        "network",
        "private-dns",
        "link",
        "vnet",
        "list",
        "-g",
        "fid",
        "-z",
        "privatelink.azurecr.io",
    ])
    .await;
    no_tags(&links[0]);
    let zones = show(&["network", "private-dns", "zone", "list", "-g", "fid"]).await;
    no_tags(&zones[0]);
    assert_eq!(zones[0]["numberOfVirtualNetworkLinks"], 1, "{zones}");

    // A record set: no provisioningState, `isAutoRegistered`, the zone counts it.
    let rs = az
        .json(&[
            "network",
            "private-dns",
            "record-set",
            "a",
            "add-record",
            "-g",
            "fid",
            "-z",
            "privatelink.azurecr.io",
            "-n",
            "myreg",
            "--ipv4-address",
            "10.0.1.5",
        ])
        .await;
    assert!(rs.get("provisioningState").is_none(), "{rs}");
    no_tags(&rs);
    assert_eq!(rs["isAutoRegistered"], false);
    assert_eq!(rs["fqdn"], "myreg.privatelink.azurecr.io.");
    assert_eq!(rs["aRecords"], json!([{"ipv4Address": "10.0.1.5"}]));
    let zone = show(&[
        "network",
        "private-dns",
        "zone",
        "show",
        "-g",
        "fid",
        "-n",
        "privatelink.azurecr.io",
    ])
    .await;
    no_tags(&zone);
    assert_eq!(zone["numberOfRecordSets"], 2, "{zone}");

    // Tags set by update come back; the link's other settings stay.
    let zone = az
        .json(&[
            "network",
            "private-dns",
            "zone",
            "update",
            "-g",
            "fid",
            "-n",
            "privatelink.azurecr.io",
            "--tags",
            "env=test",
        ])
        .await;
    assert_eq!(zone["tags"], json!({"env": "test"}));
    let link = az
        .json(&[
            "network",
            "private-dns",
            "link",
            "vnet",
            "update",
            "-g",
            "fid",
            "-z",
            "privatelink.azurecr.io",
            "-n",
            "l1",
            "--tags",
            "k=v",
        ])
        .await;
    assert_eq!(link["tags"], json!({"k": "v"}));
    assert_eq!(link["virtualNetworkLinkState"], "Completed");

    // A private endpoint to a Premium registry.
    az.acr_create("fid", "fidreg0001", "Premium").await;
    let regid = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/fid/providers/Microsoft.ContainerRegistry/registries/fidreg0001"
    );
    let pe = az
        .json(&[
            "network",
            "private-endpoint",
            "create",
            "-g",
            "fid",
            "-n",
            "pe1",
            "--vnet-name",
            "v1",
            "--subnet",
            "pe",
            "--private-connection-resource-id",
            &regid,
            "--group-id",
            "registry",
            "--connection-name",
            "c1",
        ])
        .await;
    no_tags(&pe);
    no_tags(
        &show(&[
            "network",
            "private-endpoint",
            "show",
            "-g",
            "fid",
            "-n",
            "pe1",
        ])
        .await,
    );
}

/// Secret volumes come back as `"secret": {}` and registry passwords not at
/// all, on every read; `zones` are kept (azure-cli's container recordings:
/// test_container_create, test_container_create_with_acr,
/// test_container_create_with_zone).
#[tokio::test]
async fn container_groups_hide_secret_volumes_and_keep_zones() {
    let em = Emulator::start();
    let az = ready(&em, "fid").await;
    let cg = az
        .json(&[
            "container",
            "create",
            "-g",
            "fid",
            "-n",
            "secretive",
            "--image",
            "mcr.microsoft.com/azuredocs/aci-helloworld",
            "--secrets",
            "secret1=c3VwZXI=",
            "secret2=bm90aGluZw==",
            "--secrets-mount-path",
            "/s",
            "--zone",
            "1",
            "--registry-login-server",
            "other.example.com",
            "--registry-username",
            "robot",
            "--registry-password",
            "hunter2",
        ])
        .await;
    let check = |cg: &Value| {
        // az prints the SDK's model: what Azure leaves out shows as null.
        assert_eq!(cg["volumes"][0]["name"], "secrets", "{cg}");
        assert_eq!(cg["volumes"][0]["secret"], json!({}), "{cg}");
        assert_eq!(cg["zones"], json!(["1"]), "{cg}");
        let creds = &cg["imageRegistryCredentials"][0];
        assert_eq!(creds["server"], "other.example.com", "{cg}");
        assert_eq!(creds["username"], "robot", "{cg}");
        assert!(creds["password"].is_null(), "{cg}");
        assert!(!cg.to_string().contains("c3VwZXI="), "{cg}");
        assert!(!cg.to_string().contains("hunter2"), "{cg}");
    };
    check(&cg);
    assert_eq!(cg["provisioningState"], "Succeeded");
    assert_eq!(cg["containers"][0]["volumeMounts"][0]["mountPath"], "/s");
    check(
        &az.json(&["container", "show", "-g", "fid", "-n", "secretive"])
            .await,
    );
    check(&az.json(&["container", "list", "-g", "fid"]).await[0]);
    // Azure leaves `command` out when none was given.
    assert!(cg["containers"][0]["command"].is_null(), "{cg}");
}

/// Subnet `serviceEndpoints` (with `locations` and `provisioningState` as
/// Azure fills them), `defaultOutboundAccess` and VNet `dhcpOptions` round
/// trip (azure-cli's network recordings: test_network_subnet_endpoint_service,
/// test_network_vnet).
#[tokio::test]
async fn subnet_service_endpoints_outbound_access_and_dns_servers() {
    let em = Emulator::start();
    let az = ready(&em, "fid").await;
    let vnet = az
        .json(&[
            "network",
            "vnet",
            "create",
            "-g",
            "fid",
            "-n",
            "v1",
            "--address-prefix",
            "10.0.0.0/16",
            "--dns-servers",
            "10.0.0.4",
            "10.0.0.5",
        ])
        .await;
    assert_eq!(
        vnet["newVNet"]["dhcpOptions"],
        json!({"dnsServers": ["10.0.0.4", "10.0.0.5"]})
    );
    let sub = az
        .json(&[
            "network",
            "vnet",
            "subnet",
            "create",
            "-g",
            "fid",
            "--vnet-name",
            "v1",
            "-n",
            "s1",
            "--address-prefixes",
            "10.0.1.0/24",
            "--service-endpoints",
            "Microsoft.Storage",
            "--default-outbound-access",
            "false",
        ])
        .await;
    let endpoints = json!([{"provisioningState": "Succeeded", "service": "Microsoft.Storage", "locations": ["*"]}]);
    assert_eq!(sub["serviceEndpoints"], endpoints, "{sub}");
    assert_eq!(sub["defaultOutboundAccess"], false, "{sub}");
    let shown = az
        .json(&[
            "network",
            "vnet",
            "subnet",
            "show",
            "-g",
            "fid",
            "--vnet-name",
            "v1",
            "-n",
            "s1",
        ])
        .await;
    assert_eq!(shown["serviceEndpoints"], endpoints);
    assert_eq!(shown["defaultOutboundAccess"], false);
    // Replaced by update; the other settings stay.
    let upd = az
        .json(&[
            "network",
            "vnet",
            "subnet",
            "update",
            "-g",
            "fid",
            "--vnet-name",
            "v1",
            "-n",
            "s1",
            "--service-endpoints",
            "Microsoft.KeyVault",
        ])
        .await;
    assert_eq!(
        upd["serviceEndpoints"],
        json!([{"provisioningState": "Succeeded", "service": "Microsoft.KeyVault", "locations": ["*"]}])
    );
    assert_eq!(upd["defaultOutboundAccess"], false);
    // A VNet update sends its subnets back: they keep their endpoints, and the DNS servers stay.
    let v = az
        .json(&[
            "network",
            "vnet",
            "update",
            "-g",
            "fid",
            "-n",
            "v1",
            "--address-prefixes",
            "10.0.0.0/16",
            "10.10.0.0/16",
        ])
        .await;
    assert_eq!(
        v["dhcpOptions"],
        json!({"dnsServers": ["10.0.0.4", "10.0.0.5"]})
    );
    assert_eq!(
        v["subnets"][0]["serviceEndpoints"][0]["service"],
        "Microsoft.KeyVault"
    );
    // A VNet made without DNS servers has no dhcpOptions.
    let plain = az
        .json(&[
            "network",
            "vnet",
            "create",
            "-g",
            "fid",
            "-n",
            "v2",
            "--address-prefix",
            "10.9.0.0/16",
        ])
        .await;
    assert!(plain["newVNet"].get("dhcpOptions").is_none(), "{plain}");
}

/// The registry's identity `type` as the ContainerRegistry RP returns it
/// (camel case), and as ARM's `/resources` list returns it (Pascal case):
/// azure-cli's test_acr_identity recording.
#[tokio::test]
async fn registry_identity_type_casing() {
    let em = Emulator::start();
    let az = ready(&em, "fid").await;
    az.acr_create("fid", "fidreg0002", "Premium").await;
    let uai = az.identity_create("fid", "pull-id").await;
    let uai_id = uai["id"].as_str().unwrap();
    let ident = az
        .json(&[
            "acr",
            "identity",
            "assign",
            "-n",
            "fidreg0002",
            "--identities",
            "[system]",
        ])
        .await;
    assert_eq!(ident["identity"]["type"], "systemAssigned", "{ident}");
    let ident = az
        .json(&[
            "acr",
            "identity",
            "assign",
            "-n",
            "fidreg0002",
            "--identities",
            uai_id,
        ])
        .await;
    assert_eq!(
        ident["identity"]["type"], "systemAssigned, userAssigned",
        "{ident}"
    );
    let shown = az
        .json(&["acr", "identity", "show", "-n", "fidreg0002"])
        .await;
    assert_eq!(shown["type"], "systemAssigned, userAssigned", "{shown}");
    assert_eq!(
        shown["userAssignedIdentities"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["principalId"],
        uai["principalId"]
    );
    let reg = az.json(&["acr", "show", "-n", "fidreg0002"]).await;
    assert_eq!(reg["identity"]["type"], "systemAssigned, userAssigned");
    let listed = az
        .json(&[
            "resource",
            "list",
            "--resource-type",
            "Microsoft.ContainerRegistry/registries",
        ])
        .await;
    assert_eq!(
        listed[0]["identity"]["type"], "SystemAssigned, UserAssigned",
        "{listed}"
    );
    let ident = az
        .json(&[
            "acr",
            "identity",
            "remove",
            "-n",
            "fidreg0002",
            "--identities",
            "[system]",
        ])
        .await;
    assert_eq!(ident["identity"]["type"], "userAssigned", "{ident}");
}

/// `az acr scope-map create --gateway …` builds `gateway/<connected
/// registry>/<config|message>/<read|write>` actions (azure-cli's acr
/// scope_map.py and test_acr_connectedregistry recording); Azure keeps them.
#[tokio::test]
async fn scope_maps_take_gateway_actions() {
    let em = Emulator::start();
    let az = ready(&em, "fid").await;
    az.acr_create("fid", "fidreg0003", "Premium").await;
    let map = az
        .json(&[
            "acr",
            "scope-map",
            "create",
            "-r",
            "fidreg0003",
            "-n",
            "edge-map",
            "--repository",
            "hello",
            "content/read",
            "--gateway",
            "edge1",
            "config/read",
            "message/write",
        ])
        .await;
    assert_eq!(
        map["actions"],
        json!([
            "repositories/hello/content/read",
            "gateway/edge1/config/read",
            "gateway/edge1/message/write"
        ]),
        "{map}"
    );
    assert!(map["description"].is_null(), "{map}");
    let map = az
        .json(&[
            "acr",
            "scope-map",
            "update",
            "-r",
            "fidreg0003",
            "-n",
            "edge-map",
            "--add-gateway",
            "edge1",
            "config/write",
            "--remove-gateway",
            "edge1",
            "message/write",
            "--description",
            "edge",
        ])
        .await;
    let mut actions: Vec<String> = serde_json::from_value(map["actions"].clone()).unwrap();
    actions.sort();
    assert_eq!(
        actions,
        [
            "gateway/edge1/config/read",
            "gateway/edge1/config/write",
            "repositories/hello/content/read"
        ]
    );
    assert_eq!(map["description"], "edge");
    // A token on the map is accepted.
    let tok = az
        .json(&[
            "acr",
            "token",
            "create",
            "-r",
            "fidreg0003",
            "-n",
            "edge-token",
            "--scope-map",
            "edge-map",
            "--no-passwords",
        ])
        .await;
    assert_eq!(tok["status"], "enabled", "{tok}");
    // An action of neither kind is still refused.
    let out = az
        .run(&[
            "acr",
            "scope-map",
            "create",
            "-r",
            "fidreg0003",
            "-n",
            "bad-map",
            "--gateway",
            "edge1",
            "content/read",
        ])
        .await;
    assert!(!out.ok);
}

/// A PUT replaces the resource: settings it does not send go back to their
/// defaults, where the emulator used to keep the old values.
#[tokio::test]
async fn repeated_puts_reset_what_they_do_not_send() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/fid");
    let put = |path: String, body: Value| {
        let (em, token) = (&em, &token);
        async move {
            let (st, b) = em.arm(token, Method::PUT, &path, Some(body)).await;
            assert!(st == 200 || st == 201, "{path}: {st} {b}");
            b
        }
    };
    let get = |path: String| {
        let (em, token) = (&em, &token);
        async move {
            let (st, b) = em.arm(token, Method::GET, &path, None).await;
            assert_eq!(st, 200, "{path}: {b}");
            b
        }
    };
    put(
        format!("{rg}?api-version=2022-09-01"),
        json!({"location": "eastus"}),
    )
    .await;

    // Registry.
    let reg = format!(
        "{rg}/providers/Microsoft.ContainerRegistry/registries/fidreg0004?api-version=2023-07-01"
    );
    put(reg.clone(), json!({"location": "eastus", "sku": {"name": "Premium"}, "tags": {"a": "b"}, "properties": {"adminUserEnabled": true, "anonymousPullEnabled": true, "networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "1.2.3.4"}]}}})).await;
    let created = get(reg.clone()).await["properties"]["creationDate"].clone();
    let again = put(
        reg.clone(),
        json!({"location": "eastus", "sku": {"name": "Premium"}}),
    )
    .await;
    let p = &again["properties"];
    assert_eq!(p["adminUserEnabled"], false, "{again}");
    assert_eq!(p["anonymousPullEnabled"], false, "{again}");
    assert_eq!(
        p["networkRuleSet"],
        json!({"defaultAction": "Allow", "ipRules": []})
    );
    assert_eq!(p["creationDate"], created, "kept: computed by the service");
    assert_eq!(again["tags"], json!({}));

    // User-assigned identity.
    let uai = format!(
        "{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1?api-version=2023-01-31"
    );
    let first = put(
        uai.clone(),
        json!({"location": "eastus", "tags": {"a": "b"}}),
    )
    .await;
    let second = put(uai.clone(), json!({"location": "eastus"})).await;
    assert_eq!(second["tags"], json!({}), "{second}");
    assert_eq!(
        second["properties"]["principalId"],
        first["properties"]["principalId"]
    );

    // Container group.
    let cg = format!(
        "{rg}/providers/Microsoft.ContainerInstance/containerGroups/cg1?api-version=2023-05-01"
    );
    let container = json!([{"name": "c1", "properties": {"image": "mcr.microsoft.com/azuredocs/aci-helloworld", "resources": {"requests": {"cpu": 1.0, "memoryInGB": 1.5}}}}]);
    put(cg.clone(), json!({"location": "eastus", "tags": {"a": "b"}, "zones": ["1"], "properties": {"osType": "Linux", "restartPolicy": "Never", "containers": container.clone(), "ipAddress": {"type": "Public", "ports": [{"port": 80}]}}})).await;
    let again = put(
        cg.clone(),
        json!({"location": "eastus", "properties": {"osType": "Linux", "containers": container}}),
    )
    .await;
    assert_eq!(again["properties"]["restartPolicy"], "Always", "{again}");
    assert!(again["properties"].get("ipAddress").is_none(), "{again}");
    assert!(again.get("zones").is_none(), "{again}");
    assert_eq!(again["tags"], json!({}));

    // Virtual network.
    let vnet =
        format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1?api-version=2024-05-01");
    put(vnet.clone(), json!({"location": "eastus", "tags": {"a": "b"}, "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "dhcpOptions": {"dnsServers": ["10.0.0.4"]}, "subnets": [{"name": "s1", "properties": {"addressPrefix": "10.0.1.0/24", "defaultOutboundAccess": false}}]}})).await;
    let again = put(vnet.clone(), json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "s1", "properties": {"addressPrefix": "10.0.1.0/24"}}]}})).await;
    no_tags(&again);
    assert!(again["properties"].get("dhcpOptions").is_none(), "{again}");
    assert!(
        again["properties"]["subnets"][0]["properties"]
            .get("defaultOutboundAccess")
            .is_none(),
        "{again}"
    );
    let dhcp = put(vnet.clone(), json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "dhcpOptions": {}}})).await;
    assert_eq!(
        dhcp["properties"]["dhcpOptions"],
        json!({"dnsServers": []}),
        "{dhcp}"
    );

    // Private DNS zone and link.
    let zone_path = format!("{rg}/providers/Microsoft.Network/privateDnsZones/example.internal");
    let zone = format!("{zone_path}?api-version=2024-06-01");
    put(
        zone.clone(),
        json!({"location": "global", "tags": {"a": "b"}}),
    )
    .await;
    no_tags(&put(zone.clone(), json!({"location": "global"})).await);
    no_tags(&get(zone.clone()).await);
    let link = format!("{zone_path}/virtualNetworkLinks/l1?api-version=2024-06-01");
    let vnet_id = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1");
    put(link.clone(), json!({"location": "global", "tags": {"a": "b"}, "properties": {"virtualNetwork": {"id": vnet_id}, "registrationEnabled": true}})).await;
    let again = put(
        link.clone(),
        json!({"location": "global", "properties": {"virtualNetwork": {"id": vnet_id}}}),
    )
    .await;
    no_tags(&again);
    assert_eq!(again["properties"]["registrationEnabled"], false, "{again}");
    // PATCH merges: tags only when sent, properties kept.
    let (st, patched) = em
        .arm(
            &token,
            Method::PATCH,
            &link,
            Some(json!({"properties": {"registrationEnabled": true}})),
        )
        .await;
    assert_eq!(st, 200, "{patched}");
    assert_eq!(patched["properties"]["registrationEnabled"], true);
    assert_eq!(patched["properties"]["virtualNetwork"]["id"], vnet_id);
    no_tags(&patched);
    let rs = format!("{zone_path}/A/www?api-version=2024-06-01");
    put(rs.clone(), json!({"properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.0.0.9"}], "metadata": {"k": "v"}}})).await;
    let again = put(rs.clone(), json!({"properties": {"ttl": 60}})).await;
    assert_eq!(again["properties"]["aRecords"], json!([]), "{again}");
    assert!(again["properties"].get("metadata").is_none(), "{again}");
    let z = get(zone).await;
    assert_eq!(z["properties"]["numberOfRecordSets"], 2, "{z}");
    assert_eq!(
        z["properties"]["numberOfVirtualNetworkLinksWithRegistration"], 1,
        "{z}"
    );

    // A private endpoint PUT twice: one connection on the registry, the same addresses.
    let pe =
        format!("{rg}/providers/Microsoft.Network/privateEndpoints/pe1?api-version=2024-05-01");
    let reg_id = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/fidreg0004");
    let body = json!({"location": "eastus", "properties": {
        "subnet": {"id": format!("{vnet_id}/subnets/s1")},
        "privateLinkServiceConnections": [{"name": "c1", "properties": {"privateLinkServiceId": reg_id, "groupIds": ["registry"]}}]}});
    let (st, first) = em.arm(&token, Method::PUT, &pe, Some(body.clone())).await;
    assert_eq!(st, 201, "{first}");
    let (st, second) = em.arm(&token, Method::PUT, &pe, Some(body)).await;
    assert_eq!(st, 200, "{second}");
    assert_eq!(
        second["properties"]["customDnsConfigs"],
        first["properties"]["customDnsConfigs"]
    );
    let conns = get(reg).await["properties"]["privateEndpointConnections"].clone();
    assert_eq!(conns.as_array().map(Vec::len), Some(1), "{conns}");
}

/// Every collection lists in creation order, not name order: resources made
/// out of name order come back as they were made (ARM lists are creation
/// ordered; `flat_cost::lists_come_back_in_creation_order` covers groups and
/// identities).
#[tokio::test]
async fn every_collection_lists_in_creation_order() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let sub = format!("/subscriptions/{SUBSCRIPTION}");
    let rg = format!("{sub}/resourceGroups/order");
    let call = |method: Method, path: String, body: Option<Value>| {
        let (em, token) = (&em, &token);
        async move {
            let (st, b) = em.arm(token, method, &path, body).await;
            assert!((200..300).contains(&st), "{path}: {st} {b}");
            b
        }
    };
    let names = |list: &Value| -> Vec<String> {
        list["value"]
            .as_array()
            .unwrap_or_else(|| panic!("{list}"))
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    call(
        Method::PUT,
        format!("{rg}?api-version=2022-09-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let net = format!("{rg}/providers/Microsoft.Network");
    let v = "api-version=2024-05-01";
    for n in ["vz", "va", "vm"] {
        let i = match n {
            "vz" => 1,
            "va" => 2,
            _ => 3,
        };
        call(Method::PUT, format!("{net}/virtualNetworks/{n}?{v}"), Some(json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": [format!("10.{i}.0.0/16")]}}}))).await;
    }
    let vnets = call(Method::GET, format!("{net}/virtualNetworks?{v}"), None).await;
    assert_eq!(names(&vnets), ["vz", "va", "vm"]);
    for (i, n) in ["sz", "sa", "sm"].iter().enumerate() {
        call(
            Method::PUT,
            format!("{net}/virtualNetworks/vz/subnets/{n}?{v}"),
            Some(json!({"properties": {"addressPrefix": format!("10.1.{i}.0/24")}})),
        )
        .await;
    }
    let subnets = call(
        Method::GET,
        format!("{net}/virtualNetworks/vz/subnets?{v}"),
        None,
    )
    .await;
    assert_eq!(names(&subnets), ["sz", "sa", "sm"]);

    let dns = "api-version=2024-06-01";
    for z in ["z.internal", "a.internal"] {
        call(
            Method::PUT,
            format!("{net}/privateDnsZones/{z}?{dns}"),
            Some(json!({"location": "global"})),
        )
        .await;
    }
    let zones = call(Method::GET, format!("{net}/privateDnsZones?{dns}"), None).await;
    assert_eq!(names(&zones), ["z.internal", "a.internal"]);
    let zone = format!("{net}/privateDnsZones/z.internal");
    for (n, vnet) in [("lz", "vz"), ("la", "va")] {
        call(Method::PUT, format!("{zone}/virtualNetworkLinks/{n}?{dns}"), Some(json!({"location": "global", "properties": {"virtualNetwork": {"id": format!("{net}/virtualNetworks/{vnet}")}}}))).await;
    }
    let links = call(
        Method::GET,
        format!("{zone}/virtualNetworkLinks?{dns}"),
        None,
    )
    .await;
    assert_eq!(names(&links), ["lz", "la"]);
    for n in ["rz", "ra", "rm"] {
        call(
            Method::PUT,
            format!("{zone}/A/{n}?{dns}"),
            Some(json!({"properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.1.0.9"}]}})),
        )
        .await;
    }
    let records = call(Method::GET, format!("{zone}/A?{dns}"), None).await;
    assert_eq!(names(&records), ["rz", "ra", "rm"]);

    let acr = format!("{rg}/providers/Microsoft.ContainerRegistry/registries");
    let a = "api-version=2023-07-01";
    for r in ["orderzz01", "orderaa01"] {
        call(
            Method::PUT,
            format!("{acr}/{r}?{a}"),
            Some(json!({"location": "eastus", "sku": {"name": "Premium"}})),
        )
        .await;
    }
    let regs = call(Method::GET, format!("{acr}?{a}"), None).await;
    assert_eq!(names(&regs), ["orderzz01", "orderaa01"]);
    let reg = format!("{acr}/orderzz01");
    for m in ["map-z", "map-a", "map-m"] {
        call(
            Method::PUT,
            format!("{reg}/scopeMaps/{m}?{a}"),
            Some(json!({"properties": {"actions": ["repositories/hello/content/read"]}})),
        )
        .await;
    }
    let maps = call(Method::GET, format!("{reg}/scopeMaps?{a}"), None).await;
    let user: Vec<String> = names(&maps)
        .into_iter()
        .filter(|n| !n.starts_with('_'))
        .collect();
    assert_eq!(user, ["map-z", "map-a", "map-m"]);
    for t in ["tok-z", "tok-a"] {
        call(Method::PUT, format!("{reg}/tokens/{t}?{a}"), Some(json!({"properties": {"scopeMapId": format!("{reg}/scopeMaps/map-a"), "status": "enabled"}}))).await;
    }
    let tokens = call(Method::GET, format!("{reg}/tokens?{a}"), None).await;
    assert_eq!(names(&tokens), ["tok-z", "tok-a"]);
    let t = "api-version=2019-06-01-preview";
    for n in ["task-z", "task-a"] {
        call(Method::PUT, format!("{reg}/tasks/{n}?{t}"), Some(json!({"location": "eastus", "properties": {
            "status": "Enabled", "platform": {"os": "Linux", "architecture": "amd64"},
            "step": {"type": "Docker", "dockerFilePath": "Dockerfile", "imageNames": ["x:{{.Run.ID}}"], "contextPath": "/dev/null", "isPushEnabled": false}}}))).await;
    }
    let tasks = call(Method::GET, format!("{reg}/tasks?{t}"), None).await;
    assert_eq!(names(&tasks), ["task-z", "task-a"]);

    let aci = format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups");
    let c = "api-version=2023-05-01";
    for g in ["cg-z", "cg-a"] {
        call(Method::PUT, format!("{aci}/{g}?{c}"), Some(json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "c1", "properties": {"image": "mcr.microsoft.com/azuredocs/aci-helloworld"}}]}}))).await;
    }
    let groups = call(Method::GET, format!("{aci}?{c}"), None).await;
    assert_eq!(names(&groups), ["cg-z", "cg-a"]);

    // Role assignments: names that sort the other way round.
    let uai = call(
        Method::PUT,
        format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ra-id?api-version=2023-01-31"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let pid = uai["properties"]["principalId"].clone();
    let ras = [
        "ffffffff-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
        "88888888-0000-4000-8000-000000000003",
    ];
    let roles = [
        "7f951dda-4ed3-4680-a7ca-43fe172d538d",
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "8311e382-0749-4cb8-b61a-304f252e45ec",
    ];
    for (n, role) in ras.iter().zip(roles) {
        call(
            Method::PUT,
            format!("{rg}/providers/Microsoft.Authorization/roleAssignments/{n}?api-version=2022-04-01"),
            Some(json!({"properties": {"roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"), "principalId": pid, "principalType": "ServicePrincipal"}})),
        )
        .await;
    }
    let listed = call(
        Method::GET,
        format!("{rg}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()"),
        None,
    )
    .await;
    let mine: Vec<String> = names(&listed)
        .into_iter()
        .filter(|n| ras.contains(&n.as_str()))
        .collect();
    assert_eq!(mine, ras);
}

/// A VNet PUT without `subnets` keeps them from api-version 2023-11-01 on and
/// removes them before; a subnet left out is deleted, which one in use
/// refuses with `InUseSubnetCannotBeDeleted` (Azure/bicep-types-az#1687,
/// Azure/bicep#4653 and #13267 quote Azure's answers).
#[tokio::test]
async fn vnet_puts_and_subnets_in_use() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/fid");
    let call = |method: Method, path: String, body: Option<Value>| {
        let (em, token) = (&em, &token);
        async move { em.arm(token, method, &path, body).await }
    };
    call(
        Method::PUT,
        format!("{rg}?api-version=2022-09-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let vnet_id = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1");
    let subnets = json!([
        {"name": "aci", "properties": {"addressPrefix": "10.0.1.0/24", "delegations": [{"name": "d", "properties": {"serviceName": "Microsoft.ContainerInstance/containerGroups"}}]}},
        {"name": "free", "properties": {"addressPrefix": "10.0.2.0/24"}},
    ]);
    let space = json!({"addressPrefixes": ["10.0.0.0/16"]});
    let (st, b) = call(Method::PUT, format!("{vnet_id}?api-version=2024-05-01"), Some(json!({"location": "eastus", "properties": {"addressSpace": space, "subnets": subnets}}))).await;
    assert_eq!(st, 201, "{b}");
    let cg = format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups/in-aci");
    let (st, b) = call(Method::PUT, format!("{cg}?api-version=2023-05-01"), Some(json!({"location": "eastus", "properties": {"osType": "Linux", "subnetIds": [{"id": format!("{vnet_id}/subnets/aci")}], "containers": [{"name": "c1", "properties": {"image": "mcr.microsoft.com/azuredocs/aci-helloworld"}}]}}))).await;
    assert_eq!(st, 201, "{b}");

    // Current api-versions keep the subnets a PUT does not send.
    let (st, b) = call(
        Method::PUT,
        format!("{vnet_id}?api-version=2024-05-01"),
        Some(json!({"location": "eastus", "properties": {"addressSpace": space}})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["properties"]["subnets"].as_array().map(Vec::len), Some(2));
    // Older ones delete them, and a subnet in use refuses.
    let in_use = json!({"error": {"code": "InUseSubnetCannotBeDeleted", "message": format!("Subnet aci is in use by {cg} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.")}});
    let (st, b) = call(
        Method::PUT,
        format!("{vnet_id}?api-version=2023-09-01"),
        Some(json!({"location": "eastus", "properties": {"addressSpace": space}})),
    )
    .await;
    assert_eq!((st, &b), (400, &in_use));
    // So does a PUT that leaves it out.
    let (st, b) = call(Method::PUT, format!("{vnet_id}?api-version=2024-05-01"), Some(json!({"location": "eastus", "properties": {"addressSpace": space, "subnets": [subnets[1].clone()]}}))).await;
    assert_eq!((st, &b), (400, &in_use));
    let (_, kept) = call(
        Method::GET,
        format!("{vnet_id}?api-version=2024-05-01"),
        None,
    )
    .await;
    assert_eq!(
        kept["properties"]["subnets"].as_array().map(Vec::len),
        Some(2)
    );
    // A subnet without occupants goes.
    let (st, b) = call(Method::PUT, format!("{vnet_id}?api-version=2024-05-01"), Some(json!({"location": "eastus", "properties": {"addressSpace": space, "subnets": [subnets[0].clone()]}}))).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["properties"]["subnets"].as_array().map(Vec::len), Some(1));
}

/// Responses keep Azure's field order (azure-cli's recordings: a resource
/// group, `identity create`, `acr create`, NRP's `name, id, etag, type`).
#[tokio::test]
async fn responses_keep_azures_field_order() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/order");
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let (s, body) = em
        .arm(
            &token,
            Method::PUT,
            &format!("{rg}?api-version=2024-07-01"),
            Some(json!({"location": "eastus", "tags": {"a": "b"}})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        keys(&body),
        ["id", "name", "type", "location", "tags", "properties"]
    );
    let cases = [
        (
            "Microsoft.ManagedIdentity/userAssignedIdentities/order-id?api-version=2024-11-30",
            json!({"location": "eastus"}),
            &["id", "name", "type", "location", "tags", "properties"][..],
        ),
        (
            "Microsoft.ContainerRegistry/registries/orderreg?api-version=2023-07-01",
            json!({"location": "eastus", "sku": {"name": "Basic"}}),
            &[
                "sku",
                "type",
                "id",
                "name",
                "location",
                "tags",
                "systemData",
                "properties",
            ][..],
        ),
        (
            "Microsoft.Network/networkSecurityGroups/order-nsg?api-version=2024-03-01",
            json!({"location": "eastus"}),
            &["name", "id", "etag", "type", "location", "properties"][..],
        ),
    ];
    for (path, put, want) in cases {
        let (s, body) = em
            .arm(
                &token,
                Method::PUT,
                &format!("{rg}/providers/{path}"),
                Some(put),
            )
            .await;
        assert!(s == 200 || s == 201, "{path}: {body}");
        let got = keys(&body);
        assert!(
            got.len() >= want.len() && got[..want.len()] == *want,
            "{path}: {got:?}"
        );
    }
}
