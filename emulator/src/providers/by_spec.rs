//! Every operation of the specs that no hand-written provider serves, served
//! from the spec table ([`crate::arm::spec`]): a PUT is validated against its
//! schema, stored with what Azure computes (`id`, `name`, `type`,
//! `provisioningState`, `etag`, `resourceGuid`, `systemData`), answered in
//! the operation's long-running style; GET shapes the stored row by the
//! response schema; PATCH merges; DELETE removes the resource and what is
//! under it; lists come back in creation order, paged.
//!
//! Children that the parent's schema carries inline (`securityRules` of a
//! network security group, `routes` of a route table) live in the parent's
//! row, as Azure shows them in both places: a child PUT writes into the
//! parent, the parent's PUT replaces them all.
//!
//! Azure's rules for a type plug in as a [`Behaviour`] (validation beyond the
//! schema, computed properties, actions, computed lists); the modules that
//! hold them are listed in [`BEHAVIOURS`]. A type without one is still
//! stored, validated and shaped.

use crate::arm::lro::lro_delay;
use crate::arm::lro::{Operation, OperationKind, set_polling_headers};
use crate::arm::spec::{self, Op, Params, Schema, Target};
use crate::arm::{ArmError, ArmRequest, ResourceId, envelope, etag};
use crate::providers::{caller_may_read, json_response};
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// What a behaviour sees of the request it takes part in.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub req: &'a ArmRequest,
    pub op: &'static Op,
    pub params: Params,
    /// The resource the path names (for actions, the resource acted on; for
    /// lists, the scope or parent listed under).
    pub id: ResourceId,
}

pub type RequestHook = fn(&Ctx, &Value) -> Result<(), ArmError>;
pub type WriteHook = fn(&Ctx, &mut Value, Option<&Value>) -> Result<(), ArmError>;
pub type ActionHook = fn(&Ctx) -> Result<Response, ArmError>;
pub type ListHook = fn(&Ctx) -> Result<Vec<Value>, ArmError>;
pub type DeleteHook = fn(&Ctx, &Value) -> Result<(), ArmError>;
pub type RemovedHook = fn(&Removal) -> Result<(), ArmError>;
pub type ReadHook = fn(&AppState, &mut Value) -> Result<(), ArmError>;
pub type OperationHook = fn(&Ctx, &Value) -> Result<Option<Operation>, ArmError>;
pub type PutHook = fn(&Ctx, Option<&Value>) -> Result<Response, ArmError>;
pub type WithinHook = fn(&AppState, &str) -> Result<(), ArmError>;

/// A resource that has gone, as its behaviour's [`Behaviour::on_removed`] sees it.
pub struct Removal<'a> {
    pub state: &'a AppState,
    pub id: &'a ResourceId,
    /// The row as it was stored.
    pub row: &'a Value,
    pub now: time::OffsetDateTime,
    /// The DELETE that removed it; `None` when it went with its resource group.
    pub req: Option<&'a ArmRequest>,
}

/// Run the `on_removed` hook of `row`'s type for a resource that has gone.
pub fn removed(removal: &Removal) -> Result<(), ArmError> {
    let ty = removal.row["type"].as_str().unwrap_or_default();
    match behaviour(ty).and_then(|b| b.on_removed) {
        Some(h) => h(removal),
        None => Ok(()),
    }
}

/// Azure's rules for one resource type, beyond its schema.
pub struct Behaviour {
    /// `Microsoft.Network/networkSecurityGroups` (any case).
    pub resource_type: &'static str,
    /// Before the body is read against the schema: what the RP refuses first,
    /// in its own words (a registry's name, its missing SKU).
    pub before_schema: Option<RequestHook>,
    /// Before a PUT or PATCH is stored: check, and fill computed properties
    /// (the row as it will be stored, and the row it replaces).
    pub on_write: Option<WriteHook>,
    /// Before the resource is deleted (refuse, or clean up elsewhere).
    pub on_delete: Option<DeleteHook>,
    /// Whenever the resource goes — by its own DELETE (after `on_delete` let
    /// it) or with its resource group: what goes with it, or stays of it,
    /// elsewhere (a registry's content and runs, a vault's soft-deleted record).
    pub on_removed: Option<RemovedHook>,
    /// Properties computed whenever the resource is read (counts of what it
    /// holds, back-references): on GET, in lists, and in a write's answer.
    pub on_read: Option<ReadHook>,
    /// Actions by name (`ping`, `CheckIPAddressAvailability`).
    pub actions: &'static [(&'static str, ActionHook)],
    /// Lists that are computed rather than stored (`availableDelegations`).
    pub lists: &'static [(&'static str, ListHook)],
    /// Resources of this type Azure keeps under a parent without anyone
    /// creating them: read by id and listed (after the stored ones) like stored
    /// ones, never stored (`on_write`/`on_delete` refuse them).
    pub built_in: Option<BuiltInHook>,
    /// Writes answered at once with one status whatever the spec's statuses and
    /// long-running flag say: (method, status).
    pub statuses: &'static [(&'static str, u16)],
    /// The type's provider fills in what its schema marks required (ACI
    /// defaults a container's `resources` and the group's `osType`): the
    /// schema's required properties are not checked; the behaviour checks
    /// what it must, in its provider's words.
    pub provider_required: bool,
    /// Whether a long-running write's operation ends `Failed` rather than
    /// `Succeeded`, as the behaviour decided while writing (a container group
    /// whose image pull failed): read from the row as stored.
    pub provisioning_fails: Option<fn(&Value) -> bool>,
    /// A DELETE of an existing resource answers 200 with the resource as it
    /// was (ACI's container groups, as azure-cli's recordings show them).
    pub delete_returns_row: bool,
    /// Served under a `{scope}` of any depth (extension resources:
    /// `/{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`), as
    /// the spec's `{scope}` templates give them ([`find_op`]). Other types with
    /// `{scope}` templates are left to their hand-written providers.
    pub any_scope: bool,
    /// Before anything about the resource or the body is read, for every
    /// method: the type's own authorization, for types `authorize_route`
    /// leaves to their behaviour (Microsoft.Authorization's), and what it
    /// refuses from the URL alone (a role assignment name that is not a GUID).
    /// A caller without access learns nothing.
    pub before_read: Option<GateHook>,
    /// The type's rows live in a domain service's table, not the resources
    /// table: read, written and deleted only through its functions ([`Rows`]).
    pub rows: Option<&'static Rows>,
    /// The operation a long-running write's answer points at when the
    /// behaviour's own work is what finishes the write (a taskRun's run):
    /// found from the row as stored; `None` (or no hook) starts the generic one.
    pub write_operation: Option<OperationHook>,
    /// A write or delete whose `If-Match`/`If-None-Match` failed, answered
    /// the type's own way (Private DNS); `Err(e)` keeps ARM's 412.
    pub precondition_failed: Option<PreconditionHook>,
    /// A PUT that is a request for work rather than a resource to store (a
    /// deployment plans its template, stores its run and answers with the
    /// run's operation): after the layer's routing, api-version, parent and
    /// precondition checks, the behaviour answers it, given the row it
    /// replaces. Its long-running answer is its own: a nested deployment's
    /// answer also carries what its plan used, refused or not.
    pub own_put: Option<PutHook>,
    /// The operation a long-running DELETE's 202 points at when the type's
    /// own (a deployment's history is gone at once: its operation is done at
    /// the first poll, in every simulation mode), given the row deleted;
    /// `None` (or no hook) starts the generic one.
    pub delete_operation: Option<OperationHook>,
    /// Actions that ask about a resource that need not exist yet (a
    /// deployment's `validate` and `whatIf`): run without the existence check.
    pub preflight_actions: &'static [&'static str],
}

