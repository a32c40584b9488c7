//! Stored state is always readable, and writes are all-or-nothing (issue 19,
//! items 3 and 12): nothing accepted is stored so deep that it cannot be read
//! back, one unreadable row fails only the requests for its own resource, and
//! a write that fails leaves the world byte-identical.

use crate::harness::{Emulator, SUBSCRIPTION, TENANT};
use reqwest::Method;
use serde_json::{Value, json};

fn sub() -> String {
    format!("/subscriptions/{SUBSCRIPTION}")
}

fn rg(name: &str) -> String {
    format!("{}/resourceGroups/{name}", sub())
}

const ACR: &str = "api-version=2023-07-01";
const ACI: &str = "api-version=2023-05-01";
const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

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

/// `(status, code, message)` of an ARM answer.
fn outcome(status: u16, body: &Value) -> (u16, Option<&str>, Option<&str>) {
    (
        status,
        body["error"]["code"].as_str(),
        body["error"]["message"].as_str(),
    )
}

async fn ok(em: &Emulator, token: &str, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = em.arm(token, method, path, Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

async fn group(em: &Emulator, token: &str, name: &str) {
    ok(
        em,
        token,
        Method::PUT,
        &format!("{}?api-version=2024-07-01", rg(name)),
        json!({"location": "eastus"}),
    )
    .await;
}

async fn registry(em: &Emulator, token: &str, group: &str, name: &str) -> String {
    let id = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/{name}",
        rg(group)
    );
    ok(
        em,
        token,
        Method::PUT,
        &format!("{id}?{ACR}"),
        json!({"location": "eastus", "sku": {"name": "Premium"}}),
    )
    .await;
    id
}

/// A fresh emulator with resource group `g`, and the owner's token.
async fn started_with(g: &str) -> (Emulator, String) {
    let em = Emulator::start();
    let token = em.arm_token().await;
    group(&em, &token, g).await;
    (em, token)
}

/// `POST /_emulator/state/export` into `dir`: the summary (it must succeed).
async fn export_to(em: &Emulator, dir: &std::path::Path) -> Value {
    let (status, summary) = Emulator::answer(
        em.http()
            .post(format!("{}/_emulator/state/export", em.base()))
            .json(&json!({"path": dir})),
    )
    .await;
    assert_eq!(status, 200, "{summary}");
    summary
}

/// Everything a client can see of the world, byte for byte: a state export
/// (every row of every table), `GET /_emulator/world` (but for the clock's
/// reading), the control API's principals and Graph's service principals.
struct Witness {
    state: String,
    world: String,
    principals: String,
    graph: String,
}

async fn witness(em: &Emulator) -> Witness {
    let dir = em
        .data_dir()
        .join(format!("export-{}", uuid::Uuid::new_v4().simple()));
    export_to(em, &dir).await;
    let text = |path: &str| {
        let em = &em;
        let path = path.to_string();
        async move {
            em.http()
                .get(format!("{}{path}", em.base()))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let graph_token = em
        .client()
        .token("https://graph.microsoft.com/.default")
        .await
        .unwrap()
        .access_token;
    let graph = em
        .http()
        .get(format!("{}/v1.0/servicePrincipals", em.base()))
        .bearer_auth(graph_token)
        .send()
        .await
        .unwrap();
    assert_eq!(graph.status(), 200);
    // The world as served, but for the emulated clock's reading, which moves.
    let world = text("/_emulator/world").await;
    let mut world: serde_json::Value =
        serde_json::from_str(&world).unwrap_or_else(|_| panic!("the world is JSON: {world}"));
    assert!(world["now"].is_string(), "the world has its time: {world}");
    world.as_object_mut().unwrap().shift_remove("now");
    let world = world.to_string();
    Witness {
        state: std::fs::read_to_string(dir.join("state.json")).unwrap(),
        world,
        principals: text("/_emulator/principals").await,
        graph: graph.text().await.unwrap(),
    }
}

/// Send a request that must fail with `want` (status, code, message), and
/// check that it left the world exactly as it was.
async fn fails_without_a_trace(
    em: &Emulator,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
    want: (u16, &str, &str),
) {
    let before = witness(em).await;
    let (status, answer) = em.arm(token, method, path, Some(body)).await;
    assert_eq!(
        outcome(status, &answer),
        (want.0, Some(want.1), Some(want.2)),
        "{path}: {answer}"
    );
    let after = witness(em).await;
    same(&before, &after, path);
}

/// Byte-identical, or a panic that shows where the first difference is.
fn same(before: &Witness, after: &Witness, what: &str) {
    for (name, a, b) in [
        ("state export", &before.state, &after.state),
        ("world", &before.world, &after.world),
        ("principals", &before.principals, &after.principals),
        ("Graph servicePrincipals", &before.graph, &after.graph),
    ] {
        if a != b {
            let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            let around = |t: &str| {
                t[at.saturating_sub(200).min(t.len())..(at + 200).min(t.len())].to_string()
            };
            panic!(
                "{what} changed the {name} at byte {at}:\nbefore …{}…\nafter  …{}…",
                around(a),
                around(b)
            );
        }
    }
}

fn principal_ids(em_principals: &Value) -> Vec<String> {
    em_principals["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["objectId"].as_str().unwrap().to_string())
        .collect()
}

// ---- item 3: stored state is always readable --------------------------------

/// The review's brick: a deployment whose parameter value sat just under the
/// request nesting limit was stored one level deeper, past what can be read
/// back, and every later ARM request of every caller answered 500.
#[tokio::test]
async fn a_deep_deployment_body_never_bricks_the_emulator() {
    let (em, token) = started_with("deep").await;
    // body → properties → parameters → p → value: the value starts 4 levels down.
    let body = |depth: usize| {
        format!(
            r#"{{"properties":{{"mode":"Incremental","template":{{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","parameters":{{"p":{{"type":"object"}}}},"resources":[]}},"parameters":{{"p":{{"value":{}}}}}}}}}"#,
            nested(depth - 4)
        )
    };
    let path = |name: &str| {
        format!(
            "{}/providers/Microsoft.Resources/deployments/{name}?api-version=2024-03-01",
            rg("deep")
        )
    };
    // 127 levels (as deep as serde_json reads; it was accepted and stored at 128),
    // and one past the request limit: refused.
    for depth in [127, 101] {
        let (status, answer) = put_raw(&em, &token, &path("deep"), body(depth).into_bytes()).await;
        assert_eq!(
            outcome(status, &answer),
            (
                400,
                Some("InvalidRequestContent"),
                Some(
                    "The request content was invalid and could not be deserialized: 'The content is nested more than 100 levels deep.'."
                )
            ),
        );
    }
    // At the limit: accepted, stored, read back (and again after a restart).
    let (status, answer) = put_raw(&em, &token, &path("edge"), body(100).into_bytes()).await;
    assert_eq!(status, 201, "{answer}");
    let (status, got) = em.arm(&token, Method::GET, &path("edge"), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        serde_json::to_string(&got["properties"]["parameters"]["p"]["value"]).unwrap(),
        nested(96)
    );
    let (_, dir) = em.terminate();
    let em = Emulator::start_in(dir, &[]);
    let token = em.arm_token().await;
    let (status, again) = em.arm(&token, Method::GET, &path("edge"), None).await;
    assert_eq!((status, &again["properties"]), (200, &got["properties"]));
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

/// A comment holding a quote hid the brackets after it from the nesting
/// count, and JSON5 then recursed through them: the process could die.
#[tokio::test]
async fn a_comment_cannot_hide_nesting() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    for comment in ["// \"\n", "/* ' */"] {
        let body = format!(
            "{{location: 'eastus', {comment} tags: {{a: {}1{}}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let (status, answer) = put_raw(
            &em,
            &token,
            &format!("{}?api-version=2024-07-01", rg("c")),
            body.into_bytes(),
        )
        .await;
        assert_eq!(
            outcome(status, &answer),
            (
                400,
                Some("InvalidRequestContent"),
                Some(
                    "The request content was invalid and could not be deserialized: 'The content is nested more than 100 levels deep.'."
                )
            ),
        );
    }
    // The same comments around a shallow body are fine.
    let body = "{location: 'eastus', // \"\n tags: /* ' */ {a: 'b'}}";
    let (status, answer) = put_raw(
        &em,
        &token,
        &format!("{}?api-version=2024-07-01", rg("c")),
        body.as_bytes().to_vec(),
    )
    .await;
    assert_eq!((status, &answer["tags"]), (201, &json!({"a": "b"})));
}

/// Rows planted in the redb file while the emulator is stopped — damaged
/// bytes, and JSON nested past what can be read back (as an older version
/// could write it) — fail the requests for their own resources (409
/// `StoredStateUnreadable`, naming them) and nothing else: lists, other
/// resources, the world, the principals, snapshots; and they can be deleted.
#[tokio::test]
async fn an_unreadable_row_fails_only_its_own_resource() {
    use azemu_emulator::store::{RedbStore, Rows};
    let em = Emulator::start();
    let token = em.arm_token().await;
    for g in ["keep", "broken"] {
        group(&em, &token, g).await;
    }
    let keep_reg = registry(&em, &token, "keep", "keepreg01").await;
    let uai = |g: &str, name: &str| {
        format!(
            "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            rg(g)
        )
    };
    let uai_api = "api-version=2023-01-31";
    for (g, name) in [
        ("keep", "keep-id"),
        ("broken", "bad-id"),
        ("broken", "other-id"),
    ] {
        ok(
            &em,
            &token,
            Method::PUT,
            &format!("{}?{uai_api}", uai(g, name)),
            json!({"location": "eastus"}),
        )
        .await;
    }
    let deployment = |name: &str| {
        format!(
            "{}/providers/Microsoft.Resources/deployments/{name}",
            rg("broken")
        )
    };
    let dep_api = "api-version=2024-03-01";
    for name in ["bad-deploy", "good-deploy"] {
        ok(&em, &token, Method::PUT, &format!("{}?{dep_api}", deployment(name)), json!({"properties": {"mode": "Incremental", "template": {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": []}}})).await;
    }
    // A principal and a role assignment to damage too.
    let extra = em.new_principal().await;
    let assignment = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{}",
        rg("keep"),
        uuid::Uuid::new_v4()
    );
    ok(&em, &token, Method::PUT, &format!("{assignment}?api-version=2022-04-01"), json!({"properties": {"roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}", sub()), "principalId": extra.object_id}})).await;
    let before = witness(&em).await;

    // Stopped: plant the rows.
    let (_, dir) = em.terminate();
    {
        let store = RedbStore::open(&dir.path().join("state.redb")).unwrap();
        let too_deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        store
            .put_raw(
                "resources",
                &uai("broken", "bad-id").to_lowercase(),
                b"{\"type\": \"Micro",
            )
            .unwrap();
        store
            .put_raw(
                "deployments",
                &deployment("bad-deploy").to_lowercase(),
                too_deep.as_bytes(),
            )
            .unwrap();
        store
            .put_raw("principals", &extra.object_id.to_lowercase(), b"\xff\xfe")
            .unwrap();
        store
            .put_raw(
                "role_assignments",
                &assignment.to_lowercase(),
                too_deep.as_bytes(),
            )
            .unwrap();
        // A tag in the public registry (anyone may pull from it).
        store
            .put_raw(
                "oci_tags",
                "mcr.microsoft.com/azuredocs/aci-helloworld/broken",
                b"{",
            )
            .unwrap();
        assert!(
            store
                .get("resources", &keep_reg.to_lowercase())
                .unwrap()
                .is_some()
        );
    }
    let em = Emulator::start_in(dir, &[]);
    let token = em.arm_token().await;

    // Its own requests: 409, naming it.
    let unreadable = |key: &str| {
        (
            409,
            Some("StoredStateUnreadable"),
            Some(format!(
                "The stored state of '{}' cannot be read (it was written by another version of azemu, or damaged). Delete the resource and create it again.",
                key.to_lowercase()
            )),
        )
    };
    for (path, key) in [
        (
            format!("{}?{uai_api}", uai("broken", "bad-id")),
            uai("broken", "bad-id"),
        ),
        (
            format!("{}?{dep_api}", deployment("bad-deploy")),
            deployment("bad-deploy"),
        ),
        (
            format!("{assignment}?api-version=2022-04-01"),
            assignment.clone(),
        ),
    ] {
        let (status, answer) = em.arm(&token, Method::GET, &path, None).await;
        let (s, c, m) = outcome(status, &answer);
        assert_eq!((s, c, m.map(str::to_string)), unreadable(&key), "{path}");
    }
    // Everything else answers, and lists leave the broken rows out.
    let listed = |v: &Value| -> Vec<String> {
        v["value"]
            .as_array()
            .unwrap_or_else(|| panic!("a list: {v}"))
            .iter()
            .map(|x| x["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let get = |path: String| {
        let (em, token) = (&em, token.clone());
        async move {
            let (status, v) = em.arm(&token, Method::GET, &path, None).await;
            assert_eq!(status, 200, "{path}: {v}");
            v
        }
    };
    let identities = get(format!(
        "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?{uai_api}",
        rg("broken")
    ))
    .await;
    assert_eq!(listed(&identities), vec!["other-id"]);
    let everything = get(format!("{}/resources?api-version=2021-04-01", sub())).await;
    let names = listed(&everything);
    assert!(
        names.contains(&"keep-id".to_string())
            && names.contains(&"other-id".to_string())
            && !names.contains(&"bad-id".to_string()),
        "{names:?}"
    );
    let deployments = get(format!(
        "{}/providers/Microsoft.Resources/deployments?{dep_api}",
        rg("broken")
    ))
    .await;
    assert_eq!(listed(&deployments), vec!["good-deploy"]);
    let assignments = get(format!(
        "{}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01",
        sub()
    ))
    .await;
    assert!(
        !assignments.to_string().contains(&extra.object_id),
        "{assignments}"
    );
    get(format!("{}?api-version=2024-07-01", rg("broken"))).await;
    get(format!("{}/resourcegroups?api-version=2024-07-01", sub())).await;
    get(format!("{}?{uai_api}", uai("broken", "other-id"))).await;
    get(format!("{keep_reg}?{ACR}")).await;
    let after = witness(&em).await;
    assert!(!after.principals.contains(&extra.object_id));
    assert!(!after.graph.contains(&extra.object_id));
    let world = em.control_json("/_emulator/world").await;
    let in_world: Vec<&str> = world["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        in_world.contains(&"other-id") && !in_world.contains(&"bad-id"),
        "{in_world:?}"
    );
    assert_ne!(before.state, after.state);

    // The registry plane: the broken tag fails alone.
    let mcr = |path: &str| {
        em.proxied()
            .get(format!(
                "https://mcr.microsoft.com/v2/azuredocs/aci-helloworld/{path}"
            ))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
    };
    let (status, answer) = Emulator::answer(mcr("manifests/broken")).await;
    assert_eq!(
        (
            status,
            &answer["errors"][0]["code"],
            &answer["errors"][0]["message"]
        ),
        (
            409,
            &json!("STORED_STATE_UNREADABLE"),
            &json!(
                "the stored state of 'mcr.microsoft.com/azuredocs/aci-helloworld/broken' cannot be read (it was written by another version of azemu, or damaged): delete it and push it again"
            )
        ),
        "{answer}"
    );
    let (status, tags) = Emulator::answer(mcr("tags/list")).await;
    assert_eq!((status, &tags["tags"]), (200, &json!(["latest"])), "{tags}");
    let (status, _) = Emulator::answer(mcr("manifests/latest")).await;
    assert_eq!(status, 200);

    // A snapshot leaves them out and names them; it imports into a fresh emulator.
    let dir = em.data_dir().join("with-broken-rows");
    let summary = export_to(&em, &dir).await;
    let mut named: Vec<String> = summary["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    named.sort();
    assert_eq!(
        named,
        vec![
            format!("deployments/{}", deployment("bad-deploy").to_lowercase()),
            "oci_tags/mcr.microsoft.com/azuredocs/aci-helloworld/broken".to_string(),
            format!("principals/{}", extra.object_id.to_lowercase()),
            format!("resources/{}", uai("broken", "bad-id").to_lowercase()),
            format!("role_assignments/{}", assignment.to_lowercase()),
        ]
    );
    let fresh = Emulator::start();
    let (status, imported) = Emulator::answer(
        fresh
            .http()
            .post(format!("{}/_emulator/state/import", fresh.base()))
            .json(&json!({"path": dir})),
    )
    .await;
    assert_eq!(status, 200, "{imported}");

    // Deleting them works, and takes what hung on them.
    for path in [
        format!("{}?{uai_api}", uai("broken", "bad-id")),
        format!("{}?{dep_api}", deployment("bad-deploy")),
        format!("{assignment}?api-version=2022-04-01"),
    ] {
        let (status, answer) = em.arm(&token, Method::DELETE, &path, None).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let (status, answer) = em.arm(&token, Method::GET, &path, None).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    // A resource group holding one goes as a whole.
    let (_, dir) = em.terminate();
    {
        let store = RedbStore::open(&dir.path().join("state.redb")).unwrap();
        store
            .put_raw("resources", &uai("broken", "again").to_lowercase(), b"\0")
            .unwrap();
    }
    let em = Emulator::start_in(dir, &[]);
    let token = em.arm_token().await;
    let (status, answer) = em
        .arm(
            &token,
            Method::DELETE,
            &format!("{}?api-version=2024-07-01", rg("broken")),
            None,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    em.step().await;
    let (status, _) = em
        .arm(
            &token,
            Method::GET,
            &format!("{}?api-version=2024-07-01", rg("broken")),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let dir = em.data_dir().join("after-deletes");
    let summary = export_to(&em, &dir).await;
    assert_eq!(
        summary["unreadable"],
        json!([
            "oci_tags/mcr.microsoft.com/azuredocs/aci-helloworld/broken",
            format!("principals/{}", extra.object_id.to_lowercase())
        ]),
        "the tag and the principal are left (this test deletes neither)"
    );
    let state = std::fs::read_to_string(dir.join("state.json")).unwrap();
    assert!(
        !state.contains("/resourcegroups/broken"),
        "nothing of the group is left"
    );
    let _ = TENANT;
}

// ---- item 12: writes are all-or-nothing --------------------------------------

/// A group, a Premium registry holding hello-world:v1, the owner's token.
async fn pull_setup(em: &Emulator, registry_name: &str) -> (String, String) {
    let token = em.arm_token().await;
    group(em, &token, "apps").await;
    let reg = registry(em, &token, "apps", registry_name).await;
    em.push_sample(&format!("{registry_name}.azurecr.io/hello-world:v1"))
        .unwrap();
    (token, reg)
}

fn container_group(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.ContainerInstance/containerGroups/{name}?{ACI}",
        rg("apps")
    )
}

fn group_body(identity: Value, image: &str, creds: Value) -> Value {
    json!({"location": "eastus", "identity": identity, "properties": {
        "osType": "Linux", "imageRegistryCredentials": creds,
        "containers": [{"name": "app", "properties": {"image": image}}],
    }})
}

/// A container-group PUT refused at the pull (its new system-assigned identity
/// has no AcrPull) leaves no principal behind: not in the control API, not in
/// Graph, not in the state.
#[tokio::test]
async fn a_group_put_refused_at_the_pull_leaves_no_principal() {
    let em = Emulator::start();
    let (token, _) = pull_setup(&em, "atomreg01").await;
    let image = "atomreg01.azurecr.io/hello-world:v1";
    fails_without_a_trace(
        &em,
        &token,
        Method::PUT,
        &container_group("refused"),
        group_body(
            json!({"type": "SystemAssigned"}),
            image,
            json!([{"server": "atomreg01.azurecr.io", "identity": "[system]"}]),
        ),
        (
            400,
            "InaccessibleImage",
            "The image 'atomreg01.azurecr.io/hello-world:v1' in container group 'refused' is not accessible. Please check the image and registry credential.",
        ),
    )
    .await;
    let (status, _) = em
        .arm(&token, Method::GET, &container_group("refused"), None)
        .await;
    assert_eq!(status, 404);
}

/// A failing PUT of an existing group keeps the group's principal: here the
/// PUT drops the system identity (which deleted its principal) and then
/// cannot pull with it.
#[tokio::test]
async fn a_failing_put_of_an_existing_group_keeps_its_principal() {
    let em = Emulator::start();
    let (token, reg) = pull_setup(&em, "atomreg02").await;
    let image = "atomreg02.azurecr.io/hello-world:v1";
    let public = "mcr.microsoft.com/azuredocs/aci-helloworld:latest";
    let created = ok(
        &em,
        &token,
        Method::PUT,
        &container_group("kept"),
        group_body(json!({"type": "SystemAssigned"}), public, json!([])),
    )
    .await;
    let principal = created["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    // It may pull from the registry.
    ok(&em, &token, Method::PUT, &format!("{reg}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", uuid::Uuid::new_v4()), json!({"properties": {"roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}", sub()), "principalId": principal, "principalType": "ServicePrincipal"}})).await;
    fails_without_a_trace(
        &em,
        &token,
        Method::PUT,
        &container_group("kept"),
        group_body(
            json!({"type": "None"}),
            image,
            json!([{"server": "atomreg02.azurecr.io", "identity": "[system]"}]),
        ),
        (
            400,
            "InvalidImageRegistryIdentity",
            "The container group 'kept' has no system-assigned identity for registry 'atomreg02.azurecr.io'.",
        ),
    )
    .await;
    // Still there, and still the group's: it pulls with it.
    let principals = em.control_json("/_emulator/principals").await;
    assert!(principal_ids(&principals).contains(&principal));
    let updated = ok(
        &em,
        &token,
        Method::PUT,
        &container_group("kept"),
        group_body(
            json!({"type": "SystemAssigned"}),
            image,
            json!([{"server": "atomreg02.azurecr.io", "identity": "[system]"}]),
        ),
    )
    .await;
    assert_eq!(updated["identity"]["principalId"], principal.as_str());
    assert_eq!(
        updated["properties"]["containers"][0]["properties"]["instanceView"]["currentState"]["state"],
        "Running"
    );
}

/// A registry PUT with a system identity that fails validation leaves no principal.
#[tokio::test]
async fn a_registry_put_failing_validation_leaves_no_principal() {
    let (em, token) = started_with("apps").await;
    let reg = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/atomreg03?{ACR}",
        rg("apps")
    );
    let missing = format!(
        "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nobody",
        rg("apps")
    );
    fails_without_a_trace(
        &em,
        &token,
        Method::PUT,
        &reg,
        json!({"location": "eastus", "sku": {"name": "Premium"}, "identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {missing.clone(): {}}}}),
        (
            400,
            "FailedIdentityOperation",
            &format!(
                "Identity operation for resource '{}' failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: 'The user-assigned identity '{missing}' was not found.''.",
                reg.split('?').next().unwrap()
            ),
        ),
    )
    .await;
    // An existing registry with a system identity: a failing PATCH keeps it.
    let made = ok(&em, &token, Method::PUT, &reg, json!({"location": "eastus", "sku": {"name": "Premium"}, "identity": {"type": "SystemAssigned"}})).await;
    assert!(made["identity"]["principalId"].is_string());
    fails_without_a_trace(
        &em,
        &token,
        Method::PATCH,
        &reg,
        json!({"identity": {"type": "UserAssigned", "userAssignedIdentities": {missing.clone(): {}}}}),
        (
            400,
            "FailedIdentityOperation",
            &format!(
                "Identity operation for resource '{}' failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: 'The user-assigned identity '{missing}' was not found.''.",
                reg.split('?').next().unwrap()
            ),
        ),
    )
    .await;
}

/// A private DNS zone group naming a zone that exists and one that does not:
/// the A records it had written in the first zone went nowhere (they stayed);
/// now nothing is written. And a private endpoint whose second connection is
/// refused does not connect the first registry.
#[tokio::test]
async fn private_endpoint_failures_change_nothing() {
    private_endpoint_failures(&[]).await;
}

/// The same with the in-memory store: its transactions behave as redb's.
#[tokio::test]
async fn private_endpoint_failures_change_nothing_in_memory() {
    private_endpoint_failures(&["--in-memory"]).await;
}

async fn private_endpoint_failures(args: &[&str]) {
    let em = Emulator::start_with(args);
    let token = em.arm_token().await;
    group(&em, &token, "net").await;
    let reg = registry(&em, &token, "net", "atomreg04").await;
    let net = "api-version=2024-05-01";
    let vnet = format!(
        "{}/providers/Microsoft.Network/virtualNetworks/v1",
        rg("net")
    );
    ok(&em, &token, Method::PUT, &format!("{vnet}?{net}"), json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "s1", "properties": {"addressPrefix": "10.0.0.0/24"}}]}})).await;
    let pe = format!(
        "{}/providers/Microsoft.Network/privateEndpoints/pe1",
        rg("net")
    );
    let connection = |name: &str, target: &str| json!({"name": name, "properties": {"privateLinkServiceId": target, "groupIds": ["registry"]}});
    let missing = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/nosuchreg",
        rg("net")
    );
    fails_without_a_trace(
        &em,
        &token,
        Method::PUT,
        &format!("{pe}?{net}"),
        json!({"location": "eastus", "properties": {"subnet": {"id": format!("{vnet}/subnets/s1")}, "privateLinkServiceConnections": [connection("c1", &reg), connection("c2", &missing)]}}),
        (
            400,
            "InvalidResourceReference",
            &format!("Resource {missing} referenced by resource {pe} was not found."),
        ),
    )
    .await;
    ok(&em, &token, Method::PUT, &format!("{pe}?{net}"), json!({"location": "eastus", "properties": {"subnet": {"id": format!("{vnet}/subnets/s1")}, "privateLinkServiceConnections": [connection("c1", &reg)]}})).await;
    let zone = format!(
        "{}/providers/Microsoft.Network/privateDnsZones/privatelink.azurecr.io",
        rg("net")
    );
    ok(
        &em,
        &token,
        Method::PUT,
        &format!("{zone}?api-version=2020-06-01"),
        json!({"location": "global"}),
    )
    .await;
    let absent = format!(
        "{}/providers/Microsoft.Network/privateDnsZones/privatelink.example.io",
        rg("net")
    );
    let zone_config =
        |name: &str, id: &str| json!({"name": name, "properties": {"privateDnsZoneId": id}});
    fails_without_a_trace(
        &em,
        &token,
        Method::PUT,
        &format!("{pe}/privateDnsZoneGroups/default?{net}"),
        json!({"properties": {"privateDnsZoneConfigs": [zone_config("acr", &zone), zone_config("other", &absent)]}}),
        (
            400,
            "InvalidResourceReference",
            &format!(
                "Resource {absent} referenced by resource {pe}/privateDnsZoneGroups/default was not found."
            ),
        ),
    )
    .await;
    let (_, records) = em
        .arm(
            &token,
            Method::GET,
            &format!("{zone}/A?api-version=2020-06-01"),
            None,
        )
        .await;
    assert_eq!(records, json!({"value": []}));
}

/// A repository token naming a scope map that does not exist: no token, no credentials.
#[tokio::test]
async fn scope_map_and_token_failures_change_nothing() {
    let (em, token) = started_with("apps").await;
    let reg = registry(&em, &token, "apps", "atomreg05").await;
    let map = format!("{reg}/scopeMaps/nosuchmap");
    fails_without_a_trace(
        &em,
        &token,
        Method::PUT,
        &format!("{reg}/tokens/t1?{ACR}"),
        json!({"properties": {"scopeMapId": map, "status": "enabled"}}),
        (
            400,
            "ScopeMapNotFound",
            &format!("The scope map '{map}' does not exist."),
        ),
    )
    .await;
    fails_without_a_trace(
        &em,
        &token,
        Method::POST,
        &format!("{reg}/generateCredentials?{ACR}"),
        json!({"tokenId": format!("{reg}/tokens/t1")}),
        (
            400,
            "TokenNotFound",
            &format!("The token '{reg}/tokens/t1' does not exist."),
        ),
    )
    .await;
}

/// Role assignments that are refused write nothing (and no tombstone).
#[tokio::test]
async fn role_assignment_failures_change_nothing() {
    let (em, token) = started_with("apps").await;
    let someone = em.new_principal().await;
    let nosuch = "00000000-0000-4000-8000-00000000dead";
    let assignment = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
        rg("apps"),
        uuid::Uuid::new_v4()
    );
    fails_without_a_trace(
        &em,
        &token,
        Method::PUT,
        &assignment,
        json!({"properties": {"roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{nosuch}", sub()), "principalId": someone.object_id}}),
        (
            400,
            "RoleDefinitionDoesNotExist",
            &format!("The specified role definition with ID '{nosuch}' does not exist."),
        ),
    )
    .await;
}

/// A run that cannot be queued (its task is disabled) writes no run and no operation.
#[tokio::test]
async fn a_task_run_that_cannot_be_queued_changes_nothing() {
    let (em, token) = started_with("apps").await;
    let reg = registry(&em, &token, "apps", "atomreg06").await;
    let api = "api-version=2019-06-01-preview";
    ok(&em, &token, Method::PUT, &format!("{reg}/tasks/offtask?{api}"), json!({"location": "eastus", "properties": {"status": "Disabled", "platform": {"os": "Linux"}, "step": {"type": "Docker", "dockerFilePath": "Dockerfile", "imageNames": ["x:1"], "contextPath": "/dev/null"}}})).await;
    fails_without_a_trace(
        &em,
        &token,
        Method::POST,
        &format!("{reg}/scheduleRun?{api}"),
        json!({"type": "TaskRunRequest", "taskId": format!("{reg}/tasks/offtask")}),
        (
            400,
            "TaskDisabled",
            "The task 'offtask' is disabled and cannot be run.",
        ),
    )
    .await;
}

/// An import the store refuses (one row larger than a row may be) keeps the
/// world that was there: the old world was cleared first, then the import
/// failed half-way.
#[tokio::test]
async fn a_snapshot_import_that_fails_changes_nothing() {
    let (em, token) = started_with("kept").await;
    registry(&em, &token, "kept", "atomreg07").await;
    // A snapshot of another world, with one row too large to keep.
    let other = Emulator::start();
    let other_token = other.arm_token().await;
    group(&other, &other_token, "imported").await;
    let dir = other.data_dir().join("snapshot");
    export_to(&other, &dir).await;
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    let huge = "x".repeat(azemu_emulator::store::MAX_ROW_BYTES);
    doc["tables"]["zz_last"] = json!({"row": huge});
    std::fs::write(dir.join("state.json"), serde_json::to_vec(&doc).unwrap()).unwrap();

    let before = witness(&em).await;
    let (status, answer) = Emulator::answer(
        em.http()
            .post(format!("{}/_emulator/state/import", em.base()))
            .json(&json!({"path": dir})),
    )
    .await;
    assert_eq!(
        outcome(status, &answer),
        (
            400,
            Some("InvalidSnapshot"),
            Some(
                format!(
                    "The snapshot was not imported: the row 'row' of table 'zz_last' would take {} bytes (at most {})",
                    huge.len() + 2,
                    azemu_emulator::store::MAX_ROW_BYTES
                )
                .as_str()
            )
        )
    );
    same(&before, &witness(&em).await, "a refused import");
}

/// A template can build a value deeper than a body may be (`json()` of a
/// string parameter): stored, it would not read back. It is refused (by the
/// template engine's bound on outputs, before the store's), the deployment
/// fails with that reason, and nothing else is disturbed.
#[tokio::test]
async fn a_template_value_too_deep_to_store_fails_only_its_deployment() {
    let (em, token) = started_with("deep").await;
    let text = format!("{}1{}", "[".repeat(126), "]".repeat(126));
    let path = format!(
        "{}/providers/Microsoft.Resources/deployments/builder?api-version=2024-03-01",
        rg("deep")
    );
    let (status, answer) = em
        .arm(&token, Method::PUT, &path, Some(json!({"properties": {"mode": "Incremental", "parameters": {"s": {"value": text}}, "template": {
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0", "parameters": {"s": {"type": "string"}}, "resources": [],
            "outputs": {"deep": {"type": "array", "value": "[json(parameters('s'))]"}}}}})))
        .await;
    assert_eq!(status, 201, "{answer}");
    let (status, got) = em.arm(&token, Method::GET, &path, None).await;
    assert_eq!(
        (
            status,
            &got["properties"]["provisioningState"],
            &got["properties"]["error"]
        ),
        (
            200,
            &json!("Failed"),
            // The template engine's own bound on outputs meets it before the store's.
            &json!({"code": "InvalidTemplate", "message": "Unable to evaluate template outputs: 'The template outputs are larger than a deployment keeps: at most 4194304 bytes, nested at most 128 levels.'. Please see error details and deployment operations. Please see https://aka.ms/arm-common-errors for usage details."})
        ),
        "{got}"
    );
    // Everything else answers, now and after a restart.
    let (_, dir) = em.terminate();
    let em = Emulator::start_in(dir, &[]);
    let token = em.arm_token().await;
    let (status, again) = em.arm(&token, Method::GET, &path, None).await;
    assert_eq!(
        (status, &again["properties"]["error"]),
        (200, &got["properties"]["error"])
    );
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
