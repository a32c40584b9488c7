//! The ARM front door and the resource providers behind it.
//!
//! Every ARM request takes the same path:
//! 1. [`handle`] reads the request, parses the path into a [`Route`] (ARM paths
//!    are case-insensitive and have `//` in them, so there is one parser rather
//!    than an axum route per shape), authenticates the bearer token and settles
//!    due long-running operations;
//! 2. [`dispatch`] checks the subscription and resource group exist and hands
//!    the request to the provider module that owns the route;
//! 3. the provider's operation reads and writes the store and returns a response;
//! 4. [`handle`] adds ARM's headers (`x-ms-request-id`, correlation ids).

pub mod authorization;
pub mod beside;
pub mod by_spec;
pub mod container_instance;
pub mod container_registry;
pub mod identity;
pub mod managed_identity;
pub mod network;
pub mod resources;

use crate::arm::lro::OperationKind;
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::runtime::scheduler::Finish;
use crate::state::AppState;
use crate::web::{self, MAX_BODY};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

/// What an ARM path names.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `/subscriptions`
    Subscriptions,
    /// `/tenants`
    Tenants,
    /// `/providers`: every namespace, at tenant scope
    TenantProviders,
    /// `/providers/{ns}`
    TenantProvider(String),
    /// `/providers/{ns}/operations`: what the namespace's operations are
    ProviderOperations(String),
    /// `/subscriptions/{s}`
    Subscription(ResourceId),
    /// `/subscriptions/{s}/locations`
    Locations(ResourceId),
    /// `/subscriptions/{s}/resourcegroups`
    ResourceGroups(ResourceId),
    /// `/subscriptions/{s}/resourcegroups/{rg}`
    ResourceGroup(ResourceId),
    /// `/subscriptions/{s}/resourcegroups/{rg}/exportTemplate`
    ResourceGroupExport(ResourceId),
    /// `{S}/resources`, `{RG}/resources`
    GenericResources(ResourceId),
    /// `{S}/providers`
    Providers(ResourceId),
    /// `{S}/providers/{ns}`
    Provider(ResourceId, String),
    /// `{S}/providers/{ns}/register|unregister`
    ProviderAction(ResourceId, String, String),
    /// `{S}/operationresults/{id}`: Location polling
    OperationResult(ResourceId, String),
    /// `{S}/providers/{ns}/locations/{loc}/operationStatuses/{id}`: Azure-AsyncOperation polling
    OperationStatus(ResourceId, String),
    /// `{scope}/providers/{ns}/{type}`: a collection a provider owns
    Collection {
        scope: ResourceId,
        namespace: String,
        resource_type: String,
    },
    /// `{id}` or `{id}/{child-collection-or-action}` inside a provider
    Resource {
        id: ResourceId,
        tail: Option<String>,
    },
}

/// Segment `i` of `path` as sent (not lower-cased).
fn original(path: &str, i: usize) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .nth(i)
        .unwrap_or_default()
        .to_string()
}

