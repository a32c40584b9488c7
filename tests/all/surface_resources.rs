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
            // A generated secret may start with '-': az's documented form.
            &format!("--password={password}"),
            "--tenant",
            TENANT,
            "-o",
            "json",
        ])
        .await;
    (az, out)
}

/// A private DNS zone in `rg` with one A record `(name, address)` and one
/// VNet link `(name, vnet)` without registration.
async fn private_dns(az: &Az<'_>, rg: &str, zone: &str, record: (&str, &str), link: (&str, &str)) {
    let dns = |args: &[&str]| {
        let mut all = vec!["network", "private-dns"];
        all.extend_from_slice(args);
        all.extend(["-g", rg, "-o", "none"]);
        all.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    for args in [
        dns(&["zone", "create", "-n", zone]),
        dns(&[
            "record-set",
            "a",
            "add-record",
            "-z",
            zone,
            "-n",
            record.0,
            "-a",
            record.1,
        ]),
        dns(&[
            "link", "vnet", "create", "-z", zone, "-n", link.0, "-v", link.1, "-e", "false",
        ]),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        az.ok(&args).await;
    }
}

/// az, signed in as the bootstrap principal, with a resource group `rg` in westeurope.
async fn signed_in_with_group<'a>(em: &'a Emulator, rg: &str) -> Az<'a> {
    let az = Az::new(em, Mode::Explicit).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    make_group(&az, rg).await;
    az
}

async fn make_group(az: &Az<'_>, rg: &str) {
    az.ok(&[
        "group",
        "create",
        "-n",
        rg,
        "-l",
        "westeurope",
        "-o",
        "none",
    ])
    .await;
}

