//! What the emulator runs on behalf of resources, when their operations
//! settle: ACR task runs ([`task_runs`]). (Container groups do not run
//! images: their pulls are `providers::container_instance::pull`.)

pub mod scheduler;
pub mod task_runs;
