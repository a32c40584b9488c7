//! Pieces of the ARM resource envelope shared by every provider: `systemData`.

use crate::clock::arm_timestamp;
use crate::entra::{Principal, PrincipalKind};
use serde_json::{Value, json};
use time::OffsetDateTime;

fn by_type(p: &Principal) -> &'static str {
    match p.kind {
        PrincipalKind::Application => "Application",
        PrincipalKind::ManagedIdentity => "ManagedIdentity",
    }
}

/// `systemData` for a resource created now by `p`, or updated now when `previous` holds the old one.
pub fn system_data(p: &Principal, now: OffsetDateTime, previous: Option<&Value>) -> Value {
    let ts = arm_timestamp(now);
    let mut sd = json!({
        "createdBy": p.app_id, "createdByType": by_type(p), "createdAt": ts,
        "lastModifiedBy": p.app_id, "lastModifiedByType": by_type(p), "lastModifiedAt": ts,
    });
    if let Some(prev) = previous {
        for k in ["createdBy", "createdByType", "createdAt"] {
            if let Some(v) = prev.get(k) {
                sd[k] = v.clone();
            }
        }
    }
    sd
}