impl Route {
    pub fn parse(path: &str) -> Option<Route> {
        let segs: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase())
            .collect();
        match segs
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["subscriptions"] => return Some(Route::Subscriptions),
            ["tenants"] => return Some(Route::Tenants),
            ["providers"] => return Some(Route::TenantProviders),
            ["providers", _] => {
                return Some(Route::TenantProvider(original(path, 1)));
            }
            ["providers", _, "operations"] => {
                return Some(Route::ProviderOperations(original(path, 1)));
            }
            _ => {}
        }
        let (id, rest) = ResourceId::parse_prefix(path)?;
        let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
        let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
        if id.providers.is_empty() {
            return match (id.resource_group.is_some(), lower.as_slice()) {
                (false, []) => Some(Route::Subscription(id)),
                (false, ["resourcegroups"]) => Some(Route::ResourceGroups(id)),
                (false, ["locations"]) => Some(Route::Locations(id)),
                (false, ["providers"]) => Some(Route::Providers(id)),
                (false, ["providers", _]) => Some(Route::Provider(id, rest[1].clone())),
                (false, ["providers", _, "register" | "unregister"]) => Some(
                    Route::ProviderAction(id, rest[1].clone(), lower[2].to_string()),
                ),
                (false, ["operationresults", _]) => {
                    Some(Route::OperationResult(id, rest[1].clone()))
                }
                (true, []) => Some(Route::ResourceGroup(id)),
                (true, ["exporttemplate"]) => Some(Route::ResourceGroupExport(id)),
                // ARM's own types under a resource group where the specs spell
                // them without their namespace (DeploymentOperations keep that
                // pre-provider path: `{RG}/deployments/{name}/operations[/{id}]`).
                (true, [t, _, ..]) if *t != "providers" && spelled_short(path) => {
                    let full: ResourceId = format!(
                        "{id}/providers/Microsoft.Resources/{}",
                        rest[..rest.len() - rest.len() % 2].join("/")
                    )
                    .parse()
                    .ok()?;
                    Some(Route::Resource {
                        id: full,
                        tail: (rest.len() % 2 == 1).then(|| rest[rest.len() - 1].clone()),
                    })
                }
                (_, ["resources"]) => Some(Route::GenericResources(id)),
                (_, ["providers", _, _]) => Some(Route::Collection {
                    scope: id,
                    namespace: rest[1].clone(),
                    resource_type: rest[2].clone(),
                }),
                _ => None,
            };
        }
        let p = &id.providers[0];
        if id.resource_group.is_none()
            && id.providers.len() == 1
            && p.types.len() == 2
            && p.types[0].0.eq_ignore_ascii_case("locations")
            && ["operationstatuses", "operationresults"]
                .contains(&p.types[1].0.to_ascii_lowercase().as_str())
            && rest.is_empty()
        {
            let op = p.types[1].1.clone();
            return Some(Route::OperationStatus(
                ResourceId::subscription(&id.subscription),
                op,
            ));
        }
        match lower.as_slice() {
            [] => Some(Route::Resource { id, tail: None }),
            [_] => Some(Route::Resource {
                id,
                tail: Some(rest[0].clone()),
            }),
            ["providers", _, _] => Some(Route::Collection {
                scope: id,
                namespace: rest[1].clone(),
                resource_type: rest[2].clone(),
            }),
            _ => None,
        }
    }
}

/// Whether an operation of the specs has `path` (any method).
fn spelled_short(path: &str) -> bool {
    ["GET", "PUT", "PATCH", "DELETE", "POST", "HEAD"]
        .iter()
        .any(|m| crate::arm::spec::find_for(m, path, None).is_some())
}

/// The ARM catch-all handler.
pub async fn handle(State(state): State<AppState>, req: Request<Body>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let correlation = req
        .headers()
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let client_request_id = req.headers().get("x-ms-client-request-id").cloned();
    let return_client_id = req
        .headers()
        .get("x-ms-return-client-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let is_head = req.method() == Method::HEAD;

    let mut resp = match front_door(&state, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(code = e.code, status = %e.status, message = %e.message, "ARM error");
            e.into_response()
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-ms-request-id", v.clone());
        h.insert("x-ms-routing-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&correlation) {
        h.insert("x-ms-correlation-request-id", v);
    }
    if return_client_id && let Some(v) = client_request_id {
        h.insert("x-ms-client-request-id", v);
    }
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    if is_head {
        *resp.body_mut() = Body::empty();
    }
    resp
}

async fn front_door(state: &AppState, req: Request<Body>) -> Result<Response, ArmError> {
    let (parts, body) = req.into_parts();
    let path = crate::web::percent_decode(parts.uri.path());
    let Some(route) = Route::parse(&path) else {
        return Err(ArmError::no_route(&path));
    };
    let now = state.clock.now();
    let principal =
        crate::arm::auth::authenticate(&state.tokens, &state.tenant.id, &parts.headers, now)?;
    if let Some(who) = parts.extensions.get::<crate::web::Who>() {
        who.set(principal.object_id.clone());
    }
    let body = read_body(body).await?;
    let query: Vec<(String, String)> = serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
        .map_err(|_| ArmError::invalid_request_content("The query string is malformed."))?;
    let req = ArmRequest {
        method: parts.method.clone(),
        base: web::base_url(&parts),
        path,
        query,
        headers: parts.headers,
        body,
        principal,
        now,
        strict_api_versions: state.config.strict_api_versions,
        nesting: None,
    };
    // A read with nothing to settle commits nothing: answered here, without a
    // hand-off. Settling and writing handlers are synchronous store work (a
    // writing request is one transaction, and its commit fsyncs): on the
    // blocking pool, whole.
    if matches!(req.method, Method::GET | Method::HEAD)
        && !crate::maintenance::due(state)
        && !crate::runtime::scheduler::may_be_due(state)
    {
        return dispatch(state, &req, route);
    }
    let state = state.clone();
    crate::web::blocking(move || {
        settle(&state, false)?;
        dispatch(&state, &req, route)
    })
    .await
}

async fn read_body(body: Body) -> Result<bytes::Bytes, ArmError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(ArmError::request_too_large(MAX_BODY)),
    }
}

