//! Pieces of the ARM resource envelope shared by every provider: `systemData`,
//! `tags`, `location`.

use super::error::ArmError;
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

/// `tags` from a request body: absent or null is `None`; otherwise a map of strings.
/// RFC 7396 JSON merge patch: objects merge recursively, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.shift_remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Rebuild `object` with the keys named in `order` first, in that order (the
/// order an RP answers with, from azure-cli's recordings), the rest after as
/// they came. Anything but an object is left alone.
pub fn reorder(object: &mut Value, order: &[&str]) {
    let Some(o) = object.as_object_mut() else {
        return;
    };
    let mut out = serde_json::Map::new();
    for k in order {
        if let Some(v) = o.shift_remove(*k) {
            out.insert((*k).to_string(), v);
        }
    }
    out.extend(std::mem::take(o));
    *o = out;
}

/// Set a resource's `tags` where ARM puts them: in place when the row has
/// them, else before `properties` (before `systemData` when there is none).
pub fn set_tags(row: &mut Value, tags: Value) {
    let Some(map) = row.as_object_mut() else {
        return;
    };
    if let Some(t) = map.get_mut("tags") {
        *t = tags;
        return;
    }
    let at = ["properties", "systemData"]
        .iter()
        .find_map(|k| map.keys().position(|m| m == k))
        .unwrap_or(map.len());
    map.shift_insert(at, "tags".to_string(), tags);
}

pub fn tags(body: &serde_json::Map<String, Value>) -> Result<Option<Value>, ArmError> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => {
            Ok(Some(Value::Object(m.clone())))
        }
        Some(_) => Err(ArmError::invalid_request_content(
            "Error converting value to type 'System.Collections.Generic.Dictionary`2[System.String,System.String]'. Path 'tags'.",
        )),
    }
}

/// A tracked resource's `location`: required, and one of Azure's regions
/// (returned in ARM's normalised form, `westeurope`).
pub fn location(body: &serde_json::Map<String, Value>) -> Result<&'static str, ArmError> {
    match body.get("location") {
        Some(Value::String(l)) if !l.trim().is_empty() => {
            super::locations::known(l).ok_or_else(|| ArmError::location_not_available(l))
        }
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ArmError::location_required()),
        Some(_) => Err(ArmError::invalid_request_content(
            "Unexpected value for 'location'. Path 'location'.",
        )),
    }
}
