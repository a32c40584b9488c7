//! Microsoft.Resources/deployments: template deployments at resource-group and
//! subscription scope (`Deployments_CreateOrUpdate`, `_Get`, `_CheckExistence`,
//! `_Delete`, `_Validate`, `_WhatIf`, `_Cancel`, `_ExportTemplate`,
//! `_ListByResourceGroup`, `_ListAtSubscriptionScope`, `DeploymentOperations_List`,
//! `_Get`; specs `resources.json` 2024-07-01 and `deployments.json` 2025-04-01),
//! served by the spec layer ([`crate::providers::by_spec`]) through the
//! [`DEPLOYMENTS`] and [`OPERATIONS`] behaviours: routing, api-versions,
//! existence, paging, HEAD and the DELETE's answer are the layer's; Azure's
//! rules for deployments are here.
//!
//! A PUT plans the template ([`crate::templates::plan`]) and refuses what
//! validation would refuse, stores the deployment as `Accepted` with its plan
//! and its caller, and answers with an `Azure-AsyncOperation` to poll. The
//! [`engine`] then runs it from `settle`: each resource is a PUT through the
//! provider's own route, as the caller. [`what_if`] computes the change list.

pub mod engine;
pub mod what_if;

use crate::arm::lro::{Operation, OperationKind, set_polling_headers};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::clock::arm_timestamp;
use crate::entra::Principal;
use crate::providers::by_spec::{Behaviour, Ctx, Rows};
use crate::providers::json_response;
use crate::state::AppState;
use crate::store::tables;
use crate::templates::eval::DeploymentScope;
use crate::templates::limits::{self, Budget};
use crate::templates::plan::{self, Plan, is_secure, type_display};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::rc::Rc;

pub const TYPE: &str = "Microsoft.Resources/deployments";
/// The api-version a rollback's redeployment is sent with.
const ROLLBACK_API_VERSION: &str = "2024-11-01";

/// What a running deployment needs besides its public properties.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub principal: Principal,
    pub base: String,
    pub correlation_id: String,
    /// The operation clients poll (`Azure-AsyncOperation`).
    pub operation: String,
    pub scope: DeploymentScope,
    pub plan: Plan,
    /// `{template, parameters, mode}` as the request sent them.
    pub request: Value,
    pub states: Vec<ResourceState>,
    pub started_ms: i64,
    /// Operations beyond the template's resources (Complete-mode deletes, output evaluation).
    #[serde(default)]
    pub extra: Vec<(Value, ResourceState)>,
    /// Its place in a tree of nested deployments.
    #[serde(default)]
    pub tree: Tree,
    /// When this run redeploys an earlier deployment because another failed
    /// (`onErrorDeployment`): the failed deployment's key, whose
    /// `onErrorDeployment.provisioningState` follows this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
}

/// A deployment's place among nested deployments. The root (the deployment a
/// client asked for) keeps what its whole tree has used: every nested
/// deployment under it and every evaluation is paid from one budget
/// ([`crate::templates::limits`]), so no deployment can multiply its way out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tree {
    /// The root deployment's key; `None` on the root itself.
    #[serde(default)]
    pub root: Option<String>,
    /// 0 for the root, 1 for a deployment it deploys, …
    #[serde(default)]
    pub depth: u32,
    /// On the root: deployments in the tree (itself included) …
    #[serde(default)]
    pub deployments: u32,
    /// … and the evaluation they have used (bytes, estimated).
    #[serde(default)]
    pub work: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Not started: waiting for its dependencies.
    Waiting,
    Running,
    Succeeded,
    Failed,
    /// `condition` false.
    Skipped,
    /// A dependency failed: never started.
    Blocked,
    Canceled,
}

/// One deployment operation (a resource's PUT and how it went).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceState {
    pub status: Status,
    /// The deployment operation's id (16 upper-case hex digits, as ARM writes them).
    pub operation_id: String,
    pub tracking_id: String,
    pub provisioning_operation: String,
    /// The provider's long-running operation, while running.
    #[serde(default)]
    pub poll: Option<String>,
    #[serde(default)]
    pub started_ms: Option<i64>,
    #[serde(default)]
    pub ended_ms: Option<i64>,
    #[serde(default)]
    pub status_code: Option<String>,
    #[serde(default)]
    pub error: Option<Value>,
}

