//! Identities and authorization end to end: the seed documents' az commands
//! (identity create/show, role assignment create/list/delete with az's Graph
//! lookups), a second principal held to its roles, and managed-identity tokens
//! through azure-identity and `az login --identity`.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION, fixtures, python_env, run, venv};
use serde_json::{Value, json};

const ACRPULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";

#[tokio::test]
async fn seed_identity_and_role_assignment_commands() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&[
        "group",
        "create",
        "-n",
        "myResourceGroup",
        "-l",
        "eastus",
        "-o",
        "none",
    ])
    .await;

    let created = az
        .json(&[
            "identity",
            "create",
            "--resource-group",
            "myResourceGroup",
            "--name",
            "myACRId",
        ])
        .await;
    let tsv = |s: String| s.trim().to_string();
    let userid = tsv(az
        .ok(&[
            "identity",
            "show",
            "--resource-group",
            "myResourceGroup",
            "--name",
            "myACRId",
            "--query",
            "id",
            "--output",
            "tsv",
        ])
        .await);
    let spid = tsv(az
        .ok(&[
            "identity",
            "show",
            "--resource-group",
            "myResourceGroup",
            "--name",
            "myACRId",
            "--query",
            "principalId",
            "--output",
            "tsv",
        ])
        .await);
    let client_id = tsv(az
        .ok(&[
            "identity",
            "show",
            "--resource-group",
            "myResourceGroup",
            "--name",
            "myACRId",
            "--query",
            "clientId",
            "--output",
            "tsv",
        ])
        .await);
    assert_eq!(userid, created["id"].as_str().unwrap());
    assert!(
        userid.ends_with("/providers/Microsoft.ManagedIdentity/userAssignedIdentities/myACRId"),
        "{userid}"
    );
    assert_eq!(spid, created["principalId"].as_str().unwrap());
    assert_eq!(client_id, created["clientId"].as_str().unwrap());
    assert_ne!(spid, client_id);

    // The seed grants acrpull on the registry; any resource id is a scope (registries arrive with issue 4).
    let scope = userid.clone();
    let ra = az
        .json(&[
            "role",
            "assignment",
            "create",
            "--assignee",
            &spid,
            "--scope",
            &scope,
            "--role",
            "acrpull",
        ])
        .await;
    assert_eq!(ra["principalId"], spid.as_str());
    assert!(
        ra["roleDefinitionId"].as_str().unwrap().ends_with(ACRPULL),
        "{ra}"
    );
    assert_eq!(
        ra["scope"].as_str().unwrap().to_lowercase(),
        scope.to_lowercase()
    );

    // Again: ARM answers 409 RoleAssignmentExists and az, being idempotent, returns the existing one
    // (azure-cli role/custom.py create_role_assignment: `_error_caused_by_role_assignment_exists`).
    let again = az
        .json(&[
            "role",
            "assignment",
            "create",
            "--assignee",
            &spid,
            "--scope",
            &scope,
            "--role",
            "acrpull",
        ])
        .await;
    assert_eq!(again["id"], ra["id"]);

    let list = az
        .json(&[
            "role",
            "assignment",
            "list",
            "--scope",
            &scope,
            "--assignee",
            &spid,
        ])
        .await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["roleDefinitionName"], "AcrPull");

    az.ok(&[
        "role",
        "assignment",
        "delete",
        "--assignee",
        &spid,
        "--scope",
        &scope,
        "--role",
        "acrpull",
    ])
    .await;
    let list = az
        .json(&[
            "role",
            "assignment",
            "list",
            "--scope",
            &scope,
            "--assignee",
            &spid,
        ])
        .await;
    assert_eq!(list, json!([]));

    // Deleting the identity deletes its service principal.
    az.ok(&[
        "identity",
        "delete",
        "--resource-group",
        "myResourceGroup",
        "--name",
        "myACRId",
    ])
    .await;
    let principals: Value = em
        .http()
        .get(format!("{}/_emulator/principals", em.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !principals["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["objectId"] == spid.as_str()),
        "{principals}"
    );
}

async fn call(
    em: &Emulator,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    em.arm(token, method, path, body).await
}

async fn assign(em: &Emulator, owner: &str, scope: &str, role: &str, principal: &str) {
    let name = uuid::Uuid::new_v4();
    let (s, body) = call(
        em,
        owner,
        reqwest::Method::PUT,
        &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"),
        Some(json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
            "principalId": principal,
        }})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
}

