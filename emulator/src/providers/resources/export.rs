//! `POST {RG}/exportTemplate` (`ResourceGroups_ExportTemplate`, resources.json
//! 2024-07-01): the group's resources as a template that redeploys them.
//!
//! Long-running as the spec's example shows it: 202 with `Location`; the poll
//! answers 200 `{template, error?}` when done. The template has one resource
//! per exported resource (child resources after their parent, as Azure emits
//! VNet subnets both inline and on their own), names parameterized as
//! `{type}_{name}_name` (non-alphanumerics folded to `_`), references to
//! exported resources as `resourceId(…)` with a `dependsOn`, references to
//! resources outside the export as `{type}_{name}_externalid` parameters, and
//! read-only properties left out. Options (a CSV): `IncludeParameterDefaultValue`,
//! `IncludeComments`, `SkipResourceNameParameterization`, `SkipAllParameterization`.
//! A type with no api-version to write it with is not exported: it is named in
//! `error.details` (`ExportTemplateProviderError`, Azure's words as
//! Azure/azure-cli#3889 quotes them), and the rest is exported.

use crate::arm::lro::{self, Operation, OperationKind};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::config::SimMode;
use crate::state::AppState;
use crate::store::{index, tables};
use axum::response::Response;
use serde_json::{Map, Value, json};

const RG_TYPE: &str = "Microsoft.Resources/resourceGroups";
/// The schema of templates Azure exports today.
// The spec's example shows the 2015-01-01 schema; exports made by the portal
// and `az group export` today carry 2019-04-01 (no recording was found).
const SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";

#[derive(Default)]
struct Options {
    default_values: bool,
    comments: bool,
    skip_name_params: bool,
    skip_all_params: bool,
}

impl Options {
    fn parse(raw: Option<&Value>) -> Result<Options, ArmError> {
        let mut o = Options::default();
        let text = match raw {
            None | Some(Value::Null) => return Ok(o),
            Some(Value::String(s)) => s,
            Some(_) => {
                return Err(ArmError::invalid_request_content(
                    "Unexpected value for 'options'. Path 'options'.",
                ));
            }
        };
        for opt in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match opt.to_ascii_lowercase().as_str() {
                "includeparameterdefaultvalue" => o.default_values = true,
                "includecomments" => o.comments = true,
                "skipresourcenameparameterization" => o.skip_name_params = true,
                "skipallparameterization" => o.skip_all_params = true,
                // TODO-fidelity: ARM's answer to an unknown export option was not
                // found (searched azure-cli's resource recordings and issues).
                _ => {
                    return Err(ArmError::invalid_request_content(&format!(
                        "The export template option '{opt}' is not supported. The supported options are 'IncludeParameterDefaultValue', 'IncludeComments', 'SkipResourceNameParameterization', 'SkipAllParameterization'."
                    )));
                }
            }
        }
        Ok(o)
    }

    fn names_literal(&self) -> bool {
        self.skip_name_params || self.skip_all_params
    }
}

/// Top-level properties the service computes, per type (lower-cased).
const READ_ONLY: &[(&str, &[&str])] = &[
    (
        "microsoft.containerregistry/registries",
        &[
            "loginServer",
            "creationDate",
            "status",
            "dataEndpointHostNames",
            "privateEndpointConnections",
        ],
    ),
    (
        "microsoft.managedidentity/userassignedidentities",
        &["principalId", "clientId", "tenantId"],
    ),
];

/// Properties computed at any depth (a VNet's subnets, their delegations).
const READ_ONLY_ANYWHERE: &[&str] = &[
    "provisioningState",
    "resourceGuid",
    "etag",
    "ipConfigurations",
    "privateEndpoints",
    "serviceAssociationLinks",
    "resourceNavigationLinks",
    "purpose",
    "actions",
    "instanceView",
    "systemData",
    "lastUpdatedTime",
    // Private DNS zones, their records and links.
    "fqdn",
    "isAutoRegistered",
    "virtualNetworkLinkState",
    "numberOfRecordSets",
    "numberOfVirtualNetworkLinks",
    "numberOfVirtualNetworkLinksWithRegistration",
    "maxNumberOfRecordSets",
    "maxNumberOfVirtualNetworkLinks",
    "maxNumberOfVirtualNetworkLinksWithRegistration",
    "internalId",
];

