//! Minting and validating Entra access tokens: real RS256 JWTs.
//!
//! Tokens for Azure's first-party resources (ARM, Graph, ACR, ...) are v1.0
//! tokens, as Entra issues them: `iss` is `https://sts.windows.net/{tid}/`
//! whatever host the client asked, `aud` is the resource as requested
//! (`https://management.core.windows.net/` for az, `https://management.azure.com`
//! for the SDKs). Any other resource gets a v2.0 token (`azp`, v2 issuer).
//!
//! Validation here checks what every plane checks: the algorithm (RS256 only,
//! so `alg: none` and HS256-with-the-public-key fail), the key id, the
//! signature and the lifetime against the emulator's clock. Each plane then
//! checks audience and tenant itself and words the failure its own way.

use super::directory::{PrincipalKind, ServicePrincipal};
use super::keys::SigningKey;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Access tokens live 60–90 minutes in Entra; the emulator uses 3599 s, the figure Entra reports.
pub const LIFETIME_SECS: i64 = 3599;
/// Clock skew tolerated when checking exp/nbf (ARM allows five minutes).
pub const SKEW_SECS: i64 = 300;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub oid: String,
    pub sub: String,
    pub tid: String,
    pub ver: String,
    pub idtyp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appidacr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azpacr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    pub uti: String,
    pub rh: String,
    /// Managed identities only: the identity's ARM resource id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xms_mirid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a well-formed RS256 JWT")]
    Malformed,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token expired at {exp}")]
    Expired { exp: OffsetDateTime },
    #[error("token not valid before {nbf}")]
    NotYetValid { nbf: OffsetDateTime },
}

pub fn v1_issuer(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

pub fn v2_issuer(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

/// Azure first-party resources get v1.0 tokens.
fn is_first_party(resource: &str) -> bool {
    let r = resource.to_ascii_lowercase();
    [
        "https://management.core.windows.net",
        "https://management.azure.com",
        "https://graph.microsoft.com",
        "https://graph.windows.net",
        "https://containerregistry.azure.net",
        "https://storage.azure.com",
        "https://vault.azure.net",
    ]
    .iter()
    .any(|p| r.starts_with(p))
        || r.starts_with("https://localhost")
        || r.starts_with("https://127.0.0.1")
}

pub struct TokenService {
    key: SigningKey,
    /// How long an access token lives (Entra's figure by default).
    lifetime: i64,
    /// The clock skew tolerated when checking exp/nbf.
    skew: i64,
}

impl TokenService {
    pub fn new(key: SigningKey) -> Self {
        TokenService {
            key,
            lifetime: LIFETIME_SECS,
            skew: SKEW_SECS,
        }
    }

    /// Other token lifetime and tolerated skew (`--token-lifetime-seconds`, `--token-skew-seconds`).
    pub fn with_timing(mut self, lifetime_secs: i64, skew_secs: i64) -> Self {
        self.lifetime = lifetime_secs.max(1);
        self.skew = skew_secs.max(0);
        self
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Build the claims of an access token for `sp` and `audience`, issued `now`.
    pub fn claims_for(&self, sp: &ServicePrincipal, audience: &str, now: OffsetDateTime) -> Claims {
        let iat = now.unix_timestamp();
        let v1 = is_first_party(audience);
        let tid = sp.tenant_id.clone();
        Claims {
            aud: audience.to_string(),
            iss: if v1 { v1_issuer(&tid) } else { v2_issuer(&tid) },
            iat,
            nbf: iat,
            exp: iat + self.lifetime,
            oid: sp.object_id.clone(),
            sub: sp.object_id.clone(),
            ver: if v1 { "1.0" } else { "2.0" }.into(),
            idtyp: "app".into(),
            appid: v1.then(|| sp.app_id.clone()),
            appidacr: v1.then(|| {
                if sp.kind == PrincipalKind::ManagedIdentity {
                    "2"
                } else {
                    "1"
                }
                .into()
            }),
            azp: (!v1).then(|| sp.app_id.clone()),
            azpacr: (!v1).then(|| {
                if sp.kind == PrincipalKind::ManagedIdentity {
                    "2"
                } else {
                    "1"
                }
                .into()
            }),
            idp: Some(v1_issuer(&tid)),
            uti: uuid::Uuid::new_v4().simple().to_string()[..22].to_string(),
            rh: "0.emulated.".into(),
            xms_mirid: sp.mi_resource_id.clone(),
            tid,
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key.kid.clone());
        header.x5t = Some(self.key.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key.encoding)
            .expect("RS256 signing with a valid key")
    }

    /// Check algorithm, key id, signature and lifetime. Audience and tenant are the caller's business.
    pub fn validate(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Malformed);
        }
        if header.kid.as_deref().is_some_and(|k| k != self.key.kid) {
            return Err(TokenError::BadSignature);
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, &self.key.decoding, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_) => {
                    TokenError::BadSignature
                }
                _ => TokenError::Malformed,
            }
        })?;
        let c = data.claims;
        let t = now.unix_timestamp();
        if t > c.exp + self.skew {
            return Err(TokenError::Expired {
                exp: from_unix(c.exp),
            });
        }
        if t + self.skew < c.nbf {
            return Err(TokenError::NotYetValid {
                nbf: from_unix(c.nbf),
            });
        }
        Ok(c)
    }
}

