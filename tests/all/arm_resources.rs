//! Microsoft.Resources through the typed client and raw HTTP: subscriptions,
//! tenants, resource groups (with the delete LRO under a controlled clock),
//! paging, api-versions, providers, generic resource lists, bad bodies.

use crate::harness::{Emulator, SUBSCRIPTION, TENANT};
use serde_json::{Value, json};
use std::collections::BTreeMap;

struct Arm {
    em: Emulator,
    http: reqwest::Client,
    token: String,
}

impl Arm {
    async fn start(args: &[&str]) -> Arm {
        let em = Emulator::start_with(args);
        let token = em.arm_token().await;
        Arm {
            http: em.http(),
            em,
            token,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let url = if path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.em.base())
        };
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let r = self.call(method, path, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).expect("JSON body")
            },
        )
    }
}

fn rg_path(name: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourcegroups/{name}?api-version=2024-07-01")
}

use reqwest::Method;

#[tokio::test]
async fn typed_client_resource_group_round_trip() {
    let em = Emulator::start();
    let c = em.client();
    assert_eq!(c.health().await.unwrap().status, "ok");
    let tags = BTreeMap::from([("env".to_string(), "test".to_string())]);
    let rg = c
        .create_resource_group_with_tags("Demo-RG", "westeurope", tags.clone())
        .await
        .unwrap();
    assert_eq!(
        rg.id,
        format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/Demo-RG")
    );
    assert_eq!(rg.properties.provisioning_state, "Succeeded");
    assert_eq!(rg.tags, Some(tags));
    // Names are case-insensitive; the stored casing is kept.
    assert_eq!(
        c.get_resource_group("demo-rg").await.unwrap().unwrap().name,
        "Demo-RG"
    );
    assert!(
        c.list_resource_groups()
            .await
            .unwrap()
            .iter()
            .any(|g| g.name == "Demo-RG")
    );
    c.delete_resource_group("demo-rg").await.unwrap();
    assert!(c.get_resource_group("Demo-RG").await.unwrap().is_none());
}

#[tokio::test]
async fn put_is_201_then_200_and_location_cannot_change() {
    let arm = Arm::start(&[]).await;
    let (s, body) = arm
        .json(
            Method::PUT,
            &rg_path("rg1"),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, _) = arm
        .json(
            Method::PUT,
            &rg_path("rg1"),
            Some(json!({"location": "westeurope", "tags": {"a": "b"}})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = arm
        .json(
            Method::PUT,
            &rg_path("rg1"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("InvalidResourceGroupLocation"))
    );
    let (s, body) = arm
        .json(Method::PUT, &rg_path("rg2"), Some(json!({})))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("LocationRequired"))
    );
    let (s, body) = arm
        .json(
            Method::PUT,
            &rg_path("bad*name"),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("InvalidResourceGroup"))
    );
    let r = arm.call(Method::HEAD, &rg_path("RG1"), None).await;
    assert_eq!(r.status(), 204);
    let r = arm.call(Method::HEAD, &rg_path("nope"), None).await;
    assert_eq!(r.status(), 404);
    let (s, body) = arm
        .json(
            Method::PATCH,
            &rg_path("rg1"),
            Some(json!({"tags": {"x": "y"}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["tags"], json!({"x": "y"}));
}

#[tokio::test]
async fn delete_is_a_long_running_operation_on_the_emulated_clock() {
    let arm = Arm::start(&["--lro-delay-ms", "30000"]).await;
    arm.json(
        Method::PUT,
        &rg_path("slow"),
        Some(json!({"location": "westeurope"})),
    )
    .await;
    let r = arm.call(Method::DELETE, &rg_path("slow"), None).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["retry-after"], "1");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!(
            "{}/subscriptions/{SUBSCRIPTION}/operationresults/",
            arm.em.base()
        )),
        "{location}"
    );
    let (s, rg) = arm.json(Method::GET, &rg_path("slow"), None).await;
    assert_eq!(s, 200);
    assert_eq!(rg["properties"]["provisioningState"], "Deleting");
    let (s, body) = arm
        .json(
            Method::PUT,
            &rg_path("slow"),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("ResourceGroupBeingDeleted"))
    );
    let r = arm.call(Method::GET, &location, None).await;
    assert_eq!(r.status(), 202, "still running");
    arm.em.advance_clock(31).await;
    let r = arm.call(Method::GET, &location, None).await;
    assert_eq!(r.status(), 200, "done once emulated time passes the delay");
    let (s, body) = arm.json(Method::GET, &rg_path("slow"), None).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("ResourceGroupNotFound"))
    );
}

