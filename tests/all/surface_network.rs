//! Microsoft.Network types served from Azure's specs (the generic layer,
//! `providers/by_spec.rs`), driven by the real az CLI: network security
//! groups and their rules, route tables and routes, public IPs, a VNet with
//! an NSG, and what the specs' schemas refuse.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION, names, words};
use serde_json::json;

#[tokio::test]
async fn nsgs_and_their_rules() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "net", "-l", "eastus", "-o", "none"])
        .await;
    let nsg = az
        .json(&["network", "nsg", "create", "-g", "net", "-n", "web-nsg"])
        .await;
    let nsg = &nsg["NewNSG"];
    assert_eq!(nsg["name"], "web-nsg");
    assert_eq!(nsg["location"], "eastus");
    assert_eq!(nsg["provisioningState"], "Succeeded");
    assert_eq!(nsg["securityRules"], serde_json::json!([]));
    assert_eq!(
        names(&nsg["defaultSecurityRules"]),
        [
            "AllowVnetInBound",
            "AllowAzureLoadBalancerInBound",
            "DenyAllInBound",
            "AllowVnetOutBound",
            "AllowInternetOutBound",
            "DenyAllOutBound"
        ]
    );
    let rule_create =
        |name: &'static str, priority: &'static str, access: &'static str, port: &'static str| {
            let az = &az;
            async move {
                az.json(&[
                    "network",
                    "nsg",
                    "rule",
                    "create",
                    "-g",
                    "net",
                    "--nsg-name",
                    "web-nsg",
                    "-n",
                    name,
                    "--priority",
                    priority,
                    "--access",
                    access,
                    "--protocol",
                    "Tcp",
                    "--direction",
                    "Inbound",
                    "--destination-port-ranges",
                    port,
                ])
                .await
            }
        };
    let rule = rule_create("allow-https", "100", "Allow", "443").await;
    assert_eq!(rule["name"], "allow-https");
    assert_eq!(rule["priority"], 100);
    assert_eq!(rule["access"], "Allow");
    assert_eq!(rule["destinationPortRange"], "443");
    assert_eq!(rule["provisioningState"], "Succeeded");
    // The plurals NRP always returns, empty beside a singular (`test_network_nsg`).
    for plural in [
        "sourcePortRanges",
        "destinationPortRanges",
        "sourceAddressPrefixes",
        "destinationAddressPrefixes",
    ] {
        assert_eq!(rule[plural], json!([]), "{plural}: {rule}");
    }
    assert!(
        rule["id"]
            .as_str()
            .unwrap()
            .ends_with("/networkSecurityGroups/web-nsg/securityRules/allow-https")
    );
    rule_create("deny-ssh", "200", "Deny", "22").await;
    let rule_list = [
        "network",
        "nsg",
        "rule",
        "list",
        "-g",
        "net",
        "--nsg-name",
        "web-nsg",
    ];
    assert_eq!(
        names(&az.json(&rule_list).await),
        ["allow-https", "deny-ssh"]
    );
    let shown = az
        .json(&["network", "nsg", "show", "-g", "net", "-n", "web-nsg"])
        .await;
    assert_eq!(shown["securityRules"].as_array().unwrap().len(), 2);
    az.ok(&[
        "network",
        "nsg",
        "rule",
        "delete",
        "-g",
        "net",
        "--nsg-name",
        "web-nsg",
        "-n",
        "deny-ssh",
    ])
    .await;
    assert_eq!(names(&az.json(&rule_list).await), ["allow-https"]);
    let listed = az.json(&["network", "nsg", "list", "-g", "net"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // A VNet whose subnet uses the NSG.
    let vnet = az
        .json(&[
            "network",
            "vnet",
            "create",
            "-g",
            "net",
            "-n",
            "v1",
            "--address-prefix",
            "10.0.0.0/16",
            "--subnet-name",
            "s1",
            "--subnet-prefix",
            "10.0.1.0/24",
            "--network-security-group",
            "web-nsg",
        ])
        .await;
    let subnet = &vnet["newVNet"]["subnets"][0];
    assert!(
        subnet["networkSecurityGroup"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/networkSecurityGroups/web-nsg"),
        "{vnet}"
    );
    // The NSG lists the subnet using it, and cannot go while it does.
    let shown = az
        .json(&["network", "nsg", "show", "-g", "net", "-n", "web-nsg"])
        .await;
    let subnet_id = subnet["id"].as_str().unwrap();
    assert_eq!(shown["subnets"][0]["id"], subnet_id);
    let out = az
        .run(&["network", "nsg", "delete", "-g", "net", "-n", "web-nsg"])
        .await;
    assert!(!out.ok);
    let nsg_id = shown["id"].as_str().unwrap();
    assert!(
        out.stderr.contains(&format!(
            "(InUseNetworkSecurityGroupCannotBeDeleted) Network security group {nsg_id} cannot be deleted because it is in use by the following resources: {subnet_id}. In order to delete the Network security group, remove the association with the resource(s)."
        )),
        "{}",
        out.stderr
    );
    // Once the VNet is gone the NSG has no users and goes.
    az.ok(&["network", "vnet", "delete", "-g", "net", "-n", "v1"])
        .await;
    let shown = az
        .json(&["network", "nsg", "show", "-g", "net", "-n", "web-nsg"])
        .await;
    assert!(shown.get("subnets").is_none(), "{shown}");
    az.ok(&["network", "nsg", "delete", "-g", "net", "-n", "web-nsg"])
        .await;
}

#[tokio::test]
async fn route_tables_and_public_ips() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "net", "-l", "westus", "-o", "none"])
        .await;
    let rt = az
        .json(&["network", "route-table", "create", "-g", "net", "-n", "rt1"])
        .await;
    assert_eq!(rt["name"], "rt1");
    assert_eq!(rt["provisioningState"], "Succeeded");
    let route_create = [
        "network",
        "route-table",
        "route",
        "create",
        "-g",
        "net",
        "--route-table-name",
        "rt1",
    ];
    let route = az
        .json(
            &[
                &route_create[..],
                &[
                    "-n",
                    "to-fw",
                    "--address-prefix",
                    "0.0.0.0/0",
                    "--next-hop-type",
                    "VirtualAppliance",
                    "--next-hop-ip-address",
                    "10.0.2.4",
                ],
            ]
            .concat(),
        )
        .await;
    assert_eq!(route["addressPrefix"], "0.0.0.0/0");
    assert_eq!(route["nextHopType"], "VirtualAppliance");
    assert_eq!(route["nextHopIpAddress"], "10.0.2.4");
    let shown = az
        .json(&["network", "route-table", "show", "-g", "net", "-n", "rt1"])
        .await;
    assert_eq!(shown["routes"][0]["name"], "to-fw");
    let ip_create = [
        "network",
        "public-ip",
        "create",
        "-g",
        "net",
        "--sku",
        "Standard",
    ];
    let ip = az.json(&[&ip_create[..], &["-n", "ip1"]].concat()).await;
    let ip = &ip["publicIp"];
    assert_eq!(ip["name"], "ip1");
    assert_eq!(ip["sku"]["name"], "Standard");
    assert_eq!(ip["provisioningState"], "Succeeded");
    // As Azure fills a Standard address (azure-cli's test_network_public_ip recording),
    // from the simulated pool 198.18.0.0/15.
    assert_eq!(ip["sku"]["tier"], "Regional");
    assert_eq!(ip["publicIPAllocationMethod"], "Static");
    assert_eq!(ip["ipAddress"], "198.18.0.1");
    assert_eq!(ip["idleTimeoutInMinutes"], 4);
    assert_eq!(ip["publicIPAddressVersion"], "IPv4");
    assert_eq!(ip["ipTags"], serde_json::json!([]));
    assert_eq!(
        ip["ddosSettings"]["protectionMode"],
        "VirtualNetworkInherited"
    );
    assert!(ip["etag"].as_str().unwrap().starts_with("W/\""), "{ip}");
    let labelled = ["-n", "ip2", "--dns-name", "myapp-label"];
    let ip2 = az.json(&[&ip_create[..], &labelled].concat()).await;
    assert_eq!(ip2["publicIp"]["ipAddress"], "198.18.0.2");
    assert_eq!(
        ip2["publicIp"]["dnsSettings"]["fqdn"],
        "myapp-label.westus.cloudapp.azure.com"
    );
    // An update keeps the address.
    let updated = az
        .json(&[
            "network",
            "public-ip",
            "update",
            "-g",
            "net",
            "-n",
            "ip1",
            "--idle-timeout",
            "10",
        ])
        .await;
    assert_eq!(updated["idleTimeoutInMinutes"], 10);
    assert_eq!(updated["ipAddress"], "198.18.0.1");
    // Route tables: BGP propagation on by default; a virtual appliance needs its address.
    assert_eq!(rt["disableBgpRoutePropagation"], false);
    let out = az
        .run(
            &[
                &route_create[..],
                &[
                    "-n",
                    "no-ip",
                    "--address-prefix",
                    "10.1.0.0/16",
                    "--next-hop-type",
                    "VirtualAppliance",
                ],
            ]
            .concat(),
        )
        .await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("(MissingNextHopIpAddress) NextHopIpAddress cannot be Null or Empty in route no-ip when NextHopType is VirtualAppliance."),
        "{}",
        out.stderr
    );
    let routes = az
        .json(&[
            "network",
            "route-table",
            "route",
            "list",
            "-g",
            "net",
            "--route-table-name",
            "rt1",
        ])
        .await;
    assert_eq!(names(&routes), ["to-fw"]);
}

