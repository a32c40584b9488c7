//! Microsoft Entra ID: the directory (tenant, service principals), the token
//! service (RS256 JWTs, JWKS, OpenID discovery) and the OAuth error shape.
//!
//! A request is authenticated by a plane (ARM, registry, ...) calling
//! [`token::TokenService::validate`], then resolving the token's `oid` to a
//! [`Principal`]. What the principal may do is `authz`'s question, not this module's.

pub mod directory;
pub mod discovery;
pub mod graph;
pub mod keys;
pub mod msi;
pub mod oauth;
pub mod token;

use axum::Router;
use axum::routing::{get, post};
pub use directory::{Application, Directory, PrincipalKind, ServicePrincipal, Tenant};

use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    pub object_id: String,
    pub app_id: String,
    pub tenant_id: String,
    pub kind: PrincipalKind,
}

impl Principal {
    pub fn from_claims(c: &token::Claims) -> Self {
        Principal {
            object_id: c.oid.clone(),
            app_id: c
                .appid
                .clone()
                .or_else(|| c.azp.clone())
                .unwrap_or_default(),
            tenant_id: c.tid.clone(),
            kind: if c.xms_mirid.is_some() {
                PrincipalKind::ManagedIdentity
            } else {
                PrincipalKind::Application
            },
        }
    }
}

/// Entra's routes. Paths start with a tenant segment, so they are listed
/// explicitly; everything else falls through to ARM's catch-all. The
/// managed-identity endpoints are [`msi::routes`] (local host names only).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(oauth::token_v2))
        .route("/{tenant}/oauth2/token", post(oauth::token_v1))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::openid_configuration_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
        .route("/{tenant}/discovery/keys", get(discovery::keys))
        .route(
            "/common/discovery/instance",
            get(discovery::instance_discovery),
        )
        // Microsoft Graph (the subset az uses); other methods get Graph's 405.
        .route(
            "/v1.0/servicePrincipals",
            get(graph::list_service_principals)
                .post(graph::create_service_principal)
                .fallback(graph::method_not_allowed),
        )
        .route(
            "/v1.0/servicePrincipals/{id}",
            get(graph::get_service_principal)
                .delete(graph::delete_service_principal)
                .fallback(graph::method_not_allowed),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/addPassword",
            post(graph::add_password).fallback(graph::method_not_allowed),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/removePassword",
            post(graph::remove_password).fallback(graph::method_not_allowed),
        )
        .route(
            "/v1.0/directoryObjects/getByIds",
            post(graph::get_by_ids).fallback(graph::method_not_allowed),
        )
        .route(
            "/v1.0/applications",
            get(graph::list_applications)
                .post(graph::create_application)
                .fallback(graph::method_not_allowed),
        )
        .route(
            "/v1.0/applications/{id}",
            get(graph::get_application)
                .patch(graph::update_application)
                .delete(graph::delete_application)
                .fallback(graph::method_not_allowed),
        )
        .route(
            "/v1.0/applications/{id}/addPassword",
            post(graph::add_password).fallback(graph::method_not_allowed),
        )
        .route(
            "/v1.0/applications/{id}/removePassword",
            post(graph::remove_password).fallback(graph::method_not_allowed),
        )
        .route("/v1.0/{*rest}", axum::routing::any(graph::unsupported))
}
