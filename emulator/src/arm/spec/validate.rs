//! A request body checked against its operation's schema, as Azure's
//! resource providers check it (their .NET deserializer and model
//! validation), in ARM's error shape:
//!
//! | class | answer |
//! |---|---|
//! | wrong JSON kind | 400 `InvalidRequestContent`, Newtonsoft's words ([`super::super::shapes`]) |
//! | value outside a closed enum (`x-ms-enum.modelAsString: false`) | 400 `InvalidRequestContent` "Error converting value …" |
//! | required property missing | 400 `InvalidRequestContent` "Required property '…' not found in JSON." (`location`: 400 `LocationRequired`) |
//! | `date-time` that does not read | 400 `InvalidRequestContent` "Could not convert string to DateTime: …" |
//! | a resource id that is not one | 400 `LinkedInvalidPropertyId` |
//! | create-only property changed on update | 409 `PropertyChangeNotAllowed` |
//!
//! What passes comes back cleaned: read-only properties and properties the
//! schema does not have are dropped (the providers ignore them; nothing
//! stores them), `null` is absent.

// Found: "The request content was invalid and could not be deserialized:
// 'Required property 'properties' not found in JSON. Path '', line 1,
// position 2.'." (Azure/azure-rest-api-specs#1042, a recorded ARM answer);
// "{"code":"PropertyChangeNotAllowed","target":"agentProfile.dnsPrefix",
// "message":"Changing property 'agentProfile.dnsPrefix' is not allowed."}"
// (Azure/azure-quickstart-templates#1355, #3712: a deployment's "Conflict").

use super::super::error::ArmError;
use super::super::shapes::{self, Step};
use super::{Kind, SCHEMAS, Schema};
use http::StatusCode;
use serde_json::{Map, Value};

/// Check `body` (parsed from `raw`) against schema `schema`; `existing` is the
/// stored resource an update replaces (`None` on create). The cleaned body.
pub fn validate(
    schema: u32,
    body: &Value,
    raw: &[u8],
    existing: Option<&Value>,
) -> Result<Value, ArmError> {
    check(schema, body, raw, existing, true)
}

/// [`validate`] for a PATCH (RFC 7396): a writable property sent as `null`
/// stays in the cleaned body, so the merge removes it (`az acr task
/// credential remove` sends the login server's credentials as `null`).
pub fn validate_patch(
    schema: u32,
    body: &Value,
    raw: &[u8],
    existing: &Value,
) -> Result<Value, ArmError> {
    check_with(schema, body, raw, Some(existing), true, true)
}

/// [`validate`], for a body a hand-written provider goes on to read: its
/// required properties and formats are the provider's to enforce, in the
/// words Azure's provider uses for each (ACR's `SkuRequired`, a token
/// password's expiry).
pub fn validate_for_provider(
    schema: u32,
    body: &Value,
    raw: &[u8],
    existing: Option<&Value>,
) -> Result<(), ArmError> {
    check(schema, body, raw, existing, false).map(|_| ())
}

/// [`validate_for_provider`], cleaned as [`validate`] cleans: for a behaviour
/// of the spec layer whose provider fills in what the schema marks required
/// ([`crate::providers::by_spec::Behaviour::provider_required`]).
pub fn validate_for_provider_cleaned(
    schema: u32,
    body: &Value,
    raw: &[u8],
    existing: Option<&Value>,
) -> Result<Value, ArmError> {
    check(schema, body, raw, existing, false)
}

fn check(
    schema: u32,
    body: &Value,
    raw: &[u8],
    existing: Option<&Value>,
    required: bool,
) -> Result<Value, ArmError> {
    check_with(schema, body, raw, existing, required, false)
}

fn check_with(
    schema: u32,
    body: &Value,
    raw: &[u8],
    existing: Option<&Value>,
    required: bool,
    patch: bool,
) -> Result<Value, ArmError> {
    shapes::check_spec(schema, body, raw)?;
    let mut cx = Cx {
        raw,
        path: Vec::new(),
        create: existing.is_none(),
        required,
        patch,
    };
    cx.value(&SCHEMAS[schema as usize], body, existing)
}

struct Cx<'a> {
    raw: &'a [u8],
    path: Vec<Step>,
    create: bool,
    /// Check required properties and formats (a hand-written provider
    /// checks those itself, in its own words).
    required: bool,
    /// A PATCH: writable properties sent as `null` are kept (to be removed).
    patch: bool,
}

