//! Role assignments (`RoleAssignments_Create`, `_Get`, `_Delete`, `_ListForScope`;
//! spec `authorization-RoleAssignmentsCalls.json` 2022-04-01), Azure's rules
//! as a [`Behaviour`] of the spec layer ([`crate::providers::by_spec`]), which
//! routes them (`/{scope}/…`, [`Behaviour::any_scope`]), checks api-versions,
//! pages and shapes. Assignments are the RBAC engine's state: rows of
//! `tables::ROLE_ASSIGNMENTS`, written and deleted only through
//! [`access::put_assignment`] / [`access::delete_assignment`] ([`Behaviour::rows`]).
//!
//! - PUT needs `Microsoft.Authorization/roleAssignments/write` on the
//!   assignment (its scope or above), a GUID name, a role that exists, and a principal in the directory
//!   (unless `principalType` is given, which is how Azure skips its
//!   replication check). The same principal, role and scope under another
//!   name is 409 `RoleAssignmentExists`.
//! - Lists: no filter → at, above and below the scope; `atScope()` → at or
//!   above; `principalId eq '…'` / `assignedTo('…')` → that principal's, at,
//!   above or below. Clauses combine with `and`.
//!
//! Delegation conditions (Role Based Access Control Administrator limited to
//! some roles or principals, delegate-role-assignments-examples.md) read the
//! attributes the authorization actions reference lists: a write carries
//! `@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId]`,
//! `:PrincipalId` and `:PrincipalType` (from the body), a delete the same names
//! as `@Resource[…]` (from the stored assignment). Refusals of either use
//! ARM's wording for role assignments ("does not have authorization or an
//! ABAC condition not fulfilled") and name the assignment's id.

use super::{NAMESPACE, extension_scope, extension_type, is_guid, list_read};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::authz::access::{self, require};
use crate::authz::condition::Source;
use crate::authz::engine::scope_covers;
use crate::entra::PrincipalKind;
use crate::providers::by_spec::{Behaviour, Ctx, Rows};
use crate::state::AppState;
use crate::store::tables;
use http::{Method, StatusCode};
use serde_json::{Value, json};

pub const TYPE: &str = "Microsoft.Authorization/roleAssignments";

pub const ROLE_ASSIGNMENTS: Behaviour = extension_type(
    TYPE,
    before_read,
    &ROWS,
    on_write,
    &[("roleAssignments", list)],
);

const ROWS: Rows = Rows {
    get,
    put,
    delete,
    missing: Some(|_| ArmError::role_assignment_not_found()),
    remove_within: None,
};

fn key(id: &str) -> String {
    id.to_ascii_lowercase()
}

fn assignment_id(scope: &ResourceId, name: &str) -> String {
    format!("{scope}/providers/{NAMESPACE}/roleAssignments/{name}")
}

/// The role-assignment attributes delegation conditions read
/// (conditions-authorization-actions-attributes.md).
const ATTR_ROLE_DEFINITION_ID: &str = "Microsoft.Authorization/roleAssignments:RoleDefinitionId";
const ATTR_PRINCIPAL_ID: &str = "Microsoft.Authorization/roleAssignments:PrincipalId";
const ATTR_PRINCIPAL_TYPE: &str = "Microsoft.Authorization/roleAssignments:PrincipalType";

/// One role assignment's attributes, as one source (`@Request` for a write,
/// `@Resource` for a delete). Absent values stay absent: a condition that
/// compares them does not hold.
#[derive(Default)]
struct AssignmentAttributes {
    source: Option<Source>,
    role_definition_id: Option<String>,
    principal_id: Option<String>,
    principal_type: Option<String>,
}