/// A request that can write (anything but GET and HEAD) runs in one store
/// transaction: every row its handler writes — the resource, its principal,
/// child rows, the operation to poll — commits together when it answers, and
/// none of them when it fails (an error, or a panic).
fn dispatch(state: &AppState, req: &ArmRequest, route: Route) -> Result<Response, ArmError> {
    if matches!(req.method, Method::GET | Method::HEAD) {
        return route_request(state, req, route);
    }
    state
        .store
        .transaction(|_| route_request(state, req, route))
}

fn route_request(state: &AppState, req: &ArmRequest, route: Route) -> Result<Response, ArmError> {
    use resources as r;
    if let Some(sub) = route_subscription(&route) {
        r::subscriptions::require(state, sub)?;
    }
    // Authorization comes before existence: a caller without access learns nothing.
    authorize_route(state, req, &route)?;
    if req.method == Method::DELETE
        && let Some(resp) = delete_unreadable(state, &route)?
    {
        return Ok(resp);
    }
    check_body_shape(state, req, &route)?;
    // What no hand-written provider serves, the spec table does.
    match route_provider(state, req, route) {
        Err(e) if e.code == "InvalidResourceType" || e.code == "InvalidResourceNamespace" => {
            by_spec::serve_or(state, req, e)
        }
        other => other,
    }
}

/// The hand-written providers: the resource types azemu has Azure's rules for.
fn route_provider(state: &AppState, req: &ArmRequest, route: Route) -> Result<Response, ArmError> {
    use resources as r;
    match route {
        Route::Subscriptions => r::subscriptions::subscriptions_list(state, req),
        Route::Tenants => r::subscriptions::tenants_list(state, req),
        Route::TenantProviders => r::registrations::tenant_providers_list(req),
        Route::TenantProvider(ns) => r::registrations::tenant_provider_get(req, &ns),
        Route::ProviderOperations(ns) => r::registrations::provider_operations(req, &ns),
        Route::Subscription(id) => r::subscriptions::subscriptions_get(state, req, &id),
        Route::Locations(id) => r::subscriptions::subscriptions_list_locations(state, req, &id),
        Route::ResourceGroups(id) => r::resource_groups::resource_groups_list(state, req, &id),
        Route::ResourceGroup(id) => r::resource_groups::dispatch(state, req, &id),
        Route::ResourceGroupExport(id) => r::export::export_template(state, req, &id),
        Route::GenericResources(scope) => {
            if scope.resource_group.is_some() {
                r::resource_groups::require(state, &scope)?;
            }
            r::generic::resources_list(state, req, &scope)
        }
        Route::Providers(id) => r::registrations::providers_list(state, req, &id),
        Route::Provider(id, ns) => r::registrations::providers_get(state, req, &id, &ns),
        Route::ProviderAction(id, ns, action) => {
            r::registrations::providers_action(state, req, &id, &ns, &action)
        }
        Route::OperationResult(_, op) => r::operations::operation_result(state, req, &op),
        Route::OperationStatus(_, op) => r::operations::operation_status(state, req, &op),
        Route::Collection {
            scope,
            namespace,
            resource_type,
        } => {
            if scope.resource_group.is_some() {
                r::resource_groups::require(state, &scope)?;
            }
            match namespace.to_ascii_lowercase().as_str() {
                "microsoft.authorization" => {
                    authorization::collection(state, req, &scope, &resource_type)
                }
                _ => Err(unknown_type(req, &namespace, &resource_type)),
            }
        }
        Route::Resource { id, tail } => {
            if id.resource_group.is_some() {
                r::resource_groups::require(state, &id)?;
            }
            let Some(last) = id.providers.last() else {
                return Err(ArmError::no_route(&req.path));
            };
            let ns = &last.namespace;
            if ns.eq_ignore_ascii_case("microsoft.containerregistry") {
                return container_registry::resource(state, req, &id, tail.as_deref());
            }
            let ty = match &tail {
                Some(t) => format!(
                    "{}/{t}",
                    id.resource_type()
                        .split_once('/')
                        .map(|x| x.1)
                        .unwrap_or_default()
                ),
                None => id
                    .resource_type()
                    .split_once('/')
                    .map(|x| x.1.to_string())
                    .unwrap_or_default(),
            };
            Err(unknown_type(req, ns, &ty))
        }
    }
}

