//! The client's ARM layer against wiremock, no emulator: long-running
//! operations in each of ARM's three styles, `Retry-After` honoured (the waits
//! are recorded by a sleep that returns at once: the clock is the test's),
//! 429/5xx retries, paging, token refresh, and error mapping.

use azemu_client::{ARM_SCOPE, Client, Error, Sleep, well_known};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ID: &str =
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g";
const API: &str = "2023-05-01";

/// A client whose sleeps are recorded, not slept.
async fn client(server: &MockServer, expires_in: u64) -> (Client, Arc<Mutex<Vec<Duration>>>) {
    Mock::given(method("POST"))
        .and(path(format!(
            "/{}/oauth2/v2.0/token",
            well_known::TENANT_ID
        )))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": expires_in, "access_token": "tok"
        })))
        .mount(server)
        .await;
    let waits = Arc::new(Mutex::new(Vec::new()));
    let seen = waits.clone();
    let sleep: Sleep = Arc::new(move |d| {
        seen.lock().unwrap().push(d);
        Box::pin(async {})
    });
    let c = Client::builder(&server.uri())
        .sleep_with(sleep)
        .build()
        .unwrap();
    (c, waits)
}

fn secs(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs(*s)).collect()
}

#[tokio::test]
async fn put_with_azure_async_operation_polls_the_operation_then_reads_the_resource() {
    let server = MockServer::start().await;
    let (c, waits) = client(&server, 3599).await;
    let op = format!(
        "{}/providers/Microsoft.ContainerInstance/locations/eastus/operations/op1?api-version={API}",
        server.uri()
    );
    Mock::given(method("PUT"))
        .and(path(ID))
        .and(query_param("api-version", API))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("Azure-AsyncOperation", op.as_str())
                .insert_header("Retry-After", "7")
                .set_body_json(
                    json!({"name": "g", "properties": {"provisioningState": "Creating"}}),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let op_path = "/providers/Microsoft.ContainerInstance/locations/eastus/operations/op1";
    Mock::given(method("GET"))
        .and(path(op_path))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Retry-After", "3")
                .set_body_json(json!({"status": "InProgress"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(op_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "Succeeded"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ID))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"name": "g", "properties": {"provisioningState": "Succeeded", "instanceView": {"state": "Running"}}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let g = c
        .put_resource(ID, API, &json!({"location": "eastus"}))
        .await
        .unwrap();
    assert_eq!(g["properties"]["instanceView"]["state"], "Running");
    // Retry-After of the PUT, then of the first poll.
    assert_eq!(*waits.lock().unwrap(), secs(&[7, 3]));
}

#[tokio::test]
async fn post_with_location_polls_until_it_stops_answering_202() {
    let server = MockServer::start().await;
    let (c, waits) = client(&server, 3599).await;
    let loc = format!("{}/subscriptions/s/operationresults/r1", server.uri());
    Mock::given(method("POST"))
        .and(path(format!("{ID}/start")))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("Location", loc.as_str())
                .insert_header("Retry-After", "2"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/subscriptions/s/operationresults/r1"))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("Location", loc.as_str())
                .insert_header("Retry-After", "5"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/subscriptions/s/operationresults/r1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"started": true})))
        .expect(1)
        .mount(&server)
        .await;
    let out = c
        .post_action(&format!("{ID}/start"), API, None)
        .await
        .unwrap();
    assert_eq!(out, Some(json!({"started": true})));
    assert_eq!(*waits.lock().unwrap(), secs(&[2, 5]));
}

#[tokio::test]
async fn put_without_headers_polls_the_provisioning_state() {
    let server = MockServer::start().await;
    let (c, waits) = client(&server, 3599).await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"properties": {"provisioningState": "Creating"}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ID))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"properties": {"provisioningState": "Updating"}})),
        )
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ID))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"properties": {"provisioningState": "Succeeded"}, "done": 1}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let g = c.put_resource(ID, API, &json!({})).await.unwrap();
    assert_eq!(g["done"], 1);
    // No Retry-After anywhere: one second between polls.
    assert_eq!(*waits.lock().unwrap(), secs(&[1, 1, 1]));
}