impl ResourceState {
    pub fn new(status: Status, provisioning_operation: &str) -> Self {
        let u = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .to_ascii_uppercase();
        ResourceState {
            status,
            operation_id: format!("0858{}", &u[..16]),
            tracking_id: uuid::Uuid::new_v4().to_string(),
            provisioning_operation: provisioning_operation.to_string(),
            poll: None,
            started_ms: None,
            ended_ms: None,
            status_code: None,
            error: None,
        }
    }
}

pub fn ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_ms(v: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(v as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// ISO 8601 duration as ARM writes it (`PT1.234S`).
pub fn iso_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms % 1000 == 0 {
        format!("PT{}S", ms / 1000)
    } else {
        format!("PT{}.{:03}S", ms / 1000, ms % 1000)
    }
}

/// Deployments: rows of [`tables::DEPLOYMENTS`] (with their runs, never ARM
/// resources), served by the spec layer at resource-group and subscription
/// scope. A PUT plans the template and starts a run ([`create`]); `validate`
/// and `whatIf` ask about one that need not exist; one still running can be
/// cancelled but not deleted; a group's deployments go with it.
pub const DEPLOYMENTS: Behaviour = Behaviour {
    own_put: Some(put),
    on_delete: Some(refuse_active),
    delete_operation: Some(delete_operation),
    actions: &[
        ("validate", validate),
        ("whatIf", what_if_action),
        ("cancel", cancel),
        ("exportTemplate", export_template),
    ],
    preflight_actions: &["validate", "whatIf"],
    lists: &[("deployments", list)],
    rows: Some(&ROWS),
    ..Behaviour::of(TYPE)
};

pub const OPERATIONS_TYPE: &str = "Microsoft.Resources/deployments/operations";

/// A deployment's operations (`DeploymentOperations_List`, `_Get`): computed
/// from its run, never stored.
pub const OPERATIONS: Behaviour = Behaviour {
    lists: &[("operations", operations_list)],
    rows: Some(&OPERATION_ROWS),
    ..Behaviour::of(OPERATIONS_TYPE)
};

/// Where deployments live: [`tables::DEPLOYMENTS`], keyed by the deployment's id.
const ROWS: Rows = Rows {
    get: get_row,
    put: put_row,
    delete: delete_row,
    missing: Some(not_found),
    remove_within: Some(delete_within),
};

/// A deployment's operations are read from its run; the spec writes none.
const OPERATION_ROWS: Rows = Rows {
    get: operation_get,
    put: |cx, _, _| Err(ArmError::method_not_allowed(cx.req.method.as_str())),
    delete: |cx, _| Err(ArmError::method_not_allowed(cx.req.method.as_str())),
    missing: Some(operation_not_found),
    remove_within: None,
};

fn not_found(id: &ResourceId) -> ArmError {
    ArmError::deployment_not_found(id.name())
}

/// The deployment as a read answers it (without its run).
fn get_row(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    Ok(load(state, id)?.map(|row| render(&row)))
}

fn put_row(cx: &Ctx, id: &ResourceId, row: Value) -> Result<Value, ArmError> {
    cx.state
        .store
        .put(tables::DEPLOYMENTS, &id.key(), row.clone())?;
    Ok(render(&row))
}

fn delete_row(cx: &Ctx, id: &ResourceId) -> Result<(), ArmError> {
    cx.state.store.delete(tables::DEPLOYMENTS, &id.key())?;
    Ok(())
}

fn put(cx: &Ctx, existing: Option<&Value>) -> Result<Response, ArmError> {
    create(cx.state, cx.req, &cx.id, existing)
}

fn what_if_action(cx: &Ctx) -> Result<Response, ArmError> {
    what_if::what_if(cx.state, cx.req, &cx.id)
}

fn export_template(cx: &Ctx) -> Result<Response, ArmError> {
    let row = require(cx.state, &cx.id)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"template": row["_run"]["request"]["template"]}),
    ))
}

