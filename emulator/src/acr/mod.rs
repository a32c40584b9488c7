//! Azure Container Registry's data-plane front door, for every
//! `<name>.azurecr.io` host (reached through the transparent proxy):
//!
//! 1. the network decision ([`crate::network::registry_reachable`]: public
//!    access, IP rules) — `403 DENIED` before anything else, even on `/v2/`;
//! 2. credentials: ACR access tokens (Bearer), the admin user and the
//!    null-GUID user with an ACR refresh token (Basic), anonymous pull;
//! 3. permissions: [`crate::authz::access::authorize`] with the registry
//!    actions (legacy mode) or the repository data actions and their ABAC
//!    conditions (`AbacRepositoryPermissions`);
//! 4. the token service: `POST /oauth2/exchange` (Entra access token → ACR
//!    refresh token) and `GET|POST /oauth2/token` (→ access token whose
//!    `access` claim lists what was granted).
//!
//! Facts: ../shared/notes/acr-aci-semantics.md §1–3, §5.

pub mod content;
pub mod data_plane;
pub mod registry;
pub mod repository_tokens;
pub mod runs;
pub mod tokens;
pub mod webhooks;

/// Everything a `<name>.azurecr.io` host serves: the token service, then the
/// OCI data plane.
pub fn router(state: AppState) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/oauth2/exchange", post(tokens::exchange))
        .route("/oauth2/token", get(tokens::token).post(tokens::token))
        .with_state(state.clone())
        .merge(crate::oci::routes::router(std::sync::Arc::new(
            crate::oci::routes::Ctx {
                store: state.store.clone(),
                blobs: state.blobs.clone(),
                gate: std::sync::Arc::new(data_plane::AcrGate {
                    state: state.clone(),
                }),
                clock: state.clock.clone(),
                max_upload: state.config.max_upload_bytes,
            },
        )))
        .layer(axum::middleware::from_fn_with_state(state, network_gate))
}

/// Before any route: the registry must exist and the caller's network origin
/// must reach it (403 DENIED otherwise, even for `/v2/` and `/oauth2/*`).
async fn network_gate(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let host = crate::web::host_header(req.headers()).to_string();
    let from = crate::web::source_of(req.extensions());
    let what = format!("{} {}", req.method(), req.uri().path());
    // The registry lookup reads the store: on the blocking pool.
    let refused = crate::web::blocking(move || {
        let mut t = crate::trace::Trace::new(
            "acr-request",
            &host,
            &what,
            crate::clock::arm_timestamp(state.clock.now()),
        );
        match tokens::registry_for_traced(&state, &host, &from, &mut t) {
            Ok(_) => None,
            Err(resp) => Some(tokens::told(&state, t, resp)),
        }
    })
    .await;
    match refused {
        None => next.run(req).await,
        Some(resp) => resp,
    }
}

use crate::authz::engine::{ActionKind, Decision};
use crate::entra::{Principal, PrincipalKind};
use crate::state::AppState;
use serde_json::Value;

/// The username for token logins (`docker login -u 00000000-… -p <ACR refresh token>`).
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
/// Suffix of every registry host.
pub const LOGIN_SUFFIX: &str = ".azurecr.io";

/// `myreg.azurecr.io[:443]` → `myreg`.
pub fn registry_name_of_host(host: &str) -> Option<String> {
    let h = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let name = h.strip_suffix(LOGIN_SUFFIX)?;
    (!name.is_empty() && !name.contains('.')).then(|| name.to_string())
}

/// One scope a client asks for: `repository:team-a/app:pull,push` or `registry:catalog:*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Scope {
            kind: kind.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    pub fn render(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// Who is calling the data plane.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The registry's admin user: everything.
    Admin,
    /// An Entra principal (via an exchanged refresh token).
    Principal(Principal),
    /// A repository-scoped token: its scope map's actions.
    Token(Vec<String>),
    /// No credentials.
    Anonymous,
}

pub(crate) fn is_abac(registry: &Value) -> bool {
    registry["properties"]["roleAssignmentMode"] == "AbacRepositoryPermissions"
}

/// The permission a scope action needs: (action, kind), per the registry's role-assignment mode.
fn permission_for(
    registry: &Value,
    scope_kind: &str,
    action: &str,
) -> Option<(&'static str, ActionKind)> {
    let abac = is_abac(registry);
    Some(match (scope_kind, action, abac) {
        ("registry", "*", false) => (
            "Microsoft.ContainerRegistry/registries/pull/read",
            ActionKind::Control,
        ),
        ("registry", "*", true) => (
            "Microsoft.ContainerRegistry/registries/catalog/read",
            ActionKind::Data,
        ),
        ("repository", "pull" | "metadata_read", false) => (
            "Microsoft.ContainerRegistry/registries/pull/read",
            ActionKind::Control,
        ),
        ("repository", "push" | "metadata_write", false) => (
            "Microsoft.ContainerRegistry/registries/push/write",
            ActionKind::Control,
        ),
        ("repository", "delete", false) => (
            "Microsoft.ContainerRegistry/registries/artifacts/delete",
            ActionKind::Control,
        ),
        ("repository", "pull", true) => (
            "Microsoft.ContainerRegistry/registries/repositories/content/read",
            ActionKind::Data,
        ),
        ("repository", "metadata_read", true) => (
            "Microsoft.ContainerRegistry/registries/repositories/metadata/read",
            ActionKind::Data,
        ),
        ("repository", "push", true) => (
            "Microsoft.ContainerRegistry/registries/repositories/content/write",
            ActionKind::Data,
        ),
        ("repository", "metadata_write", true) => (
            "Microsoft.ContainerRegistry/registries/repositories/metadata/write",
            ActionKind::Data,
        ),
        ("repository", "delete", true) => (
            "Microsoft.ContainerRegistry/registries/repositories/content/delete",
            ActionKind::Data,
        ),
        _ => return None,
    })
}

