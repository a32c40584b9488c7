//! Role definitions: the plain type the engine evaluates, its ARM JSON form,
//! and the built-in catalog.
//!
//! The catalog is `fixtures/roles/builtin.json`, embedded at build time: each
//! entry exactly as `GET /providers/Microsoft.Authorization/roleDefinitions/{guid}`
//! returns it, with Azure's GUIDs, names, descriptions and permissions (the
//! file's `_source` says where each came from). Custom roles are stored by
//! `providers::authorization` in the same JSON shape and read back with
//! [`RoleDefinition::from_arm_json`].

use serde_json::{Value, json};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleType {
    BuiltIn,
    Custom,
}

/// One permission block. NotActions subtract from Actions of the *same*
/// block only (and NotDataActions from DataActions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permission {
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The role's GUID, lower-case (its ARM `name`).
    pub id_guid: String,
    pub role_name: String,
    pub role_type: RoleType,
    pub permissions: Vec<Permission>,
    pub assignable_scopes: Vec<String>,
    pub description: String,
}

/// A JSON array of strings; `null` or absent is empty; anything else is malformed.
fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|s| s.as_str().map(str::to_string)).collect(),
        Some(_) => None,
    }
}

impl Permission {
    fn from_arm_json(b: &Value) -> Option<Permission> {
        let b = b.as_object()?;
        Some(Permission {
            actions: strings(b.get("actions"))?,
            not_actions: strings(b.get("notActions"))?,
            data_actions: strings(b.get("dataActions"))?,
            not_data_actions: strings(b.get("notDataActions"))?,
        })
    }

    pub fn to_arm_json(&self) -> Value {
        json!({
            "actions": self.actions,
            "notActions": self.not_actions,
            "dataActions": self.data_actions,
            "notDataActions": self.not_data_actions,
        })
    }
}

impl RoleDefinition {
    /// From ARM's role definition JSON. `None` when it is malformed (no
    /// `name`, no `properties.roleName`, `permissions` not an array of
    /// blocks of string arrays, …); never panics.
    pub fn from_arm_json(v: &Value) -> Option<RoleDefinition> {
        let p = v.get("properties")?.as_object()?;
        let permissions = p
            .get("permissions")?
            .as_array()?
            .iter()
            .map(Permission::from_arm_json)
            .collect::<Option<Vec<_>>>()?;
        let role_type = match p.get("type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("CustomRole") => RoleType::Custom,
            _ => RoleType::BuiltIn,
        };
        Some(RoleDefinition {
            id_guid: v.get("name")?.as_str()?.to_ascii_lowercase(),
            role_name: p.get("roleName")?.as_str()?.to_string(),
            role_type,
            permissions,
            assignable_scopes: strings(p.get("assignableScopes"))?,
            description: p
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// ARM's JSON, its `id` under `id_prefix_scope` (`/subscriptions/{s}`, or
    /// empty for the tenant-level id). A built-in role is its catalog entry
    /// verbatim (dates included); any other role is rebuilt from its fields.
    pub fn to_arm_json(&self, id_prefix_scope: &str) -> Value {
        let mut v = builtin_json_by_guid(&self.id_guid)
            .cloned()
            .unwrap_or_else(|| {
                json!({
                    "name": self.id_guid,
                    "type": "Microsoft.Authorization/roleDefinitions",
                    "properties": {
                        "roleName": self.role_name,
                        "type": match self.role_type {
                            RoleType::BuiltIn => "BuiltInRole",
                            RoleType::Custom => "CustomRole",
                        },
                        "description": self.description,
                        "assignableScopes": self.assignable_scopes,
                        "permissions": self.permissions.iter().map(Permission::to_arm_json).collect::<Vec<_>>(),
                    }
                })
            });
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "id".to_string(),
                json!(format!(
                    "{}/providers/Microsoft.Authorization/roleDefinitions/{}",
                    id_prefix_scope.trim_end_matches('/'),
                    self.id_guid
                )),
            );
        }
        v
    }
}

struct Catalog {
    json: Vec<Value>,
    roles: Vec<RoleDefinition>,
}

/// The embedded catalog, parsed once. Entries that do not parse are left
/// out of both lists (the `catalog_parses` test keeps the fixture honest).
fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| {
        let doc: Value = serde_json::from_str(include_str!("../../../fixtures/roles/builtin.json"))
            .unwrap_or(Value::Null);
        let (json, roles) = doc
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| Some((v.clone(), RoleDefinition::from_arm_json(v)?)))
            .unzip();
        Catalog { json, roles }
    })
}

/// The built-in roles.
pub fn builtin() -> &'static [RoleDefinition] {
    &catalog().roles
}

