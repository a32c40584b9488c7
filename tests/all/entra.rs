//! The Entra token service as MSAL sees it: discovery documents, JWKS, the
//! v2.0 and v1 token endpoints, and errors with real AADSTS codes.

use crate::harness::{CLIENT_ID, CLIENT_SECRET, Emulator, TENANT};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

async fn post_form(em: &Emulator, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = em
        .http()
        .post(format!("{}{path}", em.base()))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A client-credentials form for the bootstrap principal, with `extra` (scope or resource).
fn client_credentials<'a>(
    id: &'a str,
    secret: &'a str,
    extra: (&'a str, &'a str),
) -> [(&'a str, &'a str); 4] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        extra,
    ]
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn discovery_documents_point_back_at_the_host_asked_for() {
    let em = Emulator::start();
    let http = em.http();
    let base = em.base();
    let v2: Value = http
        .get(format!(
            "{base}/{TENANT}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v2["token_endpoint"],
        format!("{base}/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(v2["issuer"], format!("{base}/{TENANT}/v2.0"));
    let jwks: Value = http
        .get(v2["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert!(key["n"].as_str().unwrap().len() > 300, "a 2048-bit modulus");
    let v1: Value = http
        .get(format!("{base}/{TENANT}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v1["token_endpoint"],
        format!("{base}/{TENANT}/oauth2/token")
    );
    let inst: Value = http
        .get(format!(
            "{base}/common/discovery/instance?api-version=1.1&authorization_endpoint={base}/{TENANT}/oauth2/v2.0/authorize"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        inst["tenant_discovery_endpoint"]
            .as_str()
            .unwrap()
            .starts_with(&base),
        "{inst}"
    );
}

#[tokio::test]
async fn v2_token_has_entra_claims_and_verifies_against_jwks() {
    let em = Emulator::start();
    let (status, body) = post_form(
        &em,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &client_credentials(
            CLIENT_ID,
            CLIENT_SECRET,
            ("scope", "https://management.azure.com/.default"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    let c = claims(token);
    // ARM is a first-party resource: Entra issues v1 tokens for it.
    assert_eq!(c["aud"], "https://management.azure.com");
    assert_eq!(c["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(c["tid"], TENANT);
    assert_eq!(c["appid"], CLIENT_ID);
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["ver"], "1.0");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3599
    );

    // Verify the signature with the published JWKS, as a resource server would.
    let jwks: Value = em
        .http()
        .get(format!("{}/{TENANT}/discovery/v2.0/keys", em.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header.kid.clone().unwrap().as_str())
        .unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["https://management.azure.com"]);
    jsonwebtoken::decode::<Value>(token, &key, &v).expect("signature verifies with the JWKS key");
}

#[tokio::test]
async fn v1_token_endpoint_takes_resource() {
    let em = Emulator::start();
    let (status, body) = post_form(
        &em,
        &format!("/{TENANT}/oauth2/token"),
        &client_credentials(
            CLIENT_ID,
            CLIENT_SECRET,
            ("resource", "https://management.core.windows.net/"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resource"], "https://management.core.windows.net/");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        "https://management.core.windows.net/"
    );
}

#[tokio::test]
async fn oauth_errors_carry_real_aadsts_codes() {
    let em = Emulator::start();
    let cases: [(String, &str, &str, u16, &str, u64); 3] = [
        (
            format!("/{TENANT}/oauth2/v2.0/token"),
            CLIENT_ID,
            "wrong",
            401,
            "invalid_client",
            7000215,
        ),
        (
            format!("/{TENANT}/oauth2/v2.0/token"),
            "11111111-2222-3333-4444-555555555555",
            CLIENT_SECRET,
            400,
            "unauthorized_client",
            700016,
        ),
        (
            "/99999999-0000-0000-0000-000000000000/oauth2/v2.0/token".into(),
            CLIENT_ID,
            CLIENT_SECRET,
            400,
            "invalid_request",
            90002,
        ),
    ];
    for (path, id, secret, status, error, code) in cases {
        let (got, body) = post_form(
            &em,
            &path,
            &client_credentials(
                id,
                secret,
                ("scope", "https://management.azure.com/.default"),
            ),
        )
        .await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(body["error_codes"][0], code, "{body}");
        let desc = body["error_description"].as_str().unwrap();
        assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
        for field in ["trace_id", "correlation_id", "timestamp"] {
            assert!(body[field].is_string(), "{field} in {body}");
        }
        // Each refusal is traced: the check that failed and the AADSTS code given.
        let traces = em
            .control_json("/_emulator/traces?kind=entra-token&failed=true&limit=1")
            .await;
        let t = &traces["value"][0];
        assert!(
            t["outcome"]
                .as_str()
                .unwrap()
                .contains(&format!("AADSTS{code}")),
            "{t}"
        );
        let failed = t["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["passed"] == false)
            .unwrap();
        let want = if code == 90002 {
            "tenant"
        } else {
            "credentials"
        };
        if [90002, 700016, 7000215, 7000218].contains(&code) {
            assert_eq!(failed["check"], want, "{t}");
        }
    }
}
