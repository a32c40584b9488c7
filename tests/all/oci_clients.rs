//! Real OCI clients against the emulated registry, through the transparent
//! proxy: skopeo pushes the sample image with the admin user and pulls it
//! back with an Entra-exchanged token; role assignments decide who may pull
//! and push; `azemu push` and the typed client do the same.

use crate::harness::{Emulator, Output, SUBSCRIPTION, run};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const ACRPULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

fn sample_image() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/hello-world")
}

/// A Premium registry with the admin user on; returns (registry id, admin user, password).
pub(crate) async fn registry(em: &Emulator, name: &str) -> (String, String, String) {
    let owner = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/oci");
    em.arm(
        &owner,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let id = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{name}");
    let (s, b) = em
        .arm(&owner, Method::PUT, &format!("{id}?api-version=2023-07-01"), Some(json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"adminUserEnabled": true}})))
        .await;
    assert_eq!(s, 201, "{b}");
    let (_, creds) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{id}/listCredentials?api-version=2023-07-01"),
            None,
        )
        .await;
    (
        id,
        creds["username"].as_str().unwrap().to_string(),
        creds["passwords"][0]["value"].as_str().unwrap().to_string(),
    )
}

/// An ACR refresh token for an Entra token (what `az acr login --expose-token` prints).
pub(crate) async fn refresh_token(em: &Emulator, entra: &str, host: &str) -> String {
    let r = em
        .proxied()
        .post(format!("https://{host}/oauth2/exchange"))
        .form(&[
            ("grant_type", "access_token"),
            ("service", host),
            ("access_token", entra),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) async fn skopeo(em: &Emulator, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new("skopeo");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("HTTPS_PROXY", format!("http://localhost:{}", em.port))
        .env("SSL_CERT_FILE", em.bundle())
        .arg("--insecure-policy")
        .args(args);
    run(&mut cmd).await
}

fn tree_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).unwrap(),
        ));
    }
    out.sort();
    out
}

