//! A small typed client for azemu — and, since it speaks only Azure's public
//! wire protocols, for Azure itself: Entra client-credentials tokens, ARM
//! resource groups, and ARM long-running operations.
//!
//! It deliberately does not depend on the emulator crate: everything it knows
//! comes off the wire.
//!
//! ```no_run
//! # async fn demo() -> Result<(), azemu_client::Error> {
//! let ca = std::fs::read(".azemu/ca.pem").unwrap();
//! let client = azemu_client::Client::builder("https://localhost:8443")
//!     .ca_pem(&ca)?
//!     .well_known_credentials()
//!     .build()?;
//! let rg = client.create_resource_group("demo", "westeurope").await?;
//! assert_eq!(rg.properties.provisioning_state, "Succeeded");
//! client.delete_resource_group("demo").await?;
//! # Ok(()) }
//! ```

pub mod arm;
pub mod credential;
pub mod flows;

pub use credential::Credential;
pub mod oci;
pub mod resources;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the client waits between polls and retries: `tokio::time::sleep` unless
/// a test (or a caller with its own clock) supplies another.
pub type Sleep = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The emulator's well-known development credentials (documented in the README).
pub mod well_known {
    pub const TENANT_ID: &str = "a2e0a2e0-0000-4000-8000-000000000001";
    pub const SUBSCRIPTION_ID: &str = "a2e0a2e0-0000-4000-8000-000000000002";
    pub const CLIENT_ID: &str = "a2e0a2e0-0000-4000-8000-000000000003";
    pub const CLIENT_SECRET: &str = "azemu-well-known-secret-not-for-production";
}

/// api-version used for Microsoft.Resources calls.
pub const RESOURCES_API_VERSION: &str = "2024-07-01";
/// The scope that yields an ARM token.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// ARM's `{"error":{"code","message","details"}}` (also a failed
    /// long-running operation's `error`).
    #[error("ARM {status}: ({code}) {message}")]
    Arm {
        status: u16,
        code: String,
        message: String,
        /// The inner errors ARM lists (e.g. a deployment's failed operations).
        details: Vec<serde_json::Value>,
    },
    /// Entra's `{"error","error_description","error_codes"}`.
    #[error("OAuth {status}: {error}: {description}")]
    OAuth {
        status: u16,
        error: String,
        description: String,
        error_codes: Vec<u64>,
    },
    /// Anything else that is not what the protocol promises.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// The OCI data plane's `{"errors":[{"code","message"}]}`.
    #[error("registry {status}: {code}: {message}")]
    Registry {
        status: u16,
        code: String,
        message: String,
    },
    #[error("long-running operation did not finish within {0:?}")]
    LroTimeout(Duration),
}