/// `{type}_{name}_{suffix}`: Azure's parameter names, the last type segment and
/// the names joined by `_`, anything but letters and digits folded to `_`.
fn param_name(id: &ResourceId, suffix: &str) -> String {
    let mut parts = vec![];
    if let Some(p) = id.providers.last() {
        parts.push(p.types.last().map(|t| t.0.clone()).unwrap_or_default());
        parts.extend(p.types.iter().map(|t| t.1.clone()));
    }
    parts.push(suffix.to_string());
    parts
        .join("_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A stored resource and its id.
type Row = (ResourceId, Value);

/// What an exported template knows about the resources it holds.
struct Export<'a> {
    opts: &'a Options,
    /// Top-level resources in the export (lower-cased ids) and their name parameter.
    exported: Vec<(String, ResourceId)>,
    parameters: Map<String, Value>,
}

impl Export<'_> {
    fn add_param(&mut self, name: &str, kind: &str, default: Value) {
        let mut p = json!({"type": kind});
        if self.opts.default_values {
            p = json!({"defaultValue": default, "type": kind});
        }
        self.parameters.entry(name.to_string()).or_insert(p);
    }

    /// The expression naming a top-level resource (its parameter, or the literal name).
    fn name_of(&mut self, top: &ResourceId) -> (String, bool) {
        let name = top.name().to_string();
        if self.opts.names_literal() {
            return (name, false);
        }
        let p = param_name(top, "name");
        self.add_param(&p, "String", json!(name));
        (format!("parameters('{p}')"), true)
    }

    /// The exported top-level resource `id` is, or is under.
    fn exported_top(&self, id: &ResourceId) -> Option<ResourceId> {
        let key = id.key();
        self.exported
            .iter()
            .find(|(k, _)| key == *k || key.starts_with(&format!("{k}/")))
            .map(|(_, top)| top.clone())
    }

    /// The template's `name` of a resource: `[parameters('x')]`, or for a child
    /// `[concat(parameters('x'), '/child')]` (literal names without parameters).
    fn resource_name(&mut self, id: &ResourceId, top: &ResourceId) -> String {
        let (name, is_expr) = self.name_of(top);
        let rest: Vec<String> = id
            .providers
            .last()
            .map(|p| p.types.iter().skip(1).map(|t| t.1.clone()).collect())
            .unwrap_or_default();
        match (is_expr, rest.is_empty()) {
            (false, _) => std::iter::once(name)
                .chain(rest)
                .collect::<Vec<_>>()
                .join("/"),
            (true, true) => format!("[{name}]"),
            (true, false) => format!(
                "[concat({name}, {})]",
                quote(&format!("/{}", rest.join("/")))
            ),
        }
    }

    /// `[resourceId('type', name, 'child')]` for an id inside the export.
    fn resource_id_expr(&mut self, id: &ResourceId, top: &ResourceId) -> String {
        let (name, is_expr) = self.name_of(top);
        let mut args = vec![quote(&id.resource_type())];
        args.push(if is_expr { name } else { quote(&name) });
        if let Some(p) = id.providers.last() {
            args.extend(p.types.iter().skip(1).map(|t| quote(&t.1)));
        }
        format!("[resourceId({})]", args.join(", "))
    }

    /// A string that names a resource: inside the export, an expression and a
    /// dependency; outside it, an `externalid` parameter.
    fn reference(&mut self, s: &str, depends: &mut Vec<String>, me: &ResourceId) -> Option<String> {
        if !s.to_ascii_lowercase().starts_with("/subscriptions/") {
            return None;
        }
        let id: ResourceId = s.parse().ok()?;
        id.providers.last()?;
        match self.exported_top(&id) {
            Some(top) => {
                let expr = self.resource_id_expr(&id, &top);
                // A resource's reference to itself (a subnet's own id) is no dependency.
                if !me.is_within(&top) {
                    let dep = self.resource_id_expr(&top, &top);
                    if !depends.contains(&dep) {
                        depends.push(dep);
                    }
                }
                Some(expr)
            }
            None if self.opts.skip_all_params => None,
            None => {
                let p = param_name(&id, "externalid");
                self.add_param(&p, "String", json!(s));
                Some(format!("[parameters('{p}')]"))
            }
        }
    }

    /// Strip computed properties and rewrite references, depth first.
    fn generalize(&mut self, v: &mut Value, depends: &mut Vec<String>, me: &ResourceId) {
        match v {
            Value::Object(m) => {
                for k in READ_ONLY_ANYWHERE {
                    m.shift_remove(*k);
                }
                // Object keys can name resources too (`userAssignedIdentities`).
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    let Some(mut x) = m.shift_remove(&k) else {
                        continue;
                    };
                    self.generalize(&mut x, depends, me);
                    let key = self.reference(&k, depends, me).unwrap_or(k);
                    m.insert(key, x);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.generalize(x, depends, me)),
            Value::String(s) => {
                if let Some(e) = self.reference(s, depends, me) {
                    *s = e;
                }
            }
            _ => {}
        }
    }
}