#[tokio::test]
async fn reader_cannot_write_until_contributor_is_assigned() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/team");
    let (s, _) = call(
        &em,
        &owner,
        reqwest::Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "westeurope"})),
    )
    .await;
    assert_eq!(s, 201);
    let p = em.new_principal().await;
    let identity = format!(
        "{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1?api-version=2023-01-31"
    );

    // No role at all: 403 on the group too.
    let (s, body) = call(
        &em,
        &p.token,
        reqwest::Method::GET,
        &format!("{rg}?api-version=2024-07-01"),
        None,
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (403, Some("AuthorizationFailed")),
        "{body}"
    );

    assign(&em, &owner, &rg, READER, &p.object_id).await;
    let (s, _) = call(
        &em,
        &p.token,
        reqwest::Method::GET,
        &format!("{rg}?api-version=2024-07-01"),
        None,
    )
    .await;
    assert_eq!(s, 200, "Reader reads the group");
    let (s, body) = call(
        &em,
        &p.token,
        reqwest::Method::PUT,
        &identity,
        Some(json!({"location": "westeurope"})),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    let app_id = &p.app_id;
    assert_eq!(
        body["error"]["message"],
        format!(
            "The client '{app_id}' with object id '{}' does not have authorization to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/write' over scope '{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            p.object_id
        )
    );
    // Reader on the group does not reach the subscription's other groups.
    let (s, _) = call(
        &em,
        &p.token,
        reqwest::Method::PUT,
        &format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/other?api-version=2024-07-01"),
        Some(json!({"location": "westeurope"})),
    )
    .await;
    assert_eq!(s, 403);
    // Lists show only what the caller may read.
    let (s, groups) = call(
        &em,
        &p.token,
        reqwest::Method::GET,
        &format!("/subscriptions/{SUBSCRIPTION}/resourcegroups?api-version=2024-07-01"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let names: Vec<&str> = groups["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team"]);

    assign(&em, &owner, &rg, CONTRIBUTOR, &p.object_id).await;
    let (s, body) = call(
        &em,
        &p.token,
        reqwest::Method::PUT,
        &identity,
        Some(json!({"location": "westeurope"})),
    )
    .await;
    assert_eq!(s, 201, "Contributor writes: {body}");
    // ... but Contributor may not hand out roles.
    let name = uuid::Uuid::new_v4();
    let (s, body) = call(
        &em,
        &p.token,
        reqwest::Method::PUT,
        &format!("{rg}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"),
        Some(json!({"properties": {"roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{READER}"), "principalId": p.object_id}})),
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (403, Some("AuthorizationFailed")),
        "{body}"
    );
}

#[tokio::test]
async fn role_assignment_errors() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let sub = format!("/subscriptions/{SUBSCRIPTION}");
    let put = |name: String, body: Value| {
        let em = &em;
        let owner = owner.clone();
        let sub = sub.clone();
        async move {
            call(em, &owner, reqwest::Method::PUT, &format!("{sub}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"), Some(body)).await
        }
    };
    let p = em.new_principal().await;
    let body = |role: &str, principal: &str| json!({"properties": {"roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"), "principalId": principal}});
    let (s, b) = put("not-a-guid".into(), body(READER, &p.object_id)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidRoleAssignmentId"))
    );
    let (s, b) = put(
        uuid::Uuid::new_v4().to_string(),
        body(READER, "00000000-1111-2222-3333-444444444444"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("PrincipalNotFound")),
        "{b}"
    );
    // A principalId that is not a GUID, even with principalType named (which skips the lookup).
    let mut not_guid = body(READER, "--assignee-object-id");
    not_guid["properties"]["principalType"] = json!("ServicePrincipal");
    let (s, b) = put(uuid::Uuid::new_v4().to_string(), not_guid).await;
    assert_eq!(
        (
            s,
            b["error"]["code"].as_str(),
            b["error"]["message"].as_str()
        ),
        (
            400,
            Some("InvalidPrincipalId"),
            Some("A valid principal ID must be provided for role assignment.")
        ),
        "{b}"
    );
    let (s, b) = put(
        uuid::Uuid::new_v4().to_string(),
        body("00000000-1111-2222-3333-444444444444", &p.object_id),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("RoleDefinitionDoesNotExist")),
        "{b}"
    );
    let (s, _) = put(uuid::Uuid::new_v4().to_string(), body(READER, &p.object_id)).await;
    assert_eq!(s, 201);
    let (s, b) = put(uuid::Uuid::new_v4().to_string(), body(READER, &p.object_id)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("RoleAssignmentExists")),
        "{b}"
    );
    // Role definition lookups as az makes them: by name, case-insensitive.
    let (s, defs) = call(&em, &owner, reqwest::Method::GET, &format!("{sub}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20'acrpull'&api-version=2022-04-01"), None).await;
    assert_eq!(s, 200);
    assert_eq!(defs["value"][0]["name"], ACRPULL);
    assert_eq!(
        defs["value"][0]["id"],
        format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{ACRPULL}")
    );
}