/// `nsg rule show` / `update` and the rules NRP refuses: priority outside
/// 100–4096, one priority twice in one direction, bad ports and prefixes.
#[tokio::test]
async fn nsg_rules_are_validated_shown_and_updated() {
    use serde_json::json;
    let em = Emulator::start();
    let az = az_with_group(&em).await;
    az.ok(&[
        "network", "nsg", "create", "-g", "net", "-n", "n1", "-o", "none",
    ])
    .await;
    // `az network nsg rule {verb} -g net --nsg-name n1 [-n {name}] {extra…}`.
    let rule = |verb: &'static str, name: &'static str, extra: &'static [&'static str]| {
        let az = &az;
        async move {
            let mut args = vec![
                "network",
                "nsg",
                "rule",
                verb,
                "-g",
                "net",
                "--nsg-name",
                "n1",
            ];
            if !name.is_empty() {
                args.extend(["-n", name]);
            }
            args.extend(["-o", "json"]);
            args.extend_from_slice(extra);
            az.run(&args).await
        }
    };
    let ok = |out: crate::harness::Output| {
        assert!(out.ok, "{}", out.stderr);
        serde_json::from_str::<serde_json::Value>(&out.stdout).expect("JSON")
    };
    let refused = |out: crate::harness::Output, text: &str| {
        assert!(!out.ok, "accepted");
        assert!(out.stderr.contains(text), "{}", out.stderr);
    };
    let ports: &[&str] = &[
        "--priority",
        "100",
        "--destination-port-ranges",
        "80",
        "443",
    ];
    ok(rule("create", "web", ports).await);
    let shown = ok(rule("show", "web", &[]).await);
    assert_eq!(shown["priority"], 100);
    assert_eq!(shown["direction"], "Inbound");
    assert_eq!(shown["access"], "Allow");
    assert_eq!(shown["destinationPortRanges"], json!(["80", "443"]));
    assert_eq!(
        shown["type"],
        "Microsoft.Network/networkSecurityGroups/securityRules"
    );
    refused(
        rule("create", "same-priority", &["--priority", "100"]).await,
        "(SecurityRuleConflict) Security rule web conflicts with rule same-priority. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.",
    );
    // One priority may be used once per direction.
    ok(rule(
        "create",
        "out",
        &["--priority", "100", "--direction", "Outbound"],
    )
    .await);
    refused(
        rule("create", "p", &["--priority", "99"]).await,
        "(SecurityRuleInvalidPriority) Security rule has invalid Priority. Value provided: 99 Allowed range 100-4096.",
    );
    refused(
        rule("create", "p", &["--priority", "4097"]).await,
        "(SecurityRuleInvalidPriority) Security rule has invalid Priority. Value provided: 4097 Allowed range 100-4096.",
    );
    refused(
        rule(
            "create",
            "bad-port",
            &["--priority", "300", "--destination-port-ranges", "70000"],
        )
        .await,
        "(SecurityRuleInvalidPortRange) Security rule has invalid Port range. Value provided: 70000. Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535.",
    );
    refused(
        rule(
            "create",
            "bad-prefix",
            &["--priority", "300", "--source-address-prefixes", "any"],
        )
        .await,
        "has invalid Address prefix. Value provided: any",
    );
    // Ranges, CIDR blocks and service tags are what NRP takes.
    let wide: &[&str] = &[
        "--priority",
        "4096",
        "--source-address-prefixes",
        "10.0.0.0/8",
        "AzureLoadBalancer",
        "--destination-port-ranges",
        "1024-65535",
    ];
    ok(rule("create", "ranges", wide).await);
    // NRP's short IPv4 forms: `test_network_nsg`'s recording stores "789" and "1234" as sent.
    let short: &[&str] = &[
        "--priority",
        "1000",
        "--source-address-prefixes",
        "789",
        "--destination-address-prefixes",
        "1234",
    ];
    let created = ok(rule("create", "short", short).await);
    assert_eq!(created["sourceAddressPrefix"], "789");
    assert_eq!(created["destinationAddressPrefix"], "1234");
    let deleted = rule("delete", "short", &[]).await;
    assert!(deleted.ok, "{}", deleted.stderr);
    let updated = ok(rule("update", "web", &["--priority", "200", "--access", "Deny"]).await);
    assert_eq!(updated["priority"], 200);
    assert_eq!(updated["access"], "Deny");
    assert_eq!(updated["destinationPortRanges"], json!(["80", "443"]));
    let listed = ok(rule("list", "", &[]).await);
    assert_eq!(names(&listed), ["web", "out", "ranges"]);
    assert_eq!(listed[0]["priority"], 200);
    // The update may not take a priority another inbound rule has.
    refused(
        rule("update", "web", &["--priority", "4096"]).await,
        "(SecurityRuleConflict) Security rule ranges conflicts with rule web.",
    );
}

