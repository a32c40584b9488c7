//! Azure RBAC, the real engine: one [`access::authorize`] that ARM, the
//! registry data plane, container pulls and task runs all call.
//!
//! - [`roles`]: the built-in catalog (Azure's GUIDs and permissions) and custom roles;
//! - [`matching`]: action wildcards;
//! - [`condition`]: ABAC conditions (conditionVersion 2.0);
//! - [`engine`]: the pure evaluation (scope inheritance, union of grants,
//!   NotActions, data actions, conditions, deny assignments), checked by a
//!   proptest against a plain reference model;
//! - [`access`]: loads assignments and roles from the store and asks the engine.

pub mod access;
pub mod condition;
pub mod engine;
pub mod matching;
pub mod roles;
