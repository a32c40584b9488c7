//! What a repository-scoped token may do on the data plane: its scope map's
//! actions (a registry's three system scope maps, or one stored under it),
//! if the token is enabled and the password it logs in with matches one of
//! its two and has not expired. The ARM side of scope maps and tokens is
//! [`crate::providers::container_registry::scope_maps`].

use crate::arm::ResourceId;
use crate::state::AppState;
use crate::store::tables;
use serde_json::{Value, json};

const NAMESPACE: &str = "Microsoft.ContainerRegistry";
pub const SCOPE_MAP_TYPE: &str = "Microsoft.ContainerRegistry/registries/scopeMaps";

/// The scope maps every registry carries: name, description, actions.
pub const SYSTEM_MAPS: &[(&str, &str, &[&str])] = &[
    (
        "_repositories_admin",
        "Can perform all read, write and delete operations on the registry",
        &[
            "repositories/*/metadata/read",
            "repositories/*/metadata/write",
            "repositories/*/content/read",
            "repositories/*/content/write",
            "repositories/*/content/delete",
        ],
    ),
    (
        "_repositories_pull",
        "Can pull any repository of the registry",
        &["repositories/*/content/read"],
    ),
    (
        "_repositories_push",
        "Can push to any repository of the registry",
        &[
            "repositories/*/content/read",
            "repositories/*/content/write",
        ],
    ),
];

/// The system scope map `name` (any case) of `registry`, as Azure returns it.
pub fn system_map(registry: &ResourceId, name: &str) -> Option<Value> {
    let (n, desc, actions) = SYSTEM_MAPS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))?;
    Some(json!({
        "id": registry.child(NAMESPACE, "scopeMaps", n).to_string(),
        "name": n,
        "type": SCOPE_MAP_TYPE,
        "properties": {"description": desc, "type": "SystemDefined", "creationDate": "2019-01-01T00:00:00.0000000Z", "provisioningState": "Succeeded", "actions": actions},
    }))
}

/// Is a stored password still valid at `now`? No expiry: yes; an expiry that
/// has passed, or that cannot be read: no (never valid forever by accident).
fn password_current(p: &Value, now: time::OffsetDateTime) -> bool {
    match &p["expiry"] {
        Value::Null => true,
        Value::String(e) => {
            time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339)
                .is_ok_and(|t| t > now)
        }
        _ => false,
    }
}

/// A repository token logging in with `password`: its scope map's actions, if the
/// token exists, is enabled and the password matches and has not expired.
pub fn token_grants(
    state: &AppState,
    registry: &Value,
    user: &str,
    password: &str,
) -> Option<Vec<String>> {
    let reg: ResourceId = registry["id"].as_str()?.parse().ok()?;
    let id = reg.child(NAMESPACE, "tokens", user);
    let row = state.resources().get(&id).ok()??;
    if row["properties"]["status"] != "enabled" {
        return None;
    }
    let secrets = state.store.get(tables::ACR_CREDENTIALS, &id.key()).ok()??;
    let now = state.clock.now();
    let ok = ["password1", "password2"].iter().any(|n| {
        let p = &secrets[*n];
        p["value"].as_str() == Some(password) && password_current(p, now)
    });
    if !ok {
        return None;
    }
    let map_name = row["properties"]["scopeMapId"]
        .as_str()?
        .rsplit('/')
        .next()?
        .to_string();
    let map = system_map(&reg, &map_name).or_else(|| {
        state
            .store
            .get(
                tables::RESOURCES,
                &reg.child(NAMESPACE, "scopeMaps", &map_name).key(),
            )
            .ok()?
    })?;
    serde_json::from_value(map["properties"]["actions"].clone()).ok()
}

/// Does a scope-map action list allow `verb` (`content/read`, …) on `repository`?
pub fn scope_map_allows(actions: &[String], repository: &str, verb: &str) -> bool {
    actions.iter().any(|a| {
        let Some(pattern) = a
            .strip_prefix("repositories/")
            .and_then(|r| r.strip_suffix(&format!("/{verb}")))
        else {
            return false;
        };
        pattern == "*"
            || pattern.eq_ignore_ascii_case(repository)
            || pattern.strip_suffix("/*").is_some_and(|prefix| {
                repository
                    .to_ascii_lowercase()
                    .starts_with(&format!("{}/", prefix.to_ascii_lowercase()))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_expiry_fails_closed() {
        let now = time::OffsetDateTime::now_utc();
        let later = crate::clock::arm_timestamp(now + time::Duration::days(1));
        assert!(password_current(&json!({"expiry": null}), now));
        assert!(password_current(&json!({}), now));
        assert!(password_current(&json!({"expiry": later}), now));
        for bad in [
            json!("never"),
            json!("2020-01-01T00:00:00Z"),
            json!(1),
            json!("2030-01-01T00:00:00"),
        ] {
            assert!(!password_current(&json!({"expiry": bad}), now), "{bad}");
        }
    }

    #[test]
    fn scope_map_matching() {
        let a = vec![
            "repositories/team-a/*/content/read".to_string(),
            "repositories/hello/content/write".to_string(),
        ];
        assert!(scope_map_allows(&a, "team-a/app", "content/read"));
        assert!(!scope_map_allows(&a, "team-b/app", "content/read"));
        assert!(!scope_map_allows(&a, "team-a", "content/read"));
        assert!(scope_map_allows(&a, "hello", "content/write"));
        assert!(!scope_map_allows(&a, "hello", "content/read"));
        // A gateway action grants nothing on repositories.
        let g = vec!["gateway/edge1/config/read".to_string()];
        assert!(!scope_map_allows(&g, "edge1", "config/read"));
    }
}
