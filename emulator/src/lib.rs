//! azemu's server: a local, offline emulator of the Azure control planes a
//! container deployment touches.
//!
//! Map of the crate, in the order a request meets it:
//!
//! - [`server`]: one port that speaks TLS, plain HTTP and HTTP CONNECT (the
//!   transparent proxy for Azure's host names), with certificates from a local CA.
//! - [`web`]: edge helpers every plane shares (which host was asked for, body limits,
//!   [`web::blocking`]: synchronous store and file work handed to the blocking pool).
//! - [`faults`]: injected failures (control API), served before any plane.
//! - [`admin`]: `/_emulator`, the control API (health, reset, clock, step).
//! - [`entra`]: Microsoft Entra ID: directory, token endpoints, JWKS, discovery.
//! - [`arm`]: the ARM core: resource ids, api-versions, errors, bearer
//!   authentication, long-running operations, paging, ETags, cloud metadata.
//! - [`providers`]: the ARM front door (route → authenticate → dispatch) and one
//!   module per resource provider (`resources` today).
//! - [`trace`]: decision traces of pulls, and their explanation (text, Mermaid).
//! - [`templates`]: the ARM template language (expressions, functions, plans)
//!   that `Microsoft.Resources/deployments` runs through the providers.
//! - [`seed`]: declarative worlds (`azemu serve --seed`).
//! - [`runtime`]: the scheduler (what is due on the emulated clock, found through
//!   a queue) and what runs when operations settle (ACR task runs).
//! - [`storage`]: the Blob Storage slice task logs are streamed from (signed SAS links).
//! - [`maintenance`]: housekeeping on the emulated clock (abandoned uploads,
//!   tombstones, build contexts), as distribution's upload purging.
//! - [`store`]: the one [`store::Store`] trait state sits behind: tables of
//!   JSON rows, write transactions over several tables, rows that always read back.
//! - [`clock`]: injected time; nothing sleeps, tests move the clock.
//! - [`config`], [`state`]: configuration, well-known credentials, the shared handle.
//!
//! Dependencies point one way: `providers` and `admin` call `arm`, `entra`
//! and `store`; `arm` and `store` call neither.

pub mod acr;
pub mod admin;
pub mod arm;
pub mod authz;
pub mod clock;
pub mod config;
pub mod entra;
pub mod faults;
pub mod maintenance;
pub mod network;
pub mod oci;
pub mod providers;
pub mod public_registry;
pub mod runtime;
pub mod seed;
pub mod server;
pub mod state;
pub mod storage;
pub mod store;
pub mod templates;
pub mod trace;
pub mod web;

pub use config::{Config, SimMode};
pub use server::{RunningServer, start};
pub use state::AppState;