#[tokio::test]
async fn explicit_sim_mode_waits_for_step() {
    let arm = Arm::start(&["--sim-mode", "explicit"]).await;
    arm.json(
        Method::PUT,
        &rg_path("held"),
        Some(json!({"location": "westeurope"})),
    )
    .await;
    let r = arm.call(Method::DELETE, &rg_path("held"), None).await;
    let location = r.headers()["location"].to_str().unwrap().to_string();
    arm.em.advance_clock(3000).await;
    // The token is older now; get a fresh one for polling.
    let arm = Arm {
        token: arm.em.arm_token().await,
        ..arm
    };
    assert_eq!(arm.call(Method::GET, &location, None).await.status(), 202);
    let step = arm
        .http
        .post(format!("{}/_emulator/step", arm.em.base()))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(step.status(), 200);
    assert_eq!(arm.call(Method::GET, &location, None).await.status(), 200);
}

#[tokio::test]
async fn subscriptions_tenants_and_paging() {
    let arm = Arm::start(&[]).await;
    let (s, subs) = arm
        .json(Method::GET, "/subscriptions?api-version=2022-12-01", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(subs["value"][0]["subscriptionId"], SUBSCRIPTION);
    assert_eq!(subs["value"][0]["tenantId"], TENANT);
    assert_eq!(subs["value"][0]["state"], "Enabled");
    let (s, tenants) = arm
        .json(Method::GET, "/tenants?api-version=2022-12-01", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(tenants["value"][0]["tenantId"], TENANT);
    let (s, body) = arm
        .json(
            Method::GET,
            "/subscriptions/00000000-0000-0000-0000-000000000009?api-version=2022-12-01",
            None,
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("SubscriptionNotFound"))
    );

    for n in ["p1", "p2", "p3"] {
        arm.json(
            Method::PUT,
            &rg_path(n),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    }
    let (_, page1) = arm
        .json(
            Method::GET,
            &format!("/subscriptions/{SUBSCRIPTION}/resourcegroups?api-version=2024-07-01&$top=2"),
            None,
        )
        .await;
    assert_eq!(page1["value"].as_array().unwrap().len(), 2);
    let next = page1["nextLink"].as_str().expect("nextLink").to_string();
    assert!(next.starts_with(&arm.em.base()), "{next}");
    let (_, page2) = arm.json(Method::GET, &next, None).await;
    assert_eq!(page2["value"].as_array().unwrap().len(), 1);
    assert!(page2.get("nextLink").is_none_or(Value::is_null), "{page2}");
}

#[tokio::test]
async fn api_versions_default_lenient_and_strict_on_request() {
    let lenient = Arm::start(&[]).await;
    let (s, body) = lenient
        .json(
            Method::GET,
            &format!("/subscriptions/{SUBSCRIPTION}/resourcegroups"),
            None,
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
    let (s, _) = lenient
        .json(
            Method::GET,
            &format!("/subscriptions/{SUBSCRIPTION}/resourcegroups?api-version=2099-01-01"),
            None,
        )
        .await;
    assert_eq!(s, 200, "any well-formed version is accepted by default");
    let (s, body) = lenient
        .json(
            Method::GET,
            &format!("/subscriptions/{SUBSCRIPTION}/resourcegroups?api-version=banana"),
            None,
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("InvalidApiVersionParameter"))
    );

    let strict = Arm::start(&["--strict-api-versions"]).await;
    let (s, body) = strict
        .json(
            Method::GET,
            &format!("/subscriptions/{SUBSCRIPTION}/resourcegroups?api-version=2099-01-01"),
            None,
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("InvalidApiVersionParameter")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2024-07-01"),
        "{body}"
    );
}

#[tokio::test]
async fn headers_paths_and_bad_bodies() {
    let arm = Arm::start(&[]).await;
    let r = arm
        .http
        .get(format!(
            "{}//subscriptions/{SUBSCRIPTION}//resourcegroups?api-version=2024-07-01",
            arm.em.base()
        ))
        .bearer_auth(&arm.token)
        .header("x-ms-client-request-id", "my-request")
        // Echoed only when asked for, as the Azure SDKs do.
        .header("x-ms-return-client-request-id", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "// collapses like ARM does");
    assert!(r.headers().contains_key("x-ms-request-id"));
    assert!(r.headers().contains_key("x-ms-correlation-request-id"));
    assert_eq!(r.headers()["x-ms-client-request-id"], "my-request");

    for body in ["{not json", "[1,2", "\u{0}\u{1}", "{\"location\": 5}"] {
        let r = arm
            .http
            .put(format!("{}{}", arm.em.base(), rg_path("bodies")))
            .bearer_auth(&arm.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 400, "{body:?}: {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    // JSON5-style bodies some tools send are accepted.
    let r = arm
        .http
        .put(format!("{}{}", arm.em.base(), rg_path("lenient")))
        .bearer_auth(&arm.token)
        .header("content-type", "application/json")
        .body("{location: 'westeurope', /* comment */ tags: {a: 'b',},}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn providers_and_generic_resource_lists() {
    let arm = Arm::start(&[]).await;
    let (s, list) = arm
        .json(
            Method::GET,
            &format!("/subscriptions/{SUBSCRIPTION}/providers?api-version=2021-04-01"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["namespace"].as_str().unwrap())
        .collect();
    for ns in [
        "Microsoft.Resources",
        "Microsoft.ContainerRegistry",
        "Microsoft.ContainerInstance",
        "Microsoft.ManagedIdentity",
    ] {
        assert!(names.contains(&ns), "{ns} in {names:?}");
    }
    let (s, p) = arm
        .json(Method::POST, &format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.ContainerInstance/register?api-version=2021-04-01"), None)
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["namespace"], "Microsoft.ContainerInstance");
    let (s, p) = arm
        .json(Method::GET, &format!("/subscriptions/{SUBSCRIPTION}/providers/microsoft.containerinstance?api-version=2021-04-01"), None)
        .await;
    assert_eq!(s, 200);
    assert!(
        matches!(
            p["registrationState"].as_str(),
            Some("Registered") | Some("Registering")
        ),
        "{p}"
    );
    let (s, body) = arm
        .json(
            Method::GET,
            &format!(
                "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Nope?api-version=2021-04-01"
            ),
            None,
        )
        .await;
    assert_eq!(s, 404, "{body}");

    arm.json(
        Method::PUT,
        &rg_path("g1"),
        Some(json!({"location": "westeurope"})),
    )
    .await;
    let (s, res) = arm
        .json(
            Method::GET,
            &format!("/subscriptions/{SUBSCRIPTION}/resources?api-version=2021-04-01&$filter=resourceType%20eq%20'Microsoft.ContainerRegistry/registries'"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{res}");
    assert_eq!(res["value"], json!([]));
    let (s, res) = arm
        .json(
            Method::GET,
            &format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/g1/resources?api-version=2021-04-01"
            ),
            None,
        )
        .await;
    assert_eq!((s, res["value"].clone()), (200, json!([])));
    let (s, res) = arm
        .json(
            Method::GET,
            &format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/nope/resources?api-version=2021-04-01"
            ),
            None,
        )
        .await;
    assert_eq!(
        (s, res["error"]["code"].as_str()),
        (404, Some("ResourceGroupNotFound"))
    );
}