#[tokio::test]
async fn skopeo_push_with_admin_pull_with_entra_token() {
    let em = Emulator::start();
    let (_, user, pass) = registry(&em, "ocireg0001").await;
    let host = "ocireg0001.azurecr.io";
    let src = format!("oci:{}:v1", sample_image().display());
    let dest = format!("docker://{host}/samples/hello-world:v1");
    let out = skopeo(
        &em,
        &[
            "copy",
            "--dest-creds",
            &format!("{user}:{pass}"),
            &src,
            &dest,
        ],
    )
    .await;
    assert!(out.ok, "push: {}\n{}", out.stdout, out.stderr);

    // Pull back as the Entra principal (Owner), logging in as the null GUID with the refresh token.
    let refresh = refresh_token(&em, &em.arm_token().await, host).await;
    let pulled = tempfile::tempdir().unwrap();
    let dst = format!("oci:{}:v1", pulled.path().display());
    let out = skopeo(
        &em,
        &[
            "copy",
            "--src-creds",
            &format!("00000000-0000-0000-0000-000000000000:{refresh}"),
            &dest,
            &dst,
        ],
    )
    .await;
    assert!(out.ok, "pull: {}\n{}", out.stdout, out.stderr);
    assert_eq!(
        tree_bytes(pulled.path()),
        tree_bytes(&sample_image()),
        "byte-identical blobs and manifest"
    );

    // Tags as az and skopeo list them.
    let out = skopeo(
        &em,
        &[
            "list-tags",
            "--creds",
            &format!("{user}:{pass}"),
            &format!("docker://{host}/samples/hello-world"),
        ],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    let tags: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(tags["Tags"], json!(["v1"]));
}

/// A Premium registry `name` holding hello-world:v1 (pushed by skopeo with the admin
/// user) and a new principal without a role: (registry id, host, skopeo's
/// `docker://` reference, the principal, its skopeo credentials from an Entra exchange).
async fn pushed_and_a_principal_without_a_role(
    em: &Emulator,
    name: &str,
) -> (
    String,
    String,
    String,
    crate::harness::TestPrincipal,
    String,
) {
    let (id, user, pass) = registry(em, name).await;
    let host = format!("{name}.azurecr.io");
    let dest = format!("docker://{host}/hello-world:v1");
    let out = skopeo(
        em,
        &[
            "copy",
            "--dest-creds",
            &format!("{user}:{pass}"),
            &format!("oci:{}:v1", sample_image().display()),
            &dest,
        ],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    let p = em.new_principal().await;
    let creds = format!(
        "00000000-0000-0000-0000-000000000000:{}",
        refresh_token(em, &p.token, &host).await
    );
    (id, host, dest, p, creds)
}

#[tokio::test]
async fn acrpull_pulls_but_cannot_push_and_no_role_is_unauthorized() {
    let em = Emulator::start();
    let (id, host, dest, p, creds) = pushed_and_a_principal_without_a_role(&em, "ocireg0002").await;
    let pulled = tempfile::tempdir().unwrap();
    let dst = format!("oci:{}:v1", pulled.path().display());
    // No role: unauthorized.
    let out = skopeo(&em, &["copy", "--src-creds", &creds, &dest, &dst]).await;
    assert!(!out.ok);
    assert!(
        out.stderr.to_lowercase().contains("unauthorized")
            || out.stderr.contains("authentication required"),
        "{}",
        out.stderr
    );

    // AcrPull on the registry: pull works, push does not.
    let owner = em.arm_token().await;
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{id}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", uuid::Uuid::new_v4()),
            Some(json!({"properties": {"roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{ACRPULL}"), "principalId": p.object_id}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let out = skopeo(&em, &["copy", "--src-creds", &creds, &dest, &dst]).await;
    assert!(out.ok, "AcrPull pulls: {}", out.stderr);
    let out = skopeo(
        &em,
        &[
            "copy",
            "--dest-creds",
            &creds,
            &format!("oci:{}:v1", sample_image().display()),
            &format!("docker://{host}/pushed-by-reader:v1"),
        ],
    )
    .await;
    assert!(!out.ok, "AcrPull must not push");
}

#[tokio::test]
async fn azemu_push_and_typed_client_pull() {
    let em = Emulator::start();
    registry(&em, "ocireg0003").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["push", "--data-dir"])
        .arg(em.data_dir())
        .arg(sample_image())
        .arg("ocireg0003.azurecr.io/hello-world:v1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index: Value =
        serde_json::from_slice(&std::fs::read(sample_image().join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(digest));

    let client = azemu_client::oci::RegistryClient::new(
        em.proxied(),
        "ocireg0003.azurecr.io",
        azemu_client::oci::RegistryAuth::Entra {
            access_token: em.arm_token().await,
            tenant: crate::harness::TENANT.into(),
        },
    );
    let token = client
        .access_token("repository:hello-world:pull")
        .await
        .unwrap();
    let (media_type, manifest) = client
        .get_manifest(&token, "hello-world", "v1")
        .await
        .unwrap();
    assert_eq!(media_type, "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(azemu_client::oci::sha256_digest(&manifest), digest);
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let bytes = client.get_blob(&token, "hello-world", layer).await.unwrap();
    assert_eq!(
        bytes,
        std::fs::read(
            sample_image()
                .join("blobs/sha256")
                .join(layer.trim_start_matches("sha256:"))
        )
        .unwrap()
    );
}

#[tokio::test]
async fn az_acr_repository_list_and_show_tags() {
    use crate::az::{Az, Mode};
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(crate::harness::CLIENT_SECRET).await.ok);
    registry(&em, "ocireg0004").await;
    for target in [
        "ocireg0004.azurecr.io/hello-world:v1",
        "ocireg0004.azurecr.io/hello-world:v2",
        "ocireg0004.azurecr.io/team-a/app:latest",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_azemu"))
            .args(["push", "--data-dir"])
            .arg(em.data_dir())
            .arg(sample_image())
            .arg(target)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let repos = az
        .json(&["acr", "repository", "list", "-n", "ocireg0004"])
        .await;
    assert_eq!(repos, json!(["hello-world", "team-a/app"]));
    let tags = az
        .json(&[
            "acr",
            "repository",
            "show-tags",
            "-n",
            "ocireg0004",
            "--repository",
            "hello-world",
        ])
        .await;
    assert_eq!(tags, json!(["v1", "v2"]));
}

#[tokio::test]
async fn anonymous_pull_when_enabled() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let (id, user, pass) = registry(&em, "ocireg0005").await;
    let host = "ocireg0005.azurecr.io";
    let out = skopeo(
        &em,
        &[
            "copy",
            "--dest-creds",
            &format!("{user}:{pass}"),
            &format!("oci:{}:v1", sample_image().display()),
            &format!("docker://{host}/public/hello:v1"),
        ],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    let pulled = tempfile::tempdir().unwrap();
    let dst = format!("oci:{}:v1", pulled.path().display());
    let out = skopeo(
        &em,
        &["copy", &format!("docker://{host}/public/hello:v1"), &dst],
    )
    .await;
    assert!(!out.ok, "anonymous pull is off by default");
    let (s, b) = em
        .arm(
            &owner,
            Method::PATCH,
            &format!("{id}?api-version=2023-07-01"),
            Some(json!({"properties": {"anonymousPullEnabled": true}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let out = skopeo(
        &em,
        &["copy", &format!("docker://{host}/public/hello:v1"), &dst],
    )
    .await;
    assert!(out.ok, "anonymous pull: {}", out.stderr);
    let out = skopeo(
        &em,
        &[
            "copy",
            &format!("oci:{}:v1", sample_image().display()),
            &format!("docker://{host}/public/anon-push:v1"),
        ],
    )
    .await;
    assert!(!out.ok, "anonymous push is never allowed");
}

#[tokio::test]
async fn azemu_push_image_tarballs() {
    let em = Emulator::start();
    registry(&em, "ocireg0006").await;
    let work = tempfile::tempdir().unwrap();
    // An OCI archive: the sample layout, tarred.
    let oci_tar = work.path().join("hello-oci.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&oci_tar).unwrap());
    b.append_dir_all(".", sample_image()).unwrap();
    b.finish().unwrap();
    // What `docker save` writes.
    let docker_tar = work.path().join("hello-docker.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&docker_tar).unwrap());
    let add = |b: &mut tar::Builder<std::fs::File>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    add(
        &mut b,
        "manifest.json",
        br#"[{"Config":"config.json","RepoTags":["hello:v1"],"Layers":["abc/layer.tar"]}]"#,
    );
    add(&mut b, "config.json", config);
    add(&mut b, "abc/layer.tar", b"pretend this is a layer tar");
    b.finish().unwrap();

    for (file, repo, media_type) in [
        (
            &oci_tar,
            "from-oci-archive",
            "application/vnd.oci.image.manifest.v1+json",
        ),
        (
            &docker_tar,
            "from-docker-save",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_azemu"))
            .args(["push", "--data-dir"])
            .arg(em.data_dir())
            .arg(file)
            .arg(format!("ocireg0006.azurecr.io/{repo}:v1"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{repo}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let client = azemu_client::oci::RegistryClient::new(
            em.proxied(),
            "ocireg0006.azurecr.io",
            azemu_client::oci::RegistryAuth::Entra {
                access_token: em.arm_token().await,
                tenant: crate::harness::TENANT.into(),
            },
        );
        let token = client
            .access_token(&format!("repository:{repo}:pull"))
            .await
            .unwrap();
        let (mt, _) = client.get_manifest(&token, repo, "v1").await.unwrap();
        assert_eq!(mt, media_type, "{repo}");
    }
}

#[tokio::test]
async fn public_registries_serve_the_sample_and_accept_pushes() {
    let em = Emulator::start();
    let pulled = tempfile::tempdir().unwrap();
    let out = skopeo(
        &em,
        &[
            "copy",
            "docker://docker.io/library/hello-world:latest",
            &format!("oci:{}:v1", pulled.path().display()),
        ],
    )
    .await;
    assert!(out.ok, "anonymous pull from Docker Hub: {}", out.stderr);
    assert_eq!(tree_bytes(pulled.path()), tree_bytes(&sample_image()));
    let out = skopeo(
        &em,
        &[
            "copy",
            &format!("oci:{}:v1", sample_image().display()),
            "docker://mcr.microsoft.com/mine/hello:v2",
        ],
    )
    .await;
    assert!(out.ok, "push to MCR: {}", out.stderr);
    let out = skopeo(
        &em,
        &[
            "inspect",
            "--raw",
            "docker://mcr.microsoft.com/mine/hello:v2",
        ],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
}

/// A fault rule (`POST /_emulator/faults`) makes the registry throttle:
/// skopeo sees 429 TOOMANYREQUESTS with Retry-After, waits as told and
/// succeeds on its retry; the rule counts what it served and can be removed.
#[tokio::test]
async fn injected_429_then_retry() {
    let em = Emulator::start();
    let (_, user, pass) = registry(&em, "faultreg01").await;
    em.push_sample("faultreg01.azurecr.io/hello-world:v1")
        .unwrap();
    let r = em
        .http()
        .post(format!("{}/_emulator/faults", em.base()))
        .json(&serde_json::json!({
            "host": "faultreg01.azurecr.io", "method": "GET", "path": "/v2/hello-world/manifests/",
            "status": 429, "headers": {"Retry-After": "1"}, "times": 1
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let seen = skopeo(
        &em,
        &[
            "--debug",
            "inspect",
            "--creds",
            &format!("{user}:{pass}"),
            "docker://faultreg01.azurecr.io/hello-world:v1",
        ],
    )
    .await;
    assert!(seen.ok, "{}", seen.stderr);
    assert!(
        seen.stderr.contains("Detected 'Retry-After' header")
            && seen.stderr.contains("Too many requests"),
        "{}",
        seen.stderr
    );
    let faults = format!("{}/_emulator/faults", em.base());
    let rules: serde_json::Value = em
        .http()
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["value"][0]["hits"], 1, "{rules}");
    assert_eq!(rules["value"][0]["times"], 0, "{rules}");
    let r = em
        .http()
        .delete(&faults)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let rules: serde_json::Value = em
        .http()
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["value"], serde_json::json!([]));
}

/// skopeo refused for want of a role: the registry's decisions are traced — the
/// token service issued a token without pull (the assignments it weighed), the
/// manifest request was refused — and `azemu explain` prints the fix. Asked
/// hypothetically (`--pull`), the same question is answered without a trace,
/// before and after the fix.
#[tokio::test]
async fn registry_refusals_are_traced_and_explained() {
    let em = Emulator::start();
    let (id, host, dest, p, creds) = pushed_and_a_principal_without_a_role(&em, "ocireg0009").await;
    let pulled = tempfile::tempdir().unwrap();
    let dst = format!("oci:{}:v1", pulled.path().display());
    let out = skopeo(&em, &["copy", "--src-creds", &creds, &dest, &dst]).await;
    assert!(!out.ok);

    // The traces: the exchange passed, the token lacked pull, the manifest was refused.
    let traces = em
        .control_json(&format!(
            "/_emulator/traces?resource={id}&principal={}",
            p.object_id
        ))
        .await;
    let kinds: Vec<(&str, Option<&str>)> = traces["value"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|t| {
            let failed = t["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["passed"] == false)
                .and_then(|s| s["check"].as_str());
            (t["kind"].as_str().unwrap(), failed)
        })
        .collect();
    assert!(
        kinds.starts_with(&[("acr-exchange", None), ("acr-token", Some("authorize"))])
            && kinds.contains(&("acr-request", Some("authorize"))),
        "{kinds:?}"
    );
    let token_trace = traces["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "acr-token")
        .unwrap();
    assert!(
        token_trace["steps"][3]["detail"]
            .as_str()
            .unwrap()
            .contains("repository:hello-world lacks pull; role assignments considered: none"),
        "{token_trace}"
    );

    // azemu explain on the registry: the last refusal and the fix.
    let fix = format!(
        "fix: az role assignment create --assignee-object-id {} --assignee-principal-type ServicePrincipal --role AcrPull --scope {id}",
        p.object_id
    );
    let text = em.explain(&[&id]);
    assert!(
        text.contains("✗ authorize") && text.contains("401 UNAUTHORIZED") && text.contains(&fix),
        "{text}"
    );

    // Hypothetically: the same answer, and nothing recorded.
    let image = format!("{host}/hello-world:v1");
    let text = em.explain(&["--pull", &image, "--principal-id", &p.object_id]);
    assert!(
        text.contains("✗ authorize")
            && text.contains("would fail: InaccessibleImage")
            && text.contains(&fix),
        "{text}"
    );
    let mermaid = em.explain(&[
        "--pull",
        &image,
        "--principal-id",
        &p.object_id,
        "--format",
        "mermaid",
    ]);
    assert!(
        mermaid.starts_with("sequenceDiagram\n") && mermaid.contains("R-xA: authorize"),
        "{mermaid}"
    );
    let args: Vec<&str> = fix
        .trim_start_matches("fix: az ")
        .split_whitespace()
        .collect();
    let role = args.iter().position(|a| *a == "AcrPull").unwrap();
    let owner = em.arm_token().await;
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", args[role + 2], uuid::Uuid::new_v4()),
            Some(json!({"properties": {"roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{ACRPULL}"), "principalId": args[4], "principalType": "ServicePrincipal"}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let text = em.explain(&["--pull", &image, "--principal-id", &p.object_id]);
    assert!(
        text.contains("✓ authorize") && text.contains("→ would pull "),
        "{text}"
    );
    let kept = em.control_json("/_emulator/traces?kind=explain-pull").await;
    assert_eq!(
        kept["value"],
        json!([]),
        "a hypothetical pull records nothing"
    );
    let out = skopeo(&em, &["copy", "--src-creds", &creds, &dest, &dst]).await;
    assert!(out.ok, "{}", out.stderr);
}

/// `azemu faults` from a shell: a rule for one principal only (its bearer
/// token's oid) answers 429 with Retry-After once while others pass; a
/// latency-only rule holds az's requests back and lets them through.
#[tokio::test]
async fn fault_rules_from_the_cli() {
    use crate::az::{Az, Mode};
    let em = Emulator::start();
    let faults = |args: &[&str]| em.cli("faults", args);
    let p = em.new_principal().await;
    let added: Value = serde_json::from_str(&faults(&[
        "add",
        "--host",
        "localhost",
        "--path",
        "/subscriptions",
        "--principal",
        &p.object_id,
        "--status",
        "429",
        "--header",
        "Retry-After=3",
        "--times",
        "1",
    ]))
    .unwrap();
    assert_eq!(added["principal"], p.object_id.as_str());
    let get = |token: String| {
        let em = &em;
        async move {
            em.http()
                .get(format!(
                    "{}/subscriptions/{SUBSCRIPTION}/resourcegroups?api-version=2022-09-01",
                    em.base()
                ))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    // Someone else: untouched. The principal: 429 in ARM's shape, once.
    assert_eq!(get(em.arm_token().await).await.status(), 200);
    let r = get(p.token.clone()).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests", "{body}");
    assert_ne!(
        get(p.token.clone()).await.status(),
        429,
        "only the first time"
    );
    let listed: Value = serde_json::from_str(&faults(&["list"])).unwrap();
    assert_eq!(listed["value"][0]["hits"], 1, "{listed}");
    faults(&["clear"]);

    // Latency alone: az's ARM requests wait, then are served as usual.
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(crate::harness::CLIENT_SECRET).await.ok);
    faults(&[
        "add",
        "--host",
        "management.azure.com",
        "--path",
        "/subscriptions/",
        "--delay-ms",
        "700",
        "--times",
        "1",
    ]);
    let started = std::time::Instant::now();
    az.ok(&["group", "list", "-o", "none"]).await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(700),
        "held back at least as long as the rule says"
    );
    let listed: Value = serde_json::from_str(&faults(&["list"])).unwrap();
    assert_eq!(listed["value"][0]["hits"], 1, "{listed}");
    // A rule that does nothing is refused.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["faults", "add", "--host", "x", "--data-dir"])
        .arg(em.data_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs a 'status'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The request log (issue 22): one line per request, JSON with
/// `AZEMU_LOG_FORMAT=json`; a refused pull's line names its principal and
/// status, and no credential reaches the log.
#[tokio::test]
async fn the_request_log_names_the_principal_and_status_of_a_refused_pull() {
    let em = Emulator::start_logged_env(&[], &[("AZEMU_LOG_FORMAT", "json")]);
    let (_, host, dest, p, creds) = pushed_and_a_principal_without_a_role(&em, "ocireg0010").await;
    let out = skopeo(&em, &["inspect", "--creds", &creds, &dest]).await;
    assert!(!out.ok);
    em.control_json("/_emulator/health").await;
    let log = em.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &Value| v["message"] == "request")
        .collect();
    let refused = lines
        .iter()
        .find(|v| {
            v["plane"] == "registry"
                && v["method"] == "GET"
                && v["path"] == "/v2/hello-world/manifests/v1"
                && v["status"] == 401
                && v["principal"] != ""
        })
        .unwrap_or_else(|| panic!("no refused pull in the log:\n{log}"));
    assert_eq!(refused["principal"], p.object_id.as_str());
    assert_eq!(refused["host"], host.as_str());
    assert_eq!(refused["level"], "INFO");
    assert!(refused["duration_ms"].is_f64(), "{refused}");
    assert!(!refused["request_id"].as_str().unwrap().is_empty());
    // The ARM calls name their caller and carry ARM's ids.
    let arm = lines
        .iter()
        .find(|v| v["plane"] == "arm" && v["method"] == "PUT")
        .unwrap();
    assert_eq!(arm["status"], 201);
    assert!(!arm["principal"].as_str().unwrap().is_empty());
    assert!(!arm["correlation_id"].as_str().unwrap().is_empty());
    // The control API's own requests are at debug: not at the default level.
    assert!(!lines.iter().any(|v| v["plane"] == "control"), "{log}");
    // No credential reaches the log: the refresh token, the principal's secret.
    let refresh = creds.split_once(':').unwrap().1;
    assert!(!log.contains(refresh));
    assert!(!log.contains(&p.secret));
}

/// oras-py (issue 22): its basic auth backend sends every request
/// unauthenticated first, so each 4 MiB chunk of a 10 MiB upload is first
/// answered 401 before its body is read, and the connection must carry the
/// answer rather than a reset. Then an artifact of a custom type whose subject
/// is the first, discovered through the referrers API by that type
/// (`tests/python/oras_artifacts.py`).
#[tokio::test]
async fn oras_pushes_chunked_with_basic_auth_and_discovers_a_referrer_by_type() {
    let em = Emulator::start();
    let (_, user, pass) = registry(&em, "orasreg01").await;
    let host = "orasreg01.azurecr.io";
    let mut cmd = tokio::process::Command::new(crate::harness::venv().join("bin/python"));
    crate::harness::python_env(&mut cmd, &em);
    cmd.arg(crate::harness::fixtures().join("python/oras_artifacts.py"))
        .env("HTTPS_PROXY", format!("http://localhost:{}", em.port))
        .env("REGISTRY", host)
        .env("ORAS_USER", &user)
        .env("ORAS_PASS", &pass);
    let out = run(&mut cmd).await;
    assert!(out.ok, "oras-py failed:\n{}\n{}", out.stdout, out.stderr);
    let steps: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split(" sha256:").next().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "ok pushed 10 MiB chunked",
            "ok pulled 10 MiB intact",
            "ok pushed a referrer",
            "ok discovered by artifactType"
        ]
    );
    // Another client sees both tags.
    let out = skopeo(
        &em,
        &[
            "list-tags",
            "--creds",
            &format!("{user}:{pass}"),
            &format!("docker://{host}/artifacts/big"),
        ],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    let tags: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(tags["Tags"], json!(["sbom", "v1"]));
}
