//! ACR's metadata API (`/acr/v1`) as az 2.91 drives it (`az acr repository
//! list/show/show-tags/show-manifests/update/untag/delete`, `az acr manifest
//! list-metadata/show-metadata/update-metadata/delete`), and the locks it
//! carries as each refusing client meets them: docker, skopeo, az and ACI.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, words};
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

    // A whole repository: what went with it.
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
    let out = az
        .run(&words(
            "acr repository show -n metareg --repository team/app",
        ))
        .await;
    assert!(!out.ok, "{}", out.stdout);
}