impl Cx<'_> {
    fn refuse(&self, message: String) -> ArmError {
        shapes::refuse(&self.path, message, self.raw)
    }

    fn value(
        &mut self,
        schema: &'static Schema,
        v: &Value,
        old: Option<&Value>,
    ) -> Result<Value, ArmError> {
        let schema = schema.subtype(v);
        match (schema.kind, v) {
            (_, Value::Object(o)) if !schema.props.is_empty() => self.object(schema, o, old),
            (Kind::Object, Value::Object(o)) => match schema.additional() {
                Some(values) => {
                    let mut out = Map::new();
                    for (k, item) in o {
                        if item.is_null() {
                            if self.patch {
                                out.insert(k.clone(), Value::Null);
                            }
                            continue;
                        }
                        self.path.push(Step::Key(k.clone()));
                        let c = self.value(values, item, old.and_then(|o| o.get(k)))?;
                        self.path.pop();
                        out.insert(k.clone(), c);
                    }
                    Ok(Value::Object(out))
                }
                None => Ok(v.clone()),
            },
            (Kind::Array, Value::Array(a)) => {
                let Some(items) = schema.items() else {
                    return Ok(v.clone());
                };
                let mut out = Vec::with_capacity(a.len());
                for (i, item) in a.iter().enumerate() {
                    self.path.push(Step::Index(i));
                    out.push(self.value(items, item, None)?);
                    self.path.pop();
                }
                Ok(Value::Array(out))
            }
            (Kind::String, Value::String(s)) => {
                if !schema.enum_values.is_empty()
                    && !schema.model_as_string
                    && !schema.enum_values.iter().any(|e| e.eq_ignore_ascii_case(s))
                {
                    return Err(self.refuse(format!(
                        "Error converting value \"{s}\" to type '{}'.",
                        schema.type_name()
                    )));
                }
                if self.required
                    && schema.format == "date-time"
                    && time::OffsetDateTime::parse(
                        s,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .is_err()
                    && time::PrimitiveDateTime::parse(
                        s,
                        time::macros::format_description!(
                            "[year]-[month]-[day]T[hour]:[minute]:[second]"
                        ),
                    )
                    .is_err()
                {
                    return Err(self.refuse(format!("Could not convert string to DateTime: {s}.")));
                }
                Ok(v.clone())
            }
            _ => Ok(v.clone()),
        }
    }

    fn object(
        &mut self,
        schema: &'static Schema,
        o: &Map<String, Value>,
        old: Option<&Value>,
    ) -> Result<Value, ArmError> {
        let mut out = Map::new();
        for (k, item) in o {
            let prop = schema
                .props
                .iter()
                .find(|p| p.name == k)
                .or_else(|| schema.props.iter().find(|p| p.name.eq_ignore_ascii_case(k)));
            let Some(prop) = prop else {
                // Not in the schema: ignored, as the providers ignore it (a map keeps it).
                if let Some(values) = schema.additional() {
                    self.path.push(Step::Key(k.clone()));
                    let c = self.value(values, item, None)?;
                    self.path.pop();
                    out.insert(k.clone(), c);
                }
                continue;
            };
            if item.is_null() && self.patch && !prop.read_only {
                out.insert(prop.name.to_string(), Value::Null);
                continue;
            }
            if item.is_null() || prop.read_only {
                continue;
            }
            let before = old.and_then(|o| o.get(prop.name));
            self.path.push(Step::Key(k.clone()));
            // A tracked resource's `location` is ARM's to compare (InvalidResourceLocation).
            let arm_compares = self.path.len() == 1 && prop.name == "location";
            if !self.create
                && !arm_compares
                && !prop.writable(false)
                && let Some(b) = before
                && !same_value(b, item)
            {
                let target = target_text(&self.path);
                return Err(ArmError {
                    target: Some(target.clone()),
                    ..ArmError::new(
                        StatusCode::CONFLICT,
                        "PropertyChangeNotAllowed",
                        format!("Changing property '{target}' is not allowed."),
                    )
                });
            }
            // Below the top level, a writable `id` references a resource.
            let links =
                (prop.name == "id" && self.path.len() > 1) || prop.schema().format == "arm-id";
            if links
                && prop.schema().kind == Kind::String
                && let Some(id) = item.as_str()
            {
                check_linked_id(id, &self.path)?;
            }
            let c = self.value(prop.schema(), item, before)?;
            self.path.pop();
            out.insert(prop.name.to_string(), c);
        }
        for r in schema.required.iter().filter(|_| self.required) {
            let Some(prop) = schema.prop(r) else { continue };
            if prop.read_only || !prop.writable(self.create) {
                continue;
            }
            let present = o
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case(r) && !v.is_null());
            if present {
                continue;
            }
            if self.path.is_empty() && *r == "location" {
                return Err(ArmError::location_required());
            }
            return Err(self.refuse(format!("Required property '{r}' not found in JSON.")));
        }
        Ok(Value::Object(out))
    }
}