#[tokio::test]
async fn create_for_rbac_then_login_with_its_output() {
    let em = Emulator::start();
    let admin = signed_in_with_group(&em, "rbac-rg").await;
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

    // A secret of the principal's own (`az ad sp credential reset`) signs in
    // too, until it expires.
    let end = (time::OffsetDateTime::now_utc() + time::Duration::days(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let reset = admin
        .json(&[
            "ad",
            "sp",
            "credential",
            "reset",
            "--id",
            &app_id,
            "--end-date",
            &end,
        ])
        .await;
    assert_eq!(reset["appId"], app_id.as_str());
    let own = reset["password"].as_str().unwrap().to_string();
    let shown = admin.json(&["ad", "sp", "show", "--id", &app_id]).await;
    assert_eq!(shown["passwordCredentials"].as_array().unwrap().len(), 1);
    assert_eq!(shown["passwordCredentials"][0]["hint"], &own[..3]);
    let (_, with_own) = sp_login(&em, &app_id, &own).await;
    assert!(with_own.ok, "{}", with_own.stderr);
    em.advance_clock(3 * 24 * 3600).await;
    let (_, expired) = sp_login(&em, &app_id, &own).await;
    assert!(!expired.ok);
    assert!(
        expired.stderr.contains("AADSTS7000222"),
        "{}",
        expired.stderr
    );

    // Deleting the application takes its principal: sign-in fails.
    // (A fresh sign-in: the clock moved past the cached token's lifetime.)
    let admin = Az::new(&em, Mode::Explicit).await;
    assert!(admin.login(CLIENT_SECRET).await.ok);
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
    let (status, _) = graph(
        &em,
        Method::DELETE,
        &format!("/v1.0/applications/{ghost}"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Credentials and updates that are not ones: 400, and the application unchanged.
    let app_path = format!("/v1.0/applications/{}", app["id"].as_str().unwrap());
    for (method, path, body) in [
        (Method::PATCH, app_path.clone(), r#"{"web": 5}"#),
        (Method::PATCH, app_path.clone(), r#"{"displayName": null}"#),
        (
            Method::POST,
            format!("{app_path}/addPassword"),
            r#"{"passwordCredential": {"endDateTime": "soon"}}"#,
        ),
        (
            Method::POST,
            format!("{app_path}/addPassword"),
            r#"{"passwordCredential": {"startDateTime": "2030-01-02T00:00:00Z", "endDateTime": "2030-01-01T00:00:00Z"}}"#,
        ),
        (
            Method::POST,
            format!("{app_path}/removePassword"),
            r#"{"keyId": "0f0f0f0f-0000-4000-8000-00000000abcd"}"#,
        ),
        (Method::POST, format!("{app_path}/removePassword"), r#"{}"#),
    ] {
        let (status, answer) = graph(&em, method.clone(), &path, Some(body)).await;
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        assert!(answer["error"]["message"].is_string());
    }
    let (status, after) = graph(&em, Method::GET, &app_path, None).await;
    assert_eq!(status, 200);
    assert_eq!(after["displayName"], "raw-app");
    assert_eq!(after["web"], app["web"]);
    assert_eq!(after["passwordCredentials"], json!([]));
}

fn types_of(template: &Value) -> Vec<String> {
    template["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn group_export_redeploys_the_group() {
    let em = Emulator::start();
    let az = signed_in_with_group(&em, "src-rg").await;
    az.ok(&[
        "network",
        "vnet",
        "create",
        "-g",
        "src-rg",
        "-n",
        "app-vnet",
        "--address-prefixes",
        "10.40.0.0/16",
        "--subnet-name",
        "apps",
        "--subnet-prefixes",
        "10.40.1.0/24",
        "-o",
        "none",
    ])
    .await;
    az.acr_create("src-rg", "exportsrcacr", "Standard").await;
    az.identity_create("src-rg", "app-id").await;
    private_dns(
        &az,
        "src-rg",
        "emu.internal",
        ("www", "10.40.1.4"),
        ("to-app", "app-vnet"),
    )
    .await;

    let template = az
        .json(&[
            "group",
            "export",
            "-g",
            "src-rg",
            "--include-parameter-default-value",
        ])
        .await;
    assert_eq!(
        template["$schema"],
        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
    );
    assert_eq!(template["contentVersion"], "1.0.0.0");
    assert_eq!(template["variables"], json!({}));
    assert_eq!(
        template["parameters"]["virtualNetworks_app_vnet_name"],
        json!({"defaultValue": "app-vnet", "type": "String"})
    );
    assert_eq!(
        template["parameters"]["registries_exportsrcacr_name"],
        json!({"defaultValue": "exportsrcacr", "type": "String"})
    );
    assert_eq!(
        types_of(&template),
        [
            "Microsoft.Network/virtualNetworks",
            "Microsoft.Network/virtualNetworks/subnets",
            "Microsoft.ContainerRegistry/registries",
            "Microsoft.ManagedIdentity/userAssignedIdentities",
            "Microsoft.Network/privateDnsZones",
            // Azure's export carries the SOA record set every zone has.
            "Microsoft.Network/privateDnsZones/SOA",
            "Microsoft.Network/privateDnsZones/A",
            "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        ]
    );
    let resources = template["resources"].as_array().unwrap();
    let subnet = &resources[1];
    assert_eq!(
        subnet["name"],
        "[concat(parameters('virtualNetworks_app_vnet_name'), '/apps')]"
    );
    assert_eq!(
        subnet["dependsOn"],
        json!([
            "[resourceId('Microsoft.Network/virtualNetworks', parameters('virtualNetworks_app_vnet_name'))]"
        ])
    );
    assert_eq!(subnet["properties"]["addressPrefix"], "10.40.1.0/24");
    let registry = &resources[2];
    assert_eq!(
        registry["name"],
        "[parameters('registries_exportsrcacr_name')]"
    );
    assert_eq!(registry["sku"]["name"], "Standard");
    assert!(
        registry["properties"].get("loginServer").is_none(),
        "{registry}"
    );
    assert!(registry["properties"].get("provisioningState").is_none());
    // The link names the VNet in the template, and waits for it and its zone.
    let link = resources
        .iter()
        .find(|r| r["type"] == "Microsoft.Network/privateDnsZones/virtualNetworkLinks")
        .unwrap();
    assert_eq!(
        link["properties"]["virtualNetwork"]["id"],
        "[resourceId('Microsoft.Network/virtualNetworks', parameters('virtualNetworks_app_vnet_name'))]"
    );
    assert_eq!(
        link["dependsOn"],
        json!([
            "[resourceId('Microsoft.Network/privateDnsZones', parameters('privateDnsZones_emu_internal_name'))]",
            "[resourceId('Microsoft.Network/virtualNetworks', parameters('virtualNetworks_app_vnet_name'))]",
        ])
    );
    assert!(
        resources[5]["properties"].get("fqdn").is_none(),
        "{}",
        resources[5]
    );
    let identity = &resources[3]["properties"];
    assert!(identity.get("principalId").is_none(), "{identity}");
    assert!(identity.get("clientId").is_none());
    assert!(
        registry["properties"]["policies"]["retentionPolicy"]
            .get("lastUpdatedTime")
            .is_none()
    );

    // The template redeploys the group elsewhere (a registry name is global: a new one).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("export.json"), template.to_string()).unwrap();
    make_group(&az, "dst-rg").await;
    let deployed = az
        .json(&[
            "deployment",
            "group",
            "create",
            "-g",
            "dst-rg",
            "-n",
            "from-export",
            "--template-file",
            dir.path().join("export.json").to_str().unwrap(),
            "--parameters",
            "registries_exportsrcacr_name=exportdstacr",
        ])
        .await;
    assert_eq!(
        deployed["properties"]["provisioningState"], "Succeeded",
        "{deployed}"
    );
    let subnet = az
        .json(&[
            "network",
            "vnet",
            "subnet",
            "show",
            "-g",
            "dst-rg",
            "--vnet-name",
            "app-vnet",
            "-n",
            "apps",
        ])
        .await;
    assert_eq!(subnet["addressPrefix"], "10.40.1.0/24");
    let acr = az.json(&["acr", "show", "-n", "exportdstacr"]).await;
    assert_eq!(acr["resourceGroup"], "dst-rg");
    assert_eq!(acr["sku"]["name"], "Standard");
    let identity = az
        .json(&["identity", "show", "-g", "dst-rg", "-n", "app-id"])
        .await;
    assert!(identity["principalId"].is_string());
    let dst_dns = |what: &[&'static str]| {
        [
            &["network", "private-dns"][..],
            what,
            &["-g", "dst-rg", "-z", "emu.internal"],
        ]
        .concat()
    };
    let record = az
        .json(&dst_dns(&["record-set", "a", "show", "-n", "www"]))
        .await;
    assert_eq!(record["aRecords"][0]["ipv4Address"], "10.40.1.4");
    let link = az
        .json(&dst_dns(&["link", "vnet", "show", "-n", "to-app"]))
        .await;
    assert!(
        link["virtualNetwork"]["id"]
            .as_str()
            .unwrap()
            .contains("/resourceGroups/dst-rg/"),
        "{link}"
    );

    // Without parameters at all: literal names.
    let literal = az
        .json(&["group", "export", "-g", "src-rg", "--skip-all-params"])
        .await;
    assert_eq!(literal["parameters"], json!({}));
    assert_eq!(literal["resources"][0]["name"], "app-vnet");
    assert_eq!(literal["resources"][1]["name"], "app-vnet/apps");
    assert_eq!(
        literal["resources"][1]["dependsOn"],
        json!(["[resourceId('Microsoft.Network/virtualNetworks', 'app-vnet')]"])
    );
    // Names literal, parameters without defaults otherwise.
    let named = az
        .json(&[
            "group",
            "export",
            "-g",
            "src-rg",
            "--skip-resource-name-params",
        ])
        .await;
    assert_eq!(named["resources"][2]["name"], "exportsrcacr");
    let plain = az.json(&["group", "export", "-g", "src-rg"]).await;
    assert_eq!(
        plain["parameters"]["registries_exportsrcacr_name"],
        json!({"type": "String"})
    );
    // One resource only.
    let rid = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/src-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id"
    );
    let one = az
        .json(&["group", "export", "-g", "src-rg", "--resource-ids", &rid])
        .await;
    assert_eq!(
        types_of(&one),
        ["Microsoft.ManagedIdentity/userAssignedIdentities"]
    );
}

#[tokio::test]
async fn group_export_is_long_running_and_refuses_bad_requests() {
    use reqwest::Method;
    let em = Emulator::start_with(&["--lro-delay-ms", "10000"]);
    let token = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourcegroups/exp-rg");
    put_group(&em, &token, &rg).await;
    let (status, _) = em
        .arm(
            &token,
            Method::PUT,
            &format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/one?api-version=2023-01-31"),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert_eq!(status, 201);

    let export = format!("{}{rg}/exportTemplate?api-version=2024-11-01", em.base());
    let r = em
        .http()
        .post(&export)
        .bearer_auth(&token)
        .json(&json!({"resources": ["*"], "options": "IncludeComments"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("/operationresults/"), "{location}");
    assert_eq!(r.text().await.unwrap(), "");
    // Running: 202 again; once the time has passed, the export.
    let poll = || em.http().get(&location).bearer_auth(&token);
    assert_eq!(poll().send().await.unwrap().status(), 202);
    em.advance_clock(11).await;
    let (status, body) = Emulator::answer(poll()).await;
    assert_eq!(status, 200);
    assert!(body.get("error").is_none(), "{body}");
    let resource = &body["template"]["resources"][0];
    assert_eq!(
        resource["type"],
        "Microsoft.ManagedIdentity/userAssignedIdentities"
    );
    assert_eq!(
        resource["comments"],
        format!(
            "Generalized from resource: '/subscriptions/{SUBSCRIPTION}/resourceGroups/exp-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/one'."
        )
    );
    assert_eq!(
        body["template"]["parameters"]["userAssignedIdentities_one_name"],
        json!({"type": "String"})
    );

    // Bad requests: ARM's shape, nothing started.
    for bad in [
        json!({"resources": ["*"], "options": "IncludeEverything"}),
        json!({"resources": "*"}),
        json!({"resources": [format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/other/providers/Microsoft.ManagedIdentity/userAssignedIdentities/one")]}),
    ] {
        let (status, body) =
            Emulator::answer(em.http().post(&export).bearer_auth(&token).json(&bad)).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "InvalidRequestContent", "{body}");
    }
    let missing = format!(
        "{}/subscriptions/{SUBSCRIPTION}/resourcegroups/nope/exportTemplate?api-version=2024-11-01",
        em.base()
    );
    let (status, body) = Emulator::answer(
        em.http()
            .post(&missing)
            .bearer_auth(&token)
            .json(&json!({"resources": ["*"]})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "ResourceGroupNotFound");
    // A principal without access to the group may not export it.
    let stranger = em.new_principal().await;
    let (status, body) = Emulator::answer(
        em.http()
            .post(&export)
            .bearer_auth(&stranger.token)
            .json(&json!({"resources": ["*"]})),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.Resources/subscriptions/resourceGroups/exportTemplate/action"),
        "{body}"
    );
}

fn identities_template(names: &[&str], bad_vnet: bool) -> String {
    let mut resources: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({
                "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                "apiVersion": "2023-01-31",
                "name": n,
                "location": "[parameters('where')]",
            })
        })
        .collect();
    if bad_vnet {
        // Planned fine; the network provider refuses its address space.
        resources.push(json!({
            "type": "Microsoft.Network/virtualNetworks",
            "apiVersion": "2024-05-01",
            "name": "broken-vnet",
            "location": "[parameters('where')]",
            "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/33"]}},
        }));
    }
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"where": {"type": "string"}},
        "resources": resources,
    })
    .to_string()
}

/// `az deployment group create|validate -g rb-rg -n {name} --template-file {file}
/// --parameters where=westeurope [--rollback-on-error [{rollback}]]`.
fn deploy<'a>(
    verb: &'a str,
    name: &'a str,
    file: &'a str,
    rollback: Option<&'a str>,
) -> Vec<&'a str> {
    let mut args = vec![
        "deployment",
        "group",
        verb,
        "-g",
        "rb-rg",
        "-n",
        name,
        "--template-file",
        file,
        "--parameters",
        "where=westeurope",
    ];
    if let Some(r) = rollback {
        args.push("--rollback-on-error");
        args.extend(Some(r).filter(|r| !r.is_empty()));
    }
    args
}

#[tokio::test]
async fn rollback_on_error_redeploys_the_last_successful_deployment() {
    let em = Emulator::start();
    let az = signed_in_with_group(&em, "rb-rg").await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    let bad = dir.path().join("bad.json");
    std::fs::write(&good, identities_template(&["keep-me"], false)).unwrap();
    std::fs::write(
        &bad,
        identities_template(&["keep-me", "added-by-failure"], true),
    )
    .unwrap();
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());

    let first = az.json(&deploy("create", "first", good, None)).await;
    assert_eq!(first["properties"]["provisioningState"], "Succeeded");
    assert!(first["properties"]["onErrorDeployment"].is_null());

    // Asking for a rollback: ARM names the deployment it would redeploy.
    let validated = az.json(&deploy("validate", "second", bad, Some(""))).await;
    assert_eq!(
        validated["properties"]["onErrorDeployment"],
        json!({"type": "LastSuccessful", "deploymentName": "first", "provisioningState": null})
    );

    let failed = az.run(&deploy("create", "second", bad, Some(""))).await;
    assert!(!failed.ok, "{}", failed.stdout);
    assert!(
        failed.stderr.contains("DeploymentFailed"),
        "{}",
        failed.stderr
    );

    // The failed deployment says what ran on error; the earlier one ran again
    // in Complete mode, so what the failure added is gone.
    let mut second = Value::Null;
    for _ in 0..5 {
        second = az
            .json(&["deployment", "group", "show", "-g", "rb-rg", "-n", "second"])
            .await;
        if second["properties"]["onErrorDeployment"]["provisioningState"] == "Succeeded" {
            break;
        }
    }
    assert_eq!(second["properties"]["provisioningState"], "Failed");
    assert_eq!(
        second["properties"]["onErrorDeployment"],
        json!({"type": "LastSuccessful", "deploymentName": "first", "provisioningState": "Succeeded"})
    );
    let rerun = az
        .json(&["deployment", "group", "show", "-g", "rb-rg", "-n", "first"])
        .await;
    assert_eq!(rerun["properties"]["provisioningState"], "Succeeded");
    assert_eq!(rerun["properties"]["mode"], "Complete");
    assert_ne!(
        rerun["properties"]["correlationId"],
        first["properties"]["correlationId"]
    );
    let names: Vec<String> = az
        .json(&["identity", "list", "-g", "rb-rg"])
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["keep-me"]);

    // A specific deployment, by name; one that never succeeded is refused.
    let specific = az
        .json(&deploy("validate", "third", good, Some("first")))
        .await;
    assert_eq!(
        specific["properties"]["onErrorDeployment"],
        json!({"type": "SpecificDeployment", "deploymentName": "first", "provisioningState": null})
    );
    let refused = az
        .run(&deploy("create", "third", good, Some("second")))
        .await;
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("InvalidOnErrorDeployment"),
        "{}",
        refused.stderr
    );
}

/// `PUT {rg}` in westeurope, as the bootstrap principal: 201.
async fn put_group(em: &Emulator, token: &str, rg: &str) {
    let path = format!("{rg}?api-version=2024-07-01");
    let body = json!({"location": "westeurope"});
    let (status, _) = em.arm(token, reqwest::Method::PUT, &path, Some(body)).await;
    assert_eq!(status, 201);
}

/// `PUT {scope}/providers/Microsoft.Resources/deployments/{name}` of an empty
/// template with `onErrorDeployment` (left out when null).
async fn put_empty_deployment(
    em: &Emulator,
    token: &str,
    scope: String,
    name: &str,
    on_error: Value,
) -> (u16, Value) {
    let empty = json!({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": []});
    let path =
        format!("{scope}/providers/Microsoft.Resources/deployments/{name}?api-version=2024-11-01");
    let mut body = json!({"properties": {"template": empty, "mode": "Incremental", "onErrorDeployment": on_error}});
    if !scope.contains("resourcegroups") {
        body["location"] = json!("westeurope");
    }
    em.arm(token, reqwest::Method::PUT, &path, Some(body)).await
}

#[tokio::test]
async fn on_error_deployment_is_checked_when_asked_for() {
    use reqwest::Method;
    let em = Emulator::start();
    let token = em.arm_token().await;
    let s = format!("/subscriptions/{SUBSCRIPTION}");
    let rg = format!("{s}/resourcegroups/oe-rg");
    put_group(&em, &token, &rg).await;
    let put = |name: &'static str, on_error: Value, scope: String| {
        put_empty_deployment(&em, &token, scope, name, on_error)
    };
    // Nothing succeeded yet: there is nothing to roll back to.
    let (status, body) = put("d1", json!({"type": "LastSuccessful"}), rg.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "InvalidOnErrorDeployment");
    // Nothing was stored.
    let (status, _) = em
        .arm(
            &token,
            Method::GET,
            &format!("{rg}/providers/Microsoft.Resources/deployments/d1?api-version=2024-11-01"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = put("d1", Value::Null, rg.clone()).await;
    assert_eq!(status, 201);
    for _ in 0..3 {
        em.step().await;
    }
    // Accepted, with the deployment it names; GET shows it too.
    let (status, body) = put("d2", json!({"type": "lastsuccessful"}), rg.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["properties"]["onErrorDeployment"],
        json!({"type": "LastSuccessful", "deploymentName": "d1"})
    );
    let (_, shown) = em
        .arm(
            &token,
            Method::GET,
            &format!("{rg}/providers/Microsoft.Resources/deployments/d2?api-version=2024-11-01"),
            None,
        )
        .await;
    assert_eq!(
        shown["properties"]["onErrorDeployment"],
        json!({"type": "LastSuccessful", "deploymentName": "d1"})
    );
    // Refused: an unknown type, a specific deployment without a name or one
    // that does not exist, a deployment at subscription scope, a non-object.
    for (on_error, scope, code) in [
        // `type` is a closed enum in the spec (OnErrorDeploymentType): refused
        // as ARM's deserializer refuses it, before the deployment is read.
        (
            json!({"type": "Sometimes"}),
            rg.as_str(),
            "InvalidRequestContent",
        ),
        (
            json!({"type": "SpecificDeployment"}),
            rg.as_str(),
            "InvalidOnErrorDeployment",
        ),
        (
            json!({"type": "SpecificDeployment", "deploymentName": "nope"}),
            rg.as_str(),
            "InvalidOnErrorDeployment",
        ),
        (
            json!({"type": "LastSuccessful"}),
            s.as_str(),
            "InvalidOnErrorDeployment",
        ),
        (
            json!("LastSuccessful"),
            rg.as_str(),
            "InvalidRequestContent",
        ),
    ] {
        let (status, body) = put("d3", on_error.clone(), scope.to_string()).await;
        assert_eq!(status, 400, "{on_error} at {scope}: {body}");
        assert_eq!(body["error"]["code"], code, "{on_error}");
    }
}
