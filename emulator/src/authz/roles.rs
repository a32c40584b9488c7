//! Role definitions: the built-in catalog (embedded from
//! `fixtures/roles/builtin.json`, Azure's GUIDs and permissions) and the
//! plain type the engine evaluates. Custom roles are stored by
//! `providers::authorization` in the same ARM JSON shape.

use serde_json::{Value, json};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleType {
    BuiltIn,
    Custom,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Permission {
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoleDefinition {
    pub id_guid: String,
    pub role_name: String,
    pub role_type: RoleType,
    pub permissions: Vec<Permission>,
    pub assignable_scopes: Vec<String>,
    pub description: String,
}

fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(a) => a.iter().map(|s| s.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

impl RoleDefinition {
    /// From ARM's role definition JSON; `None` if malformed (never panics).
    pub fn from_arm_json(v: &Value) -> Option<RoleDefinition> {
        let p = &v["properties"];
        let permissions = p["permissions"]
            .as_array()?
            .iter()
            .map(|b| {
                Some(Permission {
                    actions: strings(&b["actions"])?,
                    not_actions: strings(&b["notActions"])?,
                    data_actions: strings(&b["dataActions"])?,
                    not_data_actions: strings(&b["notDataActions"])?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(RoleDefinition {
            id_guid: v["name"].as_str()?.to_ascii_lowercase(),
            role_name: p["roleName"].as_str()?.to_string(),
            role_type: if p["type"] == "CustomRole" {
                RoleType::Custom
            } else {
                RoleType::BuiltIn
            },
            permissions,
            assignable_scopes: strings(&p["assignableScopes"])?,
            description: p["description"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// ARM's JSON, with the id under `id_prefix_scope` (`/subscriptions/{s}` or empty for tenant scope).
    pub fn to_arm_json(&self, id_prefix_scope: &str) -> Value {
        let builtin = builtin_json().iter().find(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(&self.id_guid))
        });
        let mut v = builtin.cloned().unwrap_or_else(|| {
            json!({
                "name": self.id_guid,
                "type": "Microsoft.Authorization/roleDefinitions",
                "properties": {
                    "roleName": self.role_name,
                    "type": if self.role_type == RoleType::BuiltIn { "BuiltInRole" } else { "CustomRole" },
                    "description": self.description,
                    "assignableScopes": self.assignable_scopes,
                    "permissions": self.permissions.iter().map(|p| json!({
                        "actions": p.actions, "notActions": p.not_actions,
                        "dataActions": p.data_actions, "notDataActions": p.not_data_actions,
                    })).collect::<Vec<_>>(),
                }
            })
        });
        v["id"] = json!(format!(
            "{id_prefix_scope}/providers/Microsoft.Authorization/roleDefinitions/{}",
            self.id_guid
        ));
        v
    }
}

/// The embedded catalog as ARM JSON (entries that do not parse are skipped;
/// the `catalog_parses` test keeps the fixture honest).
pub fn builtin_json() -> &'static [Value] {
    static J: OnceLock<Vec<Value>> = OnceLock::new();
    J.get_or_init(|| {
        let doc: Value = serde_json::from_str(include_str!("../../../fixtures/roles/builtin.json"))
            .unwrap_or(Value::Null);
        doc["roles"].as_array().cloned().unwrap_or_default()
    })
}

pub fn builtin() -> &'static [RoleDefinition] {
    static R: OnceLock<Vec<RoleDefinition>> = OnceLock::new();
    R.get_or_init(|| {
        builtin_json()
            .iter()
            .filter_map(RoleDefinition::from_arm_json)
            .collect()
    })
}

pub fn builtin_by_guid(guid: &str) -> Option<&'static RoleDefinition> {
    builtin()
        .iter()
        .find(|r| r.id_guid.eq_ignore_ascii_case(guid))
}

/// Role names match case-insensitively (az sends them as typed: `acrpull`).
pub fn builtin_by_name(name: &str) -> Option<&'static RoleDefinition> {
    builtin()
        .iter()
        .find(|r| r.role_name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_parses() {
        assert_eq!(
            builtin().len(),
            builtin_json().len(),
            "every fixture entry parses"
        );
        assert!(builtin().len() >= 18);
        for (name, guid) in [
            ("acrpull", "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
            ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
            (
                "Container Registry Repository Reader",
                "b93aa761-3e63-49ed-ac28-beffa264f7ac",
            ),
        ] {
            assert_eq!(
                builtin_by_name(name).map(|r| r.id_guid.as_str()),
                Some(guid)
            );
        }
        let r = builtin_by_guid("7F951DDA-4ED3-4680-A7CA-43FE172D538D").unwrap();
        let v = r.to_arm_json("/subscriptions/s");
        assert_eq!(
            v["id"],
            "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
        );
        assert_eq!(RoleDefinition::from_arm_json(&v).as_ref(), Some(r));
        assert!(RoleDefinition::from_arm_json(&json!({"name": "x", "properties": {"roleName": "y", "permissions": [{"actions": 5}]}})).is_none());
    }
}
