//! What the emulator runs on behalf of resources, when their operations
//! settle: ACR task runs ([`task_runs`]); container groups in a container
//! engine ([`containers`], over the [`engine`] trait; their pulls are
//! [`crate::pull`]; `az container exec`'s sessions in them, [`exec`]); and the [`scheduler`] that finds what is due on the
//! emulated clock.

pub mod containers;
pub mod engine;
pub mod exec;
pub mod mirrors;
pub mod sandbox;
pub mod scheduler;
pub mod task_runs;
pub mod volumes;