/// The api-version an exported resource is written with: the newest stable
/// version the emulator knows for its type (its specs' and the ones current
/// clients send, [`crate::arm::api_version::supported_versions`]).
fn api_version_for(resource_type: &str) -> Option<String> {
    crate::arm::api_version::supported_versions(resource_type)
        .iter()
        .filter(|v| v.len() == 10)
        .max()
        .cloned()
}

fn provider_error(resource_type: &str) -> Value {
    json!({
        "code": "ExportTemplateProviderError",
        "target": resource_type,
        "message": format!("Could not get resources of the type '{resource_type}'. Resources of this type will not be exported."),
    })
}

/// One template resource from a stored row.
fn template_resource(
    ex: &mut Export,
    id: &ResourceId,
    top: &ResourceId,
    row: &Value,
    api_version: String,
) -> Value {
    let ty = id.resource_type();
    let mut depends = vec![];
    let mut out = Map::new();
    if ex.opts.comments {
        out.insert(
            "comments".into(),
            json!(format!("Generalized from resource: '{id}'.")),
        );
    }
    out.insert("type".into(), json!(row["type"].as_str().unwrap_or(&ty)));
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("name".into(), json!(ex.resource_name(id, top)));
    for k in ["location", "zones", "sku", "kind", "extendedLocation"] {
        if let Some(v) = row.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(identity) = row.get("identity").filter(|v| v.is_object()) {
        let mut identity = identity.clone();
        if let Some(m) = identity.as_object_mut() {
            m.shift_remove("principalId");
            m.shift_remove("tenantId");
        }
        if let Some(uai) = identity["userAssignedIdentities"].as_object_mut() {
            uai.values_mut().for_each(|v| *v = json!({}));
        }
        ex.generalize(&mut identity, &mut depends, id);
        out.insert("identity".into(), identity);
    }
    if let Some(tags) = row.get("tags").filter(|v| v.is_object()) {
        out.insert("tags".into(), tags.clone());
    }
    let mut props = row.get("properties").cloned().unwrap_or(json!({}));
    if let Some(m) = props.as_object_mut() {
        let lower = ty.to_ascii_lowercase();
        for (_, keys) in READ_ONLY.iter().filter(|(t, _)| *t == lower) {
            for k in *keys {
                m.shift_remove(*k);
            }
        }
    }
    ex.generalize(&mut props, &mut depends, id);
    if props.as_object().is_some_and(|m| !m.is_empty()) {
        out.insert("properties".into(), props);
    }
    // A child depends on its parent.
    if let Some(parent) = id.parent().filter(|_| id.key() != top.key()) {
        let dep = ex.resource_id_expr(&parent, top);
        if !depends.contains(&dep) {
            depends.insert(0, dep);
        }
    }
    if !depends.is_empty() {
        out.insert("dependsOn".into(), json!(depends));
    }
    Value::Object(out)
}

/// Children Azure exports on their own beside the inline copy: a VNet's subnets.
fn inline_children(id: &ResourceId, row: &Value) -> Vec<(ResourceId, Value)> {
    if !id
        .resource_type()
        .eq_ignore_ascii_case("Microsoft.Network/virtualNetworks")
    {
        return vec![];
    }
    row["properties"]["subnets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let name = s["name"].as_str()?;
            let mut child = s.clone();
            child["type"] = json!("Microsoft.Network/virtualNetworks/subnets");
            Some((id.child("Microsoft.Network", "subnets", name), child))
        })
        .collect()
}