pub type PreconditionHook = fn(&Ctx, Option<&Value>, ArmError) -> Result<Response, ArmError>;

pub type GateHook = fn(&Ctx) -> Result<(), ArmError>;

/// How a type whose rows a domain service keeps (role assignments in the RBAC
/// engine's table, custom roles beside the built-in catalog) is read, written
/// and deleted; its lists are its `lists` hooks.
pub struct Rows {
    /// The resource `id` names, as a read answers it; `None` when there is none.
    pub get: fn(&AppState, &ResourceId) -> Result<Option<Value>, ArmError>,
    /// Store the row a write built (after `on_write`); the resource as the
    /// write answers it.
    pub put: fn(&Ctx, &ResourceId, Value) -> Result<Value, ArmError>,
    /// Remove the resource (after `on_delete`).
    pub delete: fn(&Ctx, &ResourceId) -> Result<(), ArmError>,
    /// The type's own answer to a GET (or an action) of one that is not
    /// there (`None`: ARM's `ResourceNotFound`).
    pub missing: Option<fn(&ResourceId) -> ArmError>,
    /// Remove every row under a resource group or subscription (its key and
    /// `/`), as it goes: what goes with it of the type's rows (a group's
    /// deployments).
    pub remove_within: Option<WithinHook>,
}

/// The group or subscription keyed `key` has gone: every domain service's rows
/// under it go too ([`Rows::remove_within`]).
pub fn remove_rows_within(state: &AppState, key: &str) -> Result<(), ArmError> {
    for rows in BEHAVIOURS.iter().filter_map(|b| b.rows) {
        if let Some(h) = rows.remove_within {
            h(state, key)?;
        }
    }
    Ok(())
}

impl Behaviour {
    /// No rules yet: what a behaviour's constant starts from,
    /// `Behaviour { on_write: Some(f), ..Behaviour::of("Microsoft.X/ys") }`.
    pub const fn of(resource_type: &'static str) -> Behaviour {
        Behaviour {
            resource_type,
            before_schema: None,
            on_write: None,
            on_delete: None,
            on_removed: None,
            on_read: None,
            actions: &[],
            lists: &[],
            built_in: None,
            statuses: &[],
            provider_required: false,
            provisioning_fails: None,
            delete_returns_row: false,
            any_scope: false,
            before_read: None,
            rows: None,
            write_operation: None,
            precondition_failed: None,
            own_put: None,
            delete_operation: None,
            preflight_actions: &[],
        }
    }
}

/// Every behaviour module the generic layer knows.
pub const BEHAVIOURS: &[&Behaviour] = &[
    &super::managed_identity::USER_ASSIGNED_IDENTITY,
    &super::network::private_dns::ZONE,
    &super::network::private_dns::LINK,
    &super::network::private_dns::ALL,
    &super::network::private_dns::A,
    &super::network::private_dns::AAAA,
    &super::network::private_dns::CNAME,
    &super::network::private_dns::MX,
    &super::network::private_dns::PTR,
    &super::network::private_dns::SOA,
    &super::network::private_dns::SRV,
    &super::network::private_dns::TXT,
    &super::network::security_groups::NSG,
    &super::network::security_groups::SECURITY_RULE,
    &super::network::security_groups::ROUTE_TABLE,
    &super::network::security_groups::ROUTE,
    &super::network::security_groups::PUBLIC_IP,
    &super::network::security_groups::DELEGATIONS,
    &super::network::virtual_networks::VNET,
    &super::network::virtual_networks::SUBNET,
    &super::network::virtual_networks::PEERING,
    &super::network::private_endpoints::ENDPOINT,
    &super::network::private_endpoints::ZONE_GROUP,
    &super::network::subnet_links::ENDPOINT_TYPES,
    &super::container_registry::children::REPLICATIONS,
    &super::container_registry::children::WEBHOOKS,
    &super::container_registry::registries::REGISTRY,
    &super::container_registry::registries::REGISTRY_NAMES,
    &super::container_registry::children::CACHE_RULES,
    &super::container_registry::children::CREDENTIAL_SETS,
    &super::container_registry::children::CONNECTED_REGISTRIES,
    &super::container_registry::scope_maps::SCOPE_MAPS,
    &super::container_registry::scope_maps::TOKENS,
    &super::container_registry::tasks::TASKS,
    &super::container_registry::tasks::RUNS,
    &super::container_registry::tasks::TASK_RUNS,
    &super::container_registry::children::PRIVATE_ENDPOINT_CONNECTIONS,
    &super::container_registry::children::PRIVATE_LINK_RESOURCES,
    &super::container_instance::groups::GROUPS,
    &super::container_instance::groups::CONTAINERS,
    &super::container_instance::locations::USAGES,
    &super::container_instance::locations::CAPABILITIES,
    &super::container_instance::locations::CACHED_IMAGES,
    &super::resources::subscriptions::ZONE_PEERS,
    &super::beside::STORAGE_ACCOUNT,
    &super::beside::STORAGE_NAMES,
    &super::beside::VAULT,
    &super::beside::DELETED_VAULTS,
    &super::beside::DELETED_VAULT,
    &super::beside::DELETED_HSMS,
    &super::beside::VAULT_NAMES,
    &super::beside::WORKSPACE,
    &super::beside::DELETED_WORKSPACES,
    &super::authorization::role_definitions::ROLE_DEFINITIONS,
    &super::authorization::role_assignments::ROLE_ASSIGNMENTS,
    &super::resources::deployments::DEPLOYMENTS,
    &super::resources::deployments::OPERATIONS,
];

/// The resources Azure keeps under a parent without anyone creating them,
/// for that parent (a registry's system scope maps, its private link resources).
pub type BuiltInHook = fn(&AppState, &ResourceId) -> Result<Vec<Value>, ArmError>;

