//! ACR's metadata API (`/acr/v1`) as az 2.91 drives it (`az acr repository
//! list/show/show-tags/show-manifests/update/untag/delete`, `az acr manifest
//! list-metadata/show-metadata/update-metadata/delete`), and the locks it
//! carries as each refusing client meets them: docker, skopeo, az and ACI.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, names, words};
use serde_json::{Value, json};

/// ACR's refusal of an operation on a locked object (Azure/azure-sdk-for-net#22827).
const DISALLOWED: &str = "The operation is disallowed on this registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation";

/// A logged-in az (transparent) with group `g` and a Standard registry `name`.
async fn registry<'a>(em: &'a Emulator, name: &str) -> Az<'a> {
    let az = Az::new(em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&words("group create -n g -l eastus -o none")).await;
    az.acr_create("g", name, "Standard").await;
    az
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

const OPEN: fn() -> Value = || json!({"deleteEnabled": true, "listEnabled": true, "readEnabled": true, "writeEnabled": true});

#[tokio::test]
async fn az_repository_and_manifest_commands() {
    let em = Emulator::start();
    let az = registry(&em, "metareg").await;
    em.push_sample("metareg.azurecr.io/hello-world:v1").unwrap();
    em.advance_clock(60).await;
    em.push_sample("metareg.azurecr.io/hello-world:v2").unwrap();
    em.push_sample("metareg.azurecr.io/team/app:v1").unwrap();

    let repos = az.json(&words("acr repository list -n metareg")).await;
    assert_eq!(repos, json!(["hello-world", "team/app"]));

    let repo = az
        .json(&words(
            "acr repository show -n metareg --repository hello-world",
        ))
        .await;
    assert_eq!(
        keys(&repo),
        [
            "changeableAttributes",
            "createdTime",
            "imageName",
            "lastUpdateTime",
            "manifestCount",
            "registry",
            "tagCount"
        ]
    );
    assert_eq!(repo["registry"], "metareg.azurecr.io");
    assert_eq!(repo["imageName"], "hello-world");
    assert_eq!(repo["manifestCount"], 1);
    assert_eq!(repo["tagCount"], 2);
    assert_eq!(repo["changeableAttributes"], OPEN());

    // Tags keep their push times: newest first, and back.
    let tags = az
        .json(&words(
            "acr repository show-tags -n metareg --repository hello-world --detail --orderby time_desc",
        ))
        .await;
    let names: Vec<&str> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["v2", "v1"]);
    let (v2, v1) = (&tags[0], &tags[1]);
    assert_eq!(
        keys(v1),
        [
            "changeableAttributes",
            "createdTime",
            "digest",
            "lastUpdateTime",
            "name",
            "signed"
        ]
    );
    assert!(
        v2["createdTime"].as_str() > v1["createdTime"].as_str(),
        "{tags}"
    );
    assert_eq!(v1["digest"], v2["digest"]);
    assert_eq!(v1["signed"], false);
    assert_eq!(v1["changeableAttributes"], OPEN());
    let digest = v1["digest"].as_str().unwrap().to_string();
    let asc = az
        .json(&words(
            "acr repository show-tags -n metareg --repository hello-world --orderby time_asc",
        ))
        .await;
    assert_eq!(asc, json!(["v1", "v2"]));
    let top = az
        .json(&words(
            "acr repository show-tags -n metareg --repository hello-world --orderby time_desc --top 1",
        ))
        .await;
    assert_eq!(top, json!(["v2"]));

    // Manifests with their tags.
    let manifests = az
        .json(&words(
            "acr repository show-manifests -n metareg --repository hello-world",
        ))
        .await;
    assert_eq!(
        manifests,
        json!([{"digest": digest, "tags": ["v1", "v2"], "timestamp": v2["lastUpdateTime"]}])
    );
    let listed = az
        .json(&words(
            "acr manifest list-metadata -r metareg -n hello-world",
        ))
        .await;
    let m = &listed[0];
    assert_eq!(
        keys(m),
        [
            "architecture",
            "changeableAttributes",
            "configMediaType",
            "createdTime",
            "digest",
            "imageSize",
            "lastUpdateTime",
            "mediaType",
            "os",
            "tags"
        ]
    );
    assert_eq!(m["digest"], digest.as_str());
    assert_eq!(m["tags"], json!(["v1", "v2"]));
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        m["configMediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(
        (m["architecture"].as_str(), m["os"].as_str()),
        (Some("amd64"), Some("linux"))
    );
    assert_eq!(m["createdTime"], v1["createdTime"]);
    assert_eq!(m["lastUpdateTime"], v2["lastUpdateTime"]);
    let shown = az
        .json(&[
            "acr",
            "manifest",
            "show-metadata",
            "-r",
            "metareg",
            "-n",
            &format!("hello-world@{digest}"),
        ])
        .await;
    assert_eq!(&shown, m);
    // By tag, the tag's metadata (`/_tags/<tag>`), as `az acr repository show --image` gives it.
    let tag = az
        .json(&words(
            "acr manifest show-metadata -r metareg -n hello-world:v1",
        ))
        .await;
    assert_eq!(tag, *v1);
    let tag = az
        .json(&words(
            "acr repository show -n metareg --image hello-world:v1",
        ))
        .await;
    assert_eq!(tag, *v1);

    // Attributes: a tag's, a manifest's, a repository's.
    let locked = az
        .json(&words(
            "acr repository update -n metareg --image hello-world:v1 --write-enabled false",
        ))
        .await;
    assert_eq!(
        locked["changeableAttributes"],
        json!({"deleteEnabled": true, "listEnabled": true, "readEnabled": true, "writeEnabled": false})
    );
    assert_eq!(locked["name"], "v1");
    let m2 = az
        .json(&[
            "acr",
            "manifest",
            "update-metadata",
            "-r",
            "metareg",
            "-n",
            &format!("hello-world@{digest}"),
            "--delete-enabled",
            "false",
        ])
        .await;
    assert_eq!(m2["changeableAttributes"]["deleteEnabled"], false);
    assert_eq!(m2["digest"], digest.as_str());
    let r2 = az
        .json(&words(
            "acr repository update -n metareg --repository team/app --list-enabled false",
        ))
        .await;
    assert_eq!(r2["changeableAttributes"]["listEnabled"], false);
    assert_eq!(r2["imageName"], "team/app");
    let repos = az.json(&words("acr repository list -n metareg")).await;
    assert_eq!(
        repos,
        json!(["hello-world"]),
        "listEnabled:false hides it from the catalog"
    );

    // Untag: the tag goes, the manifest stays; a locked tag stays.
    az.ok(&words(
        "acr repository untag -n metareg --image hello-world:v2",
    ))
    .await;
    let tags = az
        .json(&words(
            "acr repository show-tags -n metareg --repository hello-world",
        ))
        .await;
    assert_eq!(tags, json!(["v1"]));
    let out = az
        .run(&words(
            "acr repository untag -n metareg --image hello-world:v1",
        ))
        .await;
    assert!(
        !out.ok && out.stderr.contains(&format!("Error: {DISALLOWED}.")),
        "{}",
        out.stderr
    );

    // The manifest is delete-locked, and its tag write-locked.
    let out = az
        .run(&[
            "acr",
            "manifest",
            "delete",
            "-r",
            "metareg",
            "-n",
            &format!("hello-world@{digest}"),
            "--yes",
        ])
        .await;
    assert!(
        !out.ok && out.stderr.contains(&format!("Error: {DISALLOWED}.")),
        "{}",
        out.stderr
    );
    az.ok(&words(
        "acr repository update -n metareg --image hello-world:v1 --write-enabled true -o none",
    ))
    .await;
    az.ok(&[
        "acr",
        "manifest",
        "update-metadata",
        "-r",
        "metareg",
        "-n",
        &format!("hello-world@{digest}"),
        "--delete-enabled",
        "true",
        "-o",
        "none",
    ])
    .await;
    az.ok(&[
        "acr",
        "manifest",
        "delete",
        "-r",
        "metareg",
        "-n",
        &format!("hello-world@{digest}"),
        "--yes",
    ])
    .await;
    let out = az
        .run(&words(
            "acr repository show -n metareg --repository hello-world",
        ))
        .await;
    assert!(
        !out.ok
            && out
                .stderr
                .contains("Error: repository name not known to registry."),
        "{}",
        out.stderr
    );

    // A whole repository: what went with it, and the webhook told of each manifest.
    az.ok(&words(
        "acr webhook create -r metareg -n hook1 --uri http://localhost:9/hook --actions delete -o none",
    ))
    .await;
    let deleted = az
        .json(&words(
            "acr repository delete -n metareg --repository team/app --yes",
        ))
        .await;
    assert_eq!(
        deleted,
        json!({"manifestsDeleted": [deleted["manifestsDeleted"][0].clone()], "tagsDeleted": ["v1"]})
    );
    assert!(
        deleted["manifestsDeleted"][0]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let events = az
        .json(&words("acr webhook list-events -r metareg -n hook1"))
        .await;
    let content = &events[0]["eventRequestMessage"]["content"];
    assert_eq!(content["action"], "delete", "{events}");
    assert_eq!(content["target"]["repository"], "team/app");
    assert_eq!(content["target"]["digest"], deleted["manifestsDeleted"][0]);
    let out = az
        .run(&words(
            "acr repository show -n metareg --repository team/app",
        ))
        .await;
    assert!(!out.ok, "{}", out.stdout);
}

