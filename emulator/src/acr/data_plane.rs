//! Mounting the OCI data plane ([`crate::oci`]) behind ACR's checks:
//! [`AcrGate`] is its [`Gate`] for `<name>.azurecr.io`.

use crate::oci::{Action, ContentChange, Gate};
use crate::state::AppState;
use axum::response::Response;

pub struct AcrGate {
    pub state: AppState,
}

impl Gate for AcrGate {
    fn registry_for_host(&self, host: &str) -> Option<String> {
        let name = super::registry_name_of_host(host)?;
        super::registry::by_name(&self.state, &name)
            .ok()
            .flatten()
            .and_then(|r| r["name"].as_str().map(str::to_ascii_lowercase))
    }

    fn check(
        &self,
        headers: &http::HeaderMap,
        from: &crate::network::Source,
        repository: Option<&str>,
        actions: &[Action],
        catalog: bool,
        who: Option<&crate::web::Who>,
    ) -> Result<(), Response> {
        let actions: Vec<&str> = actions
            .iter()
            .map(|a| match a {
                Action::Pull => "pull",
                Action::Push => "push",
                Action::Delete => "delete",
                Action::MetadataRead => "metadata_read",
                Action::MetadataWrite => "metadata_write",
            })
            .collect();
        super::tokens::check(
            &self.state,
            headers,
            from,
            repository,
            &actions,
            catalog,
            who,
        )
    }

    /// Pushes and deletes reach the registry's webhooks ([`super::webhooks`]).
    fn content_changed(&self, registry: &str, change: &ContentChange) {
        if let Err(e) = super::webhooks::record(&self.state, registry, change) {
            tracing::warn!(error = %e, registry, "webhook event not recorded");
        }
    }
}