async fn python_mi(em: &Emulator, style: &str, client_id: &str) -> String {
    let mut cmd = tokio::process::Command::new(venv().join("bin/python"));
    python_env(&mut cmd, em);
    cmd.arg(fixtures().join("python/managed_identity_token.py"))
        .env("AZEMU_CLIENT_ID", client_id);
    let base = format!("http://localhost:{}", em.port);
    match style {
        "imds" => cmd.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &base),
        _ => {
            // The root endpoint and its own secret, as the control API hands them out.
            let root = em.control_json("/_emulator/identity-endpoint").await;
            cmd.env(
                "IDENTITY_ENDPOINT",
                format!("{base}/_emulator/identity/token"),
            )
            .env("IDENTITY_HEADER", root["IDENTITY_HEADER"].as_str().unwrap())
        }
    };
    let out = run(&mut cmd).await;
    assert!(out.ok, "{style}: {}\n{}", out.stdout, out.stderr);
    out.stdout.trim().to_string()
}

#[tokio::test]
async fn managed_identity_tokens_for_sdk_and_az() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/mi");
    call(
        &em,
        &owner,
        reqwest::Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "westeurope"})),
    )
    .await;
    let id = format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id");
    let (s, ident) = call(
        &em,
        &owner,
        reqwest::Method::PUT,
        &format!("{id}?api-version=2023-01-31"),
        Some(json!({"location": "westeurope"})),
    )
    .await;
    assert_eq!(s, 201);
    let client_id = ident["properties"]["clientId"].as_str().unwrap();
    let principal_id = ident["properties"]["principalId"].as_str().unwrap();

    for style in ["imds", "app-service"] {
        let token = python_mi(&em, style, client_id).await;
        use base64::Engine;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["oid"], principal_id, "{style}");
        assert_eq!(claims["appid"], client_id, "{style}");
        assert_eq!(
            claims["xms_mirid"].as_str().unwrap().to_lowercase(),
            id.to_lowercase(),
            "{style}"
        );
        assert_eq!(claims["aud"], "https://management.azure.com", "{style}");
    }

    // az login --identity needs the identity to see the subscription: give it Reader.
    assign(
        &em,
        &owner,
        &format!("/subscriptions/{SUBSCRIPTION}"),
        READER,
        principal_id,
    )
    .await;
    let az = Az::new(&em, Mode::Transparent).await;
    let endpoint = format!("http://localhost:{}/_emulator/identity/token", em.port);
    let root = em.control_json("/_emulator/identity-endpoint").await;
    let header = root["IDENTITY_HEADER"].as_str().unwrap();
    let out = az
        .run_with_env(
            &[
                "login",
                "--identity",
                "--client-id",
                client_id,
                "-o",
                "json",
            ],
            &[
                ("IDENTITY_ENDPOINT", &endpoint),
                ("IDENTITY_HEADER", header),
            ],
        )
        .await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let accounts: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(accounts[0]["id"], SUBSCRIPTION);
    assert_eq!(accounts[0]["user"]["type"], "servicePrincipal");
    assert_eq!(
        accounts[0]["user"]["assignedIdentityInfo"],
        format!("MSIClient-{client_id}")
    );
    // And reads with it, through the role it was given.
    let out = az
        .run_with_env(
            &["group", "show", "-n", "mi", "-o", "json"],
            &[
                ("IDENTITY_ENDPOINT", &endpoint),
                ("IDENTITY_HEADER", header),
            ],
        )
        .await;
    assert!(out.ok, "{}", out.stderr);
    let out = az
        .run_with_env(
            &["group", "create", "-n", "nope", "-l", "westeurope"],
            &[
                ("IDENTITY_ENDPOINT", &endpoint),
                ("IDENTITY_HEADER", header),
            ],
        )
        .await;
    assert!(!out.ok);
    assert!(out.stderr.contains("AuthorizationFailed"), "{}", out.stderr);
}

