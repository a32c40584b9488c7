//! Commands beside the seeds' ones, with the real az CLI 2.91: `az ad sp
//! create-for-rbac` and signing in with what it prints, `az group export`
//! redeployed, and `az deployment group create --rollback-on-error`.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION, TENANT};
use serde_json::{Value, json};

async fn graph_token(em: &Emulator) -> String {
    em.client()
        .token("https://graph.microsoft.com/.default")
        .await
        .expect("graph token")
        .access_token
}

async fn graph(
    em: &Emulator,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut req = em
        .http()
        .request(method, format!("{}{path}", em.base()))
        .bearer_auth(graph_token(em).await);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    Emulator::answer(req).await
}

async fn sp_login<'a>(
    em: &'a Emulator,
    app_id: &str,
    password: &str,
) -> (Az<'a>, crate::harness::Output) {
    let az = Az::new(em, Mode::Explicit).await;
    let out = az
        .run(&[
            "login",
            "--service-principal",
            "-u",
            app_id,
            "-p",
            password,
            "--tenant",
            TENANT,
            "-o",
            "json",
        ])
        .await;
    (az, out)
}

#[tokio::test]
async fn create_for_rbac_then_login_with_its_output() {
    let em = Emulator::start();
    let admin = Az::new(&em, Mode::Explicit).await;
    assert!(admin.login(CLIENT_SECRET).await.ok);
    admin
        .ok(&[
            "group",
            "create",
            "-n",
            "rbac-rg",
            "-l",
            "westeurope",
            "-o",
            "none",
        ])
        .await;
    let scope = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/rbac-rg");

    let sp = admin
        .json(&[
            "ad",
            "sp",
            "create-for-rbac",
            "-n",
            "emu-deployer",
            "--role",
            "Contributor",
            "--scopes",
            &scope,
        ])
        .await;
    assert_eq!(sp["displayName"], "emu-deployer");
    assert_eq!(sp["tenant"], TENANT);
    let app_id = sp["appId"].as_str().unwrap().to_string();
    let password = sp["password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 40, "{password}");
    assert_eq!(&password[3..6], "8Q~");

    // The role assignment went through ARM, for the new principal.
    let assignments = admin
        .json(&[
            "role",
            "assignment",
            "list",
            "--assignee",
            &app_id,
            "--scope",
            &scope,
        ])
        .await;
    assert_eq!(assignments.as_array().unwrap().len(), 1, "{assignments}");
    assert_eq!(assignments[0]["roleDefinitionName"], "Contributor");
    assert_eq!(assignments[0]["principalType"], "ServicePrincipal");
    assert_eq!(assignments[0]["scope"], scope);

    // The application shows its credential, never the secret again.
    let app = admin.json(&["ad", "app", "show", "--id", &app_id]).await;
    assert_eq!(app["displayName"], "emu-deployer");
    let creds = app["passwordCredentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["displayName"], "rbac");
    assert_eq!(creds[0]["hint"], &password[..3]);
    assert_eq!(creds[0]["secretText"], Value::Null);
    let principal = admin.json(&["ad", "sp", "show", "--id", &app_id]).await;
    assert_eq!(principal["appId"], app_id.as_str());
    assert_eq!(principal["servicePrincipalType"], "Application");

    // Its output signs in, and ARM answers with its role: the group, not the subscription.
    let (az, out) = sp_login(&em, &app_id, &password).await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let accounts: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(accounts[0]["id"], SUBSCRIPTION);
    assert_eq!(accounts[0]["user"]["name"], app_id.as_str());
    let rg = az.json(&["group", "show", "-n", "rbac-rg"]).await;
    assert_eq!(rg["id"], scope);
    az.ok(&[
        "identity",
        "create",
        "-g",
        "rbac-rg",
        "-n",
        "made-by-sp",
        "-o",
        "none",
    ])
    .await;
    let denied = az
        .run(&["group", "create", "-n", "not-mine", "-l", "westeurope"])
        .await;
    assert!(!denied.ok);
    assert!(
        denied.stderr.contains("AuthorizationFailed"),
        "{}",
        denied.stderr
    );

    // Running it again patches the same application and replaces its secret:
    // the old one stops working.
    let again = admin
        .json(&["ad", "sp", "create-for-rbac", "-n", "emu-deployer"])
        .await;
    assert_eq!(again["appId"], app_id.as_str());
    assert_ne!(again["password"], password.as_str());
    let (_, old) = sp_login(&em, &app_id, &password).await;
    assert!(!old.ok);
    assert!(old.stderr.contains("AADSTS7000215"), "{}", old.stderr);
    let listed = admin
        .json(&["ad", "sp", "list", "--display-name", "emu-deployer"])
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // Deleting the application takes its principal: sign-in fails.
    admin.ok(&["ad", "app", "delete", "--id", &app_id]).await;
    let (_, gone) = sp_login(&em, &app_id, again["password"].as_str().unwrap()).await;
    assert!(!gone.ok);
    assert!(gone.stderr.contains("AADSTS700016"), "{}", gone.stderr);
}

#[tokio::test]
async fn graph_answers_bad_requests_in_its_own_shape() {
    use reqwest::Method;
    let em = Emulator::start();
    // A method a Graph resource does not have: 405, Graph's JSON error.
    for (method, path) in [
        (Method::PUT, "/v1.0/applications"),
        (Method::PATCH, "/v1.0/servicePrincipals"),
        (Method::GET, "/v1.0/directoryObjects/getByIds"),
        (Method::GET, "/v1.0/applications/x/addPassword"),
    ] {
        let (status, body) = graph(&em, method.clone(), path, None).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(body["error"]["code"], "Request_BadRequest");
        assert_eq!(
            body["error"]["message"],
            "Specified HTTP method is not allowed for the request target."
        );
        assert!(body["error"]["innerError"]["request-id"].is_string());
    }
    // A principal for an application that does not exist.
    let ghost = "0f0f0f0f-0000-4000-8000-00000000abcd";
    let (status, body) = graph(
        &em,
        Method::POST,
        "/v1.0/servicePrincipals",
        Some(&json!({"appId": ghost}).to_string()),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    assert_eq!(
        body["error"]["message"],
        format!(
            "The appId '{ghost}' of the service principal does not reference a valid application object."
        )
    );
    // Bodies that are not an application.
    let (status, body) = graph(&em, Method::POST, "/v1.0/applications", Some("{not json")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "BadRequest");
    let (status, body) = graph(
        &em,
        Method::POST,
        "/v1.0/applications",
        Some(r#"{"displayName":"x","colour":"red"}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Property 'colour' does not exist as a declared property or extension property."
    );
    let (status, _) = graph(
        &em,
        Method::POST,
        "/v1.0/applications",
        Some(r#"{"displayName":["x"]}"#),
    )
    .await;
    assert_eq!(status, 400);
    // None of them left an application behind.
    let (status, list) = graph(
        &em,
        Method::GET,
        "/v1.0/applications?$filter=displayName%20eq%20'x'",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["value"], json!([]));

    // A created application, then a principal for it; a second one conflicts.
    let (status, app) = graph(
        &em,
        Method::POST,
        "/v1.0/applications",
        Some(r#"{"displayName":"raw-app"}"#),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(app["signInAudience"], "AzureADandPersonalMicrosoftAccount");
    assert_eq!(app["passwordCredentials"], json!([]));
    let body = json!({"appId": app["appId"]}).to_string();
    let (status, sp) = graph(&em, Method::POST, "/v1.0/servicePrincipals", Some(&body)).await;
    assert_eq!(status, 201);
    assert_eq!(sp["appId"], app["appId"]);
    assert_eq!(sp["displayName"], "raw-app");
    let (status, again) = graph(&em, Method::POST, "/v1.0/servicePrincipals", Some(&body)).await;
    assert_eq!(status, 409);
    assert_eq!(
        again["error"]["code"],
        "Request_MultipleObjectsWithSameKeyValue"
    );
    // An unknown application.
    let (status, body) = graph(
        &em,
        Method::GET,
        &format!("/v1.0/applications/{ghost}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
}
