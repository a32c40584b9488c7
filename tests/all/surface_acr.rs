//! Microsoft.ContainerRegistry children served from Azure's specs (the
//! generic layer, `providers/by_spec.rs`, with the behaviours of
//! `providers/container_registry/children.rs`), driven by the real az CLI:
//! replications, webhooks and their events, `az acr import` between emulated
//! registries, `az acr show-usage`, cache rules, credential sets, agent
//! pools, scope maps and tokens. Expected fields follow azure-cli's recorded
//! responses.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION, names, words};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

fn digest(b: &[u8]) -> String {
    format!(
        "sha256:{}",
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

/// `/subscriptions/{S}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}`
fn registry_id(rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}"
    )
}

/// The admin user's (username, password) of a registry created with `--admin-enabled true`.
async fn admin(az: &Az<'_>, name: &str) -> (String, String) {
    let c = az.json(&["acr", "credential", "show", "-n", name]).await;
    (
        c["username"].as_str().unwrap().to_string(),
        c["passwords"][0]["value"].as_str().unwrap().to_string(),
    )
}

/// Push a one-layer image to `{host}/{repo}:{tag}` through the data plane
/// with Basic credentials: (manifest digest, bytes stored: layer + config + manifest).
async fn push(
    em: &Emulator,
    host: &str,
    auth: &(String, String),
    repo: &str,
    tag: &str,
    layer: &[u8],
) -> (String, u64) {
    let http = em.proxied();
    let put_blob = |bytes: Vec<u8>| {
        let http = http.clone();
        async move {
            let d = digest(&bytes);
            let r = http
                .post(format!(
                    "https://{host}/v2/{repo}/blobs/uploads/?digest={d}"
                ))
                .basic_auth(&auth.0, Some(&auth.1))
                .body(bytes)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
            d
        }
    };
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let l = put_blob(layer.to_vec()).await;
    let c = put_blob(config.clone()).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}],
    }))
    .unwrap();
    let r = http
        .put(format!("https://{host}/v2/{repo}/manifests/{tag}"))
        .basic_auth(&auth.0, Some(&auth.1))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    (
        digest(&manifest),
        (layer.len() + config.len() + manifest.len()) as u64,
    )
}

/// `GET {host}/v2/{repo}/manifests/{reference}` with Basic credentials: its status and digest.
async fn manifest(
    em: &Emulator,
    host: &str,
    auth: &(String, String),
    repo: &str,
    reference: &str,
) -> (u16, String) {
    let r = em
        .proxied()
        .get(format!("https://{host}/v2/{repo}/manifests/{reference}"))
        .basic_auth(&auth.0, Some(&auth.1))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    let d = r
        .headers()
        .get("docker-content-digest")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), d)
}

/// A registry's child as az prints it: its name and type.
fn is_child(v: &serde_json::Value, name: &str, child_type: &str) {
    assert_eq!(v["name"], name, "{v}");
    assert_eq!(
        v["type"],
        format!("Microsoft.ContainerRegistry/registries/{child_type}"),
        "{v}"
    );
}

async fn signed_in(em: &Emulator) -> Az<'_> {
    let az = Az::new(em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "reg", "-l", "westus", "-o", "none"])
        .await;
    az
}