/// Which of the scope's actions does `caller` get on `registry`? (`*` expands to pull, push, delete.)
pub fn granted(state: &AppState, registry: &Value, caller: &Caller, scope: &Scope) -> Vec<String> {
    let wanted: Vec<String> =
        if scope.kind == "repository" && scope.actions.iter().any(|a| a == "*") {
            vec![
                "pull".into(),
                "push".into(),
                "delete".into(),
                "metadata_read".into(),
                "metadata_write".into(),
            ]
        } else {
            scope.actions.clone()
        };
    let registry_id = registry["id"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for action in wanted {
        let ok = match caller {
            Caller::Admin => true,
            Caller::Anonymous => {
                registry["properties"]["anonymousPullEnabled"] == true
                    && scope.kind == "repository"
                    && action == "pull"
            }
            Caller::Token(actions) => {
                let verb = match action.as_str() {
                    "pull" => "content/read",
                    "push" => "content/write",
                    "delete" => "content/delete",
                    "metadata_read" => "metadata/read",
                    "metadata_write" => "metadata/write",
                    _ => continue,
                };
                scope.kind == "repository"
                    && repository_tokens::scope_map_allows(actions, &scope.name, verb)
            }
            Caller::Principal(p) => {
                let Some((perm, kind)) = permission_for(registry, &scope.kind, &action) else {
                    continue;
                };
                let repo = scope.name.clone();
                let attrs = move |_: crate::authz::condition::Source, k: &str| {
                    k.eq_ignore_ascii_case(
                        "Microsoft.ContainerRegistry/registries/repositories:name",
                    )
                    .then(|| repo.clone())
                };
                let q = crate::authz::access::Question {
                    principal: p,
                    action: perm,
                    kind,
                    scope: registry_id,
                    attributes: &attrs,
                };
                matches!(
                    crate::authz::access::authorize(state, &q),
                    Ok(Decision::Allowed { .. })
                )
            }
        };
        if ok && !out.contains(&action) {
            out.push(action);
        }
    }
    if scope.kind == "registry" && scope.actions.iter().any(|a| a == "*") && !out.is_empty() {
        return vec!["*".into()];
    }
    out
}

/// Principal from an ACR refresh token's claims.
pub fn principal_of(claims: &Value) -> Option<Principal> {
    Some(Principal {
        object_id: claims["sub"].as_str()?.to_string(),
        app_id: claims["appid"].as_str().unwrap_or_default().to_string(),
        tenant_id: claims["tenant"].as_str().unwrap_or_default().to_string(),
        kind: if claims["mi"] == true {
            PrincipalKind::ManagedIdentity
        } else {
            PrincipalKind::Application
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_hosts() {
        assert_eq!(
            Scope::parse("repository:team-a/app:pull,push"),
            Some(Scope {
                kind: "repository".into(),
                name: "team-a/app".into(),
                actions: vec!["pull".into(), "push".into()]
            })
        );
        assert_eq!(
            Scope::parse("registry:catalog:*").unwrap().render(),
            "registry:catalog:*"
        );
        assert_eq!(Scope::parse("nonsense"), None);
        assert_eq!(
            registry_name_of_host("MyReg.azurecr.io:443").as_deref(),
            Some("myreg")
        );
        assert_eq!(registry_name_of_host("a.b.azurecr.io"), None);
        assert_eq!(registry_name_of_host("management.azure.com"), None);
    }

    proptest::proptest! {
        /// Any scope string: parsed or refused, never a panic; a parsed one renders back to itself.
        #[test]
        fn scope_parse_never_panics(s in ".{0,120}") {
            if let Some(scope) = Scope::parse(&s) {
                proptest::prop_assert_eq!(Scope::parse(&scope.render()), Some(scope));
            }
        }

        #[test]
        fn scope_round_trip(
            kind in "(repository|registry)",
            name in "[a-z0-9]+(/[a-z0-9._-]+){0,3}",
            actions in proptest::collection::vec("(pull|push|delete|\\*|metadata_read)", 1..4),
        ) {
            let s = format!("{kind}:{name}:{}", actions.join(","));
            let parsed = Scope::parse(&s).unwrap();
            proptest::prop_assert_eq!(parsed.render(), s);
        }

        #[test]
        fn host_never_panics(h in ".{0,80}") {
            let _ = registry_name_of_host(&h);
        }
    }
}
