//! The one reachability decision: can a caller, arriving from a given
//! network origin, reach a resource's endpoint? The registry firewall asks it
//! today; private endpoints, private DNS and trusted services (later issues)
//! answer inside the same function, so every network question gets one answer.
//!
//! Azure's rules for a registry (../shared/notes/acr-aci-semantics.md §3):
//! `publicNetworkAccess: Disabled` refuses every public caller; otherwise
//! `networkRuleSet.defaultAction: Deny` refuses public callers whose IP is
//! not in `ipRules`. Refusals read "client with IP '…' is not allowed access.
//! Refer https://aka.ms/acr/firewall to grant access."

pub mod cidr;
pub mod private_path;
pub mod virtual_networks;

use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};

/// Where a request comes from, as the network sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The public internet, from this address.
    Public(IpAddr),
    /// An Azure service on Microsoft's network, from its egress address.
    /// `managed_identity`: it authenticates with one (the trusted-services
    /// bypass requires it for ACI).
    AzureService {
        service: AzureService,
        ip: IpAddr,
        managed_identity: bool,
    },
    /// An ACR task run, from its agent's address, authenticating as `auth`.
    AcrTask { ip: IpAddr, auth: TaskAuth },
}

/// What an ACR task run presents to a registry. Since June 2025 a
/// network-restricted registry lets tasks through only when
/// `networkRuleBypassAllowedForTasks` is true, except tasks using a
/// user-assigned identity, which keep the trusted-services bypass
/// (../shared/notes/acr-aci-semantics.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAuth {
    /// The task's system-assigned identity, or the run's own token for its home registry.
    SystemIdentity,
    /// A user-assigned identity attached to the task.
    UserIdentity,
    /// A username and password from the task's credentials.
    Password,
}

/// Azure services that pull from registries. ACR's "trusted services" bypass
/// knows Container Instances (with a managed identity); Container Apps and App
/// Service are not on its list and meet the registry's rules like any public
/// client (../shared/notes/acr-aci-semantics.md §3; microsoft/azure-container-apps#379).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureService {
    ContainerInstances,
    ContainerApps,
    AppService,
}

impl AzureService {
    pub fn name(self) -> &'static str {
        match self {
            AzureService::ContainerInstances => "Azure Container Instances",
            AzureService::ContainerApps => "Azure Container Apps",
            AzureService::AppService => "Azure App Service",
        }
    }
}

/// Where a request to a registry comes from: its [`Origin`], and the virtual
/// network it leaves from (a group deployed into a subnet), if any. A request
/// from the wire comes from the public address it connected from; a request the
/// emulator makes as an Azure service ([`crate::server::loopback`]) carries the
/// service's own, which nothing on the wire can claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub origin: Origin,
    pub vnet: Option<String>,
}

impl Source {
    pub fn public(ip: IpAddr) -> Source {
        Source {
            origin: Origin::Public(ip),
            vnet: None,
        }
    }

    /// The one reachability decision, for a registry (an ARM registry row) from here.
    pub fn reach(&self, state: &crate::state::AppState, registry: &Value) -> Reach {
        match &self.vnet {
            Some(v) => registry_reachable_from_vnet(state, registry, v, &self.origin),
            None => registry_reachable(registry, &self.origin),
        }
    }

    /// The address the registry sees (for its firewall's fix).
    pub fn ip(&self) -> IpAddr {
        match &self.origin {
            Origin::Public(ip) | Origin::AzureService { ip, .. } | Origin::AcrTask { ip, .. } => {
                *ip
            }
        }
    }

    /// As a trace names it: `from 203.0.113.7`, or the service and its address.
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Public(ip) => format!("from {ip}"),
            Origin::AzureService { service, ip, .. } => match &self.vnet {
                Some(v) => format!("from {} in virtual network {v}", service.name()),
                None => format!("from {} ({ip})", service.name()),
            },
            Origin::AcrTask { ip, .. } => format!("from an ACR task run ({ip})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Allowed { via: &'static str },
    Denied { message: String },
}

/// An IPv4 address or CIDR range, as ACR's `ipRules[].value` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRule {
    net: u32,
    prefix: u8,
}

impl IpRule {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let IpAddr::V4(v4) = ip else { return false };
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        };
        (u32::from(v4) & mask) == (self.net & mask)
    }
}

pub fn parse_ip_rule(s: &str) -> Option<IpRule> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok().filter(|p| *p <= 32)?),
        None => (s, 32),
    };
    let ip: Ipv4Addr = addr.trim().parse().ok()?;
    Some(IpRule {
        net: u32::from(ip),
        prefix,
    })
}

fn firewall_denied(ip: IpAddr) -> Reach {
    Reach::Denied {
        message: format!(
            "client with IP '{ip}' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."
        ),
    }
}

