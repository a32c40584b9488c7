//! Which plane a request is for, decided at the edge from its host and path,
//! so that what the edge refuses (headers or a body over the limit) is refused
//! in that plane's own error shape: ARM's and the control API's
//! `{"error":{code,message}}`, Entra's OAuth JSON with an AADSTS code, Graph's
//! `{"error":{code,message,innerError}}`, OCI's `{"errors":[…]}`, Storage's XML,
//! and IMDS's `{"error","error_description"}` on the managed-identity endpoints.
//!
//! | plane | body limit | 413 | 431 |
//! |---|---|---|---|
//! | ARM, control API | [`MAX_BODY`] | `RequestContentTooLarge` | `RequestHeaderFieldsTooLarge` |
//! | Entra | [`MAX_BODY`] | `invalid_request`, AADSTS90015 | `invalid_request`, AADSTS9002313 |
//! | Graph | [`MAX_BODY`] | `RequestEntityTooLarge` | `RequestHeaderFieldsTooLarge` |
//! | managed identity | [`MAX_BODY`] | `invalid_request` | `invalid_request` |
//! | registry | per endpoint (blob uploads stream) | `UNSUPPORTED` (`SIZE_INVALID` for manifests) | `UNSUPPORTED` |
//! | Blob storage | build contexts' limit | `RequestBodyTooLarge` | `RequestHeaderFieldsTooLarge` |

use crate::admin::guard::{self, Surface};
use crate::arm::ArmError;
use crate::server::hosts;
use crate::web::MAX_BODY;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    Arm,
    Control,
    Identity,
    Entra,
    Graph,
    Registry,
    Storage,
}

impl Plane {
    /// The plane `host` (a `Host` header) and `path` address.
    pub fn of(host: &str, path: &str) -> Plane {
        let name = hosts::host_of(host);
        if name == crate::storage::HOST {
            return Plane::Storage;
        }
        if crate::acr::registry_name_of_host(&name).is_some()
            || crate::public_registry::registry_of_host(&name).is_some()
        {
            return Plane::Registry;
        }
        // Task logs path-style, on the emulator's own host.
        if path
            .trim_start_matches('/')
            .split('/')
            .next()
            .is_some_and(|first| first.eq_ignore_ascii_case(crate::storage::ACCOUNT))
        {
            return Plane::Storage;
        }
        match guard::surface(path) {
            Some(Surface::Identity) => return Plane::Identity,
            Some(Surface::Control) => return Plane::Control,
            None => {}
        }
        if name.starts_with("login.") || name == "sts.windows.net" {
            return Plane::Entra;
        }
        if name.starts_with("graph.") || path.starts_with("/v1.0/") {
            return Plane::Graph;
        }
        // Entra on the emulator's own host: `/{tenant}/oauth2/…`, discovery documents.
        let second = path.split('/').nth(2).unwrap_or_default();
        if matches!(second, "oauth2" | ".well-known" | "discovery" | "v2.0") {
            return Plane::Entra;
        }
        Plane::Arm
    }

    /// The largest body the edge lets through, by `Content-Length`; `None`: the
    /// plane's handlers decide (registry blob uploads stream without a cap here).
    pub fn body_limit(self) -> Option<usize> {
        match self {
            Plane::Registry => None,
            Plane::Storage => Some(crate::storage::MAX_SOURCE),
            _ => Some(MAX_BODY),
        }
    }

    /// 413: the body is over the plane's limit.
    pub fn body_too_large(self) -> Response {
        let limit = self.body_limit().unwrap_or(MAX_BODY);
        match self {
            Plane::Arm | Plane::Control => ArmError::request_too_large(limit).into_response(),
            Plane::Entra => crate::entra::oauth::OAuthError::request_too_large().into_response(),
            Plane::Graph => {
                crate::entra::graph::GraphError::request_too_large(limit).into_response()
            }
            Plane::Registry => crate::oci::errors::OciError::request_too_large().into_response(),
            Plane::Storage => crate::storage::body_too_large(),
            Plane::Identity => imds(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("The request body exceeds the limit of {limit} bytes"),
            ),
        }
    }

    /// 500: the plane failed itself (a handler panicked; see [`super::recover`]).
    pub fn internal_error(self) -> Response {
        match self {
            Plane::Arm | Plane::Control => ArmError::internal_server_error().into_response(),
            Plane::Registry => crate::oci::errors::OciError::unknown().into_response(),
            Plane::Entra => crate::entra::oauth::OAuthError::server_error().into_response(),
            Plane::Identity => imds_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The managed identity endpoint failed to issue a token.",
            ),
            Plane::Graph => crate::entra::graph::GraphError::internal().into_response(),
            Plane::Storage => crate::storage::internal_error(),
        }
    }

    /// 431: the headers, all told, are over `limit`.
    pub fn headers_too_large(self, bytes: usize, limit: usize) -> Response {
        match self {
            Plane::Arm | Plane::Control => {
                ArmError::headers_too_large(bytes, limit).into_response()
            }
            Plane::Entra => crate::entra::oauth::OAuthError::headers_too_large().into_response(),
            Plane::Graph => {
                crate::entra::graph::GraphError::headers_too_large(bytes, limit).into_response()
            }
            Plane::Registry => {
                crate::oci::errors::OciError::headers_too_large(bytes, limit).into_response()
            }
            Plane::Storage => crate::storage::headers_too_large(bytes, limit),
            Plane::Identity => imds(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                &format!("The request headers ({bytes} bytes) exceed the limit of {limit} bytes"),
            ),
        }
    }
}

fn imds(status: StatusCode, description: &str) -> Response {
    imds_error(status, "invalid_request", description)
}

// TODO-fidelity: the managed-identity endpoints' own 500 text was not looked up;
// the shape is IMDS's `{"error","error_description"}`.
fn imds_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::Plane::{self, *};

    #[test]
    fn planes() {
        for (host, path, want) in [
            ("localhost:8443", "/subscriptions", Arm),
            (
                "management.azure.com",
                "/subscriptions/x/resourceGroups",
                Arm,
            ),
            ("localhost:8443", "/_emulator/reset", Control),
            ("localhost:8443", "/_emulator/identity/token", Identity),
            (
                "localhost:8443",
                "/metadata/identity/oauth2/token",
                Identity,
            ),
            ("localhost:8443", "/metadata/endpoints", Arm),
            ("login.microsoftonline.com", "/t/oauth2/v2.0/token", Entra),
            ("localhost:8443", "/t/oauth2/v2.0/token", Entra),
            (
                "localhost:8443",
                "/t/v2.0/.well-known/openid-configuration",
                Entra,
            ),
            ("graph.microsoft.com", "/v1.0/servicePrincipals", Graph),
            ("localhost:8443", "/v1.0/servicePrincipals", Graph),
            ("myreg.azurecr.io", "/v2/", Registry),
            ("mcr.microsoft.com:443", "/v2/", Registry),
            (crate::storage::HOST, "/sources/x", Storage),
            ("localhost:8443", "/azemutasklogs/logs/x", Storage),
        ] {
            assert_eq!(Plane::of(host, path), want, "{host}{path}");
        }
    }
}
