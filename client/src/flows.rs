//! The seed documents' steps as one call, each step recorded with what Azure
//! answered — including the pull failure, when there is one.
//!
//! [`Client::deploy_container_group_with_managed_identity`] is "Deploy to Azure
//! Container Instances from Azure Container Registry using a managed identity":
//! resource group, Premium registry, the image pushed with an Entra token
//! through ACR's exchange, a user-assigned identity, `acrpull` on the registry
//! for its principal (optional, to reproduce the failure), and the container
//! group pulling with that identity.
//!
//! [`Client::run_task_with_identity`] is "Use an Azure-managed identity in ACR
//! Tasks": a task with a system- or user-assigned identity, `acrpull` for it on
//! another registry (optional), the task's credential for that registry
//! `--use-identity`, then a run, waited for, and its log.

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

/// Standard base64 with padding (what `encodedTaskContent` carries).
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
    /// The resource group both flows start with; its id.
    async fn resource_group_step(
        &self,
        report: &mut FlowReport,
        name: &str,
        location: &str,
    ) -> Option<String> {
        let rg = format!(
            "/subscriptions/{}/resourceGroups/{name}",
            self.subscription_id
        );
        let body = json!({ "location": location });
        report
            .record(
                "group create",
                self.put_resource(&rg, "2024-07-01", &body).await,
            )
            .map(|_| rg)
    }

    /// Push an OCI layout to `login_server` as `repository:tag` with an Entra
    /// token (ACR's exchange); the manifest digest.
    async fn push_image(
        &self,
        http: reqwest::Client,
        login_server: &str,
        layout: &Path,
        repository: &str,
        tag: &str,
    ) -> Result<Value, Error> {
        let token = self.token(ARM_SCOPE).await?.access_token;
        let auth = RegistryAuth::Entra {
            access_token: token,
            tenant: self.tenant_id.clone(),
        };
        let reg = RegistryClient::new(http, login_server, auth);
        let digest = reg.push_oci_layout(layout, repository, tag).await?;
        Ok(json!({ "digest": digest }))
    }

    /// `az role assignment create --assignee <principal> --scope <scope> --role acrpull`.
    async fn grant_acr_pull(&self, scope: &str, principal: &str) -> Result<Value, Error> {
        let name = stable_guid(&[scope, principal, ACR_PULL]);
        let body = json!({ "properties": {
            "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}", self.subscription_id),
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }});
        let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
        self.put_resource(&id, "2022-04-01", &body).await
    }
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
        let location = json!({ "location": spec.location });
        let Some(rg) = self
            .resource_group_step(&mut report, spec.resource_group, spec.location)
            .await
        else {
            return report;
        };
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
        let pushed = self
            .push_image(
                registry_http,
                &login_server,
                spec.image_layout,
                spec.repository,
                spec.tag,
            )
            .await;
        if report.record("image push", pushed).is_none() {
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
            let granted = self.grant_acr_pull(&registry_id, &principal).await;
            if report.record("role assignment create", granted).is_none() {
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

/// Which identity an ACR task runs with.
#[derive(Debug, Clone)]
pub enum TaskIdentity<'a> {
    /// `--assign-identity` with no value; the credential says `[system]`.
    System,
    /// A user-assigned identity of this name, created in the resource group;
    /// the credential names its client id.
    User(&'a str),
}

/// What the task's step does.
#[derive(Debug, Clone)]
pub enum TaskStep<'a> {
    /// The seed's Docker build of its git context (the `#branch` form).
    Docker { context: &'a str },
    /// An encoded task whose one step runs an image from the target registry:
    /// the task pulls it with its identity's credential (the image, an OCI
    /// layout, is pushed there first as `repository:tag`).
    RunFromTarget {
        image_layout: &'a Path,
        repository: &'a str,
        tag: &'a str,
    },
}

/// The second seed document's task, with its names as defaults.
#[derive(Debug, Clone)]
pub struct TaskWithIdentity<'a> {
    pub resource_group: &'a str,
    pub location: &'a str,
    /// The registry the task belongs to (and pushes to).
    pub registry: &'a str,
    /// The registry the task logs in to with its identity.
    pub target_registry: &'a str,
    pub task: &'a str,
    pub step: TaskStep<'a>,
    pub identity: TaskIdentity<'a>,
    /// Assign AcrPull to the task's identity on `target_registry`.
    pub grant_acr_pull: bool,
}

impl<'a> TaskWithIdentity<'a> {
    pub fn seed(registry: &'a str, target_registry: &'a str) -> Self {
        TaskWithIdentity {
            resource_group: "myResourceGroup",
            location: "eastus",
            registry,
            target_registry,
            task: "hello-world",
            step: TaskStep::Docker {
                context: "https://github.com/Azure-Samples/acr-build-helloworld-node.git#main",
            },
            identity: TaskIdentity::System,
            grant_acr_pull: true,
        }
    }
}

/// ACR Tasks' api-version, as az uses it.
const TASKS_API: &str = "2019-06-01-preview";

impl Client {
    /// The second seed document's flow; `http` must reach the run log's blob
    /// URL (azemu's proxy for `*.blob.core.windows.net`). The run's step is
    /// `"task run"` (the run as it ended: a failed run is reported there, with
    /// its status, not as an error) and its log `"run log"`.
    pub async fn run_task_with_identity(
        &self,
        spec: &TaskWithIdentity<'_>,
        http: reqwest::Client,
    ) -> FlowReport {
        let mut report = FlowReport::default();
        let location = json!({ "location": spec.location });
        let Some(rg) = self
            .resource_group_step(&mut report, spec.resource_group, spec.location)
            .await
        else {
            return report;
        };
        let registry_of =
            |name: &str| format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{name}");
        let basic = json!({ "location": spec.location, "sku": { "name": "Basic" } });
        let (registry_id, target_id) = (
            registry_of(spec.registry),
            registry_of(spec.target_registry),
        );
        if report
            .record(
                "acr create",
                self.put_resource(&registry_id, "2023-07-01", &basic).await,
            )
            .is_none()
        {
            return report;
        }
        let Some(target) = report.record(
            "acr create (target)",
            self.put_resource(&target_id, "2023-07-01", &basic).await,
        ) else {
            return report;
        };
        let target_server = target["properties"]["loginServer"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (identity_block, user) = match spec.identity {
            TaskIdentity::System => (json!({ "type": "SystemAssigned" }), None),
            TaskIdentity::User(name) => {
                let id = format!(
                    "{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
                );
                let Some(ident) = report.record(
                    "identity create",
                    self.put_resource(&id, "2023-01-31", &location).await,
                ) else {
                    return report;
                };
                (
                    json!({ "type": "UserAssigned", "userAssignedIdentities": { id.clone(): {} } }),
                    Some(ident),
                )
            }
        };
        let task_id = format!("{registry_id}/tasks/{}", spec.task);
        let step = match &spec.step {
            TaskStep::Docker { context } => json!({
                "type": "Docker",
                "contextPath": context,
                "dockerFilePath": "Dockerfile",
                "imageNames": [format!("{}:{{{{.Run.ID}}}}", spec.task)],
                "isPushEnabled": true,
            }),
            TaskStep::RunFromTarget {
                image_layout,
                repository,
                tag,
            } => {
                let pushed = self
                    .push_image(http.clone(), &target_server, image_layout, repository, tag)
                    .await;
                if report.record("image push (target)", pushed).is_none() {
                    return report;
                }
                let yaml = format!(
                    "version: v1.1.0\nsteps:\n  - cmd: {target_server}/{repository}:{tag}\n"
                );
                json!({ "type": "EncodedTask", "encodedTaskContent": base64_encode(yaml.as_bytes()) })
            }
        };
        let body = json!({
            "location": spec.location,
            "identity": identity_block,
            "properties": {
                "platform": { "os": "Linux", "architecture": "amd64" },
                "agentConfiguration": { "cpu": 2 },
                "step": step,
                "trigger": { "baseImageTrigger": { "name": "defaultBaseimageTriggerName", "baseImageTriggerType": "Runtime", "status": "Enabled" } },
            },
        });
        let Some(task) = report.record(
            "task create",
            self.put_resource(&task_id, TASKS_API, &body).await,
        ) else {
            return report;
        };
        let (principal, credential) = match &user {
            None => (
                task["identity"]["principalId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                "[system]".to_string(),
            ),
            Some(ident) => (
                ident["properties"]["principalId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                ident["properties"]["clientId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
        };
        if spec.grant_acr_pull {
            let granted = self.grant_acr_pull(&target_id, &principal).await;
            if report.record("role assignment create", granted).is_none() {
                return report;
            }
        }
        let patch = json!({ "properties": { "credentials": { "customRegistries": {
            target_server.clone(): { "identity": credential }
        }}}});
        if report
            .record(
                "task credential add",
                self.patch_resource(&task_id, TASKS_API, &patch).await,
            )
            .is_none()
        {
            return report;
        }
        let request = json!({ "type": "TaskRunRequest", "taskId": task_id });
        let queued = self
            .post_action(
                &format!("{registry_id}/scheduleRun"),
                TASKS_API,
                Some(&request),
            )
            .await;
        let run_id = match queued {
            Ok(Some(run)) => run["properties"]["runId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            Ok(None) => {
                report.record(
                    "task run",
                    Err(Error::Protocol("scheduleRun answered no run".into())),
                );
                return report;
            }
            Err(e) => {
                report.record("task run", Err(e));
                return report;
            }
        };
        let run_path = format!("{registry_id}/runs/{run_id}");
        let ended = self.wait_for_run(&run_path).await;
        if report.record("task run", ended).is_none() {
            return report;
        }
        let log = async {
            let link = self
                .post_action(&format!("{run_path}/listLogSasUrl"), TASKS_API, None)
                .await?
                .and_then(|v| v["logLink"].as_str().map(str::to_string))
                .ok_or_else(|| Error::Protocol("listLogSasUrl gave no logLink".into()))?;
            let resp = http.get(&link).send().await?;
            if !resp.status().is_success() {
                return Err(Error::Protocol(format!("log blob: HTTP {}", resp.status())));
            }
            Ok(json!({ "log": resp.text().await? }))
        };
        report.record("run log", log.await);
        report
    }

    /// Poll a run until it ends (Succeeded, Failed, Canceled, Error, Timeout).
    async fn wait_for_run(&self, run_path: &str) -> Result<Value, Error> {
        let started = std::time::Instant::now();
        loop {
            let run = self
                .get_resource(run_path, TASKS_API)
                .await?
                .ok_or_else(|| Error::Protocol(format!("run {run_path} disappeared")))?;
            let status = run["properties"]["status"].as_str().unwrap_or_default();
            if ["Succeeded", "Failed", "Canceled", "Error", "Timeout"].contains(&status) {
                return Ok(run);
            }
            let wait = self
                .poll_interval
                .unwrap_or(std::time::Duration::from_secs(1));
            if started.elapsed() + wait > self.lro_timeout {
                return Err(Error::LroTimeout(self.lro_timeout));
            }
            (self.sleep)(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64_encode(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn stable_guid_is_a_guid_and_stable() {
        let g = super::stable_guid(&["a", "b"]);
        assert_eq!(g, super::stable_guid(&["a", "b"]));
        assert_ne!(g, super::stable_guid(&["a", "c"]));
        assert_eq!(g.len(), 36);
        assert_eq!(g.matches('-').count(), 4);
    }
}