/// `DELETE` of a resource (or resource group) whose stored row cannot be read
/// (an older version's row, or a damaged one): no provider can act on it, so
/// it goes here, with everything under it — 200, no body. `None` when the row
/// reads (or is absent): the provider deletes it as usual.
fn delete_unreadable(state: &AppState, route: &Route) -> Result<Option<Response>, ArmError> {
    use crate::store::{StoreError, tables};
    let id = match route {
        Route::ResourceGroup(id) | Route::Resource { id, tail: None } => id,
        _ => return Ok(None),
    };
    let key = id.key();
    let mut unreadable = false;
    for table in [
        tables::RESOURCES,
        tables::DEPLOYMENTS,
        tables::ROLE_ASSIGNMENTS,
    ] {
        if let Err(StoreError::Unreadable { .. }) = state.store.get(table, &key) {
            state.store.delete(table, &key)?;
            unreadable = true;
        }
    }
    if !unreadable {
        return Ok(None);
    }
    tracing::warn!(resource = %id, "deleted a resource whose stored state was unreadable");
    remove_within(state, id)?;
    Ok(Some(http::StatusCode::OK.into_response()))
}

/// Remove every row under `id` (resources, role assignments, deployments,
/// registry credentials), readable or not, and the principals of the managed
/// identities that lived there.
pub(crate) fn remove_within(state: &AppState, id: &ResourceId) -> Result<(), ArmError> {
    use crate::store::tables;
    let key = id.key();
    let under = format!("{key}/");
    let now = state.clock.now();
    for k in state.store.keys(tables::RESOURCES, &under)? {
        // A row that reads goes through its type's `on_removed` (a registry's
        // content, a vault's soft delete); one that does not just goes.
        let row = state.store.get(tables::RESOURCES, &k).ok().flatten();
        state.store.delete(tables::RESOURCES, &k)?;
        if let Some(row) = row
            && let Some(rid) = row["id"]
                .as_str()
                .and_then(|i| i.parse::<ResourceId>().ok())
        {
            by_spec::removed(&by_spec::Removal {
                state,
                id: &rid,
                row: &row,
                now,
                req: None,
            })?;
        }
    }
    for k in state.store.keys(tables::ACR_CREDENTIALS, &key)? {
        if k == key || k.starts_with(&under) {
            state.store.delete(tables::ACR_CREDENTIALS, &k)?;
        }
    }
    for k in state.store.keys(tables::ROLE_ASSIGNMENTS, &under)? {
        crate::authz::access::delete_assignment(state, &k)?;
    }
    state.directory.delete_identities_within(&id.to_string())?;
    by_spec::remove_rows_within(state, &key)?;
    Ok(())
}

/// A write's body against the shape Azure's spec gives it ([`crate::arm::shapes`]):
/// fields of the wrong kind are refused here, so providers never meet them.
fn check_body_shape(state: &AppState, req: &ArmRequest, route: &Route) -> Result<(), ArmError> {
    if !matches!(req.method, Method::PUT | Method::PATCH | Method::POST)
        || req.body.iter().all(u8::is_ascii_whitespace)
        || !matches!(
            route,
            Route::ResourceGroup(_) | Route::Resource { .. } | Route::Collection { .. }
        )
    {
        return Ok(());
    }
    // A body that does not parse is the provider's to refuse, in its words.
    let Ok(body) = req.json_body() else {
        return Ok(());
    };
    let (method, version) = (req.method.as_str(), req.query("api-version"));
    let Some((op, _)) = crate::arm::spec::find_for(method, &req.path, version) else {
        // Under a `{scope}` of any depth (role assignments, tags): the kinds only
        // (the rest of the schema is the hand-written provider's, in its words).
        return match crate::arm::spec::find_scoped(method, &req.path, version) {
            Some(crate::arm::spec::Op {
                body: Some(schema), ..
            }) => crate::arm::shapes::check_spec(*schema, &body, &req.body),
            _ => Ok(()),
        };
    };
    let Some(schema) = op.body else {
        return Ok(());
    };
    // The operation's schema — wrong JSON kinds, closed enums, create-only
    // properties, linked ids — for hand-written providers too (they read the
    // body as sent).
    let existing = match route {
        Route::Resource { id, tail: None } if req.method != Method::POST => {
            state.resources().get(id)?
        }
        _ => None,
    };
    crate::arm::spec::validate_for_provider(schema, &body, &req.body, existing.as_ref())
}

/// An ARM call made by the emulator itself on behalf of `principal` (a
/// template deployment's caller): the same route, authorization and provider
/// code as a client's request, minus the token (the caller's was checked when
/// the deployment was accepted).
#[derive(Clone)]
pub(crate) struct InternalCall<'a> {
    pub principal: &'a crate::entra::Principal,
    pub base: &'a str,
    pub correlation_id: &'a str,
    /// Set when the call is a nested deployment's PUT.
    pub nesting: Option<crate::arm::request::Nesting>,
}