/// `GET {scope}/providers/Microsoft.Resources/deployments`: the scope's
/// deployments (not those nested under them), `$filter=provisioningState eq '…'`.
fn list(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    let filter = cx.req.query("$filter").map(str::to_string);
    let wanted_state = match filter.as_deref() {
        None => None,
        Some(f) => {
            let (k, v) = f
                .split_once(" eq ")
                .ok_or_else(|| ArmError::invalid_filter(f))?;
            if !k.trim().eq_ignore_ascii_case("provisioningState") {
                return Err(ArmError::invalid_filter(f));
            }
            Some(v.trim().trim_matches('\'').to_string())
        }
    };
    let prefix = format!("{}/providers/microsoft.resources/deployments/", cx.id.key());
    Ok(cx
        .state
        .store
        .scan(tables::DEPLOYMENTS, &prefix)?
        .into_iter()
        .filter(|(k, _)| !k[prefix.len()..].contains('/'))
        .map(|(_, v)| v)
        .filter(|v| {
            wanted_state.as_deref().is_none_or(|w| {
                v["properties"]["provisioningState"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(w))
            })
        })
        .map(|v| render(&v))
        .collect())
}

pub fn load(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    Ok(state.store.get(tables::DEPLOYMENTS, &id.key())?)
}

fn require(state: &AppState, id: &ResourceId) -> Result<Value, ArmError> {
    load(state, id)?.ok_or_else(|| ArmError::deployment_not_found(id.name()))
}

/// The stored row without its internals.
pub fn render(row: &Value) -> Value {
    let mut r = row.clone();
    if let Some(o) = r.as_object_mut() {
        o.shift_remove("_run");
    }
    r
}

/// What a PUT, validate or whatIf body asks for.
pub struct Request {
    pub template: Value,
    pub parameters: Value,
    pub mode: &'static str,
    pub location: Option<String>,
    pub tags: Option<Value>,
    /// `onErrorDeployment` as sent (`{type, deploymentName?}`); [`resolve_on_error`]
    /// names the deployment it redeploys.
    pub on_error: Option<Value>,
}

const LAST_SUCCESSFUL: &str = "LastSuccessful";
const SPECIFIC_DEPLOYMENT: &str = "SpecificDeployment";

// TODO-fidelity: ARM's words for an `onErrorDeployment` it cannot use (a bad
// type, no deployment to roll back to, at subscription scope) were not found:
// searched azure-cli's test_group_on_error_deployment_* recordings (which only
// show the accepted cases), the rollback-on-error docs and the SDK models.
fn invalid_on_error(message: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, "InvalidOnErrorDeployment", message)
}

/// `properties.onErrorDeployment`: `{"type": "LastSuccessful"}` or
/// `{"type": "SpecificDeployment", "deploymentName": "…"}`; resource-group
/// deployments only (the rollback-on-error docs).
fn parse_on_error(props: &Map<String, Value>, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    let o = match props.get("onErrorDeployment") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(ArmError::invalid_request_content(
                "Unexpected value for 'onErrorDeployment'. Path 'properties.onErrorDeployment'.",
            ));
        }
    };
    if id.resource_group.is_none() {
        return Err(invalid_on_error(
            "The on error deployment is only supported for deployments at resource group scope."
                .into(),
        ));
    }
    let ty = match o.get("type").and_then(Value::as_str) {
        None => LAST_SUCCESSFUL,
        Some(t) if t.eq_ignore_ascii_case(LAST_SUCCESSFUL) => LAST_SUCCESSFUL,
        Some(t) if t.eq_ignore_ascii_case(SPECIFIC_DEPLOYMENT) => SPECIFIC_DEPLOYMENT,
        Some(t) => {
            return Err(invalid_on_error(format!(
                "The on error deployment type '{t}' is not valid. The supported types are 'LastSuccessful, SpecificDeployment'."
            )));
        }
    };
    let name = o.get("deploymentName").and_then(Value::as_str);
    match (ty, name) {
        (SPECIFIC_DEPLOYMENT, None | Some("")) => Err(invalid_on_error(
            "The on error deployment of type 'SpecificDeployment' must name a deployment in 'deploymentName'.".into(),
        )),
        (SPECIFIC_DEPLOYMENT, Some(n)) => Ok(Some(json!({"type": ty, "deploymentName": n}))),
        _ => Ok(Some(json!({"type": ty}))),
    }
}

