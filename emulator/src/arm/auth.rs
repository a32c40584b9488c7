//! Bearer authentication for ARM: every ARM request carries an Entra token
//! that must be RS256-signed by the emulator's key, unexpired (five minutes'
//! skew), issued for an ARM audience and by the subscription's tenant.
//! Failures are 401s with ARM's codes and a `WWW-Authenticate` challenge.

use super::error::ArmError;
use crate::entra::Principal;
use crate::entra::token::{TokenError, TokenService, arm_error_time, v1_issuer, v2_issuer};
use axum::http::HeaderMap;
use time::OffsetDateTime;

/// The audiences ARM accepts, in the order ARM lists them in its error.
pub const ARM_AUDIENCES: &[&str] = &[
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
];

pub fn authenticate(
    tokens: &TokenService,
    tenant_id: &str,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<Principal, ArmError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(ArmError::missing_authorization_header());
    };
    let value = value
        .to_str()
        .map_err(|_| ArmError::malformed_authorization_header())?;
    let token = match value.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            t.trim()
        }
        _ => return Err(ArmError::malformed_authorization_header()),
    };
    let claims = tokens.validate(token, now).map_err(|e| match e {
        TokenError::Malformed => ArmError::invalid_token(),
        TokenError::BadSignature => ArmError::invalid_signature(),
        TokenError::Expired { exp } => {
            ArmError::expired_token(&arm_error_time(exp), &arm_error_time(now))
        }
        TokenError::NotYetValid { nbf } => {
            ArmError::token_not_yet_valid(&arm_error_time(nbf), &arm_error_time(now))
        }
    })?;
    if !ARM_AUDIENCES.contains(&claims.aud.as_str()) {
        return Err(ArmError::wrong_audience(&claims.aud));
    }
    let good_issuer = claims.tid.eq_ignore_ascii_case(tenant_id)
        && (claims.iss == v1_issuer(&claims.tid) || claims.iss == v2_issuer(&claims.tid));
    if !good_issuer {
        return Err(ArmError::wrong_tenant(&claims.iss, tenant_id));
    }
    Ok(Principal::from_claims(&claims))
}