/// The status a write of `resource_type` answers whatever its spec says, if
/// its behaviour fixes one.
fn fixed_status(resource_type: &str, method: &Method) -> Option<StatusCode> {
    behaviour(resource_type)?
        .statuses
        .iter()
        .find(|(m, _)| *m == method.as_str())
        .and_then(|(_, s)| StatusCode::from_u16(*s).ok())
}

/// The built-in resources of `resource_type` under `parent`.
fn built_in_under(
    state: &AppState,
    parent: &ResourceId,
    resource_type: &str,
) -> Result<Vec<Value>, ArmError> {
    match behaviour(resource_type).and_then(|b| b.built_in) {
        Some(h) => h(state, parent),
        None => Ok(Vec::new()),
    }
}

/// The built-in resource `id` names, if its parent exists.
fn built_in(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    let Some(parent) = id.parent() else {
        return Ok(None);
    };
    if state.resources().get(&parent)?.is_none() {
        return Ok(None);
    }
    Ok(built_in_under(state, &parent, &id.resource_type())?
        .into_iter()
        .find(|v| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(id.name()))
        }))
}

fn behaviour(resource_type: &str) -> Option<&'static Behaviour> {
    BEHAVIOURS
        .iter()
        .copied()
        .find(|b| b.resource_type.eq_ignore_ascii_case(resource_type))
}

/// The domain service's rows of `resource_type`, if its behaviour keeps them there.
fn rows_of(resource_type: &str) -> Option<&'static Rows> {
    behaviour(resource_type).and_then(|b| b.rows)
}

/// The operation `method path` names: through a `{scope}` template of a type
/// that opts in ([`Behaviour::any_scope`]) first (those paths also fit
/// literal templates of other types, `Resources_Get`'s
/// `…/providers/{ns}/{parentResourcePath}/{type}/{name}`), else as
/// [`spec::find_for`] finds it.
fn find_op(method: &str, path: &str, api_version: Option<&str>) -> Option<(&'static Op, Params)> {
    let scoped = spec::find_scoped(method, path, api_version).filter(|op| {
        let ty = match op.target() {
            Target::Resource { resource_type } | Target::Collection { resource_type } => {
                resource_type
            }
            Target::Action { resource_type, .. } => resource_type,
            Target::Other => return false,
        };
        behaviour(&ty).is_some_and(|b| b.any_scope)
    });
    match scoped {
        Some(op) => Some((op, Params::default())),
        None => spec::find_for(method, path, api_version),
    }
}

/// Serve `req` from the spec table if an operation matches its path; `otherwise`
/// (the hand-written provider's answer, an unknown type) when none does.
pub fn serve_or(
    state: &AppState,
    req: &ArmRequest,
    otherwise: ArmError,
) -> Result<Response, ArmError> {
    let method = if req.method == Method::HEAD {
        "GET"
    } else {
        req.method.as_str()
    };
    let version = req.query("api-version");
    let found = find_op(method, &req.path, version).or_else(|| {
        let short = resources_shorthand(method, &req.path)?.2;
        find_op(method, &short, version)
    });
    let Some((op, params)) = found else {
        // The path exists with other methods: ARM's 405.
        let served_otherwise = ["GET", "PUT", "PATCH", "DELETE", "POST"]
            .iter()
            .any(|m| *m != method && find_op(m, &req.path, None).is_some());
        if served_otherwise {
            return Err(ArmError::method_not_allowed(req.method.as_str()));
        }
        return Err(otherwise);
    };
    if let Some(q) = op.required_query.iter().find(|q| req.query(q).is_none()) {
        // TODO-fidelity: RPs word a missing required query parameter their own way;
        // searched recordings for "query parameter" errors of Network/ACR, none found.
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestFormat",
            format!("The query parameter '{q}' is required."),
        ));
    }
    // The path the target is read from: the request's, or ARM's short form's
    // with its namespace put back.
    let (target, path) = match op.target() {
        Target::Other => match resources_shorthand(method, &req.path) {
            Some((target, full, _)) => (target, full),
            None => return Err(otherwise),
        },
        t => (t, req.path.clone()),
    };
    let resource_type = match &target {
        Target::Resource { resource_type } | Target::Collection { resource_type } => {
            resource_type.clone()
        }
        Target::Action { resource_type, .. } => resource_type.clone(),
        Target::Other => return Err(otherwise),
    };
    req.api_version(&resource_type)?;
    let id = match &target {
        Target::Resource { .. } | Target::Action { .. } => trim_to_resource(&path, &target),
        Target::Collection { .. } => parent_path(&path),
        Target::Other => None,
    }
    .and_then(|p| p.parse::<ResourceId>().ok())
    .ok_or_else(|| ArmError::no_route(&req.path))?;
    // A type named by a parameter (a record set's `{recordType}`): the request's word.
    let target = match target {
        Target::Resource { resource_type } if resource_type.contains('{') => Target::Resource {
            resource_type: concrete_type(&resource_type, &id),
        },
        Target::Collection { resource_type } if resource_type.contains('{') => {
            let last = req
                .path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            Target::Collection {
                resource_type: format!(
                    "{}/{last}",
                    concrete_type(&resource_type, &id)
                        .rsplit_once('/')
                        .map(|x| x.0)
                        .unwrap_or_default()
                ),
            }
        }
        other => other,
    };
    let cx = Ctx {
        state,
        req,
        op,
        params,
        id,
    };
    if let Some(h) = behaviour(&resource_type).and_then(|b| b.before_read) {
        h(&cx)?;
    }
    match target {
        Target::Resource { resource_type } => match req.method {
            Method::PUT => put(&cx, &resource_type),
            Method::PATCH => patch(&cx, &resource_type),
            Method::HEAD if check_existence(&cx) => head(&cx),
            Method::GET | Method::HEAD => get(&cx, &resource_type),
            Method::DELETE => delete(&cx, &resource_type),
            ref m => Err(ArmError::method_not_allowed(m.as_str())),
        },
        Target::Collection { resource_type } => list(&cx, &resource_type),
        Target::Action {
            resource_type,
            action,
        } => {
            let hook = behaviour(&resource_type).and_then(|b| {
                b.actions
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&action))
                    .map(|(_, h)| *h)
            });
            let preflight = behaviour(&resource_type).is_some_and(|b| {
                b.preflight_actions
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&action))
            });
            match hook {
                Some(h) => {
                    if preflight || !resource_type.contains('/') || exists(&cx, &cx.id)? {
                        h(&cx)
                    } else if let Some(missing) = rows_of(&resource_type).and_then(|r| r.missing) {
                        Err(missing(&cx.id))
                    } else {
                        Err(not_found(&cx.id, &resource_type))
                    }
                }
                None => Err(not_emulated(op)),
            }
        }
        Target::Other => Err(otherwise),
    }
}