impl AssignmentAttributes {
    /// From an assignment's properties (a request body's or a stored row's).
    fn of(state: &AppState, source: Source, props: &Value) -> AssignmentAttributes {
        let principal_id = props["principalId"].as_str().map(str::to_ascii_lowercase);
        // The directory's word on the principal's type wins over the
        // caller's: a delegate limited to users and groups cannot pass a
        // service principal off as a group.
        let known = principal_id
            .as_deref()
            .and_then(|p| state.directory.get(p).ok().flatten())
            .map(|_| "ServicePrincipal".to_string());
        AssignmentAttributes {
            source: Some(source),
            role_definition_id: props["roleDefinitionId"]
                .as_str()
                .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
                .filter(|g| !g.is_empty())
                .map(str::to_ascii_lowercase),
            principal_type: known.or_else(|| props["principalType"].as_str().map(str::to_string)),
            principal_id,
        }
    }

    fn lookup(&self, source: Source, name: &str) -> Option<String> {
        if self.source != Some(source) {
            return None;
        }
        let value = if name.eq_ignore_ascii_case(ATTR_ROLE_DEFINITION_ID) {
            &self.role_definition_id
        } else if name.eq_ignore_ascii_case(ATTR_PRINCIPAL_ID) {
            &self.principal_id
        } else if name.eq_ignore_ascii_case(ATTR_PRINCIPAL_TYPE) {
            &self.principal_type
        } else {
            return None;
        };
        value.clone()
    }
}

/// `action` (`roleAssignments/write` or `/delete`) on the assignment `id`,
/// its conditions evaluated with `attrs`; otherwise ARM's 403 for role assignments.
fn require_on_assignment(
    state: &AppState,
    req: &ArmRequest,
    action: &str,
    id: &str,
    attrs: &AssignmentAttributes,
) -> Result<(), ArmError> {
    let lookup = |s: Source, n: &str| attrs.lookup(s, n);
    if access::allows_with(state, &req.principal, action, id, &lookup)? {
        return Ok(());
    }
    let err = ArmError::authorization_failed_or_condition(
        &req.principal.app_id,
        &req.principal.object_id,
        action,
        id,
    );
    access::trace_refusal(state, req, action, id, &err);
    Err(err)
}

/// Before the spec layer reads anything: the caller's access (ARM's 403 for
/// role assignments, with the delegation conditions' attributes), then the
/// name, which must be a GUID.
fn before_read(cx: &Ctx) -> Result<(), ArmError> {
    let (state, req) = (cx.state, cx.req);
    if let Some(listing) = list_read(cx, TYPE) {
        return listing;
    }
    let scope = extension_scope(&cx.id);
    let name = cx.id.name();
    let id = assignment_id(&scope, name);
    match req.method {
        Method::PUT => {
            // The body's attributes for delegation conditions, read leniently here.
            let request = req.json_body().unwrap_or(Value::Null);
            let attrs = AssignmentAttributes::of(state, Source::Request, &request["properties"]);
            require_on_assignment(
                state,
                req,
                "Microsoft.Authorization/roleAssignments/write",
                &id,
                &attrs,
            )?;
            if !is_guid(name) {
                return Err(ArmError::invalid_role_assignment_id(name));
            }
            Ok(())
        }
        Method::DELETE => {
            // The stored assignment is the `@Resource` a delegation condition
            // reads; with none, every comparison fails (and nothing is said
            // about whether it exists).
            let existing = state.store.get(tables::ROLE_ASSIGNMENTS, &key(&id))?;
            let attrs = existing
                .as_ref()
                .map(|row| AssignmentAttributes::of(state, Source::Resource, &row["properties"]))
                .unwrap_or_default();
            require_on_assignment(
                state,
                req,
                "Microsoft.Authorization/roleAssignments/delete",
                &id,
                &attrs,
            )
        }
        _ => require(
            state,
            req,
            "Microsoft.Authorization/roleAssignments/read",
            &id,
        ),
    }
}

/// The stored row's key for the assignment `id` names.
fn row_key(id: &ResourceId) -> String {
    key(&assignment_id(&extension_scope(id), id.name()))
}

fn get(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    Ok(state.store.get(tables::ROLE_ASSIGNMENTS, &row_key(id))?)
}

/// Through the engine; the same assignment again is not written again.
fn put(cx: &Ctx, id: &ResourceId, row: Value) -> Result<Value, ArmError> {
    let k = row_key(id);
    if cx.state.store.get(tables::ROLE_ASSIGNMENTS, &k)?.as_ref() != Some(&row) {
        access::put_assignment(cx.state, &k, row.clone())?;
    }
    Ok(row)
}