pub(crate) struct InternalResponse {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

impl InternalCall<'_> {
    pub fn call(
        &self,
        state: &AppState,
        method: Method,
        path: &str,
        api_version: &str,
        body: Option<&serde_json::Value>,
    ) -> InternalResponse {
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(self.correlation_id) {
            headers.insert("x-ms-correlation-request-id", v);
        }
        let req = ArmRequest {
            method,
            base: web::BaseUrl(self.base.to_string()),
            path: path.to_string(),
            query: vec![("api-version".to_string(), api_version.to_string())],
            headers,
            body: body
                .map(|b| bytes::Bytes::from(b.to_string()))
                .unwrap_or_default(),
            principal: self.principal.clone(),
            now: state.clock.now(),
            strict_api_versions: state.config.strict_api_versions,
            nesting: self.nesting.clone(),
        };
        let resp = match Route::parse(path) {
            Some(route) => dispatch(state, &req, route).unwrap_or_else(|e| e.into_response()),
            None => ArmError::no_route(path).into_response(),
        };
        let (parts, body) = resp.into_parts();
        // Provider responses are complete in memory: one poll collects them.
        let mut fut = std::pin::pin!(body.collect());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let bytes = match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(c)) => c.to_bytes(),
            _ => bytes::Bytes::new(),
        };
        InternalResponse {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Every ARM operation azemu serves, as `METHOD path-template`. `GET
/// /_emulator/routes` publishes it, and `tests/all/route_authz.rs` calls each
/// one without a token and as a principal with no role; the operations it has
/// no case for are kept in `fixtures/golden/arm-routes-without-authz-test.txt`,
/// which must stay empty.
pub const OPERATIONS: &[&str] = &[
    "GET /subscriptions",
    "GET /tenants",
    "GET /providers",
    "GET /providers/{ns}",
    "GET /providers/{ns}/operations",
    "GET /subscriptions/{sub}",
    "GET /subscriptions/{sub}/locations",
    "GET /subscriptions/{sub}/resourcegroups",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}",
    "HEAD /subscriptions/{sub}/resourcegroups/{rg}",
    "PATCH /subscriptions/{sub}/resourcegroups/{rg}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/exportTemplate",
    "GET /subscriptions/{sub}/resources",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/resources",
    "GET /subscriptions/{sub}/providers",
    "GET /subscriptions/{sub}/providers/{ns}",
    "POST /subscriptions/{sub}/providers/{ns}/register",
    "POST /subscriptions/{sub}/providers/{ns}/unregister",
    "GET /subscriptions/{sub}/operationresults/{op}",
    "GET /subscriptions/{sub}/providers/{ns}/locations/{loc}/operationStatuses/{op}",
    "GET /subscriptions/{sub}/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
    "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
    "POST /subscriptions/{sub}/providers/Microsoft.ContainerRegistry/checkNameAvailability",
    "GET /subscriptions/{sub}/providers/Microsoft.ContainerRegistry/registries",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}",
    "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/listCredentials",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/regenerateCredential",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps/{map}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps/{map}",
    "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps/{map}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps/{map}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens/{token}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens/{token}",
    "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens/{token}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens/{token}",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/generateCredentials",
    "GET /subscriptions/{sub}/providers/Microsoft.ContainerInstance/containerGroups",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
    "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}/start",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}/stop",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}/restart",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}/containers/{container}/logs",
    "GET /subscriptions/{sub}/providers/Microsoft.Network/virtualNetworks",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/subnets",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/subnets/{subnet}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/subnets/{subnet}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/subnets/{subnet}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/virtualNetworkLinks/{link}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/virtualNetworkLinks/{link}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/virtualNetworkLinks/{link}",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/A/{record}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/A/{record}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/A/{record}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateEndpointConnections",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateEndpointConnections/{connection}",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateEndpointConnections/{connection}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateEndpointConnections/{connection}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateLinkResources",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/virtualNetworkPeerings/{peering}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/virtualNetworkPeerings/{peering}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/virtualNetworkPeerings/{peering}",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}/privateDnsZoneGroups/{group}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}/privateDnsZoneGroups/{group}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}/privateDnsZoneGroups/{group}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/A",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/virtualNetworkLinks",
    "GET {scope}/providers/Microsoft.Authorization/roleAssignments",
    "PUT {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}",
    "GET {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}",
    "DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}",
    "GET {scope}/providers/Microsoft.Authorization/permissions",
    "GET {scope}/providers/Microsoft.Authorization/roleDefinitions",
    "PUT {scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
    "GET {scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
    "DELETE {scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}",
    "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}/listDetails",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scheduleRun",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/listBuildSourceUploadUrl",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs/{run}",
    "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs/{run}",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs/{run}/cancel",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs/{run}/listLogSasUrl",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns/{taskRun}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns/{taskRun}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns/{taskRun}",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns/{taskRun}/listDetails",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments",
    "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
    "HEAD /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
    "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}/validate",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}/whatIf",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}/cancel",
    "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}/exportTemplate",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/deployments/{name}/operations",
    "GET /subscriptions/{sub}/resourcegroups/{rg}/deployments/{name}/operations/{op}",
    "GET /subscriptions/{sub}/providers/Microsoft.Resources/deployments",
    "PUT /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}",
    "GET /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}",
    "DELETE /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}",
    "POST /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/validate",
    "POST /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/whatIf",
    "POST /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/cancel",
    "GET /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/operations",
];

