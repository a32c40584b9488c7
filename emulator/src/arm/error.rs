//! The ARM error catalog: every error ARM answers with, as a named
//! constructor carrying Azure's code, status and wording.
//! Wire shape: `{"error":{"code","message","target"?,"details"?}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct ArmError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<Value>,
    /// `additionalInfo`: `[{"type", "info"}]` (template errors carry a `TemplateViolation`).
    pub additional_info: Vec<Value>,
    /// Set on 401s: `WWW-Authenticate: Bearer authorization_uri=…, error=…, error_description=…`.
    pub www_authenticate: Option<String>,
}

impl ArmError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ArmError {
            status,
            code,
            message: message.into(),
            target: None,
            details: Vec::new(),
            additional_info: Vec::new(),
            www_authenticate: None,
        }
    }

    pub fn body(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(t) = &self.target {
            e["target"] = json!(t);
        }
        if !self.details.is_empty() {
            e["details"] = json!(self.details);
        }
        if !self.additional_info.is_empty() {
            e["additionalInfo"] = json!(self.additional_info);
        }
        json!({ "error": e })
    }

    // ---- request shape -------------------------------------------------

    pub fn missing_api_version() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    }

    pub fn invalid_api_version(version: &str, supported: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{version}' is invalid. The supported versions are '{supported}'."
            ),
        )
    }

    pub fn invalid_request_content(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{detail}'."),
        )
    }

    pub fn request_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestContentTooLarge",
            format!("The request content size exceeds the maximum allowed size of {limit} bytes."),
        )
    }

    pub fn headers_too_large(bytes: usize, limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "RequestHeaderFieldsTooLarge",
            format!("The request headers ({bytes} bytes) exceed the limit of {limit} bytes."),
        )
    }

    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "The content media type '{ct}' is not supported. Only 'application/json' is supported."
            ),
        )
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The requested resource does not support http method '{method}'."),
        )
    }

    pub fn invalid_resource_namespace(ns: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceNamespace",
            format!("The resource namespace '{ns}' is invalid."),
        )
    }

    pub fn invalid_resource_type(ty: &str, ns: &str, api_version: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceType",
            format!(
                "The resource type '{ty}' could not be found in the namespace '{ns}' for api version '{api_version}'."
            ),
        )
    }

    /// A property that links another resource and is not a resource id
    /// (`{"id": "x"}`, a string of format `arm-id`). Recorded in
    /// Azure/vm-scale-sets#52, Azure/azure-cli#30560, Azure/avdaccelerator#84.
    pub fn linked_invalid_property_id(id: &str, path: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "LinkedInvalidPropertyId",
            format!(
                "Property id '{id}' at path '{path}' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{{subscriptionId}}' or '/providers/{{resourceProviderNamespace}}/'."
            ),
        )
    }

    /// An api-version the type does not support (strict mode), as ARM words it
    /// for provider types: Azure/azure-cli#13834 ("The resource type
    /// 'loadBalancers' could not be found in the namespace 'Microsoft.Network'
    /// for api version '2020-04-01'. The supported api-versions are '…'.").
    pub fn unsupported_api_version_for_type(
        ty: &str,
        ns: &str,
        api_version: &str,
        supported: &str,
    ) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceType",
            format!(
                "The resource type '{ty}' could not be found in the namespace '{ns}' for api version '{api_version}'. The supported api-versions are '{supported}'."
            ),
        )
    }

    /// A provider type asked about in a region the provider is not in (ARM's
    /// routing answer, `../shared/notes/arm-conventions.md`); the supported
    /// locations by name, as ARM lists them.
    pub fn no_registered_provider(loc: &str, api_version: &str, ns: &str, ty: &str) -> Self {
        let versions =
            crate::arm::api_version::supported_versions(&format!("{ns}/{ty}")).join(", ");
        Self::new(
            StatusCode::BAD_REQUEST,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{loc}' and API version '{api_version}' for type '{ty}'. The supported api-versions are '{versions}'. The supported locations are '{}'.",
                crate::arm::locations::names()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }

    /// A path ARM does not route at all.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("The requested path '{path}' was not found."),
        )
        .with_target(path)
    }

    pub fn invalid_subscription_id(sub: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidSubscriptionId",
            format!("The provided subscription identifier '{sub}' is malformed or invalid."),
        )
    }

    // ---- not found -----------------------------------------------------

    pub fn subscription_not_found(sub: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        )
    }

    pub fn resource_group_not_found(rg: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
    }

    pub fn resource_not_found(ns_type_name: &str, rg: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The Resource '{ns_type_name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    pub fn provider_not_found(ns: &str) -> Self {
        Self::invalid_resource_namespace(ns)
    }

    /// A status URL (`operationresults`, `operationStatuses`) of an operation
    /// never known, or pruned after [`crate::arm::lro::RETENTION`]. The ARM RPC
    /// says 404 (async-api-reference.md, "Operation result rules": "If the
    /// operation ID does not exist … the resource provider should return a
    /// `404` response").
    // TODO-fidelity: the code and message are not from a recorded response
    // (searched: azure-cli recordings and issues for operationresults /
    // operationStatuses 404s, "OperationNotFound", "AsyncOperationNotFound",
    // "InvalidJobId", azure-resource-manager-rpc, learn.microsoft.com's async
    // operations page).
    pub fn operation_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "OperationNotFound",
            format!("The operation '{id}' could not be found."),
        )
    }

    // ---- resource groups -------------------------------------------------

    pub fn location_required() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "LocationRequired",
            "The location property is required for this definition.",
        )
    }

    pub fn invalid_resource_group_name(rg: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceGroup",
            format!(
                "The provided resource group name '{rg}' has these invalid characters: '{}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.",
                rg.chars()
                    .filter(|c| !valid_rg_char(*c))
                    .collect::<String>()
            ),
        )
    }

    pub fn resource_group_name_too_long(rg: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceGroup",
            format!(
                "The provided resource group name '{rg}' is too long. The name can be up to 90 characters long."
            ),
        )
    }

    pub fn invalid_resource_group_location(requested: &str, existing: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "InvalidResourceGroupLocation",
            format!(
                "Invalid resource group location '{requested}'. The Resource group already exists in location '{existing}'."
            ),
        )
    }

    pub fn resource_group_being_deleted(rg: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "ResourceGroupBeingDeleted",
            format!(
                "The resource group '{rg}' is in deprovisioning state and cannot perform this operation."
            ),
        )
    }

    pub fn invalid_location(loc: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "LocationNotAvailableForResourceGroup",
            format!(
                "The provided location '{loc}' is not available for resource group. List of available regions is '{}'.",
                crate::arm::locations::names_joined()
            ),
        )
    }

    // ---- preconditions, conflicts ------------------------------------------

    /// A tracked resource in a region Azure does not have.
    pub fn location_not_available(loc: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "LocationNotAvailableForResourceType",
            format!(
                "The provided location '{loc}' is not available for resource type. List of available regions for the resource type is '{}'.",
                crate::arm::locations::names_joined()
            ),
        )
    }

    pub fn invalid_resource_name(name: &str, ty: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceName",
            format!(
                "Resource name {name} is invalid. The name can be up to 128 characters long. It can contain only alphanumeric characters, hyphens and underscores, and must start with a letter or number (resource type {ty})."
            ),
        )
    }

    /// A PUT for an existing resource names a different region.
    pub fn invalid_resource_location(
        name: &str,
        existing: &str,
        requested: &str,
        rg: &str,
    ) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "InvalidResourceLocation",
            format!(
                "The resource '{name}' already exists in location '{existing}' in resource group '{rg}'. A resource with the same name cannot be created in location '{requested}'. Please select a new resource name."
            ),
        )
    }

    // ---- authorization (403) and Microsoft.Authorization (400/409) -------

    /// ARM's 403 (../shared/notes/acr-aci-semantics.md §6).
    pub fn authorization_failed(client: &str, object_id: &str, action: &str, scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{client}' with object id '{object_id}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        )
    }

    /// The caller may do `action` on `scope` but not `linked_action` on `linked_scope`.
    pub fn linked_authorization_failed(
        client: &str,
        object_id: &str,
        action: &str,
        scope: &str,
        linked_action: &str,
        linked_scope: &str,
    ) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "LinkedAuthorizationFailed",
            format!(
                "The client '{client}' with object id '{object_id}' has permission to perform action '{action}' on scope '{scope}'; however, it does not have permission to perform action(s) '{linked_action}' on the linked scope(s) '{linked_scope}' or the linked scope(s) are invalid."
            ),
        )
    }

    pub fn role_assignment_exists() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "RoleAssignmentExists",
            "The role assignment already exists.",
        )
    }

    pub fn principal_not_found(principal: &str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "PrincipalNotFound",
            format!(
                "Principal {} does not exist in the directory {tenant}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                principal.replace('-', "")
            ),
        )
    }

    pub fn role_definition_does_not_exist(guid: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{guid}' does not exist."),
        )
    }

    pub fn role_definition_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "RoleDefinitionDoesNotExist",
            "The specified role definition does not exist.",
        )
    }

    pub fn invalid_role_assignment_id(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRoleAssignmentId",
            format!(
                "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
            ),
        )
    }

    pub fn role_assignment_update_not_permitted() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "RoleAssignmentUpdateNotPermitted",
            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        )
    }

    pub fn role_assignment_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "RoleAssignmentNotFound",
            "The role assignment does not exist.",
        )
    }

    /// ARM's 403 for role-assignment writes and deletes, which name the
    /// assignment's id and allow for a delegation condition, whether a role
    /// was missing or its condition failed (the wording of
    /// conditions-troubleshoot.md "Symptom - Unable to assign a role", and of
    /// real refusals quoted from azurerm and SAP deployment logs).
    pub fn authorization_failed_or_condition(
        client: &str,
        object_id: &str,
        action: &str,
        scope: &str,
    ) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{client}' with object id '{object_id}' does not have authorization or an ABAC condition not fulfilled to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        )
    }

    /// A custom role write (or delete) allowed at the URL's scope but not at
    /// every assignable scope of the role. The wording is troubleshooting.md's
    /// "Symptom - Unable to create or update a custom role", verbatim (its
    /// missing spaces included; the linked scopes joined by commas).
    /// TODO-fidelity: the page quotes the message only; the code is inferred
    /// from the LinkedAuthorizationFailed wording.
    pub fn role_definition_linked_authorization_failed(
        client: &str,
        object_id: &str,
        action: &str,
        scope: &str,
        linked: &[String],
    ) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "LinkedAuthorizationFailed",
            format!(
                "The client '{client}' with object id '{object_id}' has permission to perform action '{action}' on scope '{scope}'; however, it does not have permission to perform action '{action}' on the linked scope(s)'{}' or the linked scope(s)are invalid",
                linked.join(",")
            ),
        )
    }

    pub fn cannot_modify_built_in_role() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "CannotModifyBuiltInRole",
            "Built-in roles cannot be modified or deleted.",
        )
    }

    pub fn role_definition_with_same_name_exists() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "RoleDefinitionWithSameNameExists",
            "A custom role with the same name already exists in this directory. Use a different name.",
        )
    }

    /// custom-roles.md "Find role assignments to delete a custom role" quotes
    /// "There are existing role assignments referencing role (code: RoleDefinitionHasAssignments)".
    /// TODO-fidelity: the status (409) is not quoted anywhere found.
    pub fn role_definition_has_assignments() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "RoleDefinitionHasAssignments",
            "There are existing role assignments referencing role",
        )
    }

    /// An update that drops an assignable scope under which the role is
    /// still assigned (the message as quoted in Azure/bicep#17145).
    /// TODO-fidelity: the status (409) is not quoted there.
    pub fn role_scope_being_removed_contains_assignments(scope: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "RoleScopeBeingRemovedContainsAssignments",
            format!(
                "Role assignments found under scope '{scope}' which is being removed. Removing this scope from the role will orphan these assignments. Delete these assignments before removing the scope."
            ),
        )
    }

    /// A custom role's assignable scope that is the root (`/`), has a
    /// wildcard, or is no ARM scope (custom-roles.md, "Custom role limits":
    /// "You cannot set AssignableScopes to the root scope" and "You cannot use
    /// wildcards (*) in AssignableScopes").
    /// TODO-fidelity: code and message invented; searched issues, docs and
    /// code for the service's answer to a root or wildcard assignable scope
    /// and found only the limits.
    pub fn invalid_assignable_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidAssignableScope",
            format!(
                "The assignable scope '{scope}' is not valid. A custom role's assignable scopes must be subscriptions, resource groups or resources; the root scope '/' and wildcards ('*') are not allowed."
            ),
        )
    }

    pub fn invalid_filter(raw: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidFilterInQueryString",
            format!("Invalid $filter '{raw}' specified in the query string."),
        )
    }

    pub fn precondition_failed(detail: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            detail.to_string(),
        )
    }

    pub fn missing_subscription_registration(ns: &str) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "MissingSubscriptionRegistration",
            format!(
                "The subscription is not registered to use namespace '{ns}'. See https://aka.ms/rps-not-found for how to register subscriptions."
            ),
        );
        e.details.push(
            json!({"code": "MissingSubscriptionRegistration", "target": ns, "message": e.message}),
        );
        e
    }

    // ---- authentication (401) --------------------------------------------

    fn unauthenticated(code: &'static str, message: String, description: &str) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, code, message);
        e.www_authenticate = Some(format!(
            "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"{description}\""
        ));
        e
    }

    pub fn missing_authorization_header() -> Self {
        Self::unauthenticated(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".into(),
            "The authentication failed because of missing 'Authorization' header.",
        )
    }

    pub fn malformed_authorization_header() -> Self {
        Self::unauthenticated(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format."
                .into(),
            "The authentication failed because of invalid 'Authorization' header format.",
        )
    }

    pub fn invalid_token() -> Self {
        Self::unauthenticated(
            "InvalidAuthenticationToken",
            "The access token is invalid.".into(),
            "The access token is invalid.",
        )
    }

    pub fn invalid_signature() -> Self {
        Self::unauthenticated(
            "InvalidAuthenticationToken",
            "The access token has invalid signature.".into(),
            "The access token has invalid signature.",
        )
    }

    pub fn expired_token(expiry: &str, now: &str) -> Self {
        Self::unauthenticated(
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{expiry}' is earlier than current UTC time '{now}'."
            ),
            "The access token has expired.",
        )
    }

    pub fn token_not_yet_valid(nbf: &str, now: &str) -> Self {
        Self::unauthenticated(
            "InvalidAuthenticationToken",
            format!(
                "The access token is not yet valid. Its validity starts at UTC time '{nbf}', which is later than current UTC time '{now}'."
            ),
            "The access token is not yet valid.",
        )
    }

    pub fn wrong_audience(aud: &str) -> Self {
        Self::unauthenticated(
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{aud}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
            ),
            "The access token audience is invalid.",
        )
    }

    pub fn wrong_tenant(issuer: &str, tenant: &str) -> Self {
        Self::unauthenticated(
            "InvalidAuthenticationTokenTenant",
            format!(
                "The access token is from the wrong issuer '{issuer}'. It must match the tenant 'https://sts.windows.net/{tenant}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{tenant}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later."
            ),
            "The access token is from the wrong issuer.",
        )
    }

    // ---- internal --------------------------------------------------------

    // ---- template deployments -----------------------------------------------

    /// 400 `InvalidTemplate`: the template or its parameters are refused before
    /// anything deploys. `message` is the whole sentence ("Deployment template
    /// validation failed: '…'."); the violation is at `path`, `line`/`position`
    /// in the template as sent (0, 0 when it cannot be placed, as ARM writes it).
    pub fn invalid_template(
        message: impl Into<String>,
        path: &str,
        line: usize,
        position: usize,
    ) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "InvalidTemplate", message);
        e.additional_info.push(json!({
            "type": "TemplateViolation",
            "info": {"lineNumber": line, "linePosition": position, "path": path}
        }));
        e
    }

    /// 400 `InvalidTemplateDeployment`: preflight refused the deployment; `details` say why.
    pub fn invalid_template_deployment(name: &str, tracking_id: &str, details: Vec<Value>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidTemplateDeployment",
            format!(
                "The template deployment '{name}' is not valid according to the validation procedure. The tracking id is '{tracking_id}'. See inner errors for details."
            ),
        );
        e.details = details;
        e
    }

    /// 409 `DeploymentActive`: a deployment of that name is still running.
    pub fn deployment_active(id: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "DeploymentActive",
            format!(
                "The deployment with resource id '{id}' cannot be saved, because this would overwrite an existing deployment which is still active. Please see https://aka.ms/arm-deploy for usage details."
            ),
        )
    }

    /// 404 `DeploymentNotFound`.
    pub fn deployment_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "DeploymentNotFound",
            format!("Deployment '{name}' could not be found."),
        )
    }

    pub const STORED_STATE_UNREADABLE: &'static str = "StoredStateUnreadable";

    /// 409 `StoredStateUnreadable`: the stored row of `key` (usually a
    /// lower-cased resource id) does not decode — written by an older version,
    /// or damaged on disk. Only requests that need that row fail; deleting the
    /// resource works.
    // TODO-fidelity: an emulator condition with no Azure counterpart (searched
    // ARM's error catalogue for a resource whose stored state cannot be read:
    // nothing); 409 because the resource's state, not the request, is at fault.
    pub fn stored_state_unreadable(key: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            Self::STORED_STATE_UNREADABLE,
            format!(
                "The stored state of '{key}' cannot be read (it was written by another version of azemu, or damaged). Delete the resource and create it again."
            ),
        )
    }

    /// Store failures. Logged in full; the wire gets ARM's generic wording.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::internal_server_error()
    }

    /// ARM's generic 500 (the caller has logged what went wrong).
    pub fn internal_server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Encountered internal server error. Diagnostic information: timestamp, correlation id.",
        )
    }

    pub fn with_target(mut self, target: &str) -> Self {
        self.target = Some(target.to_string());
        self
    }
}

