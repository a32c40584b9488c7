//! Azure RBAC: who may do what, where.
//!
//! Every plane (ARM, the registry data plane, container pulls, task runs)
//! asks one question, [`access::authorize`]: may this caller perform this
//! action (or data action) on this scope, given these request attributes?
//! The answer comes from:
//!
//! - [`roles`]: role definitions, and the built-in catalog with Azure's real
//!   GUIDs and permissions (`fixtures/roles/builtin.json`);
//! - [`matching`]: action wildcards (`*`, `*/read`, `Microsoft.Authorization/*/Write`);
//! - [`condition`]: ABAC conditions (conditionVersion 2.0), as the Container
//!   Registry repository roles use them;
//! - [`engine`]: the evaluation itself, pure (scope inheritance, the union of
//!   grants, NotActions as subtraction, data actions, conditions, deny
//!   assignments), checked by a proptest against a plain reference model;
//! - [`access`]: loads assignments and roles from the store and asks the engine;
//! - Role assignments are found by principal through the store's index ([`crate::store::index::ASSIGNMENTS_BY_PRINCIPAL`]), so a decision reads only the caller's.

pub mod access;
pub mod condition;
pub mod engine;
pub mod matching;
pub mod roles;

pub use condition::{Condition, ConditionError};
pub use engine::{
    ActionKind, Assignment, Decision, DenyAssignment, DenyReason, EVERYONE, Grant, Request,
    evaluate, scope_covers,
};
pub use matching::action_matches;
pub use roles::{Permission, RoleDefinition, RoleType};
