//! Stored state is always readable, and writes are all-or-nothing (issue 19,
//! items 3 and 12): nothing accepted is stored so deep that it cannot be read
//! back, one unreadable row fails only the requests for its own resource, and
//! a write that fails leaves the world byte-identical.

use crate::harness::{Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};

fn rg(name: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}")
}

/// PUT raw bytes as an ARM body: (status, JSON answer or null).
async fn put_raw(em: &Emulator, token: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    Emulator::answer(
        em.http()
            .put(format!("{}{path}", em.base()))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

/// `depth` levels of nested objects around `1`: `{"a":{"a":…1…}}`.
fn nested(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

/// The review's brick: a deployment whose parameter value sits just under the
/// request nesting limit was stored one level deeper, past what can be read
/// back, and every later ARM request of every caller answered 500.
#[tokio::test]
async fn a_deep_deployment_body_never_bricks_the_emulator() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    em.arm(
        &token,
        Method::PUT,
        &format!("{}?api-version=2024-07-01", rg("deep")),
        Some(json!({"location": "eastus"})),
    )
    .await;
    // body → properties → parameters → p → value: the value starts 4 levels down,
    // and the body is 127 levels deep (as deep as serde_json reads).
    let body = format!(
        r#"{{"properties":{{"mode":"Incremental","template":{{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","parameters":{{"p":{{"type":"object"}}}},"resources":[]}},"parameters":{{"p":{{"value":{}}}}}}}}}"#,
        nested(127 - 4)
    );
    let path = format!(
        "{}/providers/Microsoft.Resources/deployments/deep?api-version=2024-03-01",
        rg("deep")
    );
    let (status, answer) = put_raw(&em, &token, &path, body.into_bytes()).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent")),
        "{answer}"
    );
    // Every other request still answers.
    let (status, answer) = em
        .arm(
            &token,
            Method::GET,
            &format!("{}?api-version=2024-07-01", rg("deep")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}
