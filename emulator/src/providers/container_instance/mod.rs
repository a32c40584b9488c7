//! Microsoft.ContainerInstance: container groups ([`groups`]) and what ACI
//! answers about a region ([`locations`]), as Behaviours of the spec layer
//! ([`crate::providers::by_spec`], spec `containerInstance.json` 2023-05-01,
//! 2024-05-01-preview and 2025-09-01). Every image is pulled through the
//! emulated registry path ([`crate::pull`]); then, with a container engine
//! attached (`--container-engine`), the group really runs
//! ([`crate::runtime::containers`]) and its instance view follows the engine;
//! without one it "runs" once pulled, and its events and logs say that
//! nothing was executed.

pub mod groups;
pub mod locations;

pub const NAMESPACE: &str = "Microsoft.ContainerInstance";