/// ARM's own types under a resource group, which it serves spelled with or
/// without their namespace (`{RG}/deployments/{name}/operations[/{id}]`: the
/// templates of DeploymentOperations_List and _Get keep that pre-provider
/// form; clients also send `{RG}/providers/Microsoft.Resources/deployments/…`):
/// what the path targets, the path with `providers/Microsoft.Resources`, and
/// the path without.
fn resources_shorthand(method: &str, path: &str) -> Option<(Target, String, String)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let [subs, sub, groups, group, rest @ ..] = segs.as_slice() else {
        return None;
    };
    let rest = match rest {
        [p, ns, tail @ ..]
            if p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.Resources") =>
        {
            tail
        }
        [p, ..] if p.eq_ignore_ascii_case("providers") => return None,
        other => other,
    };
    if !subs.eq_ignore_ascii_case("subscriptions")
        || !groups.eq_ignore_ascii_case("resourcegroups")
        || rest.len() < 2
    {
        return None;
    }
    let words: Vec<&str> = rest.iter().step_by(2).copied().collect();
    // These lists are named by the path alone: a GET in a type position lists.
    let target = spec::target_of(method, "Microsoft.Resources", &words, rest.len(), true);
    let short = format!("/{subs}/{sub}/{groups}/{group}/{}", rest.join("/"));
    let full = format!(
        "/{subs}/{sub}/{groups}/{group}/providers/Microsoft.Resources/{}",
        rest.join("/")
    );
    Some((target, full, short))
}