/// Name the deployment an `onErrorDeployment` redeploys, as ARM echoes it
/// (azure-cli's recording `test_group_on_error_deployment_lastsuccessful`:
/// `LastSuccessful` comes back with the `deploymentName` it resolved to): the
/// group's latest successful top-level deployment other than this one, or the
/// one named, which must have succeeded.
pub fn resolve_on_error(
    state: &AppState,
    id: &ResourceId,
    on_error: Option<Value>,
) -> Result<Option<Value>, ArmError> {
    let Some(mut o) = on_error else {
        return Ok(None);
    };
    let rg = id.resource_group.as_deref().unwrap_or_default();
    let prefix = format!(
        "{}/providers/microsoft.resources/deployments/",
        ResourceId::resource_group(&id.subscription, rg).key()
    );
    let succeeded = |row: &Value| {
        row["properties"]["provisioningState"] == "Succeeded"
            && row["_run"]["tree"]["root"].is_null()
    };
    match o["deploymentName"].as_str() {
        Some(name) => {
            let found = state.store.get(
                tables::DEPLOYMENTS,
                &format!("{prefix}{}", name.to_ascii_lowercase()),
            )?;
            if !found.as_ref().is_some_and(succeeded) || name.eq_ignore_ascii_case(id.name()) {
                return Err(invalid_on_error(format!(
                    "The deployment '{name}' to be used on error must be an earlier successful deployment in resource group '{rg}'."
                )));
            }
        }
        None => {
            let last = state
                .store
                .scan(tables::DEPLOYMENTS, &prefix)?
                .into_iter()
                .map(|(_, row)| row)
                .filter(|row| succeeded(row))
                .filter(|row| {
                    !row["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(id.name()))
                })
                .max_by(|a, b| {
                    a["properties"]["timestamp"]
                        .as_str()
                        .cmp(&b["properties"]["timestamp"].as_str())
                });
            let Some(last) = last else {
                return Err(invalid_on_error(format!(
                    "No successful deployment was found in resource group '{rg}' to be used on error."
                )));
            };
            o["deploymentName"] = last["name"].clone();
        }
    }
    Ok(Some(o))
}

pub fn parse_request(req: &ArmRequest, id: &ResourceId) -> Result<Request, ArmError> {
    let body = req.json_object()?;
    let props = body
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ArmError::invalid_request_content("The request body must contain 'properties'.")
        })?;
    let template = match (props.get("template"), props.get("templateLink")) {
        (Some(t @ Value::Object(_)), _) => t.clone(),
        (_, Some(_)) => {
            return Err(ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidTemplateLink",
                "azemu is offline and cannot download 'templateLink': send the template inline in 'properties.template'.",
            ));
        }
        _ => {
            return Err(ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidDeployment",
                "The deployment must have either a template or a template link. Please see https://aka.ms/arm-deploy for usage details.",
            ));
        }
    };
    if props.get("parametersLink").is_some() {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParametersLink",
            "azemu is offline and cannot download 'parametersLink': send the parameters inline in 'properties.parameters'.",
        ));
    }
    let parameters = match props.get("parameters") {
        None | Some(Value::Null) => json!({}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => {
            return Err(ArmError::invalid_request_content(
                "The 'parameters' property must be an object.",
            ));
        }
    };
    let mode = match props.get("mode").and_then(Value::as_str) {
        None => "Incremental",
        Some(m) if m.eq_ignore_ascii_case("incremental") => "Incremental",
        Some(m) if m.eq_ignore_ascii_case("complete") => "Complete",
        Some(m) => {
            return Err(ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidDeploymentMode",
                format!(
                    "The deployment mode '{m}' is not valid. The supported modes are 'Incremental, Complete'."
                ),
            ));
        }
    };
    if mode == "Complete" && id.resource_group.is_none() {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDeploymentMode",
            "The 'Complete' deployment mode is only supported at resource group scope.",
        ));
    }
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_string);
    if id.resource_group.is_none() && location.is_none() {
        return Err(ArmError::location_required());
    }
    let on_error = parse_on_error(props, id)?;
    Ok(Request {
        template,
        parameters,
        mode,
        location,
        tags: body.get("tags").cloned(),
        on_error,
    })
}