/// `POST {RG}/exportTemplate` → 202 + `Location`; the poll answers 200 with
/// `{template, error?}`.
pub fn export_template(
    state: &AppState,
    req: &ArmRequest,
    rg: &ResourceId,
) -> Result<Response, ArmError> {
    let v = req.api_version(RG_TYPE)?;
    if req.method != http::Method::POST {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    super::resource_groups::require(state, rg)?;
    let body = req.json_object()?;
    let opts = Options::parse(body.get("options"))?;
    match body.get("outputFormat") {
        None | Some(Value::Null) => {}
        Some(Value::String(f)) if f.eq_ignore_ascii_case("json") => {}
        // TODO-fidelity: Bicep output is not produced by the emulator; the
        // refusal's code and words are the emulator's own.
        Some(other) => {
            return Err(ArmError::invalid_request_content(&format!(
                "The output format '{}' is not supported by the emulator; use 'Json'.",
                other.as_str().unwrap_or_default()
            )));
        }
    }
    let wanted: Vec<String> = match body.get("resources") {
        None | Some(Value::Null) => vec!["*".into()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ArmError::invalid_request_content(
                    "Unexpected value for 'resources'. Path 'resources'.",
                )
            })?,
        Some(_) => {
            return Err(ArmError::invalid_request_content(
                "Unexpected value for 'resources'. Path 'resources'.",
            ));
        }
    };
    let all = wanted.iter().any(|w| w == "*");
    let under = state
        .store
        .scan(tables::RESOURCES, &format!("{}/", rg.key()))?;
    // Top-level resources, and child resources stored on their own (DNS
    // records, VNet links, registry tasks…), which go with their parents.
    let (rows, child_rows): (Vec<Row>, Vec<Row>) =
        index::in_creation_order(state.store.as_ref(), tables::RESOURCES, under)?
            .into_iter()
            .filter_map(|(_, v)| Some((v["id"].as_str()?.parse::<ResourceId>().ok()?, v)))
            .filter(|(id, _)| id.providers.len() == 1)
            .partition(|(id, _)| id.providers[0].types.len() == 1);
    let mut chosen = vec![];
    if all {
        chosen = rows;
    } else {
        for w in &wanted {
            let found = w
                .parse::<ResourceId>()
                .ok()
                .and_then(|id| rows.iter().find(|(r, _)| r.key() == id.key()).cloned());
            // TODO-fidelity: ARM's answer to an id that is not a resource of
            // the group was not found (searched azure-cli issue #18972 and the
            // resource module's recordings); refused as invalid content.
            let Some(found) = found else {
                return Err(ArmError::invalid_request_content(&format!(
                    "The resource '{w}' is not a resource of the resource group '{}'.",
                    rg.resource_group.as_deref().unwrap_or_default()
                )));
            };
            chosen.push(found);
        }
    }
    let mut details = vec![];
    let mut exportable = vec![];
    for (id, row) in chosen {
        let ty = id.resource_type();
        match api_version_for(&ty) {
            Some(v) => exportable.push((id, row, v)),
            None => {
                if !details.iter().any(|d: &Value| d["target"] == ty.as_str()) {
                    details.push(provider_error(&ty));
                }
            }
        }
    }
    let mut ex = Export {
        opts: &opts,
        exported: exportable
            .iter()
            .map(|(id, _, _)| (id.key(), id.clone()))
            .collect(),
        parameters: Map::new(),
    };
    let mut resources = vec![];
    for (id, row, api) in &exportable {
        resources.push(template_resource(&mut ex, id, id, row, api.clone()));
        for (child, crow) in inline_children(id, row) {
            let capi = api_version_for(&child.resource_type()).unwrap_or_else(|| api.clone());
            resources.push(template_resource(&mut ex, &child, id, &crow, capi));
        }
        for (child, crow) in child_rows.iter().filter(|(c, _)| c.is_within(id)) {
            let ty = child.resource_type();
            match api_version_for(&ty) {
                Some(v) => resources.push(template_resource(&mut ex, child, id, crow, v)),
                None if !details.iter().any(|d: &Value| d["target"] == ty.as_str()) => {
                    details.push(provider_error(&ty))
                }
                None => {}
            }
        }
    }
    let template = json!({
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": ex.parameters,
        "variables": {},
        "resources": resources,
    });
    let mut result = json!({"template": template});
    if !details.is_empty() {
        result["error"] = json!({
            "code": "ExportTemplateCompletedWithErrors",
            "message": "Export template operation completed with errors. Some resources were not exported. Please see details for more information.",
            "details": details,
        });
    }
    let delay = match state.config.sim_mode {
        SimMode::Auto => Some(state.config.lro_delay),
        SimMode::Explicit => None,
    };
    let op = Operation::start(
        &rg.subscription,
        OperationKind::ExportTemplate { result },
        &format!("EXPORTTEMPLATEJOB-{}", rg.name().to_ascii_uppercase()),
        req.now,
        delay,
    );
    op.save(state.store.as_ref())?;
    Ok(lro::accepted(&op.location_url(&req.base.0, v.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_fold_as_azure_does() {
        let id: ResourceId = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/app-vnet.1"
            .parse()
            .unwrap();
        assert_eq!(param_name(&id, "name"), "virtualNetworks_app_vnet_1_name");
        let sub = id.child("Microsoft.Network", "subnets", "apps");
        assert_eq!(
            param_name(&sub, "externalid"),
            "subnets_app_vnet_1_apps_externalid"
        );
    }

    #[test]
    fn options_are_a_csv() {
        let o = Options::parse(Some(&json!(
            "IncludeParameterDefaultValue, skipallparameterization"
        )))
        .unwrap();
        assert!(o.default_values && o.skip_all_params && !o.comments);
        assert!(o.names_literal());
        assert!(Options::parse(Some(&json!("Everything"))).is_err());
        assert!(Options::parse(Some(&json!(3))).is_err());
    }

    #[test]
    fn api_versions_come_from_the_specs() {
        // az 2.91 sends 2024-07-01 for subnets; the specs here are 2024-03-01.
        assert_eq!(
            api_version_for("Microsoft.Network/virtualNetworks/subnets").as_deref(),
            Some("2024-07-01")
        );
        assert_eq!(
            api_version_for("Microsoft.ContainerRegistry/registries/tasks").as_deref(),
            Some("2019-04-01")
        );
        assert_eq!(
            api_version_for("Microsoft.Network/privateDnsZones/A").as_deref(),
            Some("2024-06-01")
        );
        assert_eq!(api_version_for("Contoso.Widgets/things"), None);
    }
}