/// `az network vnet check-ip-address` answers from what the subnet holds:
/// Azure's five reserved addresses and a container group's.
#[tokio::test]
async fn check_ip_address_answers_from_the_subnets_allocations() {
    use reqwest::Method;
    let em = Emulator::start();
    let az = az_with_group(&em).await;
    vnet_with_aci_subnet(&az).await;
    let check = |ip: &'static str| {
        let az = &az;
        async move {
            az.json(&[
                "network",
                "vnet",
                "check-ip-address",
                "-g",
                "net",
                "-n",
                "v1",
                "--ip-address",
                ip,
            ])
            .await
        }
    };
    use serde_json::json;
    assert_eq!(check("10.0.1.4").await, json!({"available": true}));
    // Azure reserves the first four addresses and the last (recorded: test_network_vnet_list_available_ips).
    let reserved = json!({"available": false, "availableIPAddresses": ["10.0.1.4", "10.0.1.5", "10.0.1.6", "10.0.1.7", "10.0.1.8"], "isPlatformReserved": true});
    assert_eq!(check("10.0.1.0").await, reserved);
    assert_eq!(check("10.0.1.3").await, reserved);
    assert_eq!(check("10.0.1.255").await, reserved);
    // A container group in the subnet holds the first free address.
    let owner = em.arm_token().await;
    let rg = format!(
        "/subscriptions/{}/resourceGroups/net",
        crate::harness::SUBSCRIPTION
    );
    let (st, cg) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups/cg?api-version=2023-05-01"),
            Some(json!({"location": "eastus", "properties": {"osType": "Linux",
                "subnetIds": [{"id": format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1/subnets/aci")}],
                "containers": [{"name": "app", "properties": {"image": "mcr.microsoft.com/azuredocs/aci-helloworld",
                    "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}}]}})),
        )
        .await;
    assert_eq!(st, 201, "{cg}");
    assert_eq!(cg["properties"]["ipAddress"]["ip"], "10.0.1.4");
    assert_eq!(
        check("10.0.1.4").await,
        json!({"available": false, "availableIPAddresses": ["10.0.1.5", "10.0.1.6", "10.0.1.7", "10.0.1.8", "10.0.1.9"]})
    );
    assert_eq!(check("10.0.1.5").await, json!({"available": true}));
    // Outside every subnet: nothing to suggest.
    assert_eq!(
        check("10.0.9.9").await,
        json!({"available": false, "availableIPAddresses": []})
    );
}

/// `az network vnet subnet list-available-delegations`, by location and by group.
#[tokio::test]
async fn available_delegations_list_acis() {
    let em = Emulator::start();
    let az = az_with_group(&em).await;
    let sub = crate::harness::SUBSCRIPTION;
    let by_location = az
        .json(&[
            "network",
            "vnet",
            "subnet",
            "list-available-delegations",
            "-l",
            "eastus",
        ])
        .await;
    let aci = by_location
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serviceName"] == "Microsoft.ContainerInstance/containerGroups")
        .expect("ACI's delegation");
    assert_eq!(
        aci,
        &serde_json::json!({
            "name": "Microsoft.ContainerInstance.containerGroups",
            "id": format!("/subscriptions/{sub}/providers/Microsoft.Network/availableDelegations/Microsoft.ContainerInstance.containerGroups"),
            "type": "Microsoft.Network/availableDelegations",
            "serviceName": "Microsoft.ContainerInstance/containerGroups",
            "actions": ["Microsoft.Network/virtualNetworks/subnets/action"],
        })
    );
    assert_eq!(by_location[0]["serviceName"], "Microsoft.Web/serverFarms");
    let by_group = az
        .json(&[
            "network",
            "vnet",
            "subnet",
            "list-available-delegations",
            "-g",
            "net",
        ])
        .await;
    assert_eq!(
        by_group.as_array().map(Vec::len),
        by_location.as_array().map(Vec::len)
    );
    assert_eq!(
        by_group[1]["id"],
        format!(
            "/subscriptions/{sub}/resourceGroups/net/providers/Microsoft.Network/availableDelegations/Microsoft.ContainerInstance.containerGroups"
        )
    );
    // The delegation az lists is the one a subnet takes.
    assert_eq!(
        aci["serviceName"],
        "Microsoft.ContainerInstance/containerGroups"
    );
    let subnet = vnet_with_aci_subnet(&az).await;
    assert_eq!(
        subnet["delegations"][0]["serviceName"],
        "Microsoft.ContainerInstance/containerGroups"
    );
}

/// A subnet may only name a network security group or route table that
/// exists; each lists the subnets using it and refuses deletion while used.
#[tokio::test]
async fn subnets_link_existing_nsgs_and_route_tables() {
    let em = Emulator::start();
    let az = az_with_group(&em).await;
    vnet_create(&az, &[]).await;
    let sub = crate::harness::SUBSCRIPTION;
    let net = format!("/subscriptions/{sub}/resourceGroups/net/providers/Microsoft.Network");
    // `az network vnet subnet create -g net --vnet-name v1 -n s1 --address-prefix 10.0.1.0/24 {links…}`.
    let subnet_create = |links: &'static [&'static str]| {
        let az = &az;
        async move {
            let mut args = vec!["network", "vnet", "subnet", "create", "-g", "net"];
            args.extend([
                "--vnet-name",
                "v1",
                "-n",
                "s1",
                "--address-prefix",
                "10.0.1.0/24",
            ]);
            args.extend_from_slice(links);
            az.run(&args).await
        }
    };
    let out = subnet_create(&["--network-security-group", "nope"]).await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains(&format!(
            "(InvalidResourceReference) Resource {net}/networkSecurityGroups/nope referenced by resource {net}/virtualNetworks/v1/subnets/s1 was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
        )),
        "{}",
        out.stderr
    );
    // Nothing was written.
    let vnet = az
        .json(&["network", "vnet", "show", "-g", "net", "-n", "v1"])
        .await;
    assert_eq!(vnet["subnets"], serde_json::json!([]));
    az.ok(&[
        "network", "nsg", "create", "-g", "net", "-n", "n1", "-o", "none",
    ])
    .await;
    az.ok(&[
        "network",
        "route-table",
        "create",
        "-g",
        "net",
        "-n",
        "rt1",
        "-o",
        "none",
    ])
    .await;
    let links = &["--network-security-group", "n1", "--route-table", "rt1"];
    let out = subnet_create(links).await;
    assert!(out.ok, "{}", out.stderr);
    let s1 = format!("{net}/virtualNetworks/v1/subnets/s1");
    let nsg = az
        .json(&["network", "nsg", "show", "-g", "net", "-n", "n1"])
        .await;
    assert_eq!(nsg["subnets"][0]["id"], s1.as_str());
    let rt = az
        .json(&["network", "route-table", "show", "-g", "net", "-n", "rt1"])
        .await;
    assert_eq!(rt["subnets"][0]["id"], s1.as_str());
    let out = az
        .run(&["network", "route-table", "delete", "-g", "net", "-n", "rt1"])
        .await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("(InUseRouteTableCannotBeDeleted)"),
        "{}",
        out.stderr
    );
    // Updating the NSG keeps its back-reference; the subnet leaving drops it.
    az.ok(&[
        "network", "nsg", "update", "-g", "net", "-n", "n1", "--tags", "env=test", "-o", "none",
    ])
    .await;
    let nsg = az
        .json(&["network", "nsg", "show", "-g", "net", "-n", "n1"])
        .await;
    assert_eq!(nsg["subnets"][0]["id"], s1.as_str());
    az.ok(&[
        "network",
        "vnet",
        "subnet",
        "delete",
        "-g",
        "net",
        "--vnet-name",
        "v1",
        "-n",
        "s1",
    ])
    .await;
    let nsg = az
        .json(&["network", "nsg", "show", "-g", "net", "-n", "n1"])
        .await;
    assert!(nsg.get("subnets").is_none(), "{nsg}");
    az.ok(&["network", "route-table", "delete", "-g", "net", "-n", "rt1"])
        .await;
    az.ok(&["network", "nsg", "delete", "-g", "net", "-n", "n1"])
        .await;
}

/// One negative test per validation class for Microsoft.Network, over raw
/// HTTP: ARM's status, code and words, and nothing stored.
#[tokio::test]
async fn network_bodies_are_validated_in_arms_words() {
    use serde_json::{Value, json};
    let em = Emulator::start();
    let token = em.arm_token().await;
    let rg = format!(
        "/subscriptions/{}/resourceGroups/net",
        crate::harness::SUBSCRIPTION
    );
    let send = |method: reqwest::Method, path: String, body: &'static str| {
        let (em, token) = (&em, &token);
        async move {
            let r = em
                .http()
                .request(method, format!("{}{path}", em.base()))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("ARM request");
            let status = r.status().as_u16();
            let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
            (status, v)
        }
    };
    let (s, _) = send(
        reqwest::Method::PUT,
        format!("{rg}?api-version=2024-07-01"),
        r#"{"location": "eastus"}"#,
    )
    .await;
    assert_eq!(s, 201);
    let net = format!("{rg}/providers/Microsoft.Network");
    let v = "api-version=2024-05-01";
    let err = |status: u16, code: &str, message: &str| {
        (status, json!({"error": {"code": code, "message": message}}))
    };
    // Wrong JSON kind.
    assert_eq!(
        send(
            reqwest::Method::PUT,
            format!("{net}/publicIPAddresses/ip1?{v}"),
            r#"{"location": "eastus", "properties": {"idleTimeoutInMinutes": "four"}}"#,
        )
        .await,
        err(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'Could not convert string to integer: four. Path 'properties.idleTimeoutInMinutes', line 1, position 68.'."
        )
    );
    // A value outside a closed enum.
    assert_eq!(
        send(
            reqwest::Method::PUT,
            format!("{net}/publicIPAddresses/ip1?{v}"),
            r#"{"location": "eastus", "properties": {"dnsSettings": {"domainNameLabel": "x1", "domainNameLabelScope": "Everywhere"}}}"#,
        )
        .await,
        err(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'Error converting value \"Everywhere\" to type 'PublicIpAddressDnsSettingsDomainNameLabelScope'. Path 'properties.dnsSettings.domainNameLabelScope', line 1, position 115.'."
        )
    );
    // A linked id that is not a resource id.
    assert_eq!(
        send(
            reqwest::Method::PUT,
            format!("{net}/publicIPAddresses/ip1?{v}"),
            r#"{"location": "eastus", "properties": {"publicIPPrefix": {"id": "not-an-id"}}}"#,
        )
        .await,
        err(
            400,
            "LinkedInvalidPropertyId",
            "Property id 'not-an-id' at path 'properties.publicIPPrefix.id' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' or '/providers/{resourceProviderNamespace}/'."
        )
    );
    // Location missing.
    assert_eq!(
        send(
            reqwest::Method::PUT,
            format!("{net}/networkSecurityGroups/n1?{v}"),
            r#"{"properties": {}}"#,
        )
        .await,
        err(
            400,
            "LocationRequired",
            "The location property is required for this definition."
        )
    );
    // A nested resource under a parent that does not exist.
    let rule = r#"{"properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp"}}"#;
    assert_eq!(
        send(
            reqwest::Method::PUT,
            format!("{net}/networkSecurityGroups/n1/securityRules/r1?{v}"),
            rule,
        )
        .await,
        err(
            404,
            "ParentResourceNotFound",
            "Can not perform requested operation on nested resource. Parent resource 'n1' not found."
        )
    );
    // None of the refused writes left anything behind.
    for path in [
        format!("{net}/publicIPAddresses/ip1?{v}"),
        format!("{net}/networkSecurityGroups/n1?{v}"),
    ] {
        let (s, _) = send(reqwest::Method::GET, path, "").await;
        assert_eq!(s, 404);
    }
    // A required property missing (a rule without its direction).
    let (s, _) = send(
        reqwest::Method::PUT,
        format!("{net}/networkSecurityGroups/n1?{v}"),
        r#"{"location": "eastus"}"#,
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        send(
            reqwest::Method::PUT,
            format!("{net}/networkSecurityGroups/n1/securityRules/r1?{v}"),
            r#"{"properties": {"priority": 100, "access": "Allow", "protocol": "Tcp"}}"#,
        )
        .await,
        err(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'Required property 'direction' not found in JSON. Path 'properties', line 1, position 16.'."
        )
    );
    // A subnet (hand-written VNets) naming something that is not a resource id.
    assert_eq!(
        send(
            reqwest::Method::PUT,
            format!("{net}/virtualNetworks/v1?{v}"),
            r#"{"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "s1", "properties": {"addressPrefix": "10.0.1.0/24", "routeTable": {"id": "rt1"}}}]}}"#,
        )
        .await,
        err(
            400,
            "LinkedInvalidPropertyId",
            "Property id 'rt1' at path 'properties.subnets[0].properties.routeTable.id' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' or '/providers/{resourceProviderNamespace}/'."
        )
    );
    let (s, got) = send(
        reqwest::Method::GET,
        format!("{net}/networkSecurityGroups/n1/securityRules?{v}"),
        "",
    )
    .await;
    assert_eq!((s, got), (200, json!({"value": []})));
}

/// az logged in to `em`, with the resource group `net` in eastus.
async fn az_with_group(em: &Emulator) -> Az<'_> {
    let az = Az::new(em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "net", "-l", "eastus", "-o", "none"])
        .await;
    az
}

/// VNet `v1` (10.0.0.0/16) with subnet `aci` (10.0.1.0/24) delegated to container groups.
async fn vnet_with_aci_subnet(az: &Az<'_>) -> serde_json::Value {
    vnet_create(
        az,
        &["--subnet-name", "aci", "--subnet-prefix", "10.0.1.0/24"],
    )
    .await;
    az.json(&[
        "network",
        "vnet",
        "subnet",
        "update",
        "-g",
        "net",
        "--vnet-name",
        "v1",
        "-n",
        "aci",
        "--delegations",
        "Microsoft.ContainerInstance/containerGroups",
    ])
    .await
}

/// `az network vnet create -g net -n v1 --address-prefix 10.0.0.0/16 {extra…}`.
async fn vnet_create(az: &Az<'_>, extra: &[&str]) {
    let mut args = vec!["network", "vnet", "create", "-g", "net", "-n", "v1"];
    args.extend(["--address-prefix", "10.0.0.0/16", "-o", "none"]);
    args.extend_from_slice(extra);
    az.ok(&args).await;
}

/// A VNet removed with its resource group no longer holds the NSG of another
/// group it used: the NSG can be deleted.
#[tokio::test]
async fn an_nsg_outlives_the_group_of_the_vnet_that_used_it() {
    use reqwest::Method;
    use serde_json::json;
    let em = Emulator::start();
    let token = em.arm_token().await;
    let sub = format!("/subscriptions/{}", crate::harness::SUBSCRIPTION);
    for g in ["a", "b"] {
        let path = format!("{sub}/resourcegroups/{g}?api-version=2021-04-01");
        let (s, _) = em
            .arm(
                &token,
                Method::PUT,
                &path,
                Some(json!({"location": "eastus"})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let v = "api-version=2024-05-01";
    let nsg =
        format!("{sub}/resourceGroups/b/providers/Microsoft.Network/networkSecurityGroups/n1");
    let (s, _) = em
        .arm(
            &token,
            Method::PUT,
            &format!("{nsg}?{v}"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(s, 201);
    let vnet = json!({"location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "s1", "properties": {"addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {"id": nsg}}}]}});
    let vnet_path =
        format!("{sub}/resourceGroups/a/providers/Microsoft.Network/virtualNetworks/v1?{v}");
    let (s, _) = em.arm(&token, Method::PUT, &vnet_path, Some(vnet)).await;
    assert_eq!(s, 201);
    let (s, b) = em
        .arm(&token, Method::DELETE, &format!("{nsg}?{v}"), None)
        .await;
    assert_eq!(
        (s, &b["error"]["code"]),
        (400, &json!("InUseNetworkSecurityGroupCannotBeDeleted"))
    );
    let (s, _) = em
        .arm(
            &token,
            Method::DELETE,
            &format!("{sub}/resourcegroups/a?api-version=2021-04-01"),
            None,
        )
        .await;
    assert_eq!(s, 202);
    // NRP answers a delete 202 with both an Azure-AsyncOperation and a
    // Location (azure-cli's `test_network_nsg` recording); the NSG is gone.
    let r = em
        .arm_response(&token, Method::DELETE, &format!("{nsg}?{v}"), None)
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let operation = r.headers()["azure-asyncoperation"].to_str().unwrap();
    assert!(
        operation.contains("/providers/Microsoft.Network/locations/eastus/"),
        "{operation}"
    );
    assert!(r.headers().contains_key("location"));
    let (s, _) = em
        .arm(&token, Method::GET, &format!("{nsg}?{v}"), None)
        .await;
    assert_eq!(s, 404);
}

/// `az network private-dns …`, parsed.
async fn pdns(az: &Az<'_>, args: &[&str]) -> serde_json::Value {
    az.json(&[&["network", "private-dns"], args].concat()).await
}

async fn pdns_run(az: &Az<'_>, args: &[&str]) -> crate::harness::Output {
    az.run(&[&["network", "private-dns"], args].concat()).await
}

/// Private DNS refuses a stale etag its own way (azure-cli's privatedns
/// recordings `test_Patch*IfMatchFailure_ExpectError`): a zone or link write
/// is accepted and its operation fails `PreconditionFailed` "… has been
/// modified (etag mismatch)."; a record set write gets the 412 at once.
#[tokio::test]
async fn private_dns_refuses_stale_etags_its_own_way() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "pdns", "-l", "eastus"])
        .await;
    az.ok(&words("network vnet create -g pdns -n v1 -o none"))
        .await;
    pdns(&az, &words("zone create -g pdns -n stale.internal")).await;
    pdns(
        &az,
        &words("link vnet create -g pdns -z stale.internal -n l1 -v v1 -e false"),
    )
    .await;
    pdns(
        &az,
        &words("record-set a add-record -g pdns -z stale.internal -n www -a 10.0.0.4"),
    )
    .await;
    let stale = uuid::Uuid::new_v4().to_string();
    for (args, text) in [
        (
            "zone update -g pdns -n stale.internal --if-match",
            "(PreconditionFailed) The Zone stale.internal has been modified (etag mismatch).".to_string(),
        ),
        (
            "link vnet update -g pdns -z stale.internal -n l1 --if-match",
            "(PreconditionFailed) The Virtual Network link 'l1' for the Private DNS zone 'stale.internal' has been modified (etag mismatch).".to_string(),
        ),
        (
            "record-set a update -g pdns -z stale.internal -n www --if-match",
            "The Record set www has been modified (etag mismatch).".to_string(),
        ),
    ] {
        let out = pdns_run(&az, &[&words(args)[..], &[stale.as_str()]].concat()).await;
        assert!(!out.ok, "{args}: {}", out.stdout);
        assert!(out.stderr.contains(&text), "{args}: {}", out.stderr);
    }
    // The current etag still writes.
    let zone = pdns(&az, &words("zone show -g pdns -n stale.internal")).await;
    let etag = zone["etag"].as_str().unwrap();
    pdns(
        &az,
        &[
            &words("zone update -g pdns -n stale.internal --tags a=b --if-match")[..],
            &[etag],
        ]
        .concat(),
    )
    .await;
}

