//! Azure RBAC (placeholder until the engine lands).
pub mod access;
pub mod condition;
pub mod engine;
pub mod matching;
pub mod roles;