/// Azure's eventual consistency, on demand (`--rbac-propagation-delay-seconds 60`):
/// a just-created identity is not yet visible for a role assignment that does
/// not name its principalType (PrincipalNotFound); a new AcrPull assignment
/// does not let a container group pull until 60 emulated seconds have passed,
/// and a deleted one keeps working as long. The clock moves; nothing sleeps.
#[tokio::test]
async fn rbac_propagation_delay() {
    use reqwest::Method;
    use serde_json::json;
    let em = Emulator::start_with(&["--rbac-propagation-delay-seconds", "60"]);
    let owner = em.arm_token().await;
    let sub = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002";
    let rg = format!("{sub}/resourceGroups/prop");
    em.arm(
        &owner,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/propreg01");
    em.arm(
        &owner,
        Method::PUT,
        &format!("{reg}?api-version=2023-07-01"),
        Some(json!({"location": "eastus", "sku": {"name": "Basic"}})),
    )
    .await;
    em.push_sample("propreg01.azurecr.io/hello-world:v1")
        .unwrap();
    let ident_id =
        format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/puller");
    let (_, ident) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{ident_id}?api-version=2023-01-31"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    let principal = ident["properties"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    let assignment = |principal_type: Option<&str>| {
        let mut props = json!({
            "roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"),
            "principalId": principal,
        });
        if let Some(t) = principal_type {
            props["principalType"] = json!(t);
        }
        json!({"properties": props})
    };
    let ra = format!(
        "{reg}/providers/Microsoft.Authorization/roleAssignments/5b0c6a3e-0000-4000-8000-0000000000aa"
    );
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{ra}?api-version=2022-04-01"),
            Some(assignment(None)),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("PrincipalNotFound")),
        "{b}"
    );
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{ra}?api-version=2022-04-01"),
            Some(assignment(Some("ServicePrincipal"))),
        )
        .await;
    assert_eq!(
        s, 201,
        "naming principalType skips the directory lookup: {b}"
    );

    let group = |n: u32| {
        let em = &em;
        let ident_id = ident_id.clone();
        let rg = rg.clone();
        async move {
            let token = em.arm_token().await;
            let body = json!({
                "location": "eastus",
                "identity": {"type": "UserAssigned", "userAssignedIdentities": {ident_id.clone(): {}}},
                "properties": {
                    "osType": "Linux",
                    "containers": [{"name": "c", "properties": {"image": "propreg01.azurecr.io/hello-world:v1",
                        "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}}],
                    "imageRegistryCredentials": [{"server": "propreg01.azurecr.io", "identity": ident_id}]
                }
            });
            let (s, b) = em
                .arm(&token, Method::PUT, &format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups/g{n}?api-version=2023-05-01"), Some(body))
                .await;
            (s, b["error"]["code"].as_str().map(str::to_string))
        }
    };
    assert_eq!(
        group(1).await,
        (400, Some("InaccessibleImage".into())),
        "not yet propagated"
    );
    em.advance_clock(60).await;
    assert_eq!(group(2).await.0, 201, "propagated after 60 s");

    let (s, _) = em
        .arm(
            &owner,
            Method::DELETE,
            &format!("{ra}?api-version=2022-04-01"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let owner = em.arm_token().await;
    let (s, _) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{ra}?api-version=2022-04-01"),
            None,
        )
        .await;
    assert_eq!(s, 404, "ARM shows it gone at once");
    assert_eq!(group(3).await.0, 201, "but the data plane still honours it");
    em.advance_clock(60).await;
    assert_eq!(
        group(4).await,
        (400, Some("InaccessibleImage".into())),
        "until the deletion propagates"
    );
}