pub fn valid_rg_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')')
}

impl From<crate::store::StoreError> for ArmError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::Backend(_) => ArmError::internal(e),
            StoreError::Unreadable { ref key, .. } => {
                tracing::warn!(error = %e, "a request met an unreadable row");
                ArmError::stored_state_unreadable(key)
            }
            StoreError::TooDeep { depth, .. } => ArmError::invalid_request_content(&format!(
                "The content would be stored nested {depth} levels deep; at most {} levels are kept.",
                crate::store::MAX_ROW_DEPTH
            )),
            StoreError::TooLarge { bytes, .. } => ArmError::invalid_request_content(&format!(
                "The content would be stored as {bytes} bytes; at most {} bytes are kept.",
                crate::store::MAX_ROW_BYTES
            )),
        }
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(w) = &self.www_authenticate
            && let Ok(v) = HeaderValue::from_str(w)
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp.headers_mut()
            .insert("x-ms-failure-cause", HeaderValue::from_static("gateway"));
        resp
    }
}

/// `Ok(None)` for an error that an unreadable row caused (logged): while
/// settling, one row's trouble stops only that row's work.
pub fn unless_unreadable<T>(r: Result<T, ArmError>) -> Result<Option<T>, ArmError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code == ArmError::STORED_STATE_UNREADABLE => {
            tracing::warn!(message = %e.message, "skipped while settling");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
