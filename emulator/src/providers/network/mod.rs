//! Microsoft.Network: virtual networks (with subnets and peerings), network
//! security groups, route tables, public IPs, private endpoints (with their
//! DNS zone groups) and private DNS, all Behaviours of the spec layer
//! ([`crate::providers::by_spec`]).

pub mod addresses;
pub mod private_dns;
pub mod private_endpoints;
pub mod security_groups;
pub mod subnet_links;
pub mod virtual_networks;

pub const NAMESPACE: &str = "Microsoft.Network";