#[tokio::test]
async fn replications_per_region() {
    let em = Emulator::start();
    let az = signed_in(&em).await;
    az.ok(&[
        "acr",
        "create",
        "-n",
        "georeg01",
        "-g",
        "reg",
        "-l",
        "westus",
        "--sku",
        "Premium",
        "--admin-enabled",
        "true",
        "-o",
        "none",
    ])
    .await;
    // Dedicated data endpoints: one per region the registry lives in.
    let reg = az
        .json(&words(
            "acr update -n georeg01 --data-endpoint-enabled true",
        ))
        .await;
    assert_eq!(
        reg["dataEndpointHostNames"],
        json!(["georeg01.westus.data.azurecr.io"])
    );
    // The home region's replication is there from the start, as Azure lists it.
    let list = ["acr", "replication", "list", "-r", "georeg01"];
    let home = az.json(&list).await;
    assert_eq!(names(&home), ["westus"]);
    assert_eq!(home[0]["location"], "westus");
    assert_eq!(home[0]["status"]["displayStatus"], "Ready");

    let rep = az
        .json(&[
            "acr",
            "replication",
            "create",
            "-r",
            "georeg01",
            "-l",
            "centralus",
        ])
        .await;
    assert_eq!(rep["name"], "centralus");
    assert_eq!(rep["location"], "centralus");
    assert_eq!(
        rep["type"],
        "Microsoft.ContainerRegistry/registries/replications"
    );
    assert_eq!(
        rep["id"],
        format!("{}/replications/centralus", registry_id("reg", "georeg01"))
    );
    assert_eq!(rep["provisioningState"], "Succeeded");
    assert_eq!(rep["regionEndpointEnabled"], true);
    assert_eq!(rep["zoneRedundancy"], "Disabled");
    assert_eq!(rep["status"]["displayStatus"], "Ready");
    assert_eq!(rep["tags"], json!({}));
    let shown = az
        .json(&[
            "acr",
            "replication",
            "show",
            "-r",
            "georeg01",
            "-n",
            "centralus",
        ])
        .await;
    assert_eq!(shown["location"], "centralus");
    assert_eq!(names(&az.json(&list).await), ["westus", "centralus"]);
    // The registry and its one login server are unchanged.
    let reg = az.json(&["acr", "show", "-n", "georeg01"]).await;
    assert_eq!(reg["loginServer"], "georeg01.azurecr.io");
    assert_eq!(reg["location"], "westus");
    assert_eq!(
        reg["dataEndpointHostNames"],
        json!([
            "georeg01.centralus.data.azurecr.io",
            "georeg01.westus.data.azurecr.io"
        ])
    );
    let auth = admin(&az, "georeg01").await;
    let (d, _) = push(&em, "georeg01.azurecr.io", &auth, "app", "v1", b"layer").await;
    assert_eq!(
        manifest(&em, "georeg01.azurecr.io", &auth, "app", "v1").await,
        (200, d)
    );

    // A second replication in a region that has one, and the home one's deletion, are refused.
    let token = em.arm_token().await;
    let rep_path = |n: &str| {
        format!(
            "{}/replications/{n}?api-version=2023-07-01",
            registry_id("reg", "georeg01")
        )
    };
    let (status, body) = em
        .arm(
            &token,
            Method::PUT,
            &rep_path("other"),
            Some(json!({"location": "centralus"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "ReplicationAlreadyExists");
    let (status, body) = em
        .arm(&token, Method::DELETE, &rep_path("westus"), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "HomeReplicationCannotBeDeleted");

    let updated = az
        .json(&[
            "acr",
            "replication",
            "update",
            "-r",
            "georeg01",
            "-n",
            "centralus",
            "--global-endpoint-routing",
            "false",
            "--tags",
            "team=infra",
        ])
        .await;
    assert_eq!(updated["regionEndpointEnabled"], false);
    assert_eq!(updated["tags"], json!({"team": "infra"}));
    assert_eq!(updated["location"], "centralus");

    az.ok(&[
        "acr",
        "replication",
        "delete",
        "-r",
        "georeg01",
        "-n",
        "centralus",
    ])
    .await;
    assert_eq!(names(&az.json(&list).await), ["westus"]);
    assert_eq!(
        az.json(&words("acr show -n georeg01")).await["dataEndpointHostNames"],
        json!(["georeg01.westus.data.azurecr.io"])
    );
    let usage = az.json(&["acr", "show-usage", "-n", "georeg01"]).await;
    let geo = usage["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "Geo-replications")
        .unwrap();
    assert_eq!(
        geo,
        &json!({"name": "Geo-replications", "limit": -1, "currentValue": 0, "unit": "Count"})
    );

    // Only Premium registries replicate: az says so itself, and so does the service.
    az.ok(&[
        "acr", "create", "-n", "stdreg01", "-g", "reg", "--sku", "Standard", "-o", "none",
    ])
    .await;
    let out = az
        .run(&[
            "acr",
            "replication",
            "create",
            "-r",
            "stdreg01",
            "-l",
            "eastus",
        ])
        .await;
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("Replications are only supported for managed registries in Premium SKU."),
        "{}",
        out.stderr
    );
    let (status, body) = em
        .arm(
            &token,
            Method::PUT,
            &format!(
                "{}/replications/eastus?api-version=2023-07-01",
                registry_id("reg", "stdreg01")
            ),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        json!({"code": "ReplicationNotSupported", "message": "The requested feature replication is not supported for the SKU Standard."})
    );
}

#[tokio::test]
async fn webhooks_ping_and_content_events() {
    let em = Emulator::start();
    let az = signed_in(&em).await;
    az.ok(&[
        "acr",
        "create",
        "-n",
        "hookreg01",
        "-g",
        "reg",
        "--sku",
        "Standard",
        "--admin-enabled",
        "true",
        "-o",
        "none",
    ])
    .await;
    let hook = az
        .json(&[
            "acr",
            "webhook",
            "create",
            "-r",
            "hookreg01",
            "-n",
            "hook1",
            "--uri",
            "http://localhost:9/hook",
            "--actions",
            "push",
            "delete",
            "--scope",
            "hello-world:*",
        ])
        .await;
    is_child(&hook, "hook1", "webhooks");
    assert_eq!(hook["location"], "westus");
    assert_eq!(hook["status"], "enabled");
    assert_eq!(hook["scope"], "hello-world:*");
    assert_eq!(hook["actions"], json!(["push", "delete"]));
    assert_eq!(hook["provisioningState"], "Succeeded");
    assert_eq!(hook["tags"], json!({}));
    // The service URI is write-only: only getCallbackConfig returns it.
    assert!(hook.get("serviceUri").is_none(), "{hook}");
    let listed = az
        .json(&["acr", "webhook", "list", "-r", "hookreg01"])
        .await;
    assert_eq!(names(&listed), ["hook1"]);
    let updated = az
        .json(&[
            "acr",
            "webhook",
            "update",
            "-r",
            "hookreg01",
            "-n",
            "hook1",
            "--headers",
            "key=value",
        ])
        .await;
    assert_eq!(updated["scope"], "hello-world:*");
    let config = az
        .json(&[
            "acr",
            "webhook",
            "get-config",
            "-r",
            "hookreg01",
            "-n",
            "hook1",
        ])
        .await;
    assert_eq!(
        config,
        json!({"serviceUri": "http://localhost:9/hook", "customHeaders": {"key": "value"}})
    );

    // ping: an event id, and the event recorded as Azure lists it.
    let ping = az
        .json(&["acr", "webhook", "ping", "-r", "hookreg01", "-n", "hook1"])
        .await;
    let ping_id = ping["id"].as_str().unwrap().to_string();
    let events = [
        "acr",
        "webhook",
        "list-events",
        "-r",
        "hookreg01",
        "-n",
        "hook1",
    ];
    let listed = az.json(&events).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let e = &listed[0];
    assert_eq!(e["id"], ping_id.as_str());
    let rq = &e["eventRequestMessage"];
    assert_eq!(rq["content"]["id"], ping_id.as_str());
    assert_eq!(rq["content"]["action"], "ping");
    assert_eq!(rq["method"], "POST");
    assert_eq!(rq["requestUri"], "http://localhost:9/hook");
    assert_eq!(rq["headers"]["key"], "value");
    assert_eq!(
        rq["headers"]["Content-Type"],
        "application/json; charset=utf-8"
    );

    // Pushes and deletes in the webhook's scope are recorded; others are not.
    let auth = admin(&az, "hookreg01").await;
    let host = "hookreg01.azurecr.io";
    let (d1, _) = push(&em, host, &auth, "hello-world", "v1", b"layer one").await;
    let (_, other_size) = push(&em, host, &auth, "other", "v1", b"layer two").await;
    let r = em
        .proxied()
        .delete(format!("https://{host}/v2/hello-world/manifests/{d1}"))
        .basic_auth(&auth.0, Some(&auth.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let listed = az.json(&events).await;
    let actions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["eventRequestMessage"]["content"]["action"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(actions, ["delete", "push", "ping"]);
    let pushed = &listed[1]["eventRequestMessage"]["content"];
    assert_eq!(pushed["target"]["repository"], "hello-world");
    assert_eq!(pushed["target"]["tag"], "v1");
    assert_eq!(pushed["target"]["digest"], d1.as_str());
    assert_eq!(
        pushed["target"]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(pushed["request"]["host"], host);
    assert_eq!(pushed["request"]["method"], "PUT");
    let deleted = &listed[0]["eventRequestMessage"]["content"];
    assert_eq!(deleted["target"]["repository"], "hello-world");
    assert_eq!(deleted["target"]["digest"], d1.as_str());
    assert!(deleted["target"]["tag"].is_null(), "{deleted}");
    assert_eq!(deleted["request"]["method"], "DELETE");

    // show-usage: the bytes stored (other:v1 is left; hello-world's blobs stay linked) and webhooks.
    let usage = az.json(&["acr", "show-usage", "-n", "hookreg01"]).await;
    let names_of: Vec<&str> = usage["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names_of, ["Size", "Webhooks", "ScopeMaps", "Tokens"]);
    assert_eq!(
        usage["value"][1],
        json!({"name": "Webhooks", "limit": 10, "currentValue": 1, "unit": "Count"})
    );
    assert_eq!(
        usage["value"][2],
        json!({"name": "ScopeMaps", "limit": 500, "currentValue": 0, "unit": "Count"})
    );
    assert_eq!(usage["value"][0]["limit"], 107374182400_u64);
    assert_eq!(usage["value"][0]["unit"], "Bytes");
    // other:v1 whole, and hello-world's layer (its manifest is gone, its blobs stay
    // linked); the config blob both share counts once.
    assert_eq!(
        usage["value"][0]["currentValue"],
        b"layer one".len() as u64 + other_size,
        "{usage}"
    );

    // A disabled webhook records nothing.
    az.ok(&[
        "acr",
        "webhook",
        "update",
        "-r",
        "hookreg01",
        "-n",
        "hook1",
        "--status",
        "disabled",
        "-o",
        "none",
    ])
    .await;
    push(&em, host, &auth, "hello-world", "v2", b"layer three").await;
    assert_eq!(az.json(&events).await.as_array().unwrap().len(), 3);

    az.ok(&["acr", "webhook", "delete", "-r", "hookreg01", "-n", "hook1"])
        .await;
    assert_eq!(
        az.json(&["acr", "webhook", "list", "-r", "hookreg01"])
            .await,
        json!([])
    );
}

/// `az acr import`, expecting failure: its stderr.
async fn import_fails(az: &Az<'_>, args: &[&str]) -> String {
    let mut all = vec!["acr", "import", "-n", "dstreg01"];
    all.extend(args);
    let out = az.run(&all).await;
    assert!(!out.ok, "az {all:?} succeeded: {}", out.stdout);
    out.stderr
}

#[tokio::test]
async fn import_between_emulated_registries() {
    let em = Emulator::start();
    let az = signed_in(&em).await;
    for (name, sku) in [("srcreg01", "Standard"), ("dstreg01", "Basic")] {
        az.ok(&[
            "acr",
            "create",
            "-n",
            name,
            "-g",
            "reg",
            "--sku",
            sku,
            "--admin-enabled",
            "true",
            "-o",
            "none",
        ])
        .await;
    }
    let src = admin(&az, "srcreg01").await;
    let dst = admin(&az, "dstreg01").await;
    let (src_host, dst_host) = ("srcreg01.azurecr.io", "dstreg01.azurecr.io");
    let (d, _) = push(&em, src_host, &src, "hello-world", "v1", b"imported layer").await;

    // The source found in the subscription: imported by resource id, with the caller's own rights.
    az.ok(&[
        "acr",
        "import",
        "-n",
        "dstreg01",
        "--source",
        "srcreg01.azurecr.io/hello-world:v1",
    ])
    .await;
    assert_eq!(
        manifest(&em, dst_host, &dst, "hello-world", "v1").await,
        (200, d.clone())
    );
    // The layer came along: the target serves it.
    let layer = digest(b"imported layer");
    let r = em
        .proxied()
        .get(format!("https://{dst_host}/v2/hello-world/blobs/{layer}"))
        .basic_auth(&dst.0, Some(&dst.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"imported layer");

    // With the source's credentials (by registry URI), to another name; by digest, untagged too.
    az.ok(&[
        "acr",
        "import",
        "-n",
        "dstreg01",
        "--source",
        "srcreg01.azurecr.io/hello-world:v1",
        "-t",
        "copies/hello:v2",
        "-u",
        &src.0,
        "-p",
        &src.1,
    ])
    .await;
    assert_eq!(
        manifest(&em, dst_host, &dst, "copies/hello", "v2").await,
        (200, d.clone())
    );
    let by_digest = format!("srcreg01.azurecr.io/hello-world@{d}");
    az.ok(&[
        "acr",
        "import",
        "-n",
        "dstreg01",
        "--source",
        &by_digest,
        "-t",
        "pinned:v1",
    ])
    .await;
    assert_eq!(
        manifest(&em, dst_host, &dst, "pinned", "v1").await,
        (200, d.clone())
    );

    // Failures come back through the operation, in its error; nothing is copied.
    let err = import_fails(
        &az,
        &[
            "--source",
            "srcreg01.azurecr.io/hello-world:v1",
            "-t",
            "bad:v1",
            "-u",
            &src.0,
            "-p",
            "wrong",
        ],
    )
    .await;
    assert!(
        err.contains("(InvalidParameters) The source registry 'srcreg01.azurecr.io' refused the credentials of 'srcreg01'"),
        "{err}"
    );
    assert_eq!(manifest(&em, dst_host, &dst, "bad", "v1").await.0, 404);
    let err = import_fails(&az, &["--source", "srcreg01.azurecr.io/hello-world:v1"]).await;
    assert!(
        err.contains("Tag hello-world:v1 already exists in target registry."),
        "{err}"
    );
    az.ok(&[
        "acr",
        "import",
        "-n",
        "dstreg01",
        "--source",
        "srcreg01.azurecr.io/hello-world:v1",
        "--force",
    ])
    .await;
    let err = import_fails(&az, &["--source", "srcreg01.azurecr.io/hello-world:nope"]).await;
    assert!(
        err.contains("The source image 'srcreg01.azurecr.io/hello-world:nope' was not found."),
        "{err}"
    );

    // A principal who may write to the target but not read the source: the source's decision refuses.
    let owner = em.arm_token().await;
    let p = em.new_principal().await;
    let contributor = format!(
        "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"
    );
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                registry_id("reg", "dstreg01"),
                uuid::Uuid::new_v4()
            ),
            Some(json!({"properties": {"roleDefinitionId": contributor, "principalId": p.object_id}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let import = |repo: &str| json!({"source": {"resourceId": registry_id("reg", "srcreg01"), "sourceImage": "hello-world:v1"}, "targetTags": [repo], "mode": "NoForce"});
    let r = em
        .http()
        .post(format!(
            "{}{}/importImage?api-version=2023-07-01",
            em.base(),
            registry_id("reg", "dstreg01")
        ))
        .bearer_auth(&p.token)
        .json(&import("denied:v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (status, body) = Emulator::answer(em.http().get(&location).bearer_auth(&p.token)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "InvalidParameters");
    assert!(
        body["error"]["message"].as_str().unwrap().starts_with(
            "The source registry 'srcreg01.azurecr.io' refused to let the caller pull 'hello-world'"
        ),
        "{body}"
    );
    assert_eq!(manifest(&em, dst_host, &dst, "denied", "v1").await.0, 404);
}

#[tokio::test]
async fn cache_rules_credential_sets_and_agent_pools() {
    let em = Emulator::start();
    let az = signed_in(&em).await;
    az.ok(&[
        "acr",
        "create",
        "-n",
        "cachereg01",
        "-g",
        "reg",
        "--sku",
        "Premium",
        "-o",
        "none",
    ])
    .await;
    let set = az
        .json(&[
            "acr",
            "credential-set",
            "create",
            "-r",
            "cachereg01",
            "-n",
            "dockerhub",
            "-l",
            "docker.io",
            "-u",
            "https://kv1.vault.azure.net/secrets/user",
            "-p",
            "https://kv1.vault.azure.net/secrets/pass",
        ])
        .await;
    is_child(&set, "dockerhub", "credentialSets");
    assert_eq!(set["loginServer"], "docker.io");
    assert_eq!(set["provisioningState"], "Succeeded");
    assert!(set["creationDate"].is_string(), "{set}");
    assert_eq!(set["identity"]["type"], "systemAssigned");
    assert!(set["identity"]["principalId"].is_string(), "{set}");
    let cred = &set["authCredentials"][0];
    assert_eq!(cred["name"], "Credential1");
    assert_eq!(
        cred["usernameSecretIdentifier"],
        "https://kv1.vault.azure.net/secrets/user"
    );
    assert_eq!(
        cred["passwordSecretIdentifier"],
        "https://kv1.vault.azure.net/secrets/pass"
    );
    let set_id = set["id"].as_str().unwrap().to_string();

    let rule = az
        .json(&[
            "acr",
            "cache",
            "create",
            "-r",
            "cachereg01",
            "-n",
            "ubuntu",
            "-s",
            "docker.io/library/ubuntu",
            "-t",
            "ubuntu",
            "-c",
            "dockerhub",
        ])
        .await;
    is_child(&rule, "ubuntu", "cacheRules");
    assert_eq!(rule["sourceRepository"], "docker.io/library/ubuntu");
    assert_eq!(rule["targetRepository"], "ubuntu");
    assert_eq!(rule["credentialSetResourceId"], set_id.as_str());
    assert_eq!(rule["provisioningState"], "Succeeded");
    assert!(rule["creationDate"].is_string(), "{rule}");
    let shown = az
        .json(&["acr", "cache", "show", "-r", "cachereg01", "-n", "ubuntu"])
        .await;
    assert_eq!(shown["creationDate"], rule["creationDate"]);
    assert_eq!(
        names(&az.json(&["acr", "cache", "list", "-r", "cachereg01"]).await),
        ["ubuntu"]
    );

    let pool = az
        .json(&[
            "acr",
            "agentpool",
            "create",
            "-r",
            "cachereg01",
            "-n",
            "pool1",
            "--tier",
            "S2",
        ])
        .await;
    is_child(&pool, "pool1", "agentPools");
    assert_eq!(pool["tier"], "S2");
    assert_eq!(pool["os"], "Linux");
    assert_eq!(pool["count"], 1);
    assert_eq!(pool["provisioningState"], "Succeeded");
    let shown = az
        .json(&[
            "acr",
            "agentpool",
            "show",
            "-r",
            "cachereg01",
            "-n",
            "pool1",
        ])
        .await;
    assert_eq!(shown["location"], "westus");
    assert_eq!(shown["tier"], "S2");
}

#[tokio::test]
async fn refusals_in_arm_words() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/reg");
    em.arm(
        &owner,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "westus"})),
    )
    .await;
    let reg = registry_id("reg", "basicreg01");
    let reg_url = format!("{reg}?api-version=2023-07-01");
    let basic = json!({"location": "westus", "sku": {"name": "Basic"}});
    let (s, b) = em
        .arm(&owner, Method::PUT, &reg_url, Some(basic.clone()))
        .await;
    assert_eq!(s, 201, "{b}");
    let hook = |n: &str| format!("{reg}/webhooks/{n}?api-version=2023-07-01");
    let body = json!({"location": "westus", "properties": {"serviceUri": "http://localhost:9/", "actions": ["push"]}});

    // The schema's required properties, in ARM's words.
    let (s, out) = em
        .arm(
            &owner,
            Method::PUT,
            &hook("h0"),
            Some(json!({"location": "westus", "properties": {"actions": ["push"]}})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        out,
        json!({"error": {"code": "InvalidRequestContent", "message": "The request content was invalid and could not be deserialized: 'Required property 'serviceUri' not found in JSON. Path 'properties', line 1, position 35.'."}})
    );
    // A webhook as Azure returns it: computed fields, the service URI never.
    // Done when it answers: 200 (azure-cli's `test_acr_create_webhook`).
    let (s, out) = em
        .arm(&owner, Method::PUT, &hook("h1"), Some(body.clone()))
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["properties"]["status"], "enabled");
    assert_eq!(out["properties"]["scope"], "");
    assert!(out["properties"]["provisioningState"].is_string(), "{out}");
    assert!(out["systemData"]["createdAt"].is_string(), "{out}");
    assert!(out["properties"].get("serviceUri").is_none(), "{out}");
    let (_, got) = em.arm(&owner, Method::GET, &hook("h1"), None).await;
    assert!(got["properties"].get("serviceUri").is_none(), "{got}");
    assert!(got["properties"].get("customHeaders").is_none(), "{got}");
    // A Basic registry has two webhooks at most.
    let (s, _) = em
        .arm(&owner, Method::PUT, &hook("h2"), Some(body.clone()))
        .await;
    assert_eq!(s, 200);
    let (s, out) = em
        .arm(&owner, Method::PUT, &hook("h3"), Some(body.clone()))
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        out,
        json!({"error": {"code": "QuotaExceeded", "message": "The requested feature webhook exceeds allowed quota 2 for the SKU Basic."}})
    );
    let (s, out) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{reg}/webhooks/nope/ping?api-version=2023-07-01"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(out["error"]["code"], "ResourceNotFound");
    let (s, out) = em
        .arm(
            &owner,
            Method::GET,
            &format!(
                "{}/listUsages?api-version=2023-07-01",
                registry_id("reg", "nosuchreg")
            ),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(out["error"]["code"], "ResourceNotFound");

    // A registry deleted takes its webhooks' events and callbacks with it.
    let ping = format!("{reg}/webhooks/h1/ping?api-version=2023-07-01");
    let (s, _) = em.arm(&owner, Method::POST, &ping, None).await;
    assert_eq!(s, 200);
    let events = format!("{reg}/webhooks/h1/listEvents?api-version=2023-07-01");
    let (_, out) = em.arm(&owner, Method::POST, &events, None).await;
    assert_eq!(out["value"].as_array().unwrap().len(), 1, "{out}");
    let (s, _) = em.arm(&owner, Method::DELETE, &reg_url, None).await;
    assert_eq!(s, 200);
    let (s, _) = em.arm(&owner, Method::PUT, &reg_url, Some(basic)).await;
    assert_eq!(s, 201);
    let (s, _) = em
        .arm(
            &owner,
            Method::PUT,
            &hook("h1"),
            Some(json!({"location": "westus", "properties": {"serviceUri": "http://localhost:8/", "actions": ["push"]}})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, out) = em.arm(&owner, Method::POST, &events, None).await;
    assert_eq!(out, json!({"value": []}));
    let (_, out) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{reg}/webhooks/h1/getCallbackConfig?api-version=2023-07-01"),
            None,
        )
        .await;
    assert_eq!(out, json!({"serviceUri": "http://localhost:8/"}));

    // importImage: the body by its schema; a source azemu cannot reach fails in the operation.
    let import = format!("{reg}/importImage?api-version=2023-07-01");
    let (s, out) = em
        .arm(&owner, Method::POST, &import, Some(json!({"source": {}})))
        .await;
    assert_eq!(s, 400);
    assert_eq!(out["error"]["code"], "InvalidRequestContent");
    let failed = |source: serde_json::Value| {
        let (em, owner, import) = (&em, &owner, &import);
        async move {
            let r = em
                .http()
                .post(format!("{}{import}", em.base()))
                .bearer_auth(owner)
                .json(&json!({ "source": source }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 202);
            let location = r.headers()["location"].to_str().unwrap().to_string();
            let (s, out) = Emulator::answer(em.http().get(&location).bearer_auth(owner)).await;
            assert_eq!(s, 409, "{out}");
            assert_eq!(out["error"]["code"], "InvalidParameters");
            out["error"]["message"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(
        failed(json!({"registryUri": "docker.io", "sourceImage": "library/hello-world"})).await,
        "The source registry 'docker.io' could not be reached: azemu imports only from its own registries."
    );
    // A resource id that names something other than a registry.
    assert_eq!(
        failed(json!({"resourceId": rg, "sourceImage": "hello-world:v1"})).await,
        format!("The source registry '{rg}' was not found.")
    );
}

/// Needs the ACR spec that defines connected registries (2023-11-01-preview or
/// later, branch t21-specs); ignored until `fixtures/specs` has it.
#[tokio::test]
async fn connected_registry_create() {
    let em = Emulator::start();
    let az = signed_in(&em).await;
    az.ok(&words(
        "acr create -n connreg01 -g reg --sku Premium -o none",
    ))
    .await;
    // A connected registry needs the registry's data endpoint.
    let (status, body) = em
        .arm(
            &em.arm_token().await,
            Method::PUT,
            &format!(
                "{}/connectedRegistries/edgereg00?api-version=2023-11-01-preview",
                registry_id("reg", "connreg01")
            ),
            Some(json!({"properties": {"mode": "ReadOnly", "parent": {"syncProperties": {"tokenId": "x", "messageTtl": "P2D"}}}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "DataEndpointNotEnabled");
    az.ok(&words(
        "acr update -n connreg01 --data-endpoint-enabled true -o none",
    ))
    .await;
    // The sync token made beforehand (az's --repository would make one whose scope
    // map holds gateway actions, accepted once branch t21-fid is in).
    az.ok(&words(
        "acr token create -r connreg01 -n synctok --repository hello-world content/read -o none",
    ))
    .await;
    let cr = az
        .json(&words(
            "acr connected-registry create -r connreg01 -n edgereg01 --sync-token synctok",
        ))
        .await;
    is_child(&cr, "edgereg01", "connectedRegistries");
    // az 2.91 asks for `readonly` unless told otherwise; Azure answers in its own case.
    assert_eq!(cr["mode"], "ReadOnly");
    assert_eq!(cr["connectionState"], "Offline");
    assert_eq!(cr["activation"], json!({"status": "Inactive"}));
    assert_eq!(cr["provisioningState"], "Succeeded");
    assert_eq!(
        cr["parent"]["syncProperties"]["gatewayEndpoint"],
        "connreg01.westus.data.azurecr.io"
    );
    let token = cr["parent"]["syncProperties"]["tokenId"].as_str().unwrap();
    assert!(
        token.ends_with("/registries/connreg01/tokens/synctok"),
        "{token}"
    );
    let shown = az
        .json(&words(
            "acr connected-registry show -r connreg01 -n edgereg01",
        ))
        .await;
    assert_eq!(shown["mode"], "ReadOnly");
}

/// Scope maps and tokens, served by the spec layer with ACR's rules
/// (`providers/container_registry/scope_maps.rs`): the three system scope maps
/// list and show and refuse writes; a scope map's PUT answers 200 and its
/// PATCH 201, a token's creating PUT 201 with an operation to poll
/// (recordings test_repository_token_create, test_acr_connectedregistry);
/// `type`, `id`, `name`, `systemData`, `properties` in that order; a token's
/// credentials name its passwords, never their values.
#[tokio::test]
async fn scope_maps_and_tokens() {
    let em = Emulator::start();
    let az = signed_in(&em).await;
    az.ok(&words("acr create -n mapsreg01 -g reg --sku Basic -o none"))
        .await;
    let maps = az.json(&words("acr scope-map list -r mapsreg01")).await;
    assert_eq!(
        names(&maps),
        [
            "_repositories_admin",
            "_repositories_pull",
            "_repositories_push"
        ],
        "{maps}"
    );
    let pull = az
        .json(&words(
            "acr scope-map show -r mapsreg01 -n _repositories_pull",
        ))
        .await;
    assert_eq!(pull["actions"], json!(["repositories/*/content/read"]));
    assert_eq!(
        pull["description"],
        "Can pull any repository of the registry"
    );
    // A token on a system scope map, its passwords made by `generateCredentials`.
    let made = az
        .json(&words(
            "acr token create -r mapsreg01 -n puller --scope-map _repositories_pull",
        ))
        .await;
    let passwords = made["credentials"]["passwords"].as_array().unwrap();
    assert_eq!(passwords.len(), 2, "{made}");
    assert!(passwords.iter().all(|p| p["value"].is_string()), "{made}");
    let shown = az
        .json(&words("acr token show -r mapsreg01 -n puller"))
        .await;
    let passwords = shown["credentials"]["passwords"].as_array().unwrap();
    assert_eq!(
        passwords.iter().map(|p| &p["name"]).collect::<Vec<_>>(),
        ["password1", "password2"],
        "{shown}"
    );
    assert!(passwords.iter().all(|p| p["value"].is_null()), "{shown}");

    let token = em.arm_token().await;
    let reg = registry_id("reg", "mapsreg01");
    let a = "api-version=2023-07-01";
    let refused = json!({"error": {"code": "CannotModifySystemScopeMap",
        "message": "System defined scope maps cannot be modified or deleted."}});
    let body = json!({"properties": {"actions": ["repositories/hello/content/read"]}});
    let (s, b) = em
        .arm(
            &token,
            Method::PUT,
            &format!("{reg}/scopeMaps/_repositories_admin?{a}"),
            Some(body.clone()),
        )
        .await;
    assert_eq!((s, &b), (400, &refused));
    let (s, b) = em
        .arm(
            &token,
            Method::DELETE,
            &format!("{reg}/scopeMaps/_repositories_push?{a}"),
            None,
        )
        .await;
    assert_eq!((s, &b), (400, &refused));

    let map = format!("{reg}/scopeMaps/map1");
    let (s, b) = em
        .arm(&token, Method::PUT, &format!("{map}?{a}"), Some(body))
        .await;
    assert_eq!(s, 200, "{b}");
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&b), ["type", "id", "name", "systemData", "properties"]);
    assert_eq!(
        keys(&b["properties"]),
        ["type", "creationDate", "provisioningState", "actions"]
    );
    assert_eq!(b["properties"]["type"], "UserDefined");
    let (s, b) = em
        .arm(
            &token,
            Method::PATCH,
            &format!("{map}?{a}"),
            Some(json!({"properties": {"description": "hello readers"}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["properties"]["description"], "hello readers");
    assert_eq!(
        b["properties"]["actions"],
        json!(["repositories/hello/content/read"])
    );

    let tok = format!("{reg}/tokens/reader");
    let r = em
        .http()
        .put(format!("{}{tok}?{a}", em.base()))
        .bearer_auth(&token)
        .json(&json!({"properties": {"scopeMapId": map, "status": "enabled"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("azure-asyncoperation"));
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(keys(&b), ["type", "id", "name", "systemData", "properties"]);
    assert_eq!(
        keys(&b["properties"]),
        [
            "creationDate",
            "provisioningState",
            "scopeMapId",
            "credentials",
            "status"
        ]
    );
    assert_eq!(b["properties"]["credentials"], json!({"passwords": []}));
    for (method, path, status) in [
        (Method::DELETE, &tok, 200),
        (Method::DELETE, &tok, 204),
        (Method::DELETE, &map, 200),
        (Method::GET, &map, 404),
    ] {
        let (s, b) = em.arm(&token, method, &format!("{path}?{a}"), None).await;
        assert_eq!(s, status, "{path}: {b}");
    }
}

/// What goes with a resource when its resource group is deleted is what goes
/// when it is deleted alone: a registry's content (a registry created again
/// under its name starts empty), and the soft delete of a key vault and a
/// Log Analytics workspace (Azure keeps both, deleted, after `az group delete`).
#[tokio::test]
async fn a_group_delete_removes_what_a_resource_delete_would() {
    let em = Emulator::start();
    let az = signed_in(&em).await;
    let create_registry = [
        "acr",
        "create",
        "-n",
        "gonereg01",
        "-g",
        "reg",
        "--sku",
        "Basic",
        "--admin-enabled",
        "true",
        "-o",
        "none",
    ];
    az.ok(&create_registry).await;
    let host = "gonereg01.azurecr.io";
    let auth = admin(&az, "gonereg01").await;
    let (digest, _) = push(&em, host, &auth, "app", "v1", b"layer of a gone registry").await;
    assert_eq!(
        manifest(&em, host, &auth, "app", "v1").await,
        (200, digest.clone())
    );
    az.ok(&words("keyvault create -g reg -n azemugone01 -o none"))
        .await;
    az.ok(&words(
        "monitor log-analytics workspace create -g reg -n azemugonews -o none",
    ))
    .await;

    az.ok(&["group", "delete", "-n", "reg", "--yes"]).await;

    // The vault and the workspace are kept, deleted, as a delete of each keeps them.
    let vaults = az.json(&words("keyvault list-deleted")).await;
    assert_eq!(names(&vaults), ["azemugone01"], "{vaults}");
    az.ok(&["group", "create", "-n", "reg", "-l", "westus", "-o", "none"])
        .await;
    let workspaces = az
        .json(&words(
            "monitor log-analytics workspace list-deleted-workspaces -g reg",
        ))
        .await;
    assert_eq!(names(&workspaces), ["azemugonews"], "{workspaces}");

    // The registry's content went with it.
    az.ok(&create_registry).await;
    let auth = admin(&az, "gonereg01").await;
    assert_eq!(manifest(&em, host, &auth, "app", "v1").await.0, 404);
    let catalog = em
        .proxied()
        .get(format!("https://{host}/v2/_catalog"))
        .basic_auth(&auth.0, Some(&auth.1))
        .send()
        .await
        .unwrap();
    assert_eq!(catalog.status().as_u16(), 200);
    let catalog: serde_json::Value = catalog.json().await.unwrap();
    assert_eq!(catalog["repositories"], json!([]), "{catalog}");
}

/// ACR answers its children's writes as azure-cli's acr recordings have them:
/// a long-running PUT 201 `Creating` and a long-running PATCH 201 `Updating`,
/// each with an `Azure-AsyncOperation` to poll (replications, tokens, scope
/// map PATCHes); webhooks and scope map PUTs 200 `Succeeded`, done; a
/// registry PATCH 200, done.
#[tokio::test]
async fn acr_writes_answer_as_recorded() {
    let em = Emulator::start_with(&["--sim-mode", "explicit"]);
    let token = em.arm_token().await;
    let rg = em.resource_group(&token, "acrw").await;
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/writesreg01");
    let a = "api-version=2023-07-01";
    let send = |method: Method, path: String, body: serde_json::Value| {
        let (em, token) = (&em, &token);
        async move {
            let r = em.arm_response(token, method, &path, Some(body)).await;
            let s = r.status().as_u16();
            let polled = r.headers().contains_key("azure-asyncoperation");
            let b: serde_json::Value = r.json().await.unwrap_or_default();
            (s, b["properties"]["provisioningState"].clone(), polled)
        }
    };
    let created = send(
        Method::PUT,
        format!("{reg}?{a}"),
        json!({"location": "westus", "sku": {"name": "Premium"}}),
    )
    .await;
    assert_eq!(created, (201, json!("Creating"), true));
    em.step().await;
    let patched = send(
        Method::PATCH,
        format!("{reg}?{a}"),
        json!({"properties": {"adminUserEnabled": true}}),
    )
    .await;
    assert_eq!(patched, (200, json!("Succeeded"), false));

    let replication = format!("{reg}/replications/eastus?{a}");
    let put = send(
        Method::PUT,
        replication.clone(),
        json!({"location": "eastus"}),
    )
    .await;
    assert_eq!(put, (201, json!("Creating"), true));
    em.step().await;
    let patch = send(
        Method::PATCH,
        replication.clone(),
        json!({"tags": {"k": "v"}}),
    )
    .await;
    assert_eq!(patch, (201, json!("Updating"), true));
    em.step().await;
    let (s, b) = em.arm(&token, Method::GET, &replication, None).await;
    assert_eq!(
        (s, &b["properties"]["provisioningState"]),
        (200, &json!("Succeeded"))
    );

    let hook = format!("{reg}/webhooks/hook1?{a}");
    let body = json!({"location": "westus", "properties": {"serviceUri": "https://example.invalid/hook", "actions": ["push"]}});
    assert_eq!(
        send(Method::PUT, hook.clone(), body).await,
        (200, json!("Succeeded"), false)
    );
    assert_eq!(
        send(Method::PATCH, hook, json!({"tags": {"k": "v"}})).await,
        (200, json!("Succeeded"), false)
    );

    let map = format!("{reg}/scopeMaps/map1?{a}");
    let actions = json!({"properties": {"actions": ["repositories/hello/content/read"]}});
    assert_eq!(
        send(Method::PUT, map.clone(), actions).await,
        (200, json!("Succeeded"), false)
    );
    let more = json!({"properties": {"actions": ["repositories/hello/content/read", "repositories/hello/content/write"]}});
    assert_eq!(
        send(Method::PATCH, map, more).await,
        (201, json!("Updating"), true)
    );
    em.step().await;

    let tok = format!("{reg}/tokens/tok1?{a}");
    let body =
        json!({"properties": {"scopeMapId": format!("{reg}/scopeMaps/map1"), "status": "enabled"}});
    assert_eq!(
        send(Method::PUT, tok.clone(), body).await,
        (201, json!("Creating"), true)
    );
    em.step().await;
    let (s, b) = em.arm(&token, Method::GET, &tok, None).await;
    assert_eq!(
        (s, &b["properties"]["provisioningState"]),
        (200, &json!("Succeeded"))
    );
}
