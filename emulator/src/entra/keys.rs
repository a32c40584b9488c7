//! The RS256 key Entra signs every token with. Generated on first start and
//! kept in the data dir (`signing-key.pem`, mode 0600) so tokens survive restarts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

pub struct SigningKey {
    /// Key id: base64url of the first 20 bytes of SHA-256 over the modulus (Entra's kids are 27 chars too).
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    n: String,
    e: String,
}

impl SigningKey {
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("signing-key.pem");
        let key = if path.exists() {
            RsaPrivateKey::from_pkcs1_pem(&std::fs::read_to_string(&path)?)?
        } else {
            let key = Self::generate()?;
            let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)?;
            crate::config::write_private(&path, pem.as_bytes())?;
            key
        };
        Self::from_private(&key)
    }

    pub fn generate() -> anyhow::Result<RsaPrivateKey> {
        Ok(RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?)
    }

    pub fn from_private(key: &RsaPrivateKey) -> anyhow::Result<Self> {
        let der = key.to_pkcs1_der()?;
        let public = RsaPublicKey::from(key);
        let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public.n().to_bytes_be())[..20]);
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding: DecodingKey::from_rsa_components(&n, &e)?,
            n,
            e,
        })
    }

    /// The key as a JWKS entry.
    pub fn jwk(&self, issuer: &str) -> Value {
        json!({"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": self.n, "e": self.e, "issuer": issuer})
    }
}
