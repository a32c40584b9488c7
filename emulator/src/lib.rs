//! azemu's server: a local, offline emulator of the Azure control planes a
//! container deployment touches.
//!
//! Map of the crate, in the order a request meets it. Layers point one way:
//! each calls only those below it.
//!
//! **Edge**
//! - [`server`]: one port that speaks TLS, plain HTTP and HTTP CONNECT (the
//!   transparent proxy for Azure's host names), with certificates from a local CA.
//! - [`web`]: edge helpers every plane shares (which host was asked for, body limits,
//!   percent-decoding, [`web::blocking`]: synchronous store and file work handed to the
//!   blocking pool).
//! - [`faults`]: injected failures (control API), served before any plane.
//! - [`admin`]: `/_emulator`, the control API (health, reset, clock, step).
//! - [`seed`]: declarative worlds (`azemu serve --seed`).
//!
//! **Planes** (one error catalog per wire surface)
//! - [`entra`]: Microsoft Entra ID: directory, token endpoints, JWKS, discovery.
//! - [`arm`]: the ARM core: resource ids, api-versions, errors, bearer
//!   authentication, long-running operations, paging, ETags, cloud metadata,
//!   and the compiled spec table ([`arm::spec`]).
//! - [`providers`]: the ARM front door (route → authenticate → authorize →
//!   dispatch), the spec-driven layer ([`providers::by_spec`]) and one module per
//!   resource provider holding Azure's rules for its types.
//! - [`oci`]: the registries' OCI distribution data plane (`oci::routes`, ACR's
//!   `/acr/v1` in `oci::acr_meta`) over the registry content the domain
//!   services share (`oci::{blobs, manifest, images, locks, tables}`), and [`public_registry`]
//!   the offline public registries' (mcr.microsoft.com, Docker Hub); [`storage`]: the Blob
//!   Storage slice task logs are streamed from (signed SAS links).
//!
//! **Domain services** (called by every plane; they never call a plane)
//! - [`authz`]: the RBAC engine and its one `authorize()`.
//! - [`network`]: the one reachability decision (firewall, private endpoints,
//!   private DNS, peering, trusted services).
//! - [`acr`]: registry content, credentials, tokens, scope maps, webhooks, runs.
//! - [`pull`]: the one pull sequence (ACI and ACR Tasks).
//! - [`trace`]: decision traces of pulls, and their explanation (text, Mermaid).
//! - [`templates`]: the ARM template language (expressions, functions, plans)
//!   that `Microsoft.Resources/deployments` runs through the providers.
//! - [`runtime`]: container groups in a container engine (behind a trait) and
//!   `az container exec`'s sessions in them, the
//!   scheduler (what is due on the emulated clock, found through
//!   a queue; the providers say what finishing means) and ACR task runs.
//! - [`maintenance`]: housekeeping on the emulated clock (abandoned uploads,
//!   tombstones, build contexts), as distribution's upload purging.
//!
//! **Bottom**
//! - [`store`]: the one [`store::Store`] trait state sits behind: tables of
//!   JSON rows, write transactions over several tables, rows that always read back.
//! - [`clock`]: injected time; nothing sleeps, tests move the clock.
//! - [`config`], [`state`]: configuration, well-known credentials, the shared handle.
//!
//! The `layers` test below checks that no domain service names a plane.

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
pub mod pull;
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

/// Layers point one way: the domain services and the bottom never call the
/// planes or the edge (doc comments may point at them).
#[cfg(test)]
mod layers {
    use std::path::Path;

    const BELOW_THE_PLANES: &[&str] = &[
        "acr",
        "authz",
        "network",
        "pull.rs",
        "trace.rs",
        "templates",
        "runtime",
        "maintenance.rs",
        "store",
        "clock.rs",
    ];
    // (The OCI plane's upload purge and router are still reached from
    // `maintenance` and `acr`: the next step of this split. The registry
    // content in `oci` — blobs, manifests, images, locks, tables — is below.)
    const PLANES: &[&str] = &[
        "crate::providers",
        "crate::admin",
        "crate::server",
        "crate::seed",
        "crate::oci::acr_meta",
    ];

    fn sources(p: &Path, out: &mut Vec<std::path::PathBuf>) {
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                sources(&e.path(), out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p.to_path_buf());
        }
    }

    #[test]
    fn domain_services_never_call_a_plane() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for m in BELOW_THE_PLANES {
            sources(&src.join(m), &mut files);
        }
        assert!(files.len() > 20, "the source tree moved: {files:?}");
        let mut found = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if let Some(p) = PLANES.iter().find(|p| code.contains(*p)) {
                    found.push(format!("{}:{}: {p}", f.display(), n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "a domain service calls a plane:\n{}",
            found.join("\n")
        );
    }
}