/// Private DNS through the spec layer with its RP's rules (azure-cli's
/// privatedns recordings): a zone comes with its SOA record set and counts
/// what it holds; record sets of every type get their fqdn and empty record
/// list; `record-set list` (`{zone}/ALL`) lists them all; a link must name an
/// existing network; etags are bare GUIDs, links' quoted.
#[tokio::test]
async fn private_dns_zones_records_and_links_keep_their_rps_rules() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "pdns", "-l", "eastus"])
        .await;
    let zone = pdns(
        &az,
        &["zone", "create", "-g", "pdns", "-n", "contoso.internal"],
    )
    .await;
    assert_eq!(zone["location"], "global", "{zone}");
    assert_eq!(zone["numberOfRecordSets"], 1, "{zone}");
    assert_eq!(zone["maxNumberOfRecordSets"], 25000, "{zone}");
    let etag = zone["etag"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(etag).is_ok(), "bare GUID: {etag}");

    let soa = pdns(
        &az,
        &[
            "record-set",
            "soa",
            "show",
            "-g",
            "pdns",
            "-z",
            "contoso.internal",
        ],
    )
    .await;
    assert_eq!(soa["fqdn"], "contoso.internal.", "{soa}");
    assert_eq!(soa["soaRecord"]["host"], "azureprivatedns.net", "{soa}");

    let aaaa = pdns(
        &az,
        &[
            "record-set",
            "aaaa",
            "create",
            "-g",
            "pdns",
            "-z",
            "contoso.internal",
            "-n",
            "v6",
        ],
    )
    .await;
    assert_eq!(aaaa["fqdn"], "v6.contoso.internal.", "{aaaa}");
    assert_eq!(aaaa["aaaaRecords"], json!([]), "{aaaa}");
    assert_eq!(aaaa["isAutoRegistered"], false, "{aaaa}");
    assert!(aaaa.get("provisioningState").is_none(), "{aaaa}");
    pdns(
        &az,
        &[
            "record-set",
            "a",
            "add-record",
            "-g",
            "pdns",
            "-z",
            "contoso.internal",
            "-n",
            "api",
            "-a",
            "10.1.0.4",
        ],
    )
    .await;
    let all = pdns(
        &az,
        &["record-set", "list", "-g", "pdns", "-z", "contoso.internal"],
    )
    .await;
    let names: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["type"].as_str().unwrap(), r["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("Microsoft.Network/privateDnsZones/SOA", "@"),
            ("Microsoft.Network/privateDnsZones/A", "api"),
            ("Microsoft.Network/privateDnsZones/AAAA", "v6"),
        ]
    );
    let zone = pdns(
        &az,
        &["zone", "show", "-g", "pdns", "-n", "contoso.internal"],
    )
    .await;
    assert_eq!(zone["numberOfRecordSets"], 3, "{zone}");
    assert_eq!(zone["numberOfVirtualNetworkLinks"], 0, "{zone}");

    // A link to a network that does not exist: refused, nothing stored.
    let link = |vnet: &str, registration: &str| {
        [
            "link",
            "vnet",
            "create",
            "-g",
            "pdns",
            "-z",
            "contoso.internal",
            "-n",
            "l1",
            "-v",
            vnet,
            "-e",
            registration,
        ]
        .map(str::to_string)
    };
    let nowhere = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/pdns/providers/Microsoft.Network/virtualNetworks/nowhere"
    );
    let args = link(&nowhere, "false");
    let out = pdns_run(&az, &args.each_ref().map(String::as_str)).await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("InvalidResourceReference"),
        "{}",
        out.stderr
    );
    az.ok(&[
        "network", "vnet", "create", "-g", "pdns", "-n", "v1", "-l", "eastus",
    ])
    .await;
    let args = link("v1", "true");
    let link = pdns(&az, &args.each_ref().map(String::as_str)).await;
    assert_eq!(link["virtualNetworkLinkState"], "Completed", "{link}");
    assert_eq!(link["registrationEnabled"], true, "{link}");
    assert!(link["etag"].as_str().unwrap().starts_with('"'), "{link}");
    let zone = pdns(
        &az,
        &["zone", "show", "-g", "pdns", "-n", "contoso.internal"],
    )
    .await;
    assert_eq!(zone["numberOfVirtualNetworkLinks"], 1, "{zone}");
    assert_eq!(
        zone["numberOfVirtualNetworkLinksWithRegistration"], 1,
        "{zone}"
    );
}