/// The scope a deployment at `id` runs in.
pub fn scope_of(
    state: &AppState,
    id: &ResourceId,
    location: Option<&str>,
) -> Result<DeploymentScope, ArmError> {
    let resource_group = match &id.resource_group {
        Some(rg) => state.store.get(
            tables::RESOURCES,
            &ResourceId::resource_group(&id.subscription, rg).key(),
        )?,
        None => None,
    };
    Ok(DeploymentScope {
        tenant_id: state.config.tenant_id.clone(),
        subscription_id: state.config.subscription_id.clone(),
        subscription_name: state.config.subscription_name.clone(),
        resource_group,
        deployment_name: id.name().to_string(),
        location: location.map(str::to_string),
    })
}

/// Plan the request's template, and refuse what preflight refuses: the caller
/// must be allowed to write every resource the template deploys.
pub fn plan_and_preflight(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    r: &Request,
    budget: &Rc<Budget>,
) -> Result<(DeploymentScope, Plan), ArmError> {
    let scope = scope_of(state, id, r.location.as_deref())?;
    let plan = plan::plan(
        &r.template,
        &r.parameters,
        &scope,
        &arm_timestamp(req.now),
        budget,
    )
    .map_err(|e| template_error(req, e))?;
    let mut refused = Vec::new();
    for res in plan.resources.iter().filter(|r| !r.skipped) {
        let action = if res
            .resource_type
            .eq_ignore_ascii_case("Microsoft.Resources/resourceGroups")
        {
            "Microsoft.Resources/subscriptions/resourceGroups/write".to_string()
        } else {
            format!("{}/write", engine::action_type(&res.id, &res.resource_type))
        };
        if !crate::authz::access::allows(state, &req.principal, &action, &res.id)? {
            refused.push(
                ArmError::authorization_failed(
                    &req.principal.app_id,
                    &req.principal.object_id,
                    &action,
                    &res.id,
                )
                .body()["error"]
                    .clone(),
            );
        }
    }
    if !refused.is_empty() {
        return Err(ArmError::invalid_template_deployment(
            id.name(),
            &uuid::Uuid::new_v4().to_string(),
            refused,
        ));
    }
    Ok((scope, plan))
}

/// `InvalidTemplate`, placed in the template text the client sent.
fn template_error(req: &ArmRequest, e: plan::PlanError) -> ArmError {
    use crate::templates::position::{locate_in_template, parse_path};
    // A size limit ("job size exceeded") is not a template violation.
    if let Some(code) = e.code {
        return ArmError::new(StatusCode::BAD_REQUEST, code, e.error.0);
    }
    let text = String::from_utf8_lossy(&req.body);
    let (line, col) = Some(&e.path)
        .filter(|p| !p.is_empty())
        .and_then(|p| locate_in_template(&text, &parse_path("properties.template"), &parse_path(p)))
        .unwrap_or((0, 0));
    let message = plan::wrap(e.error).0.replace(
        "at line '0' and column '0'",
        &format!("at line '{line}' and column '{col}'"),
    );
    ArmError::invalid_template(message, &e.path, line, col)
}

/// The `parameters` a deployment shows: typed, secure values withheld.
fn render_parameters(plan: &Plan) -> Value {
    let mut out = Map::new();
    for (name, v) in &plan.parameters {
        let ty = plan.parameter_types[name].as_str().unwrap_or("string");
        let mut p = json!({"type": type_display(ty)});
        if !is_secure(ty) {
            p["value"] = v.clone();
        }
        out.insert(name.clone(), p);
    }
    Value::Object(out)
}