impl Error {
    /// The ARM error code, if this is an ARM error.
    pub fn arm_code(&self) -> Option<&str> {
        match self {
            Error::Arm { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Health {
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Token {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ResourceGroup {
    pub id: String,
    pub name: String,
    pub location: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    pub properties: ResourceGroupProperties,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ResourceGroupProperties {
    #[serde(rename = "provisioningState")]
    pub provisioning_state: String,
}

#[derive(Deserialize)]
struct ArmErrorBody {
    error: ArmErrorDetail,
}
#[derive(Deserialize)]
struct ArmErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "nextLink")]
    next_link: Option<String>,
}

pub struct ClientBuilder {
    base: String,
    http: reqwest::ClientBuilder,
    tenant_id: String,
    subscription_id: String,
    credential: Credential,
    poll_interval: Option<Duration>,
    lro_timeout: Duration,
    max_retries: u32,
    sleep: Sleep,
    authority: Option<String>,
}

impl ClientBuilder {
    /// Where tokens come from, when not from `base`: real Azure's
    /// `https://login.microsoftonline.com` (with `base` then
    /// `https://management.azure.com`, both reached through azemu's
    /// transparent mode by [`ClientBuilder::proxy`]).
    pub fn authority_host(mut self, url: &str) -> Self {
        self.authority = Some(url.trim_end_matches('/').to_string());
        self
    }

    /// Retry a request answered 429 or 5xx up to this many times (default 4),
    /// after its `Retry-After` or, without one, 1 s, 2 s, 4 s, …
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Wait with this instead of `tokio::time::sleep` (polls and retries).
    pub fn sleep_with(mut self, sleep: Sleep) -> Self {
        self.sleep = sleep;
        self
    }

    /// Send every request through this proxy (e.g. azemu's transparent mode:
    /// `http://localhost:8443`, with `base` left as Azure's real hosts).
    pub fn proxy(mut self, url: &str) -> Result<Self, Error> {
        self.http = self.http.proxy(reqwest::Proxy::all(url)?);
        Ok(self)
    }

    /// Trust this CA (PEM), e.g. `<data-dir>/ca.pem`.
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.http = self
            .http
            .add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        Ok(self)
    }

    pub fn well_known_credentials(self) -> Self {
        self.credentials(
            well_known::TENANT_ID,
            well_known::CLIENT_ID,
            well_known::CLIENT_SECRET,
        )
    }

    /// A service principal's client secret (the v2.0 token endpoint of `tenant_id`).
    pub fn credentials(mut self, tenant_id: &str, client_id: &str, client_secret: &str) -> Self {
        self.tenant_id = tenant_id.into();
        self.credential = Credential::ClientSecret {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        };
        self
    }

    /// Any [`Credential`]: a managed identity, a static token, …
    pub fn credential(mut self, credential: Credential) -> Self {
        self.credential = credential;
        self
    }

    /// The tenant tokens are asked of (and that ACR's exchange is told).
    pub fn tenant(mut self, tenant_id: &str) -> Self {
        self.tenant_id = tenant_id.into();
        self
    }

    pub fn subscription(mut self, subscription_id: &str) -> Self {
        self.subscription_id = subscription_id.into();
        self
    }

    /// Poll long-running operations at this interval instead of the server's `Retry-After`.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = Some(every);
        self
    }

    /// Give up on a long-running operation after this long (default 5 minutes).
    pub fn lro_timeout(mut self, limit: Duration) -> Self {
        self.lro_timeout = limit;
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let base = self.base.trim_end_matches('/').to_string();
        Ok(Client {
            http: self.http.build()?,
            authority: self.authority.unwrap_or_else(|| base.clone()),
            base,
            tenant_id: self.tenant_id,
            subscription_id: self.subscription_id,
            credential: self.credential,
            poll_interval: self.poll_interval,
            lro_timeout: self.lro_timeout,
            max_retries: self.max_retries,
            sleep: self.sleep,
            token: Mutex::new(None),
        })
    }
}

/// One emulator (or Azure) endpoint, one identity, one subscription.
pub struct Client {
    http: reqwest::Client,
    base: String,
    authority: String,
    tenant_id: String,
    subscription_id: String,
    credential: Credential,
    poll_interval: Option<Duration>,
    lro_timeout: Duration,
    max_retries: u32,
    sleep: Sleep,
    token: Mutex<Option<(String, Instant)>>,
}

impl Client {
    /// `base` serves both ARM and Entra, e.g. `https://localhost:8443`.
    pub fn builder(base: &str) -> ClientBuilder {
        ClientBuilder {
            base: base.into(),
            http: reqwest::Client::builder().use_rustls_tls(),
            tenant_id: well_known::TENANT_ID.into(),
            subscription_id: well_known::SUBSCRIPTION_ID.into(),
            credential: Credential::ClientSecret {
                client_id: well_known::CLIENT_ID.into(),
                client_secret: well_known::CLIENT_SECRET.into(),
            },
            poll_interval: None,
            lro_timeout: Duration::from_secs(300),
            max_retries: 4,
            sleep: Arc::new(|d| Box::pin(tokio::time::sleep(d))),
            authority: None,
        }
    }

    pub fn subscription_id(&self) -> &str {
        &self.subscription_id
    }

    /// `GET /_emulator/health` (azemu only).
    pub async fn health(&self) -> Result<Health, Error> {
        let resp = self
            .http
            .get(format!("{}/_emulator/health", self.base))
            .send()
            .await?;
        decode(resp).await
    }

    /// A cached ARM bearer token, renewed five minutes before it expires.
    async fn arm_token(&self) -> Result<String, Error> {
        if let Some((t, until)) = self.token.lock().expect("token lock").clone()
            && Instant::now() < until
        {
            return Ok(t);
        }
        let t = self.token(ARM_SCOPE).await?;
        let fresh_for = Duration::from_secs(t.expires_in.saturating_sub(300));
        let until = Instant::now()
            .checked_add(fresh_for)
            .unwrap_or_else(Instant::now);
        *self.token.lock().expect("token lock") = Some((t.access_token.clone(), until));
        Ok(t.access_token)
    }

    fn rg_url(&self, name: &str) -> String {
        format!(
            "{}/subscriptions/{}/resourcegroups/{}?api-version={RESOURCES_API_VERSION}",
            self.base, self.subscription_id, name
        )
    }

    pub async fn create_resource_group(
        &self,
        name: &str,
        location: &str,
    ) -> Result<ResourceGroup, Error> {
        self.create_resource_group_with_tags(name, location, BTreeMap::new())
            .await
    }

    pub async fn create_resource_group_with_tags(
        &self,
        name: &str,
        location: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<ResourceGroup, Error> {
        let body = serde_json::json!({ "location": location, "tags": tags });
        let resp = self
            .send(reqwest::Method::PUT, &self.rg_url(name), Some(&body))
            .await?;
        decode(resp).await
    }

    /// `None` when the group does not exist.
    pub async fn get_resource_group(&self, name: &str) -> Result<Option<ResourceGroup>, Error> {
        let resp = self
            .send(reqwest::Method::GET, &self.rg_url(name), None)
            .await?;
        match decode(resp).await {
            Ok(rg) => Ok(Some(rg)),
            Err(e) if e.arm_code() == Some("ResourceGroupNotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every group in the subscription, following `nextLink`.
    pub async fn list_resource_groups(&self) -> Result<Vec<ResourceGroup>, Error> {
        let url = format!(
            "{}/subscriptions/{}/resourcegroups?api-version={RESOURCES_API_VERSION}",
            self.base, self.subscription_id
        );
        self.list_all(&url).await
    }

    /// Delete a group and wait for the long-running operation to finish.
    pub async fn delete_resource_group(&self, name: &str) -> Result<(), Error> {
        let url = self.rg_url(name);
        let resp = self.send(reqwest::Method::DELETE, &url, None).await?;
        self.finish(reqwest::Method::DELETE, &url, resp)
            .await
            .map(|_| ())
    }

    /// Follow an ARM long-running operation started by a DELETE or POST whose
    /// first response is `first` (see [`Client::finish`] for every style).
    pub async fn finish_lro(&self, first: reqwest::Response) -> Result<(), Error> {
        let url = first.url().to_string();
        self.finish(reqwest::Method::DELETE, &url, first)
            .await
            .map(|_| ())
    }
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn decode<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, Error> {
    if !resp.status().is_success() {
        return Err(error_from(resp).await);
    }
    let bytes = resp.bytes().await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Protocol(format!("{e}: {}", String::from_utf8_lossy(&bytes))))
}

async fn error_from(resp: reqwest::Response) -> Error {
    let status = resp.status().as_u16();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    match serde_json::from_slice::<ArmErrorBody>(&bytes) {
        Ok(b) => Error::Arm {
            status,
            code: b.error.code,
            message: b.error.message,
            details: b.error.details,
        },
        Err(_) => Error::Protocol(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn client_for(server: &MockServer) -> Client {
        Mock::given(method("POST"))
            .and(path(format!("/{}/oauth2/v2.0/token", well_known::TENANT_ID)))
            .and(body_string_contains("grant_type=client_credentials"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "tok"
            })))
            .mount(server)
            .await;
        Client::builder(&server.uri())
            .poll_interval(Duration::ZERO)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn delete_follows_location_until_done() {
        let server = MockServer::start().await;
        let client = client_for(&server).await;
        let poll = format!(
            "{}/subscriptions/s/operationresults/op1?api-version=2024-07-01",
            server.uri()
        );
        Mock::given(method("DELETE"))
            .respond_with(
                ResponseTemplate::new(202)
                    .insert_header("Location", poll.as_str())
                    .insert_header("Retry-After", "1"),
            )
            .expect(1)
            .mount(&server)
            .await;
        // Two polls still running, then done.
        Mock::given(method("GET"))
            .and(path("/subscriptions/s/operationresults/op1"))
            .respond_with(ResponseTemplate::new(202).insert_header("Location", poll.as_str()))
            .up_to_n_times(2)
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/subscriptions/s/operationresults/op1"))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        client.delete_resource_group("rg").await.unwrap();
    }

    #[tokio::test]
    async fn arm_errors_are_typed() {
        let server = MockServer::start().await;
        let client = client_for(&server).await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
                "error": {"code": "AuthorizationFailed", "message": "no"}
            })))
            .mount(&server)
            .await;
        let err = client.get_resource_group("rg").await.unwrap_err();
        assert_eq!(err.arm_code(), Some("AuthorizationFailed"));
    }

    #[tokio::test]
    async fn missing_group_is_none() {
        let server = MockServer::start().await;
        let client = client_for(&server).await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
                "error": {"code": "ResourceGroupNotFound", "message": "Resource group 'rg' could not be found."}
            })))
            .mount(&server)
            .await;
        assert!(client.get_resource_group("rg").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oauth_errors_carry_aadsts_codes() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215]
            })))
            .mount(&server)
            .await;
        let client = Client::builder(&server.uri()).build().unwrap();
        match client.token(ARM_SCOPE).await.unwrap_err() {
            Error::OAuth {
                status,
                error,
                error_codes,
                ..
            } => {
                assert_eq!(
                    (status, error.as_str(), error_codes),
                    (401, "invalid_client", vec![7000215])
                );
            }
            e => panic!("expected an OAuth error, got {e}"),
        }
    }
}
