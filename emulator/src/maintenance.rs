//! Housekeeping on the emulated clock, so that nothing a client leaves behind
//! grows without bound. Modelled on distribution's `storage.maintenance`
//! (`uploadpurging`: enabled by default, `age: 168h`, `interval: 24h`):
//!
//! - blob upload sessions older than a week are purged with their bytes
//!   ([`crate::oci::routes::purge_uploads`]); one met before the sweep is
//!   refused and purged on the spot, so an expired session's URL answers
//!   `BLOB_UPLOAD_UNKNOWN` as soon as it has expired;
//! - role-assignment tombstones (kept while `--rbac-propagation-delay-seconds`
//!   lets a deleted assignment go on working) are pruned once the delay has
//!   passed ([`crate::authz::access::prune_tombstones`]);
//! - build contexts whose runs are all gone, or that no run claimed before
//!   their upload link expired, are dropped ([`crate::storage::expire_sources`]).
//!
//! A sweep runs when emulated time has moved a whole interval past the last
//! one. Nothing runs on a timer: that is checked at start, whenever the clock
//! is advanced (`POST /_emulator/clock/advance`), and where pending operations
//! settle (the start of each ARM request). The check is a clock read and an
//! atomic load: it takes no lock and reads no row until a sweep is due.
//! (Finished long-running operations are not swept here: the scheduler prunes
//! each one when its retention ends, see [`crate::arm::lro::RETENTION`].)

use crate::state::AppState;
use std::sync::atomic::{AtomicI64, Ordering};
use time::{Duration, OffsetDateTime};

/// distribution's `uploadpurging.interval`.
pub const INTERVAL: Duration = Duration::hours(24);
/// distribution's `uploadpurging.age`: an upload session older than this is abandoned.
pub const UPLOAD_MAX_AGE: Duration = Duration::hours(168);

/// When the last sweep ran (emulated unix seconds; `i64::MIN`: never).
#[derive(Debug)]
pub struct Schedule {
    last: AtomicI64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            last: AtomicI64::new(i64::MIN),
        }
    }
}

/// What a sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub uploads: usize,
    pub tombstones: usize,
    pub sources: usize,
}

/// Sweep if an interval of emulated time has passed since the last sweep (or
/// the clock stands before it, after a restart or a reset). Failures are
/// logged: housekeeping never fails the request that triggered it.
/// Whether a sweep is due (a clock read and an atomic load).
pub fn due(state: &AppState) -> bool {
    let t = state.clock.now().unix_timestamp();
    let last = state.maintenance.last.load(Ordering::SeqCst);
    last == i64::MIN || t < last || t - last >= INTERVAL.whole_seconds()
}

pub fn run_if_due(state: &AppState) -> Option<Swept> {
    let now = state.clock.now();
    let t = now.unix_timestamp();
    let last = state.maintenance.last.load(Ordering::SeqCst);
    if !due(state)
        || state
            .maintenance
            .last
            .compare_exchange(last, t, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return None;
    }
    match run(state, now) {
        Ok(s) => {
            if s != Swept::default() {
                tracing::info!(
                    uploads = s.uploads,
                    tombstones = s.tombstones,
                    sources = s.sources,
                    "maintenance: removed what had expired"
                );
            }
            Some(s)
        }
        Err(e) => {
            tracing::warn!(error = %e.message, "maintenance sweep failed");
            None
        }
    }
}

/// One sweep at `now`.
pub fn run(state: &AppState, now: OffsetDateTime) -> Result<Swept, crate::arm::ArmError> {
    Ok(Swept {
        uploads: crate::oci::routes::purge_uploads(state.store.as_ref(), &state.blobs, now)?,
        tombstones: crate::authz::access::prune_tombstones(state, now)?,
        sources: crate::storage::expire_sources(state, now)?,
    })
}