pub fn from_unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The way ARM prints times in token errors: `6/15/2026 8:22:51 AM`.
pub fn arm_error_time(t: OffsetDateTime) -> String {
    let (h, ampm) = match t.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!(
        "{}/{}/{} {}:{:02}:{:02} {}",
        u8::from(t.month()),
        t.day(),
        t.year(),
        h,
        t.minute(),
        t.second(),
        ampm
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp() -> ServicePrincipal {
        ServicePrincipal {
            object_id: "o".into(),
            app_id: "a".into(),
            tenant_id: "t".into(),
            display_name: "d".into(),
            kind: PrincipalKind::Application,
            secrets: vec![],
            mi_resource_id: None,
            created_ms: None,
        }
    }

    fn service() -> TokenService {
        use std::sync::OnceLock;
        static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        let k = KEY.get_or_init(|| SigningKey::generate().unwrap());
        TokenService::new(SigningKey::from_private(k).unwrap())
    }

    #[test]
    fn round_trip_and_lifetime() {
        let s = service();
        let now = OffsetDateTime::now_utc();
        let c = s.claims_for(&sp(), "https://management.core.windows.net/", now);
        assert_eq!(c.ver, "1.0");
        assert_eq!(c.iss, "https://sts.windows.net/t/");
        let tok = s.sign(&c);
        assert_eq!(s.validate(&tok, now).unwrap(), c);
        let later = now + time::Duration::seconds(LIFETIME_SECS + SKEW_SECS + 1);
        assert!(matches!(
            s.validate(&tok, later),
            Err(TokenError::Expired { .. })
        ));
        let earlier = now - time::Duration::seconds(SKEW_SECS + 1);
        assert!(matches!(
            s.validate(&tok, earlier),
            Err(TokenError::NotYetValid { .. })
        ));
        assert_eq!(s.validate("not.a.jwt", now), Err(TokenError::Malformed));
    }

    #[test]
    fn custom_audiences_get_v2_tokens() {
        let c = service().claims_for(&sp(), "api://my-app", OffsetDateTime::now_utc());
        assert_eq!(c.ver, "2.0");
        assert_eq!(c.azp.as_deref(), Some("a"));
        assert!(c.appid.is_none());
    }

    #[test]
    fn arm_error_time_format() {
        let t = time::macros::datetime!(2026-06-15 08:22:51 UTC);
        assert_eq!(arm_error_time(t), "6/15/2026 8:22:51 AM");
        let t = time::macros::datetime!(2026-06-15 00:05:01 UTC);
        assert_eq!(arm_error_time(t), "6/15/2026 12:05:01 AM");
        let t = time::macros::datetime!(2026-06-15 21:27:25 UTC);
        assert_eq!(arm_error_time(t), "6/15/2026 9:27:25 PM");
    }

    proptest::proptest! {
        /// Any string as a bearer token: refused, never a panic.
        #[test]
        fn garbage_tokens_are_refused(t in ".{0,300}") {
            proptest::prop_assert!(service().validate(&t, OffsetDateTime::now_utc()).is_err());
        }

        /// A real token with one character changed anywhere is refused (or, if
        /// the change is in base64 padding bits, decodes to the same claims).
        #[test]
        fn tampered_tokens_are_refused(at in 0usize..2000, with in "[A-Za-z0-9_-]") {
            let s = service();
            let now = OffsetDateTime::now_utc();
            let c = s.claims_for(&sp(), "https://management.azure.com/", now);
            let tok = s.sign(&c);
            let i = at % tok.len();
            let mut b = tok.clone().into_bytes();
            if b[i] == b'.' || b[i] == with.as_bytes()[0] {
                return Ok(());
            }
            b[i] = with.as_bytes()[0];
            let t = String::from_utf8(b).unwrap();
            match s.validate(&t, now) {
                Err(_) => {}
                Ok(got) => proptest::prop_assert_eq!(got, c),
            }
        }
    }
}
