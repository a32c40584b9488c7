//! Where the client's Entra tokens come from: a client secret (the v2.0 token
//! endpoint), a managed identity (the `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`
//! style App Service and ACI give code inside them, or IMDS), or a token the
//! caller already holds.

use crate::{Error, Token};
use serde_json::Value;

#[derive(Clone, Debug)]
pub enum Credential {
    /// `POST {authority}/{tenant}/oauth2/v2.0/token` (client credentials).
    ClientSecret {
        client_id: String,
        client_secret: String,
    },
    /// `GET {endpoint}?api-version=2019-08-01&resource=…[&client_id=…]` with
    /// `X-IDENTITY-HEADER` — what App Service and container groups set as
    /// `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`.
    IdentityEndpoint {
        endpoint: String,
        header: String,
        /// A user-assigned identity's client id (none: the only, or system, identity).
        client_id: Option<String>,
    },
    /// `GET {host}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
    /// with `Metadata: true` (host `http://169.254.169.254` on a VM).
    Imds {
        host: String,
        client_id: Option<String>,
    },
    /// A bearer token used as given (never renewed).
    StaticToken(String),
}

impl Credential {
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` (and `AZURE_CLIENT_ID`) from the
    /// environment, as code inside a container group finds them.
    pub fn managed_identity_from_env() -> Option<Credential> {
        Some(Credential::IdentityEndpoint {
            endpoint: std::env::var("IDENTITY_ENDPOINT").ok()?,
            header: std::env::var("IDENTITY_HEADER").ok()?,
            client_id: std::env::var("AZURE_CLIENT_ID").ok(),
        })
    }
}

/// The managed-identity endpoints take a resource, not a scope.
fn resource_of(scope: &str) -> &str {
    scope.strip_suffix(".default").unwrap_or(scope)
}

/// The query both managed-identity styles take.
fn mi_query<'a>(
    api_version: &'a str,
    scope: &'a str,
    client_id: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut q = vec![
        ("api-version", api_version),
        ("resource", resource_of(scope)),
    ];
    q.extend(client_id.map(|c| ("client_id", c)));
    q
}

/// A number or a numeric string (managed-identity endpoints send strings).
fn seconds(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())
}

/// A managed-identity token response: `expires_in`, or else `expires_on` (Unix seconds).
fn token_from(body: &Value) -> Result<Token, Error> {
    let access_token = body["access_token"]
        .as_str()
        .ok_or_else(|| Error::Protocol(format!("no access_token in {body}")))?
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let expires_in = seconds(&body["expires_in"])
        .or_else(|| seconds(&body["expires_on"]).map(|on| on.saturating_sub(now)))
        .unwrap_or(0);
    Ok(Token {
        access_token,
        token_type: body["token_type"].as_str().unwrap_or("Bearer").to_string(),
        expires_in,
    })
}

impl crate::Client {
    /// A token for `scope` (`https://management.azure.com/.default`) from the credential.
    pub async fn token(&self, scope: &str) -> Result<Token, Error> {
        let req = match &self.credential {
            Credential::StaticToken(t) => {
                return Ok(Token {
                    access_token: t.clone(),
                    token_type: "Bearer".into(),
                    // Never renewed: a year stands for "as long as it lasts".
                    expires_in: 365 * 24 * 3600,
                });
            }
            Credential::ClientSecret {
                client_id,
                client_secret,
            } => {
                let url = format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant_id);
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.as_str()),
                    ("scope", scope),
                ];
                self.http.post(url).form(&form)
            }
            Credential::IdentityEndpoint {
                endpoint,
                header,
                client_id,
            } => self
                .http
                .get(endpoint)
                .query(&mi_query("2019-08-01", scope, client_id.as_deref()))
                .header("X-IDENTITY-HEADER", header),
            Credential::Imds { host, client_id } => self
                .http
                .get(format!(
                    "{}/metadata/identity/oauth2/token",
                    host.trim_end_matches('/')
                ))
                .query(&mi_query("2018-02-01", scope, client_id.as_deref()))
                .header("Metadata", "true"),
        };
        let resp = req.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if status.is_success() {
            let body: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Protocol(format!("token body: {e}")))?;
            return token_from(&body);
        }
        match serde_json::from_slice::<crate::OAuthErrorBody>(&bytes) {
            Ok(b) => Err(Error::OAuth {
                status: status.as_u16(),
                error: b.error,
                description: b.error_description,
                error_codes: b.error_codes,
            }),
            Err(_) => Err(Error::Protocol(format!(
                "{status}: {}",
                String::from_utf8_lossy(&bytes)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn managed_identity_bodies_give_their_lifetime() {
        let t =
            token_from(&json!({"access_token": "a", "expires_in": "3599", "token_type": "Bearer"}))
                .unwrap();
        assert_eq!(t.expires_in, 3599);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let t = token_from(&json!({"access_token": "a", "expires_on": (now + 600).to_string()}))
            .unwrap();
        assert!((598..=600).contains(&t.expires_in), "{}", t.expires_in);
        assert!(token_from(&json!({"error": "x"})).is_err());
        assert_eq!(
            resource_of("https://management.azure.com/.default"),
            "https://management.azure.com/"
        );
    }
}
