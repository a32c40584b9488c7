//! Microsoft.Resources: subscriptions, tenants, resource groups, the generic
//! resource list, resource-provider registration, operation polling and
//! template deployments. Spec: `specs/resources/.../2022-12-01/subscriptions.json`, `.../2024-07-01/resources.json`.

pub mod deployments;
pub mod export;
pub mod generic;
pub mod operations;
pub mod registrations;
pub mod resource_groups;
pub mod subscriptions;