/// Private endpoints and their DNS zone groups, served by the spec layer
/// with Azure's rules (azure-cli's recordings `test_network_private_endpoints`,
/// `test_network_private_endpoint_private_dns_zone_group`,
/// `test_private_endpoint_connection_acr`): a delegated subnet is refused; a
/// manual connection waits, and the registry owner's approval shows on the
/// endpoint; `update --tags` keeps the addresses and the approval; zone groups
/// are listed, shown with their records, and take them away when deleted;
/// the endpoint's delete takes its connection from the registry.
#[tokio::test]
async fn private_endpoints_and_dns_zone_groups() {
    let em = Emulator::start();
    let az = az_with_group(&em).await;
    az.acr_create("net", "pereg0001", "Premium").await;
    let regid = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.ContainerRegistry/registries/pereg0001"
    );
    let registry_conns = [
        "acr",
        "private-endpoint-connection",
        "list",
        "-r",
        "pereg0001",
    ];
    vnet_with_aci_subnet(&az).await;
    az.ok(&[
        "network",
        "vnet",
        "subnet",
        "create",
        "-g",
        "net",
        "--vnet-name",
        "v1",
        "-n",
        "pe",
        "--address-prefixes",
        "10.0.2.0/24",
        "-o",
        "none",
    ])
    .await;
    let pe_create = |subnet: &'static str| {
        let (az, regid) = (&az, regid.clone());
        async move {
            az.run(&[
                "network",
                "private-endpoint",
                "create",
                "-g",
                "net",
                "-n",
                "pe1",
                "--vnet-name",
                "v1",
                "--subnet",
                subnet,
                "--private-connection-resource-id",
                &regid,
                "--group-id",
                "registry",
                "--connection-name",
                "c1",
                "--manual-request",
                "true",
                "--request-message",
                "please",
                "-o",
                "json",
            ])
            .await
        }
    };
    let refused = pe_create("aci").await;
    assert!(!refused.ok);
    assert!(
        refused
            .stderr
            .contains("PrivateEndpointCreationNotAllowedAsSubnetIsDelegated"),
        "{}",
        refused.stderr
    );
    let made = pe_create("pe").await;
    assert!(made.ok, "{}", made.stderr);
    let pe: serde_json::Value = serde_json::from_str(&made.stdout).unwrap();
    assert_eq!(pe["provisioningState"], "Succeeded");
    assert_eq!(pe["privateLinkServiceConnections"], json!([]));
    let conn = &pe["manualPrivateLinkServiceConnections"][0];
    assert_eq!(conn["name"], "c1");
    assert_eq!(
        conn["type"],
        "Microsoft.Network/privateEndpoints/manualPrivateLinkServiceConnections"
    );
    assert_eq!(
        conn["privateLinkServiceConnectionState"],
        json!({"status": "Pending", "description": "please", "actionsRequired": "None"})
    );
    assert_eq!(pe["customNetworkInterfaceName"], "");
    assert_eq!(pe["ipConfigurations"], json!([]));
    assert_eq!(
        pe["customDnsConfigs"],
        json!([
            {"fqdn": "pereg0001.azurecr.io", "ipAddresses": ["10.0.2.4"]},
            {"fqdn": "pereg0001.eastus.data.azurecr.io", "ipAddresses": ["10.0.2.5"]},
        ])
    );
    let nic = pe["networkInterfaces"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(nic.contains("/networkInterfaces/pe1.nic."), "{nic}");
    // ACR names its side `{registry}.{32 hex}`.
    let conns = az.json(&registry_conns).await;
    let name = conns[0]["name"].as_str().unwrap().to_string();
    let suffix = name.strip_prefix("pereg0001.").unwrap_or_default();
    assert!(
        suffix.len() == 32 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    az.ok(&[
        "acr",
        "private-endpoint-connection",
        "approve",
        "-r",
        "pereg0001",
        "-n",
        &name,
        "--description",
        "ok",
        "-o",
        "none",
    ])
    .await;
    let show = [
        "network",
        "private-endpoint",
        "show",
        "-g",
        "net",
        "-n",
        "pe1",
    ];
    let shown = az.json(&show).await;
    assert_eq!(
        shown["manualPrivateLinkServiceConnections"][0]["privateLinkServiceConnectionState"],
        json!({"status": "Approved", "description": "ok", "actionsRequired": "None"})
    );
    // update --tags: a GET and a PUT of what it read; nothing else moves.
    let updated = az
        .json(&[
            "network",
            "private-endpoint",
            "update",
            "-g",
            "net",
            "-n",
            "pe1",
            "--tags",
            "env=test",
        ])
        .await;
    assert_eq!(updated["tags"], json!({"env": "test"}));
    assert_eq!(updated["customDnsConfigs"], pe["customDnsConfigs"]);
    assert_eq!(updated["networkInterfaces"][0]["id"], nic.as_str());
    assert_eq!(updated["resourceGuid"], pe["resourceGuid"]);
    let conns = az.json(&registry_conns).await;
    assert_eq!(names(&conns), [name.as_str()]);
    assert_eq!(
        conns[0]["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );
    let listed = az
        .json(&["network", "private-endpoint", "list", "-g", "net"])
        .await;
    assert_eq!(names(&listed), ["pe1"]);

    // A zone group writes the endpoint's addresses into the zone.
    let zone = az
        .json(&[
            "network",
            "private-dns",
            "zone",
            "create",
            "-g",
            "net",
            "-n",
            "privatelink.azurecr.io",
        ])
        .await;
    let group = az
        .json(&[
            "network",
            "private-endpoint",
            "dns-zone-group",
            "create",
            "-g",
            "net",
            "--endpoint-name",
            "pe1",
            "-n",
            "default",
            "--private-dns-zone",
            zone["id"].as_str().unwrap(),
            "--zone-name",
            "acr",
        ])
        .await;
    assert_eq!(group["name"], "default");
    // Over HTTP, in the recorded order (az's output drops `type`).
    let token = em.arm_token().await;
    let (st, raw) = em
        .arm(
            &token,
            reqwest::Method::GET,
            &format!(
                "{}/privateDnsZoneGroups/default?api-version=2024-05-01",
                pe["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(st, 200, "{raw}");
    let keys: Vec<&String> = raw.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["name", "id", "etag", "type", "properties"]);
    assert_eq!(
        raw["type"],
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"
    );
    let config = &raw["properties"]["privateDnsZoneConfigs"][0];
    let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["name", "id", "etag", "type", "properties"]);
    assert_eq!(config["etag"], raw["etag"]);
    assert_eq!(config["properties"]["provisioningState"], "Succeeded");
    let group_cmd = |verb: &'static str| {
        [
            "network",
            "private-endpoint",
            "dns-zone-group",
            verb,
            "-g",
            "net",
            "--endpoint-name",
            "pe1",
        ]
    };
    let groups = az.json(&group_cmd("list")).await;
    assert_eq!(names(&groups), ["default"]);
    let mut args = group_cmd("show").to_vec();
    args.extend(["-n", "default"]);
    let shown = az.json(&args).await;
    assert_eq!(shown["provisioningState"], "Succeeded");
    let config = &shown["privateDnsZoneConfigs"][0];
    assert_eq!(config["name"], "acr");
    assert_eq!(
        config["recordSets"],
        json!([
            {"recordType": "A", "recordSetName": "pereg0001", "fqdn": "pereg0001.privatelink.azurecr.io", "provisioningState": "Succeeded", "ttl": 10, "ipAddresses": ["10.0.2.4"]},
            {"recordType": "A", "recordSetName": "pereg0001.eastus.data", "fqdn": "pereg0001.eastus.data.privatelink.azurecr.io", "provisioningState": "Succeeded", "ttl": 10, "ipAddresses": ["10.0.2.5"]},
        ])
    );
    let records = [
        "network",
        "private-dns",
        "record-set",
        "a",
        "list",
        "-g",
        "net",
        "-z",
        "privatelink.azurecr.io",
    ];
    let a = az.json(&records).await;
    assert_eq!(names(&a), ["pereg0001", "pereg0001.eastus.data"]);
    let mut args = group_cmd("delete").to_vec();
    args.extend(["-n", "default", "-o", "none"]);
    az.ok(&args).await;
    assert_eq!(az.json(&records).await, json!([]));
    let mut args = group_cmd("show").to_vec();
    args.extend(["-n", "default"]);
    let gone = az.run(&args).await;
    assert!(!gone.ok);
    assert!(gone.stderr.contains("(NotFound)"), "{}", gone.stderr);

    // Deleting the endpoint takes its connection from the registry.
    az.ok(&[
        "network",
        "private-endpoint",
        "delete",
        "-g",
        "net",
        "-n",
        "pe1",
        "-o",
        "none",
    ])
    .await;
    let conns = az.json(&registry_conns).await;
    assert_eq!(conns, json!([]));
}

/// A private endpoint PUT as NRP answers it (azure-cli's recordings
/// `test_private_endpoint_connection_acr`, `test_network_private_endpoint_ip_config`):
/// 201 with `provisioningState: Updating` and an Azure-AsyncOperation, fields
/// in Azure's order, connections carrying the endpoint's etag and their type
/// last; `ipConfigurations` fix the addresses; a zone group of a missing
/// endpoint is ARM's `ParentResourceNotFound`, a missing group NRP's `NotFound`.
#[tokio::test]
async fn private_endpoint_puts_in_nrps_shape() {
    use reqwest::Method;
    let em = Emulator::start();
    let token = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/pes");
    let call = |method: Method, path: String, body: Option<serde_json::Value>| {
        let (em, token) = (&em, &token);
        async move { em.arm(token, method, &path, body).await }
    };
    let (st, _) = call(
        Method::PUT,
        format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    assert_eq!(st, 201);
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/pesreg001");
    let (st, b) = call(
        Method::PUT,
        format!("{reg}?api-version=2023-07-01"),
        Some(json!({"location": "eastus", "sku": {"name": "Premium"}})),
    )
    .await;
    assert!(st == 200 || st == 201, "{b}");
    let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1");
    let (st, b) = call(Method::PUT, format!("{vnet}?api-version=2024-05-01"), Some(json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "s1", "properties": {"addressPrefix": "10.0.0.0/24"}}]}}))).await;
    assert!(st == 200 || st == 201, "{b}");
    let pe = format!("{rg}/providers/Microsoft.Network/privateEndpoints/pe1");
    let body = json!({"location": "eastus", "properties": {
        "subnet": {"id": format!("{vnet}/subnets/s1")},
        "ipConfigurations": [{"name": "ip1", "properties": {"groupId": "registry", "memberName": "registry", "privateIPAddress": "10.0.0.10"}}],
        "privateLinkServiceConnections": [{"name": "c1", "properties": {"privateLinkServiceId": reg, "groupIds": ["registry"]}}]}});
    let resp = em
        .http()
        .put(format!("{}{pe}?api-version=2024-05-01", em.base()))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert!(resp.headers().contains_key("azure-asyncoperation"));
    let made: serde_json::Value = resp.json().await.unwrap();
    let keys: Vec<&String> = made.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["name", "id", "etag", "type", "location", "properties"]
    );
    let props: Vec<&String> = made["properties"].as_object().unwrap().keys().collect();
    assert_eq!(
        props,
        [
            "provisioningState",
            "resourceGuid",
            "privateLinkServiceConnections",
            "manualPrivateLinkServiceConnections",
            "customNetworkInterfaceName",
            "subnet",
            "ipConfigurations",
            "networkInterfaces",
            "customDnsConfigs"
        ]
    );
    assert_eq!(made["properties"]["provisioningState"], "Updating");
    let conn = &made["properties"]["privateLinkServiceConnections"][0];
    let keys: Vec<&String> = conn.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["name", "id", "etag", "properties", "type"]);
    assert_eq!(conn["etag"], made["etag"]);
    assert_eq!(
        conn["properties"]["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );
    assert_eq!(
        made["properties"]["ipConfigurations"][0],
        json!({"name": "ip1", "id": format!("{pe}/ipConfigurations/ip1"), "etag": made["etag"],
            "type": "Microsoft.Network/privateEndpoints/ipConfigurations",
            "properties": {"provisioningState": "Succeeded", "memberName": "registry", "groupId": "registry", "privateIPAddress": "10.0.0.10"}})
    );
    assert_eq!(
        made["properties"]["customDnsConfigs"],
        json!([
            {"fqdn": "pesreg001.azurecr.io", "ipAddresses": ["10.0.0.10"]},
            {"fqdn": "pesreg001.eastus.data.azurecr.io", "ipAddresses": ["10.0.0.4"]},
        ])
    );
    let (st, shown) = call(Method::GET, format!("{pe}?api-version=2024-05-01"), None).await;
    assert_eq!(st, 200);
    assert_eq!(shown["properties"]["provisioningState"], "Succeeded");
    // A static address another endpoint holds is refused, leaving nothing behind.
    let pe2 = format!("{rg}/providers/Microsoft.Network/privateEndpoints/pe2");
    let (st, b) = call(
        Method::PUT,
        format!("{pe2}?api-version=2024-05-01"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["error"]["code"], "PrivateIPAddressInUse");
    let (st, _) = call(Method::GET, format!("{pe2}?api-version=2024-05-01"), None).await;
    assert_eq!(st, 404);
    // Zone groups: a missing endpoint, a missing group.
    let (st, b) = call(
        Method::GET,
        format!("{rg}/providers/Microsoft.Network/privateEndpoints/nope/privateDnsZoneGroups/g?api-version=2024-05-01"),
        None,
    )
    .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (404, Some("ParentResourceNotFound"))
    );
    let (st, b) = call(
        Method::GET,
        format!("{pe}/privateDnsZoneGroups/g?api-version=2024-05-01"),
        None,
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(
        b["error"],
        json!({"code": "NotFound", "message": format!("Resource {pe}/privateDnsZoneGroups/g not found.")})
    );
    let (st, b) = call(
        Method::GET,
        format!("{pe}/privateDnsZoneGroups?api-version=2024-05-01"),
        None,
    )
    .await;
    assert_eq!((st, b), (200, json!({"value": []})));
}