/// A request to registry `host` with the admin user: (status, `Link`, body).
async fn call(
    em: &Emulator,
    admin: (&str, &str),
    method: reqwest::Method,
    host: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut req = em
        .proxied()
        .request(method, format!("https://{host}{path}"))
        .basic_auth(admin.0, Some(admin.1));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let link = r
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    (
        status,
        link,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn sample() -> String {
    format!(
        "oci:{}:v1",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/images/hello-world")
            .display()
    )
}

/// skopeo meets each lock with ACR's refusal; az's `repository delete` too;
/// `listEnabled:false` hides a tag; the tag list pages with `Link`.
#[tokio::test]
async fn locks_refuse_skopeo_and_az() {
    use reqwest::Method;
    let em = Emulator::start();
    let (id, user, pass) = crate::oci_clients::registry(&em, "lockreg").await;
    let admin = (user.as_str(), pass.as_str());
    let creds = format!("{user}:{pass}");
    let host = "lockreg.azurecr.io";
    let image = format!("docker://{host}/hello-world:v1");
    let skopeo = |args: Vec<String>| {
        let em = &em;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::oci_clients::skopeo(em, &args).await
        }
    };
    let push = |tag: &'static str| {
        let creds = creds.clone();
        async move {
            let to = format!("docker://{host}/hello-world:{tag}");
            skopeo(vec![
                "copy".into(),
                "--dest-creds".into(),
                creds,
                sample(),
                to,
            ])
            .await
        }
    };
    for tag in ["v1", "v2", "v3"] {
        let out = push(tag).await;
        assert!(out.ok, "{}", out.stderr);
        em.advance_clock(10).await;
    }

    // Paging, newest first, with the next page's link.
    let (s, link, page) = call(
        &em,
        admin,
        Method::GET,
        host,
        "/acr/v1/hello-world/_tags?n=2&orderby=timedesc",
        None,
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(names(&page["tags"]), ["v3", "v2"]);
    let digest = page["tags"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(
        link.as_deref(),
        Some("</acr/v1/hello-world/_tags?last=v2&n=2&orderby=timedesc>; rel=\"next\"")
    );
    let (_, link, page) = call(
        &em,
        admin,
        Method::GET,
        host,
        "/acr/v1/hello-world/_tags?last=v2&n=2&orderby=timedesc",
        None,
    )
    .await;
    assert_eq!(page["tags"][0]["name"], "v1");
    assert_eq!(page["tags"].as_array().unwrap().len(), 1);
    assert_eq!(link, None);
    // By name, `last` is a place in the order even when no tag has that name.
    for (last, expected) in [
        ("v1", vec!["v2", "v3"]),
        ("v15", vec!["v2", "v3"]),
        ("zz", vec![]),
    ] {
        let (s, _, page) = call(
            &em,
            admin,
            Method::GET,
            host,
            &format!("/acr/v1/hello-world/_tags?last={last}"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(names(&page["tags"]), expected, "last={last}");
    }

    // listEnabled:false: out of the lists, still there by name.
    let (s, _, tag) = call(
        &em,
        admin,
        Method::PATCH,
        host,
        "/acr/v1/hello-world/_tags/v3",
        Some(json!({"listEnabled": false})),
    )
    .await;
    assert_eq!(s, 200, "{tag}");
    assert_eq!(
        tag["tag"]["changeableAttributes"],
        json!({"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": false})
    );
    let (_, _, list) = call(
        &em,
        admin,
        Method::GET,
        host,
        "/v2/hello-world/tags/list",
        None,
    )
    .await;
    assert_eq!(list, json!({"name": "hello-world", "tags": ["v1", "v2"]}));
    let out = skopeo(vec![
        "list-tags".into(),
        "--creds".into(),
        creds.clone(),
        format!("docker://{host}/hello-world"),
    ])
    .await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap()["Tags"],
        json!(["v1", "v2"])
    );
    let (s, _, _) = call(
        &em,
        admin,
        Method::GET,
        host,
        "/v2/hello-world/manifests/v3",
        None,
    )
    .await;
    assert_eq!(s, 200);

    // writeEnabled:false on v1: skopeo's push over it is refused, nothing moves.
    let (s, _, _) = call(
        &em,
        admin,
        Method::PATCH,
        host,
        "/acr/v1/hello-world/_tags/v1",
        Some(json!({"writeEnabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    let out = push("v1").await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains(&format!(
            "msg=\"writing manifest: uploading manifest v1 to {host}/hello-world: unknown: {DISALLOWED}\""
        )),
        "{}",
        out.stderr
    );
    // The same refusal on the wire.
    let (s, _, body) = call(
        &em,
        admin,
        Method::DELETE,
        host,
        "/acr/v1/hello-world/_tags/v1",
        None,
    )
    .await;
    assert_eq!(
        (s, body),
        (
            405,
            json!({"errors": [{"code": "REGISTRY_DISALLOWED_OPERATION", "message": DISALLOWED, "detail": {}}]})
        )
    );

    // deleteEnabled:false on the repository: skopeo delete is refused.
    let (s, _, _) = call(
        &em,
        admin,
        Method::PATCH,
        host,
        "/acr/v1/hello-world",
        Some(json!({"deleteEnabled": false, "writeEnabled": true})),
    )
    .await;
    assert_eq!(s, 200);
    let out = skopeo(vec![
        "delete".into(),
        "--creds".into(),
        creds.clone(),
        format!("docker://{host}/hello-world:v2"),
    ])
    .await;
    assert!(!out.ok);
    // skopeo prints the body as the registry sent it.
    let refusal = json!({"errors": [{"code": "REGISTRY_DISALLOWED_OPERATION", "message": DISALLOWED, "detail": {}}]});
    let expected = format!(
        "Failed to delete /v2/hello-world/manifests/{digest}: {} (405 Method Not Allowed)",
        serde_json::to_string(&refusal)
            .unwrap()
            .replace('"', "\\\"")
    );
    assert!(out.stderr.contains(&expected), "{expected}\n{}", out.stderr);

    // az acr repository delete meets the same lock.
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    let out = az
        .run(&words(
            "acr repository delete -n lockreg --repository hello-world --yes",
        ))
        .await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains(&format!("Error: {DISALLOWED}.")),
        "{}",
        out.stderr
    );

    // readEnabled:false on the repository: skopeo's pull is refused.
    let (s, _, _) = call(
        &em,
        admin,
        Method::PATCH,
        host,
        "/acr/v1/hello-world",
        Some(json!({"readEnabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    let to = tempfile::tempdir().unwrap();
    let out = skopeo(vec![
        "copy".into(),
        "--src-creds".into(),
        creds.clone(),
        image.clone(),
        format!("oci:{}:v1", to.path().display()),
    ])
    .await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains(&format!(
            "msg=\"initializing source {image}: reading manifest v1 in {host}/hello-world: unknown: {DISALLOWED}\""
        )),
        "{}",
        out.stderr
    );

    // Unlocked, all of it goes through.
    let (s, _, repo) = call(
        &em,
        admin,
        Method::PATCH,
        host,
        "/acr/v1/hello-world",
        Some(json!({"readEnabled": true, "deleteEnabled": true})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        repo["changeableAttributes"],
        json!({"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true})
    );
    let (s, _, _) = call(
        &em,
        admin,
        Method::PATCH,
        host,
        "/acr/v1/hello-world/_tags/v1",
        Some(json!({"writeEnabled": true})),
    )
    .await;
    assert_eq!(s, 200);
    let out = az
        .run(&words(
            "acr repository delete -n lockreg --repository hello-world --yes",
        ))
        .await;
    assert!(out.ok, "{}", out.stderr);

    // Bad attribute bodies: a 400, nothing changed.
    let out = push("v1").await;
    assert!(out.ok, "{}", out.stderr);
    for bad in [
        json!({"writeEnabled": "no"}),
        json!({"locked": true}),
        json!([]),
    ] {
        let (s, _, body) = call(
            &em,
            admin,
            Method::PATCH,
            host,
            "/acr/v1/hello-world/_tags/v1",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(s, 400, "{bad}: {body}");
    }
    let (_, _, tag) = call(
        &em,
        admin,
        Method::GET,
        host,
        "/acr/v1/hello-world/_tags/v1",
        None,
    )
    .await;
    assert_eq!(tag["tag"]["changeableAttributes"]["writeEnabled"], true);

    // Deleted and created again under its name, the registry keeps no lock.
    let (s, _, _) = call(
        &em,
        admin,
        Method::PATCH,
        host,
        "/acr/v1/hello-world",
        Some(json!({"readEnabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    let owner = em.arm_token().await;
    let (s, body) = em
        .arm(
            &owner,
            Method::DELETE,
            &format!("{id}?api-version=2023-07-01"),
            None,
        )
        .await;
    assert!(s == 200 || s == 202, "{s} {body}");
    em.step().await;
    let (_, user, pass) = crate::oci_clients::registry(&em, "lockreg").await;
    let creds = format!("{user}:{pass}");
    let to = format!("docker://{host}/hello-world:v1");
    let out = skopeo(vec![
        "copy".into(),
        "--dest-creds".into(),
        creds,
        sample(),
        to,
    ])
    .await;
    assert!(out.ok, "{}", out.stderr);
    let (s, _, repo) = call(
        &em,
        (&user, &pass),
        Method::GET,
        host,
        "/acr/v1/hello-world",
        None,
    )
    .await;
    assert_eq!(s, 200, "{repo}");
    assert_eq!(repo["changeableAttributes"]["readEnabled"], true);
}

/// The Docker engine meets the locks: a push over a write-locked tag and a
/// pull of a read-locked one are refused with ACR's text.
#[tokio::test]
async fn docker_push_and_pull_refused_by_locks() {
    use crate::docker::Dockerd;
    let em = Emulator::start();
    let az = registry(&em, "dlockreg").await;
    let engine = Dockerd::start(&em);
    let env = engine.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = az
        .run_with_env(&["acr", "login", "-n", "dlockreg"], &env)
        .await;
    assert!(out.ok, "{}", out.stderr);
    let image = "dlockreg.azurecr.io/hello:v1";
    engine.build(image, "one\n", "linux/amd64").await;
    engine.ok(&["push", image]).await;

    az.ok(&words(
        "acr repository update -n dlockreg --image hello:v1 --write-enabled false -o none",
    ))
    .await;
    engine.build(image, "two\n", "linux/amd64").await;
    let out = engine.docker(&["push", image], None).await;
    assert!(!out.ok);
    // As ACR's docs show docker's refusal of a push to a locked tag.
    assert_eq!(
        out.stderr,
        format!("unknown: {DISALLOWED}\n"),
        "{}",
        out.stdout
    );

    az.ok(&words(
        "acr repository update -n dlockreg --image hello:v1 --write-enabled true --read-enabled false -o none",
    ))
    .await;
    engine.ok(&["rmi", "-f", image]).await;
    let out = engine.docker(&["pull", image], None).await;
    assert!(!out.ok);
    assert_eq!(
        out.stderr,
        format!("Error response from daemon: unknown: {DISALLOWED}\n")
    );
    az.ok(&words(
        "acr repository update -n dlockreg --image hello:v1 --read-enabled true -o none",
    ))
    .await;
    engine.ok(&["pull", image]).await;
}

/// ACI pulls through the one pull sequence: a read-locked repository fails
/// the group with the engine's refusal in its events, the trace names the
/// lock and its fix, and the fix, run as printed, lets the next group pull.
#[tokio::test]
async fn aci_pull_of_a_read_locked_image() {
    let em = Emulator::start();
    let (az, userid, spid) = crate::aci::setup(&em, "acilock01").await;
    crate::aci::grant_acrpull(&az, "acilock01", &spid).await;
    az.ok(&words(
        "acr repository update -n acilock01 --repository hello-world --read-enabled false -o none",
    ))
    .await;
    let image = "acilock01.azurecr.io/hello-world:v1";
    let out =
        crate::aci::create_with_identity(&az, "locked", image, &userid, &["-o", "json"]).await;
    assert!(!out.ok);
    let failed = format!(
        "Failed to pull image \"{image}\": rpc error: code Unknown desc Error response from daemon: unknown: {DISALLOWED}"
    );
    assert!(out.stderr.contains(&failed), "{}", out.stderr);
    let cg = az
        .json(&words("container show -g myResourceGroup -n locked"))
        .await;
    assert_eq!(cg["provisioningState"], "Failed");
    let events = cg["containers"][0]["instanceView"]["events"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Pulling", "Failed", "BackOff"]);
    assert_eq!(events[1]["message"], failed.as_str());

    let group = format!(
        "/subscriptions/{}/resourceGroups/myResourceGroup/providers/Microsoft.ContainerInstance/containerGroups/locked",
        crate::harness::SUBSCRIPTION
    );
    let text = em.explain(&["--format", "text", &group]);
    for needle in [
        "✓ authorize",
        &format!(
            "✗ locks        readEnabled is false on repository 'hello-world': the registry refuses the pull ({DISALLOWED})"
        ),
        "fix: az acr repository update -n acilock01 --repository hello-world --read-enabled true",
    ] {
        assert!(text.contains(needle), "{needle}\n---\n{text}");
    }
    crate::aci::run_fix(&az, &text).await;
    let out =
        crate::aci::create_with_identity(&az, "unlocked", image, &userid, &["-o", "json"]).await;
    assert!(out.ok, "{}", out.stderr);
}

/// A task run pulls through the same check: `az acr run` of a read-locked
/// image fails with the engine's refusal in its log; unlocked, it runs.
#[tokio::test]
async fn task_run_pull_of_a_read_locked_image() {
    let em = Emulator::start();
    let az = registry(&em, "tasklock01").await;
    em.push_sample("tasklock01.azurecr.io/hello-world:v1")
        .unwrap();
    az.ok(&words(
        "acr repository update -n tasklock01 --image hello-world:v1 --read-enabled false -o none",
    ))
    .await;
    let run = || {
        az.run(&[
            "acr",
            "run",
            "--registry",
            "tasklock01",
            "--cmd",
            "$Registry/hello-world:v1",
            "/dev/null",
        ])
    };
    let out = run().await;
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "Error response from daemon: unknown: {DISALLOWED}"
        )),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    az.ok(&words(
        "acr repository update -n tasklock01 --image hello-world:v1 --read-enabled true -o none",
    ))
    .await;
    // A build's push over a write-locked tag is refused the same way.
    az.ok(&words(
        "acr repository update -n tasklock01 --image hello-world:v1 --write-enabled false -o none",
    ))
    .await;
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM tasklock01.azurecr.io/hello-world:v1\nCOPY app.txt /app/\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("app.txt"), "hello").unwrap();
    let dir = ctx.path().to_string_lossy().into_owned();
    let build = az
        .run(&[
            "acr",
            "build",
            "-r",
            "tasklock01",
            "-t",
            "hello-world:v1",
            &dir,
        ])
        .await;
    assert!(!build.ok, "{}", build.stdout);
    let log: Vec<&str> = build.stdout.lines().map(str::trim_end).collect();
    let refused = format!("unknown: {DISALLOWED}");
    assert!(
        log.windows(2).any(|w| w
            == [
                "The push refers to repository [tasklock01.azurecr.io/hello-world]",
                refused.as_str()
            ]),
        "{}\n{}",
        build.stdout,
        build.stderr
    );
    let out = run().await;
    assert!(
        out.ok && out.stdout.contains("v1: Pulling from hello-world"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}