/// The control-plane action an ARM request needs, and the scope it is checked at.
/// Lists filter their items instead, and Microsoft.Authorization checks inside
/// its handlers (its scope is the resource it extends). `None`: nothing to check
/// beyond authentication (subscription reads filter by access, operation polls).
pub fn required_action(req: &ArmRequest, route: &Route) -> Option<(String, String)> {
    let verb = |m: &Method| match *m {
        Method::GET | Method::HEAD => "read",
        Method::DELETE => "delete",
        _ => "write",
    };
    match route {
        Route::ResourceGroup(id) => Some((
            format!(
                "Microsoft.Resources/subscriptions/resourceGroups/{}",
                verb(&req.method)
            ),
            id.to_string(),
        )),
        Route::ResourceGroupExport(id) => Some((
            "Microsoft.Resources/subscriptions/resourceGroups/exportTemplate/action".to_string(),
            id.to_string(),
        )),
        Route::ProviderAction(sub, ns, action) => {
            Some((format!("{ns}/{action}/action"), sub.to_string()))
        }
        Route::Providers(sub) | Route::Provider(sub, _) => Some((
            "Microsoft.Resources/subscriptions/providers/read".to_string(),
            sub.to_string(),
        )),
        Route::Resource { id, tail } => {
            let last = id.providers.last()?;
            if last
                .namespace
                .eq_ignore_ascii_case(authorization::NAMESPACE)
            {
                return None;
            }
            let ty = id.resource_type();
            Some(match (tail, &req.method) {
                (None, m) => (format!("{ty}/{}", verb(m)), id.to_string()),
                (Some(t), &Method::POST) => (format!("{ty}/{t}/action"), id.to_string()),
                (Some(t), m) => (format!("{ty}/{t}/{}", verb(m)), id.to_string()),
            })
        }
        Route::Collection {
            scope,
            namespace,
            resource_type,
        } => {
            if namespace.eq_ignore_ascii_case(authorization::NAMESPACE) {
                return None;
            }
            // Provider lists are checked at the scope they list; a POST there
            // is a provider action (`Microsoft.Resources/checkZonePeers/action`,
            // which Reader lacks), but for name checks, which Azure files as
            // reads (`Microsoft.ContainerRegistry/checkNameAvailability/read`).
            let kind = if req.method == Method::POST
                && !resource_type.eq_ignore_ascii_case("checkNameAvailability")
            {
                "action"
            } else {
                "read"
            };
            Some((
                format!("{namespace}/{resource_type}/{kind}"),
                scope.to_string(),
            ))
        }
        Route::Subscriptions
        | Route::Tenants
        | Route::TenantProviders
        | Route::TenantProvider(_)
        | Route::ProviderOperations(_)
        | Route::Subscription(_)
        | Route::Locations(_)
        | Route::ResourceGroups(_)
        | Route::GenericResources(_)
        | Route::OperationResult(..)
        | Route::OperationStatus(..) => None,
    }
}

fn authorize_route(state: &AppState, req: &ArmRequest, route: &Route) -> Result<(), ArmError> {
    match required_action(req, route) {
        Some((action, scope)) => crate::authz::access::require(state, req, &action, &scope),
        None => Ok(()),
    }
}