/// Through the engine; with a propagation delay, the assignment keeps
/// working until it has passed (a tombstone, dated now).
fn delete(cx: &Ctx, id: &ResourceId) -> Result<(), ArmError> {
    let k = row_key(id);
    if let Some(row) = access::delete_assignment(cx.state, &k)?
        && !cx.state.config.rbac_propagation.is_zero()
    {
        let mut t = row;
        t["properties"]["deletedOn"] = json!(crate::clock::arm_timestamp(cx.req.now));
        cx.state
            .store
            .put(tables::ROLE_ASSIGNMENT_TOMBSTONES, &k, t)?;
    }
    Ok(())
}

/// `PUT …/roleAssignments/{guid}` → 201 (the caller was authorized and the
/// name is a GUID: [`before_read`]). `row` holds the body as the schema
/// cleaned it; it becomes the assignment to store (or the one stored, when
/// the same is sent again).
fn on_write(cx: &Ctx, row: &mut Value, existing: Option<&Value>) -> Result<(), ArmError> {
    let (state, req) = (cx.state, cx.req);
    let scope = &extension_scope(&cx.id);
    let name = cx.id.name();
    let s = scope.to_string();
    let props = row["properties"].clone();
    let role_definition_id = props["roleDefinitionId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ArmError::invalid_request_content(
                "The request is missing the required property 'roleDefinitionId'.",
            )
        })?;
    let principal_id = props["principalId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ArmError::invalid_request_content(
                "The request is missing the required property 'principalId'.",
            )
        })?
        .to_ascii_lowercase();
    if !is_guid(&principal_id) {
        // Azure's answer to a principalId that is not a GUID (seen verbatim in
        // azurerm's and azd's reports: Code="InvalidPrincipalId").
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidPrincipalId",
            "A valid principal ID must be provided for role assignment.",
        ));
    }
    let role_guid = role_definition_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let role = access::role_definition(state, &role_guid)
        .filter(|r| r.assignable_scopes.iter().any(|a| scope_covers(a, &s)))
        .ok_or_else(|| ArmError::role_definition_does_not_exist(&role_guid))?;
    let principal_type = match props["principalType"].as_str() {
        Some(t) => t.to_string(),
        None => {
            let sp = state
                .directory
                .get(&principal_id)?
                .ok_or_else(|| ArmError::principal_not_found(&principal_id, &state.tenant.id))?;
            // A principal created moments ago has not replicated yet: Azure answers
            // PrincipalNotFound unless the request names its principalType (which
            // is what Microsoft's docs advise for new principals).
            let delay = state.config.rbac_propagation;
            if let Some(created) = sp.created_ms
                && created + delay.as_millis() as i64
                    > (req.now.unix_timestamp_nanos() / 1_000_000) as i64
            {
                return Err(ArmError::principal_not_found(
                    &principal_id,
                    &state.tenant.id,
                ));
            }
            match sp.kind {
                PrincipalKind::Application | PrincipalKind::ManagedIdentity => {
                    "ServicePrincipal".to_string()
                }
            }
        }
    };
    let condition = props["condition"].as_str().map(str::to_string);
    let condition_version = props["conditionVersion"]
        .as_str()
        .map(str::to_string)
        .or_else(|| condition.as_ref().map(|_| "2.0".to_string()));
    if let Some(c) = &condition
        && let Err(e) = crate::authz::condition::parse(c)
    {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidConditionExpression",
            format!("The condition expression is invalid: {e}"),
        ));
    }

    let id = assignment_id(scope, name);
    let same = |v: &Value| {
        let p = &v["properties"];
        p["principalId"]
            .as_str()
            .is_some_and(|x| x.eq_ignore_ascii_case(&principal_id))
            && p["roleDefinitionId"]
                .as_str()
                .is_some_and(|x| x.to_ascii_lowercase().ends_with(&role_guid))
            && p["scope"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&s))
            && p["condition"].as_str() == condition.as_deref()
    };
    if let Some(existing) = existing {
        if !same(existing) {
            return Err(ArmError::role_assignment_update_not_permitted());
        }
        *row = existing.clone();
        return Ok(());
    }
    if access::assignment_rows_of(state, &principal_id)?
        .iter()
        .any(same)
    {
        return Err(ArmError::role_assignment_exists());
    }
    let now = crate::clock::arm_timestamp(req.now);
    *row = json!({
        "properties": {
            "roleDefinitionId": format!("{}/providers/{NAMESPACE}/roleDefinitions/{}", ResourceId::subscription(&scope.subscription), role.id_guid),
            "principalId": principal_id,
            "principalType": principal_type,
            "scope": s,
            "condition": condition,
            "conditionVersion": condition_version,
            "createdOn": now,
            "updatedOn": now,
            "createdBy": req.principal.object_id,
            "updatedBy": req.principal.object_id,
            "delegatedManagedIdentityResourceId": null,
            "description": props["description"].as_str(),
        },
        "id": id,
        "type": TYPE,
        "name": name.to_ascii_lowercase(),
    });
    Ok(())
}