#[tokio::test]
async fn a_failed_operation_is_an_arm_error_with_its_details() {
    let server = MockServer::start().await;
    let (c, _) = client(&server, 3599).await;
    let op = format!("{}/ops/1", server.uri());
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201).insert_header("Azure-AsyncOperation", op.as_str()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/ops/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "Failed",
            "error": {"code": "DeploymentFailed", "message": "At least one resource deployment operation failed.",
                      "details": [{"code": "InaccessibleImage", "message": "The image … is not accessible."}]}
        })))
        .mount(&server)
        .await;
    match c.put_resource(ID, API, &json!({})).await.unwrap_err() {
        Error::Arm {
            code,
            message,
            details,
            ..
        } => {
            assert_eq!(code, "DeploymentFailed");
            assert!(message.starts_with("At least one"));
            assert_eq!(details[0]["code"], "InaccessibleImage");
        }
        e => panic!("expected an ARM error, got {e}"),
    }
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_after_retry_after_or_backoff() {
    let server = MockServer::start().await;
    let (c, waits) = client(&server, 3599).await;
    Mock::given(method("GET"))
        .and(path(ID))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "9")
                .set_body_json(
                    json!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
                ),
        )
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ID))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ID))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "g"})))
        .mount(&server)
        .await;
    let g = c.get_resource(ID, API).await.unwrap().unwrap();
    assert_eq!(g["name"], "g");
    // Twice Retry-After, then the backoff for attempts 3 and 4 (no Retry-After).
    assert_eq!(*waits.lock().unwrap(), secs(&[9, 9, 4, 8]));
}

#[tokio::test]
async fn retries_end_with_the_last_answer_as_an_error() {
    let server = MockServer::start().await;
    let (c, waits) = client(&server, 3599).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(
                    json!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
                ),
        )
        .expect(5)
        .mount(&server)
        .await;
    let err = c.get_resource(ID, API).await.unwrap_err();
    assert_eq!(err.arm_code(), Some("TooManyRequests"));
    assert_eq!(waits.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn lists_follow_next_link() {
    let server = MockServer::start().await;
    let (c, _) = client(&server, 3599).await;
    for page in 1..=2 {
        let next = format!("{}/list?page={}", server.uri(), page + 1);
        Mock::given(method("GET"))
            .and(path("/list"))
            .and(query_param("page", page.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"value": [{"n": page * 10}, {"n": page * 10 + 1}], "nextLink": next}),
            ))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/list"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"n": 30}]})))
        .mount(&server)
        .await;
    let all: Vec<Value> = c
        .list_all(&format!("{}/list?page=1", server.uri()))
        .await
        .unwrap();
    let ns: Vec<i64> = all.iter().map(|v| v["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, [10, 11, 20, 21, 30]);
}

#[tokio::test]
async fn tokens_are_cached_and_renewed_before_they_expire() {
    // A token living an hour is fetched once for many calls.
    let server = MockServer::start().await;
    let (c, _) = client(&server, 3599).await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(3)
        .mount(&server)
        .await;
    for _ in 0..3 {
        c.get_resource(ID, API).await.unwrap();
    }
    let requests = server.received_requests().await.unwrap();
    let token_calls = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(token_calls, 1);

    // One within five minutes of its expiry is renewed before the next call.
    let server = MockServer::start().await;
    for (n, token) in ["first", "second"].iter().enumerate() {
        Mock::given(method("POST"))
            .and(path(format!(
                "/{}/oauth2/v2.0/token",
                well_known::TENANT_ID
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "token_type": "Bearer", "expires_in": 300, "access_token": token
            })))
            .up_to_n_times(1)
            .expect(1)
            .named(format!("token {n}"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = Client::builder(&server.uri()).build().unwrap();
    c.get_resource(ID, API).await.unwrap();
    c.get_resource(ID, API).await.unwrap();
}

#[tokio::test]
async fn errors_map_to_their_plane() {
    let server = MockServer::start().await;
    let (c, _) = client(&server, 3599).await;
    Mock::given(method("GET"))
        .and(path(ID))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": {
            "code": "LinkedAuthorizationFailed",
            "message": "The client has permission to perform action 'Microsoft.ContainerInstance/containerGroups/write' on scope 'g', however it does not have permission to perform action(s) 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) 'id'."
        }})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
        .mount(&server)
        .await;
    match c.get_resource(ID, API).await.unwrap_err() {
        Error::Arm { status, code, .. } => {
            assert_eq!((status, code.as_str()), (403, "LinkedAuthorizationFailed"))
        }
        e => panic!("{e}"),
    }
    // Not ARM's shape: a protocol error that keeps the status and body.
    let c = Client::builder(&server.uri())
        .max_retries(0)
        .build()
        .unwrap();
    // (the token endpoint is mounted by `client` on this server already)
    match c.delete_resource(ID, API).await.unwrap_err() {
        Error::Protocol(text) => assert!(
            text.contains("502") && text.contains("bad gateway"),
            "{text}"
        ),
        e => panic!("{e}"),
    }
    // And the token endpoint's own errors are OAuth errors.
    let bad = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_scope", "error_description": "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
            "error_codes": [70011]
        })))
        .mount(&bad)
        .await;
    let c = Client::builder(&bad.uri()).build().unwrap();
    match c.token(ARM_SCOPE).await.unwrap_err() {
        Error::OAuth {
            error, error_codes, ..
        } => assert_eq!(
            (error.as_str(), error_codes),
            ("invalid_scope", vec![70011])
        ),
        e => panic!("{e}"),
    }
}