/// `providers` and `dependencies` as a deployment reports them.
fn providers_and_dependencies(plan: &Plan) -> (Value, Value) {
    let mut providers: Vec<(String, Vec<String>)> = Vec::new();
    for r in plan.resources.iter().filter(|r| !r.skipped) {
        let (ns, ty) = r
            .resource_type
            .split_once('/')
            .unwrap_or((&r.resource_type, ""));
        match providers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(ns))
        {
            Some((_, types)) if !types.iter().any(|t| t.eq_ignore_ascii_case(ty)) => {
                types.push(ty.to_string())
            }
            Some(_) => {}
            None => providers.push((ns.to_string(), vec![ty.to_string()])),
        }
    }
    let providers: Vec<Value> = providers
        .into_iter()
        .map(|(ns, types)| {
            json!({
                "namespace": ns,
                "resourceTypes": types.iter().map(|t| json!({"resourceType": t, "locations": []})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let target = |r: &plan::PlannedResource| json!({"id": r.id, "resourceType": r.resource_type, "resourceName": r.name});
    let deps: Vec<Value> = plan
        .resources
        .iter()
        .filter(|r| !r.depends_on.is_empty() && !r.skipped)
        .map(|r| {
            let mut d = target(r);
            d["dependsOn"] = json!(
                r.depends_on
                    .iter()
                    .map(|&i| target(&plan.resources[i]))
                    .collect::<Vec<_>>()
            );
            d
        })
        .collect();
    (json!(providers), json!(deps))
}

fn template_hash(template: &Value) -> String {
    crate::templates::hash::murmur64(template.to_string().as_bytes()).to_string()
}

fn base_properties(r: &Request, plan: &Plan, req: &ArmRequest, correlation: &str) -> Value {
    let (providers, dependencies) = providers_and_dependencies(plan);
    let mut props = json!({
        "templateHash": template_hash(&r.template),
        "parameters": render_parameters(plan),
        "mode": r.mode,
        "provisioningState": "Accepted",
        "timestamp": arm_timestamp(req.now),
        "duration": "PT0S",
        "correlationId": correlation,
        "providers": providers,
        "dependencies": dependencies,
    });
    if let Some(o) = &r.on_error {
        props["onErrorDeployment"] = o.clone();
    }
    props
}

fn correlation_of(req: &ArmRequest) -> String {
    req.header("x-ms-correlation-request-id")
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn envelope(id: &ResourceId, r: &Request, properties: Value) -> Value {
    let mut row = json!({
        "id": id.to_string(),
        "name": id.name(),
        "type": TYPE,
        "properties": properties,
    });
    if let Some(l) = &r.location {
        row["location"] = json!(crate::arm::locations::normalize(l));
    }
    if let Some(t) = &r.tags {
        crate::arm::envelope::set_tags(&mut row, t.clone());
    }
    row
}

fn is_active(row: &Value) -> bool {
    matches!(
        row["properties"]["provisioningState"].as_str(),
        Some("Accepted" | "Running")
    )
}

/// PUT: plan, preflight, store as `Accepted`, answer 201/200 with `Azure-AsyncOperation`.
fn create(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    existing: Option<&Value>,
) -> Result<Response, ArmError> {
    if existing.is_some_and(is_active) {
        return Err(ArmError::deployment_active(&id.to_string()));
    }
    let mut r = parse_request(req, id)?;
    r.on_error = resolve_on_error(state, id, r.on_error.take())?;
    // A client's deployment starts a tree with the whole budget; a nested one
    // (the engine's PUT) draws on its tree's, and says what its plan used.
    let (budget, tree) = match &req.nesting {
        None => (
            limits::WORK,
            Tree {
                root: None,
                depth: 0,
                deployments: 1,
                work: 0,
            },
        ),
        Some(n) => (
            n.work_left,
            Tree {
                root: Some(n.root.clone()),
                depth: n.depth + 1,
                deployments: 0,
                work: 0,
            },
        ),
    };
    let budget = Rc::new(Budget::new(budget));
    let planned = plan_and_preflight(state, req, id, &r, &budget);
    let report = |mut resp: Response| {
        if req.nesting.is_some()
            && let Ok(v) = http::HeaderValue::from_str(&budget.used().to_string())
        {
            resp.headers_mut().insert(engine::WORK_HEADER, v);
        }
        resp
    };
    let (scope, plan) = match planned {
        Ok(p) => p,
        Err(e) if req.nesting.is_some() => return Ok(report(e.into_response())),
        Err(e) => return Err(e),
    };
    let mut tree = tree;
    if tree.root.is_none() {
        tree.work = budget.used();
    }
    let correlation = correlation_of(req);
    let op = Operation::start(
        &id.subscription,
        OperationKind::Deployment {
            deployment_id: id.to_string(),
        },
        "DeploymentCreate",
        req.now,
        None,
    );
    let states = plan
        .resources
        .iter()
        .map(|_| ResourceState::new(Status::Waiting, "Create"))
        .collect();
    let run = Run {
        principal: req.principal.clone(),
        base: req.base.0.clone(),
        correlation_id: correlation.clone(),
        operation: op.id.clone(),
        scope,
        request: json!({"template": r.template, "parameters": r.parameters, "mode": r.mode}),
        states,
        started_ms: ms(req.now),
        extra: Vec::new(),
        plan: plan.clone(),
        tree,
        rollback_of: None,
    };
    let mut row = envelope(id, &r, base_properties(&r, &plan, req, &correlation));
    row["_run"] = serde_json::to_value(&run).map_err(ArmError::internal)?;
    // Kept only if it reads back: the emulator's wrapping adds levels to the request's,
    // and resolved variables can make a small template a large deployment.
    if crate::store::depth(&row) > limits::MAX_STORED_DEPTH {
        return Ok(report(too_deep(req).into_response()));
    }
    if limits::json_len(&row, limits::MAX_STORED_BYTES).is_none() {
        return Ok(report(too_large().into_response()));
    }
    op.save(state.store.as_ref())?;
    state
        .store
        .put(tables::DEPLOYMENTS, &id.key(), row.clone())?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = json_response(status, &render(&row));
    let v = req.query("api-version").unwrap_or_default();
    let url = op.async_operation_url(&req.base.0, "Microsoft.Resources", "global", v);
    set_polling_headers(&mut resp, None, Some(&url));
    Ok(report(resp))
}

/// A deployment too large to keep once its variables and parameters are resolved.
// TODO-fidelity: ARM answers this with a job-size error ("Resolve errors for job size
// exceeded": DeploymentJobSizeExceeded, limits on compressed sizes); its message was not
// found (searched "DeploymentJobSizeExceeded", "JobSizeExceeded").
fn too_large() -> ArmError {
    ArmError::new(
        StatusCode::BAD_REQUEST,
        plan::JOB_SIZE,
        format!(
            "The deployment is larger than '{}' bytes once its template is expanded and its variables and parameters resolved, more than a deployment can keep. Please see https://aka.ms/arm-template for usage details.",
            limits::MAX_STORED_BYTES
        ),
    )
}

/// A template nested so deep that the deployment, as azemu keeps it, would not read back.
// TODO-fidelity: ARM's answer to a template nested this deep was not found (searched
// "MaxDepth of 64 has been exceeded" with ARM); the wording is azemu's.
fn too_deep(req: &ArmRequest) -> ArmError {
    template_error(
        req,
        plan::PlanError::from(crate::templates::eval::TemplateError(format!(
            "The template and its parameters nest too deeply: a deployment can't nest more than {} levels of JSON once it is stored.",
            limits::MAX_STORED_DEPTH
        ))),
    )
}

/// POST validate: 200 with what would deploy, or the refusal (400).
fn validate(cx: &Ctx) -> Result<Response, ArmError> {
    let (state, req, id) = (cx.state, cx.req, &cx.id);
    let mut r = parse_request(req, id)?;
    r.on_error = resolve_on_error(state, id, r.on_error.take())?;
    let budget = Rc::new(Budget::new(limits::WORK));
    let (_, plan) = plan_and_preflight(state, req, id, &r, &budget)?;
    let correlation = correlation_of(req);
    let mut props = base_properties(&r, &plan, req, &correlation);
    props["provisioningState"] = json!("Succeeded");
    // Nothing ran: ARM answers the zero time (azure-cli's recordings
    // test_group_deployment, test_resource_group_deployment,
    // test_subscription_level_deployment: `"timestamp":"0001-01-01T00:00:00Z"`).
    props["timestamp"] = json!("0001-01-01T00:00:00Z");
    props["validatedResources"] = json!(
        plan.resources
            .iter()
            .filter(|r| !r.skipped)
            .map(|r| json!({"id": r.id}))
            .collect::<Vec<_>>()
    );
    Ok(json_response(StatusCode::OK, &envelope(id, &r, props)))
}

fn cancel(cx: &Ctx) -> Result<Response, ArmError> {
    let (state, req, id) = (cx.state, cx.req, &cx.id);
    let mut row = require(state, id)?;
    if !is_active(&row) {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "DeploymentCannotBeCancelled",
            format!(
                "The deployment '{}' cannot be cancelled because it is in the terminal state '{}'.",
                id.name(),
                row["properties"]["provisioningState"]
                    .as_str()
                    .unwrap_or_default()
            ),
        ));
    }
    engine::cancel(state, &mut row, req.now)?;
    state.store.put(tables::DEPLOYMENTS, &id.key(), row)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One still running can't be deleted: it must be cancelled first.
fn refuse_active(cx: &Ctx, row: &Value) -> Result<(), ArmError> {
    if is_active(row) {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "DeploymentActive",
            format!(
                "The deployment '{}' cannot be deleted because it is still active. Cancel it first. Please see https://aka.ms/arm-deploy for usage details.",
                cx.id.name()
            ),
        ));
    }
    Ok(())
}

/// ARM deletes deployment history asynchronously: 202 + Location, done at the first poll.
fn delete_operation(cx: &Ctx, _row: &Value) -> Result<Option<Operation>, ArmError> {
    let mut op = Operation::start(
        &cx.id.subscription,
        OperationKind::Deployment {
            deployment_id: cx.id.to_string(),
        },
        "DeploymentDelete",
        cx.req.now,
        None,
    );
    op.finish(cx.req.now, None);
    op.save(cx.state.store.as_ref())?;
    Ok(Some(op))
}

fn operations_list(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    Ok(engine::operations(&require(cx.state, &cx.id)?))
}

/// `…/deployments/{name}/operations/{id}`: the deployment must be there; the
/// operation need not be.
fn operation_get(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    let mut dep = id.clone();
    if let Some(p) = dep.providers.first_mut() {
        p.types.truncate(1);
    }
    let row = require(state, &dep)?;
    Ok(engine::operations(&row).into_iter().find(|o| {
        o["operationId"]
            .as_str()
            .is_some_and(|x| x.eq_ignore_ascii_case(id.name()))
    }))
}

fn operation_not_found(id: &ResourceId) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "DeploymentOperationNotFound",
        format!("Deployment operation '{}' could not be found.", id.name()),
    )
}

/// A resource group's deployments go with it; one still running fails for
/// whoever is polling it.
pub fn delete_within(state: &AppState, rg_key: &str) -> Result<(), ArmError> {
    for k in state
        .store
        .keys(tables::DEPLOYMENTS, &format!("{rg_key}/"))?
    {
        // An unreadable row goes too (its delete returns nothing).
        let Some(row) = state.store.delete(tables::DEPLOYMENTS, &k)? else {
            continue;
        };
        let op = row["_run"]["operation"].as_str().unwrap_or_default();
        if is_active(&row)
            && let Some(mut op) = Operation::load(state.store.as_ref(), op)?
        {
            let rg = row["id"]
                .as_str()
                .and_then(|id| id.parse::<ResourceId>().ok())
                .and_then(|id| id.resource_group)
                .unwrap_or_default();
            op.finish(
                state.clock.now(),
                Some(ArmError::resource_group_not_found(&rg).body()["error"].clone()),
            );
            op.save(state.store.as_ref())?;
        }
    }
    Ok(())
}
