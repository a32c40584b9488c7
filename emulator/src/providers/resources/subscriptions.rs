//! Subscriptions and tenants (`Subscriptions_List`, `Subscriptions_Get`,
//! `Subscriptions_ListLocations`, `Tenants_List`).
//! One subscription and one tenant, from the configuration.

use crate::arm::{ArmError, ArmRequest, ResourceId, locations};
use crate::providers::json_response;
use crate::state::AppState;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

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
    require_some_access(state, req, id, "Microsoft.Resources/subscriptions/read")?;
    Ok(json_response(StatusCode::OK, &subscription_body(state)))
}

/// A subscription's own reads need some role at or under it (ARM answers a
/// caller with none `AuthorizationFailed` for the read it asked for).
fn require_some_access(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    action: &str,
) -> Result<(), ArmError> {
    let scope = id.to_string();
    if crate::authz::access::has_any_access_within(state, &req.principal, &scope)? {
        return Ok(());
    }
    Err(ArmError::authorization_failed(
        &req.principal.app_id,
        &req.principal.object_id,
        action,
        &scope,
    ))
}

/// `GET /subscriptions/{s}/locations` (`Subscriptions_ListLocations`) → 200:
/// every region of [`locations::REGIONS`] in Azure's shape. From api-version
/// 2022-12-01 each names its `type` (`Region`), its `geography` and, where the
/// region has zones, the subscription's `availabilityZoneMappings`; the older
/// shape (2019-11-01, as azure-cli's `test_list_locations` recorded it) has
/// neither. azemu has no edge zones, so `includeExtendedLocations=true` adds
/// nothing.
pub fn subscriptions_list_locations(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Response, ArmError> {
    let version = req.api_version("Microsoft.Resources/subscriptions")?;
    if req.method != http::Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    require_some_access(
        state,
        req,
        id,
        "Microsoft.Resources/subscriptions/locations/read",
    )?;
    let current = version.as_str() >= "2022-12-01";
    let sub = &state.config.subscription_id;
    let value: Vec<Value> = locations::REGIONS
        .iter()
        .map(|r| location_body(sub, r, current))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "value": value })))
}

fn location_body(sub: &str, r: &locations::Region, current: bool) -> Value {
    let id = |name: &str| format!("/subscriptions/{sub}/locations/{name}");
    let mut meta = Map::new();
    meta.insert("regionType".into(), json!(r.region_type()));
    meta.insert("regionCategory".into(), json!(r.category()));
    if current {
        meta.insert("geography".into(), json!(r.geography));
    }
    let texts = [
        ("geographyGroup", r.geography_group),
        ("longitude", r.coordinates[0]),
        ("latitude", r.coordinates[1]),
        ("physicalLocation", r.physical_location),
    ];
    for (field, text) in texts {
        if !text.is_empty() {
            meta.insert(field.into(), json!(text));
        }
    }
    if r.region_type() == "Physical" {
        let paired: Vec<Value> = r
            .paired
            .iter()
            .map(|p| json!({"name": p, "id": id(p)}))
            .collect();
        meta.insert("pairedRegion".into(), json!(paired));
    }
    let mut body = Map::new();
    body.insert("id".into(), json!(id(r.name)));
    body.insert("name".into(), json!(r.name));
    if current {
        body.insert("type".into(), json!("Region"));
    }
    body.insert("displayName".into(), json!(r.display_name));
    body.insert("regionalDisplayName".into(), json!(r.regional_display_name));
    body.insert("metadata".into(), Value::Object(meta));
    if current && r.has_zones() {
        body.insert(
            "availabilityZoneMappings".into(),
            json!(zone_mappings(r.name)),
        );
    }
    Value::Object(body)
}

/// The subscription's logical zones and the physical zones behind them. Each
/// Azure subscription gets its own shuffle; azemu's one subscription maps
/// zone n to `{region}-az{n}` (a simulated mapping: there are no physical zones).
pub fn zone_mappings(region: &str) -> Vec<Value> {
    (1..=3)
        .map(|n| json!({"logicalZone": n.to_string(), "physicalZone": format!("{region}-az{n}")}))
        .collect()
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

/// `POST {S}/providers/Microsoft.Resources/checkZonePeers` (Subscriptions_CheckZonePeers).
pub const ZONE_PEERS: crate::providers::by_spec::Behaviour = crate::providers::by_spec::Behaviour {
    actions: &[("checkZonePeers", check_zone_peers)],
    ..crate::providers::by_spec::Behaviour::of("Microsoft.Resources")
};

/// Which of other subscriptions' logical zones share each of this
/// subscription's physical zones in a region. azemu maps every subscription's
/// zones the same way ([`zone_mappings`]), so zone n peers with zone n; the
/// answer's shape is the spec example `PostCheckZonePeers.json`.
fn check_zone_peers(cx: &crate::providers::by_spec::Ctx) -> Result<Response, ArmError> {
    let body = cx.req.json_object()?;
    let asked = body
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // TODO-fidelity: ARM's words for a missing or unknown location here were
    // not found (searched azure-cli recordings and issues for checkZonePeers).
    let region = locations::region(asked).ok_or_else(|| {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidLocation",
            format!("The provided location '{asked}' is not valid."),
        )
    })?;
    let peers: Vec<String> = body
        .get("subscriptionIds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
        .collect();
    // TODO-fidelity: a region without zones answers an empty list (no recording).
    let zones: Vec<Value> = if region.has_zones() {
        (1..=3)
            .map(|n| {
                let zone = n.to_string();
                let with: Vec<Value> = peers
                    .iter()
                    .map(|p| json!({"subscriptionId": p, "availabilityZone": zone}))
                    .collect();
                json!({"availabilityZone": zone, "peers": with})
            })
            .collect()
    } else {
        vec![]
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "subscriptionId": cx.id.subscription,
            "location": region.name,
            "availabilityZonePeers": zones,
        }),
    ))
}
