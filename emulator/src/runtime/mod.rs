//! What the emulator runs on behalf of resources, when their operations
//! settle: ACR task runs ([`task_runs`]); and the [`scheduler`] that finds
//! what is due on the emulated clock. (Container groups do not run
//! images: their pulls are [`crate::pull`].)

pub mod scheduler;
pub mod task_runs;