/// A resource route inside a resource group whose top-level type is `top_type`
/// (`registries`, `containerGroups`, `virtualNetworks`): the top-level resource's
/// id and the child `(type, name)` below it, if any. `None` when the id is
/// not of that shape (the caller answers ARM's unknown-type error).
pub fn top_level<'a>(
    id: &'a ResourceId,
    top_type: &str,
) -> Option<(ResourceId, Option<(String, &'a str)>)> {
    let section = id
        .providers
        .first()
        .filter(|_| id.providers.len() == 1 && id.resource_group.is_some())?;
    if !section.types[0].0.eq_ignore_ascii_case(top_type) || section.types.len() > 2 {
        return None;
    }
    let mut top = id.clone();
    top.providers.first_mut()?.types.truncate(1);
    let child = section
        .types
        .get(1)
        .map(|(t, n)| (t.to_ascii_lowercase(), n.as_str()));
    Some((top, child))
}

/// `GET {scope}/providers/{ns}/{type}`: the tracked resources of `resource_type`
/// under `scope` that the caller may read, rendered, paged.
pub fn list_tracked(
    state: &AppState,
    req: &ArmRequest,
    scope: &ResourceId,
    resource_type: &str,
    render: fn(&serde_json::Value) -> serde_json::Value,
) -> Result<Response, ArmError> {
    req.api_version(resource_type)?;
    if req.method != Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let items: Vec<serde_json::Value> = state
        .resources()
        .in_scope(scope, resource_type)?
        .into_iter()
        .filter(|v| caller_may_read(state, req, v))
        .map(|v| render(&v))
        .collect();
    Ok(json_response(
        http::StatusCode::OK,
        &crate::arm::paging::page(items, req),
    ))
}

/// For list handlers: may the caller read this stored resource (`{type}/read` on its id)?
pub fn caller_may_read(state: &AppState, req: &ArmRequest, resource: &serde_json::Value) -> bool {
    let (Some(id), Some(ty)) = (resource["id"].as_str(), resource["type"].as_str()) else {
        return false;
    };
    let action = if ty.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") {
        "Microsoft.Resources/subscriptions/resourceGroups/read".to_string()
    } else {
        format!("{ty}/read")
    };
    crate::authz::access::allows(state, &req.principal, &action, id).unwrap_or(false)
}

/// A namespace or type no provider module serves (yet): ARM's own answer for
/// types that don't exist.
pub(crate) fn unknown_type(req: &ArmRequest, namespace: &str, resource_type: &str) -> ArmError {
    if resources::registrations::catalog(namespace).is_none() {
        return ArmError::invalid_resource_namespace(namespace);
    }
    let v = req.query("api-version").unwrap_or_default();
    ArmError::invalid_resource_type(resource_type, namespace, v)
}

fn route_subscription(route: &Route) -> Option<&str> {
    match route {
        Route::Subscriptions
        | Route::Tenants
        | Route::TenantProviders
        | Route::TenantProvider(_)
        | Route::ProviderOperations(_) => None,
        Route::Subscription(id)
        | Route::Locations(id)
        | Route::ResourceGroups(id)
        | Route::ResourceGroup(id)
        | Route::ResourceGroupExport(id)
        | Route::GenericResources(id)
        | Route::Providers(id)
        | Route::Provider(id, _)
        | Route::ProviderAction(id, _, _)
        | Route::OperationResult(id, _)
        | Route::OperationStatus(id, _)
        | Route::Collection { scope: id, .. }
        | Route::Resource { id, .. } => Some(&id.subscription),
    }
}

/// Settle what is due: long-running operations whose time has come (or all
/// of them, when `force`: `POST /_emulator/step`), task-run pick-ups, timer
/// triggers, deployments' rounds and the pruning of old operations, found
/// through the scheduler's queue ([`crate::runtime::scheduler`]). When
/// nothing is due this takes no lock and writes nothing. Returns how many
/// operations finished.
pub fn settle(state: &AppState, force: bool) -> Result<usize, ArmError> {
    // Housekeeping (abandoned uploads, tombstones, build contexts), when a
    // sweep is due; otherwise a clock read and an atomic load.
    crate::maintenance::run_if_due(state);
    crate::runtime::scheduler::settle(state, force, &WORK)
}

/// What the scheduler's due work does: the providers that started it carry it out.
const WORK: crate::runtime::scheduler::Work = crate::runtime::scheduler::Work {
    finish: finish_operation_work,
    advance_deployment: resources::deployments::engine::advance,
    deployment_follows: resources::deployments::engine::followed,
};

/// What finishing an operation of `kind` does (its deadline has passed, or
/// step): the provider that started it carries it out. The scheduler commits
/// this and the operation's end together; a task run that builds in the
/// container engine goes on away from the settle ([`Finish::Later`]).
fn finish_operation_work(state: &AppState, kind: &OperationKind) -> Finish {
    Finish::Done(match kind {
        OperationKind::DeleteResourceGroup { resource_group_id } => {
            resources::resource_groups::finish_delete(state, resource_group_id)
        }
        OperationKind::Provision { resource_id } => finish_provisioning(state, resource_id),
        OperationKind::FailProvisioning { resource_id } => fail_provisioning(state, resource_id),
        // Finished by the deployment engine, never by the clock.
        OperationKind::Deployment { .. } => Ok(()),
        OperationKind::TaskRun { run_key } => {
            return crate::runtime::task_runs::finish(state, run_key);
        }
        // The export was made when asked for; the operation only hands it over.
        OperationKind::ExportTemplate { .. } => Ok(()),
    })
}