/// Equal as Azure compares what a client sends back: strings ignoring case
/// and spaces (`East US` is `eastus`), everything else exactly.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            crate::arm::locations::normalize(x) == crate::arm::locations::normalize(y)
        }
        _ => a == b,
    }
}

/// A property path as PropertyChangeNotAllowed names it: without the `properties.` envelope.
fn target_text(path: &[Step]) -> String {
    let inner = match path.first() {
        Some(Step::Key(k)) if k.eq_ignore_ascii_case("properties") && path.len() > 1 => &path[1..],
        _ => path,
    };
    shapes::path_text(inner)
}

/// A reference to another resource (`{"id": …}`, a SubResource) must be a resource id.
fn check_linked_id(id: &str, path: &[Step]) -> Result<(), ArmError> {
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("/subscriptions/") || lower.starts_with("/providers/") {
        return Ok(());
    }
    Err(ArmError::linked_invalid_property_id(
        id,
        &shapes::path_text(path),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::find;
    use super::*;
    use serde_json::json;

    fn nsg_put() -> u32 {
        let (op, _) = find(
            "PUT",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/n",
        )
        .unwrap();
        op.body.unwrap()
    }

    fn run(body: Value, old: Option<&Value>) -> Result<Value, ArmError> {
        let raw = body.to_string();
        validate(nsg_put(), &body, raw.as_bytes(), old)
    }

    #[test]
    fn read_only_and_unknown_properties_are_dropped() {
        let out = run(
            json!({"location": "westus", "etag": "x", "bogus": 1,
                   "properties": {"provisioningState": "Failed", "securityRules": []}}),
            None,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"location": "westus", "properties": {"securityRules": []}})
        );
    }

    #[test]
    fn closed_enums_and_required_properties_are_refused() {
        let (op, _) = find(
            "PUT",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/publicIPAddresses/p",
        )
        .unwrap();
        let ip = |scope: &str| json!({"location": "westus", "properties": {"dnsSettings": {"domainNameLabel": "a", "domainNameLabelScope": scope}}});
        let check = |b: Value| validate(op.body.unwrap(), &b, b.to_string().as_bytes(), None);
        assert!(check(ip("TenantReuse")).is_ok());
        let e = check(ip("Bogus")).unwrap_err();
        assert_eq!(e.code, "InvalidRequestContent");
        assert!(e.message.contains("Error converting value \"Bogus\" to type 'PublicIpAddressDnsSettingsDomainNameLabelScope'. Path 'properties.dnsSettings.domainNameLabelScope'"), "{}", e.message);
        let e = run(json!({"location": "westus", "properties": {"securityRules": [
                {"name": "r", "properties": {"protocol": "Tcp", "access": "Allow", "priority": 100}}]}}), None).unwrap_err();
        assert!(e.message.contains("Required property 'direction' not found in JSON. Path 'properties.securityRules[0].properties'"), "{}", e.message);
    }

    #[test]
    fn linked_ids_must_be_resource_ids() {
        let (op, _) = find(
            "PUT",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
        )
        .unwrap();
        let body = json!({"properties": {"networkSecurityGroup": {"id": "not-an-id"}}});
        let e = validate(op.body.unwrap(), &body, body.to_string().as_bytes(), None).unwrap_err();
        assert_eq!(e.code, "LinkedInvalidPropertyId");
    }

    #[test]
    fn a_patch_keeps_the_nulls_that_remove() {
        let old = json!({"location": "westus", "properties": {"securityRules": [], "flushConnection": true}});
        let body = json!({"tags": {"a": null}, "properties": {"flushConnection": null, "provisioningState": null}});
        let raw = body.to_string();
        let out = validate_patch(nsg_put(), &body, raw.as_bytes(), &old).unwrap();
        assert_eq!(
            out,
            json!({"tags": {"a": null}, "properties": {"flushConnection": null}})
        );
        // A PUT drops them.
        let out = run(body, Some(&old)).unwrap();
        assert_eq!(out, json!({"tags": {}, "properties": {}}));
    }
}
