//! Bearer validation on ARM: every bad token is a 401 with ARM's code and a
//! `WWW-Authenticate` challenge, never a 5xx.

use crate::harness::{Emulator, SUBSCRIPTION, TENANT};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

async fn get_subscription(em: &Emulator, auth: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = em.http().get(format!(
        "{}/subscriptions/{SUBSCRIPTION}?api-version=2022-12-01",
        em.base()
    ));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let body = r.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

async fn assert_401(em: &Emulator, token: &str, code: &str) -> String {
    let (status, challenge, body) = get_subscription(em, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let challenge = challenge.expect("WWW-Authenticate on a 401");
    assert!(
        challenge.starts_with("Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    body["error"]["message"].as_str().unwrap().to_string()
}

/// Claims of a genuine token, to tamper with.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&B64.decode(payload).expect("base64")).expect("claims json")
}

/// The emulator's own signing key, read from its data dir (a test may forge
/// tokens the emulator would itself issue, to isolate one check at a time).
fn emulator_key(em: &Emulator) -> EncodingKey {
    let pem = std::fs::read_to_string(em.data_dir().join("signing-key.pem")).expect("signing key");
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(&pem).expect("pkcs1");
    EncodingKey::from_rsa_pem(key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap()
}

#[tokio::test]
async fn valid_token_is_accepted() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let (status, _, body) = get_subscription(&em, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subscriptionId"], SUBSCRIPTION);
    assert_eq!(body["displayName"], "azemu");
}

#[tokio::test]
async fn no_token() {
    let em = Emulator::start();
    let (status, challenge, body) = get_subscription(&em, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "AuthenticationFailed");
    assert_eq!(
        body["error"]["message"],
        "Authentication failed. The 'Authorization' header is missing."
    );
    assert!(challenge.is_some());
    let (status, _, body) = get_subscription(&em, Some("Basic dXNlcjpwYXNz")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "AuthenticationFailed");
}

#[tokio::test]
async fn expired_token() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    // Lifetime 3599 s plus ARM's five minutes of skew: still fine just inside, expired after.
    em.advance_clock(3599 + 290).await;
    let (status, _, _) = get_subscription(&em, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "inside the skew window");
    em.advance_clock(20).await;
    let msg = assert_401(&em, &token, "ExpiredAuthenticationToken").await;
    // ARM: "The access token expiry UTC time '6/15/2026 8:22:51 AM' is earlier than current UTC time '…'."
    let parts: Vec<&str> = msg.split('\'').collect();
    assert_eq!(parts.len(), 5, "{msg}");
    assert_eq!(parts[0], "The access token expiry UTC time ");
    assert_eq!(parts[2], " is earlier than current UTC time ");
    assert_eq!(parts[4], ".");
    assert!(
        parts[1].ends_with(" AM") || parts[1].ends_with(" PM"),
        "{msg}"
    );
}

#[tokio::test]
async fn token_signed_by_another_key() {
    let em = Emulator::start();
    let claims = claims_of(&em.arm_token().await);
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let key =
        EncodingKey::from_rsa_pem(other.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    let forged = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
    assert_401(&em, &forged, "InvalidAuthenticationToken").await;
}

#[tokio::test]
async fn alg_none() {
    let em = Emulator::start();
    let claims = claims_of(&em.arm_token().await);
    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = B64.encode(serde_json::to_vec(&claims).unwrap());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        assert_401(&em, &token, "InvalidAuthenticationToken").await;
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key() {
    let em = Emulator::start();
    let claims = claims_of(&em.arm_token().await);
    let pem = std::fs::read_to_string(em.data_dir().join("signing-key.pem")).unwrap();
    let public = rsa::RsaPublicKey::from(&rsa::RsaPrivateKey::from_pkcs1_pem(&pem).unwrap());
    let public_pem = public.to_public_key_pem(LineEnding::LF).unwrap();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    assert_401(&em, &forged, "InvalidAuthenticationToken").await;
}

#[tokio::test]
async fn wrong_audience() {
    let em = Emulator::start();
    // A genuine token, issued for Key Vault rather than ARM.
    let token = em
        .client()
        .token("https://vault.azure.net/.default")
        .await
        .unwrap()
        .access_token;
    let msg = assert_401(&em, &token, "InvalidAuthenticationTokenAudience").await;
    assert!(
        msg.starts_with("The access token has been obtained for wrong audience or resource 'https://vault.azure.net'."),
        "{msg}"
    );
}

#[tokio::test]
async fn wrong_tenant() {
    let em = Emulator::start();
    let mut claims = claims_of(&em.arm_token().await);
    let other = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    claims["tid"] = json!(other);
    claims["iss"] = json!(format!("https://sts.windows.net/{other}/"));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = jsonwebtoken::decode_header(&em.arm_token().await)
        .unwrap()
        .kid;
    let forged = jsonwebtoken::encode(&header, &claims, &emulator_key(&em)).unwrap();
    let msg = assert_401(&em, &forged, "InvalidAuthenticationTokenTenant").await;
    assert!(msg.contains(other) && msg.contains(TENANT), "{msg}");
}

#[tokio::test]
async fn garbage_tokens_are_401_not_5xx() {
    let em = Emulator::start();
    for token in ["x", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30.", "Bearer"] {
        let (status, _, body) = get_subscription(&em, Some(&format!("Bearer {token}"))).await;
        assert_eq!(status, 401, "token {token:?}: {body}");
    }
    // Bytes that are not visible ASCII in the header.
    let r = em
        .http()
        .get(format!(
            "{}/subscriptions/{SUBSCRIPTION}?api-version=2022-12-01",
            em.base()
        ))
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe.\x80").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
