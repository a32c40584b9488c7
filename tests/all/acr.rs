//! Azure Container Registry with the real az CLI: the control plane (create,
//! show, update, credentials, SKU rules).

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION};
use serde_json::{Value, json};

#[tokio::test]
async fn az_acr_control_plane() {
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

    let reg = az
        .json(&[
            "acr",
            "create",
            "-n",
            "mycontainerregistry007",
            "-g",
            "myResourceGroup",
            "--sku",
            "Premium",
        ])
        .await;
    assert_eq!(reg["loginServer"], "mycontainerregistry007.azurecr.io");
    assert_eq!(reg["provisioningState"], "Succeeded");
    assert_eq!(reg["sku"]["name"], "Premium");
    assert_eq!(reg["adminUserEnabled"], false);
    let id = az
        .ok(&[
            "acr",
            "show",
            "-n",
            "mycontainerregistry007",
            "--query",
            "id",
            "-o",
            "tsv",
        ])
        .await;
    assert_eq!(
        id.trim(),
        format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/myResourceGroup/providers/Microsoft.ContainerRegistry/registries/mycontainerregistry007"
        )
    );

    // Names are global.
    let taken = az
        .run(&[
            "acr",
            "create",
            "-n",
            "mycontainerregistry007",
            "-g",
            "myResourceGroup",
            "--sku",
            "Basic",
            "-l",
            "westus",
        ])
        .await;
    assert!(!taken.ok);
    let check = az
        .json(&["acr", "check-name", "-n", "mycontainerregistry007"])
        .await;
    assert_eq!(check["nameAvailable"], false);
    assert_eq!(check["reason"], "AlreadyExists");

    // Admin user and its credentials.
    let out = az
        .run(&["acr", "credential", "show", "-n", "mycontainerregistry007"])
        .await;
    assert!(!out.ok, "credentials need the admin user");
    let updated = az
        .json(&[
            "acr",
            "update",
            "-n",
            "mycontainerregistry007",
            "--admin-enabled",
            "true",
        ])
        .await;
    assert_eq!(updated["adminUserEnabled"], true);
    let creds = az
        .json(&["acr", "credential", "show", "-n", "mycontainerregistry007"])
        .await;
    assert_eq!(creds["username"], "mycontainerregistry007");
    let passwords = creds["passwords"].as_array().unwrap();
    assert_eq!(passwords.len(), 2);
    assert_ne!(passwords[0]["value"], passwords[1]["value"]);
    let renewed = az
        .json(&[
            "acr",
            "credential",
            "renew",
            "-n",
            "mycontainerregistry007",
            "--password-name",
            "password2",
        ])
        .await;
    assert_eq!(renewed["passwords"][0]["value"], passwords[0]["value"]);
    assert_ne!(renewed["passwords"][1]["value"], passwords[1]["value"]);

    // Public network access: Premium may turn it off; Basic may not.
    let closed = az
        .json(&[
            "acr",
            "update",
            "-n",
            "mycontainerregistry007",
            "--public-network-enabled",
            "false",
        ])
        .await;
    assert_eq!(closed["publicNetworkAccess"], "Disabled");
    az.ok(&[
        "acr",
        "create",
        "-n",
        "basicregistry01",
        "-g",
        "myResourceGroup",
        "--sku",
        "Basic",
        "-o",
        "none",
    ])
    .await;
    let out = az
        .run(&[
            "acr",
            "update",
            "-n",
            "basicregistry01",
            "--public-network-enabled",
            "false",
        ])
        .await;
    assert!(!out.ok, "Basic cannot disable public access");

    let list = az.json(&["acr", "list", "-g", "myResourceGroup"]).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    az.ok(&["acr", "delete", "-n", "basicregistry01", "--yes"])
        .await;
    let list = az.json(&["acr", "list"]).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sku_rules_on_the_wire() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/skus");
    em.arm(
        &owner,
        reqwest::Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let reg = |name: &str| {
        format!(
            "{rg}/providers/Microsoft.ContainerRegistry/registries/{name}?api-version=2023-07-01"
        )
    };
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "basicclosed",
            json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": {"publicNetworkAccess": "Disabled"}}),
            400,
            "DisablingPublicNetworkAccessNotSupported",
        ),
        (
            "stdrules01",
            json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "1.2.3.4"}]}}}),
            400,
            "NetworkRuleNotSupported",
        ),
        (
            "bad",
            json!({"location": "eastus", "sku": {"name": "Premium"}}),
            400,
            "InvalidResourceName",
        ),
        (
            "nosku0001",
            json!({"location": "eastus"}),
            400,
            "SkuRequired",
        ),
        (
            "toomanyrules",
            json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": (0..101).map(|i| json!({"action": "Allow", "value": format!("10.0.{}.{}", i / 256, i % 256)})).collect::<Vec<_>>()}}}),
            400,
            "QuotaExceeded",
        ),
    ];
    for (name, body, status, code) in cases {
        let (s, b) = em
            .arm(&owner, reqwest::Method::PUT, &reg(name), Some(body))
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (status, Some(code)),
            "{name}: {b}"
        );
    }
    // Premium with a firewall is fine; the create is an LRO with Azure-AsyncOperation.
    let r = em
        .http()
        .put(format!("{}{}", em.base(), reg("premiumfw01")))
        .bearer_auth(&owner)
        .json(&json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "10.0.0.0/8"}]}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let poll = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["properties"]["provisioningState"], "Creating");
    let status: Value = em
        .http()
        .get(&poll)
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "Succeeded");
    let (_, got) = em
        .arm(&owner, reqwest::Method::GET, &reg("premiumfw01"), None)
        .await;
    assert_eq!(got["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        got["properties"]["networkRuleSet"]["ipRules"][0]["value"],
        "10.0.0.0/8"
    );
}