#[derive(Default)]
struct ListFilter {
    at_scope: bool,
    principal: Option<String>,
}

fn parse_filter(raw: Option<&str>) -> Result<ListFilter, ArmError> {
    let mut f = ListFilter::default();
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(f);
    };
    for clause in raw.split(" and ") {
        let c = clause.trim();
        let lower = c.to_ascii_lowercase();
        if lower == "atscope()" {
            f.at_scope = true;
        } else if let Some(v) = lower.strip_prefix("principalid eq ") {
            f.principal = Some(v.trim().trim_matches('\'').to_string());
        } else if let Some(v) = lower
            .strip_prefix("assignedto(")
            .and_then(|v| v.strip_suffix(')'))
        {
            f.principal = Some(v.trim().trim_matches('\'').to_string());
        } else {
            return Err(ArmError::invalid_filter(raw));
        }
    }
    Ok(f)
}

/// `GET {scope}/providers/Microsoft.Authorization/roleAssignments[?$filter=…]`
/// (the caller may read at the scope: [`before_read`]).
fn list(cx: &Ctx) -> Result<Vec<Value>, ArmError> {
    let state = cx.state;
    let s = cx.id.to_string();
    let f = parse_filter(cx.req.query("$filter"))?;
    // Range reads (keys are `{scope}/providers/…`): the assignments at each
    // scope above this one, and (unless `atScope()`) everything below it;
    // then in the order they were made, as every ARM list.
    let lower = s.to_ascii_lowercase();
    let at = |prefix: &str| format!("{prefix}/providers/microsoft.authorization/roleassignments/");
    let mut rows = Vec::new();
    let mut ancestor = String::new();
    rows.extend(state.store.scan(tables::ROLE_ASSIGNMENTS, &at(""))?);
    let segments: Vec<&str> = lower.split('/').filter(|x| !x.is_empty()).collect();
    for seg in &segments[..segments.len().saturating_sub(1)] {
        ancestor.push('/');
        ancestor.push_str(seg);
        rows.extend(state.store.scan(tables::ROLE_ASSIGNMENTS, &at(&ancestor))?);
    }
    let below = if f.at_scope {
        at(&lower)
    } else {
        format!("{lower}/")
    };
    rows.extend(state.store.scan(tables::ROLE_ASSIGNMENTS, &below)?);
    let items: Vec<Value> = crate::store::index::in_creation_order(
        state.store.as_ref(),
        tables::ROLE_ASSIGNMENTS,
        rows,
    )?
    .into_iter()
    .map(|(_, v)| v)
    .filter(|v| {
        let Some(at) = v["properties"]["scope"].as_str() else {
            return false;
        };
        let above = scope_covers(at, &s);
        let below = scope_covers(&s, at);
        if f.at_scope { above } else { above || below }
    })
    .filter(|v| {
        f.principal.as_ref().is_none_or(|p| {
            v["properties"]["principalId"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(p))
        })
    })
    .collect();
    Ok(items)
}
