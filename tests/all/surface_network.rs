//! Microsoft.Network types served from Azure's specs (the generic layer,
//! `providers/by_spec.rs`), driven by the real az CLI: network security
//! groups and their rules, route tables and routes, public IPs, a VNet with
//! an NSG, and what the specs' schemas refuse.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, names};

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
    let route = az
        .json(&[
            "network",
            "route-table",
            "route",
            "create",
            "-g",
            "net",
            "--route-table-name",
            "rt1",
            "-n",
            "to-fw",
            "--address-prefix",
            "0.0.0.0/0",
            "--next-hop-type",
            "VirtualAppliance",
            "--next-hop-ip-address",
            "10.0.2.4",
        ])
        .await;
    assert_eq!(route["addressPrefix"], "0.0.0.0/0");
    assert_eq!(route["nextHopType"], "VirtualAppliance");
    assert_eq!(route["nextHopIpAddress"], "10.0.2.4");
    let shown = az
        .json(&["network", "route-table", "show", "-g", "net", "-n", "rt1"])
        .await;
    assert_eq!(shown["routes"][0]["name"], "to-fw");
    let ip = az
        .json(&[
            "network",
            "public-ip",
            "create",
            "-g",
            "net",
            "-n",
            "ip1",
            "--sku",
            "Standard",
        ])
        .await;
    let ip = &ip["publicIp"];
    assert_eq!(ip["name"], "ip1");
    assert_eq!(ip["sku"]["name"], "Standard");
    assert_eq!(ip["provisioningState"], "Succeeded");
}
