//! Subscriptions and tenants (`Subscriptions_List`, `Subscriptions_Get`, `Tenants_List`).
//! One subscription and one tenant, from the configuration.

use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::providers::json_response;
use crate::state::AppState;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

/// Every route under `/subscriptions/{s}` needs `{s}` to exist.
pub fn require(state: &AppState, sub: &str) -> Result<(), ArmError> {
    if sub.eq_ignore_ascii_case(&state.config.subscription_id) {
        return Ok(());
    }
    if uuid::Uuid::parse_str(sub).is_err() {
        return Err(ArmError::invalid_subscription_id(sub));
    }
    Err(ArmError::subscription_not_found(sub))
}

fn subscription_body(state: &AppState) -> Value {
    let c = &state.config;
    json!({
        "id": format!("/subscriptions/{}", c.subscription_id),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": c.subscription_id,
        "tenantId": c.tenant_id,
        "displayName": c.subscription_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off"
        }
    })
}

/// `GET /subscriptions` → 200
pub fn subscriptions_list(state: &AppState, req: &ArmRequest) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Resources/subscriptions")?;
    // ARM lists the subscriptions the caller has some role in, at or under the subscription.
    let sub = ResourceId::subscription(&state.config.subscription_id).to_string();
    let value: Vec<Value> =
        if crate::authz::access::has_any_access_within(state, &req.principal, &sub)? {
            vec![subscription_body(state)]
        } else {
            vec![]
        };
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": {"type": "Total", "value": value.len()}, "value": value}),
    ))
}

/// `GET /subscriptions/{s}` → 200, 404 SubscriptionNotFound
pub fn subscriptions_get(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Resources/subscriptions")?;
    if req.method != http::Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    let scope = id.to_string();
    if !crate::authz::access::has_any_access_within(state, &req.principal, &scope)? {
        return Err(ArmError::authorization_failed(
            &req.principal.app_id,
            &req.principal.object_id,
            "Microsoft.Resources/subscriptions/read",
            &scope,
        ));
    }
    Ok(json_response(StatusCode::OK, &subscription_body(state)))
}

/// `GET /tenants` → 200
pub fn tenants_list(state: &AppState, req: &ArmRequest) -> Result<Response, ArmError> {
    req.api_version("Microsoft.Resources/tenants")?;
    let t = &state.tenant;
    Ok(json_response(
        StatusCode::OK,
        &json!({"value": [{
            "id": format!("/tenants/{}", t.id),
            "tenantId": t.id,
            "countryCode": "US",
            "displayName": t.display_name,
            "domains": [t.domain],
            "tenantCategory": "Home",
            "defaultDomain": t.domain,
            "tenantType": "AAD"
        }]}),
    ))
}