/// From inside a virtual network (an ACI group in a delegated subnet): resolve
/// the registry's name as that VNet would (a linked `privatelink.azurecr.io`
/// zone with an A record for it), and go through the approved private
/// endpoint at that address — exempt from public-access and IP rules. Without
/// a private path, the request leaves through Azure's network as `fallback`
/// (ACI's egress, where the trusted-services bypass may apply).
pub fn registry_reachable_from_vnet(
    state: &crate::state::AppState,
    registry: &Value,
    vnet_id: &str,
    fallback: &Origin,
) -> Reach {
    use private_path::{approved_endpoint_at, resolve_registry_privately};
    let name = registry["name"].as_str().unwrap_or_default();
    let id = registry["id"].as_str().unwrap_or_default();
    if let Some(ip) = resolve_registry_privately(state, vnet_id, name) {
        // The private path: an approved endpoint at that address, in this VNet or a peered one.
        let pe_vnet = approved_endpoint_at(state, &ip, id)
            .and_then(|pe| {
                state
                    .store
                    .get(crate::store::tables::RESOURCES, &pe.to_ascii_lowercase())
                    .ok()
                    .flatten()
            })
            .and_then(|p| p["properties"]["subnet"]["id"].as_str().map(str::to_string))
            .and_then(|s| {
                s.to_ascii_lowercase()
                    .find("/subnets/")
                    .map(|i| s[..i].to_string())
            });
        return match pe_vnet {
            Some(v) if virtual_networks::routable(state, vnet_id, &v) => Reach::Allowed {
                via: "private endpoint",
            },
            // The name resolves to an address this network cannot reach (or nothing answers there).
            _ => Reach::Denied {
                message: format!("dial tcp {ip}:443: i/o timeout"),
            },
        };
    }
    registry_reachable(registry, fallback)
}

/// May a caller from `origin` reach this registry (an ARM registry row)?
pub fn registry_reachable(registry: &Value, origin: &Origin) -> Reach {
    let props = &registry["properties"];
    match origin {
        Origin::AzureService {
            service: AzureService::ContainerInstances,
            ip,
            managed_identity,
        } => {
            let restricted = props["publicNetworkAccess"] == "Disabled"
                || props["networkRuleSet"]["defaultAction"] == "Deny";
            let bypass = props["networkRuleBypassOptions"] != "None";
            if restricted && bypass && *managed_identity {
                return Reach::Allowed {
                    via: "trusted service (Azure Container Instances with a managed identity)",
                };
            }
            registry_reachable(registry, &Origin::Public(*ip))
        }
        // Not a trusted service: the registry sees its public egress address.
        Origin::AzureService { ip, .. } => registry_reachable(registry, &Origin::Public(*ip)),
        Origin::AcrTask { ip, auth } => {
            let restricted = props["publicNetworkAccess"] == "Disabled"
                || props["networkRuleSet"]["defaultAction"] == "Deny";
            if !restricted {
                return Reach::Allowed {
                    via: "public network",
                };
            }
            if props["networkRuleBypassAllowedForTasks"] == true {
                return Reach::Allowed {
                    via: "trusted service (ACR Tasks, networkRuleBypassAllowedForTasks)",
                };
            }
            if *auth == TaskAuth::UserIdentity && props["networkRuleBypassOptions"] != "None" {
                return Reach::Allowed {
                    via: "trusted service (ACR Tasks with a user-assigned identity)",
                };
            }
            registry_reachable(registry, &Origin::Public(*ip))
        }
        Origin::Public(ip) => {
            if props["publicNetworkAccess"] == "Disabled" {
                return firewall_denied(*ip);
            }
            if props["networkRuleSet"]["defaultAction"] == "Deny" {
                let allowed = props["networkRuleSet"]["ipRules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["value"].as_str().and_then(parse_ip_rule))
                    .any(|r| r.contains(*ip));
                return if allowed {
                    Reach::Allowed { via: "ip rule" }
                } else {
                    firewall_denied(*ip)
                };
            }
            Reach::Allowed {
                via: "public network",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ip(s: &str) -> Origin {
        Origin::Public(s.parse().unwrap())
    }

    #[test]
    fn ip_rules_and_cidr() {
        let r = parse_ip_rule("10.1.0.0/16").unwrap();
        assert!(r.contains("10.1.200.3".parse().unwrap()));
        assert!(!r.contains("10.2.0.1".parse().unwrap()));
        assert!(
            parse_ip_rule("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            parse_ip_rule("1.2.3.4")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        for bad in ["", "1.2.3", "1.2.3.4/33", "::1", "a.b.c.d/8"] {
            assert!(parse_ip_rule(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn registry_firewall() {
        let open = json!({"properties": {"publicNetworkAccess": "Enabled", "networkRuleSet": {"defaultAction": "Allow", "ipRules": []}}});
        assert!(matches!(
            registry_reachable(&open, &ip("1.2.3.4")),
            Reach::Allowed { .. }
        ));
        let closed = json!({"properties": {"publicNetworkAccess": "Disabled"}});
        assert_eq!(
            registry_reachable(&closed, &ip("172.214.169.102")),
            Reach::Denied { message: "client with IP '172.214.169.102' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.".into() }
        );
        let rules = json!({"properties": {"publicNetworkAccess": "Enabled", "networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "10.0.0.0/8"}]}}});
        assert!(matches!(
            registry_reachable(&rules, &ip("10.9.9.9")),
            Reach::Allowed { .. }
        ));
        assert!(matches!(
            registry_reachable(&rules, &ip("11.0.0.1")),
            Reach::Denied { .. }
        ));
    }

    #[test]
    fn trusted_services() {
        let aci = |mi| Origin::AzureService {
            service: AzureService::ContainerInstances,
            ip: "20.1.2.3".parse().unwrap(),
            managed_identity: mi,
        };
        let closed = |bypass: &str| json!({"properties": {"publicNetworkAccess": "Disabled", "networkRuleBypassOptions": bypass}});
        assert!(matches!(
            registry_reachable(&closed("AzureServices"), &aci(true)),
            Reach::Allowed { .. }
        ));
        assert!(
            matches!(
                registry_reachable(&closed("AzureServices"), &aci(false)),
                Reach::Denied { .. }
            ),
            "admin credentials are not a trusted-service pull"
        );
        assert!(matches!(
            registry_reachable(&closed("None"), &aci(true)),
            Reach::Denied { .. }
        ));
    }
}
