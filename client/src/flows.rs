//! The seed documents' steps as one call, each step recorded with what Azure
//! answered — including the pull failure, when there is one.
//!
//! [`Client::deploy_container_group_with_managed_identity`] is "Deploy to Azure
//! Container Instances from Azure Container Registry using a managed identity":
//! resource group, Premium registry, the image pushed with an Entra token
//! through ACR's exchange, a user-assigned identity, `acrpull` on the registry
//! for its principal (optional, to reproduce the failure), and the container
//! group pulling with that identity.

use crate::oci::{RegistryAuth, RegistryClient};
use crate::{ARM_SCOPE, Client, Error};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

/// AcrPull's role definition id (the same in every tenant).
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

/// What to deploy, with the seed document's names as defaults.
#[derive(Debug, Clone)]
pub struct AciWithIdentity<'a> {
    pub resource_group: &'a str,
    pub location: &'a str,
    pub registry: &'a str,
    pub identity: &'a str,
    pub group: &'a str,
    /// An OCI image layout directory to push as `repository:tag`.
    pub image_layout: &'a Path,
    pub repository: &'a str,
    pub tag: &'a str,
    /// Assign AcrPull to the identity on the registry (the seed's
    /// `az role assignment create`); `false` reproduces the pull failure.
    pub grant_acr_pull: bool,
}

impl<'a> AciWithIdentity<'a> {
    pub fn seed(registry: &'a str, image_layout: &'a Path) -> Self {
        AciWithIdentity {
            resource_group: "myResourceGroup",
            location: "eastus",
            registry,
            identity: "myACRId",
            group: "my-containergroup",
            image_layout,
            repository: "hello-world",
            tag: "v1",
            grant_acr_pull: true,
        }
    }
}

/// One step and what came of it.
#[derive(Debug)]
pub struct Step {
    pub name: &'static str,
    pub result: Result<Value, Error>,
}

/// Every step taken, in order; the flow stops at the first that failed.
#[derive(Debug, Default)]
pub struct FlowReport {
    pub steps: Vec<Step>,
}

impl FlowReport {
    /// The step that failed, if one did.
    pub fn failure(&self) -> Option<(&'static str, &Error)> {
        self.steps
            .iter()
            .find_map(|s| s.result.as_ref().err().map(|e| (s.name, e)))
    }

    /// The value a step produced.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.result.as_ref().ok())
    }

    fn record(&mut self, name: &'static str, result: Result<Value, Error>) -> Option<Value> {
        let ok = result.as_ref().ok().cloned();
        self.steps.push(Step { name, result });
        ok
    }
}

/// A GUID derived from its inputs, as templates' `guid()` makes role assignment names.
fn stable_guid(parts: &[&str]) -> String {
    let h: String = Sha256::digest(parts.join("|").as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Client {
    /// The first seed document's flow; `registry_http` must reach
    /// `<registry>.azurecr.io` (through azemu's proxy) and trust its CA.
    pub async fn deploy_container_group_with_managed_identity(
        &self,
        spec: &AciWithIdentity<'_>,
        registry_http: reqwest::Client,
    ) -> FlowReport {
        let mut report = FlowReport::default();
        let sub = format!("/subscriptions/{}", self.subscription_id);
        let rg = format!("{sub}/resourceGroups/{}", spec.resource_group);
        let location = json!({ "location": spec.location });
        if report
            .record(
                "group create",
                self.put_resource(&rg, "2024-07-01", &location).await,
            )
            .is_none()
        {
            return report;
        }
        let registry_id = format!(
            "{rg}/providers/Microsoft.ContainerRegistry/registries/{}",
            spec.registry
        );
        let body = json!({ "location": spec.location, "sku": { "name": "Premium" } });
        let Some(registry) = report.record(
            "acr create",
            self.put_resource(&registry_id, "2023-07-01", &body).await,
        ) else {
            return report;
        };
        let login_server = registry["properties"]["loginServer"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pushed = async {
            let token = self.token(ARM_SCOPE).await?.access_token;
            let auth = RegistryAuth::Entra {
                access_token: token,
                tenant: self.tenant_id.clone(),
            };
            let reg = RegistryClient::new(registry_http, &login_server, auth);
            let digest = reg
                .push_oci_layout(spec.image_layout, spec.repository, spec.tag)
                .await?;
            Ok(json!({ "digest": digest }))
        };
        if report.record("image push", pushed.await).is_none() {
            return report;
        }
        let identity_id = format!(
            "{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
            spec.identity
        );
        let Some(identity) = report.record(
            "identity create",
            self.put_resource(&identity_id, "2023-01-31", &location)
                .await,
        ) else {
            return report;
        };
        let principal = identity["properties"]["principalId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if spec.grant_acr_pull {
            let name = stable_guid(&[&registry_id, &principal, ACR_PULL]);
            let body = json!({ "properties": {
                "roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}"),
                "principalId": principal,
                "principalType": "ServicePrincipal",
            }});
            let id =
                format!("{registry_id}/providers/Microsoft.Authorization/roleAssignments/{name}");
            if report
                .record(
                    "role assignment create",
                    self.put_resource(&id, "2022-04-01", &body).await,
                )
                .is_none()
            {
                return report;
            }
        }
        let image = format!("{login_server}/{}:{}", spec.repository, spec.tag);
        let group_id = format!(
            "{rg}/providers/Microsoft.ContainerInstance/containerGroups/{}",
            spec.group
        );
        let body = json!({
            "location": spec.location,
            "identity": { "type": "UserAssigned", "userAssignedIdentities": { identity_id.clone(): {} } },
            "properties": {
                "osType": "Linux",
                "containers": [{ "name": spec.group, "properties": {
                    "image": image,
                    "ports": [{ "port": 80 }],
                    "resources": { "requests": { "cpu": 1, "memoryInGB": 1.5 } },
                }}],
                "ipAddress": { "type": "Public", "ports": [{ "port": 80, "protocol": "TCP" }] },
                "imageRegistryCredentials": [{ "server": login_server, "identity": identity_id }],
            },
        });
        report.record(
            "container create",
            self.put_resource(&group_id, "2023-05-01", &body).await,
        );
        report
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stable_guid_is_a_guid_and_stable() {
        let g = super::stable_guid(&["a", "b"]);
        assert_eq!(g, super::stable_guid(&["a", "b"]));
        assert_ne!(g, super::stable_guid(&["a", "c"]));
        assert_eq!(g.len(), 36);
        assert_eq!(g.matches('-').count(), 4);
    }
}
