//! The generic resource list, `GET {S}/resources` and `GET {RG}/resources`
//! (`Resources_List`, `Resources_ListByResourceGroup`), and the `$filter`
//! grammar ARM list endpoints share.

use crate::arm::{ArmError, ArmRequest, ResourceId, paging};
use crate::providers::json_response;
use crate::state::AppState;
use crate::store::{index, tables};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

/// One `field eq 'value'` clause (or `substringof('v', name)`), all joined by `and`.
#[derive(Debug, Default)]
pub struct Filter {
    clauses: Vec<(String, String)>,
}

impl Filter {
    /// Supports `resourceType`, `name`, `location`, `resourceGroup`, `tagName`, `tagValue`
    /// with `eq`, and `substringof('…', name)`. Anything else is 400 InvalidFilterInQueryString.
    pub fn parse(raw: Option<&str>) -> Result<Filter, ArmError> {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Filter::default());
        };
        let bad = || {
            ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidFilterInQueryString",
                format!("Invalid $filter '{raw}' specified in the query string."),
            )
        };
        let mut clauses = Vec::new();
        for part in split_and(raw) {
            let part = part.trim();
            if let Some(inner) = part
                .strip_prefix("substringof(")
                .and_then(|p| p.strip_suffix(')'))
            {
                let (lit, field) = inner.rsplit_once(',').ok_or_else(bad)?;
                if !field.trim().eq_ignore_ascii_case("name") {
                    return Err(bad());
                }
                clauses.push((
                    "substringof".to_string(),
                    unquote(lit.trim()).ok_or_else(bad)?,
                ));
                continue;
            }
            let mut it = part.splitn(3, ' ');
            let (field, op, lit) = (
                it.next().ok_or_else(bad)?,
                it.next().ok_or_else(bad)?,
                it.next().ok_or_else(bad)?,
            );
            if !op.eq_ignore_ascii_case("eq") {
                return Err(bad());
            }
            let field = field.to_ascii_lowercase();
            if ![
                "resourcetype",
                "name",
                "location",
                "resourcegroup",
                "tagname",
                "tagvalue",
            ]
            .contains(&field.as_str())
            {
                return Err(bad());
            }
            clauses.push((field, unquote(lit.trim()).ok_or_else(bad)?));
        }
        Ok(Filter { clauses })
    }

    pub fn matches(&self, v: &Value) -> bool {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let tag_name = self
            .clauses
            .iter()
            .find(|(f, _)| f == "tagname")
            .map(|(_, x)| x);
        self.clauses
            .iter()
            .all(|(field, want)| match field.as_str() {
                "resourcetype" => s("type").eq_ignore_ascii_case(want),
                "name" => s("name").eq_ignore_ascii_case(want),
                "location" => {
                    crate::arm::locations::normalize(&s("location"))
                        == crate::arm::locations::normalize(want)
                }
                "resourcegroup" => s("id")
                    .parse::<ResourceId>()
                    .ok()
                    .and_then(|id| id.resource_group)
                    .is_some_and(|rg| rg.eq_ignore_ascii_case(want)),
                "tagname" => v["tags"]
                    .as_object()
                    .is_some_and(|t| t.keys().any(|k| k.eq_ignore_ascii_case(want))),
                "tagvalue" => v["tags"].as_object().is_some_and(|t| {
                    t.iter().any(|(k, val)| {
                        tag_name.is_none_or(|n| k.eq_ignore_ascii_case(n))
                            && val.as_str() == Some(want.as_str())
                    })
                }),
                "substringof" => s("name")
                    .to_ascii_lowercase()
                    .contains(&want.to_ascii_lowercase()),
                _ => false,
            })
    }
}

/// Split on ` and ` outside quotes, case-insensitively.
fn split_and(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut in_quote = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_quote = !in_quote;
        }
        if !in_quote
            && i + 5 <= chars.len()
            && chars[i..i + 5]
                .iter()
                .collect::<String>()
                .eq_ignore_ascii_case(" and ")
        {
            parts.push(String::new());
            i += 5;
            continue;
        }
        parts.last_mut().expect("non-empty").push(c);
        i += 1;
    }
    parts
}

fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// The list form of a resource: the envelope without `properties`.
fn list_item(v: &Value) -> Value {
    let mut item = json!({});
    for k in [
        "id",
        "name",
        "type",
        "sku",
        "kind",
        "location",
        "identity",
        "managedBy",
        "plan",
        "tags",
        "extendedLocation",
    ] {
        if let Some(x) = v.get(k).filter(|x| !x.is_null()) {
            item[k] = x.clone();
        }
    }
    item
}

/// `GET {scope}/resources` → 200 `{value, nextLink?}`; tracked resources under the scope.
pub fn resources_list(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Resources/resources")?;
    if req.method != http::Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let filter = Filter::parse(req.query("$filter"))?;
    let under = state
        .store
        .scan(tables::RESOURCES, &format!("{}/", scope.key()))?;
    let items: Vec<Value> =
        index::in_creation_order(state.store.as_ref(), tables::RESOURCES, under)?
            .into_iter()
            .map(|(_, v)| v)
            // tracked provider resources only: not resource groups, not extension resources without a location
            .filter(|v| {
                v["type"]
                    .as_str()
                    .is_some_and(|t| !t.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups"))
            })
            .filter(|v| v.get("location").is_some_and(Value::is_string))
            .filter(|v| filter.matches(v))
            .filter(|v| crate::providers::caller_may_read(state, req, v))
            .map(|v| list_item(&v))
            .collect();
    Ok(json_response(StatusCode::OK, &paging::page(items, req)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let reg = json!({"id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.ContainerRegistry/registries/r1",
                         "name": "r1", "type": "Microsoft.ContainerRegistry/registries", "location": "eastus", "tags": {"env": "dev"}});
        let f = |s: &str| Filter::parse(Some(s)).unwrap();
        assert!(f("resourceType eq 'microsoft.containerregistry/registries'").matches(&reg));
        assert!(!f("resourceType eq 'Microsoft.Network/virtualNetworks'").matches(&reg));
        assert!(f("resourceGroup eq 'rg' and name eq 'R1'").matches(&reg));
        assert!(f("tagName eq 'env' and tagValue eq 'dev'").matches(&reg));
        assert!(!f("tagName eq 'env' and tagValue eq 'prod'").matches(&reg));
        assert!(f("substringof('r', name)").matches(&reg));
        assert!(f("location eq 'East US'").matches(&reg));
        assert!(f("name eq 'it''s'").clauses[0].1 == "it's");
        for bad in ["name ne 'x'", "bogus eq 'x'", "name eq x", "name eq"] {
            assert_eq!(
                Filter::parse(Some(bad)).unwrap_err().code,
                "InvalidFilterInQueryString",
                "{bad}"
            );
        }
    }
}