/// A provisioning operation finished: the resource (if still there) is `Succeeded`.
fn finish_provisioning(state: &AppState, resource_id: &str) -> Result<(), ArmError> {
    let key = resource_id.to_ascii_lowercase();
    if let Some(mut row) = state.store.get(crate::store::tables::RESOURCES, &key)? {
        row["properties"]["provisioningState"] = serde_json::json!("Succeeded");
        state
            .store
            .put(crate::store::tables::RESOURCES, &key, row)?;
    }
    Ok(())
}

/// A provisioning operation that fails: the resource shows `Failed`, and the
/// operation carries the first failure event's text.
fn fail_provisioning(state: &AppState, resource_id: &str) -> Result<(), ArmError> {
    let key = resource_id.to_ascii_lowercase();
    let mut message = "The container group failed to start.".to_string();
    if let Some(mut row) = state.store.get(crate::store::tables::RESOURCES, &key)? {
        row["properties"]["provisioningState"] = serde_json::json!("Failed");
        row["properties"]["instanceView"]["state"] = serde_json::json!("Failed");
        if let Some(m) = container_instance::groups::pull_failure(&row) {
            message = m.to_string();
        }
        state
            .store
            .put(crate::store::tables::RESOURCES, &key, row)?;
    }
    Err(ArmError::new(
        http::StatusCode::BAD_REQUEST,
        "ContainerGroupDeploymentFailed",
        message,
    ))
}

pub(crate) fn json_response(status: http::StatusCode, body: &serde_json::Value) -> Response {
    (status, axum::Json(body.clone())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ResourceId {
        s.parse().unwrap()
    }

    /// Request paths as clients send them → what they name (a table, garage-style).
    #[test]
    fn route_table() {
        let cases: Vec<(&str, Route)> = vec![
            ("/subscriptions", Route::Subscriptions),
            ("/tenants", Route::Tenants),
            (
                "/subscriptions/s",
                Route::Subscription(id("/subscriptions/s")),
            ),
            (
                "/subscriptions/s/resourcegroups",
                Route::ResourceGroups(id("/subscriptions/s")),
            ),
            (
                "/subscriptions/s/resourceGroups/rg",
                Route::ResourceGroup(id("/subscriptions/s/resourceGroups/rg")),
            ),
            (
                "/subscriptions/s/resources",
                Route::GenericResources(id("/subscriptions/s")),
            ),
            (
                "/subscriptions/s/resourceGroups/rg/resources",
                Route::GenericResources(id("/subscriptions/s/resourceGroups/rg")),
            ),
            (
                "/subscriptions/s/providers",
                Route::Providers(id("/subscriptions/s")),
            ),
            (
                "/subscriptions/s/providers/Microsoft.X",
                Route::Provider(id("/subscriptions/s"), "Microsoft.X".into()),
            ),
            (
                "/subscriptions/s/providers/Microsoft.X/register",
                Route::ProviderAction(
                    id("/subscriptions/s"),
                    "Microsoft.X".into(),
                    "register".into(),
                ),
            ),
            (
                "/subscriptions/s/operationresults/abc",
                Route::OperationResult(id("/subscriptions/s"), "abc".into()),
            ),
            (
                "/subscriptions/s/providers/Microsoft.X/locations/eastus/operationStatuses/op1",
                Route::OperationStatus(id("/subscriptions/s"), "op1".into()),
            ),
            (
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance//containerGroups/cg",
                Route::Resource {
                    id: id(
                        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/cg",
                    ),
                    tail: None,
                },
            ),
            (
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r/listCredentials",
                Route::Resource {
                    id: id(
                        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r",
                    ),
                    tail: Some("listCredentials".into()),
                },
            ),
            (
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries",
                Route::Collection {
                    scope: id("/subscriptions/s/resourceGroups/rg"),
                    namespace: "Microsoft.ContainerRegistry".into(),
                    resource_type: "registries".into(),
                },
            ),
        ];
        for (path, want) in cases {
            assert_eq!(Route::parse(path), Some(want), "{path}");
        }
        for bad in ["/", "/foo", "/subscriptions/s/whatever/x/y"] {
            assert_eq!(Route::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(crate::web::percent_decode("/a%20b/%zz/%4"), "/a b/%zz/%4");
    }
}
