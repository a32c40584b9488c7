//! Built-in roles (placeholder).
use serde_json::{Value, json};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleType {
    BuiltIn,
    Custom,
}

#[derive(Debug, Clone, Default)]
pub struct Permission {
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RoleDefinition {
    pub id_guid: String,
    pub role_name: String,
    pub role_type: RoleType,
    pub permissions: Vec<Permission>,
    pub assignable_scopes: Vec<String>,
    pub description: String,
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl RoleDefinition {
    pub fn from_arm_json(v: &Value) -> Option<RoleDefinition> {
        let p = &v["properties"];
        Some(RoleDefinition {
            id_guid: v["name"].as_str()?.to_ascii_lowercase(),
            role_name: p["roleName"].as_str()?.to_string(),
            role_type: if p["type"] == "CustomRole" {
                RoleType::Custom
            } else {
                RoleType::BuiltIn
            },
            permissions: p["permissions"]
                .as_array()?
                .iter()
                .map(|b| Permission {
                    actions: strs(&b["actions"]),
                    not_actions: strs(&b["notActions"]),
                    data_actions: strs(&b["dataActions"]),
                    not_data_actions: strs(&b["notDataActions"]),
                })
                .collect(),
            assignable_scopes: strs(&p["assignableScopes"]),
            description: p["description"].as_str().unwrap_or_default().to_string(),
        })
    }
    pub fn to_arm_json(&self, id_prefix_scope: &str) -> Value {
        json!({
            "id": format!("{id_prefix_scope}/providers/Microsoft.Authorization/roleDefinitions/{}", self.id_guid),
            "name": self.id_guid, "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": self.role_name, "type": if self.role_type == RoleType::BuiltIn {"BuiltInRole"} else {"CustomRole"},
              "description": self.description, "assignableScopes": self.assignable_scopes,
              "permissions": self.permissions.iter().map(|p| json!({"actions": p.actions, "notActions": p.not_actions, "dataActions": p.data_actions, "notDataActions": p.not_data_actions})).collect::<Vec<_>>()}
        })
    }
}

fn role(guid: &str, name: &str, actions: &[&str], not_actions: &[&str]) -> RoleDefinition {
    RoleDefinition {
        id_guid: guid.into(),
        role_name: name.into(),
        role_type: RoleType::BuiltIn,
        permissions: vec![Permission {
            actions: actions.iter().map(|s| s.to_string()).collect(),
            not_actions: not_actions.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }],
        assignable_scopes: vec!["/".into()],
        description: String::new(),
    }
}

pub fn builtin() -> &'static [RoleDefinition] {
    static R: OnceLock<Vec<RoleDefinition>> = OnceLock::new();
    R.get_or_init(|| {
        vec![
            role("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner", &["*"], &[]),
            role(
                "b24988ac-6180-42a0-ab88-20f7382dd24c",
                "Contributor",
                &["*"],
                &[
                    "Microsoft.Authorization/*/Delete",
                    "Microsoft.Authorization/*/Write",
                    "Microsoft.Authorization/elevateAccess/Action",
                ],
            ),
            role(
                "acdd72a7-3385-48ef-bd42-f606fba81ae7",
                "Reader",
                &["*/read"],
                &[],
            ),
            role(
                "7f951dda-4ed3-4680-a7ca-43fe172d538d",
                "AcrPull",
                &["Microsoft.ContainerRegistry/registries/pull/read"],
                &[],
            ),
        ]
    })
}
pub fn builtin_by_guid(guid: &str) -> Option<&'static RoleDefinition> {
    builtin()
        .iter()
        .find(|r| r.id_guid.eq_ignore_ascii_case(guid))
}
pub fn builtin_by_name(name: &str) -> Option<&'static RoleDefinition> {
    builtin()
        .iter()
        .find(|r| r.role_name.eq_ignore_ascii_case(name))
}
