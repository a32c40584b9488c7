//! Microsoft.ContainerInstance: container groups ([`groups`]) and what ACI
//! answers about a region ([`locations`]), as Behaviours of the spec layer
//! ([`crate::providers::by_spec`], spec `containerInstance.json` 2023-05-01,
//! 2024-05-01-preview and 2025-09-01). azemu does not run containers: a group
//! "runs" once every image has been pulled through the emulated registry path
//! ([`crate::pull`]), and its instance view says so, with ACI's events.

pub mod groups;
pub mod locations;

pub const NAMESPACE: &str = "Microsoft.ContainerInstance";