/// The built-in roles as ARM JSON, in the same order as [`builtin`].
pub fn builtin_json() -> &'static [Value] {
    &catalog().json
}

fn builtin_json_by_guid(guid: &str) -> Option<&'static Value> {
    builtin()
        .iter()
        .position(|r| r.id_guid.eq_ignore_ascii_case(guid))
        .and_then(|i| builtin_json().get(i))
}

/// A built-in role by GUID (any case).
pub fn builtin_by_guid(guid: &str) -> Option<&'static RoleDefinition> {
    builtin()
        .iter()
        .find(|r| r.id_guid.eq_ignore_ascii_case(guid))
}

/// A built-in role by name, ignoring case (az sends names as typed: `acrpull`).
pub fn builtin_by_name(name: &str) -> Option<&'static RoleDefinition> {
    builtin()
        .iter()
        .find(|r| r.role_name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../../fixtures/roles/builtin.json");

    #[test]
    fn catalog_parses() {
        let doc: Value = serde_json::from_str(FIXTURE).unwrap();
        let raw = doc["roles"].as_array().unwrap();
        assert_eq!(builtin().len(), raw.len(), "every fixture entry parses");
        assert_eq!(builtin().len(), 24);
        assert_eq!(builtin_json().len(), builtin().len());
        assert!(doc["_comment"].is_string());
        for (v, r) in builtin_json().iter().zip(builtin()) {
            let name = &r.role_name;
            assert_eq!(
                doc["_source"][name].as_str().map(|s| s.is_empty()),
                Some(false),
                "{name} cites a source"
            );
            // ARM's GET shape, exactly.
            assert_eq!(
                v["id"],
                format!(
                    "/providers/Microsoft.Authorization/roleDefinitions/{}",
                    r.id_guid
                )
            );
            assert_eq!(v["type"], "Microsoft.Authorization/roleDefinitions");
            assert_eq!(r.role_type, RoleType::BuiltIn);
            assert_eq!(v["properties"]["type"], "BuiltInRole");
            assert_eq!(r.assignable_scopes, ["/"]);
            let mut keys: Vec<&String> = v["properties"].as_object().unwrap().keys().collect();
            keys.sort_unstable();
            let mut want = [
                "assignableScopes",
                "createdBy",
                "createdOn",
                "description",
                "permissions",
                "roleName",
                "type",
                "updatedBy",
                "updatedOn",
            ];
            want.sort_unstable();
            assert_eq!(keys, want, "{name}");
            assert!(!r.description.is_empty(), "{name}");
            assert!(
                r.permissions
                    .iter()
                    .all(|p| !p.actions.is_empty() || !p.data_actions.is_empty()),
                "{name}"
            );
            // GUIDs are lower-case and well formed.
            assert_eq!(r.id_guid.len(), 36, "{name}");
            assert!(
                r.id_guid
                    .chars()
                    .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
            );
        }
        let mut guids: Vec<_> = builtin().iter().map(|r| r.id_guid.clone()).collect();
        guids.sort();
        guids.dedup();
        assert_eq!(guids.len(), builtin().len(), "GUIDs are unique");
    }

    #[test]
    fn lookups() {
        for (name, guid) in [
            ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
            ("contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
            ("READER", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
            (
                "User Access Administrator",
                "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
            ),
            (
                "Role Based Access Control Administrator",
                "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
            ),
            ("acrpull", "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
            ("AcrPush", "8311e382-0749-4cb8-b61a-304f252e45ec"),
            ("AcrDelete", "c2f4ef07-c644-48eb-af81-4b1b4947fb11"),
            ("AcrImageSigner", "6cef56e8-d556-48e5-a04f-b8e64114680f"),
            (
                "AcrQuarantineReader",
                "cdda3590-29a3-44f6-95f2-9f980659eb04",
            ),
            (
                "AcrQuarantineWriter",
                "c8d4ff99-41c3-41a8-9f60-21dfdad59608",
            ),
            (
                "Container Registry Repository Reader",
                "b93aa761-3e63-49ed-ac28-beffa264f7ac",
            ),
            (
                "Container Registry Repository Writer",
                "2a1e307c-b015-4ebd-883e-5b7698a07328",
            ),
            (
                "Container Registry Repository Contributor",
                "2efddaa5-3f1f-4df3-97df-af3f13818f4c",
            ),
            (
                "Container Registry Repository Catalog Lister",
                "bfdb9389-c9a5-478a-bb2f-ba9ca092c3c7",
            ),
            (
                "Container Registry Tasks Contributor",
                "fb382eab-e894-4461-af04-94435c366c3f",
            ),
            (
                "Container Registry Contributor and Data Access Configuration Administrator",
                "3bc748fc-213d-45c1-8d91-9da5725539b9",
            ),
            (
                "Container Registry Configuration Reader and Data Access Configuration Reader",
                "69b07be0-09bf-439a-b9a6-e73de851bd59",
            ),
            (
                "Container Registry Data Importer and Data Reader",
                "577a9874-89fd-4f24-9dbd-b5034d0ad23a",
            ),
            (
                "Managed Identity Operator",
                "f1a07417-d97a-45cb-824c-7a7467783830",
            ),
            (
                "Managed Identity Contributor",
                "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59",
            ),
            (
                "Network Contributor",
                "4d97b98b-1d4f-4787-a291-c67834d212e7",
            ),
        ] {
            assert_eq!(
                builtin_by_name(name).map(|r| r.id_guid.as_str()),
                Some(guid),
                "{name}"
            );
            assert_eq!(
                builtin_by_guid(&guid.to_ascii_uppercase())
                    .map(|r| r.role_name.to_ascii_lowercase()),
                Some(name.to_ascii_lowercase())
            );
        }
        assert!(builtin_by_name("No Such Role").is_none());
        assert!(builtin_by_guid("00000000-0000-0000-0000-000000000000").is_none());
    }

    #[test]
    fn real_permissions() {
        let contributor = builtin_by_name("Contributor").unwrap();
        assert_eq!(contributor.permissions[0].actions, ["*"]);
        assert_eq!(contributor.permissions[0].not_actions.len(), 11);
        assert!(
            contributor.permissions[0]
                .not_actions
                .contains(&"Microsoft.Authorization/*/Write".to_string())
        );
        let mio = builtin_by_name("Managed Identity Operator").unwrap();
        assert!(mio.permissions[0].actions.contains(
            &"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action".to_string()
        ));
        let reader = builtin_by_name("Container Registry Repository Reader").unwrap();
        assert!(reader.permissions[0].actions.is_empty());
        assert_eq!(reader.permissions[0].data_actions.len(), 2);
    }

    #[test]
    fn arm_json_round_trip() {
        let r = builtin_by_guid("7F951DDA-4ED3-4680-A7CA-43FE172D538D").unwrap();
        let v = r.to_arm_json("/subscriptions/s");
        assert_eq!(
            v["id"],
            "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
        );
        assert_eq!(v["properties"]["createdOn"], "2018-10-22T19:01:56.822Z");
        assert_eq!(RoleDefinition::from_arm_json(&v).as_ref(), Some(r));
        assert_eq!(
            r.to_arm_json("")["id"],
            "/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
        );

        let custom = RoleDefinition {
            id_guid: "11111111-1111-1111-1111-111111111111".into(),
            role_name: "Registry Reader".into(),
            role_type: RoleType::Custom,
            permissions: vec![Permission {
                actions: vec!["Microsoft.ContainerRegistry/registries/read".into()],
                ..Default::default()
            }],
            assignable_scopes: vec!["/subscriptions/s".into()],
            description: "d".into(),
        };
        let v = custom.to_arm_json("/subscriptions/s");
        assert_eq!(v["properties"]["type"], "CustomRole");
        assert_eq!(
            v["properties"]["permissions"][0]["notDataActions"],
            json!([])
        );
        assert_eq!(RoleDefinition::from_arm_json(&v), Some(custom));
    }

    #[test]
    fn malformed_json_is_none() {
        for bad in [
            json!(null),
            json!([]),
            json!({"name": "x"}),
            json!({"name": "x", "properties": {"roleName": "y"}}),
            json!({"name": "x", "properties": {"roleName": "y", "permissions": [{"actions": 5}]}}),
            json!({"name": "x", "properties": {"roleName": "y", "permissions": [{"actions": ["a", 1]}]}}),
            json!({"name": "x", "properties": {"roleName": "y", "permissions": ["a"]}}),
            json!({"name": 7, "properties": {"roleName": "y", "permissions": []}}),
            json!({"name": "x", "properties": {"roleName": "y", "permissions": [], "assignableScopes": "/"}}),
        ] {
            assert!(RoleDefinition::from_arm_json(&bad).is_none(), "{bad}");
        }
        // Absent or null lists are empty, as ARM treats them.
        let ok = RoleDefinition::from_arm_json(
            &json!({"name": "X", "properties": {"roleName": "y", "permissions": [{"actions": ["a"], "notActions": null}]}}),
        )
        .unwrap();
        assert_eq!(ok.id_guid, "x");
        assert!(ok.permissions[0].not_actions.is_empty());
    }
}