/// Claims of a JWT, unverified (the test reads what the emulator granted).
fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

async fn make_registry(em: &Emulator, owner: &str, name: &str, props: Value) -> String {
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/regs");
    em.arm(
        owner,
        reqwest::Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let id = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{name}");
    let (s, b) = em
        .arm(
            owner,
            reqwest::Method::PUT,
            &format!("{id}?api-version=2023-07-01"),
            Some(json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": props})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    id
}

/// Entra ARM token → ACR refresh token → ACR access token for `scope`; the granted actions.
async fn granted_actions(em: &Emulator, entra_token: &str, host: &str, scope: &str) -> Value {
    let http = em.proxied();
    let r = http
        .post(format!("https://{host}/oauth2/exchange"))
        .form(&[
            ("grant_type", "access_token"),
            ("service", host),
            ("tenant", crate::harness::TENANT),
            ("access_token", entra_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refresh = r.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(claims(&refresh)["grant_type"], "refresh_token");
    let r = http
        .post(format!("https://{host}/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("service", host),
            ("scope", scope),
            ("refresh_token", &refresh),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let access = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let c = claims(&access);
    assert_eq!(c["iss"], "Azure Container Registry");
    assert_eq!(c["aud"], host);
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3 * 3600
    );
    c["access"][0]["actions"].clone()
}

#[tokio::test]
async fn token_exchange_grants_what_roles_allow() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let id = make_registry(&em, &owner, "tokenreg01", json!({})).await;
    let host = "tokenreg01.azurecr.io";

    // /v2/ without credentials: ACR's challenge.
    let r = em
        .proxied()
        .get(format!("https://{host}/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"https://tokenreg01.azurecr.io/oauth2/token\",service=\"tokenreg01.azurecr.io\""
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    // Owner (legacy mode) gets everything it asks for.
    assert_eq!(
        granted_actions(&em, &owner, host, "repository:hello-world:pull,push").await,
        json!(["pull", "push"])
    );

    // A principal with no role gets a token without actions; with AcrPull, pull only.
    let p = em.new_principal().await;
    assert_eq!(
        granted_actions(&em, &p.token, host, "repository:hello-world:pull,push").await,
        json!([])
    );
    let name = uuid::Uuid::new_v4();
    let (s, b) = em
        .arm(
            &owner,
            reqwest::Method::PUT,
            &format!("{id}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"),
            Some(json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"),
                "principalId": p.object_id,
            }})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        granted_actions(&em, &p.token, host, "repository:hello-world:pull,push").await,
        json!(["pull"])
    );

    // A token for an audience ACR does not accept is refused at the exchange.
    let vault = em
        .client()
        .token("https://vault.azure.net/.default")
        .await
        .unwrap()
        .access_token;
    let r = em
        .proxied()
        .post(format!("https://{host}/oauth2/exchange"))
        .form(&[
            ("grant_type", "access_token"),
            ("service", host),
            ("access_token", vault.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn az_acr_login_expose_token() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "rg", "-l", "eastus", "-o", "none"])
        .await;
    az.ok(&[
        "acr",
        "create",
        "-n",
        "exposereg01",
        "-g",
        "rg",
        "--sku",
        "Premium",
        "-o",
        "none",
    ])
    .await;
    let t = az
        .json(&["acr", "login", "-n", "exposereg01", "--expose-token"])
        .await;
    assert_eq!(t["loginServer"], "exposereg01.azurecr.io");
    assert_eq!(t["username"], "00000000-0000-0000-0000-000000000000");
    let c = claims(t["accessToken"].as_str().unwrap());
    assert_eq!(c["aud"], "exposereg01.azurecr.io");
    assert_eq!(c["sub"], "a2e0a2e0-0000-4000-8000-000000000004");
}

#[tokio::test]
async fn public_network_access_disabled_is_denied() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    make_registry(
        &em,
        &owner,
        "closedreg01",
        json!({"publicNetworkAccess": "Disabled"}),
    )
    .await;
    for path in [
        "/v2/",
        "/v2/hello-world/manifests/latest",
        "/oauth2/token?service=closedreg01.azurecr.io",
    ] {
        let r = em
            .proxied()
            .get(format!("https://closedreg01.azurecr.io{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"errors": [{"code": "DENIED", "message": "client with IP '127.0.0.1' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."}]}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn repository_scoped_token_reaches_only_its_repositories() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "rg", "-l", "eastus", "-o", "none"])
        .await;
    az.ok(&[
        "acr",
        "create",
        "-n",
        "scopedreg01",
        "-g",
        "rg",
        "--sku",
        "Standard",
        "-o",
        "none",
    ])
    .await;
    let map = az
        .json(&[
            "acr",
            "scope-map",
            "create",
            "-n",
            "team-a-readers",
            "-r",
            "scopedreg01",
            "--repository",
            "team-a/app",
            "content/read",
            "metadata/read",
        ])
        .await;
    assert_eq!(
        map["actions"],
        json!([
            "repositories/team-a/app/content/read",
            "repositories/team-a/app/metadata/read"
        ])
    );
    let token = az
        .json(&[
            "acr",
            "token",
            "create",
            "-n",
            "reader",
            "-r",
            "scopedreg01",
            "--scope-map",
            "team-a-readers",
        ])
        .await;
    let password = token["credentials"]["passwords"][0]["value"]
        .as_str()
        .expect("az shows the generated password")
        .to_string();
    assert_eq!(token["status"], "enabled");

    let http = em.proxied();
    let host = "scopedreg01.azurecr.io";
    let grant = |scope: &'static str, user: &'static str, pass: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!(
                    "https://{host}/oauth2/token?service={host}&scope={scope}"
                ))
                .basic_auth(user, Some(pass))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (
                status,
                body["access_token"]
                    .as_str()
                    .map(|t| claims(t)["access"][0]["actions"].clone()),
            )
        }
    };
    assert_eq!(
        grant(
            "repository:team-a/app:pull,push",
            "reader",
            password.clone()
        )
        .await,
        (200, Some(json!(["pull"])))
    );
    assert_eq!(
        grant("repository:team-b/app:pull", "reader", password.clone()).await,
        (200, Some(json!([])))
    );
    assert_eq!(
        grant("repository:team-a/app:pull", "reader", "wrong".into())
            .await
            .0,
        401
    );

    // Disabled tokens stop working.
    az.ok(&[
        "acr",
        "token",
        "update",
        "-n",
        "reader",
        "-r",
        "scopedreg01",
        "--status",
        "disabled",
        "-o",
        "none",
    ])
    .await;
    assert_eq!(
        grant("repository:team-a/app:pull", "reader", password)
            .await
            .0,
        401
    );
}
#[tokio::test]
async fn abac_repository_conditions() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let id = make_registry(
        &em,
        &owner,
        "abacreg001",
        json!({"roleAssignmentMode": "AbacRepositoryPermissions"}),
    )
    .await;
    let host = "abacreg001.azurecr.io";
    // In ABAC mode Owner's wildcard gives no data access (../shared/notes/acr-aci-semantics.md §5).
    assert_eq!(
        granted_actions(&em, &owner, host, "repository:team-a/app:pull").await,
        json!([])
    );

    let p = em.new_principal().await;
    // AcrPull is not honoured in ABAC mode.
    let assign = |role: &'static str, condition: Option<&'static str>| {
        let em = &em;
        let owner = owner.clone();
        let id = id.clone();
        let principal = p.object_id.clone();
        async move {
            let mut props = json!({
                "roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
                "principalId": principal,
            });
            if let Some(c) = condition {
                props["condition"] = json!(c);
                props["conditionVersion"] = json!("2.0");
            }
            let name = uuid::Uuid::new_v4();
            let (s, b) = em
                .arm(&owner, reqwest::Method::PUT, &format!("{id}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"), Some(json!({"properties": props})))
                .await;
            assert_eq!(s, 201, "{b}");
        }
    };
    assign("7f951dda-4ed3-4680-a7ca-43fe172d538d", None).await;
    assert_eq!(
        granted_actions(&em, &p.token, host, "repository:team-a/app:pull").await,
        json!([])
    );

    // Container Registry Repository Reader, limited to team-a/ by an ABAC condition.
    assign(
        "b93aa761-3e63-49ed-ac28-beffa264f7ac",
        Some("((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'}) AND !(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/metadata/read'})) OR (@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWithIgnoreCase 'team-a/'))"),
    )
    .await;
    assert_eq!(
        granted_actions(&em, &p.token, host, "repository:team-a/app:pull,push").await,
        json!(["pull"])
    );
    assert_eq!(
        granted_actions(&em, &p.token, host, "repository:team-b/app:pull").await,
        json!([])
    );
}
