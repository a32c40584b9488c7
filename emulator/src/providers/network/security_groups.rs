//! Microsoft.Network types served from the spec table
//! ([`crate::providers::by_spec`]) with Azure's rules on top: network
//! security groups (their default rules), route tables, public IP
//! addresses, a virtual network's `CheckIPAddressAvailability`, and the
//! delegations a subnet may take (`availableDelegations`).

use crate::arm::ArmError;
use crate::providers::by_spec::{Behaviour, Ctx};
use serde_json::{Value, json};

pub const NSG: Behaviour = Behaviour {
    resource_type: "Microsoft.Network/networkSecurityGroups",
    on_write: Some(nsg_defaults),
    on_delete: None,
    actions: &[],
    lists: &[],
};

pub const ROUTE_TABLE: Behaviour = Behaviour {
    resource_type: "Microsoft.Network/routeTables",
    on_write: None,
    on_delete: None,
    actions: &[],
    lists: &[],
};

pub const PUBLIC_IP: Behaviour = Behaviour {
    resource_type: "Microsoft.Network/publicIPAddresses",
    on_write: None,
    on_delete: None,
    actions: &[],
    lists: &[],
};

pub const VNET_ACTIONS: Behaviour = Behaviour {
    resource_type: "Microsoft.Network/virtualNetworks",
    on_write: None,
    on_delete: None,
    actions: &[],
    lists: &[],
};

pub const DELEGATIONS: Behaviour = Behaviour {
    resource_type: "Microsoft.Network/locations/availableDelegations",
    on_write: None,
    on_delete: None,
    actions: &[],
    lists: &[],
};

/// Azure's six default rules, present in every network security group.
fn nsg_defaults(_cx: &Ctx, row: &mut Value, _old: Option<&Value>) -> Result<(), ArmError> {
    let id = row["id"].as_str().unwrap_or_default().to_string();
    let rule = |name: &str,
                description: &str,
                src: &str,
                dst: &str,
                access: &str,
                priority: u32,
                direction: &str| {
        json!({
            "name": name,
            "id": format!("{id}/defaultSecurityRules/{name}"),
            "etag": crate::arm::etag::new_etag(),
            "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
            "properties": {
                "provisioningState": "Succeeded",
                "description": description,
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": src,
                "destinationAddressPrefix": dst,
                "access": access,
                "priority": priority,
                "direction": direction,
                "sourcePortRanges": [],
                "destinationPortRanges": [],
                "sourceAddressPrefixes": [],
                "destinationAddressPrefixes": [],
            }
        })
    };
    row["properties"]["defaultSecurityRules"] = json!([
        rule(
            "AllowVnetInBound",
            "Allow inbound traffic from all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Inbound"
        ),
        rule(
            "AllowAzureLoadBalancerInBound",
            "Allow inbound traffic from azure load balancer",
            "AzureLoadBalancer",
            "*",
            "Allow",
            65001,
            "Inbound"
        ),
        rule(
            "DenyAllInBound",
            "Deny all inbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Inbound"
        ),
        rule(
            "AllowVnetOutBound",
            "Allow outbound traffic from all VMs to all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Outbound"
        ),
        rule(
            "AllowInternetOutBound",
            "Allow outbound traffic from all VMs to Internet",
            "*",
            "Internet",
            "Allow",
            65001,
            "Outbound"
        ),
        rule(
            "DenyAllOutBound",
            "Deny all outbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Outbound"
        ),
    ]);
    if row["properties"].get("securityRules").is_none() {
        row["properties"]["securityRules"] = json!([]);
    }
    Ok(())
}