/// `pattern`'s placeholders filled with the words of `id`'s own type.
fn concrete_type(pattern: &str, id: &ResourceId) -> String {
    let actual = id.resource_type();
    let words: Vec<&str> = actual.split('/').collect();
    pattern
        .split('/')
        .enumerate()
        .map(|(i, w)| {
            if w.starts_with('{') {
                words.get(i).copied().unwrap_or(w)
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// An operation the specs define that azemu has no behaviour for (an action
/// or a computed list): said plainly, as the emulator's limit, not Azure's.
fn not_emulated(op: &Op) -> ArmError {
    ArmError::new(
        StatusCode::BAD_REQUEST,
        "OperationNotSupported",
        format!(
            "azemu does not emulate the operation '{}' ({} {}).",
            op.operation_id, op.method, op.template
        ),
    )
}

/// The resource a resource or action path names (an action's last segment dropped).
fn trim_to_resource(path: &str, target: &Target) -> Option<String> {
    match target {
        Target::Action { resource_type, .. } if !resource_type.contains('/') => {
            // A provider-level action: acts on the scope above `providers/{ns}`.
            let lower = path.to_ascii_lowercase();
            let at = lower.rfind("/providers/")?;
            Some(path[..at].to_string())
        }
        Target::Action { .. } => parent_path(path),
        _ => Some(path.trim_end_matches('/').to_string()),
    }
}

fn parent_path(path: &str) -> Option<String> {
    let p = path.trim_end_matches('/');
    let (head, _) = p.rsplit_once('/')?;
    let lower = head.to_ascii_lowercase();
    // `{scope}/providers/{ns}` → the scope.
    if let Some(at) = lower.rfind("/providers/")
        && !lower[at + "/providers/".len()..].contains('/')
    {
        return Some(head[..at].to_string());
    }
    Some(head.to_string())
}

fn not_found(id: &ResourceId, resource_type: &str) -> ArmError {
    // `Microsoft.Network/networkSecurityGroups/nsg1` (children: every name on the way).
    let names: Vec<&str> = id
        .providers
        .last()
        .map(|p| p.types.iter().map(|(_, n)| n.as_str()).collect())
        .unwrap_or_default();
    let ns = resource_type.split('/').next().unwrap_or_default();
    let first = resource_type.split('/').nth(1).unwrap_or_default();
    let mut text = format!(
        "{ns}/{first}/{}",
        names.first().copied().unwrap_or_default()
    );
    for ((t, _), n) in resource_type
        .split('/')
        .skip(2)
        .zip(0..)
        .zip(names.iter().skip(1))
    {
        text.push_str(&format!("/{t}/{n}"));
    }
    ArmError::resource_not_found(&text, id.resource_group.as_deref().unwrap_or_default())
}

/// A GET of a resource that is not there. NRP answers for a child (one it
/// keeps inline in its parent, a subnet, a peering, a security rule, or one of
/// its own rows, a private endpoint's DNS zone group) in its own words; under
/// a parent that is not there either, ARM's `ParentResourceNotFound` (as
/// Azure/azure-cli#18112 quotes it for a subnet of a missing VNet).
fn missing(state: &AppState, id: &ResourceId, resource_type: &str) -> Result<ArmError, ArmError> {
    if is_network(resource_type)
        && nested(resource_type)
        && let Some(parent) = id.parent()
    {
        if read(state, &parent)?.is_none() {
            return Ok(parent_not_found(&parent));
        }
        return Ok(ArmError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Resource {id} not found."),
        ));
    }
    Ok(not_found(id, resource_type))
}

fn exists(cx: &Ctx, id: &ResourceId) -> Result<bool, ArmError> {
    Ok(read(cx.state, id)?.is_some())
}

/// A resource by id: its own row, or an inline child in its parent's row.
fn read(state: &AppState, id: &ResourceId) -> Result<Option<Value>, ArmError> {
    if let Some(rows) = rows_of(&id.resource_type()) {
        return (rows.get)(state, id);
    }
    if let Some(v) = state.resources().get(id)? {
        return Ok(Some(v));
    }
    if let Some(v) = built_in(state, id)? {
        return Ok(Some(v));
    }
    let Some((parent, field)) = inline_parent(id) else {
        return Ok(None);
    };
    let Some(p) = state.resources().get(&parent)? else {
        return Ok(None);
    };
    Ok(find_inline(&p, &field, id.name()).cloned())
}

/// `{parent}/{field}/{name}` where the parent's schema carries `field` inline:
/// the parent's id and the field's spelling in its schema.
fn inline_parent(id: &ResourceId) -> Option<(ResourceId, String)> {
    let parent = id.parent()?;
    let child_type = id.resource_type();
    let word = child_type.rsplit('/').next()?;
    let parent_schema = resource_schema(&parent.resource_type())?;
    let field = inline_field(parent_schema, word)?;
    Some((parent, field.to_string()))
}

/// The array property of `schema`'s `properties` named `word` (any case).
fn inline_field(schema: &'static Schema, word: &str) -> Option<&'static str> {
    let props = schema.prop("properties")?.schema();
    props
        .props
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(word) && p.schema().kind == spec::Kind::Array)
        .map(|p| p.name)
}

/// The PUT body schema of `resource_type` (else its GET response schema).
fn resource_schema(resource_type: &str) -> Option<&'static Schema> {
    let ops: Vec<&'static Op> = spec::resource_ops(resource_type).collect();
    ops.iter()
        .filter(|o| o.method == "PUT")
        .max_by_key(|o| o.api_version)
        .and_then(|o| o.body())
        .or_else(|| {
            ops.iter()
                .filter(|o| o.method == "GET")
                .max_by_key(|o| o.api_version)
                .and_then(|o| o.response())
        })
}

fn find_inline<'v>(parent: &'v Value, field: &str, name: &str) -> Option<&'v Value> {
    parent["properties"][field].as_array()?.iter().find(|c| {
        c["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// NRP's etags are weak (`W/"…"`, as azure-cli's recordings show them).
pub fn network_etag() -> String {
    format!("W/{}", etag::new_etag())
}

/// A fresh etag in the style of the one it replaces (weak stays weak, a bare
/// GUID stays bare, as Private DNS has them).
fn renewed_etag(old: &Value) -> String {
    match old.as_str() {
        Some(e) if e.starts_with("W/") => network_etag(),
        Some(e) if !e.starts_with('"') => uuid::Uuid::new_v4().to_string(),
        _ => etag::new_etag(),
    }
}

/// Served by NRP (weak etags, `name` before `id`). Private DNS shares the
/// namespace but is its own provider, with ARM's etags and field order.
fn is_network(resource_type: &str) -> bool {
    let t = resource_type.to_ascii_lowercase();
    t.starts_with("microsoft.network/") && !t.starts_with("microsoft.network/privatednszones")
}

/// The resource's canonical type name (the spec's spelling).
fn nested(resource_type: &str) -> bool {
    resource_type.matches('/').count() > 1
}

/// Whether the spec has a HEAD of its own for the resource the request names
/// (`Deployments_CheckExistence`): then HEAD is that operation, not a GET.
fn check_existence(cx: &Ctx) -> bool {
    spec::find_for("HEAD", &cx.id.to_string(), cx.req.query("api-version"))
        .is_some_and(|(op, _)| op.target() == cx.op.target())
}

/// A CheckExistence operation: 204 when the resource is there, 404 when not
/// (no body either way).
fn head(cx: &Ctx) -> Result<Response, ArmError> {
    Ok(if exists(cx, &cx.id)? {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    })
}

fn get(cx: &Ctx, resource_type: &str) -> Result<Response, ArmError> {
    let Some(mut row) = read(cx.state, &cx.id)? else {
        if let Some(missing) = rows_of(resource_type).and_then(|r| r.missing) {
            return Err(missing(&cx.id));
        }
        return Err(missing(cx.state, &cx.id, resource_type)?);
    };
    fill_computed(cx.state, resource_type, &mut row)?;
    Ok(json_response(StatusCode::OK, &shaped(cx.op, &row)))
}

/// What `resource_type`'s behaviour computes at read time, filled into `row`.
fn fill_computed(state: &AppState, resource_type: &str, row: &mut Value) -> Result<(), ArmError> {
    match behaviour(resource_type).and_then(|b| b.on_read) {
        Some(h) => h(state, row),
        None => Ok(()),
    }
}

fn shaped(op: &Op, row: &Value) -> Value {
    match op.response() {
        Some(s) => spec::shape(s, row),
        None => row.clone(),
    }
}

fn put(cx: &Ctx, resource_type: &str) -> Result<Response, ArmError> {
    let id = &cx.id;
    if nested(resource_type) {
        let parent = id
            .parent()
            .ok_or_else(|| ArmError::no_route(&cx.req.path))?;
        if read(cx.state, &parent)?.is_none() {
            return Err(parent_not_found(&parent));
        }
    }
    let existing = read(cx.state, id)?;
    if let Some(refused) = preconditions(cx, resource_type, existing.as_ref()) {
        return refused;
    }
    if let Some(h) = behaviour(resource_type).and_then(|b| b.own_put) {
        return h(cx, existing.as_ref());
    }
    let body = cx.req.json_body()?;
    if !body.is_object() {
        return Err(ArmError::invalid_request_content(
            "Unexpected character encountered while parsing value. Path '', line 1, position 1.",
        ));
    }
    before_schema(cx, resource_type, &body)?;
    let provider_required = behaviour(resource_type).is_some_and(|b| b.provider_required);
    let cleaned = match cx.op.body {
        Some(schema) if provider_required => {
            spec::validate_for_provider_cleaned(schema, &body, &cx.req.body, existing.as_ref())?
        }
        Some(schema) => spec::validate(schema, &body, &cx.req.body, existing.as_ref())?,
        None => body.clone(),
    };
    let mut row = build(cx, resource_type, id, &cleaned, existing.as_ref())?;
    if let Some(b) = behaviour(resource_type)
        && let Some(h) = b.on_write
    {
        h(cx, &mut row, existing.as_ref())?;
    }
    let mut row = store(cx, id, row)?;
    if let Some(status) = fixed_status(resource_type, &cx.req.method) {
        fill_computed(cx.state, resource_type, &mut row)?;
        return Ok(json_response(status, &shaped(cx.op, &row)));
    }
    // 201 for a new resource, where the spec lists it (some answer 200 either way).
    let status = if existing.is_none() && cx.op.statuses.contains(&201) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    respond(cx, resource_type, status, &row)
}

/// What `resource_type`'s behaviour refuses before the schema is read.
fn before_schema(cx: &Ctx, resource_type: &str, body: &Value) -> Result<(), ArmError> {
    match behaviour(resource_type).and_then(|b| b.before_schema) {
        Some(h) => h(cx, body),
        None => Ok(()),
    }
}

/// `If-Match` / `If-None-Match` against the resource as stored (one without
/// an `etag` still exists: `*` matches it). `Some` answer when they fail:
/// ARM's 412, or the type's own ([`Behaviour::precondition_failed`]).
fn preconditions(
    cx: &Ctx,
    resource_type: &str,
    existing: Option<&Value>,
) -> Option<Result<Response, ArmError>> {
    let current = existing.map(|e| e["etag"].as_str().unwrap_or_default());
    let e = etag::check_preconditions(&cx.req.headers, current).err()?;
    Some(
        match behaviour(resource_type).and_then(|b| b.precondition_failed) {
            Some(h) => h(cx, existing, e),
            None => Err(e),
        },
    )
}

/// 202 with both polling headers for a write whose operation has already
/// failed with `error` (`{code, message}`): how Private DNS refuses a stale
/// `If-Match` on a zone or a link (azure-cli's privatedns recordings).
pub fn accepted_failed(cx: &Ctx, resource_type: &str, error: Value) -> Result<Response, ArmError> {
    let mut op = start_operation(cx, resource_type, false)?;
    op.status = crate::arm::lro::OpStatus::Failed;
    op.ended_ms = Some(op.started_ms);
    op.deadline_ms = None;
    op.error = Some(error);
    op.save(cx.state.store.as_ref())?;
    let v = cx.req.query("api-version").unwrap_or_default();
    let ns = resource_type.split('/').next().unwrap_or_default();
    let mut resp = StatusCode::ACCEPTED.into_response();
    let url = op.async_operation_url(&cx.req.base.0, ns, "global", v);
    set_polling_headers(
        &mut resp,
        Some(&op.location_url(&cx.req.base.0, v)),
        Some(&url),
    );
    Ok(resp)
}

/// The answer to a write: the resource, and (for a long-running PUT of a
/// top-level resource) the Azure-AsyncOperation to poll while its
/// `provisioningState` finishes.
fn respond(
    cx: &Ctx,
    resource_type: &str,
    status: StatusCode,
    row: &Value,
) -> Result<Response, ArmError> {
    let mut row = row.clone();
    fill_computed(cx.state, resource_type, &mut row)?;
    let body = shaped(cx.op, &row);
    let mut resp = json_response(status, &body);
    if cx.op.long_running {
        let own = match behaviour(resource_type).and_then(|b| b.write_operation) {
            Some(h) => h(cx, &row)?,
            None => None,
        };
        let op = match own {
            Some(op) => op,
            None => {
                let fails = behaviour(resource_type)
                    .and_then(|b| b.provisioning_fails)
                    .is_some_and(|f| f(&row));
                start_operation(cx, resource_type, fails)?
            }
        };
        let v = cx.req.query("api-version").unwrap_or_default();
        let ns = resource_type.split('/').next().unwrap_or_default();
        let location = row["location"]
            .as_str()
            .map(str::to_string)
            .or_else(|| top_location(cx))
            .unwrap_or_else(|| "global".into());
        let url = op.async_operation_url(&cx.req.base.0, ns, &location, v);
        if cx.op.final_state_via == Some("location") {
            set_polling_headers(
                &mut resp,
                Some(&op.location_url(&cx.req.base.0, v)),
                Some(&url),
            );
        } else {
            set_polling_headers(&mut resp, None, Some(&url));
        }
    }
    Ok(resp)
}

fn top_location(cx: &Ctx) -> Option<String> {
    let mut top = cx.id.clone();
    top.providers.first_mut()?.types.truncate(1);
    top.providers.truncate(1);
    let row = cx.state.resources().get(&top).ok()??;
    row["location"].as_str().map(str::to_string)
}

fn parent_not_found(parent: &ResourceId) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "ParentResourceNotFound",
        format!(
            "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
            parent_name(parent)
        ),
    )
}

/// A nested resource's parent as ARM names it: its names joined by `/`.
fn parent_name(parent: &ResourceId) -> String {
    parent
        .providers
        .last()
        .map(|p| {
            p.types
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default()
}

/// The stored row for a PUT: what the caller sent (validated and cleaned)
/// with what Azure computes, in Azure's field order.
fn build(
    cx: &Ctx,
    resource_type: &str,
    id: &ResourceId,
    sent: &Value,
    existing: Option<&Value>,
) -> Result<Value, ArmError> {
    let schema = cx.op.body().or_else(|| resource_schema(resource_type));
    // What Azure computes is named by the response schema as well: a PUT whose
    // body is a `…CreateParameters` schema (ACR webhooks) names no `systemData`
    // or `provisioningState` of its own, but the resource returned has them.
    let answer = cx.op.response();
    let has = |name: &str| {
        [schema, answer]
            .into_iter()
            .flatten()
            .any(|s| s.prop(name).is_some())
    };
    let network = is_network(resource_type);
    let mut row = Map::new();
    if network {
        row.insert("name".into(), json!(id.name()));
        row.insert("id".into(), json!(id.to_string()));
        if has("etag") {
            row.insert("etag".into(), json!(network_etag()));
        }
        row.insert("type".into(), json!(resource_type));
    } else {
        row.insert("id".into(), json!(id.to_string()));
        row.insert("name".into(), json!(id.name()));
        row.insert("type".into(), json!(resource_type));
        if has("etag") {
            row.insert("etag".into(), json!(etag::new_etag()));
        }
    }
    let sent_map = sent.as_object().cloned().unwrap_or_default();
    if has("location") {
        let tracked = !nested(resource_type);
        match sent_map.get("location") {
            Some(Value::String(l)) => {
                let l = if l.eq_ignore_ascii_case("global") {
                    "global"
                } else {
                    envelope::location(&sent_map)?
                };
                if let Some(old) = existing.and_then(|e| e["location"].as_str())
                    && !old.eq_ignore_ascii_case(l)
                {
                    return Err(ArmError::invalid_resource_location(
                        id.name(),
                        old,
                        l,
                        id.resource_group.as_deref().unwrap_or_default(),
                    ));
                }
                row.insert("location".into(), json!(l));
            }
            _ if tracked => return Err(ArmError::location_required()),
            _ => {}
        }
    }
    for (k, v) in &sent_map {
        if [
            "id",
            "name",
            "type",
            "location",
            "etag",
            "properties",
            "systemData",
        ]
        .contains(&k.as_str())
        {
            continue;
        }
        row.insert(k.clone(), v.clone());
    }
    let props_schema = schema
        .and_then(|s| s.prop("properties"))
        .map(|p| p.schema());
    if props_schema.is_some() || sent_map.contains_key("properties") {
        let mut props = Map::new();
        let answer_props = answer
            .and_then(|s| s.prop("properties"))
            .map(|p| p.schema());
        let ps = |n: &str| {
            [props_schema, answer_props]
                .into_iter()
                .flatten()
                .any(|s| s.prop(n).is_some())
        };
        if ps("provisioningState") {
            let long_running =
                cx.op.long_running && fixed_status(resource_type, &cx.req.method).is_none();
            let state = provisioning_on_put(resource_type, long_running, existing.is_some());
            props.insert("provisioningState".into(), json!(state));
        }
        if ps("resourceGuid") {
            let guid = existing
                .and_then(|e| e["properties"]["resourceGuid"].as_str().map(str::to_string))
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            props.insert("resourceGuid".into(), json!(guid));
        }
        if let Some(Value::Object(p)) = sent_map.get("properties") {
            for (k, v) in p {
                props.insert(k.clone(), v.clone());
            }
        }
        // Inline children: each gets its id, type, etag and provisioningState.
        if let Some(s) = props_schema {
            for p in s
                .props
                .iter()
                .filter(|p| p.schema().kind == spec::Kind::Array)
            {
                let Some(Value::Array(items)) = props.get_mut(p.name) else {
                    continue;
                };
                let child_type = format!("{resource_type}/{}", p.name);
                if spec::resource_ops(&child_type).next().is_none() {
                    continue;
                }
                for item in items.iter_mut() {
                    complete_child(id, &child_type, p.name, item, network)?;
                }
            }
        }
        row.insert("properties".into(), Value::Object(props));
    }
    if has("systemData") {
        row.insert(
            "systemData".into(),
            envelope::system_data(
                &cx.req.principal,
                cx.req.now,
                existing.and_then(|e| e.get("systemData")),
            ),
        );
    }
    Ok(Value::Object(row))
}

/// The `provisioningState` a PUT answers with while its operation runs. ACR's
/// long-running writes answer `Creating` for a new resource and `Updating`
/// for one that exists (azure-cli's acr recordings of replications, tokens,
/// cache rules, credential sets and agent pools); NRP's top-level resources
/// `Updating`; a nested resource elsewhere, and any write that is not
/// long-running, is done at once.
fn provisioning_on_put(resource_type: &str, long_running: bool, exists: bool) -> &'static str {
    match (long_running, is_acr(resource_type), exists) {
        (false, _, _) => "Succeeded",
        (true, true, false) => "Creating",
        (true, true, true) => "Updating",
        (true, false, _) if nested(resource_type) => "Succeeded",
        (true, false, _) => "Updating",
    }
}

fn is_acr(resource_type: &str) -> bool {
    resource_type
        .to_ascii_lowercase()
        .starts_with("microsoft.containerregistry/")
}

/// An inline child as Azure returns it inside its parent: `name`, `id`,
/// `etag`, `type`, then its properties with `provisioningState`.
fn complete_child(
    parent: &ResourceId,
    child_type: &str,
    field: &str,
    item: &mut Value,
    network: bool,
) -> Result<(), ArmError> {
    let Some(name) = item["name"].as_str().map(str::to_string) else {
        // TODO-fidelity: NRP's answer to an inline child without a name was not found
        // (searched recordings for "name" errors of securityRules/routes).
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestFormat",
            format!("Cannot parse the request. The {field} item needs a name."),
        ));
    };
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    out.insert("id".into(), json!(format!("{parent}/{field}/{name}")));
    if network {
        out.insert("etag".into(), json!(network_etag()));
    }
    out.insert("type".into(), json!(child_type));
    let mut props = Map::new();
    props.insert("provisioningState".into(), json!("Succeeded"));
    if let Some(Value::Object(p)) = item.get("properties") {
        for (k, v) in p {
            props.insert(k.clone(), v.clone());
        }
    }
    out.insert("properties".into(), Value::Object(props));
    *item = Value::Object(out);
    Ok(())
}

/// Write `row` for `id`: its own row, into its parent's inline array, or
/// through its domain service ([`Rows`]). The resource as the write answers it.
fn store(cx: &Ctx, id: &ResourceId, row: Value) -> Result<Value, ArmError> {
    if let Some(rows) = rows_of(&id.resource_type()) {
        return (rows.put)(cx, id, row);
    }
    if let Some((parent, field)) = inline_parent(id)
        && let Some(mut p) = cx.state.resources().get(&parent)?
    {
        let arr = p["properties"][&field]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut items: Vec<Value> = Vec::with_capacity(arr.len() + 1);
        let mut replaced = false;
        for c in arr {
            if c["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(id.name()))
            {
                items.push(row.clone());
                replaced = true;
            } else {
                items.push(c);
            }
        }
        if !replaced {
            items.push(row.clone());
        }
        p["properties"][&field] = Value::Array(items);
        if p.get("etag").is_some() {
            p["etag"] = json!(renewed_etag(&p["etag"]));
        }
        cx.state.resources().put(&parent, p)?;
        return Ok(row);
    }
    cx.state.resources().put(id, row.clone())?;
    Ok(row)
}

fn patch(cx: &Ctx, resource_type: &str) -> Result<Response, ArmError> {
    let existing = read(cx.state, &cx.id)?.ok_or_else(|| not_found(&cx.id, resource_type))?;
    if let Some(refused) = preconditions(cx, resource_type, Some(&existing)) {
        return refused;
    }
    let body = cx.req.json_body()?;
    before_schema(cx, resource_type, &body)?;
    let cleaned = match cx.op.body {
        Some(schema) => spec::validate_patch(schema, &body, &cx.req.body, &existing)?,
        None => body,
    };
    let mut row = existing.clone();
    // ARM's PATCH replaces the tags as a whole (a null tag is no tag);
    // everything else merges, a null removing what it names.
    let mut cleaned = cleaned;
    if let Some(tags) = cleaned.as_object_mut().and_then(|o| o.shift_remove("tags")) {
        let mut tags = if tags.is_null() { json!({}) } else { tags };
        if let Some(t) = tags.as_object_mut() {
            t.retain(|_, v| !v.is_null());
        }
        envelope::set_tags(&mut row, tags);
    }
    envelope::merge_patch(&mut row, &cleaned);
    if let Some(e) = row.get_mut("etag") {
        *e = json!(renewed_etag(e));
    }
    if row.get("systemData").is_some() {
        row["systemData"] =
            envelope::system_data(&cx.req.principal, cx.req.now, existing.get("systemData"));
    }
    if let Some(b) = behaviour(resource_type)
        && let Some(h) = b.on_write
    {
        h(cx, &mut row, Some(&existing))?;
    }
    // ACR answers a long-running PATCH 201 `Updating`, with the operation to
    // poll (azure-cli's acr recordings: replications, scope maps, cache rules,
    // credential sets, agent pools).
    let fixed = fixed_status(resource_type, &cx.req.method);
    let acr_async = is_acr(resource_type) && cx.op.long_running && fixed.is_none();
    if acr_async && row["properties"].get("provisioningState").is_some() {
        row["properties"]["provisioningState"] = json!("Updating");
    }
    let mut row = store(cx, &cx.id, row)?;
    if acr_async {
        return respond(cx, resource_type, StatusCode::CREATED, &row);
    }
    fill_computed(cx.state, resource_type, &mut row)?;
    let status = fixed.unwrap_or(StatusCode::OK);
    Ok(json_response(status, &shaped(cx.op, &row)))
}

fn delete(cx: &Ctx, resource_type: &str) -> Result<Response, ArmError> {
    let row = read(cx.state, &cx.id)?;
    if let Some(refused) = preconditions(cx, resource_type, row.as_ref()) {
        return refused;
    }
    let Some(row) = row else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    if let Some(b) = behaviour(resource_type)
        && let Some(h) = b.on_delete
    {
        h(cx, &row)?;
    }
    if let Some(rows) = rows_of(resource_type) {
        (rows.delete)(cx, &cx.id)?;
    } else if let Some((parent, field)) = inline_parent(&cx.id)
        && let Some(mut p) = cx.state.resources().get(&parent)?
    {
        if let Some(items) = p["properties"][&field].as_array_mut() {
            items.retain(|c| {
                !c["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(cx.id.name()))
            });
        }
        cx.state.resources().put(&parent, p)?;
    } else {
        cx.state.resources().delete(&cx.id)?;
        removed(&Removal {
            state: cx.state,
            id: &cx.id,
            row: &row,
            now: cx.req.now,
            req: Some(cx.req),
        })?;
        super::remove_within(cx.state, &cx.id)?;
    }
    // NRP and Private DNS answer a long-running DELETE 202 with both an
    // Azure-AsyncOperation and a Location to poll (azure-cli's recordings
    // `test_network_nsg`, `test_DeleteZone_ZoneExists_ExpectZoneDeleted`).
    if cx.op.long_running
        && resource_type
            .to_ascii_lowercase()
            .starts_with("microsoft.network/")
    {
        let location = row["location"]
            .as_str()
            .map(str::to_string)
            .or_else(|| top_location(cx))
            .unwrap_or_else(|| "global".into());
        return accepted_polled(cx, resource_type, &location);
    }
    if behaviour(resource_type).is_some_and(|b| b.delete_returns_row) {
        let mut row = row;
        fill_computed(cx.state, resource_type, &mut row)?;
        return Ok(json_response(StatusCode::OK, &shaped(cx.op, &row)));
    }
    if cx.op.statuses.contains(&200) || !cx.op.statuses.contains(&202) {
        return Ok(StatusCode::OK.into_response());
    }
    // A delete the spec answers only with 202: accepted, with an operation to
    // poll (the resource is already gone; the operation ends on its schedule,
    // or the type's own).
    if let Some(h) = behaviour(resource_type).and_then(|b| b.delete_operation)
        && let Some(op) = h(cx, &row)?
    {
        let v = cx.req.query("api-version").unwrap_or_default();
        return Ok(crate::arm::lro::accepted(
            &op.location_url(&cx.req.base.0, v),
        ));
    }
    accepted(cx, resource_type)
}

/// 202 Accepted with a `Location` to poll: for work already done whose
/// operation Azure still reports on its own schedule (a delete, a purge).
pub fn accepted(cx: &Ctx, resource_type: &str) -> Result<Response, ArmError> {
    let op = start_operation(cx, resource_type, false)?;
    let v = cx.req.query("api-version").unwrap_or_default();
    let mut resp = StatusCode::ACCEPTED.into_response();
    set_polling_headers(&mut resp, Some(&op.location_url(&cx.req.base.0, v)), None);
    Ok(resp)
}

/// The operation a write or action of `cx` starts (saved): it ends on the
/// emulated clock's schedule, `Succeeded`, or `Failed` when `fails`.
fn start_operation(cx: &Ctx, resource_type: &str, fails: bool) -> Result<Operation, ArmError> {
    let resource_id = cx.id.to_string();
    let kind = if fails {
        OperationKind::FailProvisioning { resource_id }
    } else {
        OperationKind::Provision { resource_id }
    };
    let op = Operation::start(
        &cx.id.subscription,
        kind,
        resource_type.rsplit('/').next().unwrap_or("resource"),
        cx.req.now,
        lro_delay(cx.state),
    );
    op.save(cx.state.store.as_ref())?;
    Ok(op)
}

/// 202 Accepted with an `Azure-AsyncOperation` to poll, for an action whose
/// work is done at once and whose operation ends on its schedule (ACI's
/// `start`): the operation's status lives under the resource's `location`.
pub fn accepted_async(cx: &Ctx, resource_type: &str, location: &str) -> Result<Response, ArmError> {
    accepted_with(cx, resource_type, location, false)
}

/// [`accepted_async`] with a `Location` as well (NRP's deletes).
fn accepted_polled(cx: &Ctx, resource_type: &str, location: &str) -> Result<Response, ArmError> {
    accepted_with(cx, resource_type, location, true)
}

fn accepted_with(
    cx: &Ctx,
    resource_type: &str,
    location: &str,
    with_location: bool,
) -> Result<Response, ArmError> {
    let op = start_operation(cx, resource_type, false)?;
    let v = cx.req.query("api-version").unwrap_or_default();
    let ns = resource_type.split('/').next().unwrap_or_default();
    let mut resp = StatusCode::ACCEPTED.into_response();
    let url = op.async_operation_url(&cx.req.base.0, ns, location, v);
    let result = with_location.then(|| op.location_url(&cx.req.base.0, v));
    set_polling_headers(&mut resp, result.as_deref(), Some(&url));
    Ok(resp)
}

fn list(cx: &Ctx, resource_type: &str) -> Result<Response, ArmError> {
    let word = resource_type.rsplit('/').next().unwrap_or_default();
    let computed = behaviour(resource_type).and_then(|b| {
        b.lists
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(word))
            .map(|(_, h)| *h)
    });
    let items: Vec<Value> = if let Some(h) = computed {
        h(cx)?
    } else if spec::resource_ops(resource_type).next().is_none() {
        return Err(not_emulated(cx.op));
    } else if cx.id.providers.is_empty() {
        cx.state
            .resources()
            .in_scope(&cx.id, resource_type)?
            .into_iter()
            .filter(|v| caller_may_read(cx.state, cx.req, v))
            .collect()
    } else {
        let parent =
            read(cx.state, &cx.id)?.ok_or_else(|| not_found(&cx.id, &cx.id.resource_type()))?;
        match inline_field_of(&cx.id, word) {
            Some(field) => parent["properties"][field]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            None => {
                let mut stored = cx.state.resources().children(&cx.id, resource_type)?;
                stored.extend(built_in_under(cx.state, &cx.id, resource_type)?);
                stored
            }
        }
    };
    let item_schema = cx
        .op
        .response()
        .and_then(|s| s.prop(cx.op.item_name))
        .and_then(|p| p.schema().items());
    let mut shaped_items = Vec::with_capacity(items.len());
    for mut v in items {
        if let Some(t) = v["type"].as_str().map(str::to_string) {
            fill_computed(cx.state, &t, &mut v)?;
        }
        shaped_items.push(match item_schema {
            Some(s) => spec::shape(s, &v),
            None => v,
        });
    }
    let items = shaped_items;
    Ok(json_response(
        StatusCode::OK,
        &crate::arm::paging::page(items, cx.req),
    ))
}

fn inline_field_of(parent: &ResourceId, word: &str) -> Option<&'static str> {
    inline_field(resource_schema(&parent.resource_type())?, word)
}
